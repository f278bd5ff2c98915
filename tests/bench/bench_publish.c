/*
 * Publish benchmark: N publishes of SIZE bytes over one keep-alive TLS connection to the
 * emulator, with iothttp and with a libcurl loop doing the same requests, in one run.
 *
 *   bench_publish <ucloud-base-url> <ca-file> <control host:port> [count] [size]
 *
 * The emulator must know device benchProduct/benchDevice (secret benchSecret) on UCloud.
 * curl publishes with the token iothttp obtained, so both loops do the same work per
 * message: one POST /topic/... with a Password header, one JSON reply checked for success.
 * TLS handshakes are counted by the server (emulator) and by each client.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "iothttp.h"

#define PRODUCT "benchProduct"
#define DEVICE "benchDevice"
#define SECRET "benchSecret"
#define TOPIC "/" PRODUCT "/" DEVICE "/upload/bench"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One command on the emulator's control port; returns the number after "OK ". */
static long long emu(const char *hostport, const char *cmd) {
    char host[64];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof host) return -1;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) return -1;
    char line[512];
    int n = snprintf(line, sizeof line, "%s\n", cmd);
    if (write(fd, line, (size_t)n) != n) { close(fd); return -1; }
    char reply[512];
    size_t got = 0;
    while (got < sizeof reply - 1) {
        ssize_t r = read(fd, reply + got, sizeof reply - 1 - got);
        if (r <= 0) break;
        got += (size_t)r;
        if (memchr(reply, '\n', got)) break;
    }
    close(fd);
    reply[got] = 0;
    if (strncmp(reply, "OK ", 3) != 0) return -1;
    return atoll(reply + 3);
}

struct sink { char buf[4096]; size_t len; };

static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
    struct sink *s = userdata;
    size_t len = size * n;
    if (s->len + len < sizeof s->buf) {
        memcpy(s->buf + s->len, data, len);
        s->len += len;
    }
    return len;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s <ucloud-base-url> <ca-file> <control host:port> [count] [size]\n", argv[0]);
        return 2;
    }
    const char *base = argv[1], *ca = argv[2], *ctl = argv[3];
    int count = argc > 4 ? atoi(argv[4]) : 10000;
    size_t size = argc > 5 ? (size_t)atol(argv[5]) : 1024;
    unsigned char *payload = malloc(size);
    for (size_t i = 0; i < size; i++) payload[i] = (unsigned char)('a' + i % 26);

    if (emu(ctl, "add-device ucloud " PRODUCT " " DEVICE " " SECRET) < -1) return 1;

    /* --- iothttp ------------------------------------------------------------------ */
    iothttp_config *cfg = iothttp_config_new();
    iothttp_client *client = NULL;
    iothttp_device *dev = NULL;
    if (iothttp_config_add_ca_file(cfg, ca) != IOTHTTP_OK ||
        iothttp_client_new(cfg, &client) != IOTHTTP_OK ||
        iothttp_device_new(client, IOTHTTP_CLOUD_UCLOUD, PRODUCT, DEVICE, SECRET, &dev) != IOTHTTP_OK ||
        iothttp_device_set_endpoint(dev, base) != IOTHTTP_OK ||
        iothttp_device_auth(dev) != IOTHTTP_OK) {
        fprintf(stderr, "setup: %s\n", iothttp_last_error());
        return 1;
    }
    iothttp_config_free(cfg);
    /* libcurl: the same requests with the token iothttp obtained. */
    char token[4096];
    size_t token_len = 0;
    if (iothttp_device_get_token(dev, token, sizeof token, &token_len, NULL) != IOTHTTP_OK) {
        fprintf(stderr, "token: %s\n", iothttp_last_error());
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
    char url[1024], password[4200];
    snprintf(url, sizeof url, "%s/topic%s", base, TOPIC);
    snprintf(password, sizeof password, "Password: %s", token);
    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
    headers = curl_slist_append(headers, password);
    headers = curl_slist_append(headers, "Expect:");
    struct sink sink;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)payload);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);

    /* Alternate rounds so that machine noise hits both clients alike. */
    const int rounds = 10;
    double t_iothttp = 0, t_curl = 0;
    long long hs_iothttp = 0, hs_curl = 0;
    long curl_connects = 0;
    char id[IOTHTTP_MESSAGE_ID_LEN];
    for (int r = 0; r < rounds; r++) {
        int n = count / rounds + (r < count % rounds ? 1 : 0);
        long long hs0 = emu(ctl, "handshakes");
        double t0 = now_s();
        for (int i = 0; i < n; i++) {
            if (iothttp_device_publish(dev, TOPIC, payload, size, id, sizeof id) != IOTHTTP_OK) {
                fprintf(stderr, "publish: %s\n", iothttp_last_error());
                return 1;
            }
        }
        t_iothttp += now_s() - t0;
        hs_iothttp += emu(ctl, "handshakes") - hs0;

        hs0 = emu(ctl, "handshakes");
        t0 = now_s();
        for (int i = 0; i < n; i++) {
            sink.len = 0;
            CURLcode rc = curl_easy_perform(curl);
            long status = 0;
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
            sink.buf[sink.len] = 0;
            if (rc != CURLE_OK || status != 200 || !strstr(sink.buf, "\"RetCode\":0")) {
                fprintf(stderr, "curl publish: %s status %ld %s\n", curl_easy_strerror(rc), status, sink.buf);
                return 1;
            }
            long c = 0;
            curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &c);
            curl_connects += c;
        }
        t_curl += now_s() - t0;
        hs_curl += emu(ctl, "handshakes") - hs0;
    }
    uint64_t client_hs = 0;
    iothttp_client_stats(client, &client_hs, NULL);

    printf("| client | publishes | payload | seconds | messages/s | TLS handshakes (server) | connects (client) |\n");
    printf("|---|---|---|---|---|---|---|\n");
    printf("| iothttp %s | %d | %zu B | %.3f | %.0f | %lld | %llu (1 at auth, before the loop) |\n",
           iothttp_version(), count, size, t_iothttp, count / t_iothttp, hs_iothttp,
           (unsigned long long)client_hs);
    printf("| libcurl %s | %d | %zu B | %.3f | %.0f | %lld | %ld |\n", curl_version_info(CURLVERSION_NOW)->version,
           count, size, t_curl, count / t_curl, hs_curl, curl_connects);
    printf("\niothttp / curl throughput ratio: %.2f (%d alternating rounds)\n", t_curl / t_iothttp, rounds);

    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    iothttp_device_free(dev);
    iothttp_client_free(client);
    free(payload);
    return 0;
}
