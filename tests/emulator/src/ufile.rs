//! UCloud device file upload, per the vendor document (seed 000): `POST /api/v1/url` on the
//! file host, then a `PUT` of the file to the returned UFile URL.

use std::io::Read;

use crate::faults;
use crate::http::{Request, Response};
use crate::routes::{self, percent_decode};
use crate::sign::{self, json_str, HmacAlg};
use crate::state::{Op, Shared, State, StoreKind, StoredObject, Subject, UfileGrant, UrlKind};
use crate::ucloud::{self, DEVICE_DISABLED, NO_SUCH_DEVICE, PARAM_ERROR, SIGNATURE_ERROR};
use crate::upload::{self, UploadBody, MAX_SMALL_BODY};
use crate::Cloud;

/// The emulated UFile bucket.
pub const BUCKET: &str = "uiotcore-emulator";

/// Longest accepted `FileName` in bytes.
pub const MAX_FILE_NAME: usize = 255;

pub const INVALID_SIGNATURE: i64 = -148_643;
pub const CONTENT_TYPE_MISMATCH: i64 = -148_654;
pub const MD5_MISMATCH: i64 = -148_655;
pub const LENGTH_MISMATCH: i64 = -148_656;

/// The UFile errors of the PUT: (RetCode, HTTP status, ErrMsg).
///
/// The document only links UFile's error-code list (`{"RetCode":…,"ErrMsg":…}` for any
/// status but 200). These numbers and messages are the emulator's own choice, in UFile's
/// style; clients should act on the HTTP status and treat the RetCode as opaque.
pub const ERRORS: &[(i64, u16, &str)] = &[
    (INVALID_SIGNATURE, 403, "invalid signature"),
    (INVALID_SIGNATURE, 403, "token expired"),
    (CONTENT_TYPE_MISMATCH, 400, "content type mismatch"),
    (MD5_MISMATCH, 400, "content md5 mismatch"),
    (LENGTH_MISMATCH, 400, "content length mismatch"),
];

/// `{"RetCode":<code>,"ErrMsg":"<msg>"}` with the table's status; `msg` picks among the
/// entries of one code (the first when it matches none).
pub fn error(code: i64, msg: &str) -> Response {
    let entry = ERRORS
        .iter()
        .find(|(c, _, m)| *c == code && *m == msg)
        .or_else(|| ERRORS.iter().find(|(c, _, _)| *c == code));
    let (status, msg) = entry.map_or((400, msg), |(_, s, m)| (*s, *m));
    Response::json(
        status,
        format!("{{\"RetCode\":{code},\"ErrMsg\":{}}}", json_str(msg)),
    )
    .with_code(code)
}

/// True when `code` is one of [`ERRORS`].
pub fn is_code(code: i64) -> bool {
    ERRORS.iter().any(|(c, _, _)| *c == code)
}

struct UrlBody {
    product: String,
    device: String,
    file_name: String,
    file_size: u64,
    md5: String,
    content_type: String,
}

/// Exactly the six documented keys with their types; None otherwise.
fn parse_url_body(raw: &[u8]) -> Option<UrlBody> {
    let value: serde_json::Value = serde_json::from_slice(raw).ok()?;
    let object = value.as_object()?;
    let text = |key: &str| object.get(key)?.as_str().map(str::to_string);
    let (product, device) = (text("ProductSN")?, text("DeviceSN")?);
    let (file_name, md5, content_type) = (text("FileName")?, text("MD5")?, text("Content-Type")?);
    // A JSON integer: serde_json gives u64 only for integer literals without fraction or
    // exponent.
    let file_size = object.get("FileSize")?.as_u64()?;
    let known = [
        "ProductSN",
        "DeviceSN",
        "FileName",
        "FileSize",
        "MD5",
        "Content-Type",
    ];
    if object.keys().any(|k| !known.contains(&k.as_str())) {
        return None;
    }
    if product.is_empty() || device.is_empty() || content_type.is_empty() {
        return None;
    }
    if file_name.is_empty() || file_name.len() > MAX_FILE_NAME || file_name.contains('/') {
        return None;
    }
    if !sign::is_hex(&md5, 32, false) {
        return None;
    }
    Some(UrlBody {
        product,
        device,
        file_name,
        file_size,
        md5,
        content_type,
    })
}

/// The grant's `Authorization` token: JWT-shaped, signed with the emulator's key; its
/// random `jti` makes every grant distinct.
fn grant_token(key: &[u8], bucket_key: &str, body: &UrlBody, iat: i64, exp: i64) -> String {
    let header = sign::b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = format!(
        "{{\"Bucket\":{},\"Key\":{},\"FileSize\":{},\"ContentMD5\":{},\"ContentType\":{},\
         \"exp\":{exp},\"iat\":{iat},\"jti\":\"{}\"}}",
        json_str(BUCKET),
        json_str(bucket_key),
        body.file_size,
        json_str(&body.md5),
        json_str(&body.content_type),
        sign::hex(&sign::random_bytes(8))
    );
    let signing_input = format!("{header}.{}", sign::b64url(claims.as_bytes()));
    let mac = sign::hmac(HmacAlg::Sha256, key, signing_input.as_bytes());
    format!("{signing_input}.{}", sign::b64url(&mac))
}

/// `POST /api/v1/url`.
pub fn url(shared: &Shared, base: &str, req: &Request, body: &mut dyn Read) -> Response {
    if req.target.contains('?')
        || req.single_header("content-type") != Ok(Some("application/json"))
        || req.content_length > MAX_SMALL_BODY
    {
        return ucloud::error(PARAM_ERROR);
    }
    let Ok(raw) = routes::read_all(body, req.content_length) else {
        return Response::abort();
    };
    let Some(params) = parse_url_body(&raw) else {
        return ucloud::error(PARAM_ERROR);
    };
    let key = (Cloud::Ucloud, params.product.clone(), params.device.clone());
    let subject = Subject::Device(key.clone());
    if let Some(resp) = faults::take(shared, Op::FileUrl, &subject).answer(ucloud::injected) {
        return resp;
    }
    let Some((secret, disabled)) = shared
        .lock()
        .device(&key)
        .map(|d| (d.secret.clone(), d.disabled))
    else {
        return ucloud::error(NO_SUCH_DEVICE);
    };
    let expected = sign::hmac_hex(HmacAlg::Sha256, secret.as_bytes(), &raw);
    let signed = matches!(
        req.single_header("authorization"),
        Ok(Some(sig)) if sign::ct_eq(sig.as_bytes(), expected.as_bytes())
    );
    if !signed {
        return ucloud::error(SIGNATURE_ERROR);
    }
    if disabled {
        return ucloud::error(DEVICE_DISABLED);
    }

    let object_key = format!("{}/{}/{}", params.product, params.device, params.file_name);
    let url_path = format!(
        "/ufile/{BUCKET}/{}/{}/{}",
        sign::pct_encode(&params.product),
        sign::pct_encode(&params.device),
        sign::pct_encode(&params.file_name)
    );
    let now_ms = shared.now_ms();
    let mut state = shared.lock();
    let expires_at_ms = State::expiry_ms(now_ms, state.url_ttl_secs(UrlKind::Ufile));
    let token = grant_token(
        &shared.token_key,
        &object_key,
        &params,
        now_ms.div_euclid(1000),
        expires_at_ms.div_euclid(1000),
    );
    let authorization = format!("Ucloud {token}");
    state.add_ufile_grant(
        grant_path(&params.product, &params.device, &params.file_name),
        UfileGrant {
            device: key,
            key: object_key,
            authorization: authorization.clone(),
            file_size: params.file_size,
            md5: params.md5,
            content_type: params.content_type,
            expires_at_ms,
        },
        now_ms,
    );
    drop(state);
    Response::json(
        200,
        format!(
            "{{\"RetCode\":0,\"URL\":{},\"Authorization\":{}}}",
            json_str(&format!("{base}{url_path}")),
            json_str(&authorization)
        ),
    )
    .with_code(0)
}

/// The decoded path a grant is filed under.
fn grant_path(product: &str, device: &str, file_name: &str) -> String {
    format!("/ufile/{BUCKET}/{product}/{device}/{file_name}")
}

/// The device a UFile path names (`/ufile/<bucket>/<product>/<device>/<name>`).
fn path_device(path: &str) -> Option<(Cloud, String, String)> {
    let mut parts = path.strip_prefix("/ufile/")?.splitn(4, '/');
    let (_bucket, product, device, _name) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    Some((Cloud::Ucloud, product.to_string(), device.to_string()))
}

/// The UFile `PUT`.
pub fn put(shared: &Shared, req: &Request, body: &mut dyn Read) -> Response {
    let path = percent_decode(req.path()).unwrap_or_default();
    let authorization = req.single_header("authorization").ok().flatten();
    let grant = {
        let state = shared.lock();
        state
            .ufile_grants(&path)
            .iter()
            .rev()
            .find(|g| {
                authorization.is_some_and(|a| sign::ct_eq(a.as_bytes(), g.authorization.as_bytes()))
            })
            .cloned()
    };
    let subject = grant
        .as_ref()
        .map(|g| g.device.clone())
        .or_else(|| path_device(&path))
        .map_or(Subject::Any, Subject::Device);
    let mut faults = faults::take(shared, Op::FilePut, &subject);
    if let Some(resp) = faults.answer(injected) {
        return resp;
    }
    if let Some(resp) = faults.reject(body, injected) {
        return resp;
    }

    let Some(grant) = grant else {
        return error(INVALID_SIGNATURE, "invalid signature");
    };
    if shared.now_ms() >= grant.expires_at_ms {
        return error(INVALID_SIGNATURE, "token expired");
    }
    if req.single_header("content-type") != Ok(Some(grant.content_type.as_str())) {
        return error(CONTENT_TYPE_MISMATCH, "content type mismatch");
    }
    if req.single_header("content-md5") != Ok(Some(grant.md5.as_str())) {
        return error(MD5_MISMATCH, "content md5 mismatch");
    }
    if let Err(resp) = upload::require_length(req) {
        return resp;
    }
    if req.content_length != grant.file_size {
        return error(LENGTH_MISMATCH, "content length mismatch");
    }

    shared.lock().upload_started(StoreKind::Ufile, &grant.key);
    let mut body = UploadBody::new(body);
    if let Some(after) = faults.cut {
        body.arm_cut(after);
    }
    let Ok(digests) = upload::stream_body(&mut body, req.content_length) else {
        return Response::abort();
    };
    if body.cut_armed() {
        return Response::abort();
    }
    if digests.md5 != grant.md5 {
        return error(MD5_MISMATCH, "content md5 mismatch");
    }
    shared.lock().store_object(
        StoreKind::Ufile,
        &grant.key,
        StoredObject {
            size: digests.len,
            md5: digests.md5,
            sha256: digests.sha256,
            headers: req.headers().to_vec(),
            content_type: Some(grant.content_type),
            ..StoredObject::default()
        },
    );
    Response::json(200, "{}".into()).with_code(0)
}

fn injected(fault: crate::state::Injected) -> Response {
    use crate::state::Injected;
    match fault {
        Injected::Code(code) => error(code, ""),
        Injected::Name(_) => error(INVALID_SIGNATURE, ""),
        Injected::Http(status) => routes::http_fault(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_body_rules() {
        let ok = |s: &str| parse_url_body(s.as_bytes()).is_some();
        let base = r#""ProductSN":"p","DeviceSN":"d","MD5":"5bd57f342dd954e3c1cebac6c6660a79","Content-Type":"plain/text""#;
        assert!(ok(&format!(
            r#"{{{base},"FileName":"file1.txt","FileSize":102654}}"#
        )));
        assert!(ok(&format!(r#"{{{base},"FileName":"a","FileSize":0}}"#)));
        assert!(!ok(&format!(r#"{{{base},"FileName":"a","FileSize":-1}}"#)));
        assert!(!ok(&format!(r#"{{{base},"FileName":"a","FileSize":1.5}}"#)));
        assert!(!ok(&format!(r#"{{{base},"FileName":"a","FileSize":"1"}}"#)));
        assert!(!ok(&format!(r#"{{{base},"FileName":"","FileSize":1}}"#)));
        assert!(!ok(&format!(r#"{{{base},"FileName":"a/b","FileSize":1}}"#)));
        let long = "n".repeat(256);
        assert!(!ok(&format!(
            r#"{{{base},"FileName":"{long}","FileSize":1}}"#
        )));
        assert!(!ok(&format!(
            r#"{{{base},"FileName":"a","FileSize":1,"Extra":1}}"#
        )));
        assert!(!ok(
            r#"{"ProductSN":"p","DeviceSN":"d","MD5":"5BD57F342DD954E3C1CEBAC6C6660A79","Content-Type":"x","FileName":"a","FileSize":1}"#
        ));
        assert!(!ok(
            r#"{"ProductSN":"p","DeviceSN":"d","MD5":"5bd57f342dd954e3c1cebac6c6660a79","Content-Type":"","FileName":"a","FileSize":1}"#
        ));
        assert!(!ok(r#"{"ProductSN":"p"}"#));
    }

    #[test]
    fn error_table() {
        let r = error(INVALID_SIGNATURE, "token expired");
        assert_eq!(r.status, 403);
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"RetCode":-148643,"ErrMsg":"token expired"}"#
        );
        let r = error(INVALID_SIGNATURE, "");
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"RetCode":-148643,"ErrMsg":"invalid signature"}"#
        );
        assert_eq!(error(LENGTH_MISMATCH, "").status, 400);
        assert!(is_code(MD5_MISMATCH));
        assert!(!is_code(171));
    }
}
