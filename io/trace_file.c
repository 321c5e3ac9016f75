/* Chrome trace JSON writer: complete events ("ph": "X") in microseconds. */
#include "io/trace_file.h"

#include <string.h>

#include "core/util.h"

static const char *const thread_names[] = {"main (step)", "communication", "I/O prefetch"};

int dpt_trace_file_open(dpt_trace_file *tf, const char *path, int rank, double origin, char *err,
                        size_t errlen) {
    memset(tf, 0, sizeof *tf);
    if (dpt_atomic_begin(&tf->out, path, err, errlen)) return -1;
    FILE *f = tf->out.f;
    tf->pid = rank;
    tf->origin = origin;
    fprintf(f, "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n");
    fprintf(f,
            "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": %d, \"args\": {\"name\": "
            "\"rank %d\"}}",
            rank, rank);
    for (int t = 0; t < 3; t++)
        fprintf(f,
                ",\n{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": %d, \"tid\": %d, "
                "\"args\": {\"name\": \"%s\"}}",
                rank, t, thread_names[t]);
    return 0;
}

void dpt_trace_file_add(dpt_trace_file *tf, const dpt_trace *t) {
    if (!tf->out.f) return;
    for (size_t i = 0; i < t->n; i++) {
        const dpt_trace_event *e = &t->ev[i];
        fprintf(tf->out.f,
                ",\n{\"name\": \"%s\", \"ph\": \"X\", \"pid\": %d, \"tid\": %d, \"ts\": %.3f, "
                "\"dur\": %.3f, \"args\": {\"step\": %lld, \"arg\": %u}}",
                dpt_phase_name((dpt_phase)e->phase), tf->pid, t->tid, (e->t0 - tf->origin) * 1e6,
                (e->t1 - e->t0) * 1e6, (long long)e->step, e->arg);
        tf->events++;
    }
}

int dpt_trace_file_close(dpt_trace_file *tf, char *err, size_t errlen) {
    if (!tf->out.f) return 0;
    fprintf(tf->out.f, "\n]}\n");
    return dpt_atomic_commit(&tf->out, err, errlen);
}
