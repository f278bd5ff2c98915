/* Helpers shared by the examples: arguments with environment fallback, error report. */
#ifndef IOTHTTP_EXAMPLES_COMMON_H
#define IOTHTTP_EXAMPLES_COMMON_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <iothttp.h>

/* Argument `index` (1-based) if given and non-empty, else the environment variable. */
static inline const char *arg_or_env(int argc, char **argv, int index, const char *env_name)
{
    if (index < argc && argv[index][0] != '\0')
        return argv[index];
    const char *value = getenv(env_name);
    return (value != NULL && value[0] != '\0') ? value : NULL;
}

/* Print why the last call failed; returns the process exit status. */
static inline int report(iothttp_result r)
{
    int64_t cloud_code = iothttp_last_cloud_code();
    unsigned http_status = iothttp_last_http_status();
    fprintf(stderr, "error: %s: %s", iothttp_result_name(r), iothttp_last_error());
    if (cloud_code != 0)
        fprintf(stderr, " (cloud code %" PRId64 ")", cloud_code);
    if (http_status != 0)
        fprintf(stderr, " (HTTP status %u)", http_status);
    fputc('\n', stderr);
    return 1;
}

/* A client trusting the built-in roots plus `ca_file` (may be NULL). */
static inline iothttp_result make_client(const char *ca_file, iothttp_client **out)
{
    iothttp_config *cfg = iothttp_config_new();
    iothttp_result r = cfg ? IOTHTTP_OK : IOTHTTP_E_INTERNAL;
    if (r == IOTHTTP_OK && ca_file != NULL)
        r = iothttp_config_add_ca_file(cfg, ca_file);
    if (r == IOTHTTP_OK)
        r = iothttp_client_new(cfg, out);
    iothttp_config_free(cfg); /* the client keeps a copy */
    return r;
}

#endif
