//! A client: the transport (TLS trust, pool, timeouts, retries, log) that devices share.

use std::sync::Arc;

use crate::clouds::Cloud;
use crate::config::Config;
use crate::device::Device;
use crate::error::Result;
use crate::net::transport::{ClientStats, Http};

/// The transport every device and account made from it shares: one connection pool, one
/// TLS trust store, one retry policy, one log. Cheap to clone; thread-safe.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) http: Arc<Http>,
}

impl Client {
    /// Build a client. Fails with [`ErrorKind::InvalidArg`](crate::ErrorKind::InvalidArg)
    /// when the configuration leaves no trust anchor.
    pub fn new(config: &Config) -> Result<Client> {
        Ok(Client {
            http: Arc::new(Http::new(config)?),
        })
    }

    /// A device identity on `cloud` using this client's transport.
    pub fn device(
        &self,
        cloud: Cloud,
        product: &str,
        device: &str,
        secret: &str,
    ) -> Result<Device> {
        Device::new(self.clone(), cloud, product, device, secret)
    }

    /// Counters (TLS handshakes, requests) for tests and benchmarks.
    pub fn stats(&self) -> ClientStats {
        self.http.stats()
    }
}
