/* One data-parallel training step (DESIGN.md §2): forward and backward on this rank's slice,
 * the allreduce of the gradients together with the sample count and the caller's statistics,
 * division by the global count, L2, clipping, a finiteness check every rank decides alike, and
 * the optimizer update.  Shared by the trainer and the benchmarks.
 *
 * Two ways to reduce: one allreduce after backward (the default and the reference), or,
 * after dpt_step_set_overlap(s, true, ...), gradient buckets reduced by a communication thread
 * while backward continues (parallel/comm.h, docs/design.md "Overlapping communication"). */
#ifndef DPT_STEP_H
#define DPT_STEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loss.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/trace.h"

/* The sums a step reduces together with its gradients, in the same allreduce (DESIGN.md §2):
 * slots of floats right in front of the gradients (the model's head room, dpt_model_grad_head),
 * so [first slot, end of gradients) is one range and no second gradient buffer exists.  The step
 * owns two, the sample count and the loss sum; callers ask for named ranges of slots at set-up
 * (dpt_step_add_sums: the trainer's metric sums, metric rows, stop flag, checkpoint timer) and
 * keep the handle.  Slots travel as floats: exact for counts and flags up to 2^24. */
#define DPT_SUMS_MAX 32
enum { DPT_SUM_COUNT = 0, DPT_SUM_LOSS = 1 }; /* the step's own handles */

typedef struct dpt_sums {
    int n;                          /* slots handed out */
    const char *name[DPT_SUMS_MAX]; /* (n) name of the range each slot belongs to */
    float *local;                   /* (n) this step's values; reduced in place */
    double total[DPT_SUMS_MAX];     /* (n) global sums after the last reduce */
} dpt_sums;

/* Bucket bound used when dpt_step_set_overlap is given 0: small enough that the layers above
 * the first start early, large enough that the per-bucket latency stays small (docs/design.md,
 * "Overlapping communication"). */
#define DPT_STEP_BUCKET_BYTES_DEFAULT ((size_t)1 << 20)

struct dpt_comm;
struct dpt_bucket;

typedef struct dpt_step {
    dpt_model *model;
    const dpt_loss *loss;
    dpt_optim *optim;
    const dpt_schedule *schedule;
    float l2;         /* L2 coefficient (0 = off) */
    float clip_norm;  /* 0 = off */
    float clip_value; /* 0 = off */
    uint64_t seed;    /* keys dropout masks */
    int64_t step;     /* optimizer steps taken so far (global, same on every rank) */
    dpt_sums sums;    /* reduced with the gradients */
    float *reduce;    /* (sums.n + nparams) the reduced range: sums.local, then model->grads */
    float *dout;      /* (max_batch, K) d(loss)/d(output) */
    /* timing: */
    dpt_trace *trace;     /* caller-owned, main thread (tid 0), NULL = none: forward, backward,
                             comm_wait (time waiting for allreduces), update */
    dpt_trace comm_trace; /* step-owned, tid 1: one allreduce event per bucket (arg = bucket
                             index), or per step for the inline reduce when overlap is off, so
                             total[DPT_PH_ALLREDUCE] is the allreduce time either way.  Read it
                             between dpt_step_update and the next dpt_step_compute. */
    /* overlap (dpt_step_set_overlap): */
    bool overlap;               /* buckets go to the communication thread */
    size_t bucket_bytes;        /* bound on a bucket (a larger single layer is its own) */
    int nbuckets;               /* buckets; the last holds layer 0's gradients and the sums */
    struct dpt_bucket *buckets; /* (nbuckets, room for nlayers + 1) in reduction order,
                                   offsets into reduce */
    int released;               /* buckets handed over in the current step */
    bool in_step;               /* between dpt_step_compute and dpt_step_update */
    struct dpt_comm *comm;      /* the thread, NULL when overlap is off */
    /* results of the last reduce: */
    double count;     /* global samples in the step (sums.total[DPT_SUM_COUNT]) */
    double loss_sum;  /* global loss sum before L2 (sums.total[DPT_SUM_LOSS]) */
    double grad_norm; /* global gradient norm before clipping */
    float lr;         /* learning rate used */
} dpt_step;

/* Sets up the step for a built model with overlap off and the step's own sums (count, loss)
 * in the model's gradient head room. */
void dpt_step_init(dpt_step *s, dpt_model *m, const dpt_loss *loss, dpt_optim *opt,
                   const dpt_schedule *sched);
/* Set-up, before dpt_step_set_overlap and the first step: n more slots named `name` reduced
 * with every step's gradients.  Returns the handle (the range's first slot) for dpt_step_sums
 * and sums.total; at most DPT_SUMS_MAX slots in all. */
int dpt_step_add_sums(dpt_step *s, const char *name, int n);
/* Collective.  Stops the communication thread and gives the model a gradient buffer of its own
 * again (same values); call before dpt_model_free. */
void dpt_step_free(dpt_step *s);

/* Collective, between steps.  on: reduce the gradients in buckets of up to bucket_bytes
 * (0 = DPT_STEP_BUCKET_BYTES_DEFAULT) on a communication thread while backward runs; off: one
 * allreduce in dpt_step_update.  Needs MPI_THREAD_SERIALIZED or more: with less, rank 0 prints a
 * one-line note and overlap stays off.  Returns whether overlap is on.  Results are the same
 * either way up to float summation order (bitwise at 2 ranks). */
bool dpt_step_set_overlap(dpt_step *s, bool on, size_t bucket_bytes);
/* Between steps: keep up to cap allreduce events in comm_trace (0 = totals only); forgets the
 * events and totals recorded so far. */
void dpt_step_trace_comm(dpt_step *s, size_t cap);

/* Zeroes gradients and sums, runs forward, loss and backward on B local samples (B may be 0):
 * x is (B, in_steps, F), y per sample or, for a model returning sequences, per step; lengths (B)
 * gives each sample's valid steps (NULL = all).  Returns the model output (B, out_steps, K) so
 * the caller can fill its sums (dpt_step_sums) before the reduce.  With overlap on, gradient
 * buckets are being reduced when it returns: until dpt_step_update the caller must not touch the
 * gradients nor call MPI (the communication thread owns MPI then). */
const float *dpt_step_compute(dpt_step *s, const float *x, dpt_target y, int B,
                              const int64_t *sample_ids, const int32_t *lengths);
/* dpt_step_compute with the valid output steps given: out_lengths (B) masks the loss (NULL =
 * every output step), e.g. the targets' own lengths when the output has a new time axis.
 * dpt_step_compute passes dpt_model_output_lengths(model, lengths, NULL). */
const float *dpt_step_compute_masked(dpt_step *s, const float *x, dpt_target y, int B,
                                     const int64_t *sample_ids, const int32_t *lengths,
                                     const int32_t *out_lengths);
/* This step's local slots of the range `handle` (dpt_step_add_sums), to fill between
 * dpt_step_compute and dpt_step_update; their global sums are then in s->sums.total[handle...]. */
static inline float *dpt_step_sums(dpt_step *s, int handle) {
    return s->sums.local + handle;
}

/* Outcome of the update. */
typedef enum { DPT_STEP_OK = 0, DPT_STEP_NONFINITE = 1 } dpt_step_status;

/* Collective: allreduce (or the last bucket and a wait for all of them), average, L2,
 * clipping, check, optimizer update.  On a non-finite
 * gradient norm or loss it does not update and returns DPT_STEP_NONFINITE (same on all ranks);
 * *bad_layer then names the first layer whose gradient is not finite (or NULL). */
dpt_step_status dpt_step_update(dpt_step *s, const char **bad_layer);

#endif
