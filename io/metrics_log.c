/* Per-epoch metrics as JSON lines.  Each line is flushed and fsync'd as soon as it is written
 * so a run killed mid-epoch keeps every finished epoch. */
#include "io/metrics_log.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "io/fs.h"

int dpt_metrics_log_open(dpt_metrics_log *l, const char *path, bool append, char *err,
                         size_t errlen) {
    snprintf(l->path, sizeof l->path, "%s", path);
    l->f = fopen(path, append ? "a" : "w");
    if (!l->f) return dpt_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
    /* The new directory entry must survive a crash too, not only the lines. */
    if (dpt_fsync_dir_of(path, err, errlen)) {
        dpt_metrics_log_close(l);
        return -1;
    }
    return 0;
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void put_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

int dpt_metrics_log_write(dpt_metrics_log *l, int epoch, const char *const *names,
                          const double *values, int n, char *err, size_t errlen) {
    fprintf(l->f, "{\"epoch\": %d", epoch);
    for (int i = 0; i < n; i++) {
        fputs(", ", l->f);
        put_json_string(l->f, names[i]);
        if (isfinite(values[i]))
            fprintf(l->f, ": %.9g", values[i]);
        else
            fputs(": null", l->f); /* JSON has no NaN or Infinity */
    }
    fputs("}\n", l->f);
    if (ferror(l->f) || fflush(l->f) != 0 || fsync(fileno(l->f)) != 0)
        return dpt_err(err, errlen, "%s: write failed: %s", l->path, strerror(errno));
    return 0;
}

void dpt_metrics_log_close(dpt_metrics_log *l) {
    if (l->f) fclose(l->f);
    l->f = NULL;
}
