/* Fixtures for tests of the trainer library: a small synthetic HDF5 data set, a config for a tiny
 * model (dense, dropout, dense; Adam; validation split; metrics), a run through
 * dpt_trainer_create/run with optional hooks, and a snapshot of what must be bitwise equal
 * between runs (parameters, optimizer state, train state). */
#ifndef DPT_TEST_TRAINER_FIXTURE_H
#define DPT_TEST_TRAINER_FIXTURE_H

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../parallel/mpitest.h"
#include "core/util.h"
#include "parallel/dist.h"
#include "train/trainer.h"

enum { FIX_N = 45, FIX_F = 3, FIX_K = 2 }; /* 36 training rows, 9 validation rows */

static char fix_dir[64]; /* a fresh directory shared by all ranks */

static inline const char *fix_path(const char *name) {
    static char buf[8][256];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, 256, "%s/%s", fix_dir, name);
    return p;
}

static inline void fix_put(hid_t f, const char *name, int ndim, const hsize_t *dims,
                           const float *data) {
    hid_t s = H5Screate_simple(ndim, dims, NULL);
    hid_t d = H5Dcreate2(f, name, H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(d >= 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d);
    H5Sclose(s);
}

/* Rank 0 writes X (FIX_N, FIX_F) and y (FIX_N, FIX_K), a smooth function of X plus a wiggle;
 * huge_row >= 0 gives that row a target of 1e30, whose squared error no float holds (the reader
 * refuses NaN and Inf, so this is how a step becomes non-finite). */
static inline void fix_write_data(const char *path, int huge_row) {
    if (dpt_world.rank == 0) {
        float x[FIX_N * FIX_F], y[FIX_N * FIX_K];
        for (int i = 0; i < FIX_N; i++) {
            for (int j = 0; j < FIX_F; j++) x[i * FIX_F + j] = sinf(0.37f * (float)(i * 3 + j));
            y[i * FIX_K] = x[i * FIX_F] - 0.5f * x[i * FIX_F + 2];
            y[i * FIX_K + 1] = x[i * FIX_F + 1] * x[i * FIX_F + 2] + 0.1f * cosf((float)i);
        }
        if (huge_row >= 0) y[huge_row * FIX_K] = 1e30f;
        hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        CHECK(f >= 0);
        hsize_t dx[2] = {FIX_N, FIX_F}, dy[2] = {FIX_N, FIX_K};
        fix_put(f, "X", 2, dx, x);
        fix_put(f, "y", 2, dy, y);
        H5Fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

/* The config of a run: data file, output directory (checkpoints in <out>/checkpoints), then
 * "key=value" overrides. */
static inline void fix_config(dpt_config *c, const char *data, const char *out,
                              const char *const *sets, int nsets) {
    char yaml[2048], err[1024] = "";
    snprintf(yaml, sizeof yaml,
             "model:\n"
             "  layers:\n"
             "    - {type: dense, units: 8, activation: tanh}\n"
             "    - {type: dropout, rate: 0.25}\n"
             "    - {type: dense, units: %d}\n"
             "loss: mse\n"
             "metrics: [mae]\n"
             "optimizer: {name: adam, lr: 0.01}\n"
             "data:\n"
             "  train: %s\n"
             "  validation_split: 0.2\n"
             "  normalize_x: true\n"
             "training: {epochs: 4, batch_size: 8, seed: 3}\n"
             "checkpoint: {keep: 100}\n"
             "output: {dir: %s}\n",
             FIX_K, data, out);
    CHECK_MSG(dpt_config_load_text(c, yaml, "fixture.yaml", sets, nsets, err, sizeof err) == 0,
              err);
}

/* What two runs must agree on, bit for bit. */
typedef struct fix_snapshot {
    size_t n;
    float *params, *m, *v; /* (n) parameters, optimizer moments (NULL when absent) */
    int64_t opt_t;
    dpt_train_state state;
} fix_snapshot;

static inline float *fix_copy(const float *p, size_t n) {
    if (!p) return NULL;
    float *c = dpt_alloc_floats(n);
    memcpy(c, p, n * sizeof *c);
    return c;
}

static inline fix_snapshot fix_take(const dpt_trainer *t) {
    size_t n = t->model.nparams;
    return (fix_snapshot){n,
                          fix_copy(t->model.params, n),
                          fix_copy(t->optim.m, n),
                          fix_copy(t->optim.v, n),
                          t->optim.t,
                          t->state};
}

static inline void fix_drop(fix_snapshot *s) {
    free(s->params);
    free(s->m);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static inline int fix_same_floats(const float *a, const float *b, size_t n) {
    if (!a || !b) return a == b;
    return memcmp(a, b, n * sizeof *a) == 0;
}

static inline int fix_same(const fix_snapshot *a, const fix_snapshot *b) {
    return a->n == b->n && fix_same_floats(a->params, b->params, a->n) &&
           fix_same_floats(a->m, b->m, a->n) && fix_same_floats(a->v, b->v, a->n) &&
           a->opt_t == b->opt_t && a->state.step == b->state.step &&
           a->state.epoch == b->state.epoch && a->state.epoch_step == b->state.epoch_step;
}

/* One run: create (resume may be NULL), run, snapshot, destroy; returns the run's exit code. */
static inline int fix_run(const char *data, const char *out, const char *const *sets, int nsets,
                          const char *resume, const dpt_train_hooks *hooks, fix_snapshot *snap) {
    dpt_config c;
    fix_config(&c, data, out, sets, nsets);
    dpt_train_options o = {.resume = resume};
    if (hooks) o.hooks = *hooks;
    dpt_trainer *t = dpt_trainer_create(&c, &o);
    int rc = dpt_trainer_run(t);
    if (snap) *snap = fix_take(t);
    dpt_trainer_destroy(t);
    return rc;
}

#endif
