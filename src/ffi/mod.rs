//! The C ABI: thin wrappers over the Rust API.
//!
//! Rules every function here follows:
//! - the body runs inside [`guard`], so no panic crosses the boundary (it becomes
//!   `IOTHTTP_E_INTERNAL` and the handle stays usable: locks recover from poisoning);
//! - every pointer is checked; NULL gives `IOTHTTP_E_INVALID_ARG` naming the argument;
//! - out-parameters are written only on success (`*len_out` also on
//!   `IOTHTTP_E_BUFFER_TOO_SMALL`, as documented);
//! - values C passes for enums arrive as `uint32_t` and are range-checked;
//! - each handle is a `Box` of a Rust value that holds `Arc`s to what it needs of its
//!   parent, so free order does not matter.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)] // the safety contract is in the header comments
#![allow(clippy::too_many_arguments)] // the C signatures are fixed by the API contract

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{Error, ErrorKind, Result};

/// The body of a C function whose capability is a cargo feature: without the feature the
/// function returns `IOTHTTP_E_UNSUPPORTED` with a message naming it, so the header and the
/// exported symbols never depend on how the library was built.
macro_rules! with_feature {
    ($feature:literal, $what:literal, $body:expr) => {{
        #[cfg(feature = $feature)]
        let result = $body;
        #[cfg(not(feature = $feature))]
        let result =
            $crate::ffi::guard(|| Err($crate::error::Error::missing_feature($feature, $what)));
        result
    }};
}

pub mod client;
pub mod config;
pub mod device;
pub mod download;
pub mod result;
pub mod source;
pub mod upload;

pub use result::iothttp_result;

/// Run a fallible C entry point: clear the thread's error state, catch panics, record the
/// error for `iothttp_last_error()`.
pub(crate) fn guard(f: impl FnOnce() -> Result<()>) -> iothttp_result {
    result::clear_last_error();
    let outcome = catch_unwind(AssertUnwindSafe(f));
    result::note_http_status();
    match outcome {
        Ok(Ok(())) => iothttp_result::IOTHTTP_OK,
        Ok(Err(e)) => result::set_last_error(&e),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            result::set_last_error(&Error::new(
                ErrorKind::Internal,
                format!("internal error (please report): {what}"),
            ))
        }
    }
}

/// Run an infallible C entry point (`*_free`, `*_new` returning a pointer) without letting a
/// panic escape.
pub(crate) fn guard_quiet<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// A required C string argument as UTF-8.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, name: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid(format!("argument '{name}' is NULL")));
    }
    // SAFETY: the caller passes a NUL-terminated string (header contract).
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|e| {
        Error::invalid(format!(
            "argument '{name}' is not valid UTF-8 (byte {})",
            e.valid_up_to()
        ))
    })
}

/// The body of a setter taking a handle and one string: both checked, then `f`.
pub(crate) unsafe fn set_str<T>(
    handle: *const T,
    handle_name: &str,
    value: *const c_char,
    value_name: &str,
    f: impl FnOnce(&T, &str) -> Result<()>,
) -> iothttp_result {
    guard(|| {
        let h = unsafe { arg_ref(handle, handle_name) }?;
        let v = unsafe { arg_str(value, value_name) }?;
        f(h, v)
    })
}

/// A required handle argument.
pub(crate) unsafe fn arg_ref<'a, T>(p: *const T, name: &str) -> Result<&'a T> {
    // SAFETY: non-NULL handles come from our `*_new` functions (header contract).
    unsafe { p.as_ref() }.ok_or_else(|| Error::invalid(format!("argument '{name}' is NULL")))
}

/// A required out-pointer: check it before doing any work.
pub(crate) fn arg_out<T>(p: *mut T, name: &str) -> Result<()> {
    if p.is_null() {
        Err(Error::invalid(format!("argument '{name}' is NULL")))
    } else {
        Ok(())
    }
}

/// Box a value and hand it to C through `out` (checked non-NULL before).
pub(crate) unsafe fn give<T>(out: *mut *mut T, value: T) {
    // SAFETY: `out` was checked by `arg_out`; the caller owns the new handle.
    unsafe { *out = Box::into_raw(Box::new(value)) };
}

/// Free a handle made by `give` (NULL is a no-op).
pub(crate) unsafe fn take<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: `p` came from `Box::into_raw` in `give` and is freed once (header contract).
        drop(unsafe { Box::from_raw(p) });
    }
}

/// Check that `buf`/`cap` can hold `needed` bytes. A NULL buffer is allowed only with a
/// capacity of 0 (a size query). When the capacity is too small, store `needed` in
/// `*len_out` (if given) and fail with `IOTHTTP_E_BUFFER_TOO_SMALL`. `names` are the C names
/// of the buffer and capacity arguments, `what` says what goes in the buffer.
pub(crate) unsafe fn check_room(
    buf: *const u8,
    cap: usize,
    needed: usize,
    len_out: *mut usize,
    names: (&str, &str),
    what: &str,
) -> Result<()> {
    if buf.is_null() && cap > 0 {
        return Err(Error::invalid(format!(
            "argument '{}' is NULL but '{}' is {cap}",
            names.0, names.1
        )));
    }
    if cap < needed {
        if !len_out.is_null() {
            // SAFETY: non-NULL out-pointer supplied by the caller.
            unsafe { *len_out = needed };
        }
        return Err(Error::new(
            ErrorKind::BufferTooSmall,
            format!(
                "{what} needs {needed} bytes; argument '{}' ({}) holds {cap}",
                names.0, names.1
            ),
        ));
    }
    Ok(())
}

/// Copy `s` plus a NUL into `buf` (room checked by `check_room` with `s.len() + 1`).
pub(crate) unsafe fn copy_cstr(buf: *mut c_char, s: &str) {
    // SAFETY: the caller checked that `buf` holds `s.len() + 1` bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), s.len());
        *buf.add(s.len()) = 0;
    }
}

/// Write a string result into a caller buffer: needs `len + 1` bytes; on success
/// `*len_out` (if given) is the length without the NUL.
pub(crate) unsafe fn write_cstr(
    buf: *mut c_char,
    cap: usize,
    len_out: *mut usize,
    s: &str,
    names: (&str, &str),
    what: &str,
) -> Result<()> {
    unsafe {
        check_room(buf.cast(), cap, s.len() + 1, len_out, names, what)?;
        copy_cstr(buf, s);
        if !len_out.is_null() {
            *len_out = s.len();
        }
    }
    Ok(())
}

/// A payload argument: (NULL, 0) is the empty payload.
pub(crate) unsafe fn arg_bytes<'a>(p: *const u8, len: usize, name: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::invalid(format!(
            "argument '{name}' is NULL but its length is {len}"
        )));
    }
    // SAFETY: the caller passes `len` readable bytes at `p` (header contract).
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_internal_errors() {
        let r = guard(|| panic!("boom"));
        assert_eq!(r, iothttp_result::IOTHTTP_E_INTERNAL);
        let msg = unsafe { CStr::from_ptr(result::iothttp_last_error()) };
        assert!(msg.to_str().unwrap().contains("boom"));
        // The next call clears the state.
        assert_eq!(guard(|| Ok(())), iothttp_result::IOTHTTP_OK);
        let msg = unsafe { CStr::from_ptr(result::iothttp_last_error()) };
        assert_eq!(msg.to_bytes(), b"");
    }

    #[test]
    fn strings_are_checked() {
        let bad = [0xffu8, 0x41, 0];
        let e = unsafe { arg_str(bad.as_ptr().cast(), "topic") }.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
        assert!(e.message().contains("UTF-8"));
        let e = unsafe { arg_str(std::ptr::null(), "topic") }.unwrap_err();
        assert!(e.message().contains("'topic' is NULL"));
    }

    #[test]
    fn small_buffers_report_the_size_needed() {
        let mut buf = [0 as c_char; 4];
        let mut len = 0usize;
        let names = ("buf", "cap");
        let e =
            unsafe { write_cstr(buf.as_mut_ptr(), 4, &mut len, "abcd", names, "x") }.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BufferTooSmall);
        assert_eq!(len, 5);
        unsafe { write_cstr(buf.as_mut_ptr(), 4, &mut len, "abc", names, "x") }.unwrap();
        // NULL is a size query only with capacity 0.
        let e =
            unsafe { write_cstr(std::ptr::null_mut(), 4, &mut len, "", names, "x") }.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
        assert!(e.message().contains("'buf' is NULL"));
        let e =
            unsafe { write_cstr(std::ptr::null_mut(), 0, &mut len, "ab", names, "x") }.unwrap_err();
        assert_eq!((e.kind(), len), (ErrorKind::BufferTooSmall, 3));
        assert_eq!(len, 3);
        assert_eq!(buf[3], 0);
    }
}
