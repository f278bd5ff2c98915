//! End-to-end tests over real sockets with a minimal rustls HTTP/1.1 client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::Value;

use crate::sign::{self, HmacAlg};
use crate::{clock, Cloud, DeviceSpec, Emulator, Options};

pub(crate) const UC_PRODUCT: &str = "ZG1EvTEa7NN";
pub(crate) const UC_DEVICE: &str = "NlwaSPXsCpTQuh8FxBGH";
pub(crate) const UC_SECRET: &str = "ucSecret";

pub(crate) fn start(plain_http: bool) -> Emulator {
    Emulator::start(Options {
        devices: vec![
            DeviceSpec::new(Cloud::Ucloud, UC_PRODUCT, UC_DEVICE, UC_SECRET),
            DeviceSpec::new(Cloud::Aliyun, "pk", "device", "secret"),
        ],
        control_port: Some(0),
        plain_http,
        ..Options::default()
    })
    .expect("emulator starts")
}

pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) trait Conn: Read + Write {}
impl<T: Read + Write> Conn for T {}

/// One HTTP/1.1 connection (TLS or plain).
pub(crate) struct Client {
    pub conn: BufReader<Box<dyn Conn>>,
}

impl Client {
    pub fn tls(emu: &Emulator) -> Client {
        let mut roots = RootCertStore::empty();
        let ca = CertificateDer::from_pem_slice(emu.ca_pem().as_bytes()).expect("CA PEM");
        roots.add(ca).expect("CA accepted");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let addr = emu.base_url().trim_start_matches("https://").to_string();
        let tcp = TcpStream::connect(addr).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(Arc::new(config), name).unwrap();
        Client {
            conn: BufReader::new(Box::new(StreamOwned::new(conn, tcp))),
        }
    }

    pub fn plain(base_url: &str) -> Client {
        let tcp = TcpStream::connect(base_url.trim_start_matches("http://")).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client {
            conn: BufReader::new(Box::new(tcp)),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let out = self.conn.get_mut();
        out.write_all(bytes).unwrap();
        out.flush().unwrap();
    }

    /// Sends exactly these header lines (plus `Content-Length` when `body` is Some) and
    /// reads the reply.
    pub fn exact(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Reply {
        let mut head = format!("{method} {path} HTTP/1.1\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = body {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.unwrap_or_default());
        self.send_raw(&bytes);
        self.read_reply()
    }

    /// `method` with `Host: localhost`, the given headers and a Content-Length.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut all = vec![("Host", "localhost")];
        all.extend_from_slice(headers);
        self.exact(method, path, &all, Some(body))
    }

    pub fn request(&mut self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.send_raw(&bytes);
        self.read_reply()
    }

    pub fn read_reply(&mut self) -> Reply {
        let mut line = String::new();
        self.conn.read_line(&mut line).unwrap();
        let mut parts = line.splitn(3, ' ');
        assert_eq!(parts.next(), Some("HTTP/1.1"), "status line {line:?}");
        let status: u16 = parts.next().unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.conn.read_line(&mut line).unwrap();
            let l = line.trim_end_matches("\r\n");
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').unwrap();
            headers.push((n.to_string(), v.trim().to_string()));
        }
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        // A 204 has no Content-Length (and no body).
        let len: usize = reply
            .header("content-length")
            .map_or(0, |v| v.parse().unwrap());
        reply.body = vec![0; len];
        self.conn.read_exact(&mut reply.body).unwrap();
        reply
    }

    pub fn ucloud_auth(&mut self, body: &str, secret: &str) -> Reply {
        let sig = sign::hmac_hex(HmacAlg::Sha256, secret.as_bytes(), body.as_bytes());
        self.request(
            "/ucloud/auth",
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &sig),
            ],
            body.as_bytes(),
        )
    }

    pub fn ucloud_token(&mut self) -> String {
        let body = format!(r#"{{"ProductSN":"{UC_PRODUCT}","DeviceSN":"{UC_DEVICE}"}}"#);
        let reply = self.ucloud_auth(&body, UC_SECRET);
        assert_eq!(reply.json()["RetCode"], 0, "{:?}", reply.json());
        reply.json()["Token"].as_str().unwrap().to_string()
    }

    pub fn publish(&mut self, cloud: &str, topic: &str, token: &str, payload: &[u8]) -> Reply {
        self.request(
            &format!("/{cloud}/topic{topic}"),
            &[
                ("Password", token),
                ("Content-Type", "application/octet-stream"),
            ],
            payload,
        )
    }

    pub fn aliyun_token(&mut self) -> String {
        let ts = clock::system_now_ms().to_string();
        let content = format!("clientId12345deviceNamedeviceproductKeypktimestamp{ts}");
        let sign = crate::aliyun::sign(HmacAlg::Sha1, "secret", &content).to_uppercase();
        let body = format!(
            r#"{{"version":"default","clientId":"12345","signmethod":"hmacsha1","sign":"{sign}","productKey":"pk","deviceName":"device","timestamp":"{ts}"}}"#
        );
        let reply = self.request(
            "/aliyun/auth",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        let json = reply.json();
        assert_eq!(json["code"], 0, "{json:?}");
        assert_eq!(json["message"], "success");
        json["info"]["token"].as_str().unwrap().to_string()
    }
}

pub(crate) fn uc_topic() -> String {
    format!("/{UC_PRODUCT}/{UC_DEVICE}/upload")
}

#[test]
fn ucloud_auth_signature() {
    let emu = start(false);
    let mut c = Client::tls(&emu);
    let body = format!(
        r#"{{"ProductSN":"{UC_PRODUCT}","DeviceSN":"{UC_DEVICE}","Timestamp":"{}"}}"#,
        clock::system_now_ms()
    );
    let ok = c.ucloud_auth(&body, UC_SECRET);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("content-type"), Some("application/json"));
    let date = ok.header("date").expect("Date header");
    assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
    let json = ok.json();
    assert_eq!(json["RetCode"], 0);
    assert_eq!(json["Message"], "Success");
    let token = json["Token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3);
    assert!(token.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."));

    let bad = c.ucloud_auth(&body, "wrong secret").json();
    assert_eq!(bad["RetCode"], 171);
    assert_eq!(bad["Message"], "Signature error");

    let unknown = c
        .ucloud_auth(r#"{"ProductSN":"x","DeviceSN":"y"}"#, UC_SECRET)
        .json();
    assert_eq!(unknown["RetCode"], 100071);
    let stale = format!(
        r#"{{"ProductSN":"{UC_PRODUCT}","DeviceSN":"{UC_DEVICE}","Timestamp":1501668289957}}"#
    );
    assert_eq!(c.ucloud_auth(&stale, UC_SECRET).json()["RetCode"], 100070);
    let wrong_ct = c.request(
        "/ucloud/auth",
        &[("Content-Type", "application/json; charset=utf-8")],
        body.as_bytes(),
    );
    assert_eq!(wrong_ct.json()["RetCode"], 230);
    let stats: Value = serde_json::from_str(
        &emu.control(&format!("stats ucloud {UC_PRODUCT} {UC_DEVICE}"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stats["auth_requests"], 3);
    assert_eq!(stats["auths"], 1);
}

#[test]
fn ucloud_publish_expire_and_limits() {
    let emu = start(false);
    let mut c = Client::tls(&emu);
    let token = c.ucloud_token();

    let reply = c.publish("ucloud", &uc_topic(), &token, b"hello").json();
    assert_eq!(reply["RetCode"], 0);
    assert_eq!(reply["MessageID"], "349022219378098176");
    let reply = c.publish("ucloud", &uc_topic(), &token, b"").json();
    assert_eq!(reply["MessageID"], "349022219378098177");

    assert_eq!(
        c.publish("ucloud", "/other/dev/x", &token, b"x").json()["RetCode"],
        100075
    );
    assert_eq!(
        c.publish("ucloud", &uc_topic(), "nope", b"x").json()["RetCode"],
        100073
    );
    let no_ct = c.request(
        &format!("/ucloud/topic{}", uc_topic()),
        &[("Password", &token)],
        b"x",
    );
    assert_eq!(no_ct.json()["RetCode"], 230);
    let query = c.publish("ucloud", &format!("{}?a=b", uc_topic()), &token, b"x");
    assert_eq!(query.json()["RetCode"], 230);

    let big = vec![7u8; 131_073];
    let reply = c.publish("ucloud", &uc_topic(), &token, &big).json();
    assert_eq!(reply["RetCode"], 100076);
    assert_eq!(reply["Message"], "Maximum request length exceeded");
    // Exactly 128 KB is accepted, and the connection survived the discarded body.
    let reply = c
        .publish("ucloud", &uc_topic(), &token, &big[..131_072])
        .json();
    assert_eq!(reply["RetCode"], 0);

    emu.control(&format!("expire ucloud {UC_PRODUCT} {UC_DEVICE}"))
        .unwrap();
    let reply = c.publish("ucloud", &uc_topic(), &token, b"late").json();
    assert_eq!(reply["RetCode"], 100074);
    assert_eq!(reply["Message"], "Token is expired");

    let stats: Value = serde_json::from_str(
        &emu.control(&format!("stats ucloud {UC_PRODUCT} {UC_DEVICE}"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stats["publishes"], 3);
    let first = &stats["messages"][0];
    assert_eq!(first["id"], "349022219378098176");
    assert_eq!(first["topic"], uc_topic());
    assert_eq!(first["len"], 5);
    assert_eq!(
        first["sha256"],
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
}

#[test]
fn aliyun_auth_publish_and_message_id() {
    let emu = start(false);
    let mut c = Client::tls(&emu);
    let token = c.aliyun_token();
    assert_eq!(token.len(), 32);
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));

    emu.control("reply-data aliyun pk device hi there").unwrap();
    let reply = c.publish("aliyun", "/pk/device/user/update", &token, b"{}");
    assert_eq!(reply.status, 200);
    // Written exactly, not through a double.
    let text = String::from_utf8(reply.body.clone()).unwrap();
    assert!(text.contains("\"messageId\":892687627916247040"), "{text}");
    assert!(
        text.starts_with(r#"{"code":0,"message":"success","info":{"#),
        "{text}"
    );
    assert_eq!(reply.json()["info"]["data"], "hi there");
    let reply = c.publish("aliyun", "/pk/device/user/update", &token, b"{}");
    let text = String::from_utf8(reply.body).unwrap();
    assert!(text.contains("\"messageId\":892687627916247041"), "{text}");

    let missing = c.request(
        "/aliyun/topic/pk/device/user/update",
        &[("Content-Type", "application/octet-stream")],
        b"x",
    );
    assert_eq!(missing.json()["code"], 20002);
    assert_eq!(missing.json()["message"], "token is null");
    assert_eq!(
        c.publish("aliyun", "/pk/device/x", "bad", b"x").json()["code"],
        20003
    );
    assert_eq!(
        c.publish("aliyun", "/pk/other/x", &token, b"x").json()["code"],
        10001
    );
    emu.control("expire aliyun pk device").unwrap();
    assert_eq!(
        c.publish("aliyun", "/pk/device/x", &token, b"x").json()["code"],
        20001
    );

    // Bad sign, and a timestamp outside 15 minutes.
    let body = r#"{"clientId":"12345","sign":"00","productKey":"pk","deviceName":"device"}"#;
    let reply = c.request(
        "/aliyun/auth",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(reply.json()["code"], 20000);
    assert_eq!(reply.json()["message"], "auth check error");
    let sign = crate::aliyun::sign(
        HmacAlg::Md5,
        "secret",
        "clientId12345deviceNamedeviceproductKeypktimestamp789",
    );
    let body = format!(
        r#"{{"clientId":"12345","sign":"{sign}","productKey":"pk","deviceName":"device","timestamp":789}}"#
    );
    let reply = c.request(
        "/aliyun/auth",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(reply.json()["code"], 20000);
    // Skew the emulator clock back to the epoch: 789 ms is then within 15 minutes.
    let now_secs = clock::system_now_ms() / 1000;
    emu.control(&format!("skew -{now_secs}")).unwrap();
    let reply = c.request(
        "/aliyun/auth",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(reply.json()["code"], 0, "{:?}", reply.json());
    let date = reply.header("date").unwrap();
    assert!(date.starts_with("Thu, 01 Jan 1970 00:0"), "{date}");
}

#[test]
fn fail_and_delay_rules() {
    let emu = start(false);
    let mut c = Client::tls(&emu);
    let token = c.ucloud_token();
    emu.control(&format!(
        "fail publish ucloud {UC_PRODUCT} {UC_DEVICE} 130 2"
    ))
    .unwrap();
    for _ in 0..2 {
        let reply = c.publish("ucloud", &uc_topic(), &token, b"x").json();
        assert_eq!(reply["RetCode"], 130);
        assert_eq!(
            reply["Message"],
            "Service is temporarily unavailable, we are working hard to restore it, please retry later"
        );
    }
    assert_eq!(
        c.publish("ucloud", &uc_topic(), &token, b"x").json()["RetCode"],
        0
    );

    emu.control("fail auth aliyun pk device http503 1").unwrap();
    let reply = c.request(
        "/aliyun/auth",
        &[("Content-Type", "application/json")],
        br#"{"clientId":"1","sign":"00","productKey":"pk","deviceName":"device"}"#,
    );
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json(), serde_json::json!({"error": "unavailable"}));

    emu.control(&format!(
        "delay publish ucloud {UC_PRODUCT} {UC_DEVICE} 300 1"
    ))
    .unwrap();
    let started = Instant::now();
    assert_eq!(
        c.publish("ucloud", &uc_topic(), &token, b"x").json()["RetCode"],
        0
    );
    assert!(started.elapsed() >= Duration::from_millis(300));

    let counters: Value = serde_json::from_str(
        &emu.control(&format!("counters ucloud {UC_PRODUCT} {UC_DEVICE}"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(counters["publish_requests"], 4);
    assert_eq!(counters["publishes"], 2);
    assert!(emu.control("fail publish ucloud a b 20000 1").is_err());
}

#[test]
fn keep_alive_and_routes() {
    let emu = start(false);
    let mut c = Client::tls(&emu);
    let token = c.ucloud_token();
    assert_eq!(
        c.publish("ucloud", &uc_topic(), &token, b"1").json()["RetCode"],
        0
    );
    assert_eq!(
        c.publish("ucloud", &uc_topic(), &token, b"2").json()["RetCode"],
        0
    );
    let nothing = c.request("/nothing", &[], b"");
    assert_eq!(nothing.status, 404);
    assert_eq!(
        nothing.json(),
        serde_json::json!({"error": "no such route"})
    );
    c.send_raw(b"GET /ucloud/auth HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(c.read_reply().status, 405);
    assert_eq!(emu.handshakes(), 1);
    assert_eq!(emu.connections(), 1);
    assert_eq!(emu.control("handshakes").as_deref(), Ok("1"));

    emu.control("date-header off").unwrap();
    let reply = c.request("/nothing", &[], b"");
    assert!(reply.header("date").is_none());

    c.send_raw(b"POST /ucloud/auth HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    let reply = c.read_reply();
    assert_eq!(reply.status, 411);
    assert_eq!(reply.header("connection"), Some("close"));

    let mut c = Client::tls(&emu);
    c.send_raw(b"POST /ucloud/auth HTTP/2.0\r\nHost: localhost\r\n\r\n");
    assert_eq!(c.read_reply().status, 400);
    assert_eq!(emu.handshakes(), 2);
}

#[test]
fn plain_http_listener() {
    let emu = start(true);
    let base = emu.plain_base_url().expect("plain URL");
    assert!(base.starts_with("http://127.0.0.1:"));
    let mut c = Client::plain(&base);
    let token = c.aliyun_token();
    let reply = c.publish("aliyun", "/pk/device/pub", &token, b"abc").json();
    assert_eq!(reply["code"], 0);
    assert_eq!(emu.handshakes(), 0);
}

#[test]
fn control_port_line_protocol() {
    let emu = start(false);
    let addr = emu.control_addr().expect("control listener");
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(b"add-device ucloud p2 d2 s2\nbogus\r\nstats ucloud p2 d2\nhandshakes\n")
        .unwrap();
    let mut reader = BufReader::new(tcp.try_clone().unwrap());
    let mut lines = Vec::new();
    for _ in 0..4 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        lines.push(line);
    }
    assert_eq!(lines[0], "OK added\n");
    assert!(lines[1].starts_with("ERR unknown command"));
    assert_eq!(
        lines[2],
        "OK {\"auth_requests\":0,\"auths\":0,\"publish_requests\":0,\"publishes\":0,\"bad_replies\":0,\"messages\":[]}\n"
    );
    assert_eq!(lines[3], "OK 0\n");
    tcp.write_all(b"help\n").unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("OK commands:") && line.matches('\n').count() == 1);
    assert!(emu.control("disable ucloud p2 d2").is_ok());
}

#[test]
fn drop_removes_temp_dir_and_stops() {
    let emu = start(false);
    let ca = emu.ca_path();
    let pem = std::fs::read_to_string(&ca).unwrap();
    assert_eq!(pem, emu.ca_pem());
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let addr = emu.base_url().trim_start_matches("https://").to_string();
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    drop(emu);
    assert!(!ca.exists());
    assert!(!ca.parent().unwrap().exists());
    // The idle connection was closed by the shutdown.
    let mut buf = [0u8; 1];
    assert!(matches!(idle.read(&mut buf), Ok(0) | Err(_)));
    assert!(TcpStream::connect(&addr).is_err());
}

#[test]
fn malformed_and_aborted_requests_do_not_hurt_the_server() {
    let emu = start(true);
    let plain = emu.plain_base_url().unwrap();

    let mut c = Client::plain(&plain);
    c.send_raw(b"\x16\x03\x01garbage\r\n\r\n");
    assert_eq!(c.read_reply().status, 400);

    let mut c = Client::plain(&plain);
    let big = format!(
        "POST /ucloud/auth HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(17 * 1024)
    );
    c.send_raw(big.as_bytes());
    assert_eq!(c.read_reply().status, 431);

    // A publish whose client goes away in the middle of the body is not recorded.
    let mut c = Client::tls(&emu);
    let token = c.ucloud_token();
    let head = format!(
        "POST /ucloud/topic{} HTTP/1.1\r\nHost: x\r\nPassword: {token}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\npartial",
        uc_topic()
    );
    c.send_raw(head.as_bytes());
    drop(c);

    // Expect: 100-continue is honoured.
    let mut c = Client::tls(&emu);
    let head = format!(
        "POST /ucloud/topic{} HTTP/1.1\r\nHost: x\r\nPassword: {token}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 3\r\n\
         Expect: 100-continue\r\n\r\n",
        uc_topic()
    );
    c.send_raw(head.as_bytes());
    let mut line = String::new();
    c.conn.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    c.conn.read_line(&mut line).unwrap();
    c.send_raw(b"abc");
    assert_eq!(c.read_reply().json()["RetCode"], 0);

    // HTTP/1.0 without keep-alive gets Connection: close.
    let mut c = Client::plain(&plain);
    c.send_raw(b"POST /x HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    let reply = c.read_reply();
    assert_eq!(reply.status, 404);
    assert_eq!(reply.header("connection"), Some("close"));

    // Parallel clients on their own connections get distinct ids.
    let ids: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let mut c = Client::tls(&emu);
                    (0..10)
                        .map(|_| {
                            let r = c.publish("ucloud", &uc_topic(), &token, b"p").json();
                            r["MessageID"].as_str().unwrap().to_string()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 40);

    let stats: Value = serde_json::from_str(
        &emu.control(&format!("stats ucloud {UC_PRODUCT} {UC_DEVICE}"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stats["publishes"], 41);
    assert_eq!(stats["messages"][0]["len"], 3);
}

#[test]
fn iotda_auth_sign_types_publish_and_limits() {
    let emu = start(false);
    emu.control("add-device iotda prod prod_node iotdaSecret")
        .unwrap();
    let mut c = Client::tls(&emu);
    let json = [("Content-Type", "application/json")];
    let auth = |c: &mut Client, sign_type: u8, stamp: &str, secret: &str| {
        let password = crate::iotda::password(secret, stamp);
        let body = format!(
            r#"{{"device_id":"prod_node","sign_type":{sign_type},"timestamp":"{stamp}","password":"{password}"}}"#
        );
        c.request("/iotda/v5/device-auth", &json, body.as_bytes())
    };
    let now = crate::iotda::hour_stamp(clock::system_now_ms());
    // sign_type 0: any hour; sign_type 1: the current one only.
    let r = auth(&mut c, 0, "2016022312", "iotdaSecret");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["expires_in"], 86_399);
    let old = r.json()["access_token"].as_str().unwrap().to_string();
    let r = auth(&mut c, 1, "2016022312", "iotdaSecret");
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error_code"], "IOTDA.000002");
    let r = auth(&mut c, 1, &now, "wrong");
    assert_eq!(r.status, 401);
    emu.control("token-ttl iotda 100").unwrap();
    let r = auth(&mut c, 1, &now, "iotdaSecret");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["expires_in"], 100);
    let token = r.json()["access_token"].as_str().unwrap().to_string();
    // The emulator's clock three hours ahead: the device's hour is refused.
    emu.control("skew 10800").unwrap();
    assert_eq!(auth(&mut c, 1, &now, "iotdaSecret").status, 401);
    emu.control("skew 0").unwrap();

    let up = "/iotda/v5/devices/prod_node/sys/messages/up";
    let props = "/iotda/v5/devices/prod_node/sys/properties/report";
    fn with(t: &str) -> [(&str, &str); 2] {
        [("Content-Type", "application/json"), ("access_token", t)]
    }
    let r = c.request(up, &with(&token), br#"{"name":"x"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body.is_empty());
    // The old token is still valid for 30 s after the new one.
    assert_eq!(c.request(up, &with(&old), b"{}").status, 200);
    emu.control("skew 31").unwrap();
    let r = c.request(up, &with(&old), b"{}");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error_code"], "IOTDA.000004");
    emu.control("skew 0").unwrap();
    // No token, another device's path, a bad properties body, a body over 1 MB.
    assert_eq!(c.request(up, &json, b"{}").status, 403);
    let other = "/iotda/v5/devices/other/sys/messages/up";
    assert_eq!(c.request(other, &with(&token), b"{}").status, 403);
    let r = c.request(props, &with(&token), br#"{"services":[]}"#);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error_code"], "IOTDA.000006");
    let body = br#"{"services":[{"service_id":"s","properties":{"t":1}}]}"#;
    assert_eq!(c.request(props, &with(&token), body).status, 200);
    let r = c.request(up, &with(&token), &vec![b'a'; 1024 * 1024 + 1]);
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error_code"], "IOTDA.021105");
    // Fault switches with IoTDA codes.
    emu.control("fail publish iotda prod prod_node IOTDA.021101 1")
        .unwrap();
    let r = c.request(up, &with(&token), b"{}");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error_code"], "IOTDA.021101");
    assert!(emu
        .control("fail publish iotda prod prod_node 5 1")
        .is_err());
    let stats: Value =
        serde_json::from_str(&emu.control("stats iotda prod prod_node").unwrap()).unwrap();
    assert_eq!(stats["publishes"], 3, "{stats}");
    assert_eq!(
        stats["messages"][2]["topic"],
        "$oc/devices/prod_node/sys/properties/report"
    );
}
