//! Listeners and connection threads: HTTPS (the main port and the TLS variants), plain
//! HTTP and the control port.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::control;
use crate::http::{self, Outcome};
use crate::routes::{self, Router};
use crate::state::{Port, Shared};

/// A keep-alive connection idle this long is closed (also bounds a stalled handshake).
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// A write blocked this long fails.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Lingering close: how long and how much to read and discard before closing.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: u64 = 64 * 1024 * 1024;

/// What a listener serves.
#[derive(Clone)]
pub enum Kind {
    /// The routes over TLS with this configuration; which listener it is.
    Https(Arc<ServerConfig>, Port),
    Plain,
    Control,
}

impl Kind {
    fn name(&self) -> &'static str {
        match self {
            Kind::Https(_, port) => port.name(),
            Kind::Plain => "http",
            Kind::Control => "control",
        }
    }

    fn port(&self) -> Option<Port> {
        match self {
            Kind::Https(_, port) => Some(*port),
            Kind::Plain => Some(Port::Plain),
            Kind::Control => None,
        }
    }
}

/// A listening socket and its accept thread.
pub struct Listener {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Binds 127.0.0.1:`port` (0 = ephemeral) and starts accepting.
    pub fn spawn(shared: Arc<Shared>, port: u16, kind: Kind) -> io::Result<Listener> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name(format!("iothttp-emu-{}", kind.name()))
            .spawn(move || accept_loop(&listener, &shared, &kind, &flag))?;
        Ok(Listener {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting: wakes the blocked `accept` with a connection to itself and joins
    /// the thread.
    pub fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::SeqCst);
        if TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).is_ok() {
            let _ = thread.join();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, kind: &Kind, stop: &AtomicBool) {
    // The scheme and address upload URLs handed out on this listener point to.
    let base: Arc<str> = match (kind, listener.local_addr()) {
        (Kind::Https(..), Ok(addr)) => format!("https://{addr}").into(),
        (Kind::Plain, Ok(addr)) => format!("http://{addr}").into(),
        _ => "".into(),
    };
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) || shared.stopping() {
            break;
        }
        let stream = match conn {
            Ok(stream) => stream,
            Err(_) => {
                // E.g. out of file descriptors: do not spin.
                thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        if let Some(port) = kind.port() {
            shared.connections.fetch_add(1, Ordering::SeqCst);
            shared.port(port).connections.fetch_add(1, Ordering::SeqCst);
        }
        let (shared, kind, base) = (Arc::clone(shared), kind.clone(), Arc::clone(&base));
        // If no thread can be started the connection is simply dropped.
        let _ = thread::Builder::new()
            .name("iothttp-emu-conn".into())
            .spawn(move || connection(&shared, &kind, &base, stream));
    }
}

fn connection(shared: &Arc<Shared>, kind: &Kind, base: &Arc<str>, mut tcp: TcpStream) {
    let id = shared.track(&tcp);
    if !shared.stopping() {
        let _ = tcp.set_nodelay(true);
        let _ = tcp.set_write_timeout(Some(WRITE_TIMEOUT));
        // Control connections may stay idle as long as the client likes.
        if !matches!(kind, Kind::Control) {
            let _ = tcp.set_read_timeout(Some(IDLE_TIMEOUT));
        }
        match kind {
            Kind::Control => control::serve(shared, &mut tcp),
            Kind::Plain => {
                let router = Router {
                    shared: Arc::clone(shared),
                    base: Arc::clone(base),
                    client_cert: None,
                };
                let outcome = http::serve(&mut tcp, &router);
                close(&mut tcp, outcome);
            }
            Kind::Https(config, port) => https(shared, config, *port, base, tcp),
        }
    }
    shared.untrack(id);
}

/// `accept-no-tls`: never send a byte; discard what arrives until the client closes the
/// connection or the emulator stops.
fn silent(shared: &Shared, tcp: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf) {
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
                if shared.stopping() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// A client speaking plain HTTP to a TLS port (e.g. to an `upload-urls http` URL when no
/// plain listener runs): counted (as an upload when its target is an upload path) and
/// answered with a plain 400, like common HTTPS servers do.
fn plain_on_tls(shared: &Shared, port: Port, tcp: &mut TcpStream) {
    shared.port(port).plain_http.fetch_add(1, Ordering::SeqCst);
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 8 * 1024 && !line.ends_with(b"\n") {
        match tcp.read(&mut byte) {
            Ok(1) => line.push(byte[0]),
            _ => break,
        }
    }
    let line = String::from_utf8_lossy(&line);
    let target = line.split(' ').nth(1).unwrap_or("");
    if routes::is_upload_url_path(target.split('?').next().unwrap_or("")) {
        shared.plain_http_uploads.fetch_add(1, Ordering::SeqCst);
    }
    let body = "{\"error\":\"plain HTTP request sent to an HTTPS port\"}";
    let reply = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if tcp.write_all(reply.as_bytes()).is_ok() {
        close(tcp, Outcome::Linger);
    }
}

fn https(
    shared: &Arc<Shared>,
    config: &Arc<ServerConfig>,
    port: Port,
    base: &Arc<str>,
    mut tcp: TcpStream,
) {
    let counters = shared.port(port);
    if shared.accept_no_tls.load(Ordering::SeqCst) {
        counters.silent.fetch_add(1, Ordering::SeqCst);
        silent(shared, &mut tcp);
        let _ = tcp.shutdown(Shutdown::Both);
        return;
    }
    // A TLS record starts with its content type (22 for a handshake); an HTTP request with
    // an upper-case method name.
    let mut first = [0u8; 1];
    match tcp.peek(&mut first) {
        Ok(1) if first[0].is_ascii_uppercase() => return plain_on_tls(shared, port, &mut tcp),
        Ok(1) => {}
        _ => return,
    }
    let Ok(mut tls) = ServerConnection::new(Arc::clone(config)) else {
        return;
    };
    while tls.is_handshaking() {
        if tls.complete_io(&mut tcp).is_err() {
            // Failed handshake (e.g. the client does not trust the CA): nothing to serve.
            counters.failed_handshakes.fetch_add(1, Ordering::SeqCst);
            if matches!(port, Port::Mtls | Port::Mtls12) {
                // The alert refusing a client certificate must reach the client, which may
                // still be writing its flight: a close now would reset the connection and
                // destroy the alert (as a web server's lingering close avoids).
                close(&mut tcp, Outcome::Linger);
            } else {
                let _ = tcp.shutdown(Shutdown::Both);
            }
            return;
        }
    }
    shared.handshakes.fetch_add(1, Ordering::SeqCst);
    counters.handshakes.fetch_add(1, Ordering::SeqCst);

    // The client certificate presented, by the name of the device certificate it is.
    let client_cert = tls
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| {
            shared
                .client_certs
                .get()
                .and_then(|known| known.iter().find(|(der, _)| der[..] == leaf[..]))
                .map_or("unknown", |(_, name)| *name)
        });
    let router = Router {
        shared: Arc::clone(shared),
        base: Arc::clone(base),
        client_cert,
    };
    let mut stream = StreamOwned::new(tls, tcp);
    let outcome = http::serve(&mut stream, &router);
    if outcome != Outcome::Abort {
        stream.conn.send_close_notify();
        let _ = stream.flush();
    }
    let StreamOwned { mut sock, .. } = stream;
    close(&mut sock, outcome);
}

/// Closes a connection; with [`Outcome::Linger`] it first reads and discards what the
/// client is still sending, so that our last response is not destroyed by a TCP reset.
fn close(tcp: &mut TcpStream, outcome: Outcome) {
    if outcome == Outcome::Linger && tcp.shutdown(Shutdown::Write).is_ok() {
        let deadline = Instant::now() + LINGER_TIME;
        let mut buf = [0u8; 16 * 1024];
        let mut total = 0u64;
        while total < LINGER_BYTES {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tcp.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match tcp.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n as u64,
            }
        }
    }
    let _ = tcp.shutdown(Shutdown::Both);
}
