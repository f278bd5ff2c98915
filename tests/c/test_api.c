/*
 * test_api: every function of iothttp.h, called from C the way firmware calls it.
 *
 *   test_api              run every case
 *   test_api <case>...    run the named cases
 *   test_api --list       print the case names
 *
 * Cases that talk to the cloud emulator read IOTHTTP_EMU_URL, IOTHTTP_EMU_UCLOUD_URL,
 * IOTHTTP_EMU_ALIYUN_URL, IOTHTTP_EMU_CA and IOTHTTP_EMU_CONTROL; the upload cases also
 * IOTHTTP_EMU_UFILE_URL, IOTHTTP_EMU_ALIYUN_IOT_URL, IOTHTTP_EMU_AGC_URL,
 * IOTHTTP_EMU_STORE_URL and IOTHTTP_EMU_STORE_FORM_URL (IOTHTTP_EMU_PLAIN_URL is optional).
 * tests/c/run.sh exports every IOTHTTP_EMU_* line the emulator prints. Every case registers
 * its own devices and accounts, so cases are independent and may run in any order, or at the
 * same time against one emulator (except clock_skew, which moves the emulator's clock).
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iothttp.h>

#include "emu.h"
#include "harness.h"

/* ---------------------------------------------------------------------------------------
 * Test data (the helpers are in harness.c)
 * ------------------------------------------------------------------------------------- */

static const uint64_t TWO_POW_53 = 9007199254740992ull;

/* A self-signed certificate with basicConstraints CA:FALSE (not usable as a CA). */
static const char LEAF_NOT_CA_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBszCCAVigAwIBAgIUedTgEvJGwYIthKfxmPt8zs5BF5cwCgYIKoZIzj0EAwIw\n"
    "JzElMCMGA1UEAwwcaW90aHR0cCB0ZXN0IGxlYWYgKG5vdCBhIENBKTAgFw0yNjEx\n"
    "MjExMzAyMjNaGA8yMTI2MTAyODEzMDIyM1owJzElMCMGA1UEAwwcaW90aHR0cCB0\n"
    "ZXN0IGxlYWYgKG5vdCBhIENBKTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABLIp\n"
    "vIrVcCCtK1czHR4BE3WTwvT+OrWbtNRnF40yzN3VJb6o12uzWfrH1WVPb47DLQzT\n"
    "nKMx2IrBiNvdwpR7v72jYDBeMB0GA1UdDgQWBBSKYAX0TxlYT7sdDUvDMhoXEAwG\n"
    "fzAfBgNVHSMEGDAWgBSKYAX0TxlYT7sdDUvDMhoXEAwGfzAMBgNVHRMBAf8EAjAA\n"
    "MA4GA1UdDwEB/wQEAwIHgDAKBggqhkjOPQQDAgNJADBGAiEAts9dKRLW/xPId+7b\n"
    "k7XMLeorf/OlSuIAXpobX9PvaiUCIQDzX4yavuVJhzohahST2L92v7Lmw/raqlKT\n"
    "1gSoalc+rA==\n"
    "-----END CERTIFICATE-----\n";

static const char MALFORMED_PEM[] = "-----BEGIN CERTIFICATE-----\n"
                                    "bm90IGEgY2VydGlmaWNhdGU=\n"
                                    "-----END CERTIFICATE-----\n";

static const char OTHER_MD5[] = "6c7ba9c5a141421e1c03cb9807c97c74"; /* md5("something else") */

/* ---------------------------------------------------------------------------------------
 * Cases without the emulator
 * ------------------------------------------------------------------------------------- */

static void test_version(void)
{
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", IOTHTTP_VERSION_MAJOR, IOTHTTP_VERSION_MINOR,
             IOTHTTP_VERSION_PATCH);
    const char *v = iothttp_version();
    REQUIRE(v != NULL);
    CHECK(strcmp(v, want) == 0);
    CHECK(iothttp_version() == v); /* static */
    CHECK(IOTHTTP_MESSAGE_ID_LEN >= 21); /* room for any uint64 plus NUL */
}

static void test_result_names(void)
{
    static const struct {
        uint32_t value;
        const char *name;
    } all[] = {
        {IOTHTTP_OK, "IOTHTTP_OK"},
        {IOTHTTP_E_INVALID_ARG, "IOTHTTP_E_INVALID_ARG"},
        {IOTHTTP_E_TOO_LARGE, "IOTHTTP_E_TOO_LARGE"},
        {IOTHTTP_E_UNSUPPORTED, "IOTHTTP_E_UNSUPPORTED"},
        {IOTHTTP_E_BUFFER_TOO_SMALL, "IOTHTTP_E_BUFFER_TOO_SMALL"},
        {IOTHTTP_E_CONNECT, "IOTHTTP_E_CONNECT"},
        {IOTHTTP_E_TLS, "IOTHTTP_E_TLS"},
        {IOTHTTP_E_TIMEOUT, "IOTHTTP_E_TIMEOUT"},
        {IOTHTTP_E_IO, "IOTHTTP_E_IO"},
        {IOTHTTP_E_HTTP, "IOTHTTP_E_HTTP"},
        {IOTHTTP_E_BAD_RESPONSE, "IOTHTTP_E_BAD_RESPONSE"},
        {IOTHTTP_E_AUTH, "IOTHTTP_E_AUTH"},
        {IOTHTTP_E_TOKEN, "IOTHTTP_E_TOKEN"},
        {IOTHTTP_E_DENIED, "IOTHTTP_E_DENIED"},
        {IOTHTTP_E_RATE_LIMITED, "IOTHTTP_E_RATE_LIMITED"},
        {IOTHTTP_E_UNAVAILABLE, "IOTHTTP_E_UNAVAILABLE"},
        {IOTHTTP_E_CLOUD, "IOTHTTP_E_CLOUD"},
        {IOTHTTP_E_READ, "IOTHTTP_E_READ"},
        {IOTHTTP_E_SIZE_MISMATCH, "IOTHTTP_E_SIZE_MISMATCH"},
        {IOTHTTP_E_NOT_REWINDABLE, "IOTHTTP_E_NOT_REWINDABLE"},
        {IOTHTTP_E_CANCELLED, "IOTHTTP_E_CANCELLED"},
        {IOTHTTP_E_DIGEST_MISMATCH, "IOTHTTP_E_DIGEST_MISMATCH"},
        {IOTHTTP_E_WRITE, "IOTHTTP_E_WRITE"},
        {IOTHTTP_E_INTERNAL, "IOTHTTP_E_INTERNAL"},
    };
    static const uint32_t unknown[] = {5, 99, 106, 199, 206, 299, 306, 899, 901, 77777,
                                       UINT32_MAX};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *got = iothttp_result_name(all[i].value);
        if (!CHECK(got != NULL && strcmp(got, all[i].name) == 0))
            fprintf(stderr, "      result %u: got \"%s\", expected \"%s\"\n", all[i].value,
                    safe_str(got), all[i].name);
        CHECK(iothttp_result_name(all[i].value) == got); /* static */
    }
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *got = iothttp_result_name(unknown[i]);
        if (!CHECK(got != NULL && strcmp(got, "IOTHTTP_UNKNOWN") == 0))
            fprintf(stderr, "      result %u: got \"%s\"\n", unknown[i], safe_str(got));
    }
}

struct thread_error {
    int fresh_empty;
    int own_error;
    int cloud_code_zero;
};

static void *error_thread(void *arg)
{
    struct thread_error *te = arg;
    const char *e = iothttp_last_error();
    te->fresh_empty = e != NULL && e[0] == '\0';
    te->own_error = iothttp_config_set_retries(NULL, 1, 1, 1) == IOTHTTP_E_INVALID_ARG
                    && strstr(iothttp_last_error(), "'cfg'") != NULL;
    te->cloud_code_zero = iothttp_last_cloud_code() == 0 && iothttp_last_http_status() == 0;
    return NULL;
}

static void test_last_error(void)
{
    iothttp_config *cfg = iothttp_config_new();
    REQUIRE(cfg != NULL);
    /* A failure sets a message naming what failed... */
    EXPECT(iothttp_config_set_timeouts(cfg, 0, 1000), IOTHTTP_E_INVALID_ARG);
    CHECK(strstr(iothttp_last_error(), "timeout") != NULL);
    CHECK(iothttp_last_cloud_code() == 0);
    CHECK(iothttp_last_http_status() == 0);
    /* ...that stays readable while other threads fail differently... */
    char mine[512];
    snprintf(mine, sizeof mine, "%s", iothttp_last_error());
    struct thread_error te = {0, 0, 0};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, error_thread, &te) == 0);
    pthread_join(th, NULL);
    CHECK(te.fresh_empty);
    CHECK(te.own_error);
    CHECK(te.cloud_code_zero);
    CHECK(strcmp(iothttp_last_error(), mine) == 0);
    /* ...and a success clears it to "" (never NULL). */
    EXPECT(iothttp_config_set_timeouts(cfg, 1000, 1000), IOTHTTP_OK);
    CHECK(iothttp_last_error() != NULL && iothttp_last_error()[0] == '\0');
    CHECK(iothttp_last_cloud_code() == 0);
    CHECK(iothttp_last_http_status() == 0);
    iothttp_config_free(cfg);
}

static void test_config_null(void)
{
    EXPECT_ARG(iothttp_config_add_ca_pem(NULL, MALFORMED_PEM, sizeof MALFORMED_PEM - 1), "cfg");
    EXPECT_ARG(iothttp_config_add_ca_file(NULL, "/tmp/ca.pem"), "cfg");
    EXPECT_ARG(iothttp_config_use_builtin_roots(NULL, true), "cfg");
    EXPECT_ARG(iothttp_config_set_timeouts(NULL, 1000, 1000), "cfg");
    EXPECT_ARG(iothttp_config_set_retries(NULL, 3, 10, 50), "cfg");
    EXPECT_ARG(iothttp_config_set_log(NULL, capture_log, NULL, IOTHTTP_LOG_WARN), "cfg");
    EXPECT_ARG(iothttp_config_set_proxy(NULL, "http://127.0.0.1:3128"), "cfg");
    EXPECT_ARG(iothttp_config_allow_plain_http(NULL, true), "cfg");
    EXPECT_ARG(iothttp_client_new(NULL, NULL), "cfg");
    iothttp_config_free(NULL);
    iothttp_client_free(NULL);
    iothttp_device_free(NULL);
}

static void test_config_ca(void)
{
    const char *ca_path = env("IOTHTTP_EMU_CA");
    REQUIRE(ca_path != NULL);
    size_t ca_len = 0;
    char *ca = read_file(ca_path, &ca_len);
    REQUIRE(ca != NULL && ca_len > 0);
    iothttp_config *cfg = iothttp_config_new();
    REQUIRE(cfg != NULL);

    /* add_ca_pem */
    EXPECT_ARG(iothttp_config_add_ca_pem(cfg, NULL, 10), "pem");
    EXPECT(iothttp_config_add_ca_pem(cfg, NULL, 0), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_config_add_ca_pem(cfg, "", 0), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_config_add_ca_pem(cfg, ca, 0), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_config_add_ca_pem(cfg, "garbage", 7), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_config_add_ca_pem(cfg, MALFORMED_PEM, sizeof MALFORMED_PEM - 1),
           IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_config_add_ca_pem(cfg, ca, ca_len / 2), IOTHTTP_E_INVALID_ARG); /* cut */
    EXPECT(iothttp_config_add_ca_pem(cfg, INVALID_UTF8, 4), IOTHTTP_E_INVALID_ARG);
    /* Exactly `len` bytes are read: no NUL needed (valgrind sees any over-read). */
    char *exact = malloc(ca_len);
    REQUIRE(exact != NULL);
    memcpy(exact, ca, ca_len);
    EXPECT(iothttp_config_add_ca_pem(cfg, exact, ca_len), IOTHTTP_OK);
    free(exact);

    /* All or nothing: a good block followed by a bad one adds nothing. */
    iothttp_config *strict = iothttp_config_new();
    REQUIRE(strict != NULL);
    EXPECT(iothttp_config_use_builtin_roots(strict, false), IOTHTTP_OK);
    size_t mixed_len = ca_len + sizeof MALFORMED_PEM - 1;
    char *mixed = malloc(mixed_len);
    REQUIRE(mixed != NULL);
    memcpy(mixed, ca, ca_len);
    memcpy(mixed + ca_len, MALFORMED_PEM, sizeof MALFORMED_PEM - 1);
    EXPECT(iothttp_config_add_ca_pem(strict, mixed, mixed_len), IOTHTTP_E_INVALID_ARG);
    free(mixed);
    iothttp_client *client = (iothttp_client *)&strict; /* sentinel: must stay untouched */
    EXPECT(iothttp_client_new(strict, &client), IOTHTTP_E_INVALID_ARG);
    CHECK(client == (iothttp_client *)&strict);
    EXPECT(iothttp_config_add_ca_pem(strict, ca, ca_len), IOTHTTP_OK);
    client = NULL;
    EXPECT(iothttp_client_new(strict, &client), IOTHTTP_OK);
    CHECK(client != NULL);
    iothttp_client_free(client);
    iothttp_config_free(strict);

    /* add_ca_file */
    EXPECT_ARG(iothttp_config_add_ca_file(cfg, NULL), "path");
    EXPECT(iothttp_config_add_ca_file(cfg, ""), IOTHTTP_E_INVALID_ARG);
    EXPECT_ARG(iothttp_config_add_ca_file(cfg, "/tmp/" INVALID_UTF8 ".pem"), "path");
    EXPECT(iothttp_config_add_ca_file(cfg, "/nonexistent/iothttp/ca.pem"), IOTHTTP_E_READ);
    EXPECT(iothttp_config_add_ca_file(cfg, "/"), IOTHTTP_E_READ);
    char tmp[] = "/tmp/iothttp-test-XXXXXX";
    int fd = mkstemp(tmp);
    REQUIRE(fd >= 0);
    CHECK(write(fd, "not a certificate\n", 18) == 18);
    close(fd);
    EXPECT(iothttp_config_add_ca_file(cfg, tmp), IOTHTTP_E_INVALID_ARG);
    unlink(tmp);
    EXPECT(iothttp_config_add_ca_file(cfg, ca_path), IOTHTTP_OK);

    iothttp_config_free(cfg);
    free(ca);
}

/* The header: "Nothing is added if any block is malformed or not a CA (IOTHTTP_E_INVALID_ARG)". */
static void test_ca_not_a_ca(void)
{
    iothttp_config *cfg = iothttp_config_new();
    REQUIRE(cfg != NULL);
    iothttp_result rc =
        iothttp_config_add_ca_pem(cfg, LEAF_NOT_CA_PEM, sizeof LEAF_NOT_CA_PEM - 1);
    EXPECT(rc, IOTHTTP_E_INVALID_ARG);
    CHECK(strstr(iothttp_last_error(), "not a CA certificate") != NULL);
    /* Not just accepted: it becomes a trust anchor (a client with no other root is made). */
    iothttp_config *only_leaf = iothttp_config_new();
    REQUIRE(only_leaf != NULL);
    EXPECT(iothttp_config_use_builtin_roots(only_leaf, false), IOTHTTP_OK);
    iothttp_config_add_ca_pem(only_leaf, LEAF_NOT_CA_PEM, sizeof LEAF_NOT_CA_PEM - 1);
    iothttp_client *client = NULL;
    rc = iothttp_client_new(only_leaf, &client);
    EXPECT(rc, IOTHTTP_E_INVALID_ARG);
    iothttp_client_free(client);
    iothttp_config_free(only_leaf);
    /* The same through a file. */
    char tmp[] = "/tmp/iothttp-leaf-XXXXXX";
    int fd = mkstemp(tmp);
    REQUIRE(fd >= 0);
    CHECK(write(fd, LEAF_NOT_CA_PEM, sizeof LEAF_NOT_CA_PEM - 1) == (ssize_t)(sizeof LEAF_NOT_CA_PEM - 1));
    close(fd);
    rc = iothttp_config_add_ca_file(cfg, tmp);
    unlink(tmp);
    EXPECT(rc, IOTHTTP_E_INVALID_ARG);
    iothttp_config_free(cfg);
}

static void test_config_setters(void)
{
    iothttp_config *cfg = iothttp_config_new();
    REQUIRE(cfg != NULL);

    EXPECT(iothttp_config_use_builtin_roots(cfg, false), IOTHTTP_OK);
    EXPECT(iothttp_config_use_builtin_roots(cfg, true), IOTHTTP_OK);

    EXPECT(iothttp_config_set_timeouts(cfg, 0, 1000), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_config_set_timeouts(cfg, 1000, 0), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_config_set_timeouts(cfg, 0, 0), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_config_set_timeouts(cfg, 1, 1), IOTHTTP_OK);
    EXPECT(iothttp_config_set_timeouts(cfg, UINT32_MAX, UINT32_MAX), IOTHTTP_OK);

    EXPECT(iothttp_config_set_retries(cfg, 0, 10, 50), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_config_set_retries(cfg, 3, 51, 50), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_config_set_retries(cfg, 1, 0, 0), IOTHTTP_OK);
    EXPECT(iothttp_config_set_retries(cfg, 3, 10, 50), IOTHTTP_OK);
    EXPECT(iothttp_config_set_retries(cfg, UINT32_MAX, UINT32_MAX, UINT32_MAX), IOTHTTP_OK);

    struct capture log;
    capture_init(&log);
    EXPECT(iothttp_config_set_log(cfg, capture_log, &log, 0), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_config_set_log(cfg, capture_log, &log, 6), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_config_set_log(cfg, capture_log, &log, UINT32_MAX), IOTHTTP_E_INVALID_ARG);
    for (uint32_t level = IOTHTTP_LOG_ERROR; level <= IOTHTTP_LOG_TRACE; level++)
        EXPECT(iothttp_config_set_log(cfg, capture_log, &log, level), IOTHTTP_OK);
    EXPECT(iothttp_config_set_log(cfg, NULL, NULL, IOTHTTP_LOG_WARN), IOTHTTP_OK); /* off */
    EXPECT(iothttp_config_set_log(cfg, NULL, NULL, 0), IOTHTTP_OK); /* off: level ignored */
    CHECK(log.n == 0);
    capture_free(&log);

    EXPECT(iothttp_config_set_proxy(cfg, "http://127.0.0.1:3128"), IOTHTTP_OK);
    EXPECT(iothttp_config_set_proxy(cfg, "http://user:pw@127.0.0.1:3128"), IOTHTTP_OK);
    EXPECT(iothttp_config_set_proxy(cfg, NULL), IOTHTTP_OK); /* removes it */
    EXPECT(iothttp_config_set_proxy(cfg, ""), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_config_set_proxy(cfg, "socks5://127.0.0.1:1080"), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_config_set_proxy(cfg, "127.0.0.1:3128"), IOTHTTP_E_INVALID_ARG);
    EXPECT_ARG(iothttp_config_set_proxy(cfg, "http://" INVALID_UTF8 ":1"), "proxy_url");

    EXPECT(iothttp_config_allow_plain_http(cfg, true), IOTHTTP_OK);
    EXPECT(iothttp_config_allow_plain_http(cfg, false), IOTHTTP_OK);

    /* A config may make several clients, and be changed in between. */
    iothttp_client *a = NULL, *b = NULL;
    EXPECT(iothttp_client_new(cfg, &a), IOTHTTP_OK);
    EXPECT(iothttp_config_set_retries(cfg, 2, 1, 2), IOTHTTP_OK);
    EXPECT(iothttp_client_new(cfg, &b), IOTHTTP_OK);
    CHECK(a != NULL && b != NULL && a != b);
    iothttp_client_free(a);
    iothttp_client_free(b);
    iothttp_config_free(cfg);
}

static void test_client_args(void)
{
    iothttp_config *cfg = iothttp_config_new();
    REQUIRE(cfg != NULL);
    iothttp_client *sentinel = (iothttp_client *)&cfg;
    iothttp_client *client = sentinel;

    EXPECT_ARG(iothttp_client_new(NULL, &client), "cfg");
    EXPECT_ARG(iothttp_client_new(cfg, NULL), "out");
    CHECK(client == sentinel);

    /* No trust anchor at all: refused, *out untouched. */
    EXPECT(iothttp_config_use_builtin_roots(cfg, false), IOTHTTP_OK);
    EXPECT(iothttp_client_new(cfg, &client), IOTHTTP_E_INVALID_ARG);
    CHECK(client == sentinel);

    EXPECT(iothttp_config_use_builtin_roots(cfg, true), IOTHTTP_OK);
    client = NULL;
    REQUIRE_OK(iothttp_client_new(cfg, &client));
    REQUIRE(client != NULL);
    iothttp_config_free(cfg); /* the client copied it */

    uint64_t handshakes = 77, requests = 77;
    EXPECT_ARG(iothttp_client_stats(NULL, &handshakes, &requests), "client");
    CHECK(handshakes == 77 && requests == 77);
    EXPECT(iothttp_client_stats(client, NULL, NULL), IOTHTTP_OK);
    EXPECT(iothttp_client_stats(client, &handshakes, NULL), IOTHTTP_OK);
    EXPECT(iothttp_client_stats(client, NULL, &requests), IOTHTTP_OK);
    CHECK(handshakes == 0 && requests == 0);
    iothttp_client_free(client);
}

static void test_device_new_args(void)
{
    iothttp_config *cfg = iothttp_config_new();
    REQUIRE(cfg != NULL);
    iothttp_client *client = NULL;
    EXPECT(iothttp_client_new(cfg, &client), IOTHTTP_OK);
    iothttp_config_free(cfg);
    REQUIRE(client != NULL);

    iothttp_device *sentinel = (iothttp_device *)&client;
    iothttp_device *dev = sentinel;
    const uint32_t U = IOTHTTP_CLOUD_UCLOUD;

    EXPECT_ARG(iothttp_device_new(NULL, U, "p", "d", "s", &dev), "client");
    EXPECT_ARG(iothttp_device_new(client, U, NULL, "d", "s", &dev), "product");
    EXPECT_ARG(iothttp_device_new(client, U, "p", NULL, "s", &dev), "device");
    EXPECT_ARG(iothttp_device_new(client, U, "p", "d", NULL, &dev), "secret");
    EXPECT_ARG(iothttp_device_new(client, U, "p", "d", "s", NULL), "out");
    EXPECT_ARG(iothttp_device_new(client, U, INVALID_UTF8, "d", "s", &dev), "product");
    EXPECT_ARG(iothttp_device_new(client, U, "p", INVALID_UTF8, "s", &dev), "device");
    EXPECT_ARG(iothttp_device_new(client, U, "p", "d", INVALID_UTF8, &dev), "secret");
    static const uint32_t bad_clouds[] = {3, 4, 77, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad_clouds / sizeof bad_clouds[0]; i++) {
        EXPECT(iothttp_device_new(client, bad_clouds[i], "p", "d", "s", &dev),
               IOTHTTP_E_INVALID_ARG);
        CHECK(strstr(iothttp_last_error(), "cloud") != NULL);
    }
    EXPECT(iothttp_device_new(client, U, "", "d", "s", &dev), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_new(client, U, "p", "", "s", &dev), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_new(client, U, "p", "d", "", &dev), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_new(client, U, "p/q", "d", "s", &dev), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_new(client, U, "p", "d e", "s", &dev), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_new(client, U, "p", "d\n", "s", &dev), IOTHTTP_E_INVALID_ARG);
    char long_name[258];
    memset(long_name, 'n', 257);
    long_name[257] = '\0';
    EXPECT(iothttp_device_new(client, U, long_name, "d", "s", &dev), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_new(client, U, "p", long_name, "s", &dev), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_new(client, U, "p", "d", long_name, &dev), IOTHTTP_E_INVALID_ARG);
    CHECK(dev == sentinel);

    long_name[256] = '\0'; /* 256 bytes: the limit */
    dev = NULL;
    EXPECT(iothttp_device_new(client, IOTHTTP_CLOUD_ALIYUN, long_name, long_name, long_name, &dev),
           IOTHTTP_OK);
    CHECK(dev != NULL);
    iothttp_device_free(dev);
    dev = NULL;
    EXPECT(iothttp_device_new(client, U, "p", "d", "s", &dev), IOTHTTP_OK);
    CHECK(dev != NULL);
    iothttp_device_free(dev);
    iothttp_device_free(NULL);
    iothttp_client_free(client);
}

static void test_device_setters(void)
{
    iothttp_config *cfg = iothttp_config_new();
    REQUIRE(cfg != NULL);
    iothttp_client *client = NULL;
    EXPECT(iothttp_client_new(cfg, &client), IOTHTTP_OK);
    iothttp_config_free(cfg);
    REQUIRE(client != NULL);
    iothttp_device *uc = NULL, *al = NULL;
    REQUIRE_OK(iothttp_device_new(client, IOTHTTP_CLOUD_UCLOUD, "p", "d", "s", &uc));
    REQUIRE_OK(iothttp_device_new(client, IOTHTTP_CLOUD_ALIYUN, "pk", "d", "s", &al));

    /* NULL device, for every device function. */
    char buf[64];
    size_t len = 0;
    uint64_t expires = 0;
    EXPECT_ARG(iothttp_device_set_endpoint(NULL, "https://127.0.0.1:1"), "dev");
    EXPECT_ARG(iothttp_device_set_file_endpoint(NULL, "https://127.0.0.1:1"), "dev");
    EXPECT_ARG(iothttp_device_set_client_id(NULL, "id"), "dev");
    EXPECT_ARG(iothttp_device_set_region(NULL, "cn-gd"), "dev");
    EXPECT_ARG(iothttp_device_set_sign_method(NULL, IOTHTTP_SIGN_HMAC_SHA256), "dev");
    EXPECT_ARG(iothttp_device_send_timestamp(NULL, true), "dev");
    EXPECT_ARG(iothttp_device_auth(NULL), "dev");
    EXPECT_ARG(iothttp_device_publish(NULL, "/p/d/x", PAYLOAD, 3, buf, sizeof buf), "dev");
    EXPECT_ARG(iothttp_device_reply_data(NULL, (uint8_t *)buf, sizeof buf, &len), "dev");
    EXPECT_ARG(iothttp_device_get_token(NULL, buf, sizeof buf, &len, &expires), "dev");
    EXPECT_ARG(iothttp_device_set_token(NULL, "token", 0), "dev");

    /* NULL strings. */
    EXPECT_ARG(iothttp_device_set_endpoint(uc, NULL), "base_url");
    EXPECT_ARG(iothttp_device_set_file_endpoint(uc, NULL), "base_url");
    EXPECT_ARG(iothttp_device_set_client_id(al, NULL), "client_id");
    EXPECT_ARG(iothttp_device_set_region(uc, NULL), "region");
    EXPECT_ARG(iothttp_device_set_token(uc, NULL, 0), "token");

    /* set_endpoint */
    static const char *const bad_urls[] = {
        "", "127.0.0.1:443", "ftp://127.0.0.1", "https://", "https://h/p?q=1",
        "https://h/p#f", "https://h/a b", "https://h/\x01", ("https://" INVALID_UTF8),
    };
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        if (!EXPECT(iothttp_device_set_endpoint(uc, bad_urls[i]), IOTHTTP_E_INVALID_ARG))
            fprintf(stderr, "      (endpoint #%zu)\n", i);
    }
    EXPECT(iothttp_device_set_endpoint(uc, "http://127.0.0.1:1/ucloud"), IOTHTTP_E_TLS);
    EXPECT(iothttp_device_set_endpoint(uc, "https://127.0.0.1:1/ucloud/"), IOTHTTP_OK);
    EXPECT(iothttp_device_set_endpoint(al, "https://[::1]:1"), IOTHTTP_OK);

    /* set_file_endpoint: UCloud only. */
    EXPECT(iothttp_device_set_file_endpoint(uc, "https://127.0.0.1:2"), IOTHTTP_OK);
    EXPECT(iothttp_device_set_file_endpoint(uc, "http://127.0.0.1:2"), IOTHTTP_E_TLS);
    EXPECT(iothttp_device_set_file_endpoint(uc, ""), IOTHTTP_E_INVALID_ARG);
    EXPECT_ARG(iothttp_device_set_file_endpoint(uc, INVALID_UTF8), "base_url");
    EXPECT(iothttp_device_set_file_endpoint(al, "https://127.0.0.1:2"), IOTHTTP_E_UNSUPPORTED);

    /* set_client_id: Aliyun only, 1..64 visible ASCII. */
    char id64[66];
    memset(id64, 'c', 65);
    id64[65] = '\0';
    EXPECT(iothttp_device_set_client_id(al, id64), IOTHTTP_E_INVALID_ARG); /* 65 */
    id64[64] = '\0';
    EXPECT(iothttp_device_set_client_id(al, id64), IOTHTTP_OK); /* 64 */
    EXPECT(iothttp_device_set_client_id(al, "00:11:22:33:44:55"), IOTHTTP_OK);
    EXPECT(iothttp_device_set_client_id(al, ""), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_set_client_id(al, "a b"), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_set_client_id(al, "caf\xc3\xa9"), IOTHTTP_E_INVALID_ARG);
    EXPECT_ARG(iothttp_device_set_client_id(al, INVALID_UTF8), "client_id");
    EXPECT(iothttp_device_set_client_id(uc, "sn-1"), IOTHTTP_E_UNSUPPORTED);

    /* set_region */
    EXPECT(iothttp_device_set_region(uc, "cn-gd"), IOTHTTP_OK);
    EXPECT(iothttp_device_set_region(al, "cn-shanghai"), IOTHTTP_OK);
    EXPECT(iothttp_device_set_region(uc, ""), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_set_region(uc, "CN-SH2"), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_set_region(uc, "cn sh2"), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_set_region(uc, "evil.example.com/x"), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_set_region(uc, "abcdefghijklmnopqrstuvwxyz0123456"),
           IOTHTTP_E_INVALID_ARG); /* 33 */
    EXPECT_ARG(iothttp_device_set_region(uc, INVALID_UTF8), "region");

    /* set_sign_method */
    EXPECT(iothttp_device_set_sign_method(al, IOTHTTP_SIGN_HMAC_MD5), IOTHTTP_OK);
    EXPECT(iothttp_device_set_sign_method(al, IOTHTTP_SIGN_HMAC_SHA1), IOTHTTP_OK);
    EXPECT(iothttp_device_set_sign_method(al, IOTHTTP_SIGN_HMAC_SHA256), IOTHTTP_OK);
    EXPECT(iothttp_device_set_sign_method(al, 3), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_set_sign_method(al, UINT32_MAX), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_set_sign_method(uc, IOTHTTP_SIGN_HMAC_SHA256), IOTHTTP_OK);
    EXPECT(iothttp_device_set_sign_method(uc, IOTHTTP_SIGN_HMAC_MD5), IOTHTTP_E_UNSUPPORTED);
    EXPECT(iothttp_device_set_sign_method(uc, IOTHTTP_SIGN_HMAC_SHA1), IOTHTTP_E_UNSUPPORTED);
    EXPECT(iothttp_device_set_sign_method(uc, 3), IOTHTTP_E_INVALID_ARG);

    /* send_timestamp */
    EXPECT(iothttp_device_send_timestamp(uc, true), IOTHTTP_OK);
    EXPECT(iothttp_device_send_timestamp(uc, false), IOTHTTP_OK);
    EXPECT(iothttp_device_send_timestamp(al, true), IOTHTTP_OK);

    /* get_token before any token: INVALID_ARG, outputs untouched. */
    memset(buf, 'Z', sizeof buf);
    len = 7;
    expires = 7;
    EXPECT(iothttp_device_get_token(uc, buf, sizeof buf, &len, &expires), IOTHTTP_E_INVALID_ARG);
    CHECK(buf[0] == 'Z' && len == 7 && expires == 7);

    /* set_token: 1..4096 visible ASCII. */
    EXPECT(iothttp_device_set_token(uc, "", 0), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_set_token(uc, "a b", 0), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_set_token(uc, "abc\r\nX-Injected: 1", 0), IOTHTTP_E_INVALID_ARG);
    EXPECT_ARG(iothttp_device_set_token(uc, INVALID_UTF8, 0), "token");
    char *big = malloc(4098);
    REQUIRE(big != NULL);
    memset(big, 't', 4097);
    big[4097] = '\0';
    EXPECT(iothttp_device_set_token(uc, big, 0), IOTHTTP_E_INVALID_ARG);
    big[4096] = '\0';
    EXPECT(iothttp_device_set_token(uc, big, 1234), IOTHTTP_OK);
    char *back = malloc(4097);
    REQUIRE(back != NULL);
    EXPECT(iothttp_device_get_token(uc, back, 4097, &len, &expires), IOTHTTP_OK);
    CHECK(len == 4096 && expires == 1234 && strcmp(back, big) == 0);
    free(back);
    free(big);
    /* Expiry 0 = unknown, and get_token says 0. */
    EXPECT(iothttp_device_set_token(uc, "abc", 0), IOTHTTP_OK);
    EXPECT(iothttp_device_get_token(uc, buf, sizeof buf, &len, &expires), IOTHTTP_OK);
    CHECK(len == 3 && expires == 0 && strcmp(buf, "abc") == 0);

    /* "A cached token is dropped when the endpoint changes": not when it stays the same. */
    EXPECT(iothttp_device_set_endpoint(uc, "https://127.0.0.1:1/ucloud"), IOTHTTP_OK);
    EXPECT(iothttp_device_get_token(uc, buf, sizeof buf, NULL, NULL), IOTHTTP_OK);
    /* "An endpoint set with set_endpoint keeps precedence" over the region. */
    EXPECT(iothttp_device_set_region(uc, "cn-sh2"), IOTHTTP_OK);
    EXPECT(iothttp_device_get_token(uc, buf, sizeof buf, NULL, NULL), IOTHTTP_OK);
    EXPECT(iothttp_device_set_endpoint(uc, "https://localhost:1/ucloud"), IOTHTTP_OK);
    EXPECT(iothttp_device_get_token(uc, buf, sizeof buf, NULL, NULL), IOTHTTP_E_INVALID_ARG);
    /* Without an endpoint, a region change is an endpoint change. */
    iothttp_device *fresh = NULL;
    REQUIRE_OK(iothttp_device_new(client, IOTHTTP_CLOUD_UCLOUD, "p", "d", "s", &fresh));
    EXPECT(iothttp_device_set_token(fresh, "abc", 0), IOTHTTP_OK);
    EXPECT(iothttp_device_set_region(fresh, "cn-gd"), IOTHTTP_OK);
    EXPECT(iothttp_device_get_token(fresh, buf, sizeof buf, NULL, NULL), IOTHTTP_E_INVALID_ARG);
    iothttp_device_free(fresh);

    iothttp_device_free(uc);
    iothttp_device_free(al);
    iothttp_client_free(client);
}

/* ---------------------------------------------------------------------------------------
 * Cases against the emulator
 * ------------------------------------------------------------------------------------- */

static void test_publish_args(void)
{
    struct tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "args") == 0);
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);
    iothttp_device *dev = emu_device(client, &t);
    REQUIRE(dev != NULL);
    REQUIRE_OK(iothttp_device_auth(dev));

    struct emu_counters c0, c1;
    REQUIRE(tdev_counters(&t, &c0) == 0);
    char id[64];
    memset(id, 'Z', sizeof id);

    EXPECT_ARG(iothttp_device_publish(dev, NULL, PAYLOAD, 3, id, sizeof id), "topic");
    EXPECT_ARG(iothttp_device_publish(dev, INVALID_UTF8, PAYLOAD, 3, id, sizeof id), "topic");
    static const char *const bad_topics[] = {
        "", "/", "/p/d/a?b=1", "/p/d/#", "/p/d/+/x", "/p/d/a b", "/p/d/a\tb", "/p/d/a\nb",
        "/p/d/\x7f",
        /* dot segments would leave /topic/ on the server: also percent-encoded */
        "/../../auth", "/p/d/..", "/p/./d", "./p/d", "/p/d/%2e%2e/x", "/p/%2E%2E", "/p/.%2e/x",
        "/p/%2e/x",
    };
    for (size_t i = 0; i < sizeof bad_topics / sizeof bad_topics[0]; i++) {
        if (!EXPECT(iothttp_device_publish(dev, bad_topics[i], PAYLOAD, 3, id, sizeof id),
                    IOTHTTP_E_INVALID_ARG))
            fprintf(stderr, "      (topic #%zu)\n", i);
    }
    char long_topic[1100];
    int n = snprintf(long_topic, sizeof long_topic, "/%s/%s/", t.product, t.device);
    memset(long_topic + n, 'x', sizeof long_topic - 1 - (size_t)n);
    long_topic[1025] = '\0';
    EXPECT(iothttp_device_publish(dev, long_topic, PAYLOAD, 3, id, sizeof id),
           IOTHTTP_E_INVALID_ARG);

    /* Payload pointer and length. */
    EXPECT_ARG(iothttp_device_publish(dev, t.topic, NULL, 5, id, sizeof id), "payload");
    const uint8_t *bogus = (const uint8_t *)(uintptr_t)1; /* must never be read */
    EXPECT(iothttp_device_publish(dev, t.topic, bogus, SIZE_MAX, id, sizeof id),
           IOTHTTP_E_TOO_LARGE);
    EXPECT(iothttp_device_publish(dev, t.topic, bogus, 131073, id, sizeof id),
           IOTHTTP_E_TOO_LARGE);

    /* message_id buffer below IOTHTTP_MESSAGE_ID_LEN: refused before sending. */
    EXPECT(iothttp_device_publish(dev, t.topic, PAYLOAD, 3, id, 0), IOTHTTP_E_BUFFER_TOO_SMALL);
    EXPECT(iothttp_device_publish(dev, t.topic, PAYLOAD, 3, id, 1), IOTHTTP_E_BUFFER_TOO_SMALL);
    EXPECT(iothttp_device_publish(dev, t.topic, PAYLOAD, 3, id, IOTHTTP_MESSAGE_ID_LEN - 1),
           IOTHTTP_E_BUFFER_TOO_SMALL);
    for (size_t i = 0; i < sizeof id; i++)
        if (!CHECK(id[i] == 'Z')) /* untouched by failed calls */
            break;

    REQUIRE(tdev_counters(&t, &c1) == 0);
    CHECK(c1.publish_requests == c0.publish_requests); /* nothing was sent */
    CHECK(c1.auth_requests == c0.auth_requests);

    /* Edges that are fine. */
    EXPECT(iothttp_device_publish(dev, t.topic, PAYLOAD, 3, NULL, 0), IOTHTTP_OK);
    EXPECT(iothttp_device_publish(dev, t.topic, PAYLOAD, 3, NULL, 5), IOTHTTP_OK);
    EXPECT(iothttp_device_publish(dev, t.topic, NULL, 0, id, IOTHTTP_MESSAGE_ID_LEN), IOTHTTP_OK);
    CHECK_MESSAGE_ID(id, UCLOUD_FIRST_ID, NULL);
    uint8_t *big = malloc(131072);
    REQUIRE(big != NULL);
    memset(big, 'b', 131072);
    EXPECT(iothttp_device_publish(dev, t.topic, big, 131072, id, sizeof id), IOTHTTP_OK);
    free(big);
    char utf8_topic[200];
    snprintf(utf8_topic, sizeof utf8_topic, "/%s/%s/\xe6\x95\xb0\xe6\x8d\xae", t.product,
             t.device);
    EXPECT(iothttp_device_publish(dev, utf8_topic, PAYLOAD, 3, id, sizeof id), IOTHTTP_OK);
    /* Topic text arrives exactly (percent-encoded on the wire, decoded by the cloud). */
    char odd_topic[200];
    snprintf(odd_topic, sizeof odd_topic, "/%s/%s/a%%20b:c=d&e,f;g@h!~'()*", t.product,
             t.device);
    EXPECT(iothttp_device_publish(dev, odd_topic, PAYLOAD, 7, id, sizeof id), IOTHTTP_OK);
    REQUIRE(tdev_counters(&t, &c1) == 0);
    CHECK(c1.publishes == c0.publishes + 6);
    char command[256], stats[8192], want[300];
    snprintf(command, sizeof command, "stats ucloud %s %s", t.product, t.device);
    REQUIRE(emu_command(command, stats, sizeof stats) == 0);
    snprintf(want, sizeof want, "\"topic\":\"%s\",\"len\":7,", odd_topic);
    CHECK(strstr(stats, want) != NULL);
    snprintf(want, sizeof want, "\"topic\":\"%s\",\"len\":3,", utf8_topic);
    CHECK(strstr(stats, want) != NULL);
    CHECK(strstr(stats, "\"len\":131072,") != NULL);
    CHECK(strstr(stats, "\"len\":0,") != NULL);

    /* The emulator's ACL: /<product>/<device>/... only. */
    char other[200];
    snprintf(other, sizeof other, "/%s/someone_else/upload", t.product);
    EXPECT(iothttp_device_publish(dev, other, PAYLOAD, 3, id, sizeof id), IOTHTTP_E_DENIED);
    CHECK(iothttp_last_cloud_code() == 100075);

    iothttp_device_free(dev);
    iothttp_client_free(client);
}

static void test_ucloud_publish(void)
{
    struct tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "uhappy") == 0);
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);
    iothttp_device *dev = emu_device(client, &t);
    REQUIRE(dev != NULL);
    EXPECT(iothttp_device_set_sign_method(dev, IOTHTTP_SIGN_HMAC_SHA256), IOTHTTP_OK);

    struct emu_counters c;
    REQUIRE_OK(iothttp_device_auth(dev));
    CHECK(iothttp_last_http_status() == 200);
    REQUIRE(tdev_counters(&t, &c) == 0);
    CHECK(c.auths == 1 && c.auth_requests == 1);

    char id1[IOTHTTP_MESSAGE_ID_LEN], id2[IOTHTTP_MESSAGE_ID_LEN];
    uint64_t v1 = 0, v2 = 0;
    REQUIRE_OK(publish(dev, &t, id1, sizeof id1));
    CHECK(iothttp_last_http_status() == 200);
    CHECK(iothttp_last_cloud_code() == 0);
    CHECK_MESSAGE_ID(id1, UCLOUD_FIRST_ID, &v1);
    REQUIRE_OK(publish(dev, &t, id2, sizeof id2));
    CHECK_MESSAGE_ID(id2, UCLOUD_FIRST_ID, &v2);
    CHECK(v2 > v1);
    REQUIRE(tdev_counters(&t, &c) == 0);
    CHECK(c.auths == 1 && c.publishes == 2);

    /* UCloud replies carry no data. */
    size_t len = 99;
    EXPECT(iothttp_device_reply_data(dev, NULL, 0, &len), IOTHTTP_OK);
    CHECK(len == 0);

    /* One TLS handshake, then keep-alive: auth + 2 publishes on one connection. */
    uint64_t handshakes = 0, requests = 0;
    EXPECT(iothttp_client_stats(client, &handshakes, &requests), IOTHTTP_OK);
    CHECK(requests == 3);
    CHECK(handshakes == 1);

    /* With a timestamp (the field is optional). */
    EXPECT(iothttp_device_send_timestamp(dev, true), IOTHTTP_OK);
    EXPECT(iothttp_device_auth(dev), IOTHTTP_OK);

    iothttp_device_free(dev);
    iothttp_client_free(client);
}

struct reply_thread {
    iothttp_device *dev;
    size_t len;
    iothttp_result rc;
};

static void *reply_in_thread(void *arg)
{
    struct reply_thread *rt = arg;
    uint8_t buf[64];
    rt->len = 99;
    rt->rc = iothttp_device_reply_data(rt->dev, buf, sizeof buf, &rt->len);
    return NULL;
}

static void test_aliyun_publish(void)
{
    struct tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_ALIYUN, "ahappy") == 0);
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);
    iothttp_device *dev = emu_device(client, &t);
    REQUIRE(dev != NULL);

    uint8_t data[64];
    size_t len = 99;
    /* Before any publish: empty. */
    EXPECT(iothttp_device_reply_data(dev, NULL, 0, &len), IOTHTTP_OK);
    CHECK(len == 0);

    /* Lazy auth (HMAC-MD5 by default) and a message id above 2^53, exact. */
    char id[IOTHTTP_MESSAGE_ID_LEN];
    uint64_t v = 0;
    REQUIRE_OK(publish(dev, &t, id, sizeof id));
    CHECK_MESSAGE_ID(id, ALIYUN_FIRST_ID, &v);
    CHECK(v > TWO_POW_53);

    /* reply_data: what the cloud sent back in info.data. */
    REQUIRE(emu_commandf("reply-data aliyun %s %s hello  world \xe2\x9c\x93", t.product,
                         t.device) == 0);
    static const char want[] = "hello  world \xe2\x9c\x93";
    const size_t want_len = sizeof want - 1;
    REQUIRE_OK(publish(dev, &t, id, sizeof id));
    EXPECT(iothttp_device_reply_data(dev, data, sizeof data, &len), IOTHTTP_OK);
    CHECK(len == want_len && memcmp(data, want, want_len) == 0);
    /* Exactly the length fits (no NUL is written). */
    memset(data, 'Z', sizeof data);
    EXPECT(iothttp_device_reply_data(dev, data, want_len, &len), IOTHTTP_OK);
    CHECK(len == want_len && data[want_len] == 'Z');
    /* Too small: *len_out = size needed, buffer untouched. */
    memset(data, 'Z', sizeof data);
    len = 0;
    EXPECT(iothttp_device_reply_data(dev, data, 5, &len), IOTHTTP_E_BUFFER_TOO_SMALL);
    CHECK(len == want_len);
    CHECK(data[0] == 'Z');
    len = 0;
    EXPECT(iothttp_device_reply_data(dev, NULL, 0, &len), IOTHTTP_E_BUFFER_TOO_SMALL);
    CHECK(len == want_len);
    EXPECT_ARG(iothttp_device_reply_data(dev, data, sizeof data, NULL), "len_out");
    EXPECT(iothttp_device_reply_data(dev, NULL, sizeof data, &len), IOTHTTP_E_INVALID_ARG);
    /* Per thread: another thread has not published on this device. */
    struct reply_thread rt = {dev, 0, IOTHTTP_E_INTERNAL};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, reply_in_thread, &rt) == 0);
    pthread_join(th, NULL);
    CHECK(rt.rc == IOTHTTP_OK && rt.len == 0);
    /* A failed publish keeps what the last successful one received. */
    EXPECT(iothttp_device_publish(dev, "/elsewhere/x/y", PAYLOAD, 3, id, sizeof id),
           IOTHTTP_E_INVALID_ARG); /* Aliyun answers an ACL violation with 10001 */
    CHECK(iothttp_last_cloud_code() == 10001);
    EXPECT(iothttp_device_reply_data(dev, data, sizeof data, &len), IOTHTTP_OK);
    CHECK(len == want_len);
    /* Cleared: the next reply has no data. */
    REQUIRE(emu_commandf("reply-data aliyun %s %s", t.product, t.device) == 0);
    REQUIRE_OK(publish(dev, &t, id, sizeof id));
    EXPECT(iothttp_device_reply_data(dev, data, sizeof data, &len), IOTHTTP_OK);
    CHECK(len == 0);

    /* Sign methods, client id and timestamp all authenticate. */
    static const uint32_t methods[] = {IOTHTTP_SIGN_HMAC_SHA1, IOTHTTP_SIGN_HMAC_SHA256,
                                       IOTHTTP_SIGN_HMAC_MD5};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        EXPECT(iothttp_device_set_sign_method(dev, methods[i]), IOTHTTP_OK);
        EXPECT(iothttp_device_auth(dev), IOTHTTP_OK);
    }
    EXPECT(iothttp_device_set_client_id(dev, "00:11:22:33:44:55"), IOTHTTP_OK);
    EXPECT(iothttp_device_send_timestamp(dev, true), IOTHTTP_OK);
    EXPECT(iothttp_device_auth(dev), IOTHTTP_OK);
    EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_OK);

    iothttp_device_free(dev);
    iothttp_client_free(client);
}

static void token_roundtrip(uint32_t cloud, const char *tag)
{
    struct tdev t;
    REQUIRE(tdev_add(&t, cloud, tag) == 0);
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);
    iothttp_device *a = emu_device(client, &t);
    REQUIRE(a != NULL);
    REQUIRE_OK(iothttp_device_auth(a));

    /* Sizing: *len_out = length + 1 on BUFFER_TOO_SMALL, nothing else written. */
    size_t need = 0;
    uint64_t expires = 12345;
    EXPECT(iothttp_device_get_token(a, NULL, 0, &need, &expires), IOTHTTP_E_BUFFER_TOO_SMALL);
    CHECK(expires == 12345);
    REQUIRE(need > 1 && need <= 4097);
    char *token = malloc(need);
    REQUIRE(token != NULL);
    memset(token, 'Z', need);
    size_t len = 0;
    EXPECT(iothttp_device_get_token(a, token, need - 1, &len, &expires),
           IOTHTTP_E_BUFFER_TOO_SMALL);
    CHECK(len == need && token[0] == 'Z' && expires == 12345);
    EXPECT(iothttp_device_get_token(a, token, need - 1, NULL, NULL), IOTHTTP_E_BUFFER_TOO_SMALL);
    EXPECT(iothttp_device_get_token(a, NULL, need, &len, NULL), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_get_token(a, token, need, &len, &expires), IOTHTTP_OK);
    CHECK(len == need - 1 && strlen(token) == len);
    uint64_t now = now_ms();
    CHECK(expires > now + 3600u * 1000u && expires <= now + 8u * 24 * 3600 * 1000);
    EXPECT(iothttp_device_get_token(a, token, need, NULL, NULL), IOTHTTP_OK);

    /* A "rebooted" device (new client, new handle) restores it and publishes without auth. */
    struct emu_counters c0, c1;
    REQUIRE(tdev_counters(&t, &c0) == 0);
    iothttp_client *client2 = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client2 != NULL);
    iothttp_device *b = emu_device(client2, &t);
    REQUIRE(b != NULL);
    EXPECT(iothttp_device_set_token(b, token, expires), IOTHTTP_OK);
    char id[IOTHTTP_MESSAGE_ID_LEN];
    EXPECT(publish(b, &t, id, sizeof id), IOTHTTP_OK);
    REQUIRE(tdev_counters(&t, &c1) == 0);
    CHECK(c1.auth_requests == c0.auth_requests);
    CHECK(c1.publishes == c0.publishes + 1);
    char copy[4097];
    uint64_t expires_b = 0;
    EXPECT(iothttp_device_get_token(b, copy, sizeof copy, &len, &expires_b), IOTHTTP_OK);
    CHECK(strcmp(copy, token) == 0 && expires_b == expires);

    /* A saved token the cloud no longer knows (expiry unknown): used, refused, re-auth. */
    EXPECT(iothttp_device_set_token(b, "stale-token-0123456789", 0), IOTHTTP_OK);
    EXPECT(publish(b, &t, id, sizeof id), IOTHTTP_OK);
    REQUIRE(tdev_counters(&t, &c0) == 0);
    CHECK(c0.auths == c1.auths + 1);
    CHECK(c0.publish_requests == c1.publish_requests + 2);
    /* A saved token past its expiry is renewed before use (no refused request). */
    EXPECT(iothttp_device_set_token(b, token, 1), IOTHTTP_OK);
    EXPECT(publish(b, &t, id, sizeof id), IOTHTTP_OK);
    REQUIRE(tdev_counters(&t, &c1) == 0);
    CHECK(c1.auths == c0.auths + 1);
    CHECK(c1.publish_requests == c0.publish_requests + 1);

    memset(token, 0, need);
    free(token);
    iothttp_device_free(a);
    iothttp_device_free(b);
    iothttp_client_free(client);
    iothttp_client_free(client2);
}

static void test_token_ucloud(void)
{
    token_roundtrip(IOTHTTP_CLOUD_UCLOUD, "utok");
}

static void test_token_aliyun(void)
{
    token_roundtrip(IOTHTTP_CLOUD_ALIYUN, "atok");
}

/* One injected fault and what the library must make of it. */
struct fault {
    const char *op;    /* "auth" or "publish" */
    const char *fault; /* cloud code or http503/http500/http404 */
    int count;         /* how many requests the rule answers */
    bool timestamp;    /* send_timestamp on */
    iothttp_result want;
    int64_t cloud_code; /* iothttp_last_cloud_code() after */
    unsigned status;    /* iothttp_last_http_status() after */
    unsigned d_auth;    /* auth requests the emulator sees */
    unsigned d_publish; /* publish requests the emulator sees */
};

static void run_faults(uint32_t cloud, const char *tag, const struct fault *faults, size_t n)
{
    struct tdev t;
    REQUIRE(tdev_add(&t, cloud, tag) == 0);
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0); /* 3 attempts, 5..20 ms */
    REQUIRE(client != NULL);
    iothttp_device *dev = emu_device(client, &t);
    REQUIRE(dev != NULL);

    for (size_t i = 0; i < n; i++) {
        const struct fault *f = &faults[i];
        bool is_auth = strcmp(f->op, "auth") == 0;
        char id[IOTHTTP_MESSAGE_ID_LEN];
        struct emu_counters c0, c1;
        if (!is_auth)
            REQUIRE_OK(iothttp_device_auth(dev)); /* start from a valid token */
        EXPECT(iothttp_device_send_timestamp(dev, f->timestamp), IOTHTTP_OK);
        REQUIRE(tdev_counters(&t, &c0) == 0);
        REQUIRE(emu_commandf("fail %s %s %s %s %s %d", f->op, t.cloud_name, t.product, t.device,
                             f->fault, f->count) == 0);
        iothttp_result rc = is_auth ? iothttp_device_auth(dev) : publish(dev, &t, id, sizeof id);
        int64_t code = iothttp_last_cloud_code();
        unsigned status = iothttp_last_http_status();
        int ok = EXPECT(rc, f->want);
        ok &= CHECK(code == f->cloud_code);
        ok &= CHECK(status == f->status);
        if (f->cloud_code != 0 && rc != IOTHTTP_OK) {
            char digits[32];
            snprintf(digits, sizeof digits, "%" PRId64, f->cloud_code);
            ok &= CHECK(strstr(iothttp_last_error(), digits) != NULL);
        }
        REQUIRE(tdev_counters(&t, &c1) == 0);
        ok &= CHECK(c1.auth_requests - c0.auth_requests == f->d_auth);
        ok &= CHECK(c1.publish_requests - c0.publish_requests == f->d_publish);
        if (!ok)
            fprintf(stderr,
                    "      in: fail %s %s %s x%d%s -> %s, cloud code %" PRId64
                    ", HTTP %u, +%" PRIu64 " auth / +%" PRIu64 " publish requests\n",
                    f->op, t.cloud_name, f->fault, f->count, f->timestamp ? " (timestamp)" : "",
                    iothttp_result_name(rc), code, status, c1.auth_requests - c0.auth_requests,
                    c1.publish_requests - c0.publish_requests);
    }
    iothttp_device_free(dev);
    iothttp_client_free(client);
}

#define NFAULTS(a) (sizeof(a) / sizeof((a)[0]))

static void test_ucloud_publish_errors(void)
{
    static const struct fault faults[] = {
        {"publish", "171", 1, false, IOTHTTP_E_AUTH, 171, 200, 0, 1},
        {"publish", "100071", 1, false, IOTHTTP_E_AUTH, 100071, 200, 0, 1},
        {"publish", "100072", 1, false, IOTHTTP_E_AUTH, 100072, 200, 0, 1},
        {"publish", "100075", 1, false, IOTHTTP_E_DENIED, 100075, 200, 0, 1},
        {"publish", "100076", 1, false, IOTHTTP_E_TOO_LARGE, 100076, 200, 0, 1},
        {"publish", "100077", 1, false, IOTHTTP_E_CLOUD, 100077, 200, 0, 1},
        {"publish", "230", 1, false, IOTHTTP_E_INVALID_ARG, 230, 200, 0, 1},
        /* 130 "temporarily unavailable": retried; the budget is 3 attempts. */
        {"publish", "130", 2, false, IOTHTTP_OK, 0, 200, 0, 3},
        {"publish", "130", 3, false, IOTHTTP_E_UNAVAILABLE, 130, 200, 0, 3},
        {"publish", "http503", 2, false, IOTHTTP_OK, 0, 200, 0, 3},
        {"publish", "http503", 3, false, IOTHTTP_E_UNAVAILABLE, 0, 503, 0, 3},
        {"publish", "http500", 1, false, IOTHTTP_E_HTTP, 0, 500, 0, 1},
        {"publish", "http404", 1, false, IOTHTTP_E_HTTP, 0, 404, 0, 1},
        /* Redirects are never followed; 429 is retried like 503. */
        {"publish", "http302", 1, false, IOTHTTP_E_HTTP, 0, 302, 0, 1},
        {"publish", "http429", 2, false, IOTHTTP_OK, 0, 200, 0, 3},
        {"publish", "http429", 3, false, IOTHTTP_E_RATE_LIMITED, 0, 429, 0, 3},
        /* A refused token: one fresh auth and a resend... */
        {"publish", "100073", 1, false, IOTHTTP_OK, 0, 200, 1, 2},
        {"publish", "100074", 1, false, IOTHTTP_OK, 0, 200, 1, 2},
        /* ...refused again right after it: IOTHTTP_E_TOKEN. */
        {"publish", "100073", 2, false, IOTHTTP_E_TOKEN, 100073, 200, 1, 2},
        {"publish", "100074", 2, false, IOTHTTP_E_TOKEN, 100074, 200, 1, 2},
    };
    run_faults(IOTHTTP_CLOUD_UCLOUD, "uperr", faults, NFAULTS(faults));
}

/* A fresh device's lazy auth, and the cloud refuses that brand-new token: one more auth and
 * the message is sent; IOTHTTP_E_TOKEN only when the re-auth's token is refused too. */
static void test_lazy_auth_refused(void)
{
    static const struct {
        uint32_t cloud;
        const char *code;
    } cases[] = {{IOTHTTP_CLOUD_UCLOUD, "100073"}, {IOTHTTP_CLOUD_UCLOUD, "100074"},
                 {IOTHTTP_CLOUD_ALIYUN, "20001"},  {IOTHTTP_CLOUD_ALIYUN, "20003"}};
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int refusals = 1; refusals <= 2; refusals++) {
            struct tdev t;
            struct emu_counters c;
            char id[IOTHTTP_MESSAGE_ID_LEN];
            if (!CHECK(tdev_add(&t, cases[i].cloud, "lazy") == 0))
                continue;
            iothttp_device *dev = emu_device(client, &t);
            if (!CHECK(dev != NULL))
                continue;
            CHECK(emu_commandf("fail publish %s %s %s %s %d", t.cloud_name, t.product, t.device,
                               cases[i].code, refusals) == 0);
            EXPECT(publish(dev, &t, id, sizeof id), refusals == 1 ? IOTHTTP_OK : IOTHTTP_E_TOKEN);
            if (refusals == 2)
                CHECK(strstr(iothttp_last_error(), cases[i].code) != NULL);
            if (CHECK(tdev_counters(&t, &c) == 0)) {
                CHECK(c.auth_requests == 2);
                CHECK(c.publish_requests == 2);
            }
            iothttp_device_free(dev);
        }
    }
    iothttp_client_free(client);
}

static void test_ucloud_auth_errors(void)
{
    static const struct fault faults[] = {
        {"auth", "171", 1, false, IOTHTTP_E_AUTH, 171, 200, 1, 0},
        {"auth", "100071", 1, false, IOTHTTP_E_AUTH, 100071, 200, 1, 0},
        {"auth", "100072", 1, false, IOTHTTP_E_AUTH, 100072, 200, 1, 0},
        {"auth", "230", 1, false, IOTHTTP_E_INVALID_ARG, 230, 200, 1, 0},
        {"auth", "100077", 1, false, IOTHTTP_E_CLOUD, 100077, 200, 1, 0},
        {"auth", "130", 2, false, IOTHTTP_OK, 0, 200, 3, 0},
        {"auth", "130", 3, false, IOTHTTP_E_UNAVAILABLE, 130, 200, 3, 0},
        {"auth", "http503", 3, false, IOTHTTP_E_UNAVAILABLE, 0, 503, 3, 0},
        {"auth", "http500", 1, false, IOTHTTP_E_HTTP, 0, 500, 1, 0},
        /* Timestamp refused: without a timestamp sent there is nothing to correct... */
        {"auth", "100070", 1, false, IOTHTTP_E_AUTH, 100070, 200, 1, 0},
        /* ...with one, the library retries without it. */
        {"auth", "100070", 1, true, IOTHTTP_OK, 0, 200, 2, 0},
    };
    run_faults(IOTHTTP_CLOUD_UCLOUD, "uaerr", faults, NFAULTS(faults));

    /* The real refusals: wrong secret, unknown device, disabled device; and lazy auth. */
    struct tdev t, unknown, disabled;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "uwrong") == 0);
    tdev_make(&unknown, IOTHTTP_CLOUD_UCLOUD, "unknown");
    REQUIRE(tdev_add(&disabled, IOTHTTP_CLOUD_UCLOUD, "udis") == 0);
    REQUIRE(emu_commandf("add-device ucloud %s %s %s disabled", disabled.product, disabled.device,
                         disabled.secret) == 0);
    snprintf(t.secret, sizeof t.secret, "not-the-secret");
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);
    iothttp_device *dev = emu_device(client, &t);
    iothttp_device *dev_unknown = emu_device(client, &unknown);
    iothttp_device *dev_disabled = emu_device(client, &disabled);
    REQUIRE(dev != NULL && dev_unknown != NULL && dev_disabled != NULL);
    EXPECT(iothttp_device_auth(dev), IOTHTTP_E_AUTH);
    CHECK(iothttp_last_cloud_code() == 171);
    EXPECT(iothttp_device_auth(dev_unknown), IOTHTTP_E_AUTH);
    CHECK(iothttp_last_cloud_code() == 100071);
    EXPECT(iothttp_device_auth(dev_disabled), IOTHTTP_E_AUTH);
    CHECK(iothttp_last_cloud_code() == 100072);
    struct emu_counters c;
    char id[IOTHTTP_MESSAGE_ID_LEN];
    EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_E_AUTH);
    CHECK(iothttp_last_cloud_code() == 171);
    REQUIRE(tdev_counters(&t, &c) == 0);
    CHECK(c.publish_requests == 0 && c.auth_requests == 2);
    iothttp_device_free(dev);
    iothttp_device_free(dev_unknown);
    iothttp_device_free(dev_disabled);
    iothttp_client_free(client);
}

static void test_aliyun_publish_errors(void)
{
    static const struct fault faults[] = {
        {"publish", "10000", 1, false, IOTHTTP_E_CLOUD, 10000, 200, 0, 1},
        {"publish", "10001", 1, false, IOTHTTP_E_INVALID_ARG, 10001, 200, 0, 1},
        {"publish", "20000", 1, false, IOTHTTP_E_AUTH, 20000, 200, 0, 1},
        {"publish", "20004", 1, false, IOTHTTP_E_CLOUD, 20004, 200, 0, 1},
        {"publish", "30001", 1, false, IOTHTTP_E_CLOUD, 30001, 200, 0, 1},
        /* 40000 "request too many": retried; the budget is 3 attempts. */
        {"publish", "40000", 2, false, IOTHTTP_OK, 0, 200, 0, 3},
        {"publish", "40000", 3, false, IOTHTTP_E_RATE_LIMITED, 40000, 200, 0, 3},
        {"publish", "http503", 2, false, IOTHTTP_OK, 0, 200, 0, 3},
        {"publish", "http503", 3, false, IOTHTTP_E_UNAVAILABLE, 0, 503, 0, 3},
        {"publish", "http500", 1, false, IOTHTTP_E_HTTP, 0, 500, 0, 1},
        /* Token expired / missing / invalid: one fresh auth and a resend... */
        {"publish", "20001", 1, false, IOTHTTP_OK, 0, 200, 1, 2},
        {"publish", "20002", 1, false, IOTHTTP_OK, 0, 200, 1, 2},
        {"publish", "20003", 1, false, IOTHTTP_OK, 0, 200, 1, 2},
        /* ...refused again: IOTHTTP_E_TOKEN. */
        {"publish", "20001", 2, false, IOTHTTP_E_TOKEN, 20001, 200, 1, 2},
        {"publish", "20003", 2, false, IOTHTTP_E_TOKEN, 20003, 200, 1, 2},
    };
    run_faults(IOTHTTP_CLOUD_ALIYUN, "aperr", faults, NFAULTS(faults));
}

static void test_aliyun_auth_errors(void)
{
    static const struct fault faults[] = {
        {"auth", "10000", 1, false, IOTHTTP_E_CLOUD, 10000, 200, 1, 0},
        {"auth", "10001", 1, false, IOTHTTP_E_INVALID_ARG, 10001, 200, 1, 0},
        {"auth", "20000", 1, false, IOTHTTP_E_AUTH, 20000, 200, 1, 0},
        {"auth", "20004", 1, false, IOTHTTP_E_CLOUD, 20004, 200, 1, 0},
        {"auth", "40000", 2, false, IOTHTTP_OK, 0, 200, 3, 0},
        {"auth", "40000", 3, false, IOTHTTP_E_RATE_LIMITED, 40000, 200, 3, 0},
        {"auth", "http503", 3, false, IOTHTTP_E_UNAVAILABLE, 0, 503, 3, 0},
        /* 20000 with a timestamp, while the clocks agree: not the timestamp, no retry. */
        {"auth", "20000", 1, true, IOTHTTP_E_AUTH, 20000, 200, 1, 0},
    };
    run_faults(IOTHTTP_CLOUD_ALIYUN, "aaerr", faults, NFAULTS(faults));

    struct tdev t, unknown, disabled;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_ALIYUN, "awrong") == 0);
    tdev_make(&unknown, IOTHTTP_CLOUD_ALIYUN, "aunknown");
    REQUIRE(tdev_add(&disabled, IOTHTTP_CLOUD_ALIYUN, "adis") == 0);
    REQUIRE(emu_commandf("add-device aliyun %s %s %s disabled", disabled.product, disabled.device,
                         disabled.secret) == 0);
    snprintf(t.secret, sizeof t.secret, "not-the-secret");
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);
    iothttp_device *dev = emu_device(client, &t);
    iothttp_device *dev_unknown = emu_device(client, &unknown);
    iothttp_device *dev_disabled = emu_device(client, &disabled);
    REQUIRE(dev != NULL && dev_unknown != NULL && dev_disabled != NULL);
    EXPECT(iothttp_device_auth(dev), IOTHTTP_E_AUTH);
    CHECK(iothttp_last_cloud_code() == 20000);
    EXPECT(iothttp_device_auth(dev_unknown), IOTHTTP_E_AUTH);
    EXPECT(iothttp_device_auth(dev_disabled), IOTHTTP_E_AUTH);
    char id[IOTHTTP_MESSAGE_ID_LEN];
    EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_E_AUTH);
    struct emu_counters c;
    REQUIRE(tdev_counters(&t, &c) == 0);
    CHECK(c.publish_requests == 0 && c.auth_requests == 2);
    iothttp_device_free(dev);
    iothttp_device_free(dev_unknown);
    iothttp_device_free(dev_disabled);
    iothttp_client_free(client);
}

static void expired_token(uint32_t cloud, const char *tag)
{
    struct tdev t;
    REQUIRE(tdev_add(&t, cloud, tag) == 0);
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);
    iothttp_device *dev = emu_device(client, &t);
    REQUIRE(dev != NULL);
    REQUIRE_OK(iothttp_device_auth(dev));
    char id[IOTHTTP_MESSAGE_ID_LEN];
    struct emu_counters c0, c1;

    /* Expired behind the library's back: re-authenticated transparently. */
    REQUIRE(tdev_counters(&t, &c0) == 0);
    REQUIRE(emu_commandf("expire %s %s %s", t.cloud_name, t.product, t.device) == 0);
    EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_OK);
    REQUIRE(tdev_counters(&t, &c1) == 0);
    CHECK(c1.auths == c0.auths + 1);
    CHECK(c1.publish_requests == c0.publish_requests + 2);
    CHECK(c1.publishes == c0.publishes + 1);

    /* Revoked (unknown to the cloud): the same. */
    REQUIRE(emu_commandf("revoke %s %s %s", t.cloud_name, t.product, t.device) == 0);
    EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_OK);
    REQUIRE(tdev_counters(&t, &c0) == 0);
    CHECK(c0.auths == c1.auths + 1);
    CHECK(c0.publishes == c1.publishes + 1);

    iothttp_device_free(dev);
    iothttp_client_free(client);
}

static void test_expired_token(void)
{
    expired_token(IOTHTTP_CLOUD_UCLOUD, "uexp");
    expired_token(IOTHTTP_CLOUD_ALIYUN, "aexp");
}

static void test_retry_budget(void)
{
    struct tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "retry") == 0);
    iothttp_config *cfg = emu_config(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(cfg != NULL);
    REQUIRE_OK(iothttp_config_set_retries(cfg, 3, 10, 50));
    iothttp_client *client = NULL;
    REQUIRE_OK(iothttp_client_new(cfg, &client));
    /* The same config, never retrying. */
    REQUIRE_OK(iothttp_config_set_retries(cfg, 1, 10, 50));
    iothttp_client *once = NULL;
    REQUIRE_OK(iothttp_client_new(cfg, &once));
    iothttp_config_free(cfg);
    iothttp_device *dev = emu_device(client, &t);
    iothttp_device *dev_once = emu_device(once, &t);
    REQUIRE(dev != NULL && dev_once != NULL);
    REQUIRE_OK(iothttp_device_auth(dev));
    REQUIRE_OK(iothttp_device_auth(dev_once));

    char id[IOTHTTP_MESSAGE_ID_LEN];
    struct emu_counters c0, c1;
    /* A burst of two 503s within a budget of three attempts: succeeds, after a backoff. */
    REQUIRE(tdev_counters(&t, &c0) == 0);
    REQUIRE(emu_commandf("fail publish ucloud %s %s http503 2", t.product, t.device) == 0);
    uint64_t started = mono_ms();
    EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_OK);
    uint64_t took = mono_ms() - started;
    CHECK(took >= 5 + 10); /* delays in [5,10] then [10,20] ms */
    CHECK_MESSAGE_ID(id, UCLOUD_FIRST_ID, NULL);
    REQUIRE(tdev_counters(&t, &c1) == 0);
    CHECK(c1.publish_requests == c0.publish_requests + 3);
    CHECK(c1.publishes == c0.publishes + 1);

    /* max_attempts 1: no retry. */
    REQUIRE(emu_commandf("fail publish ucloud %s %s http503 1", t.product, t.device) == 0);
    EXPECT(publish(dev_once, &t, id, sizeof id), IOTHTTP_E_UNAVAILABLE);
    CHECK(iothttp_last_http_status() == 503);
    REQUIRE(tdev_counters(&t, &c0) == 0);
    CHECK(c0.publish_requests == c1.publish_requests + 1);

    iothttp_device_free(dev);
    iothttp_device_free(dev_once);
    iothttp_client_free(client);
    iothttp_client_free(once);
}

static void test_plain_http(void)
{
    const char *https = env("IOTHTTP_EMU_UCLOUD_URL");
    REQUIRE(https != NULL);
    const char *plain_base = getenv("IOTHTTP_EMU_PLAIN_URL"); /* optional */
    char plain[256];
    if (plain_base != NULL && plain_base[0] != '\0')
        snprintf(plain, sizeof plain, "%s/ucloud", plain_base);
    else
        snprintf(plain, sizeof plain, "http://127.0.0.1:%d/ucloud", url_port(https));

    struct tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "plain") == 0);
    iothttp_config *cfg = emu_config(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(cfg != NULL);
    iothttp_client *strict = NULL, *lax = NULL;
    REQUIRE_OK(iothttp_client_new(cfg, &strict));
    REQUIRE_OK(iothttp_config_allow_plain_http(cfg, true));
    REQUIRE_OK(iothttp_client_new(cfg, &lax));
    iothttp_config_free(cfg);

    iothttp_device *dev = NULL;
    REQUIRE_OK(iothttp_device_new(strict, t.cloud, t.product, t.device, t.secret, &dev));
    EXPECT(iothttp_device_set_endpoint(dev, plain), IOTHTTP_E_TLS);
    CHECK(strstr(iothttp_last_error(), "http") != NULL);
    iothttp_device_free(dev);
    dev = NULL;
    REQUIRE_OK(iothttp_device_new(lax, t.cloud, t.product, t.device, t.secret, &dev));
    EXPECT(iothttp_device_set_endpoint(dev, plain), IOTHTTP_OK);
    if (plain_base != NULL && plain_base[0] != '\0') {
        char id[IOTHTTP_MESSAGE_ID_LEN];
        EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_OK);
        uint64_t handshakes = 99;
        EXPECT(iothttp_client_stats(lax, &handshakes, NULL), IOTHTTP_OK);
        CHECK(handshakes == 0);
    }
    iothttp_device_free(dev);
    iothttp_client_free(strict);
    iothttp_client_free(lax);
}

static void test_untrusted_server(void)
{
    struct tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "untrust") == 0);
    const char *url = env("IOTHTTP_EMU_UCLOUD_URL");
    REQUIRE(url != NULL);

    /* No anchor at all: the client is refused. */
    iothttp_config *cfg = iothttp_config_new();
    REQUIRE(cfg != NULL);
    iothttp_client *client = NULL;
    EXPECT(iothttp_config_use_builtin_roots(cfg, false), IOTHTTP_OK);
    EXPECT(iothttp_client_new(cfg, &client), IOTHTTP_E_INVALID_ARG);
    CHECK(client == NULL);

    /* Built-in web roots only: the emulator's certificate is not trusted. */
    EXPECT(iothttp_config_use_builtin_roots(cfg, true), IOTHTTP_OK);
    EXPECT(iothttp_config_set_retries(cfg, 3, 1, 2), IOTHTTP_OK);
    REQUIRE_OK(iothttp_client_new(cfg, &client));
    iothttp_config_free(cfg);
    iothttp_device *dev = NULL;
    REQUIRE_OK(iothttp_device_new(client, t.cloud, t.product, t.device, t.secret, &dev));
    REQUIRE_OK(iothttp_device_set_endpoint(dev, url));
    EXPECT(iothttp_device_auth(dev), IOTHTTP_E_TLS);
    CHECK(iothttp_last_http_status() == 0 && iothttp_last_cloud_code() == 0);
    char id[IOTHTTP_MESSAGE_ID_LEN];
    EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_E_TLS);
    struct emu_counters c;
    REQUIRE(tdev_counters(&t, &c) == 0);
    CHECK(c.auth_requests == 0 && c.publish_requests == 0);
    iothttp_device_free(dev);
    iothttp_client_free(client);

    /* Only the emulator's CA (built-in roots off): trusted. */
    cfg = emu_config(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(cfg != NULL);
    EXPECT(iothttp_config_use_builtin_roots(cfg, false), IOTHTTP_OK);
    client = NULL;
    REQUIRE_OK(iothttp_client_new(cfg, &client));
    iothttp_config_free(cfg);
    dev = emu_device(client, &t);
    REQUIRE(dev != NULL);
    EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_OK);
    iothttp_device_free(dev);
    iothttp_client_free(client);
}

/* Mutual TLS: every key format from files and from memory, over TLS 1.3 and 1.2; bad
 * identities refused at the call; a server that refuses ours, or requires one when none is
 * set, fails with IOTHTTP_E_TLS naming the client certificate; the key is never logged. */
static iothttp_device *mtls_device(iothttp_client *client, const struct tdev *t,
                                   const char *base)
{
    char url[600];
    snprintf(url, sizeof url, "%s/ucloud", base);
    iothttp_device *dev = NULL;
    if (!EXPECT(iothttp_device_new(client, t->cloud, t->product, t->device, t->secret, &dev),
                IOTHTTP_OK))
        return NULL;
    if (!EXPECT(iothttp_device_set_endpoint(dev, url), IOTHTTP_OK)) {
        iothttp_device_free(dev);
        return NULL;
    }
    return dev;
}

static void test_client_cert(void)
{
    const char *mtls = env("IOTHTTP_EMU_MTLS_URL");
    const char *mtls12 = env("IOTHTTP_EMU_MTLS12_URL");
    const char *dir = env("IOTHTTP_EMU_CLIENT_CERTS");
    REQUIRE(mtls != NULL && mtls12 != NULL && dir != NULL);
    const char *const bases[] = {mtls, mtls12};
    const char *const names[] = {"device-ec", "device-pkcs8", "device-rsa"};
    char cert_path[600], key_path[600], id[IOTHTTP_MESSAGE_ID_LEN];
    struct capture log;
    capture_init(&log);
    g_capture = &log;
    struct tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "mtls") == 0);

    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        snprintf(cert_path, sizeof cert_path, "%s/%s.crt", dir, names[n]);
        snprintf(key_path, sizeof key_path, "%s/%s.key", dir, names[n]);
        for (int from_memory = 0; from_memory < 2; from_memory++) {
            iothttp_config *cfg =
                emu_config(EMU_DEFAULT_POLICY, &log, IOTHTTP_LOG_TRACE);
            REQUIRE(cfg != NULL);
            if (from_memory) {
                size_t cert_len = 0, key_len = 0;
                char *cert = read_file(cert_path, &cert_len);
                char *key = read_file(key_path, &key_len);
                REQUIRE(cert != NULL && key != NULL);
                EXPECT(iothttp_config_set_client_cert(cfg, cert, cert_len, key, key_len),
                       IOTHTTP_OK);
                free(cert);
                free(key);
            } else {
                EXPECT(iothttp_config_set_client_cert_files(cfg, cert_path, key_path),
                       IOTHTTP_OK);
            }
            iothttp_client *client = NULL;
            REQUIRE_OK(iothttp_client_new(cfg, &client));
            iothttp_config_free(cfg);
            for (size_t b = 0; b < 2; b++) {
                iothttp_device *dev = mtls_device(client, &t, bases[b]);
                REQUIRE(dev != NULL);
                if (!EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_OK))
                    fprintf(stderr, "  %s over %s: %s\n", names[n], bases[b],
                            iothttp_last_error());
                iothttp_device_free(dev);
            }
            iothttp_client_free(client);
        }
    }

    /* Refused at the call: a key of another certificate, a chain without a certificate, a
     * missing file; nothing changes. */
    iothttp_config *cfg = emu_config(EMU_DEFAULT_POLICY, &log, IOTHTTP_LOG_TRACE);
    REQUIRE(cfg != NULL);
    snprintf(cert_path, sizeof cert_path, "%s/device-ec.crt", dir);
    snprintf(key_path, sizeof key_path, "%s/device-rsa.key", dir);
    EXPECT(iothttp_config_set_client_cert_files(cfg, cert_path, key_path),
           IOTHTTP_E_INVALID_ARG);
    CHECK(strstr(iothttp_last_error(), "does not match") != NULL);
    EXPECT(iothttp_config_set_client_cert_files(cfg, key_path, key_path),
           IOTHTTP_E_INVALID_ARG);
    CHECK(strstr(iothttp_last_error(), "BEGIN CERTIFICATE") != NULL);
    char missing[640];
    snprintf(missing, sizeof missing, "%s/no-such.key", dir);
    EXPECT(iothttp_config_set_client_cert_files(cfg, cert_path, missing), IOTHTTP_E_READ);
    CHECK(strstr(iothttp_last_error(), "no-such.key") != NULL);
    static const char encrypted[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n"
                                    "-----END ENCRYPTED PRIVATE KEY-----\n";
    size_t cert_len = 0;
    char *cert = read_file(cert_path, &cert_len);
    REQUIRE(cert != NULL);
    EXPECT(iothttp_config_set_client_cert(cfg, cert, cert_len, encrypted, sizeof encrypted - 1),
           IOTHTTP_E_INVALID_ARG);
    CHECK(strstr(iothttp_last_error(), "encrypted") != NULL);
    free(cert);

    /* No certificate: the mTLS listeners require one. */
    iothttp_client *client = NULL;
    REQUIRE_OK(iothttp_client_new(cfg, &client));
    iothttp_config_free(cfg);
    for (size_t b = 0; b < 2; b++) {
        iothttp_device *dev = mtls_device(client, &t, bases[b]);
        REQUIRE(dev != NULL);
        EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_E_TLS);
        CHECK(strstr(iothttp_last_error(), "requires a client certificate") != NULL);
        iothttp_device_free(dev);
    }
    iothttp_client_free(client);

    /* A certificate from a CA the server does not trust. */
    cfg = emu_config(EMU_DEFAULT_POLICY, &log, IOTHTTP_LOG_TRACE);
    REQUIRE(cfg != NULL);
    snprintf(cert_path, sizeof cert_path, "%s/device-unknown.crt", dir);
    snprintf(key_path, sizeof key_path, "%s/device-unknown.key", dir);
    REQUIRE_OK(iothttp_config_set_client_cert_files(cfg, cert_path, key_path));
    client = NULL;
    REQUIRE_OK(iothttp_client_new(cfg, &client));
    iothttp_config_free(cfg);
    for (size_t b = 0; b < 2; b++) {
        iothttp_device *dev = mtls_device(client, &t, bases[b]);
        REQUIRE(dev != NULL);
        EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_E_TLS);
        CHECK(strstr(iothttp_last_error(), "refused the client certificate") != NULL);
        iothttp_device_free(dev);
    }
    iothttp_client_free(client);

    /* No line of any key in a log line or an error text. */
    CHECK(log.by_level[IOTHTTP_LOG_TRACE] > 0);
    const char *const all[] = {"device-ec", "device-pkcs8", "device-rsa", "device-unknown"};
    for (size_t n = 0; n < sizeof all / sizeof all[0]; n++) {
        snprintf(key_path, sizeof key_path, "%s/%s.key", dir, all[n]);
        size_t key_len = 0;
        char *key = read_file(key_path, &key_len);
        REQUIRE(key != NULL);
        char *save = NULL;
        for (char *line = strtok_r(key, "\n", &save); line != NULL;
             line = strtok_r(NULL, "\n", &save)) {
            if (strncmp(line, "-----", 5) != 0 && strlen(line) >= 16 && !CHECK(capture_count(&log, line) == 0))
                fprintf(stderr, "  a line of %s was printed\n", all[n]);
        }
        free(key);
    }
    g_capture = NULL;
    capture_free(&log);
}

static void test_connect_refused(void)
{
    int port = closed_port();
    REQUIRE(port > 0);
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/ucloud", port);
    iothttp_config *cfg = emu_config(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(cfg != NULL);
    REQUIRE_OK(iothttp_config_set_retries(cfg, 2, 1, 2));
    iothttp_client *client = NULL;
    REQUIRE_OK(iothttp_client_new(cfg, &client));
    iothttp_config_free(cfg);
    iothttp_device *dev = NULL;
    REQUIRE_OK(iothttp_device_new(client, IOTHTTP_CLOUD_UCLOUD, "p", "d", "s", &dev));
    REQUIRE_OK(iothttp_device_set_endpoint(dev, url));
    EXPECT(iothttp_device_auth(dev), IOTHTTP_E_CONNECT);
    CHECK(iothttp_last_http_status() == 0 && iothttp_last_cloud_code() == 0);
    EXPECT(iothttp_device_publish(dev, "/p/d/x", PAYLOAD, 3, NULL, 0), IOTHTTP_E_CONNECT);
    uint64_t requests = 0;
    EXPECT(iothttp_client_stats(client, NULL, &requests), IOTHTTP_OK);
    CHECK(requests == 4); /* 2 attempts each */
    iothttp_device_free(dev);
    iothttp_client_free(client);
}

/* "connect_ms bounds name resolution, TCP connect and the TLS handshake": a server that
 * accepts TCP but never speaks TLS. */
static void test_handshake_timeout(void)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 8) == 0);
    REQUIRE(getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/ucloud", ntohs(a.sin_port));
    iothttp_config *cfg = emu_config(EMU_DEFAULT_POLICY, NULL, 0);
    if (cfg == NULL) {
        close(fd);
        return;
    }
    EXPECT(iothttp_config_set_timeouts(cfg, 300, 8000), IOTHTTP_OK);
    EXPECT(iothttp_config_set_retries(cfg, 1, 1, 1), IOTHTTP_OK);
    iothttp_client *client = NULL;
    EXPECT(iothttp_client_new(cfg, &client), IOTHTTP_OK);
    iothttp_config_free(cfg);
    iothttp_device *dev = NULL;
    if (client != NULL
        && EXPECT(iothttp_device_new(client, IOTHTTP_CLOUD_UCLOUD, "p", "d", "s", &dev),
                  IOTHTTP_OK)
        && EXPECT(iothttp_device_set_endpoint(dev, url), IOTHTTP_OK)) {
        uint64_t started = mono_ms();
        /* Nothing was sent: a connect failure (retryable), within the connect budget. */
        EXPECT(iothttp_device_auth(dev), IOTHTTP_E_CONNECT);
        CHECK(strstr(iothttp_last_error(), "timed out connecting") != NULL);
        uint64_t took = mono_ms() - started;
        if (!CHECK(took < 4000)) /* the connect bound (300 ms), not the I/O one (8 s) */
            fprintf(stderr, "      the stalled handshake took %" PRIu64 " ms\n", took);
    }
    iothttp_device_free(dev);
    iothttp_client_free(client);
    close(fd);
}

static void test_timeout(void)
{
    struct tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_ALIYUN, "slow") == 0);
    iothttp_config *cfg = emu_config(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(cfg != NULL);
    REQUIRE_OK(iothttp_config_set_timeouts(cfg, 10000, 1000));
    iothttp_client *client = NULL;
    REQUIRE_OK(iothttp_client_new(cfg, &client));
    iothttp_config_free(cfg);
    iothttp_device *dev = emu_device(client, &t);
    REQUIRE(dev != NULL);
    REQUIRE_OK(iothttp_device_auth(dev)); /* connected: the timing below is the wait alone */
    REQUIRE(emu_commandf("delay auth aliyun %s %s 2500 1", t.product, t.device) == 0);
    uint64_t started = mono_ms();
    EXPECT(iothttp_device_auth(dev), IOTHTTP_E_TIMEOUT);
    uint64_t took = mono_ms() - started;
    CHECK(took >= 900 && took < 2400);
    REQUIRE_OK(iothttp_device_auth(dev));
    REQUIRE(emu_commandf("delay publish aliyun %s %s 2500 1", t.product, t.device) == 0);
    char id[IOTHTTP_MESSAGE_ID_LEN];
    EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_E_TIMEOUT);
    iothttp_device_free(dev);
    iothttp_client_free(client);
}

/* Everything the library says (log lines up to TRACE, error texts) while it handles
 * secrets and tokens, scanned for them. */
static void test_log_no_secrets(void)
{
    struct capture cap;
    capture_init(&cap);
    g_capture = &cap;
    char *tokens[8];
    size_t ntokens = 0;
    struct tdev devs[2], wrong;
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, &cap, IOTHTTP_LOG_TRACE);
    REQUIRE(client != NULL);
    REQUIRE(tdev_add(&devs[0], IOTHTTP_CLOUD_UCLOUD, "ulog") == 0);
    REQUIRE(tdev_add(&devs[1], IOTHTTP_CLOUD_ALIYUN, "alog") == 0);
    REQUIRE(tdev_add(&wrong, IOTHTTP_CLOUD_UCLOUD, "wlog") == 0);

    for (int i = 0; i < 2; i++) {
        struct tdev *t = &devs[i];
        iothttp_device *dev = emu_device(client, t);
        REQUIRE(dev != NULL);
        char id[IOTHTTP_MESSAGE_ID_LEN];
        char buf[4097];
        EXPECT(iothttp_device_send_timestamp(dev, true), IOTHTTP_OK);
        EXPECT(publish(dev, t, id, sizeof id), IOTHTTP_OK); /* lazy auth */
        EXPECT(iothttp_device_get_token(dev, buf, sizeof buf, NULL, NULL), IOTHTTP_OK);
        tokens[ntokens++] = strdup(buf);
        /* Re-auth after an expired token; then a token refused twice (error text). */
        REQUIRE(emu_commandf("expire %s %s %s", t->cloud_name, t->product, t->device) == 0);
        EXPECT(publish(dev, t, id, sizeof id), IOTHTTP_OK);
        REQUIRE(emu_commandf("fail publish %s %s %s %s 2", t->cloud_name, t->product, t->device,
                             i == 0 ? "100074" : "20001") == 0);
        EXPECT(publish(dev, t, id, sizeof id), IOTHTTP_E_TOKEN);
        EXPECT(publish(dev, t, id, sizeof id), IOTHTTP_OK);
        /* A retried 503, a restored token, an unknown token. */
        REQUIRE(emu_commandf("fail publish %s %s %s http503 1", t->cloud_name, t->product,
                             t->device) == 0);
        EXPECT(publish(dev, t, id, sizeof id), IOTHTTP_OK);
        EXPECT(iothttp_device_get_token(dev, buf, sizeof buf, NULL, NULL), IOTHTTP_OK);
        tokens[ntokens++] = strdup(buf);
        EXPECT(iothttp_device_set_token(dev, tokens[4 * i], 0), IOTHTTP_OK);
        EXPECT(publish(dev, t, id, sizeof id), IOTHTTP_OK);
        EXPECT(iothttp_device_get_token(dev, buf, sizeof buf, NULL, NULL), IOTHTTP_OK);
        tokens[ntokens++] = strdup(buf);
        EXPECT(iothttp_device_set_token(dev, "not-a-known-token", 0), IOTHTTP_OK);
        EXPECT(publish(dev, t, id, sizeof id), IOTHTTP_OK);
        EXPECT(iothttp_device_get_token(dev, buf, sizeof buf, NULL, NULL), IOTHTTP_OK);
        tokens[ntokens++] = strdup(buf);
        memset(buf, 0, sizeof buf);
        iothttp_device_free(dev);
    }
    /* Uploads: the UCloud file grant, the Alibaba AccessKey secret, the AGC secret. */
    char ota_id[64], ota_secret[64], agc_id[64], agc_secret[64];
    snprintf(ota_id, sizeof ota_id, "logKey%ld_%u", (long)getpid(), ++g_serial);
    snprintf(ota_secret, sizeof ota_secret, "L0gOtaSecret-%ld-%u", (long)getpid(), g_serial);
    snprintf(agc_id, sizeof agc_id, "logAgc%ld_%u", (long)getpid(), g_serial);
    snprintf(agc_secret, sizeof agc_secret, "L0gAgcSecret-%ld-%u", (long)getpid(), g_serial);
    REQUIRE(emu_commandf("add-account %s %s", ota_id, ota_secret) == 0);
    REQUIRE(emu_commandf("add-agc-client %s %s", agc_id, agc_secret) == 0);
    {
        uint8_t content[SMALL_LEN];
        gen_data(content, sizeof content, 2);
        iothttp_source *src = NULL;
        REQUIRE_OK(iothttp_source_from_memory(content, sizeof content, &src));
        const char *ufile = env("IOTHTTP_EMU_UFILE_URL");
        const char *iot = env("IOTHTTP_EMU_ALIYUN_IOT_URL");
        const char *agc_url = env("IOTHTTP_EMU_AGC_URL");
        REQUIRE(ufile != NULL && iot != NULL && agc_url != NULL);
        iothttp_device *fdev = emu_device(client, &devs[0]);
        REQUIRE(fdev != NULL);
        EXPECT(iothttp_device_set_file_endpoint(fdev, ufile), IOTHTTP_OK);
        EXPECT(iothttp_device_upload_file(fdev, "log.bin", "a/b", src, NULL, NULL), IOTHTTP_OK);
        iothttp_device_free(fdev);
        iothttp_aliyun_account *acct = NULL, *bad_acct = NULL;
        REQUIRE_OK(iothttp_aliyun_account_new(client, ota_id, ota_secret, &acct));
        REQUIRE_OK(iothttp_aliyun_account_new(client, ota_id, "Wr0ngOtaSecret-qq", &bad_acct));
        EXPECT(iothttp_aliyun_account_set_endpoint(acct, iot), IOTHTTP_OK);
        EXPECT(iothttp_aliyun_account_set_endpoint(bad_acct, iot), IOTHTTP_OK);
        EXPECT(iothttp_aliyun_ota_upload(acct, NULL, src, NULL, NULL, NULL, 0, NULL), IOTHTTP_OK);
        EXPECT(iothttp_aliyun_ota_upload(bad_acct, NULL, src, NULL, NULL, NULL, 0, NULL),
               IOTHTTP_E_AUTH);
        iothttp_aliyun_account_free(acct);
        iothttp_aliyun_account_free(bad_acct);
        iothttp_agc_client *agc = NULL, *bad_agc = NULL;
        REQUIRE_OK(iothttp_agc_client_new(client, agc_id, agc_secret, &agc));
        REQUIRE_OK(iothttp_agc_client_new(client, agc_id, "Wr0ngAgcSecret-qq", &bad_agc));
        EXPECT(iothttp_agc_client_set_endpoint(agc, agc_url), IOTHTTP_OK);
        EXPECT(iothttp_agc_client_set_endpoint(bad_agc, agc_url), IOTHTTP_OK);
        EXPECT(iothttp_agc_upload(agc, "1", "log.app", src, NULL, NULL, NULL, 0, NULL),
               IOTHTTP_OK);
        EXPECT(iothttp_agc_upload(bad_agc, "1", "log.app", src, NULL, NULL, NULL, 0, NULL),
               IOTHTTP_E_AUTH);
        iothttp_agc_client_free(agc);
        iothttp_agc_client_free(bad_agc);
        iothttp_source_free(src);
    }

    /* A wrong secret: the auth failure (log and error text) must not quote it. */
    snprintf(wrong.secret, sizeof wrong.secret, "Wr0ngSecret-%ld-qq", (long)getpid());
    iothttp_device *bad = emu_device(client, &wrong);
    REQUIRE(bad != NULL);
    char id[IOTHTTP_MESSAGE_ID_LEN];
    EXPECT(publish(bad, &wrong, id, sizeof id), IOTHTTP_E_AUTH);
    iothttp_device_free(bad);
    iothttp_client_free(client);
    g_capture = NULL;

    /* What was said. */
    CHECK(cap.n > 20);
    CHECK(cap.by_level[IOTHTTP_LOG_TRACE] > 0);
    CHECK(cap.by_level[IOTHTTP_LOG_DEBUG] > 0);
    CHECK(cap.by_level[IOTHTTP_LOG_INFO] > 0);
    CHECK(cap.by_level[IOTHTTP_LOG_WARN] > 0);  /* the 503 retry */
    CHECK(cap.by_level[IOTHTTP_LOG_ERROR] > 0); /* the failed auth */
    CHECK(cap.by_level[0] > 0);                 /* error texts */
    CHECK(cap.bad_levels == 0);
    CHECK(capture_count(&cap, "redacted") > 0); /* TRACE shows headers, values redacted */
    /* What must never be said. */
    const char *secrets[] = {devs[0].secret, devs[1].secret, wrong.secret, ota_secret,
                             agc_secret, "Wr0ngOtaSecret-qq", "Wr0ngAgcSecret-qq"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        size_t hits = capture_count(&cap, secrets[i]);
        if (!CHECK(hits == 0))
            fprintf(stderr, "      a device secret appears in %zu captured lines\n", hits);
    }
    for (size_t i = 0; i < ntokens; i++) {
        if (!CHECK(tokens[i] != NULL && strlen(tokens[i]) >= 16))
            continue;
        /* The whole token, and its last 16 characters (a JWT's signature). */
        size_t hits = capture_count(&cap, tokens[i]);
        hits += capture_count(&cap, tokens[i] + strlen(tokens[i]) - 16);
        if (!CHECK(hits == 0))
            fprintf(stderr, "      token #%zu appears in %zu captured lines\n", i, hits);
    }
    if (getenv("IOTHTTP_TEST_SHOW_LOG") != NULL)
        for (size_t i = 0; i < cap.n; i++)
            fprintf(stderr, "      [%u] %s\n", cap.levels[i], cap.lines[i]);
    for (size_t i = 0; i < ntokens; i++) {
        if (tokens[i] != NULL)
            memset(tokens[i], 0, strlen(tokens[i]));
        free(tokens[i]);
    }
    capture_free(&cap);

    /* A WARN callback gets WARN and ERROR only. */
    struct capture warn;
    capture_init(&warn);
    struct tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_ALIYUN, "wlog") == 0);
    client = emu_client(EMU_DEFAULT_POLICY, &warn, IOTHTTP_LOG_WARN);
    REQUIRE(client != NULL);
    iothttp_device *dev = emu_device(client, &t);
    REQUIRE(dev != NULL);
    REQUIRE(emu_commandf("fail publish aliyun %s %s 40000 1", t.product, t.device) == 0);
    EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_OK);
    iothttp_device_free(dev);
    iothttp_client_free(client);
    CHECK(warn.by_level[IOTHTTP_LOG_WARN] >= 1);
    CHECK(warn.by_level[IOTHTTP_LOG_INFO] == 0 && warn.by_level[IOTHTTP_LOG_DEBUG] == 0
          && warn.by_level[IOTHTTP_LOG_TRACE] == 0 && warn.bad_levels == 0);
    capture_free(&warn);
}

#define THREADS 4
#define PER_THREAD 5

struct worker {
    iothttp_device *dev;
    const struct tdev *t;
    const char *want_reply; /* NULL: expect none */
    char ids[PER_THREAD][IOTHTTP_MESSAGE_ID_LEN];
    int failures;
    iothttp_result first_error;
    char error_text[256];
};

static void *publish_worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        iothttp_result rc = publish(w->dev, w->t, w->ids[i], sizeof w->ids[i]);
        const char *err = iothttp_last_error();
        int bad = rc != IOTHTTP_OK || err == NULL || err[0] != '\0';
        if (rc == IOTHTTP_OK) {
            uint8_t data[64];
            size_t len = 0;
            size_t want = w->want_reply ? strlen(w->want_reply) : 0;
            bad |= iothttp_device_reply_data(w->dev, data, sizeof data, &len) != IOTHTTP_OK;
            bad |= len != want || (want > 0 && memcmp(data, w->want_reply, want) != 0);
        }
        if (bad) {
            if (w->failures++ == 0) {
                w->first_error = rc;
                snprintf(w->error_text, sizeof w->error_text, "%s", safe_str(err));
            }
        }
    }
    return NULL;
}

static void threads_on_one_device(uint32_t cloud, const char *tag, const char *reply)
{
    struct tdev t;
    REQUIRE(tdev_add(&t, cloud, tag) == 0);
    if (reply != NULL)
        REQUIRE(emu_commandf("reply-data %s %s %s %s", t.cloud_name, t.product, t.device,
                             reply) == 0);
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);
    iothttp_device *dev = emu_device(client, &t);
    REQUIRE(dev != NULL);

    static struct worker workers[THREADS];
    pthread_t threads[THREADS];
    memset(workers, 0, sizeof workers);
    for (int i = 0; i < THREADS; i++) {
        workers[i].dev = dev;
        workers[i].t = &t;
        workers[i].want_reply = reply;
        REQUIRE(pthread_create(&threads[i], NULL, publish_worker, &workers[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);

    /* All succeeded, with distinct ids, after exactly one auth. */
    for (int i = 0; i < THREADS; i++) {
        if (!CHECK(workers[i].failures == 0))
            fprintf(stderr, "      thread %d: %d failures, first %s: %s\n", i,
                    workers[i].failures, iothttp_result_name(workers[i].first_error),
                    workers[i].error_text);
    }
    uint64_t seen[THREADS * PER_THREAD];
    size_t n = 0;
    for (int i = 0; i < THREADS; i++)
        for (int j = 0; j < PER_THREAD; j++)
            if (CHECK_MESSAGE_ID(workers[i].ids[j], 0, &seen[n]))
                n++;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            CHECK(seen[i] != seen[j]);
    struct emu_counters c;
    REQUIRE(tdev_counters(&t, &c) == 0);
    CHECK(c.publishes == THREADS * PER_THREAD);
    CHECK(c.auths == 1); /* concurrent first publishes share one auth */
    iothttp_device_free(dev);
    iothttp_client_free(client);
}

static void test_threads(void)
{
    threads_on_one_device(IOTHTTP_CLOUD_UCLOUD, "uthr", NULL);
    threads_on_one_device(IOTHTTP_CLOUD_ALIYUN, "athr", "per-thread-reply");
}

static void test_free_order(void)
{
    struct tdev t, t2;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "order") == 0);
    REQUIRE(tdev_add(&t2, IOTHTTP_CLOUD_ALIYUN, "order") == 0);
    iothttp_config *cfg = emu_config(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(cfg != NULL);
    iothttp_client *client = NULL;
    REQUIRE_OK(iothttp_client_new(cfg, &client));
    iothttp_config_free(cfg); /* the client copied it */
    iothttp_device *dev = emu_device(client, &t);
    REQUIRE(dev != NULL);
    char id[IOTHTTP_MESSAGE_ID_LEN];
    EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_OK);
    iothttp_device *dev2 = emu_device(client, &t2);
    REQUIRE(dev2 != NULL);
    iothttp_client_free(client); /* parent first: the devices keep the transport */
    EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_OK);
    CHECK_MESSAGE_ID(id, UCLOUD_FIRST_ID, NULL);
    EXPECT(publish(dev2, &t2, id, sizeof id), IOTHTTP_OK); /* first use after the free */
    CHECK_MESSAGE_ID(id, ALIYUN_FIRST_ID, NULL);
    EXPECT(iothttp_device_auth(dev), IOTHTTP_OK);
    iothttp_device_free(dev);
    EXPECT(publish(dev2, &t2, id, sizeof id), IOTHTTP_OK);
    iothttp_device_free(dev2);
}

static void test_clock_skew(void)
{
    struct capture log;
    capture_init(&log);
    struct tdev u, a;
    REQUIRE(tdev_add(&u, IOTHTTP_CLOUD_UCLOUD, "skew") == 0);
    REQUIRE(tdev_add(&a, IOTHTTP_CLOUD_ALIYUN, "skew") == 0);
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, &log, IOTHTTP_LOG_WARN);
    REQUIRE(client != NULL);
    iothttp_device *du = emu_device(client, &u);
    iothttp_device *da = emu_device(client, &a);
    REQUIRE(du != NULL && da != NULL);
    EXPECT(iothttp_device_send_timestamp(du, true), IOTHTTP_OK);
    EXPECT(iothttp_device_send_timestamp(da, true), IOTHTTP_OK);

    /* The cloud's clock is two hours ahead of the device's (UCloud allows 1 h, Aliyun
     * 15 min). The library corrects its timestamp from the server's Date header. */
    REQUIRE(emu_command("skew 7200", NULL, 0) == 0);
    struct emu_counters c;
    iothttp_result ru = iothttp_device_auth(du);
    iothttp_result ra = iothttp_device_auth(da);
    emu_command("skew 0", NULL, 0); /* restore at once: the clock is global */
    EXPECT(ru, IOTHTTP_OK);
    EXPECT(ra, IOTHTTP_OK);
    REQUIRE(tdev_counters(&u, &c) == 0);
    CHECK(c.auths == 1 && c.auth_requests <= 2);
    REQUIRE(tdev_counters(&a, &c) == 0);
    CHECK(c.auths == 1 && c.auth_requests <= 2);
    CHECK(capture_count(&log, "clock") > 0); /* a WARN says so */
    iothttp_device_free(du);
    iothttp_device_free(da);
    iothttp_client_free(client);
    capture_free(&log);
}

/* ---------------------------------------------------------------------------------------
 * Upload cases
 * ------------------------------------------------------------------------------------- */

static void test_source_args(void)
{
    iothttp_source *sentinel = (iothttp_source *)&g_serial;
    iothttp_source *src = sentinel;
    uint8_t data[16] = {0};

    /* from_file */
    EXPECT_ARG(iothttp_source_from_file(NULL, &src), "path");
    EXPECT_ARG(iothttp_source_from_file("/tmp/x", NULL), "out");
    EXPECT_ARG(iothttp_source_from_file("/tmp/" INVALID_UTF8, &src), "path");
    EXPECT(iothttp_source_from_file("", &src), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_source_from_file("/nonexistent/iothttp/file.bin", &src), IOTHTTP_E_READ);
    /* from_memory */
    EXPECT_ARG(iothttp_source_from_memory(NULL, 5, &src), "data");
    EXPECT_ARG(iothttp_source_from_memory(data, sizeof data, NULL), "out");
    const uint8_t *bogus = (const uint8_t *)(uintptr_t)1; /* must never be read */
    EXPECT(iothttp_source_from_memory(bogus, SIZE_MAX, &src), IOTHTTP_E_INVALID_ARG);
    /* from_callbacks */
    EXPECT_ARG(iothttp_source_from_callbacks(10, NULL, cb_rewind, NULL, &src), "read");
    EXPECT_ARG(iothttp_source_from_callbacks(10, cb_read, cb_rewind, NULL, NULL), "out");
    CHECK(src == sentinel); /* untouched by failures */

    /* Successes, sizes. */
    src = NULL;
    EXPECT(iothttp_source_from_memory(NULL, 0, &src), IOTHTTP_OK);
    CHECK(src != NULL && iothttp_source_size(src) == 0);
    iothttp_source_free(src);
    src = NULL;
    EXPECT(iothttp_source_from_memory(data, sizeof data, &src), IOTHTTP_OK);
    CHECK(iothttp_source_size(src) == sizeof data);
    iothttp_source_free(src);
    src = NULL;
    EXPECT(iothttp_source_from_callbacks(UINT64_MAX, cb_read, NULL, NULL, &src), IOTHTTP_OK);
    CHECK(iothttp_source_size(src) == UINT64_MAX);
    iothttp_source_free(src);
    char path[] = "/tmp/iothttp-src-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    CHECK(write(fd, "0123456789", 10) == 10);
    close(fd);
    src = NULL;
    EXPECT(iothttp_source_from_file(path, &src), IOTHTTP_OK);
    unlink(path);
    CHECK(iothttp_source_size(src) == 10);
    CHECK(iothttp_source_size(NULL) == 0);

    /* Digests: exactly 32 / 64 hex digits. */
    EXPECT_ARG(iothttp_source_set_md5_hex(NULL, SMALL_MD5), "src");
    EXPECT_ARG(iothttp_source_set_md5_hex(src, NULL), "md5_hex");
    EXPECT_ARG(iothttp_source_set_md5_hex(src, INVALID_UTF8), "md5_hex");
    EXPECT(iothttp_source_set_md5_hex(src, ""), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_source_set_md5_hex(src, "01ae29f8a789a25458ed8a693fe80de"), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_source_set_md5_hex(src, "01ae29f8a789a25458ed8a693fe80de3a"), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_source_set_md5_hex(src, "zzae29f8a789a25458ed8a693fe80de3"), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_source_set_md5_hex(src, SMALL_SHA256), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_source_set_md5_hex(src, SMALL_MD5), IOTHTTP_OK);
    EXPECT_ARG(iothttp_source_set_sha256_hex(NULL, SMALL_SHA256), "src");
    EXPECT_ARG(iothttp_source_set_sha256_hex(src, NULL), "sha256_hex");
    EXPECT(iothttp_source_set_sha256_hex(src, SMALL_MD5), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_source_set_sha256_hex(src, ""), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_source_set_sha256_hex(src, SMALL_SHA256), IOTHTTP_OK);
    iothttp_source_free(src);
    iothttp_source_free(NULL);
}

/* TRACE lines show request headers, never the values of secret ones: the library's own list
 * (Authorization, *-key, x-api-key, Ocp-Apim-Subscription-Key, SSE-C keys, ...) and the names
 * the caller marks with iothttp_config_add_secret_header. */
static void test_trace_redaction(void)
{
    const char *store = env("IOTHTTP_EMU_STORE_URL");
    REQUIRE(store != NULL);
    struct capture cap;
    capture_init(&cap);
    iothttp_config *cfg = emu_config(EMU_DEFAULT_POLICY, &cap, IOTHTTP_LOG_TRACE);
    iothttp_client *client = NULL;
    iothttp_source *src = NULL;
    uint8_t small[SMALL_LEN];
    gen_data(small, sizeof small, 2);
    if (CHECK(cfg != NULL) &&
        EXPECT(iothttp_config_add_secret_header(cfg, "X-Vendor-Session"), IOTHTTP_OK) &&
        EXPECT(iothttp_config_add_secret_header(cfg, "bad:name"), IOTHTTP_E_INVALID_ARG) &&
        EXPECT(iothttp_client_new(cfg, &client), IOTHTTP_OK) &&
        EXPECT(iothttp_source_from_memory(small, sizeof small, &src), IOTHTTP_OK)) {
        char url[512];
        snprintf(url, sizeof url, "%s/bucket/redact_%ld_%u.bin", store, (long)getpid(),
                 ++g_serial);
        const char *headers[] = {
            "x-amz-server-side-encryption-customer-key: SseKeyVALUE1",
            "X-Api-Key: ApiKeyVALUE2",
            "Ocp-Apim-Subscription-Key: SubKeyVALUE3",
            "x-vendor-session: MarkedVALUE4",
            "x-amz-meta-visible: shown-value",
        };
        EXPECT(iothttp_put(client, url, headers, 5, src, NULL, NULL), IOTHTTP_OK);
        CHECK(capture_count(&cap, "VALUE") == 0);
        CHECK(capture_count(&cap, "x-api-key: <redacted 12 bytes>") +
                  capture_count(&cap, "X-Api-Key: <redacted 12 bytes>") ==
              1);
        CHECK(capture_count(&cap, "x-vendor-session: <redacted 12 bytes>") == 1);
        CHECK(capture_count(&cap, "x-amz-meta-visible: shown-value") == 1);
    }
    iothttp_source_free(src);
    iothttp_client_free(client);
    iothttp_config_free(cfg);
    capture_free(&cap);
}

/* iothttp_config_add_resolve: a cloud host name goes to the emulator's address, the TLS
 * check is against the name (the emulator's certificate names the clouds' hosts), a later
 * entry for the same host and port replaces the earlier. iothttp_config_set_deadline: a
 * publish the server never answers ends at the deadline, not at the I/O timeout. */
static void test_resolve_and_deadline(void)
{
    const char *base = env("IOTHTTP_EMU_URL");
    REQUIRE(base != NULL);
    int port = url_port(base);
    REQUIRE(port > 0);
    const char *host = "http-cn-sh2.iot.ucloud.cn";
    struct tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "resolve") == 0);
    /* The deadline holds a whole auth + publish (slow under valgrind: the margin), and is
     * far below the I/O timeout (30 s) that would end a hung publish without it. */
    uint32_t deadline = (uint32_t)(1000 + 2 * time_margin_ms());
    char deadline_text[64];
    snprintf(deadline_text, sizeof deadline_text, "deadline of %u ms", deadline);
    iothttp_config *cfg = emu_config(10000u, 30000u, 1u, 5u, 20u, NULL, 0);
    REQUIRE(cfg != NULL);
    EXPECT(iothttp_config_add_resolve(cfg, host, (uint16_t)port, "127.0.0.2"), IOTHTTP_OK);
    EXPECT(iothttp_config_add_resolve(cfg, "HTTP-CN-SH2.iot.ucloud.cn", (uint16_t)port,
                                      "127.0.0.1"),
           IOTHTTP_OK); /* replaces: names are case-insensitive */
    EXPECT(iothttp_config_add_resolve(cfg, host, (uint16_t)port, "localhost"),
           IOTHTTP_E_INVALID_ARG); /* not an IP literal */
    EXPECT(iothttp_config_add_resolve(cfg, "bad host", 443, "127.0.0.1"), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_config_add_resolve(cfg, host, 443, "::1"), IOTHTTP_OK);
    EXPECT(iothttp_config_set_deadline(cfg, deadline), IOTHTTP_OK);
    iothttp_client *client = NULL;
    iothttp_device *dev = NULL;
    char url[256], id[IOTHTTP_MESSAGE_ID_LEN];
    snprintf(url, sizeof url, "https://%s:%d", host, port);
    if (EXPECT(iothttp_client_new(cfg, &client), IOTHTTP_OK) &&
        EXPECT(iothttp_device_new(client, IOTHTTP_CLOUD_UCLOUD, t.product, t.device, t.secret,
                                  &dev),
               IOTHTTP_OK) &&
        EXPECT(iothttp_device_set_endpoint(dev, url), IOTHTTP_OK)) {
        EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_OK);
        /* The server never answers: the deadline, not the I/O timeout (30 s). */
        CHECK(emu_commandf("hang publish ucloud %s %s 1", t.product, t.device) == 0);
        uint64_t started = mono_ms();
        EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_E_TIMEOUT);
        uint64_t took = mono_ms() - started;
        CHECK(strstr(iothttp_last_error(), deadline_text) != NULL);
        if (!CHECK(took < deadline + time_margin_ms()))
            fprintf(stderr, "      the hung publish took %" PRIu64 " ms\n", took);
    }
    iothttp_device_free(dev);
    iothttp_client_free(client);
    iothttp_config_free(cfg);
}

/* The log callback's userdata lives only until iothttp_client_free: afterwards no callback
 * runs for the client or the devices that outlive it (under ASan a call would be a
 * use-after-free of the heap userdata; without it, the global count shows it). */
static unsigned g_log_calls_after_free;
static int g_client_freed;

static void heap_log(void *userdata, iothttp_log_level level, const char *msg)
{
    unsigned *count = userdata;
    (void)level;
    (void)msg;
    (*count)++;
    if (g_client_freed)
        g_log_calls_after_free++;
}

static void test_log_after_client_free(void)
{
    struct tdev t;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "logfree") == 0);
    unsigned *count = calloc(1, sizeof *count);
    REQUIRE(count != NULL);
    iothttp_config *cfg = emu_config(EMU_DEFAULT_POLICY, NULL, 0);
    iothttp_client *client = NULL;
    iothttp_device *dev = NULL;
    char id[IOTHTTP_MESSAGE_ID_LEN];
    g_client_freed = 0;
    g_log_calls_after_free = 0;
    if (CHECK(cfg != NULL) &&
        EXPECT(iothttp_config_set_log(cfg, heap_log, count, IOTHTTP_LOG_TRACE), IOTHTTP_OK) &&
        EXPECT(iothttp_client_new(cfg, &client), IOTHTTP_OK) &&
        CHECK((dev = emu_device(client, &t)) != NULL)) {
        EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_OK);
        CHECK(*count > 0);
        iothttp_client_free(client);
        client = NULL;
        g_client_freed = 1;
        free(count);
        count = NULL;
        /* The device outlives the client and keeps working, silently. */
        EXPECT(iothttp_device_auth(dev), IOTHTTP_OK);
        EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_OK);
        CHECK(g_log_calls_after_free == 0);
    }
    g_client_freed = 0;
    iothttp_device_free(dev);
    iothttp_client_free(client);
    iothttp_config_free(cfg);
    free(count);
}

/* A callback source may be asked its size from its own callbacks while an upload holds it;
 * a source declared empty that yields bytes never completes an upload. */
struct reentry {
    iothttp_source *src;
    struct cb_src data;
    uint64_t size_in_read, size_in_progress;
};

static int reentry_read(void *userdata, uint8_t *buf, size_t cap, size_t *out_len)
{
    struct reentry *r = userdata;
    r->size_in_read = iothttp_source_size(r->src);
    return cb_read(&r->data, buf, cap, out_len);
}

static int reentry_rewind(void *userdata)
{
    struct reentry *r = userdata;
    return cb_rewind(&r->data);
}

static int reentry_progress(void *userdata, uint64_t sent, uint64_t total)
{
    struct reentry *r = userdata;
    (void)sent;
    (void)total;
    r->size_in_progress = iothttp_source_size(r->src);
    return 0;
}

static void test_source_reentry(void)
{
    const char *store = env("IOTHTTP_EMU_STORE_URL");
    REQUIRE(store != NULL);
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);
    uint8_t small[SMALL_LEN];
    gen_data(small, sizeof small, 2);
    char key[128], url[512];

    struct reentry r = {NULL, {small, sizeof small, 0, SIZE_MAX, 0, 0}, 0, 0};
    if (EXPECT(iothttp_source_from_callbacks(sizeof small, reentry_read, reentry_rewind, &r,
                                             &r.src),
               IOTHTTP_OK)) {
        snprintf(key, sizeof key, "bucket/reentry_%ld_%u.bin", (long)getpid(), ++g_serial);
        snprintf(url, sizeof url, "%s/%s", store, key);
        EXPECT(iothttp_put(client, url, NULL, 0, r.src, reentry_progress, &r), IOTHTTP_OK);
        CHECK(r.size_in_read == SMALL_LEN);
        CHECK(r.size_in_progress == SMALL_LEN);
        CHECK_STORED("store", key, SMALL_LEN, SMALL_MD5, SMALL_SHA256);
    }
    iothttp_source_free(r.src);

    /* Declared 0 bytes, yields 1000: refused, nothing stored. */
    struct cb_src lying = {small, sizeof small, 0, SIZE_MAX, 0, 0};
    iothttp_source *empty = NULL;
    if (EXPECT(iothttp_source_from_callbacks(0, cb_read, cb_rewind, &lying, &empty), IOTHTTP_OK)) {
        snprintf(key, sizeof key, "bucket/lying0_%ld_%u.bin", (long)getpid(), ++g_serial);
        snprintf(url, sizeof url, "%s/%s", store, key);
        EXPECT(iothttp_put(client, url, NULL, 0, empty, NULL, NULL), IOTHTTP_E_SIZE_MISMATCH);
        CHECK(strstr(iothttp_last_error(), "declared 0 bytes") != NULL);
        CHECK_NOT_STORED("store", key);
        const char *names[] = {"key"};
        const char *values[] = {"forms/lying0-${filename}"};
        EXPECT(iothttp_post_form(client, env("IOTHTTP_EMU_STORE_FORM_URL"), names, values, 1,
                                 "file", "x.bin", NULL, empty, NULL, NULL),
               IOTHTTP_E_SIZE_MISMATCH);
        CHECK_NOT_STORED("store-form", "forms/lying0-x.bin");
    }
    iothttp_source_free(empty);
    iothttp_client_free(client);
}

/* One retry budget per call: the UCloud URL grant, refused with RetCode 130 for good, is sent
 * max_attempts times in all (not max_attempts per upload attempt), and the message counts
 * the attempts once. Counted from the client's own TRACE request lines. */
static void test_retry_budget_uploads(void)
{
    const char *ufile = env("IOTHTTP_EMU_UFILE_URL");
    REQUIRE(ufile != NULL);
    for (uint32_t max = 3; max <= 6; max += 3) {
        struct capture cap;
        struct tdev t;
        capture_init(&cap);
        iothttp_client *client = emu_client(10000u, 20000u, max, 1u, 2u, &cap, IOTHTTP_LOG_TRACE);
        iothttp_device *dev = NULL;
        iothttp_source *src = NULL;
        static const uint8_t data[100] = {1};
        if (CHECK(client != NULL) && CHECK(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "budget") == 0) &&
            CHECK((dev = emu_device(client, &t)) != NULL) &&
            EXPECT(iothttp_device_set_file_endpoint(dev, ufile), IOTHTTP_OK) &&
            EXPECT(iothttp_source_from_memory(data, sizeof data, &src), IOTHTTP_OK) &&
            CHECK(emu_commandf("fail file-url ucloud %s %s 130 1000", t.product, t.device) == 0)) {
            EXPECT(iothttp_device_upload_file(dev, "b.bin", "application/octet-stream", src, NULL,
                                              NULL),
                   IOTHTTP_E_UNAVAILABLE);
            char want[64];
            snprintf(want, sizeof want, "gave up after %u attempts", max);
            const char *msg = iothttp_last_error();
            const char *first = strstr(msg, "gave up after");
            CHECK(first != NULL && strstr(first + 1, "gave up after") == NULL);
            CHECK(strstr(msg, want) != NULL);
            size_t grants = capture_count(&cap, "/api/v1/url [");
            if (!CHECK(grants == max))
                fprintf(stderr, "      %zu grant requests with max_attempts %u: %s\n", grants, max,
                        msg);
            CHECK(capture_count(&cap, "> PUT ") == 0);
        }
        iothttp_source_free(src);
        iothttp_device_free(dev);
        iothttp_client_free(client);
        capture_free(&cap);
    }
}

static void test_ucloud_file_upload(void)
{
    const char *ufile = env("IOTHTTP_EMU_UFILE_URL");
    REQUIRE(ufile != NULL);
    struct tdev t, a;
    REQUIRE(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "file") == 0);
    REQUIRE(tdev_add(&a, IOTHTTP_CLOUD_ALIYUN, "file") == 0);
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);
    iothttp_device *dev = emu_device(client, &t);
    iothttp_device *adev = emu_device(client, &a);
    REQUIRE(dev != NULL && adev != NULL);
    EXPECT(iothttp_device_set_file_endpoint(dev, ufile), IOTHTTP_OK);

    uint8_t *big = malloc(BIG_LEN);
    REQUIRE(big != NULL);
    gen_data(big, BIG_LEN, 1);
    char key[256];
    struct progress prog;

    /* From memory, with progress: 0 .. total, never decreasing. */
    iothttp_source *mem = NULL;
    REQUIRE_OK(iothttp_source_from_memory(big, BIG_LEN, &mem));
    progress_init(&prog);
    EXPECT(iothttp_device_upload_file(dev, "clip.bin", "application/octet-stream", mem,
                                      on_progress, &prog),
           IOTHTTP_OK);
    snprintf(key, sizeof key, "%s/%s/clip.bin", t.product, t.device);
    CHECK_STORED("ufile", key, BIG_LEN, BIG_MD5, BIG_SHA256);
    CHECK(prog.calls >= 3 && !prog.decreasing);
    CHECK(prog.first_sent == 0 && prog.first_total == BIG_LEN);
    CHECK(prog.last_sent == BIG_LEN && prog.last_total == BIG_LEN);
    /* The same source again (rewound), no progress callback. */
    EXPECT(iothttp_device_upload_file(dev, "again.bin", "application/octet-stream", mem, NULL,
                                      NULL),
           IOTHTTP_OK);
    snprintf(key, sizeof key, "%s/%s/again.bin", t.product, t.device);
    CHECK_STORED("ufile", key, BIG_LEN, BIG_MD5, BIG_SHA256);

    /* From a file. */
    char path[] = "/tmp/iothttp-upload-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    CHECK(write(fd, big, BIG_LEN) == (ssize_t)BIG_LEN);
    close(fd);
    iothttp_source *file = NULL;
    EXPECT(iothttp_source_from_file(path, &file), IOTHTTP_OK);
    unlink(path); /* the open file stays readable */
    EXPECT(iothttp_device_upload_file(dev, "file.bin", "text/plain", file, NULL, NULL),
           IOTHTTP_OK);
    snprintf(key, sizeof key, "%s/%s/file.bin", t.product, t.device);
    CHECK_STORED("ufile", key, BIG_LEN, BIG_MD5, BIG_SHA256);
    iothttp_source_free(file);

    /* From callbacks that can rewind (digest pass + upload). */
    struct cb_src cb = {big, BIG_LEN, 0, SIZE_MAX, 0, 0};
    iothttp_source *cbs = NULL;
    REQUIRE_OK(iothttp_source_from_callbacks(BIG_LEN, cb_read, cb_rewind, &cb, &cbs));
    EXPECT(iothttp_device_upload_file(dev, "cb.bin", "a/b", cbs, NULL, NULL), IOTHTTP_OK);
    snprintf(key, sizeof key, "%s/%s/cb.bin", t.product, t.device);
    CHECK_STORED("ufile", key, BIG_LEN, BIG_MD5, BIG_SHA256);
    CHECK(cb.rewinds >= 1);
    iothttp_source_free(cbs);

    /* Without rewind: the MD5 pass would need a second read... */
    struct cb_src once = {big, BIG_LEN, 0, SIZE_MAX, 0, 0};
    iothttp_source *ones = NULL;
    REQUIRE_OK(iothttp_source_from_callbacks(BIG_LEN, cb_read, NULL, &once, &ones));
    EXPECT(iothttp_device_upload_file(dev, "once.bin", "a/b", ones, NULL, NULL),
           IOTHTTP_E_NOT_REWINDABLE);
    iothttp_source_free(ones);
    /* ...unless the MD5 is declared. */
    once.pos = 0;
    ones = NULL;
    REQUIRE_OK(iothttp_source_from_callbacks(BIG_LEN, cb_read, NULL, &once, &ones));
    EXPECT(iothttp_source_set_md5_hex(ones, BIG_MD5), IOTHTTP_OK);
    EXPECT(iothttp_device_upload_file(dev, "once.bin", "a/b", ones, NULL, NULL), IOTHTTP_OK);
    snprintf(key, sizeof key, "%s/%s/once.bin", t.product, t.device);
    CHECK_STORED("ufile", key, BIG_LEN, BIG_MD5, BIG_SHA256);
    iothttp_source_free(ones);

    /* A wrong declared MD5: the store refuses; nothing stored. */
    iothttp_source *liar = NULL;
    REQUIRE_OK(iothttp_source_from_memory(big, BIG_LEN, &liar));
    EXPECT(iothttp_source_set_md5_hex(liar, OTHER_MD5), IOTHTTP_OK);
    EXPECT(iothttp_device_upload_file(dev, "badmd5.bin", "a/b", liar, NULL, NULL),
           IOTHTTP_E_CLOUD);
    CHECK(iothttp_last_cloud_code() == -148655 && iothttp_last_http_status() == 400);
    snprintf(key, sizeof key, "%s/%s/badmd5.bin", t.product, t.device);
    CHECK_NOT_STORED("ufile", key);
    iothttp_source_free(liar);

    /* Sources that lie about their size, or fail to read: nothing completes. */
    struct cb_src s1 = {big, BIG_LEN - 10, 0, SIZE_MAX, 0, 0};
    iothttp_source *shorter = NULL;
    REQUIRE_OK(iothttp_source_from_callbacks(BIG_LEN, cb_read, cb_rewind, &s1, &shorter));
    EXPECT(iothttp_source_set_md5_hex(shorter, BIG_MD5), IOTHTTP_OK);
    EXPECT(iothttp_device_upload_file(dev, "short.bin", "a/b", shorter, NULL, NULL),
           IOTHTTP_E_SIZE_MISMATCH);
    iothttp_source_free(shorter);
    struct cb_src s2 = {big, BIG_LEN, 0, SIZE_MAX, 0, 0};
    iothttp_source *longer = NULL;
    REQUIRE_OK(iothttp_source_from_callbacks(BIG_LEN - 10, cb_read, cb_rewind, &s2, &longer));
    EXPECT(iothttp_device_upload_file(dev, "long.bin", "a/b", longer, NULL, NULL),
           IOTHTTP_E_SIZE_MISMATCH);
    iothttp_source_free(longer);
    struct cb_src s3 = {big, BIG_LEN, 0, 100000, 0, 0};
    iothttp_source *failing = NULL;
    REQUIRE_OK(iothttp_source_from_callbacks(BIG_LEN, cb_read, cb_rewind, &s3, &failing));
    EXPECT(iothttp_source_set_md5_hex(failing, BIG_MD5), IOTHTTP_OK);
    EXPECT(iothttp_device_upload_file(dev, "failing.bin", "a/b", failing, NULL, NULL),
           IOTHTTP_E_READ);
    iothttp_source_free(failing);
    static const char *const never[] = {"short.bin", "long.bin", "failing.bin"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "%s/%s/%s", t.product, t.device, never[i]);
        CHECK_NOT_STORED("ufile", key);
    }

    /* Cancelled half-way by the progress callback. */
    progress_init(&prog);
    prog.cancel_at = BIG_LEN / 2;
    EXPECT(iothttp_device_upload_file(dev, "cancel.bin", "a/b", mem, on_progress, &prog),
           IOTHTTP_E_CANCELLED);
    snprintf(key, sizeof key, "%s/%s/cancel.bin", t.product, t.device);
    CHECK_NOT_STORED("ufile", key);

    /* A connection cut mid-body: retried from the start (rewind), progress never goes back.
     * On a device of its own: the emulator may still be reading the cancelled upload above,
     * and would apply a rule armed for the same device to it. */
    struct tdev tc;
    REQUIRE(tdev_add(&tc, IOTHTTP_CLOUD_UCLOUD, "cut") == 0);
    iothttp_device *cdev = emu_device(client, &tc);
    REQUIRE(cdev != NULL);
    EXPECT(iothttp_device_set_file_endpoint(cdev, ufile), IOTHTTP_OK);
    REQUIRE(emu_commandf("cut file-put ucloud %s %s 150000 1", tc.product, tc.device) == 0);
    struct cb_src cut = {big, BIG_LEN, 0, SIZE_MAX, 0, 0};
    iothttp_source *cuts = NULL;
    REQUIRE_OK(iothttp_source_from_callbacks(BIG_LEN, cb_read, cb_rewind, &cut, &cuts));
    EXPECT(iothttp_source_set_md5_hex(cuts, BIG_MD5), IOTHTTP_OK);
    progress_init(&prog);
    EXPECT(iothttp_device_upload_file(cdev, "cut.bin", "a/b", cuts, on_progress, &prog),
           IOTHTTP_OK);
    if (!CHECK(cut.rewinds >= 1))
        fprintf(stderr, "      reads %u rewinds %u\n", cut.reads, cut.rewinds);
    CHECK(!prog.decreasing); /* "sent rises monotonically (also across retries)" */
    CHECK(prog.last_sent == BIG_LEN);
    snprintf(key, sizeof key, "%s/%s/cut.bin", tc.product, tc.device);
    CHECK_STORED("ufile", key, BIG_LEN, BIG_MD5, BIG_SHA256);
    iothttp_source_free(cuts);
    /* The same without a rewind callback cannot be retried. */
    REQUIRE(emu_commandf("cut file-put ucloud %s %s 150000 1", tc.product, tc.device) == 0);
    struct cb_src cut1 = {big, BIG_LEN, 0, SIZE_MAX, 0, 0};
    cuts = NULL;
    REQUIRE_OK(iothttp_source_from_callbacks(BIG_LEN, cb_read, NULL, &cut1, &cuts));
    EXPECT(iothttp_source_set_md5_hex(cuts, BIG_MD5), IOTHTTP_OK);
    EXPECT(iothttp_device_upload_file(cdev, "cut1.bin", "a/b", cuts, NULL, NULL),
           IOTHTTP_E_NOT_REWINDABLE);
    snprintf(key, sizeof key, "%s/%s/cut1.bin", tc.product, tc.device);
    CHECK_NOT_STORED("ufile", key);
    iothttp_source_free(cuts);

    iothttp_device_free(cdev);

    /* Arguments. */
    EXPECT_ARG(iothttp_device_upload_file(NULL, "x", "a/b", mem, NULL, NULL), "dev");
    EXPECT_ARG(iothttp_device_upload_file(dev, NULL, "a/b", mem, NULL, NULL), "file_name");
    EXPECT_ARG(iothttp_device_upload_file(dev, "x", NULL, mem, NULL, NULL), "content_type");
    EXPECT_ARG(iothttp_device_upload_file(dev, "x", "a/b", NULL, NULL, NULL), "src");
    EXPECT(iothttp_device_upload_file(dev, "", "a/b", mem, NULL, NULL), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_upload_file(dev, "a/b", "a/b", mem, NULL, NULL), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_device_upload_file(dev, "x", "a\nb", mem, NULL, NULL), IOTHTTP_E_INVALID_ARG);
    EXPECT_ARG(iothttp_device_upload_file(dev, INVALID_UTF8, "a/b", mem, NULL, NULL), "file_name");
    EXPECT(iothttp_device_upload_file(adev, "x", "a/b", mem, NULL, NULL), IOTHTTP_E_UNSUPPORTED);

    /* The cloud refuses the grant: wrong secret. */
    struct tdev wrong = t;
    snprintf(wrong.secret, sizeof wrong.secret, "not-the-secret");
    iothttp_device *wdev = emu_device(client, &wrong);
    REQUIRE(wdev != NULL);
    EXPECT(iothttp_device_set_file_endpoint(wdev, ufile), IOTHTTP_OK);
    EXPECT(iothttp_device_upload_file(wdev, "w.bin", "a/b", mem, NULL, NULL), IOTHTTP_E_AUTH);
    CHECK(iothttp_last_cloud_code() == 171);
    iothttp_device_free(wdev);

    iothttp_source_free(mem);
    free(big);
    iothttp_device_free(dev);
    iothttp_device_free(adev);
    iothttp_client_free(client);
}

static void test_ota_upload(void)
{
    const char *iot = env("IOTHTTP_EMU_ALIYUN_IOT_URL");
    const char *base = env("IOTHTTP_EMU_URL");
    REQUIRE(iot != NULL && base != NULL);
    char id[64], secret[64];
    snprintf(id, sizeof id, "otaKey%ld_%u", (long)getpid(), ++g_serial);
    snprintf(secret, sizeof secret, "otaSecret-%ld-%u-zz", (long)getpid(), g_serial);
    REQUIRE(emu_commandf("add-account %s %s", id, secret) == 0);
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);

    iothttp_aliyun_account *sentinel = (iothttp_aliyun_account *)&g_serial;
    iothttp_aliyun_account *acct = sentinel;
    EXPECT_ARG(iothttp_aliyun_account_new(NULL, id, secret, &acct), "client");
    EXPECT_ARG(iothttp_aliyun_account_new(client, NULL, secret, &acct), "access_key_id");
    EXPECT_ARG(iothttp_aliyun_account_new(client, id, NULL, &acct), "access_key_secret");
    EXPECT_ARG(iothttp_aliyun_account_new(client, id, secret, NULL), "out");
    EXPECT_ARG(iothttp_aliyun_account_new(client, INVALID_UTF8, secret, &acct), "access_key_id");
    EXPECT(iothttp_aliyun_account_new(client, "", secret, &acct), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_aliyun_account_new(client, id, "", &acct), IOTHTTP_E_INVALID_ARG);
    CHECK(acct == sentinel);
    acct = NULL;
    REQUIRE_OK(iothttp_aliyun_account_new(client, id, secret, &acct));

    EXPECT_ARG(iothttp_aliyun_account_set_endpoint(NULL, iot), "acct");
    EXPECT_ARG(iothttp_aliyun_account_set_endpoint(acct, NULL), "base_url");
    EXPECT(iothttp_aliyun_account_set_endpoint(acct, "ftp://x"), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_aliyun_account_set_endpoint(acct, "http://127.0.0.1:1"), IOTHTTP_E_TLS);
    EXPECT(iothttp_aliyun_account_set_endpoint(acct, iot), IOTHTTP_OK);
    EXPECT_ARG(iothttp_aliyun_account_set_region(NULL, "cn-shanghai"), "acct");
    EXPECT_ARG(iothttp_aliyun_account_set_region(acct, NULL), "region");
    EXPECT(iothttp_aliyun_account_set_region(acct, ""), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_aliyun_account_set_region(acct, "cn-shanghai"), IOTHTTP_OK);
    EXPECT_ARG(iothttp_aliyun_account_set_instance_id(NULL, ""), "acct");
    EXPECT_ARG(iothttp_aliyun_account_set_instance_id(acct, NULL), "iot_instance_id");

    uint8_t small[SMALL_LEN];
    gen_data(small, sizeof small, 2);
    iothttp_source *src = NULL;
    REQUIRE_OK(iothttp_source_from_memory(small, sizeof small, &src));
    char *url = malloc(IOTHTTP_URL_LEN);
    REQUIRE(url != NULL);
    size_t len = 0;

    /* A buffer below IOTHTTP_URL_LEN: refused before anything is sent. */
    uint64_t before = client_requests(client);
    EXPECT(iothttp_aliyun_ota_upload(acct, NULL, src, NULL, NULL, url, IOTHTTP_URL_LEN - 1, &len),
           IOTHTTP_E_BUFFER_TOO_SMALL);
    CHECK(client_requests(client) == before);
    /* Over 1000 MB: refused before anything is sent. */
    struct cb_src none = {small, 0, 0, SIZE_MAX, 0, 0};
    iothttp_source *huge = NULL;
    REQUIRE_OK(iothttp_source_from_callbacks(1000ull * 1024 * 1024 + 1, cb_read, cb_rewind, &none,
                                             &huge));
    EXPECT(iothttp_aliyun_ota_upload(acct, NULL, huge, NULL, NULL, url, IOTHTTP_URL_LEN, &len),
           IOTHTTP_E_TOO_LARGE);
    CHECK(client_requests(client) == before && none.reads == 0);
    iothttp_source_free(huge);

    /* Success: FirmwareUrl = <emulator>/oss/<key>, key ends with the suffix. */
    struct progress prog;
    progress_init(&prog);
    len = 0;
    EXPECT(iothttp_aliyun_ota_upload(acct, NULL, src, on_progress, &prog, url, IOTHTTP_URL_LEN,
                                     &len),
           IOTHTTP_OK);
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s/oss/ota/", base);
    CHECK(len == strlen(url) && strncmp(url, prefix, strlen(prefix)) == 0);
    CHECK(len > 4 && strcmp(url + len - 4, ".bin") == 0);
    CHECK(prog.calls >= 1 && prog.last_sent == SMALL_LEN && !prog.decreasing);
    if (strncmp(url, base, strlen(base)) == 0)
        CHECK_STORED("oss", url + strlen(base) + strlen("/oss/"), SMALL_LEN, SMALL_MD5,
                     SMALL_SHA256);
    EXPECT(iothttp_aliyun_account_set_instance_id(acct, "iot-cn-test"), IOTHTTP_OK);
    EXPECT(iothttp_aliyun_ota_upload(acct, "tar.gz", src, NULL, NULL, url, IOTHTTP_URL_LEN, NULL),
           IOTHTTP_OK);
    CHECK(strlen(url) > 7 && strcmp(url + strlen(url) - 7, ".tar.gz") == 0);
    EXPECT(iothttp_aliyun_account_set_instance_id(acct, ""), IOTHTTP_OK);
    EXPECT(iothttp_aliyun_ota_upload(acct, "zip", src, NULL, NULL, NULL, 0, NULL), IOTHTTP_OK);
    EXPECT(iothttp_aliyun_ota_upload(acct, "exe", src, NULL, NULL, url, IOTHTTP_URL_LEN, NULL),
           IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_aliyun_ota_upload(acct, "", src, NULL, NULL, url, IOTHTTP_URL_LEN, NULL),
           IOTHTTP_E_INVALID_ARG);
    EXPECT_ARG(iothttp_aliyun_ota_upload(NULL, NULL, src, NULL, NULL, url, IOTHTTP_URL_LEN, NULL),
               "acct");
    EXPECT_ARG(iothttp_aliyun_ota_upload(acct, NULL, NULL, NULL, NULL, url, IOTHTTP_URL_LEN, NULL),
               "src");

    /* Wrong secret: refused, and the error never quotes it. */
    iothttp_aliyun_account *wrong = NULL;
    REQUIRE_OK(iothttp_aliyun_account_new(client, id, "not-the-secret-xq", &wrong));
    EXPECT(iothttp_aliyun_account_set_endpoint(wrong, iot), IOTHTTP_OK);
    EXPECT(iothttp_aliyun_ota_upload(wrong, NULL, src, NULL, NULL, url, IOTHTTP_URL_LEN, NULL),
           IOTHTTP_E_AUTH);
    CHECK(strstr(iothttp_last_error(), "not-the-secret-xq") == NULL);
    iothttp_aliyun_account_free(wrong);

    free(url);
    iothttp_source_free(src);
    iothttp_aliyun_account_free(acct);
    iothttp_aliyun_account_free(NULL);
    iothttp_client_free(client);
}

static void test_agc_upload(void)
{
    const char *agc_url = env("IOTHTTP_EMU_AGC_URL");
    REQUIRE(agc_url != NULL);
    char id[64], secret[64];
    snprintf(id, sizeof id, "agcId%ld_%u", (long)getpid(), ++g_serial);
    snprintf(secret, sizeof secret, "agcSecret-%ld-%u-zz", (long)getpid(), g_serial);
    REQUIRE(emu_commandf("add-agc-client %s %s", id, secret) == 0);
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);

    iothttp_agc_client *sentinel = (iothttp_agc_client *)&g_serial;
    iothttp_agc_client *agc = sentinel;
    EXPECT_ARG(iothttp_agc_client_new(NULL, id, secret, &agc), "client");
    EXPECT_ARG(iothttp_agc_client_new(client, NULL, secret, &agc), "client_id");
    EXPECT_ARG(iothttp_agc_client_new(client, id, NULL, &agc), "client_secret");
    EXPECT_ARG(iothttp_agc_client_new(client, id, secret, NULL), "out");
    EXPECT(iothttp_agc_client_new(client, "", secret, &agc), IOTHTTP_E_INVALID_ARG);
    CHECK(agc == sentinel);
    agc = NULL;
    REQUIRE_OK(iothttp_agc_client_new(client, id, secret, &agc));
    EXPECT_ARG(iothttp_agc_client_set_endpoint(NULL, agc_url), "agc");
    EXPECT_ARG(iothttp_agc_client_set_endpoint(agc, NULL), "base_url");
    EXPECT(iothttp_agc_client_set_endpoint(agc, "nonsense"), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_agc_client_set_endpoint(agc, agc_url), IOTHTTP_OK);

    uint8_t *big = malloc(BIG_LEN);
    REQUIRE(big != NULL);
    gen_data(big, BIG_LEN, 1);
    iothttp_source *src = NULL;
    REQUIRE_OK(iothttp_source_from_memory(big, BIG_LEN, &src));
    char object[IOTHTTP_OBJECT_ID_LEN];
    size_t len = 0;

    uint64_t before = client_requests(client);
    EXPECT(iothttp_agc_upload(agc, "100200300", "app.app", src, NULL, NULL, object,
                              IOTHTTP_OBJECT_ID_LEN - 1, &len),
           IOTHTTP_E_BUFFER_TOO_SMALL);
    struct cb_src none = {big, 0, 0, SIZE_MAX, 0, 0};
    iothttp_source *huge = NULL;
    REQUIRE_OK(iothttp_source_from_callbacks(150ull * 1024 * 1024 + 1, cb_read, cb_rewind, &none,
                                             &huge));
    EXPECT(iothttp_agc_upload(agc, "1", "a.aab", huge, NULL, NULL, object, sizeof object, &len),
           IOTHTTP_E_TOO_LARGE);
    iothttp_source_free(huge);
    huge = NULL;
    REQUIRE_OK(iothttp_source_from_callbacks(4ull * 1024 * 1024 * 1024 + 1, cb_read, cb_rewind,
                                             &none, &huge));
    EXPECT(iothttp_agc_upload(agc, "1", "a.app", huge, NULL, NULL, object, sizeof object, &len),
           IOTHTTP_E_TOO_LARGE);
    iothttp_source_free(huge);
    CHECK(client_requests(client) == before && none.reads == 0);

    struct progress prog;
    progress_init(&prog);
    len = 0;
    EXPECT(iothttp_agc_upload(agc, "100200300", "app.app", src, on_progress, &prog, object,
                              sizeof object, &len),
           IOTHTTP_OK);
    CHECK(len > 0 && len == strlen(object));
    char key[512];
    snprintf(key, sizeof key, "%s/app.app", object);
    CHECK_STORED("obs", key, BIG_LEN, BIG_MD5, BIG_SHA256);
    CHECK(prog.last_sent == BIG_LEN && !prog.decreasing);
    /* SHA-256 declared: a source that cannot rewind is read once. */
    struct cb_src once = {big, BIG_LEN, 0, SIZE_MAX, 0, 0};
    iothttp_source *ones = NULL;
    REQUIRE_OK(iothttp_source_from_callbacks(BIG_LEN, cb_read, NULL, &once, &ones));
    EXPECT(iothttp_source_set_sha256_hex(ones, BIG_SHA256), IOTHTTP_OK);
    EXPECT(iothttp_agc_upload(agc, "100200300", "d.app", ones, NULL, NULL, NULL, 0, NULL),
           IOTHTTP_OK);
    iothttp_source_free(ones);

    EXPECT_ARG(iothttp_agc_upload(NULL, "1", "a.app", src, NULL, NULL, NULL, 0, NULL), "agc");
    EXPECT_ARG(iothttp_agc_upload(agc, NULL, "a.app", src, NULL, NULL, NULL, 0, NULL), "app_id");
    EXPECT_ARG(iothttp_agc_upload(agc, "1", NULL, src, NULL, NULL, NULL, 0, NULL), "file_name");
    EXPECT_ARG(iothttp_agc_upload(agc, "1", "a.app", NULL, NULL, NULL, NULL, 0, NULL), "src");
    EXPECT(iothttp_agc_upload(agc, "", "a.app", src, NULL, NULL, NULL, 0, NULL),
           IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_agc_upload(agc, "1", "noextension", src, NULL, NULL, NULL, 0, NULL),
           IOTHTTP_E_INVALID_ARG);

    iothttp_agc_client *wrong = NULL;
    REQUIRE_OK(iothttp_agc_client_new(client, id, "not-the-secret-xq", &wrong));
    EXPECT(iothttp_agc_client_set_endpoint(wrong, agc_url), IOTHTTP_OK);
    EXPECT(iothttp_agc_upload(wrong, "1", "w.app", src, NULL, NULL, NULL, 0, NULL),
           IOTHTTP_E_AUTH);
    CHECK(strstr(iothttp_last_error(), "not-the-secret-xq") == NULL);
    iothttp_agc_client_free(wrong);

    iothttp_source_free(src);
    free(big);
    iothttp_agc_client_free(agc);
    iothttp_agc_client_free(NULL);
    iothttp_client_free(client);
}

static void test_put_post_form(void)
{
    const char *store = env("IOTHTTP_EMU_STORE_URL");
    const char *form = env("IOTHTTP_EMU_STORE_FORM_URL");
    REQUIRE(store != NULL && form != NULL);
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);
    uint8_t small[SMALL_LEN];
    gen_data(small, sizeof small, 2);
    iothttp_source *src = NULL;
    REQUIRE_OK(iothttp_source_from_memory(small, sizeof small, &src));
    char key[128], url[512];
    snprintf(key, sizeof key, "bucket/put_%ld_%u.bin", (long)getpid(), ++g_serial);
    snprintf(url, sizeof url, "%s/%s", store, key);

    /* PUT with the caller's headers, sent as given. */
    const char *headers[] = {"Content-Type: application/x-test", "x-amz-meta-a: 1"};
    struct progress prog;
    progress_init(&prog);
    EXPECT(iothttp_put(client, url, headers, 2, src, on_progress, &prog), IOTHTTP_OK);
    CHECK(iothttp_last_http_status() / 100 == 2);
    CHECK_STORED("store", key, SMALL_LEN, SMALL_MD5, SMALL_SHA256);
    struct stored o;
    if (CHECK(emu_object("store", key, &o) == 0)) {
        CHECK(strstr(o.json, "\"content-type\":\"application/x-test\"") != NULL);
        CHECK(strstr(o.json, "\"x-amz-meta-a\":\"1\"") != NULL);
    }
    CHECK(prog.last_sent == SMALL_LEN);
    EXPECT(iothttp_put(client, url, NULL, 0, src, NULL, NULL), IOTHTTP_OK);

    /* The store's own checks: status and error surface. */
    const char *bad_sha[] = {"x-amz-content-sha256: "
                             "0000000000000000000000000000000000000000000000000000000000000000"};
    EXPECT(iothttp_put(client, url, bad_sha, 1, src, NULL, NULL), IOTHTTP_E_HTTP);
    CHECK(iothttp_last_http_status() == 400);
    /* The store's XML message, its entities decoded (the emulator writes &apos;). */
    CHECK(strstr(iothttp_last_error(), "The provided 'x-amz-content-sha256' header") != NULL);
    CHECK(strstr(iothttp_last_error(), "&apos;") == NULL);

    /* Arguments; framing headers belong to the library. */
    const char *framing[] = {"Transfer-Encoding: chunked"};
    const char *nocolon[] = {"NoColonHere"};
    const char *null_item[] = {NULL};
    EXPECT_ARG(iothttp_put(NULL, url, NULL, 0, src, NULL, NULL), "client");
    EXPECT_ARG(iothttp_put(client, NULL, NULL, 0, src, NULL, NULL), "url");
    EXPECT_ARG(iothttp_put(client, url, NULL, 1, src, NULL, NULL), "headers");
    EXPECT_ARG(iothttp_put(client, url, null_item, 1, src, NULL, NULL), "headers[0]");
    EXPECT_ARG(iothttp_put(client, url, NULL, 0, NULL, NULL, NULL), "src");
    const char *const *bogus = (const char *const *)(uintptr_t)8; /* must never be read */
    EXPECT(iothttp_put(client, url, bogus, SIZE_MAX, src, NULL, NULL), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_post_form(client, form, bogus, bogus, SIZE_MAX, "file", "f", NULL, src, NULL,
                             NULL),
           IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_put(client, url, framing, 1, src, NULL, NULL), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_put(client, url, nocolon, 1, src, NULL, NULL), IOTHTTP_E_INVALID_ARG);
    EXPECT(iothttp_put(client, "ftp://127.0.0.1/x", NULL, 0, src, NULL, NULL),
           IOTHTTP_E_INVALID_ARG);
    char plain[512];
    snprintf(plain, sizeof plain, "http://127.0.0.1:%d/store/x", url_port(store));
    EXPECT(iothttp_put(client, plain, NULL, 0, src, NULL, NULL), IOTHTTP_E_TLS);

    /* POST form: fields in order, then the file part. */
    char form_key[128], file_name[64];
    snprintf(file_name, sizeof file_name, "f%ld_%u.dat", (long)getpid(), ++g_serial);
    const char *names[] = {"key", "x-meta"};
    const char *values[] = {"forms/${filename}", "v"};
    EXPECT(iothttp_post_form(client, form, names, values, 2, "file", file_name, NULL, src, NULL,
                             NULL),
           IOTHTTP_OK);
    snprintf(form_key, sizeof form_key, "forms/%s", file_name);
    CHECK_STORED("store-form", form_key, SMALL_LEN, SMALL_MD5, SMALL_SHA256);
    EXPECT_ARG(iothttp_post_form(NULL, form, names, values, 2, "file", "f", NULL, src, NULL, NULL),
               "client");
    EXPECT_ARG(iothttp_post_form(client, NULL, names, values, 2, "file", "f", NULL, src, NULL, NULL),
               "url");
    EXPECT_ARG(iothttp_post_form(client, form, NULL, values, 2, "file", "f", NULL, src, NULL, NULL),
               "names");
    EXPECT_ARG(iothttp_post_form(client, form, names, NULL, 2, "file", "f", NULL, src, NULL, NULL),
               "values");
    EXPECT_ARG(iothttp_post_form(client, form, names, values, 2, NULL, "f", NULL, src, NULL, NULL),
               "file_field");
    EXPECT_ARG(iothttp_post_form(client, form, names, values, 2, "file", NULL, NULL, src, NULL,
                                 NULL),
               "file_name");
    EXPECT_ARG(iothttp_post_form(client, form, names, values, 2, "file", "f", NULL, NULL, NULL,
                                 NULL),
               "src");

    iothttp_source_free(src);
    iothttp_client_free(client);
}

/* ---------------------------------------------------------------------------------------
 * Runner
 * ------------------------------------------------------------------------------------- */

struct test_case {
    const char *name;
    void (*fn)(void);
};

/* ---- 64-bit sizes on every target ------------------------------------------------------
 * On a 32-bit target size_t holds 4 GiB - 1: a size that went through it would wrap (4.5 GiB
 * to 0.5 GiB, 4 GiB + 1 KiB to 1 KiB) and pass a limit it exceeds, or frame a body with the
 * wrong Content-Length. Run on armv7 by tests/cross/run.sh. */

/* An endless source of zeros (the cases cancel after the first chunk). */
static int zero_read(void *userdata, uint8_t *buf, size_t cap, size_t *out_len)
{
    (void)userdata;
    memset(buf, 0, cap);
    *out_len = cap;
    return 0;
}

static int cancel_at_once(void *userdata, uint64_t sent, uint64_t total)
{
    uint64_t *seen_total = userdata;
    (void)sent;
    *seen_total = total;
    return 1;
}

/* The body length of the last TRACE request line "> <method> ...<needle>... body N bytes". */
static uint64_t logged_body_len(struct capture *c, const char *needle)
{
    uint64_t len = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++) {
        const char *b = strstr(c->lines[i], "] body ");
        if (c->lines[i][0] == '>' && strstr(c->lines[i], needle) != NULL && b != NULL)
            len = strtoull(b + 7, NULL, 10);
    }
    pthread_mutex_unlock(&c->lock);
    return len;
}

/* The value of "key":"..." in a JSON reply of the emulator (into buf). */
static bool json_text(const char *json, const char *key, char *buf, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = json ? strstr(json, pat) : NULL;
    if (p == NULL)
        return false;
    p += strlen(pat);
    const char *end = strchr(p, '"');
    if (end == NULL || (size_t)(end - p) >= cap)
        return false;
    memcpy(buf, p, (size_t)(end - p));
    buf[end - p] = '\0';
    return true;
}

struct mem_sink {
    uint8_t *buf;
    size_t cap, len;
    int fail_after; /* calls before the sink refuses (-1: never) */
};

static int mem_write(void *userdata, const uint8_t *buf, size_t len)
{
    struct mem_sink *m = userdata;
    if (m->fail_after == 0)
        return 7;
    if (m->fail_after > 0)
        m->fail_after--;
    if (m->len + len > m->cap)
        return 1;
    memcpy(m->buf + m->len, buf, len);
    m->len += len;
    return 0;
}

#define DL_LEN 700000u

static void test_download(void)
{
    const char *base = env("IOTHTTP_EMU_DL_URL");
    REQUIRE(base != NULL);
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);
    char name[64], url[512], md5[40], sha[72];
    unique_name(name, sizeof name, "dl");
    snprintf(url, sizeof url, "%s/%s", base, name);
    REQUIRE(emu_commandf("dl-object %s %u 31", name, DL_LEN) == 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "dl-info %s", name);
    char *info = emu_command_alloc(cmd);
    REQUIRE(json_text(info, "md5", md5, sizeof md5) && json_text(info, "sha256", sha, sizeof sha));
    free(info);

    /* To a file, checked against size and both digests; the old file replaced at once. */
    char path[128], part[140];
    snprintf(path, sizeof path, "/tmp/iothttp-api-dl-%ld-%u.bin", (long)getpid(), ++g_serial);
    snprintf(part, sizeof part, "%s.part", path);
    FILE *f = fopen(path, "wb");
    REQUIRE(f != NULL);
    fputs("the old image", f);
    fclose(f);
    struct progress prog;
    progress_init(&prog);
    EXPECT(iothttp_download_file(client, url, path, DL_LEN, md5, sha, on_progress, &prog),
           IOTHTTP_OK);
    CHECK(prog.last_sent == DL_LEN && prog.last_total == DL_LEN && !prog.decreasing);
    size_t got_len = 0;
    uint8_t *file_bytes = (uint8_t *)read_file(path, &got_len);
    CHECK(file_bytes != NULL && got_len == DL_LEN);
    CHECK(access(part, F_OK) != 0);

    /* To a callback, from byte 0 and from an offset: the same bytes. */
    struct mem_sink m = {malloc(DL_LEN), DL_LEN, 0, -1};
    REQUIRE(m.buf != NULL);
    uint64_t total = 0;
    EXPECT(iothttp_download(client, url, NULL, 0, 0, mem_write, &m, NULL, NULL, &total),
           IOTHTTP_OK);
    CHECK(total == DL_LEN && m.len == DL_LEN);
    CHECK(file_bytes != NULL && memcmp(m.buf, file_bytes, DL_LEN) == 0);
    m.len = 0;
    const char *headers[] = {"Accept: */*"};
    EXPECT(iothttp_download(client, url, headers, 1, 1000, mem_write, &m, NULL, NULL, NULL),
           IOTHTTP_OK);
    CHECK(m.len == DL_LEN - 1000);
    CHECK(file_bytes != NULL && memcmp(m.buf, file_bytes + 1000, DL_LEN - 1000) == 0);

    /* A cut is resumed; a sink that refuses is IOTHTTP_E_WRITE. */
    m.len = 0;
    REQUIRE(emu_commandf("cut download %s 200000 1", name) == 0);
    EXPECT(iothttp_download(client, url, NULL, 0, 0, mem_write, &m, NULL, NULL, NULL),
           IOTHTTP_OK);
    CHECK(m.len == DL_LEN && file_bytes != NULL && memcmp(m.buf, file_bytes, DL_LEN) == 0);
    m.len = 0;
    m.fail_after = 2;
    EXPECT(iothttp_download(client, url, NULL, 0, 0, mem_write, &m, NULL, NULL, NULL),
           IOTHTTP_E_WRITE);
    CHECK(strstr(iothttp_last_error(), "returned 7") != NULL);
    m.fail_after = -1;

    /* Mismatches keep nothing and leave the old file. */
    f = fopen(path, "wb");
    REQUIRE(f != NULL);
    fputs("the old image", f);
    fclose(f);
    char wrong[40];
    snprintf(wrong, sizeof wrong, "%s", md5);
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    EXPECT(iothttp_download_file(client, url, path, DL_LEN, wrong, NULL, NULL, NULL),
           IOTHTTP_E_DIGEST_MISMATCH);
    CHECK(strstr(iothttp_last_error(), md5) != NULL); /* what arrived, for the field log */
    CHECK(access(part, F_OK) != 0);
    EXPECT(iothttp_download_file(client, url, path, DL_LEN + 1, NULL, NULL, NULL, NULL),
           IOTHTTP_E_DIGEST_MISMATCH);
    size_t old_len = 0;
    char *old = read_file(path, &old_len);
    CHECK(old != NULL && old_len == 13 && memcmp(old, "the old image", 13) == 0);
    free(old);

    /* Errors: a missing object, bad arguments, a directory that is not there. */
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no-such-%s", base, name);
    EXPECT(iothttp_download_file(client, missing, path, 0, NULL, NULL, NULL, NULL),
           IOTHTTP_E_HTTP);
    CHECK(iothttp_last_http_status() == 404);
    EXPECT(iothttp_download_file(client, url, "/nonexistent-dir/x/fw.bin", 0, NULL, NULL, NULL,
                                 NULL),
           IOTHTTP_E_WRITE);
    const char *range[] = {"Range: bytes=0-"};
    EXPECT(iothttp_download(client, url, range, 1, 0, mem_write, &m, NULL, NULL, NULL),
           IOTHTTP_E_INVALID_ARG);
    EXPECT_ARG(iothttp_download(client, url, NULL, 0, 0, NULL, &m, NULL, NULL, NULL), "write");
    EXPECT_ARG(iothttp_download(NULL, url, NULL, 0, 0, mem_write, &m, NULL, NULL, NULL),
               "client");
    EXPECT_ARG(iothttp_download_file(client, url, NULL, 0, NULL, NULL, NULL, NULL), "path");
    EXPECT(iothttp_download_file(client, url, path, 0, "xyz", NULL, NULL, NULL),
           IOTHTTP_E_INVALID_ARG);

    unlink(path);
    free(file_bytes);
    free(m.buf);
    iothttp_client_free(client);
}

static void test_sizes_64bit(void)
{
    const uint64_t four_gib = 4ull * 1024 * 1024 * 1024;
    struct capture cap;
    capture_init(&cap);
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, &cap, IOTHTTP_LOG_TRACE);
    if (!CHECK(client != NULL)) {
        capture_free(&cap);
        return;
    }
    char object[IOTHTTP_OBJECT_ID_LEN], url[IOTHTTP_URL_LEN], id[64], secret[64];
    size_t len = 0;
    uint64_t before = client_requests(client);

    /* AppGallery: 4.5 GiB is over the 4 GB limit (wrapped: 0.5 GiB, under it). */
    snprintf(id, sizeof id, "agc64_%ld_%u", (long)getpid(), ++g_serial);
    snprintf(secret, sizeof secret, "agcSecret-%ld-%u-64", (long)getpid(), g_serial);
    iothttp_agc_client *agc = NULL;
    iothttp_source *src = NULL;
    if (CHECK(emu_commandf("add-agc-client %s %s", id, secret) == 0) &&
        EXPECT(iothttp_agc_client_new(client, id, secret, &agc), IOTHTTP_OK) &&
        EXPECT(iothttp_agc_client_set_endpoint(agc, env("IOTHTTP_EMU_AGC_URL")), IOTHTTP_OK) &&
        EXPECT(iothttp_source_from_callbacks(four_gib + four_gib / 8, zero_read, NULL, NULL, &src),
               IOTHTTP_OK)) {
        CHECK(iothttp_source_size(src) == four_gib + four_gib / 8);
        EXPECT(iothttp_agc_upload(agc, "1", "fw.app", src, NULL, NULL, object, sizeof object, &len),
               IOTHTTP_E_TOO_LARGE);
        CHECK(strstr(iothttp_last_error(), "4831838208") != NULL);
    }
    iothttp_source_free(src);
    src = NULL;
    iothttp_agc_client_free(agc);

    /* Aliyun OTA: 4 GiB + 1 KiB is over 1000 MB (wrapped: 1 KiB). */
    snprintf(id, sizeof id, "ota64_%ld_%u", (long)getpid(), ++g_serial);
    snprintf(secret, sizeof secret, "otaSecret-%ld-%u-64", (long)getpid(), g_serial);
    iothttp_aliyun_account *acct = NULL;
    if (CHECK(emu_commandf("add-account %s %s", id, secret) == 0) &&
        EXPECT(iothttp_aliyun_account_new(client, id, secret, &acct), IOTHTTP_OK) &&
        EXPECT(iothttp_aliyun_account_set_endpoint(acct, env("IOTHTTP_EMU_ALIYUN_IOT_URL")),
               IOTHTTP_OK) &&
        EXPECT(iothttp_source_from_callbacks(four_gib + 1024, zero_read, NULL, NULL, &src),
               IOTHTTP_OK)) {
        EXPECT(iothttp_aliyun_ota_upload(acct, "bin", src, NULL, NULL, url, sizeof url, &len),
               IOTHTTP_E_TOO_LARGE);
        CHECK(strstr(iothttp_last_error(), "4294968320") != NULL);
    }
    iothttp_source_free(src);
    src = NULL;
    iothttp_aliyun_account_free(acct);
    CHECK(client_requests(client) == before); /* both refused before sending */

    /* Generic PUT: the Content-Length of a 4 GiB + 7 body is exact, and the progress total. */
    const char *store = env("IOTHTTP_EMU_STORE_URL");
    const char *form = env("IOTHTTP_EMU_STORE_FORM_URL");
    char key_url[512];
    uint64_t total = 0;
    snprintf(key_url, sizeof key_url, "%s/bucket/big64_%ld_%u.bin", safe_str(store), (long)getpid(),
             ++g_serial);
    if (store != NULL &&
        EXPECT(iothttp_source_from_callbacks(four_gib + 7, zero_read, NULL, NULL, &src),
               IOTHTTP_OK)) {
        EXPECT(iothttp_put(client, key_url, NULL, 0, src, cancel_at_once, &total),
               IOTHTTP_E_CANCELLED);
        CHECK(total == four_gib + 7);
        CHECK(logged_body_len(&cap, "/bucket/big64_") == four_gib + 7);
    }

    /* POST form: the multipart framing around a 4 GiB + 7 file adds what it adds to 7 bytes. */
    const char *names[] = {"key"};
    const char *values[] = {"forms64/${filename}"};
    uint8_t seven[7] = {1, 2, 3, 4, 5, 6, 7};
    iothttp_source *small = NULL;
    if (form != NULL && src != NULL &&
        EXPECT(iothttp_source_from_memory(seven, sizeof seven, &small), IOTHTTP_OK) &&
        EXPECT(iothttp_post_form(client, form, names, values, 1, "file", "f64.bin", NULL, small,
                                 NULL, NULL),
               IOTHTTP_OK)) {
        uint64_t framed_small = logged_body_len(&cap, "/store-form");
        CHECK(framed_small > sizeof seven);
        EXPECT(iothttp_post_form(client, form, names, values, 1, "file", "f64.bin", NULL, src,
                                 cancel_at_once, &total),
               IOTHTTP_E_CANCELLED);
        uint64_t framed_big = logged_body_len(&cap, "/store-form");
        CHECK(framed_big - four_gib == framed_small);
        if (framed_big - four_gib != framed_small)
            fprintf(stderr, "      multipart body: %llu for 7 bytes, %llu for 4 GiB + 7\n",
                    (unsigned long long)framed_small, (unsigned long long)framed_big);
    }
    iothttp_source_free(small);
    iothttp_source_free(src);
    iothttp_client_free(client);
    capture_free(&cap);
}

#define CASE(name) {#name, test_##name}

/* tests/c/CMakeLists.txt reads the CASE(...) lines below to register one CTest test each. */
static const struct test_case CASES[] = {
    CASE(version),
    CASE(result_names),
    CASE(last_error),
    CASE(config_null),
    CASE(config_ca),
    CASE(ca_not_a_ca),
    CASE(config_setters),
    CASE(client_args),
    CASE(device_new_args),
    CASE(device_setters),
    CASE(publish_args),
    CASE(ucloud_publish),
    CASE(aliyun_publish),
    CASE(token_ucloud),
    CASE(token_aliyun),
    CASE(ucloud_publish_errors),
    CASE(lazy_auth_refused),
    CASE(ucloud_auth_errors),
    CASE(aliyun_publish_errors),
    CASE(aliyun_auth_errors),
    CASE(expired_token),
    CASE(retry_budget),
    CASE(plain_http),
    CASE(untrusted_server),
    CASE(client_cert),
    CASE(connect_refused),
    CASE(timeout),
    CASE(handshake_timeout),
    CASE(log_no_secrets),
    CASE(threads),
    CASE(free_order),
    CASE(log_after_client_free),
    CASE(resolve_and_deadline),
    CASE(trace_redaction),
    CASE(clock_skew),
    CASE(source_args),
    CASE(ucloud_file_upload),
    CASE(retry_budget_uploads),
    CASE(source_reentry),
    CASE(ota_upload),
    CASE(agc_upload),
    CASE(put_post_form),
    CASE(download),
    CASE(sizes_64bit),
};

static const size_t NCASES = sizeof CASES / sizeof CASES[0];

static const char *case_name(size_t i)
{
    return CASES[i].name;
}

static void case_run(size_t i)
{
    CASES[i].fn();
}

static void banner(void)
{
    printf("iothttp %s (header %d.%d.%d)\n", iothttp_version(), IOTHTTP_VERSION_MAJOR,
           IOTHTTP_VERSION_MINOR, IOTHTTP_VERSION_PATCH);
}

int main(int argc, char **argv)
{
    const struct test_table table = {"test_api", "case", 24, NCASES, case_name, case_run,
                                     NULL, NULL, banner};
    g_tdev_naming.ucloud_product = "cTestProd";
    g_tdev_naming.aliyun_product = "a1cTestPK";
    g_tdev_naming.secret_suffix = "zq7";
    return test_main(&table, argc, argv);
}
