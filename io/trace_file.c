/* Chrome trace JSON writer: complete events ("ph": "X") in microseconds. */
#include "io/trace_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

static const char *const thread_names[] = {"main (step)", "communication", "I/O prefetch"};

int dpt_trace_file_open(dpt_trace_file *tf, const char *path, int rank, double origin, char *err,
                        size_t errlen) {
    memset(tf, 0, sizeof *tf);
    snprintf(tf->path, sizeof tf->path, "%s", path);
    snprintf(tf->tmp, sizeof tf->tmp, "%s.tmp.%d", path, (int)getpid());
    tf->f = fopen(tf->tmp, "w");
    if (!tf->f) return dpt_err(err, errlen, "%s: cannot write: %s", tf->tmp, strerror(errno));
    tf->pid = rank;
    tf->origin = origin;
    fprintf(tf->f, "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n");
    fprintf(tf->f,
            "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": %d, \"args\": {\"name\": "
            "\"rank %d\"}}",
            rank, rank);
    for (int t = 0; t < 3; t++)
        fprintf(tf->f,
                ",\n{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": %d, \"tid\": %d, "
                "\"args\": {\"name\": \"%s\"}}",
                rank, t, thread_names[t]);
    return 0;
}

void dpt_trace_file_add(dpt_trace_file *tf, const dpt_trace *t) {
    if (!tf->f) return;
    for (size_t i = 0; i < t->n; i++) {
        const dpt_trace_event *e = &t->ev[i];
        fprintf(tf->f,
                ",\n{\"name\": \"%s\", \"ph\": \"X\", \"pid\": %d, \"tid\": %d, \"ts\": %.3f, "
                "\"dur\": %.3f, \"args\": {\"step\": %lld, \"arg\": %u}}",
                dpt_phase_name((dpt_phase)e->phase), tf->pid, t->tid, (e->t0 - tf->origin) * 1e6,
                (e->t1 - e->t0) * 1e6, (long long)e->step, e->arg);
        tf->events++;
    }
}

int dpt_trace_file_close(dpt_trace_file *tf, char *err, size_t errlen) {
    if (!tf->f) return 0;
    fprintf(tf->f, "\n]}\n");
    int bad = fflush(tf->f) != 0 || fsync(fileno(tf->f)) != 0;
    bad |= fclose(tf->f) != 0;
    tf->f = NULL;
    if (bad || rename(tf->tmp, tf->path) != 0) {
        int e = errno;
        unlink(tf->tmp);
        return dpt_err(err, errlen, "%s: cannot write: %s", tf->path, strerror(e));
    }
    return 0;
}
