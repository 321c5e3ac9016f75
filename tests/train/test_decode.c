/* Decoding (train/decode.c) on a tiny random language model: beam search as wide as all
 * continuations but the last step's finds the sequence of the highest total log probability
 * (checked against every one of the V^T sequences), greedy decoding takes each step's argmax,
 * and exact matching compares tokens and lengths. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "core/model.h"
#include "core/util.h"
#include "train/decode.h"

#include <cmocka.h>

enum { V = 4, T = 3, START = 1 };

static void build(dpt_model *m, int max_batch) {
    char err[512];
    dpt_layer_spec s[3];
    assert_int_equal(dpt_layer_spec_parse(&s[0], "embedding vocab_size=4 dim=3", err, sizeof err),
                     0);
    assert_int_equal(
        dpt_layer_spec_parse(&s[1], "lstm units=5 return_sequences=true", err, sizeof err), 0);
    assert_int_equal(dpt_layer_spec_parse(&s[2], "dense units=4", err, sizeof err), 0);
    dpt_model_input in = {.name = "tokens", .shape = dpt_shape_1d(T)};
    in.shape.dtype = DPT_I32;
    assert_int_equal(dpt_model_build_inputs(m, s, 3, &in, 1, max_batch, err, sizeof err), 0);
    dpt_model_init_params(m, 17);
    for (size_t i = 0; i < m->nparams; i++) m->params[i] *= 40.0f; /* sharp distributions */
}

/* Total log probability of out (T) read after START: the model is causal, so one pass over
 * [START, out0, out1] scores every step. */
static double score(dpt_model *m, const int32_t *out) {
    int32_t x[T] = {START, out[0], out[1]}, len = T;
    dpt_step_ctx ctx = {.lengths = &len};
    const float *lg = dpt_model_forward_rows(m, x, 1, &ctx); /* (1, T, V) */
    double total = 0.0;
    for (int t = 0; t < T; t++) {
        double mx = -INFINITY, sum = 0.0;
        for (int v = 0; v < V; v++) mx = fmax(mx, (double)lg[t * V + v]);
        for (int v = 0; v < V; v++) sum += exp((double)lg[t * V + v] - mx);
        total += (double)lg[t * V + out[t]] - mx - log(sum);
    }
    return total;
}

static void test_a_beam_over_all_continuations_finds_the_most_likely_sequence(void **state) {
    (void)state;
    dpt_model m;
    build(&m, V * V);
    assert_int_equal(dpt_decode_input(&m), 0);
    int32_t best[T] = {0}, s[T];
    double top = -INFINITY;
    for (int code = 0; code < V * V * V; code++) { /* every sequence, brute force */
        s[0] = code % V, s[1] = code / V % V, s[2] = code / (V * V);
        double sc = score(&m, s);
        if (sc > top) top = sc, memcpy(best, s, sizeof best);
    }
    int32_t x[T] = {START, 0, 0}, out[T];
    dpt_decode_opts o = {.end_id = -1, .beam = V * V};
    assert_int_equal(dpt_decode_beam(&m, x, NULL, &o, out), T);
    for (int t = 0; t < T; t++) assert_int_equal(out[t], best[t]);
    /* greedy: each step's argmax given the tokens chosen before */
    int32_t gx[T] = {START, 0, 0}, g[T], glen;
    o.beam = 1;
    dpt_decode_rows(&m, gx, NULL, 1, &o, NULL, g, &glen);
    assert_int_equal(glen, T);
    assert_true(score(&m, g) <= top + 1e-9);
    assert_int_equal(gx[1], g[0]); /* the chosen tokens were fed back */
    assert_int_equal(gx[2], g[1]);
    dpt_model_free(&m);
}

static void test_decoding_stops_at_the_end_token_and_exact_match_compares_lengths(void **state) {
    (void)state;
    dpt_model m;
    build(&m, 2);
    int32_t x[2 * T] = {START, 0, 0, START, 0, 0}, out[2 * T], len[2];
    dpt_decode_opts o = {.end_id = -1, .beam = 1};
    dpt_decode_rows(&m, x, NULL, 2, &o, NULL, out, len);
    o.end_id = out[0]; /* the first token ends the first row at once */
    int32_t x2[2 * T] = {START, 0, 0, START, 0, 0}, out2[2 * T], len2[2];
    dpt_decode_rows(&m, x2, NULL, 2, &o, NULL, out2, len2);
    assert_int_equal(len2[0], 1);
    assert_int_equal(out2[1], 0); /* zeros after the end */
    const int32_t y[3] = {2, 3, 1};
    assert_true(dpt_decode_exact(y, 3, y, 3));
    assert_false(dpt_decode_exact(y, 2, y, 3));
    const int32_t z[3] = {2, 3, 0};
    assert_false(dpt_decode_exact(z, 3, y, 3));
    dpt_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_beam_over_all_continuations_finds_the_most_likely_sequence),
        cmocka_unit_test(test_decoding_stops_at_the_end_token_and_exact_match_compares_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
