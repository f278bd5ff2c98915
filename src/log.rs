//! Log lines for the embedding application.
//!
//! The library never prints. A client may carry a sink that receives one line per event up to
//! a maximum level. Lines never contain a device secret, access-key secret, token, signature or
//! Authorization value: call sites only ever format names, hosts, paths, sizes and codes.

use std::fmt;
use std::sync::Arc;

/// Severity of a log line, from most to least severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// An operation failed.
    Error = 1,
    /// Something unexpected that the library worked around (retry, clock correction).
    Warn = 2,
    /// Milestones: auth succeeded, token renewed, upload finished.
    Info = 3,
    /// One line per HTTP exchange.
    Debug = 4,
    /// Request and reply details (headers with sensitive values redacted).
    Trace = 5,
}

/// Where log lines go.
pub type LogSink = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// A sink plus its maximum level; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Logger {
    sink: Option<LogSink>,
    max: Option<LogLevel>,
}

impl Logger {
    pub(crate) fn new(sink: LogSink, max: LogLevel) -> Logger {
        Logger {
            sink: Some(sink),
            max: Some(max),
        }
    }

    #[inline]
    pub(crate) fn enabled(&self, level: LogLevel) -> bool {
        self.sink.is_some() && self.max.is_some_and(|m| level <= m)
    }

    pub(crate) fn write(&self, level: LogLevel, args: fmt::Arguments<'_>) {
        if let Some(sink) = &self.sink {
            if self.enabled(level) {
                let line = args.to_string();
                sink(level, &line);
            }
        }
    }
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger").field("max", &self.max).finish()
    }
}

/// `log!(logger, Level, "fmt", args…)`: formats only when the level is enabled.
macro_rules! log {
    ($logger:expr, $level:ident, $($arg:tt)+) => {{
        let logger: &$crate::log::Logger = &$logger;
        if logger.enabled($crate::log::LogLevel::$level) {
            logger.write($crate::log::LogLevel::$level, format_args!($($arg)+));
        }
    }};
}
pub(crate) use log;
