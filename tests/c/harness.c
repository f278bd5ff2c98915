/* Shared helpers of test_faults.c and test_args.c (see harness.h). */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* ---- environment, time, memory ------------------------------------------------------ */

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

uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
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

/* ---- emulator devices and clients --------------------------------------------------- */

static unsigned g_serial;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void tdev_make(struct tdev *t, uint32_t cloud, const char *tag)
{
    unsigned serial = ++g_serial;
    long pid = (long)getpid();
    unsigned stamp = (unsigned)(now_ms() % 1000000u);
    memset(t, 0, sizeof *t);
    t->cloud = cloud;
    t->cloud_name = cloud == IOTHTTP_CLOUD_UCLOUD ? "ucloud" : "aliyun";
    snprintf(t->product, sizeof t->product, "%s",
             cloud == IOTHTTP_CLOUD_UCLOUD ? "cFaultProd" : "a1cFaultPK");
    snprintf(t->device, sizeof t->device, "%s_%ld_%u_%u", tag, pid, stamp, serial);
    snprintf(t->secret, sizeof t->secret, "S3cret-%ld-%u-%u-fq", pid, stamp, serial);
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
                           uint32_t base_ms, uint32_t max_ms)
{
    const char *ca = env("IOTHTTP_EMU_CA");
    if (ca == NULL)
        return NULL;
    iothttp_config *cfg = iothttp_config_new();
    if (!CHECK(cfg != NULL))
        return NULL;
    if (!EXPECT(iothttp_config_add_ca_file(cfg, ca), IOTHTTP_OK)
        || !EXPECT(iothttp_config_set_retries(cfg, attempts, base_ms, max_ms), IOTHTTP_OK)
        || !EXPECT(iothttp_config_set_timeouts(cfg, connect_ms, io_ms), IOTHTTP_OK)) {
        iothttp_config_free(cfg);
        return NULL;
    }
    return cfg;
}

iothttp_client *emu_client(uint32_t connect_ms, uint32_t io_ms, uint32_t attempts,
                           uint32_t base_ms, uint32_t max_ms)
{
    iothttp_config *cfg = emu_config(connect_ms, io_ms, attempts, base_ms, max_ms);
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

/* ---- upload helpers ----------------------------------------------------------------- */

const char BIG_MD5[] = "c7f7b6ffdcc73498d1a1eccdb758a80b";

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

static int json_str_field(const char *json, const char *key, char *out, size_t cap)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *p = strstr(json, pattern);
    if (p == NULL)
        return -1;
    p += strlen(pattern);
    const char *end = strchr(p, '"');
    if (end == NULL || (size_t)(end - p) >= cap)
        return -1;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return 0;
}

int json_u64_after(const char *json, const char *after, const char *key, uint64_t *out)
{
    char pattern[96];
    const char *p = json;
    if (after != NULL) {
        p = strstr(json, after);
        if (p == NULL)
            return -1;
    }
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    p = strstr(p, pattern);
    if (p == NULL)
        return -1;
    p += strlen(pattern);
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (end == p || errno != 0)
        return -1;
    *out = (uint64_t)v;
    return 0;
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
    return 0;
}
