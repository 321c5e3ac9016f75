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
#include "core/trace.h"
#include "core/util.h"
#include "io/augment.h"
#include "io/h5lock.h"
#include "parallel/dist.h"
#include "parallel/sampler.h"

/* ---- in_memory ---- */

static void read_shard(dpt_data *d, const dpt_input_ctx *cx, const char *path, int64_t lo,
                       int64_t hi) {
    const dpt_config *c = cx->cfg;
    char err[1024];
    int nclasses = cx->info->labels ? cx->model->out_features : 0;
    dpt_h5names names = dpt_config_h5names(c, true);
    if (dpt_h5_read_shard_ds(&d->shard, path, &names, lo, hi, nclasses, dpt_world.comm, err,
                             sizeof err))
        dpt_fatal("%s", err);
    dpt_check_ids(&d->shard, NULL, path, c->x_name, cx->model);
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
static void alloc_epoch(dpt_input *in) {
    const dpt_input_ctx *cx = &in->ctx;
    int64_t cnt = dpt_sampler_epoch_count(cx->sampler);
    size_t rows = (size_t)(cnt > 0 ? cnt : 1);
    size_t xw = dpt_h5info_x_width(cx->info);                    /* elements of x per sample */
    size_t yw = (size_t)cx->info->y_steps * (size_t)cx->info->K; /* floats of y per sample */
    in->perm = dpt_calloc((size_t)cx->n_train, sizeof(int64_t));
    in->need = dpt_calloc(rows, sizeof(int64_t));
    in->ex_x = dpt_alloc_floats(rows * xw);
    if (cx->info->labels)
        in->ex_labels = dpt_calloc(rows * (size_t)cx->info->y_steps, sizeof(int32_t));
    else if (cx->info->has_y) /* not with data.target: input: X is the target */
        in->ex_y = dpt_alloc_floats(rows * yw);
    if (cx->ynorm->enabled) in->ex_yn = dpt_alloc_floats(rows * yw);
    if (cx->info->has_lengths)
        in->ex_lengths = dpt_calloc(rows * (size_t)dpt_h5info_len_width(cx->info), sizeof(int32_t));
    if (cx->info->has_y_lengths) in->ex_y_lengths = dpt_calloc(rows, sizeof(int32_t));
    in->epoch.shard.info = in->train.shard.info;
    in->epoch.shard.nrows = cnt;
    in->epoch.shard.x = in->ex_x;
    in->epoch.shard.y = in->ex_y;
    in->epoch.shard.labels = in->ex_labels;
    in->epoch.shard.lengths = in->ex_lengths;
    in->epoch.shard.y_lengths = in->ex_y_lengths;
    in->epoch.y_norm = in->ex_yn;
}

/* Fetches this rank's rows of the epoch (in->need) of one per-sample array from their owners. */
static void exchange(dpt_input *in, const void *local, size_t row_bytes, int64_t k, void *out) {
    const dpt_input_ctx *cx = &in->ctx;
    const dpt_shard *sh = &in->train.shard;
    dpt_exchange_rows(&in->xch, local, sh->row0, sh->nrows, row_bytes, cx->n_train, in->need, k,
                      out, dpt_world.comm);
}

/* Builds this epoch's consumption order and fetches those rows from their owners. */
static void exchange_epoch(dpt_input *in, int epoch) {
    const dpt_input_ctx *cx = &in->ctx;
    const dpt_config *c = cx->cfg;
    if (c->shuffle)
        dpt_permutation(in->perm, cx->n_train, c->seed, (uint64_t)epoch);
    else
        for (int64_t i = 0; i < cx->n_train; i++) in->perm[i] = i;
    int64_t k = 0;
    for (int64_t s = 0; s < cx->sampler->steps; s++) {
        int64_t pos;
        int count, global;
        dpt_sampler_slice(cx->sampler, s, &pos, &count, &global);
        for (int i = 0; i < count; i++) in->need[k++] = in->perm[pos + i];
    }
    const dpt_shard *sh = &in->train.shard;
    size_t xw = dpt_h5info_x_width(&sh->info), ys = (size_t)sh->info.y_steps;
    size_t yw = ys * (size_t)sh->info.K;
    exchange(in, sh->x, sizeof(float) * xw, k, in->ex_x); /* int32 ids: the same 4 bytes */
    if (sh->labels)
        exchange(in, sh->labels, sizeof(int32_t) * ys, k, in->ex_labels);
    else if (sh->y)
        exchange(in, sh->y, sizeof(float) * yw, k, in->ex_y);
    if (sh->lengths)
        exchange(in, sh->lengths, sizeof(int32_t) * (size_t)dpt_h5info_len_width(&sh->info), k,
                 in->ex_lengths);
    if (sh->y_lengths) exchange(in, sh->y_lengths, sizeof(int32_t), k, in->ex_y_lengths);
    dpt_data_normalise_y(&in->epoch, cx->ynorm); /* x was normalised in the shard */
}

/* ---- streaming ---- */

static void stream_opts(dpt_input *in) {
    const dpt_input_ctx *cx = &in->ctx;
    const dpt_config *c = cx->cfg;
    dpt_stream_opts *o = &in->sopts;
    o->path = c->train_file;
    o->xname = c->x_name;
    o->yname = c->target_input ? NULL : c->y_name;
    o->y_is_x = c->target_input;
    o->lname = c->lengths_name;
    o->ylname = c->y_lengths_name;
    o->ninputs = c->ninputs;
    o->inputs = c->inputs;
    o->nclasses = cx->info->labels ? cx->model->out_features : 0;
    o->block_rows = dpt_stream_block_rows(cx->info, c->block_rows, cx->n_train);
    o->buffer_rows = c->shuffle_buffer > 0 ? c->shuffle_buffer : 4 * o->block_rows;
    o->shuffle = c->shuffle;
    o->seed = c->seed;
    o->sampler = cx->sampler;
    o->depth = c->prefetch;
    o->xnorm = cx->xnorm;
    o->ynorm = cx->ynorm;
    o->epochs = c->epochs;
    o->trace_cap = c->trace ? (size_t)cx->sampler->steps * 4 + 64 : 0;
}

/* Statistics from one streamed pass over the training rows (collective). */
static void fit_streamed(dpt_input *in, bool nx, bool ny) {
    const dpt_input_ctx *cx = &in->ctx;
    char err[1024];
    if (dpt_stream_fit_norms(&in->sopts, 0, cx->n_train, nx ? cx->xnorm : NULL,
                             ny ? cx->ynorm : NULL, dpt_world.comm, err, sizeof err))
        dpt_fatal("%s", err);
}

/* The mid-epoch position of a streamed run is a position in this number of ranks' streams. */
static void check_stream_resume(const dpt_input *in) {
    const dpt_train_state *st = in->ctx.resumed;
    if (!st || st->epoch_step == 0 || st->world_size == dpt_world.size) return;
    dpt_fatal("--resume: the checkpoint is %lld steps into epoch %d of a streamed run on %d "
              "rank(s); data.mode streaming orders rows per rank, so resume on %d rank(s), or "
              "from a checkpoint at an epoch boundary",
              (long long)st->epoch_step, st->epoch + 1, st->world_size, st->world_size);
}

static void open_val_rows(dpt_input *in) {
    const dpt_input_ctx *cx = &in->ctx;
    const dpt_config *c = cx->cfg;
    char err[1024];
    int nclasses = cx->info->labels ? cx->model->out_features : 0;
    dpt_h5names names = dpt_config_h5names(c, true);
    if (dpt_h5rows_open_ds(&in->val_rows, cx->val_path, &names, nclasses, cx->model->max_batch, err,
                           sizeof err))
        dpt_fatal("%s", err);
    dpt_data_alloc(&in->val_chunk, dpt_h5rows_info(in->val_rows), cx->model->max_batch,
                   cx->ynorm->enabled);
}

/* ---- both ---- */

/* data.augment: images only; set up after the statistics (shifted-in pixels are a normalised
 * 0).  Fatal, naming the key, for data it cannot apply to. */
static void setup_augment(dpt_input *in) {
    const dpt_input_ctx *cx = &in->ctx;
    const dpt_config *c = cx->cfg;
    if (!dpt_augment_on(c->aug_flip, c->aug_translate)) return;
    const dpt_shape *x = &cx->info->x_shape;
    char xs[96];
    if (x->rank != 3 || x->dtype != DPT_F32)
        dpt_fatal("%s: data.augment: needs images, X (N, H, W, C) float or uint8, but '%s' in %s "
                  "holds %s per row",
                  c->source, c->x_name, c->train_file, dpt_shape_str(x, xs, sizeof xs));
    if (c->aug_translate >= x->dim[0] || c->aug_translate >= x->dim[1])
        dpt_fatal("%s: data.augment.translate: expected fewer pixels than the images' height and "
                  "width (%d x %d), got %d",
                  c->source, x->dim[0], x->dim[1], c->aug_translate);
    dpt_augment_init(&in->aug, c->aug_flip, c->aug_translate, c->seed, x, cx->xnorm);
    in->augmenting = true;
}

void dpt_input_load(dpt_input *in, const dpt_input_ctx *ctx) {
    in->ctx = *ctx;
    const dpt_input_ctx *cx = &in->ctx;
    const dpt_config *c = cx->cfg;
    bool ny = c->normalize_y < 0 ? (cx->loss->regression && !cx->info->labels) : c->normalize_y;
    if (cx->info->y_is_x) ny = false; /* the targets are X, standardised with xnorm */
    if (ny && cx->info->labels)
        dpt_fatal("%s: data.normalize_y is on but y holds class labels", c->source);
    if (c->streaming) stream_opts(in);
    if (!c->streaming) read_shard(&in->train, cx, c->train_file, 0, cx->n_train);
    if (!c->streaming && cx->val_path)
        read_shard(&in->val, cx, cx->val_path, cx->val_lo, cx->val_hi);
    /* A resumed run keeps the statistics stored in its checkpoint (exactly the same numbers,
     * whatever the number of ranks now). */
    if (!cx->resumed) {
        cx->xnorm->enabled = false;
        cx->ynorm->enabled = false;
        const dpt_shard *tr = &in->train.shard;
        int F = cx->info->F, K = cx->info->K;
        bool nx = c->normalize_x && !dpt_h5info_x_ids(cx->info); /* token ids stay as they are */
        if (c->streaming)
            fit_streamed(in, nx, ny);
        else {
            if (nx) fit_valid(cx->xnorm, tr->x, tr->nrows, cx->info->T, F, tr->lengths);
            if (ny)
                fit_valid(cx->ynorm, tr->y, tr->nrows, cx->info->y_steps, K,
                          dpt_shard_y_step_lengths(tr));
        }
    }
    setup_augment(in);
    if (c->streaming) {
        check_stream_resume(in);
        if (cx->val_path) open_val_rows(in);
        return;
    }
    dpt_data_normalise(&in->train, cx->xnorm, cx->ynorm);
    if (cx->val_path) dpt_data_normalise(&in->val, cx->xnorm, cx->ynorm);
}

void dpt_input_open(dpt_input *in) {
    const dpt_input_ctx *cx = &in->ctx;
    if (!cx->cfg->streaming) {
        alloc_epoch(in);
        return;
    }
    char err[1024];
    in->sopts.augment = in->augmenting ? &in->aug : NULL;
    if (dpt_stream_open(&in->stream, &in->sopts, err, sizeof err)) dpt_fatal("%s", err);
}

void dpt_input_epoch_begin(dpt_input *in, int epoch, int64_t s0) {
    const dpt_input_ctx *cx = &in->ctx;
    double t0 = dpt_now_s();
    in->aug_epoch = epoch;
    if (!cx->cfg->streaming)
        exchange_epoch(in, epoch);
    else if (!in->stream_started) { /* the first epoch of this run: the thread goes on alone */
        dpt_stream_start(in->stream, epoch, s0);
        in->stream_started = true;
    }
    dpt_trace_add(cx->trace, DPT_PH_DATA_WAIT, t0, dpt_now_s(), *cx->step, 0);
}

void dpt_input_batch_get(dpt_input *in, int64_t s, int64_t row, dpt_input_batch *b) {
    const dpt_input_ctx *cx = &in->ctx;
    int64_t pos;
    int global;
    dpt_sampler_slice(cx->sampler, s, &pos, &b->B, &global);
    if (!in->stream) {
        b->data = &in->epoch;
        b->row = row;
        b->ids = in->need + row;
        /* In place: each epoch's rows are exchanged afresh and consumed once. */
        float *x = in->ex_x + (size_t)row * dpt_h5info_x_width(cx->info);
        if (in->augmenting) dpt_augment_apply(&in->aug, x, b->B, b->ids, in->aug_epoch, true);
        return;
    }
    char err[1024];
    double t0 = dpt_now_s();
    const dpt_batch *sb = dpt_stream_next(in->stream, err, sizeof err);
    dpt_trace_add(cx->trace, DPT_PH_DATA_WAIT, t0, dpt_now_s(), *cx->step, 0);
    if (!sb) dpt_fatal("%s", err);
    DPT_ASSERT(sb->step == s && sb->data.shard.nrows == b->B);
    dpt_check_ids(&sb->data.shard, sb->ids, cx->cfg->train_file, cx->cfg->x_name, cx->model);
    b->data = &sb->data;
    b->row = 0;
    b->ids = sb->ids;
}

void dpt_input_batch_done(dpt_input *in) {
    if (in->stream) dpt_stream_release(in->stream);
}

/* Streaming: this rank's validation rows, read and evaluated chunk by chunk. */
static void validate_streamed(dpt_input *in, const dpt_eval *e, dpt_totals *out) {
    const dpt_input_ctx *cx = &in->ctx;
    int P = dpt_world.size, me = dpt_world.rank, M = cx->nmetrics;
    int64_t n = cx->val_hi - cx->val_lo;
    int64_t a = cx->val_lo + dpt_split_lo(n, P, me), b = cx->val_lo + dpt_split_lo(n, P, me + 1);
    dpt_totals part;
    memset(out, 0, sizeof *out);
    for (int64_t row = a; row < b; row += cx->model->max_batch) {
        int64_t k = b - row < cx->model->max_batch ? b - row : cx->model->max_batch;
        char err[1024];
        dpt_h5_lock();
        int rc = dpt_h5rows_read(in->val_rows, row, k, &in->val_chunk.shard, err, sizeof err);
        dpt_h5_unlock();
        if (rc) dpt_fatal("%s", err);
        dpt_check_ids(&in->val_chunk.shard, NULL, cx->val_path, cx->cfg->x_name, cx->model);
        dpt_data *d = &in->val_chunk;
        dpt_norm_apply(cx->xnorm, d->shard.x, k * cx->info->T);
        dpt_data_normalise_y(d, cx->ynorm);
        dpt_eval_sums(cx->model, e, d, cx->pred, &part);
        out->loss += part.loss;
        for (int i = 0; i < M; i++) out->metric[i] += part.metric[i];
        out->samples += part.samples;
        out->rows += part.rows;
    }
}

void dpt_input_validate(dpt_input *in, dpt_totals *out) {
    const dpt_input_ctx *cx = &in->ctx;
    dpt_eval e = {cx->loss, cx->metrics, cx->nmetrics, cx->ynorm};
    if (cx->cfg->streaming)
        validate_streamed(in, &e, out);
    else
        dpt_eval_sums(cx->model, &e, &in->val, cx->pred, out);
    dpt_totals_allreduce(out, cx->nmetrics);
}

/* free() and forget, so freeing twice is harmless. */
static void release(void *pp) {
    void **p = pp;
    free(*p);
    *p = NULL;
}

void dpt_input_free(dpt_input *in) {
    dpt_stream_close(in->stream);
    in->stream = NULL;
    dpt_h5rows_close(in->val_rows);
    in->val_rows = NULL;
    dpt_data_free(&in->val_chunk);
    dpt_shard_free(&in->train.shard);
    dpt_shard_free(&in->val.shard);
    release(&in->train.y_norm);
    release(&in->val.y_norm);
    dpt_exchange_free(&in->xch);
    dpt_augment_free(&in->aug);
    release(&in->perm);
    release(&in->need);
    release(&in->ex_x);
    release(&in->ex_y);
    release(&in->ex_yn);
    release(&in->ex_labels);
    release(&in->ex_lengths);
    release(&in->ex_y_lengths);
}
