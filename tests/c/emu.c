/* Client of the iothttp emulator's control port: one TCP connection per command. */
#define _POSIX_C_SOURCE 200809L

#include "emu.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

static void set_reply(char *reply, size_t cap, const char *text)
{
    if (reply != NULL && cap > 0)
        snprintf(reply, cap, "%s", text);
}

static int connect_control(char *reply, size_t cap)
{
    const char *addr = getenv("IOTHTTP_EMU_CONTROL");
    char host[256], why[512];
    if (addr == NULL || addr[0] == '\0') {
        set_reply(reply, cap, "IOTHTTP_EMU_CONTROL is not set");
        return -1;
    }
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= sizeof host) {
        set_reply(reply, cap, "IOTHTTP_EMU_CONTROL is not host:port");
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        snprintf(why, sizeof why, "bad IOTHTTP_EMU_CONTROL '%s': %s", addr, gai_strerror(rc));
        set_reply(reply, cap, why);
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        snprintf(why, sizeof why, "cannot connect to the emulator at %s: %s", addr,
                 strerror(errno));
        set_reply(reply, cap, why);
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int emu_command(const char *command, char *reply, size_t cap)
{
    char line[8192];
    size_t len = strlen(command);
    if (len + 1 > sizeof line) {
        set_reply(reply, cap, "command too long");
        return -1;
    }
    int fd = connect_control(reply, cap);
    if (fd < 0)
        return -1;
    memcpy(line, command, len);
    line[len] = '\n';
    if (write_all(fd, line, len + 1) != 0) {
        set_reply(reply, cap, "cannot write to the emulator control port");
        close(fd);
        return -1;
    }
    /* Read one reply line. */
    size_t got = 0;
    for (;;) {
        if (got + 1 >= sizeof line) {
            break;
        }
        ssize_t n = read(fd, line + got, sizeof line - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (memchr(line, '\n', got) != NULL)
            break;
    }
    close(fd);
    line[got] = '\0';
    char *nl = strchr(line, '\n');
    if (nl == NULL) {
        set_reply(reply, cap, "no reply line from the emulator control port");
        return -1;
    }
    *nl = '\0';
    if (strncmp(line, "OK", 2) == 0 && (line[2] == ' ' || line[2] == '\0')) {
        set_reply(reply, cap, line[2] ? line + 3 : "");
        return 0;
    }
    if (strncmp(line, "ERR", 3) == 0 && (line[3] == ' ' || line[3] == '\0')) {
        set_reply(reply, cap, line[3] ? line + 4 : "");
        return 1;
    }
    set_reply(reply, cap, line);
    return -1;
}

char *emu_command_alloc(const char *command)
{
    char why[512];
    size_t len = strlen(command), cap = 16384, got = 0;
    int fd = connect_control(why, sizeof why);
    if (fd < 0) {
        fprintf(stderr, "emulator: '%s' -> %s\n", command, why);
        return NULL;
    }
    char *line = malloc(len + 1 > cap ? len + 1 : cap);
    if (line == NULL) {
        close(fd);
        return NULL;
    }
    memcpy(line, command, len);
    line[len] = '\n';
    if (write_all(fd, line, len + 1) != 0) {
        fprintf(stderr, "emulator: '%s' -> cannot write to the control port\n", command);
        free(line);
        close(fd);
        return NULL;
    }
    for (;;) {
        if (got + 1 >= cap) {
            char *bigger = realloc(line, cap * 2);
            if (bigger == NULL)
                break;
            line = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, line + got, cap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (memchr(line + got - (size_t)n, '\n', (size_t)n) != NULL)
            break;
    }
    close(fd);
    line[got] = '\0';
    char *nl = strchr(line, '\n');
    if (nl == NULL || strncmp(line, "OK", 2) != 0 || (line[2] != ' ' && line[2] != '\n')) {
        fprintf(stderr, "emulator: '%s' -> %.300s\n", command, line);
        free(line);
        return NULL;
    }
    *nl = '\0';
    size_t skip = line[2] == ' ' ? 3 : 2;
    memmove(line, line + skip, (size_t)(nl - line) + 1 - skip);
    return line;
}

int emu_commandf(const char *fmt, ...)
{
    char command[4096], reply[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(command, sizeof command, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof command)
        return -1;
    int rc = emu_command(command, reply, sizeof reply);
    if (rc != 0)
        fprintf(stderr, "emulator: '%s' -> %s %s\n", command, rc > 0 ? "ERR" : "failed:", reply);
    return rc;
}

int json_u64_after(const char *json, const char *after, const char *key, uint64_t *out)
{
    char pattern[96];
    const char *p = json;
    if (after != NULL) {
        p = strstr(json, after);
        if (p == NULL)
            return -1;
    }
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    p = strstr(p, pattern);
    if (p == NULL)
        return -1;
    p += strlen(pattern);
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (end == p || errno != 0)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int json_str_field(const char *json, const char *key, char *out, size_t cap)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *p = strstr(json, pattern);
    if (p == NULL)
        return -1;
    p += strlen(pattern);
    const char *end = strchr(p, '"');
    if (end == NULL || (size_t)(end - p) >= cap)
        return -1;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return 0;
}

int emu_counters(const char *cloud, const char *product, const char *device,
                 struct emu_counters *out)
{
    char command[1024], reply[1024];
    snprintf(command, sizeof command, "counters %s %s %s", cloud, product, device);
    if (emu_command(command, reply, sizeof reply) != 0) {
        fprintf(stderr, "emulator: '%s' -> %s\n", command, reply);
        return -1;
    }
    if (json_u64_after(reply, NULL, "auth_requests", &out->auth_requests) != 0
        || json_u64_after(reply, NULL, "auths", &out->auths) != 0
        || json_u64_after(reply, NULL, "publish_requests", &out->publish_requests) != 0
        || json_u64_after(reply, NULL, "publishes", &out->publishes) != 0) {
        fprintf(stderr, "emulator: unexpected counters reply: %s\n", reply);
        return -1;
    }
    return 0;
}
