//! Huawei AppGallery Connect upload (seed 004): the OAuth client-credentials token, the
//! upload-URL request, and the OBS `PUT` that must carry exactly the returned headers.

use std::io::Read;

use crate::clock;
use crate::faults;
use crate::http::{Request, Response};
use crate::routes::{self, percent_decode};
use crate::sign::{self, json_str, HmacAlg};
use crate::state::{
    Injected, ObsGrant, Op, Shared, State, StoreKind, StoredObject, Subject, UrlKind,
};
use crate::upload::{self, UploadBody, MAX_SMALL_BODY};

/// Wrong or unknown client credentials at the token endpoint (emulator's choice: the
/// documents give no code for it).
pub const BAD_CREDENTIALS: i64 = 205_524_992;
/// Missing, unknown or expired access token, or a `client_id` header that is not the
/// token's client (emulator's choice).
pub const TOKEN_INVALID: i64 = 205_524_993;
/// Invalid input (the document's example code).
pub const INVALID_INPUT: i64 = 204_144_641;

/// `ret.code` → `ret.msg` (HTTP 200). Also the codes a `fail agc-token|agc-url` rule takes.
pub const ERRORS: &[(i64, &str)] = &[
    (BAD_CREDENTIALS, "client_id or client_secret is wrong"),
    (TOKEN_INVALID, "token invalid"),
    (INVALID_INPUT, "invalid input"),
];

/// The bucket of the upload URLs.
pub const BUCKET: &str = "agc-bucket";

/// The `user-agent` the upload URL prescribes.
pub const USER_AGENT: &str = "AGC-Publish/1.0";

/// OBS (S3-style) errors: (Code, HTTP status, default Message). Also the names a
/// `fail obs-put|store-put` rule takes.
pub const S3_ERRORS: &[(&str, u16, &str)] = &[
    (
        "SignatureDoesNotMatch",
        403,
        "The request signature we calculated does not match the signature you provided.",
    ),
    ("AccessDenied", 403, "Request has expired"),
    (
        "XAmzContentSHA256Mismatch",
        400,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ),
    (
        "BadDigest",
        400,
        "The Content-MD5 you specified did not match what we received.",
    ),
    (
        "InvalidDigest",
        400,
        "The Content-MD5 you specified is not valid.",
    ),
    (
        "MissingContentLength",
        411,
        "You must provide the Content-Length HTTP header.",
    ),
    ("InvalidArgument", 400, "Invalid argument."),
    (
        "InternalError",
        500,
        "We encountered an internal error. Please try again.",
    ),
    (
        "ServiceUnavailable",
        503,
        "Service is unable to handle request.",
    ),
    ("SlowDown", 503, "Please reduce your request rate."),
];

/// `{"ret":{"code":<code>,"msg":"<msg>"}}` with HTTP 200.
pub fn error(code: i64) -> Response {
    let msg = ERRORS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("error", |(_, m)| *m);
    Response::json(
        200,
        format!("{{\"ret\":{{\"code\":{code},\"msg\":{}}}}}", json_str(msg)),
    )
    .with_code(code)
}

pub fn is_code(code: i64) -> bool {
    ERRORS.iter().any(|(c, _)| *c == code)
}

/// The `&'static` name of an S3-style error code.
pub fn s3_code_name(code: &str) -> Option<&'static str> {
    S3_ERRORS.iter().map(|(c, _, _)| *c).find(|c| *c == code)
}

/// An S3-style XML error with the code's status.
pub fn s3_error(code: &str, message: Option<&str>) -> Response {
    let (status, default) = S3_ERRORS
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or((400, "Error."), |(_, s, m)| (*s, *m));
    upload::xml_error(status, code, message.unwrap_or(default), "x-amz-request-id")
}

fn injected(fault: Injected) -> Response {
    match fault {
        Injected::Code(code) => error(code),
        Injected::Name(_) => error(INVALID_INPUT),
        Injected::Http(status) => routes::http_fault(status),
    }
}

/// The answer of a `fail obs-put|store-put` rule.
pub fn s3_injected(fault: Injected) -> Response {
    match fault {
        Injected::Name(name) => s3_error(name, None),
        Injected::Code(_) => s3_error("InternalError", None),
        Injected::Http(status) => routes::http_fault(status),
    }
}

/// `POST /api/oauth2/v1/token`.
pub fn token(shared: &Shared, req: &Request, body: &mut dyn Read) -> Response {
    if !upload::media_type_is(req, "application/json") || req.content_length > MAX_SMALL_BODY {
        return error(INVALID_INPUT);
    }
    let Ok(raw) = routes::read_all(body, req.content_length) else {
        return Response::abort();
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&raw) else {
        return error(INVALID_INPUT);
    };
    let text = |key: &str| value.get(key).and_then(|v| v.as_str());
    let (Some(grant_type), Some(client_id), Some(client_secret)) =
        (text("grant_type"), text("client_id"), text("client_secret"))
    else {
        return error(INVALID_INPUT);
    };
    let subject = Subject::Agc(client_id.to_string());
    if let Some(resp) = faults::take(shared, Op::AgcToken, &subject).answer(injected) {
        return resp;
    }
    if grant_type != "client_credentials" {
        return error(INVALID_INPUT);
    }
    let known = shared.lock().agc_clients.get(client_id).cloned();
    if !known.is_some_and(|s| sign::ct_eq(s.as_bytes(), client_secret.as_bytes())) {
        return error(BAD_CREDENTIALS);
    }
    let token = sign::b64url(&sign::random_bytes(48));
    let now_ms = shared.now_ms();
    let ttl = shared
        .lock()
        .issue_agc_token(token.clone(), client_id.to_string(), now_ms);
    Response::json(
        200,
        format!(
            "{{\"access_token\":{},\"expires_in\":{ttl}}}",
            json_str(&token)
        ),
    )
    .with_code(0)
}

struct UrlParams {
    app_id: String,
    file_name: String,
    content_length: u64,
    sha256: String,
}

fn parse_url_params(query: &str) -> Option<UrlParams> {
    let list = upload::parse_urlencoded(query)?;
    let get = |name: &str| -> Option<String> {
        let mut values = list.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
        let first = values.next()?.clone();
        values.next().is_none().then_some(first)
    };
    let (app_id, file_name) = (get("appId")?, get("fileName")?);
    let (length, sha256) = (get("contentLength")?, get("sha256")?);
    if app_id.is_empty() || length.is_empty() || !length.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let content_length = length.parse().ok()?;
    if !sign::is_hex(&sha256, 64, true) {
        return None;
    }
    // A name with an extension (the file type is checked against it).
    let (stem, ext) = file_name.rsplit_once('.')?;
    if stem.is_empty() || ext.is_empty() || file_name.contains(['/', '\\']) {
        return None;
    }
    Some(UrlParams {
        app_id,
        file_name,
        content_length,
        sha256,
    })
}

/// The bearer token of `Authorization: Bearer <token>`.
fn bearer(req: &Request) -> Option<&str> {
    let value = req.single_header("authorization").ok()??;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// `GET /api/publish/v2/upload-url/for-obs?appId=&fileName=&contentLength=&sha256=`.
pub fn upload_url(shared: &Shared, base: &str, req: &Request) -> Response {
    let now_ms = shared.now_ms();
    let header_client = req.single_header("client_id").ok().flatten();
    let token_client = bearer(req).and_then(|t| shared.lock().check_agc_token(t, now_ms));
    let subject = token_client
        .clone()
        .or_else(|| header_client.map(str::to_string))
        .map_or(Subject::Any, Subject::Agc);
    if let Some(resp) = faults::take(shared, Op::AgcUrl, &subject).answer(injected) {
        return resp;
    }
    let client = match (token_client, header_client) {
        (Some(t), Some(h)) if t == h => t,
        _ => return error(TOKEN_INVALID),
    };
    let query = req.target.split_once('?').map_or("", |(_, q)| q);
    let Some(params) = parse_url_params(query) else {
        return error(INVALID_INPUT);
    };

    let object_id = sign::hex(&sign::random_bytes(16));
    let path = format!(
        "/obs/{BUCKET}/{object_id}/{}",
        sign::pct_encode(&params.file_name)
    );
    let host = base.split_once("://").map_or(base, |(_, h)| h).to_string();
    let amz_date = clock::amz_date(now_ms.div_euclid(1000));
    let content_type = "application/octet-stream";
    // A SigV4-shaped signature over the signed headers, under the emulator's key.
    let canonical = format!(
        "PUT\n{path}\n\ncontent-type:{content_type}\nhost:{host}\nx-amz-content-sha256:{}\n\
         x-amz-date:{amz_date}\n\ncontent-type;host;x-amz-content-sha256;x-amz-date\n{}",
        params.sha256, params.sha256
    );
    let signature = sign::hmac_hex(HmacAlg::Sha256, &shared.obs_key, canonical.as_bytes());
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=EMULATORAGCOBSKEY/{}/cn-north-4/s3/aws4_request, \
         SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature={signature}",
        &amz_date[..8]
    );
    let headers: Vec<(&'static str, String)> = vec![
        ("Authorization", authorization),
        ("x-amz-content-sha256", params.sha256.clone()),
        ("x-amz-date", amz_date),
        ("Host", host),
        ("user-agent", USER_AGENT.to_string()),
        ("Content-Type", content_type.to_string()),
    ];
    let headers_json = headers
        .iter()
        .map(|(n, v)| format!("{}:{}", json_str(n), json_str(v)))
        .collect::<Vec<_>>()
        .join(",");
    let mut state = shared.lock();
    let expires_at_ms = State::expiry_ms(now_ms, state.url_ttl_secs(UrlKind::Obs));
    state.add_obs_grant(
        format!("/obs/{BUCKET}/{object_id}/{}", params.file_name),
        ObsGrant {
            client,
            app_id: params.app_id,
            object_id: object_id.clone(),
            key: format!("{object_id}/{}", params.file_name),
            headers,
            content_length: params.content_length,
            sha256: params.sha256,
            expires_at_ms,
        },
        now_ms,
    );
    drop(state);
    Response::json(
        200,
        format!(
            "{{\"ret\":{{\"code\":0,\"msg\":\"success\"}},\"urlInfo\":{{\"objectId\":{},\
             \"url\":{},\"method\":\"PUT\",\"headers\":{{{headers_json}}}}}}}",
            json_str(&object_id),
            json_str(&format!("{base}{path}"))
        ),
    )
    .with_code(0)
}

/// Headers a client cannot avoid sending besides the grant's: message framing and
/// connection management. Everything else is an extra header and is refused.
const FRAMING_HEADERS: &[&str] = &["content-length", "connection", "expect"];

/// The first way the request's headers differ from the grant's, if any.
fn header_mismatch(req: &Request, grant: &ObsGrant) -> Option<String> {
    let mut seen = vec![false; grant.headers.len()];
    for (name, value) in req.headers() {
        if FRAMING_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let Some(i) = grant
            .headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
        else {
            return Some(format!(
                "Header '{name}' is not one of the upload URL's headers (extra header)."
            ));
        };
        if seen[i] {
            return Some(format!("Header '{}' is repeated.", grant.headers[i].0));
        }
        seen[i] = true;
        if *value != grant.headers[i].1 {
            return Some(format!(
                "Header '{}' differs from the upload URL's value.",
                grant.headers[i].0
            ));
        }
    }
    seen.iter()
        .position(|s| !s)
        .map(|i| format!("Header '{}' is missing.", grant.headers[i].0))
}

/// The OBS `PUT /obs/agc-bucket/<objectId>/<fileName>`.
pub fn obs_put(shared: &Shared, req: &Request, body: &mut dyn Read) -> Response {
    let path = percent_decode(req.path()).unwrap_or_default();
    let grant = shared.lock().obs_grant(&path).cloned();
    let subject = grant
        .as_ref()
        .map_or(Subject::Any, |g| Subject::Agc(g.client.clone()));
    let mut faults = faults::take(shared, Op::ObsPut, &subject);
    if let Some(resp) = faults.answer(s3_injected) {
        return resp;
    }
    if let Some(resp) = faults.reject(body, s3_injected) {
        return resp;
    }
    let Some(grant) = grant else {
        return s3_error(
            "SignatureDoesNotMatch",
            Some("No upload URL was issued for this path."),
        );
    };
    if let Some(why) = header_mismatch(req, &grant) {
        return s3_error(
            "SignatureDoesNotMatch",
            Some(&format!(
                "The request signature we calculated does not match the signature you provided. {why}"
            )),
        );
    }
    if !req.has_content_length() {
        return s3_error("MissingContentLength", None);
    }
    if req.content_length != grant.content_length {
        return s3_error(
            "SignatureDoesNotMatch",
            Some(&format!(
                "The request signature we calculated does not match the signature you provided. \
                 Content-Length {} differs from the declared contentLength {}.",
                req.content_length, grant.content_length
            )),
        );
    }
    if shared.now_ms() >= grant.expires_at_ms {
        return s3_error("AccessDenied", None);
    }

    shared.lock().upload_started(StoreKind::Obs, &grant.key);
    let mut body = UploadBody::new(body);
    if let Some(after) = faults.cut {
        body.arm_cut(after);
    }
    let Ok(digests) = upload::stream_body(&mut body, req.content_length) else {
        return Response::abort();
    };
    if body.cut_armed() {
        return Response::abort();
    }
    if !digests.sha256.eq_ignore_ascii_case(&grant.sha256) {
        return s3_error("XAmzContentSHA256Mismatch", None);
    }
    let etag = format!("\"{}\"", digests.md5);
    shared.lock().store_object(
        StoreKind::Obs,
        &grant.key,
        StoredObject {
            size: digests.len,
            md5: digests.md5,
            sha256: digests.sha256,
            headers: req.headers().to_vec(),
            fields: vec![
                ("appId".to_string(), grant.app_id.clone()),
                ("objectId".to_string(), grant.object_id.clone()),
            ],
            content_type: req
                .single_header("content-type")
                .ok()
                .flatten()
                .map(str::to_string),
            ..StoredObject::default()
        },
    );
    upload::empty(200)
        .with_header("ETag", etag)
        .with_header("x-amz-request-id", upload::request_id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_url_params() {
        let sha = "a".repeat(64);
        let ok = |q: &str| parse_url_params(q).is_some();
        assert!(ok(&format!(
            "appId=1&fileName=app.hap&contentLength=10&sha256={sha}"
        )));
        assert!(ok(&format!(
            "appId=1&fileName=my%20app.tar.gz&contentLength=0&sha256={}&releaseType=1",
            sha.to_uppercase()
        )));
        assert!(!ok(&format!(
            "appId=&fileName=app.hap&contentLength=10&sha256={sha}"
        )));
        assert!(!ok(&format!(
            "appId=1&fileName=app&contentLength=10&sha256={sha}"
        )));
        assert!(!ok(&format!(
            "appId=1&fileName=app.&contentLength=10&sha256={sha}"
        )));
        assert!(!ok(&format!(
            "appId=1&fileName=.hap&contentLength=10&sha256={sha}"
        )));
        assert!(!ok(&format!(
            "appId=1&fileName=app.hap&contentLength=-1&sha256={sha}"
        )));
        assert!(!ok(&format!(
            "appId=1&fileName=app.hap&contentLength=1.0&sha256={sha}"
        )));
        assert!(!ok("appId=1&fileName=app.hap&contentLength=1&sha256=abc"));
        assert!(!ok(&format!(
            "appId=1&appId=2&fileName=app.hap&contentLength=10&sha256={sha}"
        )));
        assert!(!ok(&format!(
            "fileName=app.hap&contentLength=10&sha256={sha}"
        )));
    }

    #[test]
    fn error_shapes() {
        let r = error(TOKEN_INVALID);
        assert_eq!(r.status, 200);
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"ret":{"code":205524993,"msg":"token invalid"}}"#
        );
        assert_eq!(s3_error("AccessDenied", None).status, 403);
        assert_eq!(s3_error("MissingContentLength", None).status, 411);
        assert!(is_code(INVALID_INPUT));
        assert_eq!(s3_code_name("SlowDown"), Some("SlowDown"));
    }
}
