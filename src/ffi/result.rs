//! `iothttp_result`, the per-thread error state, and the version.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};

use crate::error::{Error, ErrorKind};

/// Result of every fallible call. Values are ABI: they never change once released.
///
/// Ranges: 0 success; 1-99 caller errors; 100-199 network and protocol; 200-299 the cloud
/// said no; 300-399 upload sources; 900+ library bugs.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum iothttp_result {
    /// Success.
    IOTHTTP_OK = 0,
    /// NULL where not allowed, invalid UTF-8, empty or illegal topic/name, bad URL, or
    /// configuration missing what the call needs.
    IOTHTTP_E_INVALID_ARG = 1,
    /// Payload over 128 KiB (131072 bytes) or a file over the target's limit; nothing sent.
    IOTHTTP_E_TOO_LARGE = 2,
    /// The device's cloud does not offer this operation.
    IOTHTTP_E_UNSUPPORTED = 3,
    /// A caller buffer is too small; `*len_out` (where given) holds the size needed.
    IOTHTTP_E_BUFFER_TOO_SMALL = 4,
    /// Name resolution or TCP connect failed (the request was not sent).
    IOTHTTP_E_CONNECT = 100,
    /// TLS handshake or certificate verification failed, or a plain-http URL was refused.
    IOTHTTP_E_TLS = 101,
    /// A configured timeout expired.
    IOTHTTP_E_TIMEOUT = 102,
    /// The connection failed mid-request.
    IOTHTTP_E_IO = 103,
    /// An HTTP status the protocol does not expect, with no cloud error code.
    IOTHTTP_E_HTTP = 104,
    /// A reply that cannot be parsed, lacks required fields, or exceeds the size cap.
    IOTHTTP_E_BAD_RESPONSE = 105,
    /// The cloud refused the credentials (bad signature, unknown or disabled device).
    IOTHTTP_E_AUTH = 200,
    /// A token was refused again right after a fresh auth.
    IOTHTTP_E_TOKEN = 201,
    /// Not permitted (topic ACL, expired upload policy, forbidden).
    IOTHTTP_E_DENIED = 202,
    /// Still throttled after the retry budget.
    IOTHTTP_E_RATE_LIMITED = 203,
    /// Service unavailable after the retry budget.
    IOTHTTP_E_UNAVAILABLE = 204,
    /// Any other error the cloud reported; see `iothttp_last_cloud_code()`.
    IOTHTTP_E_CLOUD = 205,
    /// The source's read or rewind callback failed, or a file could not be read.
    IOTHTTP_E_READ = 300,
    /// The source produced more or fewer bytes than its declared size.
    IOTHTTP_E_SIZE_MISMATCH = 301,
    /// A second pass (hashing, retry) was needed over a source that cannot rewind.
    IOTHTTP_E_NOT_REWINDABLE = 302,
    /// The progress callback asked to stop.
    IOTHTTP_E_CANCELLED = 303,
    /// A download does not match the size or digest expected; nothing of it is kept.
    IOTHTTP_E_DIGEST_MISMATCH = 304,
    /// The download's sink (write callback) or the file system refused the bytes.
    IOTHTTP_E_WRITE = 305,
    /// A bug in the library (a caught panic). The handle stays usable.
    IOTHTTP_E_INTERNAL = 900,
}

use iothttp_result::*;

impl From<ErrorKind> for iothttp_result {
    fn from(k: ErrorKind) -> Self {
        match k {
            ErrorKind::InvalidArg => IOTHTTP_E_INVALID_ARG,
            ErrorKind::TooLarge => IOTHTTP_E_TOO_LARGE,
            ErrorKind::Unsupported => IOTHTTP_E_UNSUPPORTED,
            ErrorKind::BufferTooSmall => IOTHTTP_E_BUFFER_TOO_SMALL,
            ErrorKind::Connect => IOTHTTP_E_CONNECT,
            ErrorKind::Tls => IOTHTTP_E_TLS,
            ErrorKind::Timeout => IOTHTTP_E_TIMEOUT,
            ErrorKind::Io => IOTHTTP_E_IO,
            ErrorKind::Http => IOTHTTP_E_HTTP,
            ErrorKind::BadResponse => IOTHTTP_E_BAD_RESPONSE,
            ErrorKind::Auth => IOTHTTP_E_AUTH,
            ErrorKind::Token => IOTHTTP_E_TOKEN,
            ErrorKind::Denied => IOTHTTP_E_DENIED,
            ErrorKind::RateLimited => IOTHTTP_E_RATE_LIMITED,
            ErrorKind::Unavailable => IOTHTTP_E_UNAVAILABLE,
            ErrorKind::Cloud => IOTHTTP_E_CLOUD,
            ErrorKind::Read => IOTHTTP_E_READ,
            ErrorKind::SizeMismatch => IOTHTTP_E_SIZE_MISMATCH,
            ErrorKind::NotRewindable => IOTHTTP_E_NOT_REWINDABLE,
            ErrorKind::Cancelled => IOTHTTP_E_CANCELLED,
            ErrorKind::DigestMismatch => IOTHTTP_E_DIGEST_MISMATCH,
            ErrorKind::Write => IOTHTTP_E_WRITE,
            ErrorKind::Internal => IOTHTTP_E_INTERNAL,
        }
    }
}

/// Every result with its name, for `iothttp_result_name` and the tests.
pub(crate) const ALL: &[(iothttp_result, &CStr)] = &[
    (IOTHTTP_OK, c"IOTHTTP_OK"),
    (IOTHTTP_E_INVALID_ARG, c"IOTHTTP_E_INVALID_ARG"),
    (IOTHTTP_E_TOO_LARGE, c"IOTHTTP_E_TOO_LARGE"),
    (IOTHTTP_E_UNSUPPORTED, c"IOTHTTP_E_UNSUPPORTED"),
    (IOTHTTP_E_BUFFER_TOO_SMALL, c"IOTHTTP_E_BUFFER_TOO_SMALL"),
    (IOTHTTP_E_CONNECT, c"IOTHTTP_E_CONNECT"),
    (IOTHTTP_E_TLS, c"IOTHTTP_E_TLS"),
    (IOTHTTP_E_TIMEOUT, c"IOTHTTP_E_TIMEOUT"),
    (IOTHTTP_E_IO, c"IOTHTTP_E_IO"),
    (IOTHTTP_E_HTTP, c"IOTHTTP_E_HTTP"),
    (IOTHTTP_E_BAD_RESPONSE, c"IOTHTTP_E_BAD_RESPONSE"),
    (IOTHTTP_E_AUTH, c"IOTHTTP_E_AUTH"),
    (IOTHTTP_E_TOKEN, c"IOTHTTP_E_TOKEN"),
    (IOTHTTP_E_DENIED, c"IOTHTTP_E_DENIED"),
    (IOTHTTP_E_RATE_LIMITED, c"IOTHTTP_E_RATE_LIMITED"),
    (IOTHTTP_E_UNAVAILABLE, c"IOTHTTP_E_UNAVAILABLE"),
    (IOTHTTP_E_CLOUD, c"IOTHTTP_E_CLOUD"),
    (IOTHTTP_E_READ, c"IOTHTTP_E_READ"),
    (IOTHTTP_E_SIZE_MISMATCH, c"IOTHTTP_E_SIZE_MISMATCH"),
    (IOTHTTP_E_NOT_REWINDABLE, c"IOTHTTP_E_NOT_REWINDABLE"),
    (IOTHTTP_E_CANCELLED, c"IOTHTTP_E_CANCELLED"),
    (IOTHTTP_E_DIGEST_MISMATCH, c"IOTHTTP_E_DIGEST_MISMATCH"),
    (IOTHTTP_E_WRITE, c"IOTHTTP_E_WRITE"),
    (IOTHTTP_E_INTERNAL, c"IOTHTTP_E_INTERNAL"),
];

struct LastError {
    message: CString,
    cloud_code: i64,
    http_status: u16,
}

thread_local! {
    static LAST: RefCell<LastError> = RefCell::new(LastError {
        message: CString::default(),
        cloud_code: 0,
        http_status: 0,
    });
}

/// Start of a fallible call: forget the previous call's error.
pub(crate) fn clear_last_error() {
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        l.message = CString::default();
        l.cloud_code = 0;
        l.http_status = 0;
    });
    crate::net::transport::reset_last_http_status();
}

/// End of a call: note the last HTTP status the transport saw on this thread.
pub(crate) fn note_http_status() {
    let seen = crate::net::transport::last_http_status();
    if seen != 0 {
        LAST.with(|l| l.borrow_mut().http_status = seen);
    }
}

/// Record `e` as this thread's last error and return its result code.
pub(crate) fn set_last_error(e: &Error) -> iothttp_result {
    let text = e.message().replace('\0', "?");
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        l.message = CString::new(text).unwrap_or_default();
        l.cloud_code = e.cloud_code();
        if e.http_status() != 0 {
            l.http_status = e.http_status();
        }
    });
    e.kind().into()
}

/// The name of a result code, e.g. `"IOTHTTP_E_TLS"`; `"IOTHTTP_UNKNOWN"` for a value that
/// is not a result. The string is static.
///
/// Thread: any. Never fails.
#[no_mangle]
pub extern "C" fn iothttp_result_name(result: u32) -> *const c_char {
    ALL.iter()
        .find(|(r, _)| *r as u32 == result)
        .map(|(_, n)| n.as_ptr())
        .unwrap_or(c"IOTHTTP_UNKNOWN".as_ptr())
}

/// A human message for the last failure on this thread: what failed, where and why, never a
/// secret or token. Empty string (never NULL) when the last call succeeded.
///
/// The pointer stays valid until the next iothttp call on the same thread; copy it to keep it.
#[no_mangle]
pub extern "C" fn iothttp_last_error() -> *const c_char {
    LAST.with(|l| l.borrow().message.as_ptr())
}

/// The cloud's own code for the last failure on this thread (UCloud `RetCode`, Aliyun
/// `code`, ...), 0 if none.
#[no_mangle]
pub extern "C" fn iothttp_last_cloud_code() -> i64 {
    LAST.with(|l| l.borrow().cloud_code)
}

/// The HTTP status of the last reply seen by the last call on this thread, 0 if none.
#[no_mangle]
pub extern "C" fn iothttp_last_http_status() -> u16 {
    LAST.with(|l| l.borrow().http_status)
}

/// The library version as static text, e.g. `"0.1.0"`.
#[no_mangle]
pub extern "C" fn iothttp_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Major version of the header; compare with `iothttp_version()` at run time.
pub const IOTHTTP_VERSION_MAJOR: u32 = 0;
/// Minor version of the header.
pub const IOTHTTP_VERSION_MINOR: u32 = 1;
/// Patch version of the header.
pub const IOTHTTP_VERSION_PATCH: u32 = 0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_macros_match_the_crate() {
        assert_eq!(
            IOTHTTP_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            IOTHTTP_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            IOTHTTP_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
        let v = unsafe { CStr::from_ptr(iothttp_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn names_are_unique_and_match() {
        for (r, n) in ALL {
            let got = unsafe { CStr::from_ptr(iothttp_result_name(*r as u32)) };
            assert_eq!(got, *n);
            assert_eq!(format!("{r:?}"), n.to_str().unwrap());
        }
        let mut codes: Vec<u32> = ALL.iter().map(|(r, _)| *r as u32).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), ALL.len());
        let unknown = unsafe { CStr::from_ptr(iothttp_result_name(77777)) };
        assert_eq!(unknown.to_str().unwrap(), "IOTHTTP_UNKNOWN");
    }
}
