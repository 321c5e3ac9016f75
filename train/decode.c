/* Autoregressive decoding: greedy, sampled and beam search (train/decode.h). */
#include "train/decode.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

int dpt_decode_input(const dpt_model *m) {
    int k = m->len_origin[m->nlayers - 1];
    if (k < 0) return -1;
    const dpt_shape *in = &m->inputs[k].shape;
    if (in->dtype != DPT_I32 || in->rank != 1 || in->dim[0] != m->out_steps) return -1;
    return k;
}

int32_t dpt_decode_pick(const float *logits, int V, const dpt_decode_opts *o, dpt_rng *rng) {
    int best = 0;
    for (int v = 1; v < V; v++)
        if (logits[v] > logits[best]) best = v;
    if (o->temperature <= 0.0f || !rng) return best;
    /* p_v = exp((l_v - l_max) / T) / sum: in double, so that small probabilities still count */
    double sum = 0.0, inv = 1.0 / (double)o->temperature;
    for (int v = 0; v < V; v++) sum += exp(((double)logits[v] - (double)logits[best]) * inv);
    double u = (double)dpt_rng_uniform(rng) * sum, acc = 0.0;
    for (int v = 0; v < V; v++) {
        acc += exp(((double)logits[v] - (double)logits[best]) * inv);
        if (u < acc) return v;
    }
    return best;
}

/* lengths (B, ninputs) to decode with: the data's, or every input's full steps. */
static int32_t *decode_lengths(const dpt_model *m, const int32_t *given, int B) {
    int nin = m->ninputs;
    int32_t *lens = dpt_calloc((size_t)B * (size_t)nin, sizeof *lens);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < nin; j++) {
            const dpt_shape *sh = &m->inputs[j].shape;
            lens[(size_t)b * nin + j] =
                given ? given[(size_t)b * nin + j]
                      : (sh->rank >= 2 || sh->dtype == DPT_I32 ? sh->dim[0] : 1);
        }
    return lens;
}

void dpt_decode_rows(dpt_model *m, void *x, int32_t *lengths, int B, const dpt_decode_opts *o,
                     dpt_rng *rng, int32_t *out, int32_t *out_len) {
    int k = dpt_decode_input(m), T = m->out_steps, V = m->out_features, nin = m->ninputs;
    DPT_ASSERT(k >= 0 && B >= 1 && B <= m->max_batch);
    size_t W = m->in_width, off = m->inputs[k].offset;
    int32_t *xi = x; /* (B, W): input k's steps are int32 */
    int32_t *lens = decode_lengths(m, lengths, B);
    bool *done = dpt_calloc((size_t)B, sizeof *done);
    for (int b = 0; b < B; b++) out_len[b] = 0;
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++) lens[(size_t)b * nin + k] = t + 1;
        dpt_step_ctx ctx = {.training = false, .lengths = lens};
        const float *logits = dpt_model_forward_rows(m, x, B, &ctx); /* (B, T, V) */
        for (int b = 0; b < B; b++) {
            if (done[b]) {
                out[(size_t)b * T + t] = 0;
                continue;
            }
            int32_t tok = dpt_decode_pick(logits + ((size_t)b * T + t) * V, V, o, rng);
            out[(size_t)b * T + t] = tok;
            out_len[b] = t + 1;
            if (tok == o->end_id)
                done[b] = true;
            else if (t + 1 < T)
                xi[(size_t)b * W + off + (size_t)t + 1] = tok;
        }
    }
    if (lengths)
        for (int b = 0; b < B; b++) lengths[(size_t)b * nin + k] = out_len[b] > 0 ? out_len[b] : 1;
    free(lens);
    free(done);
}

/* ---- beam search ---- */

typedef struct beam {
    int n;         /* live hypotheses */
    int32_t *x;    /* (width, W) their input rows */
    int32_t *toks; /* (width, T) their tokens so far */
    double *score; /* (width) total log probability */
    int32_t *lens; /* (width, ninputs) */
} beam;

static void beam_alloc(beam *b, int width, size_t W, int T, int nin) {
    b->n = 0;
    b->x = dpt_calloc((size_t)width * W, sizeof *b->x);
    b->toks = dpt_calloc((size_t)width * (size_t)T, sizeof *b->toks);
    b->score = dpt_calloc((size_t)width, sizeof *b->score);
    b->lens = dpt_calloc((size_t)width * (size_t)nin, sizeof *b->lens);
}

static void beam_free(beam *b) {
    free(b->x);
    free(b->toks);
    free(b->score);
    free(b->lens);
}

/* log softmax of one step's logits (V) into lp. */
static void log_softmax(const float *logits, int V, double *lp) {
    double mx = -DBL_MAX, sum = 0.0;
    for (int v = 0; v < V; v++) mx = (double)logits[v] > mx ? (double)logits[v] : mx;
    for (int v = 0; v < V; v++) sum += exp((double)logits[v] - mx);
    double lse = mx + log(sum);
    for (int v = 0; v < V; v++) lp[v] = (double)logits[v] - lse;
}

/* The best `width` expansions (hypothesis h, token v) by score, highest first. */
typedef struct cand {
    double score;
    int h, v;
} cand;

static void keep_best(cand *best, int *nbest, int width, cand c) {
    int i;
    if (*nbest < width) {
        i = (*nbest)++;
    } else {
        if (best[width - 1].score >= c.score) return; /* not among the best */
        i = width - 1;
    }
    best[i] = c;
    for (; i > 0 && best[i - 1].score < best[i].score; i--) {
        cand tmp = best[i - 1];
        best[i - 1] = best[i];
        best[i] = tmp;
    }
}

int dpt_decode_beam(dpt_model *m, const void *x1, const int32_t *lengths1, const dpt_decode_opts *o,
                    int32_t *out) {
    int k = dpt_decode_input(m), T = m->out_steps, V = m->out_features, nin = m->ninputs;
    int width = o->beam;
    DPT_ASSERT(k >= 0 && width >= 1 && width <= m->max_batch);
    size_t W = m->in_width, off = m->inputs[k].offset;
    beam cur, next;
    beam_alloc(&cur, width, W, T, nin);
    beam_alloc(&next, width, W, T, nin);
    memcpy(cur.x, x1, W * sizeof *cur.x);
    int32_t *l0 = decode_lengths(m, lengths1, 1);
    memcpy(cur.lens, l0, (size_t)nin * sizeof *l0);
    free(l0);
    cur.n = 1;
    double *lp = dpt_calloc((size_t)V, sizeof *lp), best_done = -DBL_MAX;
    cand *best = dpt_calloc((size_t)width, sizeof *best);
    int done_len = 0;
    for (int t = 0; t < T && cur.n > 0; t++) {
        for (int h = 0; h < cur.n; h++) cur.lens[(size_t)h * nin + k] = t + 1;
        dpt_step_ctx ctx = {.training = false, .lengths = cur.lens};
        const float *logits = dpt_model_forward_rows(m, cur.x, cur.n, &ctx);
        int nbest = 0;
        for (int h = 0; h < cur.n; h++) {
            log_softmax(logits + ((size_t)h * T + t) * V, V, lp);
            for (int v = 0; v < V; v++)
                keep_best(best, &nbest, width, (cand){cur.score[h] + lp[v], h, v});
        }
        next.n = 0;
        for (int i = 0; i < nbest; i++) {
            const cand *c = &best[i];
            bool ends = c->v == o->end_id || t == T - 1;
            if (ends) { /* a finished hypothesis: the best one so far is kept */
                if (c->score > best_done) {
                    best_done = c->score;
                    memcpy(out, cur.toks + (size_t)c->h * T, (size_t)t * sizeof *out);
                    out[t] = c->v;
                    done_len = t + 1;
                }
                continue;
            }
            int n = next.n++;
            memcpy(next.x + (size_t)n * W, cur.x + (size_t)c->h * W, W * sizeof *next.x);
            next.x[(size_t)n * W + off + (size_t)t + 1] = c->v;
            memcpy(next.toks + (size_t)n * T, cur.toks + (size_t)c->h * T,
                   (size_t)T * sizeof(int32_t));
            next.toks[(size_t)n * T + t] = c->v;
            next.score[n] = c->score;
            memcpy(next.lens + (size_t)n * nin, cur.lens + (size_t)c->h * nin,
                   (size_t)nin * sizeof(int32_t));
        }
        /* log probabilities only fall: a live hypothesis below the best finished one never
         * overtakes it */
        if (next.n > 0 && best_done >= next.score[0]) next.n = 0;
        beam tmp = cur;
        cur = next;
        next = tmp;
    }
    for (int t = done_len; t < T; t++) out[t] = 0;
    free(lp);
    free(best);
    beam_free(&cur);
    beam_free(&next);
    return done_len;
}

bool dpt_decode_exact(const int32_t *tokens, int n_out, const int32_t *y, int y_len) {
    if (n_out != y_len) return false;
    for (int t = 0; t < y_len; t++)
        if (tokens[t] != y[t]) return false;
    return true;
}
