//! Alibaba Cloud IoT HTTP device auth and publish, per the vendor document (seed 003).

use std::collections::BTreeMap;
use std::io::Read;

use crate::faults;
use crate::http::{Request, Response};
use crate::routes::{self, MAX_AUTH_BODY, MAX_PAYLOAD};
use crate::sign::{self, json_str, HmacAlg};
use crate::state::{ConnFault, Injected, Message, Op, ReplyKind, Shared, Subject, TokenCheck};
use crate::Cloud;

pub const SUCCESS: u32 = 0;
pub const PARAM_ERROR: u32 = 10_001;
pub const AUTH_CHECK_ERROR: u32 = 20_000;
pub const TOKEN_EXPIRED: u32 = 20_001;
pub const TOKEN_NULL: u32 = 20_002;
pub const CHECK_TOKEN_ERROR: u32 = 20_003;

/// Auth `timestamp` validity (the document: 15 minutes).
pub const TIMESTAMP_TOLERANCE_MS: i64 = 15 * 60 * 1000;

/// Longest accepted `clientId` (the document: within 64 characters).
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// code → message, as the document lists them.
const MESSAGES: &[(u32, &str)] = &[
    (SUCCESS, "success"),
    (10_000, "common error"),
    (PARAM_ERROR, "param error"),
    (AUTH_CHECK_ERROR, "auth check error"),
    (TOKEN_EXPIRED, "token is expired"),
    (TOKEN_NULL, "token is null"),
    (CHECK_TOKEN_ERROR, "check token error"),
    (20_004, "update session error"),
    (30_001, "publish message error"),
    (40_000, "request too many"),
];

/// The document's message for `code`.
pub fn message(code: u32) -> Option<&'static str> {
    MESSAGES.iter().find(|(c, _)| *c == code).map(|(_, m)| *m)
}

/// HTTP 200 with `{"code":<code>,"message":"<document message>"}`.
pub fn error(code: u32) -> Response {
    let text = message(code).unwrap_or("common error");
    Response::json(
        200,
        format!("{{\"code\":{code},\"message\":{}}}", json_str(text)),
    )
    .with_code(code.into())
}

/// The answer of a `fail` rule (codes were checked against the table when armed).
pub fn injected(fault: Injected) -> Response {
    match fault {
        Injected::Code(code) => error(u32::try_from(code).unwrap_or(PARAM_ERROR)),
        Injected::Name(_) => error(PARAM_ERROR),
        Injected::Http(status) => routes::http_fault(status),
    }
}

/// The signed content: every submitted parameter except `version`, `sign` and
/// `signmethod`, sorted by name, each written as name followed by value, no separators.
pub fn sign_content(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "version" | "sign" | "signmethod"))
        .map(|(k, v)| format!("{k}{v}"))
        .collect()
}

/// Lowercase hex HMAC of `content` under the device secret.
pub fn sign(alg: HmacAlg, secret: &str, content: &str) -> String {
    sign::hmac_hex(alg, secret.as_bytes(), content.as_bytes())
}

struct AuthBody {
    /// Every submitted parameter, values as text.
    params: BTreeMap<String, String>,
    alg: HmacAlg,
    timestamp_ms: Option<i64>,
}

impl AuthBody {
    fn get(&self, name: &str) -> &str {
        self.params.get(name).map_or("", String::as_str)
    }
}

fn parse_auth_body(raw: &[u8]) -> Option<AuthBody> {
    let value: serde_json::Value = serde_json::from_slice(raw).ok()?;
    let mut params = BTreeMap::new();
    let mut timestamp_ms = None;
    for (key, value) in value.as_object()? {
        let text = match key.as_str() {
            "productKey" | "deviceName" | "clientId" | "sign" | "version" | "signmethod" => {
                value.as_str()?.to_string()
            }
            "timestamp" => {
                let (ms, text) = routes::json_timestamp(value)?;
                timestamp_ms = Some(ms);
                text
            }
            _ => return None,
        };
        params.insert(key.clone(), text);
    }
    for required in ["productKey", "deviceName", "clientId", "sign"] {
        if params.get(required).is_none_or(|v| v.is_empty()) {
            return None;
        }
    }
    if params
        .get("clientId")
        .is_some_and(|id| id.chars().count() > MAX_CLIENT_ID_CHARS)
    {
        return None;
    }
    if params.get("version").is_some_and(|v| v != "default") {
        return None;
    }
    let alg = match params.get("signmethod").map(String::as_str) {
        None | Some("hmacmd5") => HmacAlg::Md5,
        Some("hmacsha1") => HmacAlg::Sha1,
        Some("hmacsha256") => HmacAlg::Sha256,
        Some(_) => return None,
    };
    Some(AuthBody {
        params,
        alg,
        timestamp_ms,
    })
}

/// `POST /auth`.
pub fn auth(shared: &Shared, req: &Request, body: &mut dyn Read) -> Response {
    if req.single_header("content-type") != Ok(Some("application/json"))
        || req.content_length > MAX_AUTH_BODY
    {
        return error(PARAM_ERROR);
    }
    let Ok(raw) = routes::read_all(body, req.content_length) else {
        return Response::abort();
    };
    let Some(params) = parse_auth_body(&raw) else {
        return error(PARAM_ERROR);
    };
    let key = (
        Cloud::Aliyun,
        params.get("productKey").to_string(),
        params.get("deviceName").to_string(),
    );
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
        return error(AUTH_CHECK_ERROR);
    };
    let expected = sign(params.alg, &secret, &sign_content(&params.params));
    let submitted = params.get("sign").to_ascii_lowercase();
    if !sign::ct_eq(submitted.as_bytes(), expected.as_bytes()) || disabled {
        return error(AUTH_CHECK_ERROR);
    }
    let now_ms = shared.now_ms();
    if let Some(ts) = params.timestamp_ms {
        if (i128::from(ts) - i128::from(now_ms)).abs() > i128::from(TIMESTAMP_TOLERANCE_MS) {
            return error(AUTH_CHECK_ERROR);
        }
    }

    let token = sign::hex(&sign::random_bytes(16));
    let mut state = shared.lock();
    let ttl_ms = i64::try_from(state.token_ttl_secs(Cloud::Aliyun))
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    state.issue_token(token.clone(), key.clone(), now_ms.saturating_add(ttl_ms));
    if let Some(d) = state.device_mut(&key) {
        d.auths += 1;
    }
    drop(state);
    Response::json(
        200,
        format!(
            "{{\"code\":0,\"message\":\"success\",\"info\":{{\"token\":{}}}}}",
            json_str(&token)
        ),
    )
    .with_code(0)
}

/// `POST /topic/${topic}`.
pub fn publish(shared: &Shared, req: &Request, topic: &str, body: &mut dyn Read) -> Response {
    let Ok(token) = routes::token_header(req, "password") else {
        return error(PARAM_ERROR);
    };
    let now_ms = shared.now_ms();
    let check = token.map(|t| shared.lock().check_token(Cloud::Aliyun, t, now_ms));
    let owner = match &check {
        Some(TokenCheck::Valid(k)) | Some(TokenCheck::Expired(k)) => Some(k.clone()),
        _ => routes::topic_device(Cloud::Aliyun, topic),
    };
    if let Some(owner) = &owner {
        routes::count_request(shared, Op::Publish, owner);
        let subject = Subject::Device(owner.clone());
        if let Some(resp) = faults::take(shared, Op::Publish, &subject).answer(injected) {
            return resp;
        }
    }

    let device = match check {
        None => return error(TOKEN_NULL),
        Some(TokenCheck::Unknown) => return error(CHECK_TOKEN_ERROR),
        Some(TokenCheck::Expired(_)) => return error(TOKEN_EXPIRED),
        Some(TokenCheck::Valid(device)) => device,
    };
    if req.single_header("content-type") != Ok(Some("application/octet-stream"))
        || req.content_length > MAX_PAYLOAD
        || !routes::acl_allows(&device, topic)
    {
        return error(PARAM_ERROR);
    }
    // The publish table has no "disabled" code: a disabled device's token no longer
    // resolves to an identity.
    let reply_data = match shared.lock().device(&device) {
        Some(d) if !d.disabled => d.reply_data.clone(),
        _ => return error(CHECK_TOKEN_ERROR),
    };
    let Ok((len, sha256)) = routes::hash_payload(body, req.content_length) else {
        return Response::abort();
    };
    if faults::armed() == Some(ConnFault::Reply(ReplyKind::BigId)) {
        // Accepted, but not recorded: the reply (an id above 2^64) is made by `faults::apply`.
        return Response::json(200, String::new()).with_code(0);
    }

    let mut state = shared.lock();
    let id = state.next_message_id(Cloud::Aliyun);
    state.record_message(
        &device,
        Message {
            id,
            topic: topic.to_string(),
            len,
            sha256,
        },
    );
    drop(state);
    // `id` is written as an exact integer (it is above 2^53).
    let data = reply_data.map_or_else(String::new, |d| format!(",\"data\":{}", json_str(&d)));
    Response::json(
        200,
        format!("{{\"code\":0,\"message\":\"success\",\"info\":{{\"messageId\":{id}{data}}}}}"),
    )
    .with_code(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_sign_example() {
        let params: BTreeMap<String, String> = [
            ("version", "default"),
            ("signmethod", "hmacsha1"),
            ("sign", "x"),
            ("timestamp", "789"),
            ("productKey", "pk"),
            ("deviceName", "device"),
            ("clientId", "12345"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let content = sign_content(&params);
        assert_eq!(
            content,
            "clientId12345deviceNamedeviceproductKeypktimestamp789"
        );
        // Independent values (openssl dgst -hmac secret).
        assert_eq!(
            sign(HmacAlg::Sha1, "secret", &content),
            "fafd82a3d602b37fb0fa8b7892f24a477f851a14"
        );
        assert_eq!(
            sign(HmacAlg::Md5, "secret", &content),
            "14b198324fe55e1d3c88f2e705e201ee"
        );
        assert_eq!(sign(HmacAlg::Sha256, "secret", &content).len(), 64);
    }

    #[test]
    fn auth_body_rules() {
        let ok = |s: &str| parse_auth_body(s.as_bytes()).is_some();
        let base = r#""productKey":"pk","deviceName":"d","clientId":"c","sign":"00""#;
        assert!(ok(&format!("{{{base}}}")));
        assert!(ok(&format!(
            "{{{base},\"version\":\"default\",\"timestamp\":789}}"
        )));
        assert!(ok(&format!("{{{base},\"signmethod\":\"hmacsha256\"}}")));
        assert!(!ok(&format!("{{{base},\"signmethod\":\"hmacsha512\"}}")));
        assert!(!ok(&format!("{{{base},\"version\":\"v2\"}}")));
        assert!(!ok(&format!("{{{base},\"other\":\"x\"}}")));
        assert!(!ok(&format!("{{{base},\"timestamp\":\"7x\"}}")));
        assert!(!ok(r#"{"productKey":"pk","deviceName":"d","sign":"00"}"#));
        let long = "c".repeat(65);
        assert!(!ok(&format!(
            r#"{{"productKey":"pk","deviceName":"d","clientId":"{long}","sign":"00"}}"#
        )));
    }
}
