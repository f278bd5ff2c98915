/*
 * A text progress bar for the upload examples: pass progress_bar as the iothttp_progress_fn
 * and a struct progress as its userdata. Redraws only when the percentage changes.
 */
#ifndef IOTHTTP_EXAMPLES_PROGRESS_H
#define IOTHTTP_EXAMPLES_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

struct progress {
    int last_percent; /* start at -1 */
};

static inline int progress_bar(void *userdata, uint64_t sent, uint64_t total)
{
    struct progress *p = userdata;
    int percent = total ? (int)(sent * 100 / total) : 100;
    if (percent == p->last_percent)
        return 0; /* 0: go on; nonzero would cancel the upload */
    p->last_percent = percent;
    char bar[41];
    int filled = percent * 40 / 100;
    for (int i = 0; i < 40; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[40] = '\0';
    fprintf(stderr, "\r[%s] %3d%%  %.1f / %.1f MiB", bar, percent, sent / 1048576.0,
            total / 1048576.0);
    if (sent == total)
        fputc('\n', stderr);
    fflush(stderr);
    return 0;
}

#endif
