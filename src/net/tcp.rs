//! TCP sockets for ureq, with deadlines that hold across partial writes.
//!
//! ureq's own TCP transport sets the socket timeout once per write and then writes in a
//! loop, so a peer that stops reading but lets a few bytes into its window now and then can
//! hold one write for several times the timeout (measured: 2.2 s at 700 ms). Here every
//! system call gets only what is left of the deadline of the whole transmit or read.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, ShutdownHandle,
    Transport,
};

use crate::net::transport::ConnectFailure;

/// Opens TCP connections (unless an earlier connector, such as a proxy, already did).
#[derive(Debug)]
pub(crate) struct TcpConnector {
    pub input_buffer: usize,
    pub output_buffer: usize,
}

fn connect_failure(msg: String) -> ureq::Error {
    ureq::Error::Other(Box::new(ConnectFailure(msg)))
}

/// The time left of a ureq timeout; None when there is no limit.
fn left(t: &NextTimeout) -> Option<Duration> {
    if t.after.is_not_happening() {
        None
    } else {
        Some(*t.after)
    }
}

impl<In: Transport> Connector<In> for TcpConnector {
    type Out = Either<In, TcpTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if let Some(t) = chained {
            return Ok(Some(Either::A(t)));
        }
        let started = Instant::now();
        // What is left of the connection's one budget (lookup + TCP + TLS), begun by the
        // resolver; ureq's own connect timeout would start the clock again.
        let budget = match (
            left(&details.timeout),
            crate::net::transport::connect_time_left(),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let addrs: Vec<SocketAddr> = details.addrs.iter().copied().collect();
        let mut last: Option<String> = None;
        for (i, addr) in addrs.iter().enumerate() {
            // Each address gets half of what is left; the last one gets all of it.
            let per_addr = budget.map(|b| {
                let rest = b.saturating_sub(started.elapsed());
                if i + 1 == addrs.len() { rest } else { rest / 2 }.max(Duration::from_millis(10))
            });
            if budget.is_some_and(|b| started.elapsed() >= b) {
                return Err(ureq::Error::Timeout(ureq::Timeout::Connect));
            }
            let attempt = match per_addr {
                Some(t) => TcpStream::connect_timeout(addr, t),
                None => TcpStream::connect(addr),
            };
            match attempt {
                Ok(stream) => {
                    stream.set_nodelay(true).map_err(ureq::Error::Io)?;
                    let stream = Arc::new(stream);
                    (details.register_shutdown)(
                        Arc::downgrade(&stream) as Weak<dyn ShutdownHandle>
                    )?;
                    return Ok(Some(Either::B(TcpTransport {
                        stream,
                        buffers: LazyBuffers::new(self.input_buffer, self.output_buffer),
                        read_timeout: None,
                        write_timeout: None,
                    })));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                    ) =>
                {
                    last = Some(format!("connecting to {addr} timed out"));
                }
                Err(e) => last = Some(format!("cannot connect to {addr}: {}", describe(&e))),
            }
        }
        if budget.is_some_and(|b| started.elapsed() >= b) {
            return Err(ureq::Error::Timeout(ureq::Timeout::Connect));
        }
        Err(connect_failure(
            last.unwrap_or_else(|| "no address to connect to".into()),
        ))
    }
}

fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::HostUnreachable => "host unreachable".into(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".into(),
        _ => e.to_string(),
    }
}

/// A connected socket as a ureq transport.
#[derive(Debug)]
pub(crate) struct TcpTransport {
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

/// Set a socket timeout only when it changes by more than a few milliseconds.
fn refresh(
    cached: &mut Option<Duration>,
    want: Option<Duration>,
    set: impl FnOnce(Option<Duration>) -> io::Result<()>,
) -> io::Result<()> {
    let close = match (*cached, want) {
        (Some(a), Some(b)) => a.abs_diff(b) <= Duration::from_millis(5),
        (None, None) => true,
        _ => false,
    };
    if !close {
        set(want)?;
        *cached = want;
    }
    Ok(())
}

/// Time left until `deadline` (None: no limit); the timeout's error once it has passed.
fn remaining(
    deadline: Option<Instant>,
    timeout: &NextTimeout,
) -> Result<Option<Duration>, ureq::Error> {
    match deadline {
        None => Ok(None),
        Some(d) => {
            let r = d.saturating_duration_since(Instant::now());
            if r.is_zero() {
                Err(ureq::Error::Timeout(timeout.reason))
            } else {
                Ok(Some(r.max(Duration::from_millis(1))))
            }
        }
    }
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

impl TcpTransport {
    /// After the peer closed or reset the connection under a write: reads into the input
    /// buffer whatever it sent before (its reply to a request it refused early), until the
    /// end, an error, a full buffer or a short wait (see [`crate::net::early`]).
    fn salvage_reply(&mut self, timeout: &NextTimeout) {
        let deadline = Instant::now() + crate::net::early::salvage_wait(left(timeout));
        loop {
            let rest = deadline.saturating_duration_since(Instant::now());
            let stream = &*self.stream;
            if rest.is_zero()
                || refresh(&mut self.read_timeout, Some(rest), |t| {
                    stream.set_read_timeout(t)
                })
                .is_err()
            {
                return;
            }
            let input = self.buffers.input_append_buf();
            if input.is_empty() {
                return;
            }
            match (&*self.stream).read(input) {
                Ok(0) => return,
                Ok(n) => self.buffers.input_appended(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

impl Transport for TcpTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let deadline = left(&timeout).map(|d| Instant::now() + d);
        let mut written = 0;
        while written < amount {
            let rest = remaining(deadline, &timeout)?;
            let stream = &*self.stream;
            refresh(&mut self.write_timeout, rest, |t| {
                stream.set_write_timeout(t)
            })
            .map_err(ureq::Error::Io)?;
            let output = &self.buffers.output()[written..amount];
            match (&*self.stream).write(output) {
                Ok(0) => {
                    self.salvage_reply(&timeout);
                    return Err(ureq::Error::Io(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "connection closed by peer while sending",
                    )));
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if timed_out(&e) => return Err(ureq::Error::Timeout(timeout.reason)),
                Err(e) => {
                    if crate::net::early::is_peer_close(&e) {
                        self.salvage_reply(&timeout);
                    }
                    return Err(ureq::Error::Io(e));
                }
            }
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let deadline = left(&timeout).map(|d| Instant::now() + d);
        loop {
            let rest = remaining(deadline, &timeout)?;
            let stream = &*self.stream;
            refresh(&mut self.read_timeout, rest, |t| stream.set_read_timeout(t))
                .map_err(ureq::Error::Io)?;
            let input = self.buffers.input_append_buf();
            match (&*self.stream).read(input) {
                Ok(n) => {
                    self.buffers.input_appended(n);
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if timed_out(&e) => return Err(ureq::Error::Timeout(timeout.reason)),
                Err(e) => return Err(ureq::Error::Io(e)),
            }
        }
    }

    fn is_open(&mut self) -> bool {
        // An idle pooled connection is usable if reading would block: no EOF, no stray bytes.
        let stream = &*self.stream;
        if stream.set_nonblocking(true).is_err() {
            return false;
        }
        let mut probe = [0u8; 1];
        let open = matches!((&*self.stream).read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        open && stream.set_nonblocking(false).is_ok()
    }
}
