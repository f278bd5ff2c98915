//! End-to-end tests of the upload endpoints over real TLS connections.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use serde_json::Value;

use crate::sign::{self, Digests, HmacAlg};
use crate::tests::{start, Client, Reply};
use crate::{clock, ota, Emulator};

const UC_PRODUCT: &str = "ZG1EvTEa7NN";
const UC_DEVICE: &str = "NlwaSPXsCpTQuh8FxBGH";
const UC_SECRET: &str = "ucSecret";

fn digests(data: &[u8]) -> (String, String) {
    let mut d = Digests::default();
    d.update(data);
    let v = d.finish();
    (v.md5, v.sha256)
}

fn md5_b64(data: &[u8]) -> String {
    let mut d = Digests::default();
    d.update(data);
    sign::b64(&d.finish().md5_raw)
}

pub(crate) fn control_json(emu: &Emulator, command: &str) -> Value {
    serde_json::from_str(&emu.control(command).unwrap()).unwrap()
}

/// The stored object `key` of `store` in the `objects` listing.
pub(crate) fn listed(emu: &Emulator, store: &str, key: &str) -> Option<Value> {
    control_json(emu, "objects")
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["store"] == store && o["key"] == key)
        .cloned()
}

pub(crate) fn key_stats(emu: &Emulator, store: &str, key: &str) -> (u64, u64) {
    let stats = control_json(emu, "upload-stats");
    stats["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["store"] == store && k["key"] == key)
        .map_or((0, 0), |k| {
            (
                k["started"].as_u64().unwrap(),
                k["completed"].as_u64().unwrap(),
            )
        })
}

/// The path (and query) of an absolute URL handed out by the emulator.
pub(crate) fn path_of(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    rest[rest.find('/').unwrap()..].to_string()
}

// ---------------------------------------------------------------------------------------
// UCloud file upload

pub(crate) fn file_url_request(c: &mut Client, body: &str, secret: &str) -> Reply {
    let sig = sign::hmac_hex(HmacAlg::Sha256, secret.as_bytes(), body.as_bytes());
    c.request(
        "/ucloud-file/api/v1/url",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &sig),
        ],
        body.as_bytes(),
    )
}

pub(crate) fn file_grant(c: &mut Client, name: &str, data: &[u8], ct: &str) -> (String, String) {
    let (md5, _) = digests(data);
    let body = format!(
        r#"{{"ProductSN":"{UC_PRODUCT}","DeviceSN":"{UC_DEVICE}","FileName":"{name}","FileSize":{},"MD5":"{md5}","Content-Type":"{ct}"}}"#,
        data.len()
    );
    let reply = file_url_request(c, &body, UC_SECRET);
    let json = reply.json();
    assert_eq!(json["RetCode"], 0, "{json}");
    (
        json["URL"].as_str().unwrap().to_string(),
        json["Authorization"].as_str().unwrap().to_string(),
    )
}

fn ufile_put(c: &mut Client, url: &str, headers: &[(&str, &str)], data: &[u8]) -> Reply {
    c.send("PUT", &path_of(url), headers, data)
}

#[test]
fn ufile_grant_and_put() {
    let emu = start(false);
    let mut c = Client::tls(&emu);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (md5, sha256) = digests(&data);
    let (url, auth) = file_grant(&mut c, "log 1.txt", &data, "plain/text");
    assert_eq!(
        url,
        format!(
            "{}/ufile/uiotcore-emulator/{UC_PRODUCT}/{UC_DEVICE}/log%201.txt",
            emu.base_url()
        )
    );
    assert!(auth.starts_with("Ucloud eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."));
    assert_eq!(auth.split('.').count(), 3);
    let good = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "plain/text"),
        ("Content-MD5", md5.as_str()),
    ];

    // Each rejection, then the happy path on the same connection.
    let rejected = |reply: Reply, status: u16, code: i64, msg: &str| {
        assert_eq!(reply.status, status, "{}", reply.text());
        let json = reply.json();
        assert_eq!(json["RetCode"], code, "{json}");
        assert_eq!(json["ErrMsg"], msg);
    };
    // UFile takes hex: the RFC 1864 base64 form of the right digest is refused.
    let b64_md5 = md5_b64(&data);
    let mut headers = good;
    headers[2].1 = &b64_md5;
    rejected(
        ufile_put(&mut c, &url, &headers, &data),
        400,
        -148655,
        "content md5 mismatch",
    );
    let upper = md5.to_uppercase();
    headers[2].1 = &upper;
    rejected(
        ufile_put(&mut c, &url, &headers, &data),
        400,
        -148655,
        "content md5 mismatch",
    );
    let mut headers = good;
    headers[1].1 = "application/zip";
    rejected(
        ufile_put(&mut c, &url, &headers, &data),
        400,
        -148654,
        "content type mismatch",
    );
    let mut headers = good;
    headers[0].1 = "Ucloud eyJ.x.y";
    rejected(
        ufile_put(&mut c, &url, &headers, &data),
        403,
        -148643,
        "invalid signature",
    );
    rejected(
        ufile_put(&mut c, &url, &good, &data[1..]),
        400,
        -148656,
        "content length mismatch",
    );
    // Same length, other bytes: the streamed body's MD5 decides, nothing is stored.
    let mut other = data.clone();
    other[100_000] ^= 1;
    rejected(
        ufile_put(&mut c, &url, &good, &other),
        400,
        -148655,
        "content md5 mismatch",
    );
    let key = format!("{UC_PRODUCT}/{UC_DEVICE}/log 1.txt");
    assert!(listed(&emu, "ufile", &key).is_none());
    assert_eq!(key_stats(&emu, "ufile", &key), (1, 0));

    let ok = ufile_put(&mut c, &url, &good, &data);
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.body, b"{}");
    let object = listed(&emu, "ufile", &key).expect("stored");
    assert_eq!(object["size"], 200_000);
    assert_eq!(object["md5"], md5.as_str());
    assert_eq!(object["sha256"], sha256.as_str());
    assert_eq!(object["uploads_started"], 2);
    assert_eq!(object["uploads_completed"], 1);
    let full = control_json(&emu, &format!("object ufile {key}"));
    assert_eq!(full["content_type"], "plain/text");
    assert_eq!(full["headers"]["content-md5"], md5.as_str());

    // An expired grant.
    emu.control("url-ttl ufile 0").unwrap();
    let (url, auth) = file_grant(&mut c, "late.bin", b"abc", "application/octet-stream");
    let (md5, _) = digests(b"abc");
    rejected(
        ufile_put(
            &mut c,
            &url,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/octet-stream"),
                ("Content-MD5", &md5),
            ],
            b"abc",
        ),
        403,
        -148643,
        "token expired",
    );

    let stats = control_json(&emu, "upload-stats");
    assert_eq!(stats["ops"]["file-put"]["attempts"], 8);
    assert_eq!(stats["ops"]["file-put"]["completions"], 1);
    assert_eq!(stats["ops"]["file-put"]["rejections"], 7);
    assert_eq!(stats["ops"]["file-url"]["completions"], 2);
}

#[test]
fn ufile_url_errors_and_faults() {
    let emu = start(false);
    let mut c = Client::tls(&emu);
    let body = format!(
        r#"{{"ProductSN":"{UC_PRODUCT}","DeviceSN":"{UC_DEVICE}","FileName":"f.bin","FileSize":3,"MD5":"900150983cd24fb0d6963f7d28e17f72","Content-Type":"application/octet-stream"}}"#
    );
    assert_eq!(
        file_url_request(&mut c, &body, "wrong").json()["RetCode"],
        171
    );
    let unknown = body.replace(UC_DEVICE, "nobody");
    assert_eq!(
        file_url_request(&mut c, &unknown, UC_SECRET).json()["RetCode"],
        100071
    );
    let extra = body.replace("\"FileSize\":3", "\"FileSize\":3,\"X\":1");
    assert_eq!(
        file_url_request(&mut c, &extra, UC_SECRET).json()["RetCode"],
        230
    );
    let string_size = body.replace("\"FileSize\":3", "\"FileSize\":\"3\"");
    assert_eq!(
        file_url_request(&mut c, &string_size, UC_SECRET).json()["RetCode"],
        230
    );
    emu.control(&format!("disable ucloud {UC_PRODUCT} {UC_DEVICE}"))
        .unwrap();
    assert_eq!(
        file_url_request(&mut c, &body, UC_SECRET).json()["RetCode"],
        100072
    );
    emu.control(&format!("enable ucloud {UC_PRODUCT} {UC_DEVICE}"))
        .unwrap();
    emu.control(&format!(
        "fail file-url ucloud {UC_PRODUCT} {UC_DEVICE} 130 1"
    ))
    .unwrap();
    assert_eq!(
        file_url_request(&mut c, &body, UC_SECRET).json()["RetCode"],
        130
    );
    emu.control("fail file-put any http503 1").unwrap();
    let json = file_url_request(&mut c, &body, UC_SECRET).json();
    let url = json["URL"].as_str().unwrap();
    let auth = json["Authorization"].as_str().unwrap();
    let headers = [
        ("Authorization", auth),
        ("Content-Type", "application/octet-stream"),
        ("Content-MD5", "900150983cd24fb0d6963f7d28e17f72"),
    ];
    assert_eq!(ufile_put(&mut c, url, &headers, b"abc").status, 503);
    emu.control(&format!(
        "fail file-put ucloud {UC_PRODUCT} {UC_DEVICE} -148656 1"
    ))
    .unwrap();
    assert_eq!(
        ufile_put(&mut c, url, &headers, b"abc").json()["RetCode"],
        -148656
    );
    assert_eq!(ufile_put(&mut c, url, &headers, b"abc").status, 200);
    // Wrong method and unknown paths.
    let reply = c.send("GET", &path_of(url), &[], b"");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("PUT"));
    assert_eq!(
        c.send("POST", "/ucloud-file/api/v2/url", &[], b"").status,
        404
    );
}

// ---------------------------------------------------------------------------------------
// Alibaba OTA: GenerateOTAUploadURL + OSS PostObject

pub(crate) const AK_ID: &str = "testAccessKeyId";
pub(crate) const AK_SECRET: &str = "testAccessKeySecret";

fn rpc_params(nonce: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let now = clock::system_now_ms() / 1000;
    let mut p: BTreeMap<String, String> = [
        ("Action", "GenerateOTAUploadURL"),
        ("Format", "JSON"),
        ("Version", "2018-01-20"),
        ("AccessKeyId", AK_ID),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", nonce),
        ("RegionId", "cn-shanghai"),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    p.entry("Timestamp".into())
        .or_insert_with(|| clock::iso8601_secs(now));
    p
}

fn rpc_encode(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", sign::pct_encode(k), sign::pct_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn rpc_signed(method: &str, mut params: BTreeMap<String, String>, secret: &str) -> String {
    let sig = ota::rpc_signature(secret, &ota::string_to_sign(method, &params));
    params.insert("Signature".into(), sig);
    rpc_encode(&params)
}

fn rpc_post(c: &mut Client, form: &str) -> Reply {
    c.request(
        "/aliyun-iot/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
}

fn multipart(boundary: &str, fields: &[(&str, &str)], file: (&str, &[u8])) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\
                 Content-Type: text/plain; charset=UTF-8\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"fw.bin\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n",
            file.0
        )
        .as_bytes(),
    );
    out.extend_from_slice(file.1);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

fn post_form(c: &mut Client, path: &str, boundary: &str, body: &[u8]) -> Reply {
    let ct = format!("multipart/form-data; boundary={boundary}");
    c.send("POST", path, &[("Content-Type", &ct)], body)
}

fn xml_code(reply: &Reply) -> String {
    let text = reply.text();
    assert_eq!(
        reply.header("content-type"),
        Some("application/xml"),
        "{text}"
    );
    let start = text.find("<Code>").expect("<Code>") + 6;
    let end = text.find("</Code>").unwrap();
    text[start..end].to_string()
}

pub(crate) fn ota_data(c: &mut Client, nonce: &str) -> Value {
    let reply = rpc_post(c, &rpc_signed("POST", rpc_params(nonce, &[]), AK_SECRET));
    let json = reply.json();
    assert_eq!(reply.status, 200, "{json}");
    assert_eq!(json["Success"], true, "{json}");
    json["Data"].clone()
}

fn oss_fields(data: &Value) -> Vec<(String, String)> {
    ["key", "policy", "OSSAccessKeyId", "Signature"]
        .iter()
        .map(|name| {
            let source = match *name {
                "key" => "Key",
                "policy" => "Policy",
                other => other,
            };
            (name.to_string(), data[source].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn ota_url_and_oss_post_object() {
    let emu = start(false);
    emu.control(&format!("add-account {AK_ID} {AK_SECRET}"))
        .unwrap();
    let mut c = Client::tls(&emu);
    let data = ota_data(&mut c, "nonce-1");
    let key = data["Key"].as_str().unwrap().to_string();
    assert!(key.starts_with("ota/") && key.ends_with(".bin"), "{key}");
    assert_eq!(key.split('/').nth(1).unwrap().len(), 32);
    assert_eq!(data["Host"], format!("{}/oss", emu.base_url()));
    assert_eq!(data["FirmwareUrl"], format!("{}/oss/{key}", emu.base_url()));
    assert_eq!(data["ObjectStorage"], "OSS");
    assert!(clock::parse_iso8601(data["UtcCreate"].as_str().unwrap(), true).is_some());
    let policy: Value =
        serde_json::from_slice(&sign::b64_decode(data["Policy"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(policy["conditions"][0]["bucket"], "iotx-ota");
    assert_eq!(
        policy["conditions"][1],
        serde_json::json!(["eq", "$key", key])
    );
    assert_eq!(
        policy["conditions"][2],
        serde_json::json!(["content-length-range", 0, 1048576000])
    );
    let expiration = clock::parse_iso8601(policy["expiration"].as_str().unwrap(), true).unwrap();
    let created = clock::parse_iso8601(data["UtcCreate"].as_str().unwrap(), true).unwrap();
    assert_eq!(expiration - created, 60_000);

    // The file part is streamed in several records; the document's field order.
    let file: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 256) as u8).collect();
    let (md5, sha256) = digests(&file);
    let fields = oss_fields(&data);
    let mut with_status: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    with_status.push(("success_action_status", "200"));
    let boundary = "----iothttpBoundary7MA4YWxkTrZu0gW";
    let body = multipart(boundary, &with_status, ("file", &file));
    let reply = post_form(&mut c, "/oss/", boundary, &body);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.body.is_empty());
    assert_eq!(
        reply.header("etag"),
        Some(format!("\"{}\"", md5.to_uppercase()).as_str())
    );
    let object = listed(&emu, "oss", &key).expect("stored");
    assert_eq!(object["size"], 300_000);
    assert_eq!(object["md5"], md5.as_str());
    assert_eq!(object["sha256"], sha256.as_str());
    let full = control_json(&emu, &format!("object oss {key}"));
    assert_eq!(full["fields"]["success_action_status"], "200");
    assert_eq!(full["filename"], "fw.bin");

    // 201 and 204 (absent status), lowercase `signature` accepted.
    let data = ota_data(&mut c, "nonce-2");
    let mut fields = oss_fields(&data);
    fields[3].0 = "signature".into();
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let reply = post_form(&mut c, "/oss", "b", &multipart("b", &pairs, ("file", b"x")));
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert!(reply.header("content-length").is_none());
    let mut with_201 = pairs.clone();
    with_201.push(("success_action_status", "201"));
    let reply = post_form(
        &mut c,
        "/oss/",
        "b",
        &multipart("b", &with_201, ("file", b"y")),
    );
    assert_eq!(reply.status, 201);
    assert!(reply.text().contains("<PostResponse>"));

    // Rejections: signature, key condition, a field after the file, malformed.
    let mut bad = pairs.clone();
    bad[3].1 = "AAAA";
    let reply = post_form(&mut c, "/oss/", "b", &multipart("b", &bad, ("file", b"z")));
    assert_eq!(
        (reply.status, xml_code(&reply).as_str()),
        (403, "SignatureDoesNotMatch")
    );
    let mut bad = pairs.clone();
    bad[0].1 = "ota/other.bin";
    let reply = post_form(&mut c, "/oss/", "b", &multipart("b", &bad, ("file", b"z")));
    assert_eq!(
        (reply.status, xml_code(&reply).as_str()),
        (403, "AccessDenied")
    );
    let mut late = multipart("b", &pairs, ("file", b"z"));
    late.truncate(late.len() - "--\r\n".len());
    late.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n");
    let reply = post_form(&mut c, "/oss/", "b", &late);
    assert_eq!(
        (reply.status, xml_code(&reply).as_str()),
        (400, "InvalidArgument")
    );
    let mut cut_short = multipart("b", &pairs, ("file", b"z"));
    cut_short.truncate(cut_short.len() - 8);
    let reply = post_form(&mut c, "/oss/", "b", &cut_short);
    assert_eq!(
        (reply.status, xml_code(&reply).as_str()),
        (400, "MalformedPOSTRequest")
    );
    let reply = c.send(
        "POST",
        "/oss/",
        &[("Content-Type", "application/octet-stream")],
        b"x",
    );
    assert_eq!(xml_code(&reply), "MalformedPOSTRequest");

    // An expired policy is refused once the whole body has arrived.
    emu.control("url-ttl oss 0").unwrap();
    let data = ota_data(&mut c, "nonce-3");
    let key = data["Key"].as_str().unwrap().to_string();
    let fields = oss_fields(&data);
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let reply = post_form(
        &mut c,
        "/oss/",
        "b",
        &multipart("b", &pairs, ("file", &file)),
    );
    assert_eq!(reply.status, 403);
    assert_eq!(xml_code(&reply), "AccessDenied");
    assert!(reply.text().contains("Policy expired."));
    assert!(reply.text().contains("<HostId>127.0.0.1</HostId>"));
    assert!(listed(&emu, "oss", &key).is_none());
    assert_eq!(key_stats(&emu, "oss", &key), (1, 0));
}

#[test]
fn ota_rpc_gateway_errors() {
    let emu = start(false);
    emu.control(&format!("add-account {AK_ID} {AK_SECRET}"))
        .unwrap();
    let mut c = Client::tls(&emu);
    let gateway = |reply: Reply| {
        let json = reply.json();
        assert!(
            json["RequestId"].is_string() && json["HostId"].is_string(),
            "{json}"
        );
        (reply.status, json["Code"].as_str().unwrap().to_string())
    };

    // GET with the parameters in the query works too (and signs with GET).
    let query = rpc_signed(
        "GET",
        rpc_params("g1", &[("FileSuffix", "tar.gz")]),
        AK_SECRET,
    );
    let reply = c.send("GET", &format!("/aliyun-iot/?{query}"), &[], b"");
    let json = reply.json();
    assert_eq!(json["Success"], true, "{json}");
    assert!(json["Data"]["Key"].as_str().unwrap().ends_with(".tar.gz"));
    // Signed as POST but sent as GET.
    let query = rpc_signed("POST", rpc_params("g2", &[]), AK_SECRET);
    let reply = c.send("GET", &format!("/aliyun-iot/?{query}"), &[], b"");
    assert_eq!(gateway(reply), (400, "SignatureDoesNotMatch".into()));

    let form = rpc_signed("POST", rpc_params("n1", &[]), AK_SECRET);
    assert_eq!(rpc_post(&mut c, &form).json()["Success"], true);
    assert_eq!(
        gateway(rpc_post(&mut c, &form)),
        (400, "SignatureNonceUsed".into())
    );
    let form = rpc_signed("POST", rpc_params("n2", &[]), "wrong");
    assert_eq!(
        gateway(rpc_post(&mut c, &form)),
        (400, "SignatureDoesNotMatch".into())
    );
    let mut p = rpc_params("n3", &[]);
    p.insert("AccessKeyId".into(), "nobody".into());
    assert_eq!(
        gateway(rpc_post(&mut c, &rpc_signed("POST", p, AK_SECRET))),
        (404, "InvalidAccessKeyId.NotFound".into())
    );
    let old = rpc_params("n4", &[("Timestamp", "2016-02-23T12:46:24Z")]);
    assert_eq!(
        gateway(rpc_post(&mut c, &rpc_signed("POST", old, AK_SECRET))),
        (400, "InvalidTimeStamp.Expired".into())
    );
    // The emulator clock honours skew.
    let then = clock::parse_iso8601("2016-02-23T12:46:24Z", false).unwrap() / 1000;
    emu.control(&format!("skew {}", then - clock::system_now_ms() / 1000))
        .unwrap();
    let old = rpc_params("n5", &[("Timestamp", "2016-02-23T12:46:24Z")]);
    assert_eq!(
        rpc_post(&mut c, &rpc_signed("POST", old, AK_SECRET)).json()["Success"],
        true
    );
    emu.control("skew 0").unwrap();
    let mut p = rpc_params("n6", &[]);
    p.remove("SignatureNonce");
    assert_eq!(
        gateway(rpc_post(&mut c, &rpc_signed("POST", p, AK_SECRET))),
        (400, "MissingParameter".into())
    );
    let p = rpc_params("n7", &[("Format", "XML")]);
    assert_eq!(
        gateway(rpc_post(&mut c, &rpc_signed("POST", p, AK_SECRET))),
        (400, "InvalidParameter".into())
    );
    let p = rpc_params("n8", &[("Action", "CreateOTAFirmware")]);
    assert_eq!(
        gateway(rpc_post(&mut c, &rpc_signed("POST", p, AK_SECRET))),
        (400, "InvalidAction.NotFound".into())
    );
    let p = rpc_params("n9", &[("FileSuffix", "exe")]);
    let json = rpc_post(&mut c, &rpc_signed("POST", p, AK_SECRET)).json();
    assert_eq!(json["Success"], false);
    assert_eq!(json["Code"], "iot.common.InvalidFormattedParameter");

    emu.control(&format!("fail ota-url account {AK_ID} Throttling.User 1"))
        .unwrap();
    emu.control("fail ota-url any ServiceUnavailable 1")
        .unwrap();
    let form = rpc_signed("POST", rpc_params("n10", &[]), AK_SECRET);
    assert_eq!(
        gateway(rpc_post(&mut c, &form)),
        (400, "Throttling.User".into())
    );
    assert_eq!(
        gateway(rpc_post(&mut c, &form)),
        (503, "ServiceUnavailable".into())
    );
    assert_eq!(rpc_post(&mut c, &form).json()["Success"], true);
    emu.control(&format!(
        "fail ota-url account {AK_ID} iot.system.SystemException 1"
    ))
    .unwrap();
    let json = rpc_post(
        &mut c,
        &rpc_signed("POST", rpc_params("n11", &[]), AK_SECRET),
    )
    .json();
    assert_eq!(json["Code"], "iot.system.SystemException");
    assert_eq!(json["Success"], false);
}

// ---------------------------------------------------------------------------------------
// AppGallery Connect

pub(crate) fn agc_token(c: &mut Client, id: &str, secret: &str) -> Value {
    let body = format!(
        r#"{{"grant_type":"client_credentials","client_id":"{id}","client_secret":"{secret}"}}"#
    );
    c.request(
        "/agc/api/oauth2/v1/token",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .json()
}

pub(crate) fn agc_url(c: &mut Client, id: &str, token: &str, query: &str) -> Value {
    let bearer = format!("Bearer {token}");
    c.send(
        "GET",
        &format!("/agc/api/publish/v2/upload-url/for-obs?{query}"),
        &[("client_id", id), ("Authorization", &bearer)],
        b"",
    )
    .json()
}

#[test]
fn agc_token_url_and_exact_header_put() {
    let emu = start(false);
    emu.control("add-agc-client cid csecret").unwrap();
    let mut c = Client::tls(&emu);
    let bad = agc_token(&mut c, "cid", "nope");
    assert_eq!(bad["ret"]["code"], 205524992, "{bad}");
    let json = agc_token(&mut c, "cid", "csecret");
    assert!(json.get("ret").is_none(), "{json}");
    assert_eq!(json["expires_in"], 172800);
    let token = json["access_token"].as_str().unwrap().to_string();

    let data: Vec<u8> = (0..150_000u32).map(|i| (i % 7) as u8).collect();
    let (md5, sha256) = digests(&data);
    let query = format!(
        "appId=10001&fileName=my%20app.hap&contentLength={}&sha256={sha256}",
        data.len()
    );
    let wrong = agc_url(&mut c, "other", &token, &query);
    assert_eq!(wrong["ret"]["code"], 205524993);
    assert_eq!(wrong["ret"]["msg"], "token invalid");
    let invalid = agc_url(
        &mut c,
        "cid",
        &token,
        "appId=1&fileName=app&contentLength=1",
    );
    assert_eq!(invalid["ret"]["code"], 204144641);
    assert_eq!(invalid["ret"]["msg"], "invalid input");

    let json = agc_url(&mut c, "cid", &token, &query);
    assert_eq!(json["ret"]["code"], 0, "{json}");
    let info = &json["urlInfo"];
    assert_eq!(info["method"], "PUT");
    let object_id = info["objectId"].as_str().unwrap();
    let url = info["url"].as_str().unwrap();
    assert_eq!(
        url,
        format!("{}/obs/agc-bucket/{object_id}/my%20app.hap", emu.base_url())
    );
    let headers: Vec<(String, String)> = info["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    assert_eq!(headers.len(), 6);
    let h = |name: &str| info["headers"][name].as_str().unwrap().to_string();
    assert!(h("Authorization").starts_with("AWS4-HMAC-SHA256 Credential="));
    assert!(h("Authorization")
        .contains("SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature="));
    assert_eq!(h("x-amz-content-sha256"), sha256);
    assert_eq!(h("x-amz-date").len(), 16);
    assert_eq!(h("Host"), emu.base_url().trim_start_matches("https://"));
    assert_eq!(h("Content-Type"), "application/octet-stream");
    let path = path_of(url);
    // Names in lowercase, as ureq sends them.
    let lower: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    let as_refs = |list: &[(String, String)]| -> Vec<(String, String)> { list.to_vec() };
    let put = |c: &mut Client, list: Vec<(String, String)>, body: &[u8]| {
        let refs: Vec<(&str, &str)> = list.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        c.exact("PUT", &path, &refs, Some(body))
    };

    let mut extra = as_refs(&lower);
    extra.push(("accept".into(), "*/*".into()));
    let reply = put(&mut c, extra, &data);
    assert_eq!(
        (reply.status, xml_code(&reply).as_str()),
        (403, "SignatureDoesNotMatch")
    );
    assert!(
        reply.text().contains("&apos;accept&apos;"),
        "{}",
        reply.text()
    );
    let mut changed = as_refs(&lower);
    changed
        .iter_mut()
        .find(|(n, _)| n == "user-agent")
        .unwrap()
        .1 = "ureq/3".into();
    let reply = put(&mut c, changed, &data);
    assert_eq!(reply.status, 403);
    assert!(
        reply.text().contains("&apos;user-agent&apos;"),
        "{}",
        reply.text()
    );
    let missing: Vec<_> = lower
        .iter()
        .filter(|(n, _)| n != "x-amz-date")
        .cloned()
        .collect();
    let reply = put(&mut c, missing, &data);
    assert!(
        reply.text().contains("&apos;x-amz-date&apos; is missing"),
        "{}",
        reply.text()
    );
    let reply = put(&mut c, as_refs(&lower), &data[1..]);
    assert_eq!(
        (reply.status, xml_code(&reply).as_str()),
        (403, "SignatureDoesNotMatch")
    );
    let mut other = data.clone();
    other[0] = 9;
    let reply = put(&mut c, as_refs(&lower), &other);
    assert_eq!(
        (reply.status, xml_code(&reply).as_str()),
        (400, "XAmzContentSHA256Mismatch")
    );

    // Exactly the returned headers (original case), plus Content-Length.
    let reply = put(&mut c, headers.clone(), &data);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.body.is_empty());
    let key = format!("{object_id}/my app.hap");
    let object = listed(&emu, "obs", &key).expect("stored");
    assert_eq!(object["md5"], md5.as_str());
    assert_eq!(object["sha256"], sha256.as_str());
    assert_eq!(object["uploads_started"], 2);
    let full = control_json(&emu, &format!("object obs {key}"));
    assert_eq!(full["fields"]["appId"], "10001");
    assert_eq!(full["headers"]["user-agent"], "AGC-Publish/1.0");

    // Expiry, token expiry, injected faults.
    emu.control("url-ttl obs 0").unwrap();
    let json = agc_url(&mut c, "cid", &token, &query);
    let path2 = path_of(json["urlInfo"]["url"].as_str().unwrap());
    let refs: Vec<(String, String)> = json["urlInfo"]["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let refs: Vec<(&str, &str)> = refs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let reply = c.exact("PUT", &path2, &refs, Some(&data));
    assert_eq!(
        (reply.status, xml_code(&reply).as_str()),
        (403, "AccessDenied")
    );
    assert!(reply.text().contains("Request has expired"));
    emu.control("expire agc cid").unwrap();
    assert_eq!(
        agc_url(&mut c, "cid", &token, &query)["ret"]["code"],
        205524993
    );
    emu.control("fail agc-token agc cid 204144641 1").unwrap();
    assert_eq!(
        agc_token(&mut c, "cid", "csecret")["ret"]["code"],
        204144641
    );
    emu.control("token-ttl agc 60").unwrap();
    assert_eq!(agc_token(&mut c, "cid", "csecret")["expires_in"], 60);
}

// ---------------------------------------------------------------------------------------
// Generic store, cuts, plain listener

#[test]
fn generic_store_put_and_form() {
    let emu = start(true);
    let mut c = Client::tls(&emu);
    let data = b"hello store".to_vec();
    let (md5, sha256) = digests(&data);
    let md5_b64 = md5_b64(&data);
    let reply = c.send(
        "PUT",
        "/store/dir/a%20b.bin",
        &[
            ("Content-MD5", &md5_b64),
            ("x-amz-content-sha256", &sha256),
            ("X-Custom", "1"),
        ],
        &data,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let full = control_json(&emu, "object store dir/a b.bin");
    assert_eq!(full["md5"], md5.as_str());
    assert_eq!(full["headers"]["x-custom"], "1");
    assert_eq!(full["headers"]["content-md5"], md5_b64.as_str());

    let reply = c.send("PUT", "/store/x", &[("Content-MD5", &md5)], b"other");
    assert_eq!(
        (reply.status, xml_code(&reply).as_str()),
        (400, "BadDigest")
    );
    let reply = c.send(
        "PUT",
        "/store/x",
        &[("x-amz-content-sha256", &sha256)],
        b"other",
    );
    assert_eq!(xml_code(&reply), "XAmzContentSHA256Mismatch");
    let reply = c.send(
        "PUT",
        "/store/x",
        &[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")],
        b"other",
    );
    assert_eq!(reply.status, 200);
    assert!(listed(&emu, "store", "x").is_some());
    let reply = c.exact("PUT", "/store/y", &[("Host", "x")], None);
    assert_eq!(reply.status, 411);

    let boundary = "formBoundary";
    let body = multipart(
        boundary,
        &[("key", "uploads/${filename}"), ("x-amz-meta-a", "b")],
        ("upload", &data),
    );
    let reply = post_form(&mut c, "/store-form/", boundary, &body);
    assert_eq!(reply.status, 204, "{}", reply.text());
    let full = control_json(&emu, "object store-form uploads/fw.bin");
    assert_eq!(full["size"], data.len());
    assert_eq!(full["sha256"], sha256.as_str());
    assert_eq!(full["file_field"], "upload");
    assert_eq!(full["filename"], "fw.bin");
    assert_eq!(full["content_type"], "application/octet-stream");
    assert_eq!(full["fields"]["x-amz-meta-a"], "b");

    // The plain listener hands out http:// URLs.
    let mut p = Client::plain(&emu.plain_base_url().unwrap());
    let body = format!(
        r#"{{"ProductSN":"{UC_PRODUCT}","DeviceSN":"{UC_DEVICE}","FileName":"f","FileSize":1,"MD5":"0cc175b9c0f1b6a831c399e269772661","Content-Type":"x/y"}}"#
    );
    let json = file_url_request(&mut p, &body, UC_SECRET).json();
    assert!(json["URL"]
        .as_str()
        .unwrap()
        .starts_with(&emu.plain_base_url().unwrap()));
}

/// Sends a head and `sent` bytes of a `total`-byte body, then expects the connection to be
/// dropped without a reply.
fn expect_cut(c: &mut Client, head: &str, total: usize, sent: usize) {
    let mut bytes = head.replace("{len}", &total.to_string()).into_bytes();
    bytes.extend(std::iter::repeat_n(7u8, sent));
    c.send_raw(&bytes);
    let mut buf = [0u8; 64];
    match c.conn.read(&mut buf) {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!(
            "expected a dropped connection, got {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
    }
}

#[test]
fn cut_leaves_nothing_stored() {
    let emu = start(false);
    emu.control("cut store-put any 1000 1").unwrap();
    let mut c = Client::tls(&emu);
    expect_cut(
        &mut c,
        "PUT /store/cut.bin HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n",
        5000,
        5000,
    );
    assert!(listed(&emu, "store", "cut.bin").is_none());
    assert_eq!(key_stats(&emu, "store", "cut.bin"), (1, 0));
    let stats = control_json(&emu, "upload-stats");
    assert_eq!(stats["ops"]["store-put"]["aborts"], 1);
    // The rule is used up: the next upload succeeds.
    let mut c = Client::tls(&emu);
    assert_eq!(
        c.send("PUT", "/store/cut.bin", &[], &[7u8; 5000]).status,
        200
    );
    assert_eq!(key_stats(&emu, "store", "cut.bin"), (2, 1));

    // A cut beyond the body's end still drops the connection before the reply.
    emu.control("cut store-put any 100000 1").unwrap();
    let mut c = Client::tls(&emu);
    expect_cut(
        &mut c,
        "PUT /store/short.bin HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n",
        10,
        10,
    );
    assert!(listed(&emu, "store", "short.bin").is_none());

    // A UFile PUT cut in the middle, keyed by device; a client that disconnects by itself.
    let mut c = Client::tls(&emu);
    let data = vec![7u8; 4000];
    let (url, auth) = file_grant(&mut c, "cut.bin", &data, "application/octet-stream");
    let (md5, _) = digests(&data);
    emu.control(&format!(
        "cut file-put ucloud {UC_PRODUCT} {UC_DEVICE} 1500 1"
    ))
    .unwrap();
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/octet-stream\r\n\
         Content-MD5: {md5}\r\nContent-Length: {{len}}\r\n\r\n",
        path_of(&url)
    );
    expect_cut(&mut c, &head, 4000, 4000);
    let key = format!("{UC_PRODUCT}/{UC_DEVICE}/cut.bin");
    assert!(listed(&emu, "ufile", &key).is_none());
    let mut c = Client::tls(&emu);
    c.send_raw(head.replace("{len}", "4000").as_bytes());
    c.send_raw(&data[..100]);
    drop(c);
    std::thread::sleep(Duration::from_millis(200));
    assert!(listed(&emu, "ufile", &key).is_none());
    assert_eq!(key_stats(&emu, "ufile", &key), (2, 0));

    // An OSS upload cut after the text fields, keyed by account.
    emu.control(&format!("add-account {AK_ID} {AK_SECRET}"))
        .unwrap();
    let mut c = Client::tls(&emu);
    let data = ota_data(&mut c, "cut-1");
    let key = data["Key"].as_str().unwrap().to_string();
    emu.control(&format!("cut oss-post account {AK_ID} 2000 1"))
        .unwrap();
    let fields = oss_fields(&data);
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let body = multipart("b", &pairs, ("file", &vec![1u8; 10_000]));
    let mut bytes = format!(
        "POST /oss/ HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(&body);
    c.send_raw(&bytes);
    let mut buf = [0u8; 16];
    assert!(matches!(c.conn.read(&mut buf), Ok(0) | Err(_)));
    assert!(listed(&emu, "oss", &key).is_none());
    assert_eq!(key_stats(&emu, "oss", &key), (1, 0));

    assert!(emu.control("cut file-url any 10 1").is_err());
    assert!(emu.control("cut store-put account x 10 1").is_err());
}

#[test]
fn large_put_streams() {
    let emu = start(false);
    let mut c = Client::tls(&emu);
    let data: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i >> 3) as u8).collect();
    let (md5, sha256) = digests(&data);
    let reply = c.send("PUT", "/store/big.bin", &[("Content-MD5", &md5)], &data);
    assert_eq!(reply.status, 200);
    let object = listed(&emu, "store", "big.bin").unwrap();
    assert_eq!(object["size"], data.len());
    assert_eq!(object["sha256"], sha256.as_str());
}
