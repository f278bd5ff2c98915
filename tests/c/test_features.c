/* A library built with some cargo features left out (IOTHTTP_FEATURES): the header and the
 * symbols are the same; every function of a capability that is not in the build returns
 * IOTHTTP_E_UNSUPPORTED with a message naming the feature, before looking at its arguments;
 * what is in the build works against the emulator.
 *
 *   test_features [case...]
 *
 * The features the library was built with come from its CMake package (iothttp_FEATURES) as
 * the compile definition IOTHTTP_TEST_FEATURES, a ','-separated list ("default": all). */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#ifndef IOTHTTP_TEST_FEATURES
#error "IOTHTTP_TEST_FEATURES must name the library's features"
#endif

static int has(const char *feature)
{
    const char *list = IOTHTTP_TEST_FEATURES;
    size_t n = strlen(feature);
    if (strcmp(list, "default") == 0)
        return 1;
    for (const char *p = list; *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, feature, n) == 0)
            return 1;
        p += len;
        if (*p == ',')
            p++;
    }
    /* ucloud-files brings ucloud */
    return strcmp(feature, "ucloud") == 0 && has("ucloud-files");
}

/* IOTHTTP_E_UNSUPPORTED naming the feature '<feature>'. */
static int expect_missing(iothttp_result got, const char *feature, const char *expr,
                          const char *file, int line)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "'%s'", feature);
    if (!expect_rc(got, IOTHTTP_E_UNSUPPORTED, expr, file, line))
        return 0;
    if (strstr(iothttp_last_error(), quoted) == NULL ||
        strstr(iothttp_last_error(), "IOTHTTP_FEATURES") == NULL) {
        failf(file, line, "%s: the message does not name %s and IOTHTTP_FEATURES: %s", expr,
              quoted, iothttp_last_error());
        return 0;
    }
    return 1;
}
#define EXPECT_MISSING(expr, feature)                                                       \
    expect_missing((expr), (feature), #expr, __FILE__, __LINE__)

/* A handle pointer that must never be dereferenced: a missing capability answers first. */
#define BOGUS(type) ((type *)(uintptr_t)8)

static void test_clouds(void)
{
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);
    static const struct {
        uint32_t cloud;
        const char *feature;
    } clouds[] = {{IOTHTTP_CLOUD_UCLOUD, "ucloud"}, {IOTHTTP_CLOUD_ALIYUN, "aliyun"}};
    for (size_t i = 0; i < sizeof clouds / sizeof clouds[0]; i++) {
        struct tdev t;
        iothttp_device *dev = NULL;
        if (!has(clouds[i].feature)) {
            tdev_make(&t, clouds[i].cloud, "feat");
            EXPECT_MISSING(iothttp_device_new(client, clouds[i].cloud, t.product, t.device,
                                              t.secret, &dev),
                           clouds[i].feature);
            CHECK(dev == NULL);
            continue;
        }
        /* In the build: auth and publish work end to end. */
        if (!CHECK(tdev_add(&t, clouds[i].cloud, "feat") == 0))
            continue;
        dev = emu_device(client, &t);
        if (CHECK(dev != NULL)) {
            char id[IOTHTTP_MESSAGE_ID_LEN];
            EXPECT(publish(dev, &t, id, sizeof id), IOTHTTP_OK);
        }
        iothttp_device_free(dev);
    }
    iothttp_client_free(client);
}

static void test_ucloud_files(void)
{
    if (!has("ucloud"))
        return; /* no UCloud device to ask */
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);
    struct tdev t;
    iothttp_device *dev = NULL;
    iothttp_source *src = NULL;
    uint8_t data[SMALL_LEN];
    gen_data(data, sizeof data, 2);
    if (CHECK(tdev_add(&t, IOTHTTP_CLOUD_UCLOUD, "feat") == 0) &&
        CHECK((dev = emu_device(client, &t)) != NULL) &&
        EXPECT(iothttp_source_from_memory(data, sizeof data, &src), IOTHTTP_OK)) {
        if (has("ucloud-files")) {
            const char *files = env("IOTHTTP_EMU_UFILE_URL");
            char name[64];
            unique_name(name, sizeof name, "feat");
            EXPECT(iothttp_device_set_file_endpoint(dev, files), IOTHTTP_OK);
            EXPECT(iothttp_device_upload_file(dev, name, "application/octet-stream", src, NULL,
                                              NULL),
                   IOTHTTP_OK);
        } else {
            EXPECT_MISSING(iothttp_device_upload_file(dev, "f.bin", "application/octet-stream",
                                                      src, NULL, NULL),
                           "ucloud-files");
        }
    }
    iothttp_source_free(src);
    iothttp_device_free(dev);
    iothttp_client_free(client);
}

static void test_stores(void)
{
    char out[IOTHTTP_URL_LEN];
    size_t len = 0;
    iothttp_source *src = BOGUS(iothttp_source);
    if (!has("aliyun-ota")) {
        iothttp_aliyun_account *acct = NULL;
        EXPECT_MISSING(iothttp_aliyun_account_new(BOGUS(iothttp_client), "id", "secret", &acct),
                       "aliyun-ota");
        CHECK(acct == NULL);
        EXPECT_MISSING(iothttp_aliyun_account_new(NULL, NULL, NULL, NULL), "aliyun-ota");
        EXPECT_MISSING(iothttp_aliyun_account_set_endpoint(BOGUS(iothttp_aliyun_account), "x"),
                       "aliyun-ota");
        EXPECT_MISSING(iothttp_aliyun_account_set_region(BOGUS(iothttp_aliyun_account), "x"),
                       "aliyun-ota");
        EXPECT_MISSING(
            iothttp_aliyun_account_set_instance_id(BOGUS(iothttp_aliyun_account), "x"),
            "aliyun-ota");
        EXPECT_MISSING(iothttp_aliyun_ota_upload(BOGUS(iothttp_aliyun_account), "bin", src, NULL,
                                                 NULL, out, sizeof out, &len),
                       "aliyun-ota");
        iothttp_aliyun_account_free(NULL);
    }
    if (!has("agc")) {
        iothttp_agc_client *agc = NULL;
        EXPECT_MISSING(iothttp_agc_client_new(BOGUS(iothttp_client), "id", "secret", &agc), "agc");
        CHECK(agc == NULL);
        EXPECT_MISSING(iothttp_agc_client_set_endpoint(BOGUS(iothttp_agc_client), "x"), "agc");
        EXPECT_MISSING(iothttp_agc_upload(BOGUS(iothttp_agc_client), "1", "a.app", src, NULL, NULL,
                                          out, sizeof out, &len),
                       "agc");
        iothttp_agc_client_free(NULL);
    }
    if (!has("generic-uploads")) {
        const char *names[] = {"key"}, *values[] = {"v"};
        EXPECT_MISSING(iothttp_put(BOGUS(iothttp_client), "https://127.0.0.1/x", NULL, 0, src,
                                   NULL, NULL),
                       "generic-uploads");
        EXPECT_MISSING(iothttp_post_form(BOGUS(iothttp_client), "https://127.0.0.1/x", names,
                                         values, 1, "file", "f", NULL, src, NULL, NULL),
                       "generic-uploads");
    }
    CHECK(len == 0);
}

static void test_roots(void)
{
    iothttp_config *cfg = iothttp_config_new();
    iothttp_client *client = NULL;
    REQUIRE(cfg != NULL);
    if (has("builtin-roots")) {
        /* The default: the Mozilla roots, a client with no CA added. */
        EXPECT(iothttp_client_new(cfg, &client), IOTHTTP_OK);
        EXPECT(iothttp_config_use_builtin_roots(cfg, true), IOTHTTP_OK);
    } else {
        /* Trust is only what the firmware adds: no roots, no client. */
        EXPECT(iothttp_client_new(cfg, &client), IOTHTTP_E_INVALID_ARG);
        CHECK(strstr(iothttp_last_error(), "builtin-roots") != NULL);
        CHECK(client == NULL);
        EXPECT_MISSING(iothttp_config_use_builtin_roots(cfg, true), "builtin-roots");
        EXPECT(iothttp_config_use_builtin_roots(cfg, false), IOTHTTP_OK);
        EXPECT(iothttp_config_add_ca_file(cfg, env("IOTHTTP_EMU_CA")), IOTHTTP_OK);
        EXPECT(iothttp_client_new(cfg, &client), IOTHTTP_OK);
    }
    iothttp_client_free(client);
    iothttp_config_free(cfg);
}

static void test_tls12(void)
{
    /* A server that speaks TLS 1.2 only. */
    iothttp_client *client = emu_client(EMU_DEFAULT_POLICY, NULL, 0);
    REQUIRE(client != NULL);
    const char *url = env("IOTHTTP_EMU_TLS12_URL");
    iothttp_device *dev = NULL;
    if (url != NULL && (has("ucloud") || has("aliyun"))) {
        uint32_t cloud = has("ucloud") ? IOTHTTP_CLOUD_UCLOUD : IOTHTTP_CLOUD_ALIYUN;
        struct tdev t;
        if (CHECK(tdev_add(&t, cloud, "tls") == 0) &&
            EXPECT(iothttp_device_new(client, cloud, t.product, t.device, t.secret, &dev),
                   IOTHTTP_OK)) {
            char base[512];
            snprintf(base, sizeof base, "%s/%s", url, cloud == IOTHTTP_CLOUD_UCLOUD ? "ucloud" : "aliyun");
            EXPECT(iothttp_device_set_endpoint(dev, base), IOTHTTP_OK);
            if (has("tls12")) {
                EXPECT(iothttp_device_auth(dev), IOTHTTP_OK);
            } else {
                EXPECT(iothttp_device_auth(dev), IOTHTTP_E_TLS);
                CHECK(strstr(iothttp_last_error(), "'tls12'") != NULL);
            }
        }
    }
    iothttp_device_free(dev);
    iothttp_client_free(client);
}

static const struct {
    const char *name;
    void (*fn)(void);
} cases[] = {
    {"tls12", test_tls12},
    {"clouds", test_clouds},
    {"ucloud_files", test_ucloud_files},
    {"stores", test_stores},
    {"roots", test_roots},
};

static const char *case_name(size_t i) { return cases[i].name; }
static void case_run(size_t i) { cases[i].fn(); }
static void banner(void)
{
    printf("iothttp %s built with features: %s\n", iothttp_version(), IOTHTTP_TEST_FEATURES);
}

int main(int argc, char **argv)
{
    static const struct test_table table = {
        "test_features", "case", 14, sizeof cases / sizeof cases[0], case_name, case_run,
        NULL, NULL, banner};
    return test_main(&table, argc, argv);
}
