//! Auth and publish against the emulator: happy paths, every documented code, tokens,
//! retries, clock skew, limits.

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{env, env_with, Env};
use iothttp::{Cloud, ErrorKind, SignMethod};
use iothttp_emulator::Options;

const CLOUDS: [Cloud; 2] = [Cloud::UCloud, Cloud::Aliyun];

#[test]
fn publish_both_clouds() {
    let env = env();
    for cloud in CLOUDS {
        let dev = env.device(cloud);
        let p = dev.device.publish(&dev.topic(), b"{\"t\":21.5}").unwrap();
        let id: u64 = p.message_id.parse().unwrap();
        match cloud {
            Cloud::UCloud => assert!(id >= 349_022_219_378_098_176),
            // Above 2^53: exact only if never parsed as a double.
            Cloud::Aliyun => assert!(id >= 892_687_627_916_247_040),
            Cloud::HuaweiIotda => unreachable!("tests/iotda.rs"),
        }
        let stats: serde_json::Value =
            serde_json::from_str(&env.control(&format!("stats {}", dev.key()))).unwrap();
        assert_eq!(stats["auths"], 1);
        assert_eq!(stats["publishes"], 1);
        assert_eq!(stats["messages"][0]["id"], p.message_id.as_str());
        assert_eq!(stats["messages"][0]["len"], 10);
        // A second publish reuses the token.
        dev.device.publish(&dev.topic(), b"").unwrap();
        assert_eq!(env.count(&dev, "auths"), 1);
        assert_eq!(env.count(&dev, "publishes"), 2);
    }
}

#[test]
fn consecutive_aliyun_ids_are_exact() {
    let env = env();
    let dev = env.device(Cloud::Aliyun);
    let a: u64 = dev
        .device
        .publish(&dev.topic(), b"a")
        .unwrap()
        .message_id
        .parse()
        .unwrap();
    let b: u64 = dev
        .device
        .publish(&dev.topic(), b"b")
        .unwrap()
        .message_id
        .parse()
        .unwrap();
    // Doubles above 2^53 step by at least 2: consecutive ids prove no f64 was involved.
    assert_eq!(b, a + 1);
}

#[test]
fn aliyun_sign_methods_and_client_id() {
    let env = env();
    for m in [
        SignMethod::HmacMd5,
        SignMethod::HmacSha1,
        SignMethod::HmacSha256,
    ] {
        let dev = env.device(Cloud::Aliyun);
        dev.device.set_sign_method(m).unwrap();
        dev.device.set_client_id("AA:BB:CC:DD:EE:FF").unwrap();
        dev.device.auth().unwrap();
        dev.device.publish(&dev.topic(), b"x").unwrap();
    }
    let dev = env.device(Cloud::Aliyun);
    assert_eq!(
        dev.device
            .set_client_id(&"x".repeat(65))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArg
    );
    let u = env.device(Cloud::UCloud);
    assert_eq!(
        u.device.set_client_id("x").unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    assert_eq!(
        u.device
            .set_sign_method(SignMethod::HmacMd5)
            .unwrap_err()
            .kind(),
        ErrorKind::Unsupported
    );
    u.device.set_sign_method(SignMethod::HmacSha256).unwrap();
}

#[test]
fn reply_data_reaches_the_caller() {
    let env = env();
    let dev = env.device(Cloud::Aliyun);
    env.control(&format!("reply-data {} {{\"cmd\":\"reboot\"}}", dev.key()));
    let p = dev.device.publish(&dev.topic(), b"x").unwrap();
    assert_eq!(p.data, br#"{"cmd":"reboot"}"#);
}

#[test]
fn wrong_secret_is_an_auth_error() {
    let env = env();
    for (cloud, code) in [(Cloud::UCloud, 171), (Cloud::Aliyun, 20000)] {
        let dev = env.device(cloud);
        let wrong = env
            .client
            .device(cloud, &dev.product, &dev.name, "not-the-secret")
            .unwrap();
        wrong.set_endpoint(&env.url(cloud)).unwrap();
        let e = wrong.publish(&dev.topic(), b"x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
        assert_eq!(e.cloud_code(), code);
        assert_eq!(env.count(&dev, "publish_requests"), 0);
    }
}

#[test]
fn unknown_and_disabled_devices() {
    let env = env();
    let dev = env.device(Cloud::UCloud);
    let ghost = env
        .client
        .device(Cloud::UCloud, "noSuchProduct", "noSuchDevice", "x")
        .unwrap();
    ghost.set_endpoint(&env.emu.ucloud_url()).unwrap();
    let e = ghost.auth().unwrap_err();
    assert_eq!((e.kind(), e.cloud_code()), (ErrorKind::Auth, 100071));
    env.control(&format!("disable {}", dev.key()));
    let e = dev.device.auth().unwrap_err();
    assert_eq!((e.kind(), e.cloud_code()), (ErrorKind::Auth, 100072));
}

/// Every code of seed 001 and seed 003, injected by the emulator, maps to its result.
#[test]
fn every_documented_code_maps_to_its_result() {
    let env = env();
    let cases: &[(Cloud, &str, i64, ErrorKind)] = &[
        (Cloud::UCloud, "auth", 130, ErrorKind::Unavailable),
        (Cloud::UCloud, "auth", 171, ErrorKind::Auth),
        (Cloud::UCloud, "auth", 230, ErrorKind::InvalidArg),
        (Cloud::UCloud, "auth", 100070, ErrorKind::Auth),
        (Cloud::UCloud, "auth", 100071, ErrorKind::Auth),
        (Cloud::UCloud, "auth", 100072, ErrorKind::Auth),
        (Cloud::UCloud, "publish", 130, ErrorKind::Unavailable),
        (Cloud::UCloud, "publish", 230, ErrorKind::InvalidArg),
        (Cloud::UCloud, "publish", 100071, ErrorKind::Auth),
        (Cloud::UCloud, "publish", 100072, ErrorKind::Auth),
        (Cloud::UCloud, "publish", 100073, ErrorKind::Token),
        (Cloud::UCloud, "publish", 100074, ErrorKind::Token),
        (Cloud::UCloud, "publish", 100075, ErrorKind::Denied),
        (Cloud::UCloud, "publish", 100076, ErrorKind::TooLarge),
        (Cloud::UCloud, "publish", 100077, ErrorKind::Cloud),
        (Cloud::Aliyun, "auth", 10000, ErrorKind::Cloud),
        (Cloud::Aliyun, "auth", 10001, ErrorKind::InvalidArg),
        (Cloud::Aliyun, "auth", 20000, ErrorKind::Auth),
        (Cloud::Aliyun, "auth", 20004, ErrorKind::Cloud),
        (Cloud::Aliyun, "auth", 40000, ErrorKind::RateLimited),
        (Cloud::Aliyun, "publish", 10000, ErrorKind::Cloud),
        (Cloud::Aliyun, "publish", 10001, ErrorKind::InvalidArg),
        (Cloud::Aliyun, "publish", 20001, ErrorKind::Token),
        (Cloud::Aliyun, "publish", 20002, ErrorKind::Token),
        (Cloud::Aliyun, "publish", 20003, ErrorKind::Token),
        (Cloud::Aliyun, "publish", 30001, ErrorKind::Cloud),
        (Cloud::Aliyun, "publish", 40000, ErrorKind::RateLimited),
    ];
    for &(cloud, op, code, kind) in cases {
        let dev = env.device(cloud);
        if op == "publish" {
            dev.device.auth().unwrap();
        }
        // Ten in a row: more than any retry or re-auth budget.
        env.control(&format!("fail {op} {} {code} 10", dev.key()));
        let e = dev.device.publish(&dev.topic(), b"x").unwrap_err();
        assert_eq!(e.kind(), kind, "{cloud:?} {op} {code}: {e}");
        assert_eq!(e.cloud_code(), code, "{cloud:?} {op} {code}");
        assert_eq!(e.http_status(), 200);
        assert!(
            e.message().contains(&code.to_string()),
            "message names the code: {e}"
        );
        assert_eq!(env.count(&dev, "publishes"), 0, "{cloud:?} {op} {code}");
    }
}

#[test]
fn throttling_and_unavailability_are_retried() {
    let env = env();
    for (cloud, code) in [
        (Cloud::UCloud, "130"),
        (Cloud::UCloud, "http503"),
        (Cloud::Aliyun, "40000"),
        (Cloud::Aliyun, "http503"),
    ] {
        // A burst shorter than the budget (3 attempts) is absorbed.
        let dev = env.device(cloud);
        env.control(&format!("fail publish {} {code} 2", dev.key()));
        dev.device.publish(&dev.topic(), b"x").unwrap();
        assert_eq!(env.count(&dev, "publish_requests"), 3);
        assert_eq!(env.count(&dev, "publishes"), 1);
        // A longer one is reported, after exactly the budget.
        env.control(&format!("fail publish {} {code} 3", dev.key()));
        let e = dev.device.publish(&dev.topic(), b"x").unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::RateLimited),
            "{e}"
        );
        assert!(e.message().contains("gave up after 3 attempts"), "{e}");
        assert_eq!(env.count(&dev, "publish_requests"), 6);
        assert_eq!(env.count(&dev, "publishes"), 1);
    }
}

#[test]
fn expired_token_is_renewed_transparently() {
    let env = env();
    for cloud in CLOUDS {
        let dev = env.device(cloud);
        dev.device.publish(&dev.topic(), b"1").unwrap();
        env.control(&format!("expire {}", dev.key()));
        dev.device.publish(&dev.topic(), b"2").unwrap();
        let c = env.counters(&dev);
        assert_eq!(c["auths"], 2, "{cloud:?}");
        assert_eq!(c["publishes"], 2);
        assert_eq!(c["publish_requests"], 3);
        // Revoked (unknown) tokens too.
        env.control(&format!("revoke {}", dev.key()));
        dev.device.publish(&dev.topic(), b"3").unwrap();
        assert_eq!(env.count(&dev, "auths"), 3);
    }
}

#[test]
fn token_refused_right_after_auth_is_a_token_error() {
    let env = env();
    for (cloud, code) in [(Cloud::UCloud, 100074), (Cloud::Aliyun, 20001)] {
        // Token cached, then refused twice: one re-auth, then E_TOKEN.
        let dev = env.device(cloud);
        dev.device.auth().unwrap();
        env.control(&format!("fail publish {} {code} 2", dev.key()));
        let e = dev.device.publish(&dev.topic(), b"x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Token, "{e}");
        assert!(e.message().contains("right after a fresh auth"), "{e}");
        assert_eq!(env.count(&dev, "auths"), 2);
        // No token yet: the lazy auth's brand-new token refused once is renewed and the
        // message sent (API.md: whatever the age of the refused token)...
        let dev = env.device(cloud);
        env.control(&format!("fail publish {} {code} 1", dev.key()));
        dev.device.publish(&dev.topic(), b"x").unwrap();
        assert_eq!(env.count(&dev, "auths"), 2);
        assert_eq!(env.count(&dev, "publishes"), 1);
        // ...and only the re-auth's token refused as well is final.
        let dev = env.device(cloud);
        env.control(&format!("fail publish {} {code} 2", dev.key()));
        let e = dev.device.publish(&dev.topic(), b"x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Token);
        assert!(e.message().contains("right after a fresh auth"), "{e}");
        assert_eq!(env.count(&dev, "auths"), 2);
        assert_eq!(env.count(&dev, "publish_requests"), 2);
    }
}

#[test]
fn eight_threads_on_an_expired_token_cause_one_auth() {
    let env = Arc::new(env());
    for cloud in CLOUDS {
        let dev = Arc::new(env.device(cloud));
        dev.device.auth().unwrap();
        env.control(&format!("expire {}", dev.key()));
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (dev, barrier) = (Arc::clone(&dev), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    dev.device
                        .publish(&dev.topic(), format!("{i}").as_bytes())
                        .unwrap()
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let c = env.counters(&dev);
        assert_eq!(
            c["auths"], 2,
            "{cloud:?}: one initial auth, one after expiry"
        );
        assert_eq!(c["publishes"], 8);
    }
}

#[test]
fn saved_token_skips_auth_after_reboot() {
    let env = env();
    for cloud in CLOUDS {
        let dev = env.device(cloud);
        dev.device.auth().unwrap();
        let (token, expires) = dev.device.token().unwrap();
        let expires = expires.unwrap();
        let now = iothttp_now_ms();
        let lifetime = match cloud {
            Cloud::UCloud => 7 * 24 * 3600 * 1000,
            Cloud::Aliyun => 48 * 3600 * 1000,
            Cloud::HuaweiIotda => unreachable!("tests/iotda.rs"),
        };
        assert!(
            expires > now && expires <= now + lifetime + 1000,
            "{cloud:?}"
        );
        // "Reboot": a new device object with the saved token.
        let again = env
            .client
            .device(cloud, &dev.product, &dev.name, &dev.secret)
            .unwrap();
        again.set_endpoint(&env.url(cloud)).unwrap();
        again.set_token(token.expose(), Some(expires)).unwrap();
        again.publish(&dev.topic(), b"x").unwrap();
        assert_eq!(env.count(&dev, "auths"), 1);
        // A saved token that has expired in the cloud: re-auth transparently.
        env.control(&format!("expire {}", dev.key()));
        again.publish(&dev.topic(), b"y").unwrap();
        assert_eq!(env.count(&dev, "auths"), 2);
        // A token past its expiry is renewed before use.
        let third = env
            .client
            .device(cloud, &dev.product, &dev.name, &dev.secret)
            .unwrap();
        third.set_endpoint(&env.url(cloud)).unwrap();
        third.set_token("stale-token", Some(now - 1)).unwrap();
        third.publish(&dev.topic(), b"z").unwrap();
        assert_eq!(env.count(&dev, "auths"), 3);
        // x, y refused + y again, z: the stale token never went on the wire.
        assert_eq!(env.count(&dev, "publish_requests"), 4);
        assert!(third.set_token("", None).is_err());
        assert!(third.set_token("a b", None).is_err());
    }
}

fn iothttp_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn wrong_clock_still_gets_in() {
    for skew in ["10800", "-10800"] {
        let env = env();
        env.control(&format!("skew {skew}"));
        for cloud in CLOUDS {
            let dev = env.device(cloud);
            dev.device.send_timestamp(true);
            dev.device.publish(&dev.topic(), b"x").unwrap();
            let c = env.counters(&dev);
            assert!(c["auth_requests"].as_u64().unwrap() <= 2, "{cloud:?} {c}");
            assert_eq!(c["publishes"], 1);
        }
        // Later auths use the corrected clock straight away.
        let dev = env.device(Cloud::UCloud);
        dev.device.send_timestamp(true);
        dev.device.auth().unwrap();
        assert_eq!(env.count(&dev, "auth_requests"), 1, "skew {skew}");
        assert!(env.log_text().contains("timestamps are corrected"));
    }
}

#[test]
fn wrong_clock_without_date_header_retries_without_timestamp() {
    let env = env();
    env.control("skew 10800");
    env.control("date-header off");
    for cloud in CLOUDS {
        let dev = env.device(cloud);
        dev.device.send_timestamp(true);
        dev.device.publish(&dev.topic(), b"x").unwrap();
        assert_eq!(env.count(&dev, "auth_requests"), 2, "{cloud:?}");
    }
    assert!(env.log_text().contains("retrying without a timestamp"));
}

#[test]
fn aliyun_auth_error_with_a_good_clock_is_not_retried() {
    let env = env();
    let dev = env.device(Cloud::Aliyun);
    dev.device.send_timestamp(true);
    let wrong = env
        .client
        .device(Cloud::Aliyun, &dev.product, &dev.name, "wrong")
        .unwrap();
    wrong.set_endpoint(&env.emu.aliyun_url()).unwrap();
    wrong.send_timestamp(true);
    assert_eq!(wrong.auth().unwrap_err().kind(), ErrorKind::Auth);
    assert_eq!(env.count(&dev, "auth_requests"), 1);
}

#[test]
fn payload_and_topic_limits_are_checked_before_sending() {
    let env = env();
    for cloud in CLOUDS {
        let dev = env.device(cloud);
        let max = vec![7u8; 131_072];
        dev.device.publish(&dev.topic(), &max).unwrap();
        let over = vec![7u8; 131_073];
        let e = dev.device.publish(&dev.topic(), &over).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge);
        for bad in ["", "/a?b=1", "/a/#", "/a/+/b", "/a b", "/a\nb"] {
            let e = dev.device.publish(bad, b"x").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArg, "{bad:?}");
        }
        assert_eq!(env.count(&dev, "publish_requests"), 1);
    }
}

#[test]
fn topics_are_percent_encoded() {
    let env = env();
    let dev = env.device(Cloud::UCloud);
    let topic = format!("/{}/{}/数据/a%b", dev.product, dev.name);
    dev.device.publish(&topic, b"x").unwrap();
    let stats: serde_json::Value =
        serde_json::from_str(&env.control(&format!("stats {}", dev.key()))).unwrap();
    assert_eq!(stats["messages"][0]["topic"], topic.as_str());
    // Without the leading slash too.
    let topic = format!("{}/{}/x", dev.product, dev.name);
    dev.device.publish(&topic, b"x").unwrap();
}

#[test]
fn acl_refusal() {
    let env = env();
    let dev = env.device(Cloud::UCloud);
    let e = dev
        .device
        .publish("/other/device/upload", b"x")
        .unwrap_err();
    assert_eq!((e.kind(), e.cloud_code()), (ErrorKind::Denied, 100075));
}

#[test]
fn plain_http_is_refused_unless_allowed() {
    let env = env_with(
        Options {
            plain_http: true,
            ..Options::default()
        },
        |_| {},
    );
    let plain = env.emu.plain_base_url().unwrap();
    let dev = env.device(Cloud::UCloud);
    let e = dev
        .device
        .set_endpoint(&format!("{plain}/ucloud"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls);

    let allowed = env_with(
        Options {
            plain_http: true,
            ..Options::default()
        },
        |c| {
            c.allow_plain_http(true);
        },
    );
    let plain = allowed.emu.plain_base_url().unwrap();
    let dev = allowed.device(Cloud::Aliyun);
    dev.device.set_endpoint(&format!("{plain}/aliyun")).unwrap();
    dev.device.publish(&dev.topic(), b"x").unwrap();
}

#[test]
fn untrusted_server_is_a_tls_error() {
    let env = env();
    let dev = env.device(Cloud::UCloud);
    // Same emulator, client that trusts only the web roots.
    let client = iothttp::Client::new(&iothttp::Config::new()).unwrap();
    let d = client
        .device(Cloud::UCloud, &dev.product, &dev.name, &dev.secret)
        .unwrap();
    d.set_endpoint(&env.emu.ucloud_url()).unwrap();
    let e = d.auth().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    assert!(e.message().contains("not signed by a trusted CA"), "{e}");
    // The host name must match too: the emulator's certificate has no such name.
    let e = client.device(Cloud::UCloud, "p", "d", "s").unwrap();
    let url = env.emu.ucloud_url().replace("127.0.0.1", "localhost");
    e.set_endpoint(&url).unwrap();
    assert_eq!(e.auth().unwrap_err().kind(), ErrorKind::Tls);
}

#[test]
fn closed_port_is_a_connect_error_and_is_retried() {
    let env = env();
    let dev = env.device(Cloud::UCloud);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    dev.device
        .set_endpoint(&format!("https://127.0.0.1:{port}/ucloud"))
        .unwrap();
    let e = dev.device.auth().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(e.message().contains("gave up after 3 attempts"), "{e}");
    assert_eq!(env.client.stats().requests, 3);
}

#[test]
fn slow_server_times_out_within_the_bound() {
    let env = env_with(Options::default(), |c| {
        c.set_timeouts(Duration::from_secs(2), Duration::from_millis(300))
            .unwrap();
    });
    let dev = env.device(Cloud::Aliyun);
    dev.device.auth().unwrap();
    env.control(&format!("delay publish {} 2000 1", dev.key()));
    let start = Instant::now();
    let e = dev.device.publish(&dev.topic(), b"x").unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    // Not retried: the publish may have taken effect.
    assert_eq!(env.count(&dev, "publish_requests"), 1);
}

#[test]
fn one_connection_is_reused() {
    let env = env();
    let dev = env.device(Cloud::UCloud);
    for i in 0..20 {
        dev.device
            .publish(&dev.topic(), format!("{i}").as_bytes())
            .unwrap();
    }
    assert_eq!(env.client.stats().tls_handshakes, 1);
    assert_eq!(env.emu.handshakes(), 1);
    // Devices of one client share the pool.
    let other = env.device(Cloud::Aliyun);
    other.device.publish(&other.topic(), b"x").unwrap();
    assert_eq!(env.emu.handshakes(), 1);
}

#[test]
fn endpoint_change_drops_the_token() {
    let env = env();
    let dev = env.device(Cloud::UCloud);
    dev.device.auth().unwrap();
    assert!(dev.device.token().is_some());
    dev.device
        .set_endpoint(&format!("{}/", env.emu.ucloud_url()))
        .unwrap();
    assert!(dev.device.token().is_some(), "same endpoint, token kept");
    dev.device.set_region("cn-gd").unwrap();
    assert!(
        dev.device.token().is_some(),
        "explicit endpoint wins over region"
    );
    let other = Env::device(&env, Cloud::UCloud);
    other.device.auth().unwrap();
    other.device.set_endpoint("https://127.0.0.1:1/x").unwrap();
    assert!(other.device.token().is_none());
}

#[test]
fn default_endpoints_follow_the_region() {
    let env = env();
    let u = env.client.device(Cloud::UCloud, "p", "d", "s").unwrap();
    assert_eq!(u.endpoint(), "https://http-cn-sh2.iot.ucloud.cn");
    assert_eq!(
        u.file_endpoint().unwrap(),
        "https://file-cn-sh2.iot.ucloud.cn"
    );
    u.set_region("cn-gd").unwrap();
    assert_eq!(u.endpoint(), "https://http-cn-gd.iot.ucloud.cn");
    let a = env.client.device(Cloud::Aliyun, "p", "d", "s").unwrap();
    assert_eq!(a.endpoint(), "https://iot-as-http.cn-shanghai.aliyuncs.com");
    assert!(a.file_endpoint().is_none());
    assert_eq!(
        a.set_file_endpoint("https://x").unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    for bad in ["", "CN", "cn sh", "cn/sh"] {
        assert!(a.set_region(bad).is_err(), "{bad}");
    }
}

#[test]
fn bad_device_arguments() {
    let env = env();
    for (p, d, s) in [
        ("", "d", "s"),
        ("p", "", "s"),
        ("p", "d", ""),
        ("p/x", "d", "s"),
    ] {
        let e = env.client.device(Cloud::UCloud, p, d, s).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
    }
}

/// The renewal point comes from the token's own expiry: a UCloud token whose JWT says it
/// lives an hour (the documents say a week) is not renewed before every publish.
#[test]
fn a_short_lived_token_is_not_renewed_before_every_publish() {
    let env = env();
    env.control("token-ttl ucloud 3600");
    let dev = env.device(Cloud::UCloud);
    for i in 0..5 {
        dev.device
            .publish(&dev.topic(), format!("{i}").as_bytes())
            .unwrap();
    }
    let (_, expires) = dev.device.token().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let left = expires.unwrap().saturating_sub(now);
    assert!(
        (3_500_000..=3_600_000).contains(&left),
        "expires in {left} ms"
    );
    assert_eq!(env.count(&dev, "auths"), 1);
    assert_eq!(env.count(&dev, "publishes"), 5);
}

/// While the token is still valid and its renewal fails, publishes go on with it, and the
/// renewal is tried at most once per interval, not by every publish on every thread.
#[test]
fn failing_renewal_of_a_valid_token_cannot_storm() {
    let env = env();
    // Valid 8 s, due for renewal after 4 s.
    env.control("token-ttl ucloud 8");
    let dev = std::sync::Arc::new(env.device(Cloud::UCloud));
    dev.device.publish(&dev.topic(), b"first").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(4200));
    env.control(&format!("fail auth {} http503 100000", dev.key()));
    let before = env.count(&dev, "auth_requests");
    let started = std::time::Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let dev = std::sync::Arc::clone(&dev);
            std::thread::spawn(move || {
                for i in 0..10 {
                    dev.device
                        .publish(&dev.topic(), format!("{t}-{i}").as_bytes())
                        .unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < std::time::Duration::from_millis(3500),
        "{elapsed:?}"
    );
    assert_eq!(env.count(&dev, "publishes"), 41);
    // Renewal attempts at 0 s and after 1 s (and 3 s on a slow machine), each of at most
    // max_attempts (3) requests: before, every one of the 40 publishes tried.
    let auth_requests = env.count(&dev, "auth_requests") - before;
    assert!(
        (3..=9).contains(&auth_requests),
        "{auth_requests} auth requests"
    );
}

/// The clock correction is kept per server: a store whose `Date` is years off cannot skew
/// the timestamps of device auth on another host.
#[test]
fn a_store_with_a_wrong_date_cannot_skew_device_auth() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { break };
            let mut buf = [0u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nDate: Fri, 01 Jan 1999 00:00:00 GMT\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    let env = common::env_with(Default::default(), |cfg| {
        cfg.allow_plain_http(true);
    });
    // A PUT of an empty body to the "store" that lives in 1999.
    env.client
        .put(
            &format!("http://127.0.0.1:{port}/bucket/x"),
            &[],
            &mut iothttp::Source::from_bytes(Vec::new()),
            None,
        )
        .unwrap();
    for cloud in CLOUDS {
        let dev = env.device(cloud);
        dev.device.send_timestamp(true);
        dev.device.auth().unwrap();
        assert_eq!(
            env.count(&dev, "auth_requests"),
            1,
            "{cloud:?}: the timestamp was skewed"
        );
    }
    assert!(
        env.log_text().contains("differs from http://127.0.0.1:"),
        "{}",
        env.log_text()
    );
}
