/* Timing of the training step's phases, for the per-epoch breakdown and the optional Chrome trace
 * (docs/running.md).  Each thread (main, communication, I/O) records into its own dpt_trace, so
 * recording takes no lock; buffers are allocated once, never inside the step.  When a buffer is
 * full further events are counted as dropped (the totals still add up: they live apart). */
#ifndef DPT_TRACE_H
#define DPT_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Seconds on a monotonic clock. */
double dpt_now_s(void);

/* What a span of time was spent on.  The per-epoch breakdown sums them per kind. */
typedef enum {
    DPT_PH_DATA_WAIT = 0, /* the step waited for its batch (I/O thread, exchange) */
    DPT_PH_FORWARD,       /* forward pass and loss */
    DPT_PH_BACKWARD,      /* backward pass */
    DPT_PH_COMM_WAIT,     /* the step waited for gradient allreduces (exposed communication) */
    DPT_PH_UPDATE,        /* averaging, clipping, optimizer update */
    DPT_PH_ALLREDUCE,     /* one allreduce (communication thread, or inline when not overlapped) */
    DPT_PH_READ,          /* one read from the file (I/O thread) */
    DPT_PH_OTHER,         /* metrics, checkpoints, validation */
    DPT_PH_COUNT
} dpt_phase;

const char *dpt_phase_name(dpt_phase p); /* "data_wait", "forward", ... */

typedef struct dpt_trace_event {
    double t0, t1;  /* seconds, dpt_now_s() clock */
    int64_t step;   /* optimizer step the event belongs to (-1: none) */
    uint32_t phase; /* dpt_phase */
    uint32_t arg;   /* e.g. bucket index, bytes / 1024 for reads */
} dpt_trace_event;

typedef struct dpt_trace {
    int tid;                    /* thread id in the trace file (0 main, 1 comm, 2 io) */
    double total[DPT_PH_COUNT]; /* seconds per phase since the last dpt_trace_reset_totals */
    dpt_trace_event *ev;        /* (cap) recorded events, or NULL when not recording */
    size_t n, cap;
    uint64_t dropped; /* events not recorded because ev was full */
} dpt_trace;

/* cap > 0 records events (the Chrome trace); cap == 0 keeps only the totals. */
void dpt_trace_init(dpt_trace *t, int tid, size_t cap);
void dpt_trace_free(dpt_trace *t);

/* Adds the span [t0, t1) of phase p to the totals and, when recording, as an event. */
void dpt_trace_add(dpt_trace *t, dpt_phase p, double t0, double t1, int64_t step, uint32_t arg);

/* Forgets the recorded events (after they were written out). */
static inline void dpt_trace_clear_events(dpt_trace *t) {
    t->n = 0;
}
void dpt_trace_reset_totals(dpt_trace *t);

#endif
