"""The Pythonic layer over the C ABI: Client, Device, AliyunAccount, AgcClient, Source.

Rules kept here (the header's conventions, include/iothttp.h):

- A handle is freed exactly once, never while a call on it runs: every call holds a use
  count, and ``close()`` from another thread frees the handle when the last call returns.
- The error of a failed call is read on the calling thread right after the call, before any
  other iothttp call (``iothttp_last_error`` is per thread).
- A Python exception never crosses a C callback: it is caught, the callback tells the
  library to stop, and the exception is raised again once the call has returned.
- ctypes callback objects (and borrowed memory) live as long as the library may use them.
"""

from __future__ import annotations

import ctypes
import datetime
import enum
import io
import logging
import os
import threading
from typing import (
    Any,
    BinaryIO,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from . import _lib
from ._errors import Error, Result, argument_error, make_error

#: Progress callable: ``(done, total) -> bool | None``; ``total`` is None when a download's
#: size is unknown. Returning False (or 0) cancels the call (:class:`CancelledError`).
Progress = Callable[[int, Optional[int]], Optional[bool]]
#: What a download writes to: a callable taking each chunk (returning False stops the
#: download with :class:`WriteError`), or an object with a binary ``write`` method.
Sink = Union[Callable[[bytes], Any], BinaryIO, Any]
#: Headers: a mapping, pairs, or ``"Name: value"`` strings.
Headers = Union[Mapping[str, str], Iterable[Union[Tuple[str, str], str]]]
PathLike = Union[str, "os.PathLike[str]"]
#: What an upload reads: a :class:`Source`, a path (str or os.PathLike), bytes-like
#: contents, or a binary file object (read through callbacks; rewound when seekable).
SourceLike = Union["Source", PathLike, bytes, bytearray, memoryview, BinaryIO]

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

_LOG_LEVELS = {1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG, 5: TRACE}


class Cloud(enum.IntEnum):
    """The device clouds (``iothttp_cloud``)."""

    UCLOUD = 0
    ALIYUN = 1


class SignMethod(enum.IntEnum):
    """How an Aliyun device signs its auth request (``iothttp_sign_method``)."""

    HMAC_MD5 = 0
    HMAC_SHA1 = 1
    HMAC_SHA256 = 2


class LogLevel(enum.IntEnum):
    """The library's log levels (``iothttp_log_level``), most severe first."""

    ERROR = 1
    WARN = 2
    INFO = 3
    DEBUG = 4
    TRACE = 5


class Stats(NamedTuple):
    """Counters of a client (and its devices) so far."""

    tls_handshakes: int
    requests: int


class Token:
    """A device's token and its expiry (Unix seconds, None when unknown). Treat it like the
    device secret: its repr does not show it."""

    __slots__ = ("value", "expires_at")

    def __init__(self, value: str, expires_at: Optional[float] = None) -> None:
        self.value = value
        self.expires_at = expires_at

    def __repr__(self) -> str:
        return "Token(<%d chars>, expires_at=%r)" % (len(self.value), self.expires_at)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Token)
            and other.value == self.value
            and other.expires_at == self.expires_at
        )

    def __hash__(self) -> int:
        return hash((self.value, self.expires_at))


# ------------------------------------------------------------------------------ plumbing

_tls = threading.local()


def _b(value: Any, what: str) -> bytes:
    """A text argument as NUL-free UTF-8."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode("utf-8", "surrogateescape")
    else:
        raise TypeError("%s must be a str, not %s" % (what, type(value).__name__))
    if b"\0" in data:
        raise argument_error("%s contains a NUL character" % what)
    return data


def _opt_b(value: Any, what: str) -> Optional[bytes]:
    return None if value is None else _b(value, what)


def _u32(value: Any, what: str, scale: float = 1.0, minimum: int = 0) -> int:
    try:
        n = value * scale
    except TypeError:
        raise TypeError("%s must be a number, not %s" % (what, type(value).__name__)) from None
    if n != n or n < 0:
        raise argument_error("%s must not be negative" % what)
    n = int(-(-n // 1))  # round up: 0.0001 s is 1 ms, not 0
    if n < minimum or n > 0xFFFFFFFF:
        raise argument_error("%s is out of range" % what)
    return n


def _raise_last(rc: int) -> None:
    """Raise the error of the call that just returned ``rc`` on this thread."""
    lib = _lib.lib()
    message = (lib.iothttp_last_error() or b"").decode("utf-8", "replace")
    cloud_code = lib.iothttp_last_cloud_code()
    http_status = lib.iothttp_last_http_status()
    name = (lib.iothttp_result_name(rc) or b"").decode()
    raise make_error(rc, message, name, cloud_code, http_status)


def _pending_interrupt() -> None:
    """A KeyboardInterrupt/SystemExit that arrived inside a log callback of this thread."""
    exc = getattr(_tls, "pending", None)
    if exc is not None:
        _tls.pending = None
        raise exc


def _check(rc: int) -> None:
    if rc:
        try:
            _raise_last(rc)
        finally:
            _pending_interrupt()
    _pending_interrupt()


class _Call:
    """The callbacks of one library call. The first exception raised inside one is kept,
    the library is told to stop, and the exception is raised by :meth:`finish`."""

    __slots__ = ("exc", "_keep")

    def __init__(self) -> None:
        self.exc: Optional[BaseException] = None
        self._keep: List[Any] = []

    def progress(self, fn: Optional[Progress], unknown_total_is_none: bool = False) -> Any:
        if fn is None:
            return _lib.PROGRESS_FN()  # NULL
        if not callable(fn):
            raise TypeError("progress must be callable")

        def cb(_ud: Any, done: int, total: int) -> int:
            if self.exc is not None:
                return 1
            try:
                r = fn(done, None if (unknown_total_is_none and not total) else total)
                return 1 if (r is not None and not r) else 0
            except BaseException as e:  # noqa: B036 (re-raised after the call)
                self.exc = e
                return 1

        c_fn = _lib.PROGRESS_FN(cb)
        self._keep.append(c_fn)
        return c_fn

    def sink(self, sink: Sink) -> Any:
        write = getattr(sink, "write", None)
        if isinstance(sink, io.TextIOBase):
            raise TypeError("the download sink is a text file: open it in binary mode ('wb')")
        if write is not None and callable(write):

            def deliver(data: bytes) -> bool:
                view = memoryview(data)
                while view:
                    n = write(view)
                    if n is None or not isinstance(n, int):
                        break
                    if n <= 0:
                        raise OSError("the sink's write() accepted no bytes")
                    view = view[n:]
                return True

        elif callable(sink):

            def deliver(data: bytes) -> bool:
                return sink(data) is not False

        else:
            raise TypeError("the download sink must be callable or have a write() method")

        def cb(_ud: Any, buf: Optional[int], n: int) -> int:
            if self.exc is not None:
                return 1
            try:
                return 0 if deliver(ctypes.string_at(buf, n) if n else b"") else 1
            except BaseException as e:  # noqa: B036
                self.exc = e
                return 1

        c_fn = _lib.WRITE_FN(cb)
        self._keep.append(c_fn)
        return c_fn

    def finish(self, rc: int, source: Optional["Source"] = None) -> None:
        """After the call: raise the callback's exception, else the call's error."""
        err: Optional[Error] = None
        if rc:
            try:
                _raise_last(rc)
            except Error as e:
                err = e
        exc = self.exc
        if exc is None and source is not None:
            exc = source._take_exception()
        self._keep.clear()
        _pending_interrupt()
        if exc is not None:
            self.exc = None
            if err is not None and hasattr(exc, "add_note"):
                exc.add_note("(iothttp stopped the call: %s)" % err)
            raise exc
        if err is not None:
            raise err


class _Use:
    __slots__ = ("h",)

    def __init__(self, h: "_Handle") -> None:
        self.h = h

    def __enter__(self) -> int:
        h = self.h
        with h._lock:
            if h._ptr is None or h._closing:
                raise ValueError("%s is closed" % type(h).__name__)
            h._users += 1
            return h._ptr

    def __exit__(self, *exc: Any) -> None:
        self.h._release()


class _Handle:
    """An owned C handle: freed once, by close(), the last call after close(), or GC."""

    _free_fn_name = ""

    def __init__(self, ptr: int, keep: Any = None) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._closing = False
        self._ptr: Optional[int] = ptr
        self._keep = keep  # what the library may use until the handle is freed

    def _use(self) -> _Use:
        return _Use(self)

    def _release(self) -> None:
        with self._lock:
            self._users -= 1
            ptr = self._take() if (self._closing and self._users == 0) else None
        self._free(ptr)

    def _take(self) -> Optional[int]:
        ptr, self._ptr = self._ptr, None
        return ptr

    def _free(self, ptr: Optional[int]) -> None:
        if ptr:
            getattr(_lib.lib(), self._free_fn_name)(ptr)
            self._keep = None

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return self._closing

    def close(self) -> None:
        """Release the handle. Safe to call twice and from any thread: a call still running
        on another thread keeps it until that call returns."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            ptr = self._take() if self._users == 0 else None
        self._free(ptr)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


def _new_handle(fn: Callable[..., int], *args: Any) -> int:
    out = ctypes.c_void_p()
    _check(fn(*(args + (ctypes.byref(out),))))
    return out.value or 0


def _c_strings(items: Sequence[bytes]) -> Tuple[Any, int]:
    n = len(items)
    if not n:
        return None, 0
    return (ctypes.c_char_p * n)(*items), n


def _headers(headers: Optional[Headers]) -> List[bytes]:
    if headers is None:
        return []
    if isinstance(headers, (str, bytes)):
        raise TypeError("headers must be a mapping or a list, not a single string")
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for item in items:
        if isinstance(item, (str, bytes)):
            line = _b(item, "header")
            if b":" not in line:
                raise argument_error("header %r is not 'Name: value'" % item)
        else:
            name, value = item
            line = _b(name, "header name") + b": " + _b(value, "header value")
        out.append(line)
    return out


def _resolve_entries(resolve: Any) -> List[Tuple[bytes, int, bytes]]:
    """{(host, port): address}, {"host:port": address} or ["host:port:address", ...]."""
    if resolve is None:
        return []
    out = []
    if isinstance(resolve, Mapping):
        items = list(resolve.items())
    else:
        items = []
        for entry in resolve:
            if isinstance(entry, str):
                host, sep, rest = entry.partition(":")
                port, sep2, address = rest.partition(":")
                if not (sep and sep2):
                    raise argument_error(
                        "resolve entry %r is not HOST:PORT:ADDRESS" % entry
                    )
                items.append(((host, port), address))
            else:
                host, port, address = entry
                items.append(((host, port), address))
    for key, address in items:
        if isinstance(key, str):
            host, _, port = key.rpartition(":")
        else:
            host, port = key
        address = str(address)
        if address.startswith("[") and address.endswith("]"):
            address = address[1:-1]
        try:
            port_n = int(port)
        except (TypeError, ValueError):
            raise argument_error("resolve: port %r is not a number" % (port,)) from None
        if not 0 < port_n < 65536:
            raise argument_error("resolve: port %d is out of range" % port_n)
        out.append((_b(host, "resolve host"), port_n, _b(address, "resolve address")))
    return out


def _as_list(value: Any) -> List[Any]:
    if value is None:
        return []
    if isinstance(value, (str, bytes, os.PathLike)):
        return [value]
    return list(value)


def _enum(value: Any, enum_cls: Any, names: Mapping[str, Any], what: str) -> int:
    if isinstance(value, str):
        key = value.strip().lower()
        if key in names:
            return int(names[key])
        raise argument_error(
            "unknown %s %r (one of %s)" % (what, value, ", ".join(sorted(names)))
        )
    if isinstance(value, int):
        return int(value)
    raise TypeError("%s must be a str or %s" % (what, enum_cls.__name__))


_CLOUDS = {"ucloud": Cloud.UCLOUD, "aliyun": Cloud.ALIYUN}
_SIGN_METHODS = {
    "hmacmd5": SignMethod.HMAC_MD5,
    "hmac-md5": SignMethod.HMAC_MD5,
    "md5": SignMethod.HMAC_MD5,
    "hmacsha1": SignMethod.HMAC_SHA1,
    "hmac-sha1": SignMethod.HMAC_SHA1,
    "sha1": SignMethod.HMAC_SHA1,
    "hmacsha256": SignMethod.HMAC_SHA256,
    "hmac-sha256": SignMethod.HMAC_SHA256,
    "sha256": SignMethod.HMAC_SHA256,
}

_OTA_SUFFIXES = ("tar.gz", "bin", "apk", "tar", "gz", "zip", "gzip")


def version() -> str:
    """The loaded C library's version, e.g. ``"0.1.0"``."""
    return _lib.lib().iothttp_version().decode()


def library_path() -> str:
    """The path the C library was loaded from."""
    return str(_lib.lib().path)


def result_name(result: int) -> str:
    """The name of a result code, e.g. ``"IOTHTTP_E_TLS"`` (``"IOTHTTP_UNKNOWN"`` otherwise)."""
    return _lib.lib().iothttp_result_name(int(result) & 0xFFFFFFFF).decode()


# ------------------------------------------------------------------------------ sources


class Source(_Handle):
    """What an upload reads: a file, bytes, or a binary file object.

    Made by :meth:`from_path`, :meth:`from_bytes` or :meth:`from_file`; every upload method
    also takes a path, bytes or a file object directly and makes (and closes) the source
    itself. One upload at a time uses a source (a second one waits); a later upload starts
    again from the first byte, which needs a rewindable source: paths and bytes always are,
    file objects when they are seekable.
    """

    _free_fn_name = "iothttp_source_free"

    def __init__(self, ptr: int, keep: Any = None, name: Optional[str] = None) -> None:
        super().__init__(ptr, keep)
        self._busy = threading.Lock()
        self._exc: Optional[BaseException] = None
        #: A file name for the upload when none is given (the path's base name), or None.
        self.name = name

    @classmethod
    def from_path(cls, path: PathLike, md5: Optional[str] = None,
                  sha256: Optional[str] = None) -> "Source":
        """A source reading the file at ``path`` (its size is taken now). Rewindable."""
        lib = _lib.lib()
        c_path = _b(path, "path")
        src = cls(_new_handle(lib.iothttp_source_from_file, c_path),
                  name=os.path.basename(os.fspath(path)))
        src._declare(md5, sha256)
        return src

    @classmethod
    def from_bytes(cls, data: Union[bytes, bytearray, memoryview], md5: Optional[str] = None,
                   sha256: Optional[str] = None) -> "Source":
        """A source over ``data`` (bytearray and memoryview contents are copied once).
        Rewindable."""
        if not isinstance(data, bytes):
            if not isinstance(data, (bytearray, memoryview)):
                raise TypeError("data must be bytes-like, not %s" % type(data).__name__)
            data = bytes(data)
        lib = _lib.lib()
        src = cls(_new_handle(lib.iothttp_source_from_memory, data, len(data)), keep=data)
        src._declare(md5, sha256)
        return src

    @classmethod
    def from_file(cls, f: BinaryIO, size: Optional[int] = None, md5: Optional[str] = None,
                  sha256: Optional[str] = None) -> "Source":
        """A source reading the binary file object ``f`` from its current position.

        ``size`` (bytes that will be read) is required unless ``f`` is seekable, in which case
        it defaults to the rest of the file and the source rewinds to the position ``f`` had
        now. Without a rewind a second pass fails with ``IOTHTTP_E_NOT_REWINDABLE``: declare
        the digest (``md5``/``sha256``) the target needs to avoid the hashing pass.
        """
        if isinstance(f, io.TextIOBase):
            raise TypeError("the file is open in text mode: open it in binary mode ('rb')")
        if not callable(getattr(f, "read", None)):
            raise TypeError("f must be a binary file object with read()")
        seekable = False
        try:
            seekable = bool(f.seekable())
        except (AttributeError, OSError, ValueError):
            seekable = False
        start = 0
        if seekable:
            start = f.tell()
            if size is None:
                end = f.seek(0, io.SEEK_END)
                f.seek(start)
                size = end - start
        if size is None:
            raise argument_error("size= is needed for a file object that cannot seek")
        if not isinstance(size, int) or size < 0:
            raise argument_error("size must be a non-negative int")
        readinto = getattr(f, "readinto", None)
        holder: Dict[str, Any] = {}

        def read(_ud: Any, buf: int, cap: int, out_len: Any) -> int:
            src = holder["src"]
            try:
                if readinto is not None:
                    view = memoryview((ctypes.c_char * cap).from_address(buf)).cast("B")
                    n = readinto(view)
                    if n is None:
                        raise BlockingIOError("the file object has no data now (non-blocking)")
                else:
                    data = f.read(cap)
                    if not isinstance(data, (bytes, bytearray)):
                        raise TypeError("read() returned %s, not bytes" % type(data).__name__)
                    n = len(data)
                    if n > cap:
                        raise ValueError("read(%d) returned %d bytes" % (cap, n))
                    ctypes.memmove(buf, bytes(data), n)
                out_len[0] = n
                return 0
            except BaseException as e:  # noqa: B036 (raised after the upload)
                if src._exc is None:
                    src._exc = e
                return 1

        def rewind(_ud: Any) -> int:
            src = holder["src"]
            try:
                f.seek(start)
                return 0
            except BaseException as e:  # noqa: B036
                if src._exc is None:
                    src._exc = e
                return 1

        c_read = _lib.READ_FN(read)
        c_rewind = _lib.REWIND_FN(rewind) if seekable else _lib.REWIND_FN()
        lib = _lib.lib()
        ptr = _new_handle(lib.iothttp_source_from_callbacks, size, c_read, c_rewind, None)
        name = getattr(f, "name", None)
        src = cls(ptr, keep=(c_read, c_rewind, f),
                  name=os.path.basename(name) if isinstance(name, str) else None)
        holder["src"] = src
        src._declare(md5, sha256)
        return src

    def _declare(self, md5: Optional[str], sha256: Optional[str]) -> None:
        try:
            if md5 is not None:
                self.set_md5(md5)
            if sha256 is not None:
                self.set_sha256(sha256)
        except BaseException:
            self.close()
            raise

    def set_md5(self, md5_hex: str) -> None:
        """Declare the content's MD5 (32 hex digits), so an upload needing it reads once."""
        with self._use() as ptr:
            _check(_lib.lib().iothttp_source_set_md5_hex(ptr, _b(md5_hex, "md5")))

    def set_sha256(self, sha256_hex: str) -> None:
        """Declare the content's SHA-256 (64 hex digits)."""
        with self._use() as ptr:
            _check(_lib.lib().iothttp_source_set_sha256_hex(ptr, _b(sha256_hex, "sha256")))

    @property
    def size(self) -> int:
        """The declared size in bytes."""
        with self._use() as ptr:
            return int(_lib.lib().iothttp_source_size(ptr))

    def _take_exception(self) -> Optional[BaseException]:
        exc, self._exc = self._exc, None
        return exc

    def __len__(self) -> int:
        return self.size


class _SourceUse:
    """An upload's hold on a source: made from whatever the caller passed, exclusive."""

    def __init__(self, source: SourceLike, md5: Optional[str] = None,
                 sha256: Optional[str] = None, size: Optional[int] = None) -> None:
        self.owned = not isinstance(source, Source)
        if isinstance(source, Source):
            if md5 is not None or sha256 is not None:
                source._declare(md5, sha256)
            self.src = source
        elif isinstance(source, (str, os.PathLike)):
            self.src = Source.from_path(source, md5, sha256)
        elif isinstance(source, (bytes, bytearray, memoryview)):
            self.src = Source.from_bytes(source, md5, sha256)
        elif callable(getattr(source, "read", None)):
            self.src = Source.from_file(source, size, md5, sha256)  # type: ignore[arg-type]
        else:
            raise TypeError(
                "source must be a Source, a path, bytes or a binary file object, not %s"
                % type(source).__name__
            )
        self.use: Optional[_Use] = None
        self.ptr = 0

    def __enter__(self) -> "_SourceUse":
        try:
            self.src._busy.acquire()
            try:
                use = self.src._use()
                self.ptr = use.__enter__()
                self.use = use
                self.src._exc = None
                return self
            except BaseException:
                self.src._busy.release()
                raise
        except BaseException:
            if self.owned:
                self.src.close()
            raise

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.use is not None:
                self.use.__exit__()
        finally:
            self.src._busy.release()
            if self.owned:
                self.src.close()


def _ota_suffix(source: SourceLike) -> Optional[bytes]:
    if isinstance(source, (str, os.PathLike)):
        name = os.path.basename(os.fspath(source)).lower()
        for suffix in _OTA_SUFFIXES:
            if name.endswith("." + suffix):
                return suffix.encode()
    return None


def _file_name(source: SourceLike, file_name: Optional[str], what: str) -> bytes:
    if file_name is None:
        if isinstance(source, Source) and source.name:
            file_name = source.name
        elif isinstance(source, (str, os.PathLike)):
            file_name = os.path.basename(os.fspath(source))
        elif isinstance(getattr(source, "name", None), str):
            file_name = os.path.basename(source.name)  # type: ignore[union-attr]
        else:
            raise argument_error("%s: file_name= is needed for a source without a path" % what)
    return _b(file_name, "file_name")


# ------------------------------------------------------------------------------ client


class Client(_Handle):
    """A client: TLS trust, connection pool, timeouts, retries and log, shared by every
    device and account made from it. One per process is typical. Thread-safe: any number of
    threads may use one client (and its devices) at once.

    Args:
        ca_file: a PEM file (or a list of them) of CAs to trust besides the built-in roots.
        ca_pem: PEM text (str or bytes, or a list) of CAs to trust.
        builtin_roots: trust the built-in Mozilla roots (default True).
        timeouts: ``(connect_s, io_s)`` in seconds (default (10, 30)); one number sets both.
        retries: attempts per request counting the first (default 3), or
            ``(attempts, base_delay_s, max_delay_s)`` (default delays 0.5 .. 8 s).
        deadline: seconds that bound each auth and publish call in all (None: no bound).
        resolve: fixed addresses like curl's ``--resolve``: ``{("host", 443): "10.0.0.5"}``,
            ``{"host:443": "10.0.0.5"}`` or ``["host:443:10.0.0.5"]``.
        proxy: an HTTP CONNECT proxy, ``http://[user:pass@]host:port``.
        allow_plain_http: allow ``http://`` URLs (default False).
        secret_headers: more header names whose values never reach a log line.
        log: a :class:`logging.Logger` for the library's lines (default
            ``logging.getLogger("iothttp")``); False for none. Lines go up to the level the
            logger is enabled for when the client is made (TRACE = 5 is below DEBUG).
        log_level: the most verbose :class:`LogLevel` to ask the library for, instead of the
            one derived from the logger.
    """

    _free_fn_name = "iothttp_client_free"

    def __init__(
        self,
        ca_file: Union[PathLike, Iterable[PathLike], None] = None,
        ca_pem: Union[str, bytes, Iterable[Union[str, bytes]], None] = None,
        *,
        builtin_roots: Optional[bool] = None,
        timeouts: Union[float, Tuple[float, float], None] = None,
        retries: Union[int, Tuple[int, float, float], None] = None,
        deadline: Optional[float] = None,
        resolve: Any = None,
        proxy: Optional[str] = None,
        allow_plain_http: bool = False,
        secret_headers: Iterable[str] = (),
        log: Union[logging.Logger, logging.LoggerAdapter, bool, None] = None,
        log_level: Union[LogLevel, int, None] = None,
    ) -> None:
        lib = _lib.lib()
        cfg = lib.iothttp_config_new()
        if not cfg:
            raise MemoryError("iothttp_config_new")
        log_fn = None
        try:
            for path in _as_list(ca_file):
                _check(lib.iothttp_config_add_ca_file(cfg, _b(path, "ca_file")))
            for pem in _as_list(ca_pem):
                data = pem.encode() if isinstance(pem, str) else bytes(pem)
                _check(lib.iothttp_config_add_ca_pem(cfg, data, len(data)))
            if builtin_roots is not None:
                _check(lib.iothttp_config_use_builtin_roots(cfg, bool(builtin_roots)))
            if timeouts is not None:
                if isinstance(timeouts, (int, float)):
                    timeouts = (timeouts, timeouts)
                if not isinstance(timeouts, (tuple, list)) or len(timeouts) != 2:
                    raise TypeError("timeouts must be (connect_s, io_s) or one number")
                connect_s, io_s = timeouts
                _check(lib.iothttp_config_set_timeouts(
                    cfg, _u32(connect_s, "connect timeout", 1000, 1), _u32(io_s, "I/O timeout", 1000, 1)
                ))
            if retries is not None:
                if isinstance(retries, int):
                    attempts, base, cap = retries, 0.5, 8.0
                else:
                    attempts, base, cap = retries
                _check(lib.iothttp_config_set_retries(
                    cfg, _u32(attempts, "retries", 1, 1), _u32(base, "base delay", 1000),
                    _u32(cap, "max delay", 1000)
                ))
            if deadline is not None:
                _check(lib.iothttp_config_set_deadline(cfg, _u32(deadline, "deadline", 1000, 1)))
            for host, port, address in _resolve_entries(resolve):
                _check(lib.iothttp_config_add_resolve(cfg, host, port, address))
            if proxy is not None:
                _check(lib.iothttp_config_set_proxy(cfg, _b(proxy, "proxy")))
            if allow_plain_http:
                _check(lib.iothttp_config_allow_plain_http(cfg, True))
            for name in _as_list(secret_headers):
                _check(lib.iothttp_config_add_secret_header(cfg, _b(name, "secret header")))
            log_fn, max_level = self._log_callback(log, log_level)
            if log_fn is not None:
                _check(lib.iothttp_config_set_log(cfg, log_fn, None, max_level))
            ptr = _new_handle(lib.iothttp_client_new, cfg)
        finally:
            lib.iothttp_config_free(cfg)
        # The log callback lives as long as the C client (iothttp_client_free waits for a
        # running callback and none runs afterwards).
        super().__init__(ptr, keep=log_fn)

    @staticmethod
    def _log_callback(log: Any, log_level: Any) -> Tuple[Any, int]:
        if log is False:
            return None, 0
        logger = logging.getLogger("iothttp") if log is None or log is True else log
        if log_level is None:
            level = logger.getEffectiveLevel() if hasattr(logger, "getEffectiveLevel") else 0
            if not level:
                level = logging.WARNING
            max_level = 0
            for lv in (5, 4, 3, 2, 1):
                if level <= _LOG_LEVELS[lv]:
                    max_level = lv
                    break
            if max_level == 0:
                return None, 0
        else:
            max_level = int(log_level)

        def cb(_ud: Any, level: int, msg: Optional[bytes]) -> None:
            try:
                logger.log(_LOG_LEVELS.get(level, logging.DEBUG), "%s",
                           (msg or b"").decode("utf-8", "replace"))
            except (KeyboardInterrupt, SystemExit) as e:
                _tls.pending = e  # raised when the call returns
            except BaseException:
                pass  # a log line must never break a request

        return _lib.LOG_FN(cb), max_level

    # -- devices and accounts

    def device(
        self,
        cloud: Union[Cloud, str],
        product: str,
        device: str,
        secret: str,
        *,
        endpoint: Optional[str] = None,
        file_endpoint: Optional[str] = None,
        region: Optional[str] = None,
        client_id: Optional[str] = None,
        sign_method: Union[SignMethod, str, None] = None,
        send_timestamp: Optional[bool] = None,
    ) -> "Device":
        """A device identity on ``cloud`` (``"ucloud"``/``"aliyun"`` or :class:`Cloud`):
        ``product``/``device``/``secret`` are ProductSN/DeviceSN/DeviceSecret (UCloud) or
        productKey/deviceName/deviceSecret (Aliyun). Nothing is sent until the first auth or
        publish. The keyword arguments call the matching setters."""
        lib = _lib.lib()
        c = _enum(cloud, Cloud, _CLOUDS, "cloud")
        with self._use() as ptr:
            handle = _new_handle(
                lib.iothttp_device_new, ptr, c, _b(product, "product"), _b(device, "device"),
                _b(secret, "secret"),
            )
        dev = Device(handle, self, Cloud(c) if c in (0, 1) else c)
        try:
            if region is not None:
                dev.set_region(region)
            if endpoint is not None:
                dev.set_endpoint(endpoint)
            if file_endpoint is not None:
                dev.set_file_endpoint(file_endpoint)
            if client_id is not None:
                dev.set_client_id(client_id)
            if sign_method is not None:
                dev.set_sign_method(sign_method)
            if send_timestamp is not None:
                dev.send_timestamp(send_timestamp)
        except BaseException:
            dev.close()
            raise
        return dev

    def aliyun_account(
        self,
        access_key_id: str,
        access_key_secret: str,
        *,
        endpoint: Optional[str] = None,
        region: Optional[str] = None,
        instance_id: Optional[str] = None,
    ) -> "AliyunAccount":
        """An Alibaba Cloud account (AccessKey) for OTA firmware uploads."""
        lib = _lib.lib()
        with self._use() as ptr:
            handle = _new_handle(
                lib.iothttp_aliyun_account_new, ptr, _b(access_key_id, "access_key_id"),
                _b(access_key_secret, "access_key_secret"),
            )
        acct = AliyunAccount(handle, self)
        try:
            if endpoint is not None:
                acct.set_endpoint(endpoint)
            if region is not None:
                acct.set_region(region)
            if instance_id is not None:
                acct.set_instance_id(instance_id)
        except BaseException:
            acct.close()
            raise
        return acct

    def agc_client(self, client_id: str, client_secret: str, *,
                   endpoint: Optional[str] = None) -> "AgcClient":
        """An AppGallery Connect API client (caches its access token: keep it for several
        uploads)."""
        lib = _lib.lib()
        with self._use() as ptr:
            handle = _new_handle(
                lib.iothttp_agc_client_new, ptr, _b(client_id, "client_id"),
                _b(client_secret, "client_secret"),
            )
        agc = AgcClient(handle, self)
        try:
            if endpoint is not None:
                agc.set_endpoint(endpoint)
        except BaseException:
            agc.close()
            raise
        return agc

    def upload_ota(
        self,
        access_key_id: str,
        access_key_secret: str,
        source: SourceLike,
        suffix: Optional[str] = None,
        *,
        endpoint: Optional[str] = None,
        region: Optional[str] = None,
        instance_id: Optional[str] = None,
        progress: Optional[Progress] = None,
        size: Optional[int] = None,
    ) -> str:
        """Upload a firmware file for Alibaba OTA (GenerateOTAUploadURL, then OSS PostObject)
        with a one-off account; returns the FirmwareUrl. See :meth:`AliyunAccount.upload_ota`."""
        with self.aliyun_account(access_key_id, access_key_secret, endpoint=endpoint,
                                 region=region, instance_id=instance_id) as acct:
            return acct.upload_ota(source, suffix, progress=progress, size=size)

    def upload_agc(
        self,
        client_id: str,
        client_secret: str,
        app_id: str,
        source: SourceLike,
        file_name: Optional[str] = None,
        *,
        endpoint: Optional[str] = None,
        progress: Optional[Progress] = None,
        size: Optional[int] = None,
        sha256: Optional[str] = None,
    ) -> str:
        """Upload an app package to AppGallery Connect with a one-off API client; returns the
        objectId. See :meth:`AgcClient.upload`."""
        with self.agc_client(client_id, client_secret, endpoint=endpoint) as agc:
            return agc.upload(app_id, source, file_name, progress=progress, size=size,
                              sha256=sha256)

    # -- generic uploads

    def put(
        self,
        url: str,
        source: SourceLike,
        headers: Optional[Headers] = None,
        *,
        progress: Optional[Progress] = None,
        size: Optional[int] = None,
    ) -> None:
        """``PUT url`` with the source as the body, to any store that hands out presigned
        URLs. ``headers`` are sent as given (Content-Length is added; framing headers are
        refused). A 2xx status is success; otherwise :class:`HTTPError` with ``http_status``."""
        lib = _lib.lib()
        c_url = _b(url, "url")
        arr, n = _c_strings(_headers(headers))
        call = _Call()
        c_progress = call.progress(progress)
        with self._use() as ptr, _SourceUse(source, size=size) as su:
            rc = lib.iothttp_put(ptr, c_url, arr, n, su.ptr, c_progress, None)
            call.finish(rc, su.src)

    def post_form(
        self,
        url: str,
        source: SourceLike,
        fields: Union[Mapping[str, str], Iterable[Tuple[str, str]]] = (),
        *,
        file_field: str = "file",
        file_name: Optional[str] = None,
        content_type: Optional[str] = None,
        progress: Optional[Progress] = None,
        size: Optional[int] = None,
    ) -> None:
        """A ``multipart/form-data`` POST (a presigned POST policy of S3, OSS, COS...): the
        text ``fields`` in order, then the file part ``file_field`` last, with an exact
        Content-Length. A 2xx status is success."""
        lib = _lib.lib()
        items = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
        names = [_b(k, "field name") for k, _ in items]
        values = [_b(v, "field value") for _, v in items]
        c_names, n = _c_strings(names)
        c_values, _ = _c_strings(values)
        c_url = _b(url, "url")
        c_field = _b(file_field, "file_field")
        c_file = _file_name(source, file_name, "post_form")
        c_type = _opt_b(content_type, "content_type")
        call = _Call()
        c_progress = call.progress(progress)
        with self._use() as ptr, _SourceUse(source, size=size) as su:
            rc = lib.iothttp_post_form(ptr, c_url, c_names, c_values, n, c_field, c_file,
                                       c_type, su.ptr, c_progress, None)
            call.finish(rc, su.src)

    # -- downloads

    def download(
        self,
        url: str,
        sink: Sink,
        offset: int = 0,
        headers: Optional[Headers] = None,
        *,
        progress: Optional[Progress] = None,
    ) -> int:
        """Stream the body of ``GET url`` to ``sink`` (a callable taking each chunk of bytes,
        or a binary file object), from byte ``offset`` of the object (a Range request when
        above 0). A cut connection is resumed within the retry budget; every byte reaches the
        sink once, in order. ``progress(position, size or None)``. Returns the size of the
        whole object (0 when the server did not say). A non-2xx status raises
        :class:`HTTPError` (``http_status``); redirects are not followed."""
        lib = _lib.lib()
        c_url = _b(url, "url")
        if not isinstance(offset, int) or offset < 0:
            raise argument_error("offset must be a non-negative int")
        arr, n = _c_strings(_headers(headers))
        call = _Call()
        c_write = call.sink(sink)
        c_progress = call.progress(progress, unknown_total_is_none=True)
        total = ctypes.c_uint64(0)
        with self._use() as ptr:
            rc = lib.iothttp_download(ptr, c_url, arr, n, offset, c_write, None, c_progress,
                                      None, ctypes.byref(total))
            call.finish(rc)
        return int(total.value)

    def download_file(
        self,
        url: str,
        path: PathLike,
        size: Optional[int] = None,
        md5: Optional[str] = None,
        sha256: Optional[str] = None,
        *,
        progress: Optional[Progress] = None,
    ) -> int:
        """Download ``url`` to ``path`` safely for a firmware image: into ``path.part``
        (resumed when a ``.part`` of the same object is there), checked against ``size``,
        ``md5`` and ``sha256`` (hex; None: not checked), then flushed and renamed onto
        ``path`` in one step. On a mismatch (:class:`DigestMismatch`) nothing is kept and
        ``path`` stays as it was; after any other failure or a cancel the ``.part`` is kept
        for the next call. Returns the size of the file."""
        lib = _lib.lib()
        c_url = _b(url, "url")
        c_path = _b(path, "path")
        if size is not None and (not isinstance(size, int) or size < 0):
            raise argument_error("size must be a non-negative int")
        call = _Call()
        c_progress = call.progress(progress, unknown_total_is_none=True)
        with self._use() as ptr:
            rc = lib.iothttp_download_file(ptr, c_url, c_path, size or 0, _opt_b(md5, "md5"),
                                           _opt_b(sha256, "sha256"), c_progress, None)
            call.finish(rc)
        return os.path.getsize(os.fspath(path))

    # -- diagnostics

    def stats(self) -> Stats:
        """TLS handshakes completed and HTTP requests sent by this client so far."""
        hs, rq = ctypes.c_uint64(), ctypes.c_uint64()
        with self._use() as ptr:
            _check(_lib.lib().iothttp_client_stats(ptr, ctypes.byref(hs), ctypes.byref(rq)))
        return Stats(int(hs.value), int(rq.value))


class _Child(_Handle):
    def __init__(self, ptr: int, client: Client) -> None:
        super().__init__(ptr)
        # Not needed by the C library (a child keeps its client's transport alive), but it
        # keeps the client's log going as long as the child is in use.
        self.client = client

    def _set(self, fn_name: str, value: Any, what: str) -> None:
        with self._use() as ptr:
            _check(getattr(_lib.lib(), fn_name)(ptr, _b(value, what)))


class Device(_Child):
    """A device identity: auth, token, publish, file upload. Made by :meth:`Client.device`.
    Thread-safe; calls on one device serialise only around token refresh."""

    _free_fn_name = "iothttp_device_free"

    def __init__(self, ptr: int, client: Client, cloud: Any) -> None:
        super().__init__(ptr, client)
        self.cloud = cloud

    def set_endpoint(self, base_url: str) -> None:
        """Send auth and publish to ``base_url`` (``https://host[:port][/path]``)."""
        self._set("iothttp_device_set_endpoint", base_url, "endpoint")

    def set_file_endpoint(self, base_url: str) -> None:
        """UCloud: the base URL of the file service."""
        self._set("iothttp_device_set_file_endpoint", base_url, "file_endpoint")

    def set_client_id(self, client_id: str) -> None:
        """Aliyun: the clientId sent at auth (default ``productKey.deviceName``)."""
        self._set("iothttp_device_set_client_id", client_id, "client_id")

    def set_region(self, region: str) -> None:
        """Use the public hosts of ``region`` (``"cn-sh2"``, ``"cn-shanghai"``, ...)."""
        self._set("iothttp_device_set_region", region, "region")

    def set_sign_method(self, method: Union[SignMethod, str]) -> None:
        """Aliyun: ``"hmacmd5"`` (default), ``"hmacsha1"`` or ``"hmacsha256"``."""
        m = _enum(method, SignMethod, _SIGN_METHODS, "sign method")
        with self._use() as ptr:
            _check(_lib.lib().iothttp_device_set_sign_method(ptr, m))

    def send_timestamp(self, on: bool = True) -> None:
        """Send a timestamp at auth (corrected from the server's clock when refused)."""
        with self._use() as ptr:
            _check(_lib.lib().iothttp_device_send_timestamp(ptr, bool(on)))

    def auth(self) -> None:
        """Authenticate now and cache the token (publish also does this lazily)."""
        with self._use() as ptr:
            _check(_lib.lib().iothttp_device_auth(ptr))

    def publish(self, topic: str, payload: Union[bytes, bytearray, memoryview, str] = b"") -> str:
        """Publish ``payload`` (at most 131072 bytes; str is sent as UTF-8) to ``topic``;
        returns the cloud's message id as decimal text. Authenticates lazily and renews the
        token as needed."""
        if isinstance(payload, str):
            data = payload.encode("utf-8")
        elif isinstance(payload, bytes):
            data = payload
        elif isinstance(payload, (bytearray, memoryview)):
            data = bytes(payload)
        else:
            raise TypeError("payload must be bytes or str, not %s" % type(payload).__name__)
        c_topic = _b(topic, "topic")
        buf = ctypes.create_string_buffer(_lib.MESSAGE_ID_LEN)
        with self._use() as ptr:
            _check(_lib.lib().iothttp_device_publish(ptr, c_topic, data, len(data), buf,
                                                     len(buf)))
        return buf.value.decode()

    def reply_data(self) -> bytes:
        """What the last successful publish of this device on this thread received back
        (Aliyun ``info.data``; empty otherwise)."""
        lib = _lib.lib()
        cap = 4096
        with self._use() as ptr:
            while True:
                buf = ctypes.create_string_buffer(cap)
                n = ctypes.c_size_t(0)
                rc = lib.iothttp_device_reply_data(ptr, buf, cap, ctypes.byref(n))
                if rc == Result.E_BUFFER_TOO_SMALL and n.value > cap:
                    cap = n.value
                    continue
                _check(rc)
                return buf.raw[: n.value]

    @property
    def token(self) -> Optional[Token]:
        """The cached token and its expiry, or None before the first auth. For firmware and
        tools that persist it; treat it like the secret."""
        lib = _lib.lib()
        cap = 2048
        with self._use() as ptr:
            while True:
                buf = ctypes.create_string_buffer(cap)
                n = ctypes.c_size_t(0)
                exp = ctypes.c_uint64(0)
                rc = lib.iothttp_device_get_token(ptr, buf, cap, ctypes.byref(n),
                                                  ctypes.byref(exp))
                if rc == Result.E_BUFFER_TOO_SMALL and n.value > cap:
                    cap = n.value
                    continue
                if rc == Result.E_INVALID_ARG:
                    return None  # no token yet
                _check(rc)
                return Token(buf.value.decode(), exp.value / 1000.0 if exp.value else None)

    def set_token(self, token: Union[str, Token],
                  expires_at: Union[float, datetime.datetime, None] = None) -> None:
        """Install a token saved earlier (a :class:`Token`, or its text with ``expires_at``
        as Unix seconds or an aware datetime; None: used until the cloud refuses it)."""
        if isinstance(token, Token):
            if expires_at is None:
                expires_at = token.expires_at
            token = token.value
        if isinstance(expires_at, datetime.datetime):
            expires_at = expires_at.timestamp()
        ms = 0 if expires_at is None else int(round(float(expires_at) * 1000))
        if ms < 0:
            raise argument_error("expires_at must not be before 1970")
        with self._use() as ptr:
            _check(_lib.lib().iothttp_device_set_token(ptr, _b(token, "token"), ms))

    def upload_file(
        self,
        source: SourceLike,
        file_name: Optional[str] = None,
        content_type: str = "application/octet-stream",
        *,
        progress: Optional[Progress] = None,
        md5: Optional[str] = None,
        size: Optional[int] = None,
    ) -> None:
        """UCloud device file upload: an upload URL signed with the device secret, then a
        PUT with Content-MD5 (computed in one pass unless ``md5`` is given). ``file_name``
        defaults to the path's base name. :class:`UnsupportedError` for Aliyun devices."""
        lib = _lib.lib()
        c_name = _file_name(source, file_name, "upload_file")
        c_type = _b(content_type, "content_type")
        call = _Call()
        c_progress = call.progress(progress)
        with self._use() as ptr, _SourceUse(source, md5=md5, size=size) as su:
            rc = lib.iothttp_device_upload_file(ptr, c_name, c_type, su.ptr, c_progress, None)
            call.finish(rc, su.src)


class AliyunAccount(_Child):
    """An Alibaba Cloud account (AccessKey) for OTA firmware uploads. Made by
    :meth:`Client.aliyun_account`."""

    _free_fn_name = "iothttp_aliyun_account_free"

    def set_endpoint(self, base_url: str) -> None:
        """Call the IoT API at ``base_url`` instead of ``https://iot.<region>.aliyuncs.com``."""
        self._set("iothttp_aliyun_account_set_endpoint", base_url, "endpoint")

    def set_region(self, region: str) -> None:
        """The region (default ``"cn-shanghai"``)."""
        self._set("iothttp_aliyun_account_set_region", region, "region")

    def set_instance_id(self, instance_id: str) -> None:
        """The IoT instance id of an enterprise instance (``""``: the public instance)."""
        self._set("iothttp_aliyun_account_set_instance_id", instance_id, "instance_id")

    def upload_ota(
        self,
        source: SourceLike,
        suffix: Optional[str] = None,
        *,
        progress: Optional[Progress] = None,
        size: Optional[int] = None,
    ) -> str:
        """Upload a firmware file (at most 1000 MB): GenerateOTAUploadURL, then OSS
        PostObject with an exact Content-Length. ``suffix`` is bin, apk, tar, gz, tar.gz,
        zip or gzip (default: from the path's name, else bin). Returns the FirmwareUrl for
        CreateOTAFirmware."""
        lib = _lib.lib()
        c_suffix = _b(suffix, "suffix") if suffix is not None else _ota_suffix(source)
        buf = ctypes.create_string_buffer(_lib.URL_LEN)
        n = ctypes.c_size_t(0)
        call = _Call()
        c_progress = call.progress(progress)
        with self._use() as ptr, _SourceUse(source, size=size) as su:
            rc = lib.iothttp_aliyun_ota_upload(ptr, c_suffix, su.ptr, c_progress, None, buf,
                                               len(buf), ctypes.byref(n))
            call.finish(rc, su.src)
        return buf.raw[: n.value].decode()


class AgcClient(_Child):
    """A Huawei AppGallery Connect API client. Made by :meth:`Client.agc_client`."""

    _free_fn_name = "iothttp_agc_client_free"

    def set_endpoint(self, base_url: str) -> None:
        """Another API host (default ``https://connect-api.cloud.huawei.com``)."""
        self._set("iothttp_agc_client_set_endpoint", base_url, "endpoint")

    def upload(
        self,
        app_id: str,
        source: SourceLike,
        file_name: Optional[str] = None,
        *,
        progress: Optional[Progress] = None,
        size: Optional[int] = None,
        sha256: Optional[str] = None,
    ) -> str:
        """Upload an app package (4 GB; 150 MB for .aab): token, upload URL with the file's
        SHA-256 (computed in one pass unless given), PUT with exactly the returned headers.
        ``file_name`` defaults to the path's base name. Returns the objectId."""
        lib = _lib.lib()
        c_app = _b(app_id, "app_id")
        c_name = _file_name(source, file_name, "upload_agc")
        buf = ctypes.create_string_buffer(_lib.OBJECT_ID_LEN)
        n = ctypes.c_size_t(0)
        call = _Call()
        c_progress = call.progress(progress)
        with self._use() as ptr, _SourceUse(source, sha256=sha256, size=size) as su:
            rc = lib.iothttp_agc_upload(ptr, c_app, c_name, su.ptr, c_progress, None, buf,
                                        len(buf), ctypes.byref(n))
            call.finish(rc, su.src)
        return buf.raw[: n.value].decode()
