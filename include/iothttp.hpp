/*
 * iothttp.hpp: the C++17 interface of iothttp, header-only, over iothttp.h.
 *
 *   #include <iothttp.hpp>          // links like iothttp.h: iothttp::iothttp, -liothttp
 *
 *   auto cfg = iothttp::Config::create();
 *   if (!cfg) return report(cfg.error());
 *   auto client = iothttp::Client::create(*cfg);
 *   auto dev = iothttp::Device::create(*client, IOTHTTP_CLOUD_UCLOUD, "pk", "dev", secret);
 *   iothttp::Result<std::string> id = dev->publish("/pk/dev/upload/event", R"({"t":21})");
 *   if (!id) std::fprintf(stderr, "%s: %s\n", id.error().name(), id.error().message.c_str());
 *
 * Conventions (apply to everything below):
 *  - Every handle of iothttp.h has a move-only owner: Config, Client, Device, Source,
 *    AliyunAccount, AgcClient. Copying is deleted, moving is noexcept, the destructor frees the
 *    handle; get() reaches the raw handle (for a C function), release() gives it up. A default
 *    constructed or moved-from owner holds no handle: it is safe to destroy, and every call on
 *    it fails with IOTHTTP_E_INVALID_ARG (the library's own NULL check, naming the argument).
 *  - Fallible calls return Result<T> (or Result<void>): the value, or an Error holding the
 *    result code, iothttp_last_error(), iothttp_last_cloud_code() and
 *    iothttp_last_http_status() as they were right after the failing C call. Nothing throws
 *    unless you ask for it (value_or_throw(), throw_if_error(): only when exceptions are on),
 *    so the header works with -fno-exceptions -fno-rtti.
 *  - Strings in are std::string_view: copied into a NUL-terminated buffer for the C call (on the
 *    stack up to 159 bytes, else one std::string). A string holding a NUL byte is refused with
 *    IOTHTTP_E_INVALID_ARG naming the argument: it is never cut short silently. Strings out are
 *    std::string.
 *  - Lifetimes are the C library's: a child (Device, AliyunAccount, AgcClient) keeps what it
 *    needs of its Client alive, so destruction order does not matter. The one exception is the
 *    log callable (Config::set_log): the Client owns it and it is never called after the Client
 *    is destroyed, also not for the devices that outlive it (they keep working, silently).
 *  - Callbacks are any callable (lambda, function object, function pointer), invoked through a
 *    template trampoline: no std::function, no allocation per call. Per-call callables
 *    (progress, download's write) are used by reference for the call's duration; source and log
 *    callables are moved into their owner once, at creation.
 *  - No exception crosses into the C library: a trampoline catches it. A throwing progress,
 *    write, read or rewind callable stops the transfer (the C call fails with
 *    IOTHTTP_E_CANCELLED, IOTHTTP_E_WRITE or IOTHTTP_E_READ), and once the C call has returned
 *    the wrapper rethrows that same exception to its caller. A throwing log callable only loses
 *    its line (it may run on any thread, outside any call of yours).
 */
#ifndef IOTHTTP_HPP
#define IOTHTTP_HPP

#if defined(_MSVC_LANG)
#if _MSVC_LANG < 201703L
#error "iothttp.hpp needs C++17 (/std:c++17); from C or older C++ include iothttp.h"
#endif
#elif __cplusplus < 201703L
#error "iothttp.hpp needs C++17 (-std=c++17); from C or older C++ include iothttp.h"
#endif

#include "iothttp.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

/* 1 when the throwing layer (iothttp::Exception, value_or_throw, throw_if_error) and the
 * rethrowing of callback exceptions are compiled in: exactly when exceptions are on. */
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define IOTHTTP_CXX_EXCEPTIONS 1
#include <exception>
#include <stdexcept>
#else
#define IOTHTTP_CXX_EXCEPTIONS 0
#endif

namespace iothttp {

/* The library version as static text, e.g. "0.1.0". */
inline std::string_view version() noexcept
{
    return iothttp_version();
}

/* The name of a result code, e.g. "IOTHTTP_E_TLS" (static). */
inline const char *result_name(iothttp_result code) noexcept
{
    return iothttp_result_name(static_cast<std::uint32_t>(code));
}

/* Why a call failed: the result code and the thread's error state right after the C call. */
struct Error {
    iothttp_result code = IOTHTTP_OK;
    std::string message;         /* iothttp_last_error(): what failed, where, why; no secret */
    std::int64_t cloud_code = 0; /* iothttp_last_cloud_code(): the cloud's own code, 0 if none */
    std::uint16_t http_status = 0; /* iothttp_last_http_status(): 0 if none */

    /* "IOTHTTP_E_TLS" etc. */
    const char *name() const noexcept { return result_name(code); }

    /* The error state of this thread after a C call that returned `code` (call it at once:
     * the next iothttp call replaces the state). */
    static Error last(iothttp_result code)
    {
        Error e;
        e.code = code;
        e.message = iothttp_last_error();
        e.cloud_code = iothttp_last_cloud_code();
        e.http_status = iothttp_last_http_status();
        return e;
    }

    /* An error made by this header (not by the library), e.g. a NUL inside a string. */
    static Error make(iothttp_result code, std::string message)
    {
        Error e;
        e.code = code;
        e.message = std::move(message);
        return e;
    }

    /* "IOTHTTP_E_HTTP: <message> (cloud code N) (HTTP status M)": what to log. */
    std::string to_string() const
    {
        std::string s = name();
        if (!message.empty()) {
            s += ": ";
            s += message;
        }
        if (cloud_code != 0)
            s += " (cloud code " + std::to_string(cloud_code) + ")";
        if (http_status != 0)
            s += " (HTTP status " + std::to_string(http_status) + ")";
        return s;
    }
};

#if IOTHTTP_CXX_EXCEPTIONS
/* Thrown by value_or_throw() and throw_if_error() (only when exceptions are on). */
class Exception : public std::runtime_error {
public:
    explicit Exception(Error e) : std::runtime_error(e.to_string()), error_(std::move(e)) {}
    const Error &error() const noexcept { return error_; }
    iothttp_result code() const noexcept { return error_.code; }

private:
    Error error_;
};
#endif

namespace detail {

[[noreturn]] inline void bad_value_access(const Error &e) noexcept
{
    std::fprintf(stderr, "iothttp: value() of a failed Result: %s: %s\n", e.name(),
                 e.message.c_str());
    std::abort();
}

} // namespace detail

/* A value, or the Error of the call that could not make it. value() on an error is a
 * programming error: it prints the error to stderr and aborts (also with exceptions on; use
 * value_or_throw() to get an Exception instead). */
template <class T>
class [[nodiscard]] Result {
public:
    static_assert(!std::is_reference_v<T> && !std::is_same_v<std::decay_t<T>, Error>,
                  "Result<T> holds a value type other than Error");
    using value_type = T;

    Result(T value) : value_(std::move(value)) {}
    Result(Error e) : error_(std::move(e))
    {
        if (error_.code == IOTHTTP_OK) /* an error must be one */
            error_.code = IOTHTTP_E_INTERNAL;
    }

    bool ok() const noexcept { return value_.has_value(); }
    explicit operator bool() const noexcept { return ok(); }

    /* The error (code IOTHTTP_OK and empty message when ok()). */
    const Error &error() const noexcept { return error_; }
    iothttp_result code() const noexcept { return error_.code; }

    T &value() &
    {
        if (!ok())
            detail::bad_value_access(error_);
        return *value_;
    }
    const T &value() const &
    {
        if (!ok())
            detail::bad_value_access(error_);
        return *value_;
    }
    T &&value() &&
    {
        if (!ok())
            detail::bad_value_access(error_);
        return std::move(*value_);
    }
    T &operator*() & { return value(); }
    const T &operator*() const & { return value(); }
    T &&operator*() && { return std::move(*this).value(); }
    T *operator->() { return &value(); }
    const T *operator->() const { return &value(); }

    template <class U>
    T value_or(U &&fallback) const &
    {
        return ok() ? *value_ : static_cast<T>(std::forward<U>(fallback));
    }
    template <class U>
    T value_or(U &&fallback) &&
    {
        return ok() ? std::move(*value_) : static_cast<T>(std::forward<U>(fallback));
    }

#if IOTHTTP_CXX_EXCEPTIONS
    /* The value, or throw iothttp::Exception holding the error. */
    T &value_or_throw() &
    {
        if (!ok())
            throw Exception(error_);
        return *value_;
    }
    T &&value_or_throw() &&
    {
        if (!ok())
            throw Exception(error_);
        return std::move(*value_);
    }
#endif

private:
    std::optional<T> value_;
    Error error_;
};

/* Success, or the Error of the call. */
template <>
class [[nodiscard]] Result<void> {
public:
    using value_type = void;

    Result() noexcept = default;
    Result(Error e) : error_(std::move(e))
    {
        if (error_.code == IOTHTTP_OK)
            error_.code = IOTHTTP_E_INTERNAL;
    }

    bool ok() const noexcept { return error_.code == IOTHTTP_OK; }
    explicit operator bool() const noexcept { return ok(); }
    const Error &error() const noexcept { return error_; }
    iothttp_result code() const noexcept { return error_.code; }

    /* Aborts (see Result<T>::value()) on an error. */
    void value() const
    {
        if (!ok())
            detail::bad_value_access(error_);
    }

#if IOTHTTP_CXX_EXCEPTIONS
    /* Throw iothttp::Exception holding the error, if any. */
    void throw_if_error() const
    {
        if (!ok())
            throw Exception(error_);
    }
    void value_or_throw() const { throw_if_error(); }
#endif

private:
    Error error_;
};

/* A non-owning list of strings for one call ("Name: value" headers): braces of string
 * literals or string_views, or a vector of std::string or std::string_view. */
class StringList {
public:
    StringList() noexcept = default;
    StringList(std::initializer_list<std::string_view> list) noexcept
        : list_(list), n_(list.size())
    {
    }
    StringList(const std::vector<std::string_view> &v) noexcept : views_(v.data()), n_(v.size()) {}
    StringList(const std::vector<std::string> &v) noexcept : strings_(v.data()), n_(v.size()) {}

    std::size_t size() const noexcept { return n_; }
    bool empty() const noexcept { return n_ == 0; }
    std::string_view operator[](std::size_t i) const noexcept
    {
        if (strings_ != nullptr)
            return strings_[i];
        return views_ != nullptr ? views_[i] : list_.begin()[i];
    }

private:
    std::initializer_list<std::string_view> list_; /* the array lives for the call's expression */
    const std::string_view *views_ = nullptr;
    const std::string *strings_ = nullptr;
    std::size_t n_ = 0;
};

/* A non-owning list of (name, value) form fields for one call, in order. */
class FieldList {
public:
    using Field = std::pair<std::string_view, std::string_view>;
    FieldList() noexcept = default;
    FieldList(std::initializer_list<Field> list) noexcept
        : list_(list), n_(list.size())
    {
    }
    FieldList(const std::vector<Field> &v) noexcept : views_(v.data()), n_(v.size()) {}
    FieldList(const std::vector<std::pair<std::string, std::string>> &v) noexcept
        : strings_(v.data()), n_(v.size())
    {
    }

    std::size_t size() const noexcept { return n_; }
    Field operator[](std::size_t i) const noexcept
    {
        if (strings_ != nullptr)
            return Field(strings_[i].first, strings_[i].second);
        return views_ != nullptr ? views_[i] : list_.begin()[i];
    }

private:
    std::initializer_list<Field> list_; /* the array lives for the call's expression */
    const Field *views_ = nullptr;
    const std::pair<std::string, std::string> *strings_ = nullptr;
    std::size_t n_ = 0;
};

/* The "no progress callback" argument (the default of every upload and download). */
struct NoProgress {};

/* Counters of a client (iothttp_client_stats). */
struct Stats {
    std::uint64_t tls_handshakes = 0;
    std::uint64_t requests = 0;
};

/* A device's token, for firmware that persists it (treat it like the device secret). */
struct Token {
    std::string value;
    std::uint64_t expires_at_unix_ms = 0; /* 0: unknown */
};

namespace detail {

inline Error nul_error(const char *name, std::size_t at)
{
    return Error::make(IOTHTTP_E_INVALID_ARG, std::string("'") + name +
                                                  "' contains a NUL byte at offset " +
                                                  std::to_string(at) +
                                                  " (a C string would end there)");
}

/* A NUL-terminated copy of a string_view: inline up to 159 bytes, else a std::string. Not
 * copyable or movable (c_str() may point into it). */
class CStr {
public:
    CStr() noexcept { small_[0] = '\0'; }
    CStr(const CStr &) = delete;
    CStr &operator=(const CStr &) = delete;

    /* Copy `s`; an Error naming `name` when it holds a NUL byte. */
    Result<void> assign(std::string_view s, const char *name)
    {
        std::size_t at = s.find('\0');
        if (at != std::string_view::npos)
            return nul_error(name, at);
        if (s.size() < sizeof small_) {
            if (!s.empty())
                std::memcpy(small_, s.data(), s.size());
            small_[s.size()] = '\0';
            p_ = small_;
        } else {
            big_.assign(s.data(), s.size());
            p_ = big_.c_str();
        }
        return {};
    }
    /* Absent: c_str() is NULL (the C argument's "not given"). */
    Result<void> assign(const std::optional<std::string_view> &s, const char *name)
    {
        if (!s.has_value()) {
            p_ = nullptr;
            return {};
        }
        return assign(*s, name);
    }
    const char *c_str() const noexcept { return p_; }

private:
    char small_[160];
    std::string big_;
    const char *p_ = small_;
};

/* NUL-terminated copies of a list of strings and the array of their pointers. */
class CStrArray {
public:
    template <class Get>
    Result<void> assign(std::size_t n, Get get, const char *name)
    {
        strings_.clear();
        ptrs_.clear();
        strings_.reserve(n);
        ptrs_.reserve(n);
        for (std::size_t i = 0; i < n; i++) {
            std::string_view s = get(i);
            std::size_t at = s.find('\0');
            if (at != std::string_view::npos) {
                std::string item = std::string(name) + "[" + std::to_string(i) + "]";
                return nul_error(item.c_str(), at);
            }
            strings_.emplace_back(s);
        }
        for (const std::string &s : strings_)
            ptrs_.push_back(s.c_str());
        return {};
    }
    const char *const *data() const noexcept { return ptrs_.empty() ? nullptr : ptrs_.data(); }
    std::size_t size() const noexcept { return ptrs_.size(); }

private:
    std::vector<std::string> strings_;
    std::vector<const char *> ptrs_;
};

/* Where a trampoline keeps the exception its callable threw, for the wrapper to rethrow. */
struct ExceptionSlot {
#if IOTHTTP_CXX_EXCEPTIONS
    std::exception_ptr ex;
    void clear() noexcept { ex = nullptr; }
    void rethrow()
    {
        if (ex) {
            std::exception_ptr e = ex;
            ex = nullptr;
            std::rethrow_exception(e);
        }
    }
#else
    void clear() noexcept {}
    void rethrow() noexcept {}
#endif
};

template <class T>
using remove_cvref_t = std::remove_cv_t<std::remove_reference_t<T>>;

template <class R>
constexpr bool bool_or_void = std::is_same_v<R, bool> || std::is_void_v<R>;

/* f(args...) is valid and returns bool or void (checked lazily: no hard error inside). */
template <class F, class... A>
constexpr bool returns_bool_or_void()
{
    if constexpr (!std::is_invocable_v<F, A...>)
        return false;
    else
        return bool_or_void<std::invoke_result_t<F, A...>>;
}

/* f(args...) is valid and returns exactly bool (no int that would mean the opposite). */
template <class F, class... A>
constexpr bool returns_bool()
{
    if constexpr (!std::is_invocable_v<F, A...>)
        return false;
    else
        return std::is_same_v<std::invoke_result_t<F, A...>, bool>;
}

/* Call `f` and map its result: true/void -> 0 (go on), false -> 1. */
template <class F, class... A>
int call_go_on(F &f, A... args)
{
    using R = std::invoke_result_t<F &, A...>;
    if constexpr (std::is_void_v<R>) {
        f(args...);
        return 0;
    } else {
        return f(args...) ? 0 : 1;
    }
}

/* Per-call progress: the callable by reference and the slot for what it throws. */
template <class P>
struct ProgressCall {
    P *fn;
    ExceptionSlot slot;
};

template <class P>
int progress_trampoline(void *userdata, std::uint64_t sent, std::uint64_t total) noexcept
{
    auto *call = static_cast<ProgressCall<P> *>(userdata);
#if IOTHTTP_CXX_EXCEPTIONS
    try {
        return call_go_on(*call->fn, sent, total);
    } catch (...) {
        call->slot.ex = std::current_exception();
        return 1; /* cancel */
    }
#else
    return call_go_on(*call->fn, sent, total);
#endif
}

/* The C (function, userdata) pair of a progress callable, or (NULL, NULL) for NoProgress. */
template <class P>
class Progress {
public:
    using Fn = std::remove_reference_t<P>;
    static constexpr bool none = std::is_same_v<remove_cvref_t<P>, NoProgress>;
    static_assert(none || returns_bool_or_void<Fn &, std::uint64_t, std::uint64_t>(),
                  "a progress callable is called as f(uint64_t sent, uint64_t total) and returns "
                  "bool (true: go on, false: cancel) or void");

    explicit Progress(Fn &p) noexcept : call_{&p, {}} {}
    iothttp_progress_fn fn() const noexcept
    {
        if constexpr (none)
            return nullptr;
        else
            return &progress_trampoline<Fn>;
    }
    void *userdata() noexcept
    {
        if constexpr (none)
            return nullptr;
        else
            return &call_;
    }
    void rethrow() { call_.slot.rethrow(); }

private:
    ProgressCall<Fn> call_;
};

/* Download sink: the callable by reference. */
template <class W>
struct WriteCall {
    W *fn;
    ExceptionSlot slot;
};

template <class W>
int write_trampoline(void *userdata, const std::uint8_t *buf, std::size_t len) noexcept
{
    auto *call = static_cast<WriteCall<W> *>(userdata);
#if IOTHTTP_CXX_EXCEPTIONS
    try {
        return call_go_on(*call->fn, buf, len);
    } catch (...) {
        call->slot.ex = std::current_exception();
        return 1; /* IOTHTTP_E_WRITE */
    }
#else
    return call_go_on(*call->fn, buf, len);
#endif
}

/* Source callables, owned by the Source (one allocation, at creation). */
struct SourceState {
    ExceptionSlot slot;
};

template <class Read, class Rewind>
struct SourceCallbacks : SourceState {
    SourceCallbacks(Read r, Rewind w) : read(std::move(r)), rewind(std::move(w)) {}
    Read read;
    Rewind rewind;
};

template <class S>
int read_trampoline(void *userdata, std::uint8_t *buf, std::size_t cap, std::size_t *out_len) noexcept
{
    auto *s = static_cast<S *>(userdata);
#if IOTHTTP_CXX_EXCEPTIONS
    try {
        return s->read(buf, cap, *out_len) ? 0 : 1;
    } catch (...) {
        s->slot.ex = std::current_exception();
        return 1; /* IOTHTTP_E_READ */
    }
#else
    return s->read(buf, cap, *out_len) ? 0 : 1;
#endif
}

template <class S>
int rewind_trampoline(void *userdata) noexcept
{
    auto *s = static_cast<S *>(userdata);
#if IOTHTTP_CXX_EXCEPTIONS
    try {
        return s->rewind() ? 0 : 1;
    } catch (...) {
        s->slot.ex = std::current_exception();
        return 1;
    }
#else
    return s->rewind() ? 0 : 1;
#endif
}

template <class F>
void log_trampoline(void *userdata, iothttp_log_level level, const char *msg) noexcept
{
    auto *f = static_cast<F *>(userdata);
    std::string_view line = msg != nullptr ? std::string_view(msg) : std::string_view();
#if IOTHTTP_CXX_EXCEPTIONS
    try {
        (*f)(level, line);
    } catch (...) {
        /* nobody to give it to: the line is lost (see the conventions above) */
    }
#else
    (*f)(level, line);
#endif
}

inline Result<void> check(iothttp_result r)
{
    if (r != IOTHTTP_OK)
        return Error::last(r);
    return {};
}

/* The owner of one C handle, plus whatever the C side points at (callables) in `keep_`. */
template <class H, void (*Free)(H *)>
class Handle {
public:
    using handle_type = H;

    Handle() noexcept = default;
    explicit Handle(H *h) noexcept : h_(h) {}
    Handle(const Handle &) = delete;
    Handle &operator=(const Handle &) = delete;
    Handle(Handle &&other) noexcept
        : h_(std::exchange(other.h_, nullptr)), keep_(std::move(other.keep_))
    {
    }
    Handle &operator=(Handle &&other) noexcept
    {
        if (this != &other) {
            reset();
            h_ = std::exchange(other.h_, nullptr);
            keep_ = std::move(other.keep_);
        }
        return *this;
    }
    ~Handle() { reset(); }

    /* The raw handle (NULL when empty), still owned by this object. */
    H *get() const noexcept { return h_; }
    explicit operator bool() const noexcept { return h_ != nullptr; }

    /* Give up the handle: the caller frees it with the C *_free. Callables the handle points
     * at (a log or source callable) are owned by keep_alive(): take a copy of it first and keep
     * it until the handle is freed. */
    [[nodiscard]] H *release() noexcept
    {
        keep_.reset();
        return std::exchange(h_, nullptr);
    }

    /* Free the handle (then the callables it pointed at); the object is empty afterwards. */
    void reset() noexcept
    {
        if (h_ != nullptr)
            Free(std::exchange(h_, nullptr));
        keep_.reset();
    }

    /* The owner of the callables the C handle points at (empty when none). */
    const std::shared_ptr<void> &keep_alive() const noexcept { return keep_; }

protected:
    H *h_ = nullptr;
    std::shared_ptr<void> keep_;
};

} // namespace detail

class Client;

/* iothttp_config: trust, timeouts, retries, log, proxy, name overrides. A Client copies it
 * at Client::create: the Config may be changed or destroyed afterwards. */
class Config : public detail::Handle<iothttp_config, iothttp_config_free> {
public:
    Config() noexcept = default;
    explicit Config(iothttp_config *adopt) noexcept : Handle(adopt) {}

    /* iothttp_config_new: the defaults (built-in roots, connect 10 s, I/O 30 s, 3 attempts). */
    static Result<Config> create()
    {
        iothttp_config *cfg = iothttp_config_new();
        if (cfg == nullptr)
            return Error::make(IOTHTTP_E_INTERNAL, "iothttp_config_new: out of memory");
        return Config(cfg);
    }

    /* Trust the CA certificate(s) in `pem` (PEM text, length given: no copy). */
    Result<void> add_ca_pem(std::string_view pem)
    {
        return detail::check(iothttp_config_add_ca_pem(h_, pem.data(), pem.size()));
    }
    Result<void> add_ca_file(std::string_view path)
    {
        detail::CStr p;
        if (auto r = p.assign(path, "path"); !r)
            return r;
        return detail::check(iothttp_config_add_ca_file(h_, p.c_str()));
    }
    /* Present this client certificate (PEM chain, leaf first) and its private key (PKCS#8,
     * SEC1 EC or PKCS#1 RSA PEM) to every server that asks for one; a key that does not match
     * the leaf, a PEM without a certificate or an encrypted key is IOTHTTP_E_INVALID_ARG. The
     * key never reaches a log line or an error text. One identity per client. */
    Result<void> set_client_cert(std::string_view cert_pem, std::string_view key_pem)
    {
        return detail::check(iothttp_config_set_client_cert(h_, cert_pem.data(), cert_pem.size(),
                                                            key_pem.data(), key_pem.size()));
    }
    Result<void> set_client_cert_files(std::string_view cert_path, std::string_view key_path)
    {
        detail::CStr c, k;
        if (auto r = c.assign(cert_path, "cert_path"); !r)
            return r;
        if (auto r = k.assign(key_path, "key_path"); !r)
            return r;
        return detail::check(iothttp_config_set_client_cert_files(h_, c.c_str(), k.c_str()));
    }
    Result<void> use_builtin_roots(bool on)
    {
        return detail::check(iothttp_config_use_builtin_roots(h_, on));
    }
    Result<void> set_timeouts(std::uint32_t connect_ms, std::uint32_t io_ms)
    {
        return detail::check(iothttp_config_set_timeouts(h_, connect_ms, io_ms));
    }
    Result<void> set_retries(std::uint32_t max_attempts, std::uint32_t base_delay_ms,
                             std::uint32_t max_delay_ms)
    {
        return detail::check(
            iothttp_config_set_retries(h_, max_attempts, base_delay_ms, max_delay_ms));
    }

    /* Send log lines up to `max_level` to `fn(iothttp_log_level, std::string_view line)`. The
     * callable is moved into this Config (one allocation, now) and shared with every Client
     * created from it afterwards; each Client keeps it alive until it is destroyed, after which
     * it is never called again for it. It runs on whichever thread makes a request, possibly
     * several at once (make it thread-safe), must not call into iothttp, and the line is valid
     * only during the call. An exception it throws is caught and the line is lost. */
    template <class F>
    Result<void> set_log(F &&fn, iothttp_log_level max_level)
    {
        using Fn = detail::remove_cvref_t<F>;
        static_assert(std::is_invocable_v<Fn &, iothttp_log_level, std::string_view>,
                      "a log callable is called as f(iothttp_log_level, std::string_view)");
        std::shared_ptr<Fn> owner = std::make_shared<Fn>(std::forward<F>(fn));
        iothttp_result r = iothttp_config_set_log(h_, &detail::log_trampoline<Fn>, owner.get(),
                                                  static_cast<std::uint32_t>(max_level));
        if (r != IOTHTTP_OK)
            return Error::last(r);
        keep_ = std::move(owner);
        return {};
    }
    /* The C form: `userdata` is yours and must outlive every Client created with it. */
    Result<void> set_log(iothttp_log_fn fn, void *userdata, iothttp_log_level max_level)
    {
        iothttp_result r =
            iothttp_config_set_log(h_, fn, userdata, static_cast<std::uint32_t>(max_level));
        if (r != IOTHTTP_OK)
            return Error::last(r);
        keep_.reset();
        return {};
    }
    /* No log (the default). */
    Result<void> clear_log()
    {
        iothttp_result r = iothttp_config_set_log(h_, nullptr, nullptr, 0);
        if (r != IOTHTTP_OK)
            return Error::last(r);
        keep_.reset();
        return {};
    }

    /* An HTTP CONNECT proxy (http://[user:pass@]host:port). */
    Result<void> set_proxy(std::string_view proxy_url)
    {
        detail::CStr p;
        if (auto r = p.assign(proxy_url, "proxy_url"); !r)
            return r;
        return detail::check(iothttp_config_set_proxy(h_, p.c_str()));
    }
    Result<void> clear_proxy() { return detail::check(iothttp_config_set_proxy(h_, nullptr)); }
    Result<void> allow_plain_http(bool on)
    {
        return detail::check(iothttp_config_allow_plain_http(h_, on));
    }
    /* Connect to `address` (an IP literal) for `host`:`port`, like curl --resolve. */
    Result<void> add_resolve(std::string_view host, std::uint16_t port, std::string_view address)
    {
        detail::CStr h, a;
        if (auto r = h.assign(host, "host"); !r)
            return r;
        if (auto r = a.assign(address, "address"); !r)
            return r;
        return detail::check(iothttp_config_add_resolve(h_, h.c_str(), port, a.c_str()));
    }
    /* Bound auth and publish calls to `total_ms` in all (0: no bound). */
    Result<void> set_deadline(std::uint32_t total_ms)
    {
        return detail::check(iothttp_config_set_deadline(h_, total_ms));
    }
    /* Never log the value of header `name`. */
    Result<void> add_secret_header(std::string_view name)
    {
        detail::CStr n;
        if (auto r = n.assign(name, "name"); !r)
            return r;
        return detail::check(iothttp_config_add_secret_header(h_, n.c_str()));
    }
};

/* What an upload reads: a file, borrowed memory, or callables. One upload at a time. */
class Source : public detail::Handle<iothttp_source, iothttp_source_free> {
public:
    Source() noexcept = default;
    explicit Source(iothttp_source *adopt) noexcept : Handle(adopt) {}

    /* The file at `path` (its size taken now). Rewindable. */
    static Result<Source> from_file(std::string_view path)
    {
        detail::CStr p;
        if (auto r = p.assign(path, "path"); !r)
            return r.error();
        iothttp_source *src = nullptr;
        iothttp_result r = iothttp_source_from_file(p.c_str(), &src);
        if (r != IOTHTTP_OK)
            return Error::last(r);
        return Source(src);
    }

    /* `len` bytes at `data`, BORROWED: they must stay valid and unchanged until the Source is
     * destroyed. Rewindable. */
    static Result<Source> from_memory(const void *data, std::size_t len)
    {
        iothttp_source *src = nullptr;
        iothttp_result r =
            iothttp_source_from_memory(static_cast<const std::uint8_t *>(data), len, &src);
        if (r != IOTHTTP_OK)
            return Error::last(r);
        return Source(src);
    }
    /* The bytes of a string or vector, borrowed (see above). A temporary would be gone
     * before the upload: refused at compile time. */
    static Result<Source> from_memory(const std::string &bytes)
    {
        return from_memory(bytes.data(), bytes.size());
    }
    static Result<Source> from_memory(const std::vector<std::uint8_t> &bytes)
    {
        return from_memory(bytes.data(), bytes.size());
    }
    static Result<Source> from_memory(std::string &&) = delete;
    static Result<Source> from_memory(std::vector<std::uint8_t> &&) = delete;

    /* Exactly `size` bytes from `read(uint8_t *buf, size_t cap, size_t &out_len) -> bool`
     * (fill up to cap bytes, set out_len, 0 at the end; false fails the upload with
     * IOTHTTP_E_READ). Not rewindable: a digest pass or a retry fails with
     * IOTHTTP_E_NOT_REWINDABLE. The callable is moved into the Source (wrap an object in
     * std::ref to keep it by reference: then it must outlive the Source). It runs on the
     * uploading thread; what it throws stops the upload and is rethrown by the upload call. */
    template <class Read>
    static Result<Source> from_callbacks(std::uint64_t size, Read &&read)
    {
        return make_callbacks<detail::remove_cvref_t<Read>, NoRewind>(
            size, std::forward<Read>(read), NoRewind{}, false);
    }
    /* The same, rewindable: `rewind() -> bool` goes back to the first byte (false:
     * IOTHTTP_E_READ). */
    template <class Read, class Rewind>
    static Result<Source> from_callbacks(std::uint64_t size, Read &&read, Rewind &&rewind)
    {
        return make_callbacks<detail::remove_cvref_t<Read>, detail::remove_cvref_t<Rewind>>(
            size, std::forward<Read>(read), std::forward<Rewind>(rewind), true);
    }

    /* Declare the content's digests (hex), so an upload does not read the source twice. */
    Result<void> set_md5_hex(std::string_view md5_hex)
    {
        detail::CStr d;
        if (auto r = d.assign(md5_hex, "md5_hex"); !r)
            return r;
        return detail::check(iothttp_source_set_md5_hex(h_, d.c_str()));
    }
    Result<void> set_sha256_hex(std::string_view sha256_hex)
    {
        detail::CStr d;
        if (auto r = d.assign(sha256_hex, "sha256_hex"); !r)
            return r;
        return detail::check(iothttp_source_set_sha256_hex(h_, d.c_str()));
    }

    /* The declared size in bytes (0 when empty). Never blocks. */
    std::uint64_t size() const noexcept { return iothttp_source_size(h_); }

    /* For the upload calls: forget / rethrow what a callable threw. */
    void clear_pending() noexcept
    {
        if (state_ != nullptr)
            state_->slot.clear();
    }
    void rethrow_pending()
    {
        if (state_ != nullptr)
            state_->slot.rethrow();
    }

    /* As Handle's, also forgetting the callables' state. */
    [[nodiscard]] iothttp_source *release() noexcept
    {
        state_ = nullptr;
        return Handle::release();
    }
    void reset() noexcept
    {
        state_ = nullptr;
        Handle::reset();
    }

    Source(Source &&other) noexcept
        : Handle(std::move(other)), state_(std::exchange(other.state_, nullptr))
    {
    }
    Source &operator=(Source &&other) noexcept
    {
        if (this != &other) {
            Handle::operator=(std::move(other));
            state_ = std::exchange(other.state_, nullptr);
        }
        return *this;
    }

private:
    struct NoRewind {
        bool operator()() const noexcept { return true; }
    };

    template <class Read, class Rewind, class R, class W>
    static Result<Source> make_callbacks(std::uint64_t size, R &&read, W &&rewind, bool rewindable)
    {
        static_assert(detail::returns_bool<Read &, std::uint8_t *, std::size_t, std::size_t &>(),
                      "a read callable is called as f(uint8_t *buf, size_t cap, size_t &out_len) "
                      "and returns bool (true: ok, out_len 0 at the end; false: failed)");
        static_assert(detail::returns_bool<Rewind &>(),
                      "a rewind callable is called as f() and returns bool (false: failed)");
        using State = detail::SourceCallbacks<Read, Rewind>;
        std::shared_ptr<State> state =
            std::make_shared<State>(std::forward<R>(read), std::forward<W>(rewind));
        iothttp_source *src = nullptr;
        iothttp_result r = iothttp_source_from_callbacks(
            size, &detail::read_trampoline<State>,
            rewindable ? &detail::rewind_trampoline<State> : nullptr, state.get(), &src);
        if (r != IOTHTTP_OK)
            return Error::last(r);
        Source s(src);
        s.state_ = state.get();
        s.keep_ = std::move(state);
        return s;
    }

    detail::SourceState *state_ = nullptr; /* owned by keep_ */
};

/* iothttp_client: the transport (TLS, pool, retries, log), shared by the devices and accounts
 * created from it; generic presigned uploads and downloads. Thread-safe. */
class Client : public detail::Handle<iothttp_client, iothttp_client_free> {
public:
    Client() noexcept = default;
    /* Adopt a raw client; its log userdata, if any, stays the caller's business. */
    explicit Client(iothttp_client *adopt) noexcept : Handle(adopt) {}

    /* iothttp_client_new(cfg). The Client shares the Config's log callable (see
     * Config::set_log). */
    static Result<Client> create(const Config &cfg)
    {
        iothttp_client *client = nullptr;
        iothttp_result r = iothttp_client_new(cfg.get(), &client);
        if (r != IOTHTTP_OK)
            return Error::last(r);
        Client c(client);
        c.keep_ = cfg.keep_alive();
        return c;
    }
    /* A client with the default configuration. */
    static Result<Client> create()
    {
        Result<Config> cfg = Config::create();
        if (!cfg)
            return cfg.error();
        return create(*cfg);
    }

    Result<Stats> stats() const
    {
        Stats s;
        iothttp_result r = iothttp_client_stats(h_, &s.tls_handshakes, &s.requests);
        if (r != IOTHTTP_OK)
            return Error::last(r);
        return s;
    }

    /* PUT `src` to a presigned `url` with `headers` ("Name: value", sent as given).
     * `progress(sent, total)` returns bool (false cancels) or void. */
    template <class P = NoProgress>
    Result<void> put(std::string_view url, StringList headers, Source &src, P &&progress = P{})
    {
        detail::CStr u;
        detail::CStrArray h;
        if (auto r = u.assign(url, "url"); !r)
            return r;
        if (auto r = h.assign(headers.size(), [&](std::size_t i) { return headers[i]; },
                              "headers");
            !r)
            return r;
        detail::Progress<P> p(progress);
        src.clear_pending();
        iothttp_result r =
            iothttp_put(h_, u.c_str(), h.data(), h.size(), src.get(), p.fn(), p.userdata());
        Result<void> out = detail::check(r);
        p.rethrow();
        src.rethrow_pending();
        return out;
    }

    /* A multipart/form-data POST to `url`: `fields` in order, then the file part `file_field`
     * named `file_name` with `content_type` (nullopt: application/octet-stream). */
    template <class P = NoProgress>
    Result<void> post_form(std::string_view url, FieldList fields, std::string_view file_field,
                           std::string_view file_name,
                           std::optional<std::string_view> content_type, Source &src,
                           P &&progress = P{})
    {
        detail::CStr u, ff, fn, ct;
        detail::CStrArray names, values;
        if (auto r = u.assign(url, "url"); !r)
            return r;
        if (auto r = names.assign(fields.size(), [&](std::size_t i) { return fields[i].first; },
                                  "names");
            !r)
            return r;
        if (auto r = values.assign(fields.size(),
                                   [&](std::size_t i) { return fields[i].second; }, "values");
            !r)
            return r;
        if (auto r = ff.assign(file_field, "file_field"); !r)
            return r;
        if (auto r = fn.assign(file_name, "file_name"); !r)
            return r;
        if (auto r = ct.assign(content_type, "content_type"); !r)
            return r;
        detail::Progress<P> p(progress);
        src.clear_pending();
        iothttp_result r = iothttp_post_form(h_, u.c_str(), names.data(), values.data(),
                                             names.size(), ff.c_str(), fn.c_str(), ct.c_str(),
                                             src.get(), p.fn(), p.userdata());
        Result<void> out = detail::check(r);
        p.rethrow();
        src.rethrow_pending();
        return out;
    }

    /* Stream the body of GET `url` (from byte `offset`: resume) to
     * `write(const uint8_t *buf, size_t len)`, which returns bool (false stops with
     * IOTHTTP_E_WRITE) or void; `write` is used by reference during the call only. The value
     * is the size of the whole object (0 when the server did not say). */
    template <class W, class P = NoProgress>
    Result<std::uint64_t> download(std::string_view url, StringList headers, std::uint64_t offset,
                                   W &&write, P &&progress = P{})
    {
        using Wn = std::remove_reference_t<W>;
        static_assert(detail::returns_bool_or_void<Wn &, const std::uint8_t *, std::size_t>(),
                      "a write callable is called as f(const uint8_t *buf, size_t len) and "
                      "returns bool (true: go on, false: stop with IOTHTTP_E_WRITE) or void");
        detail::CStr u;
        detail::CStrArray h;
        if (auto r = u.assign(url, "url"); !r)
            return r.error();
        if (auto r = h.assign(headers.size(), [&](std::size_t i) { return headers[i]; },
                              "headers");
            !r)
            return r.error();
        detail::WriteCall<Wn> w{&write, {}};
        detail::Progress<P> p(progress);
        std::uint64_t total = 0;
        iothttp_result r = iothttp_download(h_, u.c_str(), h.data(), h.size(), offset,
                                            &detail::write_trampoline<Wn>, &w, p.fn(),
                                            p.userdata(), &total);
        Result<std::uint64_t> out = r == IOTHTTP_OK ? Result<std::uint64_t>(total)
                                                    : Result<std::uint64_t>(Error::last(r));
        w.slot.rethrow();
        p.rethrow();
        return out;
    }

    /* Download `url` to the file `path` safely (path.part, resumed, checked, renamed). 0 and
     * nullopt: not checked. */
    template <class P = NoProgress>
    Result<void> download_file(std::string_view url, std::string_view path,
                               std::uint64_t expected_size = 0,
                               std::optional<std::string_view> md5_hex = std::nullopt,
                               std::optional<std::string_view> sha256_hex = std::nullopt,
                               P &&progress = P{})
    {
        detail::CStr u, pa, m, s;
        if (auto r = u.assign(url, "url"); !r)
            return r;
        if (auto r = pa.assign(path, "path"); !r)
            return r;
        if (auto r = m.assign(md5_hex, "md5_hex"); !r)
            return r;
        if (auto r = s.assign(sha256_hex, "sha256_hex"); !r)
            return r;
        detail::Progress<P> p(progress);
        iothttp_result r = iothttp_download_file(h_, u.c_str(), pa.c_str(), expected_size,
                                                 m.c_str(), s.c_str(), p.fn(), p.userdata());
        Result<void> out = detail::check(r);
        p.rethrow();
        return out;
    }
};

/* iothttp_device: a device identity (auth, token, publish, file upload). Thread-safe. It keeps
 * its Client's transport alive, so it may outlive the Client (then without its log). */
class Device : public detail::Handle<iothttp_device, iothttp_device_free> {
public:
    Device() noexcept = default;
    explicit Device(iothttp_device *adopt) noexcept : Handle(adopt) {}

    /* product/device/secret: ProductSN/DeviceSN/DeviceSecret (UCloud) or
     * productKey/deviceName/deviceSecret (Aliyun). Nothing is sent yet. */
    static Result<Device> create(const Client &client, iothttp_cloud cloud,
                                 std::string_view product, std::string_view device,
                                 std::string_view secret)
    {
        detail::CStr p, d, s;
        if (auto r = p.assign(product, "product"); !r)
            return r.error();
        if (auto r = d.assign(device, "device"); !r)
            return r.error();
        if (auto r = s.assign(secret, "secret"); !r)
            return r.error();
        iothttp_device *dev = nullptr;
        iothttp_result r = iothttp_device_new(client.get(), static_cast<std::uint32_t>(cloud),
                                              p.c_str(), d.c_str(), s.c_str(), &dev);
        if (r != IOTHTTP_OK)
            return Error::last(r);
        return Device(dev);
    }

    Result<void> set_endpoint(std::string_view base_url)
    {
        detail::CStr u;
        if (auto r = u.assign(base_url, "base_url"); !r)
            return r;
        return detail::check(iothttp_device_set_endpoint(h_, u.c_str()));
    }
    Result<void> set_file_endpoint(std::string_view base_url)
    {
        detail::CStr u;
        if (auto r = u.assign(base_url, "base_url"); !r)
            return r;
        return detail::check(iothttp_device_set_file_endpoint(h_, u.c_str()));
    }
    Result<void> set_client_id(std::string_view client_id)
    {
        detail::CStr c;
        if (auto r = c.assign(client_id, "client_id"); !r)
            return r;
        return detail::check(iothttp_device_set_client_id(h_, c.c_str()));
    }
    Result<void> set_region(std::string_view region)
    {
        detail::CStr c;
        if (auto r = c.assign(region, "region"); !r)
            return r;
        return detail::check(iothttp_device_set_region(h_, c.c_str()));
    }
    Result<void> set_sign_method(iothttp_sign_method method)
    {
        return detail::check(
            iothttp_device_set_sign_method(h_, static_cast<std::uint32_t>(method)));
    }
    Result<void> send_timestamp(bool on)
    {
        return detail::check(iothttp_device_send_timestamp(h_, on));
    }
    /* Authenticate now (publish also does it lazily). */
    Result<void> auth() { return detail::check(iothttp_device_auth(h_)); }

    /* Publish `len` bytes at `payload` to `topic`; the value is the cloud's message id
     * (decimal text, exact). */
    Result<std::string> publish(std::string_view topic, const void *payload, std::size_t len)
    {
        detail::CStr t;
        if (auto r = t.assign(topic, "topic"); !r)
            return r.error();
        char id[IOTHTTP_MESSAGE_ID_LEN];
        iothttp_result r = iothttp_device_publish(
            h_, t.c_str(), static_cast<const std::uint8_t *>(payload), len, id, sizeof id);
        if (r != IOTHTTP_OK)
            return Error::last(r);
        return std::string(id);
    }
    Result<std::string> publish(std::string_view topic, std::string_view payload)
    {
        return publish(topic, payload.data(), payload.size());
    }
    /* Publish without asking for the message id: no allocation for a topic under 160 bytes. */
    Result<void> publish_without_id(std::string_view topic, std::string_view payload)
    {
        detail::CStr t;
        if (auto r = t.assign(topic, "topic"); !r)
            return r;
        return detail::check(iothttp_device_publish(
            h_, t.c_str(), reinterpret_cast<const std::uint8_t *>(payload.data()), payload.size(),
            nullptr, 0));
    }

    /* What the last successful publish of this device on this thread received back (Aliyun
     * info.data; empty otherwise), as bytes. */
    Result<std::string> reply_data()
    {
        std::string out;
        for (;;) {
            std::size_t len = 0;
            iothttp_result r = iothttp_device_reply_data(
                h_, out.empty() ? nullptr : reinterpret_cast<std::uint8_t *>(&out[0]), out.size(),
                &len);
            if (r == IOTHTTP_OK) {
                out.resize(len);
                return out;
            }
            if (r != IOTHTTP_E_BUFFER_TOO_SMALL || len <= out.size())
                return Error::last(r);
            out.resize(len);
        }
    }

    /* The cached token and its expiry (no token yet: IOTHTTP_E_INVALID_ARG). */
    Result<Token> get_token()
    {
        Token t;
        std::string buf;
        for (;;) {
            std::size_t len = 0;
            iothttp_result r = iothttp_device_get_token(h_, buf.empty() ? nullptr : &buf[0],
                                                        buf.size(), &len, &t.expires_at_unix_ms);
            if (r == IOTHTTP_OK) {
                buf.resize(len);
                t.value = std::move(buf);
                return t;
            }
            if (r != IOTHTTP_E_BUFFER_TOO_SMALL || len <= buf.size())
                return Error::last(r);
            buf.assign(len, '\0'); /* length + 1: room for the NUL */
        }
    }
    /* Install a token saved earlier (expiry 0: unknown). */
    Result<void> set_token(std::string_view token, std::uint64_t expires_at_unix_ms)
    {
        detail::CStr t;
        if (auto r = t.assign(token, "token"); !r)
            return r;
        return detail::check(iothttp_device_set_token(h_, t.c_str(), expires_at_unix_ms));
    }

    /* UCloud device file upload of `src` as `file_name`. */
    template <class P = NoProgress>
    Result<void> upload_file(std::string_view file_name, std::string_view content_type,
                             Source &src, P &&progress = P{})
    {
        detail::CStr f, c;
        if (auto r = f.assign(file_name, "file_name"); !r)
            return r;
        if (auto r = c.assign(content_type, "content_type"); !r)
            return r;
        detail::Progress<P> p(progress);
        src.clear_pending();
        iothttp_result r = iothttp_device_upload_file(h_, f.c_str(), c.c_str(), src.get(), p.fn(),
                                                      p.userdata());
        Result<void> out = detail::check(r);
        p.rethrow();
        src.rethrow_pending();
        return out;
    }
};

/* iothttp_aliyun_account: an Alibaba Cloud AccessKey for OTA firmware uploads. */
class AliyunAccount : public detail::Handle<iothttp_aliyun_account, iothttp_aliyun_account_free> {
public:
    AliyunAccount() noexcept = default;
    explicit AliyunAccount(iothttp_aliyun_account *adopt) noexcept : Handle(adopt) {}

    static Result<AliyunAccount> create(const Client &client, std::string_view access_key_id,
                                        std::string_view access_key_secret)
    {
        detail::CStr i, s;
        if (auto r = i.assign(access_key_id, "access_key_id"); !r)
            return r.error();
        if (auto r = s.assign(access_key_secret, "access_key_secret"); !r)
            return r.error();
        iothttp_aliyun_account *acct = nullptr;
        iothttp_result r = iothttp_aliyun_account_new(client.get(), i.c_str(), s.c_str(), &acct);
        if (r != IOTHTTP_OK)
            return Error::last(r);
        return AliyunAccount(acct);
    }
    Result<void> set_endpoint(std::string_view base_url)
    {
        detail::CStr u;
        if (auto r = u.assign(base_url, "base_url"); !r)
            return r;
        return detail::check(iothttp_aliyun_account_set_endpoint(h_, u.c_str()));
    }
    Result<void> set_region(std::string_view region)
    {
        detail::CStr u;
        if (auto r = u.assign(region, "region"); !r)
            return r;
        return detail::check(iothttp_aliyun_account_set_region(h_, u.c_str()));
    }
    Result<void> set_instance_id(std::string_view iot_instance_id)
    {
        detail::CStr u;
        if (auto r = u.assign(iot_instance_id, "iot_instance_id"); !r)
            return r;
        return detail::check(iothttp_aliyun_account_set_instance_id(h_, u.c_str()));
    }

    /* Upload firmware for OTA; the value is the FirmwareUrl (for CreateOTAFirmware).
     * `file_suffix`: bin, apk, tar, gz, tar.gz, zip, gzip (nullopt: bin). */
    template <class P = NoProgress>
    Result<std::string> ota_upload(Source &src, std::optional<std::string_view> file_suffix = std::nullopt,
                                   P &&progress = P{})
    {
        detail::CStr s;
        if (auto r = s.assign(file_suffix, "file_suffix"); !r)
            return r.error();
        detail::Progress<P> p(progress);
        std::string url(IOTHTTP_URL_LEN, '\0');
        std::size_t len = 0;
        src.clear_pending();
        iothttp_result r = iothttp_aliyun_ota_upload(h_, s.c_str(), src.get(), p.fn(),
                                                     p.userdata(), &url[0], url.size(), &len);
        Result<std::string> out = Error();
        if (r == IOTHTTP_OK) {
            url.resize(len);
            out = Result<std::string>(std::move(url));
        } else {
            out = Error::last(r);
        }
        p.rethrow();
        src.rethrow_pending();
        return out;
    }
};

/* iothttp_agc_client: a Huawei AppGallery Connect API client for package uploads. */
class AgcClient : public detail::Handle<iothttp_agc_client, iothttp_agc_client_free> {
public:
    AgcClient() noexcept = default;
    explicit AgcClient(iothttp_agc_client *adopt) noexcept : Handle(adopt) {}

    static Result<AgcClient> create(const Client &client, std::string_view client_id,
                                    std::string_view client_secret)
    {
        detail::CStr i, s;
        if (auto r = i.assign(client_id, "client_id"); !r)
            return r.error();
        if (auto r = s.assign(client_secret, "client_secret"); !r)
            return r.error();
        iothttp_agc_client *agc = nullptr;
        iothttp_result r = iothttp_agc_client_new(client.get(), i.c_str(), s.c_str(), &agc);
        if (r != IOTHTTP_OK)
            return Error::last(r);
        return AgcClient(agc);
    }
    Result<void> set_endpoint(std::string_view base_url)
    {
        detail::CStr u;
        if (auto r = u.assign(base_url, "base_url"); !r)
            return r;
        return detail::check(iothttp_agc_client_set_endpoint(h_, u.c_str()));
    }

    /* Upload an app package; the value is the objectId. */
    template <class P = NoProgress>
    Result<std::string> upload(std::string_view app_id, std::string_view file_name, Source &src,
                               P &&progress = P{})
    {
        detail::CStr a, f;
        if (auto r = a.assign(app_id, "app_id"); !r)
            return r.error();
        if (auto r = f.assign(file_name, "file_name"); !r)
            return r.error();
        detail::Progress<P> p(progress);
        char object_id[IOTHTTP_OBJECT_ID_LEN];
        std::size_t len = 0;
        src.clear_pending();
        iothttp_result r = iothttp_agc_upload(h_, a.c_str(), f.c_str(), src.get(), p.fn(),
                                              p.userdata(), object_id, sizeof object_id, &len);
        Result<std::string> out = Error();
        if (r == IOTHTTP_OK)
            out = Result<std::string>(std::string(object_id, len));
        else
            out = Error::last(r);
        p.rethrow();
        src.rethrow_pending();
        return out;
    }
};

} // namespace iothttp

#endif /* IOTHTTP_HPP */
