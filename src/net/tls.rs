//! TLS: trust anchors, the rustls client configuration (ring provider, TLS 1.2+), and the
//! connector that plugs it into ureq.
//!
//! We use our own connector rather than ureq's because ureq's `RootCerts::Specific` replaces
//! the web roots instead of adding to them, because certificate failures must come out as a
//! distinct error rather than an anonymous `io::Error`, and because handshakes are counted.

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

use crate::error::{Error, ErrorKind, Result};
use crate::net::counter::Counter;

/// A CA file larger than this is refused (the whole Mozilla bundle is ~220 KB).
pub(crate) const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// One DER element: (tag, contents, rest). Definite lengths up to 4 bytes only.
fn der_next(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| acc << 8 | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Whether a certificate may act as a CA: X.509 v3 with basicConstraints cA=TRUE, or a
/// legacy v1/v2 certificate (which cannot carry the extension). None if the DER is malformed.
pub(crate) fn is_ca_certificate(der: &[u8]) -> Option<bool> {
    const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
    let (0x30, cert, _) = der_next(der)? else {
        return None;
    };
    let (0x30, mut tbs, _) = der_next(cert)? else {
        return None;
    };
    let mut v3 = false;
    if tbs.first() == Some(&0xa0) {
        let (_, version, rest) = der_next(tbs)?;
        let (0x02, v, _) = der_next(version)? else {
            return None;
        };
        v3 = v == [2];
        tbs = rest;
    }
    // serial, signature algorithm, issuer, validity, subject, subject public key info
    for _ in 0..6 {
        tbs = der_next(tbs)?.2;
    }
    while !tbs.is_empty() {
        let (tag, content, rest) = der_next(tbs)?;
        tbs = rest;
        if tag != 0xa3 {
            continue; // issuer/subject unique ids
        }
        let (0x30, mut exts, _) = der_next(content)? else {
            return None;
        };
        while !exts.is_empty() {
            let (0x30, ext, rest) = der_next(exts)? else {
                return None;
            };
            exts = rest;
            let (0x06, oid, mut fields) = der_next(ext)? else {
                return None;
            };
            if oid != BASIC_CONSTRAINTS {
                continue;
            }
            if fields.first() == Some(&0x01) {
                fields = der_next(fields)?.2; // critical flag
            }
            let (0x04, value, _) = der_next(fields)? else {
                return None;
            };
            let (0x30, bc, _) = der_next(value)? else {
                return None;
            };
            return Some(match der_next(bc) {
                Some((0x01, flag, _)) => flag.first().is_some_and(|b| *b != 0),
                _ => false,
            });
        }
    }
    Some(!v3)
}

/// Parse one or more PEM `CERTIFICATE` blocks; every one must be usable as a trust anchor.
pub(crate) fn parse_ca_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    if pem.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(Error::invalid(format!(
            "CA PEM text is {} bytes, more than the {MAX_CA_FILE_BYTES} byte limit",
            pem.len()
        )));
    }
    let mut certs = Vec::new();
    for (i, item) in CertificateDer::pem_slice_iter(pem).enumerate() {
        let der = item.map_err(|e| {
            Error::invalid(format!("CA PEM: certificate #{} is malformed: {e}", i + 1))
        })?;
        match is_ca_certificate(&der) {
            Some(true) => {}
            Some(false) => {
                return Err(Error::invalid(format!(
                "CA PEM: certificate #{} is not a CA certificate (basicConstraints cA is not set)",
                i + 1
            )))
            }
            None => {
                return Err(Error::invalid(format!(
                    "CA PEM: certificate #{} is not a well-formed X.509 certificate",
                    i + 1
                )))
            }
        }
        // Check now, not at the first handshake, that it can serve as an anchor.
        let mut probe = RootCertStore::empty();
        probe.add(der.clone()).map_err(|e| {
            Error::invalid(format!(
                "CA PEM: certificate #{} is not a usable CA certificate: {e}",
                i + 1
            ))
        })?;
        certs.push(der);
    }
    if certs.is_empty() {
        return Err(Error::invalid(
            "CA PEM: no '-----BEGIN CERTIFICATE-----' block found",
        ));
    }
    Ok(certs)
}

/// A client certificate PEM (the chain) or key PEM larger than this is refused.
pub(crate) const MAX_CLIENT_PEM_BYTES: u64 = 256 * 1024;

/// A client certificate chain and its private key, checked to belong together: what the
/// client presents to a server that asks for a certificate (mutual TLS). `Debug` shows the
/// number of certificates only, never the key.
#[derive(Clone)]
pub(crate) struct ClientIdentity(Arc<rustls::sign::CertifiedKey>);

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientIdentity({} certificates)", self.0.cert.len())
    }
}

/// Overwrites a buffer that held key material before it is freed.
pub(crate) fn wipe(buf: &mut [u8]) {
    for b in buf {
        // SAFETY: a valid, exclusive reference; volatile writes are not elided.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
}

/// Whether `hay` contains `needle`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Parse a client certificate chain (PEM, leaf first) and its private key (PEM: PKCS#8,
/// SEC1 EC or PKCS#1 RSA), and check that the key belongs to the leaf. No error text
/// carries any byte of the key.
pub(crate) fn parse_client_identity(cert_pem: &[u8], key_pem: &[u8]) -> Result<ClientIdentity> {
    for (what, pem) in [("certificate", cert_pem), ("key", key_pem)] {
        if pem.is_empty() {
            return Err(Error::invalid(format!("client {what} PEM is empty")));
        }
        if pem.len() as u64 > MAX_CLIENT_PEM_BYTES {
            return Err(Error::invalid(format!(
                "client {what} PEM is {} bytes, more than the {MAX_CLIENT_PEM_BYTES} byte limit",
                pem.len()
            )));
        }
    }
    let mut chain = Vec::new();
    for (i, item) in CertificateDer::pem_slice_iter(cert_pem).enumerate() {
        let der = item.map_err(|e| {
            Error::invalid(format!(
                "client certificate PEM: certificate #{} is malformed: {e}",
                i + 1
            ))
        })?;
        if is_ca_certificate(&der).is_none() {
            return Err(Error::invalid(format!(
                "client certificate PEM: certificate #{} is not a well-formed X.509 certificate",
                i + 1
            )));
        }
        chain.push(der);
    }
    if chain.is_empty() {
        return Err(Error::invalid(
            "client certificate PEM: no '-----BEGIN CERTIFICATE-----' block found (the chain \
             must start with the device's own certificate)",
        ));
    }
    if contains(key_pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || (contains(key_pem, b"Proc-Type:") && contains(key_pem, b"ENCRYPTED"))
    {
        return Err(Error::invalid(
            "client key PEM is encrypted (password-protected); give the key unencrypted \
             (PKCS#8 'PRIVATE KEY', SEC1 'EC PRIVATE KEY' or PKCS#1 'RSA PRIVATE KEY')",
        ));
    }
    let mut keys = PrivateKeyDer::pem_slice_iter(key_pem);
    // The parser's own error text is not used: it could quote the key's bytes.
    let key = match keys.next() {
        Some(Ok(key)) => key,
        Some(Err(_)) => {
            return Err(Error::invalid(
                "client key PEM is malformed (bad base64 or a missing END line)",
            ))
        }
        None => {
            return Err(Error::invalid(
                "client key PEM: no private key block found ('PRIVATE KEY', 'EC PRIVATE KEY' \
                 or 'RSA PRIVATE KEY')",
            ))
        }
    };
    if keys.next().is_some() {
        return Err(Error::invalid(
            "client key PEM holds more than one private key; give only the certificate's key",
        ));
    }
    let provider = crypto_provider();
    let signing = provider.key_provider.load_private_key(key).map_err(|_| {
        Error::invalid(
            "client key is not a usable private key (supported: RSA, ECDSA P-256/P-384, \
             Ed25519)",
        )
    })?;
    let certified = rustls::sign::CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(Error::invalid(
                "client key does not match the certificate: the key must be the private key \
                 of the chain's first (leaf) certificate",
            ))
        }
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err(Error::invalid(
                "client key: cannot check that it matches the certificate",
            ))
        }
        Err(e) => {
            return Err(Error::invalid(format!(
                "client certificate #1 (the leaf) is not usable: {e}"
            )))
        }
    }
    Ok(ClientIdentity(Arc::new(certified)))
}

/// Presents the one identity of a client to every server that asks for a certificate.
#[derive(Debug)]
struct PresentIdentity(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for PresentIdentity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The rustls client configuration: ring provider, TLS 1.3 and 1.2 only, web roots (if on)
/// plus every added CA, and the client certificate if one was set.
pub(crate) fn client_config(
    builtin_roots: bool,
    extra: &[CertificateDer<'static>],
    identity: Option<&ClientIdentity>,
) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    #[cfg(feature = "builtin-roots")]
    if builtin_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    // Config::use_builtin_roots refuses `true` without the feature.
    #[cfg(not(feature = "builtin-roots"))]
    debug_assert!(!builtin_roots);
    for der in extra {
        roots.add(der.clone()).map_err(|e| {
            Error::invalid(format!(
                "CA certificate is not usable as a trust anchor: {e}"
            ))
        })?;
    }
    if roots.is_empty() {
        return Err(Error::invalid(if cfg!(feature = "builtin-roots") {
            "no trust anchors: built-in roots are off and no CA was added"
        } else {
            "no trust anchors: this build has no built-in roots (cargo feature 'builtin-roots'); \
             add the cloud's CA (iothttp_config_add_ca_file)"
        }));
    }
    let provider = Arc::new(crypto_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[
            &rustls::version::TLS13,
            #[cfg(feature = "tls12")]
            &rustls::version::TLS12,
        ])
        .map_err(|e| Error::new(ErrorKind::Internal, format!("TLS configuration: {e}")))?
        .with_root_certificates(roots);
    let config = match identity {
        Some(id) => builder.with_client_cert_resolver(Arc::new(PresentIdentity(Arc::clone(&id.0)))),
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// ring's provider: every cipher suite, key exchange group and signature check rustls has,
/// and its private-key loader (RSA, ECDSA, Ed25519) for client certificates.
fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// A TLS failure, kept distinct so the transport can report [`ErrorKind::Tls`].
#[derive(Debug)]
pub(crate) struct TlsFailure(pub(crate) String);

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsFailure {}

/// Describe a rustls error for a field log (certificate problems spelled out), where it is
/// not known whether the client presented a certificate.
pub(crate) fn describe_rustls(e: &rustls::Error) -> String {
    describe_rustls_for(e, None)
}

/// Describe a rustls error for a field log; `identity`: whether this client has a client
/// certificate to present (None: unknown).
pub(crate) fn describe_rustls_for(e: &rustls::Error, identity: Option<bool>) -> String {
    use rustls::AlertDescription as A;
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => {
                "server certificate is not signed by a trusted CA (unknown issuer)".into()
            }
            C::Expired | C::ExpiredContext { .. } => "server certificate has expired".into(),
            C::NotValidYetContext { time, not_before } => format!(
                "the system clock is {}, before the server certificate's validity (from {}); \
                 set the clock (NTP or an RTC) before connecting",
                crate::sign::iso8601_date(time.as_secs()),
                crate::sign::iso8601_date(not_before.as_secs())
            ),
            C::NotValidYet => {
                "the server certificate is not valid yet: the system clock is behind; set the \
                 clock (NTP or an RTC) before connecting"
                    .into()
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "server certificate is not valid for this host name".into()
            }
            C::Revoked => "server certificate is revoked".into(),
            C::BadSignature => "server certificate has a bad signature".into(),
            other => format!("invalid server certificate: {other:?}"),
        },
        rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion)
            if !cfg!(feature = "tls12") =>
        {
            "server refused TLS 1.3, the only version this build speaks (it was built without \
             the cargo feature 'tls12'; CMake: add it to IOTHTTP_FEATURES)"
                .into()
        }
        rustls::Error::AlertReceived(A::CertificateRequired) => match identity {
            Some(true) => "the server says a client certificate is required (TLS alert \
                 CertificateRequired), although the client certificate was presented"
                .into(),
            _ => "the server requires a client certificate (mutual TLS; TLS alert \
                 CertificateRequired) and this client has none: set one with \
                 iothttp_config_set_client_cert or iothttp_config_set_client_cert_files"
                .into(),
        },
        rustls::Error::AlertReceived(
            a @ (A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::AccessDenied),
        ) => match identity {
            Some(true) => format!(
                "the server refused the client certificate (TLS alert {a:?}): it does not \
                 trust the certificate's issuer, or the certificate is expired, revoked or \
                 not allowed there"
            ),
            Some(false) => format!(
                "the server refused the connection (TLS alert {a:?}): it probably requires a \
                 client certificate (mutual TLS) and this client has none"
            ),
            None => format!(
                "server sent TLS alert {a:?}: it refused the client certificate, or requires one"
            ),
        },
        rustls::Error::AlertReceived(a) => format!("server sent TLS alert {a:?}"),
        rustls::Error::PeerIncompatible(p) => format!("server is TLS-incompatible: {p:?}"),
        rustls::Error::PeerMisbehaved(p) => format!("server misbehaved in TLS: {p:?}"),
        other => format!("TLS error: {other}"),
    }
}

/// Turn an I/O error from a TLS operation into the ureq error that best describes it;
/// `identity`: whether the client has a certificate to present.
fn map_tls_io(e: io::Error, identity: bool) -> ureq::Error {
    if e.get_ref().is_some_and(|r| r.is::<ureq::Error>()) {
        // A timeout or transport error from below: ureq knows how to unwrap it.
        return ureq::Error::from(e);
    }
    if let Some(r) = e.get_ref().and_then(|r| r.downcast_ref::<rustls::Error>()) {
        return ureq::Error::Other(Box::new(TlsFailure(describe_rustls_for(r, Some(identity)))));
    }
    ureq::Error::Io(e)
}

/// A failed handshake step: a TLS refusal stays a TLS error, a timeout stays what the
/// transport said, and a handshake the peer cut (EOF, reset) is a connect failure.
fn handshake_failure(e: io::Error, host: &str, identity: bool) -> ureq::Error {
    if e.get_ref()
        .is_some_and(|r| r.is::<ureq::Error>() || r.is::<rustls::Error>())
    {
        return match map_tls_io(e, identity) {
            // However the transport names it, a handshake that ran out of time is a connect
            // timeout.
            ureq::Error::Timeout(_) => ureq::Error::Timeout(ureq::Timeout::Connect),
            other => other,
        };
    }
    if e.kind() == io::ErrorKind::TimedOut {
        return ureq::Error::Timeout(ureq::Timeout::Connect);
    }
    let why = match e.kind() {
        io::ErrorKind::UnexpectedEof => "the server closed the connection".to_string(),
        io::ErrorKind::ConnectionReset => "the connection was reset".to_string(),
        _ => e.to_string(),
    };
    ureq::Error::Other(Box::new(crate::net::transport::ConnectFailure(format!(
        "TLS handshake with {host} cut before any request byte was sent: {why}"
    ))))
}

/// After a write into a handshake the peer closed: the TLS alert among the records it sent
/// before, if any (read for a short while only).
fn read_alert(
    stream: &mut StreamOwned<ClientConnection, TransportAdapter>,
    mut timeout: NextTimeout,
) -> Option<rustls::Error> {
    let limit = (!timeout.after.is_not_happening()).then(|| *timeout.after);
    timeout.after =
        ureq::unversioned::transport::time::Duration::Exact(crate::net::early::salvage_wait(limit));
    stream.sock.set_timeout(timeout);
    for _ in 0..64 {
        let more = matches!(stream.conn.read_tls(&mut stream.sock), Ok(n) if n > 0);
        match stream.conn.process_new_packets() {
            Err(e @ rustls::Error::AlertReceived(_)) => return Some(e),
            Err(_) => return None,
            Ok(_) if !more => return None,
            Ok(_) => {}
        }
    }
    None
}

/// Wraps plain transports in TLS for `https` URLs.
pub(crate) struct TlsConnector {
    config: Arc<ClientConfig>,
    /// Whether the configuration carries a client certificate.
    identity: bool,
    handshakes: Arc<Counter>,
    input_buffer: usize,
    output_buffer: usize,
}

impl TlsConnector {
    pub(crate) fn new(
        config: Arc<ClientConfig>,
        handshakes: Arc<Counter>,
        input_buffer: usize,
        output_buffer: usize,
    ) -> Self {
        TlsConnector {
            identity: config.client_auth_cert_resolver.has_certs(),
            config,
            handshakes,
            input_buffer,
            output_buffer,
        }
    }
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector").finish()
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .host()
            .ok_or_else(|| ureq::Error::BadUri("URL has no host".into()))?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(bare)
            .map_err(|_| {
                ureq::Error::Other(Box::new(TlsFailure(format!(
                    "'{bare}' is not a valid TLS server name"
                ))))
            })?
            .to_owned();
        let conn = ClientConnection::new(Arc::clone(&self.config), name)
            .map_err(|e| ureq::Error::Other(Box::new(TlsFailure(describe_rustls(&e)))))?;
        let sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        let mut stream = StreamOwned::new(conn, sock);
        // The handshake gets what is left of the connection's one connect budget (each step
        // only the rest of it), and a handshake cut by the peer is a connect failure: no
        // request byte was sent, so it is safe to try again.
        while stream.conn.is_handshaking() {
            let mut t = details.timeout;
            if let Some(left) = crate::net::transport::connect_time_left() {
                if left.is_zero() {
                    return Err(ureq::Error::Timeout(ureq::Timeout::Connect));
                }
                // The handshake is part of connecting: the rest of the connect budget, not
                // the per-read I/O timeout.
                t.after = ureq::unversioned::transport::time::Duration::Exact(left);
                t.reason = ureq::Timeout::Connect;
            }
            stream.sock.set_timeout(t);
            if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
                // A server that refuses the client certificate sends an alert and closes: our
                // next write may then fail first. Read the alert it sent before that.
                if crate::net::early::is_peer_close(&e) {
                    if let Some(alert) = read_alert(&mut stream, t) {
                        return Err(ureq::Error::Other(Box::new(TlsFailure(
                            describe_rustls_for(&alert, Some(self.identity)),
                        ))));
                    }
                }
                return Err(handshake_failure(e, bare, self.identity));
            }
        }
        self.handshakes.fetch_add(1);
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(self.input_buffer, self.output_buffer),
            stream,
            identity: self.identity,
        })))
    }
}

/// An established TLS connection as a ureq transport.
pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
    identity: bool,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport").finish()
    }
}

impl TlsTransport {
    /// After the peer closed or reset the connection under a write: decrypts into the input
    /// buffer what it sent before (its reply to a request it refused early), until the end,
    /// an error or a full buffer (see [`crate::net::early`]). The records are read straight from
    /// the transport below: reading through the stream would first try to send the TLS
    /// data still queued, into the closed connection.
    ///
    /// Returns the TLS error the peer's last records carried (an alert: e.g. a server that
    /// refused the client certificate after the TLS 1.3 handshake).
    fn salvage_reply(&mut self, mut timeout: NextTimeout) -> Option<rustls::Error> {
        let limit = (!timeout.after.is_not_happening()).then(|| *timeout.after);
        timeout.after = ureq::unversioned::transport::time::Duration::Exact(
            crate::net::early::salvage_wait(limit),
        );
        self.stream.sock.set_timeout(timeout);
        loop {
            let more = matches!(self.stream.conn.read_tls(&mut self.stream.sock), Ok(n) if n > 0);
            if let Err(e) = self.stream.conn.process_new_packets() {
                return Some(e);
            }
            loop {
                let input = self.buffers.input_append_buf();
                if input.is_empty() {
                    return None;
                }
                match self.stream.conn.reader().read(input) {
                    Ok(n) if n > 0 => self.buffers.input_appended(n),
                    _ => break,
                }
            }
            if !more {
                return None;
            }
        }
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.sock.set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        let sent = self
            .stream
            .write_all(output)
            .and_then(|()| self.stream.flush())
            .map_err(|e| map_tls_io(e, self.identity));
        if let Err(ureq::Error::Io(e)) = &sent {
            if crate::net::early::is_peer_close(e) {
                if let Some(alert @ rustls::Error::AlertReceived(_)) = self.salvage_reply(timeout) {
                    return Err(ureq::Error::Other(Box::new(TlsFailure(
                        describe_rustls_for(&alert, Some(self.identity)),
                    ))));
                }
            }
        }
        sent
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.sock.set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self
            .stream
            .read(input)
            .map_err(|e| map_tls_io(e, self.identity))?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.sock.get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_without_certificates_is_refused() {
        let e = parse_ca_pem(b"hello").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
        assert!(e.message().contains("no '-----BEGIN CERTIFICATE-----'"));
    }

    #[test]
    fn truncated_pem_is_refused() {
        let e = parse_ca_pem(b"-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
    }

    #[test]
    fn garbage_der_is_refused() {
        let e = parse_ca_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
        assert!(e.message().contains("not a well-formed"), "{}", e.message());
    }

    fn cert_pem(is_ca: bool) -> String {
        let mut params = rcgen::CertificateParams::new(vec!["device.local".to_string()]).unwrap();
        params.is_ca = if is_ca {
            rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained)
        } else {
            rcgen::IsCa::ExplicitNoCa
        };
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn only_ca_certificates_become_anchors() {
        assert_eq!(parse_ca_pem(cert_pem(true).as_bytes()).unwrap().len(), 1);
        let e = parse_ca_pem(cert_pem(false).as_bytes()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
        assert!(
            e.message().contains("not a CA certificate"),
            "{}",
            e.message()
        );
        // One bad block spoils the bundle.
        let both = format!("{}{}", cert_pem(true), cert_pem(false));
        assert!(parse_ca_pem(both.as_bytes()).is_err());
        // A v3 certificate without basicConstraints is not a CA either.
        let mut params = rcgen::CertificateParams::new(vec!["x".to_string()]).unwrap();
        params.is_ca = rcgen::IsCa::NoCa;
        let key = rcgen::KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        assert_eq!(is_ca_certificate(&der), Some(false));
        // Every Mozilla root passes (they are CAs).
        assert_eq!(is_ca_certificate(&[0x30, 0x03, 0x30, 0x01]), None);
    }

    #[test]
    fn no_roots_is_refused() {
        let e = client_config(false, &[], None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
    }

    #[test]
    fn builtin_roots_build() {
        client_config(true, &[], None).unwrap();
    }
}

#[cfg(test)]
mod system_bundle {
    /// Every certificate of the system CA bundle (when the machine has one) is a CA.
    #[test]
    #[ignore = "depends on the machine's CA bundle; run by hand"]
    fn system_roots_are_cas() {
        let pem = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap();
        let certs = super::parse_ca_pem(&pem).unwrap();
        assert!(certs.len() > 100, "{}", certs.len());
    }
}
