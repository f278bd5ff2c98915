//! Upload sources: where the bytes of an upload come from (a file, memory, a reader or C
//! callbacks), their declared size, and the digests a target needs.
//!
//! A source is read in at most two passes: one to compute the digests the target needs (both
//! at once when both are needed) unless they were given, then one to send. The second pass
//! needs a rewind; a source that cannot rewind fails with [`ErrorKind::NotRewindable`].
//! A source that yields more or fewer bytes than its declared size fails with
//! [`ErrorKind::SizeMismatch`].

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use sha2::Digest as _;

use crate::error::{Error, ErrorKind, Result};

/// The read side of a source. Implement it to upload from anything.
pub trait SourceRead: Send {
    /// Fill `buf` with up to `buf.len()` bytes; `Ok(0)` means the end.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize>;
    /// Whether [`SourceRead::rewind`] works.
    fn can_rewind(&self) -> bool;
    /// Start again from the first byte.
    fn rewind(&mut self) -> Result<()>;
}

struct FileRead {
    file: File,
    path: String,
}

impl SourceRead for FileRead {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            match self.file.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::Read,
                        format!("reading {}: {e}", self.path),
                    ))
                }
            }
        }
    }

    fn can_rewind(&self) -> bool {
        true
    }

    fn rewind(&mut self) -> Result<()> {
        self.file
            .seek(SeekFrom::Start(0))
            .map(|_| ())
            .map_err(|e| Error::new(ErrorKind::Read, format!("rewinding {}: {e}", self.path)))
    }
}

/// Bytes in memory, read from the start; rewindable.
pub(crate) struct MemoryRead<T> {
    pub(crate) data: T,
    pub(crate) pos: usize,
}

impl<T: AsRef<[u8]> + Send> SourceRead for MemoryRead<T> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let rest = &self.data.as_ref()[self.pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }

    fn can_rewind(&self) -> bool {
        true
    }

    fn rewind(&mut self) -> Result<()> {
        self.pos = 0;
        Ok(())
    }
}

struct ReaderRead<R>(R);

impl<R: Read + Send> SourceRead for ReaderRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            match self.0.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::Read,
                        format!("source read failed: {e}"),
                    ))
                }
            }
        }
    }

    fn can_rewind(&self) -> bool {
        false
    }

    fn rewind(&mut self) -> Result<()> {
        Err(Error::new(
            ErrorKind::NotRewindable,
            "this reader cannot rewind",
        ))
    }
}

struct SeekRead<R>(R);

impl<R: Read + Seek + Send> SourceRead for SeekRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        ReaderRead(&mut self.0).read(buf)
    }

    fn can_rewind(&self) -> bool {
        true
    }

    fn rewind(&mut self) -> Result<()> {
        self.0
            .seek(SeekFrom::Start(0))
            .map(|_| ())
            .map_err(|e| Error::new(ErrorKind::Read, format!("source rewind failed: {e}")))
    }
}

/// Digests of a source's content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Digests {
    /// MD5, if known.
    pub md5: Option<[u8; 16]>,
    /// SHA-256, if known.
    pub sha256: Option<[u8; 32]>,
}

/// What an upload reads: bytes of a declared size, maybe rewindable, maybe with known digests.
pub struct Source {
    reader: Box<dyn SourceRead>,
    size: u64,
    /// Bytes read since the last rewind (0: at the start).
    consumed: u64,
    given: Digests,
    label: String,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("label", &self.label)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

pub(crate) fn parse_hex<const N: usize>(hex: &str, what: &str) -> Result<[u8; N]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 2 * N {
        return Err(Error::invalid(format!(
            "{what} must be {} hex digits, got {}",
            2 * N,
            bytes.len()
        )));
    }
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        match (digit(pair[0]), digit(pair[1])) {
            (Some(h), Some(l)) => out[i] = h << 4 | l,
            _ => return Err(Error::invalid(format!("{what} is not hexadecimal"))),
        }
    }
    Ok(out)
}

/// Read buffer of the digest pass.
const HASH_CHUNK: usize = 64 * 1024;

impl Source {
    /// A source over any [`SourceRead`] of `size` bytes. `label` names it in messages.
    pub fn new(size: u64, reader: Box<dyn SourceRead>, label: impl Into<String>) -> Source {
        Source {
            reader,
            size,
            consumed: 0,
            given: Digests::default(),
            label: label.into(),
        }
    }

    /// A regular file; its size is taken now. Rewindable.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Source> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let file = File::open(path)
            .map_err(|e| Error::new(ErrorKind::Read, format!("cannot open {shown}: {e}")))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::new(ErrorKind::Read, format!("cannot stat {shown}: {e}")))?;
        if !meta.is_file() {
            return Err(Error::new(
                ErrorKind::Read,
                format!("{shown} is not a regular file"),
            ));
        }
        Ok(Source::new(
            meta.len(),
            Box::new(FileRead {
                file,
                path: shown.clone(),
            }),
            shown,
        ))
    }

    /// Bytes in memory. Rewindable.
    pub fn from_bytes(data: impl Into<Arc<[u8]>>) -> Source {
        let data = data.into();
        Source::new(
            data.len() as u64,
            Box::new(MemoryRead { data, pos: 0 }),
            "memory",
        )
    }

    /// A reader that cannot rewind, declared to yield exactly `size` bytes.
    pub fn from_reader<R: Read + Send + 'static>(size: u64, reader: R) -> Source {
        Source::new(size, Box::new(ReaderRead(reader)), "reader")
    }

    /// A seekable reader, declared to yield exactly `size` bytes from its start. Rewindable.
    pub fn from_seekable<R: Read + Seek + Send + 'static>(size: u64, reader: R) -> Source {
        Source::new(size, Box::new(SeekRead(reader)), "reader")
    }

    /// The declared size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// What this source is, for messages ("memory", a path, ...).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Declare the content's MD5 (32 hex digits) so no hashing pass is needed.
    pub fn set_md5_hex(&mut self, hex: &str) -> Result<()> {
        self.given.md5 = Some(parse_hex::<16>(hex, "MD5")?);
        Ok(())
    }

    /// Declare the content's SHA-256 (64 hex digits) so no hashing pass is needed.
    pub fn set_sha256_hex(&mut self, hex: &str) -> Result<()> {
        self.given.sha256 = Some(parse_hex::<32>(hex, "SHA-256")?);
        Ok(())
    }

    /// Make the next read start at the first byte (a no-op when nothing was read yet).
    pub(crate) fn restart(&mut self, why: &str) -> Result<()> {
        if self.consumed == 0 {
            return Ok(());
        }
        if !self.reader.can_rewind() {
            return Err(Error::new(
                ErrorKind::NotRewindable,
                format!(
                    "{why} needs the {} source from its start again, but it cannot rewind",
                    self.label
                ),
            ));
        }
        self.reader.rewind()?;
        self.consumed = 0;
        Ok(())
    }

    /// Whether the source could start over if it had to.
    pub(crate) fn can_restart(&self) -> bool {
        self.consumed == 0 || self.reader.can_rewind()
    }

    /// Read up to `buf.len()` bytes, counting them.
    pub(crate) fn read_some(&mut self, buf: &mut [u8]) -> Result<usize> {
        let n = self.reader.read(buf)?;
        if n > buf.len() {
            return Err(Error::new(
                ErrorKind::Read,
                format!(
                    "{} source reported {n} bytes read into a {} byte buffer",
                    self.label,
                    buf.len()
                ),
            ));
        }
        self.consumed += n as u64;
        Ok(n)
    }

    /// For a source declared empty, which no body read ever asks: check that it yields
    /// nothing, or fail with [`ErrorKind::SizeMismatch`].
    pub(crate) fn confirm_empty(&mut self) -> Result<()> {
        if self.size == 0 {
            let mut probe = [0u8; 1];
            if self.read_some(&mut probe)? != 0 {
                return Err(self.too_long());
            }
        }
        Ok(())
    }

    fn too_short(&self, got: u64) -> Error {
        Error::new(
            ErrorKind::SizeMismatch,
            format!(
                "{} source ended after {got} bytes but declared {}",
                self.label, self.size
            ),
        )
    }

    fn too_long(&self) -> Error {
        Error::new(
            ErrorKind::SizeMismatch,
            format!(
                "{} source has more than its declared {} bytes",
                self.label, self.size
            ),
        )
    }

    /// The digests an upload needs: the given ones, the rest computed in one pass over the
    /// source (which is then rewound for sending).
    pub(crate) fn digests(&mut self, md5: bool, sha256: bool) -> Result<Digests> {
        let need_md5 = md5 && self.given.md5.is_none();
        let need_sha = sha256 && self.given.sha256.is_none();
        let mut out = self.given;
        if need_md5 || need_sha {
            self.restart("computing the digest")?;
            let mut m = need_md5.then(crate::md5::Md5::new);
            let mut s = need_sha.then(sha2::Sha256::new);
            let mut buf = vec![0u8; HASH_CHUNK];
            let mut total: u64 = 0;
            loop {
                let n = self.read_some(&mut buf)?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                if total > self.size {
                    return Err(self.too_long());
                }
                if let Some(m) = m.as_mut() {
                    m.update(&buf[..n]);
                }
                if let Some(s) = s.as_mut() {
                    s.update(&buf[..n]);
                }
            }
            if total != self.size {
                return Err(self.too_short(total));
            }
            if let Some(m) = m {
                out.md5 = Some(m.finalize());
            }
            if let Some(s) = s {
                out.sha256 = Some(s.finalize().into());
            }
            self.restart("sending after computing the digest")?;
        }
        Ok(out)
    }
}

/// A progress callback: `(sent, total)`; returning false cancels.
pub type Progress<'a> = &'a mut (dyn FnMut(u64, u64) -> bool + 'a);

/// Borrow an optional progress callback for one attempt.
pub(crate) fn reborrow<'s>(p: &'s mut Option<Progress<'_>>) -> Option<Progress<'s>> {
    match p {
        Some(f) => Some(&mut **f),
        None => None,
    }
}

/// Progress already reported, kept across the attempts of one upload so the callback sees
/// `sent` rise monotonically even when a retry starts the body again.
#[derive(Debug, Default)]
pub(crate) struct Reported {
    announced: bool,
    high: u64,
}

/// The body of an upload as ureq reads it: optional framing bytes around the source, an
/// exact length, size checks, progress and cancel.
///
/// A source that ends early or runs long becomes an error *before* the last byte is handed
/// over, so the server never sees a complete body (ureq, given a fixed Content-Length, would
/// otherwise call a short reader again and again).
pub(crate) struct BodyReader<'a> {
    src: &'a mut Source,
    prefix: &'a [u8],
    suffix: &'a [u8],
    prefix_pos: usize,
    suffix_pos: usize,
    sent: u64,
    progress: Option<Progress<'a>>,
    reported: &'a mut Reported,
}

/// An error raised inside the body reader, carried through ureq's `io::Error`.
#[derive(Debug)]
pub(crate) struct BodyFailure(pub(crate) Error);

impl std::fmt::Display for BodyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.message())
    }
}

impl std::error::Error for BodyFailure {}

impl<'a> BodyReader<'a> {
    pub(crate) fn new(
        src: &'a mut Source,
        prefix: &'a [u8],
        suffix: &'a [u8],
        progress: Option<Progress<'a>>,
        reported: &'a mut Reported,
    ) -> Self {
        BodyReader {
            src,
            prefix,
            suffix,
            prefix_pos: 0,
            suffix_pos: 0,
            sent: 0,
            progress,
            reported,
        }
    }

    fn fail(e: Error) -> std::io::Error {
        std::io::Error::other(BodyFailure(e))
    }

    /// Tell the callback, once at the start and whenever `sent` passes its previous high.
    fn report(&mut self) -> Result<()> {
        if self.reported.announced && self.sent <= self.reported.high {
            return Ok(());
        }
        self.reported.announced = true;
        self.reported.high = self.reported.high.max(self.sent);
        if let Some(p) = self.progress.as_mut() {
            if !p(self.reported.high, self.src.size) {
                return Err(Error::new(
                    ErrorKind::Cancelled,
                    format!(
                        "upload cancelled by the progress callback after {} of {} bytes",
                        self.sent, self.src.size
                    ),
                ));
            }
        }
        Ok(())
    }

    fn read_source(&mut self, buf: &mut [u8]) -> Result<usize> {
        let remaining = self.src.size - self.sent;
        let want = (buf.len() as u64).min(remaining) as usize;
        let n = self.src.read_some(&mut buf[..want])?;
        if n == 0 {
            return Err(self.src.too_short(self.sent));
        }
        self.sent += n as u64;
        if self.sent == self.src.size {
            // Hold the last bytes back until the source confirms it has no more.
            let mut probe = [0u8; 1];
            if self.src.read_some(&mut probe)? != 0 {
                return Err(self.src.too_long());
            }
        }
        self.report()?;
        Ok(n)
    }
}

impl Read for BodyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.prefix_pos < self.prefix.len() {
            let rest = &self.prefix[self.prefix_pos..];
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.prefix_pos += n;
            return Ok(n);
        }
        if self.sent == 0 {
            self.report().map_err(Self::fail)?;
        }
        if self.sent < self.src.size {
            return self.read_source(buf).map_err(Self::fail);
        }
        let rest = &self.suffix[self.suffix_pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.suffix_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(src: &mut Source, prefix: &[u8], suffix: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut reported = Reported::default();
        let mut out = Vec::new();
        BodyReader::new(src, prefix, suffix, None, &mut reported).read_to_end(&mut out)?;
        Ok(out)
    }

    fn kind_of(e: std::io::Error) -> ErrorKind {
        e.get_ref()
            .and_then(|r| r.downcast_ref::<BodyFailure>())
            .map(|f| f.0.kind())
            .unwrap()
    }

    #[test]
    fn framing_and_exact_size() {
        let mut src = Source::from_bytes(b"hello".to_vec());
        assert_eq!(drain(&mut src, b"<", b">").unwrap(), b"<hello>");
    }

    #[test]
    fn short_and_long_sources_fail_before_the_end() {
        let mut short = Source::from_reader(6, &b"hello"[..]);
        let e = drain(&mut short, b"", b"").unwrap_err();
        assert_eq!(kind_of(e), ErrorKind::SizeMismatch);
        // The long one: the reader must not hand over the 4th byte.
        let mut long = Source::from_reader(4, &b"hello"[..]);
        let mut reported = Reported::default();
        let mut r = BodyReader::new(&mut long, b"", b"", None, &mut reported);
        let mut buf = [0u8; 2];
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        let e = r.read(&mut buf).unwrap_err();
        assert_eq!(kind_of(e), ErrorKind::SizeMismatch);
    }

    #[test]
    fn digests_in_one_pass_then_rewind() {
        let mut src = Source::from_bytes(b"abc".to_vec());
        let d = src.digests(true, true).unwrap();
        assert_eq!(
            crate::sign::hex(&d.md5.unwrap()),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            crate::sign::hex(&d.sha256.unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(drain(&mut src, b"", b"").unwrap(), b"abc");
    }

    #[test]
    fn given_digests_skip_the_pass() {
        let mut src = Source::from_reader(3, &b"abc"[..]);
        src.set_md5_hex("900150983CD24FB0D6963F7D28E17F72").unwrap();
        let d = src.digests(true, false).unwrap();
        assert!(d.md5.is_some() && d.sha256.is_none());
        // Not rewindable and SHA-256 unknown: the pass would need a second read.
        let mut src = Source::from_reader(3, &b"abc"[..]);
        let mut buf = [0u8; 1];
        src.read_some(&mut buf).unwrap();
        assert_eq!(
            src.digests(false, true).unwrap_err().kind(),
            ErrorKind::NotRewindable
        );
        // A fresh reader hashes, then cannot rewind to send.
        let mut src = Source::from_reader(3, &b"abc"[..]);
        assert_eq!(
            src.digests(true, false).unwrap_err().kind(),
            ErrorKind::NotRewindable
        );
    }

    #[test]
    fn bad_hex_is_refused() {
        let mut src = Source::from_bytes(Vec::new());
        assert!(src.set_md5_hex("xyz").is_err());
        assert!(src.set_md5_hex(&"g".repeat(32)).is_err());
        assert!(src.set_sha256_hex(&"a".repeat(63)).is_err());
        src.set_sha256_hex(&"A".repeat(64)).unwrap();
    }

    #[test]
    fn progress_rises_and_cancels() {
        let mut src = Source::from_bytes(vec![1u8; 10]);
        let mut seen = Vec::new();
        let mut cb = |sent: u64, total: u64| {
            seen.push((sent, total));
            sent < 6
        };
        let mut reported = Reported::default();
        let mut r = BodyReader::new(&mut src, b"", b"", Some(&mut cb), &mut reported);
        let mut buf = [0u8; 4];
        assert_eq!(r.read(&mut buf).unwrap(), 4);
        let e = r.read(&mut buf).unwrap_err();
        assert_eq!(kind_of(e), ErrorKind::Cancelled);
        assert_eq!(seen, vec![(0, 10), (4, 10), (8, 10)]);
    }

    #[test]
    fn file_source() {
        let dir = std::env::temp_dir().join(format!("iothttp-src-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f.bin");
        std::fs::write(&p, b"0123456789").unwrap();
        let mut src = Source::from_file(&p).unwrap();
        assert_eq!(src.size(), 10);
        src.digests(true, false).unwrap();
        assert_eq!(drain(&mut src, b"", b"").unwrap(), b"0123456789");
        assert_eq!(
            Source::from_file(dir.join("missing")).unwrap_err().kind(),
            ErrorKind::Read
        );
        assert_eq!(Source::from_file(&dir).unwrap_err().kind(), ErrorKind::Read);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
