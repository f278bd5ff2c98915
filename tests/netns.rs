//! Tests that need a network namespace of their own (`unshare --net`: only a loopback, so no
//! packet can leave the machine and a name lookup fails at once):
//!
//! - the clouds' *default* public endpoints of every documented region, on port 443, reached
//!   through `Config::add_resolve` at an emulator listening on 127.0.0.1:443 whose
//!   certificate names those hosts: the default URLs, the SNI and the host-name checks are
//!   the real ones, only the address is overridden;
//! - a failed name lookup of a default endpoint is `ErrorKind::Connect`, without ever asking
//!   the machine's (off-machine) name server;
//! - a TCP connect that times out is a connect failure, retried by the policy.
//!
//! Each test re-runs itself inside `unshare --net` (root, or unprivileged user namespaces).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use iothttp::{AgcClient, AliyunAccount, Client, Cloud, Config, ErrorKind, Source};
use iothttp_emulator::{Emulator, Options, CLOUD_HOSTS};

const INNER: &str = "IOTHTTP_TEST_IN_NETNS";

/// True inside the namespace; outside, runs `test` there and checks it passed.
fn in_own_namespace(test: &str) -> bool {
    if std::env::var_os(INNER).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("test binary");
    let status = Command::new("unshare")
        .args(["--net", "--", "sh", "-c"])
        // Loopback, plus a veth pair on 10.9.9.0/24 where nobody answers: a TCP connect to
        // 10.9.9.2 waits for an ARP reply that never comes (a connect timeout, in a
        // namespace from which no packet leaves).
        .arg(concat!(
            "ip link set lo up && ip link add v0 type veth peer name v1 && ",
            "ip addr add 10.9.9.1/24 dev v0 && ip link set v0 up && ip link set v1 up && ",
            r#"exec "$0" "$1" --exact --nocapture --test-threads 1"#
        ))
        .arg(&exe)
        .arg(test)
        .env(INNER, "1")
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run `unshare --net` ({e}): {test} needs a network namespace of its own")
        });
    assert!(
        status.success(),
        "{test} failed inside its network namespace ({status})"
    );
    false
}

fn emulator_on_443() -> Emulator {
    let emu = Emulator::start(Options {
        port: 443,
        ..Default::default()
    })
    .expect("the emulator listens on 127.0.0.1:443 of the namespace");
    for cmd in [
        "add-device ucloud demoProduct demoDevice demoSecret",
        "add-device aliyun a1demoPK demoDevice demoSecret",
        "add-account demoAccessKeyId demoAccessKeySecret",
        "add-agc-client demoClientId demoClientSecret",
    ] {
        emu.control(cmd).unwrap();
    }
    emu
}

#[test]
fn default_endpoints_of_every_cloud_and_region_through_the_resolve_override() {
    if !in_own_namespace("default_endpoints_of_every_cloud_and_region_through_the_resolve_override")
    {
        return;
    }
    let emu = emulator_on_443();
    let mut cfg = Config::new();
    cfg.add_ca_pem(emu.ca_pem().as_bytes()).unwrap();
    for host in CLOUD_HOSTS {
        cfg.add_resolve(host, 443, "127.0.0.1").unwrap();
    }
    let client = Client::new(&cfg).unwrap();

    for (cloud, product, region) in [
        (Cloud::UCloud, "demoProduct", "cn-sh2"),
        (Cloud::UCloud, "demoProduct", "cn-gd"),
        (Cloud::Aliyun, "a1demoPK", "cn-shanghai"),
        (Cloud::Aliyun, "a1demoPK", "cn-beijing"),
        (Cloud::Aliyun, "a1demoPK", "cn-shenzhen"),
        (Cloud::Aliyun, "a1demoPK", "ap-southeast-1"),
    ] {
        let dev = client
            .device(cloud, product, "demoDevice", "demoSecret")
            .unwrap();
        dev.set_region(region).unwrap();
        let host = dev.endpoint();
        assert!(!host.contains("127.0.0.1"), "{host}");
        let published = dev
            .publish(&format!("/{product}/demoDevice/upload/event"), b"{}")
            .unwrap_or_else(|e| panic!("{cloud:?} {region} ({host}): {e}"));
        assert!(!published.message_id.is_empty());
    }

    // The uploads' default endpoints too.
    let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7) as u8).collect();
    let dev = client
        .device(Cloud::UCloud, "demoProduct", "demoDevice", "demoSecret")
        .unwrap();
    dev.set_region("cn-gd").unwrap();
    assert_eq!(
        dev.file_endpoint().as_deref(),
        Some("https://file-cn-gd.iot.ucloud.cn")
    );
    dev.upload_file(
        "d.bin",
        "application/octet-stream",
        &mut Source::from_bytes(data.clone()),
        None,
    )
    .unwrap();
    let acct = AliyunAccount::new(&client, "demoAccessKeyId", "demoAccessKeySecret").unwrap();
    assert_eq!(acct.endpoint(), "https://iot.cn-shanghai.aliyuncs.com");
    acct.ota_upload(None, &mut Source::from_bytes(data.clone()), None)
        .unwrap();
    let agc = AgcClient::new(&client, "demoClientId", "demoClientSecret").unwrap();
    assert_eq!(agc.endpoint(), "https://connect-api.cloud.huawei.com");
    agc.upload("10086", "a.app", &mut Source::from_bytes(data), None)
        .unwrap();

    // Without the override the same names are looked up, and fail: nothing else answers.
    let plain = Client::new(&{
        let mut c = Config::new();
        c.add_ca_pem(emu.ca_pem().as_bytes()).unwrap();
        c
    })
    .unwrap();
    let dev = plain
        .device(Cloud::UCloud, "demoProduct", "demoDevice", "demoSecret")
        .unwrap();
    let e = dev.auth().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
}

#[test]
fn a_failed_name_lookup_is_a_connect_error() {
    if !in_own_namespace("a_failed_name_lookup_is_a_connect_error") {
        return;
    }
    let client = Client::new(&Config::new()).unwrap();
    let dev = client
        .device(Cloud::Aliyun, "a1PK", "dev", "secret")
        .unwrap();
    let started = Instant::now();
    let e = dev.publish("/a1PK/dev/user/update", b"x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(
        e.message()
            .contains("cannot resolve host 'iot-as-http.cn-shanghai.aliyuncs.com'"),
        "{e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_tcp_connect_timeout_is_a_retried_connect_failure() {
    if !in_own_namespace("a_tcp_connect_timeout_is_a_retried_connect_failure") {
        return;
    }
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut cfg = Config::new();
    cfg.set_timeouts(Duration::from_millis(300), Duration::from_secs(5))
        .unwrap();
    cfg.set_retries(iothttp::RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
    })
    .unwrap();
    let sink = std::sync::Arc::clone(&logs);
    cfg.set_log(
        std::sync::Arc::new(move |_, line| sink.lock().unwrap().push(line.to_string())),
        iothttp::LogLevel::Trace,
    );
    let client = Client::new(&cfg).unwrap();
    let dev = client.device(Cloud::UCloud, "p", "d", "s").unwrap();
    dev.set_endpoint("https://10.9.9.2/ucloud").unwrap();
    let started = Instant::now();
    let e = dev.auth().unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(e.message().contains("timed out connecting"), "{e}");
    assert!(e.message().contains("gave up after 3 attempts"), "{e}");
    let attempts = logs
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("> POST"))
        .count();
    assert_eq!(attempts, 3);
    // Three connect budgets of 300 ms and two short backoffs.
    assert!(
        took >= Duration::from_millis(850) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

/// The whole-call deadline holds over connect timeouts, retries and backoff.
#[test]
fn the_call_deadline_bounds_connects_and_retries() {
    if !in_own_namespace("the_call_deadline_bounds_connects_and_retries") {
        return;
    }
    let mut cfg = Config::new();
    cfg.set_timeouts(Duration::from_secs(2), Duration::from_secs(5))
        .unwrap();
    cfg.set_retries(iothttp::RetryPolicy {
        max_attempts: 10,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(1),
    })
    .unwrap();
    cfg.set_deadline(Some(Duration::from_millis(700))).unwrap();
    let client = Client::new(&cfg).unwrap();
    let dev = client.device(Cloud::UCloud, "p", "d", "s").unwrap();
    dev.set_endpoint("https://10.9.9.2/ucloud").unwrap();
    let started = Instant::now();
    let e = dev.publish("/p/d/x", b"x").unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.message().contains("deadline of 700 ms"), "{e}");
    assert!(took < Duration::from_millis(1200), "{took:?}");
}
