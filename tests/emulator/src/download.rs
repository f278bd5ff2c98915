//! Downloads: `GET|HEAD /dl/<name>` serves a `dl-object` (pseudo-random bytes made from a
//! seed on demand: any range at any offset, nothing stored), `GET|HEAD /files/<path>` a file
//! under the `serve-dir` directory (streamed from disk). Both with a strong `ETag`, a
//! `Last-Modified` and one byte range at a time by RFC 9110 §14 (`Range`, `If-Range`, 206,
//! 416), bodies made a 64 KiB piece at a time. The `download` fault rules are taken here
//! (see [`faults::take_download`]).

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use crate::clock;
use crate::faults::{self, DlFaults, DlRequest};
use crate::http::{Content, Delivery, Request, Response};
use crate::routes::{self, percent_decode};
use crate::sign::{json_str, Digests};
use crate::state::{DlObject, DlRecord, DlStats, Injected, Shared, Subject};

/// Largest `dl-object` (64 GiB).
pub const MAX_DL_SIZE: u64 = 64 << 30;

/// `dl-object` answers the digests of objects up to this size (16 MiB), computed at once;
/// `dl-info` computes them for any size (once, then cached).
pub const DIGESTS_AT_ONCE: u64 = 16 << 20;

/// Longest `dl-object` name.
const MAX_NAME: usize = 128;

/// Bytes made or hashed at a time.
const PIECE: usize = 64 * 1024;

/// splitmix64's increment.
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// Word `index` of the content of `seed`: splitmix64's output for the state
/// `seed + (index + 1) · GAMMA`.
fn word(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(GAMMA));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The content of a `dl-object` made from `seed`: fills `buf` with its bytes from `offset`
/// on, without making the bytes before them.
///
/// Byte `o` is byte `o % 8` (little-endian) of word `o / 8` of the splitmix64 stream seeded
/// with `seed`: word `i` is splitmix64's output for the state
/// `seed + (i + 1) · 0x9e3779b97f4a7c15`. A `change` fault moves an object to the content
/// of `seed + 1` (wrapping).
pub fn dl_content(seed: u64, offset: u64, buf: &mut [u8]) {
    let skip = (offset % 8) as usize;
    let head_len = if skip == 0 {
        0
    } else {
        (8 - skip).min(buf.len())
    };
    let (head, body) = buf.split_at_mut(head_len);
    let mut index = offset / 8;
    if !head.is_empty() {
        head.copy_from_slice(&word(seed, index).to_le_bytes()[skip..skip + head_len]);
        index = index.wrapping_add(1);
    }
    let mut words = body.chunks_exact_mut(8);
    for chunk in &mut words {
        chunk.copy_from_slice(&word(seed, index).to_le_bytes());
        index = index.wrapping_add(1);
    }
    let tail = words.into_remainder();
    let n = tail.len();
    if n > 0 {
        tail.copy_from_slice(&word(seed, index).to_le_bytes()[..n]);
    }
}

/// MD5 and SHA-256 (lowercase hex) of the first `size` bytes of the content of `seed`
/// ([`dl_content`]), made and hashed a 64 KiB piece at a time.
pub fn dl_digests(seed: u64, size: u64) -> (String, String) {
    let mut digests = Digests::default();
    let mut buf = vec![0u8; PIECE];
    let mut offset = 0u64;
    while offset < size {
        let n = usize::try_from(size - offset).map_or(PIECE, |left| left.min(PIECE));
        dl_content(seed, offset, &mut buf[..n]);
        digests.update(&buf[..n]);
        offset += n as u64;
    }
    let values = digests.finish();
    (values.md5, values.sha256)
}

/// True for a `dl-object` name: 1 to 128 of `A-Za-z0-9._~-`, not `.`, `..` or `any`.
pub fn valid_name(name: &str) -> bool {
    name.len() <= MAX_NAME
        && !matches!(name, "" | "." | ".." | "any")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
}

/// What `Range` (and `If-Range`) select of an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// The whole object (200): no Range, one that is ignored, or a failed If-Range.
    Full,
    /// Bytes `first..=last` (206).
    Part(u64, u64),
    /// A well-formed range that selects nothing of the object (416).
    Unsatisfiable,
}

/// A byte position: decimal digits (a number too large for u64 is u64::MAX).
fn position(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse().unwrap_or(u64::MAX))
}

/// Parses a `Range` value for an object of `size` bytes (RFC 9110 §14.1.2): one
/// `bytes=first-[last]` or `bytes=-suffix`. None when it is to be ignored (200): malformed,
/// another unit, `last` before `first`, or several ranges. Unsatisfiable: `first` at or
/// past the end, a suffix of 0, or any range of an empty object.
pub fn parse_range(value: &str, size: u64) -> Option<Selection> {
    let (unit, set) = value.split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let spec = set.trim_matches([' ', '\t']);
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let end = size.saturating_sub(1);
    let selection = match (position(first), position(last)) {
        (None, Some(suffix)) if first.is_empty() => {
            if suffix == 0 || size == 0 {
                Selection::Unsatisfiable
            } else {
                Selection::Part(size - suffix.min(size), end)
            }
        }
        (Some(first), None) if last.is_empty() => {
            if first >= size {
                Selection::Unsatisfiable
            } else {
                Selection::Part(first, end)
            }
        }
        (Some(first), Some(last)) => {
            if last < first {
                return None;
            }
            if first >= size {
                Selection::Unsatisfiable
            } else {
                Selection::Part(first, last.min(end))
            }
        }
        _ => return None,
    };
    Some(selection)
}

/// RFC 9110 §13.1.5: an entity tag matches by strong comparison (a weak one never does),
/// a date when it is exactly the `Last-Modified` value.
fn validator_matches(value: &str, etag: &str, last_modified: &str) -> bool {
    if value.starts_with('"') || value.starts_with("W/") {
        value == etag
    } else {
        value == last_modified
    }
}

/// What a GET's `Range` and `If-Range` select (RFC 9110 §14.2): the one range of a single
/// `Range` field when `If-Range` is absent or matches; the whole object otherwise.
fn select(req: &Request, size: u64, etag: &str, last_modified: &str) -> Selection {
    let mut ranges = req.header_values("range");
    let (Some(range), None) = (ranges.next(), ranges.next()) else {
        return Selection::Full;
    };
    let Some(selection) = parse_range(range, size) else {
        return Selection::Full;
    };
    let mut if_range = req.header_values("if-range");
    match (if_range.next(), if_range.next()) {
        (None, _) => selection,
        (Some(value), None) if validator_matches(value, etag, last_modified) => selection,
        _ => Selection::Full,
    }
}

/// Where a download's bytes come from.
#[derive(Debug)]
enum Source {
    /// [`dl_content`] of this seed.
    Seed(u64),
    File(File),
}

/// The body of one answer: `len` bytes of the object from `start`, the byte at the
/// absolute offset `corrupt` flipped (XOR 0xff); what is made is added to `sent`.
#[derive(Debug)]
struct Served {
    source: Source,
    start: u64,
    len: u64,
    corrupt: Option<u64>,
    sent: Arc<AtomicU64>,
}

impl Content for Served {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let at = self.start + offset;
        match &self.source {
            Source::Seed(seed) => dl_content(*seed, at, buf),
            Source::File(file) => {
                let mut file = file;
                file.seek(SeekFrom::Start(at))?;
                file.read_exact(buf)?;
            }
        }
        if let Some(i) = self.corrupt.and_then(|c| c.checked_sub(at)) {
            if let Some(byte) = usize::try_from(i).ok().and_then(|i| buf.get_mut(i)) {
                *byte ^= 0xff;
            }
        }
        self.sent.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// A download as one request sees it.
struct Object {
    /// The subject and statistics name: `<name>` or `files/<path>`.
    name: String,
    size: u64,
    etag: String,
    last_modified: String,
    source: Source,
}

fn no_such(what: &str) -> Response {
    Response::error(404, &format!("no such {what}"))
}

/// 405 unless GET or HEAD.
fn refuse_method(req: &Request) -> Option<Response> {
    (req.method != "GET" && req.method != "HEAD").then(|| routes::method_not_allowed("GET, HEAD"))
}

/// `GET|HEAD /dl/<name>` (`rest` is `/<name>`).
pub fn object(shared: &Shared, req: &Request, rest: &str) -> Response {
    if let Some(resp) = refuse_method(req) {
        return resp;
    }
    let Some(name) = rest.strip_prefix('/').and_then(percent_decode) else {
        return no_such("download");
    };
    let Some(o) = shared.lock().downloads.get(&name).cloned() else {
        return no_such("download");
    };
    let object = Object {
        name,
        size: o.size,
        etag: o.etag(),
        last_modified: clock::imf_fixdate(o.modified_secs),
        source: Source::Seed(o.seed),
    };
    serve(shared, req, object)
}

/// True for a relative path of plain segments: none empty, `.` or `..`, no backslash or
/// NUL.
fn plain_relative(rel: &str) -> bool {
    !rel.is_empty()
        && rel
            .split('/')
            .all(|seg| !matches!(seg, "" | "." | "..") && !seg.contains(['\\', '\0']))
}

/// Opens the regular file `rel` under `dir` (canonical); a path that resolves (through a
/// symbolic link) outside `dir` is refused. Returns the file, its size and its mtime
/// (seconds, nanoseconds since the epoch).
fn open_under(dir: &Path, rel: &str) -> Option<(File, u64, (i64, u32))> {
    let path = fs::canonicalize(dir.join(rel)).ok()?;
    if !path.starts_with(dir) {
        return None;
    }
    let file = File::open(&path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or((0, 0), |d| {
            (
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                d.subsec_nanos(),
            )
        });
    Some((file, meta.len(), mtime))
}

/// `GET|HEAD /files/<path>` (`rest` is `/<path>`): the file under the `serve-dir`
/// directory; 404 for a missing one, a directory, or a path with dot segments.
pub fn file(shared: &Shared, req: &Request, rest: &str) -> Response {
    if let Some(resp) = refuse_method(req) {
        return resp;
    }
    let Some(dir) = shared.lock().serve_dir.clone() else {
        return no_such("file");
    };
    let Some(rel) = rest
        .strip_prefix('/')
        .and_then(percent_decode)
        .filter(|rel| plain_relative(rel))
    else {
        return no_such("file");
    };
    let Some((file, size, (secs, nanos))) = open_under(&dir, &rel) else {
        return no_such("file");
    };
    let object = Object {
        name: format!("files/{rel}"),
        size,
        etag: format!("\"f-{size:x}-{secs:x}-{nanos:x}\""),
        last_modified: clock::imf_fixdate(secs),
        source: Source::File(file),
    };
    serve(shared, req, object)
}

/// The answer of the object itself (no `fail` or silence), shaped by the faults taken.
fn answer(
    object: Object,
    selection: Selection,
    faults: &DlFaults,
    sent: Arc<AtomicU64>,
) -> Response {
    let size = object.size;
    let selection = if faults.ignore_range {
        Selection::Full
    } else {
        selection
    };
    let (resp, start, len) = match selection {
        Selection::Unsatisfiable => {
            let resp = Response::error(416, "range not satisfiable")
                .with_header("Content-Range", format!("bytes */{size}"));
            return with_validators(resp, &object);
        }
        Selection::Full => (octets(200), 0, size),
        Selection::Part(first, last) => (
            octets(206).with_header("Content-Range", format!("bytes {first}-{last}/{size}")),
            first,
            last - first + 1,
        ),
    };
    let mut resp = with_validators(resp, &object);
    resp.content = Some(Box::new(Served {
        source: object.source,
        start,
        len,
        corrupt: faults.corrupt,
        sent,
    }));
    for (taken, name) in [
        (faults.ignore_range, "ignore-range"),
        (faults.change, "change"),
        (faults.corrupt.is_some(), "corrupt"),
    ] {
        if taken {
            resp.plan_mut().name = name;
        }
    }
    if let Some(delta) = faults.lie_length {
        let plan = resp.plan_mut();
        plan.name = "lie-length";
        plan.length = Some(len.saturating_add_signed(delta));
        // More declared than sent: the connection ends after the real bytes.
        if delta > 0 {
            plan.delivery = Delivery::ThenReset;
            resp.close = true;
        }
    }
    if let Some(after) = faults.cut {
        let plan = resp.plan_mut();
        plan.name = "cut";
        plan.delivery = Delivery::Partial(after);
    }
    resp
}

/// A 200 or 206 of `application/octet-stream` (its body added by the caller).
fn octets(status: u16) -> Response {
    Response {
        content_type: Some("application/octet-stream"),
        ..Response::json(status, String::new())
    }
}

fn with_validators(resp: Response, object: &Object) -> Response {
    resp.with_header("ETag", object.etag.clone())
        .with_header("Last-Modified", object.last_modified.clone())
        .with_header("Accept-Ranges", "bytes".to_string())
}

/// Serves one request for `object`: selects the range, takes the fault rules, answers,
/// applies a `change` and counts.
fn serve(shared: &Shared, req: &Request, object: Object) -> Response {
    let get = req.method == "GET";
    let selection = if get {
        select(req, object.size, &object.etag, &object.last_modified)
    } else {
        Selection::Full
    };
    let part = match selection {
        Selection::Part(first, last) => Some((first, last)),
        _ => None,
    };
    let seed = match object.source {
        Source::Seed(seed) => Some(seed),
        Source::File(_) => None,
    };
    let name = object.name.clone();
    let subject = Subject::Object(name.clone());
    let mut faults = faults::take_download(
        shared,
        &subject,
        DlRequest {
            body: get && selection != Selection::Unsatisfiable,
            part,
            size: object.size,
            changeable: seed.is_some(),
        },
    );
    let faulted = faults.any();
    let sent = Arc::clone(
        &shared
            .lock()
            .dl_stats
            .entry(name.clone())
            .or_default()
            .bytes_sent,
    );
    let resp = match (faults.fail, faults.silent.take()) {
        (Some(Injected::Http(status)), _) => routes::http_fault(status),
        (Some(_), _) => routes::http_fault(500),
        (None, Some(silent)) => silent,
        (None, None) => answer(object, selection, &faults, sent),
    };
    let mut state = shared.lock();
    if faults.change {
        let now = shared.now_secs();
        if let Some(o) = state.downloads.get_mut(&name) {
            if Some(o.seed) == seed {
                o.change(now);
            }
        }
    }
    count(state.dl_stats.entry(name).or_default(), req, &resp, faulted);
    resp
}

/// Counts one answered (or dropped) request.
fn count(stats: &mut DlStats, req: &Request, resp: &Response, faulted: bool) {
    stats.requests += 1;
    if req.method == "HEAD" {
        stats.heads += 1;
    }
    let status = (!resp.abort).then_some(resp.status);
    match status {
        Some(200) => stats.full += 1,
        Some(206) => stats.ranged += 1,
        Some(416) => stats.unsatisfiable += 1,
        _ => {}
    }
    if faulted {
        stats.faults += 1;
    }
    let joined = |name| {
        let values: Vec<&str> = req.header_values(name).collect();
        (!values.is_empty()).then(|| values.join(", "))
    };
    stats.record(DlRecord {
        method: req.method.clone(),
        range: joined("range"),
        if_range: joined("if-range"),
        status,
    });
}

/// `{"name":…,"size":…,"seed":…,"changes":…,"etag":…,"last_modified":…,"md5":…,"sha256":…}`
/// (digests null when not computed).
fn object_json(name: &str, o: &DlObject) -> String {
    let (md5, sha256) = match &o.digests {
        Some((md5, sha256)) => (json_str(md5), json_str(sha256)),
        None => ("null".to_string(), "null".to_string()),
    };
    format!(
        "{{\"name\":{},\"size\":{},\"seed\":{},\"changes\":{},\"etag\":{},\
         \"last_modified\":{},\"md5\":{md5},\"sha256\":{sha256}}}",
        json_str(name),
        o.size,
        o.seed,
        o.changes,
        json_str(&o.etag()),
        json_str(&clock::imf_fixdate(o.modified_secs))
    )
}

/// `dl-object <name> <size> <seed>`: defines (or replaces, with fresh statistics and a
/// later Last-Modified) an object; its digests are computed at once up to
/// [`DIGESTS_AT_ONCE`].
pub fn define(shared: &Shared, name: &str, size: u64, seed: u64) -> Result<String, String> {
    if !valid_name(name) {
        return Err(format!(
            "invalid name '{name}' (1 to {MAX_NAME} of A-Za-z0-9._~-, not . .. any)"
        ));
    }
    if size > MAX_DL_SIZE {
        return Err(format!("size must be at most {MAX_DL_SIZE}"));
    }
    let digests = (size <= DIGESTS_AT_ONCE).then(|| dl_digests(seed, size));
    let now = shared.now_secs();
    let mut state = shared.lock();
    let modified_secs = match state.downloads.get(name) {
        Some(old) => now.max(old.modified_secs.saturating_add(1)),
        None => now,
    };
    let object = DlObject {
        seed,
        size,
        modified_secs,
        changes: 0,
        digests,
    };
    let json = object_json(name, &object);
    state.define_download(name, object);
    Ok(json)
}

/// `dl-info <name>`: the object with its digests (computed outside the state lock on first
/// use, then cached until the object changes).
pub fn info(shared: &Shared, name: &str) -> Result<String, String> {
    let mut o = shared
        .lock()
        .downloads
        .get(name)
        .cloned()
        .ok_or("no such download")?;
    if o.digests.is_none() {
        let digests = dl_digests(o.seed, o.size);
        if let Some(cur) = shared.lock().downloads.get_mut(name) {
            if (cur.seed, cur.size) == (o.seed, o.size) {
                cur.digests = Some(digests.clone());
            }
        }
        o.digests = Some(digests);
    }
    Ok(object_json(name, &o))
}

/// `dl-stats <name>` (a `dl-object` name or `files/<path>`).
pub fn stats(shared: &Shared, name: &str) -> Result<String, String> {
    let state = shared.lock();
    let object = state.downloads.get(name);
    let empty = DlStats::default();
    let s = match state.dl_stats.get(name) {
        Some(s) => s,
        None if object.is_some() => &empty,
        None => return Err("no such download".into()),
    };
    let opt = |v: &Option<String>| v.as_deref().map_or_else(|| "null".to_string(), json_str);
    let recent = s
        .recent
        .iter()
        .map(|r| {
            format!(
                "{{\"method\":{},\"range\":{},\"if_range\":{},\"status\":{}}}",
                json_str(&r.method),
                opt(&r.range),
                opt(&r.if_range),
                r.status
                    .map_or_else(|| "null".to_string(), |s| s.to_string())
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    let (seed, changes, etag) = match object {
        Some(o) => (
            o.seed.to_string(),
            o.changes.to_string(),
            json_str(&o.etag()),
        ),
        None => ("null".into(), "null".into(), "null".into()),
    };
    Ok(format!(
        "{{\"name\":{},\"requests\":{},\"heads\":{},\"full\":{},\"ranged\":{},\
         \"unsatisfiable\":{},\"faults\":{},\"bytes_sent\":{},\"seed\":{seed},\
         \"changes\":{changes},\"etag\":{etag},\"recent\":[{recent}]}}",
        json_str(name),
        s.requests,
        s.heads,
        s.full,
        s.ranged,
        s.unsatisfiable,
        s.faults,
        s.bytes_sent.load(Ordering::Relaxed)
    ))
}

/// `serve-dir <dir>`: serves the files under `dir` as `/files/...`.
pub fn serve_dir(shared: &Shared, dir: &str) -> Result<String, String> {
    let canonical: PathBuf =
        fs::canonicalize(dir).map_err(|e| format!("cannot serve '{dir}': {e}"))?;
    if !canonical.is_dir() {
        return Err(format!("'{dir}' is not a directory"));
    }
    let text = format!("serving {}", canonical.display());
    shared.lock().serve_dir = Some(canonical);
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_has_random_access() {
        let mut whole = vec![0u8; 1000];
        dl_content(7, 0, &mut whole);
        for (offset, len) in [
            (0, 1),
            (1, 7),
            (3, 20),
            (8, 8),
            (13, 0),
            (500, 499),
            (999, 1),
        ] {
            let mut part = vec![0u8; len];
            dl_content(7, offset as u64, &mut part);
            assert_eq!(part, whole[offset..offset + len], "{offset}+{len}");
        }
        // splitmix64 seeded with 0: its first output.
        let mut first = [0u8; 8];
        dl_content(0, 0, &mut first);
        assert_eq!(u64::from_le_bytes(first), 0xe220_a839_7b1d_cdaf);
        let mut other = vec![0u8; 1000];
        dl_content(8, 0, &mut other);
        assert!(whole.iter().zip(&other).filter(|(a, b)| a == b).count() < 20);
        // Far offsets (up to the 64 GiB limit) need nothing before them.
        let mut far = [0u8; 16];
        dl_content(7, MAX_DL_SIZE - 16, &mut far);
        assert_ne!(far, [0u8; 16]);
    }

    #[test]
    fn digests_stream() {
        let mut data = vec![0u8; 200_000];
        dl_content(3, 0, &mut data);
        let mut d = Digests::default();
        d.update(&data);
        let v = d.finish();
        assert_eq!(dl_digests(3, 200_000), (v.md5, v.sha256));
        assert_eq!(
            dl_digests(3, 0).0,
            "d41d8cd98f00b204e9800998ecf8427e",
            "MD5 of nothing"
        );
    }

    #[test]
    fn ranges() {
        use Selection::{Part, Unsatisfiable};
        let r = |v: &str| parse_range(v, 1000);
        assert_eq!(r("bytes=100-"), Some(Part(100, 999)));
        assert_eq!(r("bytes=100-199"), Some(Part(100, 199)));
        assert_eq!(r("bytes=0-0"), Some(Part(0, 0)));
        assert_eq!(r("bytes=990-5000"), Some(Part(990, 999)));
        assert_eq!(r("bytes=-100"), Some(Part(900, 999)));
        assert_eq!(r("bytes=-5000"), Some(Part(0, 999)));
        assert_eq!(r("Bytes=1-2"), Some(Part(1, 2)));
        assert_eq!(r("bytes= 1-2 "), Some(Part(1, 2)));
        assert_eq!(r("bytes=1000-"), Some(Unsatisfiable));
        assert_eq!(r("bytes=1000-1001"), Some(Unsatisfiable));
        assert_eq!(r("bytes=99999999999999999999999-"), Some(Unsatisfiable));
        assert_eq!(r("bytes=-0"), Some(Unsatisfiable));
        assert_eq!(parse_range("bytes=0-", 0), Some(Unsatisfiable));
        assert_eq!(parse_range("bytes=-1", 0), Some(Unsatisfiable));
        for ignored in [
            "bytes=5-3",
            "bytes=0-1,5-6",
            "bytes=0-1,",
            "items=0-1",
            "bytes=abc",
            "bytes=-",
            "bytes=--1",
            "bytes=1-+2",
            "bytes 0-1",
            "bytes=0x1-",
        ] {
            assert_eq!(r(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn validators_and_names() {
        let (etag, date) = ("\"dl-1\"", "Sun, 06 Nov 1994 08:49:37 GMT");
        assert!(validator_matches("\"dl-1\"", etag, date));
        assert!(!validator_matches("W/\"dl-1\"", etag, date));
        assert!(!validator_matches("\"dl-2\"", etag, date));
        assert!(validator_matches(date, etag, date));
        assert!(!validator_matches(
            "Sun, 06 Nov 1994 08:49:38 GMT",
            etag,
            date
        ));
        for ok in ["fw", "fw-1.2_b~", &"a".repeat(MAX_NAME)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "any",
            "a/b",
            "a b",
            "é",
            &"a".repeat(MAX_NAME + 1),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(plain_relative("a/b.bin"));
        for bad in ["", "/a", "a//b", "a/", "../a", "a/../b", "./a", "a\\b"] {
            assert!(!plain_relative(bad), "{bad}");
        }
    }
}
