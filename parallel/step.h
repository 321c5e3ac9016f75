/* One data-parallel training step (DESIGN.md §2): forward and backward on this rank's slice,
 * one allreduce of the gradients together with the sample count and the caller's statistics,
 * division by the global count, L2, clipping, a finiteness check every rank decides alike, and
 * the optimizer update.  Shared by the trainer and the benchmarks. */
#ifndef DPT_STEP_H
#define DPT_STEP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/loss.h"
#include "core/model.h"
#include "core/optim.h"

/* Slots after the gradients in the reduced buffer: [0] sample count, [1] loss sum,
 * [2 ...] caller statistics (e.g. metric sums). */
#define DPT_STEP_MAX_STATS 12

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
    int nstats;       /* caller statistics reduced with the gradients */
    float *reduce;    /* (nparams + 2 + DPT_STEP_MAX_STATS) gradients then the slots;
                         model->grads points at its start */
    float *dout;      /* (max_batch, K) d(loss)/d(output) */
    /* results of the last reduce: */
    double count;                     /* global samples in the step */
    double loss_sum;                  /* global loss sum (before L2) */
    double stats[DPT_STEP_MAX_STATS]; /* global sums of the caller statistics */
    double grad_norm;                 /* global gradient norm before clipping */
    float lr;                         /* learning rate used */
} dpt_step;

/* Sets up the step for a built model; repoints model->grads into the reduce buffer (so the
 * allreduce needs no copy).  nstats <= DPT_STEP_MAX_STATS. */
void dpt_step_init(dpt_step *s, dpt_model *m, const dpt_loss *loss, dpt_optim *opt,
                   const dpt_schedule *sched, int nstats);
void dpt_step_free(dpt_step *s);

/* Zeroes gradients, runs forward, loss and backward on B local samples (B may be 0): x is
 * (B, in_steps, F), y per sample or, for a model returning sequences, per step; lengths (B)
 * gives each sample's valid steps (NULL = all).  Returns the model output (B, out_steps, K) so
 * the caller can fill dpt_step_stats() before the reduce. */
const float *dpt_step_compute(dpt_step *s, const float *x, dpt_target y, int B,
                              const int64_t *sample_ids, const int32_t *lengths);
/* The caller's statistics slots (nstats floats) for this step. */
float *dpt_step_stats(dpt_step *s);

/* Outcome of the update. */
typedef enum { DPT_STEP_OK = 0, DPT_STEP_NONFINITE = 1 } dpt_step_status;

/* Collective: allreduce, average, L2, clipping, check, optimizer update.  On a non-finite
 * gradient norm or loss it does not update and returns DPT_STEP_NONFINITE (same on all ranks);
 * *bad_layer then names the first layer whose gradient is not finite (or NULL). */
dpt_step_status dpt_step_update(dpt_step *s, const char **bad_layer);

#endif
