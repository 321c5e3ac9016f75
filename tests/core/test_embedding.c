/* The embedding layer: what it refuses, its shapes, forward as a row lookup, backward as a
 * scatter-add (against central differences and a plain loop, bitwise at 1, 2 and 4 threads),
 * repeated ids, the padding row, a frozen table, and the time axis it keeps in a model. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "core/model.h"
#include "core/util.h"
#include "core_check.h"
#include "layer_harness.h"

/* (T) int32 ids, or (T, 1) with one_col. */
static const dpt_shape *ids_shape(int T, bool one_col) {
    static dpt_shape bufs[4];
    static int next;
    dpt_shape *s = &bufs[next++ % 4];
    *s = one_col ? dpt_shape_2d(T, 1) : dpt_shape_1d(T);
    s->dtype = DPT_I32;
    return s;
}

static const char *shape_text(const dpt_shape *s) {
    static char buf[64];
    return dpt_shape_str(s, buf, sizeof buf);
}

/* ids (n) uniform in [0, V) from a fixed stream. */
static void fill_ids(int32_t *ids, size_t n, int V, uint64_t stream) {
    dpt_rng rng;
    dpt_rng_seed(&rng, 777, stream);
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)dpt_rng_below(&rng, (uint64_t)V);
}

static void test_embedding_refuses_float_input_bad_shapes_and_bad_keys(void **state) {
    (void)state;
    dpt_layer l;
    char err[512] = "";
    dpt_layer_spec s = harness_spec("embedding vocab_size=10 dim=4");
    assert_int_equal(harness_build(&l, &s, 5, 1, 0, err, sizeof err), -1);
    assert_string_equal(err, "embedding reads int32 token ids, got (5) float32 input");
    dpt_shape wide = dpt_shape_2d(6, 3), im = dpt_shape_3d(2, 3, 1);
    wide.dtype = im.dtype = DPT_I32;
    assert_int_equal(harness_build_shape(&l, &s, &wide, 0, err, sizeof err), -1);
    assert_string_equal(err,
                        "embedding reads one token id per step, (T) or (T, 1) int32, got (6, 3) "
                        "int32");
    assert_int_equal(harness_build_shape(&l, &s, &im, 0, err, sizeof err), -1);
    assert_contains(err, "got (2, 3, 1) int32");
    /* padding_id must name a row of the table. */
    dpt_layer_spec p = harness_spec("embedding vocab_size=10 dim=4 padding_id=10");
    assert_int_equal(harness_build_shape(&l, &p, ids_shape(6, false), 0, err, sizeof err), -1);
    assert_string_equal(err, "padding_id 10 is outside the vocabulary [0, 10)");
    /* Keys are validated where they are set. */
    assert_int_equal(dpt_layer_spec_set(&s, "vocab_size", "0", err, sizeof err), -1);
    assert_contains(err, "vocab_size: expected an integer >= 1, got '0'");
    assert_int_equal(dpt_layer_spec_set(&s, "dim", "-3", err, sizeof err), -1);
    assert_contains(err, "dim: expected an integer >= 1");
    assert_int_equal(dpt_layer_spec_set(&s, "padding_id", "-2", err, sizeof err), -1);
    assert_contains(err, "padding_id: expected an integer >= -1");
    assert_int_equal(dpt_layer_spec_set(&s, "embeddings_init", "lecun", err, sizeof err), -1);
    assert_contains(err, "embeddings_init: expected one of: zeros, ones, uniform");
    assert_int_equal(dpt_layer_spec_set(&s, "trainable", "maybe", err, sizeof err), -1);
    assert_int_equal(dpt_layer_spec_set(&s, "units", "3", err, sizeof err), -1);
    assert_contains(err, "units");
    /* Defaults as the docs give them. */
    assert_string_equal(harness_value(&s, "padding_id"), "-1");
    assert_string_equal(harness_value(&s, "trainable"), "true");
    assert_string_equal(harness_value(&s, "weights"), "");
}

/* (T) and (T, 1) ids give (T, D); one id per sample gives (D); the table is (V, D). */
static void test_embedding_shapes_and_table(void **state) {
    (void)state;
    dpt_layer l;
    char err[512] = "";
    dpt_layer_spec s = harness_spec("embedding vocab_size=10 dim=4");
    assert_int_equal(harness_build_shape(&l, &s, ids_shape(7, false), 0, err, sizeof err), 0);
    assert_string_equal(shape_text(&l.out_shape), "(7, 4) float32");
    assert_int_equal(harness_build_shape(&l, &s, ids_shape(7, true), 0, err, sizeof err), 0);
    assert_string_equal(shape_text(&l.out_shape), "(7, 4) float32");
    assert_int_equal(harness_build_shape(&l, &s, ids_shape(1, false), 0, err, sizeof err), 0);
    assert_string_equal(shape_text(&l.out_shape), "(4) float32");
    assert_int_equal(l.ntensors, 1);
    assert_string_equal(l.tensors[0].name, "W");
    assert_int_equal(l.tensors[0].dim[0], 10);
    assert_int_equal(l.tensors[0].dim[1], 4);
    assert_true(l.tensors[0].decay);
    /* A frozen table takes no L2 either (its gradient would move it). */
    harness_set(&s, "trainable", "false");
    assert_int_equal(harness_build_shape(&l, &s, ids_shape(7, false), 0, err, sizeof err), 0);
    assert_false(l.tensors[0].decay);
}

/* Keras's default U(-0.05, 0.05); init_scale 1 with normal is PyTorch's N(0, 1); the padding
 * row starts at exactly zero whatever the initialiser. */
static void test_embedding_init_keras_default_and_zero_padding_row(void **state) {
    (void)state;
    enum { V = 50, D = 8 };
    dpt_layer l;
    dpt_layer_spec s = harness_spec("embedding vocab_size=50 dim=8 padding_id=3");
    harness_make_shape(&l, &s, ids_shape(5, false), 0, 1);
    dpt_rng rng;
    dpt_rng_seed(&rng, 1, 0);
    l.type->init(&l, &rng);
    float lo = 1, hi = -1;
    for (int i = 0; i < V * D; i++) {
        if (i / D == 3) {
            assert_true(l.params[i] == 0.0f);
            continue;
        }
        lo = l.params[i] < lo ? l.params[i] : lo;
        hi = l.params[i] > hi ? l.params[i] : hi;
    }
    assert_true(lo >= -0.05f && hi <= 0.05f);
    assert_true(lo < -0.04f && hi > 0.04f); /* 392 draws reach the ends of the interval */
    harness_free(&l);
    dpt_layer_spec n = harness_spec("embedding vocab_size=50 dim=8 padding_id=0 "
                                    "embeddings_init=normal init_scale=1");
    harness_make_shape(&l, &n, ids_shape(5, false), 0, 1);
    dpt_rng_seed(&rng, 1, 0);
    l.type->init(&l, &rng);
    double sumsq = 0;
    for (int i = D; i < V * D; i++) sumsq += (double)l.params[i] * l.params[i];
    assert_near(sumsq / (V * D - D), 1.0, 0.25); /* 392 draws of N(0, 1): sd of the mean ~0.07 */
    for (int j = 0; j < D; j++) assert_true(l.params[j] == 0.0f);
    harness_free(&l);
}

/* Forward copies rows: the output's bits are the table's. */
static void test_embedding_forward_is_a_row_lookup(void **state) {
    (void)state;
    enum { V = 6, D = 3, T = 4, B = 2 };
    dpt_layer l;
    dpt_layer_spec s = harness_spec("embedding vocab_size=6 dim=3");
    harness_make_shape(&l, &s, ids_shape(T, true), 0, B);
    for (int i = 0; i < V * D; i++) l.params[i] = (float)i + 0.25f;
    const int32_t ids[B * T] = {5, 0, 2, 2, 1, 5, 4, 3};
    float y[B * T * D];
    l.type->forward(&l, (const float *)(const void *)ids, y, B, NULL);
    for (int r = 0; r < B * T; r++)
        assert_memory_equal(y + r * D, l.params + ids[r] * D, D * sizeof(float));
    harness_free(&l);
}

/* loss = sum(r * y) is linear in W: its central differences in a table entry are the sum of r
 * over the rows that looked that entry up, which backward's scatter-add must give. */
static void test_embedding_table_gradient_matches_central_differences(void **state) {
    (void)state;
    enum { V = 9, D = 5, T = 6, B = 3, N = B * T };
    dpt_layer l;
    dpt_layer_spec s = harness_spec("embedding vocab_size=9 dim=5 padding_id=4");
    harness_make_shape(&l, &s, ids_shape(T, false), 0, B);
    fill_uniform(l.params, V * D, -0.5f, 0.5f, 1);
    const int32_t ids[N] = {1, 4, 7, 1, 1, 0, 8, 4, 3, 7, 2, 2, 0, 1, 4, 3, 8, 8}; /* no 5, 6 */
    float r[N * D], y[N * D];
    fill_uniform(r, N * D, -1.0f, 1.0f, 2);
    memset(l.grads, 0, V * D * sizeof(float));
    const float *x = (const float *)(const void *)ids;
    l.type->forward(&l, x, y, B, NULL);
    l.type->backward(&l, x, y, r, NULL, B, NULL);
    const float h = 1e-2f;
    for (int id = 0; id < V; id++)
        for (int j = 0; j < D; j += 2) {
            float *w = &l.params[id * D + j], w0 = *w, up = w0 + h, down = w0 - h;
            double f[2];
            for (int k = 0; k < 2; k++) {
                *w = k ? down : up;
                l.type->forward(&l, x, y, B, NULL);
                f[k] = 0;
                for (int i = 0; i < N * D; i++) f[k] += (double)r[i] * y[i];
            }
            *w = w0;
            double num = (f[0] - f[1]) / ((double)up - (double)down);
            /* The padding row gets no gradient (PyTorch's padding_idx), though the loss moves. */
            double want = id == 4 ? 0.0 : num;
            /* A sum of up to 4 float r's in dW against the same terms summed in double over the
             * exact step: a few ulp of 4 * 1.0, <= 1e-6. */
            assert_near(l.grads[id * D + j], want, 1e-6);
            if (id == 5 || id == 6) assert_true(l.grads[id * D + j] == 0.0f);
        }
    harness_free(&l);
}

/* Every occurrence adds, in (sample, step) order; exact in binary fractions. */
static void test_embedding_repeated_ids_accumulate(void **state) {
    (void)state;
    enum { D = 2, T = 3, B = 2, N = B * T };
    dpt_layer l;
    dpt_layer_spec s = harness_spec("embedding vocab_size=4 dim=2");
    harness_make_shape(&l, &s, ids_shape(T, false), 0, B);
    const int32_t ids[N] = {2, 2, 0, 2, 3, 2};
    const float dy[N * D] = {1, 0.5f, 2, 0.25f, 7, 7, 4, 0.125f, 9, 9, 8, -1};
    float y[N * D];
    for (int i = 0; i < 4 * D; i++) l.grads[i] = 100.0f; /* backward adds to what is there */
    l.type->forward(&l, (const float *)(const void *)ids, y, B, NULL);
    l.type->backward(&l, (const float *)(const void *)ids, y, dy, NULL, B, NULL);
    const float want[4 * D] = {107, 107, 100, 100, 115, 99.875f, 109, 109};
    assert_memory_equal(l.grads, want, sizeof want);
    harness_free(&l);
}

/* Ids are no differentiable input: a dx asked for is zero; a frozen table adds nothing. */
static void test_embedding_frozen_table_gets_no_gradient(void **state) {
    (void)state;
    enum { V = 5, D = 3, T = 4, B = 2, N = B * T };
    dpt_layer l;
    dpt_layer_spec s = harness_spec("embedding vocab_size=5 dim=3 trainable=false");
    harness_make_shape(&l, &s, ids_shape(T, false), 0, B);
    fill_uniform(l.params, V * D, -1.0f, 1.0f, 3);
    fill_uniform(l.grads, V * D, -1.0f, 1.0f, 4);
    float before[V * D], y[N * D], dy[N * D], dx[N];
    memcpy(before, l.grads, sizeof before);
    fill_uniform(dy, N * D, -1.0f, 1.0f, 5);
    for (int i = 0; i < N; i++) dx[i] = NAN;
    const int32_t ids[N] = {0, 1, 2, 3, 4, 4, 1, 0};
    l.type->forward(&l, (const float *)(const void *)ids, y, B, NULL);
    assert_memory_equal(y + 2 * D, l.params + 2 * D, D * sizeof(float)); /* still looks up */
    l.type->backward(&l, (const float *)(const void *)ids, y, dy, dx, B, NULL);
    assert_memory_equal(before, l.grads, sizeof before);
    for (int i = 0; i < N; i++) assert_true(dx[i] == 0.0f);
    harness_free(&l);
}

/* Reference: one thread, one pass over the ids in order. */
static void reference_scatter(float *dW, const int32_t *ids, const float *dy, int n, int D,
                              int padding_id) {
    for (int r = 0; r < n; r++)
        if (ids[r] != padding_id)
            for (int j = 0; j < D; j++) dW[(size_t)ids[r] * D + j] += dy[(size_t)r * D + j];
}

/* Large enough for both loops to run in parallel (B T D = 51200 > 16384), with many repeats
 * (V 300 < B T 800): the same bits at 1, 2 and 4 threads as a plain loop, and the padding row
 * exactly zero after a training step's gradient. */
static void test_embedding_results_do_not_depend_on_the_thread_count(void **state) {
    (void)state;
    enum { V = 300, D = 64, T = 50, B = 16, N = B * T };
    dpt_layer l;
    dpt_layer_spec s = harness_spec("embedding vocab_size=300 dim=64 padding_id=0");
    harness_make_shape(&l, &s, ids_shape(T, false), 0, B);
    dpt_rng rng;
    dpt_rng_seed(&rng, 5, 0);
    l.type->init(&l, &rng);
    int32_t *ids = dpt_calloc(N, sizeof *ids);
    fill_ids(ids, N, V, 6);
    for (int i = 0; i < N; i += 7) ids[i] = 0; /* padding */
    float *dy = dpt_alloc_floats((size_t)N * D), *y = dpt_alloc_floats((size_t)N * D);
    float *y1 = dpt_alloc_floats((size_t)N * D), *want = dpt_alloc_floats((size_t)V * D);
    fill_uniform(dy, (size_t)N * D, -1.0f, 1.0f, 7);
    memset(want, 0, (size_t)V * D * sizeof(float));
    reference_scatter(want, ids, dy, N, D, 0);
    int threads = omp_get_max_threads();
    const int counts[3] = {1, 2, 4};
    for (int c = 0; c < 3; c++) {
        omp_set_num_threads(counts[c]);
        memset(l.grads, 0, (size_t)V * D * sizeof(float));
        l.type->forward(&l, (const float *)(const void *)ids, c ? y : y1, B, NULL);
        l.type->backward(&l, (const float *)(const void *)ids, y, dy, NULL, B, NULL);
        if (c) assert_memory_equal(y, y1, (size_t)N * D * sizeof(float));
        assert_memory_equal(l.grads, want, (size_t)V * D * sizeof(float));
        for (int j = 0; j < D; j++) assert_true(l.grads[j] == 0.0f && l.params[j] == 0.0f);
    }
    omp_set_num_threads(threads);
    free(ids);
    free(dy);
    free(y);
    free(y1);
    free(want);
    harness_free(&l);
}

/* (T) ids to (T, D) keeps the time axis: sequence lengths reach the recurrent layer after the
 * embedding, and the output's lengths are the input's. */
static void test_embedding_keeps_the_time_axis_in_a_model(void **state) {
    (void)state;
    dpt_layer_spec s[3] = {harness_spec("embedding vocab_size=20 dim=4"),
                           harness_spec("gru units=3 return_sequences=true"),
                           harness_spec("dense units=2")};
    dpt_model m;
    char err[512];
    assert_int_equal(dpt_model_build(&m, s, 3, ids_shape(6, false), 2, err, sizeof err), 0);
    assert_string_equal(shape_text(&m.out_shape), "(6, 2) float32");
    assert_int_equal(m.axis_change, m.nlayers);
    const int32_t xl[2] = {6, 3};
    assert_ptr_equal(dpt_model_output_lengths(&m, xl, NULL), xl);
    dpt_model_init_params(&m, 1);
    const int32_t ids[12] = {1, 2, 3, 19, 0, 0, 5, 5, 5, 0, 0, 0};
    dpt_step_ctx ctx = {.training = true, .lengths = xl};
    const float *y = dpt_model_forward_ids(&m, ids, 2, &ctx);
    for (int i = 0; i < 12 * 2; i++) assert_true(isfinite(y[i]));
    dpt_model_free(&m);
    /* A float model input is refused before the embedding's build. */
    dpt_shape f = dpt_shape_1d(6);
    assert_int_equal(dpt_model_build(&m, s, 1, &f, 2, err, sizeof err), -1);
    assert_contains(err, "embedding reads int32 token ids, got (6) float32 input");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedding_refuses_float_input_bad_shapes_and_bad_keys),
        cmocka_unit_test(test_embedding_shapes_and_table),
        cmocka_unit_test(test_embedding_init_keras_default_and_zero_padding_row),
        cmocka_unit_test(test_embedding_forward_is_a_row_lookup),
        cmocka_unit_test(test_embedding_table_gradient_matches_central_differences),
        cmocka_unit_test(test_embedding_repeated_ids_accumulate),
        cmocka_unit_test(test_embedding_frozen_table_gets_no_gradient),
        cmocka_unit_test(test_embedding_results_do_not_depend_on_the_thread_count),
        cmocka_unit_test(test_embedding_keeps_the_time_axis_in_a_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
