/*
 * publish: authenticate a device and publish one message with iothttp.
 *
 *   publish <cloud> <product> <device> <secret> [endpoint] [ca-file] [topic] [payload]
 *
 * cloud is "ucloud" or "aliyun". A missing (or empty) argument is taken from the
 * environment: IOTHTTP_CLOUD, IOTHTTP_PRODUCT, IOTHTTP_DEVICE, IOTHTTP_SECRET,
 * IOTHTTP_ENDPOINT, IOTHTTP_CA, IOTHTTP_TOPIC, IOTHTTP_PAYLOAD. Without an endpoint the
 * cloud's public host is used; the default topic is /<product>/<device>/upload/event.
 *
 * Prints "message id: <id>" and exits 0, or prints the error and exits 1 (2: bad usage).
 */
#include <string.h>

#include "common.h"

/* Log callback: the library calls it from the thread making the request. */
static void log_line(void *userdata, iothttp_log_level level, const char *msg)
{
    static const char *const names[] = {"?", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
    (void)userdata;
    fprintf(stderr, "iothttp %s: %s\n", level <= IOTHTTP_LOG_TRACE ? names[level] : "?", msg);
}

int main(int argc, char **argv)
{
    const char *cloud_name = arg_or_env(argc, argv, 1, "IOTHTTP_CLOUD");
    const char *product = arg_or_env(argc, argv, 2, "IOTHTTP_PRODUCT");
    const char *device_name = arg_or_env(argc, argv, 3, "IOTHTTP_DEVICE");
    const char *secret = arg_or_env(argc, argv, 4, "IOTHTTP_SECRET");
    const char *endpoint = arg_or_env(argc, argv, 5, "IOTHTTP_ENDPOINT");
    const char *ca_file = arg_or_env(argc, argv, 6, "IOTHTTP_CA");
    const char *topic = arg_or_env(argc, argv, 7, "IOTHTTP_TOPIC");
    const char *payload = arg_or_env(argc, argv, 8, "IOTHTTP_PAYLOAD");
    uint32_t cloud;

    if (cloud_name == NULL || product == NULL || device_name == NULL || secret == NULL) {
        fprintf(stderr, "usage: %s <ucloud|aliyun> <product> <device> <secret> "
                        "[endpoint] [ca-file] [topic] [payload]\n"
                        "       (or set IOTHTTP_CLOUD, IOTHTTP_PRODUCT, IOTHTTP_DEVICE, ...)\n",
                argv[0]);
        return 2;
    }
    if (strcmp(cloud_name, "ucloud") == 0) {
        cloud = IOTHTTP_CLOUD_UCLOUD;
    } else if (strcmp(cloud_name, "aliyun") == 0) {
        cloud = IOTHTTP_CLOUD_ALIYUN;
    } else {
        fprintf(stderr, "error: cloud must be ucloud or aliyun, not '%s'\n", cloud_name);
        return 2;
    }

    char default_topic[600];
    if (topic == NULL) {
        int n = snprintf(default_topic, sizeof default_topic, "/%s/%s/upload/event",
                         product, device_name);
        if (n < 0 || (size_t)n >= sizeof default_topic) {
            fprintf(stderr, "error: product and device names are too long\n");
            return 2;
        }
        topic = default_topic;
    }
    if (payload == NULL)
        payload = "{\"temperature\":21.5,\"humidity\":40}";

    iothttp_config *cfg = NULL;
    iothttp_client *client = NULL;
    iothttp_device *dev = NULL;
    iothttp_result r;
    char message_id[IOTHTTP_MESSAGE_ID_LEN];
    char token[4097]; /* tokens are at most 4096 characters */
    size_t token_len = 0;
    uint64_t expires_at_ms = 0;
    int status = 1;

    /* 1. Configuration: trust, log. A client copies it, so it can be freed right after. */
    cfg = iothttp_config_new();
    if (cfg == NULL) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    if (ca_file != NULL && (r = iothttp_config_add_ca_file(cfg, ca_file)) != IOTHTTP_OK) {
        status = report(r);
        goto out;
    }
    if ((r = iothttp_config_set_log(cfg, log_line, NULL, IOTHTTP_LOG_WARN)) != IOTHTTP_OK) {
        status = report(r);
        goto out;
    }

    /* 2. Client (TLS, connection pool, retries): one per process is typical. */
    if ((r = iothttp_client_new(cfg, &client)) != IOTHTTP_OK) {
        status = report(r);
        goto out;
    }
    iothttp_config_free(cfg);
    cfg = NULL;

    /* 3. Device identity. */
    r = iothttp_device_new(client, cloud, product, device_name, secret, &dev);
    if (r != IOTHTTP_OK) {
        status = report(r);
        goto out;
    }
    if (endpoint != NULL && (r = iothttp_device_set_endpoint(dev, endpoint)) != IOTHTTP_OK) {
        status = report(r);
        goto out;
    }

    /* 4. Publish: authenticates on first use, keeps and renews the token. */
    r = iothttp_device_publish(dev, topic, (const uint8_t *)payload, strlen(payload),
                               message_id, sizeof message_id);
    if (r != IOTHTTP_OK) {
        status = report(r);
        goto out;
    }
    printf("message id: %s\n", message_id);

    /* 5. The token, for firmware that persists it across reboots (then restore it with
     *    iothttp_device_set_token and skip the auth round trip). Keep it as secret as the
     *    device secret: never print or log it. */
    r = iothttp_device_get_token(dev, token, sizeof token, &token_len, &expires_at_ms);
    if (r != IOTHTTP_OK) {
        status = report(r);
        goto out;
    }
    printf("token: %zu bytes, expires at %" PRIu64 " (Unix ms)\n", token_len, expires_at_ms);
    memset(token, 0, sizeof token);
    status = 0;

out:
    iothttp_device_free(dev); /* NULL is a no-op for every *_free */
    iothttp_client_free(client);
    iothttp_config_free(cfg);
    return status;
}
