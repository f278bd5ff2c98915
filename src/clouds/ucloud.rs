//! UCloud IoT-Core HTTP dialect (seed 001): `POST /auth` signed with HMAC-SHA256 of the
//! body, `POST /topic/${topic}` with a `Password` header.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::clouds::{
    checked_token, cloud_message, code_field, json_object, message_id, status_failure, Dialect,
    Failure, Identity, Issued, Prepared, Published, SignMethod,
};
#[cfg(feature = "ucloud-files")]
use crate::clouds::{FileGrant, FileInfo, FileUpload};
use crate::error::{Error, ErrorKind};
use crate::net::transport::Response;
#[cfg(feature = "ucloud-files")]
use crate::secret::Secret;
use crate::sign::{hmac_hex, HmacAlg};
#[cfg(feature = "ucloud-files")]
use crate::transfer::upload::Attempt;

pub(crate) struct UCloud;

const NAME: &str = "UCloud";

/// What a RetCode means for the caller (seed 001's tables).
fn code_kind(code: i64) -> (ErrorKind, &'static str) {
    match code {
        130 => (ErrorKind::Unavailable, "service temporarily unavailable"),
        171 => (ErrorKind::Auth, "signature error: check the device secret"),
        230 => (ErrorKind::InvalidArg, "parameter error"),
        100070 => (
            ErrorKind::Auth,
            "timestamp error: device clock is off by more than 3600 s",
        ),
        100071 => (ErrorKind::Auth, "product or device does not exist"),
        100072 => (ErrorKind::Auth, "device is disabled"),
        100073 => (ErrorKind::Token, "token check failed"),
        100074 => (ErrorKind::Token, "token expired"),
        100075 => (
            ErrorKind::Denied,
            "ACL failed: no publish permission on this topic",
        ),
        100076 => (ErrorKind::TooLarge, "body longer than the cloud accepts"),
        100077 => (ErrorKind::Cloud, "publish failed in the cloud"),
        _ => (ErrorKind::Cloud, "unknown error code"),
    }
}

fn code_error(op: &str, code: i64, map: &Map<String, Value>, status: u16) -> Error {
    let (kind, meaning) = code_kind(code);
    let said = cloud_message(map, "Message");
    let said = if said.is_empty() {
        String::new()
    } else {
        format!(" \"{said}\"")
    };
    Error::new(
        kind,
        format!("{NAME} {op}: RetCode {code}{said}: {meaning}"),
    )
    .with_cloud_code(code)
    .with_http_status(status)
}

/// The reply object and its RetCode, or the failure that prevents reading them.
fn ret_code(op: &str, resp: &Response) -> Result<(Map<String, Value>, i64), Failure> {
    if let Some(e) = status_failure(NAME, op, resp) {
        return Err(Failure::Other(e));
    }
    let map = json_object(NAME, op, resp)?;
    match code_field(&map, "RetCode") {
        Some(code) => Ok((map, code)),
        None if (200..300).contains(&resp.status) => Err(Failure::Other(
            Error::new(
                ErrorKind::BadResponse,
                format!("{NAME} {op}: reply has no integer RetCode"),
            )
            .with_http_status(resp.status),
        )),
        None => Err(Failure::Other(
            Error::new(
                ErrorKind::Http,
                format!("{NAME} {op}: unexpected HTTP status {}", resp.status),
            )
            .with_http_status(resp.status),
        )),
    }
}

/// Expiry stated by a JWT-shaped token (`exp`, seconds), in ms.
fn jwt_expiry_ms(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let bytes = crate::sign::base64url_decode(payload)?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let exp = v.get("exp")?.as_u64()?;
    exp.checked_mul(1000)
}

/// UFile's reply to the PUT: 200 `{}` is success, otherwise `{"RetCode":…,"ErrMsg":…}`.
#[cfg(feature = "ucloud-files")]
fn ufile_reply(resp: &Response) -> Attempt<()> {
    let s = resp.status;
    if s == 200 {
        return Attempt::Ok(());
    }
    let parsed = serde_json::from_slice::<Value>(&resp.body).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v.as_object())
        .and_then(|m| code_field(m, "RetCode"));
    let msg = parsed
        .as_ref()
        .and_then(|v| v.as_object())
        .map(|m| cloud_message(m, "ErrMsg"))
        .unwrap_or_default();
    let detail = match code {
        Some(c) => format!(" RetCode {c} \"{msg}\""),
        None => String::new(),
    };
    let e = |kind: ErrorKind, what: &str| {
        Error::new(kind, format!("UFile PUT: HTTP {s}{detail}: {what}"))
            .with_http_status(s)
            .with_cloud_code(code.unwrap_or(s.into()))
    };
    match s {
        401 | 403 => Attempt::Expired(e(
            ErrorKind::Denied,
            "upload authorization refused or expired",
        )),
        429 => Attempt::Err(e(ErrorKind::RateLimited, "throttled")),
        503 => Attempt::Err(e(ErrorKind::Unavailable, "service unavailable")),
        300..=399 => Attempt::Err(e(ErrorKind::Http, "redirects are never followed")),
        _ if code.is_some() => Attempt::Err(e(ErrorKind::Cloud, "upload refused")),
        _ => Attempt::Err(e(ErrorKind::Http, "unexpected status")),
    }
}

#[cfg(feature = "ucloud-files")]
impl FileUpload for UCloud {
    fn grant_request(&self, id: &Identity<'_>, file: &FileInfo<'_>) -> Prepared {
        let body = json!({
            "ProductSN": id.product,
            "DeviceSN": id.device,
            "FileName": file.name,
            "FileSize": file.size,
            "MD5": file.md5_hex,
            "Content-Type": file.content_type,
        });
        let body = serde_json::to_vec(&body).expect("JSON of strings and integers");
        let signature = hmac_hex(HmacAlg::Sha256, id.secret.expose().as_bytes(), &body);
        Prepared {
            headers: vec![
                ("Content-Type", "application/json".to_string()),
                ("Authorization", signature),
            ],
            body,
        }
    }

    fn parse_grant(&self, resp: &Response) -> Result<FileGrant, Failure> {
        let (map, code) = ret_code("file URL", resp)?;
        if code != 0 {
            return Err(Failure::Other(code_error(
                "file URL",
                code,
                &map,
                resp.status,
            )));
        }
        let bad = |what: &str| {
            Failure::Other(Error::new(
                ErrorKind::BadResponse,
                format!("{NAME} file URL: reply {what}"),
            ))
        };
        let url = match map.get("URL") {
            Some(Value::String(u)) if !u.is_empty() && u.len() <= 8192 => u.clone(),
            _ => return Err(bad("has no URL")),
        };
        let authorization = match map.get("Authorization") {
            Some(Value::String(a))
                if crate::transfer::upload::is_header_value(a) && !a.is_empty() =>
            {
                Secret::new(a.as_str())
            }
            _ => return Err(bad("has no usable Authorization")),
        };
        Ok(FileGrant { url, authorization })
    }

    fn parse_put(&self, resp: &Response) -> Attempt<()> {
        ufile_reply(resp)
    }
}

impl Dialect for UCloud {
    fn name(&self) -> &'static str {
        NAME
    }

    fn default_region(&self) -> &'static str {
        "cn-sh2"
    }

    fn endpoint(&self, region: &str) -> String {
        format!("https://http-{region}.iot.ucloud.cn")
    }

    fn file_endpoint(&self, region: &str) -> Option<String> {
        Some(format!("https://file-{region}.iot.ucloud.cn"))
    }

    fn token_lifetime(&self) -> Duration {
        Duration::from_secs(7 * 24 * 3600)
    }

    fn token_header(&self) -> &'static str {
        "Password"
    }

    fn supports_sign_method(&self, m: SignMethod) -> bool {
        m == SignMethod::HmacSha256
    }

    fn has_client_id(&self) -> bool {
        false
    }

    fn auth_request(&self, id: &Identity<'_>, timestamp_ms: Option<u64>) -> Prepared {
        let mut body = json!({ "ProductSN": id.product, "DeviceSN": id.device });
        if let Some(ts) = timestamp_ms {
            body["Timestamp"] = json!(ts);
        }
        let body = serde_json::to_vec(&body).expect("JSON of strings and integers");
        let signature = hmac_hex(HmacAlg::Sha256, id.secret.expose().as_bytes(), &body);
        Prepared {
            headers: vec![
                ("Content-Type", "application/json".to_string()),
                ("Authorization", signature),
            ],
            body,
        }
    }

    fn parse_auth(&self, resp: &Response, _sent_timestamp: bool) -> Result<Issued, Failure> {
        let (map, code) = ret_code("auth", resp)?;
        if code != 0 {
            let e = code_error("auth", code, &map, resp.status);
            return Err(if code == 100070 {
                Failure::Timestamp {
                    error: e,
                    certain: true,
                }
            } else {
                Failure::Other(e)
            });
        }
        let token = checked_token(NAME, map.get("Token"))?;
        let expires_at_ms = jwt_expiry_ms(token.expose());
        Ok(Issued {
            token,
            expires_at_ms,
            lifetime: None,
        })
    }

    #[cfg(feature = "ucloud-files")]
    fn file_upload(&self) -> Option<&dyn FileUpload> {
        Some(self)
    }

    fn parse_publish(&self, resp: &Response) -> Result<Published, Failure> {
        let (map, code) = ret_code("publish", resp)?;
        if code != 0 {
            let e = code_error("publish", code, &map, resp.status);
            return Err(match code {
                100073 | 100074 => Failure::TokenRejected(e),
                _ => Failure::Other(e),
            });
        }
        let id = message_id(NAME, map.get("MessageID"))?;
        Ok(Published {
            message_id: id,
            data: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(body: &str) -> Response {
        Response::test(200, body)
    }

    #[test]
    fn auth_signature_is_hmac_sha256_of_the_exact_body() {
        let secret = Secret::new("mySecret");
        let id = Identity {
            product: "ZG1EvTEa7NN",
            device: "NlwaSPXsCpTQuh8FxBGH",
            secret: &secret,
            client_id: "",
            sign_method: SignMethod::HmacSha256,
            now_ms: 0,
        };
        let p = UCloud.auth_request(&id, Some(1501668289957));
        assert_eq!(
            std::str::from_utf8(&p.body).unwrap(),
            r#"{"DeviceSN":"NlwaSPXsCpTQuh8FxBGH","ProductSN":"ZG1EvTEa7NN","Timestamp":1501668289957}"#
        );
        // Independently computed: printf '%s' '<body>' | openssl dgst -sha256 -hmac mySecret
        assert_eq!(
            p.headers[1],
            (
                "Authorization",
                "6b356935297c713730fb91ecb562307280a9fd8d27d749d2fc4791e7fa9d56bb".to_string()
            )
        );
        assert_eq!(p.headers[0], ("Content-Type", "application/json".into()));
    }

    #[test]
    fn every_documented_code_is_mapped() {
        for (code, kind) in [
            (130, ErrorKind::Unavailable),
            (171, ErrorKind::Auth),
            (230, ErrorKind::InvalidArg),
            (100070, ErrorKind::Auth),
            (100071, ErrorKind::Auth),
            (100072, ErrorKind::Auth),
            (100073, ErrorKind::Token),
            (100074, ErrorKind::Token),
            (100075, ErrorKind::Denied),
            (100076, ErrorKind::TooLarge),
            (100077, ErrorKind::Cloud),
            (999, ErrorKind::Cloud),
        ] {
            assert_eq!(code_kind(code).0, kind, "{code}");
        }
    }

    #[test]
    fn auth_replies() {
        let ok = UCloud
            .parse_auth(
                &resp(
                    r#"{"RetCode":0,"Message":"Success","Token":"a.eyJleHAiOjE1NjcwNTg4OTl9.c"}"#,
                ),
                false,
            )
            .unwrap();
        assert_eq!(ok.token.expose(), "a.eyJleHAiOjE1NjcwNTg4OTl9.c");
        assert_eq!(ok.expires_at_ms, Some(1_567_058_899_000));
        match UCloud.parse_auth(
            &resp(r#"{"RetCode":100070,"Message":"Timestamp error"}"#),
            true,
        ) {
            Err(Failure::Timestamp { error, certain }) => {
                assert!(certain);
                assert_eq!(error.cloud_code(), 100070);
            }
            other => panic!("{other:?}"),
        }
        let e = UCloud
            .parse_auth(&resp(r#"{"RetCode":0,"Message":"Success"}"#), false)
            .err()
            .unwrap()
            .into_error();
        assert_eq!(e.kind(), ErrorKind::BadResponse);
        let e = UCloud
            .parse_auth(&resp(r#"{"Message":"Success"}"#), false)
            .err()
            .unwrap()
            .into_error();
        assert_eq!(e.kind(), ErrorKind::BadResponse);
    }

    #[test]
    fn publish_replies() {
        let p = UCloud
            .parse_publish(&resp(
                r#"{"RetCode":0,"Message":"Success","MessageID":"349022219378098176"}"#,
            ))
            .unwrap();
        assert_eq!(p.message_id, "349022219378098176");
        assert!(matches!(
            UCloud.parse_publish(&resp(r#"{"RetCode":100074,"Message":"Token is expired"}"#)),
            Err(Failure::TokenRejected(_))
        ));
        let e = UCloud
            .parse_publish(&resp(r#"{"RetCode":100075,"Message":"ACL Failed"}"#))
            .err()
            .unwrap()
            .into_error();
        assert_eq!(e.kind(), ErrorKind::Denied);
        assert_eq!(e.cloud_code(), 100075);
        assert!(e.message().contains("ACL Failed"), "{}", e.message());
    }
}
