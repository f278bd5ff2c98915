//! `iothttp_source`: what an upload reads (file, memory, callbacks), and the progress callback.

use std::ffi::{c_char, c_int, c_void};
use std::sync::{Mutex, MutexGuard, TryLockError};

use super::{arg_out, arg_ref, arg_str, give, guard, guard_quiet, iothttp_result, take};
use crate::error::{Error, ErrorKind, Result};
use crate::transfer::source::{MemoryRead, Source, SourceRead};

/// Read callback of a callback source: fill `buf` with up to `cap` bytes, store the count in
/// `*out_len` (0 = end of data) and return 0; any other return value fails the upload with
/// `IOTHTTP_E_READ`. Called on the uploading thread.
pub type iothttp_read_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        buf: *mut u8,
        cap: usize,
        out_len: *mut usize,
    ) -> c_int,
>;

/// Rewind callback: go back to the first byte and return 0 (nonzero: `IOTHTTP_E_READ`).
pub type iothttp_rewind_fn = Option<unsafe extern "C" fn(userdata: *mut c_void) -> c_int>;

/// Progress callback: `sent` of `total` bytes of the file have been handed to the connection;
/// `sent` rises monotonically (also across retries) up to `total`. Return 0 to go on, nonzero
/// to cancel (`IOTHTTP_E_CANCELLED`: the connection is dropped, nothing is completed).
pub type iothttp_progress_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, sent: u64, total: u64) -> c_int>;

/// What an upload reads. Made by `iothttp_source_from_*`, released by `iothttp_source_free`.
/// One upload at a time may use a source; a later upload starts again from its first byte
/// (which needs a rewindable source once bytes were read).
pub struct iothttp_source {
    inner: Mutex<Source>,
    /// The declared size, fixed at creation: readable without the lock, so also from a read
    /// or progress callback of an upload that holds it.
    size: u64,
}

impl iothttp_source {
    /// Exclusive use for one upload.
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, Source>> {
        match self.inner.try_lock() {
            Ok(g) => Ok(g),
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
            Err(TryLockError::WouldBlock) => Err(Error::invalid(
                "source is being used by another upload right now",
            )),
        }
    }
}

/// Borrowed caller memory: valid until the source is freed (header contract).
struct Borrowed {
    ptr: usize,
    len: usize,
}

impl AsRef<[u8]> for Borrowed {
    fn as_ref(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: ptr..ptr+len stays readable and unchanged while the source lives (header
        // contract), and was checked non-NULL.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

struct Callbacks {
    read: unsafe extern "C" fn(*mut c_void, *mut u8, usize, *mut usize) -> c_int,
    rewind: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    userdata: usize,
}

impl SourceRead for Callbacks {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut n: usize = 0;
        // SAFETY: a valid callback and userdata supplied by the caller.
        let rc = unsafe {
            (self.read)(
                self.userdata as *mut c_void,
                buf.as_mut_ptr(),
                buf.len(),
                &mut n,
            )
        };
        if rc != 0 {
            return Err(Error::new(
                ErrorKind::Read,
                format!("source read callback failed (returned {rc})"),
            ));
        }
        if n > buf.len() {
            return Err(Error::new(
                ErrorKind::Read,
                format!(
                    "source read callback reported {n} bytes for a {} byte buffer",
                    buf.len()
                ),
            ));
        }
        Ok(n)
    }

    fn can_rewind(&self) -> bool {
        self.rewind.is_some()
    }

    fn rewind(&mut self) -> Result<()> {
        let Some(f) = self.rewind else {
            return Err(Error::new(ErrorKind::NotRewindable, "no rewind callback"));
        };
        // SAFETY: as for read.
        let rc = unsafe { f(self.userdata as *mut c_void) };
        if rc != 0 {
            return Err(Error::new(
                ErrorKind::Read,
                format!("source rewind callback failed (returned {rc})"),
            ));
        }
        Ok(())
    }
}

/// A progress callback as a Rust closure.
pub(crate) struct CProgress {
    f: Option<unsafe extern "C" fn(*mut c_void, u64, u64) -> c_int>,
    userdata: *mut c_void,
}

impl CProgress {
    pub(crate) fn new(f: iothttp_progress_fn, userdata: *mut c_void) -> Self {
        CProgress { f, userdata }
    }

    /// Call it; true means go on.
    pub(crate) fn call(&mut self, sent: u64, total: u64) -> bool {
        match self.f {
            // SAFETY: a valid callback supplied by the caller for the duration of the call.
            Some(f) => unsafe { f(self.userdata, sent, total) == 0 },
            None => true,
        }
    }
}

fn wrap(out: *mut *mut iothttp_source, src: Source) {
    unsafe {
        give(
            out,
            iothttp_source {
                size: src.size(),
                inner: Mutex::new(src),
            },
        )
    };
}

/// A source reading the file at `path` (its size is taken now). Rewindable. A missing or
/// unreadable file is `IOTHTTP_E_READ`.
#[no_mangle]
pub unsafe extern "C" fn iothttp_source_from_file(
    path: *const c_char,
    out: *mut *mut iothttp_source,
) -> iothttp_result {
    guard(|| {
        let path = unsafe { arg_str(path, "path") }?;
        arg_out(out, "out")?;
        if path.is_empty() {
            return Err(Error::invalid("argument 'path' is empty"));
        }
        wrap(out, Source::from_file(path)?);
        Ok(())
    })
}

/// A source over `len` bytes at `data`, **borrowed**: they must stay valid and unchanged until
/// the source is freed. Rewindable. `data` may be NULL when `len` is 0.
#[no_mangle]
pub unsafe extern "C" fn iothttp_source_from_memory(
    data: *const u8,
    len: usize,
    out: *mut *mut iothttp_source,
) -> iothttp_result {
    guard(|| {
        arg_out(out, "out")?;
        if data.is_null() && len > 0 {
            return Err(Error::invalid(format!(
                "argument 'data' is NULL but its length is {len}"
            )));
        }
        if len > isize::MAX as usize {
            return Err(Error::invalid("argument 'len' is larger than any buffer"));
        }
        let reader = MemoryRead {
            data: Borrowed {
                ptr: data as usize,
                len,
            },
            pos: 0,
        };
        wrap(out, Source::new(len as u64, Box::new(reader), "memory"));
        Ok(())
    })
}

/// A source of exactly `size` bytes produced by `read`; `rewind` may be NULL (then the
/// source cannot be read twice: a digest pass or a retry fails with
/// `IOTHTTP_E_NOT_REWINDABLE`). `userdata` is passed back and must stay valid until the
/// source is freed. Yielding fewer or more than `size` bytes fails the upload with
/// `IOTHTTP_E_SIZE_MISMATCH` before the server sees a complete body.
#[no_mangle]
pub unsafe extern "C" fn iothttp_source_from_callbacks(
    size: u64,
    read: iothttp_read_fn,
    rewind: iothttp_rewind_fn,
    userdata: *mut c_void,
    out: *mut *mut iothttp_source,
) -> iothttp_result {
    guard(|| {
        arg_out(out, "out")?;
        let Some(read) = read else {
            return Err(Error::invalid("argument 'read' is NULL"));
        };
        let reader = Callbacks {
            read,
            rewind,
            userdata: userdata as usize,
        };
        wrap(out, Source::new(size, Box::new(reader), "callback"));
        Ok(())
    })
}

/// Declare the content's MD5 as 32 hex digits, so an upload that needs it does not read the
/// source twice. A wrong value makes the store refuse the upload.
#[no_mangle]
pub unsafe extern "C" fn iothttp_source_set_md5_hex(
    src: *mut iothttp_source,
    md5_hex: *const c_char,
) -> iothttp_result {
    guard(|| {
        let src = unsafe { arg_ref(src, "src") }?;
        let hex = unsafe { arg_str(md5_hex, "md5_hex") }?;
        src.lock()?.set_md5_hex(hex)
    })
}

/// Declare the content's SHA-256 as 64 hex digits (see `iothttp_source_set_md5_hex`).
#[no_mangle]
pub unsafe extern "C" fn iothttp_source_set_sha256_hex(
    src: *mut iothttp_source,
    sha256_hex: *const c_char,
) -> iothttp_result {
    guard(|| {
        let src = unsafe { arg_ref(src, "src") }?;
        let hex = unsafe { arg_str(sha256_hex, "sha256_hex") }?;
        src.lock()?.set_sha256_hex(hex)
    })
}

/// The declared size of a source in bytes; 0 for NULL. Never blocks: it may be called from
/// any thread, also from the read or progress callback of an upload using the source.
#[no_mangle]
pub unsafe extern "C" fn iothttp_source_size(src: *const iothttp_source) -> u64 {
    guard_quiet(0, || unsafe { src.as_ref() }.map_or(0, |s| s.size))
}

/// Release a source. NULL is a no-op. Must not be called while an upload uses it.
#[no_mangle]
pub unsafe extern "C" fn iothttp_source_free(src: *mut iothttp_source) {
    guard_quiet((), || unsafe { take(src) })
}
