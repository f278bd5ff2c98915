//! The generic store behind the library's presigned-PUT and POST-form calls: `PUT
//! /store/<key>` takes any headers and checks the digests it is given; `POST /store-form/`
//! is in [`crate::oss::post_form`].

use std::io::Read;

use crate::agc::{s3_error, s3_injected};
use crate::faults;
use crate::http::{Request, Response};
use crate::routes::percent_decode;
use crate::sign;
use crate::state::{Op, Shared, StoreKind, StoredObject, Subject};
use crate::upload::{self, UploadBody};

/// A declared `Content-MD5`: RFC 1864 base64 or 32 hex digits → the raw digest.
fn parse_content_md5(value: &str) -> Option<[u8; 16]> {
    if value.len() == 32 && sign::is_hex(value, 32, true) {
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&value[2 * i..2 * i + 2], 16).ok()?;
        }
        return Some(out);
    }
    sign::b64_decode(value)?.try_into().ok()
}

/// `PUT /store/<key>`.
pub fn put(shared: &Shared, req: &Request, body: &mut dyn Read) -> Response {
    let mut faults = faults::take(shared, Op::StorePut, &Subject::Any);
    if let Some(resp) = faults.answer(s3_injected) {
        return resp;
    }
    if let Some(resp) = faults.reject(body, s3_injected) {
        return resp;
    }
    let key = percent_decode(req.path().trim_start_matches("/store/")).unwrap_or_default();
    if key.is_empty() {
        return s3_error("InvalidArgument", Some("The object key is empty."));
    }
    if !req.has_content_length() {
        return s3_error("MissingContentLength", None);
    }
    let md5 = match req.single_header("content-md5") {
        Ok(None) => None,
        Ok(Some(v)) => match parse_content_md5(v) {
            Some(d) => Some(d),
            None => return s3_error("InvalidDigest", None),
        },
        Err(()) => return s3_error("InvalidDigest", None),
    };
    let sha256 = match req.single_header("x-amz-content-sha256") {
        Ok(None) | Ok(Some("UNSIGNED-PAYLOAD")) => None,
        Ok(Some(v)) if sign::is_hex(v, 64, true) => Some(v.to_ascii_lowercase()),
        _ => {
            return s3_error(
                "InvalidArgument",
                Some("x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a SHA-256 in hex."),
            )
        }
    };

    shared.lock().upload_started(StoreKind::Store, &key);
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
    if md5.is_some_and(|m| m != digests.md5_raw) {
        return s3_error("BadDigest", None);
    }
    if sha256.is_some_and(|s| s != digests.sha256) {
        return s3_error("XAmzContentSHA256Mismatch", None);
    }
    let etag = format!("\"{}\"", digests.md5);
    shared.lock().store_object(
        StoreKind::Store,
        &key,
        StoredObject {
            size: digests.len,
            md5: digests.md5,
            sha256: digests.sha256,
            headers: req.headers().to_vec(),
            content_type: req
                .single_header("content-type")
                .ok()
                .flatten()
                .map(str::to_string),
            ..StoredObject::default()
        },
    );
    upload::empty(200)
        .with_header("ETag", etag)
        .with_header("x-amz-request-id", upload::request_id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_md5_forms() {
        let raw = [
            0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1,
            0x7f, 0x72,
        ];
        assert_eq!(parse_content_md5("kAFQmDzST7DWlj99KOF/cg=="), Some(raw));
        assert_eq!(
            parse_content_md5("900150983cd24fb0d6963f7d28e17f72"),
            Some(raw)
        );
        assert_eq!(
            parse_content_md5("900150983CD24FB0D6963F7D28E17F72"),
            Some(raw)
        );
        assert_eq!(parse_content_md5("abc"), None);
        assert_eq!(parse_content_md5("YWJj"), None);
    }
}
