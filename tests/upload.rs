//! Streamed uploads against the emulator: UCloud device files, Aliyun OTA (RPC + OSS
//! PostObject), Huawei AGC, generic PUT / POST-form; digests verified by the server; every
//! error path.

mod common;

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{env, Env};
use iothttp::sign::hex;
use iothttp::{AgcClient, AliyunAccount, Cloud, ErrorKind, FormFile, Source};
use serde_json::Value;
use sha2::Digest;

fn data(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn md5_hex(b: &[u8]) -> String {
    hex(&md5::Md5::digest(b))
}

fn sha256_hex(b: &[u8]) -> String {
    hex(&sha2::Sha256::digest(b))
}

fn objects(env: &Env) -> Vec<Value> {
    serde_json::from_str::<Value>(&env.control("objects"))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn stats(env: &Env) -> Value {
    serde_json::from_str(&env.control("upload-stats")).unwrap()
}

fn op_stat(env: &Env, op: &str, field: &str) -> u64 {
    stats(env)["ops"][op][field].as_u64().unwrap_or(0)
}

/// The object stored under a key suffix, if any.
fn object_ending(env: &Env, suffix: &str) -> Option<Value> {
    objects(env)
        .into_iter()
        .find(|o| o["key"].as_str().unwrap().ends_with(suffix))
}

fn assert_stored(env: &Env, suffix: &str, content: &[u8]) {
    let o = object_ending(env, suffix).unwrap_or_else(|| panic!("no object {suffix}"));
    assert_eq!(o["size"], content.len() as u64, "{o}");
    assert_eq!(o["md5"], md5_hex(content).as_str());
    assert_eq!(o["sha256"], sha256_hex(content).as_str());
}

/// A reader that yields `take` bytes of `inner` then fails.
struct Failing {
    inner: std::io::Cursor<Vec<u8>>,
    left: usize,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("disk error"));
        }
        let n = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..n])?;
        self.left -= n;
        Ok(n)
    }
}

// ---------------------------------------------------------------------------- UCloud files

fn ucloud_dev(env: &Env) -> common::Dev {
    let dev = env.device(Cloud::UCloud);
    dev.device
        .set_file_endpoint(&env.emu.ufile_base_url())
        .unwrap();
    dev
}

#[test]
fn ucloud_file_upload_from_memory_file_and_reader() {
    let env = env();
    let dev = ucloud_dev(&env);
    let content = data(300_000, 1);
    let mut src = Source::from_bytes(content.clone());
    dev.device
        .upload_file("clip.bin", "application/octet-stream", &mut src, None)
        .unwrap();
    assert_stored(&env, "/clip.bin", &content);

    let dir = std::env::temp_dir().join(format!("iothttp-up-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("log.txt");
    let text = data(70_001, 2);
    std::fs::write(&path, &text).unwrap();
    let mut src = Source::from_file(&path).unwrap();
    dev.device
        .upload_file("log.txt", "plain/text", &mut src, None)
        .unwrap();
    assert_stored(&env, "/log.txt", &text);
    // The same source again: rewound automatically.
    dev.device
        .upload_file("log2.txt", "plain/text", &mut src, None)
        .unwrap();
    assert_stored(&env, "/log2.txt", &text);
    std::fs::remove_dir_all(&dir).unwrap();

    // A reader that cannot rewind streams once when the MD5 is given.
    let content = data(50_000, 3);
    let mut src = Source::from_reader(content.len() as u64, std::io::Cursor::new(content.clone()));
    src.set_md5_hex(&md5_hex(&content)).unwrap();
    dev.device
        .upload_file("stream.bin", "application/octet-stream", &mut src, None)
        .unwrap();
    assert_stored(&env, "/stream.bin", &content);
    // Empty files are files too.
    let mut empty = Source::from_bytes(Vec::new());
    dev.device
        .upload_file("empty", "application/octet-stream", &mut empty, None)
        .unwrap();
    assert_stored(&env, "/empty", b"");
    let o = object_ending(&env, "/clip.bin").unwrap();
    assert!(o["key"]
        .as_str()
        .unwrap()
        .contains(&format!("{}/{}", dev.product, dev.name)));
}

#[test]
fn ucloud_file_upload_errors() {
    let env = env();
    let dev = ucloud_dev(&env);
    let content = data(20_000, 4);
    // Wrong MD5 given: the store checks it; nothing stored.
    let mut src = Source::from_bytes(content.clone());
    src.set_md5_hex(&md5_hex(b"something else")).unwrap();
    let e = dev
        .device
        .upload_file("bad.bin", "application/octet-stream", &mut src, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cloud, "{e}");
    assert_eq!(e.http_status(), 400);
    assert_eq!(e.cloud_code(), -148655);
    assert!(object_ending(&env, "/bad.bin").is_none());
    // A reader that cannot rewind and has no MD5: the digest pass needs a second read.
    let mut src = Source::from_reader(3, &b"abc"[..]);
    let e = dev
        .device
        .upload_file("x", "text/plain", &mut src, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotRewindable);
    // Bad names.
    let mut src = Source::from_bytes(vec![1]);
    for (name, ct) in [("", "a/b"), ("a/b", "a/b"), ("x", ""), ("x", "a\nb")] {
        let e = dev
            .device
            .upload_file(name, ct, &mut src, None)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg, "{name:?} {ct:?}");
    }
    // Aliyun devices have no file upload.
    let a = env.device(Cloud::Aliyun);
    let e = a
        .device
        .upload_file("x", "a/b", &mut src, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    // The cloud refuses the grant: wrong secret.
    let wrong = env
        .client
        .device(Cloud::UCloud, &dev.product, &dev.name, "wrong")
        .unwrap();
    wrong.set_file_endpoint(&env.emu.ufile_base_url()).unwrap();
    let e = wrong.upload_file("x", "a/b", &mut src, None).unwrap_err();
    assert_eq!((e.kind(), e.cloud_code()), (ErrorKind::Auth, 171));
}

#[test]
fn lying_sources_never_complete_an_upload() {
    let env = env();
    let dev = ucloud_dev(&env);
    let content = data(100_000, 5);
    // Shorter than declared (MD5 given so there is no digest pass).
    let mut short = Source::from_reader(100_010, std::io::Cursor::new(content.clone()));
    short.set_md5_hex(&md5_hex(&content)).unwrap();
    let e = dev
        .device
        .upload_file("short.bin", "a/b", &mut short, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SizeMismatch, "{e}");
    // Longer than declared.
    let mut long = Source::from_reader(99_990, std::io::Cursor::new(content.clone()));
    long.set_md5_hex(&md5_hex(&content[..99_990])).unwrap();
    let e = dev
        .device
        .upload_file("long.bin", "a/b", &mut long, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SizeMismatch, "{e}");
    // Found out already by the digest pass when the source can rewind.
    let mut lying = Source::from_seekable(100_001, std::io::Cursor::new(content.clone()));
    let e = dev
        .device
        .upload_file("lying.bin", "a/b", &mut lying, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SizeMismatch);
    // A read that fails half-way.
    let mut failing = Source::from_reader(
        100_000,
        Failing {
            inner: std::io::Cursor::new(content.clone()),
            left: 40_000,
        },
    );
    failing.set_md5_hex(&md5_hex(&content)).unwrap();
    let e = dev
        .device
        .upload_file("failing.bin", "a/b", &mut failing, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Read, "{e}");
    assert!(e.message().contains("disk error"), "{e}");
    for name in ["short.bin", "long.bin", "lying.bin", "failing.bin"] {
        assert!(object_ending(&env, name).is_none(), "{name} stored");
    }
    assert_eq!(op_stat(&env, "file-put", "completions"), 0);
    // Not ">= 3": a PUT the client cuts short may be reset before the server has read its
    // head (Linux drops unread data on a reset), so the server need not count every attempt.
    assert!(op_stat(&env, "file-put", "attempts") >= 1);
}

#[test]
fn progress_rises_to_total_and_can_cancel() {
    let env = env();
    let dev = ucloud_dev(&env);
    let content = data(200_000, 6);
    let mut src = Source::from_bytes(content.clone());
    let mut seen: Vec<(u64, u64)> = Vec::new();
    let mut cb = |sent: u64, total: u64| {
        seen.push((sent, total));
        true
    };
    dev.device
        .upload_file("p.bin", "a/b", &mut src, Some(&mut cb))
        .unwrap();
    assert!(seen.len() > 3, "{seen:?}");
    assert_eq!(seen.first(), Some(&(0, 200_000)));
    assert_eq!(seen.last(), Some(&(200_000, 200_000)));
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
    // Cancel half-way: nothing stored, the error says so.
    let calls = AtomicUsize::new(0);
    let mut cancel = |sent: u64, _total: u64| {
        calls.fetch_add(1, Ordering::Relaxed);
        sent < 100_000
    };
    let e = dev
        .device
        .upload_file("c.bin", "a/b", &mut src, Some(&mut cancel))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    assert!(object_ending(&env, "/c.bin").is_none());
    // Cancelling at the very last call still leaves nothing complete on the server.
    let mut at_end = |sent: u64, total: u64| sent < total;
    let e = dev
        .device
        .upload_file("end.bin", "a/b", &mut src, Some(&mut at_end))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert!(object_ending(&env, "/end.bin").is_none());
}

#[test]
fn cut_connection_is_retried_from_the_start() {
    let env = env();
    let dev = ucloud_dev(&env);
    let content = data(400_000, 7);
    env.control(&format!("cut file-put {} 150000 1", dev.key()));
    let mut seen = Vec::new();
    let mut cb = |sent: u64, _t: u64| {
        seen.push(sent);
        true
    };
    let mut src = Source::from_bytes(content.clone());
    dev.device
        .upload_file("cut.bin", "a/b", &mut src, Some(&mut cb))
        .unwrap();
    assert_stored(&env, "/cut.bin", &content);
    assert_eq!(op_stat(&env, "file-put", "attempts"), 2);
    assert_eq!(op_stat(&env, "file-put", "completions"), 1);
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "monotonic across the retry"
    );
    // A source that cannot rewind cannot be retried.
    env.control(&format!("cut file-put {} 150000 1", dev.key()));
    let mut once = Source::from_reader(content.len() as u64, std::io::Cursor::new(content.clone()));
    once.set_md5_hex(&md5_hex(&content)).unwrap();
    let e = dev
        .device
        .upload_file("cut2.bin", "a/b", &mut once, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotRewindable, "{e}");
    assert!(object_ending(&env, "/cut2.bin").is_none());
}

#[test]
fn refused_upload_authorization_gets_a_fresh_url_once() {
    let env = env();
    let dev = ucloud_dev(&env);
    let content = data(10_000, 8);
    env.control(&format!("fail file-put {} -148643 1", dev.key()));
    let mut src = Source::from_bytes(content.clone());
    dev.device
        .upload_file("a.bin", "a/b", &mut src, None)
        .unwrap();
    assert_stored(&env, "/a.bin", &content);
    // Always expired: one refresh, then the error.
    env.control("url-ttl ufile 0");
    let e = dev
        .device
        .upload_file("b.bin", "a/b", &mut src, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Denied, "{e}");
    assert_eq!(e.http_status(), 403);
}

// ---------------------------------------------------------------------------- Aliyun OTA

fn account(env: &Env, id: &str, secret: &str) -> AliyunAccount {
    env.control(&format!("add-account {id} {secret}"));
    let a = AliyunAccount::new(&env.client, id, secret).unwrap();
    a.set_endpoint(&env.emu.aliyun_iot_url()).unwrap();
    a
}

#[test]
fn ota_upload_returns_the_firmware_url() {
    let env = env();
    let acct = account(&env, "otaKey1", "otaSecret1");
    let fw = data(1_000_000, 9);
    let mut src = Source::from_bytes(fw.clone());
    let url = acct.ota_upload(Some("bin"), &mut src, None).unwrap();
    assert!(
        url.starts_with(&format!("{}/oss/ota/", env.emu.base_url())),
        "{url}"
    );
    let key = url.split("/oss/").nth(1).unwrap();
    assert_stored(&env, key, &fw);
    assert!(key.ends_with(".bin"));
    // Other suffixes, and the instance id.
    acct.set_instance_id("iot-cn-test").unwrap();
    let mut src = Source::from_bytes(data(1000, 10));
    let url = acct.ota_upload(Some("tar.gz"), &mut src, None).unwrap();
    assert!(url.ends_with(".tar.gz"), "{url}");
    for bad in ["exe", "", ".bin"] {
        let e = acct.ota_upload(Some(bad), &mut src, None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg, "{bad}");
    }
}

#[test]
fn ota_limits_and_refusals() {
    let env = env();
    let acct = account(&env, "otaKey2", "otaSecret2");
    // 1000 MB + 1: refused before anything is sent.
    let mut huge = Source::from_reader(1000 * 1024 * 1024 + 1, std::io::empty());
    let e = acct.ota_upload(None, &mut huge, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
    assert_eq!(op_stat(&env, "ota-url", "attempts"), 0);
    // Wrong secret, unknown key.
    let mut src = Source::from_bytes(data(100, 11));
    let wrong = AliyunAccount::new(&env.client, "otaKey2", "nope").unwrap();
    wrong.set_endpoint(&env.emu.aliyun_iot_url()).unwrap();
    let e = wrong.ota_upload(None, &mut src, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(e.message().contains("SignatureDoesNotMatch"), "{e}");
    assert!(!e.message().contains("nope"));
    let unknown = AliyunAccount::new(&env.client, "noSuchKey", "x").unwrap();
    unknown.set_endpoint(&env.emu.aliyun_iot_url()).unwrap();
    let e = unknown.ota_upload(None, &mut src, None).unwrap_err();
    assert_eq!((e.kind(), e.http_status()), (ErrorKind::Auth, 404), "{e}");
    // Throttling shorter than the budget is absorbed.
    env.control("fail ota-url account otaKey2 Throttling.User 2");
    acct.ota_upload(None, &mut src, None).unwrap();
    // An IoT-level failure.
    env.control("fail ota-url account otaKey2 iot.system.SystemException 1");
    let e = acct.ota_upload(None, &mut src, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cloud, "{e}");
}

#[test]
fn ota_with_a_wrong_clock_still_works() {
    let env = env();
    let acct = account(&env, "otaKey3", "otaSecret3");
    env.control("skew 10800");
    let fw = data(5000, 12);
    let mut src = Source::from_bytes(fw.clone());
    let url = acct.ota_upload(None, &mut src, None).unwrap();
    assert_stored(&env, url.split("/oss/").nth(1).unwrap(), &fw);
}

#[test]
fn expired_policy_gets_fresh_parameters_and_one_retry() {
    let env = env();
    let acct = account(&env, "otaKey4", "otaSecret4");
    let fw = data(200_000, 13);
    let mut src = Source::from_bytes(fw.clone());
    // The policy lives 1 s; the first PostObject arrives after 1.5 s.
    env.control("url-ttl oss 1");
    env.control("delay oss-post account otaKey4 1500 1");
    let url = acct.ota_upload(None, &mut src, None).unwrap();
    assert_stored(&env, url.split("/oss/").nth(1).unwrap(), &fw);
    assert_eq!(op_stat(&env, "ota-url", "attempts"), 2);
    // Always expired: one retry, then the error.
    env.control("url-ttl oss 0");
    let e = acct.ota_upload(None, &mut src, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Denied, "{e}");
    assert!(e.message().contains("Policy expired"), "{e}");
}

#[test]
fn ota_cut_connection_is_retried() {
    let env = env();
    let acct = account(&env, "otaKey5", "otaSecret5");
    let fw = data(300_000, 14);
    env.control("cut oss-post account otaKey5 100000 1");
    let mut src = Source::from_bytes(fw.clone());
    let url = acct.ota_upload(None, &mut src, None).unwrap();
    assert_stored(&env, url.split("/oss/").nth(1).unwrap(), &fw);
}

// ---------------------------------------------------------------------------- Huawei AGC

fn agc(env: &Env, id: &str, secret: &str) -> AgcClient {
    env.control(&format!("add-agc-client {id} {secret}"));
    let a = AgcClient::new(&env.client, id, secret).unwrap();
    a.set_endpoint(&env.emu.agc_url()).unwrap();
    a
}

#[test]
fn agc_upload_with_exact_headers() {
    let env = env();
    let a = agc(&env, "agcId1", "agcSecret1");
    let pkg = data(250_000, 15);
    let mut src = Source::from_bytes(pkg.clone());
    let object = a.upload("100200300", "app.app", &mut src, None).unwrap();
    assert!(!object.is_empty());
    assert_stored(&env, &format!("{object}/app.app"), &pkg);
    // The token is cached: a second upload asks for no new one.
    let tokens = op_stat(&env, "agc-token", "attempts");
    let mut src = Source::from_bytes(data(10, 16));
    a.upload("100200300", "b.app", &mut src, None).unwrap();
    assert_eq!(op_stat(&env, "agc-token", "attempts"), tokens);
    // An expired token is renewed once, transparently.
    env.control("expire agc agcId1");
    a.upload("100200300", "c.app", &mut src, None).unwrap();
    assert_eq!(op_stat(&env, "agc-token", "attempts"), tokens + 1);
    // SHA-256 given: no digest pass over a reader that cannot rewind.
    let pkg = data(40_000, 17);
    let mut once = Source::from_reader(pkg.len() as u64, std::io::Cursor::new(pkg.clone()));
    once.set_sha256_hex(&sha256_hex(&pkg)).unwrap();
    let object = a.upload("100200300", "d.app", &mut once, None).unwrap();
    assert_stored(&env, &format!("{object}/d.app"), &pkg);
}

#[test]
fn agc_errors() {
    let env = env();
    let a = agc(&env, "agcId2", "agcSecret2");
    let mut src = Source::from_bytes(data(100, 18));
    let wrong = AgcClient::new(&env.client, "agcId2", "bad").unwrap();
    wrong.set_endpoint(&env.emu.agc_url()).unwrap();
    let e = wrong.upload("1", "a.app", &mut src, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    // Wrong SHA-256 given: the store refuses, nothing stored.
    let mut lying = Source::from_bytes(data(100, 19));
    lying.set_sha256_hex(&"0".repeat(64)).unwrap();
    let e = a.upload("1", "x.app", &mut lying, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cloud, "{e}");
    assert!(object_ending(&env, "/x.app").is_none());
    // Limits before sending.
    let mut big_aab = Source::from_reader(150 * 1024 * 1024 + 1, std::io::empty());
    let e = a.upload("1", "a.aab", &mut big_aab, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
    let mut huge = Source::from_reader(4 * 1024 * 1024 * 1024 + 1, std::io::empty());
    let e = a.upload("1", "a.app", &mut huge, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
    // Invalid input as the cloud sees it.
    let e = a.upload("", "a.app", &mut src, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArg);
    let e = a.upload("1", "noextension", &mut src, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArg);
    // Expired URL: fresh one, once.
    env.control("fail obs-put agc agcId2 http503 1");
    a.upload("1", "r.app", &mut src, None).unwrap();
    env.control("url-ttl obs 0");
    let e = a.upload("1", "s.app", &mut src, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Denied, "{e}");
}

// ---------------------------------------------------------------------------- generic

#[test]
fn generic_put_and_post_form() {
    let env = env();
    let content = data(123_456, 20);
    let mut src = Source::from_bytes(content.clone());
    let url = format!("{}/bucket/obj.bin", env.emu.store_url());
    env.client
        .put(
            &url,
            &[
                ("Content-Type", "application/x-test"),
                ("x-amz-meta-a", "1"),
            ],
            &mut src,
            None,
        )
        .unwrap();
    assert_stored(&env, "bucket/obj.bin", &content);
    let o: Value = serde_json::from_str(&env.control("object store bucket/obj.bin")).unwrap();
    assert_eq!(o["headers"]["content-type"], "application/x-test");
    assert_eq!(o["headers"]["x-amz-meta-a"], "1");
    // S3-style checks the store makes on request.
    let mut src2 = Source::from_bytes(content.clone());
    let e = env
        .client
        .put(
            &url,
            &[("x-amz-content-sha256", &"0".repeat(64))],
            &mut src2,
            None,
        )
        .unwrap_err();
    assert_eq!((e.kind(), e.http_status()), (ErrorKind::Http, 400), "{e}");
    assert!(e.message().contains("XAmzContentSHA256Mismatch"), "{e}");
    // 503 then success.
    env.control("fail store-put any http503 1");
    env.client.put(&url, &[], &mut src, None).unwrap();
    // Framing headers belong to the library.
    let e = env
        .client
        .put(&url, &[("Transfer-Encoding", "chunked")], &mut src, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArg);

    let form = data(77_777, 21);
    let mut src = Source::from_bytes(form.clone());
    env.client
        .post_form(
            &env.emu.store_form_url(),
            &[("key", "forms/${filename}"), ("x-meta", "v")],
            FormFile {
                field: "file",
                file_name: "f.dat",
                content_type: "application/octet-stream",
            },
            &mut src,
            None,
        )
        .unwrap();
    assert_stored(&env, "forms/f.dat", &form);
}

#[test]
fn progress_closures_can_share_state() {
    // Progress closures may hold shared state.
    let env = env();
    let counter = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&counter);
    let mut cb = move |_s: u64, _t: u64| {
        c.fetch_add(1, Ordering::Relaxed);
        true
    };
    let mut src = Source::from_bytes(data(100_000, 22));
    env.client
        .put(
            &format!("{}/p/q", env.emu.store_url()),
            &[],
            &mut src,
            Some(&mut cb),
        )
        .unwrap();
    assert!(counter.load(Ordering::Relaxed) >= 2);
}

/// One retry budget per call (issue: field reliability): a step that retries on its own (the
/// UCloud URL grant, GenerateOTAUploadURL, the AGC token and upload-URL requests) is sent at
/// most `max_attempts` times per call, however often the upload around it starts over, and the
/// message counts the attempts once.
#[test]
fn each_request_is_attempted_at_most_max_attempts_times_per_call() {
    for max in [3u32, 10] {
        let env = common::env_with(Default::default(), |cfg| {
            cfg.set_retries(iothttp::RetryPolicy {
                max_attempts: max,
                base_delay: std::time::Duration::from_millis(1),
                max_delay: std::time::Duration::from_millis(2),
            })
            .unwrap();
        });
        let gave_up = format!("gave up after {max} attempts");
        let check = |e: iothttp::Error, op: &str, kind: ErrorKind| {
            assert_eq!(e.kind(), kind, "{op}: {e}");
            assert_eq!(e.message().matches("gave up after").count(), 1, "{op}: {e}");
            assert!(e.message().contains(&gave_up), "{op}: {e}");
            assert_eq!(
                op_stat(&env, op, "attempts"),
                u64::from(max),
                "{op} with {max}: {e}"
            );
        };

        // UCloud: a persistent RetCode 130 on the URL grant.
        let dev = env.device(Cloud::UCloud);
        dev.device
            .set_file_endpoint(&env.emu.ufile_base_url())
            .unwrap();
        env.control(&format!("fail file-url {} 130 1000", dev.key()));
        let mut src = Source::from_bytes(data(1000, 40));
        let e = dev
            .device
            .upload_file("f.bin", "application/octet-stream", &mut src, None)
            .unwrap_err();
        check(e, "file-url", ErrorKind::Unavailable);
        assert_eq!(op_stat(&env, "file-put", "attempts"), 0);

        // Aliyun: GenerateOTAUploadURL throttled for good.
        let acct = account(&env, "otaBudget", "otaBudgetSecret");
        env.control("fail ota-url account otaBudget Throttling.User 1000");
        let e = acct.ota_upload(None, &mut src, None).unwrap_err();
        check(e, "ota-url", ErrorKind::RateLimited);

        // AppGallery: the token request, then the upload-URL request, unavailable for good.
        let a = agc(&env, "agcBudget", "agcBudgetSecret");
        env.control("fail agc-token agc agcBudget http503 1000");
        let e = a.upload("1", "a.app", &mut src, None).unwrap_err();
        check(e, "agc-token", ErrorKind::Unavailable);
        env.control("reset-faults");
        env.control("fail agc-url agc agcBudget http503 1000");
        let e = a.upload("1", "a.app", &mut src, None).unwrap_err();
        check(e, "agc-url", ErrorKind::Unavailable);
    }
}

/// The budget is per request and per call, also when the upload itself starts over: a PUT
/// cut twice gets three grants in all (one per PUT), not three per PUT.
#[test]
fn a_restarted_upload_shares_the_grant_budget() {
    let env = env();
    let dev = env.device(Cloud::UCloud);
    dev.device
        .set_file_endpoint(&env.emu.ufile_base_url())
        .unwrap();
    // The first grant is refused twice (two of its three attempts), then the PUT is cut:
    // the second round may send one more grant, and no more.
    env.control(&format!("fail file-url {} 130 2", dev.key()));
    env.control(&format!("cut file-put {} 100 1000", dev.key()));
    let mut src = Source::from_bytes(data(300_000, 41));
    let e = dev
        .device
        .upload_file("g.bin", "application/octet-stream", &mut src, None)
        .unwrap_err();
    assert_eq!(op_stat(&env, "file-url", "attempts"), 3, "{e}");
    assert_eq!(op_stat(&env, "file-put", "attempts"), 1, "{e}");
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(
        e.message().contains("attempts for this call are spent"),
        "{e}"
    );
}

/// A source that declares 0 bytes and yields some, rewindable.
struct LyingEmpty(usize);

impl iothttp::SourceRead for LyingEmpty {
    fn read(&mut self, buf: &mut [u8]) -> iothttp::Result<usize> {
        let n = buf.len().min(100 - self.0.min(100));
        buf[..n].fill(7);
        self.0 += n;
        Ok(n)
    }
    fn can_rewind(&self) -> bool {
        true
    }
    fn rewind(&mut self) -> iothttp::Result<()> {
        self.0 = 0;
        Ok(())
    }
}

fn lying_empty() -> Source {
    Source::new(0, Box::new(LyingEmpty(0)), "callback")
}

/// A source declared empty that yields bytes fails with SizeMismatch on every upload path,
/// and no (empty) object is stored.
#[test]
fn a_source_declared_empty_that_yields_bytes_never_uploads() {
    let env = env();
    let check = |what: &str, r: iothttp::Result<()>| {
        let e = r.expect_err(what);
        assert_eq!(e.kind(), ErrorKind::SizeMismatch, "{what}: {e}");
        assert!(
            e.message().contains("more than its declared 0 bytes"),
            "{what}: {e}"
        );
    };
    let store = env.emu.store_url();
    check(
        "put",
        env.client.put(
            &format!("{store}/bucket/empty.bin"),
            &[],
            &mut lying_empty(),
            None,
        ),
    );
    check(
        "post_form",
        env.client.post_form(
            &env.emu.store_form_url(),
            &[("key", "forms/${filename}")],
            FormFile {
                field: "file",
                file_name: "empty.bin",
                content_type: "application/octet-stream",
            },
            &mut lying_empty(),
            None,
        ),
    );
    let dev = ucloud_dev(&env);
    check(
        "upload_file",
        dev.device.upload_file(
            "empty.bin",
            "application/octet-stream",
            &mut lying_empty(),
            None,
        ),
    );
    let acct = account(&env, "otaEmpty", "otaEmptySecret");
    check(
        "ota_upload",
        acct.ota_upload(None, &mut lying_empty(), None).map(drop),
    );
    let a = agc(&env, "agcEmpty", "agcEmptySecret");
    check(
        "agc upload",
        a.upload("1", "a.app", &mut lying_empty(), None).map(drop),
    );
    // With the digests given, no digest pass reads the source first: the send checks it.
    let mut src = lying_empty();
    src.set_md5_hex("d41d8cd98f00b204e9800998ecf8427e").unwrap();
    check(
        "upload_file, MD5 given",
        dev.device
            .upload_file("empty2.bin", "application/octet-stream", &mut src, None),
    );
    assert_eq!(objects(&env), Vec::<Value>::new());
}

// ---------------------------------------------------------------------------- early rejects

/// A store that refuses an upload part-way (answers its error, then resets the connection
/// under a client that is still sending) is reported with its status and error, after one
/// attempt: not retried from byte 0 until the budget is gone, not an I/O error.
#[test]
fn a_store_that_rejects_early_is_reported_not_retried() {
    let env = env();
    let big = data(24 << 20, 30);
    let check = |e: &iothttp::Error, status: u16, text: &str, op: &str| {
        assert_eq!(e.http_status(), status, "{op}: {e}");
        assert!(e.message().contains(text), "{op}: {e}");
        assert_eq!(op_stat(&env, op, "attempts"), 1, "{op}: {e}");
        assert_eq!(op_stat(&env, op, "completions"), 0, "{op}: {e}");
    };

    // Generic presigned PUT.
    env.control("reject store-put any 100000 AccessDenied 1");
    let url = format!("{}/bucket/early.bin", env.emu.store_url());
    let e = env
        .client
        .put(&url, &[], &mut Source::from_bytes(big.clone()), None)
        .unwrap_err();
    check(&e, 403, "AccessDenied", "store-put");
    assert!(e.message().contains("Request has expired"), "{e}");
    assert!(object_ending(&env, "early.bin").is_none());

    // Generic POST form.
    env.control("reject store-form any 100000 EntityTooLarge 1");
    let e = env
        .client
        .post_form(
            &env.emu.store_form_url(),
            &[("key", "early/${filename}")],
            FormFile {
                field: "file",
                file_name: "early.bin",
                content_type: "application/octet-stream",
            },
            &mut Source::from_bytes(big.clone()),
            None,
        )
        .unwrap_err();
    check(&e, 400, "EntityTooLarge", "store-form");

    // UCloud device file.
    let dev = ucloud_dev(&env);
    env.control(&format!("reject file-put {} 100000 -148654 1", dev.key()));
    let e = dev
        .device
        .upload_file(
            "early.bin",
            "a/b",
            &mut Source::from_bytes(big.clone()),
            None,
        )
        .unwrap_err();
    check(&e, 400, "148654", "file-put");

    // Aliyun OTA: OSS PostObject.
    let acct = account(&env, "otaKeyEarly", "otaSecretEarly");
    env.control("reject oss-post account otaKeyEarly 100000 SignatureDoesNotMatch 1");
    let e = acct
        .ota_upload(None, &mut Source::from_bytes(big.clone()), None)
        .unwrap_err();
    check(&e, 403, "SignatureDoesNotMatch", "oss-post");

    // Huawei AGC: OBS PUT.
    let a = agc(&env, "agcEarly", "agcEarlySecret");
    env.control("reject obs-put agc agcEarly 100000 SignatureDoesNotMatch 1");
    let e = a
        .upload("100200300", "early.app", &mut Source::from_bytes(big), None)
        .unwrap_err();
    check(&e, 403, "SignatureDoesNotMatch", "obs-put");
}

/// The same over plain HTTP (the TCP transport reads the early reply back itself).
#[test]
fn an_early_reject_over_plain_http_is_reported() {
    let env = common::env_with(
        iothttp_emulator::Options {
            plain_http: true,
            ..iothttp_emulator::Options::default()
        },
        |c| {
            c.allow_plain_http(true);
        },
    );
    env.control("reject store-put any 50000 AccessDenied 1");
    let url = format!(
        "{}/store/plain/early.bin",
        env.emu.plain_base_url().unwrap()
    );
    let e = env
        .client
        .put(&url, &[], &mut Source::from_bytes(data(24 << 20, 31)), None)
        .unwrap_err();
    assert_eq!((e.kind(), e.http_status()), (ErrorKind::Http, 403), "{e}");
    assert!(e.message().contains("AccessDenied"), "{e}");
    assert_eq!(op_stat(&env, "store-put", "attempts"), 1, "{e}");
}
