// iothttp.hpp under strict warnings: every template of the header instantiated, compiled (not
// run) by tests/c/CMakeLists.txt with -std=c++17 -Wall -Wextra -Wpedantic -Werror plus
// -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast -Wnon-virtual-dtor, with and
// without -fno-exceptions -fno-rtti, by the C++ compiler and by clang++ when installed.
#include <iothttp.hpp>
#include <iothttp.hpp> // twice: include guards

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace {

struct Reader {
    bool read(std::uint8_t *, std::size_t, std::size_t &n)
    {
        n = 0;
        return true;
    }
};

bool progress_fn(std::uint64_t, std::uint64_t)
{
    return true;
}

} // namespace

int hpp_strict_instantiate();
int hpp_strict_instantiate()
{
    auto cfg = iothttp::Config::create();
    if (!cfg)
        return 1;
    (void)cfg->set_log([](iothttp_log_level, std::string_view) {}, IOTHTTP_LOG_WARN);
    std::function<void(iothttp_log_level, std::string_view)> fn = [](iothttp_log_level,
                                                                     std::string_view) {};
    (void)cfg->set_log(fn, IOTHTTP_LOG_DEBUG);
    auto client = iothttp::Client::create(*cfg);
    auto dev = iothttp::Device::create(*client, IOTHTTP_CLOUD_UCLOUD, "p", "d", "s");
    iothttp::Result<std::string> id = dev->publish("/p/d/x", "{}");
    const auto prog = [](std::uint64_t, std::uint64_t) { return true; };
    std::string data = "abc";
    auto src = iothttp::Source::from_memory(data);
    (void)client->put("https://x", {"A: b"}, *src, prog);
    (void)client->put("https://x", {}, *src, &progress_fn);
    std::vector<std::string_view> views = {"A: b"};
    (void)client->put("https://x", views, *src, [](std::uint64_t, std::uint64_t) {});
    (void)client->post_form("https://x", {{"key", "v"}}, "file", "f", std::nullopt, *src);
    std::vector<iothttp::FieldList::Field> fields = {{"k", "v"}};
    (void)client->post_form("https://x", fields, "file", "f", "a/b", *src, prog);
    Reader reader;
    auto read = [&reader](std::uint8_t *b, std::size_t c, std::size_t &n) { return reader.read(b, c, n); };
    auto cb = iothttp::Source::from_callbacks(3, std::ref(read), [] { return true; });
    auto cb2 = iothttp::Source::from_callbacks(
        3, [&reader](std::uint8_t *b, std::size_t c, std::size_t &n) { return reader.read(b, c, n); });
    std::vector<std::uint8_t> sink;
    auto dl = client->download("https://x", {}, 0, [&](const std::uint8_t *b, std::size_t n) {
        sink.insert(sink.end(), b, b + n);
    });
    (void)client->download_file("https://x", "/tmp/x", 10, "d41d8cd98f00b204e9800998ecf8427e",
                                std::nullopt, prog);
    iothttp::AliyunAccount a;
    (void)a.ota_upload(*src, "bin", prog);
    iothttp::AgcClient g;
    (void)g.upload("1", "a.app", *src, [](std::uint64_t, std::uint64_t) {});
    (void)dev->upload_file("f.bin", "a/b", *cb, prog);
    auto t = dev->get_token();
    auto rd = dev->reply_data();
    iothttp::Result<iothttp::Stats> st = client->stats();
#if IOTHTTP_CXX_EXCEPTIONS
    try {
        (void)id.value_or_throw();
        (void)dev->auth().throw_if_error();
    } catch (const iothttp::Exception &e) {
        return static_cast<int>(e.code());
    }
#endif
    return id.ok() && dl.ok() && t.ok() && rd.ok() && st.ok() && cb2.ok() ? 0 : 2;
}
