//! Huawei Cloud IoTDA device auth and publish against the emulator: both reports, topics,
//! limits, tokens from expires_in, every documented code, sign_type and clock skew.

mod common;

use std::time::{Duration, Instant};

use common::{env, Dev, Env};
use iothttp::{Cloud, ErrorKind};

const IOTDA: Cloud = Cloud::HuaweiIotda;

fn props_topic(dev: &Dev) -> String {
    format!("$oc/devices/{}/sys/properties/report", dev.name)
}

const PROPS: &[u8] = br#"{"services":[{"service_id":"Temp","properties":{"t":21.5}}]}"#;

fn stats(env: &Env, dev: &Dev) -> serde_json::Value {
    serde_json::from_str(&env.control(&format!("stats {}", dev.key()))).unwrap()
}

#[test]
fn auth_and_both_reports() {
    let env = env();
    let dev = env.device(IOTDA);
    let p = dev.device.publish(&dev.topic(), b"{\"t\":21.5}").unwrap();
    assert_eq!(p.message_id, "");
    assert!(p.data.is_empty());
    let p = dev.device.publish(&props_topic(&dev), PROPS).unwrap();
    assert_eq!(p.message_id, "");
    let s = stats(&env, &dev);
    assert_eq!(s["auths"], 1, "{s}");
    assert_eq!(s["publishes"], 2);
    assert_eq!(
        s["messages"][0]["topic"],
        format!("$oc/devices/{}/sys/messages/up", dev.name)
    );
    assert_eq!(s["messages"][0]["len"], 10);
    assert_eq!(s["messages"][1]["topic"], props_topic(&dev));
    assert_eq!(s["messages"][1]["len"], PROPS.len());
    // The requests the emulator saw, at TRACE: the token header redacted.
    let logs = env.log_text();
    assert!(logs.contains("/v5/device-auth"), "{logs}");
    assert!(logs.contains("/sys/properties/report"));
    assert!(logs.contains("access_token: <redacted"), "{logs}");
}

#[test]
fn wrong_topics_and_bodies_are_refused_before_sending() {
    let env = env();
    let dev = env.device(IOTDA);
    let other = env.device(IOTDA);
    for topic in [
        other.topic(),
        props_topic(&other),
        format!("/{}/{}/upload/event", dev.product, dev.name),
        format!("$oc/devices/{}/sys/events/up", dev.name),
        format!("$oc/devices/{}/sys/messages/up/extra", dev.name),
        format!("$oc/devices/{}", dev.name),
    ] {
        let e = dev.device.publish(&topic, b"{}").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg, "{topic}: {e}");
    }
    let e = dev.device.publish(&other.topic(), b"{}").unwrap_err();
    assert!(e.message().contains("reports only for itself"), "{e}");
    for body in [&b"not json"[..], b"{}", br#"{"services":[]}"#] {
        let e = dev.device.publish(&props_topic(&dev), body).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg, "{e}");
        assert!(e.message().contains("properties report"), "{e}");
    }
    assert_eq!(env.count(&dev, "auth_requests"), 0);
    assert_eq!(env.count(&dev, "publish_requests"), 0);
}

#[test]
fn payload_limit_is_one_megabyte() {
    let env = env();
    let dev = env.device(IOTDA);
    // Above the 128 KiB of the other clouds, within IoTDA's 1 MB.
    let big = vec![b'a'; 1024 * 1024];
    dev.device.publish(&dev.topic(), &big).unwrap();
    assert_eq!(stats(&env, &dev)["messages"][0]["len"], 1024 * 1024);
    let e = dev
        .device
        .publish(&dev.topic(), &vec![b'a'; 1024 * 1024 + 1])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert!(e.message().contains("1048576"), "{e}");
    assert_eq!(env.count(&dev, "publish_requests"), 1);
    // The platform's own refusal (413 with IOTDA.021105) maps to the same result.
    env.control(&format!("fail publish {} IOTDA.021105 1", dev.key()));
    let e = dev.device.publish(&dev.topic(), b"x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert_eq!(e.cloud_code(), 21105);
}

#[test]
fn no_endpoint_is_an_argument_error() {
    let env = env();
    let dev = env.device(IOTDA);
    let bare = env
        .client
        .device(IOTDA, &dev.product, &dev.name, &dev.secret)
        .unwrap();
    for e in [
        bare.auth().unwrap_err(),
        bare.publish(&dev.topic(), b"x").unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::InvalidArg, "{e}");
        assert!(e.message().contains("set_endpoint is required"), "{e}");
    }
    assert_eq!(env.count(&dev, "auth_requests"), 0);
}

#[test]
fn device_ids_are_checked_at_creation() {
    let env = env();
    for bad in ["a.b", "a b", "设备", &"x".repeat(129)] {
        let e = env.client.device(IOTDA, "prod", bad, "secret").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg, "{bad}");
    }
    env.client
        .device(IOTDA, "prod", &"x".repeat(128), "secret")
        .unwrap();
}

#[test]
fn token_lifetime_follows_expires_in() {
    let env = env();
    env.control("token-ttl iotda 3600");
    let dev = env.device(IOTDA);
    dev.device.auth().unwrap();
    let (_, expires) = dev.device.token().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let expires = expires.unwrap();
    assert!(
        expires > now + 3_590_000 && expires <= now + 3_601_000,
        "{expires} vs {now}"
    );
    // Reused while valid.
    dev.device.publish(&dev.topic(), b"1").unwrap();
    dev.device.publish(&dev.topic(), b"2").unwrap();
    assert_eq!(env.count(&dev, "auths"), 1);
    // A short expires_in is renewed before it ends, without a refused publish.
    env.control("token-ttl iotda 2");
    dev.device.auth().unwrap();
    assert_eq!(env.count(&dev, "auths"), 2);
    std::thread::sleep(Duration::from_millis(1200));
    dev.device.publish(&dev.topic(), b"3").unwrap();
    let c = env.counters(&dev);
    assert_eq!(c["auths"], 3, "{c}");
    assert_eq!(c["publish_requests"], 3, "{c}");
}

#[test]
fn old_token_stays_valid_30_s_after_a_new_one() {
    let env = env();
    let dev = env.device(IOTDA);
    dev.device.auth().unwrap();
    let (old, _) = dev.device.token().unwrap();
    dev.device.auth().unwrap();
    dev.device.set_token(old.expose(), None).unwrap();
    dev.device.publish(&dev.topic(), b"x").unwrap();
    assert_eq!(env.count(&dev, "auths"), 2);
    assert_eq!(env.count(&dev, "publish_requests"), 1);
    // 30 s later (the emulator's clock moved on) the old token is refused and renewed.
    env.control("skew 31");
    dev.device.set_token(old.expose(), None).unwrap();
    dev.device.publish(&dev.topic(), b"y").unwrap();
    assert_eq!(env.count(&dev, "auths"), 3);
    assert_eq!(env.count(&dev, "publish_requests"), 3);
}

#[test]
fn expired_token_is_one_reauth_and_resend() {
    let env = env();
    let dev = env.device(IOTDA);
    dev.device.publish(&dev.topic(), b"1").unwrap();
    env.control(&format!("expire {}", dev.key()));
    dev.device.publish(&dev.topic(), b"2").unwrap();
    let c = env.counters(&dev);
    assert_eq!(c["auths"], 2, "{c}");
    assert_eq!(c["publishes"], 2);
    assert_eq!(c["publish_requests"], 3);
    env.control(&format!("revoke {}", dev.key()));
    dev.device.publish(&dev.topic(), b"3").unwrap();
    assert_eq!(env.count(&dev, "auths"), 3);
}

#[test]
fn token_refused_twice_is_a_token_error() {
    let env = env();
    let dev = env.device(IOTDA);
    dev.device.auth().unwrap();
    env.control(&format!("fail publish {} IOTDA.000004 2", dev.key()));
    let e = dev.device.publish(&dev.topic(), b"x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Token, "{e}");
    assert_eq!(e.cloud_code(), 4);
    assert_eq!(e.http_status(), 403);
    assert!(e.message().contains("IOTDA.000004"), "{e}");
    assert!(e.message().contains("right after a fresh auth"), "{e}");
    assert_eq!(env.count(&dev, "auths"), 2);
    assert_eq!(env.count(&dev, "publish_requests"), 2);
}

#[test]
fn rate_limits_back_off_then_fail() {
    let env = env();
    for code in ["IOTDA.021101", "IOTDA.021102", "http429"] {
        let dev = env.device(IOTDA);
        env.control(&format!("fail publish {} {code} 2", dev.key()));
        dev.device.publish(&dev.topic(), b"x").unwrap();
        assert_eq!(env.count(&dev, "publish_requests"), 3);
        env.control(&format!("fail publish {} {code} 3", dev.key()));
        let e = dev.device.publish(&dev.topic(), b"x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RateLimited, "{e}");
        assert!(e.message().contains("gave up after 3 attempts"), "{e}");
        assert_eq!(env.count(&dev, "publish_requests"), 6);
        assert_eq!(env.count(&dev, "publishes"), 1);
    }
}

#[test]
fn documented_codes_map_to_results() {
    let env = env();
    for (op, code, kind, num, status) in [
        ("auth", "IOTDA.000002", ErrorKind::Auth, 2, 401),
        ("auth", "IOTDA.000006", ErrorKind::InvalidArg, 6, 400),
        ("publish", "IOTDA.000006", ErrorKind::InvalidArg, 6, 400),
        ("publish", "http500", ErrorKind::Http, 0, 500),
        ("publish", "http503", ErrorKind::Unavailable, 0, 503),
    ] {
        let dev = env.device(IOTDA);
        if op == "publish" {
            dev.device.auth().unwrap();
        }
        env.control(&format!("fail {op} {} {code} 3", dev.key()));
        let e = dev.device.publish(&dev.topic(), b"x").unwrap_err();
        assert_eq!(e.kind(), kind, "{op} {code}: {e}");
        assert_eq!(e.cloud_code(), num, "{op} {code}");
        assert_eq!(e.http_status(), status, "{op} {code}");
    }
    assert!(env
        .emu
        .control("fail auth iotda p d IOTDA.000005 1")
        .is_err());
}

#[test]
fn auth_failures() {
    let env = env();
    let dev = env.device(IOTDA);
    let wrong = env
        .client
        .device(IOTDA, &dev.product, &dev.name, "wrong-secret")
        .unwrap();
    wrong.set_endpoint(&env.url(IOTDA)).unwrap();
    let e = wrong.publish(&dev.topic(), b"x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert_eq!(e.cloud_code(), 2);
    assert_eq!(e.http_status(), 401);
    let unknown = env
        .client
        .device(IOTDA, &dev.product, "nobody_here", "secret")
        .unwrap();
    unknown.set_endpoint(&env.url(IOTDA)).unwrap();
    assert_eq!(unknown.auth().unwrap_err().kind(), ErrorKind::Auth);
    env.control(&format!(
        "add-device iotda {} disabled_dev {} disabled",
        dev.product, dev.secret
    ));
    let off = env
        .client
        .device(IOTDA, &dev.product, "disabled_dev", &dev.secret)
        .unwrap();
    off.set_endpoint(&env.url(IOTDA)).unwrap();
    assert_eq!(off.auth().unwrap_err().kind(), ErrorKind::Auth);
}

#[test]
fn sign_type_1_with_a_skewed_clock_gets_in() {
    for skew in ["10800", "-10800"] {
        let env = env();
        env.control(&format!("skew {skew}"));
        let dev = env.device(IOTDA);
        // sign_type 1: refused for the hour, retried with the server's clock.
        dev.device.send_timestamp(true);
        dev.device.auth().unwrap();
        assert_eq!(env.count(&dev, "auth_requests"), 2, "skew {skew}");
        assert!(env.log_text().contains("retrying with the clock corrected"));
        // Later auths use the corrected clock straight away.
        dev.device.auth().unwrap();
        assert_eq!(env.count(&dev, "auth_requests"), 3);
        // sign_type 0 (default): the hour is not checked, on a fresh client too.
        let plain = env
            .client
            .device(IOTDA, &dev.product, &dev.name, &dev.secret)
            .unwrap();
        plain.set_endpoint(&env.url(IOTDA)).unwrap();
        plain.auth().unwrap();
        assert_eq!(env.count(&dev, "auth_requests"), 4);
    }
    // Without a Date header: falls back to sign_type 0.
    let env = env();
    env.control("skew 10800");
    env.control("date-header off");
    let dev = env.device(IOTDA);
    dev.device.send_timestamp(true);
    dev.device.publish(&dev.topic(), b"x").unwrap();
    assert_eq!(env.count(&dev, "auth_requests"), 2);
    assert!(env.log_text().contains("retrying without a timestamp"));
}

#[test]
fn sign_type_1_with_a_good_clock_and_a_wrong_secret_is_not_retried() {
    let env = env();
    let dev = env.device(IOTDA);
    let wrong = env
        .client
        .device(IOTDA, &dev.product, &dev.name, "wrong-secret")
        .unwrap();
    wrong.set_endpoint(&env.url(IOTDA)).unwrap();
    wrong.send_timestamp(true);
    assert_eq!(wrong.auth().unwrap_err().kind(), ErrorKind::Auth);
    assert_eq!(env.count(&dev, "auth_requests"), 1);
}

#[test]
fn saved_token_round_trip() {
    let env = env();
    let dev = env.device(IOTDA);
    dev.device.auth().unwrap();
    let (token, expires) = dev.device.token().unwrap();
    let again = env
        .client
        .device(IOTDA, &dev.product, &dev.name, &dev.secret)
        .unwrap();
    again.set_endpoint(&env.url(IOTDA)).unwrap();
    again.set_token(token.expose(), expires).unwrap();
    let t = Instant::now();
    again.publish(&dev.topic(), b"x").unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(env.count(&dev, "auths"), 1);
    assert_eq!(env.count(&dev, "publishes"), 1);
    // A token the platform does not know: one re-auth and resend.
    again
        .set_token("not-a-token-the-platform-issued", None)
        .unwrap();
    again.publish(&dev.topic(), b"y").unwrap();
    assert_eq!(env.count(&dev, "auths"), 2);
    assert!(again.set_token("a b", None).is_err());
}

#[test]
fn garbage_replies() {
    let env = env();
    let dev = env.device(IOTDA);
    for (kind, want) in [
        ("notjson", ErrorKind::BadResponse),
        ("empty", ErrorKind::BadResponse),
        ("garbage", ErrorKind::BadResponse),
        ("missing", ErrorKind::BadResponse),
    ] {
        dev.device.clear_token();
        env.control(&format!("reply auth {} {kind} 1", dev.key()));
        let e = dev.device.auth().unwrap_err();
        assert_eq!(e.kind(), want, "{kind}: {e}");
        assert!(!e.message().contains("access_token\":"), "{e}");
    }
    dev.device.auth().unwrap();
    for kind in ["notjson", "garbage", "truncated", "huge"] {
        env.control(&format!("reply publish {} {kind} 1", dev.key()));
        let e = dev.device.publish(&dev.topic(), b"x").unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::BadResponse | ErrorKind::Io),
            "{kind}: {e}"
        );
    }
}
