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

int main(int argc, char **argv) {
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
