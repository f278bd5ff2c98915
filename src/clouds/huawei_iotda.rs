//! Huawei Cloud IoTDA HTTPS device access: `POST /v5/device-auth` with a password keyed by
//! the UTC hour, `POST /v5/devices/{id}/sys/messages/up` (or `.../sys/properties/report`)
//! with an `access_token` header. Errors are `{"error_code":"IOTDA.xxxxxx","error_msg"}`
//! with an HTTP status.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::clouds::{
    checked_token, cloud_message, json_object, status_failure, Dialect, Failure, Identity, Issued,
    Prepared, Published, SignMethod,
};
use crate::error::{Error, ErrorKind};
use crate::net::transport::Response;
use crate::sign::{hmac_hex, utc_hour_stamp, HmacAlg};

pub(crate) struct HuaweiIotda;

const NAME: &str = "IoTDA";

/// Largest body the platform accepts (1 MB).
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// Longest device id (`[A-Za-z0-9_-]`).
pub(crate) const MAX_DEVICE_ID: usize = 128;

/// IOTDA.000002: authentication failed.
const AUTH_FAILED: i64 = 2;
/// IOTDA.000004: the access token is invalid or expired.
const TOKEN_INVALID: i64 = 4;

/// The password: lowercase hex HMAC-SHA256 keyed with the `YYYYMMDDHH` timestamp, over the
/// device secret.
pub(crate) fn password(secret: &str, timestamp: &str) -> String {
    hmac_hex(HmacAlg::Sha256, timestamp.as_bytes(), secret.as_bytes())
}

/// Device ids: 1..128 of `[A-Za-z0-9_-]`.
pub(crate) fn check_device_id(device: &str) -> Result<(), Error> {
    if device.is_empty()
        || device.len() > MAX_DEVICE_ID
        || !device
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Error::invalid(format!(
            "{NAME} device id must be 1..{MAX_DEVICE_ID} characters of A-Z, a-z, 0-9, '_' and '-' \
             (e.g. <product_id>_<node_id>)"
        )));
    }
    Ok(())
}

/// The numeric part of an `IOTDA.xxxxxx` code.
fn code_number(code: &str) -> Option<i64> {
    let digits = code.strip_prefix("IOTDA.")?;
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn code_kind(code: i64, status: u16) -> (ErrorKind, &'static str) {
    match code {
        6 => (ErrorKind::InvalidArg, "invalid input"),
        AUTH_FAILED => (
            ErrorKind::Auth,
            "authentication failed: check the device id, device secret and clock",
        ),
        TOKEN_INVALID => (ErrorKind::Token, "access token invalid or expired"),
        21101 | 21102 => (ErrorKind::RateLimited, "rate limit reached (throttled)"),
        21105 => (ErrorKind::TooLarge, "body over 1 MB"),
        _ if status == 413 => (ErrorKind::TooLarge, "body over 1 MB"),
        _ => (ErrorKind::Cloud, "unknown error code"),
    }
}

/// The error of a non-2xx reply.
fn reply_error(op: &str, resp: &Response) -> Error {
    if let Some(e) = status_failure(NAME, op, resp) {
        return e;
    }
    let status = resp.status;
    let map = serde_json::from_slice::<Value>(&resp.body)
        .ok()
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        });
    let code = map.as_ref().and_then(|m| match m.get("error_code") {
        Some(Value::String(s)) => Some((s.clone(), code_number(s))),
        _ => None,
    });
    match (map, code) {
        (Some(map), Some((text, Some(num)))) => code_error(op, &text, num, &map, status),
        _ if status == 413 => Error::new(
            ErrorKind::TooLarge,
            format!("{NAME} {op}: body refused as too large (HTTP 413; the limit is 1 MB)"),
        )
        .with_http_status(status),
        (_, Some((_, None))) => Error::new(
            ErrorKind::BadResponse,
            format!("{NAME} {op}: HTTP {status} with an error_code that is not IOTDA.<digits>"),
        )
        .with_http_status(status),
        _ => match json_object(NAME, op, resp) {
            Err(e) => e,
            Ok(_) => Error::new(
                ErrorKind::Http,
                format!("{NAME} {op}: unexpected HTTP status {status} (no error_code)"),
            )
            .with_http_status(status),
        },
    }
}

fn code_error(op: &str, text: &str, num: i64, map: &Map<String, Value>, status: u16) -> Error {
    let (kind, meaning) = code_kind(num, status);
    let said = cloud_message(map, "error_msg");
    let said = if said.is_empty() {
        String::new()
    } else {
        format!(" \"{said}\"")
    };
    Error::new(
        kind,
        format!("{NAME} {op}: HTTP {status} {text}{said}: {meaning}"),
    )
    .with_cloud_code(num)
    .with_http_status(status)
}

/// The two reports HTTPS offers, by their MQTT topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    Message,
    Properties,
}

fn parse_topic(device: &str, topic: &str) -> Result<Report, Error> {
    let wrong = || {
        Error::invalid(format!(
            "{NAME} topic must be $oc/devices/{device}/sys/messages/up or \
             $oc/devices/{device}/sys/properties/report (HTTPS offers no other report)"
        ))
    };
    let rest = topic.strip_prefix("$oc/devices/").ok_or_else(wrong)?;
    let (id, kind) = rest.split_once('/').ok_or_else(wrong)?;
    let report = match kind {
        "sys/messages/up" => Report::Message,
        "sys/properties/report" => Report::Properties,
        _ => return Err(wrong()),
    };
    if id != device {
        return Err(Error::invalid(format!(
            "{NAME} topic names device '{}' but this device is '{device}': a device reports \
             only for itself",
            id.chars()
                .filter(|c| !c.is_control())
                .take(128)
                .collect::<String>()
        )));
    }
    Ok(report)
}

/// A properties report must be `{"services":[{"service_id":"…","properties":{…}}, …]}`.
fn check_properties(payload: &[u8]) -> Result<(), Error> {
    let bad = |why: &str| {
        Error::invalid(format!(
            "{NAME} properties report {why}: the body must be \
             {{\"services\":[{{\"service_id\":\"...\",\"properties\":{{...}}}}]}}"
        ))
    };
    let value: Value = serde_json::from_slice(payload).map_err(|_| bad("is not JSON"))?;
    let services = value
        .get("services")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("has no services array"))?;
    if services.is_empty() {
        return Err(bad("has an empty services array"));
    }
    for s in services {
        let ok = s
            .get("service_id")
            .and_then(Value::as_str)
            .is_some_and(|id| !id.is_empty())
            && s.get("properties").is_some_and(Value::is_object);
        if !ok {
            return Err(bad(
                "has a service without a service_id string or a properties object",
            ));
        }
    }
    Ok(())
}

impl Dialect for HuaweiIotda {
    fn name(&self) -> &'static str {
        NAME
    }

    fn default_region(&self) -> &'static str {
        ""
    }

    fn endpoint(&self, _region: &str) -> String {
        String::new()
    }

    fn requires_endpoint(&self) -> bool {
        true
    }

    fn token_lifetime(&self) -> Duration {
        // The documented reply: expires_in 86399 s.
        Duration::from_secs(24 * 3600)
    }

    fn token_header(&self) -> &'static str {
        "access_token"
    }

    fn supports_sign_method(&self, m: SignMethod) -> bool {
        m == SignMethod::HmacSha256
    }

    fn has_client_id(&self) -> bool {
        false
    }

    fn check_identity(&self, _product: &str, device: &str) -> Result<(), Error> {
        check_device_id(device)
    }

    fn auth_path(&self) -> &'static str {
        "/v5/device-auth"
    }

    fn publish_path(&self, device: &str, topic: &str, payload: &[u8]) -> Result<String, Error> {
        let report = parse_topic(device, topic)?;
        if report == Report::Properties {
            check_properties(payload)?;
        }
        Ok(match report {
            Report::Message => format!("/v5/devices/{device}/sys/messages/up"),
            Report::Properties => format!("/v5/devices/{device}/sys/properties/report"),
        })
    }

    fn publish_content_type(&self) -> &'static str {
        "application/json"
    }

    fn max_payload(&self) -> usize {
        MAX_BODY
    }

    fn max_message_id(&self) -> usize {
        0
    }

    fn auth_request(&self, id: &Identity<'_>, timestamp_ms: Option<u64>) -> Prepared {
        // sign_type 1 (the hour is checked) when the device sends its timestamp, 0 otherwise;
        // the password is keyed by an hour either way.
        let (sign_type, ms) = match timestamp_ms {
            Some(t) => (1, t),
            None => (0, id.now_ms),
        };
        let timestamp = utc_hour_stamp(ms / 1000);
        let body = json!({
            "device_id": id.device,
            "sign_type": sign_type,
            "timestamp": timestamp,
            "password": password(id.secret.expose(), &timestamp),
        });
        Prepared {
            headers: vec![("Content-Type", "application/json".to_string())],
            body: serde_json::to_vec(&body).expect("JSON of strings"),
        }
    }

    fn parse_auth(&self, resp: &Response, sent_timestamp: bool) -> Result<Issued, Failure> {
        if !(200..300).contains(&resp.status) {
            let e = reply_error("auth", resp);
            return Err(if e.cloud_code() == AUTH_FAILED && sent_timestamp {
                // The platform does not say why; an hour it does not take is one reason.
                Failure::Timestamp {
                    error: e,
                    certain: false,
                }
            } else {
                Failure::Other(e)
            });
        }
        let map = json_object(NAME, "auth", resp)?;
        let token = checked_token(NAME, map.get("access_token"))?;
        let lifetime = match map.get("expires_in") {
            Some(Value::Number(n)) => match n.as_u64() {
                Some(s) if s > 0 => Some(Duration::from_secs(s)),
                _ => None,
            },
            _ => None,
        }
        .ok_or_else(|| {
            Error::new(
                ErrorKind::BadResponse,
                format!("{NAME} auth: reply has no positive integer expires_in"),
            )
        })?;
        Ok(Issued {
            token,
            expires_at_ms: None,
            lifetime: Some(lifetime),
        })
    }

    fn parse_publish(&self, resp: &Response) -> Result<Published, Failure> {
        if (200..300).contains(&resp.status) {
            // The success reply has an empty body; anything else must at least be JSON.
            if !resp.body.is_empty() {
                json_object(NAME, "publish", resp)?;
            }
            return Ok(Published {
                message_id: String::new(),
                data: Vec::new(),
            });
        }
        let e = reply_error("publish", resp);
        Err(if e.cloud_code() == TOKEN_INVALID {
            Failure::TokenRejected(e)
        } else {
            Failure::Other(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn resp(status: u16, body: &str) -> Response {
        Response::test(status, body)
    }

    fn id<'a>(secret: &'a Secret, now_ms: u64) -> Identity<'a> {
        Identity {
            product: "p1",
            device: "p1_node",
            secret,
            client_id: "",
            sign_method: SignMethod::HmacSha256,
            now_ms,
        }
    }

    #[test]
    fn password_is_keyed_by_the_hour() {
        // Independent value: printf secret | openssl dgst -sha256 -hmac 2016022312
        assert_eq!(
            password("secret", "2016022312"),
            "b6c930783424215c9584eb69470174a74893a78828c1087aab3e8a52ebdb2a09"
        );
    }

    #[test]
    fn auth_bodies() {
        let s = Secret::new("secret");
        let p = HuaweiIotda.auth_request(&id(&s, 1_456_231_584_000), None);
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["device_id"], "p1_node");
        assert_eq!(v["sign_type"], 0);
        assert_eq!(v["timestamp"], "2016022312");
        assert_eq!(v["password"], password("secret", "2016022312"));
        let p = HuaweiIotda.auth_request(&id(&s, 0), Some(1_456_231_584_000));
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["sign_type"], 1);
        assert_eq!(v["timestamp"], "2016022312");
    }

    #[test]
    fn topics() {
        let d = "p1_node";
        assert_eq!(
            HuaweiIotda
                .publish_path(d, "$oc/devices/p1_node/sys/messages/up", b"x")
                .unwrap(),
            "/v5/devices/p1_node/sys/messages/up"
        );
        let props = br#"{"services":[{"service_id":"s","properties":{"t":1}}]}"#;
        assert_eq!(
            HuaweiIotda
                .publish_path(d, "$oc/devices/p1_node/sys/properties/report", props)
                .unwrap(),
            "/v5/devices/p1_node/sys/properties/report"
        );
        for bad in [
            "$oc/devices/other/sys/messages/up",
            "$oc/devices/p1_node/sys/events/up",
            "/p1/p1_node/up",
            "$oc/devices/p1_node/sys/messages/up/x",
            "$oc/devices/p1_node",
        ] {
            let e = HuaweiIotda.publish_path(d, bad, b"{}").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArg, "{bad}");
        }
        for bad in [
            &b"not json"[..],
            b"{}",
            br#"{"services":[]}"#,
            br#"{"services":[{"properties":{}}]}"#,
            br#"{"services":[{"service_id":"s","properties":1}]}"#,
        ] {
            let e = HuaweiIotda
                .publish_path(d, "$oc/devices/p1_node/sys/properties/report", bad)
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArg);
        }
    }

    #[test]
    fn device_ids() {
        check_device_id("p1_node-2").unwrap();
        check_device_id(&"a".repeat(128)).unwrap();
        for bad in ["", "a b", "a/b", "a.b", "设备"] {
            assert!(check_device_id(bad).is_err(), "{bad}");
        }
        assert!(check_device_id(&"a".repeat(129)).is_err());
    }

    #[test]
    fn auth_replies() {
        let ok = HuaweiIotda
            .parse_auth(
                &resp(200, r#"{"access_token":"tok123","expires_in":86399}"#),
                false,
            )
            .unwrap();
        assert_eq!(ok.token.expose(), "tok123");
        assert_eq!(ok.lifetime, Some(Duration::from_secs(86399)));
        for bad in [
            r#"{"access_token":"tok123"}"#,
            r#"{"access_token":"tok123","expires_in":-1}"#,
            r#"{"expires_in":5}"#,
            "garbage tok123",
        ] {
            let e = HuaweiIotda
                .parse_auth(&resp(200, bad), false)
                .unwrap_err()
                .into_error();
            assert_eq!(e.kind(), ErrorKind::BadResponse, "{bad}");
            assert!(!e.message().contains("tok123"));
        }
        let body = r#"{"error_code":"IOTDA.000002","error_msg":"auth\nfailed"}"#;
        match HuaweiIotda.parse_auth(&resp(401, body), true) {
            Err(Failure::Timestamp { error, .. }) => {
                assert_eq!(error.kind(), ErrorKind::Auth);
                assert_eq!(error.cloud_code(), 2);
                assert_eq!(error.http_status(), 401);
                assert!(!error.message().contains('\n'));
            }
            other => panic!("{other:?}"),
        }
        let e = HuaweiIotda
            .parse_auth(&resp(401, body), false)
            .unwrap_err()
            .into_error();
        assert_eq!(e.kind(), ErrorKind::Auth);
    }

    #[test]
    fn publish_replies() {
        let p = HuaweiIotda.parse_publish(&resp(200, "")).unwrap();
        assert_eq!(p.message_id, "");
        HuaweiIotda.parse_publish(&resp(200, "{}")).unwrap();
        let e = HuaweiIotda
            .parse_publish(&resp(200, "<html>"))
            .unwrap_err()
            .into_error();
        assert_eq!(e.kind(), ErrorKind::BadResponse);
        let err = |status, body: &str| HuaweiIotda.parse_publish(&resp(status, body)).unwrap_err();
        assert!(matches!(
            err(403, r#"{"error_code":"IOTDA.000004","error_msg":"x"}"#),
            Failure::TokenRejected(_)
        ));
        for (status, body, kind, code) in [
            (
                400,
                r#"{"error_code":"IOTDA.000006"}"#,
                ErrorKind::InvalidArg,
                6,
            ),
            (
                403,
                r#"{"error_code":"IOTDA.021101"}"#,
                ErrorKind::RateLimited,
                21101,
            ),
            (
                403,
                r#"{"error_code":"IOTDA.021102"}"#,
                ErrorKind::RateLimited,
                21102,
            ),
            (
                400,
                r#"{"error_code":"IOTDA.021105"}"#,
                ErrorKind::TooLarge,
                21105,
            ),
            (
                413,
                r#"{"error_code":"IOTDA.021105"}"#,
                ErrorKind::TooLarge,
                21105,
            ),
            (413, "<html>", ErrorKind::TooLarge, 0),
            (
                500,
                r#"{"error_code":"IOTDA.999999"}"#,
                ErrorKind::Cloud,
                999999,
            ),
            (500, "<html>", ErrorKind::Http, 0),
            (
                400,
                r#"{"error_code":"OTHER.1"}"#,
                ErrorKind::BadResponse,
                0,
            ),
            (503, "", ErrorKind::Unavailable, 0),
            (429, "", ErrorKind::RateLimited, 0),
        ] {
            let e = err(status, body).into_error();
            assert_eq!(e.kind(), kind, "{status} {body}");
            assert_eq!(e.cloud_code(), code, "{status} {body}");
            assert_eq!(e.http_status(), status);
        }
    }
}
