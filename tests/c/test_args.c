/*
 * test_args: every argument of every function of iothttp.h, made bad one at a time.
 *
 *   test_args                      run every row, then check that every function declared
 *                                  in the installed iothttp.h has a row
 *   test_args <function>...        run the rows of the named functions
 *   test_args --list               print the rows
 *   test_args --coverage [header]  only compare the header's functions with the table
 *
 * A row is (function, argument index, kind of bad value, expected result, flags); its
 * thunk (th_<function>, bound to the row by the ROW macro) calls the function with that one
 * argument bad and every other argument valid. For every row the runner checks:
 *  - no crash (the process survives; valgrind and the sanitizers watch the memory);
 *  - the documented result;
 *  - for fallible functions, iothttp_last_error(): non-empty on failure and naming the
 *    argument ('name', quoted) where the row says so; "" on success;
 *  - out-parameters untouched on failure (pre-filled with sentinels): handles, buffers,
 *    counters; *len_out only on IOTHTTP_E_BUFFER_TOO_SMALL, then with the size needed.
 *
 * Rows flagged NET complete a real call (the documented "NULL is fine" cases of network
 * functions) against the cloud emulator (the IOTHTTP_EMU_* variables, as test_api).
 *
 * The installed header's path comes from CMake (IOTHTTP_TEST_HEADER); the table must name
 * every function the header declares, and only those.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iothttp.h>

#include "emu.h"
#include "harness.h"

#ifndef IOTHTTP_TEST_HEADER
#define IOTHTTP_TEST_HEADER ""
#endif

/* ---------------------------------------------------------------------------------------
 * Kinds of bad values
 * ------------------------------------------------------------------------------------- */

enum kind {
    K_NONE,  /* the function takes no argument: called as is */
    K_NULL,  /* NULL pointer */
    K_NULL0, /* NULL pointer together with a zero length (documented as fine) */
    K_FREED, /* a handle made, freed, and its variable set to NULL (the usual C idiom) */
    K_EMPTY, /* "" */
    K_UTF8,  /* invalid UTF-8 */
    K_ZERO,  /* zero length / count / duration */
    K_HUGE,  /* SIZE_MAX, UINT64_MAX or UINT32_MAX */
    K_LONG,  /* one over the documented maximum length (row value: the length) */
    K_ENUM,  /* an out-of-range enum value (row value) */
    K_SMALL, /* a buffer below the documented or needed size (row value: the capacity) */
};

static const char *const KIND_NAMES[] = {
    "none", "NULL", "NULL+len 0", "freed->NULL", "empty", "invalid UTF-8",
    "zero", "huge", "too long", "out-of-range enum", "too-small buffer",
};

/* Row flags. */
#define NAMES 1u /* the error text names the argument: "argument '<name>' ..." (the library's
                  * wording for NULL and invalid UTF-8, as test_api checks; texts about a bad
                  * value describe it in words and are only required to be non-empty) */
#define NET 2u   /* completes a call against the emulator */
#define VOID 4u  /* not an iothttp_result: the thunk reports OK when the documented behaviour
                  * held (last error not checked) */
#define LEN 8u   /* IOTHTTP_E_BUFFER_TOO_SMALL must write *len_out (the size needed) */

/* Out-parameters, pre-filled with sentinels before every row. */
#define BUFCAP 64
struct outs {
    iothttp_client *client;
    iothttp_device *dev;
    iothttp_source *src;
    iothttp_aliyun_account *acct;
    iothttp_agc_client *agc;
    uint64_t u64a, u64b;
    size_t len;
    char buf[BUFCAP];
    uint8_t bytes[BUFCAP];
    char id[BUFCAP];
    char url[IOTHTTP_URL_LEN];
    char object[IOTHTTP_OBJECT_ID_LEN];
    size_t needed; /* set by thunks: the size *len_out must report on BUFFER_TOO_SMALL */
};

static char g_sentinel_obj;
#define SENTINEL(type) ((type *)(void *)&g_sentinel_obj)
#define U64_SENTINEL 0xA5A5A5A5A5A5A5A5ull
#define LEN_SENTINEL ((size_t)0x5A5A5A5Au)

struct row;
typedef iothttp_result (*thunk_fn)(const struct row *r, struct outs *o);

struct row {
    const char *fn;
    int arg; /* 1-based; 0 for K_NONE */
    const char *arg_name;
    enum kind kind;
    uint64_t value; /* K_LONG length, K_ENUM value, K_SMALL capacity */
    iothttp_result want;
    unsigned flags;
    thunk_fn thunk;
};

/* ---------------------------------------------------------------------------------------
 * Fixture: valid arguments
 * ------------------------------------------------------------------------------------- */

static struct {
    bool ready, net_ready;
    char ca_path[512];
    char *ca_pem;
    size_t ca_len;
    char cc_cert_path[600], cc_key_path[600]; /* the emulator's device-ec certificate, key */
    char *cc_cert, *cc_key;
    size_t cc_cert_len, cc_key_len;
    char file_path[64];
    uint8_t data[1000];
    uint8_t *big_payload; /* 131073 bytes */
    char *long_text;      /* 5000 'x' */
    iothttp_client *client;  /* trusts the emulator's CA */
    iothttp_device *uc, *al; /* registered with the emulator, endpoints set */
    struct tdev tuc, tal;
    iothttp_device *tok;     /* a UCloud device holding a saved token */
    iothttp_source *src;     /* 1000 bytes in memory */
    iothttp_aliyun_account *acct;
    iothttp_agc_client *agc;
    const char *store_url, *form_url;
    char dl_url[512], dl_md5[40], dl_sha256[72]; /* a 1000-byte download object */
} fx;

static const char TOKEN[] = "args-token-0123456789";

static void long_text_of(size_t n, char *copy_to) /* n <= 5000 */
{
    memcpy(copy_to, fx.long_text, n);
    copy_to[n] = '\0';
}

static int fixture_up(void)
{
    const char *ca = env("IOTHTTP_EMU_CA");
    if (ca == NULL)
        return -1;
    snprintf(fx.ca_path, sizeof fx.ca_path, "%s", ca);
    fx.ca_pem = read_file(ca, &fx.ca_len);
    if (!CHECK(fx.ca_pem != NULL && fx.ca_len > 0))
        return -1;
    const char *certs = env("IOTHTTP_EMU_CLIENT_CERTS");
    if (certs == NULL)
        return -1;
    snprintf(fx.cc_cert_path, sizeof fx.cc_cert_path, "%s/device-ec.crt", certs);
    snprintf(fx.cc_key_path, sizeof fx.cc_key_path, "%s/device-ec.key", certs);
    fx.cc_cert = read_file(fx.cc_cert_path, &fx.cc_cert_len);
    fx.cc_key = read_file(fx.cc_key_path, &fx.cc_key_len);
    if (!CHECK(fx.cc_cert != NULL && fx.cc_key != NULL))
        return -1;
    gen_data(fx.data, sizeof fx.data, 2);
    fx.big_payload = calloc(1, 131073);
    fx.long_text = malloc(5001);
    if (!CHECK(fx.big_payload != NULL && fx.long_text != NULL))
        return -1;
    memset(fx.long_text, 'x', 5000);
    fx.long_text[5000] = '\0';
    snprintf(fx.file_path, sizeof fx.file_path, "/tmp/iothttp-args-XXXXXX");
    int fd = mkstemp(fx.file_path);
    if (!CHECK(fd >= 0))
        return -1;
    CHECK(write(fd, fx.data, sizeof fx.data) == (ssize_t)sizeof fx.data);
    close(fd);

    fx.client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    if (fx.client == NULL)
        return -1;
    if (!EXPECT(iothttp_source_from_memory(fx.data, sizeof fx.data, &fx.src), IOTHTTP_OK))
        return -1;
    if (!EXPECT(iothttp_device_new(fx.client, IOTHTTP_CLOUD_UCLOUD, "p", "d", "s", &fx.tok),
                IOTHTTP_OK)
        || !EXPECT(iothttp_device_set_token(fx.tok, TOKEN, 1234), IOTHTTP_OK))
        return -1;
    fx.ready = true;

    /* The emulator's side of the NET rows. */
    const char *ufile = env("IOTHTTP_EMU_UFILE_URL");
    const char *iot = env("IOTHTTP_EMU_ALIYUN_IOT_URL");
    const char *agc_url = env("IOTHTTP_EMU_AGC_URL");
    fx.store_url = env("IOTHTTP_EMU_STORE_URL");
    fx.form_url = env("IOTHTTP_EMU_STORE_FORM_URL");
    if (ufile == NULL || iot == NULL || agc_url == NULL || fx.store_url == NULL
        || fx.form_url == NULL)
        return -1;
    if (tdev_add(&fx.tuc, IOTHTTP_CLOUD_UCLOUD, "args") != 0
        || tdev_add(&fx.tal, IOTHTTP_CLOUD_ALIYUN, "args") != 0)
        return -1;
    if (emu_commandf("reply-data aliyun %s %s args-reply-data", fx.tal.product, fx.tal.device)
        != 0)
        return -1;
    fx.uc = emu_device(fx.client, &fx.tuc);
    fx.al = emu_device(fx.client, &fx.tal);
    if (fx.uc == NULL || fx.al == NULL
        || !EXPECT(iothttp_device_set_file_endpoint(fx.uc, ufile), IOTHTTP_OK))
        return -1;
    char id[64], secret[96];
    unique_name(id, sizeof id, "argsKey");
    snprintf(secret, sizeof secret, "%s-Secr3t", id);
    if (emu_commandf("add-account %s %s", id, secret) != 0
        || emu_commandf("add-agc-client %s %s", id, secret) != 0)
        return -1;
    if (!EXPECT(iothttp_aliyun_account_new(fx.client, id, secret, &fx.acct), IOTHTTP_OK)
        || !EXPECT(iothttp_aliyun_account_set_endpoint(fx.acct, iot), IOTHTTP_OK)
        || !EXPECT(iothttp_agc_client_new(fx.client, id, secret, &fx.agc), IOTHTTP_OK)
        || !EXPECT(iothttp_agc_client_set_endpoint(fx.agc, agc_url), IOTHTTP_OK))
        return -1;
    const char *dl = env("IOTHTTP_EMU_DL_URL");
    char dl_name[64], cmd[128];
    unique_name(dl_name, sizeof dl_name, "args-dl");
    if (dl == NULL || emu_commandf("dl-object %s 1000 5", dl_name) != 0)
        return -1;
    snprintf(fx.dl_url, sizeof fx.dl_url, "%s/%s", dl, dl_name);
    snprintf(cmd, sizeof cmd, "dl-info %s", dl_name);
    char *info = emu_command_alloc(cmd);
    const char *m = info ? strstr(info, "\"md5\":\"") : NULL;
    const char *h = info ? strstr(info, "\"sha256\":\"") : NULL;
    if (!CHECK(m != NULL && h != NULL)) {
        free(info);
        return -1;
    }
    memcpy(fx.dl_md5, m + 7, 32);
    memcpy(fx.dl_sha256, h + 10, 64);
    free(info);
    fx.net_ready = true;
    return 0;
}

static void fixture_down(void)
{
    iothttp_device_free(fx.uc);
    iothttp_device_free(fx.al);
    iothttp_device_free(fx.tok);
    iothttp_source_free(fx.src);
    iothttp_aliyun_account_free(fx.acct);
    iothttp_agc_client_free(fx.agc);
    iothttp_client_free(fx.client);
    if (fx.file_path[0] != '\0')
        unlink(fx.file_path);
    free(fx.ca_pem);
    free(fx.cc_cert);
    free(fx.cc_key);
    free(fx.big_payload);
    free(fx.long_text);
    memset(&fx, 0, sizeof fx);
}

/* ---------------------------------------------------------------------------------------
 * Pickers: the valid value, or the row's bad one for its argument
 * ------------------------------------------------------------------------------------- */

#define BAD(i) (r->arg == (i))

static char g_long_buf[5001];

static const char *S(const struct row *r, int i, const char *good)
{
    if (!BAD(i))
        return good;
    switch (r->kind) {
    case K_NULL:
    case K_NULL0:
        return NULL;
    case K_EMPTY:
        return "";
    case K_UTF8:
        return INVALID_UTF8;
    case K_LONG:
        long_text_of((size_t)r->value, g_long_buf);
        return g_long_buf;
    default:
        return good;
    }
}

/* A topic (or other path-like text) too long but otherwise legal. */
static const char *TOPIC(const struct row *r, int i, const char *good)
{
    if (BAD(i) && r->kind == K_LONG) {
        size_t n = (size_t)r->value;
        int head = snprintf(g_long_buf, sizeof g_long_buf, "/%s/%s/", fx.tuc.product,
                            fx.tuc.device);
        memset(g_long_buf + head, 'x', n - (size_t)head);
        g_long_buf[n] = '\0';
        return g_long_buf;
    }
    return S(r, i, good);
}

static size_t Z(const struct row *r, int i, size_t good)
{
    if (!BAD(i))
        return good;
    switch (r->kind) {
    case K_ZERO:
    case K_NULL0:
        return 0;
    case K_HUGE:
        return SIZE_MAX;
    case K_LONG:
    case K_SMALL:
        return (size_t)r->value;
    default:
        return good;
    }
}

static uint32_t U32(const struct row *r, int i, uint32_t good)
{
    if (!BAD(i))
        return good;
    switch (r->kind) {
    case K_ZERO:
        return 0;
    case K_HUGE:
        return UINT32_MAX;
    case K_ENUM:
        return (uint32_t)r->value;
    default:
        return good;
    }
}

static uint64_t U64(const struct row *r, int i, uint64_t good)
{
    if (!BAD(i))
        return good;
    switch (r->kind) {
    case K_ZERO:
        return 0;
    case K_HUGE:
        return UINT64_MAX;
    default:
        return good;
    }
}

static void *P(const struct row *r, int i, void *good)
{
    return BAD(i) && (r->kind == K_NULL || r->kind == K_NULL0) ? NULL : good;
}

/* Handles: fresh valid ones (released by the thunk) or the row's bad one. */
static iothttp_config *fresh_config(void)
{
    iothttp_config *cfg = iothttp_config_new();
    CHECK(cfg != NULL);
    return cfg;
}

static iothttp_config *CFG(const struct row *r, int i)
{
    if (BAD(i) && r->kind == K_FREED) {
        iothttp_config *cfg = fresh_config();
        iothttp_config_free(cfg);
        cfg = NULL;
        return cfg;
    }
    return BAD(i) ? NULL : fresh_config();
}

static iothttp_client *offline_client(void)
{
    iothttp_config *cfg = fresh_config();
    iothttp_client *client = NULL;
    CHECK(iothttp_client_new(cfg, &client) == IOTHTTP_OK && client != NULL);
    iothttp_config_free(cfg);
    return client;
}

/* The fixture's client, or NULL / a freed one. */
static iothttp_client *CLIENT(const struct row *r, int i)
{
    if (BAD(i) && r->kind == K_FREED) {
        iothttp_client *client = offline_client();
        iothttp_client_free(client);
        client = NULL;
        return client;
    }
    return BAD(i) ? NULL : fx.client;
}

static iothttp_device *offline_device(uint32_t cloud)
{
    iothttp_device *dev = NULL;
    CHECK(iothttp_device_new(fx.client, cloud, "pk", "dn", "sec", &dev) == IOTHTTP_OK
          && dev != NULL);
    return dev;
}

/* A fresh offline device of `cloud` (released by the thunk: DEV_DONE), or the bad one. */
static iothttp_device *DEV(const struct row *r, int i, uint32_t cloud)
{
    if (BAD(i) && r->kind == K_FREED) {
        iothttp_device *dev = offline_device(cloud);
        iothttp_device_free(dev);
        dev = NULL;
        return dev;
    }
    return BAD(i) ? NULL : offline_device(cloud);
}

/* One of the fixture's devices, or the bad one. */
static iothttp_device *FXDEV(const struct row *r, int i, iothttp_device *good)
{
    if (BAD(i))
        return DEV(r, i, IOTHTTP_CLOUD_UCLOUD); /* NULL either way */
    return good;
}

static iothttp_source *fresh_source(void)
{
    iothttp_source *src = NULL;
    CHECK(iothttp_source_from_memory(fx.data, sizeof fx.data, &src) == IOTHTTP_OK);
    return src;
}

static int never_read(void *userdata, uint8_t *buf, size_t cap, size_t *out_len)
{
    (void)userdata;
    (void)buf;
    (void)cap;
    (void)out_len;
    failf(__FILE__, __LINE__, "a source of UINT64_MAX bytes was read");
    return 1;
}

/* The fixture's source, or NULL / a freed one / a callback source of UINT64_MAX bytes
 * (released by the thunk: SRC_DONE). */
static iothttp_source *SRC(const struct row *r, int i)
{
    if (BAD(i) && r->kind == K_FREED) {
        iothttp_source *src = fresh_source();
        iothttp_source_free(src);
        src = NULL;
        return src;
    }
    if (BAD(i) && r->kind == K_HUGE) {
        iothttp_source *src = NULL;
        CHECK(iothttp_source_from_callbacks(UINT64_MAX, never_read, NULL, NULL, &src)
              == IOTHTTP_OK);
        return src;
    }
    return BAD(i) ? NULL : fx.src;
}

static void SRC_DONE(iothttp_source *src)
{
    if (src != fx.src)
        iothttp_source_free(src);
}

static iothttp_aliyun_account *offline_account(void)
{
    iothttp_aliyun_account *acct = NULL;
    CHECK(iothttp_aliyun_account_new(fx.client, "ak", "sk", &acct) == IOTHTTP_OK);
    return acct;
}

/* good: the fixture's account (net) or a fresh offline one. */
static iothttp_aliyun_account *ACCT(const struct row *r, int i, bool net)
{
    if (BAD(i) && r->kind == K_FREED) {
        iothttp_aliyun_account *acct = offline_account();
        iothttp_aliyun_account_free(acct);
        acct = NULL;
        return acct;
    }
    if (BAD(i))
        return NULL;
    return net ? fx.acct : offline_account();
}

static iothttp_agc_client *offline_agc(void)
{
    iothttp_agc_client *agc = NULL;
    CHECK(iothttp_agc_client_new(fx.client, "ci", "cs", &agc) == IOTHTTP_OK);
    return agc;
}

static iothttp_agc_client *AGC(const struct row *r, int i, bool net)
{
    if (BAD(i) && r->kind == K_FREED) {
        iothttp_agc_client *agc = offline_agc();
        iothttp_agc_client_free(agc);
        agc = NULL;
        return agc;
    }
    if (BAD(i))
        return NULL;
    return net ? fx.agc : offline_agc();
}

static int progress_ok(void *userdata, uint64_t sent, uint64_t total)
{
    (void)userdata;
    (void)sent;
    (void)total;
    return 0;
}

static void log_ignore(void *userdata, iothttp_log_level level, const char *msg)
{
    (void)userdata;
    (void)level;
    (void)msg;
}

static int read_none(void *userdata, uint8_t *buf, size_t cap, size_t *out_len)
{
    (void)userdata;
    (void)buf;
    (void)cap;
    *out_len = 0;
    return 0;
}

static int rewind_ok(void *userdata)
{
    (void)userdata;
    return 0;
}

/* A store key no other row or run uses. */
static void store_url(char *out, size_t cap)
{
    char name[64];
    unique_name(name, sizeof name, "args");
    snprintf(out, cap, "%s/args/%s.bin", fx.store_url, name);
}

/* ---------------------------------------------------------------------------------------
 * Thunks: one per function of iothttp.h
 * ------------------------------------------------------------------------------------- */

/* ---- client ---- */

static iothttp_result th_iothttp_client_new(const struct row *r, struct outs *o)
{
    iothttp_config *cfg = CFG(r, 1);
    iothttp_result rc = iothttp_client_new(cfg, BAD(2) ? NULL : &o->client);
    iothttp_config_free(cfg);
    return rc;
}

static iothttp_result th_iothttp_client_free(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_client *client = BAD(1) ? CLIENT(r, 1) : offline_client();
    iothttp_client_free(client);
    return IOTHTTP_OK;
}

static iothttp_result th_iothttp_client_stats(const struct row *r, struct outs *o)
{
    return iothttp_client_stats(CLIENT(r, 1), P(r, 2, &o->u64a), P(r, 3, &o->u64b));
}

/* ---- config ---- */

static iothttp_result th_iothttp_config_new(const struct row *r, struct outs *o)
{
    (void)r;
    (void)o;
    iothttp_config *cfg = iothttp_config_new();
    iothttp_result rc = cfg != NULL ? IOTHTTP_OK : IOTHTTP_E_INTERNAL;
    iothttp_config_free(cfg);
    return rc;
}

static iothttp_result th_iothttp_config_free(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_config_free(CFG(r, 1));
    return IOTHTTP_OK;
}

static iothttp_result th_iothttp_config_add_ca_pem(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_config *cfg = CFG(r, 1);
    const char *pem = S(r, 2, fx.ca_pem);
    size_t len = BAD(2) && pem != NULL ? strlen(pem) : Z(r, 3, fx.ca_len);
    if (BAD(2) && r->kind == K_NULL)
        len = fx.ca_len;
    iothttp_result rc = iothttp_config_add_ca_pem(cfg, pem, len);
    iothttp_config_free(cfg);
    return rc;
}

static iothttp_result th_iothttp_config_add_ca_file(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_config *cfg = CFG(r, 1);
    iothttp_result rc = iothttp_config_add_ca_file(cfg, S(r, 2, fx.ca_path));
    iothttp_config_free(cfg);
    return rc;
}

static iothttp_result th_iothttp_config_use_builtin_roots(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_config *cfg = CFG(r, 1);
    iothttp_result rc = iothttp_config_use_builtin_roots(cfg, false);
    iothttp_config_free(cfg);
    return rc;
}

static iothttp_result th_iothttp_config_set_timeouts(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_config *cfg = CFG(r, 1);
    iothttp_result rc = iothttp_config_set_timeouts(cfg, U32(r, 2, 1000), U32(r, 3, 2000));
    iothttp_config_free(cfg);
    return rc;
}

static iothttp_result th_iothttp_config_set_retries(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_config *cfg = CFG(r, 1);
    iothttp_result rc =
        iothttp_config_set_retries(cfg, U32(r, 2, 3), U32(r, 3, 5), U32(r, 4, 20));
    iothttp_config_free(cfg);
    return rc;
}

static iothttp_result th_iothttp_config_set_log(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_config *cfg = CFG(r, 1);
    iothttp_log_fn fn = BAD(2) ? NULL : log_ignore;
    iothttp_result rc =
        iothttp_config_set_log(cfg, fn, P(r, 3, &fx), U32(r, 4, IOTHTTP_LOG_WARN));
    iothttp_config_free(cfg);
    return rc;
}

static iothttp_result th_iothttp_config_set_proxy(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_config *cfg = CFG(r, 1);
    iothttp_result rc = iothttp_config_set_proxy(cfg, S(r, 2, "http://127.0.0.1:3128"));
    iothttp_config_free(cfg);
    return rc;
}

static iothttp_result th_iothttp_config_allow_plain_http(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_config *cfg = CFG(r, 1);
    iothttp_result rc = iothttp_config_allow_plain_http(cfg, true);
    iothttp_config_free(cfg);
    return rc;
}

static iothttp_result th_iothttp_config_add_resolve(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_config *cfg = CFG(r, 1);
    uint16_t port = BAD(3) ? 0 : 443;
    iothttp_result rc = iothttp_config_add_resolve(cfg, S(r, 2, "iot.example.com"), port,
                                                   S(r, 4, "127.0.0.1"));
    iothttp_config_free(cfg);
    return rc;
}

static iothttp_result th_iothttp_config_add_secret_header(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_config *cfg = CFG(r, 1);
    iothttp_result rc = iothttp_config_add_secret_header(cfg, S(r, 2, "X-Vendor-Session"));
    iothttp_config_free(cfg);
    return rc;
}

static iothttp_result th_iothttp_config_set_deadline(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_config *cfg = CFG(r, 1);
    iothttp_result rc = iothttp_config_set_deadline(cfg, U32(r, 2, 5000));
    iothttp_config_free(cfg);
    return rc;
}

static iothttp_result th_iothttp_config_set_client_cert(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_config *cfg = CFG(r, 1);
    const char *cert = S(r, 2, fx.cc_cert);
    size_t cert_len = Z(r, 3, fx.cc_cert_len);
    const char *key = S(r, 4, fx.cc_key);
    size_t key_len = Z(r, 5, fx.cc_key_len);
    /* A bad text is passed with its own length (NULL keeps the good length). */
    if (BAD(2) && cert != NULL)
        cert_len = strlen(cert);
    if (BAD(4) && key != NULL)
        key_len = strlen(key);
    iothttp_result rc = iothttp_config_set_client_cert(cfg, cert, cert_len, key, key_len);
    iothttp_config_free(cfg);
    return rc;
}

static iothttp_result th_iothttp_config_set_client_cert_files(const struct row *r,
                                                              struct outs *o)
{
    (void)o;
    iothttp_config *cfg = CFG(r, 1);
    iothttp_result rc = iothttp_config_set_client_cert_files(cfg, S(r, 2, fx.cc_cert_path),
                                                             S(r, 3, fx.cc_key_path));
    iothttp_config_free(cfg);
    return rc;
}

/* ---- device ---- */

static iothttp_result th_iothttp_device_new(const struct row *r, struct outs *o)
{
    return iothttp_device_new(CLIENT(r, 1), U32(r, 2, IOTHTTP_CLOUD_ALIYUN), S(r, 3, "pk"),
                              S(r, 4, "dn"), S(r, 5, "sec"), BAD(6) ? NULL : &o->dev);
}

static iothttp_result th_iothttp_device_free(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_device_free(DEV(r, 1, IOTHTTP_CLOUD_UCLOUD));
    return IOTHTTP_OK;
}

static iothttp_result th_iothttp_device_set_endpoint(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_device *dev = DEV(r, 1, IOTHTTP_CLOUD_UCLOUD);
    iothttp_result rc = iothttp_device_set_endpoint(dev, S(r, 2, "https://127.0.0.1:1/ucloud"));
    iothttp_device_free(dev);
    return rc;
}

static iothttp_result th_iothttp_device_set_file_endpoint(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_device *dev = DEV(r, 1, IOTHTTP_CLOUD_UCLOUD);
    iothttp_result rc = iothttp_device_set_file_endpoint(dev, S(r, 2, "https://127.0.0.1:1"));
    iothttp_device_free(dev);
    return rc;
}

static iothttp_result th_iothttp_device_set_client_id(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_device *dev = DEV(r, 1, IOTHTTP_CLOUD_ALIYUN);
    iothttp_result rc = iothttp_device_set_client_id(dev, S(r, 2, "00:11:22:33:44:55"));
    iothttp_device_free(dev);
    return rc;
}

static iothttp_result th_iothttp_device_set_region(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_device *dev = DEV(r, 1, IOTHTTP_CLOUD_UCLOUD);
    iothttp_result rc = iothttp_device_set_region(dev, S(r, 2, "cn-gd"));
    iothttp_device_free(dev);
    return rc;
}

static iothttp_result th_iothttp_device_set_sign_method(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_device *dev = DEV(r, 1, IOTHTTP_CLOUD_ALIYUN);
    iothttp_result rc = iothttp_device_set_sign_method(dev, U32(r, 2, IOTHTTP_SIGN_HMAC_SHA1));
    iothttp_device_free(dev);
    return rc;
}

static iothttp_result th_iothttp_device_send_timestamp(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_device *dev = DEV(r, 1, IOTHTTP_CLOUD_UCLOUD);
    iothttp_result rc = iothttp_device_send_timestamp(dev, true);
    iothttp_device_free(dev);
    return rc;
}

static iothttp_result th_iothttp_device_auth(const struct row *r, struct outs *o)
{
    (void)o;
    return iothttp_device_auth(FXDEV(r, 1, fx.uc));
}

static iothttp_result th_iothttp_device_publish(const struct row *r, struct outs *o)
{
    const uint8_t *payload = BAD(4) && r->kind == K_LONG ? fx.big_payload : PAYLOAD;
    size_t len = BAD(3) && r->kind == K_NULL0 ? 0 : Z(r, 4, PAYLOAD_LEN);
    return iothttp_device_publish(FXDEV(r, 1, fx.uc), TOPIC(r, 2, fx.tuc.topic),
                                  P(r, 3, (void *)payload), len, P(r, 5, o->id),
                                  Z(r, 6, sizeof o->id));
}

static iothttp_result th_iothttp_device_upload_file(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_source *src = SRC(r, 4);
    iothttp_progress_fn progress = BAD(5) ? NULL : progress_ok;
    iothttp_result rc =
        iothttp_device_upload_file(FXDEV(r, 1, fx.uc), S(r, 2, "args.bin"),
                                   S(r, 3, "application/octet-stream"), src, progress,
                                   P(r, 6, &fx));
    SRC_DONE(src);
    return rc;
}

static iothttp_result th_iothttp_device_reply_data(const struct row *r, struct outs *o)
{
    /* NET (K_SMALL): after a publish that received "args-reply-data" (15 bytes). Else an
     * offline device that never published (empty data). */
    bool net = BAD(3) && r->kind == K_SMALL;
    iothttp_device *dev;
    if (net) {
        if (!EXPECT(iothttp_device_publish(fx.al, fx.tal.topic, PAYLOAD, PAYLOAD_LEN, NULL, 0),
                    IOTHTTP_OK))
            return IOTHTTP_E_INTERNAL;
        dev = fx.al;
        o->needed = strlen("args-reply-data");
    } else {
        dev = DEV(r, 1, IOTHTTP_CLOUD_ALIYUN);
    }
    size_t cap = BAD(2) && r->kind == K_NULL0 ? 0 : Z(r, 3, sizeof o->bytes);
    iothttp_result rc = iothttp_device_reply_data(dev, P(r, 2, o->bytes), cap, P(r, 4, &o->len));
    if (!net)
        iothttp_device_free(dev);
    return rc;
}

static iothttp_result th_iothttp_device_get_token(const struct row *r, struct outs *o)
{
    o->needed = sizeof TOKEN; /* length + 1 */
    return iothttp_device_get_token(FXDEV(r, 1, fx.tok), P(r, 2, o->buf), Z(r, 3, sizeof o->buf),
                                    P(r, 4, &o->len), P(r, 5, &o->u64a));
}

static iothttp_result th_iothttp_device_set_token(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_device *dev = DEV(r, 1, IOTHTTP_CLOUD_UCLOUD);
    iothttp_result rc = iothttp_device_set_token(dev, S(r, 2, TOKEN), U64(r, 3, 1234));
    iothttp_device_free(dev);
    return rc;
}

/* ---- results and errors ---- */

static iothttp_result th_iothttp_result_name(const struct row *r, struct outs *o)
{
    (void)o;
    const char *name = iothttp_result_name(U32(r, 1, IOTHTTP_OK));
    return name != NULL && strcmp(name, "IOTHTTP_UNKNOWN") == 0 ? IOTHTTP_OK
                                                                 : IOTHTTP_E_INTERNAL;
}

static iothttp_result th_iothttp_last_error(const struct row *r, struct outs *o)
{
    (void)r;
    (void)o;
    iothttp_config_set_timeouts(NULL, 1, 1); /* a failure to describe */
    const char *e = iothttp_last_error();
    return e != NULL && e[0] != '\0' ? IOTHTTP_OK : IOTHTTP_E_INTERNAL;
}

static iothttp_result th_iothttp_last_cloud_code(const struct row *r, struct outs *o)
{
    (void)r;
    (void)o;
    iothttp_config_set_timeouts(NULL, 1, 1);
    return iothttp_last_cloud_code() == 0 ? IOTHTTP_OK : IOTHTTP_E_INTERNAL;
}

static iothttp_result th_iothttp_last_http_status(const struct row *r, struct outs *o)
{
    (void)r;
    (void)o;
    iothttp_config_set_timeouts(NULL, 1, 1);
    return iothttp_last_http_status() == 0 ? IOTHTTP_OK : IOTHTTP_E_INTERNAL;
}

static iothttp_result th_iothttp_version(const struct row *r, struct outs *o)
{
    (void)r;
    (void)o;
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", IOTHTTP_VERSION_MAJOR, IOTHTTP_VERSION_MINOR,
             IOTHTTP_VERSION_PATCH);
    const char *v = iothttp_version();
    return v != NULL && strcmp(v, want) == 0 ? IOTHTTP_OK : IOTHTTP_E_INTERNAL;
}

/* ---- sources ---- */

static void free_out_source(struct outs *o, iothttp_result rc)
{
    if (rc == IOTHTTP_OK && o->src != SENTINEL(iothttp_source)) {
        iothttp_source_free(o->src);
        o->src = SENTINEL(iothttp_source);
    }
}

static iothttp_result th_iothttp_source_from_file(const struct row *r, struct outs *o)
{
    iothttp_result rc =
        iothttp_source_from_file(S(r, 1, fx.file_path), BAD(2) ? NULL : &o->src);
    free_out_source(o, rc);
    return rc;
}

static iothttp_result th_iothttp_source_from_memory(const struct row *r, struct outs *o)
{
    size_t len = BAD(1) && r->kind == K_NULL0 ? 0 : Z(r, 2, sizeof fx.data);
    iothttp_result rc =
        iothttp_source_from_memory(P(r, 1, fx.data), len, BAD(3) ? NULL : &o->src);
    free_out_source(o, rc);
    return rc;
}

static iothttp_result th_iothttp_source_from_callbacks(const struct row *r, struct outs *o)
{
    iothttp_read_fn read = BAD(2) ? NULL : read_none;
    iothttp_rewind_fn rewind = BAD(3) ? NULL : rewind_ok;
    iothttp_result rc = iothttp_source_from_callbacks(U64(r, 1, 10), read, rewind,
                                                      P(r, 4, &fx), BAD(5) ? NULL : &o->src);
    free_out_source(o, rc);
    return rc;
}

static iothttp_source *SRCFRESH(const struct row *r, int i)
{
    return BAD(i) ? SRC(r, i) : fresh_source();
}

static iothttp_result th_iothttp_source_set_md5_hex(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_source *src = SRCFRESH(r, 1);
    iothttp_result rc =
        iothttp_source_set_md5_hex(src, S(r, 2, "01ae29f8a789a25458ed8a693fe80de3"));
    iothttp_source_free(src);
    return rc;
}

static iothttp_result th_iothttp_source_set_sha256_hex(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_source *src = SRCFRESH(r, 1);
    iothttp_result rc = iothttp_source_set_sha256_hex(
        src, S(r, 2, "eea840a45c1c7f5e8cb966c1bca091324894272a22276223f16761c01ca88915"));
    iothttp_source_free(src);
    return rc;
}

static iothttp_result th_iothttp_source_size(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_source *src = SRCFRESH(r, 1);
    uint64_t size = iothttp_source_size(src);
    iothttp_source_free(src);
    return size == 0 ? IOTHTTP_OK : IOTHTTP_E_INTERNAL; /* "0 for NULL" */
}

static iothttp_result th_iothttp_source_free(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_source_free(SRCFRESH(r, 1));
    return IOTHTTP_OK;
}

/* ---- Aliyun OTA ---- */

static iothttp_result th_iothttp_aliyun_account_new(const struct row *r, struct outs *o)
{
    iothttp_result rc = iothttp_aliyun_account_new(CLIENT(r, 1), S(r, 2, "ak"), S(r, 3, "sk"),
                                                   BAD(4) ? NULL : &o->acct);
    return rc;
}

static iothttp_result th_iothttp_aliyun_account_free(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_aliyun_account_free(ACCT(r, 1, false));
    return IOTHTTP_OK;
}

static iothttp_result th_iothttp_aliyun_account_set_endpoint(const struct row *r,
                                                             struct outs *o)
{
    (void)o;
    iothttp_aliyun_account *acct = ACCT(r, 1, false);
    iothttp_result rc = iothttp_aliyun_account_set_endpoint(acct, S(r, 2, "https://127.0.0.1:1"));
    iothttp_aliyun_account_free(acct);
    return rc;
}

static iothttp_result th_iothttp_aliyun_account_set_region(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_aliyun_account *acct = ACCT(r, 1, false);
    iothttp_result rc = iothttp_aliyun_account_set_region(acct, S(r, 2, "cn-beijing"));
    iothttp_aliyun_account_free(acct);
    return rc;
}

static iothttp_result th_iothttp_aliyun_account_set_instance_id(const struct row *r,
                                                                struct outs *o)
{
    (void)o;
    iothttp_aliyun_account *acct = ACCT(r, 1, false);
    iothttp_result rc = iothttp_aliyun_account_set_instance_id(acct, S(r, 2, "iot-cn-test"));
    iothttp_aliyun_account_free(acct);
    return rc;
}

static iothttp_result th_iothttp_aliyun_ota_upload(const struct row *r, struct outs *o)
{
    iothttp_source *src = SRC(r, 3);
    iothttp_progress_fn progress = BAD(4) ? NULL : progress_ok;
    iothttp_result rc = iothttp_aliyun_ota_upload(
        ACCT(r, 1, true), S(r, 2, "bin"), src, progress, P(r, 5, &fx), P(r, 6, o->url),
        Z(r, 7, sizeof o->url), P(r, 8, &o->len));
    SRC_DONE(src);
    return rc;
}

/* ---- AGC ---- */

static iothttp_result th_iothttp_agc_client_new(const struct row *r, struct outs *o)
{
    return iothttp_agc_client_new(CLIENT(r, 1), S(r, 2, "ci"), S(r, 3, "cs"),
                                  BAD(4) ? NULL : &o->agc);
}

static iothttp_result th_iothttp_agc_client_free(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_agc_client_free(AGC(r, 1, false));
    return IOTHTTP_OK;
}

static iothttp_result th_iothttp_agc_client_set_endpoint(const struct row *r, struct outs *o)
{
    (void)o;
    iothttp_agc_client *agc = AGC(r, 1, false);
    iothttp_result rc = iothttp_agc_client_set_endpoint(agc, S(r, 2, "https://127.0.0.1:1"));
    iothttp_agc_client_free(agc);
    return rc;
}

static iothttp_result th_iothttp_agc_upload(const struct row *r, struct outs *o)
{
    iothttp_source *src = SRC(r, 4);
    iothttp_progress_fn progress = BAD(5) ? NULL : progress_ok;
    iothttp_result rc = iothttp_agc_upload(AGC(r, 1, true), S(r, 2, "100200300"),
                                           S(r, 3, "args.app"), src, progress, P(r, 6, &fx),
                                           P(r, 7, o->object), Z(r, 8, sizeof o->object),
                                           P(r, 9, &o->len));
    SRC_DONE(src);
    return rc;
}

/* ---- generic uploads ---- */

static iothttp_result th_iothttp_put(const struct row *r, struct outs *o)
{
    (void)o;
    char url[512];
    store_url(url, sizeof url);
    static const char *const headers[] = {"Content-Type: application/x-args"};
    size_t n = BAD(3) && r->kind == K_NULL0 ? 0 : Z(r, 4, 1);
    iothttp_source *src = SRC(r, 5);
    iothttp_progress_fn progress = BAD(6) ? NULL : progress_ok;
    iothttp_result rc = iothttp_put(CLIENT(r, 1), S(r, 2, url), P(r, 3, (void *)headers), n,
                                    src, progress, P(r, 7, &fx));
    SRC_DONE(src);
    return rc;
}

static iothttp_result th_iothttp_post_form(const struct row *r, struct outs *o)
{
    (void)o;
    char file_name[64];
    unique_name(file_name, sizeof file_name, "args");
    static const char *const names[] = {"key", "x-meta"};
    static const char *const values[] = {"forms/${filename}", "v"};
    iothttp_source *src = SRC(r, 9);
    iothttp_progress_fn progress = BAD(10) ? NULL : progress_ok;
    iothttp_result rc = iothttp_post_form(
        CLIENT(r, 1), S(r, 2, fx.form_url), P(r, 3, (void *)names), P(r, 4, (void *)values),
        Z(r, 5, 2), S(r, 6, "file"), S(r, 7, file_name), S(r, 8, "application/x-args"), src,
        progress, P(r, 11, &fx));
    SRC_DONE(src);
    return rc;
}

/* ---- downloads ---- */

static int write_ok(void *userdata, const uint8_t *buf, size_t len)
{
    (void)userdata;
    (void)buf;
    (void)len;
    return 0;
}

static iothttp_result th_iothttp_download(const struct row *r, struct outs *o)
{
    static const char *const headers[] = {"Accept: application/octet-stream"};
    size_t n = BAD(3) && r->kind == K_NULL0 ? 0 : Z(r, 4, 1);
    iothttp_write_fn write = BAD(6) ? NULL : write_ok;
    iothttp_progress_fn progress = BAD(8) ? NULL : progress_ok;
    return iothttp_download(CLIENT(r, 1), S(r, 2, fx.dl_url), P(r, 3, (void *)headers), n,
                            U64(r, 5, 0), write, P(r, 7, &fx), progress, P(r, 9, &fx),
                            P(r, 10, &o->u64a));
}

static iothttp_result th_iothttp_download_file(const struct row *r, struct outs *o)
{
    (void)o;
    char path[96], side[112];
    snprintf(path, sizeof path, "/tmp/iothttp-args-dl-%ld.bin", (long)getpid());
    iothttp_progress_fn progress = BAD(7) ? NULL : progress_ok;
    iothttp_result rc = iothttp_download_file(CLIENT(r, 1), S(r, 2, fx.dl_url), S(r, 3, path),
                                              U64(r, 4, 1000), S(r, 5, fx.dl_md5),
                                              S(r, 6, fx.dl_sha256), progress, P(r, 8, &fx));
    unlink(path);
    snprintf(side, sizeof side, "%s.part", path);
    unlink(side);
    snprintf(side, sizeof side, "%s.part.meta", path);
    unlink(side);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * The table
 * ------------------------------------------------------------------------------------- */

#define INV IOTHTTP_E_INVALID_ARG
#define OK IOTHTTP_OK
#define BTS IOTHTTP_E_BUFFER_TOO_SMALL
#define TL IOTHTTP_E_TOO_LARGE
/* ROW(function, argument index, argument name, kind, expected, flags): the thunk
 * th_<function> is bound by name. ROWV adds the row's value (length, enum value, capacity). */
#define ROWV(fn, arg, name, kind, value, want, flags)                                      \
    {#fn, arg, name, kind, value, want, flags, th_##fn}
#define ROW(fn, arg, name, kind, want, flags) ROWV(fn, arg, name, kind, 0, want, flags)

static const struct row ROWS[] = {
    /* client */
    ROW(iothttp_client_new, 1, "cfg", K_NULL, INV, NAMES),
    ROW(iothttp_client_new, 1, "cfg", K_FREED, INV, NAMES),
    ROW(iothttp_client_new, 2, "out", K_NULL, INV, NAMES),
    ROW(iothttp_client_free, 1, "client", K_NULL, OK, VOID),
    ROW(iothttp_client_free, 1, "client", K_FREED, OK, VOID),
    ROW(iothttp_client_stats, 1, "client", K_NULL, INV, NAMES),
    ROW(iothttp_client_stats, 1, "client", K_FREED, INV, NAMES),
    ROW(iothttp_client_stats, 2, "tls_handshakes", K_NULL, OK, 0),
    ROW(iothttp_client_stats, 3, "requests", K_NULL, OK, 0),
    /* config */
    ROW(iothttp_config_new, 0, "", K_NONE, OK, VOID),
    ROW(iothttp_config_free, 1, "cfg", K_NULL, OK, VOID),
    ROW(iothttp_config_free, 1, "cfg", K_FREED, OK, VOID),
    ROW(iothttp_config_add_ca_pem, 1, "cfg", K_NULL, INV, NAMES),
    ROW(iothttp_config_add_ca_pem, 1, "cfg", K_FREED, INV, NAMES),
    ROW(iothttp_config_add_ca_pem, 2, "pem", K_NULL, INV, NAMES),
    ROW(iothttp_config_add_ca_pem, 2, "pem", K_EMPTY, INV, 0),
    ROW(iothttp_config_add_ca_pem, 2, "pem", K_UTF8, INV, 0),
    ROW(iothttp_config_add_ca_pem, 3, "len", K_ZERO, INV, 0),
    ROW(iothttp_config_add_ca_pem, 3, "len", K_HUGE, INV, 0),
    ROW(iothttp_config_add_ca_file, 1, "cfg", K_NULL, INV, NAMES),
    ROW(iothttp_config_add_ca_file, 1, "cfg", K_FREED, INV, NAMES),
    ROW(iothttp_config_add_ca_file, 2, "path", K_NULL, INV, NAMES),
    ROW(iothttp_config_add_ca_file, 2, "path", K_EMPTY, INV, 0),
    ROW(iothttp_config_add_ca_file, 2, "path", K_UTF8, INV, NAMES),
    ROW(iothttp_config_set_client_cert, 0, "", K_NONE, OK, 0),
    ROW(iothttp_config_set_client_cert, 1, "cfg", K_NULL, INV, NAMES),
    ROW(iothttp_config_set_client_cert, 1, "cfg", K_FREED, INV, NAMES),
    ROW(iothttp_config_set_client_cert, 2, "cert_pem", K_NULL, INV, NAMES),
    ROW(iothttp_config_set_client_cert, 2, "cert_pem", K_NULL0, INV, NAMES),
    ROW(iothttp_config_set_client_cert, 2, "cert_pem", K_EMPTY, INV, NAMES),
    ROW(iothttp_config_set_client_cert, 2, "cert_pem", K_UTF8, INV, 0),
    ROW(iothttp_config_set_client_cert, 3, "cert_len", K_ZERO, INV, NAMES),
    ROW(iothttp_config_set_client_cert, 3, "cert_len", K_HUGE, INV, 0),
    ROW(iothttp_config_set_client_cert, 4, "key_pem", K_NULL, INV, NAMES),
    ROW(iothttp_config_set_client_cert, 4, "key_pem", K_NULL0, INV, NAMES),
    ROW(iothttp_config_set_client_cert, 4, "key_pem", K_EMPTY, INV, NAMES),
    ROW(iothttp_config_set_client_cert, 4, "key_pem", K_UTF8, INV, 0),
    ROW(iothttp_config_set_client_cert, 5, "key_len", K_ZERO, INV, NAMES),
    ROW(iothttp_config_set_client_cert, 5, "key_len", K_HUGE, INV, 0),
    ROW(iothttp_config_set_client_cert_files, 0, "", K_NONE, OK, 0),
    ROW(iothttp_config_set_client_cert_files, 1, "cfg", K_NULL, INV, NAMES),
    ROW(iothttp_config_set_client_cert_files, 1, "cfg", K_FREED, INV, NAMES),
    ROW(iothttp_config_set_client_cert_files, 2, "cert_path", K_NULL, INV, NAMES),
    ROW(iothttp_config_set_client_cert_files, 2, "cert_path", K_EMPTY, INV, NAMES),
    ROW(iothttp_config_set_client_cert_files, 2, "cert_path", K_UTF8, INV, NAMES),
    ROW(iothttp_config_set_client_cert_files, 3, "key_path", K_NULL, INV, NAMES),
    ROW(iothttp_config_set_client_cert_files, 3, "key_path", K_EMPTY, INV, NAMES),
    ROW(iothttp_config_set_client_cert_files, 3, "key_path", K_UTF8, INV, NAMES),
    ROW(iothttp_config_use_builtin_roots, 1, "cfg", K_NULL, INV, NAMES),
    ROW(iothttp_config_use_builtin_roots, 1, "cfg", K_FREED, INV, NAMES),
    ROW(iothttp_config_set_timeouts, 1, "cfg", K_NULL, INV, NAMES),
    ROW(iothttp_config_set_timeouts, 1, "cfg", K_FREED, INV, NAMES),
    ROW(iothttp_config_set_timeouts, 2, "connect_ms", K_ZERO, INV, 0),
    ROW(iothttp_config_set_timeouts, 2, "connect_ms", K_HUGE, OK, 0),
    ROW(iothttp_config_set_timeouts, 3, "io_ms", K_ZERO, INV, 0),
    ROW(iothttp_config_set_timeouts, 3, "io_ms", K_HUGE, OK, 0),
    ROW(iothttp_config_set_retries, 1, "cfg", K_NULL, INV, NAMES),
    ROW(iothttp_config_set_retries, 1, "cfg", K_FREED, INV, NAMES),
    ROW(iothttp_config_set_retries, 2, "max_attempts", K_ZERO, INV, 0),
    ROW(iothttp_config_set_retries, 2, "max_attempts", K_HUGE, OK, 0),
    ROW(iothttp_config_set_retries, 3, "base_delay_ms", K_ZERO, OK, 0),
    ROW(iothttp_config_set_retries, 3, "base_delay_ms", K_HUGE, INV, 0), /* > max */
    ROW(iothttp_config_set_retries, 4, "max_delay_ms", K_ZERO, INV, 0),  /* < base */
    ROW(iothttp_config_set_retries, 4, "max_delay_ms", K_HUGE, OK, 0),
    ROW(iothttp_config_set_log, 1, "cfg", K_NULL, INV, NAMES),
    ROW(iothttp_config_set_log, 1, "cfg", K_FREED, INV, NAMES),
    ROW(iothttp_config_set_log, 2, "fn", K_NULL, OK, 0), /* logging off */
    ROW(iothttp_config_set_log, 3, "userdata", K_NULL, OK, 0),
    ROWV(iothttp_config_set_log, 4, "max_level", K_ENUM, 0, INV, 0),
    ROWV(iothttp_config_set_log, 4, "max_level", K_ENUM, 6, INV, 0),
    ROW(iothttp_config_set_log, 4, "max_level", K_HUGE, INV, 0),
    ROW(iothttp_config_set_proxy, 1, "cfg", K_NULL, INV, NAMES),
    ROW(iothttp_config_set_proxy, 1, "cfg", K_FREED, INV, NAMES),
    ROW(iothttp_config_set_proxy, 2, "proxy_url", K_NULL, OK, 0), /* removes it */
    ROW(iothttp_config_set_proxy, 2, "proxy_url", K_EMPTY, INV, 0),
    ROW(iothttp_config_set_proxy, 2, "proxy_url", K_UTF8, INV, NAMES),
    ROW(iothttp_config_add_resolve, 1, "cfg", K_NULL, INV, NAMES),
    ROW(iothttp_config_add_resolve, 1, "cfg", K_FREED, INV, NAMES),
    ROW(iothttp_config_add_resolve, 2, "host", K_NULL, INV, NAMES),
    ROW(iothttp_config_add_resolve, 2, "host", K_EMPTY, INV, 0),
    ROW(iothttp_config_add_resolve, 2, "host", K_UTF8, INV, NAMES),
    ROW(iothttp_config_add_resolve, 3, "port", K_ZERO, INV, 0),
    ROW(iothttp_config_add_resolve, 4, "address", K_NULL, INV, NAMES),
    ROW(iothttp_config_add_resolve, 4, "address", K_EMPTY, INV, 0),
    ROW(iothttp_config_add_resolve, 4, "address", K_UTF8, INV, NAMES),
    ROW(iothttp_config_add_secret_header, 1, "cfg", K_NULL, INV, NAMES),
    ROW(iothttp_config_add_secret_header, 1, "cfg", K_FREED, INV, NAMES),
    ROW(iothttp_config_add_secret_header, 2, "name", K_NULL, INV, NAMES),
    ROW(iothttp_config_add_secret_header, 2, "name", K_EMPTY, INV, 0),
    ROW(iothttp_config_add_secret_header, 2, "name", K_UTF8, INV, NAMES),
    ROWV(iothttp_config_add_secret_header, 2, "name", K_LONG, 257, INV, 0),
    ROW(iothttp_config_set_deadline, 1, "cfg", K_NULL, INV, NAMES),
    ROW(iothttp_config_set_deadline, 1, "cfg", K_FREED, INV, NAMES),
    ROW(iothttp_config_set_deadline, 2, "total_ms", K_ZERO, OK, 0), /* 0: no deadline */
    ROW(iothttp_config_set_deadline, 2, "total_ms", K_HUGE, OK, 0),
    ROW(iothttp_config_allow_plain_http, 1, "cfg", K_NULL, INV, NAMES),
    ROW(iothttp_config_allow_plain_http, 1, "cfg", K_FREED, INV, NAMES),
    /* device */
    ROW(iothttp_device_new, 1, "client", K_NULL, INV, NAMES),
    ROW(iothttp_device_new, 1, "client", K_FREED, INV, NAMES),
    ROWV(iothttp_device_new, 2, "cloud", K_ENUM, 4, INV, 0),
    ROW(iothttp_device_new, 2, "cloud", K_HUGE, INV, 0),
    ROW(iothttp_device_new, 3, "product", K_NULL, INV, NAMES),
    ROW(iothttp_device_new, 3, "product", K_EMPTY, INV, 0),
    ROW(iothttp_device_new, 3, "product", K_UTF8, INV, NAMES),
    ROWV(iothttp_device_new, 3, "product", K_LONG, 257, INV, 0),
    ROW(iothttp_device_new, 4, "device", K_NULL, INV, NAMES),
    ROW(iothttp_device_new, 4, "device", K_EMPTY, INV, 0),
    ROW(iothttp_device_new, 4, "device", K_UTF8, INV, NAMES),
    ROWV(iothttp_device_new, 4, "device", K_LONG, 257, INV, 0),
    ROW(iothttp_device_new, 5, "secret", K_NULL, INV, NAMES),
    ROW(iothttp_device_new, 5, "secret", K_EMPTY, INV, 0),
    ROW(iothttp_device_new, 5, "secret", K_UTF8, INV, NAMES),
    ROWV(iothttp_device_new, 5, "secret", K_LONG, 257, INV, 0),
    ROW(iothttp_device_new, 6, "out", K_NULL, INV, NAMES),
    ROW(iothttp_device_free, 1, "dev", K_NULL, OK, VOID),
    ROW(iothttp_device_free, 1, "dev", K_FREED, OK, VOID),
    ROW(iothttp_device_set_endpoint, 1, "dev", K_NULL, INV, NAMES),
    ROW(iothttp_device_set_endpoint, 1, "dev", K_FREED, INV, NAMES),
    ROW(iothttp_device_set_endpoint, 2, "base_url", K_NULL, INV, NAMES),
    ROW(iothttp_device_set_endpoint, 2, "base_url", K_EMPTY, INV, 0),
    ROW(iothttp_device_set_endpoint, 2, "base_url", K_UTF8, INV, NAMES),
    ROW(iothttp_device_set_file_endpoint, 1, "dev", K_NULL, INV, NAMES),
    ROW(iothttp_device_set_file_endpoint, 1, "dev", K_FREED, INV, NAMES),
    ROW(iothttp_device_set_file_endpoint, 2, "base_url", K_NULL, INV, NAMES),
    ROW(iothttp_device_set_file_endpoint, 2, "base_url", K_EMPTY, INV, 0),
    ROW(iothttp_device_set_file_endpoint, 2, "base_url", K_UTF8, INV, NAMES),
    ROW(iothttp_device_set_client_id, 1, "dev", K_NULL, INV, NAMES),
    ROW(iothttp_device_set_client_id, 1, "dev", K_FREED, INV, NAMES),
    ROW(iothttp_device_set_client_id, 2, "client_id", K_NULL, INV, NAMES),
    ROW(iothttp_device_set_client_id, 2, "client_id", K_EMPTY, INV, 0),
    ROW(iothttp_device_set_client_id, 2, "client_id", K_UTF8, INV, NAMES),
    ROWV(iothttp_device_set_client_id, 2, "client_id", K_LONG, 65, INV, 0),
    ROW(iothttp_device_set_region, 1, "dev", K_NULL, INV, NAMES),
    ROW(iothttp_device_set_region, 1, "dev", K_FREED, INV, NAMES),
    ROW(iothttp_device_set_region, 2, "region", K_NULL, INV, NAMES),
    ROW(iothttp_device_set_region, 2, "region", K_EMPTY, INV, 0),
    ROW(iothttp_device_set_region, 2, "region", K_UTF8, INV, NAMES),
    ROW(iothttp_device_set_sign_method, 1, "dev", K_NULL, INV, NAMES),
    ROW(iothttp_device_set_sign_method, 1, "dev", K_FREED, INV, NAMES),
    ROWV(iothttp_device_set_sign_method, 2, "method", K_ENUM, 3, INV, 0),
    ROW(iothttp_device_set_sign_method, 2, "method", K_HUGE, INV, 0),
    ROW(iothttp_device_send_timestamp, 1, "dev", K_NULL, INV, NAMES),
    ROW(iothttp_device_send_timestamp, 1, "dev", K_FREED, INV, NAMES),
    ROW(iothttp_device_auth, 1, "dev", K_NULL, INV, NAMES),
    ROW(iothttp_device_auth, 1, "dev", K_FREED, INV, NAMES),
    ROW(iothttp_device_publish, 1, "dev", K_NULL, INV, NAMES),
    ROW(iothttp_device_publish, 1, "dev", K_FREED, INV, NAMES),
    ROW(iothttp_device_publish, 2, "topic", K_NULL, INV, NAMES),
    ROW(iothttp_device_publish, 2, "topic", K_EMPTY, INV, 0),
    ROW(iothttp_device_publish, 2, "topic", K_UTF8, INV, NAMES),
    ROWV(iothttp_device_publish, 2, "topic", K_LONG, 1025, INV, 0),
    ROW(iothttp_device_publish, 3, "payload", K_NULL, INV, NAMES),
    ROW(iothttp_device_publish, 3, "payload", K_NULL0, OK, NET),
    ROW(iothttp_device_publish, 4, "len", K_ZERO, OK, NET),
    ROWV(iothttp_device_publish, 4, "len", K_LONG, 131073, TL, 0),
    ROW(iothttp_device_publish, 4, "len", K_HUGE, TL, 0),
    ROW(iothttp_device_publish, 5, "message_id", K_NULL, OK, NET),
    ROW(iothttp_device_publish, 6, "message_id_cap", K_ZERO, BTS, 0),
    ROWV(iothttp_device_publish, 6, "message_id_cap", K_SMALL, IOTHTTP_MESSAGE_ID_LEN - 1, BTS, 0),
    ROW(iothttp_device_upload_file, 1, "dev", K_NULL, INV, NAMES),
    ROW(iothttp_device_upload_file, 1, "dev", K_FREED, INV, NAMES),
    ROW(iothttp_device_upload_file, 2, "file_name", K_NULL, INV, NAMES),
    ROW(iothttp_device_upload_file, 2, "file_name", K_EMPTY, INV, 0),
    ROW(iothttp_device_upload_file, 2, "file_name", K_UTF8, INV, NAMES),
    ROW(iothttp_device_upload_file, 3, "content_type", K_NULL, INV, NAMES),
    ROW(iothttp_device_upload_file, 3, "content_type", K_UTF8, INV, NAMES),
    ROW(iothttp_device_upload_file, 4, "src", K_NULL, INV, NAMES),
    ROW(iothttp_device_upload_file, 4, "src", K_FREED, INV, NAMES),
    ROW(iothttp_device_upload_file, 5, "progress", K_NULL, OK, NET),
    ROW(iothttp_device_upload_file, 6, "userdata", K_NULL, OK, NET),
    ROW(iothttp_device_reply_data, 1, "dev", K_NULL, INV, NAMES),
    ROW(iothttp_device_reply_data, 1, "dev", K_FREED, INV, NAMES),
    ROW(iothttp_device_reply_data, 2, "buf", K_NULL, INV, 0),
    ROW(iothttp_device_reply_data, 2, "buf", K_NULL0, OK, 0), /* buf NULL, cap 0: no data */
    ROWV(iothttp_device_reply_data, 3, "cap", K_SMALL, 3, BTS, NET | LEN),
    ROW(iothttp_device_reply_data, 4, "len_out", K_NULL, INV, NAMES),
    ROW(iothttp_device_get_token, 1, "dev", K_NULL, INV, NAMES),
    ROW(iothttp_device_get_token, 1, "dev", K_FREED, INV, NAMES),
    ROW(iothttp_device_get_token, 2, "buf", K_NULL, INV, 0),
    ROW(iothttp_device_get_token, 3, "cap", K_ZERO, BTS, LEN),
    ROWV(iothttp_device_get_token, 3, "cap", K_SMALL, sizeof TOKEN - 1, BTS, LEN),
    ROW(iothttp_device_get_token, 4, "len_out", K_NULL, OK, 0),
    ROW(iothttp_device_get_token, 5, "expires_at_unix_ms", K_NULL, OK, 0),
    ROW(iothttp_device_set_token, 1, "dev", K_NULL, INV, NAMES),
    ROW(iothttp_device_set_token, 1, "dev", K_FREED, INV, NAMES),
    ROW(iothttp_device_set_token, 2, "token", K_NULL, INV, NAMES),
    ROW(iothttp_device_set_token, 2, "token", K_EMPTY, INV, 0),
    ROW(iothttp_device_set_token, 2, "token", K_UTF8, INV, NAMES),
    ROWV(iothttp_device_set_token, 2, "token", K_LONG, 4097, INV, 0),
    ROW(iothttp_device_set_token, 3, "expires_at_unix_ms", K_ZERO, OK, 0), /* unknown */
    ROW(iothttp_device_set_token, 3, "expires_at_unix_ms", K_HUGE, OK, 0),
    /* results and errors */
    ROWV(iothttp_result_name, 1, "result", K_ENUM, 5, OK, VOID), /* "IOTHTTP_UNKNOWN" */
    ROW(iothttp_result_name, 1, "result", K_HUGE, OK, VOID),
    ROW(iothttp_last_error, 0, "", K_NONE, OK, VOID),
    ROW(iothttp_last_cloud_code, 0, "", K_NONE, OK, VOID),
    ROW(iothttp_last_http_status, 0, "", K_NONE, OK, VOID),
    ROW(iothttp_version, 0, "", K_NONE, OK, VOID),
    /* sources */
    ROW(iothttp_source_from_file, 1, "path", K_NULL, INV, NAMES),
    ROW(iothttp_source_from_file, 1, "path", K_EMPTY, INV, 0),
    ROW(iothttp_source_from_file, 1, "path", K_UTF8, INV, NAMES),
    ROW(iothttp_source_from_file, 2, "out", K_NULL, INV, NAMES),
    ROW(iothttp_source_from_memory, 1, "data", K_NULL, INV, NAMES),
    ROW(iothttp_source_from_memory, 1, "data", K_NULL0, OK, 0),
    ROW(iothttp_source_from_memory, 2, "len", K_ZERO, OK, 0),
    ROW(iothttp_source_from_memory, 2, "len", K_HUGE, INV, 0),
    ROW(iothttp_source_from_memory, 3, "out", K_NULL, INV, NAMES),
    ROW(iothttp_source_from_callbacks, 1, "size", K_ZERO, OK, 0),
    ROW(iothttp_source_from_callbacks, 1, "size", K_HUGE, OK, 0),
    ROW(iothttp_source_from_callbacks, 2, "read", K_NULL, INV, NAMES),
    ROW(iothttp_source_from_callbacks, 3, "rewind", K_NULL, OK, 0),
    ROW(iothttp_source_from_callbacks, 4, "userdata", K_NULL, OK, 0),
    ROW(iothttp_source_from_callbacks, 5, "out", K_NULL, INV, NAMES),
    ROW(iothttp_source_set_md5_hex, 1, "src", K_NULL, INV, NAMES),
    ROW(iothttp_source_set_md5_hex, 1, "src", K_FREED, INV, NAMES),
    ROW(iothttp_source_set_md5_hex, 2, "md5_hex", K_NULL, INV, NAMES),
    ROW(iothttp_source_set_md5_hex, 2, "md5_hex", K_EMPTY, INV, 0),
    ROW(iothttp_source_set_md5_hex, 2, "md5_hex", K_UTF8, INV, NAMES),
    ROWV(iothttp_source_set_md5_hex, 2, "md5_hex", K_LONG, 33, INV, 0),
    ROW(iothttp_source_set_sha256_hex, 1, "src", K_NULL, INV, NAMES),
    ROW(iothttp_source_set_sha256_hex, 1, "src", K_FREED, INV, NAMES),
    ROW(iothttp_source_set_sha256_hex, 2, "sha256_hex", K_NULL, INV, NAMES),
    ROW(iothttp_source_set_sha256_hex, 2, "sha256_hex", K_EMPTY, INV, 0),
    ROW(iothttp_source_set_sha256_hex, 2, "sha256_hex", K_UTF8, INV, NAMES),
    ROWV(iothttp_source_set_sha256_hex, 2, "sha256_hex", K_LONG, 65, INV, 0),
    ROW(iothttp_source_size, 1, "src", K_NULL, OK, VOID), /* 0 */
    ROW(iothttp_source_size, 1, "src", K_FREED, OK, VOID),
    ROW(iothttp_source_free, 1, "src", K_NULL, OK, VOID),
    ROW(iothttp_source_free, 1, "src", K_FREED, OK, VOID),
    /* Aliyun OTA */
    ROW(iothttp_aliyun_account_new, 1, "client", K_NULL, INV, NAMES),
    ROW(iothttp_aliyun_account_new, 1, "client", K_FREED, INV, NAMES),
    ROW(iothttp_aliyun_account_new, 2, "access_key_id", K_NULL, INV, NAMES),
    ROW(iothttp_aliyun_account_new, 2, "access_key_id", K_EMPTY, INV, 0),
    ROW(iothttp_aliyun_account_new, 2, "access_key_id", K_UTF8, INV, NAMES),
    ROW(iothttp_aliyun_account_new, 3, "access_key_secret", K_NULL, INV, NAMES),
    ROW(iothttp_aliyun_account_new, 3, "access_key_secret", K_EMPTY, INV, 0),
    ROW(iothttp_aliyun_account_new, 3, "access_key_secret", K_UTF8, INV, NAMES),
    ROW(iothttp_aliyun_account_new, 4, "out", K_NULL, INV, NAMES),
    ROW(iothttp_aliyun_account_free, 1, "acct", K_NULL, OK, VOID),
    ROW(iothttp_aliyun_account_free, 1, "acct", K_FREED, OK, VOID),
    ROW(iothttp_aliyun_account_set_endpoint, 1, "acct", K_NULL, INV, NAMES),
    ROW(iothttp_aliyun_account_set_endpoint, 1, "acct", K_FREED, INV, NAMES),
    ROW(iothttp_aliyun_account_set_endpoint, 2, "base_url", K_NULL, INV, NAMES),
    ROW(iothttp_aliyun_account_set_endpoint, 2, "base_url", K_EMPTY, INV, 0),
    ROW(iothttp_aliyun_account_set_endpoint, 2, "base_url", K_UTF8, INV, NAMES),
    ROW(iothttp_aliyun_account_set_region, 1, "acct", K_NULL, INV, NAMES),
    ROW(iothttp_aliyun_account_set_region, 1, "acct", K_FREED, INV, NAMES),
    ROW(iothttp_aliyun_account_set_region, 2, "region", K_NULL, INV, NAMES),
    ROW(iothttp_aliyun_account_set_region, 2, "region", K_EMPTY, INV, 0),
    ROW(iothttp_aliyun_account_set_region, 2, "region", K_UTF8, INV, NAMES),
    ROW(iothttp_aliyun_account_set_instance_id, 1, "acct", K_NULL, INV, NAMES),
    ROW(iothttp_aliyun_account_set_instance_id, 1, "acct", K_FREED, INV, NAMES),
    ROW(iothttp_aliyun_account_set_instance_id, 2, "iot_instance_id", K_NULL, INV, NAMES),
    ROW(iothttp_aliyun_account_set_instance_id, 2, "iot_instance_id", K_EMPTY, OK, 0), /* public */
    ROW(iothttp_aliyun_account_set_instance_id, 2, "iot_instance_id", K_UTF8, INV, NAMES),
    ROW(iothttp_aliyun_ota_upload, 1, "acct", K_NULL, INV, NAMES),
    ROW(iothttp_aliyun_ota_upload, 1, "acct", K_FREED, INV, NAMES),
    ROW(iothttp_aliyun_ota_upload, 2, "file_suffix", K_NULL, OK, NET), /* bin */
    ROW(iothttp_aliyun_ota_upload, 2, "file_suffix", K_EMPTY, INV, 0),
    ROW(iothttp_aliyun_ota_upload, 2, "file_suffix", K_UTF8, INV, NAMES),
    ROW(iothttp_aliyun_ota_upload, 3, "src", K_NULL, INV, NAMES),
    ROW(iothttp_aliyun_ota_upload, 3, "src", K_FREED, INV, NAMES),
    ROW(iothttp_aliyun_ota_upload, 3, "src", K_HUGE, TL, 0), /* over 1000 MB */
    ROW(iothttp_aliyun_ota_upload, 4, "progress", K_NULL, OK, NET),
    ROW(iothttp_aliyun_ota_upload, 5, "userdata", K_NULL, OK, NET),
    ROW(iothttp_aliyun_ota_upload, 6, "firmware_url", K_NULL, OK, NET),
    ROW(iothttp_aliyun_ota_upload, 7, "cap", K_ZERO, BTS, 0),
    ROWV(iothttp_aliyun_ota_upload, 7, "cap", K_SMALL, IOTHTTP_URL_LEN - 1, BTS, 0),
    ROW(iothttp_aliyun_ota_upload, 8, "len_out", K_NULL, OK, NET),
    /* AGC */
    ROW(iothttp_agc_client_new, 1, "client", K_NULL, INV, NAMES),
    ROW(iothttp_agc_client_new, 1, "client", K_FREED, INV, NAMES),
    ROW(iothttp_agc_client_new, 2, "client_id", K_NULL, INV, NAMES),
    ROW(iothttp_agc_client_new, 2, "client_id", K_EMPTY, INV, 0),
    ROW(iothttp_agc_client_new, 2, "client_id", K_UTF8, INV, NAMES),
    ROW(iothttp_agc_client_new, 3, "client_secret", K_NULL, INV, NAMES),
    ROW(iothttp_agc_client_new, 3, "client_secret", K_EMPTY, INV, 0),
    ROW(iothttp_agc_client_new, 3, "client_secret", K_UTF8, INV, NAMES),
    ROW(iothttp_agc_client_new, 4, "out", K_NULL, INV, NAMES),
    ROW(iothttp_agc_client_free, 1, "agc", K_NULL, OK, VOID),
    ROW(iothttp_agc_client_free, 1, "agc", K_FREED, OK, VOID),
    ROW(iothttp_agc_client_set_endpoint, 1, "agc", K_NULL, INV, NAMES),
    ROW(iothttp_agc_client_set_endpoint, 1, "agc", K_FREED, INV, NAMES),
    ROW(iothttp_agc_client_set_endpoint, 2, "base_url", K_NULL, INV, NAMES),
    ROW(iothttp_agc_client_set_endpoint, 2, "base_url", K_EMPTY, INV, 0),
    ROW(iothttp_agc_client_set_endpoint, 2, "base_url", K_UTF8, INV, NAMES),
    ROW(iothttp_agc_upload, 1, "agc", K_NULL, INV, NAMES),
    ROW(iothttp_agc_upload, 1, "agc", K_FREED, INV, NAMES),
    ROW(iothttp_agc_upload, 2, "app_id", K_NULL, INV, NAMES),
    ROW(iothttp_agc_upload, 2, "app_id", K_EMPTY, INV, 0),
    ROW(iothttp_agc_upload, 2, "app_id", K_UTF8, INV, NAMES),
    ROW(iothttp_agc_upload, 3, "file_name", K_NULL, INV, NAMES),
    ROW(iothttp_agc_upload, 3, "file_name", K_EMPTY, INV, 0),
    ROW(iothttp_agc_upload, 3, "file_name", K_UTF8, INV, NAMES),
    ROW(iothttp_agc_upload, 4, "src", K_NULL, INV, NAMES),
    ROW(iothttp_agc_upload, 4, "src", K_FREED, INV, NAMES),
    ROW(iothttp_agc_upload, 4, "src", K_HUGE, TL, 0), /* over 4 GB */
    ROW(iothttp_agc_upload, 5, "progress", K_NULL, OK, NET),
    ROW(iothttp_agc_upload, 6, "userdata", K_NULL, OK, NET),
    ROW(iothttp_agc_upload, 7, "object_id", K_NULL, OK, NET),
    ROW(iothttp_agc_upload, 8, "cap", K_ZERO, BTS, 0),
    ROWV(iothttp_agc_upload, 8, "cap", K_SMALL, IOTHTTP_OBJECT_ID_LEN - 1, BTS, 0),
    ROW(iothttp_agc_upload, 9, "len_out", K_NULL, OK, NET),
    /* generic uploads */
    ROW(iothttp_put, 1, "client", K_NULL, INV, NAMES),
    ROW(iothttp_put, 1, "client", K_FREED, INV, NAMES),
    ROW(iothttp_put, 2, "url", K_NULL, INV, NAMES),
    ROW(iothttp_put, 2, "url", K_EMPTY, INV, 0),
    ROW(iothttp_put, 2, "url", K_UTF8, INV, NAMES),
    ROW(iothttp_put, 3, "headers", K_NULL, INV, NAMES),
    ROW(iothttp_put, 3, "headers", K_NULL0, OK, NET),
    ROW(iothttp_put, 4, "n_headers", K_ZERO, OK, NET),
    ROW(iothttp_put, 4, "n_headers", K_HUGE, INV, 0),
    ROW(iothttp_put, 5, "src", K_NULL, INV, NAMES),
    ROW(iothttp_put, 5, "src", K_FREED, INV, NAMES),
    ROW(iothttp_put, 6, "progress", K_NULL, OK, NET),
    ROW(iothttp_put, 7, "userdata", K_NULL, OK, NET),
    /* downloads */
    ROW(iothttp_download, 1, "client", K_NULL, INV, NAMES),
    ROW(iothttp_download, 1, "client", K_FREED, INV, NAMES),
    ROW(iothttp_download, 2, "url", K_NULL, INV, NAMES),
    ROW(iothttp_download, 2, "url", K_EMPTY, INV, 0),
    ROW(iothttp_download, 2, "url", K_UTF8, INV, NAMES),
    ROW(iothttp_download, 3, "headers", K_NULL, INV, NAMES),
    ROW(iothttp_download, 3, "headers", K_NULL0, OK, NET),
    ROW(iothttp_download, 4, "n_headers", K_ZERO, OK, NET),
    ROW(iothttp_download, 4, "n_headers", K_HUGE, INV, 0),
    ROW(iothttp_download, 5, "offset", K_ZERO, OK, NET),
    ROW(iothttp_download, 5, "offset", K_HUGE, IOTHTTP_E_HTTP, NET), /* 416: past the end */
    ROW(iothttp_download, 6, "write", K_NULL, INV, NAMES),
    ROW(iothttp_download, 7, "userdata", K_NULL, OK, NET),
    ROW(iothttp_download, 8, "progress", K_NULL, OK, NET),
    ROW(iothttp_download, 9, "progress_userdata", K_NULL, OK, NET),
    ROW(iothttp_download, 10, "total_out", K_NULL, OK, NET),
    ROW(iothttp_download_file, 1, "client", K_NULL, INV, NAMES),
    ROW(iothttp_download_file, 1, "client", K_FREED, INV, NAMES),
    ROW(iothttp_download_file, 2, "url", K_NULL, INV, NAMES),
    ROW(iothttp_download_file, 2, "url", K_EMPTY, INV, 0),
    ROW(iothttp_download_file, 2, "url", K_UTF8, INV, NAMES),
    ROW(iothttp_download_file, 3, "path", K_NULL, INV, NAMES),
    ROW(iothttp_download_file, 3, "path", K_EMPTY, INV, 0),
    ROW(iothttp_download_file, 3, "path", K_UTF8, INV, NAMES),
    ROW(iothttp_download_file, 4, "expected_size", K_ZERO, OK, NET), /* not checked */
    ROW(iothttp_download_file, 4, "expected_size", K_HUGE, IOTHTTP_E_DIGEST_MISMATCH, NET),
    ROW(iothttp_download_file, 5, "md5_hex", K_NULL, OK, NET),
    ROW(iothttp_download_file, 5, "md5_hex", K_EMPTY, INV, 0),
    ROW(iothttp_download_file, 5, "md5_hex", K_UTF8, INV, NAMES),
    ROW(iothttp_download_file, 6, "sha256_hex", K_NULL, OK, NET),
    ROW(iothttp_download_file, 6, "sha256_hex", K_EMPTY, INV, 0),
    ROW(iothttp_download_file, 6, "sha256_hex", K_UTF8, INV, NAMES),
    ROW(iothttp_download_file, 7, "progress", K_NULL, OK, NET),
    ROW(iothttp_download_file, 8, "userdata", K_NULL, OK, NET),
    ROW(iothttp_post_form, 1, "client", K_NULL, INV, NAMES),
    ROW(iothttp_post_form, 1, "client", K_FREED, INV, NAMES),
    ROW(iothttp_post_form, 2, "url", K_NULL, INV, NAMES),
    ROW(iothttp_post_form, 2, "url", K_EMPTY, INV, 0),
    ROW(iothttp_post_form, 2, "url", K_UTF8, INV, NAMES),
    ROW(iothttp_post_form, 3, "names", K_NULL, INV, NAMES),
    ROW(iothttp_post_form, 4, "values", K_NULL, INV, NAMES),
    ROW(iothttp_post_form, 5, "n_fields", K_HUGE, INV, 0),
    ROW(iothttp_post_form, 6, "file_field", K_NULL, INV, NAMES),
    ROW(iothttp_post_form, 6, "file_field", K_EMPTY, INV, 0),
    ROW(iothttp_post_form, 6, "file_field", K_UTF8, INV, NAMES),
    ROW(iothttp_post_form, 7, "file_name", K_NULL, INV, NAMES),
    ROW(iothttp_post_form, 7, "file_name", K_UTF8, INV, NAMES),
    ROW(iothttp_post_form, 8, "content_type", K_NULL, OK, NET), /* application/octet-stream */
    ROW(iothttp_post_form, 8, "content_type", K_UTF8, INV, NAMES),
    ROW(iothttp_post_form, 9, "src", K_NULL, INV, NAMES),
    ROW(iothttp_post_form, 9, "src", K_FREED, INV, NAMES),
    ROW(iothttp_post_form, 10, "progress", K_NULL, OK, NET),
    ROW(iothttp_post_form, 11, "userdata", K_NULL, OK, NET),
};

static const size_t NROWS = sizeof ROWS / sizeof ROWS[0];

/* ---------------------------------------------------------------------------------------
 * Runner
 * ------------------------------------------------------------------------------------- */

static void outs_fill(struct outs *o)
{
    o->client = SENTINEL(iothttp_client);
    o->dev = SENTINEL(iothttp_device);
    o->src = SENTINEL(iothttp_source);
    o->acct = SENTINEL(iothttp_aliyun_account);
    o->agc = SENTINEL(iothttp_agc_client);
    o->u64a = o->u64b = U64_SENTINEL;
    o->len = LEN_SENTINEL;
    memset(o->buf, 'Z', sizeof o->buf);
    memset(o->bytes, 'Z', sizeof o->bytes);
    memset(o->id, 'Z', sizeof o->id);
    memset(o->url, 'Z', sizeof o->url);
    memset(o->object, 'Z', sizeof o->object);
    o->needed = 0;
}

static bool all_z(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 'Z')
            return false;
    return true;
}

/* Releases handles a successful row made. */
static void outs_release(struct outs *o)
{
    if (o->client != SENTINEL(iothttp_client))
        iothttp_client_free(o->client);
    if (o->dev != SENTINEL(iothttp_device))
        iothttp_device_free(o->dev);
    if (o->src != SENTINEL(iothttp_source))
        iothttp_source_free(o->src);
    if (o->acct != SENTINEL(iothttp_aliyun_account))
        iothttp_aliyun_account_free(o->acct);
    if (o->agc != SENTINEL(iothttp_agc_client))
        iothttp_agc_client_free(o->agc);
}

static void describe(const struct row *r, char *out, size_t cap)
{
    if (r->kind == K_NONE)
        snprintf(out, cap, "%s()", r->fn);
    else if (r->kind == K_LONG || r->kind == K_SMALL || r->kind == K_ENUM)
        snprintf(out, cap, "%s arg %d '%s' %s (%" PRIu64 ")", r->fn, r->arg, r->arg_name,
                 KIND_NAMES[r->kind], r->value);
    else
        snprintf(out, cap, "%s arg %d '%s' %s", r->fn, r->arg, r->arg_name,
                 KIND_NAMES[r->kind]);
}

static int run_row(const struct row *r)
{
    char what[256];
    describe(r, what, sizeof what);
    g_case_failures = 0;
    if (!fx.ready || ((r->flags & NET) && !fx.net_ready)) {
        failf(__FILE__, __LINE__, "%s: the fixture is not ready", what);
        printf("FAIL  %s\n", what);
        return 0;
    }
    struct outs *o = malloc(sizeof *o);
    if (!CHECK(o != NULL))
        return 0;
    outs_fill(o);
    iothttp_result rc = r->thunk(r, o);
    const char *err = iothttp_last_error();
    char err_copy[512];
    snprintf(err_copy, sizeof err_copy, "%s", safe_str(err));

    if (rc != r->want) {
        failf(__FILE__, __LINE__, "%s: returned %s, expected %s; last error \"%s\"", what,
              iothttp_result_name(rc), iothttp_result_name(r->want), err_copy);
    } else if (!(r->flags & VOID)) {
        if (err == NULL)
            failf(__FILE__, __LINE__, "%s: iothttp_last_error() is NULL", what);
        else if (rc == IOTHTTP_OK && err[0] != '\0')
            failf(__FILE__, __LINE__, "%s: succeeded but the last error is \"%s\"", what,
                  err_copy);
        else if (rc != IOTHTTP_OK && err[0] == '\0')
            failf(__FILE__, __LINE__, "%s: failed with an empty last error", what);
        if (rc != IOTHTTP_OK && (r->flags & NAMES)) {
            char quoted[96];
            snprintf(quoted, sizeof quoted, "'%s'", r->arg_name);
            if (strstr(err_copy, quoted) == NULL)
                failf(__FILE__, __LINE__, "%s: the last error \"%s\" does not name %s", what,
                      err_copy, quoted);
        }
    }
    if (rc != IOTHTTP_OK) {
        /* "out-parameters are written only on success (and *len_out on
         * IOTHTTP_E_BUFFER_TOO_SMALL)" */
        if (o->client != SENTINEL(iothttp_client) || o->dev != SENTINEL(iothttp_device)
            || o->src != SENTINEL(iothttp_source) || o->acct != SENTINEL(iothttp_aliyun_account)
            || o->agc != SENTINEL(iothttp_agc_client))
            failf(__FILE__, __LINE__, "%s: a handle out-parameter was written on failure", what);
        if (o->u64a != U64_SENTINEL || o->u64b != U64_SENTINEL)
            failf(__FILE__, __LINE__, "%s: a counter/expiry out-parameter was written on failure",
                  what);
        if (!all_z(o->buf, sizeof o->buf) || !all_z(o->bytes, sizeof o->bytes)
            || !all_z(o->id, sizeof o->id) || !all_z(o->url, sizeof o->url)
            || !all_z(o->object, sizeof o->object))
            failf(__FILE__, __LINE__, "%s: a caller buffer was written on failure", what);
        if (rc == IOTHTTP_E_BUFFER_TOO_SMALL && o->len != LEN_SENTINEL) {
            uint64_t cap_given = r->kind == K_SMALL ? r->value : 0;
            if (o->needed != 0 && o->len != o->needed)
                failf(__FILE__, __LINE__, "%s: *len_out = %zu, expected the size needed %zu",
                      what, o->len, o->needed);
            else if ((uint64_t)o->len <= cap_given)
                failf(__FILE__, __LINE__, "%s: *len_out = %zu is not more than the capacity "
                      "given (%" PRIu64 ")", what, o->len, cap_given);
        } else if (rc == IOTHTTP_E_BUFFER_TOO_SMALL && (r->flags & LEN)) {
            failf(__FILE__, __LINE__, "%s: *len_out was not set to the size needed", what);
        } else if (o->len != LEN_SENTINEL) {
            failf(__FILE__, __LINE__, "%s: *len_out was written on failure (%zu)", what, o->len);
        }
    } else {
        outs_release(o);
    }
    free(o);
    printf("%s  %-72s -> %s\n", g_case_failures == 0 ? "ok  " : "FAIL", what,
           iothttp_result_name(rc));
    fflush(stdout);
    return g_case_failures == 0;
}

/* ---------------------------------------------------------------------------------------
 * Coverage: every function the installed header declares has a row, and no row names a
 * function it does not declare
 * ------------------------------------------------------------------------------------- */

static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* The function a declaration line of the header declares: a line that starts with a type
 * (not indented, not a comment or directive) and has " iothttp_name(" or "*iothttp_name(". */
static bool declared_function(const char *line, char *name, size_t cap)
{
    char c = line[0];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'))
        return false;
    for (const char *p = strstr(line, "iothttp_"); p != NULL; p = strstr(p + 1, "iothttp_")) {
        if (p == line || (p[-1] != ' ' && p[-1] != '*'))
            continue;
        const char *e = p;
        while (ident_char(*e))
            e++;
        if (*e != '(' || (size_t)(e - p) >= cap)
            continue;
        memcpy(name, p, (size_t)(e - p));
        name[e - p] = '\0';
        return true;
    }
    return false;
}

static int check_coverage(const char *header)
{
    int failures = 0;
    if (header == NULL || header[0] == '\0') {
        fprintf(stderr, "test_args: the path of the installed iothttp.h is unknown "
                        "(build with CMake, or pass --coverage <header>)\n");
        return 1;
    }
    FILE *f = fopen(header, "r");
    if (f == NULL) {
        fprintf(stderr, "test_args: cannot open %s\n", header);
        return 1;
    }
    char line[1024], name[64];
    char declared[128][64];
    size_t ndeclared = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (!declared_function(line, name, sizeof name))
            continue;
        bool dup = false;
        for (size_t i = 0; i < ndeclared; i++)
            dup |= strcmp(declared[i], name) == 0;
        if (dup)
            continue;
        if (ndeclared == sizeof declared / sizeof declared[0]) {
            fprintf(stderr, "test_args: too many or too long names in %s\n", header);
            fclose(f);
            return 1;
        }
        memcpy(declared[ndeclared++], name, sizeof name);
    }
    fclose(f);
    if (ndeclared == 0) {
        fprintf(stderr, "test_args: no function declarations found in %s\n", header);
        return 1;
    }
    size_t covered = 0;
    for (size_t i = 0; i < ndeclared; i++) {
        size_t rows = 0;
        for (size_t j = 0; j < NROWS; j++)
            rows += strcmp(ROWS[j].fn, declared[i]) == 0;
        if (rows == 0) {
            fprintf(stderr, "    FAIL: %s is declared in %s but has no row in test_args.c\n",
                    declared[i], header);
            failures++;
        } else {
            covered++;
        }
    }
    for (size_t j = 0; j < NROWS; j++) {
        bool known = false;
        for (size_t i = 0; i < ndeclared; i++)
            known |= strcmp(ROWS[j].fn, declared[i]) == 0;
        if (!known && (j == 0 || strcmp(ROWS[j].fn, ROWS[j - 1].fn) != 0)) {
            fprintf(stderr, "    FAIL: test_args.c has rows for %s, which %s does not declare\n",
                    ROWS[j].fn, header);
            failures++;
        }
    }
    printf("coverage: %zu of %zu functions declared in %s have rows (%zu rows)\n", covered,
           ndeclared, header, NROWS);
    return failures == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    setvbuf(stderr, NULL, _IONBF, 0);
    if (argc >= 2 && strcmp(argv[1], "--list") == 0) {
        char what[256];
        for (size_t i = 0; i < NROWS; i++) {
            describe(&ROWS[i], what, sizeof what);
            printf("%-72s -> %s%s\n", what, iothttp_result_name(ROWS[i].want),
                   (ROWS[i].flags & NET) ? " (emulator)" : "");
        }
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "--coverage") == 0)
        return check_coverage(argc >= 3 ? argv[2] : IOTHTTP_TEST_HEADER);

    printf("iothttp %s: %zu argument rows\n", iothttp_version(), NROWS);
    int setup = fixture_up();
    if (setup != 0)
        fprintf(stderr, "test_args: the fixture is incomplete (see above)\n");
    size_t run = 0, passed = 0;
    for (size_t i = 0; i < NROWS; i++) {
        bool selected = argc == 1;
        for (int a = 1; a < argc && !selected; a++)
            selected = strcmp(argv[a], ROWS[i].fn) == 0;
        if (!selected)
            continue;
        run++;
        passed += (size_t)run_row(&ROWS[i]);
    }
    fixture_down();
    if (argc > 1 && run == 0) {
        fprintf(stderr, "test_args: no rows for %s (try --list)\n", argv[1]);
        return 2;
    }
    printf("%zu/%zu rows passed\n", passed, run);
    int rc = passed == run && setup == 0 ? 0 : 1;
    if (argc == 1 && check_coverage(IOTHTTP_TEST_HEADER) != 0)
        rc = 1;
    return rc;
}
