//! Client certificates (mutual TLS) against the emulator's mTLS listeners: every PEM key
//! format is presented over TLS 1.3 and TLS 1.2; bad input is refused at the call with a
//! clear message; a server that refuses the certificate, or requires one that is not
//! configured, fails with `ErrorKind::Tls` naming the client certificate; the key never
//! reaches a log line or an error text; two identities never share a pooled connection.

mod common;

use std::sync::{Arc, Mutex};

use iothttp::{Client, Cloud, Config, ErrorKind};
use iothttp_emulator::{Emulator, Options, DEVICE_EC, DEVICE_PKCS8, DEVICE_RSA, UNKNOWN_DEVICE};

use common::{config, env, Env};

/// The base64 body lines of a PEM text (what must never be printed of a key).
fn pem_body_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_string)
        .collect()
}

fn pems(emu: &Emulator, name: &str) -> (String, String) {
    emu.client_cert_pem(name).expect("the emulator made it")
}

/// A client with the emulator's trust and a TRACE log, and `name`'s identity.
fn client_with(emu: &Emulator, name: &str, logs: &Arc<Mutex<Vec<String>>>) -> Client {
    let mut cfg = config(emu, logs);
    let (cert, key) = pems(emu, name);
    cfg.set_client_cert_pem(cert.as_bytes(), key.as_bytes())
        .unwrap();
    Client::new(&cfg).unwrap()
}

/// The name of the certificate the client presented to `base` (the emulator's whoami route).
fn whoami(client: &Client, base: &str) -> iothttp::Result<String> {
    let mut body = Vec::new();
    client.download(&format!("{base}/mtls/whoami"), &[], 0, &mut body, None)?;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    Ok(v["client_cert"].as_str().unwrap_or("<none>").to_string())
}

fn invalid(result: iothttp::Result<&mut Config>) -> String {
    let e = result.map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArg, "{}", e.message());
    e.message().to_string()
}

#[test]
fn every_key_format_is_presented_over_tls13_and_tls12() {
    let env = env();
    for name in [DEVICE_EC, DEVICE_PKCS8, DEVICE_RSA] {
        // From PEM text.
        let logs = Arc::new(Mutex::new(Vec::new()));
        let client = client_with(&env.emu, name, &logs);
        for base in [env.emu.mtls_url(), env.emu.mtls12_url()] {
            assert_eq!(whoami(&client, &base).unwrap(), name, "{base}");
        }
        // From files.
        let mut cfg = config(&env.emu, &logs);
        let (cert_path, key_path) = env.emu.client_cert_paths(name);
        cfg.set_client_cert_files(&cert_path, &key_path).unwrap();
        let client = Client::new(&cfg).unwrap();
        for base in [env.emu.mtls_url(), env.emu.mtls12_url()] {
            assert_eq!(whoami(&client, &base).unwrap(), name, "{base}");
        }
        // The same client still talks to a server that asks for no certificate.
        assert_eq!(whoami(&client, &env.emu.base_url()).unwrap(), "<none>");
    }
}

#[test]
fn a_device_publishes_over_mutual_tls() {
    let env = env();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let client = client_with(&env.emu, DEVICE_EC, &logs);
    for base in [env.emu.mtls_url(), env.emu.mtls12_url()] {
        let dev = env.device(Cloud::UCloud);
        let device = client
            .device(Cloud::UCloud, &dev.product, &dev.name, &dev.secret)
            .unwrap();
        device.set_endpoint(&format!("{base}/ucloud")).unwrap();
        device.publish(&dev.topic(), b"{\"t\":1}").unwrap();
        assert_eq!(env.count(&dev, "publishes"), 1, "{base}");
    }
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let env = env();
    let (ec_cert, ec_key) = pems(&env.emu, DEVICE_EC);
    let (_, pkcs8_key) = pems(&env.emu, DEVICE_PKCS8);
    let (rsa_cert, rsa_key) = pems(&env.emu, DEVICE_RSA);
    let mut cfg = Config::new();
    let mut check = |cert: &str, key: &str, expect: &str| {
        let msg = invalid(cfg.set_client_cert_pem(cert.as_bytes(), key.as_bytes()));
        assert!(msg.contains(expect), "expected '{expect}' in: {msg}");
        for line in pem_body_lines(key) {
            assert!(
                !msg.contains(&line),
                "the error text carries the key: {msg}"
            );
        }
        msg
    };
    // A key that is not the leaf's: another EC key, an RSA key for an EC leaf and back.
    check(&ec_cert, &pkcs8_key, "does not match the certificate");
    check(&ec_cert, &rsa_key, "does not match the certificate");
    check(&rsa_cert, &ec_key, "does not match the certificate");
    // A chain without a certificate (the key given twice), or garbage.
    check(&ec_key, &ec_key, "no '-----BEGIN CERTIFICATE-----' block");
    check("hello", &ec_key, "no '-----BEGIN CERTIFICATE-----' block");
    check(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        &ec_key,
        "not a well-formed X.509 certificate",
    );
    // Encrypted keys, PKCS#8 and legacy OpenSSL.
    let body = pem_body_lines(&pkcs8_key).join("\n");
    check(
        &ec_cert,
        &format!(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\n{body}\n-----END ENCRYPTED PRIVATE KEY-----\n"
        ),
        "encrypted",
    );
    check(
        &ec_cert,
        &format!(
            "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n{body}\n-----END EC PRIVATE KEY-----\n"
        ),
        "encrypted",
    );
    // No key, a malformed key, a key of no usable type, two keys.
    check(&ec_cert, &ec_cert, "no private key block found");
    check(&ec_cert, "garbage", "no private key block found");
    check(
        &ec_cert,
        "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        "malformed",
    );
    check(
        &ec_cert,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "not a usable private key",
    );
    check(
        &ec_cert,
        &format!("{ec_key}{pkcs8_key}"),
        "more than one private key",
    );
    // Empty and oversize input.
    check("", &ec_key, "certificate PEM is empty");
    check(&ec_cert, "", "key PEM is empty");
    let huge = "x".repeat(256 * 1024 + 1);
    check(&huge, &ec_key, "byte limit");
    check(&ec_cert, &huge, "byte limit");
    // A failed call leaves the identity set before in place.
    let logs = Arc::new(Mutex::new(Vec::new()));
    let mut cfg = config(&env.emu, &logs);
    cfg.set_client_cert_pem(ec_cert.as_bytes(), ec_key.as_bytes())
        .unwrap();
    invalid(cfg.set_client_cert_pem(ec_cert.as_bytes(), pkcs8_key.as_bytes()));
    let client = Client::new(&cfg).unwrap();
    assert_eq!(whoami(&client, &env.emu.mtls_url()).unwrap(), DEVICE_EC);
}

#[test]
fn files_that_cannot_be_read_are_refused() {
    let env = env();
    let (cert_path, key_path) = env.emu.client_cert_paths(DEVICE_EC);
    let missing = env.emu.client_cert_dir().join("no-such.pem");
    let mut cfg = Config::new();
    for (c, k) in [(&missing, &key_path), (&cert_path, &missing)] {
        let e = cfg.set_client_cert_files(c, k).map(|_| ()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Read, "{}", e.message());
        assert!(e.message().contains("no-such.pem"), "{}", e.message());
    }
    let dir = env.emu.client_cert_dir();
    let e = cfg
        .set_client_cert_files(&cert_path, dir)
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Read, "{}", e.message());
    let big = dir.join("big.pem");
    std::fs::write(&big, vec![b'x'; 256 * 1024 + 1]).unwrap();
    let msg = invalid(cfg.set_client_cert_files(&cert_path, &big));
    assert!(msg.contains("byte limit"), "{msg}");
    // A content error names both files.
    let (_, other_key) = env.emu.client_cert_paths(DEVICE_RSA);
    let msg = invalid(cfg.set_client_cert_files(&cert_path, &other_key));
    assert!(msg.contains("does not match"), "{msg}");
    assert!(
        msg.contains("device-ec.crt") && msg.contains("device-rsa.key"),
        "{msg}"
    );
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused_by_the_server() {
    let env = env();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let client = client_with(&env.emu, UNKNOWN_DEVICE, &logs);
    for base in [env.emu.mtls_url(), env.emu.mtls12_url()] {
        let e = whoami(&client, &base).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tls, "{base}: {}", e.message());
        assert!(
            e.message()
                .contains("the server refused the client certificate"),
            "{base}: {}",
            e.message()
        );
    }
    // Publish too: E_TLS, not retried into something else.
    let dev = env.device(Cloud::UCloud);
    let device = client
        .device(Cloud::UCloud, &dev.product, &dev.name, &dev.secret)
        .unwrap();
    device
        .set_endpoint(&format!("{}/ucloud", env.emu.mtls_url()))
        .unwrap();
    let e = device.publish(&dev.topic(), b"x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{}", e.message());
    assert!(
        e.message().contains("client certificate"),
        "{}",
        e.message()
    );
}

#[test]
fn no_certificate_against_a_server_that_requires_one() {
    let env = env();
    for base in [env.emu.mtls_url(), env.emu.mtls12_url()] {
        let e = whoami(&env.client, &base).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tls, "{base}: {}", e.message());
        assert!(
            e.message().contains("requires a client certificate"),
            "{base}: {}",
            e.message()
        );
        assert!(
            e.message().contains("iothttp_config_set_client_cert"),
            "{}",
            e.message()
        );
    }
}

#[test]
fn the_key_never_reaches_a_log_line_or_an_error_text() {
    let env = env();
    let mut texts = Vec::new();
    let mut keys = Vec::new();
    for name in [DEVICE_EC, DEVICE_PKCS8, DEVICE_RSA, UNKNOWN_DEVICE] {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let client = client_with(&env.emu, name, &logs);
        let (_, key) = pems(&env.emu, name);
        keys.push(key);
        for base in [env.emu.mtls_url(), env.emu.mtls12_url()] {
            if let Err(e) = whoami(&client, &base) {
                texts.push(e.message().to_string());
            }
        }
        let mut cfg = config(&env.emu, &logs);
        let (cert, key) = pems(&env.emu, name);
        cfg.set_client_cert_pem(cert.as_bytes(), key.as_bytes())
            .unwrap();
        texts.push(format!("{cfg:?}"));
        texts.push(format!("{client:?}"));
        texts.push(logs.lock().unwrap().join("\n"));
    }
    let all = texts.join("\n");
    assert!(
        all.contains("TRACE") || all.contains("Trace"),
        "no TRACE lines seen"
    );
    for key in &keys {
        for line in pem_body_lines(key) {
            assert!(!all.contains(&line), "a key line was printed");
        }
    }
}

#[test]
fn two_identities_never_share_a_pooled_connection() {
    let env: Env = env();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let a = client_with(&env.emu, DEVICE_EC, &logs);
    let b = client_with(&env.emu, DEVICE_RSA, &logs);
    for _ in 0..3 {
        assert_eq!(whoami(&a, &env.emu.mtls_url()).unwrap(), DEVICE_EC);
        assert_eq!(whoami(&b, &env.emu.mtls_url()).unwrap(), DEVICE_RSA);
    }
    // Each kept its own connection alive: one handshake each.
    assert_eq!(a.stats().tls_handshakes, 1);
    assert_eq!(b.stats().tls_handshakes, 1);
}

#[test]
fn the_emulator_writes_every_key_format() {
    let emu = Emulator::start(Options::default()).unwrap();
    for (name, label) in [
        (DEVICE_EC, "EC PRIVATE KEY"),
        (DEVICE_PKCS8, "PRIVATE KEY"),
        (DEVICE_RSA, "RSA PRIVATE KEY"),
        (UNKNOWN_DEVICE, "PRIVATE KEY"),
    ] {
        let (cert, key) = emu.client_cert_paths(name);
        let key = std::fs::read_to_string(key).unwrap();
        assert!(
            key.starts_with(&format!("-----BEGIN {label}-----")),
            "{name}"
        );
        let cert = std::fs::read_to_string(cert).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{name}");
    }
}
