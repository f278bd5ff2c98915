/*
 * upload_file: upload a file as a UCloud device (request an upload URL signed with the device
 * secret, then stream the file with PUT and Content-MD5), with a progress bar.
 *
 *   upload_file <product> <device> <secret> <file> [file-endpoint] [ca-file] [content-type]
 *
 * Missing arguments come from IOTHTTP_PRODUCT, IOTHTTP_DEVICE, IOTHTTP_SECRET, IOTHTTP_FILE,
 * IOTHTTP_FILE_ENDPOINT, IOTHTTP_CA, IOTHTTP_CONTENT_TYPE. The file is read twice (MD5, then
 * upload) and never held in memory.
 */
#include <string.h>

#include "common.h"
#include "progress.h"

int main(int argc, char **argv)
{
    const char *product = arg_or_env(argc, argv, 1, "IOTHTTP_PRODUCT");
    const char *device = arg_or_env(argc, argv, 2, "IOTHTTP_DEVICE");
    const char *secret = arg_or_env(argc, argv, 3, "IOTHTTP_SECRET");
    const char *path = arg_or_env(argc, argv, 4, "IOTHTTP_FILE");
    const char *endpoint = arg_or_env(argc, argv, 5, "IOTHTTP_FILE_ENDPOINT");
    const char *ca_file = arg_or_env(argc, argv, 6, "IOTHTTP_CA");
    const char *content_type = arg_or_env(argc, argv, 7, "IOTHTTP_CONTENT_TYPE");
    if (!product || !device || !secret || !path) {
        fprintf(stderr, "usage: %s <product> <device> <secret> <file> [file-endpoint] [ca-file] "
                        "[content-type]\n", argv[0]);
        return 2;
    }
    const char *slash = strrchr(path, '/');
    const char *file_name = slash ? slash + 1 : path;

    iothttp_client *client = NULL;
    iothttp_device *dev = NULL;
    iothttp_source *src = NULL;
    struct progress bar = {-1};
    iothttp_result r = make_client(ca_file, &client);
    if (r == IOTHTTP_OK)
        r = iothttp_device_new(client, IOTHTTP_CLOUD_UCLOUD, product, device, secret, &dev);
    if (r == IOTHTTP_OK && endpoint != NULL)
        r = iothttp_device_set_file_endpoint(dev, endpoint);
    if (r == IOTHTTP_OK)
        r = iothttp_source_from_file(path, &src);
    if (r == IOTHTTP_OK)
        r = iothttp_device_upload_file(dev, file_name,
                                       content_type ? content_type : "application/octet-stream",
                                       src, progress_bar, &bar);
    int status = 0;
    if (r == IOTHTTP_OK)
        printf("uploaded %s (%" PRIu64 " bytes)\n", file_name, iothttp_source_size(src));
    else
        status = report(r);
    iothttp_source_free(src);
    iothttp_device_free(dev);
    iothttp_client_free(client);
    return status;
}
