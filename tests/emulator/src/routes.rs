//! Request routing: path dispatch (device endpoints of both clouds, the upload endpoints
//! and the downloads), topic decoding, fault rules, body reading and the request log.

use std::io::{self, Read};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::http::{Handler, Request, Response};
use crate::sign::Sha256Stream;
use crate::state::{DeviceKey, Op, Shared};
use crate::{
    agc, aliyun, clock, download, faults, iotda, oss, ota, store, ucloud, ufile, upload, Cloud,
};

/// Largest publish body both documents allow (128 KB).
pub const MAX_PAYLOAD: u64 = 131_072;

/// Largest auth body accepted (the JSON is a few hundred bytes).
pub const MAX_AUTH_BODY: u64 = 64 * 1024;

/// The HTTP request handler of the HTTPS and plain listeners.
pub struct Router {
    pub shared: Arc<Shared>,
    /// `https://127.0.0.1:PORT` (or `http://…` on the plain listener): upload URLs handed
    /// out on this listener point back to it.
    pub base: Arc<str>,
    /// The name of the device certificate the client presented on this connection
    /// (`"unknown"` for one the emulator did not make), None without one.
    pub client_cert: Option<&'static str>,
}

/// The path prefix of the emulator's route for a cloud's default public host (see
/// [`crate::tls::CLOUD_HOSTS`]), from the request's `Host`.
fn host_prefix(req: &Request) -> Option<&'static str> {
    let host = req.header_values("host").next()?;
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let host = host.to_ascii_lowercase();
    if !crate::tls::CLOUD_HOSTS.contains(&host.as_str()) {
        return None;
    }
    Some(if host.starts_with("http-") {
        "/ucloud"
    } else if host.starts_with("file-") {
        "/ucloud-file"
    } else if host.starts_with("iot-as-http.") {
        "/aliyun"
    } else if host.starts_with("iot.") {
        "/aliyun-iot"
    } else {
        "/agc"
    })
}

impl Handler for Router {
    fn handle(&self, req: &Request, body: &mut dyn Read) -> Response {
        let routed;
        let req = match host_prefix(req) {
            Some(prefix) => {
                let mut r = req.clone();
                r.target = format!("{prefix}{}", req.target);
                routed = r;
                &routed
            }
            None => req,
        };
        faults::disarm();
        if self.base.starts_with("http://") && is_upload_url_path(req.path()) {
            self.shared
                .plain_http_uploads
                .fetch_add(1, Ordering::SeqCst);
        }
        let resp = match upload_route(req) {
            Some(Ok(op)) => {
                self.shared.lock().op_stats_mut(op).attempts += 1;
                let base = self.shared.upload_base(&self.base);
                let resp = upload_op(&self.shared, base, op, req, body);
                upload::count_outcome(&self.shared, op, &resp);
                resp
            }
            Some(Err(resp)) => resp,
            None if req.path() == "/mtls/whoami" => whoami(self.client_cert, req),
            None => route(&self.shared, req, body),
        };
        // A reply fault armed at the handler's fault point acts on the processed reply.
        match faults::disarm() {
            Some(armed) => faults::apply(&self.shared, armed, resp),
            None => resp,
        }
    }

    fn date(&self) -> Option<String> {
        self.shared
            .date_header()
            .then(|| clock::imf_fixdate(self.shared.now_secs()))
    }

    fn log(&self, req: Option<&Request>, resp: &Response) {
        if !self.shared.logging() {
            return;
        }
        let (method, path) = req.map_or(("-", "-"), |r| (r.method.as_str(), r.path()));
        let fault = resp
            .fault
            .as_ref()
            .map_or_else(String::new, |f| format!(" fault={}", f.name));
        if resp.abort {
            eprintln!("iothttp-emulator: {method} {path} -> connection dropped{fault}");
            return;
        }
        let code = resp.code.map_or_else(|| "-".to_string(), |c| c.to_string());
        eprintln!(
            "iothttp-emulator: {method} {path} -> {} code={code}{fault}",
            resp.status
        );
    }

    fn stopping(&self) -> bool {
        self.shared.stopping()
    }
}

/// `GET /mtls/whoami`: `{"client_cert":"<name>"}`, the device certificate this connection
/// presented (`null` without one).
fn whoami(client_cert: Option<&str>, req: &Request) -> Response {
    if req.method != "GET" {
        return method_not_allowed("GET");
    }
    let name = client_cert.map_or_else(|| "null".to_string(), crate::sign::json_str);
    Response::json(200, format!("{{\"client_cert\":{name}}}"))
}

/// `{"error":"no such route"}` with 404.
pub fn not_found() -> Response {
    Response::error(404, "no such route")
}

/// `rest` when `path` is `prefix` or continues it with `/`.
fn under<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

pub fn method_not_allowed(allow: &str) -> Response {
    Response::error(405, "method not allowed").with_header("Allow", allow.to_string())
}

/// True for the paths of the upload URLs the emulator hands out (UFile, OSS, OBS): what
/// `upload-urls http` makes plain.
pub fn is_upload_url_path(path: &str) -> bool {
    ["/ufile", "/oss", "/obs"]
        .iter()
        .any(|prefix| under(path, prefix).is_some())
}

/// The upload op a request is for: None for other routes, `Err` for a known upload route
/// with a wrong method or an unknown sub-path.
fn upload_route(req: &Request) -> Option<Result<Op, Response>> {
    let path = req.path();
    let m = req.method.as_str();
    let (op, allowed): (Op, &[&str]) = if let Some(rest) = under(path, "/ucloud-file") {
        if rest != "/api/v1/url" {
            return Some(Err(not_found()));
        }
        (Op::FileUrl, &["POST"])
    } else if under(path, "/ufile").is_some() {
        (Op::FilePut, &["PUT"])
    } else if let Some(rest) = under(path, "/aliyun-iot") {
        if !rest.is_empty() && rest != "/" {
            return Some(Err(not_found()));
        }
        (Op::OtaUrl, &["GET", "POST"])
    } else if let Some(rest) = under(path, "/oss") {
        if !rest.is_empty() && rest != "/" {
            return Some(Err(not_found()));
        }
        (Op::OssPost, &["POST"])
    } else if let Some(rest) = under(path, "/agc") {
        match rest {
            "/api/oauth2/v1/token" => (Op::AgcToken, &["POST"]),
            "/api/publish/v2/upload-url/for-obs" => (Op::AgcUrl, &["GET"]),
            _ => return Some(Err(not_found())),
        }
    } else if under(path, "/obs").is_some() {
        (Op::ObsPut, &["PUT"])
    } else if let Some(rest) = under(path, "/store-form") {
        if !rest.is_empty() && rest != "/" {
            return Some(Err(not_found()));
        }
        (Op::StoreForm, &["POST"])
    } else if under(path, "/store").is_some() {
        (Op::StorePut, &["PUT"])
    } else {
        return None;
    };
    if !allowed.contains(&m) {
        return Some(Err(method_not_allowed(&allowed.join(", "))));
    }
    Some(Ok(op))
}

fn upload_op(shared: &Shared, base: &str, op: Op, req: &Request, body: &mut dyn Read) -> Response {
    match op {
        Op::FileUrl => ufile::url(shared, base, req, body),
        Op::FilePut => ufile::put(shared, req, body),
        Op::OtaUrl => ota::generate_upload_url(shared, base, req, body),
        Op::OssPost => oss::post_object(shared, base, req, body),
        Op::AgcToken => agc::token(shared, req, body),
        Op::AgcUrl => agc::upload_url(shared, base, req),
        Op::ObsPut => agc::obs_put(shared, req, body),
        Op::StorePut => store::put(shared, req, body),
        Op::StoreForm => oss::post_form(shared, base, req, body),
        Op::Auth | Op::Publish | Op::Download => not_found(),
    }
}

fn route(shared: &Shared, req: &Request, body: &mut dyn Read) -> Response {
    let (path, query) = match req.target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (req.target.as_str(), None),
    };
    if let Some(rest) = under(path, "/dl") {
        return download::object(shared, req, rest);
    }
    if let Some(rest) = under(path, "/files") {
        return download::file(shared, req, rest);
    }
    if let Some(rest) = under(path, "/iotda") {
        return iotda_route(shared, req, rest, query.is_some(), body);
    }
    let (cloud, rest) = if let Some(rest) = path.strip_prefix("/ucloud") {
        (Cloud::Ucloud, rest)
    } else if let Some(rest) = path.strip_prefix("/aliyun") {
        (Cloud::Aliyun, rest)
    } else {
        return not_found();
    };
    let topic = if rest == "/auth" {
        None
    } else if rest == "/topic" || rest.starts_with("/topic/") {
        Some(&rest["/topic".len()..])
    } else {
        return not_found();
    };
    if req.method != "POST" {
        return Response::error(405, "method not allowed").with_header("Allow", "POST".into());
    }
    let param_error = || match cloud {
        Cloud::Ucloud => ucloud::error(ucloud::PARAM_ERROR),
        Cloud::Aliyun => aliyun::error(aliyun::PARAM_ERROR),
        Cloud::Iotda => iotda::error(iotda::INVALID_INPUT),
    };
    // Both documents: no `?query_String=xxx` parameters.
    if query.is_some() {
        return param_error();
    }
    match topic {
        None => match cloud {
            Cloud::Ucloud => ucloud::auth(shared, req, body),
            Cloud::Aliyun => aliyun::auth(shared, req, body),
            Cloud::Iotda => not_found(),
        },
        Some(raw) => match decode_topic(raw) {
            None => param_error(),
            Some(topic) => match cloud {
                Cloud::Ucloud => ucloud::publish(shared, req, &topic, body),
                Cloud::Aliyun => aliyun::publish(shared, req, &topic, body),
                Cloud::Iotda => not_found(),
            },
        },
    }
}

/// `/iotda/v5/device-auth`, `/iotda/v5/devices/{id}/sys/...`.
fn iotda_route(
    shared: &Shared,
    req: &Request,
    rest: &str,
    has_query: bool,
    body: &mut dyn Read,
) -> Response {
    let auth = rest == "/v5/device-auth";
    let publish = rest.strip_prefix("/v5/devices/");
    if !auth && publish.is_none() {
        return not_found();
    }
    if req.method != "POST" {
        return method_not_allowed("POST");
    }
    if has_query {
        return iotda::error(iotda::INVALID_INPUT);
    }
    match publish {
        Some(rest) => iotda::publish(shared, req, rest, body),
        None => iotda::auth(shared, req, body),
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes a path segment sequence; None on bad escapes or non-UTF-8.
pub fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex_digit(*bytes.get(i + 1)?)?;
            let lo = hex_digit(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The topic named by the path remainder: percent-decoded, non-empty, and a valid MQTT
/// topic name (no wildcards, no NUL).
pub fn decode_topic(raw: &str) -> Option<String> {
    let topic = percent_decode(raw)?;
    if topic.is_empty() || topic.contains(['+', '#', '\0']) {
        return None;
    }
    Some(topic)
}

/// The device a topic belongs to by its first two levels (`/<product>/<device>/…`).
pub fn topic_device(cloud: Cloud, topic: &str) -> Option<DeviceKey> {
    let mut levels = topic.split('/');
    let (Some(""), Some(product), Some(device)) = (levels.next(), levels.next(), levels.next())
    else {
        return None;
    };
    if product.is_empty() || device.is_empty() {
        return None;
    }
    Some((cloud, product.to_string(), device.to_string()))
}

/// True when `device` may publish to `topic`: it starts with `/<product>/<device>/`.
pub fn acl_allows(device: &DeviceKey, topic: &str) -> bool {
    let prefix = format!("/{}/{}/", device.1, device.2);
    topic.len() > prefix.len() && topic.starts_with(&prefix)
}

/// The bare-HTTP answers of `fail … http503|http429|http302|http500|http404`.
pub fn http_fault(status: u16) -> Response {
    match status {
        503 => Response::error(503, "unavailable"),
        429 => Response::error(429, "too many requests"),
        // A redirect whose target carries a credential-like query: clients must not follow.
        302 => Response::error(302, "moved").with_header(
            "Location",
            "https://127.0.0.1:1/elsewhere?Signature=redirect-secret".to_string(),
        ),
        404 => not_found(),
        _ => Response::error(500, "internal error"),
    }
}

/// Counts a request against `device` when it is registered.
pub fn count_request(shared: &Shared, op: Op, device: &DeviceKey) {
    if let Some(d) = shared.lock().device_mut(device) {
        match op {
            Op::Auth => d.auth_requests += 1,
            Op::Publish => d.publish_requests += 1,
            _ => {}
        }
    }
}

/// Reads a whole (already size-checked) body.
pub fn read_all(body: &mut dyn Read, len: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    body.read_to_end(&mut buf)?;
    if buf.len() as u64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(buf)
}

/// Streams a payload through SHA-256; returns (length, lowercase hex digest).
pub fn hash_payload(body: &mut dyn Read, len: u64) -> io::Result<(u64, String)> {
    let mut hasher = Sha256Stream::default();
    let mut buf = [0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    if total != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok((total, hasher.finish_hex()))
}

/// A JSON timestamp: a non-negative integer or a string of decimal digits. Returns the
/// value and its decimal text.
pub fn json_timestamp(value: &serde_json::Value) -> Option<(i64, String)> {
    match value {
        serde_json::Value::Number(n) => {
            let v = i64::try_from(n.as_u64()?).ok()?;
            Some((v, v.to_string()))
        }
        serde_json::Value::String(s) => {
            if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((s.parse().ok()?, s.clone()))
        }
        _ => None,
    }
}

/// Header value when present exactly once and non-empty; Err when repeated.
pub fn token_header<'a>(req: &'a Request, name: &str) -> Result<Option<&'a str>, ()> {
    Ok(req.single_header(name)?.filter(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics() {
        assert_eq!(
            decode_topic("/a1GFjLP3xxC/device123/pub").as_deref(),
            Some("/a1GFjLP3xxC/device123/pub")
        );
        assert_eq!(
            decode_topic("/p/d/a%20b%2Fc").as_deref(),
            Some("/p/d/a b/c")
        );
        assert_eq!(decode_topic("/p/d/%zz"), None);
        assert_eq!(decode_topic("/p/d/%2"), None);
        assert_eq!(decode_topic("/p/d/%ff"), None);
        assert_eq!(decode_topic("/p/d/+"), None);
        assert_eq!(decode_topic(""), None);
        let key = (Cloud::Aliyun, "p".to_string(), "d".to_string());
        assert_eq!(topic_device(Cloud::Aliyun, "/p/d/x"), Some(key.clone()));
        assert_eq!(topic_device(Cloud::Aliyun, "p/d/x"), None);
        assert!(acl_allows(&key, "/p/d/x"));
        assert!(!acl_allows(&key, "/p/d/"));
        assert!(!acl_allows(&key, "/p/dd/x"));
    }

    #[test]
    fn timestamps() {
        use serde_json::json;
        assert_eq!(json_timestamp(&json!(789)), Some((789, "789".into())));
        assert_eq!(json_timestamp(&json!("0789")), Some((789, "0789".into())));
        assert_eq!(json_timestamp(&json!(-1)), None);
        assert_eq!(json_timestamp(&json!(1.5)), None);
        assert_eq!(json_timestamp(&json!("12a")), None);
        assert_eq!(json_timestamp(&json!("")), None);
    }
}
