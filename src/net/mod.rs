//! The network: one ureq agent per client with its retries, deadlines and clock offsets
//! (transport), the TCP and TLS transports under it, replies read back after a failed write
//! (early), and the counters they keep.

pub(crate) mod counter;
pub(crate) mod early;
pub(crate) mod tcp;
pub(crate) mod tls;
pub(crate) mod transport;
