// test_cxx: the C++17 interface (iothttp.hpp) against the cloud emulator, the way C++ firmware
// uses it: every owner type, moves, errors, strings with NULs, callbacks (log, progress with
// cancel, source reads and rewinds, download sinks) and, when exceptions are on, exceptions
// thrown by callbacks.
//
//   test_cxx              run every case
//   test_cxx <case>...    run the named cases
//   test_cxx --list       print the case names
//
// Built twice by tests/c/CMakeLists.txt: test_cxx (exceptions and RTTI on) and test_cxx_noexc
// (-fno-exceptions -fno-rtti: the callback_exceptions and throwing cases are compiled out, and
// the throwing layer must be absent). Reads the emulator's IOTHTTP_EMU_* variables like
// test_api (tests/c/run.sh exports them); every case registers its own devices and accounts.
#include <iothttp.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern "C" {
#include "emu.h"
#include "harness.h"
}

using namespace std::string_view_literals;

namespace {

// ---- checks on Results -------------------------------------------------------------------

template <class R>
bool expect_code(const R &r, iothttp_result want, const char *expr, const char *file, int line)
{
    const iothttp::Error &e = r.error();
    if (r.code() != want || r.ok() != (want == IOTHTTP_OK)) {
        failf(file, line, "%s: %s (\"%s\"), expected %s", expr, e.name(), e.message.c_str(),
              iothttp::result_name(want));
        return false;
    }
    if (want != IOTHTTP_OK && e.message.empty()) {
        failf(file, line, "%s failed with %s but without a message", expr, e.name());
        return false;
    }
    return true;
}

template <class R>
bool expect_arg_name(const R &r, const char *name, const char *expr, const char *file, int line)
{
    if (!expect_code(r, IOTHTTP_E_INVALID_ARG, expr, file, line))
        return false;
    std::string quoted = std::string("'") + name + "'";
    if (r.error().message.find(quoted) == std::string::npos) {
        failf(file, line, "%s: message \"%s\" does not name %s", expr, r.error().message.c_str(),
              quoted.c_str());
        return false;
    }
    return true;
}

#define EXPECT_CODE(expr, want) expect_code((expr), (want), #expr, __FILE__, __LINE__)
#define EXPECT_OK(expr) EXPECT_CODE((expr), IOTHTTP_OK)
#define EXPECT_NAMES(expr, name) expect_arg_name((expr), (name), #expr, __FILE__, __LINE__)
// A NUL inside a string argument: refused by the wrapper, naming the argument and the offset.
#define EXPECT_NUL(expr, name, offset)                                                          \
    do {                                                                                       \
        auto r_ = (expr);                                                                      \
        if (EXPECT_NAMES(r_, name))                                                            \
            CHECK(r_.error().message.find("NUL byte at offset " #offset) != std::string::npos); \
    } while (0)
#define REQUIRE_RESULT(var, expr)                                                              \
    auto var = (expr);                                                                         \
    if (!EXPECT_OK(var))                                                                       \
    return

const char *must_env(const char *name)
{
    const char *v = env(name);
    return v != nullptr ? v : "";
}

// A Config trusting the emulator's CA, with the usual test policy.
iothttp::Result<iothttp::Config> emu_cfg(std::uint32_t attempts = 3)
{
    auto cfg = iothttp::Config::create();
    if (!cfg)
        return cfg;
    if (auto r = cfg->add_ca_file(must_env("IOTHTTP_EMU_CA")); !r)
        return r.error();
    if (auto r = cfg->set_retries(attempts, 5, 20); !r)
        return r.error();
    if (auto r = cfg->set_timeouts(10000, 20000); !r)
        return r.error();
    return cfg;
}

iothttp::Result<iothttp::Client> emu_cxx_client()
{
    auto cfg = emu_cfg();
    if (!cfg)
        return cfg.error();
    return iothttp::Client::create(*cfg);
}

iothttp::Result<iothttp::Device> emu_cxx_device(const iothttp::Client &client, const tdev &t)
{
    auto dev = iothttp::Device::create(client, static_cast<iothttp_cloud>(t.cloud), t.product,
                                       t.device, t.secret);
    if (!dev)
        return dev;
    if (auto r = dev->set_endpoint(endpoint_of(t.cloud)); !r)
        return r.error();
    return dev;
}

std::string unique(const char *tag)
{
    char buf[96];
    unique_name(buf, sizeof buf, tag);
    return buf;
}

std::uint64_t requests_of(const iothttp::Client &c)
{
    auto s = c.stats();
    return s ? s->requests : 0;
}

std::string small_data()
{
    std::string s(SMALL_LEN, '\0');
    gen_data(reinterpret_cast<std::uint8_t *>(&s[0]), s.size(), 2);
    return s;
}

std::string big_data()
{
    std::string s(BIG_LEN, '\0');
    gen_data(reinterpret_cast<std::uint8_t *>(&s[0]), s.size(), 1);
    return s;
}

// Reads a string in chunks of at most 7000 bytes; counts reads and rewinds; may fail.
struct StringReader {
    const std::string *data;
    std::size_t pos = 0;
    unsigned reads = 0, rewinds = 0;
    std::size_t fail_at = SIZE_MAX;

    bool read(std::uint8_t *buf, std::size_t cap, std::size_t &n)
    {
        reads++;
        if (pos >= fail_at)
            return false;
        n = std::min({cap, data->size() - pos, std::size_t{7000}});
        std::memcpy(buf, data->data() + pos, n);
        pos += n;
        return true;
    }
    bool rewind()
    {
        rewinds++;
        pos = 0;
        return true;
    }
};

// Records what a progress callable saw.
struct ProgressLog {
    unsigned calls = 0;
    std::uint64_t last_sent = 0, last_total = 0;
    bool decreasing = false;
    void saw(std::uint64_t sent, std::uint64_t total)
    {
        if (calls > 0 && sent < last_sent)
            decreasing = true;
        calls++;
        last_sent = sent;
        last_total = total;
    }
};

// ---- no emulator -------------------------------------------------------------------------

// Detection of the throwing layer (present exactly when exceptions are on).
template <class T, class = void>
struct has_value_or_throw : std::false_type {};
template <class T>
struct has_value_or_throw<T, std::void_t<decltype(std::declval<T &>().value_or_throw())>>
    : std::true_type {};

template <class T>
constexpr bool move_only_owner = !std::is_copy_constructible_v<T> && !std::is_copy_assignable_v<T> &&
                                 std::is_nothrow_move_constructible_v<T> &&
                                 std::is_nothrow_move_assignable_v<T> &&
                                 std::is_nothrow_default_constructible_v<T>;
static_assert(move_only_owner<iothttp::Config>);
static_assert(move_only_owner<iothttp::Client>);
static_assert(move_only_owner<iothttp::Device>);
static_assert(move_only_owner<iothttp::Source>);
static_assert(move_only_owner<iothttp::AliyunAccount>);
static_assert(move_only_owner<iothttp::AgcClient>);
static_assert(has_value_or_throw<iothttp::Result<int>>::value == (IOTHTTP_CXX_EXCEPTIONS == 1));
static_assert(has_value_or_throw<iothttp::Result<void>>::value == (IOTHTTP_CXX_EXCEPTIONS == 1));
#if defined(__cpp_exceptions)
static_assert(IOTHTTP_CXX_EXCEPTIONS == 1);
#else
static_assert(IOTHTTP_CXX_EXCEPTIONS == 0);
#endif

void test_version()
{
    char want[64];
    std::snprintf(want, sizeof want, "%d.%d.%d", IOTHTTP_VERSION_MAJOR, IOTHTTP_VERSION_MINOR,
                  IOTHTTP_VERSION_PATCH);
    CHECK(iothttp::version() == want);
    CHECK(std::strcmp(iothttp::result_name(IOTHTTP_E_TLS), "IOTHTTP_E_TLS") == 0);
    CHECK(std::strcmp(iothttp::result_name(static_cast<iothttp_result>(77777)), "IOTHTTP_UNKNOWN") == 0);
}

void test_results()
{
    iothttp::Result<int> five(5);
    CHECK(five.ok() && static_cast<bool>(five) && five.value() == 5 && *five == 5);
    CHECK(five.code() == IOTHTTP_OK && five.error().message.empty());
    CHECK(five.value_or(7) == 5);

    iothttp::Result<int> bad(iothttp::Error::make(IOTHTTP_E_TIMEOUT, "it took too long"));
    CHECK(!bad.ok() && !bad && bad.code() == IOTHTTP_E_TIMEOUT);
    CHECK(bad.value_or(7) == 7);
    CHECK(std::strcmp(bad.error().name(), "IOTHTTP_E_TIMEOUT") == 0);
    CHECK(bad.error().to_string() == "IOTHTTP_E_TIMEOUT: it took too long");

    // An "error" that says OK is not mistaken for success.
    iothttp::Result<std::string> odd{iothttp::Error{}};
    CHECK(!odd.ok() && odd.code() == IOTHTTP_E_INTERNAL);
    iothttp::Result<void> odd_void{iothttp::Error{}};
    CHECK(!odd_void.ok() && odd_void.code() == IOTHTTP_E_INTERNAL);

    iothttp::Result<void> fine;
    CHECK(fine.ok() && static_cast<bool>(fine));
    fine.value(); // no abort

    // Move-only values pass through.
    iothttp::Result<std::unique_ptr<int>> owned(std::make_unique<int>(3));
    std::unique_ptr<int> taken = std::move(owned).value();
    CHECK(taken != nullptr && *taken == 3);

    // The error of a real call: the code, the library's message, what it names.
    REQUIRE_RESULT(cfg, iothttp::Config::create());
    auto r = cfg->set_timeouts(0, 1000);
    EXPECT_CODE(r, IOTHTTP_E_INVALID_ARG);
    CHECK(r.error().message.find("timeout") != std::string::npos);
    CHECK(r.error().cloud_code == 0 && r.error().http_status == 0);
    // Captured at the failing call: later calls do not change it.
    EXPECT_OK(cfg->set_timeouts(1000, 1000));
    CHECK(std::strlen(iothttp_last_error()) == 0);
    CHECK(r.error().message.find("timeout") != std::string::npos);

    iothttp::Error full;
    full.code = IOTHTTP_E_HTTP;
    full.message = "no";
    full.cloud_code = 42;
    full.http_status = 503;
    CHECK(full.to_string() == "IOTHTTP_E_HTTP: no (cloud code 42) (HTTP status 503)");

#if IOTHTTP_CXX_EXCEPTIONS
    bool thrown = false;
    try {
        (void)bad.value_or_throw();
    } catch (const iothttp::Exception &e) {
        thrown = e.code() == IOTHTTP_E_TIMEOUT && e.error().message == "it took too long" &&
                 std::strcmp(e.what(), "IOTHTTP_E_TIMEOUT: it took too long") == 0;
    }
    CHECK(thrown);
    thrown = false;
    try {
        r.throw_if_error();
    } catch (const std::runtime_error &e) { // Exception is a std::runtime_error
        thrown = std::string(e.what()).find("IOTHTTP_E_INVALID_ARG") == 0;
    }
    CHECK(thrown);
    CHECK(five.value_or_throw() == 5);
    fine.throw_if_error();
#endif
}

// value() of a failed Result prints the error and aborts (in a child process).
void test_value_aborts()
{
    if (getenv("IOTHTTP_TEST_SLOW") != nullptr) { // valgrind, qemu: no child that aborts
        std::printf("      skipped: IOTHTTP_TEST_SLOW is set\n");
        return;
    }
    std::fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        iothttp::Result<int> bad(iothttp::Error::make(IOTHTTP_E_CONNECT, "refused"));
        int v = bad.value();
        _exit(v == 0 ? 3 : 4); // not reached
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

void test_moves()
{
    REQUIRE_RESULT(cfg_r, iothttp::Config::create());
    iothttp::Config cfg = std::move(cfg_r).value();
    iothttp_config *raw = cfg.get();
    REQUIRE(raw != nullptr && static_cast<bool>(cfg));

    // Move construction and assignment carry the handle; the source is left empty.
    iothttp::Config moved(std::move(cfg));
    CHECK(moved.get() == raw && cfg.get() == nullptr && !cfg);
    iothttp::Config assigned;
    assigned = std::move(moved);
    CHECK(assigned.get() == raw && moved.get() == nullptr);
    iothttp::Config &alias = assigned;
    assigned = std::move(alias); // self-move keeps it
    CHECK(assigned.get() == raw);

    // A moved-from owner is safe to use: the library's NULL check, naming the argument.
    EXPECT_NAMES(cfg.set_timeouts(1000, 1000), "cfg");
    EXPECT_NAMES(moved.add_ca_pem("x"), "cfg");
    EXPECT_NAMES(iothttp::Client::create(cfg), "cfg");

    // release() gives the handle up; an owner adopts it again.
    iothttp_config *released = assigned.release();
    CHECK(released == raw && assigned.get() == nullptr);
    iothttp::Config adopted(released);
    EXPECT_OK(adopted.set_timeouts(1000, 2000));
    adopted.reset();
    CHECK(!adopted);

    // Every other owner: moved-from objects report IOTHTTP_E_INVALID_ARG.
    REQUIRE_RESULT(client, iothttp::Client::create());
    iothttp::Client client2 = std::move(*client);
    CHECK(!*client && static_cast<bool>(client2));
    EXPECT_NAMES(client->stats(), "client");
    EXPECT_NAMES(iothttp::Device::create(*client, IOTHTTP_CLOUD_UCLOUD, "p", "d", "s"), "client");
    EXPECT_NAMES(iothttp::AliyunAccount::create(*client, "id", "secret"), "client");
    EXPECT_NAMES(iothttp::AgcClient::create(*client, "id", "secret"), "client");
    EXPECT_OK(client2.stats());

    REQUIRE_RESULT(dev, iothttp::Device::create(client2, IOTHTTP_CLOUD_UCLOUD, "p", "d", "s"));
    iothttp::Device dev2;
    dev2 = std::move(*dev);
    EXPECT_NAMES(dev->publish("/p/d/x", "{}"), "dev");
    EXPECT_NAMES(dev->auth(), "dev");
    EXPECT_NAMES(dev->get_token(), "dev");
    EXPECT_NAMES(dev->reply_data(), "dev");
    EXPECT_OK(dev2.set_region("cn-sh2"));

    static const char bytes[] = "abc";
    REQUIRE_RESULT(src, iothttp::Source::from_memory(bytes, 3));
    CHECK(src->size() == 3);
    iothttp::Source src2(std::move(*src));
    CHECK(src->size() == 0 && src2.size() == 3 && !*src);
    EXPECT_NAMES(src->set_md5_hex("00"), "src");
    EXPECT_NAMES(dev2.upload_file("f.bin", "a/b", *src), "src");

    REQUIRE_RESULT(acct, iothttp::AliyunAccount::create(client2, "id", "secret"));
    iothttp::AliyunAccount acct2(std::move(*acct));
    EXPECT_NAMES(acct->set_region("cn-shanghai"), "acct");
    EXPECT_NAMES(acct->ota_upload(src2), "acct");
    EXPECT_OK(acct2.set_region("cn-shanghai"));

    REQUIRE_RESULT(agc, iothttp::AgcClient::create(client2, "id", "secret"));
    iothttp::AgcClient agc2(std::move(*agc));
    EXPECT_NAMES(agc->set_endpoint("https://127.0.0.1:1"), "agc");
    EXPECT_NAMES(agc->upload("1", "a.app", src2), "agc");

    // Destruction order does not matter (children keep the transport alive).
    client2.reset();
    EXPECT_OK(dev2.set_region("cn-gd"));
    EXPECT_OK(acct2.set_instance_id(""));
}

// Strings with a NUL byte are refused, never cut short; long strings go through whole.
void test_strings()
{
    REQUIRE_RESULT(cfg, iothttp::Config::create());
    EXPECT_NUL(cfg->add_ca_file("/tmp/ca\0.pem"sv), "path", 7);
    EXPECT_NUL(cfg->add_resolve("api\0.example.com"sv, 443, "127.0.0.1"), "host", 3);
    EXPECT_NUL(cfg->add_resolve("api.example.com", 443, "127.0.0.1\0"sv), "address", 9);
    EXPECT_NUL(cfg->set_proxy("http://127.0.0.1:3128\0x"sv), "proxy_url", 21);
    EXPECT_NUL(cfg->add_secret_header("x-\0key"sv), "name", 2);
    EXPECT_OK(cfg->add_resolve("api.example.com", 443, "127.0.0.1"));
    EXPECT_OK(cfg->add_secret_header("x-vendor-auth"));
    EXPECT_OK(cfg->set_proxy("http://127.0.0.1:3128"));
    EXPECT_OK(cfg->clear_proxy());
    EXPECT_OK(cfg->set_deadline(5000));
    EXPECT_OK(cfg->use_builtin_roots(true));
    EXPECT_OK(cfg->allow_plain_http(false));
    // The library's own checks still apply to what gets through.
    EXPECT_CODE(cfg->add_resolve("api.example.com", 0, "127.0.0.1"), IOTHTTP_E_INVALID_ARG);
    EXPECT_CODE(cfg->add_resolve("api.example.com", 443, "not-an-ip"), IOTHTTP_E_INVALID_ARG);
    EXPECT_CODE(cfg->add_ca_pem("garbage"), IOTHTTP_E_INVALID_ARG);
    EXPECT_CODE(cfg->add_ca_file("/nonexistent/ca.pem"), IOTHTTP_E_READ);

    REQUIRE_RESULT(client, iothttp::Client::create(*cfg));
    EXPECT_NUL(iothttp::Device::create(*client, IOTHTTP_CLOUD_UCLOUD, "p\0q"sv, "d", "s"), "product", 1);
    EXPECT_NUL(iothttp::Device::create(*client, IOTHTTP_CLOUD_UCLOUD, "p", "\0"sv, "s"), "device", 0);
    // Beyond the inline buffer (159 bytes): a NUL at offset 200 of a 250-byte secret.
    std::string long_secret(250, 's');
    long_secret[200] = '\0';
    EXPECT_NUL(iothttp::Device::create(*client, IOTHTTP_CLOUD_UCLOUD, "p", "d", long_secret),
               "secret", 200);
    long_secret[200] = 's';
    REQUIRE_RESULT(dev, iothttp::Device::create(*client, IOTHTTP_CLOUD_UCLOUD, "p", "d", long_secret));
    std::string too_long(257, 's'); // the library's limit: 256 bytes, passed on whole
    EXPECT_CODE(iothttp::Device::create(*client, IOTHTTP_CLOUD_UCLOUD, "p", "d", too_long),
                IOTHTTP_E_INVALID_ARG);

    std::uint64_t before = requests_of(*client);
    EXPECT_NUL(dev->publish("/p/d\0/x"sv, "{}"), "topic", 4);
    EXPECT_NUL(dev->publish_without_id("/p/d/x\0"sv, "{}"), "topic", 6);
    EXPECT_NUL(dev->set_endpoint("https://127.0.0.1\0:1"sv), "base_url", 17);
    EXPECT_NUL(dev->set_file_endpoint("\0"sv), "base_url", 0);
    EXPECT_NUL(dev->set_client_id("c\0"sv), "client_id", 1);
    EXPECT_NUL(dev->set_region("cn\0"sv), "region", 2);
    EXPECT_NUL(dev->set_token("tok\0en"sv, 0), "token", 3);
    // The payload is bytes: NULs in it are data, not an end. Topics the library refuses.
    EXPECT_CODE(dev->publish("", "{}"), IOTHTTP_E_INVALID_ARG);
    EXPECT_CODE(dev->publish("/p/d/#", "{}"), IOTHTTP_E_INVALID_ARG);
    std::string huge(131073, 'x');
    EXPECT_CODE(dev->publish("/p/d/x", huge), IOTHTTP_E_TOO_LARGE);
    EXPECT_CODE(dev->set_sign_method(IOTHTTP_SIGN_HMAC_MD5), IOTHTTP_E_UNSUPPORTED); // UCloud
    EXPECT_OK(dev->set_sign_method(IOTHTTP_SIGN_HMAC_SHA256));
    EXPECT_CODE(dev->set_sign_method(static_cast<iothttp_sign_method>(9)), IOTHTTP_E_INVALID_ARG);
    EXPECT_CODE(dev->get_token(), IOTHTTP_E_INVALID_ARG); // no token yet

    static const char bytes[] = "abc";
    REQUIRE_RESULT(src, iothttp::Source::from_memory(bytes, 3));
    EXPECT_NUL(src->set_md5_hex("900150983cd24fb0\0"sv), "md5_hex", 16);
    EXPECT_NUL(src->set_sha256_hex("\0"sv), "sha256_hex", 0);
    EXPECT_CODE(src->set_md5_hex("xyz"), IOTHTTP_E_INVALID_ARG);
    EXPECT_OK(src->set_md5_hex("900150983cd24fb0d6963f7d28e17f72"));
    EXPECT_NUL(iothttp::Source::from_file("/tmp/x\0"sv), "path", 6);
    EXPECT_CODE(iothttp::Source::from_file("/nonexistent/file.bin"), IOTHTTP_E_READ);
    EXPECT_NUL(dev->upload_file("f\0.bin"sv, "a/b", *src), "file_name", 1);
    EXPECT_NUL(dev->upload_file("f.bin", "a/b\0"sv, *src), "content_type", 3);

    EXPECT_NUL(client->put("https://127.0.0.1:1/x\0"sv, {}, *src), "url", 21);
    EXPECT_NUL(client->put("https://127.0.0.1:1/x", {"A: b", "C: \0d"sv}, *src), "headers[1]", 3);
    std::vector<std::string> headers = {"A: b", std::string("C\0", 2)};
    EXPECT_NUL(client->put("https://127.0.0.1:1/x", headers, *src), "headers[1]", 1);
    EXPECT_NUL(client->post_form("https://127.0.0.1:1/x", {{"k\0"sv, "v"}}, "file", "f", std::nullopt, *src),
               "names[0]", 1);
    EXPECT_NUL(client->post_form("https://127.0.0.1:1/x", {{"k", "v"}, {"k2", "\0"sv}}, "file", "f",
                                 std::nullopt, *src),
               "values[1]", 0);
    EXPECT_NUL(client->post_form("https://127.0.0.1:1/x", {}, "fi\0le"sv, "f", std::nullopt, *src),
               "file_field", 2);
    EXPECT_NUL(client->post_form("https://127.0.0.1:1/x", {}, "file", "f", "t/\0"sv, *src),
               "content_type", 2);
    EXPECT_NUL(client->download("https://127.0.0.1:1/x", {"R\0"sv}, 0,
                                [](const std::uint8_t *, std::size_t) {}),
               "headers[0]", 1);
    EXPECT_NUL(client->download_file("https://127.0.0.1:1/x", "/tmp/a\0"sv), "path", 6);
    EXPECT_NUL(client->download_file("https://127.0.0.1:1/x", "/tmp/a", 0, "d41d\0"sv), "md5_hex", 4);
    REQUIRE_RESULT(acct, iothttp::AliyunAccount::create(*client, "id", "secret"));
    EXPECT_NUL(iothttp::AliyunAccount::create(*client, "i\0d"sv, "secret"), "access_key_id", 1);
    EXPECT_NUL(acct->ota_upload(*src, "b\0in"sv), "file_suffix", 1);
    EXPECT_NUL(acct->set_instance_id("\0"sv), "iot_instance_id", 0);
    REQUIRE_RESULT(agc, iothttp::AgcClient::create(*client, "id", "secret"));
    EXPECT_NUL(iothttp::AgcClient::create(*client, "id", "s\0"sv), "client_secret", 1);
    EXPECT_NUL(agc->upload("1\0"sv, "a.app", *src), "app_id", 1);
    CHECK(requests_of(*client) == before); // nothing was sent
}

// ---- against the emulator ----------------------------------------------------------------

void test_publish_ucloud()
{
    tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "cxx") == 0);
    REQUIRE_RESULT(client, emu_cxx_client());
    REQUIRE_RESULT(dev, emu_cxx_device(*client, t));

    EXPECT_OK(dev->auth());
    REQUIRE_RESULT(id, dev->publish(t.topic, PAYLOAD, PAYLOAD_LEN));
    CHECK_MESSAGE_ID(id->c_str(), UCLOUD_FIRST_ID, nullptr);
    REQUIRE_RESULT(id2, dev->publish(t.topic, "{\"n\":2}"));
    CHECK(*id2 != *id);
    EXPECT_OK(dev->publish_without_id(t.topic, "{\"n\":3}"));
    REQUIRE_RESULT(reply, dev->reply_data());
    CHECK(reply->empty());

    // The token persists: a second device object installs it and publishes without auth.
    REQUIRE_RESULT(token, dev->get_token());
    CHECK(!token->value.empty() && token->value.find('\0') == std::string::npos);
    CHECK(token->expires_at_unix_ms > now_ms());
    struct emu_counters before {}, after {};
    REQUIRE(tdev_counters(&t, &before) == 0);
    REQUIRE_RESULT(again, emu_cxx_device(*client, t));
    EXPECT_OK(again->set_token(token->value, token->expires_at_unix_ms));
    EXPECT_OK(again->publish(t.topic, "{}"));
    REQUIRE(tdev_counters(&t, &after) == 0);
    CHECK(after.auth_requests == before.auth_requests && after.publishes == before.publishes + 1);
    REQUIRE_RESULT(same, again->get_token());
    CHECK(same->value == token->value && same->expires_at_unix_ms == token->expires_at_unix_ms);

    EXPECT_OK(dev->send_timestamp(true));
    EXPECT_OK(dev->auth());
    EXPECT_CODE(dev->set_client_id("x"), IOTHTTP_E_UNSUPPORTED); // Aliyun only
    EXPECT_OK(dev->set_file_endpoint(must_env("IOTHTTP_EMU_UFILE_URL")));

    REQUIRE_RESULT(stats, client->stats());
    CHECK(stats->requests >= 5 && stats->tls_handshakes >= 1);

    // The cloud says no: the wrong secret.
    REQUIRE_RESULT(wrong, iothttp::Device::create(*client, IOTHTTP_CLOUD_UCLOUD, t.product, t.device,
                                                   "not-the-secret-xq"));
    EXPECT_OK(wrong->set_endpoint(endpoint_of(t.cloud)));
    auto refused = wrong->publish(t.topic, "{}");
    EXPECT_CODE(refused, IOTHTTP_E_AUTH);
    CHECK(refused.error().message.find("not-the-secret-xq") == std::string::npos);
}

// Mutual TLS through Config: a client certificate from files and from memory, a publish over
// the emulator's mTLS listener; bad identities and NULs refused; none set → IOTHTTP_E_TLS.
std::string slurp(const std::string &path)
{
    std::string out;
    if (FILE *f = std::fopen(path.c_str(), "rb")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
            out.append(buf, n);
        std::fclose(f);
    }
    return out;
}

void test_client_cert()
{
    const std::string dir = must_env("IOTHTTP_EMU_CLIENT_CERTS");
    const std::string base = std::string(must_env("IOTHTTP_EMU_MTLS_URL")) + "/ucloud";
    REQUIRE(!dir.empty() && base.size() > 7);
    tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "cxxmtls") == 0);
    const std::string cert = dir + "/device-ec.crt", key = dir + "/device-ec.key";
    for (int from_memory = 0; from_memory < 3; from_memory++) {
        REQUIRE_RESULT(cfg, emu_cfg());
        if (from_memory == 1)
            EXPECT_OK(cfg->set_client_cert(slurp(cert), slurp(key)));
        else if (from_memory == 0)
            EXPECT_OK(cfg->set_client_cert_files(cert, key));
        REQUIRE_RESULT(client, iothttp::Client::create(*cfg));
        REQUIRE_RESULT(dev, iothttp::Device::create(*client, IOTHTTP_CLOUD_UCLOUD, t.product,
                                                    t.device, t.secret));
        EXPECT_OK(dev->set_endpoint(base));
        auto id = dev->publish(t.topic, "{\"mtls\":1}");
        if (from_memory < 2) {
            EXPECT_OK(id);
        } else {
            // No certificate set: the listener requires one.
            EXPECT_CODE(id, IOTHTTP_E_TLS);
            CHECK(id.error().message.find("client certificate") != std::string::npos);
        }
    }
    REQUIRE_RESULT(cfg, iothttp::Config::create());
    EXPECT_CODE(cfg->set_client_cert_files(cert, dir + "/device-rsa.key"), IOTHTTP_E_INVALID_ARG);
    EXPECT_CODE(cfg->set_client_cert(slurp(key), slurp(key)), IOTHTTP_E_INVALID_ARG);
    EXPECT_CODE(cfg->set_client_cert("", ""), IOTHTTP_E_INVALID_ARG);
    EXPECT_NUL(cfg->set_client_cert_files("/tmp/c\0.crt"sv, key), "cert_path", 6);
    EXPECT_NUL(cfg->set_client_cert_files(cert, "/k\0"sv), "key_path", 2);
    const std::string pem = slurp(key);
    auto bad = cfg->set_client_cert_files(cert, dir + "/device-rsa.key");
    CHECK(!bad && bad.error().message.find("PRIVATE KEY") == std::string::npos &&
          pem.size() > 100 && bad.error().message.find(pem.substr(40, 40)) == std::string::npos);
}

void test_publish_aliyun()
{
    tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_ALIYUN, "cxx") == 0);
    REQUIRE_RESULT(client, emu_cxx_client());
    REQUIRE_RESULT(dev, emu_cxx_device(*client, t));
    EXPECT_OK(dev->set_sign_method(IOTHTTP_SIGN_HMAC_SHA256));
    EXPECT_OK(dev->set_client_id("cxx-client.1"));
    EXPECT_CODE(dev->set_file_endpoint("https://127.0.0.1:1"), IOTHTTP_E_UNSUPPORTED);

    // A message id above 2^53, exact.
    REQUIRE_RESULT(id, dev->publish(t.topic, "{}"));
    std::uint64_t v = 0;
    CHECK_MESSAGE_ID(id->c_str(), ALIYUN_FIRST_ID, &v);
    CHECK(v > 9007199254740992ull);

    // reply_data: bytes, any length (first the size, then the bytes).
    REQUIRE(emu_commandf("reply-data aliyun %s %s hello  world \xe2\x9c\x93", t.product, t.device) == 0);
    EXPECT_OK(dev->publish(t.topic, "{}"));
    REQUIRE_RESULT(reply, dev->reply_data());
    CHECK(*reply == "hello  world \xe2\x9c\x93");
    // Per thread: another thread has not published on this device.
    struct Other {
        iothttp::Device *dev;
        std::size_t len = 99;
        bool ok = false;
    } other{&*dev};
    pthread_t th;
    REQUIRE(pthread_create(&th, nullptr,
                           [](void *arg) -> void * {
                               auto *o = static_cast<Other *>(arg);
                               auto r = o->dev->reply_data();
                               o->ok = r.ok();
                               o->len = r ? r->size() : 99;
                               return nullptr;
                           },
                           &other) == 0);
    pthread_join(th, nullptr);
    CHECK(other.ok && other.len == 0);
    // An ACL refusal carries the cloud's code, captured at the call.
    auto acl = dev->publish("/elsewhere/x/y", "{}");
    EXPECT_CODE(acl, IOTHTTP_E_INVALID_ARG);
    CHECK(acl.error().cloud_code == 10001);
    REQUIRE(emu_commandf("reply-data aliyun %s %s", t.product, t.device) == 0);

    REQUIRE_RESULT(token, dev->get_token());
    CHECK(!token->value.empty() && token->expires_at_unix_ms > now_ms());
}

void test_network_errors()
{
    int port = closed_port();
    REQUIRE(port > 0);
    std::string url = "https://127.0.0.1:" + std::to_string(port) + "/ucloud";
    REQUIRE_RESULT(cfg, emu_cfg(2));
    EXPECT_OK(cfg->set_retries(2, 1, 2));
    REQUIRE_RESULT(client, iothttp::Client::create(*cfg));
    REQUIRE_RESULT(dev, iothttp::Device::create(*client, IOTHTTP_CLOUD_UCLOUD, "p", "d", "s"));
    EXPECT_OK(dev->set_endpoint(url));
    auto r = dev->publish("/p/d/x", "{}");
    EXPECT_CODE(r, IOTHTTP_E_CONNECT);
    CHECK(r.error().http_status == 0 && r.error().cloud_code == 0);
    EXPECT_CODE(dev->auth(), IOTHTTP_E_CONNECT);
    CHECK(requests_of(*client) == 4); // 2 attempts each

    // An HTTP status, kept in the Error even after later successful calls.
    std::string missing = std::string(must_env("IOTHTTP_EMU_DL_URL")) + "/" + unique("nosuch");
    std::string sink;
    auto dl = client->download(missing, {}, 0, [&](const std::uint8_t *b, std::size_t n) {
        sink.append(reinterpret_cast<const char *>(b), n);
    });
    EXPECT_CODE(dl, IOTHTTP_E_HTTP);
    EXPECT_OK(client->stats());
    CHECK(dl.error().http_status == 404 && sink.empty());

    // Plain http is refused unless allowed.
    EXPECT_CODE(dev->set_endpoint("http://127.0.0.1:1/x"), IOTHTTP_E_TLS);
    // No trust at all: a client needs a CA.
    REQUIRE_RESULT(bare, iothttp::Config::create());
    EXPECT_OK(bare->use_builtin_roots(false));
    EXPECT_CODE(iothttp::Client::create(*bare), IOTHTTP_E_INVALID_ARG);

#if IOTHTTP_CXX_EXCEPTIONS
    bool thrown = false;
    try {
        (void)dev->publish("/p/d/x", "{}").value_or_throw();
    } catch (const iothttp::Exception &e) {
        thrown = e.code() == IOTHTTP_E_CONNECT && !e.error().message.empty();
    }
    CHECK(thrown);
#endif
}

// The log callable: shared by the Config with its Clients, owned by each Client, never called
// after the Client is gone; a move-only callable is fine; lines never hold the secret.
struct LogState {
    std::mutex lock;
    std::vector<std::string> lines;
    std::atomic<unsigned> calls{0};
    std::atomic<unsigned> alive{0}; // callables holding this state
};

struct LogSink {
    std::shared_ptr<LogState> state;
    std::unique_ptr<int> move_only = std::make_unique<int>(1);
    explicit LogSink(std::shared_ptr<LogState> s) : state(std::move(s)) { state->alive++; }
    LogSink(LogSink &&o) noexcept : state(o.state), move_only(std::move(o.move_only))
    {
        state->alive++;
    }
    LogSink(const LogSink &) = delete;
    ~LogSink() { state->alive--; }
    void operator()(iothttp_log_level level, std::string_view line)
    {
        state->calls++;
        std::lock_guard<std::mutex> g(state->lock);
        state->lines.push_back(std::to_string(static_cast<unsigned>(level)) + " " + std::string(line));
    }
};

void test_log()
{
    tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "cxxlog") == 0);
    auto state = std::make_shared<LogState>();
    iothttp::Client client;
    {
        REQUIRE_RESULT(cfg, emu_cfg());
        EXPECT_OK(cfg->set_log(LogSink(state), IOTHTTP_LOG_DEBUG));
        CHECK(state->alive == 1 && cfg->keep_alive() != nullptr);
        REQUIRE_RESULT(c, iothttp::Client::create(*cfg));
        client = std::move(*c);
        // Replacing the Config's log does not take the Client's.
        EXPECT_OK(cfg->clear_log());
        CHECK(state->alive == 1 && cfg->keep_alive() == nullptr);
    } // the Config is gone; the Client keeps the callable
    CHECK(state->alive == 1 && client.keep_alive() != nullptr);
    REQUIRE_RESULT(dev, emu_cxx_device(client, t));
    EXPECT_OK(dev->publish(t.topic, "{}"));
    unsigned seen = state->calls;
    CHECK(seen > 0);
    {
        std::lock_guard<std::mutex> g(state->lock);
        for (const std::string &line : state->lines) {
            CHECK(line.find(t.secret) == std::string::npos);
            CHECK(line[0] >= '1' && line[0] <= '4'); // up to DEBUG
        }
    }
    // The device outlives the client: it still publishes, and the callable is released
    // and never called again.
    client.reset();
    CHECK(state->alive == 0);
    EXPECT_OK(dev->publish(t.topic, "{}"));
    CHECK(state->calls == seen);

    // The C form of set_log: userdata is the caller's.
    struct capture cap;
    capture_init(&cap);
    {
        REQUIRE_RESULT(cfg, emu_cfg());
        EXPECT_OK(cfg->set_log(capture_log, &cap, IOTHTTP_LOG_INFO));
        CHECK(cfg->keep_alive() == nullptr);
        REQUIRE_RESULT(c, iothttp::Client::create(*cfg));
        REQUIRE_RESULT(d, emu_cxx_device(*c, t));
        EXPECT_OK(d->auth());
    }
    CHECK(cap.n > 0);
    capture_free(&cap);

    // Bad level, moved-from config.
    REQUIRE_RESULT(cfg, iothttp::Config::create());
    EXPECT_CODE(cfg->set_log([](iothttp_log_level, std::string_view) {},
                             static_cast<iothttp_log_level>(9)),
                IOTHTTP_E_INVALID_ARG);
    CHECK(cfg->keep_alive() == nullptr);
    iothttp::Config gone = std::move(*cfg);
    EXPECT_NAMES(cfg->set_log([](iothttp_log_level, std::string_view) {}, IOTHTTP_LOG_WARN), "cfg");

#if IOTHTTP_CXX_EXCEPTIONS
    // A log callable that throws loses its line; nothing else happens.
    REQUIRE_RESULT(tcfg, emu_cfg());
    unsigned throws = 0;
    EXPECT_OK(tcfg->set_log(
        [&throws](iothttp_log_level, std::string_view) {
            throws++;
            throw std::runtime_error("log sink full");
        },
        IOTHTTP_LOG_DEBUG));
    REQUIRE_RESULT(tclient, iothttp::Client::create(*tcfg));
    REQUIRE_RESULT(tdevice, emu_cxx_device(*tclient, t));
    EXPECT_OK(tdevice->publish(t.topic, "{}"));
    CHECK(throws > 0);
#endif
}

void test_uploads()
{
    REQUIRE_RESULT(client, emu_cxx_client());
    const std::string small = small_data();
    const std::string big = big_data();
    const std::string store = must_env("IOTHTTP_EMU_STORE_URL");

    // PUT from memory with headers and a progress callable returning void.
    std::string key = "bucket/" + unique("cxxput") + ".bin";
    REQUIRE_RESULT(mem, iothttp::Source::from_memory(small));
    CHECK(mem->size() == SMALL_LEN);
    ProgressLog plog;
    EXPECT_OK(client->put(store + "/" + key, {"Content-Type: application/x-test", "x-amz-meta-a: 1"},
                          *mem, [&](std::uint64_t s, std::uint64_t n) { plog.saw(s, n); }));
    CHECK_STORED("store", key.c_str(), SMALL_LEN, SMALL_MD5, SMALL_SHA256);
    CHECK(plog.calls >= 1 && plog.last_sent == SMALL_LEN && plog.last_total == SMALL_LEN &&
          !plog.decreasing);
    // Headers from a vector; the store's refusal with its status.
    std::vector<std::string> bad_sha = {
        "x-amz-content-sha256: 0000000000000000000000000000000000000000000000000000000000000000"};
    auto refused = client->put(store + "/" + key, bad_sha, *mem);
    EXPECT_CODE(refused, IOTHTTP_E_HTTP);
    CHECK(refused.error().http_status == 400);
    EXPECT_CODE(client->put(store + "/" + key, {"Transfer-Encoding: chunked"}, *mem),
                IOTHTTP_E_INVALID_ARG);

    // Cancel from progress (returns false): nothing stored.
    std::string cancelled = "bucket/" + unique("cxxcancel") + ".bin";
    REQUIRE_RESULT(bigmem, iothttp::Source::from_memory(big.data(), big.size()));
    unsigned progress_calls = 0;
    auto stop = [&](std::uint64_t, std::uint64_t) { return ++progress_calls < 2; };
    EXPECT_CODE(client->put(store + "/" + cancelled, {}, *bigmem, stop), IOTHTTP_E_CANCELLED);
    CHECK(progress_calls == 2);
    CHECK_NOT_STORED("store", cancelled.c_str());

    // POST form: fields in order from braces and from a vector.
    std::string fname = unique("cxxform") + ".dat";
    EXPECT_OK(client->post_form(must_env("IOTHTTP_EMU_STORE_FORM_URL"),
                                {{"key", "forms/${filename}"}, {"x-meta", "v"}}, "file", fname,
                                std::nullopt, *mem));
    CHECK_STORED("store-form", ("forms/" + fname).c_str(), SMALL_LEN, SMALL_MD5, SMALL_SHA256);
    std::vector<std::pair<std::string, std::string>> fields = {{"key", "forms2/${filename}"}};
    EXPECT_OK(client->post_form(must_env("IOTHTTP_EMU_STORE_FORM_URL"), fields, "file", fname,
                                "application/x-test", *mem));
    CHECK_STORED("store-form", ("forms2/" + fname).c_str(), SMALL_LEN, SMALL_MD5, SMALL_SHA256);

    // UCloud file upload from callables (rewindable: digest pass + upload), from a file.
    tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "cxxfile") == 0);
    REQUIRE_RESULT(dev, emu_cxx_device(*client, t));
    EXPECT_OK(dev->set_file_endpoint(must_env("IOTHTTP_EMU_UFILE_URL")));
    StringReader reader{&big};
    REQUIRE_RESULT(cbs, iothttp::Source::from_callbacks(
                            BIG_LEN,
                            [&reader](std::uint8_t *b, std::size_t cap, std::size_t &n) {
                                return reader.read(b, cap, n);
                            },
                            [&reader] { return reader.rewind(); }));
    CHECK(cbs->size() == BIG_LEN && cbs->keep_alive() != nullptr);
    EXPECT_OK(dev->upload_file("cb.bin", "application/octet-stream", *cbs));
    CHECK_STORED("ufile", (std::string(t.product) + "/" + t.device + "/cb.bin").c_str(), BIG_LEN,
                 BIG_MD5, BIG_SHA256);
    CHECK(reader.rewinds >= 1 && reader.reads >= 2 * (BIG_LEN / 7000));

    // Not rewindable: the MD5 pass needs a second read, unless the MD5 is given.
    StringReader once{&big};
    REQUIRE_RESULT(ones, iothttp::Source::from_callbacks(
                             BIG_LEN, [&once](std::uint8_t *b, std::size_t cap, std::size_t &n) {
                                 return once.read(b, cap, n);
                             }));
    EXPECT_CODE(dev->upload_file("once.bin", "application/octet-stream", *ones),
                IOTHTTP_E_NOT_REWINDABLE);
    once.pos = 0;
    REQUIRE_RESULT(ones2, iothttp::Source::from_callbacks(
                              BIG_LEN, [&once](std::uint8_t *b, std::size_t cap, std::size_t &n) {
                                  return once.read(b, cap, n);
                              }));
    EXPECT_OK(ones2->set_md5_hex(BIG_MD5));
    EXPECT_OK(dev->upload_file("once.bin", "application/octet-stream", *ones2));
    CHECK_STORED("ufile", (std::string(t.product) + "/" + t.device + "/once.bin").c_str(), BIG_LEN,
                 BIG_MD5, BIG_SHA256);

    // A read that fails, a source that lies about its size.
    StringReader failing{&big};
    failing.fail_at = 20000;
    REQUIRE_RESULT(fails, iothttp::Source::from_callbacks(
                              BIG_LEN,
                              [&failing](std::uint8_t *b, std::size_t cap, std::size_t &n) {
                                  return failing.read(b, cap, n);
                              },
                              [&failing] { return failing.rewind(); }));
    EXPECT_OK(fails->set_md5_hex(BIG_MD5));
    EXPECT_CODE(client->put(store + "/bucket/" + unique("cxxfail"), {}, *fails), IOTHTTP_E_READ);
    StringReader lying{&small};
    REQUIRE_RESULT(lies, iothttp::Source::from_callbacks(
                             SMALL_LEN + 1, [&lying](std::uint8_t *b, std::size_t cap,
                                                     std::size_t &n) { return lying.read(b, cap, n); }));
    EXPECT_CODE(client->put(store + "/bucket/" + unique("cxxlie"), {}, *lies),
                IOTHTTP_E_SIZE_MISMATCH);

    // From a file, with a progress callable (lvalue, returning bool) on the file upload.
    char path[] = "/tmp/iothttp-cxx-upload-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    CHECK(write(fd, big.data(), big.size()) == static_cast<ssize_t>(big.size()));
    close(fd);
    REQUIRE_RESULT(file, iothttp::Source::from_file(path));
    unlink(path);
    CHECK(file->size() == BIG_LEN);
    ProgressLog flog;
    auto go_on = [&flog](std::uint64_t s, std::uint64_t n) {
        flog.saw(s, n);
        return true;
    };
    EXPECT_OK(dev->upload_file("file.bin", "text/plain", *file, go_on));
    CHECK(flog.last_sent == BIG_LEN && !flog.decreasing);
    CHECK_STORED("ufile", (std::string(t.product) + "/" + t.device + "/file.bin").c_str(), BIG_LEN,
                 BIG_MD5, BIG_SHA256);

    // Aliyun OTA: the FirmwareUrl.
    std::string ota_id = unique("cxxota"), ota_secret = unique("otaSecret-") + "-zz";
    REQUIRE(emu_commandf("add-account %s %s", ota_id.c_str(), ota_secret.c_str()) == 0);
    REQUIRE_RESULT(acct, iothttp::AliyunAccount::create(*client, ota_id, ota_secret));
    EXPECT_OK(acct->set_endpoint(must_env("IOTHTTP_EMU_ALIYUN_IOT_URL")));
    EXPECT_OK(acct->set_region("cn-shanghai"));
    EXPECT_OK(acct->set_instance_id("iot-cn-test"));
    REQUIRE_RESULT(fw_url, acct->ota_upload(*mem));
    std::string oss_prefix = std::string(must_env("IOTHTTP_EMU_URL")) + "/oss/";
    CHECK(fw_url->rfind(oss_prefix, 0) == 0 && fw_url->size() > 4 &&
          fw_url->compare(fw_url->size() - 4, 4, ".bin") == 0);
    if (fw_url->rfind(oss_prefix, 0) == 0)
        CHECK_STORED("oss", fw_url->c_str() + oss_prefix.size(), SMALL_LEN, SMALL_MD5, SMALL_SHA256);
    REQUIRE_RESULT(tgz, acct->ota_upload(*mem, "tar.gz", [](std::uint64_t, std::uint64_t) {}));
    CHECK(tgz->size() > 7 && tgz->compare(tgz->size() - 7, 7, ".tar.gz") == 0);
    EXPECT_CODE(acct->ota_upload(*mem, "exe"), IOTHTTP_E_INVALID_ARG);
    EXPECT_CODE(acct->set_endpoint("ftp://x"), IOTHTTP_E_INVALID_ARG);

    // AppGallery: the objectId.
    std::string agc_id = unique("cxxagc"), agc_secret = unique("agcSecret-") + "-zz";
    REQUIRE(emu_commandf("add-agc-client %s %s", agc_id.c_str(), agc_secret.c_str()) == 0);
    REQUIRE_RESULT(agc, iothttp::AgcClient::create(*client, agc_id, agc_secret));
    EXPECT_OK(agc->set_endpoint(must_env("IOTHTTP_EMU_AGC_URL")));
    ProgressLog alog;
    REQUIRE_RESULT(object, agc->upload("100200300", "app.app", *bigmem,
                                       [&](std::uint64_t s, std::uint64_t n) { alog.saw(s, n); }));
    CHECK(!object->empty() && alog.last_sent == BIG_LEN);
    CHECK_STORED("obs", (*object + "/app.app").c_str(), BIG_LEN, BIG_MD5, BIG_SHA256);
    EXPECT_CODE(agc->upload("1", "noextension", *mem), IOTHTTP_E_INVALID_ARG);
    REQUIRE_RESULT(wrong, iothttp::AgcClient::create(*client, agc_id, "not-the-secret-xq"));
    EXPECT_OK(wrong->set_endpoint(must_env("IOTHTTP_EMU_AGC_URL")));
    EXPECT_CODE(wrong->upload("1", "w.app", *mem), IOTHTTP_E_AUTH);
}

void test_download()
{
    REQUIRE_RESULT(client, emu_cxx_client());
    const unsigned len = 300000;
    std::string name = unique("cxxdl");
    std::string url = std::string(must_env("IOTHTTP_EMU_DL_URL")) + "/" + name;
    REQUIRE(emu_commandf("dl-object %s %u 31", name.c_str(), len) == 0);
    std::unique_ptr<char, void (*)(void *)> info(emu_command_alloc(("dl-info " + name).c_str()), std::free);
    REQUIRE(info != nullptr);
    char md5[40] = "", sha[72] = "";
    REQUIRE(json_str_field(info.get(), "md5", md5, sizeof md5) == 0 &&
            json_str_field(info.get(), "sha256", sha, sizeof sha) == 0);

    // To a callable (by reference), whole and from an offset.
    std::string body;
    auto sink = [&body](const std::uint8_t *b, std::size_t n) {
        body.append(reinterpret_cast<const char *>(b), n);
        return true;
    };
    ProgressLog plog;
    REQUIRE_RESULT(total, client->download(url, {"Accept: */*"}, 0, sink,
                                           [&](std::uint64_t s, std::uint64_t n) { plog.saw(s, n); }));
    CHECK(*total == len && body.size() == len && plog.last_sent == len && !plog.decreasing);
    std::string whole = body;
    body.clear();
    REQUIRE_RESULT(total2, client->download(url, {}, 1000, sink));
    CHECK(*total2 == len && body.size() == len - 1000 && whole.compare(1000, std::string::npos, body) == 0);
    // A cut is resumed; the sink hears every byte once.
    body.clear();
    REQUIRE(emu_commandf("cut download %s 100000 1", name.c_str()) == 0);
    EXPECT_OK(client->download(url, {}, 0, sink));
    CHECK(body == whole);

    // A sink that says stop (false) is IOTHTTP_E_WRITE; a progress that says stop cancels.
    unsigned writes = 0;
    EXPECT_CODE(client->download(url, {}, 0,
                                 [&](const std::uint8_t *, std::size_t) { return ++writes < 2; }),
                IOTHTTP_E_WRITE);
    CHECK(writes == 2);
    EXPECT_CODE(client->download(url, {}, 0, [](const std::uint8_t *, std::size_t) {},
                                 [](std::uint64_t, std::uint64_t) { return false; }),
                IOTHTTP_E_CANCELLED);
    EXPECT_CODE(client->download(url, {"Range: bytes=0-"}, 0, sink), IOTHTTP_E_INVALID_ARG);

    // To a file, checked; a wrong digest keeps the old file.
    std::string path = "/tmp/iothttp-cxx-dl-" + unique("f") + ".bin";
    EXPECT_OK(client->download_file(url, path, len, std::string_view(md5), std::string_view(sha)));
    size_t got = 0;
    char *bytes = read_file(path.c_str(), &got);
    CHECK(bytes != nullptr && got == len && whole.compare(0, len, bytes, got) == 0);
    std::free(bytes);
    std::string wrong = md5;
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    auto mismatch = client->download_file(url, path, 0, std::string_view(wrong));
    EXPECT_CODE(mismatch, IOTHTTP_E_DIGEST_MISMATCH);
    CHECK(mismatch.error().message.find(md5) != std::string::npos);
    CHECK(access((path + ".part").c_str(), F_OK) != 0);
    ProgressLog flog;
    EXPECT_OK(client->download_file(url, path, 0, std::nullopt, std::string_view(sha),
                                    [&](std::uint64_t s, std::uint64_t n) { flog.saw(s, n); }));
    CHECK(flog.last_sent == len);
    EXPECT_CODE(client->download_file(url, "/nonexistent-dir/x/fw.bin"), IOTHTTP_E_WRITE);
    EXPECT_CODE(client->download_file(url, path, 0, "xyz"sv), IOTHTTP_E_INVALID_ARG);
    unlink(path.c_str());
}

#if IOTHTTP_CXX_EXCEPTIONS
struct CallbackBoom {
    int where;
};

// A throwing callable stops the transfer and its exception reaches the caller of the wrapper
// (after the C call returned); the source stays usable.
void test_callback_exceptions()
{
    REQUIRE_RESULT(client, emu_cxx_client());
    const std::string small = small_data();
    const std::string store = must_env("IOTHTTP_EMU_STORE_URL");
    REQUIRE_RESULT(mem, iothttp::Source::from_memory(small));

    std::string key = "bucket/" + unique("cxxthrow") + ".bin";
    int caught = 0;
    try {
        (void)client->put(store + "/" + key, {}, *mem, [](std::uint64_t, std::uint64_t) -> bool {
            throw CallbackBoom{1};
        });
    } catch (const CallbackBoom &b) {
        caught = b.where;
    }
    CHECK(caught == 1);
    CHECK_NOT_STORED("store", key.c_str());

    // A throwing read, then the same source again (the exception is not kept around).
    unsigned reads = 0;
    StringReader reader{&small};
    REQUIRE_RESULT(cbs, iothttp::Source::from_callbacks(
                            SMALL_LEN,
                            [&](std::uint8_t *b, std::size_t cap, std::size_t &n) -> bool {
                                if (++reads == 1)
                                    throw std::runtime_error("flash read error");
                                return reader.read(b, cap, n);
                            },
                            [&reader] { return reader.rewind(); }));
    std::string what;
    try {
        (void)client->put(store + "/" + key, {}, *cbs);
    } catch (const std::runtime_error &e) {
        what = e.what();
    }
    CHECK(what == "flash read error");
    CHECK_NOT_STORED("store", key.c_str());
    EXPECT_OK(client->put(store + "/" + key, {}, *cbs));
    CHECK_STORED("store", key.c_str(), SMALL_LEN, SMALL_MD5, SMALL_SHA256);

    // A throwing rewind.
    StringReader r2{&small};
    REQUIRE_RESULT(cbr, iothttp::Source::from_callbacks(
                            SMALL_LEN,
                            [&r2](std::uint8_t *b, std::size_t cap, std::size_t &n) {
                                return r2.read(b, cap, n);
                            },
                            []() -> bool { throw CallbackBoom{4}; }));
    caught = 0;
    try {
        // The second upload at the latest needs a rewind (the first read the source).
        for (int i = 0; i < 2; i++)
            (void)client->put(store + "/bucket/" + unique("cxxrw"), {}, *cbr);
    } catch (const CallbackBoom &b) {
        caught = b.where;
    }
    CHECK(caught == 4);

    // A throwing download sink; a throwing progress of a device upload.
    std::string name = unique("cxxdlx");
    REQUIRE(emu_commandf("dl-object %s 100000 5", name.c_str()) == 0);
    std::string url = std::string(must_env("IOTHTTP_EMU_DL_URL")) + "/" + name;
    caught = 0;
    try {
        (void)client->download(url, {}, 0, [](const std::uint8_t *, std::size_t) -> bool {
            throw CallbackBoom{2};
        });
    } catch (const CallbackBoom &b) {
        caught = b.where;
    }
    CHECK(caught == 2);
    tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "cxxthrow") == 0);
    REQUIRE_RESULT(dev, emu_cxx_device(*client, t));
    EXPECT_OK(dev->set_file_endpoint(must_env("IOTHTTP_EMU_UFILE_URL")));
    caught = 0;
    try {
        (void)dev->upload_file("x.bin", "a/b", *mem, [](std::uint64_t, std::uint64_t) {
            throw CallbackBoom{3};
        });
    } catch (const CallbackBoom &b) {
        caught = b.where;
    }
    CHECK(caught == 3);
    CHECK_NOT_STORED("ufile", (std::string(t.product) + "/" + t.device + "/x.bin").c_str());
    EXPECT_OK(dev->upload_file("x.bin", "a/b", *mem));
}
#endif

// ---- runner ------------------------------------------------------------------------------

struct Case {
    const char *name;
    void (*fn)();
};

#define CASE(name) {#name, test_##name}

// tests/c/CMakeLists.txt reads the CASE(...) lines below to register one CTest test each.
const Case CASES[] = {
    CASE(version),
    CASE(results),
    CASE(value_aborts),
    CASE(moves),
    CASE(strings),
    CASE(publish_ucloud),
    CASE(publish_aliyun),
    CASE(client_cert),
    CASE(network_errors),
    CASE(log),
    CASE(uploads),
    CASE(download),
#if IOTHTTP_CXX_EXCEPTIONS
    CASE(callback_exceptions),
#endif
};

const char *case_name(size_t i)
{
    return CASES[i].name;
}

void case_run(size_t i)
{
    CASES[i].fn();
}

void banner()
{
    std::printf("test_cxx: iothttp %s through iothttp.hpp (C++%ld, exceptions %s, RTTI %s)\n",
                iothttp_version(), static_cast<long>(__cplusplus / 100 % 100),
                IOTHTTP_CXX_EXCEPTIONS ? "on" : "off",
#if defined(__GXX_RTTI) || defined(__cpp_rtti)
                "on"
#else
                "off"
#endif
    );
}

} // namespace

int main(int argc, char **argv)
{
    g_tdev_naming.ucloud_product = "cxxProd";
    g_tdev_naming.aliyun_product = "a1cxxPK";
    g_tdev_naming.secret_suffix = "cx";
    test_table table{};
    table.program = "test_cxx";
    table.noun = "case";
    table.width = 22;
    table.count = sizeof CASES / sizeof CASES[0];
    table.name = case_name;
    table.run = case_run;
    table.banner = banner;
    return test_main(&table, argc, argv);
}
