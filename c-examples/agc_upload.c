/*
 * agc_upload: upload an app package to Huawei AppGallery Connect (client-credentials token,
 * upload URL with the file's SHA-256, PUT with exactly the returned headers), with a progress
 * bar; prints the objectId to attach to the app.
 *
 *   agc_upload <client-id> <client-secret> <app-id> <file> [endpoint] [ca-file]
 *
 * Missing arguments come from IOTHTTP_AGC_CLIENT_ID, IOTHTTP_AGC_CLIENT_SECRET,
 * IOTHTTP_AGC_APP_ID, IOTHTTP_FILE, IOTHTTP_AGC_ENDPOINT, IOTHTTP_CA.
 */
#include <string.h>

#include "common.h"
#include "progress.h"

int main(int argc, char **argv)
{
    const char *client_id = arg_or_env(argc, argv, 1, "IOTHTTP_AGC_CLIENT_ID");
    const char *client_secret = arg_or_env(argc, argv, 2, "IOTHTTP_AGC_CLIENT_SECRET");
    const char *app_id = arg_or_env(argc, argv, 3, "IOTHTTP_AGC_APP_ID");
    const char *path = arg_or_env(argc, argv, 4, "IOTHTTP_FILE");
    const char *endpoint = arg_or_env(argc, argv, 5, "IOTHTTP_AGC_ENDPOINT");
    const char *ca_file = arg_or_env(argc, argv, 6, "IOTHTTP_CA");
    if (!client_id || !client_secret || !app_id || !path) {
        fprintf(stderr, "usage: %s <client-id> <client-secret> <app-id> <file> [endpoint] "
                        "[ca-file]\n", argv[0]);
        return 2;
    }
    const char *slash = strrchr(path, '/');
    const char *file_name = slash ? slash + 1 : path;

    iothttp_client *client = NULL;
    iothttp_agc_client *agc = NULL;
    iothttp_source *src = NULL;
    struct progress bar = {-1};
    char object_id[IOTHTTP_OBJECT_ID_LEN];
    iothttp_result r = make_client(ca_file, &client);
    if (r == IOTHTTP_OK)
        r = iothttp_agc_client_new(client, client_id, client_secret, &agc);
    if (r == IOTHTTP_OK && endpoint != NULL)
        r = iothttp_agc_client_set_endpoint(agc, endpoint);
    if (r == IOTHTTP_OK)
        r = iothttp_source_from_file(path, &src);
    if (r == IOTHTTP_OK)
        r = iothttp_agc_upload(agc, app_id, file_name, src, progress_bar, &bar, object_id,
                               sizeof object_id, NULL);
    int status = 0;
    if (r == IOTHTTP_OK)
        printf("object id: %s\n", object_id);
    else
        status = report(r);
    iothttp_source_free(src);
    iothttp_agc_client_free(agc);
    iothttp_client_free(client);
    return status;
}
