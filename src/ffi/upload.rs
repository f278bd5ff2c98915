//! Firmware and package publishing (`iothttp_aliyun_account`, `iothttp_agc_client`) and the
//! generic presigned PUT / POST-form uploads. Each is a cargo feature (`aliyun-ota`, `agc`,
//! `generic-uploads`); without it its functions return `IOTHTTP_E_UNSUPPORTED`.

// In a build without some of the features, their functions ignore their arguments.
#![cfg_attr(
    not(all(feature = "aliyun-ota", feature = "agc", feature = "generic-uploads")),
    allow(unused_variables, unused_imports)
)]

use std::ffi::{c_char, c_void};

use super::client::iothttp_client;
use super::source::{iothttp_progress_fn, iothttp_source, CProgress};
use super::{
    arg_out, arg_ref, arg_str, check_room, copy_cstr, give, guard, guard_quiet, iothttp_result,
    set_str, take,
};
use crate::client::Client;
use crate::error::{Error, Result};
#[cfg(feature = "agc")]
use crate::stores::agc::AgcClient;
#[cfg(feature = "aliyun-ota")]
use crate::stores::aliyun_ota::AliyunAccount;
use crate::transfer::source::{Progress, Source};

/// Room for any FirmwareUrl plus its NUL: the minimum `cap` of `iothttp_aliyun_ota_upload`.
pub const IOTHTTP_URL_LEN: usize = 2048;
/// Room for any AGC objectId plus its NUL: the minimum `cap` of `iothttp_agc_upload`.
pub const IOTHTTP_OBJECT_ID_LEN: usize = 256;
#[cfg(feature = "aliyun-ota")]
const _: () = assert!(IOTHTTP_URL_LEN == crate::stores::aliyun_ota::MAX_URL + 1);
#[cfg(feature = "agc")]
const _: () = assert!(IOTHTTP_OBJECT_ID_LEN == crate::stores::agc::MAX_OBJECT_ID + 1);

/// An Alibaba Cloud account (AccessKey) for OTA firmware uploads. Thread-safe; keeps its
/// client's transport alive.
pub struct iothttp_aliyun_account {
    #[cfg(feature = "aliyun-ota")]
    inner: AliyunAccount,
}

/// An AppGallery Connect API client. Thread-safe; keeps its client's transport alive; caches
/// its access token.
pub struct iothttp_agc_client {
    #[cfg(feature = "agc")]
    inner: AgcClient,
}

/// The body of a constructor taking a client, an id and a secret.
unsafe fn new_with_credentials<T>(
    client: *mut iothttp_client,
    id: (*const c_char, &str),
    secret: (*const c_char, &str),
    out: *mut *mut T,
    make: impl FnOnce(&Client, &str, &str) -> Result<T>,
) -> iothttp_result {
    guard(|| {
        let client = unsafe { arg_ref(client, "client") }?;
        let id = unsafe { arg_str(id.0, id.1) }?;
        let secret = unsafe { arg_str(secret.0, secret.1) }?;
        arg_out(out, "out")?;
        let value = make(&client.inner, id, secret)?;
        unsafe { give(out, value) };
        Ok(())
    })
}

/// Run `f` with the C progress callback as a Rust one.
pub(crate) fn with_progress<T>(
    progress: iothttp_progress_fn,
    userdata: *mut c_void,
    f: impl FnOnce(Option<Progress<'_>>) -> Result<T>,
) -> Result<T> {
    let mut cp = CProgress::new(progress, userdata);
    let mut call = |sent: u64, total: u64| cp.call(sent, total);
    let p: Option<Progress<'_>> = if progress.is_some() {
        Some(&mut call)
    } else {
        None
    };
    f(p)
}

/// An optional text output (NULL: not wanted): buffer, capacity, length, and the least
/// capacity accepted, checked before any work.
struct OutText<'a> {
    buf: *mut c_char,
    cap: usize,
    len_out: *mut usize,
    name: &'a str,
    min: usize,
    what: &'a str,
}

/// The body of an upload that returns a text: check the output buffer, take the source,
/// run `upload` with the progress callback, write the result.
unsafe fn upload_into(
    src: *mut iothttp_source,
    progress: (iothttp_progress_fn, *mut c_void),
    out: OutText<'_>,
    upload: impl FnOnce(&mut Source, Option<Progress<'_>>) -> Result<String>,
) -> Result<()> {
    let src = unsafe { arg_ref(src, "src") }?;
    if !out.buf.is_null() {
        unsafe {
            check_room(
                out.buf.cast(),
                out.cap,
                out.min,
                out.len_out,
                (out.name, "cap"),
                out.what,
            )
        }?;
    }
    let mut src = src.lock()?;
    let value = with_progress(progress.0, progress.1, |p| upload(&mut src, p))?;
    unsafe {
        if !out.buf.is_null() {
            copy_cstr(out.buf, &value);
        }
        if !out.len_out.is_null() {
            *out.len_out = value.len();
        }
    }
    Ok(())
}

/// An account for `iothttp_aliyun_ota_upload`. The secret is copied and never logged.
#[no_mangle]
pub unsafe extern "C" fn iothttp_aliyun_account_new(
    client: *mut iothttp_client,
    access_key_id: *const c_char,
    access_key_secret: *const c_char,
    out: *mut *mut iothttp_aliyun_account,
) -> iothttp_result {
    with_feature!("aliyun-ota", "Alibaba Cloud OTA firmware upload", {
        unsafe {
            new_with_credentials(
                client,
                (access_key_id, "access_key_id"),
                (access_key_secret, "access_key_secret"),
                out,
                |c, id, secret| {
                    Ok(iothttp_aliyun_account {
                        inner: AliyunAccount::new(c, id, secret)?,
                    })
                },
            )
        }
    })
}

/// Release an account. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn iothttp_aliyun_account_free(acct: *mut iothttp_aliyun_account) {
    guard_quiet((), || unsafe { take(acct) })
}

/// Call the IoT API at `base_url` instead of `https://iot.<region>.aliyuncs.com`.
#[no_mangle]
pub unsafe extern "C" fn iothttp_aliyun_account_set_endpoint(
    acct: *mut iothttp_aliyun_account,
    base_url: *const c_char,
) -> iothttp_result {
    with_feature!("aliyun-ota", "Alibaba Cloud OTA firmware upload", {
        unsafe {
            set_str(acct, "acct", base_url, "base_url", |a, v| {
                a.inner.set_endpoint(v)
            })
        }
    })
}

/// The region (`RegionId` and the default endpoint's host); default "cn-shanghai".
#[no_mangle]
pub unsafe extern "C" fn iothttp_aliyun_account_set_region(
    acct: *mut iothttp_aliyun_account,
    region: *const c_char,
) -> iothttp_result {
    with_feature!("aliyun-ota", "Alibaba Cloud OTA firmware upload", {
        unsafe { set_str(acct, "acct", region, "region", |a, v| a.inner.set_region(v)) }
    })
}

/// The IoT instance id of an enterprise instance; "" for the public instance (default).
#[no_mangle]
pub unsafe extern "C" fn iothttp_aliyun_account_set_instance_id(
    acct: *mut iothttp_aliyun_account,
    iot_instance_id: *const c_char,
) -> iothttp_result {
    with_feature!("aliyun-ota", "Alibaba Cloud OTA firmware upload", {
        unsafe {
            set_str(acct, "acct", iot_instance_id, "iot_instance_id", |a, v| {
                a.inner.set_instance_id(v)
            })
        }
    })
}

/// Upload a firmware file for OTA: GenerateOTAUploadURL (RPC-signed), then OSS PostObject
/// streaming `src` as the last form part with an exact Content-Length. `file_suffix` is one
/// of bin, apk, tar, gz, tar.gz, zip, gzip (NULL: bin). Files over 1000 MB fail with
/// `IOTHTTP_E_TOO_LARGE` before anything is sent; an expired policy gets fresh parameters
/// and one retry. On success the FirmwareUrl (for CreateOTAFirmware) is written to
/// `firmware_url` (NUL-terminated; NULL if not wanted; `cap` at least `IOTHTTP_URL_LEN`,
/// checked before the upload) and its length to `*len_out` (may be NULL). `progress` may be
/// NULL.
#[no_mangle]
pub unsafe extern "C" fn iothttp_aliyun_ota_upload(
    acct: *mut iothttp_aliyun_account,
    file_suffix: *const c_char,
    src: *mut iothttp_source,
    progress: iothttp_progress_fn,
    userdata: *mut c_void,
    firmware_url: *mut c_char,
    cap: usize,
    len_out: *mut usize,
) -> iothttp_result {
    with_feature!("aliyun-ota", "Alibaba Cloud OTA firmware upload", {
        guard(|| {
            let acct = unsafe { arg_ref(acct, "acct") }?;
            let suffix = if file_suffix.is_null() {
                None
            } else {
                Some(unsafe { arg_str(file_suffix, "file_suffix") }?)
            };
            unsafe {
                upload_into(
                    src,
                    (progress, userdata),
                    OutText {
                        buf: firmware_url,
                        cap,
                        len_out,
                        name: "firmware_url",
                        min: IOTHTTP_URL_LEN,
                        what: "a firmware URL (IOTHTTP_URL_LEN)",
                    },
                    |src, p| acct.inner.ota_upload(suffix, src, p),
                )
            }
        })
    })
}

/// A client for `iothttp_agc_upload`. The secret is copied and never logged.
#[no_mangle]
pub unsafe extern "C" fn iothttp_agc_client_new(
    client: *mut iothttp_client,
    client_id: *const c_char,
    client_secret: *const c_char,
    out: *mut *mut iothttp_agc_client,
) -> iothttp_result {
    with_feature!("agc", "AppGallery Connect package upload", {
        unsafe {
            new_with_credentials(
                client,
                (client_id, "client_id"),
                (client_secret, "client_secret"),
                out,
                |c, id, secret| {
                    Ok(iothttp_agc_client {
                        inner: AgcClient::new(c, id, secret)?,
                    })
                },
            )
        }
    })
}

/// Release an AGC client. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn iothttp_agc_client_free(agc: *mut iothttp_agc_client) {
    guard_quiet((), || unsafe { take(agc) })
}

/// Use another API host (default `https://connect-api.cloud.huawei.com`; `-dre`, `-dra`,
/// `-drru` for other sites). Token and API calls always use the same host.
#[no_mangle]
pub unsafe extern "C" fn iothttp_agc_client_set_endpoint(
    agc: *mut iothttp_agc_client,
    base_url: *const c_char,
) -> iothttp_result {
    with_feature!("agc", "AppGallery Connect package upload", {
        unsafe {
            set_str(agc, "agc", base_url, "base_url", |a, v| {
                a.inner.set_endpoint(v)
            })
        }
    })
}

/// Upload an app package: client-credentials token (cached until it expires), upload URL
/// for `app_id`/`file_name` with the file's SHA-256 (computed in one pass unless given) and
/// length, then a PUT with exactly the returned headers. Limits (4 GB; 150 MB for .aab) are
/// checked before anything is sent. On success the objectId is written to `object_id`
/// (NUL-terminated; NULL if not wanted; `cap` at least `IOTHTTP_OBJECT_ID_LEN`, checked
/// before the upload) and its length to `*len_out` (may be NULL).
#[no_mangle]
pub unsafe extern "C" fn iothttp_agc_upload(
    agc: *mut iothttp_agc_client,
    app_id: *const c_char,
    file_name: *const c_char,
    src: *mut iothttp_source,
    progress: iothttp_progress_fn,
    userdata: *mut c_void,
    object_id: *mut c_char,
    cap: usize,
    len_out: *mut usize,
) -> iothttp_result {
    with_feature!("agc", "AppGallery Connect package upload", {
        guard(|| {
            let agc = unsafe { arg_ref(agc, "agc") }?;
            let app_id = unsafe { arg_str(app_id, "app_id") }?;
            let file_name = unsafe { arg_str(file_name, "file_name") }?;
            unsafe {
                upload_into(
                    src,
                    (progress, userdata),
                    OutText {
                        buf: object_id,
                        cap,
                        len_out,
                        name: "object_id",
                        min: IOTHTTP_OBJECT_ID_LEN,
                        what: "an object id (IOTHTTP_OBJECT_ID_LEN)",
                    },
                    |src, p| agc.inner.upload(app_id, file_name, src, p),
                )
            }
        })
    })
}

/// C strings of an array argument.
pub(crate) unsafe fn arg_str_array<'a>(
    items: *const *const c_char,
    n: usize,
    name: &str,
) -> Result<Vec<&'a str>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if items.is_null() {
        return Err(Error::invalid(format!(
            "argument '{name}' is NULL but its count is {n}"
        )));
    }
    if n > 4096 {
        return Err(Error::invalid(format!(
            "argument '{name}' has more than 4096 items"
        )));
    }
    (0..n)
        .map(|i| unsafe { arg_str(*items.add(i), &format!("{name}[{i}]")) })
        .collect()
}

/// Upload `src` with `PUT url` to any store that hands out presigned URLs (S3, COS, OBS, ...).
/// `headers` holds `n_headers` strings "Name: value" sent as given (Content-Length is added;
/// Transfer-Encoding, Connection, Expect are refused). A 2xx status is success; any other
/// fails (`IOTHTTP_E_HTTP`, the status in `iothttp_last_http_status()`). Retried from the
/// start of a rewindable source after a broken connection, 503 or 429; redirects are never
/// followed.
#[no_mangle]
pub unsafe extern "C" fn iothttp_put(
    client: *mut iothttp_client,
    url: *const c_char,
    headers: *const *const c_char,
    n_headers: usize,
    src: *mut iothttp_source,
    progress: iothttp_progress_fn,
    userdata: *mut c_void,
) -> iothttp_result {
    with_feature!(
        "generic-uploads",
        "the generic presigned PUT / POST-form upload",
        {
            guard(|| {
                let client = unsafe { arg_ref(client, "client") }?;
                let url = unsafe { arg_str(url, "url") }?;
                let lines = unsafe { arg_str_array(headers, n_headers, "headers") }?;
                let src = unsafe { arg_ref(src, "src") }?;
                let mut src = src.lock()?;
                let parsed = crate::transfer::upload::parse_header_lines(&lines, src.size())?;
                let pairs: Vec<(&str, &str)> = parsed
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                with_progress(progress, userdata, |p| {
                    client.inner.put(url, &pairs, &mut src, p)
                })
            })
        }
    )
}

/// Upload `src` in a `multipart/form-data` POST to `url` (a presigned POST policy of S3, OSS,
/// COS, ...): the `n_fields` text fields `names[i]`=`values[i]` in order, then the file part
/// `file_field` with `file_name` and `content_type` (NULL: application/octet-stream) last,
/// with an exact Content-Length (never chunked). A 2xx status is success.
#[no_mangle]
pub unsafe extern "C" fn iothttp_post_form(
    client: *mut iothttp_client,
    url: *const c_char,
    names: *const *const c_char,
    values: *const *const c_char,
    n_fields: usize,
    file_field: *const c_char,
    file_name: *const c_char,
    content_type: *const c_char,
    src: *mut iothttp_source,
    progress: iothttp_progress_fn,
    userdata: *mut c_void,
) -> iothttp_result {
    with_feature!(
        "generic-uploads",
        "the generic presigned PUT / POST-form upload",
        {
            guard(|| {
                let client = unsafe { arg_ref(client, "client") }?;
                let url = unsafe { arg_str(url, "url") }?;
                let names = unsafe { arg_str_array(names, n_fields, "names") }?;
                let values = unsafe { arg_str_array(values, n_fields, "values") }?;
                let file_field = unsafe { arg_str(file_field, "file_field") }?;
                let file_name = unsafe { arg_str(file_name, "file_name") }?;
                let content_type = if content_type.is_null() {
                    "application/octet-stream"
                } else {
                    unsafe { arg_str(content_type, "content_type") }?
                };
                let src = unsafe { arg_ref(src, "src") }?;
                let fields: Vec<(&str, &str)> = names.into_iter().zip(values).collect();
                let mut src = src.lock()?;
                with_progress(progress, userdata, |p| {
                    let file = crate::transfer::upload::FormFile {
                        field: file_field,
                        file_name,
                        content_type,
                    };
                    client.inner.post_form(url, &fields, file, &mut src, p)
                })
            })
        }
    )
}
