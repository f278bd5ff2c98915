//! An incremental `multipart/form-data` reader (RFC 7578 / RFC 2046) with bounded memory:
//! one fixed buffer, text fields capped, file parts streamed to a callback straight from
//! that buffer.

use std::io::{self, Read};

use crate::http::Request;

/// Largest accepted text field value.
pub const MAX_FIELD: usize = 8 * 1024;

/// Largest accepted header block of one part.
pub const MAX_PART_HEAD: usize = 8 * 1024;

/// The read buffer (and so the largest chunk handed to a file callback).
pub const BUF_SIZE: usize = 64 * 1024;

/// Longest boundary RFC 2046 allows.
pub const MAX_BOUNDARY: usize = 70;

#[derive(Debug)]
pub enum MpError {
    /// The underlying read failed (connection lost, or a `cut`).
    Io(#[allow(dead_code)] io::Error),
    /// The body is not well-formed multipart (including a body that ends too early).
    Malformed(&'static str),
    /// A text field longer than allowed.
    FieldTooLarge,
}

impl From<io::Error> for MpError {
    fn from(e: io::Error) -> Self {
        MpError::Io(e)
    }
}

/// The head of one part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartHead {
    /// `name` of `Content-Disposition: form-data`.
    pub name: String,
    /// `filename`, when given.
    pub filename: Option<String>,
    /// The part's `Content-Type`, when given.
    pub content_type: Option<String>,
}

/// The boundary of a `multipart/form-data` request, if its Content-Type is one.
pub fn boundary(req: &Request) -> Option<String> {
    let ct = req.single_header("content-type").ok()??;
    let mut items = ct.split(';');
    if !items
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    for item in items {
        let (name, value) = item.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("boundary") {
            let value = value.trim();
            let value = match value.strip_prefix('"') {
                Some(v) => v.strip_suffix('"')?,
                None => value,
            };
            let ok = !value.is_empty()
                && value.len() <= MAX_BOUNDARY
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&b))
                && !value.ends_with(' ');
            return ok.then(|| value.to_string());
        }
    }
    None
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    /// Before the first delimiter.
    Preamble,
    /// Inside a part's body.
    Body,
    /// Just after a delimiter: `--` (the end) or a new part follows.
    AfterDelimiter,
    /// After the closing delimiter.
    Done,
}

/// Reads the parts of one multipart body from `R`.
pub struct Multipart<R> {
    inner: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    /// `\r\n--` + boundary.
    delim: Vec<u8>,
    /// Horspool shift table of `delim`.
    shift: [usize; 256],
    state: St,
}

impl<R: Read> Multipart<R> {
    pub fn new(inner: R, boundary: &str) -> Multipart<R> {
        let mut delim = b"\r\n--".to_vec();
        delim.extend_from_slice(boundary.as_bytes());
        let m = delim.len();
        let mut shift = [m; 256];
        for (i, &b) in delim[..m - 1].iter().enumerate() {
            shift[usize::from(b)] = m - 1 - i;
        }
        let mut buf = vec![0u8; BUF_SIZE].into_boxed_slice();
        // A virtual CRLF before the body lets the first delimiter (which has none) be found
        // like every other one.
        buf[..2].copy_from_slice(b"\r\n");
        Multipart {
            inner,
            buf,
            start: 0,
            end: 2,
            eof: false,
            delim,
            shift,
            state: St::Preamble,
        }
    }

    /// The underlying reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Moves the unconsumed bytes to the front and reads more; false at end of input.
    fn fill(&mut self) -> Result<bool, MpError> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(MpError::Malformed("part header block too large"));
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(MpError::Io(e)),
            }
        }
    }

    /// Horspool search for the delimiter in the buffered bytes.
    fn find_delim(&self) -> Option<usize> {
        let (hay, pat) = (self.buffered(), self.delim.as_slice());
        let m = pat.len();
        let last = pat[m - 1];
        let mut i = 0;
        while i + m <= hay.len() {
            let b = hay[i + m - 1];
            if b == last && hay[i..i + m - 1] == pat[..m - 1] {
                return Some(i);
            }
            i += self.shift[usize::from(b)];
        }
        None
    }

    /// Passes the current part's bytes to `sink` up to the next delimiter, which is consumed.
    fn stream_to_delim(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), MpError>,
    ) -> Result<u64, MpError> {
        let mut total = 0u64;
        loop {
            if let Some(i) = self.find_delim() {
                let data = &self.buf[self.start..self.start + i];
                total += data.len() as u64;
                sink(data)?;
                self.start += i + self.delim.len();
                self.state = St::AfterDelimiter;
                return Ok(total);
            }
            // Everything but a possible delimiter prefix at the end is part data.
            let keep = self.delim.len() - 1;
            let avail = self.end - self.start;
            if avail > keep {
                let n = avail - keep;
                let data = &self.buf[self.start..self.start + n];
                total += n as u64;
                sink(data)?;
                self.start += n;
            }
            if !self.fill()? {
                return Err(MpError::Malformed("body ends inside a part"));
            }
        }
    }

    /// Makes at least `n` bytes available; false when the input ends first.
    fn want(&mut self, n: usize) -> Result<bool, MpError> {
        while self.end - self.start < n {
            if !self.fill()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One header line of a part (without CRLF).
    fn header_line(&mut self, used: &mut usize) -> Result<String, MpError> {
        loop {
            if let Some(i) = self.buffered().windows(2).position(|w| w == b"\r\n") {
                *used += i + 2;
                if *used > MAX_PART_HEAD {
                    return Err(MpError::Malformed("part header block too large"));
                }
                let line = String::from_utf8_lossy(&self.buf[self.start..self.start + i]);
                let line = line.into_owned();
                self.start += i + 2;
                return Ok(line);
            }
            if *used + (self.end - self.start) > MAX_PART_HEAD {
                return Err(MpError::Malformed("part header block too large"));
            }
            if !self.fill()? {
                return Err(MpError::Malformed("body ends inside part headers"));
            }
        }
    }

    /// Advances to the next part and returns its head; None after the closing delimiter.
    /// An unread rest of the current part is skipped.
    pub fn next_part(&mut self) -> Result<Option<PartHead>, MpError> {
        match self.state {
            St::Done => return Ok(None),
            St::Preamble | St::Body => {
                self.stream_to_delim(&mut |_| Ok(()))?;
            }
            St::AfterDelimiter => {}
        }
        if !self.want(2)? {
            return Err(MpError::Malformed("body ends after a delimiter"));
        }
        if self.buffered().starts_with(b"--") {
            self.start += 2;
            self.state = St::Done;
            return Ok(None);
        }
        // Transport padding (RFC 2046 5.1.1), then CRLF.
        loop {
            if !self.want(1)? {
                return Err(MpError::Malformed("body ends after a delimiter"));
            }
            match self.buffered()[0] {
                b' ' | b'\t' => self.start += 1,
                _ => break,
            }
        }
        if !self.want(2)? || !self.buffered().starts_with(b"\r\n") {
            return Err(MpError::Malformed("delimiter not followed by CRLF"));
        }
        self.start += 2;

        let mut used = 0;
        let mut head = PartHead::default();
        let mut disposition = false;
        loop {
            let line = self.header_line(&mut used)?;
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or(MpError::Malformed("malformed part header"))?;
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-disposition") {
                if disposition {
                    return Err(MpError::Malformed("repeated Content-Disposition"));
                }
                disposition = true;
                let (name, filename) = parse_disposition(value)
                    .ok_or(MpError::Malformed("malformed Content-Disposition"))?;
                head.name = name;
                head.filename = filename;
            } else if name.eq_ignore_ascii_case("content-type") {
                head.content_type = Some(value.to_string());
            }
        }
        if !disposition {
            return Err(MpError::Malformed("part without Content-Disposition"));
        }
        self.state = St::Body;
        Ok(Some(head))
    }

    /// Reads the current part as a text field of at most `limit` bytes.
    pub fn read_text(&mut self, limit: usize) -> Result<String, MpError> {
        if self.state != St::Body {
            return Ok(String::new());
        }
        let mut out = Vec::new();
        self.stream_to_delim(&mut |data| {
            if out.len() + data.len() > limit {
                return Err(MpError::FieldTooLarge);
            }
            out.extend_from_slice(data);
            Ok(())
        })?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Streams the current part to `sink` chunk by chunk; returns its length.
    pub fn read_part(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), MpError>,
    ) -> Result<u64, MpError> {
        if self.state != St::Body {
            return Ok(0);
        }
        self.stream_to_delim(sink)
    }

    /// After the closing delimiter: reads and discards the epilogue up to the end of input.
    pub fn finish(&mut self) -> Result<(), MpError> {
        if self.state != St::Done {
            return Err(MpError::Malformed("no closing delimiter"));
        }
        self.start = self.end;
        while self.fill()? {
            self.start = self.end;
        }
        Ok(())
    }
}

/// `form-data; name="…"[; filename="…"]` → (name, filename).
fn parse_disposition(value: &str) -> Option<(String, Option<String>)> {
    let bytes = value.as_bytes();
    let mut i = 0;
    let token_end = |i: usize| {
        let mut j = i;
        while j < bytes.len() && !b";= \t\"".contains(&bytes[j]) {
            j += 1;
        }
        j
    };
    let skip_ws = |mut i: usize| {
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
            i += 1;
        }
        i
    };
    let j = token_end(i);
    if !value[i..j].eq_ignore_ascii_case("form-data") {
        return None;
    }
    i = skip_ws(j);
    let (mut name, mut filename) = (None, None);
    while i < bytes.len() {
        if bytes[i] != b';' {
            return None;
        }
        i = skip_ws(i + 1);
        if i == bytes.len() {
            break; // a trailing `;`
        }
        let j = token_end(i);
        let key = value[i..j].to_ascii_lowercase();
        if key.is_empty() {
            return None;
        }
        i = skip_ws(j);
        if bytes.get(i) != Some(&b'=') {
            return None;
        }
        i = skip_ws(i + 1);
        let text = if bytes.get(i) == Some(&b'"') {
            let mut out = Vec::new();
            i += 1;
            loop {
                match bytes.get(i)? {
                    b'"' => {
                        i += 1;
                        break;
                    }
                    b'\\' if i + 1 < bytes.len() => {
                        out.push(bytes[i + 1]);
                        i += 2;
                    }
                    &b => {
                        out.push(b);
                        i += 1;
                    }
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        } else {
            let j = token_end(i);
            let text = value[i..j].to_string();
            i = j;
            text
        };
        i = skip_ws(i);
        match key.as_str() {
            "name" if name.is_none() => name = Some(text),
            "filename" if filename.is_none() => filename = Some(text),
            "name" | "filename" => return None,
            _ => {}
        }
    }
    Some((name?, filename))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its data `step` bytes at a time, then fails or ends.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
        fail_at_end: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pos == self.data.len() {
                if self.fail_at_end {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                return Ok(0);
            }
            let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn body(parts: &[(&str, Option<&str>, &[u8])], boundary: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, filename, data) in parts {
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match filename {
                Some(f) => out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                         Content-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        out
    }

    type Parsed = Vec<(PartHead, Vec<u8>)>;

    fn parse(data: &[u8], boundary: &str, step: usize) -> Result<Parsed, MpError> {
        let reader = Trickle {
            data: data.to_vec(),
            pos: 0,
            step,
            fail_at_end: false,
        };
        let mut mp = Multipart::new(reader, boundary);
        let mut out = Vec::new();
        while let Some(head) = mp.next_part()? {
            let mut bytes = Vec::new();
            if head.filename.is_some() {
                let n = mp.read_part(&mut |d| {
                    assert!(d.len() <= BUF_SIZE);
                    bytes.extend_from_slice(d);
                    Ok(())
                })?;
                assert_eq!(n as usize, bytes.len());
            } else {
                bytes = mp.read_text(MAX_FIELD)?.into_bytes();
            }
            out.push((head, bytes));
        }
        mp.finish()?;
        Ok(out)
    }

    #[test]
    fn parts_across_every_read_split() {
        let boundary = "----b0undary";
        // File data that contains near-delimiters and CRLFs.
        let mut file = b"\r\n----b0undar\r\n--x\r\n-----b0undary-not\r".to_vec();
        file.extend((0..3000u32).map(|i| (i * 7 % 251) as u8));
        file.extend_from_slice(b"\r\n--");
        let data = body(
            &[
                ("key", None, b"ota/a/b.bin"),
                ("policy", None, b""),
                ("file", Some("fw.bin"), &file),
            ],
            boundary,
        );
        for step in [1, 2, 3, 5, 13, 64, 4096, usize::MAX] {
            let parts = parse(&data, boundary, step).unwrap();
            assert_eq!(parts.len(), 3, "step {step}");
            assert_eq!(parts[0].0.name, "key");
            assert_eq!(parts[0].1, b"ota/a/b.bin");
            assert_eq!(parts[1].1, b"");
            assert_eq!(parts[2].0.name, "file");
            assert_eq!(parts[2].0.filename.as_deref(), Some("fw.bin"));
            assert_eq!(
                parts[2].0.content_type.as_deref(),
                Some("application/octet-stream")
            );
            assert_eq!(parts[2].1, file, "step {step}");
        }
    }

    #[test]
    fn large_file_streams_in_bounded_chunks() {
        let boundary = "xyz";
        let file: Vec<u8> = (0..3 * BUF_SIZE + 17).map(|i| (i % 253) as u8).collect();
        let data = body(&[("file", Some("f"), &file)], boundary);
        let parts = parse(&data, boundary, usize::MAX).unwrap();
        assert_eq!(parts[0].1, file);
    }

    #[test]
    fn preamble_padding_and_epilogue() {
        let data = b"preamble\r\n--b  \r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--b--\r\nepilogue";
        let parts = parse(data, "b", 3).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].0.name, "a");
        assert_eq!(parts[0].1, b"1");
    }

    #[test]
    fn file_part_last_and_field_after_file_detectable() {
        let data = body(&[("file", Some("f"), b"abc"), ("key", None, b"late")], "b");
        let reader = Trickle {
            data,
            pos: 0,
            step: 7,
            fail_at_end: false,
        };
        let mut mp = Multipart::new(reader, "b");
        let head = mp.next_part().unwrap().unwrap();
        assert_eq!(head.name, "file");
        let mut got = Vec::new();
        mp.read_part(&mut |d| {
            got.extend_from_slice(d);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, b"abc");
        // The caller sees that another part follows the file.
        assert_eq!(mp.next_part().unwrap().unwrap().name, "key");
    }

    #[test]
    fn truncated_and_malformed_bodies() {
        let data = body(&[("key", None, b"v"), ("file", Some("f"), b"abcdef")], "b");
        for cut in [0, 5, 20, data.len() / 2, data.len() - 8, data.len() - 3] {
            let r = parse(&data[..cut], "b", 4);
            assert!(
                matches!(r, Err(MpError::Malformed(_))),
                "cut at {cut}: {r:?}"
            );
        }
        // The last CRLF after the closing delimiter is optional.
        assert!(parse(&data[..data.len() - 2], "b", 4).is_ok());
        // A connection lost mid-body is an I/O error, not a malformed body.
        let reader = Trickle {
            data: data[..data.len() - 10].to_vec(),
            pos: 0,
            step: 4,
            fail_at_end: true,
        };
        let mut mp = Multipart::new(reader, "b");
        mp.next_part().unwrap();
        mp.read_text(MAX_FIELD).unwrap();
        mp.next_part().unwrap();
        assert!(matches!(mp.read_part(&mut |_| Ok(())), Err(MpError::Io(_))));

        let no_disposition = b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--";
        assert!(matches!(
            parse(no_disposition, "b", 100),
            Err(MpError::Malformed(_))
        ));
        let bare_lf = b"--b\nContent-Disposition: form-data; name=a\n\nx\n--b--";
        assert!(matches!(
            parse(bare_lf, "b", 100),
            Err(MpError::Malformed(_))
        ));
        let big = vec![b'v'; MAX_FIELD + 1];
        let data = body(&[("policy", None, &big)], "b");
        assert!(matches!(
            parse(&data, "b", 1000),
            Err(MpError::FieldTooLarge)
        ));
        let long_head = format!(
            "--b\r\nContent-Disposition: form-data; name=a\r\nX: {}\r\n\r\nx\r\n--b--",
            "h".repeat(MAX_PART_HEAD)
        );
        assert!(matches!(
            parse(long_head.as_bytes(), "b", 1000),
            Err(MpError::Malformed(_))
        ));
    }

    #[test]
    fn dispositions() {
        assert_eq!(
            parse_disposition(r#"form-data; name="file"; filename="a \"b\".bin""#),
            Some(("file".into(), Some("a \"b\".bin".into())))
        );
        assert_eq!(
            parse_disposition("Form-Data;name=key"),
            Some(("key".into(), None))
        );
        assert_eq!(
            parse_disposition(r#"form-data; name="k"; x=1;"#),
            Some(("k".into(), None))
        );
        assert_eq!(parse_disposition("attachment; name=k"), None);
        assert_eq!(parse_disposition("form-data; filename=f"), None);
        assert_eq!(parse_disposition(r#"form-data; name="k"#), None);
        assert_eq!(parse_disposition("form-data; name=a; name=b"), None);
    }
}
