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

mod client;
mod clouds;
mod config;
mod device;
mod error;
pub mod ffi;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod log;
mod md5;
mod net;
mod secret;
pub mod sign;
mod stores;
mod transfer;

pub use client::Client;
pub use clouds::{Cloud, Published, SignMethod, MAX_MESSAGE_ID_DIGITS};
pub use config::{Config, RetryPolicy};
pub use device::{validate_topic, Device, MAX_PAYLOAD, MAX_TOPIC};
pub use error::{Error, ErrorKind, Result};
pub use log::{LogLevel, LogSink};
pub use net::transport::ClientStats;
pub use secret::Secret;
#[cfg(feature = "agc")]
pub use stores::agc::{
    agc_size_limit, AgcClient, AGC_DEFAULT_ENDPOINT, AGC_MAX_AAB, AGC_MAX_APP, MAX_OBJECT_ID,
};
#[cfg(feature = "aliyun-ota")]
pub use stores::aliyun_ota::{rpc_sign, AliyunAccount, MAX_OTA_FILE, MAX_URL, OTA_SUFFIXES};
#[cfg(feature = "downloads")]
pub use transfer::download::{Downloaded, Expected, Sink};
pub use transfer::source::{Digests, Progress, Source, SourceRead};
#[cfg(feature = "generic-uploads")]
pub use transfer::upload::FormFile;
