//! A second, independent Rust static library, built by tests/c/CMakeLists.txt with the same
//! rustc as libiothttp (both carry the Rust standard library). test two_rust_libs links a C
//! program against both archives: every runtime symbol they share (rust_eh_personality,
//! __rust_alloc, std's functions, the compiler-builtins intrinsics) must stay out of
//! libiothttp.a's global symbols, or the link fails with duplicate definitions.

use std::ffi::c_char;

/// Writes "<n> words, thread 42, panic caught: <message>" into `buf` (NUL-terminated,
/// truncated to `cap`), using allocation, formatting, a thread and an unwinding panic of
/// this library's own copy of std. Returns the length written.
///
/// # Safety
/// `buf` must hold `cap` > 0 bytes.
#[no_mangle]
pub unsafe extern "C" fn other_rust_describe(buf: *mut c_char, cap: usize) -> usize {
    let words = "one two three".split(' ').count();
    let thread = std::thread::spawn(|| 40 + 2).join().unwrap_or(0);
    std::panic::set_hook(Box::new(|_| {})); // no message on stderr for the caught panic
    let caught = std::panic::catch_unwind(|| -> u32 { panic!("expected") })
        .err()
        .and_then(|p| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    let text = format!("{words} words, thread {thread}, panic caught: {caught}");
    let n = text.len().min(cap.saturating_sub(1));
    // SAFETY: the caller passes `cap` writable bytes; n < cap.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast(), n);
        *buf.add(n) = 0;
    }
    n
}
