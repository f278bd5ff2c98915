//! A small, strict HTTP/1.1 server side: request-head parsing, streamed request bodies
//! (`Content-Length` only), keep-alive, and response writing; plus the ways a response can
//! be mangled for fault injection (partial, paced, generated, or no reply at all), and
//! bodies made on demand ([`Content`]: downloads, never held whole).

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

/// Largest accepted request head (request line plus header fields).
pub const MAX_HEAD: usize = 16 * 1024;

/// Unread request bodies up to this size are read and discarded after the response so the
/// connection can be reused; larger ones close the connection.
pub const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

/// How long a `stall-read` connection is kept without reading before it is dropped (the
/// client's write has long timed out by then; nothing tells the server that it gave up).
pub const STALL_LIMIT: Duration = Duration::from_secs(120);

/// Responses are written in writes of at most about this size (a small one in one write).
const WRITE_CHUNK: usize = 64 * 1024;

/// A bidirectional byte stream (TCP or TLS).
pub trait Stream: Read + Write {}
impl<T: Read + Write + ?Sized> Stream for T {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// A parsed request head.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The request target exactly as sent (origin form).
    pub target: String,
    pub version: Version,
    /// Header fields in order, names lowercased, values trimmed.
    headers: Vec<(String, String)>,
    /// Body length (0 when absent).
    pub content_length: u64,
    pub keep_alive: bool,
    pub expect_continue: bool,
}

impl Request {
    /// Every value of header `name` (case-insensitive).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of header `name` when it occurs exactly once; `Err(())` when repeated.
    pub fn single_header(&self, name: &str) -> Result<Option<&str>, ()> {
        let mut values = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(());
        }
        Ok(first)
    }

    /// Every header field in order (names lowercased, values trimmed).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// True when the request carried a `Content-Length` header.
    pub fn has_content_length(&self) -> bool {
        self.header_values("content-length").next().is_some()
    }

    /// The path part of the target (before any `?`).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// What the server does instead of replying, when a response is an `abort`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Silence {
    /// Close at once (unread request bytes make the kernel reset the connection).
    #[default]
    Close,
    /// Read (and discard) the rest of the request body, then close.
    Drain,
    /// Read the rest of the request body, then hold the connection, discarding anything
    /// more that arrives, until the client closes it or the server stops.
    Hold,
    /// Read until this many body bytes have been read in all, then stop reading and wait
    /// (at most [`STALL_LIMIT`], or until the server stops) before closing.
    Stall(u64),
}

/// How a response is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Delivery {
    #[default]
    Normal,
    /// The status line, the headers and only this many body bytes; then the connection is
    /// dropped (no TLS close_notify).
    Partial(u64),
    /// Everything, at this many bytes per second, a small write at a time.
    Trickle(u64),
    /// Everything, then the connection is closed at once: no lingering and no draining of
    /// an unread body (the kernel resets a connection closed with unread bytes).
    ThenReset,
}

/// Body bytes made on demand (a download object, generated or read from a file), sent
/// after [`Response::body`] and before any [`Filler`], a [`WRITE_CHUNK`] at a time.
pub trait Content: fmt::Debug {
    /// How many bytes in all.
    fn size(&self) -> u64;
    /// Fills `buf` with the bytes from `offset` on (`offset + buf.len()` ≤ `size`).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

/// Generated body bytes, sent after [`Response::body`] from a small buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filler {
    /// `len` copies of `byte`…
    pub byte: u8,
    pub len: u64,
    /// …then these bytes.
    pub tail: Vec<u8>,
}

/// What a connection or reply fault does to a response: how it is written, or (with
/// [`Response::abort`]) what happens instead. Boxed in [`Response::fault`], since most
/// responses have none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// The fault's name, for the request log.
    pub name: &'static str,
    pub silence: Silence,
    pub delivery: Delivery,
    /// Generated bytes after the body (counted in Content-Length).
    pub filler: Option<Filler>,
    /// Bytes of generated `X-Pad-NNNN` header lines after the other headers.
    pub header_pad: u64,
    /// The `Content-Length` to declare instead of the body's length (`lie-length`).
    pub length: Option<u64>,
}

/// The plan of a response without a fault.
static NO_FAULT: FaultPlan = FaultPlan {
    name: "",
    silence: Silence::Close,
    delivery: Delivery::Normal,
    filler: None,
    header_pad: 0,
    length: None,
};

/// A response to write.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Bytes made on demand after `body` (counted in Content-Length).
    pub content: Option<Box<dyn Content>>,
    /// Close the connection after this response.
    pub close: bool,
    /// Close the connection without writing anything (the request could not be read, or a
    /// fault: its plan's `silence` says how).
    pub abort: bool,
    /// The cloud's result code, for the request log.
    pub code: Option<i64>,
    /// An injected fault.
    pub fault: Option<Box<FaultPlan>>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, body: String) -> Response {
        Response {
            status,
            content_type: Some("application/json"),
            headers: Vec::new(),
            body: body.into_bytes(),
            content: None,
            close: false,
            abort: false,
            code: None,
            fault: None,
        }
    }

    /// A transport-level error: `{"error":"<message>"}`.
    pub fn error(status: u16, message: &str) -> Response {
        Response::json(
            status,
            format!("{{\"error\":{}}}", crate::sign::json_str(message)),
        )
    }

    /// No response at all; the connection is dropped.
    pub fn abort() -> Response {
        Response {
            abort: true,
            close: true,
            ..Response::json(0, String::new())
        }
    }

    /// No response, because of the fault `name`; the connection ends as `silence` says.
    pub fn silent(name: &'static str, silence: Silence) -> Response {
        let mut resp = Response::abort();
        *resp.plan_mut() = FaultPlan {
            name,
            silence,
            ..FaultPlan::default()
        };
        resp
    }

    /// The fault plan (the empty one without a fault).
    pub fn plan(&self) -> &FaultPlan {
        self.fault.as_deref().unwrap_or(&NO_FAULT)
    }

    /// The fault plan, created empty when there is none.
    pub fn plan_mut(&mut self) -> &mut FaultPlan {
        self.fault.get_or_insert_with(Box::default)
    }

    /// Body length (content and generated bytes included): what Content-Length declares
    /// unless the plan's `length` says otherwise.
    pub fn body_len(&self) -> u64 {
        let filler = self.plan().filler.as_ref();
        self.body.len() as u64
            + self.content.as_ref().map_or(0, |c| c.size())
            + filler.map_or(0, |f| f.len + f.tail.len() as u64)
    }

    pub fn with_code(mut self, code: i64) -> Response {
        self.code = Some(code);
        self
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Response {
        self.headers.push((name, value));
        self
    }

    pub fn closing(mut self) -> Response {
        self.close = true;
        self
    }
}

/// What the server does with requests.
pub trait Handler {
    /// Answers one request. `body` yields exactly the request body (fewer bytes only on an
    /// I/O error); the handler may leave part of it unread.
    fn handle(&self, req: &Request, body: &mut dyn Read) -> Response;
    /// The `Date` header value, or None to omit it.
    fn date(&self) -> Option<String>;
    /// Called once per response written (`req` is None when the head was unparsable).
    fn log(&self, req: Option<&Request>, resp: &Response);
    /// True when the server is shutting down (no more keep-alive).
    fn stopping(&self) -> bool;
}

/// How a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing is left to read: close at once.
    Done,
    /// The client may still be sending (an unread body or a rejected head): read and discard
    /// for a moment before closing so that the response is not lost to a TCP reset.
    Linger,
    /// The handler dropped the connection without replying (client gone, or a `cut`):
    /// close at once, without a TLS close_notify, like a network failure.
    Abort,
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        302 => "Found",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[derive(Debug)]
enum HeadError {
    /// The peer closed (or the read failed) before the first byte of a request.
    Eof,
    Io,
    Bad(u16, &'static str),
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Reads one CRLF-terminated line into `buf` (without the CRLF), at most `limit` bytes
/// including the terminator. Returns the number of bytes consumed.
fn read_line<R: BufRead>(r: &mut R, buf: &mut Vec<u8>, limit: usize) -> Result<usize, HeadError> {
    buf.clear();
    let mut consumed = 0;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                return Err(if consumed == 0 {
                    HeadError::Eof
                } else {
                    HeadError::Io
                })
            }
        };
        if avail.is_empty() {
            return Err(if consumed == 0 {
                HeadError::Eof
            } else {
                HeadError::Io
            });
        }
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if consumed + take > limit {
            return Err(HeadError::Bad(431, "request header block too large"));
        }
        buf.extend_from_slice(&avail[..take]);
        r.consume(take);
        consumed += take;
        if done {
            break;
        }
    }
    if !buf.ends_with(b"\r\n") {
        return Err(HeadError::Bad(400, "lines must end with CRLF"));
    }
    buf.truncate(buf.len() - 2);
    Ok(consumed)
}

fn parse_request_line(line: &[u8]) -> Result<(String, String, Version), HeadError> {
    const BAD: HeadError = HeadError::Bad(400, "malformed request line");
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BAD);
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(BAD);
    }
    if !target.starts_with(b"/") || !target.iter().all(|&b| (0x21..0x7f).contains(&b)) {
        return Err(HeadError::Bad(400, "malformed request target"));
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        _ => return Err(HeadError::Bad(400, "unsupported HTTP version")),
    };
    // Only ASCII was accepted above, so these conversions cannot fail.
    let method = String::from_utf8_lossy(method).into_owned();
    let target = String::from_utf8_lossy(target).into_owned();
    Ok((method, target, version))
}

fn parse_header(line: &[u8]) -> Result<(String, String), HeadError> {
    const BAD: HeadError = HeadError::Bad(400, "malformed header field");
    if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        return Err(HeadError::Bad(400, "obsolete header line folding"));
    }
    let colon = line.iter().position(|&b| b == b':').ok_or(BAD)?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(BAD);
    }
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(BAD);
    }
    let value = String::from_utf8_lossy(value);
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    Ok((name, value.to_string()))
}

/// Reads and parses one request head (syntax only; see [`check_framing`]).
fn read_head<R: BufRead>(r: &mut R) -> Result<Request, HeadError> {
    let mut line = Vec::new();
    let mut used = 0;
    // A few empty lines before the request line are tolerated (RFC 9112, 2.2).
    let mut empty_lines = 0;
    loop {
        used += read_line(r, &mut line, MAX_HEAD - used)?;
        if !line.is_empty() {
            break;
        }
        empty_lines += 1;
        if empty_lines > 4 {
            return Err(HeadError::Bad(400, "malformed request line"));
        }
    }
    let (method, target, version) = parse_request_line(&line)?;
    let mut headers = Vec::new();
    loop {
        used += match read_line(r, &mut line, MAX_HEAD - used) {
            Ok(n) => n,
            Err(HeadError::Eof) => return Err(HeadError::Io),
            Err(e) => return Err(e),
        };
        if line.is_empty() {
            break;
        }
        headers.push(parse_header(&line)?);
    }
    Ok(Request {
        method,
        target,
        version,
        headers,
        content_length: 0,
        keep_alive: false,
        expect_continue: false,
    })
}

/// Checks the message framing headers and fills in `content_length`, `keep_alive` and
/// `expect_continue`. An error is answered and the connection closed.
fn check_framing(req: &mut Request) -> Result<(), (u16, &'static str)> {
    let hosts = req.header_values("host").count();
    if hosts > 1 || (req.version == Version::Http11 && hosts == 0) {
        return Err((400, "exactly one Host header is required"));
    }
    if req.header_values("transfer-encoding").next().is_some() {
        return Err((
            411,
            "Transfer-Encoding is not supported; send Content-Length",
        ));
    }
    let mut length: Option<u64> = None;
    for value in req.header_values("content-length") {
        for item in value.split(',') {
            let item = item.trim_matches(|c| c == ' ' || c == '\t');
            if item.is_empty() || item.len() > 19 || !item.bytes().all(|b| b.is_ascii_digit()) {
                return Err((400, "invalid Content-Length"));
            }
            let n: u64 = item.parse().map_err(|_| (400, "invalid Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err((400, "conflicting Content-Length values"));
            }
            length = Some(n);
        }
    }
    if length.is_none() && req.method == "POST" {
        return Err((411, "Content-Length is required"));
    }
    req.content_length = length.unwrap_or(0);

    let (mut close, mut keep_alive) = (false, false);
    for value in req.header_values("connection") {
        for token in value.split(',') {
            let token = token.trim();
            close |= token.eq_ignore_ascii_case("close");
            keep_alive |= token.eq_ignore_ascii_case("keep-alive");
        }
    }
    req.keep_alive = match req.version {
        Version::Http11 => !close,
        Version::Http10 => keep_alive && !close,
    };

    let mut expect_continue = false;
    for value in req.header_values("expect") {
        if value.eq_ignore_ascii_case("100-continue") {
            expect_continue = true;
        } else {
            return Err((417, "unsupported expectation"));
        }
    }
    req.expect_continue = expect_continue && req.version == Version::Http11;
    Ok(())
}

/// The request body: at most `remaining` bytes from the connection, sending
/// `100 Continue` before the first read when the client asked for it.
struct Body<'a, 'b> {
    conn: &'a mut BufReader<&'b mut dyn Stream>,
    remaining: u64,
    continue_pending: bool,
}

impl Read for Body<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        if self.continue_pending {
            self.continue_pending = false;
            let out = self.conn.get_mut();
            out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            out.flush()?;
        }
        let max = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.conn.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside the request body",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Writes a response: a small one in a single write, a large or generated one in chunks of
/// [`WRITE_CHUNK`], a paced one a few bytes at a time.
struct Out<'a> {
    out: &'a mut dyn Stream,
    buf: Vec<u8>,
    pace: Option<Pace>,
    stopping: &'a dyn Fn() -> bool,
}

struct Pace {
    bytes_per_sec: u64,
    chunk: usize,
    start: Instant,
    sent: u64,
}

impl Out<'_> {
    fn put(&mut self, mut data: &[u8]) -> io::Result<()> {
        let Some(pace) = &mut self.pace else {
            self.buf.extend_from_slice(data);
            if self.buf.len() >= WRITE_CHUNK {
                self.out.write_all(&self.buf)?;
                self.buf.clear();
            }
            return Ok(());
        };
        while !data.is_empty() {
            let n = pace.chunk.min(data.len());
            self.out.write_all(&data[..n])?;
            self.out.flush()?;
            pace.sent += n as u64;
            data = &data[n..];
            let due =
                pace.start + Duration::from_secs_f64(pace.sent as f64 / pace.bytes_per_sec as f64);
            loop {
                if (self.stopping)() {
                    return Err(io::Error::other("server stopping"));
                }
                let left = due.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(Duration::from_millis(100)));
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        self.out.flush()
    }
}

/// Writes the `X-Pad-NNNN` header lines of a `header_pad` (1024-byte lines; the last one
/// shorter, and at least `X-Pad-NNNN: \r\n`).
fn write_header_pad(out: &mut Out<'_>, mut total: u64) -> io::Result<()> {
    const LINE: u64 = 1024;
    const MIN_LINE: u64 = "X-Pad-0000: \r\n".len() as u64;
    let mut line = Vec::with_capacity(LINE as usize);
    let mut n = 0u64;
    while total >= MIN_LINE {
        let mut len = total.min(LINE);
        if total - len > 0 && total - len < MIN_LINE {
            len -= MIN_LINE;
        }
        line.clear();
        line.extend_from_slice(format!("X-Pad-{:04}: ", n % 10_000).as_bytes());
        line.resize(len as usize - 2, b'a');
        line.extend_from_slice(b"\r\n");
        out.put(&line)?;
        total -= len;
        n += 1;
    }
    Ok(())
}

/// Writes at most `*limit` bytes of `data`, less them from `limit`; true while more may
/// follow.
fn take(out: &mut Out<'_>, data: &[u8], limit: &mut u64) -> io::Result<bool> {
    let n = usize::try_from(*limit)
        .unwrap_or(usize::MAX)
        .min(data.len());
    out.put(&data[..n])?;
    *limit -= n as u64;
    Ok(*limit > 0)
}

/// Writes a [`Content`], a [`WRITE_CHUNK`] at a time, and no byte past `limit`.
fn write_content(out: &mut Out<'_>, content: &dyn Content, limit: &mut u64) -> io::Result<bool> {
    let size = content.size();
    let mut buf = vec![0u8; usize::try_from(size).map_or(WRITE_CHUNK, |s| s.min(WRITE_CHUNK))];
    let mut offset = 0u64;
    while offset < size {
        let n = usize::try_from((size - offset).min(*limit))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        content.read_at(offset, &mut buf[..n])?;
        if !take(out, &buf[..n], limit)? {
            return Ok(false);
        }
        offset += n as u64;
    }
    Ok(true)
}

/// Writes at most `limit` bytes of the body (content and generated bytes included).
fn write_body(out: &mut Out<'_>, resp: &Response, mut limit: u64) -> io::Result<()> {
    let limit = &mut limit;
    if !take(out, &resp.body, limit)? {
        return Ok(());
    }
    if let Some(content) = &resp.content {
        if !write_content(out, content.as_ref(), limit)? {
            return Ok(());
        }
    }
    if let Some(filler) = &resp.plan().filler {
        let block = [filler.byte; 16 * 1024];
        let mut left = filler.len;
        while left > 0 {
            let n = usize::try_from(left).unwrap_or(usize::MAX).min(block.len());
            if !take(out, &block[..n], limit)? {
                return Ok(());
            }
            left -= n as u64;
        }
        take(out, &filler.tail, limit)?;
    }
    Ok(())
}

fn write_response(
    out: &mut dyn Stream,
    resp: &Response,
    req: Option<&Request>,
    close: bool,
    handler: &dyn Handler,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    if let Some(date) = handler.date() {
        head.push_str(&format!("Date: {date}\r\n"));
    }
    if let Some(ct) = resp.content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    // RFC 9110 8.6: no Content-Length in a 204 (nor a body).
    if resp.status != 204 {
        let length = resp.plan().length.unwrap_or_else(|| resp.body_len());
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    for (name, value) in &resp.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if close {
        head.push_str("Connection: close\r\n");
    } else if req.is_some_and(|r| r.version == Version::Http10) {
        head.push_str("Connection: keep-alive\r\n");
    }
    let stopping = || handler.stopping();
    let mut w = Out {
        out,
        buf: Vec::with_capacity(head.len() + resp.body.len() + 2),
        pace: match resp.plan().delivery {
            Delivery::Trickle(rate) => Some(Pace {
                bytes_per_sec: rate.max(1),
                chunk: usize::try_from(rate / 10).unwrap_or(1024).clamp(1, 1024),
                start: Instant::now(),
                sent: 0,
            }),
            _ => None,
        },
        stopping: &stopping,
    };
    w.put(head.as_bytes())?;
    write_header_pad(&mut w, resp.plan().header_pad)?;
    w.put(b"\r\n")?;
    if req.is_none_or(|r| r.method != "HEAD") && resp.status != 204 {
        let limit = match resp.plan().delivery {
            Delivery::Partial(n) => n,
            _ => u64::MAX,
        };
        write_body(&mut w, resp, limit)?;
    }
    w.finish()
}

/// Carries out a [`Silence`] on a connection whose request body has `remaining` unread
/// bytes (of `length`).
fn keep_silent(
    conn: &mut BufReader<&mut dyn Stream>,
    silence: Silence,
    length: u64,
    remaining: u64,
    continue_pending: bool,
    handler: &dyn Handler,
) {
    let mut body = Body {
        conn: &mut *conn,
        remaining,
        continue_pending,
    };
    match silence {
        Silence::Close => {}
        Silence::Drain => {
            let _ = io::copy(&mut body, &mut io::sink());
        }
        Silence::Hold => {
            if io::copy(&mut body, &mut io::sink()).is_err() {
                return;
            }
            // Never answer; what arrives is discarded so that the client's close is seen.
            let mut buf = [0u8; 4096];
            loop {
                match conn.read(&mut buf) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                        ) =>
                    {
                        if handler.stopping() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        }
        Silence::Stall(after) => {
            let already = length - remaining;
            let more = after.saturating_sub(already).min(remaining);
            if io::copy(&mut (&mut body).take(more), &mut io::sink()).is_err() {
                return;
            }
            let deadline = Instant::now() + STALL_LIMIT;
            while !handler.stopping() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Serves requests on one connection until it closes, fails, or a response closes it.
pub fn serve(stream: &mut dyn Stream, handler: &dyn Handler) -> Outcome {
    let mut conn = BufReader::with_capacity(16 * 1024, stream);
    loop {
        let mut req = match read_head(&mut conn) {
            Ok(req) => req,
            Err(HeadError::Eof) | Err(HeadError::Io) => return Outcome::Done,
            Err(HeadError::Bad(status, message)) => {
                let resp = Response::error(status, message).closing();
                handler.log(None, &resp);
                let _ = write_response(conn.get_mut(), &resp, None, true, handler);
                return Outcome::Linger;
            }
        };
        if let Err((status, message)) = check_framing(&mut req) {
            let resp = Response::error(status, message).closing();
            handler.log(Some(&req), &resp);
            let _ = write_response(conn.get_mut(), &resp, Some(&req), true, handler);
            return Outcome::Linger;
        }

        let mut body = Body {
            conn: &mut conn,
            remaining: req.content_length,
            continue_pending: req.expect_continue && req.content_length > 0,
        };
        let resp = handler.handle(&req, &mut body);
        let (remaining, continue_pending) = (body.remaining, body.continue_pending);
        if resp.abort {
            handler.log(Some(&req), &resp);
            keep_silent(
                &mut conn,
                resp.plan().silence,
                req.content_length,
                remaining,
                continue_pending,
                handler,
            );
            return Outcome::Abort;
        }
        // An unread body is discarded so the connection stays usable, unless the client is
        // still waiting for `100 Continue` (it may never send it) or it is huge.
        let reset = resp.plan().delivery == Delivery::ThenReset;
        let drain = remaining > 0 && !continue_pending && remaining <= DRAIN_LIMIT && !reset;
        let close =
            resp.close || !req.keep_alive || handler.stopping() || (remaining > 0 && !drain);
        handler.log(Some(&req), &resp);
        if write_response(conn.get_mut(), &resp, Some(&req), close, handler).is_err() {
            return Outcome::Done;
        }
        if drain {
            let mut rest = Body {
                conn: &mut conn,
                remaining,
                continue_pending: false,
            };
            if io::copy(&mut rest, &mut io::sink()).is_err() {
                return Outcome::Done;
            }
        }
        if reset || matches!(resp.plan().delivery, Delivery::Partial(_)) {
            // The rest of the reply never comes (or the connection is reset under a client
            // still sending): drop without close_notify.
            return Outcome::Abort;
        }
        if close {
            return if remaining > 0 && !drain {
                Outcome::Linger
            } else {
                Outcome::Done
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn head(text: &str) -> Result<Request, HeadError> {
        let mut r = BufReader::new(Cursor::new(text.as_bytes().to_vec()));
        let mut req = read_head(&mut r)?;
        check_framing(&mut req).map_err(|(s, m)| HeadError::Bad(s, m))?;
        Ok(req)
    }

    fn status(text: &str) -> u16 {
        match head(text) {
            Ok(_) => 0,
            Err(HeadError::Bad(s, _)) => s,
            Err(HeadError::Eof) => 1,
            Err(HeadError::Io) => 2,
        }
    }

    #[test]
    fn parses_a_request() {
        let req =
            head("POST /a/b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-A:  v \r\n\r\n").unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.target, "/a/b");
        assert_eq!(req.content_length, 5);
        assert!(req.keep_alive);
        assert_eq!(req.single_header("x-a"), Ok(Some("v")));
        assert_eq!(req.single_header("X-A"), Ok(Some("v")));
    }

    #[test]
    fn rejects_bad_heads() {
        assert_eq!(status(""), 1);
        assert_eq!(status("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 400); // no Host
        assert_eq!(status("GET / HTTP/1.0\r\n\r\n"), 0);
        assert_eq!(status("GET /  HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\nHost: x\n\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: x\r\n fold\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400);
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
            411
        );
        assert_eq!(status("POST / HTTP/1.1\r\nHost: x\r\n\r\n"), 411);
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
            400
        );
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEAD)
        );
        assert_eq!(status(&big), 431);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: x\r\n"), 2);
    }

    #[test]
    fn connection_semantics() {
        let r = head("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        assert!(!r.keep_alive);
        let r = head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
        assert!(r.keep_alive);
        let r = head("GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!r.keep_alive);
    }
}
