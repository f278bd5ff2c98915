/* Shared helpers of test_api.c, test_faults.c and test_args.c: checks, log capture, the
 * emulator's devices and clients, timing and memory probes, upload helpers, and the runner
 * of a table of named cases. */
#ifndef IOTHTTP_TEST_HARNESS_H
#define IOTHTTP_TEST_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <iothttp.h>

#include "emu.h"

#define INVALID_UTF8 "\xff\xfe\xc3("

/* ---- log capture -------------------------------------------------------------------- */

/* Every error text and log line a case sees, for the "never a secret" scans. */
struct capture {
    pthread_mutex_t lock;
    char **lines;
    uint32_t *levels; /* 0 for error texts */
    size_t n, cap;
    size_t by_level[6];
    size_t bad_levels;
};

/* While set, expect_rc() adds every non-empty iothttp_last_error() to it (the runner
 * clears it after each case). */
extern struct capture *g_capture;

void capture_init(struct capture *c);
void capture_free(struct capture *c);
void capture_add(struct capture *c, uint32_t level, const char *text);
/* An iothttp_log_fn; userdata is the struct capture. */
void capture_log(void *userdata, iothttp_log_level level, const char *msg);
/* Count the captured texts containing `needle`. */
size_t capture_count(struct capture *c, const char *needle);

/* ---- checks ------------------------------------------------------------------------- */

extern int g_case_failures;

void failf(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

const char *safe_str(const char *s);

/* Non-fatal check; evaluates to whether it held. */
int check_(int held, const char *what, const char *file, int line);
#define CHECK(cond) check_((cond) ? 1 : 0, #cond, __FILE__, __LINE__)
/* Fatal check: leaves the (void) case function. */
#define REQUIRE(cond)                                                                      \
    do {                                                                                   \
        if (!CHECK(cond))                                                                  \
            return;                                                                        \
    } while (0)

/* A call's result and the thread's error state that goes with it: `want`, and
 * iothttp_last_error() empty on success, non-empty on failure. */
int expect_rc(iothttp_result got, iothttp_result want, const char *expr, const char *file,
              int line);
/* IOTHTTP_E_INVALID_ARG with a message naming the argument ('name'). */
int expect_arg(iothttp_result got, const char *name, const char *expr, const char *file,
               int line);
#define EXPECT(expr, want) expect_rc((expr), (want), #expr, __FILE__, __LINE__)
#define EXPECT_ARG(expr, name) expect_arg((expr), (name), #expr, __FILE__, __LINE__)
#define REQUIRE_OK(expr)                                                                   \
    do {                                                                                   \
        if (!EXPECT((expr), IOTHTTP_OK))                                                   \
            return;                                                                        \
    } while (0)

/* A decimal message id: digits only, no leading zero, at least `min`; value in *out. */
int check_message_id(const char *id, uint64_t min, uint64_t *out, const char *file, int line);
#define CHECK_MESSAGE_ID(id, min, out) check_message_id((id), (min), (out), __FILE__, __LINE__)

/* The emulator's first message ids. */
extern const uint64_t UCLOUD_FIRST_ID;
extern const uint64_t ALIYUN_FIRST_ID;

/* ---- environment, time, memory, files, ports ---------------------------------------- */

/* An environment variable that must be set (a failed check otherwise; NULL). */
const char *env(const char *name);

/* Wall-clock (CLOCK_REALTIME) and monotonic milliseconds. */
uint64_t now_ms(void);
uint64_t mono_ms(void);

/* Peak resident set size of this process (VmHWM of /proc/self/status) in KiB; 0 if unknown. */
uint64_t peak_rss_kib(void);

/* The allowance beyond a configured time bound: IOTHTTP_TEST_MARGIN_MS, else 1500 ms
 * (scheduling on a loaded 2-core machine; the memcheck tests set 5000). */
uint64_t time_margin_ms(void);

/* A whole file in memory to free(), NUL-terminated (the NUL not counted in *len_out);
 * NULL when it cannot be read. */
char *read_file(const char *path, size_t *len_out);

/* A port on 127.0.0.1 nobody listens on (bound, then closed); -1 on failure. */
int closed_port(void);
/* The port of an URL like https://127.0.0.1:PORT/...; -1 without one. */
int url_port(const char *url);

/* ---- emulator devices and clients --------------------------------------------------- */

/* A device registered with the emulator under a name no other case or run uses. */
struct tdev {
    uint32_t cloud;
    const char *cloud_name; /* as the emulator spells it */
    char product[32];
    char device[64];
    char secret[64];
    char topic[160];
};

/* How tdev_make names products and secrets; a program may set its own (default:
 * "cFaultProd", "a1cFaultPK", secrets ending in "-fq"). */
struct tdev_naming {
    const char *ucloud_product;
    const char *aliyun_product;
    const char *secret_suffix;
};
extern struct tdev_naming g_tdev_naming;

/* Counts the names made in this process (unique_name, tdev_make, a program's own names). */
extern unsigned g_serial;

void tdev_make(struct tdev *t, uint32_t cloud, const char *tag);
/* tdev_make, then add-device; 0 on success. */
int tdev_add(struct tdev *t, uint32_t cloud, const char *tag);
/* `counters` of the device; 0 on success. */
int tdev_counters(const struct tdev *t, struct emu_counters *c);
/* A fresh name for accounts and files: "<tag><pid>_<time>_<serial>". */
void unique_name(char *buf, size_t cap, const char *tag);

const char *endpoint_of(uint32_t cloud);

/* The usual timeouts and retry policy of emu_config: connect 10 s, I/O 20 s, 3 attempts,
 * backoff 5..20 ms. */
#define EMU_DEFAULT_POLICY 10000u, 20000u, 3u, 5u, 20u

/* A configuration trusting the emulator's CA with the given timeouts and retry policy;
 * with `log` (may be NULL) as its log callback's target at `log_level`. */
iothttp_config *emu_config(uint32_t connect_ms, uint32_t io_ms, uint32_t attempts,
                           uint32_t base_ms, uint32_t max_ms, struct capture *log,
                           uint32_t log_level);
/* A client from emu_config(...). */
iothttp_client *emu_client(uint32_t connect_ms, uint32_t io_ms, uint32_t attempts,
                           uint32_t base_ms, uint32_t max_ms, struct capture *log,
                           uint32_t log_level);
/* A device handle for `t`, pointed at the emulator. */
iothttp_device *emu_device(iothttp_client *client, const struct tdev *t);

extern const uint8_t PAYLOAD[];
extern const size_t PAYLOAD_LEN;
iothttp_result publish(iothttp_device *dev, const struct tdev *t, char *id, size_t cap);

/* The requests a client has sent (iothttp_client_stats). */
uint64_t client_requests(iothttp_client *client);

/* ---- upload helpers ----------------------------------------------------------------- */

/* Deterministic content (xorshift). The digests below were computed independently (Python
 * hashlib). */
void gen_data(uint8_t *buf, size_t n, uint32_t seed);
#define BIG_LEN 300000u /* gen_data(.., BIG_LEN, 1) */
extern const char BIG_MD5[];
extern const char BIG_SHA256[];
#define SMALL_LEN 1000u /* gen_data(.., SMALL_LEN, 2) */
extern const char SMALL_MD5[];
extern const char SMALL_SHA256[];

/* A callback source over memory: optional failing read, counts its calls. */
struct cb_src {
    const uint8_t *data;
    size_t len;
    size_t pos;
    size_t fail_at; /* a read at or past this offset fails; SIZE_MAX: never */
    unsigned reads, rewinds;
};
int cb_read(void *userdata, uint8_t *buf, size_t cap, size_t *out_len);
int cb_rewind(void *userdata);

/* An iothttp_progress_fn recording what it saw into a struct progress. */
struct progress {
    unsigned calls;
    uint64_t first_sent, first_total, last_sent, last_total;
    int decreasing;
    uint64_t cancel_at; /* return nonzero once sent >= cancel_at */
};
void progress_init(struct progress *p);
int on_progress(void *userdata, uint64_t sent, uint64_t total);

/* The emulator's `object <store> <key>`: 0 when it exists (size, md5, sha256 filled). */
struct stored {
    uint64_t size;
    char md5[40];
    char sha256[80];
    char json[4096];
};
int emu_object(const char *store, const char *key, struct stored *o);

/* The object exists with this size and these digests. */
int check_stored(const char *store, const char *key, uint64_t size, const char *md5,
                 const char *sha256, const char *file, int line);
#define CHECK_STORED(store, key, size, md5, sha256)                                        \
    check_stored((store), (key), (size), (md5), (sha256), __FILE__, __LINE__)
#define CHECK_NOT_STORED(store, key)                                                       \
    do {                                                                                   \
        struct stored o_;                                                                  \
        if (!CHECK(emu_object((store), (key), &o_) != 0))                                  \
            fprintf(stderr, "      object %s %s exists\n", (store), (key));               \
    } while (0)

/* ---- the runner --------------------------------------------------------------------- */

/* A table of named cases (or rows) and how to run one. test_main() runs all of them, or
 * those named on the command line, and prints per case
 *     ok    <name> (<ms> ms)
 *     FAIL  <name> (<n> failed checks, <ms> ms)
 * then "<passed>/<run> <noun>s passed"; "--list" prints the names. */
struct test_table {
    const char *program; /* in messages: "test_api" */
    const char *noun;    /* "case", "row" */
    int width;           /* of the name column */
    size_t count;
    const char *(*name)(size_t i);
    void (*run)(size_t i);    /* failed checks are counted in g_case_failures */
    void (*report)(size_t i); /* optional: after the case ran, before its ok / FAIL line */
    void (*list)(size_t i);   /* optional: its --list line (default: the name) */
    void (*banner)(void);     /* the first line of a run */
};
int test_main(const struct test_table *t, int argc, char **argv);

#endif
