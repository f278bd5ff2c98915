//! Alibaba Cloud IoT HTTP dialect (seed 003): `POST /auth` with a sorted-parameter HMAC sign,
//! `POST /topic/${topic}` with a `password` header.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::clouds::{
    checked_token, cloud_message, code_field, json_object, message_id, status_failure, Dialect,
    Failure, Identity, Issued, Prepared, Published, SignMethod,
};
use crate::error::{Error, ErrorKind};
use crate::net::transport::Response;
use crate::sign::{hmac_hex, HmacAlg};

pub(crate) struct Aliyun;

const NAME: &str = "Aliyun";

fn code_kind(code: i64) -> (ErrorKind, &'static str) {
    match code {
        10000 => (ErrorKind::Cloud, "common error"),
        10001 => (ErrorKind::InvalidArg, "parameter error"),
        20000 => (
            ErrorKind::Auth,
            "auth check failed: check productKey, deviceName, device secret and clock",
        ),
        20001 => (ErrorKind::Token, "token expired"),
        20002 => (ErrorKind::Token, "token missing from the request"),
        20003 => (ErrorKind::Token, "token check failed"),
        20004 => (ErrorKind::Cloud, "session update failed"),
        30001 => (ErrorKind::Cloud, "publish failed in the cloud"),
        40000 => (ErrorKind::RateLimited, "too many requests (throttled)"),
        _ => (ErrorKind::Cloud, "unknown error code"),
    }
}

fn code_error(op: &str, code: i64, map: &Map<String, Value>, status: u16) -> Error {
    let (kind, meaning) = code_kind(code);
    let said = cloud_message(map, "message");
    let said = if said.is_empty() {
        String::new()
    } else {
        format!(" \"{said}\"")
    };
    Error::new(kind, format!("{NAME} {op}: code {code}{said}: {meaning}"))
        .with_cloud_code(code)
        .with_http_status(status)
}

fn reply_code(op: &str, resp: &Response) -> Result<(Map<String, Value>, i64), Failure> {
    if let Some(e) = status_failure(NAME, op, resp) {
        return Err(Failure::Other(e));
    }
    let map = json_object(NAME, op, resp)?;
    match code_field(&map, "code") {
        Some(code) => Ok((map, code)),
        None => {
            let kind = if (200..300).contains(&resp.status) {
                ErrorKind::BadResponse
            } else {
                ErrorKind::Http
            };
            Err(Failure::Other(
                Error::new(
                    kind,
                    format!(
                        "{NAME} {op}: reply (HTTP {}) has no integer code",
                        resp.status
                    ),
                )
                .with_http_status(resp.status),
            ))
        }
    }
}

/// The sign: hex HMAC(secret, every parameter but version/sign/signmethod, sorted by name,
/// concatenated as name+value).
pub(crate) fn sign(method: SignMethod, secret: &str, params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<&(&str, &str)> = params
        .iter()
        .filter(|(k, _)| !matches!(*k, "version" | "sign" | "signmethod"))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let content: String = sorted.iter().map(|(k, v)| format!("{k}{v}")).collect();
    let alg = match method {
        SignMethod::HmacMd5 => HmacAlg::Md5,
        SignMethod::HmacSha1 => HmacAlg::Sha1,
        SignMethod::HmacSha256 => HmacAlg::Sha256,
    };
    hmac_hex(alg, secret.as_bytes(), content.as_bytes())
}

fn method_name(m: SignMethod) -> &'static str {
    match m {
        SignMethod::HmacMd5 => "hmacmd5",
        SignMethod::HmacSha1 => "hmacsha1",
        SignMethod::HmacSha256 => "hmacsha256",
    }
}

/// `info.data`: a string gives its UTF-8 bytes, an array of integers gives those bytes
/// (Java `byte[]`, -128..=255), null or absent gives nothing, anything else its JSON text.
fn reply_data(value: Option<&Value>) -> Result<Vec<u8>, Error> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v.as_i64() {
                Some(b @ -128..=255) => Ok(b as u8),
                _ => Err(Error::new(
                    ErrorKind::BadResponse,
                    format!("{NAME} publish: info.data array holds a non-byte value"),
                )),
            })
            .collect(),
        Some(other) => Ok(other.to_string().into_bytes()),
    }
}

impl Dialect for Aliyun {
    fn name(&self) -> &'static str {
        NAME
    }

    fn default_region(&self) -> &'static str {
        "cn-shanghai"
    }

    fn endpoint(&self, region: &str) -> String {
        format!("https://iot-as-http.{region}.aliyuncs.com")
    }

    fn token_lifetime(&self) -> Duration {
        // Current documents say 7 days, older ones 48 hours: take the safe reading.
        Duration::from_secs(48 * 3600)
    }

    fn token_header(&self) -> &'static str {
        "password"
    }

    fn supports_sign_method(&self, _m: SignMethod) -> bool {
        true
    }

    fn has_client_id(&self) -> bool {
        true
    }

    fn auth_request(&self, id: &Identity<'_>, timestamp_ms: Option<u64>) -> Prepared {
        let ts = timestamp_ms.map(|t| t.to_string());
        let mut params: Vec<(&str, &str)> = vec![
            ("clientId", id.client_id),
            ("deviceName", id.device),
            ("productKey", id.product),
        ];
        if let Some(ts) = &ts {
            params.push(("timestamp", ts));
        }
        let signature = sign(id.sign_method, id.secret.expose(), &params);
        let mut body = json!({
            "version": "default",
            "clientId": id.client_id,
            "signmethod": method_name(id.sign_method),
            "sign": signature,
            "productKey": id.product,
            "deviceName": id.device,
        });
        if let Some(ts) = ts {
            body["timestamp"] = json!(ts);
        }
        Prepared {
            headers: vec![("Content-Type", "application/json".to_string())],
            body: serde_json::to_vec(&body).expect("JSON of strings"),
        }
    }

    fn parse_auth(&self, resp: &Response, sent_timestamp: bool) -> Result<Issued, Failure> {
        let (map, code) = reply_code("auth", resp)?;
        if code != 0 {
            let e = code_error("auth", code, &map, resp.status);
            return Err(if code == 20000 && sent_timestamp {
                // The cloud does not say why; a timestamp outside 15 minutes is one reason.
                Failure::Timestamp {
                    error: e,
                    certain: false,
                }
            } else {
                Failure::Other(e)
            });
        }
        let info = map.get("info").and_then(Value::as_object);
        let token = checked_token(NAME, info.and_then(|i| i.get("token")))?;
        Ok(Issued {
            token,
            expires_at_ms: None,
            lifetime: None,
        })
    }

    fn parse_publish(&self, resp: &Response) -> Result<Published, Failure> {
        let (map, code) = reply_code("publish", resp)?;
        if code != 0 {
            let e = code_error("publish", code, &map, resp.status);
            return Err(match code {
                20001..=20003 => Failure::TokenRejected(e),
                _ => Failure::Other(e),
            });
        }
        let info = map.get("info").and_then(Value::as_object).ok_or_else(|| {
            Error::new(
                ErrorKind::BadResponse,
                format!("{NAME} publish: success reply has no info object"),
            )
        })?;
        Ok(Published {
            message_id: message_id(NAME, info.get("messageId"))?,
            data: reply_data(info.get("data"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn resp(body: &str) -> Response {
        Response::test(200, body)
    }

    /// Seed 003's example: content `clientId12345deviceNamedeviceproductKeypktimestamp789`
    /// under secret `secret`. Expected values computed independently with
    /// `printf '%s' <content> | openssl dgst -<alg> -hmac secret`.
    #[test]
    fn document_sign_example() {
        let params = [
            ("productKey", "pk"),
            ("timestamp", "789"),
            ("deviceName", "device"),
            ("clientId", "12345"),
            ("signmethod", "hmacsha1"),
            ("version", "default"),
        ];
        assert_eq!(
            sign(SignMethod::HmacSha1, "secret", &params),
            "fafd82a3d602b37fb0fa8b7892f24a477f851a14"
        );
        assert_eq!(
            sign(SignMethod::HmacMd5, "secret", &params),
            "14b198324fe55e1d3c88f2e705e201ee"
        );
        assert_eq!(
            sign(SignMethod::HmacSha256, "secret", &params),
            "6074a46a91b1ebb2cc4ea42790ad0e80202c9843859fc292e57c4eb19fad9e57"
        );
    }

    #[test]
    fn auth_request_body() {
        let secret = Secret::new("secret");
        let id = Identity {
            product: "pk",
            device: "device",
            secret: &secret,
            client_id: "12345",
            sign_method: SignMethod::HmacSha1,
            now_ms: 0,
        };
        let p = Aliyun.auth_request(&id, Some(789));
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["sign"], "fafd82a3d602b37fb0fa8b7892f24a477f851a14");
        assert_eq!(v["signmethod"], "hmacsha1");
        assert_eq!(v["timestamp"], "789");
        assert_eq!(v["version"], "default");
        let p = Aliyun.auth_request(&id, None);
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert!(v.get("timestamp").is_none());
        assert_eq!(
            v["sign"],
            hmac_hex(
                HmacAlg::Sha1,
                b"secret",
                b"clientId12345deviceNamedeviceproductKeypk"
            )
        );
    }

    #[test]
    fn every_documented_code_is_mapped() {
        for (code, kind) in [
            (10000, ErrorKind::Cloud),
            (10001, ErrorKind::InvalidArg),
            (20000, ErrorKind::Auth),
            (20001, ErrorKind::Token),
            (20002, ErrorKind::Token),
            (20003, ErrorKind::Token),
            (20004, ErrorKind::Cloud),
            (30001, ErrorKind::Cloud),
            (40000, ErrorKind::RateLimited),
            (12345, ErrorKind::Cloud),
        ] {
            assert_eq!(code_kind(code).0, kind, "{code}");
        }
    }

    #[test]
    fn publish_reply_keeps_big_ids_and_data() {
        let p = Aliyun
            .parse_publish(&resp(
                r#"{"code":0,"message":"success","info":{"messageId":892687627916247040,"data":"hi"}}"#,
            ))
            .unwrap();
        assert_eq!(p.message_id, "892687627916247040");
        assert_eq!(p.data, b"hi");
        let p = Aliyun
            .parse_publish(&resp(
                r#"{"code":0,"info":{"messageId":1,"data":[104,-1,255]}}"#,
            ))
            .unwrap();
        assert_eq!(p.data, vec![104, 255, 255]);
        let p = Aliyun
            .parse_publish(&resp(r#"{"code":0,"info":{"messageId":1,"data":{"a":1}}}"#))
            .unwrap();
        assert_eq!(p.data, br#"{"a":1}"#);
        assert!(Aliyun
            .parse_publish(&resp(r#"{"code":0,"info":{"messageId":1,"data":[256]}}"#))
            .is_err());
        assert!(Aliyun
            .parse_publish(&resp(r#"{"code":0,"message":"success"}"#))
            .is_err());
        for code in [20001, 20002, 20003] {
            let body = format!(r#"{{"code":{code},"message":"x"}}"#);
            assert!(matches!(
                Aliyun.parse_publish(&resp(&body)),
                Err(Failure::TokenRejected(_))
            ));
        }
    }

    #[test]
    fn auth_20000_with_timestamp_is_suspect() {
        let r = resp(r#"{"code":20000,"message":"auth check error"}"#);
        assert!(matches!(
            Aliyun.parse_auth(&r, true),
            Err(Failure::Timestamp { certain: false, .. })
        ));
        assert!(matches!(
            Aliyun.parse_auth(&r, false),
            Err(Failure::Other(_))
        ));
        let ok = Aliyun
            .parse_auth(
                &resp(r#"{"code":0,"message":"success","info":{"token":"6944e5bfb92e4d4ea3918d1eda3942f6"}}"#),
                false,
            )
            .unwrap();
        assert_eq!(ok.token.expose(), "6944e5bfb92e4d4ea3918d1eda3942f6");
    }
}
