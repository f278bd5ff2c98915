"""Result codes and the exceptions they become."""

from __future__ import annotations

import enum
from typing import Dict, Optional, Type


class Result(enum.IntEnum):
    """The values of ``iothttp_result`` (ABI: they never change).

    Ranges: 0 success; 1-99 caller errors; 100-199 network and protocol; 200-299 the cloud
    said no; 300-399 upload sources and download sinks; 900+ library bugs.
    """

    OK = 0
    E_INVALID_ARG = 1
    E_TOO_LARGE = 2
    E_UNSUPPORTED = 3
    E_BUFFER_TOO_SMALL = 4
    E_CONNECT = 100
    E_TLS = 101
    E_TIMEOUT = 102
    E_IO = 103
    E_HTTP = 104
    E_BAD_RESPONSE = 105
    E_AUTH = 200
    E_TOKEN = 201
    E_DENIED = 202
    E_RATE_LIMITED = 203
    E_UNAVAILABLE = 204
    E_CLOUD = 205
    E_READ = 300
    E_SIZE_MISMATCH = 301
    E_NOT_REWINDABLE = 302
    E_CANCELLED = 303
    E_DIGEST_MISMATCH = 304
    E_WRITE = 305
    E_INTERNAL = 900


class Error(Exception):
    """A failed iothttp call.

    Attributes:
        result: the numeric ``iothttp_result`` (an int; a :class:`Result` when known).
        code: its name, e.g. ``"IOTHTTP_E_TLS"``.
        message: the library's message (what failed, where and why; never a secret).
        cloud_code: the cloud's own error code (UCloud ``RetCode``, Aliyun ``code``...), 0 if none.
        http_status: the HTTP status of the last reply of the call, 0 if none.
    """

    def __init__(
        self,
        result: int,
        message: str,
        code: Optional[str] = None,
        cloud_code: int = 0,
        http_status: int = 0,
    ) -> None:
        try:
            self.result: int = Result(result)
        except ValueError:
            self.result = result
        self.code: str = code or _name_of(result)
        self.message: str = message
        self.cloud_code: int = cloud_code
        self.http_status: int = http_status
        super().__init__(result, message)

    def __str__(self) -> str:
        return "%s: %s" % (self.code, self.message) if self.message else self.code

    def __repr__(self) -> str:
        return "%s(%s, %r, cloud_code=%d, http_status=%d)" % (
            type(self).__name__,
            self.code,
            self.message,
            self.cloud_code,
            self.http_status,
        )

    def __reduce__(self):  # picklable (e.g. across multiprocessing)
        return (
            _rebuild,
            (type(self), int(self.result), self.message, self.code, self.cloud_code, self.http_status),
        )


def _rebuild(cls, result, message, code, cloud_code, http_status):
    return cls(result, message, code, cloud_code, http_status)


def _name_of(result: int) -> str:
    try:
        return "IOTHTTP_" + Result(result).name
    except ValueError:
        return "IOTHTTP_UNKNOWN"


# 1-99: the call was wrong; nothing was sent.
class ArgumentError(Error, ValueError):
    """Results 1-99: an invalid argument, a payload too large, an operation the cloud does
    not offer, a buffer too small. Nothing was sent. Also raised by this package for argument
    values it refuses before calling the library."""


class TooLargeError(ArgumentError):
    """``IOTHTTP_E_TOO_LARGE``: a payload over 128 KiB or a file over the target's limit."""


class UnsupportedError(ArgumentError):
    """``IOTHTTP_E_UNSUPPORTED``: the device's cloud (or this build) does not offer it."""


# 100-199: the network or the protocol.
class NetworkError(Error):
    """Results 100-199: name lookup, connect, TLS, timeouts, broken connections, unexpected
    HTTP statuses, unreadable replies."""


class ConnectError(NetworkError):
    """``IOTHTTP_E_CONNECT``: lookup or connect failed; the request was not sent."""


class TLSError(NetworkError):
    """``IOTHTTP_E_TLS``: handshake or certificate verification failed, or a plain
    ``http://`` URL was refused."""


class TimeoutError(NetworkError):  # noqa: A001 (iothttp.TimeoutError)
    """``IOTHTTP_E_TIMEOUT``: a configured timeout or the call's deadline expired."""


class HTTPError(NetworkError):
    """``IOTHTTP_E_HTTP``: an HTTP status the protocol does not expect (see ``http_status``)."""


class BadResponseError(NetworkError):
    """``IOTHTTP_E_BAD_RESPONSE``: a reply that cannot be parsed or is too large."""


# 200-299: the cloud said no.
class CloudError(Error):
    """Results 200-299: the cloud refused (see ``cloud_code``)."""


class AuthError(CloudError):
    """``IOTHTTP_E_AUTH`` (credentials refused) and ``IOTHTTP_E_TOKEN`` (a fresh token was
    refused again)."""


class DeniedError(CloudError):
    """``IOTHTTP_E_DENIED``: not permitted (topic ACL, expired upload policy, forbidden)."""


class UnavailableError(CloudError):
    """``IOTHTTP_E_RATE_LIMITED`` and ``IOTHTTP_E_UNAVAILABLE``: still refused after the
    retry budget; back off."""


# 300-399: the upload source or the download sink.
class SourceError(Error):
    """Results 300-399: the upload source or the download sink failed, a size or digest is
    not what was expected, or a progress callback cancelled."""


class CancelledError(SourceError):
    """``IOTHTTP_E_CANCELLED``: a progress callback returned False; nothing was completed
    (a download's ``.part`` is kept for the next call to resume)."""


class DigestMismatch(SourceError):
    """``IOTHTTP_E_DIGEST_MISMATCH``: a download's size, MD5 or SHA-256 is not what was
    expected; nothing of it was kept."""


class WriteError(SourceError):
    """``IOTHTTP_E_WRITE``: the download's sink or the file system refused the bytes."""


class InternalError(Error):
    """Results 900+: a bug in the library (please report); the handle stays usable."""


_BY_RESULT: Dict[int, Type[Error]] = {
    Result.E_TOO_LARGE: TooLargeError,
    Result.E_UNSUPPORTED: UnsupportedError,
    Result.E_CONNECT: ConnectError,
    Result.E_TLS: TLSError,
    Result.E_TIMEOUT: TimeoutError,
    Result.E_HTTP: HTTPError,
    Result.E_BAD_RESPONSE: BadResponseError,
    Result.E_AUTH: AuthError,
    Result.E_TOKEN: AuthError,
    Result.E_DENIED: DeniedError,
    Result.E_RATE_LIMITED: UnavailableError,
    Result.E_UNAVAILABLE: UnavailableError,
    Result.E_CANCELLED: CancelledError,
    Result.E_DIGEST_MISMATCH: DigestMismatch,
    Result.E_WRITE: WriteError,
}


def error_class(result: int) -> Type[Error]:
    """The exception class for a result code (by its range when it has no class of its own)."""
    cls = _BY_RESULT.get(result)
    if cls is not None:
        return cls
    if 1 <= result <= 99:
        return ArgumentError
    if 100 <= result <= 199:
        return NetworkError
    if 200 <= result <= 299:
        return CloudError
    if 300 <= result <= 399:
        return SourceError
    if result >= 900:
        return InternalError
    return Error


def make_error(result: int, message: str, code: Optional[str] = None, cloud_code: int = 0,
               http_status: int = 0) -> Error:
    return error_class(result)(result, message, code, cloud_code, http_status)


def argument_error(message: str) -> ArgumentError:
    """An argument refused by this package before any library call (IOTHTTP_E_INVALID_ARG)."""
    return ArgumentError(Result.E_INVALID_ARG, message)
