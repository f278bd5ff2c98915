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

/// IoTDA passwords for the hours around now (and two hours ahead: the skewed emulator).
fn iotda_passwords(dev: &Dev) -> Vec<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (0..6)
        .map(|h| {
            let stamp = iothttp::sign::utc_hour_stamp(now - 3600 + h * 3600);
            hmac_hex(HmacAlg::Sha256, stamp.as_bytes(), dev.secret.as_bytes())
        })
        .collect()
}

#[test]
fn trace_logs_and_errors_never_carry_secrets() {
    let env = env();
    let mut forbidden: Vec<String> = Vec::new();
    let mut errors: Vec<String> = Vec::new();

    for cloud in [Cloud::UCloud, Cloud::Aliyun, Cloud::HuaweiIotda] {
        let dev = env.device(cloud);
        forbidden.push(dev.secret.clone());
        match cloud {
            Cloud::UCloud => forbidden.push(ucloud_signature(&dev)),
            Cloud::Aliyun => {
                forbidden.push(aliyun_sign(&dev, HmacAlg::Md5));
                forbidden.push(aliyun_sign(&dev, HmacAlg::Sha1));
            }
            Cloud::HuaweiIotda => forbidden.extend(iotda_passwords(&dev)),
        }
        // Success, then every kind of refusal and recovery.
        dev.device.publish(&dev.topic(), b"hello").unwrap();
        forbidden.push(dev.device.token().unwrap().0.expose().to_string());
        env.control(&format!("expire {}", dev.key()));
        dev.device.publish(&dev.topic(), b"again").unwrap();
        forbidden.push(dev.device.token().unwrap().0.expose().to_string());
        let code = match cloud {
            Cloud::UCloud => 100073,
            Cloud::Aliyun => 20003,
            Cloud::HuaweiIotda => 4,
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

/// The upload flows at TRACE, with their error paths: no access-key secret, AGC client
/// secret or token, upload Authorization, OSS policy signature or AGC storage signature in
/// any log line or error message.
#[test]
fn upload_flows_never_log_credentials() {
    use iothttp::{AgcClient, AliyunAccount, Source};
    let env = env();
    let mut errors: Vec<String> = Vec::new();
    let mut forbidden: Vec<String> =
        vec!["ak-secret-value-123".into(), "agc-secret-value-456".into()];
    env.control("add-account akid-1 ak-secret-value-123");
    env.control("add-agc-client agc-id-1 agc-secret-value-456");
    let content = vec![5u8; 70_000];

    let dev = env.device(Cloud::UCloud);
    forbidden.push(dev.secret.clone());
    dev.device
        .set_file_endpoint(&env.emu.ufile_base_url())
        .unwrap();
    let mut src = Source::from_bytes(content.clone());
    dev.device
        .upload_file("s.bin", "a/b", &mut src, None)
        .unwrap();
    env.control(&format!("fail file-put {} -148643 2", dev.key()));
    errors.push(
        dev.device
            .upload_file("t.bin", "a/b", &mut src, None)
            .unwrap_err()
            .to_string(),
    );

    let acct = AliyunAccount::new(&env.client, "akid-1", "ak-secret-value-123").unwrap();
    acct.set_endpoint(&env.emu.aliyun_iot_url()).unwrap();
    let url = acct.ota_upload(None, &mut src, None).unwrap();
    let wrong = AliyunAccount::new(&env.client, "akid-1", "wrong-ak-secret-789").unwrap();
    wrong.set_endpoint(&env.emu.aliyun_iot_url()).unwrap();
    errors.push(
        wrong
            .ota_upload(None, &mut src, None)
            .unwrap_err()
            .to_string(),
    );
    forbidden.push("wrong-ak-secret-789".into());

    let agc = AgcClient::new(&env.client, "agc-id-1", "agc-secret-value-456").unwrap();
    agc.set_endpoint(&env.emu.agc_url()).unwrap();
    let object = agc.upload("42", "app.app", &mut src, None).unwrap();
    env.control("url-ttl obs 0");
    errors.push(
        agc.upload("42", "b.app", &mut src, None)
            .unwrap_err()
            .to_string(),
    );

    // What the stores received: the credentials the library handled for us.
    let objects: serde_json::Value = serde_json::from_str(&env.control("objects")).unwrap();
    for o in objects.as_array().unwrap() {
        let detail: serde_json::Value = serde_json::from_str(&env.control(&format!(
            "object {} {}",
            o["store"].as_str().unwrap(),
            o["key"].as_str().unwrap()
        )))
        .unwrap();
        for (name, value) in detail["headers"].as_object().into_iter().flatten() {
            if name == "authorization" {
                forbidden.push(value.as_str().unwrap().to_string());
            }
        }
        for field in ["Signature", "policy"] {
            if let Some(v) = detail["fields"][field].as_str() {
                forbidden.push(v.to_string());
            }
        }
    }
    assert!(
        forbidden.len() >= 6,
        "the sweep saw the upload credentials: {forbidden:?}"
    );
    assert!(url.contains("/oss/") && !object.is_empty());

    let logs = env.logs.lock().unwrap().clone();
    assert!(logs.iter().any(|l| l.contains("<redacted")));
    for line in logs.iter().chain(errors.iter()) {
        assert!(!line.contains("Bearer "), "a bearer token reached: {line}");
        for secret in &forbidden {
            assert!(
                !line.contains(secret.as_str()),
                "secret material leaked into: {line}"
            );
        }
    }
}
