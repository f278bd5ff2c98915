//! Transport behaviour: redirects, HTTP statuses, proxies, buffers of the TLS layer.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use common::{env, env_with};
use iothttp::{Cloud, ErrorKind};
use iothttp_emulator::Options;

#[test]
fn redirects_are_never_followed() {
    let env = env();
    for cloud in [Cloud::UCloud, Cloud::Aliyun] {
        let dev = env.device(cloud);
        dev.device.auth().unwrap();
        env.control(&format!("fail publish {} http302 1", dev.key()));
        let e = dev.device.publish(&dev.topic(), b"x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Http, "{e}");
        assert_eq!(e.http_status(), 302);
        assert!(e.message().contains("never followed"), "{e}");
        assert!(!e.message().contains("redirect-secret"), "{e}");
        assert_eq!(env.count(&dev, "publish_requests"), 1);
    }
    assert!(!env.log_text().contains("redirect-secret"));
}

#[test]
fn unexpected_statuses() {
    let env = env();
    let dev = env.device(Cloud::UCloud);
    dev.device.auth().unwrap();
    for (fault, status) in [("http500", 500), ("http404", 404)] {
        env.control(&format!("fail publish {} {fault} 1", dev.key()));
        let e = dev.device.publish(&dev.topic(), b"x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Http, "{e}");
        assert_eq!(e.http_status(), status);
    }
    // 429 is throttling: retried, then reported as such.
    env.control(&format!("fail publish {} http429 2", dev.key()));
    dev.device.publish(&dev.topic(), b"x").unwrap();
    env.control(&format!("fail auth {} http429 5", dev.key()));
    let e = dev.device.auth().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.http_status(), 429);
}

/// A minimal HTTP CONNECT proxy that records the targets it was asked for.
fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
                log.lock().unwrap().push(line.trim().to_string());
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                        break;
                    }
                }
                let upstream = TcpStream::connect(&target).unwrap();
                let mut c = client;
                c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .unwrap();
                let (mut up_r, mut up_w) = (upstream.try_clone().unwrap(), upstream);
                let mut c_w = c.try_clone().unwrap();
                let leftover = reader.buffer().to_vec();
                up_w.write_all(&leftover).unwrap();
                let t = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut reader, &mut up_w);
                });
                let mut buf = [0u8; 16384];
                loop {
                    match up_r.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if c_w.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = t.join();
            });
        }
    });
    (url, seen)
}

#[test]
fn configured_proxy_is_used() {
    let (proxy, seen) = connect_proxy();
    let env = env_with(Options::default(), |c| {
        c.set_proxy(Some(&proxy)).unwrap();
    });
    let dev = env.device(Cloud::Aliyun);
    dev.device.publish(&dev.topic(), b"via proxy").unwrap();
    let port = env.emu.base_url().rsplit(':').next().unwrap().to_string();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|l| l.starts_with(&format!("CONNECT 127.0.0.1:{port} HTTP/1.1"))),
        "{seen:?}"
    );
}

#[test]
fn proxy_urls_are_checked() {
    let mut cfg = iothttp::Config::new();
    for bad in ["socks5://127.0.0.1:1080", "127.0.0.1:3128", "ftp://x"] {
        assert_eq!(
            cfg.set_proxy(Some(bad)).unwrap_err().kind(),
            ErrorKind::InvalidArg,
            "{bad}"
        );
    }
    cfg.set_proxy(Some("http://user:pw@127.0.0.1:3128"))
        .unwrap();
    cfg.set_proxy(None).unwrap();
}

#[test]
fn dead_proxy_is_a_connect_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = env_with(Options::default(), |c| {
        c.set_proxy(Some(&format!("http://127.0.0.1:{port}")))
            .unwrap();
    });
    let dev = env.device(Cloud::UCloud);
    let e = dev.device.auth().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
}

#[test]
fn large_payload_over_tls_records() {
    // 128 KiB crosses many TLS records and the 16 KiB transport buffers.
    let env = env();
    let dev = env.device(Cloud::UCloud);
    let payload: Vec<u8> = (0..131_072u32).map(|i| (i * 31 % 251) as u8).collect();
    dev.device.publish(&dev.topic(), &payload).unwrap();
    let stats: serde_json::Value =
        serde_json::from_str(&env.control(&format!("stats {}", dev.key()))).unwrap();
    let sha = {
        use sha2::Digest;
        iothttp::sign::hex(&sha2::Sha256::digest(&payload))
    };
    assert_eq!(stats["messages"][0]["sha256"], sha.as_str());
}

/// A client whose device points at `port` on loopback, with the given connect timeout and
/// attempts (fast backoff).
fn device_at(port: u16, connect_ms: u64, attempts: u32) -> iothttp::Device {
    let mut cfg = iothttp::Config::new();
    cfg.set_timeouts(
        std::time::Duration::from_millis(connect_ms),
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    cfg.set_retries(iothttp::RetryPolicy {
        max_attempts: attempts,
        base_delay: std::time::Duration::from_millis(5),
        max_delay: std::time::Duration::from_millis(10),
    })
    .unwrap();
    let client = iothttp::Client::new(&cfg).unwrap();
    let dev = client.device(Cloud::UCloud, "p", "d", "s").unwrap();
    dev.set_endpoint(&format!("https://127.0.0.1:{port}/ucloud"))
        .unwrap();
    dev
}

/// A TLS handshake the server cuts before any request byte was sent is a connect failure:
/// retried by the policy, reported as `Connect`.
#[test]
fn a_handshake_cut_by_the_server_is_a_retried_connect_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(Mutex::new(0u32));
    let count = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { break };
            *count.lock().unwrap() += 1;
            let mut hello = [0u8; 64];
            let _ = s.read(&mut hello); // the ClientHello arrives; then the line goes dead
            drop(s);
        }
    });
    let dev = device_at(port, 2000, 3);
    let e = dev.auth().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(
        e.message().contains("TLS handshake with 127.0.0.1 cut"),
        "{e}"
    );
    assert!(e.message().contains("gave up after 3 attempts"), "{e}");
    assert_eq!(*accepted.lock().unwrap(), 3);
}

/// The connect timeout is one budget for the TCP connect and the whole TLS handshake: a
/// server that trickles a handshake record a byte at a time cannot stretch it.
#[test]
fn a_trickled_handshake_is_bounded_by_the_connect_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { break };
            std::thread::spawn(move || {
                let mut hello = [0u8; 512];
                let _ = s.read(&mut hello);
                // A handshake record header announcing 16 KiB, then one byte per 100 ms.
                if s.write_all(&[0x16, 0x03, 0x03, 0x40, 0x00]).is_err() {
                    return;
                }
                for _ in 0..200 {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    if s.write_all(&[0]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let dev = device_at(port, 500, 1);
    let started = std::time::Instant::now();
    let e = dev.auth().unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(e.message().contains("timed out connecting"), "{e}");
    assert!(
        took < std::time::Duration::from_millis(1500),
        "took {took:?}"
    );
}
