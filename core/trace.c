/* Phase timing: monotonic clock, per-thread totals and event buffers. */
#include "core/trace.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"

double dpt_now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

const char *dpt_phase_name(dpt_phase p) {
    static const char *const names[DPT_PH_COUNT] = {
        "data_wait", "forward", "backward", "comm_wait", "update", "allreduce", "read", "other"};
    return (unsigned)p < DPT_PH_COUNT ? names[p] : "?";
}

void dpt_trace_init(dpt_trace *t, int tid, size_t cap) {
    memset(t, 0, sizeof *t);
    t->tid = tid;
    t->cap = cap;
    if (cap > 0) t->ev = dpt_calloc(cap, sizeof *t->ev);
}

void dpt_trace_free(dpt_trace *t) {
    free(t->ev);
    memset(t, 0, sizeof *t);
}

void dpt_trace_add(dpt_trace *t, dpt_phase p, double t0, double t1, int64_t step, uint32_t arg) {
    DPT_ASSERT((unsigned)p < DPT_PH_COUNT);
    t->total[p] += t1 - t0;
    if (!t->ev) return;
    if (t->n == t->cap) {
        t->dropped++;
        return;
    }
    t->ev[t->n++] = (dpt_trace_event){t0, t1, step, (uint32_t)p, arg};
}

void dpt_trace_reset_totals(dpt_trace *t) {
    memset(t->total, 0, sizeof t->total);
}
