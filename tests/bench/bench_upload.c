/*
 * One upload with iothttp, for the upload benchmark (tests/bench/upload.py drives it).
 *
 *   bench_upload ufile <file> <ucloud-file-base-url> <ca-file>
 *       UCloud device file upload: MD5 pre-pass over the file, grant request, streamed PUT
 *       with Content-MD5 (the emulator verifies the digest).
 *   bench_upload form <file> <store-form-url> <ca-file>
 *       multipart/form-data POST with the file as the last part (exact Content-Length).
 *   bench_upload put <file> <url> <ca-file>
 *       generic presigned PUT (iothttp_put) with Content-Type: application/octet-stream.
 *   bench_upload agc <file> <agc-base-url> <ca-file>
 *       AppGallery Connect upload: SHA-256 pre-pass over the file, token, upload URL, then a
 *       PUT with exactly the returned headers (x-amz-content-sha256 among them).
 *
 *   bench_upload fetch <path> <url> <ca-file>
 *       iothttp_download to a write callback that fwrite()s to <path> (no digest, no fsync):
 *       the same work as `curl -o`.
 *   bench_upload download <path> <url> <ca-file> <size> <md5-hex> [<cancel-at>]
 *       iothttp_download_file with the expected size and MD5 (digest over the whole file,
 *       fsync, rename onto <path>); resumes from <path>.part when one is there. With
 *       <cancel-at>, the progress callback cancels once <cancel-at> bytes are in the .part
 *       (IOTHTTP_E_CANCELLED keeps it for the resumed run) and the program exits 0.
 *
 * Prints the wall time of the call and the process's peak RSS (VmHWM).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iothttp.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

static int write_file(void *userdata, const uint8_t *buf, size_t len) {
    return fwrite(buf, 1, len, (FILE *)userdata) == len ? 0 : 1;
}

static int cancel_at(void *userdata, uint64_t sent, uint64_t total) {
    (void)total;
    return sent >= *(const uint64_t *)userdata;
}

static int download(const char *mode, int argc, char **argv) {
    const char *path = argv[2], *url = argv[3], *ca = argv[4];
    int fetch = strcmp(mode, "fetch") == 0;
    if (fetch ? argc != 5 : argc != 7 && argc != 8) {
        fprintf(stderr, "usage: %s fetch <path> <url> <ca-file> | download <path> <url> "
                        "<ca-file> <size> <md5-hex> [<cancel-at>]\n", argv[0]);
        return 2;
    }
    uint64_t cancel = argc == 8 ? strtoull(argv[7], NULL, 10) : 0;
    iothttp_config *cfg = iothttp_config_new();
    iothttp_client *client = NULL;
    iothttp_result r = iothttp_config_add_ca_file(cfg, ca);
    if (r == IOTHTTP_OK) r = iothttp_client_new(cfg, &client);
    iothttp_config_free(cfg);
    double t0 = now_s();
    if (r == IOTHTTP_OK && fetch) {
        FILE *out = fopen(path, "wb");
        if (!out) {
            perror(path);
            return 1;
        }
        r = iothttp_download(client, url, NULL, 0, 0, write_file, out, NULL, NULL, NULL);
        if (fclose(out) != 0 && r == IOTHTTP_OK) r = IOTHTTP_E_WRITE;
    } else if (r == IOTHTTP_OK) {
        r = iothttp_download_file(client, url, path, strtoull(argv[5], NULL, 10), argv[6],
                                  NULL, cancel ? cancel_at : NULL, &cancel);
        if (cancel && r == IOTHTTP_E_CANCELLED) r = IOTHTTP_OK;
    }
    double elapsed = now_s() - t0;
    iothttp_client_free(client);
    if (r != IOTHTTP_OK) {
        fprintf(stderr, "%s: %s\n", iothttp_result_name(r), iothttp_last_error());
        return 1;
    }
    printf("seconds=%.3f peak_rss_kb=%ld\n", elapsed, peak_rss_kb());
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 5 && (strcmp(argv[1], "fetch") == 0 || strcmp(argv[1], "download") == 0))
        return download(argv[1], argc, argv);
    if (argc != 5) {
        fprintf(stderr, "usage: %s ufile|form|put|agc <file> <url> <ca-file>\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1], *path = argv[2], *url = argv[3], *ca = argv[4];
    iothttp_config *cfg = iothttp_config_new();
    iothttp_client *client = NULL;
    iothttp_source *src = NULL;
    iothttp_result r = iothttp_config_add_ca_file(cfg, ca);
    if (r == IOTHTTP_OK) r = iothttp_client_new(cfg, &client);
    iothttp_config_free(cfg);
    if (r == IOTHTTP_OK) r = iothttp_source_from_file(path, &src);
    double t0 = now_s();
    if (r == IOTHTTP_OK && strcmp(mode, "ufile") == 0) {
        iothttp_device *dev = NULL;
        r = iothttp_device_new(client, IOTHTTP_CLOUD_UCLOUD, "benchProduct", "benchDevice",
                               "benchSecret", &dev);
        if (r == IOTHTTP_OK) r = iothttp_device_set_file_endpoint(dev, url);
        if (r == IOTHTTP_OK)
            r = iothttp_device_upload_file(dev, "bench.bin", "application/octet-stream", src,
                                           NULL, NULL);
        iothttp_device_free(dev);
    } else if (r == IOTHTTP_OK && strcmp(mode, "form") == 0) {
        const char *names[] = {"key"};
        const char *values[] = {"bench/${filename}"};
        r = iothttp_post_form(client, url, names, values, 1, "file", "bench.bin",
                              "application/octet-stream", src, NULL, NULL);
    } else if (r == IOTHTTP_OK && strcmp(mode, "put") == 0) {
        const char *headers[] = {"Content-Type: application/octet-stream"};
        r = iothttp_put(client, url, headers, 1, src, NULL, NULL);
    } else if (r == IOTHTTP_OK && strcmp(mode, "agc") == 0) {
        iothttp_agc_client *agc = NULL;
        char object_id[IOTHTTP_OBJECT_ID_LEN];
        r = iothttp_agc_client_new(client, "benchClient", "benchSecret", &agc);
        if (r == IOTHTTP_OK) r = iothttp_agc_client_set_endpoint(agc, url);
        if (r == IOTHTTP_OK)
            r = iothttp_agc_upload(agc, "benchApp", "bench.app", src, NULL, NULL, object_id,
                                   sizeof object_id, NULL);
        iothttp_agc_client_free(agc);
    } else if (r == IOTHTTP_OK) {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    double elapsed = now_s() - t0;
    iothttp_source_free(src);
    iothttp_client_free(client);
    if (r != IOTHTTP_OK) {
        fprintf(stderr, "%s: %s\n", iothttp_result_name(r), iothttp_last_error());
        return 1;
    }
    printf("seconds=%.3f peak_rss_kb=%ld\n", elapsed, peak_rss_kb());
    return 0;
}
