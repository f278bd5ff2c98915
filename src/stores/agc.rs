//! Huawei AppGallery Connect package upload (seed 004): client-credentials token (cached
//! until `expires_in`), upload-URL request with `sha256` and `contentLength`, then a PUT with
//! exactly the returned headers and a body of exactly the declared length.

use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde_json::{json, Map, Value};

use crate::client::Client;
use crate::clouds::{cloud_message, code_field};
use crate::device::{check_file_name, normalise_base_url};
use crate::error::{Error, ErrorKind, Result};
use crate::log::log;
use crate::net::transport::{Body, Budget, Method, Request, Response};
use crate::secret::Secret;
use crate::sign::{hex, percent_encode};
use crate::transfer::source::{reborrow, Progress, Source};
use crate::transfer::upload::{
    is_header_value, is_token, run_upload, send_source, store_reply, xml_error, Attempt, Target,
};

/// Default API host (China); `-dre` (Germany), `-dra` (Singapore), `-drru` (Russia) exist.
pub const AGC_DEFAULT_ENDPOINT: &str = "https://connect-api.cloud.huawei.com";
/// Largest HarmonyOS app package (4 GB).
pub const AGC_MAX_APP: u64 = 4 * 1024 * 1024 * 1024;
/// Largest AAB (150 MB).
pub const AGC_MAX_AAB: u64 = 150 * 1024 * 1024;

const MAX_REPLY: usize = 64 * 1024;
/// Longest objectId accepted (checked before the upload starts); the C header's
/// `IOTHTTP_OBJECT_ID_LEN` is one more.
pub const MAX_OBJECT_ID: usize = 255;
/// The document's "invalid input" code.
const RET_INVALID_INPUT: i64 = 204_144_641;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Clone)]
struct Token {
    value: Secret,
    renew_at_ms: u64,
    generation: u64,
}

struct Inner {
    client: Client,
    client_id: String,
    secret: Secret,
    endpoint: RwLock<Option<String>>,
    token: Mutex<Option<Token>>,
    token_lock: Mutex<()>,
}

/// An AppGallery Connect API client (client id + secret). Cheap to clone; thread-safe.
#[derive(Clone)]
pub struct AgcClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AgcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgcClient")
            .field("client_id", &self.inner.client_id)
            .finish_non_exhaustive()
    }
}

/// What the upload-URL call returned.
pub(crate) struct UrlInfo {
    object_id: String,
    url: String,
    headers: Vec<(String, String)>,
}

/// The documented size limit for a package name.
pub fn agc_size_limit(file_name: &str) -> u64 {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if ext == "aab" {
        AGC_MAX_AAB
    } else {
        AGC_MAX_APP
    }
}

fn ret_of(map: &Map<String, Value>) -> Option<(i64, String)> {
    let ret = map.get("ret")?.as_object()?;
    Some((code_field(ret, "code")?, cloud_message(ret, "msg")))
}

impl AgcClient {
    /// A client using `client`'s transport. The secret is kept in memory only.
    pub fn new(client: &Client, client_id: &str, client_secret: &str) -> Result<Self> {
        if client_id.is_empty()
            || client_id.len() > 128
            || !client_id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Error::invalid(
                "client id must be 1..128 visible ASCII characters",
            ));
        }
        if client_secret.is_empty() || client_secret.len() > 512 {
            return Err(Error::invalid("client secret must be 1..512 bytes"));
        }
        Ok(AgcClient {
            inner: Arc::new(Inner {
                client: client.clone(),
                client_id: client_id.to_string(),
                secret: Secret::new(client_secret),
                endpoint: RwLock::new(None),
                token: Mutex::new(None),
                token_lock: Mutex::new(()),
            }),
        })
    }

    /// The API base URL in use.
    pub fn endpoint(&self) -> String {
        self.inner
            .endpoint
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| AGC_DEFAULT_ENDPOINT.to_string())
    }

    /// Call another host (`-dre`, `-dra`, `-drru`, or a test server). Token and API calls
    /// must use the same host: a cached token is dropped.
    pub fn set_endpoint(&self, base_url: &str) -> Result<()> {
        let url = normalise_base_url(base_url)?;
        self.inner.client.http.check_url(&url, "endpoint")?;
        *self
            .inner
            .endpoint
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(url);
        *lock(&self.inner.token) = None;
        Ok(())
    }

    /// Upload a package for `app_id`: token, upload URL (with the file's SHA-256, computed in
    /// one pass unless given, and its length), then a PUT with exactly the returned headers.
    /// Size limits (4 GB; 150 MB for .aab) are checked before anything is sent. Returns the
    /// objectId that the follow-up call attaches to the app.
    pub fn upload(
        &self,
        app_id: &str,
        file_name: &str,
        src: &mut Source,
        mut progress: Option<Progress<'_>>,
    ) -> Result<String> {
        if app_id.is_empty() || app_id.len() > 64 || !app_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                "app id must be 1..64 visible ASCII characters",
            ));
        }
        check_file_name(file_name)?;
        if !file_name.contains('.') {
            return Err(Error::invalid(
                "file name needs the package's extension (e.g. app.app, app.aab)",
            ));
        }
        let limit = agc_size_limit(file_name);
        if src.size() > limit {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "{file_name} is {} bytes; AppGallery accepts at most {limit}",
                    src.size()
                ),
            ));
        }
        let sha256 = hex(&src.digests(false, true)?.sha256.expect("requested"));
        let http = &self.inner.client.http;
        let label = format!("AGC upload of {file_name}");
        let size = src.size();
        let object = run_upload(http, &label, src, |src, reported, budget| {
            let info = match self.upload_url(budget, app_id, file_name, size, &sha256) {
                Ok(i) => i,
                Err(e) => return Attempt::Err(e),
            };
            if let Err(e) = http.check_url(&info.url, "upload URL from AppGallery") {
                return Attempt::Err(e);
            }
            let headers: Vec<(&str, &str)> = info
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let target = Target {
                method: Method::Put,
                url: &info.url,
                headers: &headers,
                prefix: &[],
                suffix: &[],
                exact_headers: true,
            };
            match send_source(http, &target, src, reborrow(&mut progress), reported) {
                Ok(resp) => match obs_reply(&resp) {
                    Attempt::Ok(()) => Attempt::Ok(info.object_id),
                    Attempt::Expired(e) => Attempt::Expired(e),
                    Attempt::Err(e) => Attempt::Err(e),
                },
                Err(e) => Attempt::Err(e),
            }
        })?;
        log!(http.logger, Info, "{label}: {size} bytes uploaded");
        Ok(object)
    }

    /// A cached or new access token: (token, generation, obtained by this call).
    fn token(&self, budget: &mut Budget, stale: Option<u64>) -> Result<(Secret, u64, bool)> {
        let now = self.inner.client.http.corrected_unix_ms(&self.endpoint());
        let fresh = |t: &Token| Some(t.generation) != stale && now < t.renew_at_ms;
        if let Some(t) = lock(&self.inner.token).as_ref().filter(|t| fresh(t)) {
            return Ok((t.value.clone(), t.generation, false));
        }
        let _guard = lock(&self.inner.token_lock);
        if let Some(t) = lock(&self.inner.token).as_ref().filter(|t| fresh(t)) {
            return Ok((t.value.clone(), t.generation, false));
        }
        let (value, lifetime_s) = self.fetch_token(budget)?;
        let now = self.inner.client.http.corrected_unix_ms(&self.endpoint());
        let lifetime_ms = lifetime_s.saturating_mul(1000);
        let renew_at_ms = now.saturating_add(lifetime_ms - (lifetime_ms / 10).min(3_600_000));
        let mut st = lock(&self.inner.token);
        let generation = st.as_ref().map_or(0, |t| t.generation) + 1;
        *st = Some(Token {
            value: value.clone(),
            renew_at_ms,
            generation,
        });
        Ok((value, generation, true))
    }

    fn fetch_token(&self, budget: &mut Budget) -> Result<(Secret, u64)> {
        const WHAT: &str = "AGC token";
        let http = &self.inner.client.http;
        let url = format!("{}/api/oauth2/v1/token", self.endpoint());
        let body = serde_json::to_vec(&json!({
            "grant_type": "client_credentials",
            "client_id": self.inner.client_id,
            "client_secret": self.inner.secret.expose(),
        }))
        .expect("JSON of strings");
        let resp = http.with_budget(budget, "token", WHAT, || {
            let resp = http.send(Request {
                method: Method::Post,
                url: &url,
                headers: &[("Content-Type", "application/json")],
                body: Body::Bytes(&body),
                max_reply: MAX_REPLY,
                exact_headers: false,
            })?;
            throttled(WHAT, resp)
        });
        parse_token_reply(&budget.settle(resp, "the AGC token request")?)
    }

    /// The upload URL, renewing a cached token once if the call is refused with it.
    fn upload_url(
        &self,
        budget: &mut Budget,
        app_id: &str,
        file_name: &str,
        size: u64,
        sha256: &str,
    ) -> Result<UrlInfo> {
        let (token, generation, fresh) = self.token(budget, None)?;
        match self.upload_url_once(budget, &token, app_id, file_name, size, sha256) {
            Err(e) if !fresh && matches!(e.kind(), ErrorKind::Cloud | ErrorKind::Auth) => {
                log!(
                    self.inner.client.http.logger,
                    Info,
                    "AGC upload URL refused with a cached token ({}); renewing the token",
                    e.message()
                );
                let (token, _, _) = self.token(budget, Some(generation))?;
                self.upload_url_once(budget, &token, app_id, file_name, size, sha256)
            }
            other => other,
        }
    }

    fn upload_url_once(
        &self,
        budget: &mut Budget,
        token: &Secret,
        app_id: &str,
        file_name: &str,
        size: u64,
        sha256: &str,
    ) -> Result<UrlInfo> {
        const WHAT: &str = "AGC upload URL";
        let http = &self.inner.client.http;
        let url = format!(
            "{}/api/publish/v2/upload-url/for-obs?appId={}&fileName={}&contentLength={size}&sha256={sha256}",
            self.endpoint(),
            percent_encode(app_id),
            percent_encode(file_name)
        );
        let bearer = format!("Bearer {}", token.expose());
        let headers = [
            ("client_id", self.inner.client_id.as_str()),
            ("Authorization", bearer.as_str()),
        ];
        let resp = http.with_budget(budget, "upload URL", WHAT, || {
            let resp = http.send(Request {
                method: Method::Get,
                url: &url,
                headers: &headers,
                body: Body::Bytes(&[]),
                max_reply: MAX_REPLY,
                exact_headers: false,
            })?;
            throttled(WHAT, resp)
        });
        parse_upload_url_reply(&budget.settle(resp, "the AGC upload URL request")?, size)
    }
}

/// 503 and 429 as retryable errors; anything else is the caller's to read.
fn throttled(what: &str, resp: Response) -> Result<Response> {
    match resp.status {
        503 => Err(
            Error::new(ErrorKind::Unavailable, format!("{what}: HTTP 503")).with_http_status(503),
        ),
        429 => Err(
            Error::new(ErrorKind::RateLimited, format!("{what}: HTTP 429")).with_http_status(429),
        ),
        _ => Ok(resp),
    }
}

/// Interpret the token reply: `{"access_token","expires_in"}`, or `ret.code` refusals.
pub(crate) fn parse_token_reply(resp: &Response) -> Result<(Secret, u64)> {
    const WHAT: &str = "AGC token";
    let map = json_map(WHAT, resp)?;
    if let Some((code, msg)) = ret_of(&map).filter(|(c, _)| *c != 0) {
        return Err(Error::new(
            ErrorKind::Auth,
            format!("{WHAT}: ret.code {code} \"{msg}\": client id or secret refused"),
        )
        .with_cloud_code(code)
        .with_http_status(resp.status));
    }
    if resp.status == 401 || resp.status == 403 {
        return Err(Error::new(
            ErrorKind::Auth,
            format!("{WHAT}: HTTP {}: client id or secret refused", resp.status),
        )
        .with_http_status(resp.status));
    }
    let token = match map.get("access_token") {
        Some(Value::String(t)) if crate::clouds::is_header_safe_token(t) => Secret::new(t.as_str()),
        _ => {
            return Err(Error::new(
                ErrorKind::BadResponse,
                format!("{WHAT}: reply has no usable access_token"),
            )
            .with_http_status(resp.status))
        }
    };
    let expires_in = map
        .get("expires_in")
        .and_then(Value::as_u64)
        .filter(|s| *s > 0)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::BadResponse,
                format!("{WHAT}: reply has no positive integer expires_in"),
            )
        })?;
    Ok((token, expires_in))
}

/// Interpret the upload-URL reply (`ret.code` errors arrive with HTTP 200).
pub(crate) fn parse_upload_url_reply(resp: &Response, size: u64) -> Result<UrlInfo> {
    const WHAT: &str = "AGC upload URL";
    if resp.status == 401 || resp.status == 403 {
        return Err(Error::new(
            ErrorKind::Auth,
            format!("{WHAT}: HTTP {}: token refused", resp.status),
        )
        .with_http_status(resp.status));
    }
    let map = json_map(WHAT, resp)?;
    match ret_of(&map) {
        Some((0, _)) => {}
        Some((code, msg)) => {
            let kind = if code == RET_INVALID_INPUT {
                ErrorKind::InvalidArg
            } else {
                ErrorKind::Cloud
            };
            return Err(
                Error::new(kind, format!("{WHAT}: ret.code {code} \"{msg}\""))
                    .with_cloud_code(code)
                    .with_http_status(resp.status),
            );
        }
        None => {
            return Err(Error::new(
                ErrorKind::BadResponse,
                format!("{WHAT}: reply (HTTP {}) has no ret.code", resp.status),
            )
            .with_http_status(resp.status))
        }
    }
    parse_url_info(&map, size)
}

fn json_map(what: &str, resp: &Response) -> Result<Map<String, Value>> {
    match serde_json::from_slice::<Value>(&resp.body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => {
            let kind = if (200..300).contains(&resp.status) {
                ErrorKind::BadResponse
            } else {
                ErrorKind::Http
            };
            Err(Error::new(
                kind,
                format!(
                    "{what}: HTTP {}, reply is not a JSON object ({} bytes)",
                    resp.status,
                    resp.body.len()
                ),
            )
            .with_http_status(resp.status))
        }
    }
}

fn parse_url_info(map: &Map<String, Value>, size: u64) -> Result<UrlInfo> {
    let bad = |why: String| Error::new(ErrorKind::BadResponse, format!("AGC upload URL: {why}"));
    let info = map
        .get("urlInfo")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("reply has no urlInfo".into()))?;
    let text = |name: &str| match info.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(bad(format!("urlInfo.{name} is missing"))),
    };
    let object_id = text("objectId")?;
    if object_id.len() > MAX_OBJECT_ID || object_id.chars().any(char::is_control) {
        return Err(bad(format!(
            "urlInfo.objectId is longer than {MAX_OBJECT_ID} bytes or not printable"
        )));
    }
    let url = text("url")?;
    let method = text("method")?;
    if !method.eq_ignore_ascii_case("PUT") {
        return Err(bad(format!(
            "urlInfo.method is '{}', only PUT is supported",
            method.chars().take(16).collect::<String>()
        )));
    }
    let mut headers = Vec::new();
    if let Some(h) = info.get("headers") {
        let h = h
            .as_object()
            .ok_or_else(|| bad("urlInfo.headers is not an object".into()))?;
        for (name, value) in h {
            let Some(value) = value.as_str() else {
                return Err(bad(format!("header '{name}' is not a string")));
            };
            if !is_token(name) || !is_header_value(value) {
                return Err(bad(format!("header '{name}' is malformed")));
            }
            match name.to_ascii_lowercase().as_str() {
                "content-length" => {
                    if value.trim().parse::<u64>().ok() != Some(size) {
                        return Err(bad(format!(
                            "returned Content-Length {value} differs from the file size {size}"
                        )));
                    }
                }
                "transfer-encoding" => {
                    return Err(bad(
                        "asks for Transfer-Encoding; the body has a fixed length".into(),
                    ))
                }
                _ => headers.push((name.clone(), value.to_string())),
            }
        }
    }
    Ok(UrlInfo {
        object_id,
        url,
        headers,
    })
}

/// Fuzzing: run every reply parser.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_replies(resp: &Response, size: u64) {
    let _ = parse_token_reply(resp);
    let _ = parse_upload_url_reply(resp, size);
    let _ = obs_reply(resp);
}

/// The storage's reply to the PUT (S3-style XML errors).
fn obs_reply(resp: &Response) -> Attempt<()> {
    const WHAT: &str = "AGC PUT";
    if let Some((code, msg)) = xml_error(&resp.body) {
        let s = resp.status;
        let err = |kind, hint: &str| {
            Error::new(kind, format!("{WHAT}: HTTP {s}: {code}: {msg}{hint}"))
                .with_http_status(s)
                .with_cloud_code(s.into())
        };
        match code.as_str() {
            "AccessDenied" if msg.to_ascii_lowercase().contains("expired") => {
                return Attempt::Expired(err(ErrorKind::Denied, ""))
            }
            "SignatureDoesNotMatch" | "AccessDenied" => {
                return Attempt::Err(err(ErrorKind::Denied, ""))
            }
            "XAmzContentSHA256Mismatch" | "BadDigest" => return Attempt::Err(err(
                ErrorKind::Cloud,
                " (the bytes sent differ from the SHA-256 computed before: did the file change?)",
            )),
            _ => {}
        }
    }
    store_reply(WHAT, resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_limits() {
        assert_eq!(agc_size_limit("a.app"), AGC_MAX_APP);
        assert_eq!(agc_size_limit("a.AAB"), AGC_MAX_AAB);
        assert_eq!(agc_size_limit("noext"), AGC_MAX_APP);
    }

    #[test]
    fn url_info() {
        let map: Map<String, Value> = serde_json::from_str(
            r#"{"ret":{"code":0},"urlInfo":{"objectId":"o1","url":"https://h/x","method":"PUT",
               "headers":{"Authorization":"AWS4 x","x-amz-date":"d","Host":"h","Content-Length":"5"}}}"#,
        )
        .unwrap();
        let i = parse_url_info(&map, 5).unwrap();
        assert_eq!(i.object_id, "o1");
        assert_eq!(i.headers.len(), 3, "Content-Length is sent by the library");
        assert!(parse_url_info(&map, 6).is_err());
        let post: Map<String, Value> = serde_json::from_str(
            r#"{"urlInfo":{"objectId":"o","url":"https://h","method":"POST"}}"#,
        )
        .unwrap();
        assert!(parse_url_info(&post, 1).is_err());
        let bad: Map<String, Value> = serde_json::from_str(
            r#"{"urlInfo":{"objectId":"o","url":"https://h","method":"PUT","headers":{"X":"a\r\nb"}}}"#,
        )
        .unwrap();
        assert!(parse_url_info(&bad, 1).is_err());
    }

    #[test]
    fn obs_replies() {
        let r = Response::test;
        assert!(matches!(obs_reply(&r(200, "")), Attempt::Ok(())));
        assert!(matches!(
            obs_reply(&r(
                403,
                "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            )),
            Attempt::Expired(_)
        ));
        match obs_reply(&r(
            403,
            "<Error><Code>SignatureDoesNotMatch</Code><Message>m</Message></Error>",
        )) {
            Attempt::Err(e) => assert_eq!(e.kind(), ErrorKind::Denied),
            _ => panic!(),
        }
    }
}
