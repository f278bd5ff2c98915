//! Moving bodies: upload sources (file, memory, callbacks, digests), the streamed PUT and
//! multipart POST with their retry loop, and downloads (ranges, `.part`, rename).

#[cfg(feature = "downloads")]
pub(crate) mod download;
pub(crate) mod source;
#[cfg(iothttp_uploads)]
pub(crate) mod upload;
