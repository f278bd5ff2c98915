/*
 * Publish benchmark: N publishes of SIZE bytes over one keep-alive TLS connection to the
 * emulator, with iothttp and with a libcurl loop doing the same requests, in one run.
 *
 *   bench_publish <ucloud-base-url> <ca-file> <control host:port | -> [count] [size]
 *
 * The emulator must know device benchProduct/benchDevice (secret benchSecret) on UCloud.
 * With `-` for the control address the server is not the emulator (tests/bench/run.sh nginx:
 * canned replies): nothing is asked of it, and the server's handshake counts read "-".
 *
 *   bench_publish <ucloud-base-url> <ca-file> - <count> <size> iothttp|curl
 *
 * One client only, all publishes in one loop, for a driver that alternates processes and
 * measures each one's peak RSS (tests/bench/nginx.py). The curl side then takes the token
 * from $BENCH_TOKEN (nginx's canned one) and never loads iothttp. Prints
 * "seconds=<loop wall> cpu=<loop user+sys> connects=<client connects>". Built with
 * -DBENCH_NO_CURL it has no libcurl at all (only `iothttp`), so that libcurl and its
 * libraries, loaded at start, do not count in iothttp's peak RSS.
 * curl publishes with the token iothttp obtained, so both loops do the same work per
 * message: one POST /topic/... with a Password header, one JSON reply checked for success.
 * TLS handshakes are counted by the server (emulator) and by each client.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#ifndef BENCH_NO_CURL
#include <curl/curl.h>
#endif
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
    if (strcmp(hostport, "-") == 0) return 0;
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

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

struct sink { char buf[4096]; size_t len; };

#ifndef BENCH_NO_CURL
static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
    struct sink *s = userdata;
    size_t len = size * n;
    if (s->len + len < sizeof s->buf) {
        memcpy(s->buf + s->len, data, len);
        s->len += len;
    }
    return len;
}
#endif

#ifndef BENCH_NO_CURL
static CURL *curl;
static struct curl_slist *curl_headers;
static struct sink sink;
static char publish_url[1024], password_header[4200];

static void curl_setup(const char *base, const char *ca, const char *token,
                       const unsigned char *payload, size_t size) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl = curl_easy_init();
    snprintf(publish_url, sizeof publish_url, "%s/topic%s", base, TOPIC);
    snprintf(password_header, sizeof password_header, "Password: %s", token);
    curl_headers = curl_slist_append(curl_headers, "Content-Type: application/octet-stream");
    curl_headers = curl_slist_append(curl_headers, password_header);
    curl_headers = curl_slist_append(curl_headers, "Expect:");
    curl_easy_setopt(curl, CURLOPT_URL, publish_url);
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, curl_headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)payload);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
}

/* n publishes; adds the connects made; 0 on success. */
static int curl_publishes(int n, long *connects) {
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
        *connects += c;
    }
    return 0;
}

static const char *curl_version_text(void) { return curl_version_info(CURLVERSION_NOW)->version; }

static void curl_cleanup(void) {
    curl_slist_free_all(curl_headers);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
}
#else
static void curl_setup(const char *base, const char *ca, const char *token,
                       const unsigned char *payload, size_t size) {
    (void)base, (void)ca, (void)token, (void)payload, (void)size;
}
static int curl_publishes(int n, long *connects) { (void)n, (void)connects; return 1; }
static const char *curl_version_text(void) { return "-"; }
static void curl_cleanup(void) {}
#endif

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s <ucloud-base-url> <ca-file> <control host:port | -> [count] [size] [iothttp|curl]\n", argv[0]);
        return 2;
    }
    const char *base = argv[1], *ca = argv[2], *ctl = argv[3];
    int count = argc > 4 ? atoi(argv[4]) : 10000;
    size_t size = argc > 5 ? (size_t)atol(argv[5]) : 1024;
    const char *only = argc > 6 ? argv[6] : NULL;
    int use_iothttp = !only || strcmp(only, "iothttp") == 0;
    int use_curl = !only || strcmp(only, "curl") == 0;
    if (!use_iothttp && !use_curl) {
        fprintf(stderr, "unknown client %s\n", only);
        return 2;
    }
    unsigned char *payload = malloc(size);
    for (size_t i = 0; i < size; i++) payload[i] = (unsigned char)('a' + i % 26);

    if (emu(ctl, "add-device ucloud " PRODUCT " " DEVICE " " SECRET) < -1) return 1;

    /* --- iothttp ------------------------------------------------------------------ */
    iothttp_client *client = NULL;
    iothttp_device *dev = NULL;
    char token[4096];
    size_t token_len = 0;
    if (use_iothttp) {
        iothttp_config *cfg = iothttp_config_new();
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
        if (iothttp_device_get_token(dev, token, sizeof token, &token_len, NULL) != IOTHTTP_OK) {
            fprintf(stderr, "token: %s\n", iothttp_last_error());
            return 1;
        }
    } else {
        const char *t = getenv("BENCH_TOKEN");
        if (!t || !*t || strlen(t) >= sizeof token) {
            fprintf(stderr, "curl alone needs the token in BENCH_TOKEN\n");
            return 2;
        }
        strcpy(token, t);
    }

#ifdef BENCH_NO_CURL
    if (use_curl) {
        fprintf(stderr, "built without libcurl (BENCH_NO_CURL): iothttp only\n");
        return 2;
    }
#endif
    if (use_curl) curl_setup(base, ca, token, payload, size);

    /* Alternate rounds so that machine noise hits both clients alike (one round when only
     * one client runs: the driver alternates processes). */
    const int rounds = only ? 1 : 10;
    double t_iothttp = 0, t_curl = 0, c_iothttp = 0, c_curl = 0;
    long long hs_iothttp = 0, hs_curl = 0;
    long curl_connects = 0;
    char id[IOTHTTP_MESSAGE_ID_LEN];
    for (int r = 0; r < rounds; r++) {
        int n = count / rounds + (r < count % rounds ? 1 : 0);
        if (use_iothttp) {
            long long hs0 = emu(ctl, "handshakes");
            double c0 = cpu_s(), t0 = now_s();
            for (int i = 0; i < n; i++) {
                if (iothttp_device_publish(dev, TOPIC, payload, size, id, sizeof id) != IOTHTTP_OK) {
                    fprintf(stderr, "publish: %s\n", iothttp_last_error());
                    return 1;
                }
            }
            t_iothttp += now_s() - t0;
            c_iothttp += cpu_s() - c0;
            hs_iothttp += emu(ctl, "handshakes") - hs0;
        }
        if (use_curl) {
            long long hs0 = emu(ctl, "handshakes");
            double c0 = cpu_s(), t0 = now_s();
            if (curl_publishes(n, &curl_connects) != 0) return 1;
            t_curl += now_s() - t0;
            c_curl += cpu_s() - c0;
            hs_curl += emu(ctl, "handshakes") - hs0;
        }
    }
    uint64_t client_hs = 0;
    if (use_iothttp) iothttp_client_stats(client, &client_hs, NULL);

    if (only && use_iothttp) {
        printf("seconds=%.6f cpu=%.6f connects=%llu\n", t_iothttp, c_iothttp,
               (unsigned long long)client_hs);
    } else if (only) {
        printf("seconds=%.6f cpu=%.6f connects=%ld\n", t_curl, c_curl, curl_connects);
    } else {
        char hs_i[32] = "-", hs_c[32] = "-";
        if (strcmp(ctl, "-") != 0) {
            snprintf(hs_i, sizeof hs_i, "%lld", hs_iothttp);
            snprintf(hs_c, sizeof hs_c, "%lld", hs_curl);
        }
        printf("| client | publishes | payload | seconds | messages/s | TLS handshakes (server) | connects (client) |\n");
        printf("|---|---|---|---|---|---|---|\n");
        printf("| iothttp %s | %d | %zu B | %.3f | %.0f | %s | %llu (1 at auth, before the loop) |\n",
               iothttp_version(), count, size, t_iothttp, count / t_iothttp, hs_i,
               (unsigned long long)client_hs);
        printf("| libcurl %s | %d | %zu B | %.3f | %.0f | %s | %ld |\n", curl_version_text(),
               count, size, t_curl, count / t_curl, hs_c, curl_connects);
        printf("\niothttp / curl throughput ratio: %.2f (%d alternating rounds)\n", t_curl / t_iothttp, rounds);
    }

    if (use_curl) curl_cleanup();
    iothttp_device_free(dev);
    iothttp_client_free(client);
    free(payload);
    return 0;
}
