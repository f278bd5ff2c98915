"""iothttp for Python: device auth, publish, uploads and downloads to IoT clouds over HTTPS.

A thin layer over the C library libiothttp (ctypes; no compiler needed): every call goes to
the same code that firmware links. The library is found next to this package (the wheel
bundles it), or at ``$IOTHTTP_LIB``.

Example::

    import logging, os, iothttp

    with iothttp.Client(ca_file="vendor-ca.pem", timeouts=(5, 20),
                        log=logging.getLogger("iothttp")) as client:
        dev = client.device("ucloud", "ZG1EvTEa7NN", "NlwaSPXsCpTQuh8FxBGH",
                            os.environ["IOTHTTP_SECRET"])
        mid = dev.publish("/ZG1EvTEa7NN/NlwaSPXsCpTQuh8FxBGH/upload/event", '{"temp":21.5}')
        client.download_file(url, "/data/fw.bin", size=size, md5=md5,
                             progress=lambda done, total: print(done, total))

Errors are :class:`Error` subclasses by result range (:class:`ArgumentError`,
:class:`NetworkError`, :class:`CloudError`, :class:`SourceError`, :class:`InternalError`),
each with ``code``, ``message``, ``cloud_code`` and ``http_status``.
"""

from ._core import (
    TRACE,
    AgcClient,
    AliyunAccount,
    Client,
    Cloud,
    Device,
    LogLevel,
    SignMethod,
    Source,
    Stats,
    Token,
    library_path,
    result_name,
    version,
)
from ._errors import (
    ArgumentError,
    AuthError,
    BadResponseError,
    CancelledError,
    CloudError,
    ConnectError,
    DeniedError,
    DigestMismatch,
    Error,
    HTTPError,
    InternalError,
    NetworkError,
    Result,
    SourceError,
    TimeoutError,
    TLSError,
    TooLargeError,
    UnavailableError,
    UnsupportedError,
    WriteError,
    error_class,
)
from ._lib import LibraryNotFound

__version__ = "0.1.0"

__all__ = [
    "TRACE",
    "AgcClient",
    "AliyunAccount",
    "ArgumentError",
    "AuthError",
    "BadResponseError",
    "CancelledError",
    "Client",
    "Cloud",
    "CloudError",
    "ConnectError",
    "DeniedError",
    "Device",
    "DigestMismatch",
    "Error",
    "HTTPError",
    "InternalError",
    "LibraryNotFound",
    "LogLevel",
    "NetworkError",
    "Result",
    "SignMethod",
    "Source",
    "SourceError",
    "Stats",
    "TLSError",
    "TimeoutError",
    "Token",
    "TooLargeError",
    "UnavailableError",
    "UnsupportedError",
    "WriteError",
    "error_class",
    "library_path",
    "result_name",
    "version",
]
