//! Entry points for the fuzz targets (`tests/fuzz`): every parser of untrusted input, reached
//! through the crate's real code paths. Built only with the `fuzzing` feature.

use crate::clouds::Cloud;
use crate::net::transport::Response;

/// A reply from fuzz input: the first two bytes choose the HTTP status, the rest is the body.
fn response(data: &[u8]) -> Response {
    let (status, body) = match data {
        [a, b, rest @ ..] => (100 + (u16::from(*a) << 8 | u16::from(*b)) % 500, rest),
        _ => (200, data),
    };
    Response {
        status,
        body: body.to_vec(),
        date: None,
        location: Some(String::from_utf8_lossy(body).chars().take(64).collect()),
    }
}

/// UCloud auth, publish, file-URL and UFile PUT replies.
pub fn ucloud_replies(data: &[u8]) {
    let resp = response(data);
    let d = Cloud::UCloud
        .dialect()
        .expect("fuzzing enables every cloud");
    let _ = d.parse_auth(&resp, true);
    let _ = d.parse_publish(&resp);
    if let Some(f) = d.file_upload() {
        let _ = f.parse_grant(&resp);
        let _ = f.parse_put(&resp);
    }
}

/// Aliyun auth and publish replies.
pub fn aliyun_replies(data: &[u8]) {
    let resp = response(data);
    let d = Cloud::Aliyun
        .dialect()
        .expect("fuzzing enables every cloud");
    let _ = d.parse_auth(&resp, data.first().is_some_and(|b| b & 1 == 1));
    let _ = d.parse_publish(&resp);
}

/// Aliyun RPC (GenerateOTAUploadURL) and OSS PostObject replies.
pub fn rpc_replies(data: &[u8]) {
    let resp = response(data);
    crate::stores::aliyun_ota::fuzz_replies(&resp);
}

/// AGC token, upload-URL and OBS PUT replies.
pub fn agc_replies(data: &[u8]) {
    let resp = response(data);
    let size = data.len() as u64;
    crate::stores::agc::fuzz_replies(&resp, size);
}

/// S3/OSS/OBS XML error bodies.
pub fn xml_errors(data: &[u8]) {
    let _ = crate::transfer::upload::xml_error(data);
    let _ = crate::transfer::upload::store_reply("fuzz", &response(data));
}

/// The CA PEM loader.
pub fn ca_pem(data: &[u8]) {
    if let Ok(certs) = crate::net::tls::parse_ca_pem(data) {
        // Whatever the loader accepts must build a TLS configuration.
        crate::net::tls::client_config(false, &certs, None).expect("accepted CAs build a config");
    }
    let _ = crate::net::tls::is_ca_certificate(data);
}

/// Header lines, base URLs, topics, file names, form names and URL logging.
pub fn headers_and_urls(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.split('\n').collect();
    let _ = crate::transfer::upload::parse_header_lines(&lines, data.len() as u64);
    for line in &lines {
        let _ = crate::device::normalise_base_url(line);
        let _ = crate::device::validate_topic(line);
        let _ = crate::device::check_file_name(line);
        let shown = crate::net::transport::loggable_url(line);
        assert!(!shown.contains('?'), "a logged URL never shows its query");
        let _ = crate::sign::percent_encode_path(line);
    }
    if let [a, b, c, ..] = lines.as_slice() {
        let _ = crate::transfer::upload::Multipart::new(7, &[(a, b)], c, a, b);
    }
}
