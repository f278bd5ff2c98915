//! Huawei Cloud IoTDA HTTPS device access (PROTOCOLS.md, "Huawei Cloud IoTDA"):
//! `POST /v5/device-auth` and `POST /v5/devices/{id}/sys/messages/up` /
//! `.../sys/properties/report` with an `access_token` header.

use std::io::Read;

use crate::clock;
use crate::faults;
use crate::http::{Request, Response};
use crate::routes::{self, MAX_AUTH_BODY};
use crate::sign::{self, json_str, HmacAlg};
use crate::state::{
    ConnFault, DeviceKey, Injected, Message, Op, ReplyKind, Shared, Subject, TokenCheck,
};
use crate::Cloud;

pub const INVALID_INPUT: u32 = 6;
pub const AUTH_FAILED: u32 = 2;
pub const TOKEN_INVALID: u32 = 4;
pub const RATE_LIMIT_DEVICE: u32 = 21_101;
pub const RATE_LIMIT_TENANT: u32 = 21_102;
pub const TOO_LARGE: u32 = 21_105;

/// Largest body (1 MB).
pub const MAX_BODY: u64 = 1024 * 1024;

/// How long an old token stays valid after a new one is issued.
pub const OLD_TOKEN_GRACE_MS: i64 = 30_000;

/// Default `expires_in` (the document's example).
pub const DEFAULT_TTL_SECS: u64 = 86_399;

/// code → (HTTP status, message).
const CODES: &[(u32, u16, &str)] = &[
    (INVALID_INPUT, 400, "Invalid input."),
    (AUTH_FAILED, 401, "Authentication failed."),
    (
        TOKEN_INVALID,
        403,
        "The access token is invalid or expired.",
    ),
    (
        RATE_LIMIT_DEVICE,
        403,
        "The device request rate exceeds the limit.",
    ),
    (
        RATE_LIMIT_TENANT,
        403,
        "The tenant request rate exceeds the limit.",
    ),
    (TOO_LARGE, 400, "The message body exceeds 1 MB."),
];

/// The documented message of `code`.
pub fn message(code: u32) -> Option<&'static str> {
    CODES.iter().find(|(c, ..)| *c == code).map(|(_, _, m)| *m)
}

/// `IOTDA.000004` or `4` → 4, when documented.
pub fn parse_code(text: &str) -> Option<u32> {
    let digits = text.strip_prefix("IOTDA.").unwrap_or(text);
    let code: u32 = digits.parse().ok()?;
    message(code).map(|_| code)
}

/// `{"error_code":"IOTDA.xxxxxx","error_msg":"…"}` with the code's status (or `status`).
pub fn error_with(status: Option<u16>, code: u32) -> Response {
    let (doc_status, text) = CODES
        .iter()
        .find(|(c, ..)| *c == code)
        .map_or((400, "Invalid input."), |(_, s, m)| (*s, *m));
    Response::json(
        status.unwrap_or(doc_status),
        format!(
            "{{\"error_code\":\"IOTDA.{code:06}\",\"error_msg\":{}}}",
            json_str(text)
        ),
    )
    .with_code(code.into())
}

pub fn error(code: u32) -> Response {
    error_with(None, code)
}

/// The answer of a `fail` rule.
pub fn injected(fault: Injected) -> Response {
    match fault {
        Injected::Code(code) => error(u32::try_from(code).unwrap_or(INVALID_INPUT)),
        Injected::Name(_) => error(INVALID_INPUT),
        Injected::Http(status) => routes::http_fault(status),
    }
}

/// `YYYYMMDDHH` of a Unix time in ms (UTC).
pub fn hour_stamp(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let (y, m, d) = clock::civil_from_days(secs.div_euclid(86_400));
    let h = secs.rem_euclid(86_400) / 3600;
    format!("{y:04}{m:02}{d:02}{h:02}")
}

/// Lowercase hex HMAC-SHA256 keyed with the timestamp, over the device secret.
pub fn password(secret: &str, timestamp: &str) -> String {
    sign::hmac_hex(HmacAlg::Sha256, timestamp.as_bytes(), secret.as_bytes())
}

#[derive(Debug)]
struct AuthBody {
    device_id: String,
    sign_type: u8,
    timestamp: String,
    password: String,
}

fn is_device_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn parse_auth_body(raw: &[u8]) -> Option<AuthBody> {
    let value: serde_json::Value = serde_json::from_slice(raw).ok()?;
    let map = value.as_object()?;
    if map.keys().any(|k| {
        !matches!(
            k.as_str(),
            "device_id" | "sign_type" | "timestamp" | "password"
        )
    }) {
        return None;
    }
    let device_id = map.get("device_id")?.as_str()?.to_string();
    let sign_type = match map.get("sign_type")?.as_u64()? {
        0 => 0,
        1 => 1,
        _ => return None,
    };
    let timestamp = map.get("timestamp")?.as_str()?.to_string();
    let password = map.get("password")?.as_str()?.to_string();
    if !is_device_id(&device_id)
        || timestamp.len() != 10
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
        || password.is_empty()
    {
        return None;
    }
    Some(AuthBody {
        device_id,
        sign_type,
        timestamp,
        password,
    })
}

/// The registered IoTDA device with this device id.
fn find_device(shared: &Shared, device_id: &str) -> Option<DeviceKey> {
    shared
        .lock()
        .devices
        .keys()
        .find(|k| k.0 == Cloud::Iotda && k.2 == device_id)
        .cloned()
}

/// sign_type 1: the timestamp must be the current hour by the emulator's clock (the previous
/// hour is still taken during the first minute of an hour, for a request sent across it).
fn hour_is_current(timestamp: &str, now_ms: i64) -> bool {
    timestamp == hour_stamp(now_ms) || timestamp == hour_stamp(now_ms - 60_000)
}

/// `POST /v5/device-auth`.
pub fn auth(shared: &Shared, req: &Request, body: &mut dyn Read) -> Response {
    if req.single_header("content-type") != Ok(Some("application/json"))
        || req.content_length > MAX_AUTH_BODY
    {
        return error(INVALID_INPUT);
    }
    let Ok(raw) = routes::read_all(body, req.content_length) else {
        return Response::abort();
    };
    let Some(params) = parse_auth_body(&raw) else {
        return error(INVALID_INPUT);
    };
    let Some(key) = find_device(shared, &params.device_id) else {
        return error(AUTH_FAILED);
    };
    routes::count_request(shared, Op::Auth, &key);
    if let Some(resp) =
        faults::take(shared, Op::Auth, &Subject::Device(key.clone())).answer(injected)
    {
        return resp;
    }
    let Some((secret, disabled)) = shared
        .lock()
        .device(&key)
        .map(|d| (d.secret.clone(), d.disabled))
    else {
        return error(AUTH_FAILED);
    };
    let expected = password(&secret, &params.timestamp);
    if !sign::ct_eq(params.password.as_bytes(), expected.as_bytes()) || disabled {
        return error(AUTH_FAILED);
    }
    let now_ms = shared.now_ms();
    if params.sign_type == 1 && !hour_is_current(&params.timestamp, now_ms) {
        return error(AUTH_FAILED);
    }

    let token = sign::hex(&sign::random_bytes(24));
    let mut state = shared.lock();
    let ttl = state.token_ttl_secs(Cloud::Iotda);
    let ttl_ms = i64::try_from(ttl)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    state.shorten_tokens(&key, now_ms.saturating_add(OLD_TOKEN_GRACE_MS));
    state.issue_token(token.clone(), key.clone(), now_ms.saturating_add(ttl_ms));
    if let Some(d) = state.device_mut(&key) {
        d.auths += 1;
    }
    drop(state);
    Response::json(
        200,
        format!(
            "{{\"access_token\":{},\"expires_in\":{ttl}}}",
            json_str(&token)
        ),
    )
}

/// The two reports, by the path below `/v5/devices/`: (device id, MQTT topic).
pub fn parse_publish_path(rest: &str) -> Option<(String, String, bool)> {
    let (id, kind) = rest.split_once('/')?;
    let properties = match kind {
        "sys/messages/up" => false,
        "sys/properties/report" => true,
        _ => return None,
    };
    if !is_device_id(id) {
        return None;
    }
    Some((
        id.to_string(),
        format!("$oc/devices/{id}/{kind}"),
        properties,
    ))
}

/// A properties report: `{"services":[{"service_id":"…","properties":{…}}, …]}`.
pub fn is_properties_report(raw: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(raw) else {
        return false;
    };
    let Some(services) = value.get("services").and_then(|s| s.as_array()) else {
        return false;
    };
    !services.is_empty()
        && services.iter().all(|s| {
            s.get("service_id")
                .and_then(|v| v.as_str())
                .is_some_and(|v| !v.is_empty())
                && s.get("properties").is_some_and(|p| p.is_object())
        })
}

/// `POST /v5/devices/{device_id}/sys/messages/up` or `.../sys/properties/report`.
pub fn publish(shared: &Shared, req: &Request, rest: &str, body: &mut dyn Read) -> Response {
    let Some((device_id, topic, properties)) = parse_publish_path(rest) else {
        return routes::not_found();
    };
    let Ok(token) = routes::token_header(req, "access_token") else {
        return error(INVALID_INPUT);
    };
    let now_ms = shared.now_ms();
    let check = token.map(|t| shared.lock().check_token(Cloud::Iotda, t, now_ms));
    let owner = match &check {
        Some(TokenCheck::Valid(k)) | Some(TokenCheck::Expired(k)) => Some(k.clone()),
        _ => find_device(shared, &device_id),
    };
    if let Some(owner) = &owner {
        routes::count_request(shared, Op::Publish, owner);
        let subject = Subject::Device(owner.clone());
        if let Some(resp) = faults::take(shared, Op::Publish, &subject).answer(injected) {
            return resp;
        }
    }
    let device = match check {
        Some(TokenCheck::Valid(device)) if device.2 == device_id => device,
        _ => return error(TOKEN_INVALID),
    };
    if req.content_length > MAX_BODY {
        return error_with(Some(413), TOO_LARGE);
    }
    if req.single_header("content-type") != Ok(Some("application/json")) {
        return error(INVALID_INPUT);
    }
    match shared.lock().device(&device) {
        Some(d) if !d.disabled => {}
        _ => return error(TOKEN_INVALID),
    }
    let (len, sha256) = if properties {
        let Ok(raw) = routes::read_all(body, req.content_length) else {
            return Response::abort();
        };
        if !is_properties_report(&raw) {
            return error(INVALID_INPUT);
        }
        let (len, sha) =
            routes::hash_payload(&mut raw.as_slice(), raw.len() as u64).expect("in-memory read");
        (len, sha)
    } else {
        let Ok(v) = routes::hash_payload(body, req.content_length) else {
            return Response::abort();
        };
        v
    };
    if faults::armed() == Some(ConnFault::Reply(ReplyKind::BigId)) {
        // IoTDA replies carry no id: a big-id reply is an ordinary success.
        return Response::json(200, String::new());
    }
    let mut state = shared.lock();
    let id = state.next_message_id(Cloud::Iotda);
    state.record_message(
        &device,
        Message {
            id,
            topic,
            len,
            sha256,
        },
    );
    drop(state);
    Response::json(200, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_and_hours() {
        // Independent value: printf secret | openssl dgst -sha256 -hmac 2016022312
        assert_eq!(
            password("secret", "2016022312"),
            "b6c930783424215c9584eb69470174a74893a78828c1087aab3e8a52ebdb2a09"
        );
        assert_eq!(hour_stamp(1_456_231_584_000), "2016022312");
        assert!(hour_is_current("2016022312", 1_456_231_584_000));
        assert!(!hour_is_current("2016022311", 1_456_231_584_000));
        // 12:00:30: the previous hour is still taken, 12:01:30 no longer.
        let noon = 1_456_228_800_000;
        assert!(hour_is_current("2016022311", noon + 30_000));
        assert!(!hour_is_current("2016022311", noon + 90_000));
    }

    #[test]
    fn codes() {
        assert_eq!(parse_code("IOTDA.000004"), Some(4));
        assert_eq!(parse_code("21101"), Some(21_101));
        assert_eq!(parse_code("IOTDA.000005"), None);
        assert_eq!(parse_code("x"), None);
        let r = error(TOKEN_INVALID);
        assert_eq!(r.status, 403);
        assert_eq!(error_with(Some(413), TOO_LARGE).status, 413);
        assert_eq!(error(AUTH_FAILED).status, 401);
    }

    #[test]
    fn auth_body_rules() {
        let ok = |s: &str| parse_auth_body(s.as_bytes()).is_some();
        assert!(ok(
            r#"{"device_id":"p_d","sign_type":0,"timestamp":"2016022312","password":"ab"}"#
        ));
        assert!(ok(
            r#"{"device_id":"p_d","sign_type":1,"timestamp":"2016022312","password":"ab"}"#
        ));
        for bad in [
            r#"{"device_id":"p_d","sign_type":2,"timestamp":"2016022312","password":"ab"}"#,
            r#"{"device_id":"p d","sign_type":0,"timestamp":"2016022312","password":"ab"}"#,
            r#"{"device_id":"p_d","sign_type":0,"timestamp":"201602231","password":"ab"}"#,
            r#"{"device_id":"p_d","sign_type":0,"timestamp":2016022312,"password":"ab"}"#,
            r#"{"device_id":"p_d","sign_type":0,"timestamp":"2016022312"}"#,
            r#"{"device_id":"p_d","sign_type":0,"timestamp":"2016022312","password":"ab","x":1}"#,
            "nope",
        ] {
            assert!(!ok(bad), "{bad}");
        }
    }

    #[test]
    fn publish_paths_and_bodies() {
        assert_eq!(
            parse_publish_path("p_d/sys/messages/up"),
            Some((
                "p_d".into(),
                "$oc/devices/p_d/sys/messages/up".into(),
                false
            ))
        );
        assert_eq!(
            parse_publish_path("p_d/sys/properties/report").map(|p| p.2),
            Some(true)
        );
        assert_eq!(parse_publish_path("p_d/sys/events/up"), None);
        assert_eq!(parse_publish_path("p.d/sys/messages/up"), None);
        assert!(is_properties_report(
            br#"{"services":[{"service_id":"s","properties":{"t":1}}]}"#
        ));
        assert!(!is_properties_report(br#"{"services":[]}"#));
        assert!(!is_properties_report(b"[1]"));
        assert!(!is_properties_report(
            br#"{"services":[{"service_id":"s"}]}"#
        ));
    }
}
