//! The fault matrix: every fault the network and the cloud can throw, injected by the
//! emulator. Each case ends in success (with a server-verified digest for uploads) or in a
//! clear error within the configured bounds, with nothing completed on the server that
//! should not be. The outcomes are listed in tests/FAULTS.md.

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{env_with, Dev, Env};
use iothttp::{Cloud, Config, ErrorKind, Source};
use iothttp_emulator::Options;
use serde_json::Value;

const CLOUDS: [Cloud; 2] = [Cloud::UCloud, Cloud::Aliyun];
const IO_MS: u64 = 700;
/// Allowed beyond a configured bound: scheduling on a loaded 2-core machine.
const MARGIN: Duration = Duration::from_millis(1500);

fn fast_env() -> Env {
    env_with(
        Options {
            plain_http: true,
            ..Options::default()
        },
        |c| {
            c.set_timeouts(Duration::from_millis(1500), Duration::from_millis(IO_MS))
                .unwrap();
        },
    )
}

fn authed(env: &Env, cloud: Cloud) -> Dev {
    let dev = env.device(cloud);
    dev.device.auth().unwrap();
    dev
}

fn publishes(env: &Env, dev: &Dev) -> u64 {
    env.count(dev, "publishes")
}

#[test]
fn malformed_replies_are_bad_responses() {
    let env = fast_env();
    for cloud in CLOUDS {
        for kind in [
            "garbage",
            "empty",
            "notjson",
            "truncated",
            "missing",
            "bigid",
            "huge",
            "hugeheader",
        ] {
            let dev = authed(&env, cloud);
            env.control(&format!("reply publish {} {kind} 1", dev.key()));
            let e = dev.device.publish(&dev.topic(), b"x").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BadResponse, "{cloud:?} {kind}: {e}");
            assert!(!e.message().is_empty());
            // The device stays usable.
            dev.device.publish(&dev.topic(), b"y").unwrap();
        }
        for kind in [
            "garbage",
            "empty",
            "notjson",
            "truncated",
            "missing",
            "huge",
        ] {
            let dev = env.device(cloud);
            env.control(&format!("reply auth {} {kind} 1", dev.key()));
            let e = dev.device.auth().unwrap_err();
            assert_eq!(
                e.kind(),
                ErrorKind::BadResponse,
                "{cloud:?} auth {kind}: {e}"
            );
            assert!(dev.device.token().is_none());
            dev.device.auth().unwrap();
        }
    }
}

#[test]
fn cut_connections_are_io_errors_and_not_resent() {
    let env = fast_env();
    for cloud in CLOUDS {
        for (when, processed) in [
            ("before-request", false),
            ("before-reply", false),
            ("after-processing", true),
            ("mid-reply", true),
        ] {
            let dev = authed(&env, cloud);
            env.control(&format!("drop publish {} {when} 1", dev.key()));
            let e = dev.device.publish(&dev.topic(), b"x").unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::Io | ErrorKind::BadResponse),
                "{cloud:?} {when}: {e}"
            );
            // A publish is not idempotent: after a cut it is never sent again by itself.
            assert_eq!(env.count(&dev, "publish_requests"), 1, "{cloud:?} {when}");
            assert_eq!(
                publishes(&env, &dev),
                u64::from(processed),
                "{cloud:?} {when}"
            );
        }
    }
}

#[test]
fn silent_and_slow_servers_time_out_within_the_bound() {
    let env = fast_env();
    let bound = Duration::from_millis(IO_MS) + MARGIN;
    for cloud in CLOUDS {
        let dev = authed(&env, cloud);
        env.control(&format!("hang publish {} 1", dev.key()));
        let t = Instant::now();
        let e = dev.device.publish(&dev.topic(), b"x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
        assert!(t.elapsed() < bound, "hang took {:?}", t.elapsed());

        env.control(&format!("trickle publish {} 1 1", dev.key()));
        let t = Instant::now();
        let e = dev.device.publish(&dev.topic(), b"x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
        assert!(t.elapsed() < bound, "trickle took {:?}", t.elapsed());
        dev.device.publish(&dev.topic(), b"ok").unwrap();
    }
    // A server that accepts and never starts TLS: the connect timeout (one budget for the
    // TCP connect and the handshake), a connect failure: nothing was sent.
    env.control("accept-no-tls on");
    let client = iothttp::Client::new(&{
        let mut c = Config::new();
        c.add_ca_pem(env.emu.ca_pem().as_bytes()).unwrap();
        c.set_timeouts(Duration::from_millis(800), Duration::from_millis(IO_MS))
            .unwrap();
        c.set_retries(iothttp::RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
        })
        .unwrap();
        c
    })
    .unwrap();
    let d = client.device(Cloud::UCloud, "p", "d", "s").unwrap();
    d.set_endpoint(&env.emu.ucloud_url()).unwrap();
    let t = Instant::now();
    let e = d.auth().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(e.message().contains("timed out connecting"), "{e}");
    assert!(
        t.elapsed() < Duration::from_millis(800) + MARGIN,
        "{:?}",
        t.elapsed()
    );
    env.control("accept-no-tls off");
}

#[test]
fn stalled_upload_times_out_and_stores_nothing() {
    let env = fast_env();
    let mut src = Source::from_bytes(vec![9u8; 8 << 20]);
    env.control("stall-read store-put any 100000 1");
    let url = format!("{}/stall/x.bin", env.emu.store_url());
    let t = Instant::now();
    let mut marks = Vec::new();
    let mut cb = |sent: u64, _t: u64| {
        marks.push((t.elapsed().as_millis(), sent));
        true
    };
    let e = env
        .client
        .put(&url, &[], &mut src, Some(&mut cb))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(
        t.elapsed() < Duration::from_millis(IO_MS) + MARGIN,
        "stalled upload took {:?}: {e}",
        t.elapsed()
    );
    assert!(
        marks.last().is_some_and(|(_, sent)| *sent > 100_000),
        "it did start"
    );
    let objects: Value = serde_json::from_str(&env.control("objects")).unwrap();
    assert!(objects.as_array().unwrap().is_empty(), "{objects}");
}

#[test]
fn tls_failures() {
    let env = fast_env();
    for (url, words) in [
        (env.emu.untrusted_url(), "not signed by a trusted CA"),
        (env.emu.expired_url(), "expired"),
        (env.emu.wrong_host_url(), "not valid for this host name"),
    ] {
        let dev = env.device(Cloud::UCloud);
        dev.device.set_endpoint(&format!("{url}/ucloud")).unwrap();
        let e = dev.device.auth().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tls, "{url}: {e}");
        assert!(e.message().contains(words), "{e}");
        assert_eq!(env.count(&dev, "auth_requests"), 0);
    }
    // A certificate valid only from next year, as a device whose clock reads 1970 sees every
    // certificate: the message says the clock is behind, with both dates, and what to do.
    let dev = env.device(Cloud::UCloud);
    dev.device
        .set_endpoint(&format!("{}/ucloud", env.emu.future_url()))
        .unwrap();
    let e = dev.device.auth().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    let today = iothttp::sign::iso8601_date(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    let want = format!("the system clock is {today}, before the server certificate's validity");
    assert!(e.message().contains(&want), "{e}");
    assert!(e.message().contains("set the clock"), "{e}");
    // TLS 1.2 only: accepted.
    let dev = env.device(Cloud::Aliyun);
    dev.device
        .set_endpoint(&format!("{}/aliyun", env.emu.tls12_url()))
        .unwrap();
    dev.device.publish(&dev.topic(), b"tls12").unwrap();
}

#[test]
fn plain_http_upload_urls_from_the_cloud_are_refused() {
    let env = fast_env();
    env.control("upload-urls http");
    let dev = env.device(Cloud::UCloud);
    dev.device
        .set_file_endpoint(&env.emu.ufile_base_url())
        .unwrap();
    let mut src = Source::from_bytes(vec![1u8; 1000]);
    let e = dev
        .device
        .upload_file("a.bin", "a/b", &mut src, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    assert!(e.message().contains("plain-http"), "{e}");
    env.control("add-account ak sk");
    let acct = iothttp::AliyunAccount::new(&env.client, "ak", "sk").unwrap();
    acct.set_endpoint(&env.emu.aliyun_iot_url()).unwrap();
    assert_eq!(
        acct.ota_upload(None, &mut src, None).unwrap_err().kind(),
        ErrorKind::Tls
    );
    env.control("add-agc-client ci cs");
    let agc = iothttp::AgcClient::new(&env.client, "ci", "cs").unwrap();
    agc.set_endpoint(&env.emu.agc_url()).unwrap();
    assert_eq!(
        agc.upload("1", "a.app", &mut src, None).unwrap_err().kind(),
        ErrorKind::Tls
    );
    let stats: Value = serde_json::from_str(&env.control("upload-stats")).unwrap();
    assert_eq!(
        stats["plain_http_uploads"], 0,
        "no byte went over plain http"
    );
}

#[test]
fn upload_reply_faults() {
    let env = fast_env();
    let dev = env.device(Cloud::UCloud);
    dev.device
        .set_file_endpoint(&env.emu.ufile_base_url())
        .unwrap();
    let mut src = Source::from_bytes(vec![3u8; 100_000]);
    // The grant reply mangled: nothing uploaded.
    for kind in ["garbage", "empty", "missing", "huge", "truncated"] {
        env.control(&format!("reply file-url {} {kind} 1", dev.key()));
        let e = dev
            .device
            .upload_file("r.bin", "a/b", &mut src, None)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadResponse, "{kind}: {e}");
    }
    let stats: Value = serde_json::from_str(&env.control("upload-stats")).unwrap();
    assert_eq!(
        stats["ops"]["file-put"]["attempts"].as_u64().unwrap_or(0),
        0
    );
    // The store's reply lost after it stored the file: an error says so, and a retry
    // (idempotent) succeeds; the stored digest is right.
    env.control(&format!("drop file-put {} after-processing 1", dev.key()));
    dev.device
        .upload_file("r.bin", "a/b", &mut src, None)
        .unwrap();
    let objects: Value = serde_json::from_str(&env.control("objects")).unwrap();
    let o = objects
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["key"].as_str().unwrap().ends_with("/r.bin"))
        .unwrap();
    assert_eq!(o["size"], 100_000);
}

/// 8 threads × 1,000 publishes over one client and shared devices, with every token expired
/// half-way: every message is accepted exactly once, and each device authenticates once per
/// expiry.
#[test]
fn eight_threads_thousand_publishes_with_expiry() {
    let env = Arc::new(fast_env());
    let devs: Arc<Vec<Dev>> = Arc::new(
        [Cloud::UCloud, Cloud::Aliyun, Cloud::UCloud, Cloud::Aliyun]
            .into_iter()
            .map(|c| env.device(c))
            .collect(),
    );
    const THREADS: usize = 8;
    const EACH: usize = 1000;
    let half = Arc::new(Barrier::new(THREADS + 1));
    let resume = Arc::new(Barrier::new(THREADS + 1));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (devs, half, resume) = (Arc::clone(&devs), Arc::clone(&half), Arc::clone(&resume));
            std::thread::spawn(move || {
                for i in 0..EACH {
                    if i == EACH / 2 {
                        half.wait();
                        resume.wait();
                    }
                    let dev = &devs[(t + i) % devs.len()];
                    let payload = format!("{t}:{i}");
                    dev.device
                        .publish(&dev.topic(), payload.as_bytes())
                        .unwrap();
                }
            })
        })
        .collect();
    half.wait();
    for dev in devs.iter() {
        env.control(&format!("expire {}", dev.key()));
    }
    resume.wait();
    for w in workers {
        w.join().unwrap();
    }
    let mut total = 0;
    for dev in devs.iter() {
        let stats: Value =
            serde_json::from_str(&env.control(&format!("stats {}", dev.key()))).unwrap();
        assert_eq!(
            stats["auths"],
            2,
            "one auth, one after the expiry: {}",
            dev.key()
        );
        let n = stats["publishes"].as_u64().unwrap();
        assert_eq!(n, (THREADS * EACH / devs.len()) as u64);
        total += n;
    }
    assert_eq!(total, (THREADS * EACH) as u64);
    assert!(
        env.emu.handshakes() <= THREADS as u64 + 1,
        "{}",
        env.emu.handshakes()
    );
}
