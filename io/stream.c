/* The streaming input thread: replays the stream order on real rows (block reads into a
 * segment buffer, rows through the shuffle buffer into batch buffers), one batch ahead or more. */
#include "io/stream.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "io/h5lock.h"
#include "parallel/stream_order.h"

struct dpt_stream {
    dpt_stream_opts o;
    dpt_h5info info;
    dpt_h5rows *rd;
    dpt_order order;
    dpt_data seg;            /* the block segment last read */
    int64_t seg_g0, seg_len; /* its stream positions */
    dpt_data slots;          /* the shuffle buffer */
    dpt_batch *ring;         /* (depth) */
    dpt_data *ring_rows;     /* (depth) storage behind ring[i].data */
    int head, count;         /* next batch to hand out; batches ready */
    int epoch0;
    int64_t step0;
    pthread_t thread;
    bool started, stop, failed, done; /* done: the thread has produced its last batch */
    pthread_mutex_t mu;
    pthread_cond_t ready, room;
    dpt_trace trace;
    char err[1024];
};

void dpt_data_alloc(dpt_data *d, const dpt_h5info *in, int64_t cap, bool ynorm) {
    size_t n = (size_t)(cap > 0 ? cap : 1);
    dpt_shard *s = &d->shard;
    memset(d, 0, sizeof *d);
    s->info = *in;
    s->x = dpt_alloc_floats(n * dpt_h5info_x_width(in)); /* int32 ids: the same 4 bytes */
    size_t ny = n * (size_t)in->y_steps;
    if (in->has_y && in->labels) s->labels = dpt_calloc(ny, sizeof(int32_t));
    if (in->has_y && !in->labels) s->y = dpt_alloc_floats(ny * (size_t)in->K);
    if (in->has_y && !in->labels && ynorm) d->y_norm = dpt_alloc_floats(ny * (size_t)in->K);
    if (in->has_lengths)
        s->lengths = dpt_calloc(n * (size_t)dpt_h5info_len_width(in), sizeof(int32_t));
    if (in->has_y_lengths) s->y_lengths = dpt_calloc(n, sizeof(int32_t));
}

void dpt_data_normalise_y(dpt_data *d, const dpt_norm *ynorm) {
    const dpt_shard *s = &d->shard;
    if (!d->y_norm || !s->y) return;
    int64_t rows = s->nrows * s->info.y_steps;
    memcpy(d->y_norm, s->y, sizeof(float) * (size_t)rows * (size_t)s->info.K);
    dpt_norm_apply(ynorm, d->y_norm, rows);
}

int64_t dpt_stream_block_rows(const dpt_h5info *in, int64_t requested, int64_t nrows) {
    int64_t b = requested;
    if (b <= 0) {
        int64_t row_bytes = (int64_t)in->T * in->F * (int64_t)sizeof(float), c = in->x_chunk_rows;
        b = (4 << 20) / row_bytes;
        if (c > 0) b = (b + c - 1) / c * c;
    }
    if (b > nrows) b = nrows;
    return b < 1 ? 1 : b;
}

void dpt_data_free(dpt_data *d) {
    dpt_shard_free(&d->shard);
    free(d->y_norm);
    memset(d, 0, sizeof *d);
}

/* Row j of dst = row i of src (x, targets, length). */
static void copy_row(dpt_shard *dst, int64_t j, const dpt_shard *src, int64_t i) {
    const dpt_h5info *in = &src->info;
    size_t xw = dpt_h5info_x_width(in), ys = (size_t)in->y_steps;
    memcpy(dst->x + (size_t)j * xw, src->x + (size_t)i * xw, xw * sizeof(float)); /* or int32 */
    if (src->labels)
        memcpy(dst->labels + (size_t)j * ys, src->labels + (size_t)i * ys, ys * sizeof(int32_t));
    if (src->y) {
        size_t yw = ys * (size_t)in->K;
        memcpy(dst->y + (size_t)j * yw, src->y + (size_t)i * yw, yw * sizeof(float));
    }
    size_t lw = (size_t)dpt_h5info_len_width(in);
    if (src->lengths)
        memcpy(dst->lengths + (size_t)j * lw, src->lengths + (size_t)i * lw, lw * sizeof(int32_t));
    if (src->y_lengths) dst->y_lengths[j] = src->y_lengths[i];
}

/* ---- reading (I/O thread) ---- */

static int read_rows(dpt_stream *st, int64_t row0, int64_t n, int64_t step) {
    double t0 = dpt_now_s();
    dpt_h5_lock();
    int rc = dpt_h5rows_read(st->rd, row0, n, &st->seg.shard, st->err, sizeof st->err);
    dpt_h5_unlock();
    double t1 = dpt_now_s();
    pthread_mutex_lock(&st->mu);
    dpt_trace_add(&st->trace, DPT_PH_READ, t0, t1, step, (uint32_t)n);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* Makes the segment hold stream position g. */
static int load_segment(dpt_stream *st, int64_t g, int64_t step) {
    if (g >= st->seg_g0 && g < st->seg_g0 + st->seg_len) return 0;
    int64_t g0, row0, len;
    dpt_order_segment(&st->order, g, &g0, &row0, &len);
    st->seg_len = 0;
    if (read_rows(st, row0, len, step)) return -1;
    st->seg_g0 = g0;
    st->seg_len = len;
    return 0;
}

/* Loads stream row ev->refill (at position ev->refill_g) into its slot. */
static int refill(dpt_stream *st, const dpt_order_ev *ev, int64_t step) {
    if (load_segment(st, ev->refill_g, step)) return -1;
    copy_row(&st->slots.shard, ev->slot, &st->seg.shard, ev->refill_g - st->seg_g0);
    return 0;
}

/* Resuming mid-epoch: replays k emissions without data, then reads the rows the buffer holds
 * at that point one by one (at most one buffer's worth). */
static int restore(dpt_stream *st, int64_t k, int64_t step) {
    dpt_order_ev ev;
    while (dpt_order_fill(&st->order, &ev)) {
    }
    for (int64_t i = 0; i < k; i++) dpt_order_emit(&st->order, &ev);
    for (int64_t j = 0; j < st->order.filled; j++) {
        if (read_rows(st, st->order.slot[j], 1, step)) return -1;
        copy_row(&st->slots.shard, j, &st->seg.shard, 0);
    }
    st->seg_len = 0;
    return 0;
}

/* Emits this rank's rows of one step into b. */
static int fill_batch(dpt_stream *st, dpt_batch *b, int B) {
    dpt_shard *out = &b->data.shard;
    for (int i = 0; i < B; i++) {
        dpt_order_ev ev;
        dpt_order_emit(&st->order, &ev);
        copy_row(out, i, &st->slots.shard, ev.slot);
        b->ids[i] = ev.row;
        if (ev.refill >= 0 && refill(st, &ev, b->step)) return -1;
        if (ev.move_from >= 0) copy_row(&st->slots.shard, ev.slot, &st->slots.shard, ev.move_from);
    }
    out->nrows = B;
    const dpt_h5info *in = &st->info;
    dpt_norm_apply(st->o.xnorm, out->x, (int64_t)B * in->T);
    dpt_data_normalise_y(&b->data, st->o.ynorm);
    /* Here, off the step's critical path; one thread (this is not an OpenMP thread). */
    if (st->o.augment) dpt_augment_apply(st->o.augment, out->x, B, b->ids, b->epoch, false);
    return 0;
}

/* Waits for a free ring slot; NULL when asked to stop. */
static dpt_batch *wait_room(dpt_stream *st) {
    pthread_mutex_lock(&st->mu);
    while (!st->stop && st->count == (int)st->o.depth) pthread_cond_wait(&st->room, &st->mu);
    dpt_batch *b = st->stop ? NULL : &st->ring[(st->head + st->count) % st->o.depth];
    pthread_mutex_unlock(&st->mu);
    return b;
}

static void publish(dpt_stream *st, bool failed) {
    pthread_mutex_lock(&st->mu);
    if (failed)
        st->failed = true;
    else
        st->count++;
    pthread_cond_broadcast(&st->ready);
    pthread_mutex_unlock(&st->mu);
}

/* One epoch from step s0; -1 on a read error, 1 when stopped. */
static int run_epoch(dpt_stream *st, int epoch, int64_t s0) {
    const dpt_sampler *sm = st->o.sampler;
    dpt_order_epoch(&st->order, (uint64_t)epoch);
    st->seg_len = 0;
    int64_t k = 0, pos;
    int B, global;
    for (int64_t s = 0; s < s0; s++) {
        dpt_sampler_slice(sm, s, &pos, &B, &global);
        k += B;
    }
    dpt_order_ev ev;
    if (k > 0 && restore(st, k, s0)) return -1;
    while (k == 0 && dpt_order_fill(&st->order, &ev))
        if (refill(st, &ev, s0)) return -1;
    for (int64_t s = s0; s < sm->steps; s++) {
        dpt_batch *b = wait_room(st);
        if (!b) return 1;
        dpt_sampler_slice(sm, s, &pos, &B, &global);
        b->epoch = epoch;
        b->step = s;
        if (fill_batch(st, b, B)) return -1;
        publish(st, false);
    }
    return 0;
}

static void *io_main(void *arg) {
    dpt_stream *st = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals belong to the main thread */
    for (int e = st->epoch0; e < st->o.epochs; e++) {
        int rc = run_epoch(st, e, e == st->epoch0 ? st->step0 : 0);
        if (rc < 0) publish(st, true);
        if (rc) break;
    }
    pthread_mutex_lock(&st->mu);
    st->done = true;
    pthread_cond_broadcast(&st->ready);
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/* ---- the training side ---- */

int dpt_stream_open(dpt_stream **out, const dpt_stream_opts *o, char *err, size_t errlen) {
    DPT_ASSERT(o->depth >= 1 && o->block_rows >= 1 && o->sampler);
    dpt_stream *st = dpt_calloc(1, sizeof *st);
    st->o = *o;
    dpt_h5names names = {o->xname, o->yname, o->lname, o->ylname, o->y_is_x, o->ninputs, o->inputs};
    if (dpt_h5rows_open_ds(&st->rd, o->path, &names, o->nclasses, o->block_rows, err, errlen)) {
        free(st);
        return -1;
    }
    st->info = *dpt_h5rows_info(st->rd);
    bool yn = o->ynorm && o->ynorm->enabled;
    dpt_order_init(&st->order, o->sampler->n, o->block_rows, o->buffer_rows, o->shuffle, o->seed,
                   o->sampler);
    dpt_data_alloc(&st->seg, &st->info, o->block_rows, false);
    dpt_data_alloc(&st->slots, &st->info, st->order.cap, false);
    int per_step = (int)dpt_split_lo(o->sampler->batch, o->sampler->size, 1);
    st->ring = dpt_calloc((size_t)o->depth, sizeof *st->ring);
    st->ring_rows = dpt_calloc((size_t)o->depth, sizeof *st->ring_rows);
    for (int i = 0; i < o->depth; i++) {
        dpt_data_alloc(&st->ring_rows[i], &st->info, per_step, yn);
        st->ring[i].data = st->ring_rows[i];
        st->ring[i].ids = dpt_calloc((size_t)per_step, sizeof(int64_t));
    }
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->ready, NULL);
    pthread_cond_init(&st->room, NULL);
    dpt_trace_init(&st->trace, 2, o->trace_cap);
    *out = st;
    return 0;
}

void dpt_stream_start(dpt_stream *st, int epoch, int64_t step) {
    DPT_ASSERT(!st->started);
    st->epoch0 = epoch;
    st->step0 = step;
    st->started = pthread_create(&st->thread, NULL, io_main, st) == 0;
    DPT_ASSERT(st->started);
}

const dpt_batch *dpt_stream_next(dpt_stream *st, char *err, size_t errlen) {
    pthread_mutex_lock(&st->mu);
    while (st->count == 0 && !st->failed && !st->done) pthread_cond_wait(&st->ready, &st->mu);
    const dpt_batch *b = st->count > 0 ? &st->ring[st->head] : NULL;
    if (!b && st->failed) snprintf(err, errlen, "%s", st->err);
    if (!b && !st->failed)
        snprintf(err, errlen, "%s: the streaming thread has no batch left after epoch %d",
                 st->o.path, st->o.epochs);
    pthread_mutex_unlock(&st->mu);
    return b;
}

void dpt_stream_release(dpt_stream *st) {
    pthread_mutex_lock(&st->mu);
    DPT_ASSERT(st->count > 0);
    st->head = (st->head + 1) % st->o.depth;
    st->count--;
    pthread_cond_broadcast(&st->room);
    pthread_mutex_unlock(&st->mu);
}

void dpt_stream_with_trace(dpt_stream *st, void (*fn)(dpt_trace *t, void *arg), void *arg) {
    pthread_mutex_lock(&st->mu);
    fn(&st->trace, arg);
    pthread_mutex_unlock(&st->mu);
}

void dpt_stream_close(dpt_stream *st) {
    if (!st) return;
    if (st->started) {
        pthread_mutex_lock(&st->mu);
        st->stop = true;
        pthread_cond_broadcast(&st->room);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->thread, NULL);
    }
    dpt_h5_lock();
    dpt_h5rows_close(st->rd);
    dpt_h5_unlock();
    dpt_order_free(&st->order);
    dpt_data_free(&st->seg);
    dpt_data_free(&st->slots);
    for (int i = 0; i < st->o.depth; i++) {
        dpt_data_free(&st->ring_rows[i]);
        free(st->ring[i].ids);
    }
    free(st->ring);
    free(st->ring_rows);
    dpt_trace_free(&st->trace);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->ready);
    pthread_cond_destroy(&st->room);
    free(st);
}

/* ---- normalisation statistics in one streamed pass ---- */

/* Running per-column count, mean and sum of squared deviations (Chan et al.'s pairwise
 * update: a block's own mean and deviations, merged into the running ones, all in double). */
typedef struct moments {
    int W;
    double n;
    double *mean, *m2;   /* (W) */
    double *bmean, *bm2; /* (W) scratch for one block */
} moments;

static void moments_init(moments *a, int W) {
    a->W = W;
    a->n = 0;
    a->mean = dpt_calloc((size_t)W * 4, sizeof(double));
    a->m2 = a->mean + W;
    a->bmean = a->m2 + W;
    a->bm2 = a->bmean + W;
}

/* Adds the valid rows of v (rows, steps, W): step t of row b counts when t < lengths[b]. */
static void moments_add(moments *a, const float *v, int64_t rows, int steps,
                        const int32_t *lengths) {
    int W = a->W;
    double nb = 0;
    memset(a->bmean, 0, sizeof(double) * (size_t)W * 2);
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t b = 0; b < rows; b++) {
            int valid = lengths && steps > 1 ? lengths[b] : steps;
            for (int t = 0; t < valid; t++) {
                const float *r = v + ((size_t)b * (size_t)steps + (size_t)t) * (size_t)W;
                if (pass == 0) {
                    nb++;
                    for (int j = 0; j < W; j++) a->bmean[j] += r[j];
                } else {
                    for (int j = 0; j < W; j++) {
                        double d = r[j] - a->bmean[j];
                        a->bm2[j] += d * d;
                    }
                }
            }
        }
        if (pass == 0 && nb > 0)
            for (int j = 0; j < W; j++) a->bmean[j] /= nb;
    }
    if (nb == 0) return;
    double n = a->n + nb;
    for (int j = 0; j < W; j++) {
        double d = a->bmean[j] - a->mean[j];
        a->mean[j] += d * nb / n;
        a->m2[j] += a->bm2[j] + d * d * a->n * nb / n;
    }
    a->n = n;
}

/* Collective: merges every rank's moments and sets the norm. */
static void moments_reduce(moments *a, dpt_norm *out, MPI_Comm comm) {
    int W = a->W;
    double n = a->n;
    MPI_Allreduce(MPI_IN_PLACE, &n, 1, MPI_DOUBLE, MPI_SUM, comm);
    for (int j = 0; j < W; j++) a->bmean[j] = a->mean[j] * a->n; /* sums */
    MPI_Allreduce(MPI_IN_PLACE, a->bmean, W, MPI_DOUBLE, MPI_SUM, comm);
    for (int j = 0; j < W; j++) {
        a->bmean[j] = n > 0 ? a->bmean[j] / n : 0.0;
        double d = a->mean[j] - a->bmean[j];
        a->bm2[j] = a->m2[j] + a->n * d * d;
    }
    MPI_Allreduce(MPI_IN_PLACE, a->bm2, W, MPI_DOUBLE, MPI_SUM, comm);
    dpt_norm_alloc(out, W);
    dpt_norm_set(out, a->bmean, a->bm2, n > 0 ? (int64_t)n : 1);
    free(a->mean);
}

int dpt_stream_fit_norms(const dpt_stream_opts *o, int64_t lo, int64_t hi, dpt_norm *xnorm,
                         dpt_norm *ynorm, MPI_Comm comm, char *err, size_t errlen) {
    int P, r;
    MPI_Comm_size(comm, &P);
    MPI_Comm_rank(comm, &r);
    int64_t a = lo + dpt_split_lo(hi - lo, P, r), b = lo + dpt_split_lo(hi - lo, P, r + 1);
    dpt_h5rows *rd;
    dpt_h5names names = {o->xname, o->yname, o->lname, o->ylname, o->y_is_x, o->ninputs, o->inputs};
    if (dpt_h5rows_open_ds(&rd, o->path, &names, o->nclasses, o->block_rows, err, errlen))
        return -1;
    const dpt_h5info *in = dpt_h5rows_info(rd);
    dpt_data buf;
    dpt_data_alloc(&buf, in, o->block_rows, false);
    moments mx, my;
    moments_init(&mx, in->F);
    moments_init(&my, in->K);
    int rc = 0;
    for (int64_t row = a; row < b && rc == 0; row += o->block_rows) {
        int64_t n = b - row < o->block_rows ? b - row : o->block_rows;
        rc = dpt_h5rows_read(rd, row, n, &buf.shard, err, errlen);
        if (rc) break;
        if (xnorm) moments_add(&mx, buf.shard.x, n, in->T, buf.shard.lengths); /* floats only */
        const int32_t *ylen = dpt_shard_y_step_lengths(&buf.shard);
        if (buf.shard.y) moments_add(&my, buf.shard.y, n, in->y_steps, ylen);
    }
    dpt_data_free(&buf);
    dpt_h5rows_close(rd);
    if (rc) {
        free(mx.mean);
        free(my.mean);
        return -1;
    }
    if (xnorm)
        moments_reduce(&mx, xnorm, comm);
    else
        free(mx.mean);
    if (ynorm)
        moments_reduce(&my, ynorm, comm);
    else
        free(my.mean);
    return 0;
}
