//! 64-bit counters on every target.
//!
//! The client's counters (TLS handshakes, requests) and its random state are 64-bit. Where the
//! target has 64-bit atomics (x86_64, aarch64, armv7, riscv64) they are an `AtomicU64`; on a
//! target without them (mips32 and powerpc32, whose standard library has no `AtomicU64`) the
//! same type is a mutex-guarded `u64`: they are touched a few times per request, nowhere near
//! a hot loop, so the lock costs nothing measurable there.

#[cfg(target_has_atomic = "64")]
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A 64-bit value shared between threads.
#[derive(Debug)]
pub(crate) struct Counter {
    #[cfg(target_has_atomic = "64")]
    v: AtomicU64,
    #[cfg(not(target_has_atomic = "64"))]
    v: Locked,
}

impl Counter {
    pub(crate) fn new(v: u64) -> Counter {
        Counter {
            #[cfg(target_has_atomic = "64")]
            v: AtomicU64::new(v),
            #[cfg(not(target_has_atomic = "64"))]
            v: Locked::new(v),
        }
    }

    pub(crate) fn load(&self) -> u64 {
        #[cfg(target_has_atomic = "64")]
        return self.v.load(Ordering::Relaxed);
        #[cfg(not(target_has_atomic = "64"))]
        return self.v.load();
    }

    pub(crate) fn store(&self, value: u64) {
        #[cfg(target_has_atomic = "64")]
        self.v.store(value, Ordering::Relaxed);
        #[cfg(not(target_has_atomic = "64"))]
        self.v.store(value);
    }

    /// Add `n`, returning the previous value (wrapping, like `AtomicU64::fetch_add`).
    pub(crate) fn fetch_add(&self, n: u64) -> u64 {
        #[cfg(target_has_atomic = "64")]
        return self.v.fetch_add(n, Ordering::Relaxed);
        #[cfg(not(target_has_atomic = "64"))]
        return self.v.fetch_add(n);
    }
}

/// The counter of a target without 64-bit atomics (compiled everywhere, so it is tested on
/// the machines the tests run on).
#[derive(Debug)]
#[cfg_attr(target_has_atomic = "64", allow(dead_code))]
pub(crate) struct Locked(Mutex<u64>);

#[cfg_attr(target_has_atomic = "64", allow(dead_code))]
impl Locked {
    pub(crate) fn new(v: u64) -> Locked {
        Locked(Mutex::new(v))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn load(&self) -> u64 {
        *self.lock()
    }

    pub(crate) fn store(&self, value: u64) {
        *self.lock() = value;
    }

    pub(crate) fn fetch_add(&self, n: u64) -> u64 {
        let mut v = self.lock();
        let old = *v;
        *v = old.wrapping_add(n);
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_kinds_count_the_same_across_threads() {
        let atomic = std::sync::Arc::new(Counter::new(u64::MAX - 1));
        let locked = std::sync::Arc::new(Locked::new(u64::MAX - 1));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (a, l) = (atomic.clone(), locked.clone());
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        a.fetch_add(1);
                        l.fetch_add(1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // 4000 added to 2^64 - 2 wraps to 3998.
        assert_eq!(atomic.load(), 3998);
        assert_eq!(locked.load(), 3998);
        atomic.store(1 << 40);
        locked.store(1 << 40);
        assert_eq!(
            (atomic.fetch_add(5), locked.fetch_add(5)),
            (1 << 40, 1 << 40)
        );
        assert_eq!(
            (atomic.load(), locked.load()),
            ((1 << 40) + 5, (1 << 40) + 5)
        );
    }
}
