//! The HTTP engine shared by every device and account of a client: one ureq agent (one
//! connection pool), TLS trust, timeouts, size caps, retries with backoff, clock-skew
//! tracking, and the log.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ureq::config::AutoHeaderValue;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    ConnectProxyConnector, ConnectionDetails, Connector, NextTimeout, Transport,
};
use ureq::Agent;

use crate::config::{Config, ResolveEntry, RetryPolicy};
use crate::error::{Error, ErrorKind, Result};
use crate::log::{log, Logger};
use crate::net::counter::Counter;
use crate::net::tls::{TlsConnector, TlsFailure};

/// Per-connection receive and send buffers (ureq's default is 128 KiB each way). The send
/// buffer is the size of one body write: 64 KiB keeps large uploads at curl's pace.
const INPUT_BUFFER: usize = 16 * 1024;
const OUTPUT_BUFFER: usize = 64 * 1024;
/// Largest response header block accepted (below the input buffer, so that ureq sees the
/// limit rather than a full buffer).
const MAX_RESPONSE_HEADER: usize = 8 * 1024;
/// A skew smaller than this is clock noise (Date has one-second resolution).
const SKEW_THRESHOLD_MS: i64 = 60_000;

/// HTTP methods the clouds use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Put,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

/// A request body: bytes in memory, or a stream of an exact length.
pub(crate) enum Body<'a> {
    Bytes(&'a [u8]),
    Stream {
        reader: &'a mut dyn io::Read,
        len: u64,
    },
}

impl Body<'_> {
    fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::Stream { len, .. } => *len,
        }
    }
}

/// One request. Header names go on the wire with the casing given here.
pub(crate) struct Request<'a> {
    pub method: Method,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Body<'a>,
    /// Largest reply body accepted; larger is [`ErrorKind::BadResponse`].
    pub max_reply: usize,
    /// Send exactly these headers (plus framing): no default User-Agent.
    pub exact_headers: bool,
}

impl Request<'_> {
    /// Whether the caller supplies a User-Agent (else the client's is added).
    fn has_user_agent(&self) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
    }
}

/// A reply: status, body (capped), and the headers the dialects use.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    pub date: Option<SystemTime>,
    pub location: Option<String>,
}

#[cfg(test)]
impl Response {
    /// A reply for parser tests.
    pub(crate) fn test(status: u16, body: &str) -> Response {
        Response {
            status,
            body: body.as_bytes().to_vec(),
            date: None,
            location: None,
        }
    }
}

/// A reply whose body is read as it arrives (see [`Http::get_streaming`]).
pub(crate) struct Streaming {
    pub status: u16,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub content_range: Option<String>,
    pub location: Option<String>,
    /// The body's length when the server framed it with `Content-Length`.
    pub content_length: Option<u64>,
    reader: ureq::BodyReader<'static>,
    target: String,
    limits: Limits,
}

impl Streaming {
    /// The next bytes of the body (0 at its end), a failure as the crate's error.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            match io::Read::read(&mut self.reader, buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let e = map_ureq(ureq::Error::from(e), &self.target, self.limits);
                    // The head arrived, the body broke off: the connection failed mid-reply.
                    return Err(if e.kind() == ErrorKind::BadResponse {
                        Error::new(ErrorKind::Io, e.message().to_string())
                    } else {
                        e
                    }
                    .with_http_status(self.status));
                }
            }
        }
    }

    /// `GET <url>` as logged.
    pub(crate) fn target(&self) -> &str {
        &self.target
    }
}

/// Counters a client exposes for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// TLS handshakes completed by this client.
    pub tls_handshakes: u64,
    /// HTTP requests sent (including retries).
    pub requests: u64,
}

thread_local! {
    /// The end of the whole-call deadline of the API call running on this thread, if any.
    static CALL_DEADLINE: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
    /// The end of the connect budget of the connection being opened on this thread: one
    /// budget for the name lookup, TCP connect and TLS handshake together.
    static CONNECT_DEADLINE: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

/// Time left of the connect budget of the connection being opened on this thread.
pub(crate) fn connect_time_left() -> Option<Duration> {
    CONNECT_DEADLINE
        .with(|d| d.get())
        .map(|d| d.saturating_duration_since(Instant::now()))
}

fn call_time_left() -> Option<Duration> {
    CALL_DEADLINE
        .with(|d| d.get())
        .map(|d| d.saturating_duration_since(Instant::now()))
}

/// While alive, bounds the calls on this thread by the client's whole-call deadline (a no-op
/// without one, or inside an outer call that already set it).
pub(crate) struct CallScope {
    owner: bool,
}

impl Drop for CallScope {
    fn drop(&mut self) {
        if self.owner {
            CALL_DEADLINE.with(|d| d.set(None));
        }
    }
}

/// The transport of a client. Shared by `Arc` among its devices.
pub(crate) struct Http {
    agent: Agent,
    deadline: Option<Duration>,
    /// Header names the caller marked secret (lower case).
    secret_headers: Vec<String>,
    pub(crate) logger: Logger,
    retry: RetryPolicy,
    allow_plain_http: bool,
    handshakes: Arc<Counter>,
    requests: Counter,
    /// Server time minus local time, in ms, per server (`host:port`), where the difference
    /// is significant: a store with a wrong `Date` cannot skew the timestamps of device auth.
    clock_offsets: std::sync::Mutex<Vec<(String, i64)>>,
    rng: Counter,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http").finish_non_exhaustive()
    }
}

/// A connect-phase failure: the request was certainly not sent.
#[derive(Debug)]
pub(crate) struct ConnectFailure(pub(crate) String);

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectFailure {}

/// How long a name lookup is reused (libcurl's default DNS cache timeout is also 60 s).
const DNS_CACHE_TTL: Duration = Duration::from_secs(60);
/// Names kept in the lookup cache.
const DNS_CACHE_MAX: usize = 64;

/// Resolver that answers IP literals without a lookup, caches lookups for a minute (ureq's
/// own resolver starts a thread for every request when a resolve timeout is set), and marks
/// lookup failures as connect failures.
#[derive(Debug, Default)]
struct Resolve {
    inner: DefaultResolver,
    cache: std::sync::Mutex<std::collections::HashMap<String, (Instant, ResolvedSocketAddrs)>>,
    /// `iothttp_config_add_resolve` entries: answered without a lookup.
    overrides: Vec<ResolveEntry>,
    /// The connect budget (lookup + TCP + TLS), started here for each new connection.
    connect_timeout: Duration,
}

impl Resolver for Resolve {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        // A new connection starts here: its lookup, TCP connect and TLS handshake share one
        // budget, cut short by the call's deadline.
        let mut end = Instant::now() + self.connect_timeout;
        if let Some(call) = CALL_DEADLINE.with(|d| d.get()) {
            end = end.min(call);
        }
        CONNECT_DEADLINE.with(|d| d.set(Some(end)));
        let host = uri.host().unwrap_or("");
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("http") => 80,
            _ => 443,
        });
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let lower = bare.trim_end_matches('.').to_ascii_lowercase();
        if let Some(e) = self
            .overrides
            .iter()
            .find(|e| e.port == port && e.host == lower)
        {
            let mut addrs = self.empty();
            addrs.push(std::net::SocketAddr::new(e.addr, port));
            return Ok(addrs);
        }
        if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
            let mut addrs = self.empty();
            addrs.push(std::net::SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        let key = format!("{host}:{port}");
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, addrs)) = cache.get(&key) {
                if at.elapsed() < DNS_CACHE_TTL {
                    return Ok(addrs.clone());
                }
            }
        }
        let mut timeout = timeout;
        if let Some(left) = connect_time_left() {
            if left < *timeout.after {
                timeout.after = ureq::unversioned::transport::time::Duration::Exact(left);
            }
        }
        let addrs = self
            .inner
            .resolve(uri, config, timeout)
            .map_err(|e| match e {
                ureq::Error::Timeout(_) => e,
                ureq::Error::HostNotFound => ureq::Error::Other(Box::new(ConnectFailure(format!(
                    "cannot resolve host '{host}'"
                )))),
                other => ureq::Error::Other(Box::new(ConnectFailure(format!(
                    "cannot resolve host '{host}': {other}"
                )))),
            })?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= DNS_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), addrs.clone()));
        Ok(addrs)
    }
}

/// Makes every send and every wait on a connection finish within the I/O timeout as a whole.
///
/// ureq's per-write timeout restarts with each system call, so a peer that stops reading but
/// lets a few bytes into its window now and then would stall an upload for far longer than
/// the timeout (measured: 12 s at a 300 ms setting). Capping the budget of each transmit (up
/// to 64 KiB) and each read makes a stalled peer fail within the bound.
#[derive(Debug)]
struct Deadline {
    io: Duration,
}

impl<In: Transport> Connector<In> for Deadline {
    type Out = DeadlineTransport<In>;

    fn connect(
        &self,
        _details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(|inner| DeadlineTransport { inner, io: self.io }))
    }
}

#[derive(Debug)]
struct DeadlineTransport<T> {
    inner: T,
    io: Duration,
}

impl<T> DeadlineTransport<T> {
    fn cap(&self, mut t: NextTimeout, reason: ureq::Timeout) -> NextTimeout {
        if *t.after > self.io {
            t.after = ureq::unversioned::transport::time::Duration::Exact(self.io);
            t.reason = reason;
        }
        t
    }
}

impl<T: Transport> Transport for DeadlineTransport<T> {
    fn buffers(&mut self) -> &mut dyn ureq::unversioned::transport::Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let t = self.cap(timeout, ureq::Timeout::PerWrite);
        let sent = self.inner.transmit_output(amount, t);
        if sent.is_err() {
            // What the layers below read back after the peer closed under the write: the
            // server's early reply, if it sent one.
            let input = self.inner.buffers().input();
            if !input.is_empty() {
                crate::net::early::stash(input);
            }
        }
        sent
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let t = self.cap(timeout, ureq::Timeout::PerRead);
        self.inner.await_input(t)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// Checks a proxy URL: `http://[user:pass@]host:port`.
pub(crate) fn validate_proxy(url: &str) -> Result<()> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("socks") {
        return Err(Error::invalid(
            "SOCKS proxies are not supported; use an HTTP CONNECT proxy (http://host:port)",
        ));
    }
    if !lower.starts_with("http://") {
        return Err(Error::invalid(
            "proxy URL must look like http://host:port (HTTP CONNECT proxy)",
        ));
    }
    ureq::Proxy::new(url)
        .map(|_| ())
        .map_err(|_| Error::invalid("proxy URL is not a valid http://host:port URL"))
}

/// Servers whose clock offset is kept (the oldest is forgotten first).
const MAX_CLOCK_HOSTS: usize = 16;

/// `host[:port]` of a URL (the key of the clock offsets), without user info.
fn authority_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.rsplit('@').next().unwrap_or(authority)
}

/// `scheme://host[:port]/path` of a URL: never the query (presigned URLs carry signatures
/// there) nor user info.
pub(crate) fn loggable_url(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or("");
    match no_query.split_once("://") {
        Some((scheme, rest)) => {
            let path = rest.find('/').map_or("", |i| &rest[i..]);
            format!("{scheme}://{}{path}", authority_of(no_query))
        }
        None => no_query.to_string(),
    }
}

/// Header names whose values never reach a log line (besides those the caller marks, see
/// [`Config::add_secret_header`]): credentials by name, and any name that says it carries a
/// key, token, secret, signature or credential (`x-api-key`, `Ocp-Apim-Subscription-Key`,
/// `x-amz-server-side-encryption-customer-key`, `x-amz-security-token`).
fn is_sensitive_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "password" | "cookie" | "set-cookie"
    ) || [
        "token",
        "secret",
        "signature",
        "credential",
        "sign",
        "api-key",
        "apikey",
    ]
    .iter()
    .any(|w| n.contains(w))
        || n.ends_with("-key")
        || n == "key"
}

fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset by peer".into(),
        io::ErrorKind::ConnectionAborted => "connection aborted".into(),
        io::ErrorKind::BrokenPipe => "connection closed by peer while sending".into(),
        io::ErrorKind::UnexpectedEof => "connection closed by peer before the reply ended".into(),
        _ => e.to_string(),
    }
}

/// The client's time limits, for messages.
#[derive(Debug, Clone, Copy)]
struct Limits {
    connect: Duration,
    io: Duration,
    deadline: Option<Duration>,
}

/// Map a ureq error to ours. `target` names the request for the message.
fn map_ureq(e: ureq::Error, target: &str, limits: Limits) -> Error {
    use ureq::Error as U;
    let deadline_passed = call_time_left().is_some_and(|l| l.is_zero());
    match e {
        U::Timeout(_) if deadline_passed => Error::new(
            ErrorKind::Timeout,
            format!(
                "{target}: the call's deadline of {} ms was reached (iothttp_config_set_deadline)",
                limits.deadline.unwrap_or_default().as_millis()
            ),
        )
        .gave_up_marked(),
        // Nothing was sent yet: a connect failure, retried like a refused connection.
        U::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect) => Error::new(
            ErrorKind::Connect,
            format!(
                "{target}: timed out connecting (name lookup, TCP connect and TLS handshake \
                 together; limit {} ms)",
                limits.connect.as_millis()
            ),
        ),
        U::Timeout(t) => Error::new(
            ErrorKind::Timeout,
            format!(
                "{target}: timed out waiting for the network ({t:?}, limit {} ms)",
                limits.io.as_millis()
            ),
        ),
        U::HostNotFound => Error::new(ErrorKind::Connect, format!("{target}: host not found")),
        U::ConnectionFailed => {
            Error::new(ErrorKind::Connect, format!("{target}: connection failed"))
        }
        U::ConnectProxyFailed(why) => Error::new(
            ErrorKind::Connect,
            format!("{target}: proxy CONNECT failed: {why}"),
        ),
        U::InvalidProxyUrl => Error::invalid(format!("{target}: invalid proxy URL")),
        U::Other(inner) => {
            if let Some(c) = inner.downcast_ref::<ConnectFailure>() {
                Error::new(ErrorKind::Connect, format!("{target}: {c}"))
            } else if let Some(t) = inner.downcast_ref::<TlsFailure>() {
                Error::new(ErrorKind::Tls, format!("{target}: {t}"))
            } else {
                Error::new(ErrorKind::Io, format!("{target}: {inner}"))
            }
        }
        U::Io(io) => {
            if let Some(f) = io
                .get_ref()
                .and_then(|r| r.downcast_ref::<crate::transfer::source::BodyFailure>())
            {
                let e = &f.0;
                Error::new(e.kind(), format!("{target}: {}", e.message()))
            } else if let Some(r) = io.get_ref().and_then(|r| r.downcast_ref::<rustls::Error>()) {
                Error::new(
                    ErrorKind::Tls,
                    format!("{target}: {}", crate::net::tls::describe_rustls(r)),
                )
            } else if io.kind() == io::ErrorKind::TimedOut {
                Error::new(ErrorKind::Timeout, format!("{target}: timed out"))
            } else {
                Error::new(ErrorKind::Io, format!("{target}: {}", describe_io(&io)))
            }
        }
        U::Tls(why) => Error::new(ErrorKind::Tls, format!("{target}: {why}")),
        U::RequireHttpsOnly(_) | U::TlsRequired => Error::new(
            ErrorKind::Tls,
            format!("{target}: plain http refused (allow_plain_http is off)"),
        ),
        U::Protocol(p) => Error::new(
            ErrorKind::BadResponse,
            format!("{target}: malformed HTTP reply: {p}"),
        ),
        U::LargeResponseHeader(got, max) => Error::new(
            ErrorKind::BadResponse,
            format!("{target}: reply headers too large ({got} bytes, limit {max})"),
        ),
        U::BodyExceedsLimit(max) => Error::new(
            ErrorKind::BadResponse,
            format!("{target}: reply body larger than the {max} byte cap"),
        ),
        U::BadUri(why) => Error::invalid(format!("{target}: bad URL: {why}")),
        U::Http(h) => Error::invalid(format!("{target}: bad request: {h}")),
        U::TooManyRedirects | U::RedirectFailed => Error::new(
            ErrorKind::Http,
            format!("{target}: redirect refused (redirects are never followed)"),
        ),
        other => Error::new(ErrorKind::Io, format!("{target}: {other}")),
    }
}

thread_local! {
    static LAST_STATUS: std::cell::Cell<u16> = const { std::cell::Cell::new(0) };
}

/// Forget the HTTP status seen last on this thread (start of a C call).
pub(crate) fn reset_last_http_status() {
    LAST_STATUS.with(|c| c.set(0));
}

/// The HTTP status of the last reply received on this thread, 0 if none.
pub(crate) fn last_http_status() -> u16 {
    LAST_STATUS.with(|c| c.get())
}

/// Unix time in milliseconds, from the local clock.
pub(crate) fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Http {
    /// Build the agent from a config. Fails on an unusable trust setup.
    pub(crate) fn new(cfg: &Config) -> Result<Http> {
        let tls = crate::net::tls::client_config(
            cfg.builtin_roots,
            &cfg.extra_roots,
            cfg.client_identity.as_ref(),
        )?;
        let handshakes = Arc::new(Counter::new(0));
        let proxy = match &cfg.proxy {
            Some(url) => Some(
                ureq::Proxy::new(url)
                    .map_err(|_| Error::invalid("proxy URL is not a valid http://host:port URL"))?,
            ),
            None => None,
        };
        let io = Some(cfg.io_timeout);
        let agent_config = Agent::config_builder()
            .http_status_as_error(false)
            .https_only(false) // checked by us, with a clearer error
            .proxy(proxy)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("iothttp/", env!("CARGO_PKG_VERSION")))
            .accept(AutoHeaderValue::None)
            .accept_encoding(AutoHeaderValue::None)
            .input_buffer_size(INPUT_BUFFER)
            .output_buffer_size(OUTPUT_BUFFER)
            .max_response_header_size(MAX_RESPONSE_HEADER)
            .max_idle_connections(32)
            .max_idle_connections_per_host(8)
            .max_idle_age(Duration::from_secs(30))
            .timeout_resolve(Some(cfg.connect_timeout))
            .timeout_connect(Some(cfg.connect_timeout))
            .timeout_send_request(io)
            .timeout_recv_response(io)
            .timeout_recv_body(io)
            .timeout_per_read(io)
            .timeout_per_write(io)
            .build();
        let connector = ()
            .chain(ConnectProxyConnector::default())
            .chain(crate::net::tcp::TcpConnector {
                input_buffer: INPUT_BUFFER,
                output_buffer: OUTPUT_BUFFER,
            })
            .chain(TlsConnector::new(
                tls,
                Arc::clone(&handshakes),
                INPUT_BUFFER,
                OUTPUT_BUFFER,
            ))
            .chain(Deadline { io: cfg.io_timeout });
        let resolve = Resolve {
            overrides: cfg.resolve.clone(),
            connect_timeout: cfg.connect_timeout,
            ..Resolve::default()
        };
        let agent = Agent::with_parts(agent_config, connector, resolve);
        let seed = RandomState::new().hash_one(unix_ms_now()) | 1;
        Ok(Http {
            agent,
            deadline: cfg.deadline,
            secret_headers: cfg.secret_headers.clone(),
            logger: cfg.logger(),
            retry: cfg.retry,
            allow_plain_http: cfg.allow_plain_http,
            handshakes,
            requests: Counter::new(0),
            clock_offsets: std::sync::Mutex::new(Vec::new()),
            rng: Counter::new(seed),
        })
    }

    /// Start an API call bounded by the whole-call deadline (see [`CallScope`]).
    pub(crate) fn call_scope(&self) -> CallScope {
        let owner = self.deadline.is_some() && CALL_DEADLINE.with(|d| d.get()).is_none();
        if let (true, Some(total)) = (owner, self.deadline) {
            CALL_DEADLINE.with(|d| d.set(Some(Instant::now() + total)));
        }
        CallScope { owner }
    }

    /// The error of a call whose deadline has passed (`what`: where it was noticed).
    fn deadline_error(&self, what: &str) -> Error {
        Error::new(
            ErrorKind::Timeout,
            format!(
                "{what}: the call's deadline of {} ms was reached (iothttp_config_set_deadline)",
                self.deadline.unwrap_or_default().as_millis()
            ),
        )
        .gave_up_marked()
    }

    /// Counters for tests and benchmarks.
    pub(crate) fn stats(&self) -> ClientStats {
        ClientStats {
            tls_handshakes: self.handshakes.load(),
            requests: self.requests.load(),
        }
    }

    /// Local time corrected by the skew seen in the `Date` headers of the server of `url`
    /// (its `host:port`), in Unix ms.
    pub(crate) fn corrected_unix_ms(&self, url: &str) -> u64 {
        let offset = self.clock_offset_ms(url);
        (unix_ms_now() as i64).saturating_add(offset).max(0) as u64
    }

    /// The clock correction for the server of `url`, in ms (0 when none is known).
    pub(crate) fn clock_offset_ms(&self, url: &str) -> i64 {
        let key = authority_of(url);
        self.clock_offsets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map_or(0, |(_, o)| *o)
    }

    /// Refuse URLs this client must not use (plain http unless allowed, no scheme).
    pub(crate) fn check_url(&self, url: &str, what: &str) -> Result<()> {
        let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
        if lower.starts_with("https://") {
            Ok(())
        } else if lower.starts_with("http://") {
            if self.allow_plain_http {
                Ok(())
            } else {
                Err(Error::new(
                    ErrorKind::Tls,
                    format!(
                        "{what}: refusing plain-http URL {} (allow_plain_http is off)",
                        loggable_url(url)
                    ),
                ))
            }
        } else {
            Err(Error::invalid(format!(
                "{what}: URL must start with https:// (got '{}')",
                loggable_url(url)
            )))
        }
    }

    /// Send one request and read its (capped) reply. No retry here.
    pub(crate) fn send(&self, req: Request<'_>) -> Result<Response> {
        let shown = loggable_url(req.url);
        let target = format!("{} {}", req.method.as_str(), shown);
        self.check_url(req.url, &target)?;
        self.log_request(&target, req.headers, req.body.len());
        let call_left = call_time_left();
        if call_left.is_some_and(|l| l.is_zero()) {
            return Err(self.deadline_error(&target));
        }
        self.requests.fetch_add(1);
        crate::net::early::clear();
        let started = Instant::now();
        let timeouts = self.timeouts();
        let result = match req.method {
            Method::Get => {
                let mut b = self.agent.get(req.url);
                for (n, v) in req.headers {
                    b = b.header_raw(n, v.as_bytes());
                }
                if call_left.is_some() {
                    b = b.config().timeout_global(call_left).build();
                }
                b.call()
            }
            Method::Post | Method::Put => {
                let mut b = if req.method == Method::Post {
                    self.agent.post(req.url)
                } else {
                    self.agent.put(req.url)
                };
                for (n, v) in req.headers {
                    b = b.header_raw(n, v.as_bytes());
                }
                if req.exact_headers && !req.has_user_agent() {
                    b = b.config().user_agent(AutoHeaderValue::None).build();
                }
                if call_left.is_some() {
                    b = b.config().timeout_global(call_left).build();
                }
                match req.body {
                    Body::Bytes(bytes) => b.send(bytes),
                    Body::Stream { reader, len } => b
                        .header("Content-Length", len)
                        .send(ureq::SendBody::from_reader(reader)),
                }
            }
        };
        let mut resp = match result {
            Ok(resp) => resp,
            Err(e) => {
                let err = map_ureq(e, &target, timeouts);
                log!(self.logger, Debug, "{}", err.message());
                return self.early_reply(&target, &shown, req.max_reply, err);
            }
        };
        let status = resp.status().as_u16();
        LAST_STATUS.with(|c| c.set(status));
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let date = header("date").and_then(|d| httpdate::parse_http_date(&d).ok());
        let location = header("location");
        let body = resp
            .body_mut()
            .with_config()
            .limit(req.max_reply as u64)
            .read_to_vec()
            .map_err(|e| {
                let mut err = map_ureq(e, &target, timeouts).with_http_status(status);
                if err.kind() == ErrorKind::Io {
                    // The head arrived, the body did not: the reply is unusable.
                    err = Error::new(
                        ErrorKind::BadResponse,
                        format!("{} (reply truncated after HTTP {status})", err.message()),
                    )
                    .with_http_status(status);
                }
                log!(self.logger, Debug, "{}", err.message());
                err
            })?;
        log!(
            self.logger,
            Debug,
            "{target} -> {status} ({} bytes in {} ms)",
            body.len(),
            started.elapsed().as_millis()
        );
        if let Some(d) = date {
            self.note_server_time(d, &shown);
        }
        Ok(Response {
            status,
            body,
            date,
            location,
        })
    }

    /// TRACE: the request line and its headers, secrets redacted.
    fn log_request(&self, target: &str, headers: &[(&str, &str)], body_len: u64) {
        if !self.logger.enabled(crate::log::LogLevel::Trace) {
            return;
        }
        let headers: Vec<String> = headers
            .iter()
            .map(|(n, v)| {
                if is_sensitive_header(n)
                    || self
                        .secret_headers
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(n))
                {
                    format!("{n}: <redacted {} bytes>", v.len())
                } else {
                    format!("{n}: {v}")
                }
            })
            .collect();
        log!(
            self.logger,
            Trace,
            "> {target} [{}] body {body_len} bytes",
            headers.join(", ")
        );
    }

    /// Send `GET url` and return the reply with its body unread, to be streamed (a
    /// download). No retry here. The body is bounded by the I/O timeout of each read, not by
    /// a timeout of the whole body nor by the call's deadline.
    pub(crate) fn get_streaming(&self, url: &str, headers: &[(&str, &str)]) -> Result<Streaming> {
        let shown = loggable_url(url);
        let target = format!("GET {shown}");
        self.check_url(url, &target)?;
        self.log_request(&target, headers, 0);
        let call_left = call_time_left();
        if call_left.is_some_and(|l| l.is_zero()) {
            return Err(self.deadline_error(&target));
        }
        self.requests.fetch_add(1);
        crate::net::early::clear();
        let limits = self.timeouts();
        let mut b = self.agent.get(url);
        for (n, v) in headers {
            b = b.header_raw(n, v.as_bytes());
        }
        // The head of the reply within the call's deadline and the I/O timeout; the body
        // only within the I/O timeout of each read.
        let b = b
            .config()
            .timeout_global(None)
            .timeout_recv_body(None)
            .timeout_recv_response(match call_left {
                Some(l) => Some(l.min(limits.io)),
                None => Some(limits.io),
            })
            .build();
        let resp = b.call().map_err(|e| {
            let err = map_ureq(e, &target, limits);
            log!(self.logger, Debug, "{}", err.message());
            err
        })?;
        let status = resp.status().as_u16();
        LAST_STATUS.with(|c| c.set(status));
        let (parts, body) = resp.into_parts();
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
        };
        if let Some(d) = header("date").and_then(|d| httpdate::parse_http_date(&d).ok()) {
            self.note_server_time(d, &shown);
        }
        log!(
            self.logger,
            Debug,
            "{target} -> {status} (body of {} bytes follows)",
            body.content_length()
                .map_or_else(|| "unknown".to_string(), |n| n.to_string())
        );
        Ok(Streaming {
            status,
            etag: header("etag"),
            last_modified: header("last-modified"),
            content_range: header("content-range"),
            location: header("location"),
            content_length: body.content_length(),
            reader: body.into_with_config().limit(u64::MAX).reader(),
            target,
            limits,
        })
    }

    /// After a failed request: the reply the server sent before it closed the connection
    /// under the body (a store refusing an upload early), or the failure itself.
    fn early_reply(
        &self,
        target: &str,
        shown: &str,
        max_reply: usize,
        err: Error,
    ) -> Result<Response> {
        let Some(early) = crate::net::early::take(max_reply) else {
            return Err(err);
        };
        LAST_STATUS.with(|c| c.set(early.status));
        log!(
            self.logger,
            Debug,
            "{target} -> {} ({} bytes, sent before the request body was: the server closed \
             the connection under it)",
            early.status,
            early.body.len()
        );
        if let Some(d) = early.date {
            self.note_server_time(d, shown);
        }
        Ok(Response {
            status: early.status,
            body: early.body,
            date: early.date,
            location: early.location,
        })
    }

    fn timeouts(&self) -> Limits {
        let t = self.agent.config().timeouts();
        Limits {
            connect: t.connect.unwrap_or_default(),
            io: t.recv_response.unwrap_or_default(),
            deadline: self.deadline,
        }
    }

    /// Record the skew between the server's clock and ours.
    fn note_server_time(&self, server: SystemTime, from: &str) {
        let server_ms = match server.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i64,
            Err(_) => return,
        };
        let skew = server_ms - unix_ms_now() as i64;
        let key = authority_of(from).to_ascii_lowercase();
        let mut offsets = self.clock_offsets.lock().unwrap_or_else(|e| e.into_inner());
        let old = offsets
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(0, |(_, o)| *o);
        let new = if skew.abs() >= SKEW_THRESHOLD_MS {
            skew
        } else {
            0
        };
        if (new - old).abs() >= SKEW_THRESHOLD_MS {
            offsets.retain(|(k, _)| *k != key);
            if new != 0 {
                if offsets.len() >= MAX_CLOCK_HOSTS {
                    offsets.remove(0);
                }
                offsets.push((key, new));
            }
            drop(offsets);
            if new != 0 {
                log!(
                    self.logger,
                    Warn,
                    "local clock differs from {from} by {} s; timestamps are corrected",
                    new / 1000
                );
            } else {
                log!(
                    self.logger,
                    Info,
                    "local clock agrees with {from} again; timestamp correction removed"
                );
            }
        }
    }

    /// Run `op` until it succeeds, fails with a non-retryable error, or the attempts run
    /// out. Only [`ErrorKind::Connect`], [`ErrorKind::RateLimited`] and
    /// [`ErrorKind::Unavailable`] are retried: those are produced only when the request
    /// certainly did not take effect.
    pub(crate) fn with_retries<T, E: RetryError + From<Error>>(
        &self,
        what: impl fmt::Display,
        op: impl FnMut() -> Result<T, E>,
    ) -> Result<T, E> {
        let mut budget = Budget::default();
        self.with_budget(&mut budget, "request", what, op)
            .map_err(|spent| {
                spent.unwrap_or_else(|| unreachable!("a fresh budget has attempts left"))
            })
    }

    /// Like [`Http::with_retries`], counting the attempts of request `key` in `budget`, which
    /// the steps of one call share: however the steps nest and repeat, no request is sent
    /// more than `max_attempts` times per call. `Err(None)` when the budget of `key` was
    /// already spent before this step (the caller reports what made it repeat the step).
    pub(crate) fn with_budget<T, E: RetryError + From<Error>>(
        &self,
        budget: &mut Budget,
        key: &'static str,
        what: impl fmt::Display,
        mut op: impl FnMut() -> Result<T, E>,
    ) -> Result<T, Option<E>> {
        let max = self.retry.max_attempts.max(1);
        loop {
            let used = budget.used(key);
            if *used >= max {
                return Err(None);
            }
            *used += 1;
            let attempt = *used;
            match op() {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let retryable = e.retryable();
                    if retryable && attempt < max {
                        let delay = self.backoff(attempt);
                        if call_time_left().is_some_and(|l| l <= delay) {
                            // The backoff would outlast the call's deadline.
                            let what = format!(
                                "{what}: {} (attempt {attempt}/{max})",
                                e.error().message()
                            );
                            return Err(Some(E::from(self.deadline_error(&what))));
                        }
                        log!(
                            self.logger,
                            Warn,
                            "{what}: {} (attempt {attempt}/{max}); retrying in {} ms",
                            e.error().message(),
                            delay.as_millis()
                        );
                        std::thread::sleep(delay);
                    } else if retryable && max > 1 {
                        return Err(Some(e.gave_up(attempt)));
                    } else {
                        return Err(Some(e));
                    }
                }
            }
        }
    }

    /// Attempts per request allowed by the retry policy (at least 1).
    pub(crate) fn max_attempts(&self) -> u32 {
        self.retry.max_attempts.max(1)
    }

    /// 128 random bits (multipart boundaries, nonces): not for keys.
    pub(crate) fn random_u128(&self) -> u128 {
        let a = self.next_random() as u128;
        let b = RandomState::new().hash_one(a) as u128;
        a << 64 | b
    }

    /// Exponential backoff with jitter: uniform in [d/2, d], d = min(max, base * 2^(n-1)).
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let base = self.retry.base_delay.as_millis() as u64;
        let cap = self.retry.max_delay.as_millis() as u64;
        let d = base.saturating_mul(1u64 << (attempt - 1).min(30)).min(cap);
        let half = d / 2;
        let r = self.next_random();
        Duration::from_millis(half + if half > 0 { r % (half + 1) } else { 0 })
    }

    fn next_random(&self) -> u64 {
        // xorshift64*; a race between threads only makes it more random.
        let mut x = self.rng.load();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.store(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// An error type the retry loop understands.
pub(crate) trait RetryError {
    /// The error to judge and log.
    fn error(&self) -> &Error;
    /// Whether sending again is safe and may help.
    fn retryable(&self) -> bool {
        is_retryable(self.error().kind())
    }
    /// The same error, noting that the retry budget is spent.
    fn gave_up(self, attempts: u32) -> Self;
}

impl RetryError for Error {
    fn error(&self) -> &Error {
        self
    }

    fn gave_up(self, attempts: u32) -> Self {
        Error::gave_up(self, attempts)
    }
}

/// Attempts used per request within one call (see [`Http::with_budget`]).
#[derive(Debug, Default)]
pub(crate) struct Budget {
    used: Vec<(&'static str, u32)>,
    /// The failure that made the call repeat its steps (reported when a step cannot be).
    last: Option<Error>,
}

impl Budget {
    /// Note the failure that makes the call go round again.
    pub(crate) fn note(&mut self, e: &Error) {
        self.last = Some(e.clone());
    }

    /// The outcome of a step run with [`Http::with_budget`], as a plain result.
    pub(crate) fn settle<T>(&self, r: Result<T, Option<Error>>, step: &str) -> Result<T> {
        r.map_err(|e| e.unwrap_or_else(|| self.spent(step)))
    }

    /// The error of a call that must repeat `step` whose attempts are spent: the failure
    /// that made it repeat, saying so.
    pub(crate) fn spent(&self, step: &str) -> Error {
        match &self.last {
            Some(e) => Error::new(
                e.kind(),
                format!(
                    "{}; {step} not sent again: its attempts for this call are spent",
                    e.message()
                ),
            )
            .with_cloud_code(e.cloud_code())
            .with_http_status(e.http_status())
            .gave_up_marked(),
            None => Error::new(ErrorKind::Internal, format!("{step}: retry budget spent")),
        }
    }

    /// The attempts request `key` has used so far.
    pub(crate) fn used(&mut self, key: &'static str) -> &mut u32 {
        let i = match self.used.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.used.push((key, 0));
                self.used.len() - 1
            }
        };
        &mut self.used[i].1
    }
}

/// Kinds that mean "certainly did not take effect: safe to send again".
pub(crate) fn is_retryable(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Connect | ErrorKind::RateLimited | ErrorKind::Unavailable
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_logged_without_query_or_userinfo() {
        assert_eq!(
            loggable_url("https://u:p@host:8443/a/b?Signature=abc#x"),
            "https://host:8443/a/b"
        );
        assert_eq!(loggable_url("https://host"), "https://host");
        assert_eq!(loggable_url("nonsense?x"), "nonsense");
    }

    #[test]
    fn sensitive_headers() {
        for h in [
            "Authorization",
            "password",
            "Password",
            "x-amz-security-token",
            "client_secret",
            "x-amz-server-side-encryption-customer-key",
            "X-Api-Key",
            "Ocp-Apim-Subscription-Key",
            "x-goog-api-key",
            "apikey",
            "access_token",
        ] {
            assert!(is_sensitive_header(h), "{h}");
        }
        for h in [
            "Content-Type",
            "Content-MD5",
            "x-amz-date",
            "Host",
            "x-amz-server-side-encryption-customer-key-MD5",
            "x-amz-meta-keyword",
        ] {
            assert!(!is_sensitive_header(h), "{h}");
        }
    }

    #[test]
    fn proxies() {
        assert!(validate_proxy("http://proxy:3128").is_ok());
        assert!(validate_proxy("http://user:pw@proxy:3128").is_ok());
        assert_eq!(
            validate_proxy("socks5://proxy:1080").unwrap_err().kind(),
            ErrorKind::InvalidArg
        );
        assert!(validate_proxy("proxy:3128").is_err());
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let mut cfg = Config::new();
        cfg.set_retries(RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        })
        .unwrap();
        let http = Http::new(&cfg).unwrap();
        for attempt in 1..10 {
            let d = http.backoff(attempt).as_millis() as u64;
            let full = (100u64 << (attempt - 1)).min(1000);
            assert!(
                d >= full / 2 && d <= full,
                "attempt {attempt}: {d} vs {full}"
            );
        }
    }

    #[test]
    fn plain_http_is_refused_unless_allowed() {
        let http = Http::new(&Config::new()).unwrap();
        let e = http.check_url("http://127.0.0.1/x", "t").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tls);
        let e = http.check_url("ftp://x", "t").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
        let mut cfg = Config::new();
        cfg.allow_plain_http(true);
        let http = Http::new(&cfg).unwrap();
        http.check_url("http://127.0.0.1/x", "t").unwrap();
    }
}
