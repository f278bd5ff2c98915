//! What a device cloud dialect provides, and the reply handling every dialect shares.
//!
//! Adding a cloud means one new file implementing [`Dialect`] and one arm in
//! [`Cloud::dialect`].

#[cfg(feature = "aliyun")]
pub(crate) mod aliyun;
#[cfg(feature = "iotda")]
pub(crate) mod huawei_iotda;
#[cfg(feature = "ucloud")]
pub(crate) mod ucloud;

use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind};
use crate::net::transport::{is_retryable, loggable_url, Response, RetryError};
use crate::secret::Secret;

/// The device clouds iothttp speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cloud {
    /// UCloud IoT-Core (ProductSN / DeviceSN / DeviceSecret).
    UCloud,
    /// Alibaba Cloud IoT Platform (productKey / deviceName / deviceSecret).
    Aliyun,
    /// Huawei Cloud IoTDA (product id / device id / device secret; the endpoint is
    /// instance-specific and must be set).
    HuaweiIotda,
}

impl Cloud {
    /// The cloud's dialect, or [`ErrorKind::Unsupported`] when its feature is left out.
    pub(crate) fn dialect(self) -> Result<&'static dyn Dialect, Error> {
        match self {
            #[cfg(feature = "ucloud")]
            Cloud::UCloud => Ok(&crate::clouds::ucloud::UCloud),
            #[cfg(feature = "aliyun")]
            Cloud::Aliyun => Ok(&crate::clouds::aliyun::Aliyun),
            #[cfg(feature = "iotda")]
            Cloud::HuaweiIotda => Ok(&crate::clouds::huawei_iotda::HuaweiIotda),
            #[allow(unreachable_patterns)] // with every cloud's feature on
            other => Err(Error::missing_feature(other.feature(), other.name())),
        }
    }

    /// The cargo feature that brings the cloud's dialect.
    pub(crate) fn feature(self) -> &'static str {
        match self {
            Cloud::UCloud => "ucloud",
            Cloud::Aliyun => "aliyun",
            Cloud::HuaweiIotda => "iotda",
        }
    }

    /// The cloud's name in messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Cloud::UCloud => "UCloud IoT-Core",
            Cloud::Aliyun => "Alibaba Cloud IoT",
            Cloud::HuaweiIotda => "Huawei Cloud IoTDA",
        }
    }
}

/// Longest Aliyun clientId (visible ASCII).
pub(crate) const MAX_CLIENT_ID: usize = 64;

/// How an Aliyun device signs its auth request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignMethod {
    /// `hmacmd5` (the default of the protocol).
    #[default]
    HmacMd5,
    /// `hmacsha1`.
    HmacSha1,
    /// `hmacsha256`.
    HmacSha256,
}

/// Who a device is, as the dialects need it.
pub(crate) struct Identity<'a> {
    pub product: &'a str,
    pub device: &'a str,
    pub secret: &'a Secret,
    pub client_id: &'a str,
    pub sign_method: SignMethod,
    /// Unix ms by the cloud's (corrected) clock, for dialects that sign with the time even
    /// when no timestamp is sent (IoTDA's sign_type 0).
    pub now_ms: u64,
}

/// A request body with its headers (the path is the dialect's).
pub(crate) struct Prepared {
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// A token as issued.
#[derive(Debug)]
pub(crate) struct Issued {
    pub token: Secret,
    /// Expiry the token itself states (UCloud's JWT `exp`), in Unix ms.
    pub expires_at_ms: Option<u64>,
    /// Validity the reply states relative to its issue (IoTDA's `expires_in`).
    pub lifetime: Option<Duration>,
}

/// A successful publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The cloud's message id, as exact decimal text.
    pub message_id: String,
    /// Bytes the reply carried back (Aliyun `info.data`), empty otherwise.
    pub data: Vec<u8>,
}

/// Why a cloud call failed, with what the device logic should do about it.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The token was refused (expired or invalid): authenticate again, once.
    TokenRejected(Error),
    /// Auth refused; the timestamp may be the reason (`certain` when the code says so).
    Timestamp { error: Error, certain: bool },
    /// Anything else (retryable kinds are retried by the transport).
    Other(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Other(e)
    }
}

impl RetryError for Failure {
    fn error(&self) -> &Error {
        match self {
            Failure::TokenRejected(e) | Failure::Other(e) => e,
            Failure::Timestamp { error, .. } => error,
        }
    }

    fn retryable(&self) -> bool {
        matches!(self, Failure::Other(e) if is_retryable(e.kind()))
    }

    fn gave_up(self, attempts: u32) -> Self {
        match self {
            Failure::Other(e) => Failure::Other(e.gave_up(attempts)),
            other => other,
        }
    }
}

impl Failure {
    pub(crate) fn into_error(self) -> Error {
        match self {
            Failure::TokenRejected(e) | Failure::Other(e) => e,
            Failure::Timestamp { error, .. } => error,
        }
    }
}

/// A file a device uploads.
#[cfg(feature = "ucloud-files")]
pub(crate) struct FileInfo<'a> {
    pub name: &'a str,
    pub size: u64,
    pub md5_hex: &'a str,
    pub content_type: &'a str,
}

/// Permission to upload one file: where, and the Authorization to send.
#[cfg(feature = "ucloud-files")]
pub(crate) struct FileGrant {
    pub url: String,
    pub authorization: Secret,
}

/// A cloud's device file upload (request a URL, then PUT with Content-MD5).
#[cfg(feature = "ucloud-files")]
pub(crate) trait FileUpload: Send + Sync {
    /// The URL request (`POST {file_endpoint}/api/v1/url`).
    fn grant_request(&self, id: &Identity<'_>, file: &FileInfo<'_>) -> Prepared;
    /// Interpret the URL reply.
    fn parse_grant(&self, resp: &Response) -> Result<FileGrant, Failure>;
    /// Interpret the store's reply to the PUT.
    fn parse_put(&self, resp: &Response) -> crate::transfer::upload::Attempt<()>;
}

/// One device cloud's HTTP dialect.
pub(crate) trait Dialect: Send + Sync {
    /// "UCloud", "Aliyun".
    fn name(&self) -> &'static str;
    /// Region used when none is set.
    fn default_region(&self) -> &'static str;
    /// Base URL of the device endpoint in a region.
    fn endpoint(&self, region: &str) -> String;
    /// Base URL of the file endpoint in a region, if the cloud has one.
    fn file_endpoint(&self, _region: &str) -> Option<String> {
        None
    }
    /// Documented token lifetime (the safe reading where documents disagree).
    fn token_lifetime(&self) -> Duration;
    /// Header carrying the token on publish.
    fn token_header(&self) -> &'static str;
    /// Whether the device may choose its sign method, and which it uses by default.
    fn supports_sign_method(&self, m: SignMethod) -> bool;
    /// Whether the cloud has a client id separate from the device name.
    fn has_client_id(&self) -> bool;
    /// Whether the cloud has no public endpoint (`set_endpoint` is required).
    fn requires_endpoint(&self) -> bool {
        false
    }
    /// Cloud-specific rules for the identity, checked at device creation.
    fn check_identity(&self, _product: &str, _device: &str) -> Result<(), Error> {
        Ok(())
    }
    /// Path of the auth request below the endpoint.
    fn auth_path(&self) -> &'static str {
        "/auth"
    }
    /// Path of a publish below the endpoint (the topic already passed `validate_topic`);
    /// an error for a topic or payload the cloud cannot take, before anything is sent.
    fn publish_path(&self, _device: &str, topic: &str, _payload: &[u8]) -> Result<String, Error> {
        let sep = if topic.starts_with('/') { "" } else { "/" };
        Ok(format!(
            "/topic{sep}{}",
            crate::sign::percent_encode_path(topic)
        ))
    }
    /// Content-Type of a publish.
    fn publish_content_type(&self) -> &'static str {
        "application/octet-stream"
    }
    /// Largest publish payload.
    fn max_payload(&self) -> usize {
        MAX_PAYLOAD
    }
    /// Longest message id the cloud returns (0: none).
    fn max_message_id(&self) -> usize {
        MAX_MESSAGE_ID_DIGITS
    }
    /// The auth request (`POST {endpoint}{auth_path}`).
    fn auth_request(&self, id: &Identity<'_>, timestamp_ms: Option<u64>) -> Prepared;
    /// Interpret an auth reply.
    fn parse_auth(&self, resp: &Response, sent_timestamp: bool) -> Result<Issued, Failure>;
    /// Interpret a publish reply.
    fn parse_publish(&self, resp: &Response) -> Result<Published, Failure>;
    /// The device file upload, if the cloud has one.
    #[cfg(feature = "ucloud-files")]
    fn file_upload(&self) -> Option<&dyn FileUpload> {
        None
    }
}

/// Largest publish payload UCloud and Aliyun accept (128 KiB); a dialect may allow more
/// ([`Dialect::max_payload`], IoTDA: 1 MB).
pub const MAX_PAYLOAD: usize = 131_072;

/// Reply bodies of auth and publish calls are small; anything larger is refused.
pub(crate) const MAX_REPLY: usize = 64 * 1024;

/// Longest message id accepted (digits); the C header's `IOTHTTP_MESSAGE_ID_LEN` is one more.
pub const MAX_MESSAGE_ID_DIGITS: usize = 31;

/// Errors that depend on the HTTP status alone: redirects, throttling, unavailability.
/// Returns None when the body should be read for the cloud's own code.
pub(crate) fn status_failure(cloud: &str, op: &str, resp: &Response) -> Option<Error> {
    let s = resp.status;
    let e = match s {
        200..=299 => return None,
        300..=399 => Error::new(
            ErrorKind::Http,
            format!(
                "{cloud} {op}: unexpected redirect (HTTP {s}) to {}; redirects are never followed",
                resp.location
                    .as_deref()
                    .map(loggable_url)
                    .unwrap_or_else(|| "nowhere".into())
            ),
        ),
        429 => Error::new(
            ErrorKind::RateLimited,
            format!("{cloud} {op}: too many requests (HTTP 429)"),
        ),
        503 => Error::new(
            ErrorKind::Unavailable,
            format!("{cloud} {op}: service unavailable (HTTP 503)"),
        ),
        _ => return None,
    };
    Some(e.with_http_status(s))
}

/// Parse a reply as a JSON object, or explain why not. Never quotes the body (it may hold a
/// token).
pub(crate) fn json_object(
    cloud: &str,
    op: &str,
    resp: &Response,
) -> Result<Map<String, Value>, Error> {
    let fail = |why: String| {
        let kind = if (200..300).contains(&resp.status) {
            ErrorKind::BadResponse
        } else {
            ErrorKind::Http
        };
        let msg = if kind == ErrorKind::Http {
            format!(
                "{cloud} {op}: unexpected HTTP status {} ({why})",
                resp.status
            )
        } else {
            format!("{cloud} {op}: {why}")
        };
        Error::new(kind, msg).with_http_status(resp.status)
    };
    if resp.body.is_empty() {
        return Err(fail("reply body is empty".into()));
    }
    match serde_json::from_slice::<Value>(&resp.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(fail(format!(
            "reply is JSON but not an object ({} bytes)",
            resp.body.len()
        ))),
        Err(e) => Err(fail(format!(
            "reply is not JSON ({} bytes): {e}",
            resp.body.len()
        ))),
    }
}

/// The integer code field of a reply (`RetCode`, `code`), if present and integral.
pub(crate) fn code_field(map: &Map<String, Value>, name: &str) -> Option<i64> {
    match map.get(name)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A server-supplied message made safe for a log line: printable, at most 160 chars.
pub(crate) fn cloud_message(map: &Map<String, Value>, name: &str) -> String {
    let raw = match map.get(name) {
        Some(Value::String(s)) => s.as_str(),
        _ => "",
    };
    let mut out: String = raw.chars().filter(|c| !c.is_control()).take(160).collect();
    if raw.chars().count() > 160 {
        out.push('…');
    }
    out
}

/// A token as it must be to go into a header: non-empty visible ASCII.
pub(crate) fn checked_token(cloud: &str, value: Option<&Value>) -> Result<Secret, Error> {
    match value {
        Some(Value::String(t)) if is_header_safe_token(t) => Ok(Secret::new(t.as_str())),
        Some(Value::String(_)) => Err(Error::new(
            ErrorKind::BadResponse,
            format!("{cloud} auth: token in reply is empty, too long or not printable ASCII"),
        )),
        _ => Err(Error::new(
            ErrorKind::BadResponse,
            format!("{cloud} auth: reply reports success but carries no token"),
        )),
    }
}

/// Tokens go into a header: 1..=4096 visible ASCII characters.
pub(crate) fn is_header_safe_token(t: &str) -> bool {
    !t.is_empty() && t.len() <= 4096 && t.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// A message id as exact decimal text: a JSON unsigned integer (never through f64) or a
/// string of digits.
pub(crate) fn message_id(cloud: &str, value: Option<&Value>) -> Result<String, Error> {
    let bad = |why: &str| {
        Error::new(
            ErrorKind::BadResponse,
            format!("{cloud} publish: message id {why}"),
        )
    };
    match value {
        None | Some(Value::Null) => Err(bad("is missing from a success reply")),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) => Ok(v.to_string()),
            None => Err(bad("is not an unsigned 64-bit integer")),
        },
        Some(Value::String(s)) => {
            // Both clouds use 64-bit ids: a longer number is a corrupt reply.
            if s.len() <= MAX_MESSAGE_ID_DIGITS
                && s.bytes().all(|b| b.is_ascii_digit())
                && s.parse::<u64>().is_ok()
            {
                Ok(s.clone())
            } else {
                Err(bad("is not an unsigned 64-bit decimal number"))
            }
        }
        Some(_) => Err(bad("has an unexpected JSON type")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resp(status: u16, body: &str) -> Response {
        Response::test(status, body)
    }

    #[test]
    fn message_ids_stay_exact() {
        let v: Value = serde_json::from_str(r#"{"id":892687627916247040}"#).unwrap();
        assert_eq!(message_id("A", v.get("id")).unwrap(), "892687627916247040");
        let v: Value = serde_json::from_str(r#"{"id":18446744073709551615}"#).unwrap();
        assert_eq!(
            message_id("A", v.get("id")).unwrap(),
            "18446744073709551615"
        );
        let v: Value = serde_json::from_str(r#"{"id":18446744073709551616}"#).unwrap();
        assert_eq!(
            message_id("A", v.get("id")).unwrap_err().kind(),
            ErrorKind::BadResponse
        );
        for bad in [
            json!(-1),
            json!(1.5),
            json!("12a"),
            json!(""),
            json!([1]),
            json!(null),
        ] {
            assert!(message_id("A", Some(&bad)).is_err(), "{bad}");
        }
        assert!(message_id("A", None).is_err());
        assert_eq!(
            message_id("A", Some(&json!("349022219378098176"))).unwrap(),
            "349022219378098176"
        );
    }

    #[test]
    fn statuses() {
        assert!(status_failure("X", "op", &resp(200, "")).is_none());
        assert_eq!(
            status_failure("X", "op", &resp(503, "")).unwrap().kind(),
            ErrorKind::Unavailable
        );
        assert_eq!(
            status_failure("X", "op", &resp(429, "")).unwrap().kind(),
            ErrorKind::RateLimited
        );
        let mut r = resp(302, "");
        r.location = Some("https://evil.example/x?sig=secret".into());
        let e = status_failure("X", "op", &r).unwrap();
        assert_eq!(e.kind(), ErrorKind::Http);
        assert!(!e.message().contains("secret"));
        assert!(status_failure("X", "op", &resp(500, "")).is_none());
    }

    #[test]
    fn json_errors_never_quote_the_body() {
        let e = json_object("X", "auth", &resp(200, "token=abcdef not json")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadResponse);
        assert!(!e.message().contains("abcdef"));
        let e = json_object("X", "auth", &resp(500, "<html>")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Http);
        assert_eq!(e.http_status(), 500);
        let e = json_object("X", "auth", &resp(200, "")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadResponse);
        let e = json_object("X", "auth", &resp(200, "[1]")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadResponse);
    }

    #[test]
    fn tokens_must_be_header_safe() {
        assert!(is_header_safe_token("abc.DEF-_~"));
        assert!(!is_header_safe_token(""));
        assert!(!is_header_safe_token("a b"));
        assert!(!is_header_safe_token("a\r\nX: y"));
        assert!(!is_header_safe_token(&"a".repeat(4097)));
    }

    #[test]
    fn cloud_messages_are_sanitised() {
        let m: Map<String, Value> =
            serde_json::from_value(json!({"m": format!("a\nb{}", "x".repeat(300))})).unwrap();
        let s = cloud_message(&m, "m");
        assert!(!s.contains('\n'));
        assert!(s.chars().count() <= 161);
    }
}
