/* Per-epoch metrics as JSON lines (one object per epoch) in <output>/metrics.jsonl, appended and
 * flushed + fsync'd after every line so a killed run keeps every finished epoch.  Not replaced
 * through the atomic writer: a resumed run appends to the log it finds (docs/design.md, "Atomic
 * outputs"). */
#ifndef DPT_METRICS_LOG_H
#define DPT_METRICS_LOG_H

#include <stdbool.h>
#include <stdio.h>

typedef struct dpt_metrics_log {
    FILE *f;
    char path[4096];
} dpt_metrics_log;

/* Opens the file, truncating it, or appending to it when a run resumes; returns 0 or -1 with a
 * message. */
int dpt_metrics_log_open(dpt_metrics_log *l, const char *path, bool append, char *err,
                         size_t errlen);
/* Writes {"epoch": e, "<names[i]>": values[i], ...}; non-finite values become null. */
int dpt_metrics_log_write(dpt_metrics_log *l, int epoch, const char *const *names,
                          const double *values, int n, char *err, size_t errlen);
void dpt_metrics_log_close(dpt_metrics_log *l);

#endif
