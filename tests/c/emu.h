/* Client of the iothttp emulator's control port (IOTHTTP_EMU_CONTROL=host:port). */
#ifndef IOTHTTP_TEST_EMU_H
#define IOTHTTP_TEST_EMU_H

#include <stddef.h>
#include <stdint.h>

/* Send one command line (no newline) and read the reply line. Returns 0 on "OK <text>",
 * 1 on "ERR <text>", -1 when the emulator cannot be reached or replies something else.
 * `reply` (may be NULL) receives the text after "OK " / "ERR " or a description of the
 * failure. */
int emu_command(const char *command, char *reply, size_t cap);

/* emu_command for replies of any length: the text after "OK " in memory to free(), or
 * NULL (with the reason on stderr) on "ERR", a failure or no memory. */
char *emu_command_alloc(const char *command);

/* printf-style emu_command; the reply is discarded. Returns as emu_command. */
int emu_commandf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* A numeric field of a JSON text (a reply) after the first occurrence of `after` (NULL: from
 * the start): "\"key\":<number>". 0 when found. */
int json_u64_after(const char *json, const char *after, const char *key, uint64_t *out);

/* A string field "\"key\":\"<text>\"" (no escapes) copied into `out`. 0 when found and it
 * fits. */
int json_str_field(const char *json, const char *key, char *out, size_t cap);

/* The emulator's per-device counters (`counters <cloud> <product> <device>`). */
struct emu_counters {
    uint64_t auth_requests;
    uint64_t auths;
    uint64_t publish_requests;
    uint64_t publishes;
};

/* 0 on success. */
int emu_counters(const char *cloud, const char *product, const char *device,
                 struct emu_counters *out);

#endif
