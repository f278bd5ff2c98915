//! A device identity: lazy auth, token cache and renewal, publish with one re-auth on a
//! refused token, clock-skew handling. Cloud specifics live in the dialects.

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use crate::client::Client;
#[cfg(feature = "ucloud-files")]
use crate::clouds::FileInfo;
use crate::clouds::{Cloud, Dialect, Failure, Identity, Issued, Published, SignMethod, MAX_REPLY};
use crate::error::{Error, ErrorKind, Result};
use crate::log::log;
use crate::net::transport::{Body, Method, Request};
use crate::secret::Secret;
#[cfg(feature = "ucloud-files")]
use crate::transfer::source::reborrow;
use crate::transfer::source::{Progress, Source};
#[cfg(feature = "ucloud-files")]
use crate::transfer::upload::{run_upload, send_source, Attempt, Target};

/// Largest publish payload UCloud and Aliyun accept (128 KiB); see [`Device::max_payload`]
/// for the device's own cloud (IoTDA: 1 MB).
pub use crate::clouds::MAX_PAYLOAD;
/// Longest topic accepted, in bytes.
pub const MAX_TOPIC: usize = 1024;
/// Longest product / device name accepted, in bytes.
const MAX_NAME: usize = 256;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A token with its timing, in Unix ms (server-corrected clock).
#[derive(Clone)]
struct TokenState {
    token: Secret,
    expires_at_ms: Option<u64>,
    renew_at_ms: Option<u64>,
    generation: u64,
    /// Renewals of this (still valid) token that failed in a row, and when the next may be
    /// tried: at most one attempt per interval, however many publishes meet the token.
    renew_failures: u32,
    next_renewal_ms: u64,
}

impl TokenState {
    fn new(
        token: Secret,
        expires_at_ms: Option<u64>,
        renew_at_ms: Option<u64>,
        generation: u64,
    ) -> Self {
        TokenState {
            token,
            expires_at_ms,
            renew_at_ms,
            generation,
            renew_failures: 0,
            next_renewal_ms: 0,
        }
    }

    fn needs_renewal(&self, now: u64) -> bool {
        self.renew_at_ms.is_some_and(|r| now >= r)
    }

    /// Due for renewal, but a renewal failed a moment ago and the token is still valid: use
    /// it without trying again yet.
    fn renewal_deferred(&self, now: u64) -> bool {
        !self.expired(now) && now < self.next_renewal_ms
    }

    fn expired(&self, now: u64) -> bool {
        self.expires_at_ms.is_some_and(|e| now >= e)
    }
}

#[derive(Clone)]
struct Settings {
    endpoint: Option<String>,
    file_endpoint: Option<String>,
    region: String,
    client_id: String,
    sign_method: SignMethod,
    send_timestamp: bool,
}

struct Inner {
    client: Client,
    cloud: Cloud,
    dialect: &'static dyn Dialect,
    product: String,
    device: String,
    secret: Secret,
    settings: RwLock<Settings>,
    token: Mutex<Option<TokenState>>,
    /// Serialises auth so that many threads meeting a stale token cause one auth.
    auth_lock: Mutex<()>,
}

/// A device's name in log lines and messages.
struct Label<'a>(&'a Inner);

impl std::fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} device {}/{}",
            self.0.dialect.name(),
            self.0.product,
            self.0.device
        )
    }
}

/// A device identity bound to a client. Cheap to clone; thread-safe.
#[derive(Clone)]
pub struct Device {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("cloud", &self.inner.cloud)
            .field("product", &self.inner.product)
            .field("device", &self.inner.device)
            .finish_non_exhaustive()
    }
}

fn check_name(what: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(format!("{what} is empty")));
    }
    if value.len() > MAX_NAME {
        return Err(Error::invalid(format!(
            "{what} is {} bytes long; the limit is {MAX_NAME}",
            value.len()
        )));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || *c == '/')
    {
        return Err(Error::invalid(format!(
            "{what} contains an illegal character (U+{:04X})",
            c as u32
        )));
    }
    Ok(())
}

/// Topics: non-empty, at most [`MAX_TOPIC`] bytes, no `?` (the clouds take no query string),
/// no MQTT wildcards `#` `+`, no whitespace or control characters, and no `.` or `..` segment
/// (also percent-encoded, `%2e`): a topic becomes the path below `/topic/`, and a dot segment
/// would make it name another path of the server.
pub fn validate_topic(topic: &str) -> Result<()> {
    if topic.is_empty() || topic == "/" {
        return Err(Error::invalid("topic is empty"));
    }
    if topic.len() > MAX_TOPIC {
        return Err(Error::invalid(format!(
            "topic is {} bytes long; the limit is {MAX_TOPIC}",
            topic.len()
        )));
    }
    for (i, c) in topic.char_indices() {
        let why = match c {
            '?' => "'?' (the clouds take no query string)",
            '#' | '+' => "an MQTT wildcard ('#' or '+')",
            c if c.is_control() => "a control character",
            c if c.is_whitespace() => "whitespace",
            _ => continue,
        };
        return Err(Error::invalid(format!("topic contains {why} at byte {i}")));
    }
    if let Some(seg) = topic.split('/').find(|s| is_dot_segment(s)) {
        return Err(Error::invalid(format!(
            "topic contains the path segment '{seg}' (a '.' or '..' would leave /topic/)"
        )));
    }
    Ok(())
}

/// `.` or `..`, with any of the dots written as `%2e` / `%2E` (RFC 3986, 6.2.2.2).
fn is_dot_segment(segment: &str) -> bool {
    let mut rest = segment.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        if rest[0] == b'.' {
            rest = &rest[1..];
        } else if rest.len() >= 3 && rest[0] == b'%' && rest[1] == b'2' && rest[2] | 0x20 == b'e' {
            rest = &rest[3..];
        } else {
            return false;
        }
        dots += 1;
    }
    dots == 1 || dots == 2
}

/// Check and normalise a base URL: http(s), a host, no query or fragment, no trailing '/'.
pub(crate) fn normalise_base_url(url: &str) -> Result<String> {
    let trimmed = url.trim_end_matches('/');
    let lower = trimmed.get(..8).unwrap_or(trimmed).to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err(Error::invalid(
            "endpoint must be an https:// URL such as https://host[:port][/path]",
        ));
    }
    if trimmed.contains(['?', '#']) || trimmed.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::invalid(
            "endpoint must not contain a query, fragment, whitespace or control characters",
        ));
    }
    let uri: ureq::http::Uri = trimmed
        .parse()
        .map_err(|e| Error::invalid(format!("endpoint is not a valid URL: {e}")))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(Error::invalid("endpoint URL has no host"));
    }
    Ok(trimmed.to_string())
}

impl Device {
    pub(crate) fn new(
        client: Client,
        cloud: Cloud,
        product: &str,
        device: &str,
        secret: &str,
    ) -> Result<Device> {
        check_name("product", product)?;
        check_name("device", device)?;
        if secret.is_empty() {
            return Err(Error::invalid("device secret is empty"));
        }
        if secret.len() > MAX_NAME {
            return Err(Error::invalid(format!(
                "device secret is longer than {MAX_NAME} bytes"
            )));
        }
        let dialect = cloud.dialect()?;
        dialect.check_identity(product, device)?;
        let default_client_id = if dialect.has_client_id() {
            let id = format!("{product}.{device}");
            if id.len() <= crate::clouds::MAX_CLIENT_ID {
                id
            } else {
                device.to_string()
            }
        } else {
            String::new()
        };
        let sign_method = if dialect.supports_sign_method(SignMethod::HmacMd5) {
            SignMethod::HmacMd5
        } else {
            SignMethod::HmacSha256
        };
        Ok(Device {
            inner: Arc::new(Inner {
                client,
                cloud,
                dialect,
                product: product.to_string(),
                device: device.to_string(),
                secret: Secret::new(secret),
                settings: RwLock::new(Settings {
                    endpoint: None,
                    file_endpoint: None,
                    region: dialect.default_region().to_string(),
                    client_id: default_client_id,
                    sign_method,
                    send_timestamp: false,
                }),
                token: Mutex::new(None),
                auth_lock: Mutex::new(()),
            }),
        })
    }

    /// The cloud this device belongs to.
    pub fn cloud(&self) -> Cloud {
        self.inner.cloud
    }

    /// Largest publish payload of the device's cloud, in bytes.
    pub fn max_payload(&self) -> usize {
        self.inner.dialect.max_payload()
    }

    /// Longest message id the device's cloud returns (0: it returns none).
    pub fn max_message_id(&self) -> usize {
        self.inner.dialect.max_message_id()
    }

    /// The client this device uses.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    fn read_settings(&self) -> std::sync::RwLockReadGuard<'_, Settings> {
        self.inner
            .settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn settings(&self) -> Settings {
        self.read_settings().clone()
    }

    fn update_settings(&self, f: impl FnOnce(&mut Settings)) {
        let mut s = self
            .inner
            .settings
            .write()
            .unwrap_or_else(|e| e.into_inner());
        f(&mut s);
    }

    /// The endpoint to send to, or why there is none (a cloud without public hosts).
    fn required_endpoint(&self, s: &Settings) -> Result<String> {
        if self.inner.dialect.requires_endpoint() && s.endpoint.is_none() {
            return Err(Error::invalid(format!(
                "{} devices have no public endpoint: set_endpoint is required \
                 (iothttp_device_set_endpoint with the instance's HTTPS access address)",
                self.inner.dialect.name()
            )));
        }
        Ok(self.endpoint_of(s))
    }

    fn endpoint_of(&self, s: &Settings) -> String {
        s.endpoint
            .clone()
            .unwrap_or_else(|| self.inner.dialect.endpoint(&s.region))
    }

    /// The device endpoint in use.
    pub fn endpoint(&self) -> String {
        self.endpoint_of(&self.read_settings())
    }

    /// The file endpoint in use (UCloud), if the cloud has one.
    pub fn file_endpoint(&self) -> Option<String> {
        let s = self.read_settings();
        s.file_endpoint
            .clone()
            .or_else(|| self.inner.dialect.file_endpoint(&s.region))
    }

    fn check_endpoint_scheme(&self, url: &str) -> Result<()> {
        self.inner.client.http.check_url(url, "endpoint")
    }

    /// Use another base URL for auth and publish (`https://host[:port][/path]`). A cached
    /// token is dropped when the endpoint changes.
    pub fn set_endpoint(&self, base_url: &str) -> Result<()> {
        let url = normalise_base_url(base_url)?;
        self.check_endpoint_scheme(&url)?;
        let before = self.endpoint();
        self.update_settings(|s| s.endpoint = Some(url));
        if self.endpoint() != before {
            *lock(&self.inner.token) = None;
        }
        Ok(())
    }

    /// Use another base URL for file uploads (UCloud only).
    pub fn set_file_endpoint(&self, base_url: &str) -> Result<()> {
        if self.inner.dialect.file_endpoint("x").is_none() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{} devices have no file endpoint",
                    self.inner.dialect.name()
                ),
            ));
        }
        let url = normalise_base_url(base_url)?;
        self.check_endpoint_scheme(&url)?;
        self.update_settings(|s| s.file_endpoint = Some(url));
        Ok(())
    }

    /// Pick the region's public hosts ("cn-sh2", "cn-gd", "cn-shanghai", ...). An endpoint
    /// set explicitly keeps precedence.
    pub fn set_region(&self, region: &str) -> Result<()> {
        check_region(region)?;
        let before = self.endpoint();
        self.update_settings(|s| s.region = region.to_string());
        if self.endpoint() != before {
            *lock(&self.inner.token) = None;
        }
        Ok(())
    }

    /// Set the Aliyun clientId (1..64 visible ASCII characters).
    pub fn set_client_id(&self, client_id: &str) -> Result<()> {
        if !self.inner.dialect.has_client_id() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("{} devices have no client id", self.inner.dialect.name()),
            ));
        }
        if client_id.is_empty()
            || client_id.len() > crate::clouds::MAX_CLIENT_ID
            || !client_id.bytes().all(|b| (0x21..=0x7e).contains(&b))
        {
            return Err(Error::invalid(
                "client id must be 1..64 visible ASCII characters (a MAC address or serial number)",
            ));
        }
        self.update_settings(|s| s.client_id = client_id.to_string());
        Ok(())
    }

    /// Choose how auth is signed (Aliyun: HMAC-MD5 default, SHA1, SHA256; UCloud: SHA256).
    pub fn set_sign_method(&self, method: SignMethod) -> Result<()> {
        if !self.inner.dialect.supports_sign_method(method) {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{} devices sign with HMAC-SHA256 only",
                    self.inner.dialect.name()
                ),
            ));
        }
        self.update_settings(|s| s.sign_method = method);
        Ok(())
    }

    /// Send a timestamp in auth requests (default off: the field is optional).
    pub fn send_timestamp(&self, on: bool) {
        self.update_settings(|s| s.send_timestamp = on);
    }

    /// Authenticate now, replacing any cached token.
    pub fn auth(&self) -> Result<()> {
        let _call = self.inner.client.http.call_scope();
        let _guard = lock(&self.inner.auth_lock);
        self.store_new_token()?;
        Ok(())
    }

    /// The cached token and its expiry (Unix ms, None if unknown), if there is one.
    pub fn token(&self) -> Option<(Secret, Option<u64>)> {
        lock(&self.inner.token)
            .as_ref()
            .map(|t| (t.token.clone(), t.expires_at_ms))
    }

    /// Install a token saved earlier (e.g. before a reboot). `expires_at_ms` is Unix ms, or
    /// None if unknown (then it is used until the cloud refuses it).
    pub fn set_token(&self, token: &str, expires_at_ms: Option<u64>) -> Result<()> {
        if !crate::clouds::is_header_safe_token(token) {
            return Err(Error::invalid(
                "token must be 1..4096 visible ASCII characters",
            ));
        }
        let lifetime = self.inner.dialect.token_lifetime();
        let now = self.now_ms();
        let _guard = lock(&self.inner.auth_lock);
        let mut st = lock(&self.inner.token);
        let generation = st.as_ref().map_or(0, |t| t.generation) + 1;
        let renew_at = expires_at_ms.map(|e| renew_at_ms(now, e, lifetime));
        *st = Some(TokenState::new(
            Secret::new(token),
            expires_at_ms,
            renew_at,
            generation,
        ));
        Ok(())
    }

    /// Drop the cached token (the next publish authenticates).
    pub fn clear_token(&self) {
        *lock(&self.inner.token) = None;
    }

    /// Publish `payload` (at most 128 KiB) to `topic`. Authenticates lazily, renews the token
    /// before it expires, and on a refused token (however new) authenticates once more and
    /// resends; [`ErrorKind::Token`] means the token from that re-auth was refused too.
    pub fn publish(&self, topic: &str, payload: &[u8]) -> Result<Published> {
        validate_topic(topic)?;
        let _call = self.inner.client.http.call_scope();
        let max = self.inner.dialect.max_payload();
        if payload.len() > max {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "payload is {} bytes; {} accepts at most {max}",
                    payload.len(),
                    self.inner.dialect.name()
                ),
            ));
        }
        let path = self
            .inner
            .dialect
            .publish_path(&self.inner.device, topic, payload)?;
        let url = format!("{}{path}", self.required_endpoint(&self.settings())?);
        self.inner.client.http.check_url(&url, "publish")?;
        let now = self.inner.client.http.corrected_unix_ms(&url);
        let (token, generation, _) = self.usable_token(now)?;
        let first = self.publish_once(&url, &token, payload);
        let refused = match first {
            Err(Failure::TokenRejected(e)) => e,
            other => return other.map_err(Failure::into_error),
        };
        // Authenticate once more and resend, whatever the refused token's age: also one that
        // this call's lazy auth obtained a moment ago (a cloud may refuse a token it has not
        // yet propagated). Only the token of this one re-auth being refused is final.
        log!(
            self.inner.client.http.logger,
            Info,
            "{}: token refused ({}); authenticating again",
            self.label(),
            refused.message()
        );
        let (token, _, _) = self.refresh_token(Some(generation))?;
        match self.publish_once(&url, &token, payload) {
            Err(Failure::TokenRejected(e)) => Err(refused_again(e)),
            other => other.map_err(Failure::into_error),
        }
    }

    /// Upload a file as this device (UCloud): request an upload URL signed with the device
    /// secret, then stream `src` with `PUT`, `Content-MD5` (lowercase hex, computed in one
    /// pass unless given) and `Content-Type: content_type`. Retried from the start of a
    /// rewindable source after a broken connection or an expired URL.
    pub fn upload_file(
        &self,
        file_name: &str,
        content_type: &str,
        src: &mut Source,
        progress: Option<Progress<'_>>,
    ) -> Result<()> {
        #[cfg(feature = "ucloud-files")]
        if let Some(files) = self.inner.dialect.file_upload() {
            return self.upload_file_with(files, file_name, content_type, src, progress);
        }
        #[cfg(not(feature = "ucloud-files"))]
        if self.inner.cloud == Cloud::UCloud {
            let _ = (file_name, content_type, src, progress);
            return Err(Error::missing_feature(
                "ucloud-files",
                "UCloud device file upload",
            ));
        }
        Err(Error::new(
            ErrorKind::Unsupported,
            format!("{} devices have no file upload", self.inner.dialect.name()),
        ))
    }

    #[cfg(feature = "ucloud-files")]
    fn upload_file_with(
        &self,
        files: &dyn crate::clouds::FileUpload,
        file_name: &str,
        content_type: &str,
        src: &mut Source,
        mut progress: Option<Progress<'_>>,
    ) -> Result<()> {
        check_file_name(file_name)?;
        if content_type.is_empty()
            || content_type.len() > 256
            || !content_type.bytes().all(|b| (0x20..0x7f).contains(&b))
        {
            return Err(Error::invalid(
                "content type must be 1..256 printable ASCII characters (e.g. application/zip)",
            ));
        }
        let http = &self.inner.client.http;
        let endpoint = self.file_endpoint().unwrap_or_default();
        let grant_url = format!("{endpoint}/api/v1/url");
        http.check_url(&grant_url, "file upload")?;
        let md5 = crate::sign::hex(&src.digests(true, false)?.md5.expect("requested"));
        let label = format!("{}: upload of {file_name}", self.label());
        let settings = self.settings();
        let id = Identity {
            product: &self.inner.product,
            device: &self.inner.device,
            secret: &self.inner.secret,
            client_id: &settings.client_id,
            sign_method: settings.sign_method,
            now_ms: self.now_ms(),
        };
        let file = FileInfo {
            name: file_name,
            size: src.size(),
            md5_hex: &md5,
            content_type,
        };
        let prepared = files.grant_request(&id, &file);
        let grant_headers: Vec<(&str, &str)> = prepared
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        run_upload(http, &label, src, |src, reported, budget| {
            let grant = http.with_budget(budget, "grant", &label, || {
                let resp = http.send(Request {
                    method: Method::Post,
                    url: &grant_url,
                    headers: &grant_headers,
                    body: Body::Bytes(&prepared.body),
                    max_reply: MAX_REPLY,
                    exact_headers: false,
                })?;
                files.parse_grant(&resp)
            });
            let grant = grant.map_err(|f| f.map(Failure::into_error));
            let grant = match budget.settle(grant, "the upload URL request") {
                Ok(g) => g,
                Err(e) => return Attempt::Err(e),
            };
            if let Err(e) = http.check_url(&grant.url, "file upload URL from the cloud") {
                return Attempt::Err(e);
            }
            let headers = [
                ("Authorization", grant.authorization.expose()),
                ("Content-Type", content_type),
                ("Content-MD5", md5.as_str()),
            ];
            let target = Target {
                method: Method::Put,
                url: &grant.url,
                headers: &headers,
                prefix: &[],
                suffix: &[],
                exact_headers: false,
            };
            match send_source(http, &target, src, reborrow(&mut progress), reported) {
                Ok(resp) => files.parse_put(&resp),
                Err(e) => Attempt::Err(e),
            }
        })?;
        log!(http.logger, Info, "{label}: {} bytes uploaded", src.size());
        Ok(())
    }

    /// Unix ms by the clock of the device's cloud (corrected from its `Date` headers).
    fn now_ms(&self) -> u64 {
        let http = &self.inner.client.http;
        let s = self.read_settings();
        match &s.endpoint {
            Some(e) => http.corrected_unix_ms(e),
            None => http.corrected_unix_ms(&self.inner.dialect.endpoint(&s.region)),
        }
    }

    /// "UCloud device P/D" for log lines, formatted only when a line is written.
    fn label(&self) -> Label<'_> {
        Label(&self.inner)
    }

    fn publish_once(
        &self,
        url: &str,
        token: &Secret,
        payload: &[u8],
    ) -> Result<Published, Failure> {
        let http = &self.inner.client.http;
        let headers = [
            ("Content-Type", self.inner.dialect.publish_content_type()),
            (self.inner.dialect.token_header(), token.expose()),
        ];
        http.with_retries(self.label(), || {
            let resp = http.send(Request {
                method: Method::Post,
                url,
                headers: &headers,
                body: Body::Bytes(payload),
                max_reply: MAX_REPLY,
                exact_headers: false,
            })?;
            self.inner.dialect.parse_publish(&resp)
        })
    }

    /// A token to publish with: the cached one, or a new one when there is none or it is
    /// due for renewal. Returns (token, generation, obtained by this call).
    ///
    /// While the current token is still valid, renewal never holds a publish up for long: a
    /// thread that finds another one renewing uses the current token, and after a failed
    /// renewal the next attempt waits an interval (1 s, doubling up to 60 s).
    /// `now`: Unix ms by the cloud's clock.
    fn usable_token(&self, now: u64) -> Result<(Secret, u64, bool)> {
        let mut valid = false;
        if let Some(t) = lock(&self.inner.token).as_ref() {
            if !t.needs_renewal(now) || t.renewal_deferred(now) {
                return Ok((t.token.clone(), t.generation, false));
            }
            valid = !t.expired(now);
        }
        let renewed = if valid {
            match self.inner.auth_lock.try_lock() {
                Ok(guard) => self.refresh_token_locked(guard, None),
                Err(std::sync::TryLockError::Poisoned(p)) => {
                    self.refresh_token_locked(p.into_inner(), None)
                }
                Err(std::sync::TryLockError::WouldBlock) => {
                    // Another thread is renewing: the current token is good meanwhile.
                    if let Some(t) = lock(&self.inner.token).as_ref() {
                        if !t.expired(now) {
                            return Ok((t.token.clone(), t.generation, false));
                        }
                    }
                    self.refresh_token(None)
                }
            }
        } else {
            self.refresh_token(None)
        };
        match renewed {
            Ok(v) => Ok(v),
            Err(e) => {
                // A renewal that fails on the network is no reason to drop a valid token.
                let transient = matches!(
                    e.kind(),
                    ErrorKind::Connect
                        | ErrorKind::Timeout
                        | ErrorKind::Io
                        | ErrorKind::Unavailable
                        | ErrorKind::RateLimited
                        | ErrorKind::Http
                        | ErrorKind::BadResponse
                );
                if transient {
                    if let Some(t) = lock(&self.inner.token).as_mut() {
                        if !t.expired(now) {
                            t.renew_failures = t.renew_failures.saturating_add(1);
                            let wait = renewal_retry_ms(t.renew_failures);
                            t.next_renewal_ms = now.saturating_add(wait);
                            log!(
                                self.inner.client.http.logger,
                                Warn,
                                "{}: token renewal failed ({}); using the current token, next renewal in {} ms",
                                self.label(),
                                e.message(),
                                wait
                            );
                            return Ok((t.token.clone(), t.generation, false));
                        }
                    }
                }
                Err(e)
            }
        }
    }

    /// Authenticate unless another thread already did: under the auth lock, a token that is
    /// neither due for renewal nor the one that was just refused (`stale`) is reused.
    fn refresh_token(&self, stale: Option<u64>) -> Result<(Secret, u64, bool)> {
        self.refresh_token_locked(lock(&self.inner.auth_lock), stale)
    }

    /// [`Device::refresh_token`] with the auth lock held by `_guard`.
    fn refresh_token_locked(
        &self,
        _guard: MutexGuard<'_, ()>,
        stale: Option<u64>,
    ) -> Result<(Secret, u64, bool)> {
        let now = self.now_ms();
        if let Some(t) = lock(&self.inner.token).as_ref() {
            if Some(t.generation) != stale && !t.needs_renewal(now) {
                return Ok((t.token.clone(), t.generation, false));
            }
        }
        let (token, generation) = self.store_new_token()?;
        Ok((token, generation, true))
    }

    /// Authenticate and cache the result. Caller holds the auth lock.
    fn store_new_token(&self) -> Result<(Secret, u64)> {
        let issued = self.authenticate()?;
        let http = &self.inner.client.http;
        let now = self.now_ms();
        let lifetime = self.inner.dialect.token_lifetime();
        let by_lifetime = now.saturating_add(lifetime.as_millis() as u64);
        let stated = issued.expires_at_ms.or_else(|| {
            issued
                .lifetime
                .map(|l| now.saturating_add(l.as_millis() as u64))
        });
        let expires = match stated {
            Some(e) if e > now => e.min(by_lifetime),
            _ => by_lifetime,
        };
        let renew = renew_at_ms(now, expires, lifetime);
        let mut st = lock(&self.inner.token);
        let generation = st.as_ref().map_or(0, |t| t.generation) + 1;
        *st = Some(TokenState::new(
            issued.token.clone(),
            Some(expires),
            Some(renew),
            generation,
        ));
        log!(
            http.logger,
            Info,
            "{}: authenticated; token valid for {} s",
            self.label(),
            expires.saturating_sub(now) / 1000
        );
        Ok((issued.token, generation))
    }

    /// The auth exchange, with the timestamp recovery: on a timestamp refusal, retry once
    /// with the clock corrected from the server's `Date`, or else without a timestamp.
    fn authenticate(&self) -> Result<Issued> {
        let s = self.settings();
        let http = &self.inner.client.http;
        let url = format!(
            "{}{}",
            self.required_endpoint(&s)?,
            self.inner.dialect.auth_path()
        );
        let ts = s.send_timestamp.then(|| http.corrected_unix_ms(&url));
        let (error, certain, server_date) = match self.auth_once(&url, &s, ts) {
            Ok(issued) => return Ok(issued),
            Err((Failure::Timestamp { error, certain }, date)) if ts.is_some() => {
                (error, certain, date)
            }
            Err((f, _)) => return Err(self.auth_failed(f.into_error())),
        };
        let sent = ts.unwrap_or_default();
        let corrected = http.corrected_unix_ms(&url);
        let retry_ts = if corrected.abs_diff(sent) > 60_000 {
            log!(
                http.logger,
                Warn,
                "{}: auth refused ({}); retrying with the clock corrected by {} s from the server's Date",
                self.label(),
                error.message(),
                http.clock_offset_ms(&url) / 1000
            );
            Some(corrected)
        } else if certain || !server_date {
            log!(
                http.logger,
                Warn,
                "{}: auth refused ({}); retrying without a timestamp",
                self.label(),
                error.message()
            );
            None
        } else {
            // The server's clock agrees with ours: the timestamp was not the reason.
            return Err(self.auth_failed(error));
        };
        self.auth_once(&url, &s, retry_ts)
            .map_err(|(f, _)| self.auth_failed(f.into_error()))
    }

    fn auth_failed(&self, e: Error) -> Error {
        log!(
            self.inner.client.http.logger,
            Error,
            "{}: auth failed: {}",
            self.label(),
            e.message()
        );
        e
    }

    /// One auth request (with transport retries). On failure, also tells whether the reply
    /// carried a `Date` header.
    fn auth_once(
        &self,
        url: &str,
        s: &Settings,
        ts: Option<u64>,
    ) -> Result<Issued, (Failure, bool)> {
        let http = &self.inner.client.http;
        let id = Identity {
            product: &self.inner.product,
            device: &self.inner.device,
            secret: &self.inner.secret,
            client_id: &s.client_id,
            sign_method: s.sign_method,
            now_ms: ts.unwrap_or_else(|| http.corrected_unix_ms(url)),
        };
        let prepared = self.inner.dialect.auth_request(&id, ts);
        let headers: Vec<(&str, &str)> = prepared
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        let mut date_seen = false;
        http.with_retries(self.label(), || {
            let resp = http.send(Request {
                method: Method::Post,
                url,
                headers: &headers,
                body: Body::Bytes(&prepared.body),
                max_reply: MAX_REPLY,
                exact_headers: false,
            })?;
            date_seen = resp.date.is_some();
            self.inner.dialect.parse_auth(&resp, ts.is_some())
        })
        .map_err(|f| (f, date_seen))
    }
}

/// Region names: 1..32 characters of a-z, 0-9 and '-' (they become part of a host name).
pub(crate) fn check_region(region: &str) -> Result<()> {
    if region.is_empty()
        || region.len() > 32
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(Error::invalid(
            "region must be 1..32 characters of a-z, 0-9 and '-' (e.g. cn-sh2, cn-shanghai)",
        ));
    }
    Ok(())
}

/// File names: 1..255 bytes, no '/', '\\', control characters.
pub(crate) fn check_file_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 255 {
        return Err(Error::invalid("file name must be 1..255 bytes"));
    }
    if name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(Error::invalid(
            "file name must not contain '/', '\\' or control characters",
        ));
    }
    Ok(())
}

/// When to renew a token valid until `expires` (Unix ms, the token's own expiry where it
/// states one): a tenth of its real validity before it ends (at least a minute, or half of a
/// shorter validity), and never earlier than a tenth of the documented `lifetime`. A token that
/// lives an hour is renewed after 54 minutes, not before every publish.
fn renew_at_ms(now: u64, expires: u64, lifetime: Duration) -> u64 {
    let validity = expires.saturating_sub(now);
    let margin = (validity / 10)
        .max(validity.min(120_000) / 2)
        .min(lifetime.as_millis() as u64 / 10);
    expires.saturating_sub(margin)
}

/// The wait before the next renewal attempt after `failures` failed ones in a row.
fn renewal_retry_ms(failures: u32) -> u64 {
    (1000u64 << failures.saturating_sub(1).min(6)).min(60_000)
}

fn refused_again(e: Error) -> Error {
    let msg = format!("{} (refused again right after a fresh auth)", e.message());
    Error::new(ErrorKind::Token, msg)
        .with_cloud_code(e.cloud_code())
        .with_http_status(e.http_status())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics() {
        for ok in [
            "/pk/dev/pub",
            "pk/dev/pub",
            "/a/b/c/数据",
            "/a//b",
            "/a/.../b",
            "/a/.b/c",
            "/a/b..",
            "/a/%2e%2e%2e",
            "/a/%2f",
            "/a/%2",
        ] {
            validate_topic(ok).unwrap();
        }
        for bad in [
            "",
            "/",
            "/a?b",
            "/a#",
            "/a/+/b",
            "/a b",
            "/a\tb",
            "/a\nb",
            "/a\u{7f}",
            "/a\u{3000}b",
            "/../x",
            "/a/../../etc",
            "/a/.",
            "./a",
            "/a/./b",
            "/a/%2e%2e/b",
            "/a/%2E%2E",
            "/a/.%2e/b",
            "/a/%2e./b",
            "/a/%2e/b",
            "..",
        ] {
            assert_eq!(
                validate_topic(bad).unwrap_err().kind(),
                ErrorKind::InvalidArg,
                "{bad:?}"
            );
        }
        assert!(validate_topic(&format!("/{}", "a".repeat(MAX_TOPIC))).is_err());
    }

    #[test]
    fn renewal_follows_the_real_expiry() {
        let week = Duration::from_secs(7 * 24 * 3600);
        let now = 1_000_000_000;
        let hour = 3_600_000;
        // A token that lives an hour although the documents say a week: renewed at 54 min.
        assert_eq!(renew_at_ms(now, now + hour, week), now + hour - hour / 10);
        // The documented week: a tenth before its end.
        let w = week.as_millis() as u64;
        assert_eq!(renew_at_ms(now, now + w, week), now + w - w / 10);
        // Short validities: a minute before the end, or half-way through.
        assert_eq!(renew_at_ms(now, now + 300_000, week), now + 240_000);
        assert_eq!(renew_at_ms(now, now + 6_000, week), now + 3_000);
        assert_eq!(renew_at_ms(now, now, week), now);
        // Never renewed sooner than a tenth of the documented lifetime before the end.
        let short = Duration::from_secs(100);
        assert_eq!(renew_at_ms(now, now + hour, short), now + hour - 10_000);
    }

    #[test]
    fn renewal_retries_back_off() {
        let waits: Vec<u64> = (1..=9).map(renewal_retry_ms).collect();
        assert_eq!(
            waits,
            [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]
        );
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            normalise_base_url("https://127.0.0.1:8443/ucloud/").unwrap(),
            "https://127.0.0.1:8443/ucloud"
        );
        assert_eq!(
            normalise_base_url("https://[::1]:1").unwrap(),
            "https://[::1]:1"
        );
        for bad in [
            "",
            "127.0.0.1",
            "ftp://x",
            "https://",
            "https://h/p?q=1",
            "https://h/p#f",
            "https://h/a b",
        ] {
            assert!(normalise_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        check_name("p", "ZG1EvTEa7NN").unwrap();
        assert!(check_name("p", "").is_err());
        assert!(check_name("p", "a/b").is_err());
        assert!(check_name("p", "a b").is_err());
        assert!(check_name("p", &"x".repeat(MAX_NAME + 1)).is_err());
    }
}
