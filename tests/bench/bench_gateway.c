/*
 * Gateway scale: DEVICES device handles on one client in one process.
 *
 *   bench_gateway <ucloud-base-url> <ca-file> <control host:port> [devices] [threads]
 *
 * Reports the heap per idle device handle (glibc mallinfo2 before and after creating the
 * handles), then publishes once per device from THREADS threads through the client's shared
 * pool (first round: each device authenticates lazily; second round: cached tokens), with
 * publishes/s and the TLS handshakes the server saw.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "iothttp.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int ctl_fd = -1;

static int ctl_open(const char *hostport) {
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
    ctl_fd = socket(AF_INET, SOCK_STREAM, 0);
    return connect(ctl_fd, (struct sockaddr *)&sa, sizeof sa);
}

/* One command; returns the number after "OK " (or 0). */
static long long ctl(const char *cmd) {
    char line[512];
    int n = snprintf(line, sizeof line, "%s\n", cmd);
    if (write(ctl_fd, line, (size_t)n) != n) return -1;
    char reply[4096];
    size_t got = 0;
    while (got < sizeof reply - 1) {
        ssize_t r = read(ctl_fd, reply + got, 1);
        if (r <= 0) break;
        got++;
        if (reply[got - 1] == '\n') break;
    }
    reply[got] = 0;
    if (strncmp(reply, "OK", 2) != 0) {
        fprintf(stderr, "emulator: %s -> %s", cmd, reply);
        exit(1);
    }
    return atoll(reply + 3);
}

struct job {
    iothttp_device **devs;
    int from, to;
    int failures;
};

static void *publish_all(void *arg) {
    struct job *j = arg;
    char topic[128], id[IOTHTTP_MESSAGE_ID_LEN];
    const uint8_t payload[] = "{\"temp\":21.5,\"hum\":40}";
    for (int i = j->from; i < j->to; i++) {
        snprintf(topic, sizeof topic, "/gwProduct/gw%05d/upload/event", i);
        if (iothttp_device_publish(j->devs[i], topic, payload, sizeof payload - 1, id, sizeof id) != IOTHTTP_OK) {
            if (j->failures++ < 3) fprintf(stderr, "device %d: %s\n", i, iothttp_last_error());
        }
    }
    return NULL;
}

static double round_of(iothttp_device **devs, int n, int threads, int *failures) {
    pthread_t t[64];
    struct job jobs[64];
    double t0 = now_s();
    for (int k = 0; k < threads; k++) {
        jobs[k] = (struct job){devs, n * k / threads, n * (k + 1) / threads, 0};
        pthread_create(&t[k], NULL, publish_all, &jobs[k]);
    }
    *failures = 0;
    for (int k = 0; k < threads; k++) {
        pthread_join(t[k], NULL);
        *failures += jobs[k].failures;
    }
    return now_s() - t0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s <ucloud-base-url> <ca-file> <control host:port> [devices] [threads]\n", argv[0]);
        return 2;
    }
    const char *base = argv[1], *ca = argv[2];
    int n = argc > 4 ? atoi(argv[4]) : 10000;
    int threads = argc > 5 ? atoi(argv[5]) : 8;
    if (threads < 1 || threads > 64 || n < threads) return 2;
    if (ctl_open(argv[3]) != 0) return 1;

    char name[64], cmd[256];
    for (int i = 0; i < n; i++) {
        snprintf(cmd, sizeof cmd, "add-device ucloud gwProduct gw%05d secret-%05d", i, i);
        ctl(cmd);
    }
    iothttp_config *cfg = iothttp_config_new();
    iothttp_client *client = NULL;
    if (iothttp_config_add_ca_file(cfg, ca) != IOTHTTP_OK || iothttp_client_new(cfg, &client) != IOTHTTP_OK) {
        fprintf(stderr, "setup: %s\n", iothttp_last_error());
        return 1;
    }
    iothttp_config_free(cfg);
    iothttp_device **devs = calloc((size_t)n, sizeof *devs);

    malloc_trim(0);
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < n; i++) {
        char secret[32];
        snprintf(name, sizeof name, "gw%05d", i);
        snprintf(secret, sizeof secret, "secret-%05d", i);
        if (iothttp_device_new(client, IOTHTTP_CLOUD_UCLOUD, "gwProduct", name, secret, &devs[i]) != IOTHTTP_OK ||
            iothttp_device_set_endpoint(devs[i], base) != IOTHTTP_OK) {
            fprintf(stderr, "device %d: %s\n", i, iothttp_last_error());
            return 1;
        }
    }
    struct mallinfo2 after = mallinfo2();
    double per_idle = (double)(after.uordblks - before.uordblks) / n;

    long long hs0 = ctl("handshakes");
    int failures = 0;
    double t1 = round_of(devs, n, threads, &failures);
    int failures1 = failures;
    struct mallinfo2 authed = mallinfo2();
    double per_authed = (double)(authed.uordblks - before.uordblks) / n;
    double t2 = round_of(devs, n, threads, &failures);
    long long hs = ctl("handshakes") - hs0;
    uint64_t client_hs = 0, requests = 0;
    iothttp_client_stats(client, &client_hs, &requests);

    printf("| devices | threads | heap per idle handle | heap per handle with token | round 1 (auth + publish) | round 2 (publish) | TLS handshakes | failures |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    printf("| %d | %d | %.0f B | %.0f B | %.0f publishes/s (%.2f s) | %.0f publishes/s (%.2f s) | %lld server / %llu client | %d |\n",
           n, threads, per_idle, per_authed, n / t1, t1, n / t2, t2, hs, (unsigned long long)client_hs,
           failures1 + failures);
    for (int i = 0; i < n; i++) iothttp_device_free(devs[i]);
    free(devs);
    iothttp_client_free(client);
    close(ctl_fd);
    return failures1 + failures ? 1 : 0;
}
