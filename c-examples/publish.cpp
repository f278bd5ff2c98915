// publish (C++17): authenticate a device and publish one message with iothttp.hpp.
//
//   publish_cpp <cloud> <product> <device> <secret> [endpoint] [ca-file] [topic] [payload]
//
// The same program as publish.c, through the C++ interface: cloud is "ucloud" or "aliyun"; a
// missing (or empty) argument is taken from the environment: IOTHTTP_CLOUD, IOTHTTP_PRODUCT,
// IOTHTTP_DEVICE, IOTHTTP_SECRET, IOTHTTP_ENDPOINT, IOTHTTP_CA, IOTHTTP_TOPIC,
// IOTHTTP_PAYLOAD. Without an endpoint the cloud's public host is used; the default topic is
// /<product>/<device>/upload/event.
//
// Prints "message id: <id>" and exits 0, or prints the error and exits 1 (2: bad usage).
// Builds with and without exceptions (-fno-exceptions -fno-rtti): nothing here throws.
#include <iothttp.hpp>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

// Argument `index` (1-based) if given and non-empty, else the environment variable.
const char *arg_or_env(int argc, char **argv, int index, const char *env_name)
{
    if (index < argc && argv[index][0] != '\0')
        return argv[index];
    const char *value = std::getenv(env_name);
    return (value != nullptr && value[0] != '\0') ? value : nullptr;
}

// Print why a call failed; returns the process exit status.
int report(const iothttp::Error &e)
{
    std::fprintf(stderr, "error: %s\n", e.to_string().c_str());
    return 1;
}

} // namespace

int main(int argc, char **argv)
{
    const char *cloud_name = arg_or_env(argc, argv, 1, "IOTHTTP_CLOUD");
    const char *product = arg_or_env(argc, argv, 2, "IOTHTTP_PRODUCT");
    const char *device_name = arg_or_env(argc, argv, 3, "IOTHTTP_DEVICE");
    const char *secret = arg_or_env(argc, argv, 4, "IOTHTTP_SECRET");
    const char *endpoint = arg_or_env(argc, argv, 5, "IOTHTTP_ENDPOINT");
    const char *ca_file = arg_or_env(argc, argv, 6, "IOTHTTP_CA");
    const char *topic_arg = arg_or_env(argc, argv, 7, "IOTHTTP_TOPIC");
    const char *payload_arg = arg_or_env(argc, argv, 8, "IOTHTTP_PAYLOAD");

    if (cloud_name == nullptr || product == nullptr || device_name == nullptr || secret == nullptr) {
        std::fprintf(stderr,
                     "usage: %s <ucloud|aliyun> <product> <device> <secret> "
                     "[endpoint] [ca-file] [topic] [payload]\n"
                     "       (or set IOTHTTP_CLOUD, IOTHTTP_PRODUCT, IOTHTTP_DEVICE, ...)\n",
                     argv[0]);
        return 2;
    }
    iothttp_cloud cloud;
    if (std::string_view(cloud_name) == "ucloud") {
        cloud = IOTHTTP_CLOUD_UCLOUD;
    } else if (std::string_view(cloud_name) == "aliyun") {
        cloud = IOTHTTP_CLOUD_ALIYUN;
    } else {
        std::fprintf(stderr, "error: cloud must be ucloud or aliyun, not '%s'\n", cloud_name);
        return 2;
    }
    std::string topic = topic_arg != nullptr
                            ? std::string(topic_arg)
                            : "/" + std::string(product) + "/" + device_name + "/upload/event";
    std::string_view payload =
        payload_arg != nullptr ? payload_arg : R"({"temperature":21.5,"humidity":40})";

    // 1. Configuration: trust, log. A client copies it (and shares the log callable, which it
    //    keeps alive), so the Config may go right after.
    iothttp::Result<iothttp::Client> client = [&]() -> iothttp::Result<iothttp::Client> {
        iothttp::Result<iothttp::Config> cfg = iothttp::Config::create();
        if (!cfg)
            return cfg.error();
        if (ca_file != nullptr) {
            if (auto r = cfg->add_ca_file(ca_file); !r)
                return r.error();
        }
        auto log_line = [](iothttp_log_level level, std::string_view msg) {
            static const char *const names[] = {"?", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
            std::fprintf(stderr, "iothttp %s: %.*s\n", level <= IOTHTTP_LOG_TRACE ? names[level] : "?",
                         static_cast<int>(msg.size()), msg.data());
        };
        if (auto r = cfg->set_log(log_line, IOTHTTP_LOG_WARN); !r)
            return r.error();
        // 2. Client (TLS, connection pool, retries): one per process is typical.
        return iothttp::Client::create(*cfg);
    }();
    if (!client)
        return report(client.error());

    // 3. Device identity.
    iothttp::Result<iothttp::Device> dev =
        iothttp::Device::create(*client, cloud, product, device_name, secret);
    if (!dev)
        return report(dev.error());
    if (endpoint != nullptr) {
        if (auto r = dev->set_endpoint(endpoint); !r)
            return report(r.error());
    }

    // 4. Publish: authenticates on first use, keeps and renews the token.
    iothttp::Result<std::string> id = dev->publish(topic, payload);
    if (!id)
        return report(id.error());
    std::printf("message id: %s\n", id->c_str());

    // 5. The token, for firmware that persists it across reboots (restore it with
    //    set_token and skip the auth round trip). Keep it as secret as the device secret.
    iothttp::Result<iothttp::Token> token = dev->get_token();
    if (!token)
        return report(token.error());
    std::printf("token: %zu bytes, expires at %" PRIu64 " (Unix ms)\n", token->value.size(),
                token->expires_at_unix_ms);
    token->value.assign(token->value.size(), '\0');
    return 0; // the owners free the device, then the client
}
