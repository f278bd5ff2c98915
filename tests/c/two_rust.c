/* A C program linking libiothttp.a beside a second Rust static library (other_rust/lib.rs):
 * both must link (no duplicate symbols, in either order on the link line) and work. */
#include <stdio.h>
#include <string.h>

#include <iothttp.h>

size_t other_rust_describe(char *buf, size_t cap);

int main(void)
{
    char text[128];
    int failures = 0;

    other_rust_describe(text, sizeof text);
    printf("other Rust library: %s\n", text);
    if (strcmp(text, "3 words, thread 42, panic caught: expected") != 0) {
        fprintf(stderr, "FAIL: the other Rust library answered '%s'\n", text);
        failures++;
    }

    iothttp_config *cfg = iothttp_config_new();
    iothttp_client *client = NULL;
    iothttp_device *dev = NULL;
    iothttp_result r = iothttp_client_new(cfg, &client);
    if (r != IOTHTTP_OK) {
        fprintf(stderr, "FAIL: iothttp_client_new: %s: %s\n", iothttp_result_name(r),
                iothttp_last_error());
        failures++;
    }
    /* An error path: allocation, formatting and the thread-local error text. */
    r = iothttp_device_new(client, IOTHTTP_CLOUD_UCLOUD, "", "d", "s", &dev);
    printf("iothttp %s: device_new with an empty product: %s: %s\n", iothttp_version(),
           iothttp_result_name(r), iothttp_last_error());
    if (r != IOTHTTP_E_INVALID_ARG || strstr(iothttp_last_error(), "product") == NULL) {
        fprintf(stderr, "FAIL: expected IOTHTTP_E_INVALID_ARG naming the product\n");
        failures++;
    }
    iothttp_device_free(dev);
    iothttp_client_free(client);
    iothttp_config_free(cfg);

    /* The other library again, after iothttp ran: both runtimes still work. */
    other_rust_describe(text, sizeof text);
    if (strncmp(text, "3 words", 7) != 0) {
        fprintf(stderr, "FAIL: the other Rust library, second call: '%s'\n", text);
        failures++;
    }
    if (failures == 0)
        printf("two_rust: both Rust libraries linked and ran\n");
    return failures == 0 ? 0 : 1;
}
