"""Loading libiothttp and declaring the C functions of include/iothttp.h for ctypes.

The library is looked for, in order:

1. ``$IOTHTTP_LIB`` (a path to ``libiothttp.so``, for development and tests);
2. next to this package (the wheel bundles ``iothttp/libiothttp.so.<major>``);
3. the system's library path (``libiothttp.so.<major>``, e.g. a CMake install in /usr/lib).

Every function is called through ctypes' CDLL, which releases the GIL for the duration of
the call, so several Python threads may be inside the library at once (it is thread-safe).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import threading
from typing import Any, List, Optional

#: The major version of the C ABI this package is written against (the SONAME's number).
ABI_MAJOR = 0
#: The minor version of the header this package was written against: a library of the same
#: major and at least this minor has every function used here.
ABI_MINOR = 1

MESSAGE_ID_LEN = 32
URL_LEN = 2048
OBJECT_ID_LEN = 256

c_result = ctypes.c_uint32
p = ctypes.c_void_p
pp = ctypes.POINTER(ctypes.c_void_p)
c_str = ctypes.c_char_p
c_size = ctypes.c_size_t
c_u64 = ctypes.c_uint64
c_u32 = ctypes.c_uint32
c_bool = ctypes.c_bool
psize = ctypes.POINTER(ctypes.c_size_t)
pu64 = ctypes.POINTER(ctypes.c_uint64)
c_strs = ctypes.POINTER(ctypes.c_char_p)

LOG_FN = ctypes.CFUNCTYPE(None, p, c_u32, c_str)
PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, p, c_u64, c_u64)
WRITE_FN = ctypes.CFUNCTYPE(ctypes.c_int, p, p, c_size)
READ_FN = ctypes.CFUNCTYPE(ctypes.c_int, p, p, c_size, psize)
REWIND_FN = ctypes.CFUNCTYPE(ctypes.c_int, p)

# name: (argument types, result type)
SIGNATURES = {
    # errors and version
    "iothttp_result_name": ([c_u32], c_str),
    "iothttp_last_error": ([], c_str),
    "iothttp_last_cloud_code": ([], ctypes.c_int64),
    "iothttp_last_http_status": ([], ctypes.c_uint16),
    "iothttp_version": ([], c_str),
    # config and client
    "iothttp_config_new": ([], p),
    "iothttp_config_free": ([p], None),
    "iothttp_config_add_ca_pem": ([p, c_str, c_size], c_result),
    "iothttp_config_add_ca_file": ([p, c_str], c_result),
    "iothttp_config_use_builtin_roots": ([p, c_bool], c_result),
    "iothttp_config_set_timeouts": ([p, c_u32, c_u32], c_result),
    "iothttp_config_set_retries": ([p, c_u32, c_u32, c_u32], c_result),
    "iothttp_config_set_log": ([p, LOG_FN, p, c_u32], c_result),
    "iothttp_config_set_proxy": ([p, c_str], c_result),
    "iothttp_config_allow_plain_http": ([p, c_bool], c_result),
    "iothttp_config_add_resolve": ([p, c_str, ctypes.c_uint16, c_str], c_result),
    "iothttp_config_set_deadline": ([p, c_u32], c_result),
    "iothttp_config_add_secret_header": ([p, c_str], c_result),
    "iothttp_client_new": ([p, pp], c_result),
    "iothttp_client_free": ([p], None),
    "iothttp_client_stats": ([p, pu64, pu64], c_result),
    # devices
    "iothttp_device_new": ([p, c_u32, c_str, c_str, c_str, pp], c_result),
    "iothttp_device_free": ([p], None),
    "iothttp_device_set_endpoint": ([p, c_str], c_result),
    "iothttp_device_set_file_endpoint": ([p, c_str], c_result),
    "iothttp_device_set_client_id": ([p, c_str], c_result),
    "iothttp_device_set_region": ([p, c_str], c_result),
    "iothttp_device_set_sign_method": ([p, c_u32], c_result),
    "iothttp_device_send_timestamp": ([p, c_bool], c_result),
    "iothttp_device_auth": ([p], c_result),
    "iothttp_device_publish": ([p, c_str, c_str, c_size, c_str, c_size], c_result),
    "iothttp_device_upload_file": ([p, c_str, c_str, p, PROGRESS_FN, p], c_result),
    "iothttp_device_reply_data": ([p, c_str, c_size, psize], c_result),
    "iothttp_device_get_token": ([p, c_str, c_size, psize, pu64], c_result),
    "iothttp_device_set_token": ([p, c_str, c_u64], c_result),
    # downloads
    "iothttp_download": (
        [p, c_str, c_strs, c_size, c_u64, WRITE_FN, p, PROGRESS_FN, p, pu64],
        c_result,
    ),
    "iothttp_download_file": ([p, c_str, c_str, c_u64, c_str, c_str, PROGRESS_FN, p], c_result),
    # sources
    "iothttp_source_from_file": ([c_str, pp], c_result),
    "iothttp_source_from_memory": ([c_str, c_size, pp], c_result),
    "iothttp_source_from_callbacks": ([c_u64, READ_FN, REWIND_FN, p, pp], c_result),
    "iothttp_source_set_md5_hex": ([p, c_str], c_result),
    "iothttp_source_set_sha256_hex": ([p, c_str], c_result),
    "iothttp_source_size": ([p], c_u64),
    "iothttp_source_free": ([p], None),
    # Alibaba OTA
    "iothttp_aliyun_account_new": ([p, c_str, c_str, pp], c_result),
    "iothttp_aliyun_account_free": ([p], None),
    "iothttp_aliyun_account_set_endpoint": ([p, c_str], c_result),
    "iothttp_aliyun_account_set_region": ([p, c_str], c_result),
    "iothttp_aliyun_account_set_instance_id": ([p, c_str], c_result),
    "iothttp_aliyun_ota_upload": ([p, c_str, p, PROGRESS_FN, p, c_str, c_size, psize], c_result),
    # AppGallery Connect
    "iothttp_agc_client_new": ([p, c_str, c_str, pp], c_result),
    "iothttp_agc_client_free": ([p], None),
    "iothttp_agc_client_set_endpoint": ([p, c_str], c_result),
    "iothttp_agc_upload": ([p, c_str, c_str, p, PROGRESS_FN, p, c_str, c_size, psize], c_result),
    # generic uploads
    "iothttp_put": ([p, c_str, c_strs, c_size, p, PROGRESS_FN, p], c_result),
    "iothttp_post_form": (
        [p, c_str, c_strs, c_strs, c_size, c_str, c_str, c_str, p, PROGRESS_FN, p],
        c_result,
    ),
}


class LibraryNotFound(ImportError):
    """libiothttp could not be found or loaded, or is not a version this package can use."""


def _candidates() -> List[str]:
    found: List[str] = []
    env = os.environ.get("IOTHTTP_LIB")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    bundled = os.path.join(here, "libiothttp.so.%d" % ABI_MAJOR)
    if os.path.exists(bundled):
        found.append(bundled)
    found.extend(sorted(glob.glob(os.path.join(here, "libiothttp*.so*"))))
    found.append("libiothttp.so.%d" % ABI_MAJOR)
    system = ctypes.util.find_library("iothttp")
    if system:
        found.append(system)
    return found


def _load() -> Any:
    errors = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append("%s: %s" % (path, e))
            continue
        missing = [name for name in SIGNATURES if not hasattr(lib, name)]
        if missing:
            errors.append("%s: lacks %s" % (path, ", ".join(missing)))
            continue
        for name, (args, res) in SIGNATURES.items():
            fn = getattr(lib, name)
            fn.argtypes = args
            fn.restype = res
        version = lib.iothttp_version().decode()
        try:
            major, minor = (int(x) for x in version.split(".")[:2])
        except ValueError:
            errors.append("%s: unreadable version %r" % (path, version))
            continue
        if major != ABI_MAJOR or minor < ABI_MINOR:
            errors.append(
                "%s: version %s, this package needs %d.%d or a later %d.x"
                % (path, version, ABI_MAJOR, ABI_MINOR, ABI_MAJOR)
            )
            continue
        lib.path = path
        return lib
    raise LibraryNotFound(
        "libiothttp not found or not usable (set IOTHTTP_LIB to its path): " + "; ".join(errors)
    )


_lib: Optional[Any] = None
_lock = threading.Lock()


def lib() -> Any:
    """The loaded library (loaded on first use)."""
    global _lib
    if _lib is None:
        with _lock:
            if _lib is None:
                _lib = _load()
    return _lib
