//! OSS PostObject (the upload half of seed 002), and the multipart form handling it shares
//! with the generic `/store-form/`.
//!
//! The body is parsed as it arrives: text fields (at most [`MAX_FIELD`] bytes each), then
//! the file part, which must be the last one, streamed through MD5 and SHA-256.

use std::io::Read;

use serde_json::Value;

use crate::clock;
use crate::faults;
use crate::http::{Request, Response};
use crate::multipart::{self, MpError, Multipart, PartHead, MAX_FIELD};
use crate::routes;
use crate::sign::{self, DigestValues, HmacAlg};
use crate::state::{Injected, Op, Shared, StoreKind, StoredObject, Subject};
use crate::upload::{self, UploadBody};

/// The bucket OTA packages go to.
pub const BUCKET: &str = "iotx-ota";

/// Most text fields accepted before the file part.
pub const MAX_FIELDS: usize = 64;

/// OSS errors: (Code, HTTP status, default Message). Also the names a `fail oss-post` or
/// `fail store-form` rule takes.
pub const ERRORS: &[(&str, u16, &str)] = &[
    (
        "AccessDenied",
        403,
        "Invalid according to Policy: Policy expired.",
    ),
    (
        "SignatureDoesNotMatch",
        403,
        "The request signature we calculated does not match the signature you provided.",
    ),
    (
        "InvalidAccessKeyId",
        403,
        "The OSS Access Key Id you provided does not exist in our records.",
    ),
    (
        "InvalidPolicyDocument",
        400,
        "Invalid Policy: the policy document cannot be decoded.",
    ),
    (
        "EntityTooLarge",
        400,
        "Your proposed upload exceeds the maximum allowed size.",
    ),
    (
        "EntityTooSmall",
        400,
        "Your proposed upload is smaller than the minimum allowed size.",
    ),
    (
        "MalformedPOSTRequest",
        400,
        "The body of your POST request is not well-formed multipart/form-data.",
    ),
    ("InvalidArgument", 400, "Invalid argument."),
    (
        "InternalError",
        500,
        "We encountered an internal error. Please try again.",
    ),
    (
        "ServiceUnavailable",
        503,
        "Please reduce your request rate.",
    ),
];

/// The `&'static` name of an OSS error code.
pub fn code_name(code: &str) -> Option<&'static str> {
    ERRORS.iter().map(|(c, _, _)| *c).find(|c| *c == code)
}

/// An OSS XML error with the code's status.
pub fn error(code: &str, message: Option<&str>) -> Response {
    let (status, default) = ERRORS
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or((400, "Error."), |(_, s, m)| (*s, *m));
    upload::xml_error(status, code, message.unwrap_or(default), "x-oss-request-id")
}

fn injected(fault: Injected) -> Response {
    match fault {
        Injected::Name(name) => error(name, None),
        Injected::Code(_) => error("InternalError", None),
        Injected::Http(status) => routes::http_fault(status),
    }
}

/// The policy JSON of an OTA upload.
pub fn policy_json(key: &str, expires_at_ms: i64) -> String {
    format!(
        "{{\"expiration\":\"{}\",\"conditions\":[{{\"bucket\":\"{BUCKET}\"}},[\"eq\",\"$key\",{}],\
         [\"content-length-range\",0,{}]]}}",
        clock::iso8601_ms(expires_at_ms),
        sign::json_str(key),
        crate::ota::MAX_FIRMWARE_BYTES
    )
}

/// base64(HMAC-SHA1(secret, policy base64 text)).
pub fn policy_signature(secret: &str, policy_b64: &str) -> String {
    sign::b64(&sign::hmac(
        HmacAlg::Sha1,
        secret.as_bytes(),
        policy_b64.as_bytes(),
    ))
}

/// A decoded policy.
#[derive(Debug)]
struct Policy {
    expires_at_ms: i64,
    /// (operator, field name without `$`, value), operator `eq` or `starts-with`.
    matches: Vec<(String, String, String)>,
    length_range: Option<(u64, u64)>,
}

fn parse_policy(b64: &str) -> Option<Policy> {
    let json: Value = serde_json::from_slice(&sign::b64_decode(b64)?).ok()?;
    let expires_at_ms = clock::parse_iso8601(json.get("expiration")?.as_str()?, true)?;
    let mut policy = Policy {
        expires_at_ms,
        matches: Vec::new(),
        length_range: None,
    };
    for condition in json.get("conditions")?.as_array()? {
        match condition {
            Value::Object(map) if map.len() == 1 => {
                let (name, value) = map.iter().next()?;
                policy.matches.push((
                    "eq".into(),
                    name.to_ascii_lowercase(),
                    value.as_str()?.to_string(),
                ));
            }
            Value::Array(items) if items.len() == 3 => {
                let op = items[0].as_str()?.to_ascii_lowercase();
                if op == "content-length-range" {
                    policy.length_range = Some((items[1].as_u64()?, items[2].as_u64()?));
                } else if op == "eq" || op == "starts-with" {
                    let field = items[1].as_str()?.strip_prefix('$')?.to_ascii_lowercase();
                    policy
                        .matches
                        .push((op, field, items[2].as_str()?.to_string()));
                } else {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(policy)
}

/// The value of a text field (names compare case-insensitively).
fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// How a form handler answers a multipart error.
fn mp_error(e: MpError, id_header: &'static str) -> Response {
    match e {
        MpError::Io(_) => Response::abort(),
        MpError::Malformed(why) => upload::xml_error(
            400,
            "MalformedPOSTRequest",
            &format!(
                "The body of your POST request is not well-formed multipart/form-data: {why}."
            ),
            id_header,
        ),
        MpError::FieldTooLarge => upload::xml_error(
            400,
            "InvalidArgument",
            &format!("A form field is longer than {MAX_FIELD} bytes."),
            id_header,
        ),
    }
}

/// Reads the text fields up to the file part (`is_file` decides which part that is).
fn read_fields<R: Read>(
    mp: &mut Multipart<R>,
    is_file: impl Fn(&PartHead) -> bool,
    id_header: &'static str,
) -> Result<(Vec<(String, String)>, PartHead), Response> {
    let mut fields = Vec::new();
    loop {
        let head = match mp.next_part() {
            Ok(Some(head)) => head,
            Ok(None) => {
                return Err(upload::xml_error(
                    400,
                    "InvalidArgument",
                    "The form has no file part.",
                    id_header,
                ))
            }
            Err(e) => return Err(mp_error(e, id_header)),
        };
        if is_file(&head) {
            return Ok((fields, head));
        }
        if fields.len() == MAX_FIELDS {
            return Err(upload::xml_error(
                400,
                "InvalidArgument",
                &format!("More than {MAX_FIELDS} form fields."),
                id_header,
            ));
        }
        let value = mp
            .read_text(MAX_FIELD)
            .map_err(|e| mp_error(e, id_header))?;
        fields.push((head.name, value));
    }
}

/// Streams the file part through the digests, then requires the closing delimiter (the file
/// must be the last part) and reads the epilogue, so that the whole body has arrived.
fn read_file<R: Read>(
    mp: &mut Multipart<R>,
    expected: u64,
    id_header: &'static str,
) -> Result<DigestValues, Response> {
    let mut digests = upload::BodyHasher::new(expected);
    mp.read_part(&mut |data| {
        digests.update(data);
        Ok(())
    })
    .map_err(|e| mp_error(e, id_header))?;
    match mp.next_part() {
        Ok(None) => {}
        Ok(Some(head)) => {
            return Err(upload::xml_error(
                400,
                "InvalidArgument",
                &format!(
                    "The file must be the last form field; field '{}' follows it.",
                    head.name
                ),
                id_header,
            ))
        }
        Err(e) => return Err(mp_error(e, id_header)),
    }
    mp.finish().map_err(|e| mp_error(e, id_header))?;
    Ok(digests.finish())
}

/// The success answer selected by `success_action_status` (200, 201, else 204).
fn success(
    status: Option<&str>,
    location: &str,
    bucket: &str,
    key: &str,
    md5: &str,
    id_header: &'static str,
) -> Response {
    let etag = format!("\"{}\"", md5.to_uppercase());
    let resp = match status {
        Some("200") => upload::empty(200),
        Some("201") => Response {
            content_type: Some("application/xml"),
            body: format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse>\n  \
                 <Bucket>{}</Bucket>\n  <Location>{}</Location>\n  <Key>{}</Key>\n  \
                 <ETag>{}</ETag>\n</PostResponse>\n",
                upload::xml_escape(bucket),
                upload::xml_escape(location),
                upload::xml_escape(key),
                upload::xml_escape(&etag)
            )
            .into_bytes(),
            ..Response::json(201, String::new())
        }
        .with_code(0),
        _ => upload::empty(204),
    };
    resp.with_header("ETag", etag)
        .with_header(id_header, upload::request_id())
}

/// `POST /oss/`: PostObject.
pub fn post_object(shared: &Shared, base: &str, req: &Request, body: &mut dyn Read) -> Response {
    const ID: &str = "x-oss-request-id";
    let Some(boundary) = multipart::boundary(req) else {
        return error(
            "MalformedPOSTRequest",
            Some("Content-Type must be multipart/form-data with a boundary."),
        );
    };
    let mut body = UploadBody::new(body);
    let mut mp = Multipart::new(&mut body, &boundary);
    let (fields, file) = match read_fields(&mut mp, |h| h.name.eq_ignore_ascii_case("file"), ID) {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let key = field(&fields, "key").map(str::to_string);
    let account = key
        .as_deref()
        .and_then(|k| shared.lock().oss_grant(k).map(|g| g.account.clone()));
    let subject = account.map_or(Subject::Any, Subject::Account);
    let mut faults = faults::take(shared, Op::OssPost, &subject);
    if let Some(resp) = faults.answer(injected) {
        return resp;
    }
    if let Some(resp) = faults.reject(mp.get_mut(), injected) {
        return resp;
    }
    if let Some(after) = faults.cut {
        mp.get_mut().arm_cut(after);
    }

    for name in ["OSSAccessKeyId", "policy", "Signature", "key"] {
        if field(&fields, name).is_none_or(str::is_empty) {
            return error(
                "InvalidArgument",
                Some(&format!("The form field '{name}' is required.")),
            );
        }
    }
    let key = key.unwrap_or_default();
    let policy_b64 = field(&fields, "policy").unwrap_or("");
    if field(&fields, "OSSAccessKeyId") != Some(shared.oss_key_id.as_str()) {
        return error("InvalidAccessKeyId", None);
    }
    let expected = policy_signature(&shared.oss_secret, policy_b64);
    if !sign::ct_eq(
        field(&fields, "Signature").unwrap_or("").as_bytes(),
        expected.as_bytes(),
    ) {
        return error("SignatureDoesNotMatch", None);
    }
    let Some(policy) = parse_policy(policy_b64) else {
        return error("InvalidPolicyDocument", None);
    };
    for (op, name, value) in &policy.matches {
        let actual = if name == "bucket" {
            Some(BUCKET)
        } else {
            field(&fields, name)
        };
        let ok = match op.as_str() {
            "eq" => actual == Some(value.as_str()),
            _ => actual.is_some_and(|a| a.starts_with(value.as_str())),
        };
        if !ok {
            return error(
                "AccessDenied",
                Some(&format!(
                    "Invalid according to Policy: Policy Condition failed: [\"{op}\", \"${name}\", {}]",
                    sign::json_str(value)
                )),
            );
        }
    }

    shared.lock().upload_started(StoreKind::Oss, &key);
    let digests = match read_file(&mut mp, req.content_length, ID) {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    drop(mp);
    if body.cut_armed() {
        return Response::abort();
    }
    // Checked once the whole body has arrived, like OSS: a slow upload can expire.
    if shared.now_ms() >= policy.expires_at_ms {
        return error("AccessDenied", None);
    }
    if let Some((min, max)) = policy.length_range {
        if digests.len > max {
            return error("EntityTooLarge", None);
        }
        if digests.len < min {
            return error("EntityTooSmall", None);
        }
    }
    let resp = success(
        field(&fields, "success_action_status"),
        &format!("{base}/oss/{key}"),
        BUCKET,
        &key,
        &digests.md5,
        ID,
    );
    shared.lock().store_object(
        StoreKind::Oss,
        &key,
        StoredObject {
            size: digests.len,
            md5: digests.md5,
            sha256: digests.sha256,
            fields,
            file_field: Some(file.name),
            filename: file.filename,
            content_type: file.content_type,
            ..StoredObject::default()
        },
    );
    resp
}

/// `POST /store-form/`: any multipart form with a file part last, no signature checks.
pub fn post_form(shared: &Shared, base: &str, req: &Request, body: &mut dyn Read) -> Response {
    const ID: &str = "x-amz-request-id";
    let mut faults = faults::take(shared, Op::StoreForm, &Subject::Any);
    if let Some(resp) = faults.answer(injected) {
        return resp;
    }
    if let Some(resp) = faults.reject(body, injected) {
        return resp;
    }
    let Some(boundary) = multipart::boundary(req) else {
        return error(
            "MalformedPOSTRequest",
            Some("Content-Type must be multipart/form-data with a boundary."),
        );
    };
    let mut body = UploadBody::new(body);
    if let Some(after) = faults.cut {
        body.arm_cut(after);
    }
    let mut mp = Multipart::new(&mut body, &boundary);
    // The file part: the one with a file name, or one named `file`.
    let is_file = |h: &PartHead| h.filename.is_some() || h.name.eq_ignore_ascii_case("file");
    let (fields, file) = match read_fields(&mut mp, is_file, ID) {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let filename = file.filename.clone().unwrap_or_default();
    let key = match field(&fields, "key") {
        Some(k) if !k.is_empty() => k.replace("${filename}", &filename),
        _ if !filename.is_empty() => filename.clone(),
        _ => file.name.clone(),
    };
    shared.lock().upload_started(StoreKind::StoreForm, &key);
    let digests = match read_file(&mut mp, req.content_length, ID) {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    drop(mp);
    if body.cut_armed() {
        return Response::abort();
    }
    let resp = success(
        field(&fields, "success_action_status"),
        &format!("{base}/store-form/{key}"),
        "store-form",
        &key,
        &digests.md5,
        ID,
    );
    shared.lock().store_object(
        StoreKind::StoreForm,
        &key,
        StoredObject {
            size: digests.len,
            md5: digests.md5,
            sha256: digests.sha256,
            fields,
            file_field: Some(file.name),
            filename: file.filename,
            content_type: file.content_type,
            ..StoredObject::default()
        },
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_round_trip() {
        let json = policy_json("ota/a/b.bin", 1_572_848_514_607);
        assert_eq!(
            json,
            r#"{"expiration":"2019-11-04T06:21:54.607Z","conditions":[{"bucket":"iotx-ota"},["eq","$key","ota/a/b.bin"],["content-length-range",0,1048576000]]}"#
        );
        let policy = parse_policy(&sign::b64(json.as_bytes())).unwrap();
        assert_eq!(policy.expires_at_ms, 1_572_848_514_607);
        assert_eq!(policy.length_range, Some((0, 1_048_576_000)));
        assert_eq!(policy.matches.len(), 2);
        assert!(parse_policy("not base64!").is_none());
        assert!(parse_policy(&sign::b64(b"{\"conditions\":[]}")).is_none());
        assert!(parse_policy(&sign::b64(
            br#"{"expiration":"2019-11-04T06:21:54Z","conditions":[["in","$key","x"]]}"#
        ))
        .is_none());
    }

    #[test]
    fn signature_and_errors() {
        // Independent value: printf %s eyJ4IjoxfQ== | openssl dgst -sha1 -hmac k -binary | base64
        assert_eq!(
            policy_signature("k", "eyJ4IjoxfQ=="),
            "BgTKI2AZBwQx+tjDy1wefWTdjxg="
        );
        assert_eq!(error("AccessDenied", None).status, 403);
        assert_eq!(error("EntityTooLarge", None).status, 400);
        assert_eq!(
            code_name("MalformedPOSTRequest"),
            Some("MalformedPOSTRequest")
        );
        assert_eq!(code_name("Nope"), None);
    }
}
