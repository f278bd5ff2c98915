//! One error type for the whole crate.
//!
//! Every failure carries a [`ErrorKind`] (what a caller can act on), a message written for a
//! field log (what failed, where, why; never a secret), and where known the cloud's own code
//! and the HTTP status that came with it.

use std::fmt;

/// What went wrong, in the terms a caller can act on. Mirrors the C `iothttp_result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// NULL, invalid UTF-8, empty or illegal topic/name, bad URL, missing configuration.
    InvalidArg,
    /// Payload or file over the target's documented limit (checked before sending).
    TooLarge,
    /// The device's cloud does not offer this operation.
    Unsupported,
    /// A caller buffer is too small.
    BufferTooSmall,
    /// Name resolution or TCP connect failed.
    Connect,
    /// TLS handshake or certificate verification failed, or a plain-http URL was refused.
    Tls,
    /// A configured timeout expired.
    Timeout,
    /// The connection failed mid-request.
    Io,
    /// An HTTP status the protocol does not expect, with no cloud error code.
    Http,
    /// A reply that cannot be parsed, lacks required fields, or exceeds the size cap.
    BadResponse,
    /// The cloud refused the credentials.
    Auth,
    /// A token was refused again right after a fresh auth.
    Token,
    /// Not permitted (topic ACL, expired upload policy, forbidden).
    Denied,
    /// Still throttled after the retry budget.
    RateLimited,
    /// Service unavailable after the retry budget.
    Unavailable,
    /// Any other error the cloud reported.
    Cloud,
    /// A source's read or rewind failed, or a file could not be read.
    Read,
    /// A source produced more or fewer bytes than its declared size.
    SizeMismatch,
    /// A second pass was needed over a source that cannot rewind.
    NotRewindable,
    /// The progress callback asked to stop.
    Cancelled,
    /// What arrived does not match the size or digest the caller expected (nothing kept).
    DigestMismatch,
    /// The sink or the file system refused the bytes.
    Write,
    /// A bug in the library.
    Internal,
}

/// An error: kind, message, and the cloud code / HTTP status when there was one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    cloud_code: i64,
    http_status: u16,
    /// The request that failed has used all its attempts of this call: nothing around it
    /// may send it again (one retry budget per call).
    spent: bool,
}

impl Error {
    /// A new error of `kind` with a message for the log.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            cloud_code: 0,
            http_status: 0,
            spent: false,
        }
    }

    /// Shorthand for [`ErrorKind::InvalidArg`].
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArg, message)
    }

    /// [`ErrorKind::Unsupported`]: `what` is left out of this build (cargo feature `feature`).
    pub fn missing_feature(feature: &str, what: &str) -> Error {
        Error::new(
            ErrorKind::Unsupported,
            format!(
                "{what} is not in this build of iothttp: it was built without the cargo feature \
                 '{feature}' (CMake: add it to IOTHTTP_FEATURES)"
            ),
        )
    }

    /// Attach the cloud's own error code.
    pub fn with_cloud_code(mut self, code: i64) -> Error {
        self.cloud_code = code;
        self
    }

    /// Attach the HTTP status the reply carried.
    pub fn with_http_status(mut self, status: u16) -> Error {
        self.http_status = status;
        self
    }

    /// Prefix the message with what was being done (`"auth: "`).
    pub fn context(mut self, what: &str) -> Error {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The cloud's own code (UCloud `RetCode`, Aliyun `code`, ...), 0 if none.
    pub fn cloud_code(&self) -> i64 {
        self.cloud_code
    }

    /// The HTTP status of the reply that caused the error, 0 if none.
    pub fn http_status(&self) -> u16 {
        self.http_status
    }

    /// "(gave up after N attempts)": the request's retry budget for this call is spent.
    pub(crate) fn gave_up(self, attempts: u32) -> Error {
        let mut e = Error::new(
            self.kind,
            format!("{} (gave up after {attempts} attempts)", self.message),
        )
        .with_cloud_code(self.cloud_code)
        .with_http_status(self.http_status);
        e.spent = true;
        e
    }

    /// The same error, marked as final for the call (no retry around it).
    pub(crate) fn gave_up_marked(mut self) -> Error {
        self.spent = true;
        self
    }

    /// Whether the request that failed may not be sent again within this call.
    pub(crate) fn budget_spent(&self) -> bool {
        self.spent
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
