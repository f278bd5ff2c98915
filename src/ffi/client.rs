//! `iothttp_client`: the transport devices and accounts share.

use std::sync::{Arc, RwLock};

use super::config::iothttp_config;
use super::{arg_out, arg_ref, give, guard, guard_quiet, iothttp_result, take};
use crate::client::Client;

/// A client: TLS trust, connection pool, timeouts, retries and log, shared by every device
/// made from it. Thread-safe. Devices keep the client's transport alive, so the client may
/// be freed before them.
pub struct iothttp_client {
    pub(crate) inner: Client,
    /// Open while this handle lives: the C log callback runs only while holding it open, so
    /// after `iothttp_client_free` returns no callback runs with the caller's userdata, also
    /// not for the devices and accounts that outlive the client.
    log_gate: Option<Arc<RwLock<bool>>>,
}

impl Drop for iothttp_client {
    fn drop(&mut self) {
        if let Some(gate) = &self.log_gate {
            // Waits for a callback running on another thread to return.
            *gate.write().unwrap_or_else(|e| e.into_inner()) = false;
        }
    }
}

/// Make a client from `cfg` (copied: `cfg` may be freed right after). On success `*out`
/// receives a handle to release with `iothttp_client_free`; on failure `*out` is untouched.
/// Fails with `IOTHTTP_E_INVALID_ARG` when built-in roots are off and no CA was added.
#[no_mangle]
pub unsafe extern "C" fn iothttp_client_new(
    cfg: *const iothttp_config,
    out: *mut *mut iothttp_client,
) -> iothttp_result {
    guard(|| {
        let cfg = unsafe { arg_ref(cfg, "cfg") }?;
        arg_out(out, "out")?;
        let mut config = cfg.get().clone();
        let log_gate = config.log.take().map(|(sink, level)| {
            let gate = Arc::new(RwLock::new(true));
            let open = Arc::clone(&gate);
            config.set_log(
                Arc::new(move |l, line| {
                    if *open.read().unwrap_or_else(|e| e.into_inner()) {
                        sink(l, line)
                    }
                }),
                level,
            );
            gate
        });
        let client = Client::new(&config)?;
        unsafe {
            give(
                out,
                iothttp_client {
                    inner: client,
                    log_gate,
                },
            )
        };
        Ok(())
    })
}

/// Release a client. NULL is a no-op. Devices and accounts made from it stay usable, but from
/// the moment this returns the log callback is never called again for them: the log
/// `userdata` need live only until the client is freed.
#[no_mangle]
pub unsafe extern "C" fn iothttp_client_free(client: *mut iothttp_client) {
    guard_quiet((), || unsafe { take(client) })
}

/// Counters for diagnostics and benchmarks: TLS handshakes completed and HTTP requests sent
/// by this client (and its devices) so far. Either out-pointer may be NULL.
#[no_mangle]
pub unsafe extern "C" fn iothttp_client_stats(
    client: *const iothttp_client,
    tls_handshakes: *mut u64,
    requests: *mut u64,
) -> iothttp_result {
    guard(|| {
        let stats = unsafe { arg_ref(client, "client") }?.inner.stats();
        unsafe {
            if let Some(h) = tls_handshakes.as_mut() {
                *h = stats.tls_handshakes;
            }
            if let Some(r) = requests.as_mut() {
                *r = stats.requests;
            }
        }
        Ok(())
    })
}
