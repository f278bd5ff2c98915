/*
 * dl_crash: iothttp_download_file as a device runs it, which can kill its own process (SIGKILL:
 * no cleanup, no flush, as a power cut or the watchdog) once `kill_at` bytes of the file are
 * written. kill_at = size stops it between the last write and the rename; 0 never does
 * (download_crash.sh then kills it from outside, by its PID).
 *
 *   dl_crash <url> <file> <size> <md5-hex> <ca-file> <kill_at>
 *
 * Exit status: 0 verified and in place, 1 failed (the result's name and message on stderr).
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <iothttp.h>

static uint64_t g_kill_at;

static int on_progress(void *userdata, uint64_t received, uint64_t total)
{
    (void)userdata;
    (void)total;
    if (g_kill_at != 0 && received >= g_kill_at)
        kill(getpid(), SIGKILL);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: %s <url> <file> <size> <md5-hex> <ca-file> <kill_at>\n", argv[0]);
        return 2;
    }
    uint64_t size = strtoull(argv[3], NULL, 10);
    g_kill_at = strtoull(argv[6], NULL, 10);
    iothttp_config *cfg = iothttp_config_new();
    iothttp_client *client = NULL;
    iothttp_result r = cfg ? iothttp_config_add_ca_file(cfg, argv[5]) : IOTHTTP_E_INTERNAL;
    if (r == IOTHTTP_OK)
        r = iothttp_client_new(cfg, &client);
    iothttp_config_free(cfg);
    if (r == IOTHTTP_OK)
        r = iothttp_download_file(client, argv[1], argv[2], size, argv[4], NULL, on_progress,
                                  NULL);
    iothttp_client_free(client);
    if (r != IOTHTTP_OK) {
        fprintf(stderr, "%s: %s\n", iothttp_result_name(r), iothttp_last_error());
        return 1;
    }
    printf("downloaded %s\n", argv[2]);
    return 0;
}
