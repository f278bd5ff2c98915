/* Shared helpers of test_api.c, test_faults.c and test_args.c (see harness.h). */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- log capture -------------------------------------------------------------------- */

struct capture *g_capture;

void capture_add(struct capture *c, uint32_t level, const char *text)
{
    pthread_mutex_lock(&c->lock);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        char **lines = realloc(c->lines, cap * sizeof *lines);
        uint32_t *levels = lines ? realloc(c->levels, cap * sizeof *levels) : NULL;
        if (lines != NULL)
            c->lines = lines;
        if (levels == NULL) {
            pthread_mutex_unlock(&c->lock);
            return;
        }
        c->levels = levels;
        c->cap = cap;
    }
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    if (copy != NULL) {
        memcpy(copy, text, len + 1);
        c->lines[c->n] = copy;
        c->levels[c->n] = level;
        c->n++;
    }
    if (level <= 5)
        c->by_level[level]++;
    else
        c->bad_levels++;
    pthread_mutex_unlock(&c->lock);
}

void capture_init(struct capture *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
}

void capture_free(struct capture *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->lines[i]);
    free(c->lines);
    free(c->levels);
    pthread_mutex_destroy(&c->lock);
    memset(c, 0, sizeof *c);
}

void capture_log(void *userdata, iothttp_log_level level, const char *msg)
{
    struct capture *c = userdata;
    capture_add(c, (uint32_t)level, msg != NULL ? msg : "(NULL log line)");
}

size_t capture_count(struct capture *c, const char *needle)
{
    size_t hits = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++)
        if (strstr(c->lines[i], needle) != NULL)
            hits++;
    pthread_mutex_unlock(&c->lock);
    return hits;
}

/* ---- checks ------------------------------------------------------------------------- */

static pthread_mutex_t g_fail_lock = PTHREAD_MUTEX_INITIALIZER;
int g_case_failures;

void failf(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&g_fail_lock);
    fprintf(stderr, "    FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    g_case_failures++;
    pthread_mutex_unlock(&g_fail_lock);
}

const char *safe_str(const char *s)
{
    return s != NULL ? s : "(NULL)";
}

int check_(int held, const char *what, const char *file, int line)
{
    if (!held)
        failf(file, line, "check failed: %s (last error: \"%s\")", what,
              safe_str(iothttp_last_error()));
    return held;
}

int expect_rc(iothttp_result got, iothttp_result want, const char *expr, const char *file,
              int line)
{
    const char *err = iothttp_last_error();
    if (err != NULL && err[0] != '\0' && g_capture != NULL)
        capture_add(g_capture, 0, err);
    if (got != want) {
        failf(file, line, "%s returned %s (%u), expected %s; last error: \"%s\"", expr,
              iothttp_result_name(got), (unsigned)got, iothttp_result_name(want),
              safe_str(err));
        return 0;
    }
    if (err == NULL) {
        failf(file, line, "%s: iothttp_last_error() is NULL", expr);
        return 0;
    }
    if (want == IOTHTTP_OK && err[0] != '\0') {
        failf(file, line, "%s succeeded but iothttp_last_error() is \"%s\" (expected \"\")",
              expr, err);
        return 0;
    }
    if (want != IOTHTTP_OK && err[0] == '\0') {
        failf(file, line, "%s failed with %s but iothttp_last_error() is empty", expr,
              iothttp_result_name(got));
        return 0;
    }
    return 1;
}

int expect_arg(iothttp_result got, const char *name, const char *expr, const char *file,
               int line)
{
    if (!expect_rc(got, IOTHTTP_E_INVALID_ARG, expr, file, line))
        return 0;
    char quoted[128];
    snprintf(quoted, sizeof quoted, "'%s'", name);
    if (strstr(iothttp_last_error(), quoted) == NULL) {
        failf(file, line, "%s: last error \"%s\" does not name the argument %s", expr,
              iothttp_last_error(), quoted);
        return 0;
    }
    return 1;
}

const uint64_t UCLOUD_FIRST_ID = 349022219378098176ull;
const uint64_t ALIYUN_FIRST_ID = 892687627916247040ull;

int check_message_id(const char *id, uint64_t min, uint64_t *out, const char *file, int line)
{
    size_t len = strnlen(id, IOTHTTP_MESSAGE_ID_LEN);
    if (len == 0 || len >= IOTHTTP_MESSAGE_ID_LEN) {
        failf(file, line, "message id is empty or not NUL-terminated within %d bytes",
              IOTHTTP_MESSAGE_ID_LEN);
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (id[i] < '0' || id[i] > '9' || (i == 0 && id[i] == '0' && len > 1)) {
            failf(file, line, "message id \"%s\" is not decimal text", id);
            return 0;
        }
    }
    errno = 0;
    unsigned long long v = strtoull(id, NULL, 10);
    char back[32];
    snprintf(back, sizeof back, "%llu", v);
    if (errno != 0 || strcmp(back, id) != 0) {
        failf(file, line, "message id \"%s\" does not round-trip through uint64", id);
        return 0;
    }
    if (v < min) {
        failf(file, line, "message id %s is below %" PRIu64, id, min);
        return 0;
    }
    if (out != NULL)
        *out = (uint64_t)v;
    return 1;
}

/* ---- environment, time, memory, files, ports ---------------------------------------- */

const char *env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        failf(__FILE__, __LINE__,
              "%s is not set: run tests/c/run.sh, or start iothttp-emulator and export the "
              "IOTHTTP_EMU_* lines it prints",
              name);
        return NULL;
    }
    return v;
}

static uint64_t clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t now_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

uint64_t mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

uint64_t peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    uint64_t kib = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = strtoull(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

uint64_t time_margin_ms(void)
{
    const char *v = getenv("IOTHTTP_TEST_MARGIN_MS");
    if (v != NULL && v[0] != '\0') {
        char *end = NULL;
        unsigned long long ms = strtoull(v, &end, 10);
        if (end != v && *end == '\0')
            return (uint64_t)ms;
    }
    return 1500;
}

char *read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    while (buf != NULL) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (len < cap)
            break;
        char *bigger = realloc(buf, cap * 2 + 1);
        if (bigger == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    fclose(f);
    if (buf != NULL) {
        buf[len] = '\0';
        *len_out = len;
    }
    return buf;
}

int closed_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0
        || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

int url_port(const char *url)
{
    const char *p = strstr(url, "://");
    if (p == NULL)
        return -1;
    p = strchr(p + 3, ':');
    return p != NULL ? atoi(p + 1) : -1;
}

/* ---- emulator devices and clients --------------------------------------------------- */

struct tdev_naming g_tdev_naming = {"cFaultProd", "a1cFaultPK", "fq"};
unsigned g_serial;

void tdev_make(struct tdev *t, uint32_t cloud, const char *tag)
{
    unsigned serial = ++g_serial;
    long pid = (long)getpid();
    unsigned stamp = (unsigned)(now_ms() % 1000000u);
    memset(t, 0, sizeof *t);
    t->cloud = cloud;
    t->cloud_name = cloud == IOTHTTP_CLOUD_UCLOUD ? "ucloud" : "aliyun";
    snprintf(t->product, sizeof t->product, "%s",
             cloud == IOTHTTP_CLOUD_UCLOUD ? g_tdev_naming.ucloud_product
                                           : g_tdev_naming.aliyun_product);
    snprintf(t->device, sizeof t->device, "%s_%ld_%u_%u", tag, pid, stamp, serial);
    snprintf(t->secret, sizeof t->secret, "S3cret-%ld-%u-%u-%s", pid, stamp, serial,
             g_tdev_naming.secret_suffix);
    snprintf(t->topic, sizeof t->topic, "/%s/%s/upload/event", t->product, t->device);
}

int tdev_add(struct tdev *t, uint32_t cloud, const char *tag)
{
    tdev_make(t, cloud, tag);
    return emu_commandf("add-device %s %s %s %s", t->cloud_name, t->product, t->device,
                        t->secret);
}

int tdev_counters(const struct tdev *t, struct emu_counters *c)
{
    memset(c, 0, sizeof *c);
    return emu_counters(t->cloud_name, t->product, t->device, c);
}

void unique_name(char *buf, size_t cap, const char *tag)
{
    snprintf(buf, cap, "%s%ld_%u_%u", tag, (long)getpid(), (unsigned)(now_ms() % 1000000u),
             ++g_serial);
}

const char *endpoint_of(uint32_t cloud)
{
    return env(cloud == IOTHTTP_CLOUD_UCLOUD ? "IOTHTTP_EMU_UCLOUD_URL"
                                             : "IOTHTTP_EMU_ALIYUN_URL");
}

iothttp_config *emu_config(uint32_t connect_ms, uint32_t io_ms, uint32_t attempts,
                           uint32_t base_ms, uint32_t max_ms, struct capture *log,
                           uint32_t log_level)
{
    const char *ca = env("IOTHTTP_EMU_CA");
    if (ca == NULL)
        return NULL;
    iothttp_config *cfg = iothttp_config_new();
    if (!CHECK(cfg != NULL))
        return NULL;
    if (!EXPECT(iothttp_config_add_ca_file(cfg, ca), IOTHTTP_OK)
        || !EXPECT(iothttp_config_set_retries(cfg, attempts, base_ms, max_ms), IOTHTTP_OK)
        || !EXPECT(iothttp_config_set_timeouts(cfg, connect_ms, io_ms), IOTHTTP_OK)
        || (log != NULL
            && !EXPECT(iothttp_config_set_log(cfg, capture_log, log, log_level), IOTHTTP_OK))) {
        iothttp_config_free(cfg);
        return NULL;
    }
    return cfg;
}

iothttp_client *emu_client(uint32_t connect_ms, uint32_t io_ms, uint32_t attempts,
                           uint32_t base_ms, uint32_t max_ms, struct capture *log,
                           uint32_t log_level)
{
    iothttp_config *cfg =
        emu_config(connect_ms, io_ms, attempts, base_ms, max_ms, log, log_level);
    iothttp_client *client = NULL;
    if (cfg == NULL)
        return NULL;
    if (!EXPECT(iothttp_client_new(cfg, &client), IOTHTTP_OK))
        client = NULL;
    iothttp_config_free(cfg);
    return client;
}

iothttp_device *emu_device(iothttp_client *client, const struct tdev *t)
{
    iothttp_device *dev = NULL;
    const char *url = endpoint_of(t->cloud);
    if (url == NULL || client == NULL)
        return NULL;
    if (!EXPECT(iothttp_device_new(client, t->cloud, t->product, t->device, t->secret, &dev),
                IOTHTTP_OK))
        return NULL;
    if (!CHECK(dev != NULL) || !EXPECT(iothttp_device_set_endpoint(dev, url), IOTHTTP_OK)) {
        iothttp_device_free(dev);
        return NULL;
    }
    return dev;
}

const uint8_t PAYLOAD[] = "{\"temperature\":21.5}";
const size_t PAYLOAD_LEN = sizeof PAYLOAD - 1;

iothttp_result publish(iothttp_device *dev, const struct tdev *t, char *id, size_t cap)
{
    return iothttp_device_publish(dev, t->topic, PAYLOAD, PAYLOAD_LEN, id, cap);
}

uint64_t client_requests(iothttp_client *client)
{
    uint64_t requests = 0;
    iothttp_client_stats(client, NULL, &requests);
    return requests;
}

/* ---- upload helpers ----------------------------------------------------------------- */

const char BIG_MD5[] = "c7f7b6ffdcc73498d1a1eccdb758a80b";
const char BIG_SHA256[] = "f35363aa55a73956f07da3da1d401fe3c4cd90e57fcc826b7d2818a01757ae83";
const char SMALL_MD5[] = "01ae29f8a789a25458ed8a693fe80de3";
const char SMALL_SHA256[] = "eea840a45c1c7f5e8cb966c1bca091324894272a22276223f16761c01ca88915";

void gen_data(uint8_t *buf, size_t n, uint32_t seed)
{
    uint32_t x = (uint32_t)(seed * 2654435761u) | 1u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
}

int cb_read(void *userdata, uint8_t *buf, size_t cap, size_t *out_len)
{
    struct cb_src *c = userdata;
    c->reads++;
    if (c->pos >= c->fail_at)
        return -5;
    size_t n = c->len - c->pos;
    if (n > cap)
        n = cap;
    if (n > 7000)
        n = 7000; /* short reads are allowed */
    memcpy(buf, c->data + c->pos, n);
    c->pos += n;
    *out_len = n;
    return 0;
}

int cb_rewind(void *userdata)
{
    struct cb_src *c = userdata;
    c->rewinds++;
    c->pos = 0;
    return 0;
}

void progress_init(struct progress *p)
{
    memset(p, 0, sizeof *p);
    p->cancel_at = UINT64_MAX;
}

int on_progress(void *userdata, uint64_t sent, uint64_t total)
{
    struct progress *p = userdata;
    if (p->calls == 0) {
        p->first_sent = sent;
        p->first_total = total;
    } else if (sent < p->last_sent) {
        p->decreasing = 1;
    }
    p->calls++;
    p->last_sent = sent;
    p->last_total = total;
    return sent >= p->cancel_at ? 1 : 0;
}

int emu_object(const char *store, const char *key, struct stored *o)
{
    char command[1024];
    memset(o, 0, sizeof *o);
    snprintf(command, sizeof command, "object %s %s", store, key);
    if (emu_command(command, o->json, sizeof o->json) != 0)
        return -1;
    json_u64_after(o->json, NULL, "size", &o->size);
    json_str_field(o->json, "md5", o->md5, sizeof o->md5);
    json_str_field(o->json, "sha256", o->sha256, sizeof o->sha256);
    return 0;
}

int check_stored(const char *store, const char *key, uint64_t size, const char *md5,
                 const char *sha256, const char *file, int line)
{
    struct stored o;
    if (emu_object(store, key, &o) != 0) {
        failf(file, line, "no object %s %s in the emulator: %s", store, key, o.json);
        return 0;
    }
    if (o.size != size || strcmp(o.md5, md5) != 0 || strcmp(o.sha256, sha256) != 0) {
        failf(file, line, "object %s %s: size %" PRIu64 " md5 %s sha256 %s; expected %" PRIu64
              " %s %s", store, key, o.size, o.md5, o.sha256, size, md5, sha256);
        return 0;
    }
    return 1;
}

/* ---- the runner --------------------------------------------------------------------- */

static int run_one(const struct test_table *t, size_t i)
{
    g_case_failures = 0;
    uint64_t started = mono_ms();
    t->run(i);
    g_capture = NULL; /* a case that stopped early may have left it set */
    uint64_t took = mono_ms() - started;
    if (t->report != NULL)
        t->report(i);
    if (g_case_failures == 0)
        printf("ok    %-*s (%" PRIu64 " ms)\n", t->width, t->name(i), took);
    else
        printf("FAIL  %-*s (%d failed checks, %" PRIu64 " ms)\n", t->width, t->name(i),
               g_case_failures, took);
    fflush(stdout);
    return g_case_failures == 0;
}

int test_main(const struct test_table *t, int argc, char **argv)
{
    size_t run = 0, passed = 0;
    setvbuf(stderr, NULL, _IONBF, 0);
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < t->count; i++) {
            if (t->list != NULL)
                t->list(i);
            else
                printf("%s\n", t->name(i));
        }
        return 0;
    }
    t->banner();
    if (argc == 1) {
        for (size_t i = 0; i < t->count; i++, run++)
            passed += (size_t)run_one(t, i);
    } else {
        for (int a = 1; a < argc; a++) {
            size_t i = 0;
            while (i < t->count && strcmp(t->name(i), argv[a]) != 0)
                i++;
            if (i == t->count) {
                fprintf(stderr, "%s: no %s named '%s' (try --list)\n", t->program, t->noun,
                        argv[a]);
                return 2;
            }
            passed += (size_t)run_one(t, i);
            run++;
        }
    }
    printf("%zu/%zu %ss passed\n", passed, run, t->noun);
    return passed == run ? 0 : 1;
}
