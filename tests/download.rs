//! Downloads against the emulator: streamed to a sink or a file, resumed after cuts with
//! `If-Range`, restarted when the object changed, checked against size and digests, renamed
//! atomically; every fault the emulator injects ends in a verified file or a clear error
//! with the old file untouched.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{env, env_with, Env};
use iothttp::sign::hex;
use iothttp::{Downloaded, ErrorKind, Expected};
use serde_json::Value;
use sha2::Digest;

/// The bytes of an emulator download object.
fn content(seed: u64, size: usize) -> Vec<u8> {
    let mut v = vec![0u8; size];
    iothttp_emulator::dl_content(seed, 0, &mut v);
    v
}

struct Obj {
    name: String,
    url: String,
    bytes: Vec<u8>,
}

impl Obj {
    fn expected(&self) -> Expected {
        Expected::new()
            .size(self.bytes.len() as u64)
            .md5_hex(&hex(&md5::Md5::digest(&self.bytes)))
            .unwrap()
            .sha256_hex(&hex(&sha2::Sha256::digest(&self.bytes)))
            .unwrap()
    }
}

fn object(env: &Env, name: &str, size: usize, seed: u64) -> Obj {
    env.control(&format!("dl-object {name} {size} {seed}"));
    Obj {
        name: name.to_string(),
        url: env.emu.dl_url(name),
        bytes: content(seed, size),
    }
}

fn stats(env: &Env, name: &str) -> Value {
    serde_json::from_str(&env.control(&format!("dl-stats {name}"))).unwrap()
}

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!(
            "iothttp-dl-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn part(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.part", path.display()))
}

fn meta(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.part.meta", path.display()))
}

fn assert_done(path: &Path, want: &[u8]) {
    let got = fs::read(path).unwrap();
    assert!(
        got == want,
        "file differs ({} bytes, want {})",
        got.len(),
        want.len()
    );
    assert!(!part(path).exists(), ".part left behind");
    assert!(!meta(path).exists(), ".part.meta left behind");
}

/// Progress that cancels once `at` bytes are reached.
fn cancel_at(at: u64) -> impl FnMut(u64, u64) -> bool {
    move |received, _| received < at
}

#[test]
fn to_memory_and_to_a_file_with_rising_progress() {
    let env = env();
    let obj = object(&env, "fw.bin", 3 << 20, 1);
    let mut got = Vec::new();
    let mut seen = Vec::new();
    let mut progress = |r: u64, t: u64| {
        seen.push((r, t));
        true
    };
    let done = env
        .client
        .download(&obj.url, &[], 0, &mut got, Some(&mut progress))
        .unwrap();
    assert!(got == obj.bytes);
    assert_eq!(done.total, Some(obj.bytes.len() as u64));
    assert_eq!(done.received, obj.bytes.len() as u64);
    assert!(
        done.etag.is_some() && done.last_modified.is_some(),
        "{done:?}"
    );
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "rising");
    assert_eq!(seen.last().copied(), Some((3 << 20, 3 << 20)));

    // From an offset: the rest only.
    let mut rest = Vec::new();
    let done = env
        .client
        .download(&obj.url, &[("Accept", "*/*")], 1000, &mut rest, None)
        .unwrap();
    assert!(rest == obj.bytes[1000..]);
    assert_eq!(done.received, obj.bytes.len() as u64 - 1000);

    let dir = Dir::new("basic");
    let path = dir.path("fw.bin");
    fs::write(&path, b"the old image").unwrap();
    env.client
        .download_file(&obj.url, &path, &obj.expected(), None)
        .unwrap();
    assert_done(&path, &obj.bytes);
    // Nothing expected: still a complete, renamed file.
    let path2 = dir.path("any.bin");
    env.client
        .download_file(&obj.url, &path2, &Expected::new(), None)
        .unwrap();
    assert_done(&path2, &obj.bytes);
}

#[test]
fn a_cut_is_resumed_from_where_it_stopped_with_if_range() {
    let env = env();
    let obj = object(&env, "cut.bin", 2 << 20, 2);
    env.control("cut download any 700000 1");
    let dir = Dir::new("cut");
    let path = dir.path("cut.bin");
    env.client
        .download_file(&obj.url, &path, &obj.expected(), None)
        .unwrap();
    assert_done(&path, &obj.bytes);
    let s = stats(&env, &obj.name);
    assert_eq!(s["requests"], 2, "{s}");
    assert_eq!(s["ranged"], 1, "{s}");
    assert_eq!(s["recent"][1]["range"], "bytes=700000-", "{s}");
    assert_eq!(s["recent"][1]["if_range"], s["etag"], "If-Range sent: {s}");

    // The same to a sink: every byte once, in order.
    env.control("cut download any 300000 1");
    let mut got = Vec::new();
    env.client
        .download(&obj.url, &[], 0, &mut got, None)
        .unwrap();
    assert!(got == obj.bytes);
}

#[test]
fn cuts_beyond_the_budget_keep_the_part_and_the_next_call_resumes() {
    let env = env();
    let obj = object(&env, "flaky.bin", 2 << 20, 3);
    env.control("cut download any 400000 3");
    let dir = Dir::new("budget");
    let path = dir.path("flaky.bin");
    let e = env
        .client
        .download_file(&obj.url, &path, &obj.expected(), None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.message().contains("gave up after 3 attempts"), "{e}");
    assert!(!path.exists());
    let have = fs::metadata(part(&path)).unwrap().len();
    assert_eq!(have, 1_200_000, "three cuts of 400000 bytes each");
    assert!(meta(&path).exists());
    // A later call (a new run of the firmware) resumes from the .part.
    env.client
        .download_file(&obj.url, &path, &obj.expected(), None)
        .unwrap();
    assert_done(&path, &obj.bytes);
    assert!(
        stats(&env, &obj.name)["recent"]
            .to_string()
            .contains("bytes=1200000-"),
        "resumed from the .part"
    );
}

#[test]
fn a_cancel_keeps_the_part_for_a_later_resume() {
    let env = env();
    let obj = object(&env, "cancel.bin", 1 << 20, 4);
    let dir = Dir::new("cancel");
    let path = dir.path("cancel.bin");
    let mut stop = cancel_at(300_000);
    let e = env
        .client
        .download_file(&obj.url, &path, &obj.expected(), Some(&mut stop))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    let have = fs::metadata(part(&path)).unwrap().len();
    assert!((300_000..400_000).contains(&have), "{have}");
    let mut seen = Vec::new();
    let mut progress = |r: u64, t: u64| {
        seen.push((r, t));
        true
    };
    env.client
        .download_file(&obj.url, &path, &obj.expected(), Some(&mut progress))
        .unwrap();
    assert_done(&path, &obj.bytes);
    // Progress counts the whole file, the resumed prefix included.
    assert!(seen[0].0 > have, "{:?}", seen[0]);
    assert_eq!(seen.last().copied(), Some((1 << 20, 1 << 20)));
}

#[test]
fn a_changed_object_is_never_stitched_onto_an_old_prefix() {
    let env = env();
    let old = object(&env, "ch.bin", 1 << 20, 5);
    let dir = Dir::new("changed");
    let path = dir.path("ch.bin");
    let mut stop = cancel_at(200_000);
    env.client
        .download_file(&old.url, &path, &Expected::new(), Some(&mut stop))
        .unwrap_err();
    // The object changes between the two runs: If-Range no longer matches, the server
    // sends the whole new object, the .part starts over.
    let new = object(&env, "ch.bin", 1 << 20, 6);
    env.client
        .download_file(&new.url, &path, &new.expected(), None)
        .unwrap();
    assert_done(&path, &new.bytes);

    // To a sink from an offset: the whole object instead of the rest is refused, nothing
    // more written.
    let mut got = Vec::new();
    let e = env
        .client
        .download(
            &new.url,
            &[("If-Range", "\"some-old-etag\"")],
            1000,
            &mut got,
            None,
        )
        .unwrap_err();
    assert_eq!((e.kind(), e.http_status()), (ErrorKind::Http, 200), "{e}");
    assert!(got.is_empty());

    // Changed mid-download (between a cut and its resume): a file starts over and is
    // right; a sink that already has bytes of the old object fails.
    env.control("cut download any 300000 1");
    env.control("change download any 1");
    let path2 = dir.path("ch2.bin");
    env.client
        .download_file(&new.url, &path2, &Expected::new(), None)
        .unwrap();
    let info: Value = serde_json::from_str(&env.control("dl-info ch.bin")).unwrap();
    let now = content(info["seed"].as_u64().unwrap(), 1 << 20);
    assert_done(&path2, &now);
    assert!(now != new.bytes);
}

#[test]
fn a_server_that_ignores_ranges() {
    let env = env();
    let obj = object(&env, "ir.bin", 1 << 20, 7);
    // A file starts over from the whole reply.
    let dir = Dir::new("ignore");
    let path = dir.path("ir.bin");
    let mut stop = cancel_at(100_000);
    env.client
        .download_file(&obj.url, &path, &obj.expected(), Some(&mut stop))
        .unwrap_err();
    env.control("ignore-range download any 1");
    env.client
        .download_file(&obj.url, &path, &obj.expected(), None)
        .unwrap();
    assert_done(&path, &obj.bytes);
    // A sink fed from byte 0 by this call reads past what it has (same ETag).
    env.control("cut download any 250000 1");
    env.control("ignore-range download any 1");
    let mut got = Vec::new();
    env.client
        .download(&obj.url, &[], 0, &mut got, None)
        .unwrap();
    assert!(got == obj.bytes);
    // Asked for the rest by the caller: HTTP error, nothing written.
    env.control("ignore-range download any 1");
    let mut rest = Vec::new();
    let e = env
        .client
        .download(&obj.url, &[], 5000, &mut rest, None)
        .unwrap_err();
    assert_eq!((e.kind(), e.http_status()), (ErrorKind::Http, 200), "{e}");
    assert!(rest.is_empty());
}

#[test]
fn a_complete_part_killed_before_the_rename_is_verified_and_renamed() {
    let env = env();
    let obj = object(&env, "whole.bin", 500_000, 8);
    let dir = Dir::new("complete");
    let path = dir.path("whole.bin");
    fs::write(&path, b"old").unwrap();
    // Cancelled at the very last byte: everything written, nothing renamed (as a process
    // killed between the write and the rename).
    let mut stop = cancel_at(500_000);
    env.client
        .download_file(&obj.url, &path, &obj.expected(), Some(&mut stop))
        .unwrap_err();
    assert_eq!(fs::read(&path).unwrap(), b"old");
    assert_eq!(fs::metadata(part(&path)).unwrap().len(), 500_000);
    env.client
        .download_file(&obj.url, &path, &obj.expected(), None)
        .unwrap();
    assert_done(&path, &obj.bytes);
    let s = stats(&env, &obj.name);
    assert_eq!(s["unsatisfiable"], 1, "the resume asked past the end: {s}");
}

#[test]
fn mismatches_keep_nothing_and_leave_the_old_file() {
    let env = env();
    let obj = object(&env, "bad.bin", 1 << 20, 9);
    let dir = Dir::new("mismatch");
    let path = dir.path("bad.bin");
    fs::write(&path, b"the old image").unwrap();
    let untouched = |path: &Path| {
        assert_eq!(fs::read(path).unwrap(), b"the old image");
        assert!(!part(path).exists(), ".part kept after a mismatch");
        assert!(!meta(path).exists());
    };
    // Bytes that differ from the digest.
    env.control("corrupt download any 123456 1");
    let e = env
        .client
        .download_file(&obj.url, &path, &obj.expected(), None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DigestMismatch, "{e}");
    assert!(e.message().contains("MD5"), "{e}");
    untouched(&path);
    // Only SHA-256 expected.
    env.control("corrupt download any 5 1");
    let sha_only = Expected {
        md5: None,
        size: None,
        ..obj.expected()
    };
    let e = env
        .client
        .download_file(&obj.url, &path, &sha_only, None)
        .unwrap_err();
    assert!(e.message().contains("SHA-256"), "{e}");
    untouched(&path);
    // Another size than expected: refused at the head, before the body.
    let small = Expected::new().size(1000);
    let e = env
        .client
        .download_file(&obj.url, &path, &small, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DigestMismatch, "{e}");
    assert!(e.message().contains("1000"), "{e}");
    untouched(&path);
    // A Content-Length that promises less than is sent: the size disagrees.
    env.control("lie-length download any -1000 1");
    let e = env
        .client
        .download_file(&obj.url, &path, &obj.expected(), None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DigestMismatch, "{e}");
    untouched(&path);
    // ... and one that promises more than the expected size: refused at the head too.
    env.control("lie-length download any 1000 1");
    let e = env
        .client
        .download_file(&obj.url, &path, &obj.expected(), None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DigestMismatch, "{e}");
    untouched(&path);
    // Without an expected size the short body is a cut: resumed, the server says it has
    // nothing past the real end (416), and the digests prove the file.
    env.control("lie-length download any 1000 1");
    let digests_only = Expected {
        size: None,
        ..obj.expected()
    };
    env.client
        .download_file(&obj.url, &path, &digests_only, None)
        .unwrap();
    assert_done(&path, &obj.bytes);
}

#[test]
fn http_errors_retries_and_bad_arguments() {
    let env = env();
    let obj = object(&env, "e.bin", 100_000, 10);
    let dir = Dir::new("errors");
    let path = dir.path("e.bin");
    // Missing object: the status, nothing written.
    let e = env
        .client
        .download_file(
            &env.emu.dl_url("missing.bin"),
            &path,
            &Expected::new(),
            None,
        )
        .unwrap_err();
    assert_eq!((e.kind(), e.http_status()), (ErrorKind::Http, 404), "{e}");
    assert!(!path.exists());
    // 503 once: retried.
    env.control("fail download any http503 1");
    env.client
        .download_file(&obj.url, &path, &obj.expected(), None)
        .unwrap();
    assert_done(&path, &obj.bytes);
    // Always 503: gives up, the status kept.
    env.control("fail download any http503 3");
    let e = env
        .client
        .download(&obj.url, &[], 0, &mut Vec::new(), None)
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.http_status()),
        (ErrorKind::Unavailable, 503),
        "{e}"
    );
    // A sink that fails.
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let e = env
        .client
        .download(&obj.url, &[], 0, &mut Full, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Write, "{e}");
    assert!(e.message().contains("disk full"), "{e}");
    // A directory that does not exist.
    let e = env
        .client
        .download_file(
            &obj.url,
            &dir.path("no/such/dir/x.bin"),
            &Expected::new(),
            None,
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Write, "{e}");
    // Arguments.
    for (headers, what) in [
        (&[("Range", "bytes=0-")][..], "Range"),
        (&[("Transfer-Encoding", "chunked")][..], "Transfer-Encoding"),
    ] {
        let e = env
            .client
            .download(&obj.url, headers, 0, &mut Vec::new(), None)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg, "{what}: {e}");
    }
    let e = env
        .client
        .download_file(&obj.url, Path::new(""), &Expected::new(), None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArg, "{e}");
    assert!(Expected::new().md5_hex("xyz").is_err());
    // Plain http is refused unless allowed.
    let e = env
        .client
        .download(
            &obj.url.replacen("https://", "http://", 1),
            &[],
            0,
            &mut Vec::new(),
            None,
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    // A redirect is not followed.
    env.control("fail download any http302 1");
    let e = env
        .client
        .download(&obj.url, &[], 0, &mut Vec::new(), None)
        .unwrap_err();
    assert_eq!((e.kind(), e.http_status()), (ErrorKind::Http, 302), "{e}");
    assert!(e.message().contains("never followed"), "{e}");
}

#[test]
fn a_silent_server_times_out_and_keeps_the_part() {
    let env = env_with(iothttp_emulator::Options::default(), |c| {
        c.set_timeouts(Duration::from_secs(2), Duration::from_millis(700))
            .unwrap();
    });
    let obj = object(&env, "slow.bin", 1 << 20, 11);
    let dir = Dir::new("slow");
    let path = dir.path("slow.bin");
    env.control("trickle download any 2000 1");
    let started = std::time::Instant::now();
    let mut stop = cancel_at(3000);
    let e = env
        .client
        .download_file(&obj.url, &path, &obj.expected(), Some(&mut stop))
        .unwrap_err();
    // Either the callback's cancel or the read timeout ends it, promptly.
    assert!(
        matches!(e.kind(), ErrorKind::Cancelled | ErrorKind::Timeout),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    env.control("hang download any 1");
    let started = std::time::Instant::now();
    let e = env
        .client
        .download_file(&obj.url, &path, &obj.expected(), None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(started.elapsed() < Duration::from_secs(4));
    // The next call finishes the job.
    let done: Downloaded = env
        .client
        .download_file(&obj.url, &path, &obj.expected(), None)
        .unwrap();
    assert_eq!(done.total, Some(1 << 20));
    assert_done(&path, &obj.bytes);
}

#[test]
fn files_of_a_served_folder_over_https_and_plain_http() {
    let env = env_with(
        iothttp_emulator::Options {
            plain_http: true,
            ..iothttp_emulator::Options::default()
        },
        |c| {
            c.allow_plain_http(true);
        },
    );
    let served = Dir::new("served");
    let image = content(12, 800_000);
    fs::create_dir_all(served.path("fw")).unwrap();
    fs::write(served.path("fw/image v2.bin"), &image).unwrap();
    env.control(&format!("serve-dir {}", served.0.display()));
    let url = env.emu.files_url("fw/image v2.bin");
    let dir = Dir::new("files");
    let path = dir.path("image.bin");
    let expected = Expected::new()
        .size(800_000)
        .md5_hex(&hex(&md5::Md5::digest(&image)))
        .unwrap();
    let mut stop = cancel_at(200_000);
    env.client
        .download_file(&url, &path, &expected, Some(&mut stop))
        .unwrap_err();
    // The file is replaced on the server before the resume: a new ETag (size and mtime),
    // so the .part starts over and the new file arrives whole.
    std::thread::sleep(Duration::from_millis(20));
    let image2 = content(13, 800_000);
    fs::write(served.path("fw/image v2.bin"), &image2).unwrap();
    let expected2 = Expected::new()
        .size(800_000)
        .sha256_hex(&hex(&sha2::Sha256::digest(&image2)))
        .unwrap();
    env.client
        .download_file(&url, &path, &expected2, None)
        .unwrap();
    assert_done(&path, &image2);
    // Plain http when allowed, with a drop before the reply retried.
    env.control("drop download any before-reply 1");
    let mut got = Vec::new();
    env.client
        .download(
            &env.emu.plain_files_url("fw/image v2.bin").unwrap(),
            &[],
            0,
            &mut got,
            None,
        )
        .unwrap();
    assert!(got == image2);
}
