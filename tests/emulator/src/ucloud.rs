//! UCloud IoT-Core HTTP device auth and publish, per the vendor document (seed 001).

use std::io::Read;

use crate::faults;
use crate::http::{Request, Response};
use crate::routes::{self, MAX_AUTH_BODY, MAX_PAYLOAD};
use crate::sign::{self, json_str, HmacAlg};
use crate::state::{ConnFault, Injected, Message, Op, ReplyKind, Shared, Subject, TokenCheck};
use crate::Cloud;

pub const SUCCESS: u32 = 0;
pub const SIGNATURE_ERROR: u32 = 171;
pub const PARAM_ERROR: u32 = 230;
pub const TIMESTAMP_ERROR: u32 = 100_070;
pub const NO_SUCH_DEVICE: u32 = 100_071;
pub const DEVICE_DISABLED: u32 = 100_072;
pub const BAD_TOKEN: u32 = 100_073;
pub const TOKEN_EXPIRED: u32 = 100_074;
pub const ACL_FAILED: u32 = 100_075;
pub const TOO_LONG: u32 = 100_076;

/// Auth `Timestamp` tolerance (the document: 3600 seconds).
pub const TIMESTAMP_TOLERANCE_MS: i64 = 3_600_000;

/// RetCode → Message, as the document lists them.
const MESSAGES: &[(u32, &str)] = &[
    (SUCCESS, "Success"),
    (
        130,
        "Service is temporarily unavailable, we are working hard to restore it, please retry later",
    ),
    (SIGNATURE_ERROR, "Signature error"),
    (PARAM_ERROR, "Parameter error, please reenter"),
    (TIMESTAMP_ERROR, "Timestamp error"),
    (NO_SUCH_DEVICE, "Product or device not exist"),
    (DEVICE_DISABLED, "Device disabled"),
    (BAD_TOKEN, "Check token error"),
    (TOKEN_EXPIRED, "Token is expired"),
    (ACL_FAILED, "ACL Failed"),
    (TOO_LONG, "Maximum request length exceeded"),
    (100_077, "Publish message Failed"),
];

/// The document's message for `code`.
pub fn message(code: u32) -> Option<&'static str> {
    MESSAGES.iter().find(|(c, _)| *c == code).map(|(_, m)| *m)
}

/// HTTP 200 with `{"RetCode":<code>,"Message":"<document message>"}`.
pub fn error(code: u32) -> Response {
    let text = message(code).unwrap_or("Unknown error");
    Response::json(
        200,
        format!("{{\"RetCode\":{code},\"Message\":{}}}", json_str(text)),
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

struct AuthBody {
    product: String,
    device: String,
    timestamp_ms: Option<i64>,
}

/// `{"ProductSN":"…","DeviceSN":"…"[,"Timestamp":…]}` and nothing else.
fn parse_auth_body(raw: &[u8]) -> Option<AuthBody> {
    let value: serde_json::Value = serde_json::from_slice(raw).ok()?;
    let (mut product, mut device, mut timestamp_ms) = (None, None, None);
    for (key, value) in value.as_object()? {
        match key.as_str() {
            "ProductSN" => product = Some(value.as_str()?.to_string()),
            "DeviceSN" => device = Some(value.as_str()?.to_string()),
            "Timestamp" => timestamp_ms = Some(routes::json_timestamp(value)?.0),
            _ => return None,
        }
    }
    let (product, device) = (product?, device?);
    if product.is_empty() || device.is_empty() {
        return None;
    }
    Some(AuthBody {
        product,
        device,
        timestamp_ms,
    })
}

/// The JWT-shaped token of the document's example, signed with the emulator's key.
fn make_token(key: &[u8], product: &str, device: &str, iat: i64, exp: i64) -> String {
    let header = sign::b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = format!(
        "{{\"DeviceSN\":{},\"ProductSN\":{},\"exp\":{exp},\"iat\":{iat}}}",
        json_str(device),
        json_str(product)
    );
    let signing_input = format!("{header}.{}", sign::b64url(claims.as_bytes()));
    let mac = sign::hmac(HmacAlg::Sha256, key, signing_input.as_bytes());
    format!("{signing_input}.{}", sign::b64url(&mac))
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
    let key = (Cloud::Ucloud, params.product, params.device);
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
        return error(NO_SUCH_DEVICE);
    };
    let expected = sign::hmac_hex(HmacAlg::Sha256, secret.as_bytes(), &raw);
    let signed = matches!(
        req.single_header("authorization"),
        Ok(Some(sig)) if sign::ct_eq(sig.as_bytes(), expected.as_bytes())
    );
    if !signed {
        return error(SIGNATURE_ERROR);
    }
    if disabled {
        return error(DEVICE_DISABLED);
    }
    let now_ms = shared.now_ms();
    if let Some(ts) = params.timestamp_ms {
        if (i128::from(ts) - i128::from(now_ms)).abs() > i128::from(TIMESTAMP_TOLERANCE_MS) {
            return error(TIMESTAMP_ERROR);
        }
    }

    let mut state = shared.lock();
    let ttl = i64::try_from(state.token_ttl_secs(Cloud::Ucloud)).unwrap_or(i64::MAX / 1000);
    let iat = now_ms.div_euclid(1000);
    let exp = iat.saturating_add(ttl);
    let token = make_token(&shared.token_key, &key.1, &key.2, iat, exp);
    state.issue_token(token.clone(), key.clone(), exp.saturating_mul(1000));
    if let Some(d) = state.device_mut(&key) {
        d.auths += 1;
    }
    drop(state);
    Response::json(
        200,
        format!(
            "{{\"RetCode\":0,\"Message\":\"Success\",\"Token\":{}}}",
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
    let check = token.map(|t| shared.lock().check_token(Cloud::Ucloud, t, now_ms));
    let owner = match &check {
        Some(TokenCheck::Valid(k)) | Some(TokenCheck::Expired(k)) => Some(k.clone()),
        _ => routes::topic_device(Cloud::Ucloud, topic),
    };
    if let Some(owner) = &owner {
        routes::count_request(shared, Op::Publish, owner);
        let subject = Subject::Device(owner.clone());
        if let Some(resp) = faults::take(shared, Op::Publish, &subject).answer(injected) {
            return resp;
        }
    }

    let device = match check {
        None | Some(TokenCheck::Unknown) => return error(BAD_TOKEN),
        Some(TokenCheck::Expired(_)) => return error(TOKEN_EXPIRED),
        Some(TokenCheck::Valid(device)) => device,
    };
    if req.single_header("content-type") != Ok(Some("application/octet-stream")) {
        return error(PARAM_ERROR);
    }
    if req.content_length > MAX_PAYLOAD {
        return error(TOO_LONG);
    }
    if !routes::acl_allows(&device, topic) {
        return error(ACL_FAILED);
    }
    match shared.lock().device(&device).map(|d| d.disabled) {
        None => return error(NO_SUCH_DEVICE),
        Some(true) => return error(DEVICE_DISABLED),
        Some(false) => {}
    }
    let Ok((len, sha256)) = routes::hash_payload(body, req.content_length) else {
        return Response::abort();
    };
    if faults::armed() == Some(ConnFault::Reply(ReplyKind::BigId)) {
        // Accepted, but not recorded: the reply (an id above 2^64) is made by `faults::apply`.
        return Response::json(200, String::new()).with_code(0);
    }

    let mut state = shared.lock();
    let id = state.next_message_id(Cloud::Ucloud);
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
    Response::json(
        200,
        format!("{{\"RetCode\":0,\"Message\":\"Success\",\"MessageID\":\"{id}\"}}"),
    )
    .with_code(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_body_rules() {
        let ok = |s: &str| parse_auth_body(s.as_bytes()).is_some();
        assert!(ok(r#"{"ProductSN":"p","DeviceSN":"d"}"#));
        assert!(ok(
            r#"{"ProductSN":"p","DeviceSN":"d","Timestamp":"1501668289957"}"#
        ));
        assert!(ok(
            r#"{"ProductSN":"p","DeviceSN":"d","Timestamp":1501668289957}"#
        ));
        assert!(!ok(r#"{"ProductSN":"p"}"#));
        assert!(!ok(r#"{"ProductSN":"p","DeviceSN":1}"#));
        assert!(!ok(r#"{"ProductSN":"p","DeviceSN":"d","Extra":"x"}"#));
        assert!(!ok(r#"{"ProductSN":"p","DeviceSN":"d","Timestamp":"x"}"#));
        assert!(!ok(r#"["ProductSN"]"#));
        assert!(!ok("not json"));
    }

    #[test]
    fn token_shape_matches_the_document() {
        let t = make_token(
            b"k",
            "g4wfarq30yzxay23",
            "test1",
            1_566_454_099,
            1_567_058_899,
        );
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        // The document's example token has exactly these first two parts.
        assert_eq!(parts[0], "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9");
        assert_eq!(
            parts[1],
            "eyJEZXZpY2VTTiI6InRlc3QxIiwiUHJvZHVjdFNOIjoiZzR3ZmFycTMweXp4YXkyMyIsImV4cCI6MTU2NzA1ODg5OSwiaWF0IjoxNTY2NDU0MDk5fQ"
        );
    }
}
