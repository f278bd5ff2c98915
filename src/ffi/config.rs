//! `iothttp_config`: trust, client certificate, timeouts, retries, log, proxy.

use std::ffi::{c_char, c_void, CString};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{arg_bytes, arg_ref, arg_str, guard, guard_quiet, iothttp_result, take};
use crate::config::{Config, RetryPolicy};
use crate::error::Error;
use crate::log::LogLevel;

/// Log levels, most severe first. A callback receives lines up to the level it asked for.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum iothttp_log_level {
    /// An operation failed.
    IOTHTTP_LOG_ERROR = 1,
    /// Something unexpected was worked around (retry, clock correction).
    IOTHTTP_LOG_WARN = 2,
    /// Milestones (authenticated, token renewed).
    IOTHTTP_LOG_INFO = 3,
    /// One line per HTTP exchange.
    IOTHTTP_LOG_DEBUG = 4,
    /// Request details (sensitive header values redacted).
    IOTHTTP_LOG_TRACE = 5,
}

impl From<LogLevel> for iothttp_log_level {
    fn from(l: LogLevel) -> Self {
        match l {
            LogLevel::Error => iothttp_log_level::IOTHTTP_LOG_ERROR,
            LogLevel::Warn => iothttp_log_level::IOTHTTP_LOG_WARN,
            LogLevel::Info => iothttp_log_level::IOTHTTP_LOG_INFO,
            LogLevel::Debug => iothttp_log_level::IOTHTTP_LOG_DEBUG,
            LogLevel::Trace => iothttp_log_level::IOTHTTP_LOG_TRACE,
        }
    }
}

/// Log callback: `msg` is one NUL-terminated line, valid only during the call. It is called
/// from whichever thread is making the request, possibly several at once; it must not call
/// back into iothttp and must not unwind (no C++ exceptions, no longjmp).
pub type iothttp_log_fn = Option<
    unsafe extern "C" fn(userdata: *mut c_void, level: iothttp_log_level, msg: *const c_char),
>;

/// Configuration for a client. Made by `iothttp_config_new`, released by
/// `iothttp_config_free`. A client copies what it needs: the config may be freed or reused
/// after `iothttp_client_new`.
pub struct iothttp_config {
    inner: Mutex<Config>,
}

impl iothttp_config {
    pub(crate) fn get(&self) -> MutexGuard<'_, Config> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A C callback and its userdata, callable from any thread (the header says so).
struct CLog {
    f: unsafe extern "C" fn(*mut c_void, iothttp_log_level, *const c_char),
    userdata: usize,
}

impl CLog {
    fn call(&self, level: LogLevel, line: &str) {
        let text = CString::new(line.replace('\0', "?")).unwrap_or_default();
        // SAFETY: a valid function pointer and userdata supplied through set_log.
        unsafe { (self.f)(self.userdata as *mut c_void, level.into(), text.as_ptr()) }
    }
}

/// A new configuration with defaults: built-in web roots on, connect timeout 10 s, I/O
/// timeout 30 s, 3 attempts with 500 ms..8 s backoff, no log, no proxy (proxy environment
/// variables are never read), plain http refused. Returns NULL only if out of memory.
#[no_mangle]
pub extern "C" fn iothttp_config_new() -> *mut iothttp_config {
    guard_quiet(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(iothttp_config {
            inner: Mutex::new(Config::new()),
        }))
    })
}

/// Release a configuration. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn iothttp_config_free(cfg: *mut iothttp_config) {
    guard_quiet((), || unsafe { take(cfg) })
}

/// Trust the CA certificate(s) in `pem` (`len` bytes of PEM text, one or more
/// `CERTIFICATE` blocks) in addition to the other roots. Nothing is added if any block is
/// malformed or not a CA (`IOTHTTP_E_INVALID_ARG`).
#[no_mangle]
pub unsafe extern "C" fn iothttp_config_add_ca_pem(
    cfg: *mut iothttp_config,
    pem: *const c_char,
    len: usize,
) -> iothttp_result {
    guard(|| {
        let cfg = unsafe { arg_ref(cfg, "cfg") }?;
        let pem = unsafe { arg_bytes(pem.cast(), len, "pem") }?;
        if pem.is_empty() {
            return Err(Error::invalid("argument 'pem' is empty"));
        }
        cfg.get().add_ca_pem(pem)?;
        Ok(())
    })
}

/// Like `iothttp_config_add_ca_pem`, reading a PEM file. A missing or unreadable file is
/// `IOTHTTP_E_READ`.
#[no_mangle]
pub unsafe extern "C" fn iothttp_config_add_ca_file(
    cfg: *mut iothttp_config,
    path: *const c_char,
) -> iothttp_result {
    guard(|| {
        let cfg = unsafe { arg_ref(cfg, "cfg") }?;
        let path = unsafe { arg_str(path, "path") }?;
        if path.is_empty() {
            return Err(Error::invalid("argument 'path' is empty"));
        }
        cfg.get().add_ca_file(path)?;
        Ok(())
    })
}

/// Present a client certificate (mutual TLS) to every server that asks for one: `cert_pem`
/// is `cert_len` bytes of PEM text holding the chain (the device's own certificate first,
/// then any intermediates), `key_pem` is `key_len` bytes of PEM text holding its private key
/// (PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`; RSA, ECDSA
/// P-256/P-384 or Ed25519; not encrypted). Both buffers are copied (the caller keeps
/// ownership and may wipe its key buffer on return) and need no NUL terminator. Replaces an
/// identity set before; on an error nothing changes. `IOTHTTP_E_INVALID_ARG` for a NULL
/// pointer, an empty or oversize (256 KiB) text, a chain without a certificate, a malformed
/// certificate, an encrypted, malformed or unsupported key, or a key that does not belong to
/// the first certificate; `iothttp_last_error()` says which, and neither it nor any log line
/// ever contains the key. One identity per client: clients made from this config present it
/// (their connection pool is theirs alone); make a second config and client for a second
/// certificate. A server that refuses the certificate fails the call with `IOTHTTP_E_TLS`.
/// Any thread may call it, as for every config setter (the config is locked).
#[no_mangle]
pub unsafe extern "C" fn iothttp_config_set_client_cert(
    cfg: *mut iothttp_config,
    cert_pem: *const c_char,
    cert_len: usize,
    key_pem: *const c_char,
    key_len: usize,
) -> iothttp_result {
    guard(|| {
        let cfg = unsafe { arg_ref(cfg, "cfg") }?;
        for (name, p) in [("cert_pem", cert_pem), ("key_pem", key_pem)] {
            if p.is_null() {
                return Err(Error::invalid(format!("argument '{name}' is NULL")));
            }
        }
        let max = crate::net::tls::MAX_CLIENT_PEM_BYTES;
        for (name, len) in [("cert_len", cert_len), ("key_len", key_len)] {
            if len as u64 > max {
                return Err(Error::invalid(format!(
                    "argument '{name}' is {len}, more than the {max} byte limit"
                )));
            }
        }
        let cert = unsafe { arg_bytes(cert_pem.cast(), cert_len, "cert_pem") }?;
        let key = unsafe { arg_bytes(key_pem.cast(), key_len, "key_pem") }?;
        if cert.is_empty() {
            return Err(Error::invalid(
                "argument 'cert_pem' is empty ('cert_len' is 0)",
            ));
        }
        if key.is_empty() {
            return Err(Error::invalid(
                "argument 'key_pem' is empty ('key_len' is 0)",
            ));
        }
        cfg.get().set_client_cert_pem(cert, key)?;
        Ok(())
    })
}

/// Like `iothttp_config_set_client_cert`, reading the chain from the PEM file `cert_path`
/// and the key from the PEM file `key_path` (both NUL-terminated UTF-8 paths; they may name
/// the same file when it holds both). `IOTHTTP_E_INVALID_ARG` for a NULL, empty or non-UTF-8
/// path and for every content error of `iothttp_config_set_client_cert`; a missing or
/// unreadable file is `IOTHTTP_E_READ` (the message names the path and the OS error). The
/// key file's bytes are wiped from memory after parsing.
#[no_mangle]
pub unsafe extern "C" fn iothttp_config_set_client_cert_files(
    cfg: *mut iothttp_config,
    cert_path: *const c_char,
    key_path: *const c_char,
) -> iothttp_result {
    guard(|| {
        let cfg = unsafe { arg_ref(cfg, "cfg") }?;
        let cert_path = unsafe { arg_str(cert_path, "cert_path") }?;
        let key_path = unsafe { arg_str(key_path, "key_path") }?;
        for (name, value) in [("cert_path", cert_path), ("key_path", key_path)] {
            if value.is_empty() {
                return Err(Error::invalid(format!("argument '{name}' is empty")));
            }
        }
        cfg.get().set_client_cert_files(cert_path, key_path)?;
        Ok(())
    })
}

/// Whether to trust the built-in Mozilla web roots besides added CAs (default on). A library
/// built without them (cargo feature `builtin-roots` left out) trusts only the CAs added:
/// there the default is off and `on` = true fails with `IOTHTTP_E_UNSUPPORTED`.
#[no_mangle]
pub unsafe extern "C" fn iothttp_config_use_builtin_roots(
    cfg: *mut iothttp_config,
    on: bool,
) -> iothttp_result {
    guard(|| {
        unsafe { arg_ref(cfg, "cfg") }?
            .get()
            .use_builtin_roots(on)?;
        Ok(())
    })
}

/// Timeouts in milliseconds, both non-zero. `connect_ms` bounds name resolution, TCP connect
/// and the TLS handshake; `io_ms` bounds each socket read or write and the whole wait for a
/// reply.
#[no_mangle]
pub unsafe extern "C" fn iothttp_config_set_timeouts(
    cfg: *mut iothttp_config,
    connect_ms: u32,
    io_ms: u32,
) -> iothttp_result {
    guard(|| {
        let cfg = unsafe { arg_ref(cfg, "cfg") }?;
        for (name, value) in [("connect_ms", connect_ms), ("io_ms", io_ms)] {
            if value == 0 {
                return Err(Error::invalid(format!(
                    "argument '{name}' is 0: timeouts must be greater than zero"
                )));
            }
        }
        cfg.get().set_timeouts(
            Duration::from_millis(connect_ms.into()),
            Duration::from_millis(io_ms.into()),
        )?;
        Ok(())
    })
}

/// Retry policy for requests that certainly did not take effect (connect failure, the
/// cloud's "unavailable" or "too many requests", HTTP 503/429): `max_attempts` counts the
/// first try (1 = never retry, at least 1); the delay before retry n is random in
/// [d/2, d] with d = min(max_delay_ms, base_delay_ms * 2^(n-1)); base must not exceed max.
#[no_mangle]
pub unsafe extern "C" fn iothttp_config_set_retries(
    cfg: *mut iothttp_config,
    max_attempts: u32,
    base_delay_ms: u32,
    max_delay_ms: u32,
) -> iothttp_result {
    guard(|| {
        unsafe { arg_ref(cfg, "cfg") }?
            .get()
            .set_retries(RetryPolicy {
                max_attempts,
                base_delay: Duration::from_millis(base_delay_ms.into()),
                max_delay: Duration::from_millis(max_delay_ms.into()),
            })?;
        Ok(())
    })
}

/// Send log lines up to `max_level` (an `iothttp_log_level`) to `fn`; NULL `fn` turns
/// logging off (then `max_level` is ignored). `userdata` is passed back untouched; it must
/// stay valid until every client made from this config is freed (`iothttp_client_free`
/// returns only when no callback is running, and none runs afterwards, also not for the
/// devices and accounts that outlive the client). `fn` runs on the thread making the request
/// and must not call into iothttp. Lines never contain a secret, token, signature or
/// Authorization value.
#[no_mangle]
pub unsafe extern "C" fn iothttp_config_set_log(
    cfg: *mut iothttp_config,
    r#fn: iothttp_log_fn,
    userdata: *mut c_void,
    max_level: u32,
) -> iothttp_result {
    guard(|| {
        let cfg = unsafe { arg_ref(cfg, "cfg") }?;
        let Some(f) = r#fn else {
            cfg.get().clear_log();
            return Ok(());
        };
        let level = match max_level {
            1 => LogLevel::Error,
            2 => LogLevel::Warn,
            3 => LogLevel::Info,
            4 => LogLevel::Debug,
            5 => LogLevel::Trace,
            other => {
                return Err(Error::invalid(format!(
                    "max_level {other} is not an iothttp_log_level (1..5)"
                )))
            }
        };
        let sink = CLog {
            f,
            userdata: userdata as usize,
        };
        cfg.get()
            .set_log(Arc::new(move |l, line| sink.call(l, line)), level);
        Ok(())
    })
}

/// Send every connection through an HTTP CONNECT proxy (`http://[user:pass@]host:port`);
/// NULL removes it. SOCKS is not supported. Environment variables are never read.
#[no_mangle]
pub unsafe extern "C" fn iothttp_config_set_proxy(
    cfg: *mut iothttp_config,
    proxy_url: *const c_char,
) -> iothttp_result {
    guard(|| {
        let cfg = unsafe { arg_ref(cfg, "cfg") }?;
        let url = if proxy_url.is_null() {
            None
        } else {
            Some(unsafe { arg_str(proxy_url, "proxy_url") }?)
        };
        cfg.get().set_proxy(url)?;
        Ok(())
    })
}

/// Allow `http://` URLs (default off: every plain-http URL, also one a cloud returns, is
/// refused with `IOTHTTP_E_TLS`).
#[no_mangle]
pub unsafe extern "C" fn iothttp_config_allow_plain_http(
    cfg: *mut iothttp_config,
    on: bool,
) -> iothttp_result {
    guard(|| {
        unsafe { arg_ref(cfg, "cfg") }?.get().allow_plain_http(on);
        Ok(())
    })
}

/// Connect to `address` (an IPv4 or IPv6 literal, e.g. "127.0.0.1" or "::1") instead of
/// looking `host` up, for every URL naming `host` and `port` (like curl's `--resolve`). TLS
/// still verifies the server certificate against `host`. Several entries may be added; a
/// later one for the same host and port replaces the earlier. `IOTHTTP_E_INVALID_ARG` for a
/// NULL, empty or malformed host, a port of 0, or an address that is not an IP literal.
#[no_mangle]
pub unsafe extern "C" fn iothttp_config_add_resolve(
    cfg: *mut iothttp_config,
    host: *const c_char,
    port: u16,
    address: *const c_char,
) -> iothttp_result {
    guard(|| {
        let cfg = unsafe { arg_ref(cfg, "cfg") }?;
        let host = unsafe { arg_str(host, "host") }?;
        let address = unsafe { arg_str(address, "address") }?;
        cfg.get().add_resolve(host, port, address)?;
        Ok(())
    })
}

/// Bound every call that sends no upload body and receives no download body (device auth and
/// publish) to `total_ms` in all: name lookup, connect, TLS, auth, every retry and backoff.
/// A call that would take longer fails with `IOTHTTP_E_TIMEOUT`. 0 (the default) sets no
/// bound. Upload bodies are bounded by the I/O timeout of each step and by the progress
/// callback.
#[no_mangle]
pub unsafe extern "C" fn iothttp_config_set_deadline(
    cfg: *mut iothttp_config,
    total_ms: u32,
) -> iothttp_result {
    guard(|| {
        let total = (total_ms > 0).then(|| Duration::from_millis(total_ms.into()));
        unsafe { arg_ref(cfg, "cfg") }?.get().set_deadline(total)?;
        Ok(())
    })
}

/// Never write the value of header `name` (case-insensitive) into a log line, also at
/// `IOTHTTP_LOG_TRACE`: for a header given to `iothttp_put` (or sent by a store) that carries a
/// secret under a name the library cannot recognise. Authorization, cookies, and every name
/// containing key, token, secret, signature or credential are already hidden.
/// `IOTHTTP_E_INVALID_ARG` for a NULL, empty or malformed name.
#[no_mangle]
pub unsafe extern "C" fn iothttp_config_add_secret_header(
    cfg: *mut iothttp_config,
    name: *const c_char,
) -> iothttp_result {
    guard(|| {
        let cfg = unsafe { arg_ref(cfg, "cfg") }?;
        let name = unsafe { arg_str(name, "name") }?;
        cfg.get().add_secret_header(name)?;
        Ok(())
    })
}
