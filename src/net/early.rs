//! Replies that arrive before the request body is sent.
//!
//! A store that refuses an upload part-way (an expired URL, a policy it checks on the first
//! bytes, an object too large) answers its error at once and closes the connection with
//! the rest of the body unread, so the kernel resets it under a client that is still
//! sending. The write then fails with a reset, but the reply is already in the socket's
//! receive queue. The transports read it back when a write fails that way
//! ([`salvage_wait`] bounds how long), the outermost one stashes it here, and
//! `Http::send` reports it as the reply of the request: the store's status and error, not
//! an I/O error that would be retried from byte 0 until the retry budget is gone.

use std::cell::RefCell;
use std::io;
use std::time::{Duration, SystemTime};

/// Most bytes of an early reply kept (a store's error document is a few hundred bytes).
pub(crate) const MAX_EARLY_REPLY: usize = 64 * 1024;
/// Longest wait for an early reply after a write failed (a reset peer answers at once:
/// this only bounds a peer that closed its side without a reset and without a reply).
const MAX_SALVAGE_WAIT: Duration = Duration::from_secs(2);

thread_local! {
    static EARLY_REPLY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Whether a failed write means the peer closed or reset the connection (so a reply it
/// sent first may be waiting to be read).
pub(crate) fn is_peer_close(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::WriteZero
    )
}

/// How long to wait for an early reply, given the write's own time limit.
pub(crate) fn salvage_wait(limit: Option<Duration>) -> Duration {
    limit.map_or(MAX_SALVAGE_WAIT, |l| l.min(MAX_SALVAGE_WAIT))
}

/// Forget any stashed reply (start of a request).
pub(crate) fn clear() {
    EARLY_REPLY.with(|r| r.borrow_mut().clear());
}

/// Stash the bytes read back after a failed write.
pub(crate) fn stash(bytes: &[u8]) {
    EARLY_REPLY.with(|r| {
        let mut r = r.borrow_mut();
        r.clear();
        r.extend_from_slice(&bytes[..bytes.len().min(MAX_EARLY_REPLY)]);
    });
}

/// An early reply, parsed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EarlyReply {
    pub status: u16,
    pub body: Vec<u8>,
    pub date: Option<SystemTime>,
    pub location: Option<String>,
}

/// Takes the stashed reply when it is a complete refusal: a final status of 300 or more
/// with its whole body (at most `max_body` bytes). A success, an interim `1xx` only, or
/// anything that does not parse is no reply: the write failure stands.
pub(crate) fn take(max_body: usize) -> Option<EarlyReply> {
    let bytes = EARLY_REPLY.with(|r| std::mem::take(&mut *r.borrow_mut()));
    parse(&bytes, max_body).filter(|r| r.status >= 300)
}

fn parse(mut bytes: &[u8], max_body: usize) -> Option<EarlyReply> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut head = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(used) = head.parse(bytes).ok()? else {
            return None;
        };
        let status = head.code?;
        if (100..200).contains(&status) {
            // `100 Continue` and friends: the real reply follows.
            bytes = &bytes[used..];
            continue;
        }
        let header = |name: &str| {
            head.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .map(str::trim)
        };
        let rest = &bytes[used..];
        let chunked = header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        let body = if chunked {
            dechunk(rest, max_body)?
        } else if let Some(len) = header("content-length") {
            let len: usize = len.parse().ok()?;
            if len > max_body || rest.len() < len {
                return None;
            }
            rest[..len].to_vec()
        } else {
            // Delimited by the close.
            if rest.len() > max_body {
                return None;
            }
            rest.to_vec()
        };
        return Some(EarlyReply {
            status,
            body,
            date: header("date").and_then(|d| httpdate::parse_http_date(d).ok()),
            location: header("location").map(str::to_string),
        });
    }
}

/// A complete chunked body, or None.
fn dechunk(mut rest: &[u8], max_body: usize) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        if size > max_body.saturating_sub(body.len()) || rest.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&rest[..size]);
        if &rest[size..size + 2] != b"\r\n" {
            return None;
        }
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = "<Error><Code>AccessDenied</Code></Error>";

    #[test]
    fn a_refusal_with_its_body_is_taken() {
        let reply = format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Length: {}\r\nDate: Tue, 01 Dec 2026 00:00:00 GMT\r\n\r\n{XML}",
            XML.len()
        );
        stash(reply.as_bytes());
        let r = take(1 << 20).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (403, XML.as_bytes()));
        assert!(r.date.is_some());
        // Taken once.
        assert!(take(1 << 20).is_none());
    }

    #[test]
    fn interim_replies_are_skipped_and_chunked_bodies_decoded() {
        let reply = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=1\r\nabc\r\n0\r\n\r\n";
        let r = parse(reply.as_bytes(), 100).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (400, &b"helloabc"[..]));
        // A body over the cap, or cut short, is no reply.
        assert!(parse(reply.as_bytes(), 6).is_none());
        assert!(parse(&reply.as_bytes()[..reply.len() - 12], 100).is_none());
    }

    #[test]
    fn successes_partial_heads_and_garbage_are_not_replies() {
        stash(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(take(100).is_none());
        stash(b"HTTP/1.1 403 Forbidden\r\nContent-Le");
        assert!(take(100).is_none());
        stash(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nshort");
        assert!(take(100).is_none());
        stash(b"\x16\x03\x03 not http");
        assert!(take(100).is_none());
        stash(b"HTTP/1.1 100 Continue\r\n\r\n");
        assert!(take(100).is_none());
        // Close-delimited.
        stash(b"HTTP/1.1 503 Busy\r\n\r\nlater");
        assert_eq!(take(100).unwrap().body, b"later");
    }

    #[test]
    fn peer_close_kinds() {
        for kind in [
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::WriteZero,
        ] {
            assert!(is_peer_close(&io::Error::from(kind)));
        }
        assert!(!is_peer_close(&io::Error::from(io::ErrorKind::TimedOut)));
        assert_eq!(salvage_wait(None), MAX_SALVAGE_WAIT);
        assert_eq!(
            salvage_wait(Some(Duration::from_millis(5))),
            Duration::from_millis(5)
        );
    }
}
