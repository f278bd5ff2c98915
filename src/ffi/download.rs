//! Downloads (`iothttp_download`, `iothttp_download_file`): the cargo feature `downloads`;
//! without it both return `IOTHTTP_E_UNSUPPORTED`.

#![cfg_attr(not(feature = "downloads"), allow(unused_variables, unused_imports))]

use std::ffi::{c_char, c_int, c_void};
use std::io;

use super::client::iothttp_client;
use super::source::iothttp_progress_fn;
use super::upload::{arg_str_array, with_progress};
use super::{arg_ref, arg_str, guard, iothttp_result};
use crate::error::Error;

/// Takes the next `len` bytes of a download (`buf` is valid during the call only). Returns 0
/// to go on; anything else stops the download with `IOTHTTP_E_WRITE`.
pub type iothttp_write_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, buf: *const u8, len: usize) -> c_int>;

/// The C write callback as a Rust sink.
#[cfg(feature = "downloads")]
struct CSink {
    f: unsafe extern "C" fn(*mut c_void, *const u8, usize) -> c_int,
    userdata: *mut c_void,
}

#[cfg(feature = "downloads")]
impl crate::transfer::download::Sink for CSink {
    fn accept(&mut self, bytes: &[u8]) -> io::Result<()> {
        // SAFETY: a valid callback supplied by the caller for the duration of the call.
        let rc = unsafe { (self.f)(self.userdata, bytes.as_ptr(), bytes.len()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "the write callback returned {rc}"
            )))
        }
    }
}

/// Stream the body of `GET url` to `write`, from byte `offset` of the object (a `Range`
/// request when `offset` > 0). `headers` holds `n_headers` strings "Name: value" sent as
/// given (`Range` and framing headers are refused; an `If-Range` is used as the validator of
/// the bytes the caller already has). A connection cut mid-body is resumed from where it
/// stopped within the retry budget, with `If-Range`, so a changed object is never stitched
/// on; `write` is told every byte once, in order. A server that answers a range with the
/// whole object (HTTP 200) fails with `IOTHTTP_E_HTTP` when `offset` > 0 (nothing more is
/// written). `progress` (may be NULL) sees (position in the object, size of the object or 0
/// when unknown) and returns nonzero to cancel (`IOTHTTP_E_CANCELLED`). On success
/// `*total_out` (may be NULL) holds the size of the whole object (0 when the server did not
/// say). A 2xx status is success; any other fails with the status in
/// `iothttp_last_http_status()`; redirects are never followed. The body is bounded by the
/// I/O timeout of each read, not by the deadline. Any thread; the callbacks run on it.
#[no_mangle]
pub unsafe extern "C" fn iothttp_download(
    client: *mut iothttp_client,
    url: *const c_char,
    headers: *const *const c_char,
    n_headers: usize,
    offset: u64,
    write: iothttp_write_fn,
    userdata: *mut c_void,
    progress: iothttp_progress_fn,
    progress_userdata: *mut c_void,
    total_out: *mut u64,
) -> iothttp_result {
    with_feature!("downloads", "downloads", {
        guard(|| {
            let client = unsafe { arg_ref(client, "client") }?;
            let url = unsafe { arg_str(url, "url") }?;
            let lines = unsafe { arg_str_array(headers, n_headers, "headers") }?;
            let Some(f) = write else {
                return Err(Error::invalid("argument 'write' is NULL"));
            };
            let parsed = crate::transfer::upload::parse_header_lines(&lines, 0)?;
            let pairs: Vec<(&str, &str)> = parsed
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let mut sink = CSink { f, userdata };
            let done = with_progress(progress, progress_userdata, |p| {
                client.inner.download(url, &pairs, offset, &mut sink, p)
            })?;
            if !total_out.is_null() {
                // SAFETY: the caller passes a valid pointer or NULL.
                unsafe { *total_out = done.total.unwrap_or(0) };
            }
            Ok(())
        })
    })
}

/// Download `url` to the file `path`, safely for a firmware image: the bytes go to
/// `path` + ".part" (resumed when a `.part` of the same object is there: its validator is
/// kept in `path` + ".part.meta"; the bytes already there count towards the digests), a cut
/// connection is resumed from where it stopped, and the whole file is checked against
/// `expected_size` (0: not checked), `md5_hex` and `sha256_hex` (NULL: not checked) before
/// it is flushed to disk and renamed onto `path` in one step (the directory flushed too).
/// On a mismatch (`IOTHTTP_E_DIGEST_MISMATCH`) the `.part` is deleted and `path` is left as
/// it was; a server sending more than `expected_size` is cut off. On any other failure or
/// a cancel the `.part` is kept for the next call to resume. `progress` (may be NULL) sees
/// (bytes of the file so far, size of the object or 0) and returns nonzero to cancel. File
/// system failures are `IOTHTTP_E_WRITE`. Any thread; one call per `path` at a time.
#[no_mangle]
pub unsafe extern "C" fn iothttp_download_file(
    client: *mut iothttp_client,
    url: *const c_char,
    path: *const c_char,
    expected_size: u64,
    md5_hex: *const c_char,
    sha256_hex: *const c_char,
    progress: iothttp_progress_fn,
    userdata: *mut c_void,
) -> iothttp_result {
    with_feature!("downloads", "downloads", {
        guard(|| {
            let client = unsafe { arg_ref(client, "client") }?;
            let url = unsafe { arg_str(url, "url") }?;
            let path = unsafe { arg_str(path, "path") }?;
            let mut expected = crate::transfer::download::Expected::new();
            if expected_size > 0 {
                expected = expected.size(expected_size);
            }
            if !md5_hex.is_null() {
                expected = expected.md5_hex(unsafe { arg_str(md5_hex, "md5_hex") }?)?;
            }
            if !sha256_hex.is_null() {
                expected = expected.sha256_hex(unsafe { arg_str(sha256_hex, "sha256_hex") }?)?;
            }
            with_progress(progress, userdata, |p| {
                client
                    .inner
                    .download_file(url, std::path::Path::new(path), &expected, p)
            })?;
            Ok(())
        })
    })
}
