//! Local emulator of the UCloud IoT-Core, Alibaba Cloud IoT and Huawei AppGallery Connect
//! HTTPS endpoints.
//!
//! It serves, on 127.0.0.1 and with a freshly generated CA, the device auth and publish
//! endpoints exactly as the vendor documents describe them (`/ucloud/...`, `/aliyun/...` and
//! Huawei IoTDA's `/iotda/v5/...` on one port), so that client bugs show up as the documented error codes. Faults (error
//! codes, HTTP errors, delays, expired tokens, clock skew) are injected with a small
//! command language, available in-process through [`Emulator::control`] and over a plain
//! TCP line protocol on the control port.
//!
//! The same language injects the network's and the cloud's misbehaviour, per request
//! (see `help` and the `faults` module): mangled replies (`reply … garbage|empty|notjson|
//! truncated|missing|bigid|huge|hugeheader`), dropped connections (`drop … before-request|
//! before-reply|after-processing|mid-reply`), `hang`, `trickle`, `stall-read`, a listener
//! that accepts and never speaks TLS (`accept-no-tls`), and plain-HTTP upload URLs
//! (`upload-urls http`). Four more HTTPS listeners serve the same routes with certificates
//! a client must refuse or a protocol it must cope with: [`Emulator::untrusted_url`],
//! [`Emulator::expired_url`], [`Emulator::wrong_host_url`], [`Emulator::tls12_url`].
//!
//! The same port serves the upload endpoints, each body streamed through MD5 and SHA-256
//! with fixed buffers (objects are kept as metadata and digests, never as bytes):
//!
//! | route | what |
//! |---|---|
//! | `POST /ucloud-file/api/v1/url`, `PUT /ufile/...` | UCloud device file upload (seed 000) |
//! | `GET\|POST /aliyun-iot/`, `POST /oss/` | Alibaba GenerateOTAUploadURL and OSS PostObject (seed 002) |
//! | `POST /agc/api/oauth2/v1/token`, `GET /agc/api/publish/v2/upload-url/for-obs`, `PUT /obs/agc-bucket/...` | AppGallery Connect upload (seed 004) |
//! | `PUT /store/<key>`, `POST /store-form/` | generic presigned PUT and POST form |
//!
//! And downloads, with strong `ETag`s, `Last-Modified` and single byte ranges (RFC 9110
//! §14: `Range`, `If-Range`, 206, 416), their bodies made a 64 KiB piece at a time:
//!
//! | route | what |
//! |---|---|
//! | `GET\|HEAD /dl/<name>` | a `dl-object <name> <size> <seed>`: [`dl_content`] of the seed, up to 64 GiB, never stored |
//! | `GET\|HEAD /files/<path>` | a file under the `serve-dir <dir>` directory, streamed from disk |
//!
//! ```no_run
//! use iothttp_emulator::{Cloud, DeviceSpec, Emulator, Options};
//! let emu = Emulator::start(Options {
//!     devices: vec![DeviceSpec::new(Cloud::Ucloud, "pk", "dev", "secret")],
//!     ..Options::default()
//! })
//! .unwrap();
//! let url = emu.ucloud_url(); // https://127.0.0.1:PORT/ucloud
//! emu.control("fail publish ucloud pk dev 130 1").unwrap();
//! # let _ = url;
//! ```

mod agc;
mod aliyun;
mod clock;
mod control;
mod download;
mod iotda;
pub use download::{dl_content, dl_digests, DIGESTS_AT_ONCE, MAX_DL_SIZE};
mod faults;
mod http;
mod multipart;
mod oss;
mod ota;
mod routes;
mod server;
mod sign;
mod state;
mod store;
mod tls;
pub use tls::CLOUD_HOSTS;
mod ucloud;
mod ufile;
mod upload;

#[cfg(test)]
mod download_tests;
#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod upload_tests;

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use server::{Kind, Listener};
use state::{Port, Shared};
pub use tls::{DEVICE_EC, DEVICE_PKCS8, DEVICE_RSA, UNKNOWN_DEVICE};

/// The emulated clouds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cloud {
    /// UCloud IoT-Core (routes under `/ucloud`).
    Ucloud,
    /// Alibaba Cloud IoT (routes under `/aliyun`).
    Aliyun,
    /// Huawei Cloud IoTDA HTTPS device access (routes under `/iotda`).
    Iotda,
}

impl Cloud {
    /// `ucloud` or `aliyun`, as in URLs and control commands.
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Ucloud => "ucloud",
            Cloud::Aliyun => "aliyun",
            Cloud::Iotda => "iotda",
        }
    }

    /// The inverse of [`Cloud::as_str`].
    pub fn from_name(name: &str) -> Option<Cloud> {
        match name {
            "ucloud" => Some(Cloud::Ucloud),
            "aliyun" => Some(Cloud::Aliyun),
            "iotda" => Some(Cloud::Iotda),
            _ => None,
        }
    }
}

/// A device registered at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceSpec {
    pub cloud: Cloud,
    /// UCloud ProductSN / Alibaba productKey.
    pub product: String,
    /// UCloud DeviceSN / Alibaba deviceName.
    pub device: String,
    /// DeviceSecret.
    pub secret: String,
    pub disabled: bool,
}

impl DeviceSpec {
    /// An enabled device.
    pub fn new(cloud: Cloud, product: &str, device: &str, secret: &str) -> DeviceSpec {
        DeviceSpec {
            cloud,
            product: product.to_string(),
            device: device.to_string(),
            secret: secret.to_string(),
            disabled: false,
        }
    }
}

/// Start-up options.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub devices: Vec<DeviceSpec>,
    /// HTTPS port on 127.0.0.1; 0 = ephemeral.
    pub port: u16,
    /// Control port: None = no control listener, Some(0) = ephemeral.
    pub control_port: Option<u16>,
    /// Also serve the same routes over plain HTTP (on an ephemeral port).
    pub plain_http: bool,
    /// Where `ca.pem` is written; None = a fresh temporary directory, removed on drop.
    pub dir: Option<PathBuf>,
    /// Alibaba AccessKey pairs (access_key_id, access_key_secret) registered at start.
    pub accounts: Vec<(String, String)>,
    /// AppGallery Connect API clients (client_id, client_secret) registered at start.
    pub agc_clients: Vec<(String, String)>,
}

/// A running emulator. Dropping it stops the listeners, closes open connections and
/// removes its temporary directory.
pub struct Emulator {
    shared: Arc<Shared>,
    listeners: Vec<Listener>,
    https_addr: Option<SocketAddr>,
    plain_addr: Option<SocketAddr>,
    control_addr: Option<SocketAddr>,
    untrusted_addr: Option<SocketAddr>,
    expired_addr: Option<SocketAddr>,
    wrong_host_addr: Option<SocketAddr>,
    tls12_addr: Option<SocketAddr>,
    future_addr: Option<SocketAddr>,
    mtls_addr: Option<SocketAddr>,
    mtls12_addr: Option<SocketAddr>,
    devices: Vec<tls::DeviceCert>,
    ca_pem: String,
    ca_path: PathBuf,
    client_cert_dir: PathBuf,
    temp_dir: Option<PathBuf>,
}

fn https_url(addr: Option<SocketAddr>) -> String {
    addr.map_or_else(String::new, |addr| format!("https://{addr}"))
}

fn fresh_temp_dir() -> io::Result<PathBuf> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let tag = sign::hex(&sign::random_bytes(4));
    let dir = std::env::temp_dir().join(format!(
        "iothttp-emulator-{}-{seq}-{tag}",
        std::process::id()
    ));
    fs::create_dir(&dir)?;
    Ok(dir)
}

/// A relative path with each `/`-separated segment percent-encoded.
fn encode_path(rel: &str) -> String {
    rel.split('/')
        .map(sign::pct_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// Writes `contents` to `path` through a temporary name and a rename.
fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, contents)?;
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

impl Emulator {
    /// Generates the CA, writes `ca.pem` and starts the listeners.
    ///
    /// Setting the environment variable `IOTHTTP_EMU_LOG=1` logs one line per request to
    /// stderr (see also [`Emulator::set_logging`]).
    pub fn start(opts: Options) -> io::Result<Emulator> {
        let shared = Arc::new(Shared::default());
        if std::env::var("IOTHTTP_EMU_LOG").is_ok_and(|v| !v.is_empty() && v != "0") {
            shared.log.store(true, Ordering::Relaxed);
        }
        {
            let mut state = shared.lock();
            for d in &opts.devices {
                let key = (d.cloud, d.product.clone(), d.device.clone());
                state.add_device(key, &d.secret, d.disabled);
            }
            for (id, secret) in &opts.accounts {
                state.accounts.insert(id.clone(), secret.clone());
            }
            for (id, secret) in &opts.agc_clients {
                state.agc_clients.insert(id.clone(), secret.clone());
            }
        }
        let pki = tls::generate(clock::system_now_ms().div_euclid(1000))?;

        let mut emu = Emulator {
            shared: Arc::clone(&shared),
            listeners: Vec::new(),
            https_addr: None,
            plain_addr: None,
            control_addr: None,
            untrusted_addr: None,
            expired_addr: None,
            wrong_host_addr: None,
            tls12_addr: None,
            future_addr: None,
            mtls_addr: None,
            mtls12_addr: None,
            devices: pki.devices.clone(),
            ca_pem: pki.ca_pem.clone(),
            ca_path: PathBuf::new(),
            client_cert_dir: PathBuf::new(),
            temp_dir: None,
        };
        // From here on, an error drops `emu`, which undoes what was done.
        let dir = match &opts.dir {
            Some(dir) => {
                fs::create_dir_all(dir)?;
                dir.clone()
            }
            None => {
                let dir = fresh_temp_dir()?;
                emu.temp_dir = Some(dir.clone());
                dir
            }
        };
        emu.ca_path = dir.join("ca.pem");
        write_atomically(&emu.ca_path, pki.ca_pem.as_bytes())?;
        write_atomically(&dir.join("device-ca.pem"), pki.device_ca_pem.as_bytes())?;
        for d in &pki.devices {
            write_atomically(&dir.join(format!("{}.crt", d.name)), d.cert_pem.as_bytes())?;
            write_atomically(&dir.join(format!("{}.key", d.name)), d.key_pem.as_bytes())?;
        }
        let _ = shared.client_certs.set(
            pki.devices
                .iter()
                .map(|d| (d.der.to_vec(), d.name))
                .collect(),
        );
        emu.client_cert_dir = dir.clone();

        let https = Listener::spawn(
            Arc::clone(&shared),
            opts.port,
            Kind::Https(Arc::clone(&pki.server_config), Port::Https),
        )?;
        emu.https_addr = Some(https.addr());
        emu.listeners.push(https);
        if opts.plain_http {
            let plain = Listener::spawn(Arc::clone(&shared), 0, Kind::Plain)?;
            emu.plain_addr = Some(plain.addr());
            emu.listeners.push(plain);
        }
        // `upload-urls http` points to the plain listener, or else plainly to the TLS port.
        if let Some(addr) = emu.plain_addr.or(emu.https_addr) {
            let _ = shared.http_upload_base.set(format!("http://{addr}"));
        }
        for (config, port) in [
            (&pki.untrusted_config, Port::Untrusted),
            (&pki.expired_config, Port::Expired),
            (&pki.wrong_host_config, Port::WrongHost),
            (&pki.tls12_config, Port::Tls12),
            (&pki.future_config, Port::Future),
            (&pki.mtls_config, Port::Mtls),
            (&pki.mtls12_config, Port::Mtls12),
        ] {
            let listener = Listener::spawn(
                Arc::clone(&shared),
                0,
                Kind::Https(Arc::clone(config), port),
            )?;
            let addr = Some(listener.addr());
            match port {
                Port::Untrusted => emu.untrusted_addr = addr,
                Port::Expired => emu.expired_addr = addr,
                Port::WrongHost => emu.wrong_host_addr = addr,
                Port::Future => emu.future_addr = addr,
                Port::Mtls => emu.mtls_addr = addr,
                Port::Mtls12 => emu.mtls12_addr = addr,
                _ => emu.tls12_addr = addr,
            }
            emu.listeners.push(listener);
        }
        if let Some(port) = opts.control_port {
            let control = Listener::spawn(Arc::clone(&shared), port, Kind::Control)?;
            emu.control_addr = Some(control.addr());
            emu.listeners.push(control);
        }
        Ok(emu)
    }

    /// The mutual-TLS listener (TLS 1.3 only): the routes of the main port, for clients
    /// that present a device certificate signed by the device CA (`device-ec`,
    /// `device-pkcs8`, `device-rsa`); `GET /mtls/whoami` names the certificate presented.
    pub fn mtls_url(&self) -> String {
        https_url(self.mtls_addr)
    }

    /// The same as [`Emulator::mtls_url`], TLS 1.2 only.
    pub fn mtls12_url(&self) -> String {
        https_url(self.mtls12_addr)
    }

    /// The directory holding `<name>.crt` and `<name>.key` of every device certificate
    /// (see [`DEVICE_EC`]) and `device-ca.pem`.
    pub fn client_cert_dir(&self) -> &Path {
        &self.client_cert_dir
    }

    /// Paths of the certificate and the key of device certificate `name`.
    pub fn client_cert_paths(&self, name: &str) -> (PathBuf, PathBuf) {
        (
            self.client_cert_dir.join(format!("{name}.crt")),
            self.client_cert_dir.join(format!("{name}.key")),
        )
    }

    /// PEM texts (certificate, key) of device certificate `name`.
    pub fn client_cert_pem(&self, name: &str) -> Option<(String, String)> {
        self.devices
            .iter()
            .find(|d| d.name == name)
            .map(|d| (d.cert_pem.clone(), d.key_pem.clone()))
    }

    /// `https://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        match self.https_addr {
            Some(addr) => format!("https://{addr}"),
            None => String::new(),
        }
    }

    /// [`Emulator::base_url`] + `/ucloud`
    pub fn ucloud_url(&self) -> String {
        format!("{}/ucloud", self.base_url())
    }

    /// [`Emulator::base_url`] + `/aliyun`
    pub fn aliyun_url(&self) -> String {
        format!("{}/aliyun", self.base_url())
    }

    /// [`Emulator::base_url`] + `/iotda`: the Huawei IoTDA device access endpoint
    /// (`POST /v5/device-auth`, `POST /v5/devices/{id}/sys/messages/up`).
    pub fn iotda_url(&self) -> String {
        format!("{}/iotda", self.base_url())
    }

    /// [`Emulator::base_url`] + `/ucloud-file`: the UCloud file host (`POST /api/v1/url`).
    pub fn ufile_base_url(&self) -> String {
        format!("{}/ucloud-file", self.base_url())
    }

    /// [`Emulator::base_url`] + `/aliyun-iot`: the Alibaba IoT RPC endpoint
    /// (`GenerateOTAUploadURL`).
    pub fn aliyun_iot_url(&self) -> String {
        format!("{}/aliyun-iot", self.base_url())
    }

    /// [`Emulator::base_url`] + `/agc`: the AppGallery Connect API host.
    pub fn agc_url(&self) -> String {
        format!("{}/agc", self.base_url())
    }

    /// [`Emulator::base_url`] + `/store`: generic presigned PUTs go to `…/store/<key>`.
    pub fn store_url(&self) -> String {
        format!("{}/store", self.base_url())
    }

    /// [`Emulator::base_url`] + `/store-form/`: generic POST forms.
    pub fn store_form_url(&self) -> String {
        format!("{}/store-form/", self.base_url())
    }

    /// [`Emulator::base_url`] + `/dl`: downloads are `…/dl/<name>`.
    pub fn dl_base_url(&self) -> String {
        format!("{}/dl", self.base_url())
    }

    /// `https://127.0.0.1:PORT/dl/<name>`: the `dl-object` `name`.
    pub fn dl_url(&self, name: &str) -> String {
        format!("{}/{}", self.dl_base_url(), sign::pct_encode(name))
    }

    /// `http://127.0.0.1:PORT2/dl/<name>` when started with `plain_http`.
    pub fn plain_dl_url(&self, name: &str) -> Option<String> {
        let base = self.plain_base_url()?;
        Some(format!("{base}/dl/{}", sign::pct_encode(name)))
    }

    /// `https://127.0.0.1:PORT/files/<rel>`: the file `rel` (a relative path, `/`
    /// between segments) under the `serve-dir` directory; each segment percent-encoded.
    pub fn files_url(&self, rel: &str) -> String {
        format!("{}/files/{}", self.base_url(), encode_path(rel))
    }

    /// `http://127.0.0.1:PORT2/files/<rel>` when started with `plain_http`.
    pub fn plain_files_url(&self, rel: &str) -> Option<String> {
        let base = self.plain_base_url()?;
        Some(format!("{base}/files/{}", encode_path(rel)))
    }

    /// `https://127.0.0.1:PORT` of the listener whose certificate (for localhost,
    /// 127.0.0.1 and ::1) is signed by a second CA, not the one in `ca.pem`: a client
    /// trusting `ca.pem` must fail with an unknown-issuer error.
    pub fn untrusted_url(&self) -> String {
        https_url(self.untrusted_addr)
    }

    /// `https://127.0.0.1:PORT` of the listener whose certificate, signed by the CA in
    /// `ca.pem`, expired a day ago (valid from 30 days ago).
    pub fn expired_url(&self) -> String {
        https_url(self.expired_addr)
    }

    /// `https://127.0.0.1:PORT` of the listener whose certificate, signed by the CA in
    /// `ca.pem`, names only DNS `wrong.example` (no IP address).
    pub fn wrong_host_url(&self) -> String {
        https_url(self.wrong_host_addr)
    }

    /// `https://127.0.0.1:PORT` of the listener with the normal certificate that offers
    /// only TLS 1.2.
    pub fn tls12_url(&self) -> String {
        https_url(self.tls12_addr)
    }

    /// `https://127.0.0.1:PORT` of the listener whose certificate, signed by the CA in
    /// `ca.pem`, becomes valid only a year from now (a device clock that reads 1970).
    pub fn future_url(&self) -> String {
        https_url(self.future_addr)
    }

    /// `http://127.0.0.1:PORT2` when started with `plain_http`.
    pub fn plain_base_url(&self) -> Option<String> {
        self.plain_addr.map(|addr| format!("http://{addr}"))
    }

    /// The CA certificate (PEM) that signed the server certificate.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// Where the CA PEM was written (`<dir>/ca.pem`).
    pub fn ca_path(&self) -> PathBuf {
        self.ca_path.clone()
    }

    /// The control listener's address, when one was requested.
    pub fn control_addr(&self) -> Option<SocketAddr> {
        self.control_addr
    }

    /// Runs one control command: `Ok` carries the text after `OK `, `Err` the text after
    /// `ERR ` (as on the control port).
    pub fn control(&self, command: &str) -> Result<String, String> {
        control::execute(&self.shared, command)
    }

    /// Completed TLS handshakes so far (every HTTPS listener).
    pub fn handshakes(&self) -> u64 {
        self.shared.handshakes.load(Ordering::SeqCst)
    }

    /// Accepted TCP connections on the HTTP(S) listeners so far (all of them).
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// True once the `quit` command has been received.
    pub fn quit_requested(&self) -> bool {
        self.shared.quit.load(Ordering::SeqCst)
    }

    /// Turns the one-line-per-request log on stderr on or off.
    pub fn set_logging(&self, on: bool) {
        self.shared.log.store(on, Ordering::Relaxed);
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for listener in &mut self.listeners {
            listener.stop();
        }
        self.shared.shutdown_live();
        if let Some(dir) = &self.temp_dir {
            let _ = fs::remove_dir_all(dir);
        }
    }
}
