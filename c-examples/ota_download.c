/*
 * ota_download: download a firmware image to a file the way a device must: streamed to
 * <file>.part, resumed when run again after a cut or a reboot, checked against the size and
 * digest its cloud announced, flushed and renamed onto <file> in one step, with a progress
 * bar. The old <file> stays as it was unless the new one is complete and verified.
 *
 *   ota_download <url> <file> [size] [md5-hex] [sha256-hex] [ca-file]
 *
 * Missing arguments come from IOTHTTP_URL, IOTHTTP_FILE, IOTHTTP_SIZE, IOTHTTP_MD5,
 * IOTHTTP_SHA256, IOTHTTP_CA. Exit status: 0 verified and in place, 1 failed (run again to
 * resume, unless the error was IOTHTTP_E_DIGEST_MISMATCH: then nothing was kept), 2 usage.
 */
#include <string.h>

#include "common.h"
#include "progress.h"

int main(int argc, char **argv)
{
    const char *url = arg_or_env(argc, argv, 1, "IOTHTTP_URL");
    const char *path = arg_or_env(argc, argv, 2, "IOTHTTP_FILE");
    const char *size_text = arg_or_env(argc, argv, 3, "IOTHTTP_SIZE");
    const char *md5 = arg_or_env(argc, argv, 4, "IOTHTTP_MD5");
    const char *sha256 = arg_or_env(argc, argv, 5, "IOTHTTP_SHA256");
    const char *ca_file = arg_or_env(argc, argv, 6, "IOTHTTP_CA");
    if (!url || !path) {
        fprintf(stderr, "usage: %s <url> <file> [size] [md5-hex] [sha256-hex] [ca-file]\n",
                argv[0]);
        return 2;
    }
    uint64_t size = 0; /* 0: not checked */
    if (size_text != NULL) {
        char *end = NULL;
        size = strtoull(size_text, &end, 10);
        if (end == size_text || *end != '\0') {
            fprintf(stderr, "size '%s' is not a number of bytes\n", size_text);
            return 2;
        }
    }

    iothttp_client *client = NULL;
    struct progress bar = {-1};
    iothttp_result r = make_client(ca_file, &client);
    if (r == IOTHTTP_OK)
        r = iothttp_download_file(client, url, path, size, md5, sha256, progress_bar, &bar);
    int status = 0;
    if (r == IOTHTTP_OK)
        printf("downloaded %s: verified and in place\n", path);
    else
        status = report(r);
    iothttp_client_free(client);
    return status;
}
