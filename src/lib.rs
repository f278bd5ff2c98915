//! # iothttp
//!
//! Device auth and publish to UCloud IoT-Core and Alibaba Cloud IoT over HTTPS, for device
//! firmware and tooling. The Rust API below is complete on its own; the C ABI in [`ffi`] is a
//! thin layer over it.
//!
//! ```no_run
//! use iothttp::{Client, Cloud, Config};
//!
//! let client = Client::new(&Config::new())?;
//! let device = client.device(Cloud::UCloud, "ZG1EvTEa7NN", "NlwaSPXsCpTQuh8FxBGH", "secret")?;
//! let published = device.publish("/ZG1EvTEa7NN/NlwaSPXsCpTQuh8FxBGH/upload/event", b"{}")?;
//! println!("message id {}", published.message_id);
//! # Ok::<(), iothttp::Error>(())
//! ```
//!
//! Cargo features select what is built (all by default): `ucloud`, `ucloud-files`, `aliyun`,
//! `aliyun-ota`, `agc`, `generic-uploads`, `downloads`, `builtin-roots`. A device of a cloud left out fails
//! with [`ErrorKind::Unsupported`] naming the feature; the types of a store left out are not
//! there at all (the C functions for them return `IOTHTTP_E_UNSUPPORTED`).

// A build with some capabilities left out leaves code that only they use: allowed there, kept
// strict in the full build (what clippy checks).
#![cfg_attr(
    not(all(
        feature = "ucloud",
        feature = "ucloud-files",
        feature = "aliyun",
        feature = "aliyun-ota",
        feature = "agc",
        feature = "generic-uploads",
        feature = "downloads",
        feature = "builtin-roots"
    )),
    allow(dead_code, unused_imports)
)]

#[cfg(feature = "agc")]
mod agc;
#[cfg(feature = "aliyun")]
mod aliyun;
#[cfg(feature = "aliyun-ota")]
mod aliyun_ota;
mod client;
mod cloud;
mod config;
mod counter;
mod device;
#[cfg(feature = "downloads")]
mod download;
mod early;
mod error;
pub mod ffi;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod log;
mod md5;
mod secret;
pub mod sign;
mod source;
mod tcp;
mod tls;
mod transport;
#[cfg(feature = "ucloud")]
mod ucloud;
#[cfg(iothttp_uploads)]
mod upload;

#[cfg(feature = "agc")]
pub use agc::{
    agc_size_limit, AgcClient, AGC_DEFAULT_ENDPOINT, AGC_MAX_AAB, AGC_MAX_APP, MAX_OBJECT_ID,
};
#[cfg(feature = "aliyun-ota")]
pub use aliyun_ota::{rpc_sign, AliyunAccount, MAX_OTA_FILE, MAX_URL, OTA_SUFFIXES};
pub use client::Client;
pub use cloud::{Cloud, Published, SignMethod, MAX_MESSAGE_ID_DIGITS};
pub use config::{Config, RetryPolicy};
pub use device::{validate_topic, Device, MAX_PAYLOAD, MAX_TOPIC};
#[cfg(feature = "downloads")]
pub use download::{Downloaded, Expected, Sink};
pub use error::{Error, ErrorKind, Result};
pub use log::{LogLevel, LogSink};
pub use secret::Secret;
pub use source::{Digests, Progress, Source, SourceRead};
pub use transport::ClientStats;
#[cfg(feature = "generic-uploads")]
pub use upload::FormFile;
