//! What the upload endpoints share: the counted (and cuttable) request body, streaming a
//! body into digests, XML errors, request ids, form decoding and the per-op statistics.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};

use crate::http::{Request, Response};
use crate::routes::percent_decode;
use crate::sign::{self, DigestValues, Md5Stream, Sha256Stream};
use crate::state::{Op, Shared};

/// Read size of upload bodies: one fixed buffer per request, hashed in place.
pub const CHUNK: usize = 64 * 1024;

/// Largest form-encoded RPC body or JSON request body accepted by the upload-URL endpoints.
pub const MAX_SMALL_BODY: u64 = 64 * 1024;

/// The request body, counted, and cut (an error after a given number of bytes) when a `cut`
/// rule applies.
pub struct UploadBody<'a> {
    inner: &'a mut dyn Read,
    read: u64,
    cut_at: Option<u64>,
}

impl<'a> UploadBody<'a> {
    pub fn new(inner: &'a mut dyn Read) -> UploadBody<'a> {
        UploadBody {
            inner,
            read: 0,
            cut_at: None,
        }
    }

    /// From now on, reading past `after` body bytes fails (and the handler drops the
    /// connection without replying).
    pub fn arm_cut(&mut self, after: u64) {
        self.cut_at = Some(after);
    }

    /// True when a cut rule applies: even a body shorter than the cut point is then not
    /// answered nor stored.
    pub fn cut_armed(&self) -> bool {
        self.cut_at.is_some()
    }
}

impl Read for UploadBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut max = buf.len();
        if let Some(at) = self.cut_at {
            if self.read >= at {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "connection cut by a cut rule",
                ));
            }
            max = max.min(usize::try_from(at - self.read).unwrap_or(usize::MAX));
        }
        let n = self.inner.read(&mut buf[..max])?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Bodies at least this large are hashed on two threads (MD5 on a helper).
pub const PARALLEL_MIN: u64 = 4 * 1024 * 1024;

/// Batch size handed to the MD5 helper.
const BATCH: usize = 256 * 1024;

/// Batches queued for the helper (bounds memory: about this many plus three batches).
const QUEUE: usize = 3;

fn multi_core() -> bool {
    static MULTI: OnceLock<bool> = OnceLock::new();
    *MULTI.get_or_init(|| thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

/// The MD5 helper thread: takes filled batches, gives the emptied buffers back.
struct Md5Worker {
    tx: Option<SyncSender<(Box<[u8]>, usize)>>,
    back: Receiver<Box<[u8]>>,
    handle: Option<JoinHandle<[u8; 16]>>,
}

impl Md5Worker {
    fn spawn() -> Option<Md5Worker> {
        let (tx, rx) = mpsc::sync_channel::<(Box<[u8]>, usize)>(QUEUE);
        let (back_tx, back) = mpsc::channel();
        let handle = thread::Builder::new()
            .name("iothttp-emu-md5".into())
            .spawn(move || {
                let mut md5 = Md5Stream::default();
                for (buf, n) in rx {
                    md5.update(&buf[..n]);
                    let _ = back_tx.send(buf);
                }
                md5.finish()
            })
            .ok()?;
        Some(Md5Worker {
            tx: Some(tx),
            back,
            handle: Some(handle),
        })
    }
}

/// Streams a body through MD5 and SHA-256 with bounded memory and without copies on the
/// PUT path: bytes are read straight into the buffer they are hashed from. Large bodies
/// (at least [`PARALLEL_MIN`]) on a multi-core machine get MD5 on a helper thread, fed
/// whole buffers through a short queue; SHA-256 stays on the connection's thread.
pub struct BodyHasher {
    sha256: Sha256Stream,
    /// Inline MD5 (None with a worker).
    md5: Option<Md5Stream>,
    worker: Option<Md5Worker>,
    buf: Box<[u8]>,
    /// Bytes of `buf` not yet handed to the worker.
    fill: usize,
    len: u64,
}

impl BodyHasher {
    /// A hasher for a body of about `expected` bytes.
    pub fn new(expected: u64) -> BodyHasher {
        let worker = if expected >= PARALLEL_MIN && multi_core() {
            Md5Worker::spawn()
        } else {
            None
        };
        let size = if worker.is_some() { BATCH } else { CHUNK };
        BodyHasher {
            sha256: Sha256Stream::default(),
            md5: worker.is_none().then(Md5Stream::default),
            worker,
            buf: vec![0u8; size].into_boxed_slice(),
            fill: 0,
            len: 0,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Hands the filled buffer to the worker and takes an empty one.
    fn ship(&mut self) {
        let Some(worker) = &mut self.worker else {
            return;
        };
        let fresh = worker
            .back
            .try_recv()
            .unwrap_or_else(|_| vec![0u8; BATCH].into_boxed_slice());
        let full = std::mem::replace(&mut self.buf, fresh);
        let n = std::mem::take(&mut self.fill);
        if let Some(tx) = &worker.tx {
            // The worker only stops when `tx` is dropped, so this cannot fail.
            let _ = tx.send((full, n));
        }
    }

    /// Reads once from `r` straight into the hash buffer; returns the count (0 at the end).
    pub fn read_from(&mut self, r: &mut dyn Read) -> io::Result<usize> {
        if self.worker.is_some() {
            if self.fill == self.buf.len() {
                self.ship();
            }
            let start = self.fill;
            let n = loop {
                match r.read(&mut self.buf[start..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            self.sha256.update(&self.buf[start..start + n]);
            self.fill += n;
            self.len += n as u64;
            return Ok(n);
        }
        let n = loop {
            match r.read(&mut self.buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.sha256.update(&self.buf[..n]);
        if let Some(md5) = &mut self.md5 {
            md5.update(&self.buf[..n]);
        }
        self.len += n as u64;
        Ok(n)
    }

    /// Hashes bytes that are already in memory (the multipart parser's buffer).
    pub fn update(&mut self, mut data: &[u8]) {
        self.sha256.update(data);
        self.len += data.len() as u64;
        if let Some(md5) = &mut self.md5 {
            md5.update(data);
            return;
        }
        while !data.is_empty() {
            if self.fill == self.buf.len() {
                self.ship();
            }
            let n = data.len().min(self.buf.len() - self.fill);
            self.buf[self.fill..self.fill + n].copy_from_slice(&data[..n]);
            self.fill += n;
            data = &data[n..];
        }
    }

    pub fn finish(mut self) -> DigestValues {
        let md5_raw = match self.md5.take() {
            Some(md5) => md5.finish(),
            None => {
                if self.fill > 0 {
                    self.ship();
                }
                let mut worker = self.worker.take();
                match worker.as_mut() {
                    Some(w) => {
                        w.tx = None; // ends the worker's loop
                        w.handle
                            .take()
                            .and_then(|h| h.join().ok())
                            .unwrap_or_default()
                    }
                    None => [0u8; 16],
                }
            }
        };
        let sha256 = std::mem::take(&mut self.sha256).finish_raw();
        DigestValues {
            len: self.len,
            md5: sign::hex(&md5_raw),
            sha256: sign::hex(&sha256),
            md5_raw,
        }
    }
}

/// Streams exactly `len` body bytes through MD5 and SHA-256 ([`BodyHasher`]).
pub fn stream_body(body: &mut dyn Read, len: u64) -> io::Result<DigestValues> {
    let mut hasher = BodyHasher::new(len);
    while hasher.read_from(body)? > 0 {}
    if hasher.len() != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(hasher.finish())
}

/// Counts the outcome of one request of `op`: dropped, succeeded (`code` 0) or rejected.
pub fn count_outcome(shared: &Shared, op: Op, resp: &Response) {
    let mut state = shared.lock();
    let stats = state.op_stats_mut(op);
    if resp.abort {
        stats.aborts += 1;
    } else if resp.code == Some(0) {
        stats.completions += 1;
    } else {
        stats.rejections += 1;
    }
}

/// A request id in the vendors' UUID form (uppercase).
pub fn request_id() -> String {
    let h = sign::hex(&sign::random_bytes(16)).to_uppercase();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Escapes text for XML element content (quotes need no escaping there).
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // As OSS and OBS (Java serializers) write them: clients must decode them.
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// An OSS / S3 style XML error; `id_header` carries the request id too
/// (`x-oss-request-id`, `x-amz-request-id`).
pub fn xml_error(status: u16, code: &str, message: &str, id_header: &'static str) -> Response {
    let id = request_id();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{}</Code>\n  \
         <Message>{}</Message>\n  <RequestId>{id}</RequestId>\n  \
         <HostId>127.0.0.1</HostId>\n</Error>\n",
        xml_escape(code),
        xml_escape(message)
    );
    Response {
        content_type: Some("application/xml"),
        body: body.into_bytes(),
        ..Response::json(status, String::new())
    }
    .with_header(id_header, id)
}

/// A success without body (`code` 0 for the statistics).
pub fn empty(status: u16) -> Response {
    Response {
        content_type: None,
        ..Response::json(status, String::new())
    }
    .with_code(0)
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space); None when an escape
/// is malformed or the result is not UTF-8.
pub fn parse_urlencoded(text: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for item in text.split('&').filter(|s| !s.is_empty()) {
        let (name, value) = item.split_once('=').unwrap_or((item, ""));
        out.push((
            percent_decode(&name.replace('+', " "))?,
            percent_decode(&value.replace('+', " "))?,
        ));
    }
    Some(out)
}

/// True when the request's Content-Type has media type `media` (parameters allowed).
pub fn media_type_is(req: &Request, media: &str) -> bool {
    matches!(
        req.single_header("content-type"),
        Ok(Some(ct)) if ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case(media))
    )
}

/// 411 for a body-carrying request without `Content-Length` (chunked is refused earlier).
pub fn require_length(req: &Request) -> Result<(), Response> {
    if req.has_content_length() {
        Ok(())
    } else {
        Err(Response::error(411, "Content-Length is required").closing())
    }
}

/// Lowercase alphanumerics, e.g. for object ids.
pub fn random_id(len: usize) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    sign::random_bytes(len)
        .into_iter()
        .map(|b| ALPHABET[usize::from(b) % 36] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        assert_eq!(
            parse_urlencoded("a=1&b=x+y%2B&&c&d=%E4%B8%AD").unwrap(),
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "x y+".to_string()),
                ("c".to_string(), String::new()),
                ("d".to_string(), "中".to_string()),
            ]
        );
        assert!(parse_urlencoded("a=%zz").is_none());
        assert_eq!(parse_urlencoded("").unwrap(), vec![]);
    }

    #[test]
    fn cut_body() {
        let data = vec![1u8; 1000];
        let mut src: &[u8] = &data;
        let mut body = UploadBody::new(&mut src);
        body.arm_cut(300);
        let mut buf = vec![0u8; 4096];
        assert_eq!(body.read(&mut buf).unwrap(), 300);
        assert!(body.read(&mut buf).is_err());
        let mut src: &[u8] = &data;
        assert_eq!(stream_body(&mut src, 1000).unwrap().len, 1000);
        let mut src: &[u8] = &data;
        assert!(stream_body(&mut src, 1001).is_err());
    }

    #[test]
    fn hasher_modes_agree() {
        let data: Vec<u8> = (0..(PARALLEL_MIN as usize + 3 * BATCH + 77))
            .map(|i| (i * 13 % 255) as u8)
            .collect();
        let mut reference = sign::Digests::default();
        reference.update(&data);
        let reference = reference.finish();
        // Reads of odd sizes, straight into the buffers.
        struct Odd<'a>(&'a [u8], usize);
        impl Read for Odd<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.1 = self.1 % 7 + 1;
                let n = buf.len().min(self.0.len()).min(self.1 * 10_007);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        for expected in [0, data.len() as u64] {
            let mut h = BodyHasher::new(expected);
            let mut src = Odd(&data, 0);
            while h.read_from(&mut src).unwrap() > 0 {}
            assert_eq!(h.finish(), reference);
            let mut h = BodyHasher::new(expected);
            for chunk in data.chunks(50_001) {
                h.update(chunk);
            }
            assert_eq!(h.finish(), reference);
        }
        // Dropped half-way: the worker ends.
        let mut h = BodyHasher::new(data.len() as u64);
        h.update(&data[..BATCH * 2]);
        drop(h);
    }

    #[test]
    fn ids_and_xml() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_eq!(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(random_id(25).len(), 25);
        let resp = xml_error(403, "AccessDenied", "no", "x-oss-request-id");
        let text = String::from_utf8(resp.body).unwrap();
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>AccessDenied</Code>\n  <Message>no</Message>\n  <RequestId>"));
        assert!(text.ends_with("</RequestId>\n  <HostId>127.0.0.1</HostId>\n</Error>\n"));
    }
}
