//! End-to-end tests of the downloads (`/dl/<name>`, `/files/<path>`): ranges, If-Range,
//! statistics and the `download` faults, over real TLS (and plain) connections.

use std::fs;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde_json::Value;

use crate::fault_tests::{arm, client_with_timeout, expect_no_reply, header, read_head};
use crate::sign::Digests;
use crate::tests::{start, Client, Reply};
use crate::upload_tests::{control_json, path_of};
use crate::{clock, dl_content, dl_digests, Emulator, DIGESTS_AT_ONCE};

fn content(seed: u64, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    dl_content(seed, offset, &mut buf);
    buf
}

fn digests(data: &[u8]) -> (String, String) {
    let mut d = Digests::default();
    d.update(data);
    let v = d.finish();
    (v.md5, v.sha256)
}

/// A GET with `Host: localhost` and these headers (no Content-Length).
fn get(c: &mut Client, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut all = vec![("Host", "localhost")];
    all.extend_from_slice(headers);
    c.exact("GET", path, &all, None)
}

/// Sends a request head (GET or HEAD) without reading the reply.
fn send_head(c: &mut Client, method: &str, path: &str, headers: &[(&str, &str)]) {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    c.send_raw(text.as_bytes());
}

/// A HEAD: the status and the headers (names lowercased); no body follows.
fn head(c: &mut Client, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>) {
    send_head(c, "HEAD", path, headers);
    let (status, headers, _) = read_head(c);
    (status, headers)
}

/// Everything until the connection ends, and whether it ended cleanly (EOF after a TLS
/// close_notify) rather than dropped.
fn read_to_end(c: &mut Client) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match c.conn.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => {
                assert_ne!(
                    e.kind(),
                    io::ErrorKind::WouldBlock,
                    "the connection stayed open"
                );
                return (out, false);
            }
        }
    }
}

fn read_n(c: &mut Client, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    c.conn.read_exact(&mut buf).unwrap();
    buf
}

fn define(emu: &Emulator, name: &str, size: u64, seed: u64) -> Value {
    control_json(emu, &format!("dl-object {name} {size} {seed}"))
}

fn stats(emu: &Emulator, name: &str) -> Value {
    control_json(emu, &format!("dl-stats {name}"))
}

fn assert_206(r: &Reply, range: &str, data: &[u8], first: usize, last: usize) {
    assert_eq!(r.status, 206, "{range}: {}", r.text());
    let total = data.len();
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes {first}-{last}/{total}").as_str()),
        "{range}"
    );
    assert_eq!(r.body, data[first..=last], "{range}");
}

fn assert_full(r: &Reply, data: &[u8]) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-range"), None);
    assert_eq!(
        r.header("content-length"),
        Some(data.len().to_string().as_str())
    );
    assert!(r.body == data, "the whole object");
}

#[test]
fn dl_object_full_head_and_plain() {
    let emu = start(true);
    let json = define(&emu, "fw", 300_000, 7);
    let data = content(7, 0, 300_000);
    let (md5, sha256) = digests(&data);
    assert_eq!(json["name"], "fw");
    assert_eq!(
        (json["size"].as_u64(), json["seed"].as_u64()),
        (Some(300_000), Some(7))
    );
    assert_eq!(json["changes"], 0);
    assert_eq!(json["etag"], "\"dl-0000000000000007-493e0\"");
    assert_eq!(
        (json["md5"].as_str(), json["sha256"].as_str()),
        (Some(&*md5), Some(&*sha256))
    );
    assert_eq!(dl_digests(7, 300_000), (md5.clone(), sha256.clone()));
    assert_eq!(emu.dl_url("fw"), format!("{}/dl/fw", emu.base_url()));
    assert_eq!(emu.dl_base_url(), format!("{}/dl", emu.base_url()));

    let mut c = Client::tls(&emu);
    let r = get(&mut c, "/dl/fw", &[]);
    assert_full(&r, &data);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("etag"), json["etag"].as_str());
    assert_eq!(r.header("last-modified"), json["last_modified"].as_str());
    let date = r.header("last-modified").unwrap();
    assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");

    // HEAD: the same headers and no body (the next reply on the connection is intact); a
    // Range on a HEAD is ignored.
    let (status, headers) = head(&mut c, "/dl/fw", &[("Range", "bytes=0-9")]);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-length"), Some("300000"));
    assert_eq!(header(&headers, "etag"), json["etag"].as_str());
    assert_eq!(header(&headers, "accept-ranges"), Some("bytes"));
    assert_eq!(header(&headers, "content-range"), None);
    let r = get(&mut c, "/dl/fw", &[("Range", "bytes=0-9")]);
    assert_206(&r, "bytes=0-9", &data, 0, 9);

    // The plain listener serves the same.
    let plain = emu.plain_dl_url("fw").unwrap();
    assert_eq!(plain, format!("{}/dl/fw", emu.plain_base_url().unwrap()));
    let mut p = Client::plain(&emu.plain_base_url().unwrap());
    assert_full(&get(&mut p, &path_of(&plain), &[]), &data);

    // Unknown objects, other methods.
    assert_eq!(get(&mut c, "/dl/nope", &[]).status, 404);
    assert_eq!(get(&mut c, "/dl", &[]).status, 404);
    assert_eq!(get(&mut c, "/dl/", &[]).status, 404);
    let r = c.send("POST", "/dl/fw", &[], b"x");
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
    let r = c.send("PUT", "/files/x", &[], b"x");
    assert_eq!(r.status, 405);

    // Above DIGESTS_AT_ONCE the definition leaves the digests to dl-info (then cached).
    let size = DIGESTS_AT_ONCE + 1;
    let big = define(&emu, "big", size, 1);
    assert!(big["md5"].is_null() && big["sha256"].is_null(), "{big}");
    let info = control_json(&emu, "dl-info big");
    let (md5, sha256) = dl_digests(1, size);
    assert_eq!(
        (info["md5"].as_str(), info["sha256"].as_str()),
        (Some(&*md5), Some(&*sha256))
    );
    assert_eq!(info["etag"], big["etag"]);
    assert_eq!(control_json(&emu, "dl-info big")["md5"], info["md5"]);
    assert!(emu.control("dl-info nope").is_err());

    // An empty object.
    define(&emu, "empty", 0, 1);
    let r = get(&mut c, "/dl/empty", &[]);
    assert_full(&r, b"");
    let r = get(&mut c, "/dl/empty", &[("Range", "bytes=0-")]);
    assert_eq!(
        (r.status, r.header("content-range")),
        (416, Some("bytes */0"))
    );
}

#[test]
fn dl_ranges() {
    let emu = start(false);
    define(&emu, "fw", 1000, 5);
    let data = content(5, 0, 1000);
    let mut c = Client::tls(&emu);
    for (range, first, last) in [
        ("bytes=100-", 100, 999),
        ("bytes=100-199", 100, 199),
        ("bytes=0-0", 0, 0),
        ("bytes=999-", 999, 999),
        ("bytes=990-5000", 990, 999),
        ("bytes=-100", 900, 999),
        ("bytes=-5000", 0, 999),
        ("bytes=0-", 0, 999),
        ("Bytes=1-2", 1, 2),
    ] {
        let r = get(&mut c, "/dl/fw", &[("Range", range)]);
        assert_206(&r, range, &data, first, last);
        assert_eq!(
            r.header("content-length"),
            Some((last - first + 1).to_string().as_str())
        );
        assert_eq!(r.header("etag"), Some("\"dl-0000000000000005-3e8\""));
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    }
    for range in [
        "bytes=1000-",
        "bytes=1000-2000",
        "bytes=-0",
        "bytes=123456789012345678901-",
    ] {
        let r = get(&mut c, "/dl/fw", &[("Range", range)]);
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("content-range"), Some("bytes */1000"), "{range}");
        assert_eq!(r.json()["error"], "range not satisfiable");
    }
    // Malformed, multiple or repeated ranges are ignored: the whole object.
    for range in [
        "bytes=5-3",
        "bytes=0-1,5-6",
        "items=0-1",
        "bytes=abc",
        "bytes=-",
        "0-1",
    ] {
        assert_full(&get(&mut c, "/dl/fw", &[("Range", range)]), &data);
    }
    let r = get(
        &mut c,
        "/dl/fw",
        &[("Range", "bytes=0-1"), ("Range", "bytes=2-3")],
    );
    assert_full(&r, &data);
    let s = stats(&emu, "fw");
    assert_eq!(
        (s["ranged"].as_u64(), s["unsatisfiable"].as_u64()),
        (Some(9), Some(4))
    );
    assert_eq!(s["full"], 7);
}

#[test]
fn dl_if_range() {
    let emu = start(false);
    let json = define(&emu, "fw", 1000, 5);
    let data = content(5, 0, 1000);
    let etag = json["etag"].as_str().unwrap().to_string();
    let date = json["last_modified"].as_str().unwrap().to_string();
    let weak = format!("W/{etag}");
    let mut c = Client::tls(&emu);
    let range = ("Range", "bytes=100-");
    for (if_range, ranged) in [
        (etag.as_str(), true),
        (date.as_str(), true),
        ("\"other\"", false),
        (weak.as_str(), false),
        ("Thu, 01 Jan 1970 00:00:00 GMT", false),
        ("yesterday", false),
    ] {
        let r = get(&mut c, "/dl/fw", &[range, ("If-Range", if_range)]);
        if ranged {
            assert_206(&r, if_range, &data, 100, 999);
        } else {
            assert_full(&r, &data);
        }
    }
    // A failed If-Range wins over an unsatisfiable range; If-Range alone does nothing.
    let r = get(
        &mut c,
        "/dl/fw",
        &[("Range", "bytes=5000-"), ("If-Range", "\"x\"")],
    );
    assert_full(&r, &data);
    assert_full(&get(&mut c, "/dl/fw", &[("If-Range", "\"x\"")]), &data);
    let r = get(
        &mut c,
        "/dl/fw",
        &[range, ("If-Range", &etag), ("If-Range", &etag)],
    );
    assert_full(&r, &data);

    // Redefined with another seed: new ETag and a later Last-Modified; the old validators
    // fail, so a resume gets the new object whole.
    let json2 = define(&emu, "fw", 1000, 6);
    let data2 = content(6, 0, 1000);
    assert_ne!(json2["etag"].as_str(), Some(etag.as_str()));
    assert_ne!(json2["last_modified"].as_str(), Some(date.as_str()));
    assert_full(
        &get(&mut c, "/dl/fw", &[range, ("If-Range", &etag)]),
        &data2,
    );
    assert_full(
        &get(&mut c, "/dl/fw", &[range, ("If-Range", &date)]),
        &data2,
    );
    let etag2 = json2["etag"].as_str().unwrap();
    let r = get(&mut c, "/dl/fw", &[range, ("If-Range", etag2)]);
    assert_206(&r, "new etag", &data2, 100, 999);
}

#[test]
fn dl_stats_record_requests() {
    let emu = start(false);
    let json = define(&emu, "fw", 1000, 5);
    let etag = json["etag"].as_str().unwrap();
    let mut c = Client::tls(&emu);
    get(&mut c, "/dl/fw", &[]);
    get(
        &mut c,
        "/dl/fw",
        &[("Range", "bytes=100-"), ("If-Range", etag)],
    );
    get(&mut c, "/dl/fw", &[("Range", "bytes=1000-")]);
    head(&mut c, "/dl/fw", &[]);
    let s = stats(&emu, "fw");
    assert_eq!(s["name"], "fw");
    assert_eq!(s["requests"], 4);
    assert_eq!(s["heads"], 1);
    assert_eq!(s["full"], 2);
    assert_eq!(s["ranged"], 1);
    assert_eq!(s["unsatisfiable"], 1);
    assert_eq!(s["faults"], 0);
    assert_eq!(s["bytes_sent"], 1900);
    assert_eq!(
        (s["seed"].as_u64(), s["changes"].as_u64()),
        (Some(5), Some(0))
    );
    assert_eq!(s["etag"], etag);
    let recent = s["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 4);
    assert_eq!(recent[0]["range"], Value::Null);
    assert_eq!(recent[1]["range"], "bytes=100-");
    assert_eq!(recent[1]["if_range"], etag);
    assert_eq!(recent[1]["status"], 206);
    assert_eq!(recent[2]["status"], 416);
    assert_eq!(recent[3]["method"], "HEAD");
    // Only the last 16 are kept.
    for i in 0..20 {
        get(&mut c, "/dl/fw", &[("Range", &format!("bytes={i}-"))]);
    }
    let recent = stats(&emu, "fw")["recent"].as_array().unwrap().clone();
    assert_eq!(recent.len(), crate::state::DL_RECENT);
    assert_eq!(recent[15]["range"], "bytes=19-");

    // A fresh definition starts the statistics afresh; clear-dl forgets everything.
    define(&emu, "fw", 10, 1);
    assert_eq!(stats(&emu, "fw")["requests"], 0);
    assert!(emu.control("dl-stats nope").is_err());
    assert_eq!(emu.control("clear-dl").as_deref(), Ok("downloads cleared"));
    assert!(emu.control("dl-stats fw").is_err());
    assert_eq!(get(&mut c, "/dl/fw", &[]).status, 404);
}

/// A fresh directory under the system's temporary directory.
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "iothttp-emu-dl-{tag}-{}-{}",
        std::process::id(),
        crate::sign::hex(&crate::sign::random_bytes(4))
    ));
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ salt).collect()
}

#[test]
fn serve_dir_files() {
    let emu = start(false);
    let top = temp_dir("files");
    let root = top.join("root");
    fs::create_dir_all(root.join("sub")).unwrap();
    let a = pattern(5000, 0);
    fs::write(root.join("a.bin"), &a).unwrap();
    fs::write(root.join("sub/b c.txt"), b"hello").unwrap();
    fs::write(top.join("secret.txt"), b"secret").unwrap();
    let mut c = Client::tls(&emu);
    assert_eq!(
        get(&mut c, "/files/a.bin", &[]).status,
        404,
        "nothing served yet"
    );
    assert!(emu
        .control(&format!("serve-dir {}", top.join("nope").display()))
        .is_err());
    assert!(emu
        .control(&format!("serve-dir {}", root.join("a.bin").display()))
        .is_err());
    let served = emu
        .control(&format!("serve-dir {}", root.display()))
        .unwrap();
    assert!(served.starts_with("serving "), "{served}");

    let r = get(&mut c, "/files/a.bin", &[]);
    assert_full(&r, &a);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    let etag = r.header("etag").unwrap().to_string();
    assert!(
        etag.starts_with("\"f-1388-") && etag.ends_with('"'),
        "{etag}"
    );
    let mtime = fs::metadata(root.join("a.bin"))
        .unwrap()
        .modified()
        .unwrap();
    let secs = mtime.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let date = clock::imf_fixdate(secs);
    assert_eq!(r.header("last-modified"), Some(date.as_str()));
    let r = get(
        &mut c,
        "/files/a.bin",
        &[("Range", "bytes=4000-"), ("If-Range", &etag)],
    );
    assert_206(&r, "file", &a, 4000, 4999);
    let r = get(
        &mut c,
        "/files/a.bin",
        &[("Range", "bytes=4000-"), ("If-Range", &date)],
    );
    assert_206(&r, "file by date", &a, 4000, 4999);
    let r = get(&mut c, "/files/a.bin", &[("Range", "bytes=5000-")]);
    assert_eq!(
        (r.status, r.header("content-range")),
        (416, Some("bytes */5000"))
    );
    let (status, headers) = head(&mut c, "/files/a.bin", &[]);
    assert_eq!(
        (status, header(&headers, "content-length")),
        (200, Some("5000"))
    );

    let url = emu.files_url("sub/b c.txt");
    assert_eq!(url, format!("{}/files/sub/b%20c.txt", emu.base_url()));
    assert_eq!(get(&mut c, &path_of(&url), &[]).body, b"hello");

    // Missing files, directories, and every way out of the directory: 404.
    for path in [
        "/files/missing.bin",
        "/files/sub",
        "/files/sub/",
        "/files/",
        "/files",
        "/files/../secret.txt",
        "/files/%2e%2e/secret.txt",
        "/files/sub/../a.bin",
        "/files/./a.bin",
        "/files//a.bin",
        "/files/sub%2F..%2F..%2Fsecret.txt",
        "/files/%zz",
    ] {
        let r = get(&mut c, path, &[]);
        assert_eq!(r.status, 404, "{path}");
        assert_ne!(r.body, b"secret");
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(top.join("secret.txt"), root.join("link")).unwrap();
        assert_eq!(get(&mut c, "/files/link", &[]).status, 404);
        std::os::unix::fs::symlink(root.join("a.bin"), root.join("inside")).unwrap();
        assert_full(&get(&mut c, "/files/inside", &[]), &a);
    }

    // The file changes: a new ETag, and a resume with the old one gets the new file whole.
    let a2 = pattern(6000, 1);
    fs::write(root.join("a.bin"), &a2).unwrap();
    let r = get(
        &mut c,
        "/files/a.bin",
        &[("Range", "bytes=4000-"), ("If-Range", &etag)],
    );
    assert_full(&r, &a2);
    assert_ne!(r.header("etag"), Some(etag.as_str()));

    let s = stats(&emu, "files/a.bin");
    assert_eq!(
        (s["requests"].as_u64(), s["ranged"].as_u64()),
        (Some(6), Some(2))
    );
    assert_eq!(s["etag"], Value::Null);
    fs::remove_dir_all(&top).unwrap();
}

#[test]
fn dl_fault_cut() {
    let emu = start(false);
    let json = define(&emu, "fw", 100_000, 3);
    let etag = json["etag"].as_str().unwrap().to_string();
    let data = content(3, 0, 100_000);
    arm(&emu, "cut download any 1000 1");
    let mut c = Client::tls(&emu);
    send_head(&mut c, "GET", "/dl/fw", &[]);
    let (status, headers, _) = read_head(&mut c);
    assert_eq!(
        (status, header(&headers, "content-length")),
        (200, Some("100000"))
    );
    let (body, clean) = read_to_end(&mut c);
    assert_eq!(body, data[..1000]);
    assert!(!clean, "dropped without close_notify");

    // The resume gets the rest; a cut of a 206 counts from its first byte.
    let mut c = Client::tls(&emu);
    let r = get(
        &mut c,
        "/dl/fw",
        &[("Range", "bytes=1000-"), ("If-Range", &etag)],
    );
    assert_206(&r, "resume", &data, 1000, 99_999);
    arm(&emu, "cut download any 10 1");
    send_head(&mut c, "GET", "/dl/fw", &[("Range", "bytes=500-")]);
    let (status, headers, _) = read_head(&mut c);
    assert_eq!(status, 206);
    assert_eq!(
        header(&headers, "content-range"),
        Some("bytes 500-99999/100000")
    );
    assert_eq!(read_to_end(&mut c), (data[500..510].to_vec(), false));

    // A rule for another object leaves this one alone; HEAD and 416 do not take a cut.
    define(&emu, "other", 100, 4);
    arm(&emu, "cut download other 5 1");
    let mut c = Client::tls(&emu);
    assert_full(&get(&mut c, "/dl/fw", &[]), &data);
    arm(&emu, "cut download any 0 1");
    assert_eq!(head(&mut c, "/dl/fw", &[]).0, 200);
    assert_eq!(
        get(&mut c, "/dl/fw", &[("Range", "bytes=100000-")]).status,
        416
    );
    send_head(&mut c, "GET", "/dl/other", &[]);
    assert_eq!(read_head(&mut c).0, 200);
    assert_eq!(read_to_end(&mut c), (content(4, 0, 5), false));
    let mut c = Client::tls(&emu);
    send_head(&mut c, "GET", "/dl/fw", &[]);
    assert_eq!(read_head(&mut c).0, 200);
    assert_eq!(read_to_end(&mut c), (Vec::new(), false));
    let s = stats(&emu, "fw");
    assert_eq!(s["faults"], 3);
    assert_eq!(s["bytes_sent"], 1000 + 99_000 + 10 + 100_000);
}

#[test]
fn dl_fault_ignore_range_and_change() {
    let emu = start(false);
    let json = define(&emu, "fw", 1000, 40);
    let etag1 = json["etag"].as_str().unwrap().to_string();
    let data = content(40, 0, 1000);
    let mut c = Client::tls(&emu);

    // ignore-range waits for a request that would get a 206.
    arm(&emu, "ignore-range download any 1");
    assert_full(&get(&mut c, "/dl/fw", &[]), &data);
    assert_eq!(
        get(&mut c, "/dl/fw", &[("Range", "bytes=5000-")]).status,
        416
    );
    let r = get(
        &mut c,
        "/dl/fw",
        &[("Range", "bytes=10-"), ("If-Range", &etag1)],
    );
    assert_full(&r, &data);
    assert_206(
        &get(&mut c, "/dl/fw", &[("Range", "bytes=10-")]),
        "after",
        &data,
        10,
        999,
    );

    // change: this request is served as it was, the next sees the content of seed + 1.
    arm(&emu, "change download any 1");
    assert_eq!(head(&mut c, "/dl/fw", &[]).0, 200);
    let r = get(&mut c, "/dl/fw", &[("Range", "bytes=0-99")]);
    assert_206(&r, "before the change", &data, 0, 99);
    assert_eq!(r.header("etag"), Some(etag1.as_str()));
    let date1 = r.header("last-modified").unwrap().to_string();
    let data2 = content(41, 0, 1000);
    let r = get(&mut c, "/dl/fw", &[]);
    assert_full(&r, &data2);
    let etag2 = r.header("etag").unwrap().to_string();
    assert_ne!(etag2, etag1);
    assert_ne!(r.header("last-modified"), Some(date1.as_str()));
    let info = control_json(&emu, "dl-info fw");
    assert_eq!(
        (info["seed"].as_u64(), info["changes"].as_u64()),
        (Some(41), Some(1))
    );
    assert_eq!(info["etag"], etag2.as_str());
    assert_eq!(info["md5"], digests(&data2).0.as_str());
    assert_eq!(stats(&emu, "fw")["seed"], 41);
    // A resume with the first ETag or date gets the new object whole.
    let r = get(
        &mut c,
        "/dl/fw",
        &[("Range", "bytes=100-"), ("If-Range", &etag1)],
    );
    assert_full(&r, &data2);
    let r = get(
        &mut c,
        "/dl/fw",
        &[("Range", "bytes=100-"), ("If-Range", &date1)],
    );
    assert_full(&r, &data2);

    // A cut and a change on one request: the interrupted download's resume finds another
    // object.
    arm(&emu, "cut download any 500 1");
    arm(&emu, "change download fw 1");
    send_head(&mut c, "GET", "/dl/fw", &[]);
    let (_, headers, _) = read_head(&mut c);
    assert_eq!(header(&headers, "etag"), Some(etag2.as_str()));
    assert_eq!(read_to_end(&mut c), (data2[..500].to_vec(), false));
    let mut c = Client::tls(&emu);
    let r = get(
        &mut c,
        "/dl/fw",
        &[("Range", "bytes=500-"), ("If-Range", &etag2)],
    );
    assert_full(&r, &content(42, 0, 1000));
    // Served files are never changed by the rule (it stays pending for a dl-object).
    let dir = temp_dir("change");
    fs::write(dir.join("f"), b"file").unwrap();
    emu.control(&format!("serve-dir {}", dir.display()))
        .unwrap();
    arm(&emu, "change download any 1");
    assert_eq!(get(&mut c, "/files/f", &[]).body, b"file");
    get(&mut c, "/dl/fw", &[]);
    assert_eq!(control_json(&emu, "dl-info fw")["changes"], 3);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dl_fault_lie_length() {
    let emu = start(false);
    define(&emu, "fw", 10_000, 8);
    let data = content(8, 0, 10_000);

    // Fewer declared than sent: the surplus is left on the connection before the next
    // reply.
    arm(&emu, "lie-length download any -10 1");
    let mut c = Client::tls(&emu);
    send_head(&mut c, "GET", "/dl/fw", &[]);
    let (status, headers, _) = read_head(&mut c);
    assert_eq!(
        (status, header(&headers, "content-length")),
        (200, Some("9990"))
    );
    assert_eq!(read_n(&mut c, 9990), data[..9990]);
    assert_eq!(read_n(&mut c, 10), data[9990..]);
    let r = get(&mut c, "/dl/fw", &[("Range", "bytes=0-9")]);
    assert_206(&r, "after the surplus", &data, 0, 9);

    // More declared than sent: the real bytes, then the connection is dropped.
    arm(&emu, "lie-length download any 10 1");
    send_head(&mut c, "GET", "/dl/fw", &[("Range", "bytes=9000-")]);
    let (status, headers, _) = read_head(&mut c);
    assert_eq!(status, 206);
    assert_eq!(header(&headers, "content-length"), Some("1010"));
    assert_eq!(
        header(&headers, "content-range"),
        Some("bytes 9000-9999/10000")
    );
    assert_eq!(read_to_end(&mut c), (data[9000..].to_vec(), false));

    // Never below zero.
    arm(&emu, "lie-length download any -20000 1");
    let mut c = Client::tls(&emu);
    send_head(&mut c, "GET", "/dl/fw", &[("Connection", "close")]);
    let (_, headers, _) = read_head(&mut c);
    assert_eq!(header(&headers, "content-length"), Some("0"));
    assert_eq!(read_to_end(&mut c).0, data);
}

#[test]
fn dl_fault_corrupt() {
    let emu = start(false);
    let json = define(&emu, "fw", 1000, 9);
    let data = content(9, 0, 1000);
    let mut c = Client::tls(&emu);
    arm(&emu, "corrupt download any 500 1");
    // Not among the bytes served: the rule waits.
    assert_206(
        &get(&mut c, "/dl/fw", &[("Range", "bytes=600-")]),
        "clean",
        &data,
        600,
        999,
    );
    let r = get(&mut c, "/dl/fw", &[("Range", "bytes=400-999")]);
    assert_eq!(r.status, 206);
    let differ: Vec<usize> = (0..600).filter(|&i| r.body[i] != data[400 + i]).collect();
    assert_eq!(differ, vec![100]);
    assert_eq!(r.body[100], data[500] ^ 0xff);
    // Used up.
    assert_full(&get(&mut c, "/dl/fw", &[]), &data);

    // The whole object with one byte flipped no longer has the advertised digest.
    arm(&emu, "corrupt download fw 0 1");
    let r = get(&mut c, "/dl/fw", &[]);
    assert_eq!(r.body.len(), 1000);
    assert_eq!(r.body[0], data[0] ^ 0xff);
    assert_eq!(r.body[1..], data[1..]);
    assert_ne!(digests(&r.body).0, json["md5"].as_str().unwrap());
    assert_eq!(stats(&emu, "fw")["faults"], 2);
}

#[test]
fn dl_faults_fail_delay_and_connection() {
    let emu = start(false);
    define(&emu, "fw", 8000, 2);
    let data = content(2, 0, 8000);
    let mut c = Client::tls(&emu);
    for (status, code) in [
        (503, "http503"),
        (429, "http429"),
        (500, "http500"),
        (404, "http404"),
    ] {
        arm(&emu, &format!("fail download any {code} 1"));
        assert_eq!(
            get(&mut c, "/dl/fw", &[("Range", "bytes=0-")]).status,
            status
        );
    }
    arm(&emu, "fail download fw http503 1");
    assert_eq!(get(&mut c, "/dl/fw", &[]).status, 503);
    assert_full(&get(&mut c, "/dl/fw", &[]), &data);

    arm(&emu, "delay download any 300 1");
    let t = Instant::now();
    assert_full(&get(&mut c, "/dl/fw", &[]), &data);
    assert!(t.elapsed() >= Duration::from_millis(300));

    arm(&emu, "trickle download any 20000 1");
    let t = Instant::now();
    assert_full(&get(&mut c, "/dl/fw", &[]), &data);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );

    arm(&emu, "drop download any mid-reply 1");
    send_head(&mut c, "GET", "/dl/fw", &[]);
    assert_eq!(read_head(&mut c).0, 200);
    assert_eq!(read_to_end(&mut c), (data[..4000].to_vec(), false));

    arm(&emu, "drop download any before-reply 1");
    let mut c = Client::tls(&emu);
    send_head(&mut c, "GET", "/dl/fw", &[]);
    expect_no_reply(&mut c);

    arm(&emu, "hang download any 1");
    let mut c = client_with_timeout(&emu, Duration::from_millis(500));
    send_head(&mut c, "GET", "/dl/fw", &[]);
    let mut buf = [0u8; 1];
    let e = c.conn.read(&mut buf).expect_err("no reply");
    assert!(
        matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "{e}"
    );
    drop(c);

    arm(&emu, "reply download any garbage 1");
    let mut c = Client::tls(&emu);
    let r = get(&mut c, "/dl/fw", &[]);
    assert_eq!(
        (r.status, r.body.len()),
        (200, crate::faults::GARBAGE_BYTES)
    );

    // reset-faults clears the download rules too.
    for rule in [
        "cut download any 10 1",
        "ignore-range download any 1",
        "corrupt download any 0 1",
        "lie-length download any 5 1",
        "change download any 1",
        "fail download any http503 1",
    ] {
        arm(&emu, rule);
    }
    emu.control("reset-faults").unwrap();
    assert_206(
        &get(&mut c, "/dl/fw", &[("Range", "bytes=0-")]),
        "reset",
        &data,
        0,
        7999,
    );
    assert_eq!(control_json(&emu, "dl-info fw")["changes"], 0);
    let s = stats(&emu, "fw");
    let recent = s["recent"].as_array().unwrap();
    let statuses: Vec<&Value> = recent.iter().map(|r| &r["status"]).collect();
    assert!(
        statuses.contains(&&Value::Null),
        "dropped requests have no status: {s}"
    );
    // Every request but the plain, delayed and reset ones took a rule.
    assert_eq!(
        (s["requests"].as_u64(), s["faults"].as_u64()),
        (Some(13), Some(10))
    );
}

/// The process's resident set size in KiB (Linux).
fn rss_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn dl_one_gib_in_flat_memory() {
    const SIZE: u64 = 1 << 30;
    let emu = start(false);
    let json = define(&emu, "huge", SIZE, 11);
    assert!(json["md5"].is_null());
    let before = rss_kib();
    let mut c = Client::tls(&emu);
    send_head(&mut c, "GET", "/dl/huge", &[]);
    let (status, headers, _) = read_head(&mut c);
    assert_eq!(
        (status, header(&headers, "content-length")),
        (200, Some("1073741824"))
    );
    let mut buf = vec![0u8; 64 * 1024];
    let mut expected = vec![0u8; 64 * 1024];
    let (mut offset, mut peak, mut pieces) = (0u64, 0u64, 0u64);
    while offset < SIZE {
        let n = usize::try_from(SIZE - offset).map_or(buf.len(), |left| left.min(buf.len()));
        c.conn.read_exact(&mut buf[..n]).unwrap();
        // Every 97th piece is checked byte for byte (all of them would double the time).
        if pieces % 97 == 0 || offset + n as u64 == SIZE {
            dl_content(11, offset, &mut expected[..n]);
            assert!(buf[..n] == expected[..n], "bytes at {offset}");
        }
        if pieces % 1024 == 0 {
            peak = peak.max(rss_kib().unwrap_or(0));
        }
        offset += n as u64;
        pieces += 1;
    }
    // The connection is still usable: the body ended where it was declared to.
    let r = get(&mut c, "/dl/huge", &[("Range", "bytes=-8")]);
    assert_eq!(r.body, content(11, SIZE - 8, 8));
    if let Some(before) = before {
        // Other tests run in the same process meanwhile; a buffered body would be 1 GiB.
        assert!(
            peak < before + 256 * 1024,
            "RSS grew from {before} KiB to {peak} KiB"
        );
    }
    assert_eq!(stats(&emu, "huge")["bytes_sent"], SIZE + 8);
}
