//! Client configuration: trust, client certificate, timeouts, retries, logging, proxy. Built once, then shared.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;

use crate::error::{Error, ErrorKind, Result};
use crate::log::{LogLevel, LogSink};
use crate::net::tls;

/// Retry policy for requests that certainly did not take effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first (1 = never retry).
    pub max_attempts: u32,
    /// Delay before the first retry; doubles on each further retry.
    pub base_delay: Duration,
    /// Upper bound of one delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// Everything a [`Client`](crate::Client) needs: a value built once, then shared.
#[derive(Clone)]
pub struct Config {
    pub(crate) extra_roots: Vec<CertificateDer<'static>>,
    pub(crate) builtin_roots: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) io_timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) log: Option<(LogSink, LogLevel)>,
    pub(crate) proxy: Option<String>,
    pub(crate) allow_plain_http: bool,
    pub(crate) deadline: Option<Duration>,
    pub(crate) resolve: Vec<ResolveEntry>,
    pub(crate) secret_headers: Vec<String>,
    pub(crate) client_identity: Option<tls::ClientIdentity>,
}

/// Reads a client certificate or key file, refusing one over the size limit.
fn read_client_pem(path: &Path, what: &str) -> Result<Vec<u8>> {
    let unreadable = |e: std::io::Error| {
        Error::new(
            ErrorKind::Read,
            format!("cannot read client {what} file {}: {e}", path.display()),
        )
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if meta.is_dir() {
        return Err(Error::new(
            ErrorKind::Read,
            format!("client {what} file {} is a directory", path.display()),
        ));
    }
    if meta.len() > tls::MAX_CLIENT_PEM_BYTES {
        return Err(Error::invalid(format!(
            "client {what} file {} is {} bytes, more than the {} byte limit",
            path.display(),
            meta.len(),
            tls::MAX_CLIENT_PEM_BYTES
        )));
    }
    std::fs::read(path).map_err(unreadable)
}

/// A name-resolution override: connections to `host:port` go to `addr` (curl's `--resolve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolveEntry {
    /// Lower case, without brackets.
    pub host: String,
    pub port: u16,
    pub addr: std::net::IpAddr,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            extra_roots: Vec::new(),
            builtin_roots: cfg!(feature = "builtin-roots"),
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            log: None,
            proxy: None,
            allow_plain_http: false,
            deadline: None,
            resolve: Vec::new(),
            secret_headers: Vec::new(),
            client_identity: None,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("extra_roots", &self.extra_roots.len())
            .field("builtin_roots", &self.builtin_roots)
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .field("retry", &self.retry)
            .field("log", &self.log.as_ref().map(|(_, l)| *l))
            .field("proxy", &self.proxy.is_some())
            .field("allow_plain_http", &self.allow_plain_http)
            .field("deadline", &self.deadline)
            .field("resolve", &self.resolve)
            .field("secret_headers", &self.secret_headers)
            .field("client_identity", &self.client_identity)
            .finish()
    }
}

impl Config {
    /// Defaults: built-in web roots (when built with them), connect timeout 10 s, I/O timeout 30 s, 3 attempts with
    /// 0.5 s..8 s backoff, no log, no proxy (environment variables are ignored), https only.
    pub fn new() -> Config {
        Config::default()
    }

    /// Trust every certificate in `pem` (one or more `CERTIFICATE` blocks) in addition to
    /// the other roots. Returns how many were added. Fails, adding nothing, if the text holds
    /// no certificate or any certificate cannot serve as a trust anchor.
    pub fn add_ca_pem(&mut self, pem: &[u8]) -> Result<usize> {
        let certs = tls::parse_ca_pem(pem)?;
        let n = certs.len();
        self.extra_roots.extend(certs);
        Ok(n)
    }

    /// Like [`Config::add_ca_pem`], reading the PEM text from a file.
    pub fn add_ca_file(&mut self, path: impl AsRef<Path>) -> Result<usize> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| {
            Error::new(
                ErrorKind::Read,
                format!("cannot read CA file {}: {e}", path.display()),
            )
        })?;
        if meta.len() > tls::MAX_CA_FILE_BYTES {
            return Err(Error::invalid(format!(
                "CA file {} is {} bytes, more than the {} byte limit",
                path.display(),
                meta.len(),
                tls::MAX_CA_FILE_BYTES
            )));
        }
        let pem = std::fs::read(path).map_err(|e| {
            Error::new(
                ErrorKind::Read,
                format!("cannot read CA file {}: {e}", path.display()),
            )
        })?;
        self.add_ca_pem(&pem)
            .map_err(|e| e.context(&format!("CA file {}", path.display())))
    }

    /// Present this certificate chain (PEM, the device's own certificate first) and its
    /// private key (PEM: PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE
    /// KEY`, unencrypted) to every server that asks for a client certificate (mutual TLS).
    /// Replaces an identity set before; on failure nothing changes. Fails with
    /// [`ErrorKind::InvalidArg`] for empty or oversize input, a chain without a certificate,
    /// a malformed certificate, an encrypted, malformed or unsupported key, or a key that is
    /// not the leaf's. No error text or log line ever carries the key.
    ///
    /// One identity per client (and so per connection pool): a second certificate needs a
    /// second client.
    pub fn set_client_cert_pem(&mut self, cert_pem: &[u8], key_pem: &[u8]) -> Result<&mut Self> {
        self.client_identity = Some(tls::parse_client_identity(cert_pem, key_pem)?);
        Ok(self)
    }

    /// Like [`Config::set_client_cert_pem`], reading the chain and the key from files. A
    /// missing or unreadable file is [`ErrorKind::Read`].
    pub fn set_client_cert_files(
        &mut self,
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<&mut Self> {
        let cert = read_client_pem(cert_path.as_ref(), "certificate")?;
        let mut key = read_client_pem(key_path.as_ref(), "key")?;
        let parsed = tls::parse_client_identity(&cert, &key);
        tls::wipe(&mut key);
        let what = format!(
            "client certificate {}, key {}",
            cert_path.as_ref().display(),
            key_path.as_ref().display()
        );
        self.client_identity = Some(parsed.map_err(|e| e.context(&what))?);
        Ok(self)
    }

    /// Whether to trust the built-in Mozilla web roots (default on) besides added CAs. Without
    /// the cargo feature `builtin-roots` there are none: the default is off and asking for
    /// them fails with [`ErrorKind::Unsupported`].
    pub fn use_builtin_roots(&mut self, on: bool) -> Result<&mut Self> {
        if on && !cfg!(feature = "builtin-roots") {
            return Err(Error::missing_feature(
                "builtin-roots",
                "the built-in root certificates",
            ));
        }
        self.builtin_roots = on;
        Ok(self)
    }

    /// Connect timeout (DNS + TCP + TLS handshake) and I/O timeout. The I/O timeout bounds
    /// each read or write on the socket (a stalled peer), and also the whole wait for a reply
    /// (a peer that trickles bytes). Both must be non-zero.
    pub fn set_timeouts(&mut self, connect: Duration, io: Duration) -> Result<&mut Self> {
        if connect.is_zero() || io.is_zero() {
            return Err(Error::invalid(
                "timeouts must be greater than zero (a firmware call must never hang forever)",
            ));
        }
        self.connect_timeout = connect;
        self.io_timeout = io;
        Ok(self)
    }

    /// Retry policy. `max_attempts` counts the first try and must be at least 1;
    /// `base_delay` must not exceed `max_delay`.
    pub fn set_retries(&mut self, policy: RetryPolicy) -> Result<&mut Self> {
        if policy.max_attempts == 0 {
            return Err(Error::invalid(
                "max_attempts must be at least 1 (it counts the first try)",
            ));
        }
        if policy.base_delay > policy.max_delay {
            return Err(Error::invalid("base_delay must not exceed max_delay"));
        }
        self.retry = policy;
        Ok(self)
    }

    /// Send log lines up to `max` to `sink`.
    pub fn set_log(&mut self, sink: LogSink, max: LogLevel) -> &mut Self {
        self.log = Some((sink, max));
        self
    }

    /// Remove the log sink.
    pub fn clear_log(&mut self) -> &mut Self {
        self.log = None;
        self
    }

    /// Use an HTTP proxy (`http://[user:pass@]host:port`) for every connection; `None`
    /// removes it. Proxy environment variables are never read.
    pub fn set_proxy(&mut self, proxy: Option<&str>) -> Result<&mut Self> {
        match proxy {
            None => self.proxy = None,
            Some(url) => {
                crate::net::transport::validate_proxy(url)?;
                self.proxy = Some(url.to_string());
            }
        }
        Ok(self)
    }

    /// Allow `http://` URLs (default off: every plain-http URL, also one a cloud returns, is
    /// refused with [`ErrorKind::Tls`]).
    pub fn allow_plain_http(&mut self, on: bool) -> &mut Self {
        self.allow_plain_http = on;
        self
    }

    /// Bound every call that sends no upload body and receives no download body (device auth
    /// and publish, with their lookups, connects, handshakes, retries and backoff) to `total`
    /// in all; `None` (the default) sets no bound. A call that would take longer fails with
    /// [`ErrorKind::Timeout`].
    pub fn set_deadline(&mut self, total: Option<Duration>) -> Result<&mut Self> {
        if total.is_some_and(|t| t.is_zero()) {
            return Err(Error::invalid(
                "a deadline must be greater than zero (None: no deadline)",
            ));
        }
        self.deadline = total;
        Ok(self)
    }

    /// Connect to `address` (an IPv4 or IPv6 literal) instead of looking `host` up, for
    /// URLs naming `host` and `port`; TLS still checks the certificate against `host`. A
    /// later entry for the same host and port replaces the earlier one.
    pub fn add_resolve(&mut self, host: &str, port: u16, address: &str) -> Result<&mut Self> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if bare.is_empty()
            || bare.len() > 253
            || !bare
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b':')
        {
            return Err(Error::invalid(
                "resolve: host must be a host name (letters, digits, '-', '.') or an IP literal",
            ));
        }
        if port == 0 {
            return Err(Error::invalid("resolve: port must be 1..65535"));
        }
        let literal = address.trim_start_matches('[').trim_end_matches(']');
        let addr: std::net::IpAddr = literal.parse().map_err(|_| {
            Error::invalid(format!(
                "resolve: address '{address}' is not an IPv4 or IPv6 literal"
            ))
        })?;
        let entry = ResolveEntry {
            host: bare.to_string(),
            port,
            addr,
        };
        self.resolve
            .retain(|e| !(e.host == entry.host && e.port == port));
        self.resolve.push(entry);
        Ok(self)
    }

    /// Never log the value of header `name` (case-insensitive), also at TRACE: for a header of
    /// a store or an API that carries a secret under a name the library cannot recognise. The
    /// library already hides Authorization, cookies and names with key, token, secret,
    /// signature or credential in them.
    pub fn add_secret_header(&mut self, name: &str) -> Result<&mut Self> {
        if name.is_empty()
            || name.len() > 256
            || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
        {
            return Err(Error::invalid(
                "secret header name must be 1..256 visible ASCII characters without ':'",
            ));
        }
        let lower = name.to_ascii_lowercase();
        if !self.secret_headers.contains(&lower) {
            self.secret_headers.push(lower);
        }
        Ok(self)
    }

    /// Builds the log sink handle used by clients.
    pub(crate) fn logger(&self) -> crate::log::Logger {
        match &self.log {
            Some((sink, level)) => crate::log::Logger::new(Arc::clone(sink), *level),
            None => crate::log::Logger::default(),
        }
    }
}
