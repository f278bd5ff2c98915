//! End-to-end tests of the connection and reply faults, the TLS variant listeners and the
//! plain-HTTP upload URLs, over real sockets.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::{json, Value};

use crate::faults::{
    ALIYUN_BIG_ID, GARBAGE_BYTES, HUGE_BODY, HUGE_HEADER, NOT_JSON_BODY, PLACEHOLDER_BODY,
    UCLOUD_BIG_ID,
};
use crate::tests::{start, uc_topic, Client, UC_DEVICE, UC_PRODUCT, UC_SECRET};
use crate::upload_tests::{
    agc_token, agc_url, control_json, file_grant, file_url_request, key_stats, listed, ota_data,
    path_of, AK_ID, AK_SECRET,
};
use crate::Emulator;

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn client_config(ca_pem: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM");
    roots.add(ca).expect("CA accepted");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A TLS connection (not yet handshaken) to `url` = `https://127.0.0.1:PORT`, for the name
/// 127.0.0.1 as a client given that URL checks it.
fn tls_stream(url: &str, ca_pem: &str, read_timeout: Duration) -> Tls {
    let tcp = TcpStream::connect(url.trim_start_matches("https://")).expect("connect");
    tcp.set_read_timeout(Some(read_timeout)).unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    StreamOwned::new(
        ClientConnection::new(client_config(ca_pem), name).unwrap(),
        tcp,
    )
}

/// A [`Client`] on the main HTTPS port whose reads time out after `read_timeout`.
pub(crate) fn client_with_timeout(emu: &Emulator, read_timeout: Duration) -> Client {
    Client {
        conn: BufReader::new(Box::new(tls_stream(
            &emu.base_url(),
            &emu.ca_pem(),
            read_timeout,
        ))),
    }
}

/// Completes the handshake; the TLS error when it fails.
fn handshake(url: &str, ca_pem: &str) -> Result<Tls, rustls::Error> {
    let mut s = tls_stream(url, ca_pem, Duration::from_secs(10));
    while s.conn.is_handshaking() {
        if let Err(e) = s.conn.complete_io(&mut s.sock) {
            let tls = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
            return Err(tls
                .cloned()
                .unwrap_or_else(|| panic!("not a TLS error: {e}")));
        }
    }
    Ok(s)
}

fn publish_request(topic: &str, token: &str, payload: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "POST /ucloud/topic{topic} HTTP/1.1\r\nHost: localhost\r\nPassword: {token}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        payload.len()
    )
    .into_bytes();
    bytes.extend_from_slice(payload);
    bytes
}

/// Reads a status line and the header lines: (status, headers, bytes read).
pub(crate) fn read_head(c: &mut Client) -> (u16, Vec<(String, String)>, usize) {
    let mut line = String::new();
    let mut total = c.conn.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).expect("status").parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        total += c.conn.read_line(&mut line).unwrap();
        let l = line.trim_end_matches("\r\n");
        if l.is_empty() {
            return (status, headers, total);
        }
        let (n, v) = l.split_once(':').unwrap();
        headers.push((n.to_ascii_lowercase(), v.trim().to_string()));
    }
}

pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Everything that arrives until the connection ends (EOF, reset, or a TLS error).
pub(crate) fn read_rest(c: &mut Client) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match c.conn.read(&mut buf) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// The connection ends without any reply byte.
pub(crate) fn expect_no_reply(c: &mut Client) {
    let mut buf = [0u8; 64];
    match c.conn.read(&mut buf) {
        Ok(0) => {}
        Err(e) => assert!(
            !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "the connection stayed open: {e}"
        ),
        Ok(n) => panic!(
            "expected no reply, got {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn counters(emu: &Emulator) -> Value {
    control_json(emu, &format!("counters ucloud {UC_PRODUCT} {UC_DEVICE}"))
}

pub(crate) fn arm(emu: &Emulator, command: &str) {
    assert_eq!(emu.control(command).as_deref(), Ok("armed"), "{command}");
}

fn dev() -> String {
    format!("ucloud {UC_PRODUCT} {UC_DEVICE}")
}

#[test]
fn fault_commands_parse() {
    let emu = start(false);
    for ok in [
        "reply auth ucloud p d garbage 1",
        "reply publish aliyun p d bigid 2",
        "reply store-put any huge 1",
        "reply file-url ucloud p d missing 1",
        "reply agc-url agc c hugeheader 1",
        "drop publish ucloud p d before-request 1",
        "drop obs-put agc c mid-reply 3",
        "drop ota-url account ak after-processing 1",
        "hang ota-url account ak 1",
        "hang auth aliyun p d 2",
        "trickle agc-token agc c 1 1",
        "stall-read oss-post account ak 0 1",
        "stall-read store-form any 100 1",
    ] {
        arm(&emu, ok);
    }
    for bad in [
        "reply auth ucloud p d bigid 1",
        "reply publish ucloud p d nonsense 1",
        "reply store-put any garbage 0",
        "reply store-put any garbage",
        "drop publish ucloud p d sometime 1",
        "drop auth any before-reply 1",
        "drop file-url aliyun p d before-reply 1",
        "hang publish ucloud p d 1 1",
        "hang publish ucloud p d",
        "trickle publish ucloud p d 0 1",
        "trickle publish ucloud p d fast 1",
        "stall-read publish ucloud p d 10 1",
        "stall-read file-url any 10 1",
        "stall-read store-put any -1 1",
        "accept-no-tls maybe",
        "upload-urls ftp",
        "handshakes-all x",
    ] {
        assert!(emu.control(bad).is_err(), "{bad}");
    }
    assert_eq!(
        emu.control("accept-no-tls on").as_deref(),
        Ok("accept-no-tls on")
    );
    assert_eq!(
        emu.control("upload-urls http").as_deref(),
        Ok("upload-urls http")
    );
    assert_eq!(emu.control("reset-faults").as_deref(), Ok("faults cleared"));
    // Everything is off again: a normal handshake and request.
    let mut c = Client::tls(&emu);
    assert_eq!(c.request("/nothing", &[], b"").status, 404);
    let help = emu.control("help").unwrap();
    for word in [
        "reply <op>",
        "drop <op>",
        "hang <op>",
        "trickle <op>",
        "stall-read <op>",
        "accept-no-tls on|off",
        "upload-urls http|https",
        "handshakes-all",
        "bad_replies",
        "NOT processed",
        "PROCESSED",
    ] {
        assert!(help.contains(word), "help lacks {word}");
    }
    assert!(!help.contains('\n'));
    let all = control_json(&emu, "handshakes-all");
    for port in [
        "https",
        "http",
        "untrusted",
        "expired",
        "wrong-host",
        "tls12",
        "future",
    ] {
        assert!(all[port]["connections"].is_u64(), "{all}");
    }
    assert_eq!(all["https"]["handshakes"], 1);
}

#[test]
fn reply_kinds_on_device_endpoints() {
    let emu = start(false);
    let mut c = Client::tls(&emu);
    let token = c.ucloud_token();
    let normal = c.publish("ucloud", &uc_topic(), &token, b"0");
    assert_eq!(normal.json()["RetCode"], 0);

    arm(&emu, &format!("reply publish {} garbage 1", dev()));
    let r = c.publish("ucloud", &uc_topic(), &token, b"1");
    assert_eq!((r.status, r.body.len()), (200, GARBAGE_BYTES));
    assert_eq!(r.header("content-type"), Some("application/json"));

    arm(&emu, &format!("reply publish {} empty 1", dev()));
    let r = c.publish("ucloud", &uc_topic(), &token, b"2");
    assert_eq!((r.status, r.header("content-length")), (200, Some("0")));
    assert!(r.body.is_empty() && r.header("content-type").is_none());

    arm(&emu, &format!("reply publish {} notjson 1", dev()));
    let r = c.publish("ucloud", &uc_topic(), &token, b"3");
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.body, NOT_JSON_BODY.as_bytes());

    arm(&emu, &format!("reply publish {} missing 1", dev()));
    let r = c.publish("ucloud", &uc_topic(), &token, b"4");
    assert_eq!(r.text(), r#"{"RetCode":0,"Message":"Success"}"#);

    // The auth is answered the same whatever processing said (here: a bad signature).
    arm(&emu, &format!("reply auth {} missing 1", dev()));
    let body = format!(r#"{{"ProductSN":"{UC_PRODUCT}","DeviceSN":"{UC_DEVICE}"}}"#);
    let r = c.ucloud_auth(&body, "wrong secret");
    assert_eq!(r.text(), r#"{"RetCode":0,"Message":"Success"}"#);

    arm(&emu, &format!("reply publish {} bigid 1", dev()));
    let r = c.publish("ucloud", &uc_topic(), &token, b"5");
    assert_eq!(
        r.text(),
        format!(r#"{{"RetCode":0,"Message":"Success","MessageID":"{UCLOUD_BIG_ID}"}}"#)
    );
    // The connection is still fine and the rules are used up.
    assert_eq!(
        c.publish("ucloud", &uc_topic(), &token, b"6").json()["RetCode"],
        0
    );
    let n = counters(&emu);
    assert_eq!(n["publish_requests"], 7);
    // Every mangled reply's publish was recorded, the bigid one not.
    assert_eq!(n["publishes"], 6);
    assert_eq!(n["bad_replies"], 6);
    let stats = control_json(&emu, &format!("stats {}", dev()));
    let lens: Vec<u64> = stats["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["len"].as_u64().unwrap())
        .collect();
    assert_eq!(lens, vec![1; 6]);

    // Alibaba shapes.
    let mut c = Client::tls(&emu);
    let token = c.aliyun_token();
    arm(&emu, "reply auth aliyun pk device missing 1");
    let r = c.request(
        "/aliyun/auth",
        &[("Content-Type", "application/json")],
        br#"{"clientId":"1","sign":"00","productKey":"pk","deviceName":"device"}"#,
    );
    assert_eq!(r.text(), r#"{"code":0,"message":"success","info":{}}"#);
    arm(&emu, "reply publish aliyun pk device missing 1");
    let r = c.publish("aliyun", "/pk/device/x", &token, b"x");
    assert_eq!(r.text(), r#"{"code":0,"message":"success"}"#);
    arm(&emu, "reply publish aliyun pk device bigid 1");
    let r = c.publish("aliyun", "/pk/device/x", &token, b"x");
    assert_eq!(
        r.text(),
        format!(r#"{{"code":0,"message":"success","info":{{"messageId":{ALIYUN_BIG_ID}}}}}"#)
    );
    let n = control_json(&emu, "counters aliyun pk device");
    assert_eq!(
        (n["publishes"].as_u64(), n["bad_replies"].as_u64()),
        (Some(1), Some(3))
    );
}

#[test]
fn truncated_huge_and_hugeheader_on_the_wire() {
    let emu = start(false);
    let mut c = Client::tls(&emu);
    let token = c.ucloud_token();
    let normal_len = c.publish("ucloud", &uc_topic(), &token, b"0").body.len();

    // truncated: the normal success length declared, exactly half of it sent.
    arm(&emu, &format!("reply publish {} truncated 1", dev()));
    c.send_raw(&publish_request(&uc_topic(), &token, b"t"));
    let (status, headers, _) = read_head(&mut c);
    assert_eq!(status, 200);
    let declared: usize = header(&headers, "content-length").unwrap().parse().unwrap();
    assert_eq!(declared, normal_len);
    let rest = read_rest(&mut c);
    assert_eq!(rest.len(), declared / 2);
    assert!(rest.starts_with(br#"{"RetCode":0,"#));
    assert_eq!(counters(&emu)["publishes"], 2);

    // huge: 10 MiB streamed, then the connection is reusable.
    let mut c = Client::tls(&emu);
    arm(&emu, &format!("reply publish {} huge 1", dev()));
    c.send_raw(&publish_request(&uc_topic(), &token, b"h"));
    let (status, headers, _) = read_head(&mut c);
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-length"),
        Some(HUGE_BODY.to_string().as_str())
    );
    let mut body = (&mut c.conn).take(HUGE_BODY);
    let mut first = [0u8; 25];
    body.read_exact(&mut first).unwrap();
    assert_eq!(&first, br#"{"RetCode":0,"Message":"x"#);
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = first.len() as u64;
    let mut last = Vec::new();
    loop {
        let n = body.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
        last = buf[..n].to_vec();
    }
    assert_eq!(total, HUGE_BODY);
    assert!(last.ends_with(br#"xx"}"#));
    assert_eq!(
        c.publish("ucloud", &uc_topic(), &token, b"after").json()["RetCode"],
        0
    );

    // A client that gives up on a huge reply: the server stops quietly.
    arm(&emu, &format!("reply publish {} huge 1", dev()));
    c.send_raw(&publish_request(&uc_topic(), &token, b"h2"));
    read_head(&mut c);
    drop(c);

    // hugeheader: 1 MiB of X-Pad lines, then the normal reply.
    let mut c = Client::tls(&emu);
    arm(&emu, &format!("reply publish {} hugeheader 1", dev()));
    c.send_raw(&publish_request(&uc_topic(), &token, b"hh"));
    let mut line = String::new();
    c.conn.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 200 OK\r\n");
    let (mut pad, mut pad_lines, mut length) = (0u64, 0, 0usize);
    loop {
        line.clear();
        c.conn.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if line.starts_with("X-Pad-") {
            pad += line.len() as u64;
            pad_lines += 1;
        } else if let Some(v) = line.strip_prefix("Content-Length: ") {
            length = v.trim().parse().unwrap();
        }
    }
    assert_eq!(pad, HUGE_HEADER);
    assert!(pad_lines > 500, "{pad_lines}");
    let mut body = vec![0u8; length];
    c.conn.read_exact(&mut body).unwrap();
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["RetCode"], 0);
    assert!(json["MessageID"].is_string());

    let n = counters(&emu);
    assert_eq!(n["publishes"], 6);
    assert_eq!(n["bad_replies"], 4);
}

#[test]
fn drop_modes_and_what_was_processed() {
    let emu = start(false);
    let token = Client::tls(&emu).ucloud_token();
    let expect = |publishes: u64, bad: u64| {
        let n = counters(&emu);
        assert_eq!(
            (n["publishes"].as_u64(), n["bad_replies"].as_u64()),
            (Some(publishes), Some(bad)),
            "{n}"
        );
    };

    for when in ["before-request", "before-reply", "after-processing"] {
        arm(&emu, &format!("drop publish {} {when} 1", dev()));
        let mut c = Client::tls(&emu);
        c.send_raw(&publish_request(&uc_topic(), &token, b"payload"));
        expect_no_reply(&mut c);
    }
    // Only the after-processing one was recorded (and counted as a bad reply).
    expect(1, 1);

    arm(&emu, &format!("drop publish {} mid-reply 1", dev()));
    let mut c = Client::tls(&emu);
    c.send_raw(&publish_request(&uc_topic(), &token, b"payload"));
    let (status, headers, _) = read_head(&mut c);
    assert_eq!(status, 200);
    let declared: usize = header(&headers, "content-length").unwrap().parse().unwrap();
    assert_eq!(read_rest(&mut c).len(), declared / 2);
    expect(2, 2);
    assert_eq!(counters(&emu)["publish_requests"], 4);

    // Uploads: nothing stored unless processed.
    let body = vec![5u8; 1024 * 1024];
    let put = |key: &str| {
        let mut c = Client::tls(&emu);
        let mut bytes = format!(
            "PUT /store/{key} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(&body);
        // The server may reset the connection while the body is still being sent.
        let _ = c
            .conn
            .get_mut()
            .write_all(&bytes)
            .and_then(|_| c.conn.get_mut().flush());
        c
    };
    arm(&emu, "drop store-put any before-request 1");
    expect_no_reply(&mut put("a.bin"));
    arm(&emu, "drop store-put any before-reply 1");
    expect_no_reply(&mut put("b.bin"));
    arm(&emu, "drop store-put any after-processing 1");
    expect_no_reply(&mut put("c.bin"));
    arm(&emu, "drop store-put any mid-reply 1");
    let mut c = put("d.bin");
    let (status, headers, _) = read_head(&mut c);
    assert_eq!(status, 200);
    // The PUT's reply has no body: a placeholder is declared, half of it sent.
    assert_eq!(
        header(&headers, "content-length"),
        Some(PLACEHOLDER_BODY.to_string().as_str())
    );
    assert_eq!(read_rest(&mut c).len(), PLACEHOLDER_BODY / 2);
    assert!(listed(&emu, "store", "a.bin").is_none());
    assert!(listed(&emu, "store", "b.bin").is_none());
    assert_eq!(key_stats(&emu, "store", "a.bin"), (0, 0));
    assert_eq!(listed(&emu, "store", "c.bin").unwrap()["size"], 1024 * 1024);
    assert!(listed(&emu, "store", "d.bin").is_some());
    let stats = control_json(&emu, "upload-stats");
    let s = &stats["ops"]["store-put"];
    assert_eq!(
        (
            s["attempts"].as_u64(),
            s["drops"].as_u64(),
            s["aborts"].as_u64()
        ),
        (Some(4), Some(4), Some(2)),
        "{s}"
    );
    assert_eq!(
        (s["completions"].as_u64(), s["bad_replies"].as_u64()),
        (Some(2), Some(2))
    );
}

#[test]
fn reply_faults_on_upload_endpoints() {
    let emu = start(false);
    emu.control(&format!("add-account {AK_ID} {AK_SECRET}"))
        .unwrap();
    emu.control("add-agc-client cid csecret").unwrap();
    let mut c = Client::tls(&emu);

    arm(&emu, &format!("reply file-url {} missing 1", dev()));
    let body = format!(
        r#"{{"ProductSN":"{UC_PRODUCT}","DeviceSN":"{UC_DEVICE}","FileName":"f","FileSize":1,"MD5":"0cc175b9c0f1b6a831c399e269772661","Content-Type":"x/y"}}"#
    );
    assert_eq!(
        file_url_request(&mut c, &body, UC_SECRET).text(),
        r#"{"RetCode":0}"#
    );
    arm(&emu, &format!("reply ota-url account {AK_ID} missing 1"));
    assert_eq!(ota_data(&mut c, "m1"), json!({}));
    arm(&emu, "reply agc-token agc cid missing 1");
    assert_eq!(
        agc_token(&mut c, "cid", "csecret"),
        json!({"expires_in": 100})
    );
    let token = agc_token(&mut c, "cid", "csecret")["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    arm(&emu, "reply agc-url agc cid missing 1");
    let query = format!(
        "appId=1&fileName=a.bin&contentLength=1&sha256={}",
        "a".repeat(64)
    );
    assert_eq!(
        agc_url(&mut c, "cid", &token, &query),
        json!({"ret": {"code": 0, "msg": "success"}})
    );

    // A byte upload: stored, but the success's headers are missing / the reply is cut.
    arm(&emu, "reply store-put any missing 1");
    let r = c.send("PUT", "/store/m.bin", &[], b"abc");
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert!(r.header("etag").is_none());
    assert!(listed(&emu, "store", "m.bin").is_some());
    arm(&emu, "reply store-put any garbage 1");
    let r = c.send("PUT", "/store/g.bin", &[], b"abc");
    assert_eq!(r.body.len(), GARBAGE_BYTES);
    arm(&emu, "reply store-put any truncated 1");
    c.send_raw(b"PUT /store/t.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    let (status, _, _) = read_head(&mut c);
    assert_eq!(status, 200);
    assert_eq!(read_rest(&mut c).len(), PLACEHOLDER_BODY / 2);
    assert!(listed(&emu, "store", "t.bin").is_some());

    let stats = control_json(&emu, "upload-stats");
    let ops = &stats["ops"];
    for (op, bad) in [
        ("file-url", 1),
        ("ota-url", 1),
        ("agc-token", 1),
        ("agc-url", 1),
        ("store-put", 3),
    ] {
        assert_eq!(ops[op]["bad_replies"], bad, "{op}: {}", ops[op]);
    }
    assert_eq!(ops["store-put"]["completions"], 3);
}

#[test]
fn hang_holds_until_the_client_closes() {
    let emu = start(false);
    let token = Client::tls(&emu).ucloud_token();
    arm(&emu, &format!("hang publish {} 1", dev()));
    let mut c = client_with_timeout(&emu, Duration::from_millis(300));
    c.send_raw(&publish_request(&uc_topic(), &token, b"x"));
    let mut buf = [0u8; 16];
    for _ in 0..2 {
        let started = Instant::now();
        let e = c.conn.read(&mut buf).expect_err("no reply");
        assert!(is_timeout(&e), "{e}");
        assert!(started.elapsed() >= Duration::from_millis(250));
    }
    drop(c);
    let n = counters(&emu);
    assert_eq!(
        (n["publish_requests"].as_u64(), n["publishes"].as_u64()),
        (Some(1), Some(0))
    );

    // An upload's whole body is read (the client is not blocked), then nothing.
    arm(&emu, "hang store-put any 1");
    let mut c = client_with_timeout(&emu, Duration::from_millis(300));
    let body = vec![1u8; 4 * 1024 * 1024];
    let mut bytes = format!(
        "PUT /store/hang.bin HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(&body);
    c.send_raw(&bytes);
    let e = c.conn.read(&mut buf).expect_err("no reply");
    assert!(is_timeout(&e), "{e}");
    assert!(listed(&emu, "store", "hang.bin").is_none());
    let stats = control_json(&emu, "upload-stats");
    assert_eq!(stats["ops"]["store-put"]["hangs"], 1);
    // The rule is used up: the connection after it is served.
    let mut c = Client::tls(&emu);
    assert_eq!(c.send("PUT", "/store/hang.bin", &[], b"ok").status, 200);
}

#[test]
fn trickle_paces_the_reply() {
    let emu = start(false);
    let mut c = Client::tls(&emu);
    let token = c.ucloud_token();
    const RATE: f64 = 500.0;
    arm(&emu, &format!("trickle publish {} 500 1", dev()));
    c.send_raw(&publish_request(&uc_topic(), &token, b"x"));
    let started = Instant::now();
    let mut first = [0u8; 1];
    c.conn.read_exact(&mut first).unwrap();
    let first_at = started.elapsed();
    assert_eq!(&first, b"H");
    let mut reply = vec![first[0]];
    while !reply.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        c.conn.read_exact(&mut b).unwrap();
        reply.push(b[0]);
    }
    let head = String::from_utf8(reply.clone()).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    let mut body = vec![0u8; length];
    c.conn.read_exact(&mut body).unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let expected = (reply.len() + length) as f64 / RATE;
    assert!(first_at < Duration::from_secs(1), "{first_at:?}");
    assert!(
        elapsed >= expected * 0.7 && elapsed <= expected + 1.5,
        "{elapsed} s for {} bytes",
        reply.len() + length
    );
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["RetCode"], 0);
    // Processed, and a complete reply: not a bad one. The connection goes on.
    let n = counters(&emu);
    assert_eq!(
        (n["publishes"].as_u64(), n["bad_replies"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(
        c.publish("ucloud", &uc_topic(), &token, b"y").json()["RetCode"],
        0
    );
}

#[test]
fn stall_read_blocks_a_large_upload() {
    let emu = start(false);
    arm(&emu, "stall-read store-put any 1000 1");
    let mut s = tls_stream(&emu.base_url(), &emu.ca_pem(), Duration::from_secs(5));
    s.sock
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let declared: u64 = 256 * 1024 * 1024;
    let head =
        format!("PUT /store/stall.bin HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // Once the socket buffers are full, a write blocks for the whole write timeout (the
    // kernel may still take a few bytes now and then, so a per-call timeout can take
    // seconds to fail: the first blocked write is proof enough).
    let chunk = vec![3u8; 64 * 1024];
    let mut sent = 0u64;
    loop {
        let started = Instant::now();
        match s.write(&chunk) {
            Ok(n) => sent += n as u64,
            Err(e) => {
                assert!(is_timeout(&e), "{e}");
                break;
            }
        }
        if started.elapsed() >= Duration::from_millis(150) {
            break;
        }
        assert!(sent < 64 * 1024 * 1024, "the server kept reading");
    }
    assert!(sent < declared / 4);
    assert!(listed(&emu, "store", "stall.bin").is_none());
    let stats = control_json(&emu, "upload-stats");
    assert_eq!(stats["ops"]["store-put"]["stalls"], 1);
    assert_eq!(stats["ops"]["store-put"]["aborts"], 1);
    assert_eq!(key_stats(&emu, "store", "stall.bin"), (0, 0));
    // Stopping the emulator ends the stalled connection at once.
    let started = Instant::now();
    drop(emu);
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut buf = [0u8; 16];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
}

#[test]
fn accept_no_tls_stays_silent() {
    let emu = start(false);
    emu.control("accept-no-tls on").unwrap();
    let started = Instant::now();
    let mut s = tls_stream(&emu.base_url(), &emu.ca_pem(), Duration::from_millis(300));
    let e = s.conn.complete_io(&mut s.sock).expect_err("no handshake");
    assert!(is_timeout(&e), "{e}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    // Not a single byte, even after a while.
    let mut raw = TcpStream::connect(emu.base_url().trim_start_matches("https://")).unwrap();
    raw.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    raw.write_all(b"\x16\x03\x01\x00\x05hello").unwrap();
    let mut buf = [0u8; 16];
    let e = raw.read(&mut buf).expect_err("silence");
    assert!(is_timeout(&e), "{e}");
    drop(raw);
    drop(s);
    let all = control_json(&emu, "handshakes-all");
    assert_eq!(all["https"]["silent"], 2);
    assert_eq!(all["https"]["handshakes"], 0);

    emu.control("accept-no-tls off").unwrap();
    let mut c = Client::tls(&emu);
    assert_eq!(c.request("/nothing", &[], b"").status, 404);
    assert_eq!(emu.handshakes(), 1);
}

#[test]
fn tls_variant_listeners() {
    let emu = start(false);
    let ca = emu.ca_pem();
    assert_eq!(ca.matches("BEGIN CERTIFICATE").count(), 1);
    let urls = [
        emu.untrusted_url(),
        emu.expired_url(),
        emu.wrong_host_url(),
        emu.tls12_url(),
    ];
    for url in &urls {
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");
        assert_ne!(*url, emu.base_url());
    }

    let err = handshake(&emu.untrusted_url(), &ca).expect_err("refused");
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
        ),
        "{err:?}"
    );
    let err = handshake(&emu.expired_url(), &ca).expect_err("refused");
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. }
            )
        ),
        "{err:?}"
    );
    let err = handshake(&emu.wrong_host_url(), &ca).expect_err("refused");
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{err:?}"
    );

    // TLS 1.2 only: a client allowing 1.2 and 1.3 gets 1.2, and the routes are there.
    let s = handshake(&emu.tls12_url(), &ca).expect("TLS 1.2 handshake");
    assert_eq!(
        s.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    let mut c = Client {
        conn: BufReader::new(Box::new(s)),
    };
    let token = c.ucloud_token();
    assert_eq!(
        c.publish("ucloud", &uc_topic(), &token, b"1.2").json()["RetCode"],
        0
    );

    // The main port negotiates TLS 1.3 with the same client.
    let s = handshake(&emu.base_url(), &ca).unwrap();
    assert_eq!(
        s.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );

    let deadline = Instant::now() + Duration::from_secs(5);
    let all = loop {
        let all = control_json(&emu, "handshakes-all");
        // The server counts a handshake once it has read the client's last flight.
        let settled = ["untrusted", "expired", "wrong-host"]
            .iter()
            .all(|p| all[p]["failed_handshakes"] == 1)
            && all["https"]["handshakes"] == 1;
        if settled || Instant::now() > deadline {
            break all;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for port in ["untrusted", "expired", "wrong-host"] {
        assert_eq!(all[port]["connections"], 1, "{all}");
        assert_eq!(all[port]["failed_handshakes"], 1, "{all}");
        assert_eq!(all[port]["handshakes"], 0, "{all}");
    }
    assert_eq!(all["tls12"]["handshakes"], 1);
    assert_eq!(all["https"]["handshakes"], 1);
    // The totals cover every listener.
    assert_eq!(emu.handshakes(), 2);
    assert_eq!(emu.connections(), 5);
}

#[test]
fn plain_upload_urls() {
    let emu = start(true);
    emu.control(&format!("add-account {AK_ID} {AK_SECRET}"))
        .unwrap();
    emu.control("add-agc-client cid csecret").unwrap();
    let plain = emu.plain_base_url().unwrap();
    assert_eq!(
        emu.control("upload-urls http").as_deref(),
        Ok("upload-urls http")
    );
    let mut c = Client::tls(&emu);
    let (url, auth) = file_grant(&mut c, "f.bin", b"abc", "application/octet-stream");
    assert!(url.starts_with(&format!("{plain}/ufile/")), "{url}");
    let data = ota_data(&mut c, "plain-1");
    assert_eq!(data["Host"], format!("{plain}/oss"));
    assert!(data["FirmwareUrl"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{plain}/oss/")));
    let token = agc_token(&mut c, "cid", "csecret")["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let query = format!(
        "appId=1&fileName=a.bin&contentLength=1&sha256={}",
        "a".repeat(64)
    );
    let info = agc_url(&mut c, "cid", &token, &query);
    assert!(info["urlInfo"]["url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{plain}/obs/")));
    assert_eq!(control_json(&emu, "upload-stats")["plain_http_uploads"], 0);

    // A client that follows such a URL is counted.
    let mut p = Client::plain(&plain);
    let reply = p.send(
        "PUT",
        &path_of(&url),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/octet-stream"),
            ("Content-MD5", "900150983cd24fb0d6963f7d28e17f72"),
        ],
        b"abc",
    );
    assert_eq!(reply.status, 200);
    assert_eq!(control_json(&emu, "upload-stats")["plain_http_uploads"], 1);

    emu.control("reset-faults").unwrap();
    let (url, _) = file_grant(&mut c, "g.bin", b"abc", "application/octet-stream");
    assert!(url.starts_with(&emu.base_url()), "{url}");

    // Without a plain listener the URL names the TLS port; plain HTTP there gets a 400.
    let emu = start(false);
    emu.control("upload-urls http").unwrap();
    let mut c = Client::tls(&emu);
    let (url, _) = file_grant(&mut c, "f.bin", b"abc", "application/octet-stream");
    let http_base = emu.base_url().replace("https://", "http://");
    assert!(url.starts_with(&format!("{http_base}/ufile/")), "{url}");
    let mut p = Client::plain(&http_base);
    let reply = p.send("PUT", &path_of(&url), &[], b"abc");
    assert_eq!(reply.status, 400);
    assert!(reply.text().contains("plain HTTP"), "{}", reply.text());
    assert_eq!(control_json(&emu, "upload-stats")["plain_http_uploads"], 1);
    assert_eq!(
        control_json(&emu, "handshakes-all")["https"]["plain_http"],
        1
    );
}
