/* The trainer's input pipeline (train/input.h, docs/data.md).  data.mode in_memory: each rank
 * reads its contiguous shard once; before every epoch the rows this rank will consume, in the
 * exact global shuffled order, are exchanged between ranks (results do not depend on the number
 * of ranks).
 * data.mode streaming: an I/O thread per rank reads blocks of rows, shuffles them through a
 * bounded buffer and prepares batches ahead of the step (io/stream.h); statistics and validation
 * are streamed too, so no rank ever holds the dataset. */
#include "train/input.h"

#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/util.h"
#include "io/h5lock.h"
#include "parallel/dist.h"
#include "parallel/sampler.h"
#include "train/trainer.h"

/* ---- in_memory ---- */

static void read_shard(dpt_data *d, const dpt_trainer *r, const char *path, int64_t lo,
                       int64_t hi) {
    const dpt_config *c = &r->cfg;
    char err[1024];
    int nclasses = r->info.labels ? r->model.out_features : 0;
    dpt_h5names names = dpt_config_h5names(c, true);
    if (dpt_h5_read_shard_ds(&d->shard, path, &names, lo, hi, nclasses, dpt_world.comm, err,
                             sizeof err))
        dpt_fatal("%s", err);
}

/* Standardisation statistics per feature over the valid steps of every training sample
 * (padding left out: it is zeros, not data).  Collective. */
static void fit_valid(dpt_norm *n, const float *v, int64_t rows, int steps, int W,
                      const int32_t *lengths) {
    if (!lengths || steps == 1) {
        dpt_norm_fit(n, v, rows * steps, W, dpt_world.comm);
        return;
    }
    int64_t valid = dpt_valid_steps((int)rows, steps, lengths);
    float *buf = dpt_alloc_floats((size_t)(valid > 0 ? valid : 1) * (size_t)W); /* (valid, W) */
    float *p = buf;
    for (int64_t b = 0; b < rows; b++) {
        size_t len = (size_t)lengths[b] * (size_t)W;
        memcpy(p, v + (size_t)b * steps * W, len * sizeof(float));
        p += len;
    }
    dpt_norm_fit(n, buf, valid, W, dpt_world.comm);
    free(buf);
}

/* Buffers for the rows this rank consumes in an epoch, in order (filled by exchange_epoch). */
static void alloc_epoch(dpt_trainer *r) {
    int64_t cnt = dpt_sampler_epoch_count(&r->sampler);
    size_t rows = (size_t)(cnt > 0 ? cnt : 1);
    size_t xw = dpt_h5info_x_width(&r->info);                /* elements of x per sample */
    size_t yw = (size_t)r->info.y_steps * (size_t)r->info.K; /* floats of y per sample */
    r->in.perm = dpt_calloc((size_t)r->n_train, sizeof(int64_t));
    r->in.need = dpt_calloc(rows, sizeof(int64_t));
    r->in.ex_x = dpt_alloc_floats(rows * xw);
    if (r->info.labels)
        r->in.ex_labels = dpt_calloc(rows * (size_t)r->info.y_steps, sizeof(int32_t));
    else
        r->in.ex_y = dpt_alloc_floats(rows * yw);
    if (r->ynorm.enabled) r->in.ex_yn = dpt_alloc_floats(rows * yw);
    if (r->info.has_lengths) r->in.ex_lengths = dpt_calloc(rows, sizeof(int32_t));
    if (r->info.has_y_lengths) r->in.ex_y_lengths = dpt_calloc(rows, sizeof(int32_t));
    r->in.epoch.shard.info = r->in.train.shard.info;
    r->in.epoch.shard.nrows = cnt;
    r->in.epoch.shard.x = r->in.ex_x;
    r->in.epoch.shard.y = r->in.ex_y;
    r->in.epoch.shard.labels = r->in.ex_labels;
    r->in.epoch.shard.lengths = r->in.ex_lengths;
    r->in.epoch.shard.y_lengths = r->in.ex_y_lengths;
    r->in.epoch.y_norm = r->in.ex_yn;
}

/* Fetches this rank's rows of the epoch (r->in.need) of one per-sample array from their owners. */
static void exchange(dpt_trainer *r, const void *local, size_t row_bytes, int64_t k, void *out) {
    const dpt_shard *sh = &r->in.train.shard;
    dpt_exchange_rows(&r->in.xch, local, sh->row0, sh->nrows, row_bytes, r->n_train, r->in.need, k,
                      out, dpt_world.comm);
}

/* Builds this epoch's consumption order and fetches those rows from their owners. */
static void exchange_epoch(dpt_trainer *r, int epoch) {
    const dpt_config *c = &r->cfg;
    if (c->shuffle)
        dpt_permutation(r->in.perm, r->n_train, c->seed, (uint64_t)epoch);
    else
        for (int64_t i = 0; i < r->n_train; i++) r->in.perm[i] = i;
    int64_t k = 0;
    for (int64_t s = 0; s < r->sampler.steps; s++) {
        int64_t pos;
        int count, global;
        dpt_sampler_slice(&r->sampler, s, &pos, &count, &global);
        for (int i = 0; i < count; i++) r->in.need[k++] = r->in.perm[pos + i];
    }
    const dpt_shard *sh = &r->in.train.shard;
    size_t xw = dpt_h5info_x_width(&sh->info), ys = (size_t)sh->info.y_steps;
    size_t yw = ys * (size_t)sh->info.K;
    exchange(r, sh->x, sizeof(float) * xw, k, r->in.ex_x); /* int32 ids: the same 4 bytes */
    if (sh->labels)
        exchange(r, sh->labels, sizeof(int32_t) * ys, k, r->in.ex_labels);
    else
        exchange(r, sh->y, sizeof(float) * yw, k, r->in.ex_y);
    if (sh->lengths) exchange(r, sh->lengths, sizeof(int32_t), k, r->in.ex_lengths);
    if (sh->y_lengths) exchange(r, sh->y_lengths, sizeof(int32_t), k, r->in.ex_y_lengths);
    dpt_data_normalise_y(&r->in.epoch, &r->ynorm); /* x was normalised in the shard */
}

/* ---- streaming ---- */

static void stream_opts(dpt_trainer *r) {
    const dpt_config *c = &r->cfg;
    dpt_stream_opts *o = &r->in.sopts;
    o->path = c->train_file;
    o->xname = c->x_name;
    o->yname = c->y_name;
    o->lname = c->lengths_name;
    o->ylname = c->y_lengths_name;
    o->nclasses = r->info.labels ? r->model.out_features : 0;
    o->block_rows = dpt_stream_block_rows(&r->info, c->block_rows, r->n_train);
    o->buffer_rows = c->shuffle_buffer > 0 ? c->shuffle_buffer : 4 * o->block_rows;
    o->shuffle = c->shuffle;
    o->seed = c->seed;
    o->sampler = &r->sampler;
    o->depth = c->prefetch;
    o->xnorm = &r->xnorm;
    o->ynorm = &r->ynorm;
    o->epochs = c->epochs;
    o->trace_cap = c->trace ? (size_t)r->sampler.steps * 4 + 64 : 0;
}

/* Statistics from one streamed pass over the training rows (collective). */
static void fit_streamed(dpt_trainer *r, bool nx, bool ny) {
    char err[1024];
    if (dpt_stream_fit_norms(&r->in.sopts, 0, r->n_train, nx ? &r->xnorm : NULL,
                             ny ? &r->ynorm : NULL, dpt_world.comm, err, sizeof err))
        dpt_fatal("%s", err);
}

/* The mid-epoch position of a streamed run is a position in this number of ranks' streams. */
static void check_stream_resume(const dpt_trainer *r) {
    if (!r->resume || r->state.epoch_step == 0 || r->state.world_size == dpt_world.size) return;
    dpt_fatal("--resume: the checkpoint is %lld steps into epoch %d of a streamed run on %d "
              "rank(s); data.mode streaming orders rows per rank, so resume on %d rank(s), or "
              "from a checkpoint at an epoch boundary",
              (long long)r->state.epoch_step, r->state.epoch + 1, r->state.world_size,
              r->state.world_size);
}

static void open_val_rows(dpt_trainer *r) {
    const dpt_config *c = &r->cfg;
    char err[1024];
    int nclasses = r->info.labels ? r->model.out_features : 0;
    dpt_h5names names = dpt_config_h5names(c, true);
    if (dpt_h5rows_open_ds(&r->in.val_rows, r->val_path, &names, nclasses, r->model.max_batch, err,
                           sizeof err))
        dpt_fatal("%s", err);
    dpt_data_alloc(&r->in.val_chunk, dpt_h5rows_info(r->in.val_rows), r->model.max_batch,
                   r->ynorm.enabled);
}

/* ---- both ---- */

static void check_val_file(dpt_trainer *r) {
    const dpt_config *c = &r->cfg;
    char err[1024];
    dpt_h5info vi;
    dpt_h5names names = dpt_config_h5names(c, true);
    if (dpt_h5_inspect_ds(&vi, c->val_file, &names, dpt_world.comm, err, sizeof err))
        dpt_fatal("%s", err);
    if (vi.F != r->info.F || vi.T != r->info.T)
        dpt_fatal("%s: '%s' has %d steps x %d features but the training data has %d x %d",
                  c->val_file, c->x_name, vi.T, vi.F, r->info.T, r->info.F);
    dpt_check_x(&vi, c->val_file, c->x_name, &r->model, NULL); /* shape and element type */
    dpt_check_targets(&vi, c->val_file, c->x_name, c->y_name, r->loss, &r->model);
    dpt_check_metrics(&vi, c->val_file, c->y_name, r->metrics, r->nmetrics);
    r->val_path = c->val_file;
    r->val_lo = 0;
    r->val_hi = r->n_val = vi.n;
}

void dpt_input_load(dpt_trainer *r) {
    const dpt_config *c = &r->cfg;
    if (c->val_file[0]) check_val_file(r);
    bool ny = c->normalize_y < 0 ? (r->loss->regression && !r->info.labels) : c->normalize_y;
    if (ny && r->info.labels)
        dpt_fatal("%s: data.normalize_y is on but y holds class labels", c->source);
    if (c->streaming) stream_opts(r);
    if (!c->streaming) read_shard(&r->in.train, r, c->train_file, 0, r->n_train);
    if (!c->streaming && r->val_path) read_shard(&r->in.val, r, r->val_path, r->val_lo, r->val_hi);
    /* A resumed run keeps the statistics stored in its checkpoint (exactly the same numbers,
     * whatever the number of ranks now). */
    if (!r->resume) {
        r->xnorm.enabled = false;
        r->ynorm.enabled = false;
        const dpt_shard *tr = &r->in.train.shard;
        int F = r->info.F, K = r->info.K;
        bool nx = c->normalize_x && !dpt_h5info_x_ids(&r->info); /* token ids stay as they are */
        if (c->streaming)
            fit_streamed(r, nx, ny);
        else {
            if (nx) fit_valid(&r->xnorm, tr->x, tr->nrows, r->info.T, F, tr->lengths);
            if (ny)
                fit_valid(&r->ynorm, tr->y, tr->nrows, r->info.y_steps, K,
                          dpt_shard_y_step_lengths(tr));
        }
    }
    if (c->streaming) {
        check_stream_resume(r);
        if (r->val_path) open_val_rows(r);
        return;
    }
    dpt_data_normalise(&r->in.train, &r->xnorm, &r->ynorm);
    if (r->val_path) dpt_data_normalise(&r->in.val, &r->xnorm, &r->ynorm);
}

void dpt_input_open(dpt_trainer *r) {
    if (!r->cfg.streaming) {
        alloc_epoch(r);
        return;
    }
    char err[1024];
    if (dpt_stream_open(&r->in.stream, &r->in.sopts, err, sizeof err)) dpt_fatal("%s", err);
}

void dpt_input_epoch_begin(dpt_trainer *r, int epoch, int64_t s0) {
    double t0 = dpt_now_s();
    if (!r->cfg.streaming)
        exchange_epoch(r, epoch);
    else if (!r->in.stream_started) { /* the first epoch of this run: the thread goes on alone */
        dpt_stream_start(r->in.stream, epoch, s0);
        r->in.stream_started = true;
    }
    dpt_trace_add(&r->trace, DPT_PH_DATA_WAIT, t0, dpt_now_s(), r->step.step, 0);
}

void dpt_input_batch_get(dpt_trainer *r, int64_t s, int64_t row, dpt_input_batch *b) {
    int64_t pos;
    int global;
    dpt_sampler_slice(&r->sampler, s, &pos, &b->B, &global);
    if (!r->in.stream) {
        b->data = &r->in.epoch;
        b->row = row;
        b->ids = r->in.need + row;
        return;
    }
    char err[1024];
    double t0 = dpt_now_s();
    const dpt_batch *sb = dpt_stream_next(r->in.stream, err, sizeof err);
    dpt_trace_add(&r->trace, DPT_PH_DATA_WAIT, t0, dpt_now_s(), r->step.step, 0);
    if (!sb) dpt_fatal("%s", err);
    DPT_ASSERT(sb->step == s && sb->data.shard.nrows == b->B);
    b->data = &sb->data;
    b->row = 0;
    b->ids = sb->ids;
}

void dpt_input_batch_done(dpt_trainer *r) {
    if (r->in.stream) dpt_stream_release(r->in.stream);
}

/* Streaming: this rank's validation rows, read and evaluated chunk by chunk. */
static void validate_streamed(dpt_trainer *r, const dpt_eval *e, dpt_totals *out) {
    int P = dpt_world.size, me = dpt_world.rank, M = r->nmetrics;
    int64_t n = r->val_hi - r->val_lo;
    int64_t a = r->val_lo + dpt_split_lo(n, P, me), b = r->val_lo + dpt_split_lo(n, P, me + 1);
    dpt_totals part;
    memset(out, 0, sizeof *out);
    for (int64_t row = a; row < b; row += r->model.max_batch) {
        int64_t k = b - row < r->model.max_batch ? b - row : r->model.max_batch;
        char err[1024];
        dpt_h5_lock();
        int rc = dpt_h5rows_read(r->in.val_rows, row, k, &r->in.val_chunk.shard, err, sizeof err);
        dpt_h5_unlock();
        if (rc) dpt_fatal("%s", err);
        dpt_data *d = &r->in.val_chunk;
        dpt_norm_apply(&r->xnorm, d->shard.x, k * r->info.T);
        dpt_data_normalise_y(d, &r->ynorm);
        dpt_eval_sums(&r->model, e, d, r->pred, &part);
        out->loss += part.loss;
        for (int i = 0; i < M; i++) out->metric[i] += part.metric[i];
        out->samples += part.samples;
        out->rows += part.rows;
    }
}

void dpt_input_validate(dpt_trainer *r, dpt_totals *out) {
    dpt_eval e = {r->loss, r->metrics, r->nmetrics, &r->ynorm};
    if (r->cfg.streaming)
        validate_streamed(r, &e, out);
    else
        dpt_eval_sums(&r->model, &e, &r->in.val, r->pred, out);
    dpt_totals_allreduce(out, r->nmetrics);
}

/* free() and forget, so freeing twice is harmless. */
static void release(void *pp) {
    void **p = pp;
    free(*p);
    *p = NULL;
}

void dpt_input_free(dpt_trainer *r) {
    dpt_stream_close(r->in.stream);
    r->in.stream = NULL;
    dpt_h5rows_close(r->in.val_rows);
    r->in.val_rows = NULL;
    dpt_data_free(&r->in.val_chunk);
    dpt_shard_free(&r->in.train.shard);
    dpt_shard_free(&r->in.val.shard);
    release(&r->in.train.y_norm);
    release(&r->in.val.y_norm);
    dpt_exchange_free(&r->in.xch);
    release(&r->in.perm);
    release(&r->in.need);
    release(&r->in.ex_x);
    release(&r->in.ex_y);
    release(&r->in.ex_yn);
    release(&r->in.ex_labels);
    release(&r->in.ex_lengths);
    release(&r->in.ex_y_lengths);
}
