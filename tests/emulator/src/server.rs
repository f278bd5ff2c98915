//! Listeners and connection threads: HTTPS, plain HTTP and the control port.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::control;
use crate::http::{self, Outcome};
use crate::routes::Router;
use crate::state::Shared;

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
    Https(Arc<ServerConfig>),
    Plain,
    Control,
}

impl Kind {
    fn name(&self) -> &'static str {
        match self {
            Kind::Https(_) => "https",
            Kind::Plain => "http",
            Kind::Control => "control",
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
        (Kind::Https(_), Ok(addr)) => format!("https://{addr}").into(),
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
        if !matches!(kind, Kind::Control) {
            shared.connections.fetch_add(1, Ordering::SeqCst);
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
                };
                let outcome = http::serve(&mut tcp, &router);
                close(&mut tcp, outcome);
            }
            Kind::Https(config) => https(shared, config, base, tcp),
        }
    }
    shared.untrack(id);
}

fn https(shared: &Arc<Shared>, config: &Arc<ServerConfig>, base: &Arc<str>, mut tcp: TcpStream) {
    let Ok(mut tls) = ServerConnection::new(Arc::clone(config)) else {
        return;
    };
    while tls.is_handshaking() {
        if tls.complete_io(&mut tcp).is_err() {
            // Failed handshake (e.g. the client does not trust the CA): nothing to serve.
            let _ = tcp.shutdown(Shutdown::Both);
            return;
        }
    }
    shared.handshakes.fetch_add(1, Ordering::SeqCst);

    let router = Router {
        shared: Arc::clone(shared),
        base: Arc::clone(base),
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
