/* The training loop: epochs of data-parallel steps from where the state stands, with the
 * statistics, stop and checkpoint requests reduced together with every step's gradients (one
 * allreduce, named sums: trainer.h), the non-finite policy, validation, the per-epoch report
 * handed to the hooks, and checkpoints. */
#include <stdio.h>
#include <string.h>

#include "core/trace.h"
#include "core/util.h"
#include "parallel/dist.h"
#include "parallel/signals.h"
#include "train/internal.h"
#include "train/trainer.h"

/* Metric sums of this step's outputs (user's units) and the number of rows they cover, into
 * the trainer's slots reduced with the gradients. */
static void step_metrics(dpt_trainer *t, const float *out, const dpt_input_batch *b) {
    int K = t->model.out_features, T = t->model.out_steps, M = t->nmetrics, B = b->B;
    const int32_t *masked = dpt_data_output_lengths(&t->model, b->data, b->row);
    *dpt_step_sums(&t->step, t->sums.rows) = (float)dpt_valid_steps(B, T, masked);
    if (M == 0 || B == 0) return;
    float *metric = dpt_step_sums(&t->step, t->sums.metrics); /* (M) */
    memcpy(t->pred, out, sizeof(float) * (size_t)B * (size_t)T * (size_t)K);
    dpt_outputs_to_predictions(t->loss, &t->ynorm, t->pred, (int64_t)B * T, K);
    dpt_target y = dpt_data_target(b->data, b->row, false);
    for (int i = 0; i < M; i++)
        metric[i] = (float)dpt_metric_sum_steps(t->metrics[i], t->pred, y, B, T, K, masked);
}

/* The stop and checkpoint requests travel with the step's gradients (one allreduce, summed), so
 * every rank takes the same decision after the same step: a signal or a request on any rank
 * stops all; rank 0's clock decides a timed checkpoint. */
static void step_requests(dpt_trainer *t) {
    bool stop = dpt_signal_pending() || t->stop_requested;
    *dpt_step_sums(&t->step, t->sums.stop) = stop ? 1.0f : 0.0f;
    double every = t->cfg.ckpt_every_seconds;
    bool due = dpt_world.rank == 0 && every > 0 && dpt_now_s() - t->last_ckpt >= every;
    *dpt_step_sums(&t->step, t->sums.ckpt) = due ? 1.0f : 0.0f;
}

/* A step whose loss or gradient is not finite updated nothing (dpt_step_update): abort, or skip
 * it and abort after training.max_nonfinite_skips in a row.  Every rank sees the same reduced
 * numbers, so every rank decides alike. */
static void nonfinite(dpt_trainer *t, int epoch, const char *bad) {
    const char *where = bad ? bad : "(none: the loss)";
    if (!t->cfg.nonfinite_skip)
        dpt_fatal("non-finite loss or gradient at step %lld (epoch %d): first non-finite "
                  "gradient in layer %s; lower optimizer.lr or set clip.norm",
                  (long long)t->step.step, epoch + 1, where);
    if (++t->state.nonfinite_skips > t->cfg.max_nonfinite_skips)
        dpt_fatal("non-finite loss or gradient in %d consecutive steps (last at step %lld, epoch "
                  "%d, first non-finite gradient in layer %s): giving up "
                  "(training.max_nonfinite_skips)",
                  t->state.nonfinite_skips, (long long)t->step.step, epoch + 1, where);
    dpt_log0("warning: step %lld (epoch %d) skipped: non-finite loss or gradient (layer %s)\n",
             (long long)t->step.step, epoch + 1, where);
}

/* Row of this rank's epoch order where step s0 starts (the rows of the steps before it). */
static int64_t first_row(const dpt_trainer *t, int64_t s0) {
    int64_t row = 0, pos;
    int B, global;
    for (int64_t s = 0; s < s0; s++) {
        dpt_sampler_slice(&t->sampler, s, &pos, &B, &global);
        row += B;
    }
    return row;
}

/* After a step and its hook: a checkpoint when one is due.  True to stop. */
static bool after_step(dpt_trainer *t) {
    const double *total = t->step.sums.total;
    if (total[t->sums.stop] > 0) return true;
    int every = t->cfg.ckpt_every_steps;
    bool by_steps = every > 0 && t->step.step % every == 0;
    if (by_steps || total[t->sums.ckpt] > 0)
        dpt_trainer_checkpoint(t, by_steps ? "steps" : "timer");
    return false;
}

/* Adds the step's reduced sums to the epoch's totals. */
static void add_step(const dpt_trainer *t, dpt_totals *tr) {
    const double *total = t->step.sums.total;
    tr->loss += t->step.loss_sum;
    for (int i = 0; i < t->nmetrics; i++) tr->metric[i] += total[t->sums.metrics + i];
    tr->samples += t->step.count;
    tr->rows += total[t->sums.rows];
}

/* One step: rows, compute, this rank's sums, the reduce and update. */
static bool one_step(dpt_trainer *t, int epoch, int64_t s, int64_t row, dpt_input_batch *b) {
    dpt_input_batch_get(&t->in, s, row, b);
    const dpt_data *d = b->data;
    const float *out = dpt_step_compute_masked(
        &t->step, dpt_data_x(d, b->row), dpt_data_target(d, b->row, true), b->B, b->ids,
        dpt_data_lengths(d, b->row), dpt_data_output_lengths(&t->model, d, b->row));
    double t1 = dpt_now_s();
    step_metrics(t, out, b);
    dpt_input_batch_done(&t->in);
    step_requests(t);
    dpt_trace_add(&t->trace, DPT_PH_OTHER, t1, dpt_now_s(), t->step.step, 0);
    const char *bad = NULL;
    if (dpt_step_update(&t->step, &bad) == DPT_STEP_OK) {
        t->state.nonfinite_skips = 0;
        return false;
    }
    nonfinite(t, epoch, bad);
    return true;
}

/* Runs epoch `epoch` from step s0 into the totals tr.  Returns true when a stop request ended it
 * early. */
static bool train_epoch(dpt_trainer *t, int epoch, int64_t s0, dpt_totals *tr) {
    int64_t row = first_row(t, s0);
    dpt_train_step_report rep = {
        .epoch = epoch, .steps = t->sampler.steps, .epoch_t0 = dpt_now_s()};
    memset(tr, 0, sizeof *tr);
    for (int64_t s = s0; s < t->sampler.steps; s++) {
        dpt_input_batch b;
        rep.skipped = one_step(t, epoch, s, row, &b);
        add_step(t, tr);
        t->state.step = t->step.step;
        t->state.epoch = epoch;
        t->state.epoch_step = s + 1;
        rep.epoch_step = s + 1;
        rep.step = t->step.step;
        rep.loss = tr->loss / tr->samples;
        if (t->hooks.on_step && t->hooks.on_step(t->hooks.arg, t, &rep)) t->stop_requested = true;
        row += b.B;
        if (after_step(t)) return true;
    }
    return false;
}

/* Names and per-sample / per-row averages of one set of totals (prefix "" or "val_"). */
static int averages(const dpt_trainer *t, const dpt_totals *tot, const char *prefix,
                    char (*names)[48], double *vals) {
    int n = 0;
    snprintf(names[n], 48, "%sloss", prefix);
    vals[n++] = dpt_totals_loss(tot);
    for (int i = 0; i < t->nmetrics; i++) {
        snprintf(names[n], 48, "%s%s", prefix, t->metrics[i]->name);
        vals[n++] = dpt_totals_metric(tot, i);
    }
    return n;
}

/* Where the epoch's time went, the largest value over the ranks: compute (forward, backward,
 * update, metrics), exposed communication (the step waited for allreduces, including for slower
 * ranks), data wait, all allreduce time (overlapped or not), and the epoch's time itself.
 * Collective. */
enum { BRK_COMPUTE, BRK_COMM, BRK_DATA, BRK_ALLREDUCE, BRK_TIME, BRK_N };

static void breakdown(dpt_trainer *t, double dt, double *out) {
    const double *tt = t->trace.total;
    out[BRK_TIME] = dt;
    out[BRK_COMPUTE] =
        tt[DPT_PH_FORWARD] + tt[DPT_PH_BACKWARD] + tt[DPT_PH_UPDATE] + tt[DPT_PH_OTHER];
    out[BRK_COMM] = tt[DPT_PH_COMM_WAIT];
    out[BRK_DATA] = tt[DPT_PH_DATA_WAIT];
    out[BRK_ALLREDUCE] = t->step.comm_trace.total[DPT_PH_ALLREDUCE];
    MPI_Allreduce(MPI_IN_PLACE, out, BRK_N, MPI_DOUBLE, MPI_MAX, dpt_world.comm);
}

#define REPORT_MAX (2 * DPT_MAX_METRICS + 10)

/* The epoch's report (collective) to the on_epoch hook. */
static void report_epoch(dpt_trainer *t, int epoch, const dpt_totals *tr, const dpt_totals *va,
                         double dt) {
    char buf[REPORT_MAX][48];
    const char *names[REPORT_MAX];
    double vals[REPORT_MAX], brk[BRK_N];
    breakdown(t, dt, brk);
    dt = brk[BRK_TIME];
    int n = averages(t, tr, "", buf, vals);
    if (va) n += averages(t, va, "val_", buf + n, vals + n);
    int shown = n;
    static const char *const brk_names[BRK_TIME] = {"compute_s", "comm_exposed_s", "data_wait_s",
                                                    "allreduce_s"};
    snprintf(buf[n], 48, "lr"), vals[n++] = t->step.lr;
    snprintf(buf[n], 48, "samples_per_s"), vals[n++] = tr->samples / dt;
    snprintf(buf[n], 48, "time_s"), vals[n++] = dt;
    for (int i = 0; i < BRK_TIME; i++) snprintf(buf[n], 48, "%s", brk_names[i]), vals[n++] = brk[i];
    for (int i = 0; i < n; i++) names[i] = buf[i];
    dpt_train_epoch_report rep = {.epoch = epoch,
                                  .n = n,
                                  .names = names,
                                  .values = vals,
                                  .shown = shown,
                                  .samples = tr->samples,
                                  .time_s = dt,
                                  .compute_s = brk[BRK_COMPUTE],
                                  .comm_s = brk[BRK_COMM],
                                  .data_wait_s = brk[BRK_DATA]};
    if (t->hooks.on_epoch) t->hooks.on_epoch(t->hooks.arg, t, &rep);
}

/* Stopped by a request: checkpoint, wait for rank 0 to finish writing it. */
static int stop(dpt_trainer *t) {
    int sig = dpt_signal_pending();
    const char *by = sig ? " by " : t->stop_requested ? "" : " on another rank";
    dpt_log0("stop requested%s%s: checkpointing at step %lld (epoch %d) and exiting; continue "
             "with --resume latest\n",
             by, sig ? strsignal(sig) : "", (long long)t->state.step, t->state.epoch + 1);
    dpt_trainer_checkpoint(t, "stop signal");
    MPI_Barrier(dpt_world.comm);
    dpt_trainer_close_trace(t);
    return DPT_EXIT_STOPPED;
}

/* The epochs from where the state stands; DPT_EXIT_OK or DPT_EXIT_STOPPED. */
static int train_epochs(dpt_trainer *t) {
    dpt_totals tr, va;
    int every = t->cfg.ckpt_every_epochs;
    for (int e = t->state.epoch; e < t->cfg.epochs; e++) {
        int64_t s0 = e == t->state.epoch ? t->state.epoch_step : 0;
        double t0 = dpt_now_s();
        dpt_trace_reset_totals(&t->trace);
        dpt_trace_reset_totals(&t->step.comm_trace);
        dpt_input_epoch_begin(&t->in, e, s0);
        if (s0 < t->sampler.steps && train_epoch(t, e, s0, &tr)) return stop(t);
        double dt = dpt_now_s() - t0;
        t->state.epoch = e + 1; /* this epoch is complete */
        t->state.epoch_step = 0;
        if (s0 >= t->sampler.steps) continue; /* resumed at the very end of an epoch */
        if (t->val_path) dpt_input_validate(&t->in, &va);
        report_epoch(t, e, &tr, t->val_path ? &va : NULL, dt);
        dpt_trainer_write_trace(t);
        if (every > 0 && (e + 1) % every == 0 && e + 1 < t->cfg.epochs)
            dpt_trainer_checkpoint(t, "epoch");
    }
    dpt_trainer_checkpoint(t, "end");
    dpt_trainer_close_trace(t);
    return DPT_EXIT_OK;
}

int dpt_trainer_run(dpt_trainer *t) {
    int rc = train_epochs(t);
    dpt_input_free(&t->in); /* ends the streaming thread: HDF5 is the main thread's again */
    return rc;
}
