/*
 * ota_upload: upload a firmware image for Alibaba Cloud OTA (GenerateOTAUploadURL, then an
 * OSS PostObject streaming the file), with a progress bar; prints the FirmwareUrl to pass to
 * CreateOTAFirmware.
 *
 *   ota_upload <access-key-id> <access-key-secret> <file> [suffix] [endpoint] [ca-file]
 *
 * Missing arguments come from IOTHTTP_ACCESS_KEY_ID, IOTHTTP_ACCESS_KEY_SECRET, IOTHTTP_FILE,
 * IOTHTTP_OTA_SUFFIX, IOTHTTP_OTA_ENDPOINT, IOTHTTP_CA. suffix: bin (default), apk, tar, gz,
 * tar.gz, zip, gzip.
 */
#include "common.h"
#include "progress.h"

int main(int argc, char **argv)
{
    const char *key_id = arg_or_env(argc, argv, 1, "IOTHTTP_ACCESS_KEY_ID");
    const char *key_secret = arg_or_env(argc, argv, 2, "IOTHTTP_ACCESS_KEY_SECRET");
    const char *path = arg_or_env(argc, argv, 3, "IOTHTTP_FILE");
    const char *suffix = arg_or_env(argc, argv, 4, "IOTHTTP_OTA_SUFFIX");
    const char *endpoint = arg_or_env(argc, argv, 5, "IOTHTTP_OTA_ENDPOINT");
    const char *ca_file = arg_or_env(argc, argv, 6, "IOTHTTP_CA");
    if (!key_id || !key_secret || !path) {
        fprintf(stderr, "usage: %s <access-key-id> <access-key-secret> <file> [suffix] "
                        "[endpoint] [ca-file]\n", argv[0]);
        return 2;
    }
    iothttp_client *client = NULL;
    iothttp_aliyun_account *acct = NULL;
    iothttp_source *src = NULL;
    struct progress bar = {-1};
    char firmware_url[IOTHTTP_URL_LEN];
    size_t url_len = 0;
    iothttp_result r = make_client(ca_file, &client);
    if (r == IOTHTTP_OK)
        r = iothttp_aliyun_account_new(client, key_id, key_secret, &acct);
    if (r == IOTHTTP_OK && endpoint != NULL)
        r = iothttp_aliyun_account_set_endpoint(acct, endpoint);
    if (r == IOTHTTP_OK)
        r = iothttp_source_from_file(path, &src);
    if (r == IOTHTTP_OK)
        r = iothttp_aliyun_ota_upload(acct, suffix, src, progress_bar, &bar, firmware_url,
                                      sizeof firmware_url, &url_len);
    int status = 0;
    if (r == IOTHTTP_OK)
        printf("firmware url: %s\n", firmware_url);
    else
        status = report(r);
    iothttp_source_free(src);
    iothttp_aliyun_account_free(acct);
    iothttp_client_free(client);
    return status;
}
