//! Downloads: a URL's body streamed to a sink in fixed steps, resumed with `Range` and
//! `If-Range` after a cut, and (for files) written to `<path>.part`, checked against the
//! expected size and digests over the whole file, flushed and renamed onto `<path>`.
//!
//! One engine ([`Job`]) serves both calls: [`Client::download`] hands the bytes to any
//! [`Sink`] (which cannot take bytes back, so a changed object is an error once bytes went
//! out), [`Client::download_file`] to a `.part` file (which can start over).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::log::log;
use crate::net::transport::{loggable_url, Http, Streaming};
use crate::transfer::source::{parse_hex, Progress};
use crate::transfer::upload::{is_upload_retryable, xml_error};

/// Bytes moved from the socket to the sink per step (the only buffer of a download).
const STEP: usize = 64 * 1024;
/// Most bytes of an error reply read for its message.
const MAX_ERROR_BODY: usize = 16 * 1024;
/// The first line of a `.part.meta` file.
const META_MAGIC: &str = "iothttp-part 1";

/// Where a download's bytes go, in order, each exactly once.
pub trait Sink {
    /// Take the next bytes of the body. An error stops the download with
    /// [`ErrorKind::Write`].
    fn accept(&mut self, bytes: &[u8]) -> io::Result<()>;
}

impl<W: Write + ?Sized> Sink for W {
    fn accept(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_all(bytes)
    }
}

/// What a download found out about the object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Downloaded {
    /// Size of the whole object, when the server said (Content-Length or Content-Range).
    pub total: Option<u64>,
    /// Bytes this call wrote to the sink (for a file: the whole file when it started over).
    pub received: u64,
    /// The object's `ETag`, when it had one.
    pub etag: Option<String>,
    /// The object's `Last-Modified`, when it had one.
    pub last_modified: Option<String>,
}

/// What a downloaded file must match before it replaces the old one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expected {
    /// Exact size in bytes; a server sending more is cut off.
    pub size: Option<u64>,
    /// MD5 of the whole file.
    pub md5: Option<[u8; 16]>,
    /// SHA-256 of the whole file.
    pub sha256: Option<[u8; 32]>,
}

impl Expected {
    /// Nothing expected: any size, no digest.
    pub fn new() -> Expected {
        Expected::default()
    }

    /// Expect exactly `size` bytes.
    pub fn size(mut self, size: u64) -> Expected {
        self.size = Some(size);
        self
    }

    /// Expect this MD5 (32 hex digits, either case).
    pub fn md5_hex(mut self, hex: &str) -> Result<Expected> {
        self.md5 = Some(parse_hex::<16>(hex, "the expected MD5")?);
        Ok(self)
    }

    /// Expect this SHA-256 (64 hex digits, either case).
    pub fn sha256_hex(mut self, hex: &str) -> Result<Expected> {
        self.sha256 = Some(parse_hex::<32>(hex, "the expected SHA-256")?);
        Ok(self)
    }
}

/// Headers a caller may not set on a download: the library owns ranges and framing.
fn check_headers(headers: &[(&str, &str)]) -> Result<()> {
    for (name, _) in headers {
        match name.to_ascii_lowercase().as_str() {
            "range" => {
                return Err(Error::invalid(format!(
                    "header '{name}' is managed by the library (ask for the rest of an object \
                     with the offset)"
                )))
            }
            "content-length" | "transfer-encoding" | "connection" | "expect" | "upgrade" => {
                return Err(Error::invalid(format!(
                    "header '{name}' is managed by the library and cannot be set"
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// `bytes a-b/total` (total may be `*`) or `bytes */total`.
#[derive(Debug, PartialEq, Eq)]
enum ContentRange {
    Range {
        first: u64,
        last: u64,
        total: Option<u64>,
    },
    Unsatisfied {
        total: u64,
    },
}

fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse::<u64>().ok()?),
    };
    if range.trim() == "*" {
        return Some(ContentRange::Unsatisfied { total: total? });
    }
    let (first, last) = range.trim().split_once('-')?;
    let (first, last) = (first.parse::<u64>().ok()?, last.parse::<u64>().ok()?);
    if last < first || total.is_some_and(|t| last >= t) {
        return None;
    }
    Some(ContentRange::Range { first, last, total })
}

/// The validator for `If-Range`: a strong ETag, else Last-Modified (RFC 9110 §13.1.5: never
/// a weak ETag).
fn validator(etag: Option<&str>, last_modified: Option<&str>) -> Option<String> {
    match etag {
        Some(e) if !e.starts_with("W/") && !e.is_empty() => Some(e.to_string()),
        _ => last_modified.filter(|d| !d.is_empty()).map(str::to_string),
    }
}

/// Where the engine puts the bytes.
trait Target {
    /// The next bytes, at the current end.
    fn write(&mut self, bytes: &[u8]) -> Result<()>;
    /// Throw away everything written (the object comes again from byte 0); false when the
    /// bytes cannot be taken back.
    fn restart(&mut self) -> Result<bool>;
    /// A reply started the object from byte 0 with this validator and size.
    fn started(&mut self, _validator: Option<&str>, _total: Option<u64>) -> Result<()> {
        Ok(())
    }
}

struct SinkTarget<'a> {
    sink: &'a mut dyn Sink,
}

impl Target for SinkTarget<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.sink.accept(bytes).map_err(|e| {
            Error::new(
                ErrorKind::Write,
                format!("the download's sink refused {} bytes: {e}", bytes.len()),
            )
        })
    }

    fn restart(&mut self) -> Result<bool> {
        Ok(false)
    }
}

/// How one request ended.
enum Step {
    /// The object is complete.
    Done,
    /// The server sent less than the rest (a shorter range, or the object again from 0
    /// after a restart): ask again from the new position, not a failure.
    More,
}

/// One download in progress: where it is, what the object is.
struct Job<'a, 'p> {
    http: &'a Http,
    url: &'a str,
    headers: &'a [(&'a str, &'a str)],
    what: String,
    /// The first byte this call was asked for (the caller's offset, or the `.part` length).
    first: u64,
    /// The next byte the target gets.
    pos: u64,
    total: Option<u64>,
    etag: Option<String>,
    last_modified: Option<String>,
    /// Sent as `If-Range` when asking for the rest.
    validator: Option<String>,
    /// Most bytes the object may have (the expected size).
    limit: Option<u64>,
    progress: Option<Progress<'p>>,
    /// Bytes given to the target by this call.
    written: u64,
    buf: Vec<u8>,
}

impl<'a> Job<'a, '_> {
    fn new(http: &'a Http, url: &'a str, headers: &'a [(&'a str, &'a str)], first: u64) -> Self {
        Job {
            http,
            url,
            headers,
            what: format!("download {}", loggable_url(url)),
            first,
            pos: first,
            total: None,
            etag: None,
            last_modified: None,
            validator: None,
            limit: None,
            progress: None,
            written: 0,
            buf: Vec::new(),
        }
    }

    /// Request until the object is complete, resuming from the current position after a
    /// cut within the retry budget.
    fn run(&mut self, target: &mut dyn Target) -> Result<()> {
        let max = self.http.max_attempts();
        let mut attempt = 1;
        // Requests that made progress without finishing (a server sending short ranges)
        // do not use the budget, but they are bounded.
        let mut more = 0u32;
        loop {
            let before = self.pos;
            match self.request(target) {
                Ok(Step::Done) => return Ok(()),
                Ok(Step::More) if more < 64 && self.pos != before => more += 1,
                Ok(Step::More) => {
                    return Err(Error::new(
                        ErrorKind::BadResponse,
                        format!(
                            "{}: the server keeps sending partial replies (at byte {})",
                            self.what, self.pos
                        ),
                    ))
                }
                Err(e) if is_upload_retryable(e.kind()) && attempt < max => {
                    let delay = self.http.backoff(attempt);
                    log!(
                        self.http.logger,
                        Warn,
                        "{}: {} (attempt {attempt}/{max}); resuming from byte {} in {} ms",
                        self.what,
                        e.message(),
                        self.pos,
                        delay.as_millis()
                    );
                    std::thread::sleep(delay);
                    attempt += 1;
                }
                Err(e) if is_upload_retryable(e.kind()) && max > 1 => return Err(e.gave_up(max)),
                Err(e) => return Err(e),
            }
        }
    }

    /// One request: from the current position (a range with `If-Range` when past 0).
    fn request(&mut self, target: &mut dyn Target) -> Result<Step> {
        let range = format!("bytes={}-", self.pos);
        let mut headers = self.headers.to_vec();
        if self.pos > 0 {
            headers.push(("Range", &range));
            if let Some(v) = &self.validator {
                headers.push(("If-Range", v));
            }
        }
        let mut resp = self.http.get_streaming(self.url, &headers)?;
        let mut skip = 0;
        // Where this reply's bytes end in the object, when it says.
        let end = match resp.status {
            206 => Some(self.partial(&resp)?),
            200 => {
                skip = self.whole(&resp, target)?;
                resp.content_length
            }
            416 => return self.unsatisfied(&resp, target),
            _ => return Err(self.failure(&mut resp)),
        };
        self.stream(&mut resp, target, skip, end)?;
        if let Some(end) = end {
            if self.pos < end {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "{}: the connection closed at byte {} of {end}",
                        self.what, self.pos
                    ),
                ));
            }
        }
        match self.total {
            // A shorter range than asked for: the rest is asked for again.
            Some(total) if self.pos < total => Ok(Step::More),
            _ => Ok(Step::Done),
        }
    }

    /// A 206: the rest from the position asked for, of the same object. Returns where the
    /// reply's bytes end in the object.
    fn partial(&mut self, resp: &Streaming) -> Result<u64> {
        let asked = self.pos;
        let bad = |why: String| {
            Error::new(ErrorKind::BadResponse, format!("{}: {why}", self.what))
                .with_http_status(206)
        };
        if asked == 0 {
            return Err(bad("HTTP 206 to a request without a range".into()));
        }
        let range = resp.content_range.as_deref().unwrap_or("");
        let (first, last, total) = match parse_content_range(range) {
            Some(ContentRange::Range { first, last, total }) => (first, last, total),
            _ => {
                return Err(bad(format!(
                "HTTP 206 with Content-Range '{range}', not the range asked for (bytes={asked}-)"
            )))
            }
        };
        if first != asked {
            return Err(bad(format!(
                "asked for bytes from {asked} and got Content-Range '{range}'"
            )));
        }
        if let (Some(old), Some(new)) = (self.etag.as_deref(), resp.etag.as_deref()) {
            if old != new {
                return Err(bad(format!(
                    "the object changed (ETag {old}, now {new}) yet the server sent a part of it"
                )));
            }
        }
        if let (Some(old), Some(new)) = (self.total, total) {
            if old != new {
                return Err(bad(format!(
                    "the object was {old} bytes and the server now says {new}"
                )));
            }
        }
        self.set_total(total)?;
        if self.etag.is_none() {
            self.etag = resp.etag.clone();
        }
        if self.last_modified.is_none() {
            self.last_modified = resp.last_modified.clone();
        }
        Ok(last + 1)
    }

    /// A 200: the whole object. From 0 that is the plain case; asked for a range, it means
    /// the server ignores ranges or the object changed. Returns how many bytes of the body
    /// the target already has (to skip).
    fn whole(&mut self, resp: &Streaming, target: &mut dyn Target) -> Result<u64> {
        let same = match (&self.etag, &resp.etag) {
            (Some(a), Some(b)) => a == b,
            (None, None) => {
                self.last_modified.is_some() && self.last_modified == resp.last_modified
            }
            _ => false,
        };
        let mut skip = 0;
        if self.pos > 0 {
            if target.restart()? {
                log!(
                    self.http.logger,
                    Info,
                    "{}: asked for bytes from {} and the server sent the whole object (HTTP 200, \
                     {}): starting over",
                    self.what,
                    self.pos,
                    if same {
                        "it ignores ranges"
                    } else {
                        "the object changed"
                    }
                );
                self.pos = 0;
                self.total = None;
            } else if self.first == 0 && same {
                // Everything the sink has came from this call, of this very object: read
                // past it.
                skip = self.pos;
            } else {
                return Err(Error::new(
                    ErrorKind::Http,
                    format!(
                        "{}: asked for bytes from {} and the server sent the whole object (HTTP \
                         200: {}); nothing more was written",
                        self.what,
                        self.pos,
                        if same {
                            "it ignores ranges"
                        } else {
                            "the object changed"
                        }
                    ),
                )
                .with_http_status(200));
            }
        }
        if skip == 0 {
            self.etag = resp.etag.clone();
            self.last_modified = resp.last_modified.clone();
            self.validator = validator(self.etag.as_deref(), self.last_modified.as_deref());
        }
        if let (Some(old), Some(new)) = (self.total, resp.content_length) {
            if old != new {
                return Err(Error::new(
                    ErrorKind::BadResponse,
                    format!("{}: the object was {old} bytes and is now {new}", self.what),
                )
                .with_http_status(200));
            }
        }
        self.set_total(resp.content_length)?;
        if skip == 0 {
            target.started(self.validator.as_deref(), self.total)?;
        }
        Ok(skip)
    }

    /// A 416: the position is at or past the end. Complete when it is the end exactly.
    fn unsatisfied(&mut self, resp: &Streaming, target: &mut dyn Target) -> Result<Step> {
        let range = resp.content_range.as_deref().unwrap_or("");
        let total = match parse_content_range(range) {
            Some(ContentRange::Unsatisfied { total }) => Some(total),
            _ => None,
        };
        if self.pos > 0 && total == Some(self.pos) {
            self.set_total(total)?;
            return Ok(Step::Done);
        }
        if self.pos > 0 && target.restart()? {
            log!(
                self.http.logger,
                Info,
                "{}: the server has no bytes from {} (HTTP 416, Content-Range '{range}'): \
                 starting over",
                self.what,
                self.pos
            );
            self.pos = 0;
            self.total = None;
            self.validator = None;
            return Ok(Step::More);
        }
        Err(Error::new(
            ErrorKind::Http,
            format!(
                "{}: HTTP 416: the server has no bytes from {} (Content-Range '{range}')",
                self.what, self.pos
            ),
        )
        .with_http_status(416))
    }

    /// Any other status: the error, with the store's own code and message when it sent one.
    fn failure(&self, resp: &mut Streaming) -> Error {
        let s = resp.status;
        if (300..400).contains(&s) {
            return Error::new(
                ErrorKind::Http,
                format!(
                    "{}: unexpected redirect (HTTP {s}) to {}; redirects are never followed \
                     (presigned URLs do not redirect)",
                    self.what,
                    resp.location
                        .as_deref()
                        .map(loggable_url)
                        .unwrap_or_else(|| "nowhere".into())
                ),
            )
            .with_http_status(s);
        }
        let mut body = vec![0u8; MAX_ERROR_BODY];
        let mut n = 0;
        while n < body.len() {
            match resp.read(&mut body[n..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
        }
        let detail = match xml_error(&body[..n]) {
            Some((code, msg)) if !code.is_empty() => format!(": {code}: {msg}"),
            _ => String::new(),
        };
        let kind = match s {
            429 => ErrorKind::RateLimited,
            503 => ErrorKind::Unavailable,
            _ => ErrorKind::Http,
        };
        Error::new(kind, format!("{}: HTTP {s}{detail}", self.what)).with_http_status(s)
    }

    /// Note the object's size; more than the expected size is a mismatch at once.
    fn set_total(&mut self, total: Option<u64>) -> Result<()> {
        if let (Some(limit), Some(t)) = (self.limit, total) {
            if t != limit {
                return Err(Error::new(
                    ErrorKind::DigestMismatch,
                    format!(
                        "{}: the object is {t} bytes, {limit} were expected",
                        self.what
                    ),
                ));
            }
        }
        if total.is_some() {
            self.total = total;
        }
        Ok(())
    }

    /// The body, from the socket to the target in fixed steps.
    fn stream(
        &mut self,
        resp: &mut Streaming,
        target: &mut dyn Target,
        mut skip: u64,
        end: Option<u64>,
    ) -> Result<()> {
        if self.buf.len() != STEP {
            self.buf = vec![0u8; STEP];
        }
        loop {
            let n = resp.read(&mut self.buf)?;
            if n == 0 {
                return if skip > 0 {
                    Err(Error::new(
                        ErrorKind::Io,
                        format!(
                            "{}: the connection closed before byte {}",
                            resp.target(),
                            self.pos
                        ),
                    ))
                } else {
                    Ok(())
                };
            }
            let mut data = &self.buf[..n];
            if skip > 0 {
                let k = data.len().min(skip as usize);
                data = &data[k..];
                skip -= k as u64;
            }
            if data.is_empty() {
                continue;
            }
            let len = data.len() as u64;
            if end.is_some_and(|end| self.pos + len > end) {
                return Err(Error::new(
                    ErrorKind::BadResponse,
                    format!(
                        "{}: the server sent more bytes than its reply announced (up to byte {})",
                        self.what,
                        end.unwrap_or_default()
                    ),
                ));
            }
            if let Some(limit) = self.limit {
                if self.pos + len > limit {
                    return Err(Error::new(
                        ErrorKind::DigestMismatch,
                        format!(
                            "{}: the server sent more than the {limit} bytes expected",
                            self.what
                        ),
                    ));
                }
            }
            target.write(data)?;
            self.pos += len;
            self.written += len;
            if let Some(p) = self.progress.as_mut() {
                if !p(self.pos, self.total.unwrap_or(0)) {
                    return Err(Error::new(
                        ErrorKind::Cancelled,
                        format!(
                            "{}: cancelled by the progress callback at byte {}",
                            self.what, self.pos
                        ),
                    ));
                }
            }
        }
    }

    fn outcome(&self) -> Downloaded {
        Downloaded {
            total: self.total,
            received: self.written,
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
        }
    }
}

// ------------------------------------------------------------------------------ .part files

/// `<path>.part` and its `.part.meta`: the bytes so far and what they are of.
struct PartFile {
    file: File,
    part: PathBuf,
    meta: PathBuf,
    len: u64,
    md5: Option<crate::md5::Md5>,
    sha256: Option<sha2::Sha256>,
    /// Bytes of the file the digests have seen (less than `len` after a resume, until the
    /// prefix is read back).
    hashed: u64,
}

fn write_error(what: &str, path: &Path, e: io::Error) -> Error {
    Error::new(ErrorKind::Write, format!("{what} {}: {e}", path.display()))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// What a `.part.meta` says: the object's URL (without query), validator and size.
#[derive(Debug, PartialEq, Eq)]
struct Meta {
    url: String,
    validator: String,
    total: Option<u64>,
}

impl Meta {
    fn render(&self) -> String {
        let mut s = format!(
            "{META_MAGIC}\nurl {}\nvalidator {}\n",
            self.url, self.validator
        );
        if let Some(t) = self.total {
            s.push_str(&format!("total {t}\n"));
        }
        s
    }

    fn parse(text: &str) -> Option<Meta> {
        let mut lines = text.lines();
        if lines.next()? != META_MAGIC {
            return None;
        }
        let (mut url, mut validator, mut total) = (None, None, None);
        for line in lines {
            match line.split_once(' ') {
                Some(("url", v)) => url = Some(v.to_string()),
                Some(("validator", v)) => validator = Some(v.to_string()),
                Some(("total", v)) => total = Some(v.parse().ok()?),
                _ => return None,
            }
        }
        Some(Meta {
            url: url?,
            validator: validator.filter(|v| !v.is_empty())?,
            total,
        })
    }
}

impl PartFile {
    fn open(path: &Path, expected: &Expected) -> Result<PartFile> {
        let part = with_suffix(path, ".part");
        let meta = with_suffix(path, ".part.meta");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&part)
            .map_err(|e| write_error("cannot open", &part, e))?;
        let len = file
            .metadata()
            .map_err(|e| write_error("cannot stat", &part, e))?
            .len();
        let mut p = PartFile {
            file,
            part,
            meta,
            len,
            md5: expected.md5.map(|_| crate::md5::Md5::new()),
            sha256: expected.sha256.map(|_| sha2::Sha256::new()),
            hashed: 0,
        };
        p.file
            .seek(SeekFrom::End(0))
            .map_err(|e| write_error("cannot seek in", &p.part, e))?;
        Ok(p)
    }

    /// The validator of the bytes already there, when they can be resumed for `url`.
    fn resumable(&self, url: &str, expected: &Expected) -> Option<Meta> {
        if self.len == 0 {
            return None;
        }
        let meta = Meta::parse(&fs::read_to_string(&self.meta).ok()?)?;
        let fits = |limit: Option<u64>| limit.is_none_or(|l| self.len <= l);
        (meta.url == loggable_url(url) && fits(meta.total) && fits(expected.size)).then_some(meta)
    }

    /// Feed the digests the bytes they have not seen, read back from the file.
    fn catch_up(&mut self) -> Result<()> {
        if self.hashed >= self.len || (self.md5.is_none() && self.sha256.is_none()) {
            self.hashed = self.len;
            return Ok(());
        }
        let shown = self.part.display().to_string();
        let read_error =
            |e: io::Error| Error::new(ErrorKind::Read, format!("reading back {shown}: {e}"));
        self.file
            .seek(SeekFrom::Start(self.hashed))
            .map_err(read_error)?;
        let mut buf = vec![0u8; STEP];
        while self.hashed < self.len {
            let want = ((self.len - self.hashed) as usize).min(STEP);
            let n = self.file.read(&mut buf[..want]).map_err(read_error)?;
            if n == 0 {
                return Err(read_error(io::Error::from(io::ErrorKind::UnexpectedEof)));
            }
            self.hash(&buf[..n]);
        }
        self.file.seek(SeekFrom::End(0)).map_err(read_error)?;
        Ok(())
    }

    fn hash(&mut self, bytes: &[u8]) {
        if let Some(m) = self.md5.as_mut() {
            m.update(bytes);
        }
        if let Some(s) = self.sha256.as_mut() {
            s.update(bytes);
        }
        self.hashed += bytes.len() as u64;
    }

    /// Remove the `.part` and its meta (after a mismatch: nothing of it is kept).
    fn discard(&self) {
        let _ = fs::remove_file(&self.part);
        let _ = fs::remove_file(&self.meta);
    }

    /// Check the whole file, flush it to disk and rename it onto `path` (then flush the
    /// directory, so the rename itself survives a power cut).
    fn finish(mut self, path: &Path, expected: &Expected, what: &str) -> Result<()> {
        self.catch_up()?;
        let mismatch =
            |msg: String| Error::new(ErrorKind::DigestMismatch, format!("{what}: {msg}"));
        if let Some(size) = expected.size {
            if self.len != size {
                self.discard();
                return Err(mismatch(format!(
                    "got {} bytes, {size} were expected; nothing kept",
                    self.len
                )));
            }
        }
        if let (Some(want), Some(m)) = (expected.md5, self.md5.take()) {
            let got: [u8; 16] = m.finalize();
            if got != want {
                self.discard();
                return Err(mismatch(format!(
                    "MD5 of the {} bytes is {}, {} was expected; nothing kept",
                    self.len,
                    crate::sign::hex(&got),
                    crate::sign::hex(&want)
                )));
            }
        }
        if let (Some(want), Some(s)) = (expected.sha256, self.sha256.take()) {
            let got: [u8; 32] = s.finalize().into();
            if got != want {
                self.discard();
                return Err(mismatch(format!(
                    "SHA-256 of the {} bytes is {}, {} was expected; nothing kept",
                    self.len,
                    crate::sign::hex(&got),
                    crate::sign::hex(&want)
                )));
            }
        }
        self.file
            .sync_all()
            .map_err(|e| write_error("cannot flush", &self.part, e))?;
        drop(self.file);
        fs::rename(&self.part, path).map_err(|e| {
            write_error(
                &format!("cannot rename {} onto", self.part.display()),
                path,
                e,
            )
        })?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| write_error("cannot flush the directory", dir, e))?;
        let _ = fs::remove_file(&self.meta);
        Ok(())
    }
}

impl PartFile {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if self.hashed < self.len {
            self.catch_up()?;
        }
        self.file
            .write_all(bytes)
            .map_err(|e| write_error("cannot write", &self.part, e))?;
        self.len += bytes.len() as u64;
        self.hash(bytes);
        Ok(())
    }

    fn restart(&mut self) -> Result<bool> {
        let _ = fs::remove_file(&self.meta);
        self.file
            .set_len(0)
            .and_then(|()| self.file.seek(SeekFrom::Start(0)).map(|_| ()))
            .map_err(|e| write_error("cannot truncate", &self.part, e))?;
        self.len = 0;
        self.hashed = 0;
        self.md5 = self.md5.take().map(|_| crate::md5::Md5::new());
        self.sha256 = self.sha256.take().map(|_| sha2::Sha256::new());
        Ok(true)
    }
}

impl Client {
    /// Stream the body of `GET url` to `sink`, from byte `offset` of the object (a `Range`
    /// request when past 0). A cut connection is resumed from where it stopped (with
    /// `If-Range`, so a changed object is never stitched on) within the retry budget. The
    /// sink is told every byte once, in order: a server answering a range with the whole
    /// object fails with [`ErrorKind::Http`] when `offset` > 0 (nothing more is written).
    /// `progress` sees `(position in the object, size of the object or 0)`; returning false
    /// cancels. Redirects are never followed.
    pub fn download(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        offset: u64,
        sink: &mut dyn Sink,
        progress: Option<Progress<'_>>,
    ) -> Result<Downloaded> {
        check_headers(headers)?;
        self.http.check_url(url, "download")?;
        // An If-Range of the caller's (a validator saved with its bytes) is the job's own.
        let if_range = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("if-range"))
            .map(|(_, v)| v.to_string());
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .copied()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("if-range"))
            .collect();
        let mut job = Job::new(&self.http, url, &headers, offset);
        job.validator = if_range;
        job.progress = progress;
        job.run(&mut SinkTarget { sink })?;
        Ok(job.outcome())
    }

    /// Download `url` to the file `path`: the bytes go to `<path>.part` (resumed when a
    /// `.part` of the same object is there, its bytes counted in the digests), are checked
    /// against `expected` over the whole file, flushed to disk and renamed onto `path` in
    /// one step. On a mismatch ([`ErrorKind::DigestMismatch`]) the `.part` is deleted and
    /// `path` is left as it was; on any other failure or a cancel the `.part` is kept for
    /// the next call to resume.
    pub fn download_file(
        &self,
        url: &str,
        path: &Path,
        expected: &Expected,
        progress: Option<Progress<'_>>,
    ) -> Result<Downloaded> {
        self.http.check_url(url, "download")?;
        if path.as_os_str().is_empty() || path.file_name().is_none() {
            return Err(Error::invalid(format!(
                "download: '{}' is not a file path",
                path.display()
            )));
        }
        let mut part = PartFile::open(path, expected)?;
        let resume = part.resumable(url, expected);
        if resume.is_none() && part.len > 0 {
            part.restart()?;
        }
        let mut job = Job::new(&self.http, url, &[], part.len);
        job.limit = expected.size;
        job.progress = progress;
        if let Some(meta) = &resume {
            job.validator = Some(meta.validator.clone());
            job.total = meta.total;
            log!(
                self.http.logger,
                Info,
                "{}: resuming from byte {} of {}",
                job.what,
                part.len,
                meta.total
                    .map_or_else(|| "an object of unknown size".into(), |t| t.to_string())
            );
        }
        let mut target = PartTarget {
            part: &mut part,
            url: loggable_url(url),
        };
        match job.run(&mut target) {
            Ok(()) => {}
            Err(e) => {
                if e.kind() == ErrorKind::DigestMismatch {
                    part.discard();
                }
                return Err(e);
            }
        }
        let what = job.what.clone();
        let outcome = job.outcome();
        part.finish(path, expected, &what)?;
        Ok(outcome)
    }
}

/// A `.part` file as the engine's target, writing its meta when a reply starts it.
struct PartTarget<'p> {
    part: &'p mut PartFile,
    url: String,
}

impl Target for PartTarget<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.part.write(bytes)
    }

    fn restart(&mut self) -> Result<bool> {
        self.part.restart()
    }

    fn started(&mut self, validator: Option<&str>, total: Option<u64>) -> Result<()> {
        let _ = fs::remove_file(&self.part.meta);
        // Without a validator a later run could not know the bytes are of the same object:
        // it starts over rather than resume.
        let Some(validator) = validator else {
            return Ok(());
        };
        let meta = Meta {
            url: self.url.clone(),
            validator: validator.to_string(),
            total,
        };
        let tmp = with_suffix(&self.part.meta, ".tmp");
        fs::write(&tmp, meta.render())
            .and_then(|()| fs::rename(&tmp, &self.part.meta))
            .map_err(|e| write_error("cannot write", &self.part.meta, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(
            parse_content_range("bytes 100-199/1000"),
            Some(ContentRange::Range {
                first: 100,
                last: 199,
                total: Some(1000)
            })
        );
        assert_eq!(
            parse_content_range("bytes 5-9/*"),
            Some(ContentRange::Range {
                first: 5,
                last: 9,
                total: None
            })
        );
        assert_eq!(
            parse_content_range("bytes */1000"),
            Some(ContentRange::Unsatisfied { total: 1000 })
        );
        for bad in [
            "",
            "bytes",
            "bytes 9-5/10",
            "bytes 5-10/10",
            "items 1-2/3",
            "bytes 1-2",
            "bytes */*",
            "bytes x-2/3",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn validators_prefer_strong_etags() {
        assert_eq!(
            validator(Some("\"a\""), Some("d")).as_deref(),
            Some("\"a\"")
        );
        assert_eq!(validator(Some("W/\"a\""), Some("d")).as_deref(), Some("d"));
        assert_eq!(validator(None, Some("d")).as_deref(), Some("d"));
        assert_eq!(validator(Some("W/\"a\""), None), None);
    }

    #[test]
    fn meta_round_trip_and_garbage() {
        let m = Meta {
            url: "https://h/p".into(),
            validator: "\"e\"".into(),
            total: Some(10),
        };
        assert_eq!(Meta::parse(&m.render()), Some(m));
        assert_eq!(Meta::parse("iothttp-part 1\nurl u\n"), None);
        assert_eq!(Meta::parse("something else\nurl u\nvalidator v\n"), None);
        assert_eq!(
            Meta::parse("iothttp-part 1\nurl u\nvalidator v\ntotal x\n"),
            None
        );
    }

    #[test]
    fn range_headers_are_the_library_s() {
        assert!(check_headers(&[("Range", "bytes=0-")]).is_err());
        assert!(check_headers(&[("if-range", "x")]).is_ok());
        assert!(check_headers(&[("Transfer-Encoding", "chunked")]).is_err());
        assert!(check_headers(&[("Authorization", "x"), ("Accept", "*/*")]).is_ok());
    }

    #[test]
    fn expectations_parse_hex() {
        let e = Expected::new()
            .size(3)
            .md5_hex("900150983CD24FB0D6963F7D28E17F72")
            .unwrap();
        assert_eq!(e.size, Some(3));
        assert!(e.md5.is_some());
        assert!(Expected::new().sha256_hex("00").is_err());
    }
}
