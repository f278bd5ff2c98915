//! Alibaba Cloud OTA firmware upload (seed 002): RPC-signed `GenerateOTAUploadURL`, then an
//! OSS PostObject of the streamed file with an exact Content-Length. Returns the FirmwareUrl
//! that `CreateOTAFirmware` takes.

use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};

use crate::client::Client;
use crate::clouds::cloud_message;
use crate::device::{check_region, normalise_base_url};
use crate::error::{Error, ErrorKind, Result};
use crate::log::log;
use crate::net::transport::{is_retryable, Body, Budget, Method, Request, Response, RetryError};
use crate::secret::Secret;
use crate::sign::{base64, hmac, iso8601_utc, percent_encode, HmacAlg};
use crate::transfer::source::{reborrow, Progress, Source};
use crate::transfer::upload::{
    run_upload, send_source, store_reply, xml_error, Attempt, Multipart, Target,
};

/// Largest firmware file the OTA service accepts (1000 MB).
pub const MAX_OTA_FILE: u64 = 1000 * 1024 * 1024;

/// Longest FirmwareUrl accepted (checked before the upload starts); the C header's
/// `IOTHTTP_URL_LEN` is one more.
pub const MAX_URL: usize = 2047;

/// File suffixes GenerateOTAUploadURL accepts.
pub const OTA_SUFFIXES: &[&str] = &["bin", "apk", "tar", "gz", "tar.gz", "zip", "gzip"];

const API_VERSION: &str = "2018-01-20";
const MAX_RPC_REPLY: usize = 64 * 1024;

/// The RPC signature: sort every parameter but `Signature` by name, percent-encode names and
/// values (RFC 3986), join `k=v&…`, sign `METHOD&%2F&percentEncode(joined)` with
/// HMAC-SHA1(`secret&`), base64. Returns (canonical query, signature).
pub fn rpc_sign(method: &str, params: &[(&str, &str)], secret: &str) -> (String, String) {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| *k != "Signature")
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    encoded.sort();
    let canonical = encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&canonical)
    );
    let key = format!("{secret}&");
    let sig = base64(&hmac(HmacAlg::Sha1, key.as_bytes(), &[to_sign.as_bytes()]));
    (canonical, sig)
}

/// What GenerateOTAUploadURL returned.
struct UploadParams {
    key: String,
    host: String,
    policy: String,
    access_key_id: String,
    signature: Secret,
    firmware_url: String,
}

#[derive(Clone)]
struct Settings {
    endpoint: Option<String>,
    region: String,
    instance_id: Option<String>,
}

struct Inner {
    client: Client,
    access_key_id: String,
    secret: Secret,
    settings: RwLock<Settings>,
}

/// An Alibaba Cloud account (AccessKey) for OTA firmware uploads. Cheap to clone;
/// thread-safe.
#[derive(Clone)]
pub struct AliyunAccount {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AliyunAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AliyunAccount")
            .field("access_key_id", &self.inner.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Failure of one RPC call, with what to do about it.
enum RpcFailure {
    /// Clock or nonce refused: correct and call again once.
    Again(Error),
    Other(Error),
}

impl AliyunAccount {
    /// An account using `client`'s transport. The secret is kept in memory only.
    pub fn new(client: &Client, access_key_id: &str, access_key_secret: &str) -> Result<Self> {
        if access_key_id.is_empty()
            || access_key_id.len() > 128
            || !access_key_id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Error::invalid(
                "access key id must be 1..128 visible ASCII characters",
            ));
        }
        if access_key_secret.is_empty() || access_key_secret.len() > 256 {
            return Err(Error::invalid("access key secret must be 1..256 bytes"));
        }
        Ok(AliyunAccount {
            inner: Arc::new(Inner {
                client: client.clone(),
                access_key_id: access_key_id.to_string(),
                secret: Secret::new(access_key_secret),
                settings: RwLock::new(Settings {
                    endpoint: None,
                    region: "cn-shanghai".into(),
                    instance_id: None,
                }),
            }),
        })
    }

    fn settings(&self) -> Settings {
        self.inner
            .settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn update(&self, f: impl FnOnce(&mut Settings)) {
        f(&mut self
            .inner
            .settings
            .write()
            .unwrap_or_else(|e| e.into_inner()));
    }

    /// The IoT API endpoint in use.
    pub fn endpoint(&self) -> String {
        let s = self.settings();
        s.endpoint
            .unwrap_or_else(|| format!("https://iot.{}.aliyuncs.com", s.region))
    }

    /// Call the IoT API at `base_url` instead of `https://iot.<region>.aliyuncs.com`.
    pub fn set_endpoint(&self, base_url: &str) -> Result<()> {
        let url = normalise_base_url(base_url)?;
        self.inner.client.http.check_url(&url, "endpoint")?;
        self.update(|s| s.endpoint = Some(url));
        Ok(())
    }

    /// The region (`RegionId`, and the default endpoint's host); default `cn-shanghai`.
    pub fn set_region(&self, region: &str) -> Result<()> {
        check_region(region)?;
        self.update(|s| s.region = region.to_string());
        Ok(())
    }

    /// The IoT instance id (enterprise instances); empty clears it (public instance).
    pub fn set_instance_id(&self, instance_id: &str) -> Result<()> {
        if instance_id.len() > 128 || !instance_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                "instance id must be at most 128 visible ASCII characters",
            ));
        }
        self.update(|s| s.instance_id = (!instance_id.is_empty()).then(|| instance_id.to_string()));
        Ok(())
    }

    /// Upload a firmware file: GenerateOTAUploadURL, then OSS PostObject with the file last
    /// and an exact Content-Length. `file_suffix` is one of bin, apk, tar, gz, tar.gz, zip,
    /// gzip (None: bin). Files over 1000 MB fail before anything is sent. An expired policy
    /// gets fresh parameters and one retry. Returns the FirmwareUrl for CreateOTAFirmware.
    pub fn ota_upload(
        &self,
        file_suffix: Option<&str>,
        src: &mut Source,
        mut progress: Option<Progress<'_>>,
    ) -> Result<String> {
        let suffix = file_suffix.unwrap_or("bin");
        if !OTA_SUFFIXES.contains(&suffix) {
            return Err(Error::invalid(format!(
                "file suffix must be one of {}",
                OTA_SUFFIXES.join(", ")
            )));
        }
        if src.size() > MAX_OTA_FILE {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "firmware is {} bytes; OTA accepts at most {MAX_OTA_FILE} (1000 MB)",
                    src.size()
                ),
            ));
        }
        let http = &self.inner.client.http;
        let label = format!("Aliyun OTA upload ({} bytes)", src.size());
        let url = run_upload(http, &label, src, |src, reported, budget| {
            let params = match self.generate_upload_url(budget, suffix) {
                Ok(p) => p,
                Err(e) => return Attempt::Err(e),
            };
            if let Err(e) = http.check_url(&params.host, "OSS host from GenerateOTAUploadURL") {
                return Attempt::Err(e);
            }
            let file_name = params.key.rsplit('/').next().unwrap_or("firmware.bin");
            let form = match Multipart::new(
                http.random_u128(),
                &[
                    ("key", &params.key),
                    ("policy", &params.policy),
                    ("OSSAccessKeyId", &params.access_key_id),
                    ("Signature", params.signature.expose()),
                    ("success_action_status", "200"),
                ],
                "file",
                file_name,
                "application/octet-stream",
            ) {
                Ok(f) => f,
                Err(e) => {
                    return Attempt::Err(Error::new(
                        ErrorKind::BadResponse,
                        format!("GenerateOTAUploadURL returned unusable parameters: {e}"),
                    ))
                }
            };
            let post_url = format!("{}/", params.host.trim_end_matches('/'));
            let headers = [("Content-Type", form.content_type.as_str())];
            let target = Target {
                method: Method::Post,
                url: &post_url,
                headers: &headers,
                prefix: &form.prefix,
                suffix: &form.suffix,
                exact_headers: false,
            };
            match send_source(http, &target, src, reborrow(&mut progress), reported) {
                Ok(resp) => match oss_reply(&resp) {
                    Attempt::Ok(()) => Attempt::Ok(params.firmware_url),
                    Attempt::Expired(e) => Attempt::Expired(e),
                    Attempt::Err(e) => Attempt::Err(e),
                },
                Err(e) => Attempt::Err(e),
            }
        })?;
        log!(http.logger, Info, "{label}: uploaded; firmware URL ready");
        Ok(url)
    }

    /// GenerateOTAUploadURL, with transport retries and one more try after a refused
    /// timestamp (clock corrected from the server's Date) or nonce.
    /// Every attempt counts in the call's `budget`.
    fn generate_upload_url(&self, budget: &mut Budget, suffix: &str) -> Result<UploadParams> {
        const WHAT: &str = "Aliyun GenerateOTAUploadURL";
        let http = &self.inner.client.http;
        let mut refused: Option<Error> = None;
        loop {
            match http.with_budget(budget, "GenerateOTAUploadURL", WHAT, || {
                self.rpc_once(suffix)
            }) {
                Ok(p) => return Ok(p),
                Err(None) => {
                    return Err(refused.unwrap_or_else(|| budget.spent("GenerateOTAUploadURL")))
                }
                Err(Some(RpcFailure::Again(e))) if refused.is_none() => {
                    refused = Some(e.clone());
                    log!(
                        http.logger,
                        Warn,
                        "{}; calling again with a fresh timestamp and nonce",
                        e.message()
                    );
                }
                Err(Some(RpcFailure::Again(e) | RpcFailure::Other(e))) => return Err(e),
            }
        }
    }

    fn rpc_once(&self, suffix: &str) -> std::result::Result<UploadParams, RpcFailure> {
        let http = &self.inner.client.http;
        let s = self.settings();
        let endpoint = self.endpoint();
        let timestamp = iso8601_utc(http.corrected_unix_ms(&endpoint) / 1000);
        let nonce = format!("{:032x}", http.random_u128());
        let mut params: Vec<(&str, &str)> = vec![
            ("Action", "GenerateOTAUploadURL"),
            ("Format", "JSON"),
            ("Version", API_VERSION),
            ("AccessKeyId", &self.inner.access_key_id),
            ("SignatureMethod", "HMAC-SHA1"),
            ("Timestamp", &timestamp),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", &nonce),
            ("RegionId", &s.region),
            ("FileSuffix", suffix),
        ];
        if let Some(id) = &s.instance_id {
            params.push(("IotInstanceId", id));
        }
        let (canonical, signature) = rpc_sign("POST", &params, self.inner.secret.expose());
        let body = format!("{canonical}&Signature={}", percent_encode(&signature));
        let url = format!("{endpoint}/");
        let resp = http
            .send(Request {
                method: Method::Post,
                url: &url,
                headers: &[("Content-Type", "application/x-www-form-urlencoded")],
                body: Body::Bytes(body.as_bytes()),
                max_reply: MAX_RPC_REPLY,
                exact_headers: false,
            })
            .map_err(RpcFailure::Other)?;
        parse_rpc(&resp)
    }
}

impl From<Error> for RpcFailure {
    fn from(e: Error) -> Self {
        RpcFailure::Other(e)
    }
}

impl RetryError for RpcFailure {
    fn error(&self) -> &Error {
        match self {
            RpcFailure::Again(e) | RpcFailure::Other(e) => e,
        }
    }

    fn retryable(&self) -> bool {
        matches!(self, RpcFailure::Other(e) if is_retryable(e.kind()))
    }

    fn gave_up(self, attempts: u32) -> Self {
        match self {
            RpcFailure::Other(e) => RpcFailure::Other(e.gave_up(attempts)),
            again => again,
        }
    }
}

fn string_field(map: &Map<String, Value>, name: &str) -> Option<String> {
    match map.get(name) {
        Some(Value::String(s)) if !s.is_empty() && !s.contains(['\r', '\n']) => Some(s.clone()),
        _ => None,
    }
}

/// Interpret a GenerateOTAUploadURL reply.
fn parse_rpc(resp: &Response) -> std::result::Result<UploadParams, RpcFailure> {
    const WHAT: &str = "Aliyun GenerateOTAUploadURL";
    let s = resp.status;
    let map = match serde_json::from_slice::<Value>(&resp.body) {
        Ok(Value::Object(m)) => m,
        _ => {
            let kind = match s {
                503 => ErrorKind::Unavailable,
                429 => ErrorKind::RateLimited,
                200..=299 => ErrorKind::BadResponse,
                _ => ErrorKind::Http,
            };
            return Err(RpcFailure::Other(
                Error::new(
                    kind,
                    format!(
                        "{WHAT}: HTTP {s}, reply is not a JSON object ({} bytes)",
                        resp.body.len()
                    ),
                )
                .with_http_status(s)
                .with_cloud_code(s.into()),
            ));
        }
    };
    let success = map.get("Success").and_then(Value::as_bool);
    if (200..300).contains(&s) && success == Some(true) {
        let data = map.get("Data").and_then(Value::as_object).ok_or_else(|| {
            RpcFailure::Other(
                Error::new(
                    ErrorKind::BadResponse,
                    format!("{WHAT}: success reply has no Data"),
                )
                .with_http_status(s),
            )
        })?;
        let need = |name: &str| {
            string_field(data, name).ok_or_else(|| {
                RpcFailure::Other(
                    Error::new(
                        ErrorKind::BadResponse,
                        format!("{WHAT}: reply lacks Data.{name}"),
                    )
                    .with_http_status(s),
                )
            })
        };
        let firmware_url = need("FirmwareUrl")?;
        if firmware_url.len() > MAX_URL {
            return Err(RpcFailure::Other(Error::new(
                ErrorKind::BadResponse,
                format!("{WHAT}: FirmwareUrl is longer than {MAX_URL} bytes"),
            )));
        }
        return Ok(UploadParams {
            key: need("Key")?,
            host: need("Host")?,
            policy: need("Policy")?,
            access_key_id: need("OSSAccessKeyId")?,
            signature: Secret::new(need("Signature")?),
            firmware_url,
        });
    }
    let code = string_field(&map, "Code").unwrap_or_default();
    let mut message = cloud_message(&map, "Message");
    if message.is_empty() {
        message = cloud_message(&map, "ErrorMessage");
    }
    let code_shown: String = code.chars().filter(|c| !c.is_control()).take(80).collect();
    let (kind, again) = match code.as_str() {
        c if c.starts_with("Throttling") => (ErrorKind::RateLimited, false),
        "ServiceUnavailable" => (ErrorKind::Unavailable, false),
        "InvalidTimeStamp.Expired" | "InvalidTimeStamp" | "SignatureNonceUsed" => {
            (ErrorKind::Auth, true)
        }
        "SignatureDoesNotMatch" | "IncompleteSignature" => (ErrorKind::Auth, false),
        c if c.starts_with("InvalidAccessKeyId") || c.contains("AccessKeyDisabled") => {
            (ErrorKind::Auth, false)
        }
        c if c.starts_with("Forbidden") => (ErrorKind::Denied, false),
        c if c.starts_with("MissingParameter") || c.starts_with("InvalidParameter") => {
            (ErrorKind::InvalidArg, false)
        }
        "" if s == 503 => (ErrorKind::Unavailable, false),
        "" if s == 429 => (ErrorKind::RateLimited, false),
        "" if !(200..300).contains(&s) => (ErrorKind::Http, false),
        "" => (ErrorKind::BadResponse, false),
        _ => (ErrorKind::Cloud, false),
    };
    let e = Error::new(kind, format!("{WHAT}: HTTP {s} {code_shown}: {message}"))
        .with_http_status(s)
        .with_cloud_code(s.into());
    Err(if again {
        RpcFailure::Again(e)
    } else {
        RpcFailure::Other(e)
    })
}

/// Fuzzing: run both reply parsers.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_replies(resp: &Response) {
    let _ = parse_rpc(resp);
    let _ = oss_reply(resp);
}

/// OSS PostObject reply: 2xx success; an expired policy (`AccessDenied`, "Policy expired") is
/// worth one retry with fresh parameters; other XML errors mapped.
fn oss_reply(resp: &Response) -> Attempt<()> {
    const WHAT: &str = "OSS PostObject";
    if let Some((code, msg)) = xml_error(&resp.body) {
        let s = resp.status;
        let err = |kind| {
            Error::new(kind, format!("{WHAT}: HTTP {s}: {code}: {msg}"))
                .with_http_status(s)
                .with_cloud_code(s.into())
        };
        if code == "AccessDenied" && msg.to_ascii_lowercase().contains("expired") {
            return Attempt::Expired(err(ErrorKind::Denied));
        }
        match code.as_str() {
            "EntityTooLarge" => return Attempt::Err(err(ErrorKind::TooLarge)),
            "AccessDenied" | "SignatureDoesNotMatch" | "InvalidPolicyDocument" => {
                return Attempt::Err(err(ErrorKind::Denied))
            }
            _ => {}
        }
    }
    store_reply(WHAT, resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The public vectors quoted in PROTOCOLS.md.
    #[test]
    fn rpc_signature_vectors() {
        let ecs = [
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ];
        assert_eq!(
            rpc_sign("GET", &ecs, "testsecret").1,
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
        let pub_ = [
            ("MessageContent", "aGVsbG93b3JsZA="),
            ("Action", "Pub"),
            ("Timestamp", "2017-10-02T09:39:41Z"),
            ("SignatureVersion", "1.0"),
            ("ServiceCode", "iot"),
            ("Format", "XML"),
            ("Qos", "0"),
            ("SignatureNonce", "0715a395-aedf-4a41-bab7-746b43d38d88"),
            ("Version", "2017-04-20"),
            ("AccessKeyId", "testid"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("RegionId", "cn-shanghai"),
            ("ProductKey", "12345abcdeZ"),
            ("TopicFullName", "/productKey/testdevice/get"),
        ];
        assert_eq!(
            rpc_sign("GET", &pub_, "testsecret").1,
            "Y9eWn4nF8QPh3c4zAFkM/k/u7eA="
        );
    }

    fn resp(status: u16, body: &str) -> Response {
        Response::test(status, body)
    }

    #[test]
    fn rpc_replies() {
        let ok = parse_rpc(&resp(
            200,
            r#"{"RequestId":"r","Success":true,"Data":{"Key":"ota/a/b.bin","Host":"https://h","Policy":"p","OSSAccessKeyId":"k","Signature":"s","FirmwareUrl":"https://h/ota/a/b.bin"}}"#,
        ));
        assert!(matches!(ok, Ok(p) if p.key == "ota/a/b.bin"));
        for (status, body, kind, again) in [
            (
                400,
                r#"{"Code":"SignatureDoesNotMatch","Message":"x"}"#,
                ErrorKind::Auth,
                false,
            ),
            (
                404,
                r#"{"Code":"InvalidAccessKeyId.NotFound","Message":"x"}"#,
                ErrorKind::Auth,
                false,
            ),
            (
                400,
                r#"{"Code":"InvalidTimeStamp.Expired","Message":"x"}"#,
                ErrorKind::Auth,
                true,
            ),
            (
                400,
                r#"{"Code":"SignatureNonceUsed","Message":"x"}"#,
                ErrorKind::Auth,
                true,
            ),
            (
                400,
                r#"{"Code":"Throttling.User","Message":"x"}"#,
                ErrorKind::RateLimited,
                false,
            ),
            (
                503,
                r#"{"Code":"ServiceUnavailable","Message":"x"}"#,
                ErrorKind::Unavailable,
                false,
            ),
            (
                200,
                r#"{"Success":false,"Code":"iot.system.SystemException","ErrorMessage":"x"}"#,
                ErrorKind::Cloud,
                false,
            ),
            (200, r#"{"Success":true}"#, ErrorKind::BadResponse, false),
            (502, "<html>", ErrorKind::Http, false),
        ] {
            match parse_rpc(&resp(status, body)) {
                Err(RpcFailure::Again(e)) => {
                    assert!(again, "{body}");
                    assert_eq!(e.kind(), kind, "{body}");
                }
                Err(RpcFailure::Other(e)) => {
                    assert!(!again, "{body}");
                    assert_eq!(e.kind(), kind, "{body}");
                    assert_eq!(e.http_status(), status);
                }
                Ok(_) => panic!("{body}"),
            }
        }
    }

    #[test]
    fn oss_replies() {
        let expired = resp(403, "<Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired.</Message></Error>");
        assert!(matches!(oss_reply(&expired), Attempt::Expired(_)));
        assert!(matches!(oss_reply(&resp(200, "")), Attempt::Ok(())));
        assert!(matches!(oss_reply(&resp(204, "")), Attempt::Ok(())));
        match oss_reply(&resp(
            400,
            "<Error><Code>EntityTooLarge</Code><Message>m</Message></Error>",
        )) {
            Attempt::Err(e) => assert_eq!(e.kind(), ErrorKind::TooLarge),
            _ => panic!(),
        }
        match oss_reply(&resp(503, "")) {
            Attempt::Err(e) => assert_eq!(e.kind(), ErrorKind::Unavailable),
            _ => panic!(),
        }
    }
}
