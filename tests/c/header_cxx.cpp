// iothttp.h from C++: the header must compile cleanly (-Wall -Wextra -Wpedantic -Werror)
// and link with extern "C" names. Run as the CTest test header_cxx.
#include <iothttp.h>

#include <cstdio>
#include <cstring>

namespace {

void on_log(void *userdata, iothttp_log_level level, const char *msg)
{
    (void)userdata;
    std::fprintf(stderr, "log %u: %s\n", static_cast<unsigned>(level), msg);
}

} // namespace

int main()
{
    int failures = 0;
    const char *version = iothttp_version();
    std::printf("iothttp %s\n", version);
    if (std::strncmp(version, "0.", 2) != 0 && IOTHTTP_VERSION_MAJOR == 0)
        failures++;

    iothttp_config *cfg = iothttp_config_new();
    if (cfg == nullptr)
        return 1;
    iothttp_result r = iothttp_config_set_log(cfg, on_log, nullptr, IOTHTTP_LOG_WARN);
    if (r != IOTHTTP_OK)
        failures++;
    r = iothttp_config_set_timeouts(cfg, 0, 0);
    if (r != IOTHTTP_E_INVALID_ARG || std::strcmp(iothttp_result_name(r), "IOTHTTP_E_INVALID_ARG") != 0
        || iothttp_last_error()[0] == '\0')
        failures++;

    iothttp_client *client = nullptr;
    if (iothttp_client_new(cfg, &client) != IOTHTTP_OK)
        failures++;
    iothttp_config_free(cfg);
    iothttp_device *dev = nullptr;
    if (iothttp_device_new(client, IOTHTTP_CLOUD_ALIYUN, "pk", "dev", "secret", &dev) != IOTHTTP_OK
        || iothttp_device_set_sign_method(dev, IOTHTTP_SIGN_HMAC_SHA1) != IOTHTTP_OK)
        failures++;
    static const uint8_t bytes[] = {1, 2, 3};
    iothttp_source *src = nullptr;
    if (iothttp_source_from_memory(bytes, sizeof bytes, &src) != IOTHTTP_OK
        || iothttp_source_size(src) != sizeof bytes)
        failures++;
    iothttp_progress_fn progress = nullptr;
    if (iothttp_device_upload_file(dev, "x.bin", "a/b", src, progress, nullptr)
        != IOTHTTP_E_UNSUPPORTED) /* Aliyun devices have no file upload */
        failures++;
    iothttp_source_free(src);
    char id[IOTHTTP_MESSAGE_ID_LEN];
    if (iothttp_device_publish(dev, "/pk/dev/x", nullptr, 0, id, 1) != IOTHTTP_E_BUFFER_TOO_SMALL)
        failures++;
    iothttp_device_free(dev);
    iothttp_client_free(client);

    std::printf("%s\n", failures == 0 ? "ok" : "FAIL");
    return failures == 0 ? 0 : 1;
}
