/*
 * test_faults: the fault matrix (tests/faults.rs) from C. Every fault the network and the
 * cloud can throw, injected by the emulator; each row ends in success (with a
 * server-verified digest for uploads) or in the documented error within the configured
 * bound, with nothing completed on the server that should not be.
 *
 *   test_faults              run every row
 *   test_faults <row>...     run the named rows
 *   test_faults --list       print the row names
 *
 * Each row prints one line "outcome <row> <result name> <elapsed ms>" (the elapsed time of
 * the faulty call), so the log is the written outcome table. Rows register their own
 * devices and accounts. Rows marked SERIAL change listener-wide state of the emulator
 * (accept-no-tls, upload-urls, url-ttl, a rule for the subject "any"): CMake gives them
 * RUN_SERIAL.
 *
 * Timing: calls must end within the configured bound plus IOTHTTP_TEST_MARGIN_MS (default
 * 1500 ms; the memcheck tests set 5000). Under valgrind a TLS handshake alone can take more
 * than 1.5 s of CPU on a loaded machine, so the memcheck tests also set IOTHTTP_TEST_SLOW=1:
 * the connect timeout becomes 8 s (the I/O timeout, which the hang/trickle/stall rows measure,
 * stays 700 ms). Result codes are the same either way.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iothttp.h>

#include "emu.h"
#include "harness.h"

/* The client of every row unless it says otherwise. */
#define CONNECT_MS connect_ms()
#define IO_MS 700u
#define ATTEMPTS 3u
#define BASE_MS 5u
#define MAX_MS 20u

/* Peak RSS may grow by this much across a call that receives a 10 MiB reply. */
#define HUGE_RSS_LIMIT_KIB 4096u

/* Default url-ttl of OSS policies in the emulator (DEFAULT_OSS_TTL_SECS), restored after
 * the rows that change it. */
#define OSS_TTL_DEFAULT 60

struct row;
typedef void (*row_fn)(const struct row *);

struct row {
    const char *name;
    bool serial;
    row_fn fn;
    uint32_t cloud;
    const char *arg;     /* fault code, reply kind, drop point, URL variable, ... */
    int count;           /* how many requests the rule answers */
    iothttp_result want; /* the documented outcome */
    int64_t cloud_code;  /* iothttp_last_cloud_code() after a failure */
    unsigned status;     /* iothttp_last_http_status() after a failure (0: not checked) */
    int processed;       /* the server processed the request (publish recorded, file stored) */
};

static uint32_t connect_ms(void)
{
    const char *slow = getenv("IOTHTTP_TEST_SLOW");
    return slow != NULL && strcmp(slow, "1") == 0 ? 8000u : 1500u;
}

/* What a row observed: printed as its outcome line. */
static iothttp_result g_rc;
static uint64_t g_elapsed;
static bool g_observed;

static void observe(iothttp_result rc, uint64_t started)
{
    g_rc = rc;
    g_elapsed = mono_ms() - started;
    g_observed = true;
}

/* Not beyond `bound_ms` plus the margin. */
static int check_within(uint64_t took, uint64_t bound_ms, const char *what)
{
    uint64_t limit = bound_ms + time_margin_ms();
    if (took >= limit) {
        failf(__FILE__, __LINE__, "%s took %" PRIu64 " ms, beyond the bound %" PRIu64
              " ms + margin %" PRIu64 " ms", what, took, bound_ms, time_margin_ms());
        return 0;
    }
    return 1;
}

static iothttp_client *fast_client(void)
{
    return emu_client(CONNECT_MS, IO_MS, ATTEMPTS, BASE_MS, MAX_MS, NULL, 0);
}

/* A registered device, authenticated (a pooled connection and a token). */
static iothttp_device *authed(iothttp_client *client, struct tdev *t, uint32_t cloud,
                              const char *tag)
{
    if (tdev_add(t, cloud, tag) != 0)
        return NULL;
    iothttp_device *dev = emu_device(client, t);
    if (dev != NULL && !EXPECT(iothttp_device_auth(dev), IOTHTTP_OK)) {
        iothttp_device_free(dev);
        dev = NULL;
    }
    return dev;
}

/* The device still works: a publish succeeds. */
static void still_works(iothttp_device *dev, const struct tdev *t)
{
    char id[IOTHTTP_MESSAGE_ID_LEN];
    if (!EXPECT(publish(dev, t, id, sizeof id), IOTHTTP_OK))
        fprintf(stderr, "      (the device does not work after the fault)\n");
}

/* ---------------------------------------------------------------------------------------
 * Bursts of "unavailable" / "too many requests" / 503 against the retry budget (3 attempts)
 * ------------------------------------------------------------------------------------- */

static void row_burst(const struct row *r)
{
    struct tdev t;
    iothttp_client *client = fast_client();
    REQUIRE(client != NULL);
    iothttp_device *dev = authed(client, &t, r->cloud, "burst");
    if (dev == NULL) {
        iothttp_client_free(client);
        REQUIRE(dev != NULL);
    }
    struct emu_counters c0, c1;
    char id[IOTHTTP_MESSAGE_ID_LEN];
    if (CHECK(tdev_counters(&t, &c0) == 0)
        && CHECK(emu_commandf("fail publish %s %s %s %s %d", t.cloud_name, t.product, t.device,
                              r->arg, r->count) == 0)) {
        uint64_t started = mono_ms();
        iothttp_result rc = publish(dev, &t, id, sizeof id);
        observe(rc, started);
        int64_t code = iothttp_last_cloud_code();
        unsigned status = iothttp_last_http_status();
        EXPECT(rc, r->want);
        if (r->want != IOTHTTP_OK) {
            if (!CHECK(code == r->cloud_code))
                fprintf(stderr, "      cloud code %" PRId64 ", expected %" PRId64 "\n", code,
                        r->cloud_code);
            if (!CHECK(status == r->status))
                fprintf(stderr, "      HTTP status %u, expected %u\n", status, r->status);
        }
        /* The budget is 3 attempts: a burst of 2 uses all 3, a burst of 3 too. */
        unsigned used = (unsigned)(r->count + 1 < (int)ATTEMPTS ? r->count + 1 : (int)ATTEMPTS);
        if (CHECK(tdev_counters(&t, &c1) == 0)) {
            if (!CHECK(c1.publish_requests - c0.publish_requests == used))
                fprintf(stderr, "      the emulator saw %" PRIu64
                        " publish requests, expected %u\n",
                        c1.publish_requests - c0.publish_requests, used);
            CHECK(c1.publishes - c0.publishes == (r->want == IOTHTTP_OK ? 1u : 0u));
            CHECK(c1.auth_requests == c0.auth_requests);
        }
    }
    iothttp_device_free(dev);
    iothttp_client_free(client);
}

/* ---------------------------------------------------------------------------------------
 * Token expired mid-session while 4 threads publish on one device
 * ------------------------------------------------------------------------------------- */

#define EXPIRY_THREADS 4
#define EXPIRY_EACH 8

struct expiry_worker {
    iothttp_device *dev;
    const struct tdev *t;
    pthread_barrier_t *half, *resume;
    int failures;
    iothttp_result first_error;
    char error_text[256];
};

static void *expiry_worker(void *arg)
{
    struct expiry_worker *w = arg;
    for (int i = 0; i < EXPIRY_EACH; i++) {
        if (i == EXPIRY_EACH / 2) {
            pthread_barrier_wait(w->half);
            pthread_barrier_wait(w->resume);
        }
        char id[IOTHTTP_MESSAGE_ID_LEN];
        iothttp_result rc = publish(w->dev, w->t, id, sizeof id);
        if (rc != IOTHTTP_OK && w->failures++ == 0) {
            w->first_error = rc;
            snprintf(w->error_text, sizeof w->error_text, "%s", safe_str(iothttp_last_error()));
        }
    }
    return NULL;
}

static void row_expiry_threads(const struct row *r)
{
    struct tdev t;
    iothttp_client *client = fast_client();
    REQUIRE(client != NULL);
    iothttp_device *dev = authed(client, &t, r->cloud, "expthr");
    if (dev == NULL) {
        iothttp_client_free(client);
        REQUIRE(dev != NULL);
    }
    pthread_barrier_t half, resume;
    pthread_barrier_init(&half, NULL, EXPIRY_THREADS + 1);
    pthread_barrier_init(&resume, NULL, EXPIRY_THREADS + 1);
    struct expiry_worker workers[EXPIRY_THREADS];
    pthread_t threads[EXPIRY_THREADS];
    memset(workers, 0, sizeof workers);
    int started_threads = 0;
    for (int i = 0; i < EXPIRY_THREADS; i++) {
        workers[i].dev = dev;
        workers[i].t = &t;
        workers[i].half = &half;
        workers[i].resume = &resume;
        if (pthread_create(&threads[i], NULL, expiry_worker, &workers[i]) != 0) {
            failf(__FILE__, __LINE__, "pthread_create failed");
            abort(); /* the barriers would wait forever */
        }
        started_threads++;
    }
    uint64_t started = mono_ms();
    pthread_barrier_wait(&half);
    CHECK(emu_commandf("expire %s %s %s", t.cloud_name, t.product, t.device) == 0);
    pthread_barrier_wait(&resume);
    for (int i = 0; i < started_threads; i++)
        pthread_join(threads[i], NULL);
    iothttp_result rc = IOTHTTP_OK;
    for (int i = 0; i < EXPIRY_THREADS; i++) {
        if (!CHECK(workers[i].failures == 0)) {
            fprintf(stderr, "      thread %d: %d failed publishes, first %s: %s\n", i,
                    workers[i].failures, iothttp_result_name(workers[i].first_error),
                    workers[i].error_text);
            if (rc == IOTHTTP_OK)
                rc = workers[i].first_error;
        }
    }
    observe(rc, started);
    struct emu_counters c;
    if (CHECK(tdev_counters(&t, &c) == 0)) {
        if (!CHECK(c.auths == 2)) /* the first auth, and one after the expiry */
            fprintf(stderr, "      auths %" PRIu64 " (auth requests %" PRIu64 ")\n", c.auths,
                    c.auth_requests);
        CHECK(c.publishes == EXPIRY_THREADS * EXPIRY_EACH);
    }
    pthread_barrier_destroy(&half);
    pthread_barrier_destroy(&resume);
    iothttp_device_free(dev);
    iothttp_client_free(client);
}

/* ---------------------------------------------------------------------------------------
 * Connections cut around a publish: an error, and never sent again by itself
 * ------------------------------------------------------------------------------------- */

static void row_drop_publish(const struct row *r)
{
    struct tdev t;
    iothttp_client *client = fast_client();
    REQUIRE(client != NULL);
    iothttp_device *dev = authed(client, &t, r->cloud, "drop");
    if (dev == NULL) {
        iothttp_client_free(client);
        REQUIRE(dev != NULL);
    }
    char id[IOTHTTP_MESSAGE_ID_LEN];
    if (CHECK(emu_commandf("drop publish %s %s %s %s 1", t.cloud_name, t.product, t.device,
                           r->arg) == 0)) {
        uint64_t started = mono_ms();
        iothttp_result rc = publish(dev, &t, id, sizeof id);
        observe(rc, started);
        const char *err = iothttp_last_error();
        if (!CHECK(rc == IOTHTTP_E_IO || rc == IOTHTTP_E_BAD_RESPONSE))
            fprintf(stderr, "      drop %s: %s (%s), expected IOTHTTP_E_IO or "
                    "IOTHTTP_E_BAD_RESPONSE\n", r->arg, iothttp_result_name(rc), safe_str(err));
        CHECK(err != NULL && err[0] != '\0');
        check_within(g_elapsed, IO_MS, "the cut publish");
        struct emu_counters c;
        if (CHECK(tdev_counters(&t, &c) == 0)) {
            /* A publish is not idempotent: after a cut it is never sent again by itself. */
            if (!CHECK(c.publish_requests == 1))
                fprintf(stderr, "      publish requests %" PRIu64 "\n", c.publish_requests);
            if (!CHECK(c.publishes == (uint64_t)r->processed))
                fprintf(stderr, "      publishes %" PRIu64 ", expected %d\n", c.publishes,
                        r->processed);
        }
        still_works(dev, &t);
    }
    iothttp_device_free(dev);
    iothttp_client_free(client);
}

/* ---------------------------------------------------------------------------------------
 * Connections cut around a UCloud file upload: retried from a rewindable source
 * ------------------------------------------------------------------------------------- */

/* r->arg: "cut" (the body cut after 150000 bytes) or "drop" (stored, then the reply lost);
 * r->processed: 1 for a rewindable source. */
static void row_upload_cut(const struct row *r)
{
    const char *ufile = env("IOTHTTP_EMU_UFILE_URL");
    REQUIRE(ufile != NULL);
    bool rewindable = r->processed != 0;
    struct tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "upcut") == 0);
    iothttp_client *client = fast_client();
    REQUIRE(client != NULL);
    iothttp_device *dev = emu_device(client, &t);
    uint8_t *big = malloc(BIG_LEN);
    iothttp_source *src = NULL;
    struct cb_src cb = {big, BIG_LEN, 0, SIZE_MAX, 0, 0};
    if (CHECK(dev != NULL && big != NULL)
        && EXPECT(iothttp_device_set_file_endpoint(dev, ufile), IOTHTTP_OK)) {
        gen_data(big, BIG_LEN, 1);
        if (rewindable) {
            EXPECT(iothttp_source_from_memory(big, BIG_LEN, &src), IOTHTTP_OK);
        } else {
            /* The MD5 declared: the only second pass would be the retry. */
            if (EXPECT(iothttp_source_from_callbacks(BIG_LEN, cb_read, NULL, &cb, &src),
                       IOTHTTP_OK))
                EXPECT(iothttp_source_set_md5_hex(src, BIG_MD5), IOTHTTP_OK);
        }
    }
    bool cut = strcmp(r->arg, "cut") == 0;
    if (src != NULL
        && CHECK((cut ? emu_commandf("cut file-put ucloud %s %s 150000 1", t.product, t.device)
                      : emu_commandf("drop file-put ucloud %s %s after-processing 1", t.product,
                                     t.device))
                 == 0)) {
        uint64_t started = mono_ms();
        iothttp_result rc = iothttp_device_upload_file(dev, "cut.bin", "application/octet-stream",
                                                       src, NULL, NULL);
        observe(rc, started);
        EXPECT(rc, r->want);
        char key[256];
        struct stored o;
        snprintf(key, sizeof key, "%s/%s/cut.bin", t.product, t.device);
        /* Stored with the right digest after a retry; after a cut without one, nothing.
         * (drop after-processing stores the file before it loses the reply: the emulator
         * holds it whatever the client makes of the lost reply.) */
        bool want_stored = rc == IOTHTTP_OK || !cut;
        if (want_stored) {
            if (CHECK(emu_object("ufile", key, &o) == 0)) {
                if (!CHECK(o.size == BIG_LEN && strcmp(o.md5, BIG_MD5) == 0))
                    fprintf(stderr, "      stored %" PRIu64 " bytes, md5 %s\n", o.size, o.md5);
            } else {
                fprintf(stderr, "      no object ufile %s\n", key);
            }
        } else if (!CHECK(emu_object("ufile", key, &o) != 0)) {
            fprintf(stderr, "      object ufile %s exists: %s\n", key, o.json);
        }
        if (!rewindable)
            CHECK(cb.rewinds == 0);
    }
    iothttp_source_free(src);
    free(big);
    iothttp_device_free(dev);
    iothttp_client_free(client);
}

/* ---------------------------------------------------------------------------------------
 * Servers that accept and never answer, or answer too slowly
 * ------------------------------------------------------------------------------------- */

/* r->arg: "hang" or "trickle". */
static void row_silent_publish(const struct row *r)
{
    struct tdev t;
    iothttp_client *client = fast_client();
    REQUIRE(client != NULL);
    iothttp_device *dev = authed(client, &t, r->cloud, r->arg);
    if (dev == NULL) {
        iothttp_client_free(client);
        REQUIRE(dev != NULL);
    }
    char id[IOTHTTP_MESSAGE_ID_LEN];
    bool hang = strcmp(r->arg, "hang") == 0;
    if (CHECK((hang ? emu_commandf("hang publish %s %s %s 1", t.cloud_name, t.product, t.device)
                    : emu_commandf("trickle publish %s %s %s 1 1", t.cloud_name, t.product,
                                   t.device))
              == 0)) {
        uint64_t started = mono_ms();
        iothttp_result rc = publish(dev, &t, id, sizeof id);
        observe(rc, started);
        EXPECT(rc, IOTHTTP_E_TIMEOUT);
        check_within(g_elapsed, IO_MS, r->arg);
        struct emu_counters c;
        if (CHECK(tdev_counters(&t, &c) == 0)) {
            CHECK(c.publish_requests == 1); /* not resent */
            CHECK(c.publishes == (uint64_t)r->processed);
        }
        still_works(dev, &t);
    }
    iothttp_device_free(dev);
    iothttp_client_free(client);
}

/* A server that accepts TCP and never starts TLS (every TLS listener): the connect bound. */
static void row_accept_no_tls(const struct row *r)
{
    (void)r;
    struct tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "notls") == 0);
    iothttp_client *client = emu_client(CONNECT_MS, IO_MS, 1, 1, 1, NULL, 0);
    REQUIRE(client != NULL);
    iothttp_device *dev = emu_device(client, &t);
    if (dev != NULL && CHECK(emu_command("accept-no-tls on", NULL, 0) == 0)) {
        uint64_t started = mono_ms();
        iothttp_result rc = iothttp_device_auth(dev);
        observe(rc, started);
        emu_command("accept-no-tls off", NULL, 0); /* at once: it is listener-wide */
        EXPECT(rc, IOTHTTP_E_CONNECT); /* nothing was sent: a connect failure */
        check_within(g_elapsed, CONNECT_MS, "the silent handshake");
        struct emu_counters c;
        if (CHECK(tdev_counters(&t, &c) == 0))
            CHECK(c.auth_requests == 0);
        EXPECT(iothttp_device_auth(dev), IOTHTTP_OK); /* the next connection works */
    }
    emu_command("accept-no-tls off", NULL, 0);
    iothttp_device_free(dev);
    iothttp_client_free(client);
}

#define STALL_LEN (8u << 20)

struct stall_progress {
    uint64_t max_sent;
};

static int stall_progress(void *userdata, uint64_t sent, uint64_t total)
{
    struct stall_progress *p = userdata;
    (void)total;
    if (sent > p->max_sent)
        p->max_sent = sent;
    return 0;
}

/* The store stops reading the body after 100000 bytes and never answers. */
static void row_stall_put(const struct row *r)
{
    (void)r;
    const char *store = env("IOTHTTP_EMU_STORE_URL");
    REQUIRE(store != NULL);
    iothttp_client *client = fast_client();
    REQUIRE(client != NULL);
    uint8_t *data = malloc(STALL_LEN);
    iothttp_source *src = NULL;
    char name[96], key[160], url[512];
    unique_name(name, sizeof name, "stall");
    snprintf(key, sizeof key, "stall/%s.bin", name);
    snprintf(url, sizeof url, "%s/%s", store, key);
    if (CHECK(data != NULL)) {
        memset(data, 9, STALL_LEN);
        EXPECT(iothttp_source_from_memory(data, STALL_LEN, &src), IOTHTTP_OK);
    }
    if (src != NULL && CHECK(emu_command("stall-read store-put any 100000 1", NULL, 0) == 0)) {
        struct stall_progress prog = {0};
        uint64_t started = mono_ms();
        iothttp_result rc = iothttp_put(client, url, NULL, 0, src, stall_progress, &prog);
        observe(rc, started);
        EXPECT(rc, IOTHTTP_E_TIMEOUT);
        check_within(g_elapsed, IO_MS, "the stalled upload");
        if (!CHECK(prog.max_sent > 100000)) /* it did start */
            fprintf(stderr, "      progress reached %" PRIu64 " bytes\n", prog.max_sent);
        struct stored o;
        if (!CHECK(emu_object("store", key, &o) != 0))
            fprintf(stderr, "      object store %s exists: %s\n", key, o.json);
    }
    iothttp_source_free(src);
    free(data);
    iothttp_client_free(client);
}

/* The store answers 403 after 100000 bytes of an 8 MiB body and resets the connection
 * under the rest: the store's status and error, after one attempt, nothing stored. */
static void row_reject_put(const struct row *r)
{
    (void)r;
    const char *store = env("IOTHTTP_EMU_STORE_URL");
    REQUIRE(store != NULL);
    iothttp_client *client = fast_client();
    REQUIRE(client != NULL);
    uint8_t *data = malloc(STALL_LEN);
    iothttp_source *src = NULL;
    char name[96], key[160], url[512];
    unique_name(name, sizeof name, "reject");
    snprintf(key, sizeof key, "reject/%s.bin", name);
    snprintf(url, sizeof url, "%s/%s", store, key);
    if (CHECK(data != NULL)) {
        memset(data, 5, STALL_LEN);
        EXPECT(iothttp_source_from_memory(data, STALL_LEN, &src), IOTHTTP_OK);
    }
    if (src != NULL
        && CHECK(emu_command("reject store-put any 100000 AccessDenied 1", NULL, 0) == 0)) {
        uint64_t started = mono_ms();
        iothttp_result rc = iothttp_put(client, url, NULL, 0, src, NULL, NULL);
        observe(rc, started);
        EXPECT(rc, IOTHTTP_E_HTTP);
        if (!CHECK(iothttp_last_http_status() == 403))
            fprintf(stderr, "      HTTP status %u\n", iothttp_last_http_status());
        /* The store's own error, on the first attempt (no retry from byte 0). */
        if (!CHECK(strstr(iothttp_last_error(), "AccessDenied") != NULL
                   && strstr(iothttp_last_error(), "attempts") == NULL))
            fprintf(stderr, "      error: %s\n", safe_str(iothttp_last_error()));
        struct stored o;
        if (!CHECK(emu_object("store", key, &o) != 0))
            fprintf(stderr, "      object store %s exists: %s\n", key, o.json);
    }
    iothttp_source_free(src);
    free(data);
    iothttp_client_free(client);
}

/* ---------------------------------------------------------------------------------------
 * Malformed replies: bad responses, bounded memory, the device still works
 * ------------------------------------------------------------------------------------- */

static void check_rss(uint64_t before, uint64_t after, const char *kind)
{
    if (before == 0 || after == 0) {
        failf(__FILE__, __LINE__, "VmHWM is not readable from /proc/self/status");
        return;
    }
    if (after > before + HUGE_RSS_LIMIT_KIB)
        failf(__FILE__, __LINE__, "reply %s: peak RSS grew by %" PRIu64 " KiB (from %" PRIu64
              " to %" PRIu64 " KiB), more than %u KiB: the reply was not bounded", kind,
              after - before, before, after, HUGE_RSS_LIMIT_KIB);
    else
        printf("      reply %s: peak RSS %" PRIu64 " -> %" PRIu64 " KiB (+%" PRIu64 ")\n", kind,
               before, after, after - before);
}

static void row_reply_publish(const struct row *r)
{
    struct tdev t;
    iothttp_client *client = fast_client();
    REQUIRE(client != NULL);
    iothttp_device *dev = authed(client, &t, r->cloud, "rpub");
    if (dev == NULL) {
        iothttp_client_free(client);
        REQUIRE(dev != NULL);
    }
    char id[IOTHTTP_MESSAGE_ID_LEN];
    bool huge = strcmp(r->arg, "huge") == 0;
    EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_OK); /* warm: pool, token, buffers */
    if (CHECK(emu_commandf("reply publish %s %s %s %s 1", t.cloud_name, t.product, t.device,
                           r->arg) == 0)) {
        uint64_t rss0 = peak_rss_kib();
        uint64_t started = mono_ms();
        iothttp_result rc = publish(dev, &t, id, sizeof id);
        observe(rc, started);
        uint64_t rss1 = peak_rss_kib();
        EXPECT(rc, IOTHTTP_E_BAD_RESPONSE);
        check_within(g_elapsed, IO_MS, "the publish");
        if (huge)
            check_rss(rss0, rss1, r->arg);
        struct emu_counters c;
        if (CHECK(tdev_counters(&t, &c) == 0)) {
            CHECK(c.publish_requests == 2); /* the warm-up and this one: not resent */
            CHECK(c.publishes == 1u + (uint64_t)r->processed);
        }
        still_works(dev, &t);
    }
    iothttp_device_free(dev);
    iothttp_client_free(client);
}

static void row_reply_auth(const struct row *r)
{
    struct tdev warm, t;
    iothttp_client *client = fast_client();
    REQUIRE(client != NULL);
    /* Warm the client (pool, TLS session) with another device. */
    iothttp_device *other = authed(client, &warm, r->cloud, "rwarm");
    iothttp_device_free(other);
    REQUIRE(tdev_add(&t, r->cloud, "rauth") == 0);
    iothttp_device *dev = emu_device(client, &t);
    bool huge = strcmp(r->arg, "huge") == 0;
    if (dev != NULL
        && CHECK(emu_commandf("reply auth %s %s %s %s 1", t.cloud_name, t.product, t.device,
                              r->arg) == 0)) {
        uint64_t rss0 = peak_rss_kib();
        uint64_t started = mono_ms();
        iothttp_result rc = iothttp_device_auth(dev);
        observe(rc, started);
        uint64_t rss1 = peak_rss_kib();
        EXPECT(rc, IOTHTTP_E_BAD_RESPONSE);
        check_within(g_elapsed, IO_MS, "the auth");
        if (huge)
            check_rss(rss0, rss1, r->arg);
        /* No token was kept from the mangled reply. */
        char token[64];
        EXPECT(iothttp_device_get_token(dev, token, sizeof token, NULL, NULL),
               IOTHTTP_E_INVALID_ARG);
        struct emu_counters c;
        if (CHECK(tdev_counters(&t, &c) == 0))
            CHECK(c.auth_requests == 1 && c.publish_requests == 0);
        EXPECT(iothttp_device_auth(dev), IOTHTTP_OK);
        still_works(dev, &t);
    }
    iothttp_device_free(dev);
    iothttp_client_free(client);
}

/* ---------------------------------------------------------------------------------------
 * TLS
 * ------------------------------------------------------------------------------------- */

/* r->arg: the variable of the listener's base URL; r->want; the reason in r->... via arg2. */
static const char *tls_reason(const char *var)
{
    if (strcmp(var, "IOTHTTP_EMU_UNTRUSTED_URL") == 0)
        return "not signed by a trusted CA";
    if (strcmp(var, "IOTHTTP_EMU_EXPIRED_URL") == 0)
        return "expired";
    if (strcmp(var, "IOTHTTP_EMU_WRONG_HOST_URL") == 0)
        return "not valid for this host name";
    if (strcmp(var, "IOTHTTP_EMU_FUTURE_URL") == 0) /* a device clock that reads 1970 */
        return "before the server certificate's validity";
    return NULL;
}

static void row_tls(const struct row *r)
{
    const char *base = env(r->arg);
    REQUIRE(base != NULL);
    struct tdev t;
    REQUIRE(tdev_add(&t, r->cloud, "tls") == 0);
    iothttp_client *client = fast_client();
    REQUIRE(client != NULL);
    iothttp_device *dev = emu_device(client, &t);
    char url[512];
    snprintf(url, sizeof url, "%s/%s", base, t.cloud_name);
    if (dev != NULL && EXPECT(iothttp_device_set_endpoint(dev, url), IOTHTTP_OK)) {
        char id[IOTHTTP_MESSAGE_ID_LEN];
        uint64_t started = mono_ms();
        iothttp_result rc = r->want == IOTHTTP_OK ? publish(dev, &t, id, sizeof id)
                                                  : iothttp_device_auth(dev);
        observe(rc, started);
        EXPECT(rc, r->want);
        const char *reason = tls_reason(r->arg);
        if (reason != NULL && rc != IOTHTTP_OK
            && !CHECK(strstr(iothttp_last_error(), reason) != NULL))
            fprintf(stderr, "      last error \"%s\" does not say \"%s\"\n",
                    iothttp_last_error(), reason);
        struct emu_counters c;
        if (CHECK(tdev_counters(&t, &c) == 0)) {
            if (r->want == IOTHTTP_OK)
                CHECK(c.auths == 1 && c.publishes == 1);
            else
                CHECK(c.auth_requests == 0);
        }
    }
    iothttp_device_free(dev);
    iothttp_client_free(client);
}

/* ---------------------------------------------------------------------------------------
 * Plain-http upload URLs returned by the cloud: refused, no byte sent over plain http
 * ------------------------------------------------------------------------------------- */

static int plain_http_uploads(uint64_t *out)
{
    char *stats = emu_command_alloc("upload-stats");
    if (stats == NULL)
        return -1;
    int rc = json_u64_after(stats, "\"plain_http_uploads\"", "plain_http_uploads", out);
    free(stats);
    return rc;
}

/* r->arg: "ufile", "ota" or "agc". */
static void row_plain_http_upload(const struct row *r)
{
    iothttp_client *client = fast_client();
    REQUIRE(client != NULL);
    uint8_t data[1000];
    memset(data, 1, sizeof data);
    iothttp_source *src = NULL;
    uint64_t plain0 = 0, plain1 = 0;
    iothttp_device *dev = NULL;
    iothttp_aliyun_account *acct = NULL;
    iothttp_agc_client *agc = NULL;
    struct tdev t;
    char id[64], secret[96];
    unique_name(id, sizeof id, "plain");
    snprintf(secret, sizeof secret, "%s-Secr3t", id);
    int ready = EXPECT(iothttp_source_from_memory(data, sizeof data, &src), IOTHTTP_OK)
                && CHECK(plain_http_uploads(&plain0) == 0);
    if (ready && strcmp(r->arg, "ufile") == 0) {
        const char *ufile = env("IOTHTTP_EMU_UFILE_URL");
        ready = ufile != NULL && CHECK(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "plain") == 0)
                && (dev = emu_device(client, &t)) != NULL
                && EXPECT(iothttp_device_set_file_endpoint(dev, ufile), IOTHTTP_OK);
    } else if (ready && strcmp(r->arg, "ota") == 0) {
        const char *iot = env("IOTHTTP_EMU_ALIYUN_IOT_URL");
        ready = iot != NULL && CHECK(emu_commandf("add-account %s %s", id, secret) == 0)
                && EXPECT(iothttp_aliyun_account_new(client, id, secret, &acct), IOTHTTP_OK)
                && EXPECT(iothttp_aliyun_account_set_endpoint(acct, iot), IOTHTTP_OK);
    } else if (ready) {
        const char *agc_url = env("IOTHTTP_EMU_AGC_URL");
        ready = agc_url != NULL && CHECK(emu_commandf("add-agc-client %s %s", id, secret) == 0)
                && EXPECT(iothttp_agc_client_new(client, id, secret, &agc), IOTHTTP_OK)
                && EXPECT(iothttp_agc_client_set_endpoint(agc, agc_url), IOTHTTP_OK);
    }
    if (ready && CHECK(emu_command("upload-urls http", NULL, 0) == 0)) {
        uint64_t started = mono_ms();
        iothttp_result rc;
        if (dev != NULL)
            rc = iothttp_device_upload_file(dev, "plain.bin", "application/octet-stream", src,
                                            NULL, NULL);
        else if (acct != NULL)
            rc = iothttp_aliyun_ota_upload(acct, NULL, src, NULL, NULL, NULL, 0, NULL);
        else
            rc = iothttp_agc_upload(agc, "1", "plain.app", src, NULL, NULL, NULL, 0, NULL);
        observe(rc, started);
        char err[512];
        snprintf(err, sizeof err, "%s", safe_str(iothttp_last_error()));
        emu_command("upload-urls https", NULL, 0); /* at once: it is emulator-wide */
        EXPECT(rc, IOTHTTP_E_TLS);
        if (!CHECK(strstr(err, "plain-http") != NULL))
            fprintf(stderr, "      last error \"%s\" does not say \"plain-http\"\n", err);
        if (CHECK(plain_http_uploads(&plain1) == 0)) {
            if (!CHECK(plain1 == 0 && plain1 == plain0))
                fprintf(stderr, "      plain_http_uploads %" PRIu64 " (before: %" PRIu64 ")\n",
                        plain1, plain0);
        }
    }
    emu_command("upload-urls https", NULL, 0);
    iothttp_source_free(src);
    iothttp_device_free(dev);
    iothttp_aliyun_account_free(acct);
    iothttp_agc_client_free(agc);
    iothttp_client_free(client);
}

/* ---------------------------------------------------------------------------------------
 * The OSS policy of an OTA upload expires
 * ------------------------------------------------------------------------------------- */

static int op_attempts(const char *op, uint64_t *out)
{
    char *stats = emu_command_alloc("upload-stats");
    char after[64];
    if (stats == NULL)
        return -1;
    snprintf(after, sizeof after, "\"%s\":{", op);
    int rc = json_u64_after(stats, after, "attempts", out);
    free(stats);
    return rc;
}

/* r->arg: "once" (the policy expires before the first PostObject arrives: fresh parameters
 * and one retry) or "always" (url-ttl 0: every policy is expired on arrival). */
static void row_oss_policy(const struct row *r)
{
    const char *iot = env("IOTHTTP_EMU_ALIYUN_IOT_URL");
    const char *base = env("IOTHTTP_EMU_URL");
    REQUIRE(iot != NULL && base != NULL);
    /* The PostObject is delayed 1.5 s: an I/O bound above that. */
    iothttp_client *client = emu_client(CONNECT_MS, 5000, ATTEMPTS, BASE_MS, MAX_MS, NULL, 0);
    REQUIRE(client != NULL);
    char id[64], secret[96];
    unique_name(id, sizeof id, "oss");
    snprintf(secret, sizeof secret, "%s-Secr3t", id);
    iothttp_aliyun_account *acct = NULL;
    uint8_t *big = malloc(BIG_LEN);
    iothttp_source *src = NULL;
    bool once = strcmp(r->arg, "once") == 0;
    uint64_t attempts0 = 0, attempts1 = 0;
    if (CHECK(big != NULL) && CHECK(emu_commandf("add-account %s %s", id, secret) == 0)
        && EXPECT(iothttp_aliyun_account_new(client, id, secret, &acct), IOTHTTP_OK)
        && EXPECT(iothttp_aliyun_account_set_endpoint(acct, iot), IOTHTTP_OK)) {
        gen_data(big, BIG_LEN, 1);
        EXPECT(iothttp_source_from_memory(big, BIG_LEN, &src), IOTHTTP_OK);
    }
    if (src != NULL && CHECK(op_attempts("ota-url", &attempts0) == 0)
        && CHECK(emu_commandf("url-ttl oss %d", once ? 1 : 0) == 0)
        && (!once || CHECK(emu_commandf("delay oss-post account %s 1500 1", id) == 0))) {
        char url[IOTHTTP_URL_LEN];
        size_t len = 0;
        uint64_t started = mono_ms();
        iothttp_result rc = iothttp_aliyun_ota_upload(acct, NULL, src, NULL, NULL, url,
                                                      sizeof url, &len);
        observe(rc, started);
        char err[512];
        snprintf(err, sizeof err, "%s", safe_str(iothttp_last_error()));
        emu_commandf("url-ttl oss %d", OSS_TTL_DEFAULT); /* at once: it is emulator-wide */
        EXPECT(rc, r->want);
        if (CHECK(op_attempts("ota-url", &attempts1) == 0)) {
            /* One GenerateOTAUploadURL, and one more for the fresh parameters. */
            if (!CHECK(attempts1 - attempts0 == 2))
                fprintf(stderr, "      GenerateOTAUploadURL called %" PRIu64 " times\n",
                        attempts1 - attempts0);
        }
        if (rc == IOTHTTP_OK) {
            struct stored o;
            size_t prefix = strlen(base) + strlen("/oss/");
            if (CHECK(len == strlen(url) && len > prefix && strncmp(url, base, strlen(base)) == 0)
                && CHECK(emu_object("oss", url + prefix, &o) == 0)) {
                if (!CHECK(o.size == BIG_LEN && strcmp(o.md5, BIG_MD5) == 0))
                    fprintf(stderr, "      stored %" PRIu64 " bytes, md5 %s\n", o.size, o.md5);
            }
        } else if (!CHECK(strstr(err, "Policy expired") != NULL)) {
            fprintf(stderr, "      last error \"%s\" does not say \"Policy expired\"\n", err);
        }
    }
    emu_commandf("url-ttl oss %d", OSS_TTL_DEFAULT);
    iothttp_source_free(src);
    free(big);
    iothttp_aliyun_account_free(acct);
    iothttp_client_free(client);
}

/* ---------------------------------------------------------------------------------------
 * The matrix
 * ------------------------------------------------------------------------------------- */

#define U IOTHTTP_CLOUD_UCLOUD
#define A IOTHTTP_CLOUD_ALIYUN
#define SHARED false
#define SERIAL true
/* ROW(name, SHARED|SERIAL, fn, cloud, arg, count, want, cloud code, status, processed)
 * tests/c/CMakeLists.txt reads these lines to register one CTest test per row. */
#define ROW(name, serial, fn, cloud, arg, count, want, code, status, processed)            \
    {#name, serial, fn, cloud, arg, count, want, code, status, processed}

static const struct row ROWS[] = {
    /* Bursts shorter than the retry budget succeed; longer ones fail with the last code. */
    ROW(burst_ucloud_130_x2, SHARED, row_burst, U, "130", 2, IOTHTTP_OK, 0, 0, 1),
    ROW(burst_ucloud_130_x3, SHARED, row_burst, U, "130", 3, IOTHTTP_E_UNAVAILABLE, 130, 200, 0),
    ROW(burst_aliyun_40000_x2, SHARED, row_burst, A, "40000", 2, IOTHTTP_OK, 0, 0, 1),
    ROW(burst_aliyun_40000_x3, SHARED, row_burst, A,
        "40000", 3, IOTHTTP_E_RATE_LIMITED, 40000, 200, 0),
    ROW(burst_ucloud_http503_x2, SHARED, row_burst, U, "http503", 2, IOTHTTP_OK, 0, 0, 1),
    ROW(burst_ucloud_http503_x3, SHARED, row_burst, U,
        "http503", 3, IOTHTTP_E_UNAVAILABLE, 0, 503, 0),
    ROW(burst_aliyun_http503_x2, SHARED, row_burst, A, "http503", 2, IOTHTTP_OK, 0, 0, 1),
    ROW(burst_aliyun_http503_x3, SHARED, row_burst, A,
        "http503", 3, IOTHTTP_E_UNAVAILABLE, 0, 503, 0),
    /* The token expires while 4 threads publish on one device. */
    ROW(expiry_4_threads_ucloud, SHARED, row_expiry_threads, U, "", 0, IOTHTTP_OK, 0, 0, 1),
    ROW(expiry_4_threads_aliyun, SHARED, row_expiry_threads, A, "", 0, IOTHTTP_OK, 0, 0, 1),
    /* Connections cut around a publish (want: IOTHTTP_E_IO or IOTHTTP_E_BAD_RESPONSE). */
    ROW(drop_publish_ucloud_before_request, SHARED, row_drop_publish, U,
        "before-request", 1, IOTHTTP_E_IO, 0, 0, 0),
    ROW(drop_publish_ucloud_before_reply, SHARED, row_drop_publish, U,
        "before-reply", 1, IOTHTTP_E_IO, 0, 0, 0),
    ROW(drop_publish_ucloud_after_processing, SHARED, row_drop_publish, U,
        "after-processing", 1, IOTHTTP_E_IO, 0, 0, 1),
    ROW(drop_publish_ucloud_mid_reply, SHARED, row_drop_publish, U,
        "mid-reply", 1, IOTHTTP_E_IO, 0, 0, 1),
    ROW(drop_publish_aliyun_before_request, SHARED, row_drop_publish, A,
        "before-request", 1, IOTHTTP_E_IO, 0, 0, 0),
    ROW(drop_publish_aliyun_before_reply, SHARED, row_drop_publish, A,
        "before-reply", 1, IOTHTTP_E_IO, 0, 0, 0),
    ROW(drop_publish_aliyun_after_processing, SHARED, row_drop_publish, A,
        "after-processing", 1, IOTHTTP_E_IO, 0, 0, 1),
    ROW(drop_publish_aliyun_mid_reply, SHARED, row_drop_publish, A,
        "mid-reply", 1, IOTHTTP_E_IO, 0, 0, 1),
    /* Connections cut around an upload (processed = rewindable source). */
    ROW(upload_cut_rewindable, SHARED, row_upload_cut, U, "cut", 1, IOTHTTP_OK, 0, 0, 1),
    ROW(upload_cut_not_rewindable, SHARED, row_upload_cut, U,
        "cut", 1, IOTHTTP_E_NOT_REWINDABLE, 0, 0, 0),
    ROW(upload_drop_after_processing_rewindable, SHARED, row_upload_cut, U,
        "drop", 1, IOTHTTP_OK, 0, 0, 1),
    ROW(upload_drop_after_processing_not_rewindable, SHARED, row_upload_cut, U,
        "drop", 1, IOTHTTP_E_NOT_REWINDABLE, 0, 0, 0),
    /* Accepts and never answers; answers at 1 byte/s; never starts TLS; stops reading. */
    ROW(hang_publish_ucloud, SHARED, row_silent_publish, U, "hang", 1, IOTHTTP_E_TIMEOUT, 0, 0, 0),
    ROW(hang_publish_aliyun, SHARED, row_silent_publish, A, "hang", 1, IOTHTTP_E_TIMEOUT, 0, 0, 0),
    ROW(trickle_publish_ucloud, SHARED, row_silent_publish, U,
        "trickle", 1, IOTHTTP_E_TIMEOUT, 0, 0, 1),
    ROW(trickle_publish_aliyun, SHARED, row_silent_publish, A,
        "trickle", 1, IOTHTTP_E_TIMEOUT, 0, 0, 1),
    ROW(accept_no_tls, SERIAL, row_accept_no_tls, U, "", 1, IOTHTTP_E_CONNECT, 0, 0, 0),
    ROW(stall_read_put_8mib, SERIAL, row_stall_put, U, "", 1, IOTHTTP_E_TIMEOUT, 0, 0, 0),
    ROW(reject_put_early_8mib, SERIAL, row_reject_put, U, "", 1, IOTHTTP_E_HTTP, 0, 0, 0),
    /* Mangled publish replies (processed: the message was recorded first). */
    ROW(reply_publish_ucloud_garbage, SHARED, row_reply_publish, U,
        "garbage", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_publish_ucloud_empty, SHARED, row_reply_publish, U,
        "empty", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_publish_ucloud_notjson, SHARED, row_reply_publish, U,
        "notjson", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_publish_ucloud_truncated, SHARED, row_reply_publish, U,
        "truncated", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_publish_ucloud_missing, SHARED, row_reply_publish, U,
        "missing", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_publish_ucloud_bigid, SHARED, row_reply_publish, U,
        "bigid", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 0),
    ROW(reply_publish_ucloud_huge, SHARED, row_reply_publish, U,
        "huge", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_publish_ucloud_hugeheader, SHARED, row_reply_publish, U,
        "hugeheader", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_publish_aliyun_garbage, SHARED, row_reply_publish, A,
        "garbage", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_publish_aliyun_empty, SHARED, row_reply_publish, A,
        "empty", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_publish_aliyun_notjson, SHARED, row_reply_publish, A,
        "notjson", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_publish_aliyun_truncated, SHARED, row_reply_publish, A,
        "truncated", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_publish_aliyun_missing, SHARED, row_reply_publish, A,
        "missing", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_publish_aliyun_bigid, SHARED, row_reply_publish, A,
        "bigid", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 0),
    ROW(reply_publish_aliyun_huge, SHARED, row_reply_publish, A,
        "huge", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_publish_aliyun_hugeheader, SHARED, row_reply_publish, A,
        "hugeheader", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    /* Mangled auth replies. */
    ROW(reply_auth_ucloud_garbage, SHARED, row_reply_auth, U,
        "garbage", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_auth_ucloud_empty, SHARED, row_reply_auth, U,
        "empty", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_auth_ucloud_notjson, SHARED, row_reply_auth, U,
        "notjson", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_auth_ucloud_truncated, SHARED, row_reply_auth, U,
        "truncated", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_auth_ucloud_missing, SHARED, row_reply_auth, U,
        "missing", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_auth_ucloud_huge, SHARED, row_reply_auth, U,
        "huge", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_auth_aliyun_garbage, SHARED, row_reply_auth, A,
        "garbage", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_auth_aliyun_empty, SHARED, row_reply_auth, A,
        "empty", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_auth_aliyun_notjson, SHARED, row_reply_auth, A,
        "notjson", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_auth_aliyun_truncated, SHARED, row_reply_auth, A,
        "truncated", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_auth_aliyun_missing, SHARED, row_reply_auth, A,
        "missing", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    ROW(reply_auth_aliyun_huge, SHARED, row_reply_auth, A,
        "huge", 1, IOTHTTP_E_BAD_RESPONSE, 0, 0, 1),
    /* TLS listeners. */
    ROW(tls_untrusted, SHARED, row_tls, U, "IOTHTTP_EMU_UNTRUSTED_URL", 0, IOTHTTP_E_TLS, 0, 0, 0),
    ROW(tls_expired, SHARED, row_tls, U, "IOTHTTP_EMU_EXPIRED_URL", 0, IOTHTTP_E_TLS, 0, 0, 0),
    ROW(tls_wrong_host, SHARED, row_tls, U,
        "IOTHTTP_EMU_WRONG_HOST_URL", 0, IOTHTTP_E_TLS, 0, 0, 0),
    ROW(tls_not_valid_yet, SHARED, row_tls, U, "IOTHTTP_EMU_FUTURE_URL", 0, IOTHTTP_E_TLS, 0, 0,
        0),
    ROW(tls_12_only, SHARED, row_tls, A, "IOTHTTP_EMU_TLS12_URL", 0, IOTHTTP_OK, 0, 0, 1),
    /* Plain-http upload URLs from the cloud. */
    ROW(plain_http_url_ufile, SERIAL, row_plain_http_upload, U, "ufile", 0, IOTHTTP_E_TLS, 0, 0, 0),
    ROW(plain_http_url_ota, SERIAL, row_plain_http_upload, U, "ota", 0, IOTHTTP_E_TLS, 0, 0, 0),
    ROW(plain_http_url_agc, SERIAL, row_plain_http_upload, U, "agc", 0, IOTHTTP_E_TLS, 0, 0, 0),
    /* The OSS policy of an OTA upload expires. */
    ROW(oss_policy_expired_once, SERIAL, row_oss_policy, A, "once", 0, IOTHTTP_OK, 0, 0, 1),
    ROW(oss_policy_always_expired, SERIAL, row_oss_policy, A,
        "always", 0, IOTHTTP_E_DENIED, 0, 0, 0),
};

static const size_t NROWS = sizeof ROWS / sizeof ROWS[0];

static const char *row_name(size_t i)
{
    return ROWS[i].name;
}

static void row_run(size_t i)
{
    g_observed = false;
    ROWS[i].fn(&ROWS[i]);
}

/* The outcome line of a row, before its ok / FAIL line. */
static void row_outcome(size_t i)
{
    if (g_observed)
        printf("outcome %-46s %-26s %6" PRIu64 " ms\n", ROWS[i].name,
               iothttp_result_name(g_rc), g_elapsed);
    else
        printf("outcome %-46s %-26s %6s\n", ROWS[i].name, "(not reached)", "-");
}

static void row_list(size_t i)
{
    printf("%s%s\n", ROWS[i].name, ROWS[i].serial ? " (serial)" : "");
}

static void banner(void)
{
    printf("iothttp %s: fault matrix, client timeouts %u/%u ms, %u attempts; margin %" PRIu64
           " ms\n", iothttp_version(), CONNECT_MS, IO_MS, ATTEMPTS, time_margin_ms());
}

int main(int argc, char **argv)
{
    const struct test_table table = {"test_faults", "row", 46, NROWS, row_name, row_run,
                                     row_outcome, row_list, banner};
    return test_main(&table, argc, argv);
}
