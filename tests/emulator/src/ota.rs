//! Alibaba Cloud IoT `GenerateOTAUploadURL` (seed 002): an RPC-style API call (Version
//! `2018-01-20`) signed with an AccessKey, answering the OSS PostObject form parameters.

use std::collections::BTreeMap;
use std::io::Read;

use crate::clock;
use crate::faults;
use crate::http::{Request, Response};
use crate::oss;
use crate::routes;
use crate::sign::{self, json_str, HmacAlg};
use crate::state::{Injected, Op, OssGrant, Shared, State, Subject, UrlKind};
use crate::upload::{self, MAX_SMALL_BODY};

/// The API version this action belongs to.
pub const VERSION: &str = "2018-01-20";

/// The only action served.
pub const ACTION: &str = "GenerateOTAUploadURL";

/// `Timestamp` tolerance of the RPC gateway.
pub const TIMESTAMP_TOLERANCE_MS: i64 = 15 * 60 * 1000;

/// The suffixes the document lists.
pub const FILE_SUFFIXES: &[&str] = &["bin", "apk", "tar", "gz", "tar.gz", "zip", "gzip"];

/// Largest upload the policy allows (the document: 1,000 MB).
pub const MAX_FIRMWARE_BYTES: u64 = 1_048_576_000;

/// IoT-level code for an invalid `FileSuffix` or empty `IotInstanceId` (HTTP 200,
/// `Success:false`). The document names only `iot.system.SystemException`; this code is
/// the emulator's choice from the platform's common codes.
pub const INVALID_PARAMETER_CODE: &str = "iot.common.InvalidFormattedParameter";

/// Gateway errors: (Code, HTTP status, Message). Also the names a `fail ota-url` rule takes.
pub const GATEWAY_ERRORS: &[(&str, u16, &str)] = &[
    (
        "InvalidAccessKeyId.NotFound",
        404,
        "Specified access key is not found.",
    ),
    (
        "SignatureDoesNotMatch",
        400,
        "Specified signature is not matched with our calculation.",
    ),
    (
        "SignatureNonceUsed",
        400,
        "Specified signature nonce was used already.",
    ),
    (
        "InvalidTimeStamp.Expired",
        400,
        "Specified time stamp or date value is expired.",
    ),
    (
        "MissingParameter",
        400,
        "A mandatory input parameter is not supplied.",
    ),
    ("InvalidParameter", 400, "A parameter is not valid."),
    (
        "InvalidAction.NotFound",
        400,
        "Specified api is not found, please check your url and method.",
    ),
    (
        "Throttling.User",
        400,
        "Request was denied due to user flow control.",
    ),
    (
        "ServiceUnavailable",
        503,
        "The request has failed due to a temporary failure of the server.",
    ),
    (
        "InternalError",
        500,
        "The request processing has failed due to some unknown error.",
    ),
];

/// IoT-level errors (HTTP 200, `"Success":false`): (Code, ErrorMessage).
pub const IOT_ERRORS: &[(&str, &str)] = &[
    ("iot.system.SystemException", "A system exception occurred."),
    (INVALID_PARAMETER_CODE, "The parameter format is invalid."),
];

/// The `&'static` name of a gateway or IoT error code.
pub fn code_name(code: &str) -> Option<&'static str> {
    GATEWAY_ERRORS
        .iter()
        .map(|(c, _, _)| *c)
        .chain(IOT_ERRORS.iter().map(|(c, _)| *c))
        .find(|c| *c == code)
}

/// A gateway error: `{"RequestId","HostId","Code","Message"}` with the code's status.
pub fn gateway_error(code: &str, message: Option<&str>) -> Response {
    let (status, default) = GATEWAY_ERRORS
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or((400, "Error."), |(_, s, m)| (*s, *m));
    Response::json(
        status,
        format!(
            "{{\"RequestId\":\"{}\",\"HostId\":\"127.0.0.1\",\"Code\":{},\"Message\":{}}}",
            upload::request_id(),
            json_str(code),
            json_str(message.unwrap_or(default))
        ),
    )
}

/// An IoT-level failure: HTTP 200 with `"Success":false`.
pub fn iot_error(code: &str, message: Option<&str>) -> Response {
    let default = IOT_ERRORS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("Error.", |(_, m)| *m);
    Response::json(
        200,
        format!(
            "{{\"RequestId\":\"{}\",\"Success\":false,\"Code\":{},\"ErrorMessage\":{}}}",
            upload::request_id(),
            json_str(code),
            json_str(message.unwrap_or(default))
        ),
    )
}

fn injected(fault: Injected) -> Response {
    match fault {
        Injected::Name(name) if IOT_ERRORS.iter().any(|(c, _)| *c == name) => iot_error(name, None),
        Injected::Name(name) => gateway_error(name, None),
        Injected::Code(_) => iot_error("iot.system.SystemException", None),
        Injected::Http(status) => routes::http_fault(status),
    }
}

/// The RPC StringToSign: `METHOD&%2F&` + percentEncode(the sorted, encoded `k=v&…` of every
/// parameter but `Signature`).
pub fn string_to_sign(method: &str, params: &BTreeMap<String, String>) -> String {
    let joined = params
        .iter()
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", sign::pct_encode(k), sign::pct_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!("{method}&%2F&{}", sign::pct_encode(&joined))
}

/// base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign)).
pub fn rpc_signature(secret: &str, string_to_sign: &str) -> String {
    let key = format!("{secret}&");
    sign::b64(&sign::hmac(
        HmacAlg::Sha1,
        key.as_bytes(),
        string_to_sign.as_bytes(),
    ))
}

fn missing(name: &str) -> Response {
    gateway_error(
        "MissingParameter",
        Some(&format!(
            "The input parameter \"{name}\" that is mandatory for processing this request is not supplied."
        )),
    )
}

fn invalid(name: &str) -> Response {
    gateway_error(
        "InvalidParameter",
        Some(&format!("The specified parameter \"{name}\" is not valid.")),
    )
}

/// The request's parameters: the query string, plus a form body on POST. A name given twice
/// is an error (its name is returned).
fn collect_params(
    req: &Request,
    body: &mut dyn Read,
) -> Result<BTreeMap<String, String>, Response> {
    let mut list = match req.target.split_once('?') {
        Some((_, query)) => upload::parse_urlencoded(query).ok_or_else(|| invalid("query"))?,
        None => Vec::new(),
    };
    if req.method == "POST" && req.content_length > 0 {
        if !upload::media_type_is(req, "application/x-www-form-urlencoded") {
            return Err(invalid("Content-Type"));
        }
        if req.content_length > MAX_SMALL_BODY {
            return Err(invalid("body"));
        }
        let raw = routes::read_all(body, req.content_length).map_err(|_| Response::abort())?;
        let text = std::str::from_utf8(&raw).map_err(|_| invalid("body"))?;
        list.extend(upload::parse_urlencoded(text).ok_or_else(|| invalid("body"))?);
    }
    let mut params = BTreeMap::new();
    for (name, value) in list {
        if params.contains_key(&name) {
            return Err(invalid(&name));
        }
        params.insert(name, value);
    }
    Ok(params)
}

/// `GET|POST /?Action=GenerateOTAUploadURL&…`.
pub fn generate_upload_url(
    shared: &Shared,
    base: &str,
    req: &Request,
    body: &mut dyn Read,
) -> Response {
    let params = match collect_params(req, body) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let get = |name: &str| params.get(name).map(String::as_str);
    for name in [
        "Action",
        "Format",
        "Version",
        "AccessKeyId",
        "SignatureMethod",
        "Timestamp",
        "SignatureVersion",
        "SignatureNonce",
        "RegionId",
        "Signature",
    ] {
        if get(name).is_none_or(str::is_empty) {
            return missing(name);
        }
    }
    let checks = [
        ("Format", get("Format") == Some("JSON")),
        ("Version", get("Version") == Some(VERSION)),
        (
            "SignatureMethod",
            get("SignatureMethod") == Some("HMAC-SHA1"),
        ),
        ("SignatureVersion", get("SignatureVersion") == Some("1.0")),
    ];
    if let Some((name, _)) = checks.iter().find(|(_, ok)| !ok) {
        return invalid(name);
    }
    let Some(timestamp_ms) = clock::parse_iso8601(get("Timestamp").unwrap_or(""), false) else {
        return invalid("Timestamp");
    };

    let access_key_id = get("AccessKeyId").unwrap_or("").to_string();
    let subject = Subject::Account(access_key_id.clone());
    if let Some(resp) = faults::take(shared, Op::OtaUrl, &subject).answer(injected) {
        return resp;
    }
    let Some(secret) = shared.lock().accounts.get(&access_key_id).cloned() else {
        return gateway_error("InvalidAccessKeyId.NotFound", None);
    };
    let to_sign = string_to_sign(&req.method, &params);
    let expected = rpc_signature(&secret, &to_sign);
    if !sign::ct_eq(
        get("Signature").unwrap_or("").as_bytes(),
        expected.as_bytes(),
    ) {
        return gateway_error(
            "SignatureDoesNotMatch",
            Some(&format!(
                "Specified signature is not matched with our calculation. server string to sign is:{to_sign}"
            )),
        );
    }
    let now_ms = shared.now_ms();
    if (i128::from(timestamp_ms) - i128::from(now_ms)).abs() > i128::from(TIMESTAMP_TOLERANCE_MS) {
        return gateway_error("InvalidTimeStamp.Expired", None);
    }
    if !shared
        .lock()
        .use_nonce(&access_key_id, get("SignatureNonce").unwrap_or(""))
    {
        return gateway_error("SignatureNonceUsed", None);
    }
    if get("Action") != Some(ACTION) {
        return gateway_error("InvalidAction.NotFound", None);
    }

    let suffix = get("FileSuffix").unwrap_or("bin");
    if !FILE_SUFFIXES.contains(&suffix) {
        return iot_error(
            INVALID_PARAMETER_CODE,
            Some("FileSuffix must be one of bin, apk, tar, gz, tar.gz, zip, gzip."),
        );
    }
    if get("IotInstanceId") == Some("") {
        return iot_error(INVALID_PARAMETER_CODE, Some("IotInstanceId is empty."));
    }

    let key = format!(
        "ota/{}/c{}.{suffix}",
        sign::hex(&md5_of(access_key_id.as_bytes())),
        upload::random_id(24)
    );
    let mut state = shared.lock();
    let expires_at_ms = State::expiry_ms(now_ms, state.url_ttl_secs(UrlKind::Oss));
    state.add_oss_grant(
        key.clone(),
        OssGrant {
            account: access_key_id,
            expires_at_ms,
        },
        now_ms,
    );
    drop(state);
    let policy = oss::policy_json(&key, expires_at_ms);
    let policy_b64 = sign::b64(policy.as_bytes());
    let signature = oss::policy_signature(&shared.oss_secret, &policy_b64);
    let host = format!("{base}/oss");
    Response::json(
        200,
        format!(
            "{{\"RequestId\":\"{}\",\"Success\":true,\"Data\":{{\"Key\":{},\"Host\":{},\
             \"Policy\":{},\"OSSAccessKeyId\":{},\"Signature\":{},\"ObjectStorage\":\"OSS\",\
             \"UtcCreate\":\"{}\",\"FirmwareUrl\":{}}}}}",
            upload::request_id(),
            json_str(&key),
            json_str(&host),
            json_str(&policy_b64),
            json_str(&shared.oss_key_id),
            json_str(&signature),
            clock::iso8601_ms(now_ms),
            json_str(&format!("{host}/{key}"))
        ),
    )
    .with_code(0)
}

fn md5_of(data: &[u8]) -> Vec<u8> {
    let mut d = sign::Digests::default();
    d.update(data);
    d.finish().md5_raw.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ecs_describe_regions_vector() {
        let p = params(&[
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]);
        let sts = string_to_sign("GET", &p);
        assert_eq!(
            sts,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML\
             %26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf\
             %26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z\
             %26Version%3D2014-05-26"
        );
        assert_eq!(
            rpc_signature("testsecret", &sts),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    /// The IoT Pub vector is published as a signature of a GET StringToSign: signing the
    /// same parameters with POST gives a different value (`efr3PwqG3ANN5Vs4hsRnEZh2K2Q=`).
    #[test]
    fn iot_pub_vector_is_a_get() {
        let mut p = params(&[
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
        ]);
        // Signature itself is never signed.
        p.insert("Signature".into(), "ignored".into());
        assert_eq!(
            rpc_signature("testsecret", &string_to_sign("GET", &p)),
            "Y9eWn4nF8QPh3c4zAFkM/k/u7eA="
        );
        assert_eq!(
            rpc_signature("testsecret", &string_to_sign("POST", &p)),
            "efr3PwqG3ANN5Vs4hsRnEZh2K2Q="
        );
    }

    #[test]
    fn error_tables() {
        assert_eq!(code_name("Throttling.User"), Some("Throttling.User"));
        assert_eq!(
            code_name("iot.system.SystemException"),
            Some("iot.system.SystemException")
        );
        assert_eq!(code_name("Nope"), None);
        assert_eq!(gateway_error("ServiceUnavailable", None).status, 503);
        assert_eq!(
            gateway_error("InvalidAccessKeyId.NotFound", None).status,
            404
        );
        let r = iot_error("iot.system.SystemException", None);
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["Success"], false);
        assert_eq!(v["Code"], "iot.system.SystemException");
    }
}
