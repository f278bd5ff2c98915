//! No secret, token, signature or Authorization value ever reaches a log line or an error
//! message, across every flow at TRACE level.

mod common;

use common::{env, Dev};
use iothttp::sign::{hmac_hex, HmacAlg};
use iothttp::{Cloud, SignMethod};

fn ucloud_signature(dev: &Dev) -> String {
    let body = format!(
        r#"{{"DeviceSN":"{}","ProductSN":"{}"}}"#,
        dev.name, dev.product
    );
    hmac_hex(HmacAlg::Sha256, dev.secret.as_bytes(), body.as_bytes())
}

fn aliyun_sign(dev: &Dev, alg: HmacAlg) -> String {
    let content = format!(
        "clientId{}.{}deviceName{}productKey{}",
        dev.product, dev.name, dev.name, dev.product
    );
    hmac_hex(alg, dev.secret.as_bytes(), content.as_bytes())
}

#[test]
fn trace_logs_and_errors_never_carry_secrets() {
    let env = env();
    let mut forbidden: Vec<String> = Vec::new();
    let mut errors: Vec<String> = Vec::new();

    for cloud in [Cloud::UCloud, Cloud::Aliyun] {
        let dev = env.device(cloud);
        forbidden.push(dev.secret.clone());
        match cloud {
            Cloud::UCloud => forbidden.push(ucloud_signature(&dev)),
            Cloud::Aliyun => {
                forbidden.push(aliyun_sign(&dev, HmacAlg::Md5));
                forbidden.push(aliyun_sign(&dev, HmacAlg::Sha1));
            }
        }
        // Success, then every kind of refusal and recovery.
        dev.device.publish(&dev.topic(), b"hello").unwrap();
        forbidden.push(dev.device.token().unwrap().0.expose().to_string());
        env.control(&format!("expire {}", dev.key()));
        dev.device.publish(&dev.topic(), b"again").unwrap();
        forbidden.push(dev.device.token().unwrap().0.expose().to_string());
        let code = if cloud == Cloud::UCloud {
            100073
        } else {
            20003
        };
        env.control(&format!("fail publish {} {code} 2", dev.key()));
        errors.push(
            dev.device
                .publish(&dev.topic(), b"x")
                .unwrap_err()
                .to_string(),
        );
        forbidden.push(dev.device.token().unwrap().0.expose().to_string());
        env.control(&format!("fail auth {} http503 5", dev.key()));
        errors.push(dev.device.auth().unwrap_err().to_string());
        if cloud == Cloud::Aliyun {
            dev.device.set_sign_method(SignMethod::HmacSha1).unwrap();
        }
        dev.device.send_timestamp(true);
        env.control("skew 7200");
        dev.device.auth().unwrap();
        forbidden.push(dev.device.token().unwrap().0.expose().to_string());
        env.control("skew 0");
        let wrong = env
            .client
            .device(cloud, &dev.product, &dev.name, "wrong-secret-value")
            .unwrap();
        wrong.set_endpoint(&env.url(cloud)).unwrap();
        errors.push(wrong.publish(&dev.topic(), b"x").unwrap_err().to_string());
        forbidden.push("wrong-secret-value".into());
        // A token set by the application.
        dev.device
            .set_token("app-supplied-token-1234", None)
            .unwrap();
        forbidden.push("app-supplied-token-1234".into());
        dev.device.publish(&dev.topic(), b"y").unwrap();
    }

    let logs = env.logs.lock().unwrap().clone();
    if std::env::var_os("SHOW_LOGS").is_some() {
        for l in &logs {
            eprintln!("{l}");
        }
        for e in &errors {
            eprintln!("ERR: {e}");
        }
    }
    assert!(logs.len() > 40, "TRACE produced {} lines", logs.len());
    for level in ["Error", "Warn", "Info", "Debug", "Trace"] {
        assert!(
            logs.iter().any(|l| l.starts_with(level)),
            "no {level} line in {logs:#?}"
        );
    }
    assert!(logs.iter().any(|l| l.contains("<redacted")));
    for secret in &forbidden {
        assert!(secret.len() >= 8);
        for line in logs.iter().chain(errors.iter()) {
            assert!(
                !line.contains(secret.as_str()),
                "secret material leaked into: {line}"
            );
        }
    }
}
