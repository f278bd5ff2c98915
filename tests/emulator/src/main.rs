//! `iothttp-emulator`: runs the emulator as a process for C tests, demos and benchmarks.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use iothttp_emulator::{Cloud, DeviceSpec, Emulator, Options};

const USAGE: &str = "usage: iothttp-emulator [--port N] [--control-port N] [--plain-http] \
[--dir DIR] [--device <cloud>:<product>:<device>:<secret>]... \
[--account <access_key_id>:<secret>]... [--agc-client <client_id>:<secret>]... \
[--info-file PATH] [--exit-on-stdin-eof] [--quiet]
Without --device, demo identities are registered: ucloud demoProduct/demoDevice and aliyun \
a1demoPK/demoDevice, iotda demoProduct/demoProduct_demoDevice (secret demoSecret), the Alibaba account demoAccessKeyId / \
demoAccessKeySecret and the AppGallery client demoClientId / demoClientSecret.";

struct Args {
    opts: Options,
    info_file: Option<PathBuf>,
    exit_on_stdin_eof: bool,
    quiet: bool,
}

fn parse_device(spec: &str) -> Result<DeviceSpec, String> {
    let mut parts = spec.splitn(4, ':');
    let (Some(cloud), Some(product), Some(device), Some(secret)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!(
            "--device {spec}: expected <cloud>:<product>:<device>:<secret>"
        ));
    };
    let cloud = Cloud::from_name(cloud)
        .ok_or_else(|| format!("--device {spec}: cloud must be ucloud, aliyun or iotda"))?;
    if product.is_empty() || device.is_empty() || secret.is_empty() {
        return Err(format!("--device {spec}: empty field"));
    }
    Ok(DeviceSpec::new(cloud, product, device, secret))
}

fn parse_pair(flag: &str, spec: &str) -> Result<(String, String), String> {
    match spec.split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
            Ok((id.to_string(), secret.to_string()))
        }
        _ => Err(format!("{flag} {spec}: expected <id>:<secret>")),
    }
}

fn parse_args() -> Result<Args, String> {
    let mut opts = Options {
        control_port: Some(0),
        ..Options::default()
    };
    let (mut info_file, mut exit_on_stdin_eof, mut quiet) = (None, false, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                let v = value("--port")?;
                opts.port = v.parse().map_err(|_| format!("bad --port {v}"))?;
            }
            "--control-port" => {
                let v = value("--control-port")?;
                opts.control_port = Some(v.parse().map_err(|_| format!("bad --control-port {v}"))?);
            }
            "--plain-http" => opts.plain_http = true,
            "--dir" => opts.dir = Some(PathBuf::from(value("--dir")?)),
            "--device" => opts.devices.push(parse_device(&value("--device")?)?),
            "--account" => opts
                .accounts
                .push(parse_pair("--account", &value("--account")?)?),
            "--agc-client" => opts
                .agc_clients
                .push(parse_pair("--agc-client", &value("--agc-client")?)?),
            "--info-file" => info_file = Some(PathBuf::from(value("--info-file")?)),
            "--exit-on-stdin-eof" => exit_on_stdin_eof = true,
            "--quiet" => quiet = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if opts.devices.is_empty() {
        opts.devices = vec![
            DeviceSpec::new(Cloud::Ucloud, "demoProduct", "demoDevice", "demoSecret"),
            DeviceSpec::new(Cloud::Aliyun, "a1demoPK", "demoDevice", "demoSecret"),
            DeviceSpec::new(
                Cloud::Iotda,
                "demoProduct",
                "demoProduct_demoDevice",
                "demoSecret",
            ),
        ];
        opts.accounts.push((
            "demoAccessKeyId".to_string(),
            "demoAccessKeySecret".to_string(),
        ));
        opts.agc_clients
            .push(("demoClientId".to_string(), "demoClientSecret".to_string()));
    }
    Ok(Args {
        opts,
        info_file,
        exit_on_stdin_eof,
        quiet,
    })
}

#[cfg(unix)]
mod signals {
    use std::sync::atomic::{AtomicBool, Ordering};

    pub static RECEIVED: AtomicBool = AtomicBool::new(false);

    const SIGINT: i32 = 2;
    const SIGTERM: i32 = 15;

    extern "C" fn on_signal(_: i32) {
        RECEIVED.store(true, Ordering::SeqCst);
    }

    extern "C" {
        fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    }

    /// SIGINT and SIGTERM set [`RECEIVED`] (the main loop then shuts down cleanly).
    pub fn install() {
        // SAFETY: `signal` is the C library function; the handler only stores to an atomic,
        // which is async-signal-safe.
        unsafe {
            signal(SIGINT, on_signal);
            signal(SIGTERM, on_signal);
        }
    }

    pub fn received() -> bool {
        RECEIVED.load(Ordering::SeqCst)
    }
}

#[cfg(not(unix))]
mod signals {
    pub fn install() {}
    pub fn received() -> bool {
        false
    }
}

fn info_lines(emu: &Emulator) -> String {
    let mut text = format!(
        "IOTHTTP_EMU_URL={}\nIOTHTTP_EMU_UCLOUD_URL={}\nIOTHTTP_EMU_ALIYUN_URL={}\n\
         IOTHTTP_EMU_IOTDA_URL={}\n\
         IOTHTTP_EMU_UFILE_URL={}\nIOTHTTP_EMU_ALIYUN_IOT_URL={}\nIOTHTTP_EMU_AGC_URL={}\n\
         IOTHTTP_EMU_STORE_URL={}\nIOTHTTP_EMU_STORE_FORM_URL={}\nIOTHTTP_EMU_CA={}\n\
         IOTHTTP_EMU_UNTRUSTED_URL={}\nIOTHTTP_EMU_EXPIRED_URL={}\nIOTHTTP_EMU_WRONG_HOST_URL={}\n\
         IOTHTTP_EMU_TLS12_URL={}\nIOTHTTP_EMU_FUTURE_URL={}\nIOTHTTP_EMU_DL_URL={}\n\
         IOTHTTP_EMU_FILES_URL={}/files\n",
        emu.base_url(),
        emu.ucloud_url(),
        emu.aliyun_url(),
        emu.iotda_url(),
        emu.ufile_base_url(),
        emu.aliyun_iot_url(),
        emu.agc_url(),
        emu.store_url(),
        emu.store_form_url(),
        emu.ca_path().display(),
        emu.untrusted_url(),
        emu.expired_url(),
        emu.wrong_host_url(),
        emu.tls12_url(),
        emu.future_url(),
        emu.dl_base_url(),
        emu.base_url()
    );
    text.push_str(&format!(
        "IOTHTTP_EMU_MTLS_URL={}\nIOTHTTP_EMU_MTLS12_URL={}\nIOTHTTP_EMU_CLIENT_CERTS={}\n",
        emu.mtls_url(),
        emu.mtls12_url(),
        emu.client_cert_dir().display()
    ));
    if let Some(addr) = emu.control_addr() {
        text.push_str(&format!("IOTHTTP_EMU_CONTROL={addr}\n"));
    }
    if let Some(url) = emu.plain_base_url() {
        text.push_str(&format!("IOTHTTP_EMU_PLAIN_URL={url}\n"));
        text.push_str(&format!("IOTHTTP_EMU_PLAIN_DL_URL={url}/dl\n"));
    }
    text
}

fn write_info_file(path: &PathBuf, text: &str) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("iothttp-emulator: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    signals::install();
    let emu = match Emulator::start(args.opts) {
        Ok(emu) => emu,
        Err(e) => {
            eprintln!("iothttp-emulator: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    emu.set_logging(!args.quiet);

    let info = info_lines(&emu);
    let mut stdout = io::stdout().lock();
    let _ = stdout
        .write_all(info.as_bytes())
        .and_then(|_| stdout.flush());
    drop(stdout);
    if let Some(path) = &args.info_file {
        if let Err(e) = write_info_file(path, &info) {
            eprintln!("iothttp-emulator: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }

    let stdin_closed = Arc::new(AtomicBool::new(false));
    if args.exit_on_stdin_eof {
        let flag = Arc::clone(&stdin_closed);
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            let mut stdin = io::stdin();
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            flag.store(true, Ordering::SeqCst);
        });
    }

    while !emu.quit_requested() && !signals::received() && !stdin_closed.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("iothttp-emulator: shutting down");
    drop(emu);
    if let Some(path) = &args.info_file {
        let _ = std::fs::remove_file(path);
    }
    ExitCode::SUCCESS
}
