//! Shared setup for the integration tests: an in-process emulator per test, a client that
//! trusts it, and a log capture.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iothttp::{Client, Cloud, Config, Device, LogLevel, RetryPolicy};
use iothttp_emulator::{Emulator, Options};

pub struct Env {
    pub emu: Emulator,
    pub client: Client,
    pub logs: Arc<Mutex<Vec<String>>>,
}

pub fn cloud_name(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::UCloud => "ucloud",
        Cloud::Aliyun => "aliyun",
        Cloud::HuaweiIotda => "iotda",
    }
}

/// A config that trusts the emulator, retries fast, and captures TRACE logs.
pub fn config(emu: &Emulator, logs: &Arc<Mutex<Vec<String>>>) -> Config {
    let mut cfg = Config::new();
    cfg.add_ca_pem(emu.ca_pem().as_bytes()).unwrap();
    cfg.set_retries(RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    })
    .unwrap();
    cfg.set_timeouts(Duration::from_secs(5), Duration::from_secs(5))
        .unwrap();
    let sink = Arc::clone(logs);
    cfg.set_log(
        Arc::new(move |level, line| {
            sink.lock().unwrap().push(format!("{level:?} {line}"));
        }),
        LogLevel::Trace,
    );
    cfg
}

pub fn env() -> Env {
    env_with(Options::default(), |_| {})
}

pub fn env_with(opts: Options, tweak: impl FnOnce(&mut Config)) -> Env {
    let emu = Emulator::start(opts).expect("emulator starts");
    let logs = Arc::new(Mutex::new(Vec::new()));
    let mut cfg = config(&emu, &logs);
    tweak(&mut cfg);
    let client = Client::new(&cfg).expect("client");
    Env { emu, client, logs }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct Dev {
    pub device: Device,
    pub cloud: Cloud,
    pub product: String,
    pub name: String,
    pub secret: String,
}

impl Dev {
    /// `<cloud> <product> <device>` for emulator commands.
    pub fn key(&self) -> String {
        format!("{} {} {}", cloud_name(self.cloud), self.product, self.name)
    }

    pub fn topic(&self) -> String {
        match self.cloud {
            Cloud::HuaweiIotda => format!("$oc/devices/{}/sys/messages/up", self.name),
            _ => format!("/{}/{}/upload/event", self.product, self.name),
        }
    }
}

impl Env {
    /// Register a fresh device on the emulator and make its client-side twin.
    pub fn device(&self, cloud: Cloud) -> Dev {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let product = format!("prod{n}");
        let name = format!("dev{n}");
        let secret = format!("s3cr3t-{n}-secret-value");
        self.control(&format!(
            "add-device {} {product} {name} {secret}",
            cloud_name(cloud)
        ));
        let device = self.client.device(cloud, &product, &name, &secret).unwrap();
        device.set_endpoint(&self.url(cloud)).unwrap();
        Dev {
            device,
            cloud,
            product,
            name,
            secret,
        }
    }

    pub fn url(&self, cloud: Cloud) -> String {
        match cloud {
            Cloud::UCloud => self.emu.ucloud_url(),
            Cloud::Aliyun => self.emu.aliyun_url(),
            Cloud::HuaweiIotda => self.emu.iotda_url(),
        }
    }

    pub fn control(&self, cmd: &str) -> String {
        self.emu
            .control(cmd)
            .unwrap_or_else(|e| panic!("emulator command '{cmd}' failed: {e}"))
    }

    /// The emulator's counters for a device.
    pub fn counters(&self, dev: &Dev) -> serde_json::Value {
        serde_json::from_str(&self.control(&format!("counters {}", dev.key()))).unwrap()
    }

    pub fn count(&self, dev: &Dev, name: &str) -> u64 {
        self.counters(dev)[name].as_u64().unwrap()
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}
