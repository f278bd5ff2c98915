//! Streaming uploads shared by every target: the exact-length PUT / multipart POST, the retry
//! loop (from the start of a rewindable source, with a fresh URL or policy when the old one
//! may have expired), reply classification, and the generic presigned PUT / POST-form calls.

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::log::log;
use crate::net::transport::{loggable_url, Body, Budget, Http, Method, Request, Response};
use crate::transfer::source::{reborrow, BodyReader, Progress, Reported, Source};

/// Replies to uploads are small (empty, `{}`, an XML error); larger is refused.
pub(crate) const MAX_UPLOAD_REPLY: usize = 64 * 1024;

/// Where one attempt sends the source.
pub(crate) struct Target<'a> {
    pub method: Method,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    /// Bytes before the source (multipart framing), and after.
    pub prefix: &'a [u8],
    pub suffix: &'a [u8],
    /// Send exactly `headers` plus Content-Length (no default User-Agent).
    pub exact_headers: bool,
}

/// Send `src` (from its first byte) to `target` and read the reply.
pub(crate) fn send_source(
    http: &Http,
    target: &Target<'_>,
    src: &mut Source,
    progress: Option<Progress<'_>>,
    reported: &mut Reported,
) -> Result<Response> {
    src.restart("the upload")?;
    src.confirm_empty()?;
    let len = (target.prefix.len() as u64)
        .checked_add(src.size())
        .and_then(|n| n.checked_add(target.suffix.len() as u64))
        .ok_or_else(|| Error::new(ErrorKind::TooLarge, "the body would exceed 2^64 bytes"))?;
    let progress = progress.map(|f| f as Progress<'_>);
    let mut reader = BodyReader::new(src, target.prefix, target.suffix, progress, reported);
    http.send(Request {
        method: target.method,
        url: target.url,
        headers: target.headers,
        body: Body::Stream {
            reader: &mut reader,
            len,
        },
        max_reply: MAX_UPLOAD_REPLY,
        exact_headers: target.exact_headers,
    })
}

/// The outcome of one attempt, as the retry loop needs it.
pub(crate) enum Attempt<T> {
    /// Done.
    Ok(T),
    /// The URL, policy or signature expired: fetch fresh ones and try once more.
    Expired(Error),
    /// Failed; retried when [`is_upload_retryable`] and the source can start over.
    Err(Error),
}

/// Upload failures that certainly left no completed object and may pass on a second try:
/// nothing was sent (connect), the connection broke mid-way, or the server said it is
/// unavailable or throttling. A timeout is not retried: it has already used its bound.
pub(crate) fn is_upload_retryable(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Connect | ErrorKind::Io | ErrorKind::Unavailable | ErrorKind::RateLimited
    )
}

/// Run `one` (fetch a target, send the source, read the verdict) until it succeeds, with
/// retries from the start of the source where that is safe.
pub(crate) fn run_upload<T>(
    http: &Http,
    label: &str,
    src: &mut Source,
    mut one: impl FnMut(&mut Source, &mut Reported, &mut Budget) -> Attempt<T>,
) -> Result<T> {
    let max = http.max_attempts();
    let mut reported = Reported::default();
    let mut budget = Budget::default();
    let mut attempt = 1;
    let mut refreshed = false;
    loop {
        let outcome = one(src, &mut reported, &mut budget);
        if let Attempt::Expired(e) | Attempt::Err(e) = &outcome {
            budget.note(e);
        }
        match outcome {
            Attempt::Ok(v) => return Ok(v),
            Attempt::Expired(e) if !refreshed => {
                refreshed = true;
                if !src.can_restart() {
                    return Err(not_rewindable(src, &e));
                }
                log!(
                    http.logger,
                    Warn,
                    "{label}: {}; retrying once with fresh upload parameters",
                    e.message()
                );
            }
            Attempt::Expired(e) => return Err(e),
            // A step that already used its own retries (a URL or token request) is final.
            Attempt::Err(e) if e.budget_spent() => return Err(e),
            Attempt::Err(e) if is_upload_retryable(e.kind()) && attempt < max => {
                if !src.can_restart() {
                    return Err(not_rewindable(src, &e));
                }
                let delay = http.backoff(attempt);
                log!(
                    http.logger,
                    Warn,
                    "{label}: {} (attempt {attempt}/{max}); retrying from the start in {} ms",
                    e.message(),
                    delay.as_millis()
                );
                std::thread::sleep(delay);
                attempt += 1;
            }
            Attempt::Err(e) if is_upload_retryable(e.kind()) && max > 1 => {
                return Err(e.gave_up(max));
            }
            Attempt::Err(e) => return Err(e),
        }
    }
}

fn not_rewindable(src: &Source, cause: &Error) -> Error {
    Error::new(
        ErrorKind::NotRewindable,
        format!(
            "{}; retrying needs the {} source from its start, but it cannot rewind",
            cause.message(),
            src.label()
        ),
    )
    .with_cloud_code(cause.cloud_code())
    .with_http_status(cause.http_status())
}

/// `<Code>` and `<Message>` of an S3/OSS/OBS XML error body, sanitised for a log line.
pub(crate) fn xml_error(body: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(body).ok()?;
    if !text.contains("<Error>") {
        return None;
    }
    let field = |tag: &str| -> String {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        text.find(&open)
            .and_then(|i| {
                let rest = &text[i + open.len()..];
                rest.find(&close).map(|j| &rest[..j])
            })
            .map(xml_unescape)
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(160)
            .collect()
    };
    Some((field("Code"), field("Message")))
}

/// XML text with its entities decoded: the five predefined ones and character references
/// (`&#39;`, `&#x27;`); anything else is kept as written.
fn xml_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let decoded = rest.find(';').filter(|&j| j <= 10).and_then(|j| {
            let name = &rest[1..j];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .map(|h| u32::from_str_radix(h, 16))
                    .or_else(|| name.strip_prefix('#').map(str::parse::<u32>))
                    .and_then(|n| n.ok())
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, j))
        });
        match decoded {
            Some((c, j)) => {
                out.push(c);
                rest = &rest[j + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Classify a store's reply (S3/OSS/OBS style): 2xx is success; 503/429 retryable; 3xx a
/// refused redirect; anything else an HTTP error carrying the XML `Code` where there is one.
pub(crate) fn store_reply(what: &str, resp: &Response) -> Attempt<()> {
    let s = resp.status;
    if (200..300).contains(&s) {
        return Attempt::Ok(());
    }
    let detail = match xml_error(&resp.body) {
        Some((code, msg)) if !code.is_empty() => format!(": {code}: {msg}"),
        _ => String::new(),
    };
    let kind = match s {
        300..=399 => {
            return Attempt::Err(
                Error::new(
                    ErrorKind::Http,
                    format!(
                    "{what}: unexpected redirect (HTTP {s}) to {}; redirects are never followed",
                    resp.location
                        .as_deref()
                        .map(loggable_url)
                        .unwrap_or_else(|| "nowhere".into())
                ),
                )
                .with_http_status(s)
                .with_cloud_code(s.into()),
            )
        }
        429 => ErrorKind::RateLimited,
        503 => ErrorKind::Unavailable,
        _ => ErrorKind::Http,
    };
    Attempt::Err(
        Error::new(kind, format!("{what}: HTTP {s}{detail}"))
            .with_http_status(s)
            .with_cloud_code(s.into()),
    )
}

/// A header name: an HTTP token.
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value: no CR, LF or NUL, at most 8 KiB.
pub(crate) fn is_header_value(value: &str) -> bool {
    value.len() <= 8192 && !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

/// Split "Name: value" lines; refuse framing headers the library owns.
pub(crate) fn parse_header_lines(lines: &[&str], size: u64) -> Result<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| Error::invalid(format!("header #{} is not \"Name: value\"", i + 1)))?;
        let name = name.trim();
        let value = value.trim();
        if !is_token(name) {
            return Err(Error::invalid(format!(
                "header #{} has an invalid name",
                i + 1
            )));
        }
        if !is_header_value(value) {
            return Err(Error::invalid(format!(
                "header '{name}' has a value with CR, LF or NUL, or longer than 8 KiB"
            )));
        }
        match name.to_ascii_lowercase().as_str() {
            "content-length" => {
                if value.parse::<u64>().ok() != Some(size) {
                    return Err(Error::invalid(format!(
                        "header Content-Length: {value} disagrees with the source size {size}"
                    )));
                }
                continue; // the library sends it
            }
            "transfer-encoding" | "connection" | "expect" | "upgrade" => {
                return Err(Error::invalid(format!(
                    "header '{name}' is managed by the library and cannot be set"
                )))
            }
            _ => {}
        }
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

/// The file part of a form upload.
#[derive(Debug, Clone, Copy)]
pub struct FormFile<'a> {
    /// The form field name (e.g. "file").
    pub field: &'a str,
    /// The file name sent in the part's Content-Disposition.
    pub file_name: &'a str,
    /// The part's Content-Type.
    pub content_type: &'a str,
}

/// Framing of a `multipart/form-data` body whose last part is the streamed file.
pub(crate) struct Multipart {
    pub content_type: String,
    pub prefix: Vec<u8>,
    pub suffix: Vec<u8>,
}

fn check_form_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() && what != "file name" {
        return Err(Error::invalid(format!("form {what} is empty")));
    }
    if name.len() > 1024
        || name
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
    {
        return Err(Error::invalid(format!(
            "form {what} '{}' contains a quote, backslash or control character, or is too long",
            name.chars().take(40).collect::<String>()
        )));
    }
    Ok(())
}

impl Multipart {
    /// Fields in order, then the file part last.
    pub(crate) fn new(
        boundary_seed: u128,
        fields: &[(&str, &str)],
        file_field: &str,
        file_name: &str,
        content_type: &str,
    ) -> Result<Multipart> {
        check_form_name("field name", file_field)?;
        check_form_name("file name", file_name)?;
        if content_type.is_empty() || !is_header_value(content_type) {
            return Err(Error::invalid("file content type is empty or malformed"));
        }
        let boundary = format!("iothttp-{boundary_seed:032x}");
        let mut prefix = Vec::new();
        for (name, value) in fields {
            check_form_name("field name", name)?;
            if value.contains(&boundary) {
                return Err(Error::invalid("form value contains the multipart boundary"));
            }
            prefix.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        prefix.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        Ok(Multipart {
            content_type: format!("multipart/form-data; boundary={boundary}"),
            prefix,
            suffix: format!("\r\n--{boundary}--\r\n").into_bytes(),
        })
    }
}

impl Client {
    /// Upload `src` with `PUT url` (a presigned URL of S3, COS, OBS, ...), sending `headers`
    /// (`("Name", "value")`) and an exact `Content-Length`. A 2xx status is success; other
    /// statuses fail with the status in the error. Retried from the start of a rewindable
    /// source after a broken connection, 503 or 429.
    pub fn put(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        src: &mut Source,
        mut progress: Option<Progress<'_>>,
    ) -> Result<()> {
        let lines: Vec<String> = headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let headers = parse_header_lines(&lines, src.size())?;
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        self.http.check_url(url, "put")?;
        let what = format!("PUT {}", loggable_url(url));
        run_upload(&self.http, &what, src, |src, reported, _| {
            let target = Target {
                method: Method::Put,
                url,
                headers: &headers,
                prefix: &[],
                suffix: &[],
                exact_headers: false,
            };
            match send_source(&self.http, &target, src, reborrow(&mut progress), reported) {
                Ok(resp) => store_reply(&what, &resp),
                Err(e) => Attempt::Err(e),
            }
        })
    }

    /// Upload `src` as the last part (`file`) of a `multipart/form-data` POST to `url` after
    /// the text `fields`, with an exact `Content-Length` (no chunked body): a presigned POST
    /// policy of S3, OSS, COS, ...
    pub fn post_form(
        &self,
        url: &str,
        fields: &[(&str, &str)],
        file: FormFile<'_>,
        src: &mut Source,
        mut progress: Option<Progress<'_>>,
    ) -> Result<()> {
        self.http.check_url(url, "post_form")?;
        let form = Multipart::new(
            self.http.random_u128(),
            fields,
            file.field,
            file.file_name,
            file.content_type,
        )?;
        let headers = [("Content-Type", form.content_type.as_str())];
        let what = format!("POST {}", loggable_url(url));
        run_upload(&self.http, &what, src, |src, reported, _| {
            let target = Target {
                method: Method::Post,
                url,
                headers: &headers,
                prefix: &form.prefix,
                suffix: &form.suffix,
                exact_headers: false,
            };
            match send_source(&self.http, &target, src, reborrow(&mut progress), reported) {
                Ok(resp) => store_reply(&what, &resp),
                Err(e) => Attempt::Err(e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines() {
        let h = parse_header_lines(
            &["X-A: 1", "Content-Type:  text/plain ", "Content-Length: 5"],
            5,
        )
        .unwrap();
        assert_eq!(
            h,
            vec![
                ("X-A".to_string(), "1".to_string()),
                ("Content-Type".to_string(), "text/plain".to_string())
            ]
        );
        for bad in [
            &["nocolon"][..],
            &["Bad Name: x"],
            &["Content-Length: 6"],
            &["Transfer-Encoding: chunked"],
            &[": x"],
        ] {
            assert_eq!(
                parse_header_lines(bad, 5).unwrap_err().kind(),
                ErrorKind::InvalidArg,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn multipart_framing() {
        let m = Multipart::new(
            7,
            &[("key", "a/b"), ("policy", "p")],
            "file",
            "x.bin",
            "application/octet-stream",
        )
        .unwrap();
        let b = "iothttp-00000000000000000000000000000007";
        assert_eq!(m.content_type, format!("multipart/form-data; boundary={b}"));
        let prefix = String::from_utf8(m.prefix).unwrap();
        assert!(prefix.starts_with(&format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\na/b\r\n"
        )));
        assert!(prefix
            .ends_with("filename=\"x.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"));
        assert_eq!(m.suffix, format!("\r\n--{b}--\r\n").into_bytes());
        assert!(Multipart::new(7, &[("a\"b", "v")], "file", "x", "t").is_err());
        assert!(Multipart::new(7, &[], "file", "x\ny", "t").is_err());
        assert!(Multipart::new(7, &[], "", "x", "t").is_err());
    }

    #[test]
    fn bodies_beyond_u64_are_refused_before_sending() {
        let http = Http::new(&crate::Config::new()).unwrap();
        let mut src = Source::from_reader(u64::MAX, std::io::empty());
        let target = Target {
            method: Method::Post,
            url: "https://127.0.0.1:1/",
            headers: &[],
            prefix: b"--b\r\n",
            suffix: b"",
            exact_headers: false,
        };
        let mut reported = Reported::default();
        let e = send_source(&http, &target, &mut src, None, &mut reported).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge);
    }

    #[test]
    fn xml_errors() {
        let body = b"<?xml version=\"1.0\"?>\n<Error>\n  <Code>AccessDenied</Code>\n  <Message>Invalid according to Policy: Policy expired.</Message>\n</Error>";
        assert_eq!(
            xml_error(body).unwrap(),
            (
                "AccessDenied".to_string(),
                "Invalid according to Policy: Policy expired.".to_string()
            )
        );
        assert!(xml_error(b"{}").is_none());
        // Entities are decoded (OSS writes "The bucket you are attempting to access must be
        // addressed using the specified endpoint" and friends with &apos; and &quot;).
        let body = b"<Error><Code>A&amp;B</Code><Message>It&apos;s &quot;x&quot; &lt;1&gt; &#39;y&#x27; &#x1F600; &bogus; & &#xZZ;</Message></Error>";
        assert_eq!(
            xml_error(body).unwrap(),
            (
                "A&B".to_string(),
                "It's \"x\" <1> 'y' \u{1F600} &bogus; & &#xZZ;".to_string()
            )
        );
    }
}
