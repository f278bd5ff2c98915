/* Shared helpers of test_faults.c and test_args.c: checks, the emulator's devices and
 * clients, timing and memory probes. (test_api.c keeps its own copies.) */
#ifndef IOTHTTP_TEST_HARNESS_H
#define IOTHTTP_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <iothttp.h>

#include "emu.h"

#define INVALID_UTF8 "\xff\xfe\xc3("

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
#define EXPECT(expr, want) expect_rc((expr), (want), #expr, __FILE__, __LINE__)
#define REQUIRE_OK(expr)                                                                   \
    do {                                                                                   \
        if (!EXPECT((expr), IOTHTTP_OK))                                                   \
            return;                                                                        \
    } while (0)

/* ---- environment, time, memory ------------------------------------------------------ */

/* An environment variable that must be set (a failed check otherwise; NULL). */
const char *env(const char *name);

uint64_t mono_ms(void);

/* Peak resident set size of this process (VmHWM of /proc/self/status) in KiB; 0 if unknown. */
uint64_t peak_rss_kib(void);

/* The allowance beyond a configured time bound: IOTHTTP_TEST_MARGIN_MS, else 1500 ms
 * (scheduling on a loaded 2-core machine; the memcheck tests set 5000). */
uint64_t time_margin_ms(void);

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

void tdev_make(struct tdev *t, uint32_t cloud, const char *tag);
/* tdev_make, then add-device; 0 on success. */
int tdev_add(struct tdev *t, uint32_t cloud, const char *tag);
/* `counters` of the device; 0 on success. */
int tdev_counters(const struct tdev *t, struct emu_counters *c);
/* A fresh name for accounts and files: "<tag><pid>_<serial>". */
void unique_name(char *buf, size_t cap, const char *tag);

const char *endpoint_of(uint32_t cloud);

/* A configuration trusting the emulator's CA with the given timeouts and retry policy. */
iothttp_config *emu_config(uint32_t connect_ms, uint32_t io_ms, uint32_t attempts,
                           uint32_t base_ms, uint32_t max_ms);
/* A client from emu_config(...). */
iothttp_client *emu_client(uint32_t connect_ms, uint32_t io_ms, uint32_t attempts,
                           uint32_t base_ms, uint32_t max_ms);
/* A device handle for `t`, pointed at the emulator. */
iothttp_device *emu_device(iothttp_client *client, const struct tdev *t);

extern const uint8_t PAYLOAD[];
extern const size_t PAYLOAD_LEN;
iothttp_result publish(iothttp_device *dev, const struct tdev *t, char *id, size_t cap);

/* ---- upload helpers ----------------------------------------------------------------- */

/* Deterministic content (xorshift). */
void gen_data(uint8_t *buf, size_t n, uint32_t seed);
/* gen_data(buf, BIG_LEN, 1) has this MD5 (computed independently, Python hashlib). */
#define BIG_LEN 300000u
extern const char BIG_MD5[];

/* A callback source over memory; counts its calls. */
struct cb_src {
    const uint8_t *data;
    size_t len;
    size_t pos;
    unsigned reads, rewinds;
};
int cb_read(void *userdata, uint8_t *buf, size_t cap, size_t *out_len);
int cb_rewind(void *userdata);

/* The emulator's `object <store> <key>`: 0 when it exists (size, md5 filled). */
struct stored {
    uint64_t size;
    char md5[40];
    char json[4096];
};
int emu_object(const char *store, const char *key, struct stored *o);
/* A numeric field of a JSON text after the first occurrence of `after` (NULL: from the
 * start): "\"key\":<number>". 0 when found. */
int json_u64_after(const char *json, const char *after, const char *key, uint64_t *out);

#endif
