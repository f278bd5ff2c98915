//! `iothttp_device`: a device identity (auth, token, publish).

use std::collections::HashMap;
use std::ffi::{c_char, c_void};
use std::sync::Mutex;
use std::thread::ThreadId;

use super::client::iothttp_client;
use super::source::{iothttp_progress_fn, iothttp_source};
use super::upload::with_progress;
use super::{
    arg_bytes, arg_out, arg_ref, arg_str, check_room, copy_cstr, give, guard, guard_quiet,
    iothttp_result, set_str, take, write_cstr,
};
use crate::clouds::{Cloud, SignMethod, MAX_MESSAGE_ID_DIGITS};
use crate::device::Device;
use crate::error::{Error, ErrorKind};

/// Room for any message id plus its NUL: the minimum `message_id_cap` of
/// `iothttp_device_publish`.
pub const IOTHTTP_MESSAGE_ID_LEN: usize = 32;
const _: () = assert!(IOTHTTP_MESSAGE_ID_LEN == MAX_MESSAGE_ID_DIGITS + 1);

/// Reply data is kept for at most this many threads per device.
const MAX_REPLY_THREADS: usize = 256;

/// The device clouds.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum iothttp_cloud {
    /// UCloud IoT-Core: product = ProductSN, device = DeviceSN, secret = DeviceSecret.
    IOTHTTP_CLOUD_UCLOUD = 0,
    /// Alibaba Cloud IoT: product = productKey, device = deviceName, secret = deviceSecret.
    IOTHTTP_CLOUD_ALIYUN = 1,
    /// Huawei Cloud IoTDA (HTTPS device access): product = product id, device = device id
    /// (1..128 of A-Z a-z 0-9 _ -, e.g. "<product_id>_<node_id>"), secret = device secret.
    /// No public endpoint: `iothttp_device_set_endpoint` with the instance's HTTPS access
    /// address is required before auth or publish (else `IOTHTTP_E_INVALID_ARG`). Topics:
    /// `$oc/devices/<device id>/sys/messages/up` (a message, any body up to 1 MB) and
    /// `$oc/devices/<device id>/sys/properties/report` (properties: the body must be JSON
    /// `{"services":[{"service_id":"...","properties":{...}}]}`, checked before sending); any
    /// other topic or another device's id is `IOTHTTP_E_INVALID_ARG`. Publishes are sent as
    /// `application/json`; no message id is returned (an empty string is written).
    /// `iothttp_device_send_timestamp(dev, true)` selects sign_type 1 (the platform checks
    /// the hour of the timestamp; off: sign_type 0). Feature `iotda`.
    IOTHTTP_CLOUD_HUAWEI_IOTDA = 2,
}

/// How an Aliyun device signs its auth request.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum iothttp_sign_method {
    /// hmacmd5 (Aliyun default).
    IOTHTTP_SIGN_HMAC_MD5 = 0,
    /// hmacsha1.
    IOTHTTP_SIGN_HMAC_SHA1 = 1,
    /// hmacsha256 (the only method of UCloud).
    IOTHTTP_SIGN_HMAC_SHA256 = 2,
}

/// A device identity. Thread-safe; calls on one device serialise only around token refresh.
/// Keeps its client's transport alive.
pub struct iothttp_device {
    inner: Device,
    /// What the last successful publish on each thread received (Aliyun `info.data`).
    replies: Mutex<HashMap<ThreadId, Vec<u8>>>,
}

impl iothttp_device {
    fn remember_reply(&self, data: Vec<u8>) {
        let me = std::thread::current().id();
        let mut map = self.replies.lock().unwrap_or_else(|e| e.into_inner());
        if data.is_empty() {
            map.remove(&me);
            return;
        }
        if map.len() >= MAX_REPLY_THREADS && !map.contains_key(&me) {
            // Threads that published once and went away: forget the oldest-looking entries.
            map.clear();
        }
        map.insert(me, data);
    }

    fn reply(&self) -> Vec<u8> {
        let me = std::thread::current().id();
        let map = self.replies.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&me).cloned().unwrap_or_default()
    }
}

/// Make a device on `cloud` (an `iothttp_cloud`). `product`, `device` and `secret` are
/// copied: 1..256 bytes each; product and device without whitespace, '/' or control
/// characters. Endpoints default to the public ones (UCloud cn-sh2, Aliyun cn-shanghai). Nothing
/// is sent until the first auth or publish. On success `*out` receives a handle to release
/// with `iothttp_device_free`.
#[no_mangle]
pub unsafe extern "C" fn iothttp_device_new(
    client: *mut iothttp_client,
    cloud: u32,
    product: *const c_char,
    device: *const c_char,
    secret: *const c_char,
    out: *mut *mut iothttp_device,
) -> iothttp_result {
    guard(|| {
        let client = unsafe { arg_ref(client, "client") }?;
        let cloud = match cloud {
            0 => Cloud::UCloud,
            1 => Cloud::Aliyun,
            2 => Cloud::HuaweiIotda,
            other => {
                return Err(Error::invalid(format!(
                    "cloud {other} is not an iothttp_cloud"
                )))
            }
        };
        let product = unsafe { arg_str(product, "product") }?;
        let device = unsafe { arg_str(device, "device") }?;
        let secret = unsafe { arg_str(secret, "secret") }?;
        arg_out(out, "out")?;
        let dev = client.inner.device(cloud, product, device, secret)?;
        unsafe {
            give(
                out,
                iothttp_device {
                    inner: dev,
                    replies: Mutex::new(HashMap::new()),
                },
            )
        };
        Ok(())
    })
}

/// Release a device. NULL is a no-op. Must not race with calls on the same device.
#[no_mangle]
pub unsafe extern "C" fn iothttp_device_free(dev: *mut iothttp_device) {
    guard_quiet((), || unsafe { take(dev) })
}

/// Send auth and publish to `base_url` (`https://host[:port][/path]`) instead of the region's
/// public host. A cached token is dropped when the endpoint changes. `http://` fails with
/// `IOTHTTP_E_TLS` unless the client allows plain http.
#[no_mangle]
pub unsafe extern "C" fn iothttp_device_set_endpoint(
    dev: *mut iothttp_device,
    base_url: *const c_char,
) -> iothttp_result {
    unsafe {
        set_str(dev, "dev", base_url, "base_url", |d, v| {
            d.inner.set_endpoint(v)
        })
    }
}

/// UCloud: base URL of the file service (`https://file-cn-sh2.iot.ucloud.cn` by default).
/// `IOTHTTP_E_UNSUPPORTED` for Aliyun devices.
#[no_mangle]
pub unsafe extern "C" fn iothttp_device_set_file_endpoint(
    dev: *mut iothttp_device,
    base_url: *const c_char,
) -> iothttp_result {
    unsafe {
        set_str(dev, "dev", base_url, "base_url", |d, v| {
            d.inner.set_file_endpoint(v)
        })
    }
}

/// Aliyun: the clientId sent at auth (1..64 visible ASCII characters; default
/// "productKey.deviceName"). `IOTHTTP_E_UNSUPPORTED` for UCloud devices.
#[no_mangle]
pub unsafe extern "C" fn iothttp_device_set_client_id(
    dev: *mut iothttp_device,
    client_id: *const c_char,
) -> iothttp_result {
    unsafe {
        set_str(dev, "dev", client_id, "client_id", |d, v| {
            d.inner.set_client_id(v)
        })
    }
}

/// Use the public hosts of `region` ("cn-sh2", "cn-gd", "cn-shanghai", ...). An endpoint
/// set with `iothttp_device_set_endpoint` keeps precedence.
#[no_mangle]
pub unsafe extern "C" fn iothttp_device_set_region(
    dev: *mut iothttp_device,
    region: *const c_char,
) -> iothttp_result {
    unsafe { set_str(dev, "dev", region, "region", |d, v| d.inner.set_region(v)) }
}

/// Aliyun: sign auth with `method` (an `iothttp_sign_method`; HMAC-MD5 by default).
/// UCloud accepts only `IOTHTTP_SIGN_HMAC_SHA256` (others: `IOTHTTP_E_UNSUPPORTED`).
#[no_mangle]
pub unsafe extern "C" fn iothttp_device_set_sign_method(
    dev: *mut iothttp_device,
    method: u32,
) -> iothttp_result {
    guard(|| {
        let dev = unsafe { arg_ref(dev, "dev") }?;
        let m = match method {
            0 => SignMethod::HmacMd5,
            1 => SignMethod::HmacSha1,
            2 => SignMethod::HmacSha256,
            other => {
                return Err(Error::invalid(format!(
                    "method {other} is not an iothttp_sign_method"
                )))
            }
        };
        dev.inner.set_sign_method(m)
    })
}

/// Send a timestamp at auth (default off: the field is optional). A device whose clock is
/// wrong still gets in: on the cloud's timestamp refusal the library retries with the clock
/// corrected from the server's `Date` header, or without a timestamp. IoTDA: on selects
/// sign_type 1 (the platform also checks that the timestamp's hour is current; on
/// IOTDA.000002 the auth is retried once with the corrected clock, or with sign_type 0),
/// off sign_type 0 (the default).
#[no_mangle]
pub unsafe extern "C" fn iothttp_device_send_timestamp(
    dev: *mut iothttp_device,
    on: bool,
) -> iothttp_result {
    guard(|| {
        unsafe { arg_ref(dev, "dev") }?.inner.send_timestamp(on);
        Ok(())
    })
}

/// Authenticate now and cache the token (publish also does this lazily). Blocks for the
/// network; concurrent auths of one device are serialised.
#[no_mangle]
pub unsafe extern "C" fn iothttp_device_auth(dev: *mut iothttp_device) -> iothttp_result {
    guard(|| unsafe { arg_ref(dev, "dev") }?.inner.auth())
}

/// Publish `len` bytes (at most 131072, IoTDA 1048576: else `IOTHTTP_E_TOO_LARGE` before
/// anything is sent; NULL allowed when `len` is 0) to `topic`.
///
/// Authenticates lazily, renews the token before it expires, and on a refused token (also
/// one the same call's lazy auth just obtained) authenticates once more and resends;
/// `IOTHTTP_E_TOKEN` means the token of that re-auth was refused too. `topic` must be 1..1024
/// bytes of UTF-8 without `?`, `#`, `+`, whitespace, control characters or a `.` / `..` path
/// segment (also written `%2e`) (`IOTHTTP_E_INVALID_ARG`, before anything is sent). On success the cloud's
/// message id is written to `message_id` as NUL-terminated decimal text unless it is NULL;
/// a non-NULL `message_id` with `message_id_cap` below what the device's cloud can return
/// (`IOTHTTP_MESSAGE_ID_LEN` for UCloud and Aliyun; 1 for IoTDA, which returns no id and
/// gets an empty string) fails with `IOTHTTP_E_BUFFER_TOO_SMALL` before anything is sent.
#[no_mangle]
pub unsafe extern "C" fn iothttp_device_publish(
    dev: *mut iothttp_device,
    topic: *const c_char,
    payload: *const u8,
    len: usize,
    message_id: *mut c_char,
    message_id_cap: usize,
) -> iothttp_result {
    guard(|| {
        let dev = unsafe { arg_ref(dev, "dev") }?;
        let topic = unsafe { arg_str(topic, "topic") }?;
        let max = dev.inner.max_payload();
        if len > max {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!("payload is {len} bytes; the device's cloud accepts at most {max}"),
            ));
        }
        let payload = unsafe { arg_bytes(payload, len, "payload") }?;
        if !message_id.is_null() {
            unsafe {
                check_room(
                    message_id.cast(),
                    message_id_cap,
                    dev.inner.max_message_id() + 1,
                    std::ptr::null_mut(),
                    ("message_id", "message_id_cap"),
                    "a message id (IOTHTTP_MESSAGE_ID_LEN)",
                )
            }?;
        }
        let published = dev.inner.publish(topic, payload)?;
        if !message_id.is_null() {
            unsafe { copy_cstr(message_id, &published.message_id) };
        }
        dev.remember_reply(published.data);
        Ok(())
    })
}

/// UCloud device file upload: request an upload URL signed with the device secret, then
/// stream `src` with `PUT`, `Content-Type: content_type` and `Content-MD5` (lowercase hex,
/// computed in one pass over the source unless set with `iothttp_source_set_md5_hex`).
/// Retried from the start of a rewindable source after a broken connection or an expired URL.
/// `progress` may be NULL. `IOTHTTP_E_UNSUPPORTED` for Aliyun devices.
#[no_mangle]
pub unsafe extern "C" fn iothttp_device_upload_file(
    dev: *mut iothttp_device,
    file_name: *const c_char,
    content_type: *const c_char,
    src: *mut iothttp_source,
    progress: iothttp_progress_fn,
    userdata: *mut c_void,
) -> iothttp_result {
    guard(|| {
        let dev = unsafe { arg_ref(dev, "dev") }?;
        let file_name = unsafe { arg_str(file_name, "file_name") }?;
        let content_type = unsafe { arg_str(content_type, "content_type") }?;
        let src = unsafe { arg_ref(src, "src") }?;
        let mut src = src.lock()?;
        with_progress(progress, userdata, |p| {
            dev.inner.upload_file(file_name, content_type, &mut src, p)
        })
    })
}

/// Copy what the last successful publish of this device on the calling thread received back
/// (Aliyun `info.data`; empty otherwise) into `buf`. `*len_out` receives the length; when
/// `cap` is too small it receives the size needed and the call fails with
/// `IOTHTTP_E_BUFFER_TOO_SMALL` (`buf` may be NULL when `cap` is 0).
#[no_mangle]
pub unsafe extern "C" fn iothttp_device_reply_data(
    dev: *mut iothttp_device,
    buf: *mut u8,
    cap: usize,
    len_out: *mut usize,
) -> iothttp_result {
    guard(|| {
        let dev = unsafe { arg_ref(dev, "dev") }?;
        arg_out(len_out, "len_out")?;
        let data = dev.reply();
        unsafe {
            check_room(buf, cap, data.len(), len_out, ("buf", "cap"), "reply data")?;
            if !data.is_empty() {
                std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
            }
            *len_out = data.len();
        }
        Ok(())
    })
}

/// Copy the cached token (NUL-terminated) into `buf`, for firmware that persists it across
/// reboots. `*len_out` (may be NULL) receives its length; `*expires_at_unix_ms` (may be NULL)
/// its expiry in Unix milliseconds: the one the token states (UCloud's JWT `exp`), else the
/// documented lifetime from when it was issued (UCloud 7 days; Aliyun 48 hours, the safe
/// reading of its documents; IoTDA the reply's `expires_in`), or 0 for a token set without an expiry. A `cap` below length + 1 fails with
/// `IOTHTTP_E_BUFFER_TOO_SMALL` and `*len_out` = length + 1 (`buf` may be NULL when `cap` is
/// 0, to learn the size). No token yet:
/// `IOTHTTP_E_INVALID_ARG`. Treat the token like the device secret.
#[no_mangle]
pub unsafe extern "C" fn iothttp_device_get_token(
    dev: *mut iothttp_device,
    buf: *mut c_char,
    cap: usize,
    len_out: *mut usize,
    expires_at_unix_ms: *mut u64,
) -> iothttp_result {
    guard(|| {
        let dev = unsafe { arg_ref(dev, "dev") }?;
        let Some((token, expires)) = dev.inner.token() else {
            return Err(Error::invalid(
                "device has no token yet (call iothttp_device_auth or publish first)",
            ));
        };
        unsafe {
            write_cstr(
                buf,
                cap,
                len_out,
                token.expose(),
                ("buf", "cap"),
                "the token",
            )?;
            if let Some(e) = expires_at_unix_ms.as_mut() {
                *e = expires.unwrap_or(0);
            }
        }
        Ok(())
    })
}

/// Install a token saved earlier, so a rebooted device can publish without an auth round
/// trip. `expires_at_unix_ms` is its expiry in Unix milliseconds, or 0 if unknown (it is then
/// used until the cloud refuses it, after which the device authenticates again).
#[no_mangle]
pub unsafe extern "C" fn iothttp_device_set_token(
    dev: *mut iothttp_device,
    token: *const c_char,
    expires_at_unix_ms: u64,
) -> iothttp_result {
    guard(|| {
        let dev = unsafe { arg_ref(dev, "dev") }?;
        let token = unsafe { arg_str(token, "token") }?;
        let expires = (expires_at_unix_ms != 0).then_some(expires_at_unix_ms);
        dev.inner.set_token(token, expires)
    })
}
