/* Per-sample shapes: the helpers, what every layer type makes of inputs of rank 1, 2 and 3 (and
 * the kernels' derived widths), the messages for shapes a type cannot take and for int32 input,
 * models on images (the same bits as on rows), and outputs on a new time axis (T_out != T). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "core/util.h"
#include "core_check.h"
#include "layer_harness.h"

static const char *str(const dpt_shape *s) {
    static char bufs[4][64];
    static int next;
    char *b = bufs[next++ % 4];
    return dpt_shape_str(s, b, sizeof bufs[0]);
}

static void test_shape_helpers_count_name_and_compare(void **state) {
    (void)state;
    dpt_shape v = dpt_shape_1d(5), s = dpt_shape_2d(7, 5), im = dpt_shape_3d(28, 28, 1);
    assert_int_equal(dpt_shape_size(&im), 784);
    assert_int_equal(dpt_shape_last(&s), 5);
    assert_int_equal(dpt_shape_outer(&s), 7);
    assert_int_equal(dpt_shape_outer(&v), 1);
    assert_int_equal(dpt_shape_outer(&im), 784);
    assert_string_equal(str(&im), "(28, 28, 1) float32");
    dpt_shape one = dpt_shape_from_steps(1, 5), seq = dpt_shape_from_steps(7, 5);
    assert_true(dpt_shape_equal(&one, &v));
    assert_true(dpt_shape_equal(&seq, &s));
    dpt_shape k = dpt_shape_with_last(&s, 3);
    assert_string_equal(str(&k), "(7, 3) float32");
    assert_true(dpt_shape_same_rows(&s, &k));
    assert_false(dpt_shape_same_rows(&v, &k)); /* rank differs */
    dpt_shape other = dpt_shape_2d(6, 3);
    assert_false(dpt_shape_same_rows(&s, &other));
    assert_true(dpt_shape_is_sequence(&s));
    assert_false(dpt_shape_is_sequence(&v));
    dpt_shape step1 = dpt_shape_2d(1, 5);
    assert_false(dpt_shape_is_sequence(&step1));
    assert_false(dpt_shape_is_sequence(&im));
    dpt_shape ids = dpt_shape_2d(12, 1);
    ids.dtype = DPT_I32;
    assert_string_equal(str(&ids), "(12, 1) int32");
    char err[128];
    dpt_shape bad = dpt_shape_2d(3, 0);
    assert_int_equal(dpt_shape_check(&bad, err, sizeof err), -1);
    assert_contains(err, "expected every dimension >= 1, got 0 in dimension 1");
}

/* Builds "line" for input in; checks the output shape and the derived kernel widths. */
static void expect_shape(const char *line, dpt_shape in, dpt_shape out) {
    dpt_layer l;
    char err[512] = "";
    dpt_layer_spec s = harness_spec(line);
    if (harness_build_shape(&l, &s, &in, 1, err, sizeof err))
        fail_msg("%s on %s: %s", line, str(&in), err);
    if (!dpt_shape_equal(&l.out_shape, &out))
        fail_msg("%s on %s: got %s, expected %s", line, str(&in), str(&l.out_shape), str(&out));
    assert_int_equal(l.in, dpt_shape_last(&in));
    assert_int_equal(l.steps_in, dpt_shape_outer(&in));
    assert_int_equal(l.out, dpt_shape_last(&out));
    assert_int_equal(l.steps_out, dpt_shape_outer(&out));
}

static void expect_refused(const char *line, dpt_shape in, const char *msg) {
    dpt_layer l;
    char err[512] = "";
    dpt_layer_spec s = harness_spec(line);
    assert_int_equal(harness_build_shape(&l, &s, &in, 1, err, sizeof err), -1);
    assert_contains(err, msg);
}

/* Dense, activation and dropout act on the last axis of any rank (rows = the other axes). */
static void test_last_axis_layers_take_every_rank(void **state) {
    (void)state;
    const char *same[] = {"activation activation=tanh", "dropout rate=0.5"};
    dpt_shape in[3] = {dpt_shape_1d(4), dpt_shape_2d(6, 4), dpt_shape_3d(5, 3, 4)};
    for (int r = 0; r < 3; r++) {
        expect_shape("dense units=7", in[r], dpt_shape_with_last(&in[r], 7));
        for (int k = 0; k < 2; k++) expect_shape(same[k], in[r], in[r]);
    }
    dpt_layer l;
    char err[256];
    dpt_layer_spec s = harness_spec("dense units=7");
    assert_int_equal(harness_build_shape(&l, &s, &in[2], 0, err, sizeof err), 0);
    assert_int_equal(l.tensors[0].dim[0], 7); /* W (out, in): the last axis only */
    assert_int_equal(l.tensors[0].dim[1], 4);
    s = harness_spec("dropout rate=0.5");
    assert_int_equal(harness_build_shape(&l, &s, &in[2], 0, err, sizeof err), 0);
    assert_int_equal(l.cache_per_sample, 5 * 3 * 4); /* a mask value per element */
}

/* (T, F) -> (T, D H) with return_sequences, else (D H); a vector is one step; no images. */
static void test_recurrent_layers_take_sequences_and_refuse_images(void **state) {
    (void)state;
    const char *types[] = {"rnn", "lstm", "gru"};
    for (int k = 0; k < 3; k++) {
        char line[128];
        snprintf(line, sizeof line, "%s units=3", types[k]);
        expect_shape(line, dpt_shape_2d(6, 4), dpt_shape_1d(3));
        expect_shape(line, dpt_shape_1d(4), dpt_shape_1d(3));
        snprintf(line, sizeof line, "%s units=3 return_sequences=true", types[k]);
        expect_shape(line, dpt_shape_2d(6, 4), dpt_shape_2d(6, 3));
        expect_shape(line, dpt_shape_1d(4), dpt_shape_1d(3));
        snprintf(line, sizeof line, "%s units=3 return_sequences=true bidirectional=true",
                 types[k]);
        expect_shape(line, dpt_shape_2d(6, 4), dpt_shape_2d(6, 6));
        char msg[128];
        snprintf(msg, sizeof msg, "%s needs (T, F) input, got (28, 28, 1) float32", types[k]);
        expect_refused(line, dpt_shape_3d(28, 28, 1), msg);
    }
}

/* (F) -> (steps, F); a sequence or an image is refused. */
static void test_repeat_makes_a_time_axis_from_a_vector(void **state) {
    (void)state;
    expect_shape("repeat steps=5", dpt_shape_1d(4), dpt_shape_2d(5, 4));
    expect_shape("repeat steps=1", dpt_shape_1d(4), dpt_shape_2d(1, 4));
    expect_shape("repeat steps=5", dpt_shape_2d(1, 4), dpt_shape_2d(5, 4));
    expect_refused("repeat steps=5", dpt_shape_2d(3, 4),
                   "repeat needs a vector input (1 step), got 3 steps");
    expect_refused("repeat steps=5", dpt_shape_3d(2, 2, 4),
                   "repeat needs a vector input (F), got (2, 2, 4) float32");
}

static void test_model_messages_name_the_layer_and_the_shape(void **state) {
    (void)state;
    dpt_layer_spec s[2] = {harness_spec("dense units=4"), harness_spec("lstm units=2")};
    s[1].line = 7;
    dpt_model m;
    char err[512];
    dpt_shape im = dpt_shape_3d(28, 28, 1);
    assert_int_equal(dpt_model_build(&m, s, 2, &im, 4, err, sizeof err), -1);
    assert_string_equal(err, "layer 1 (lstm, line 7): lstm needs (T, F) input, got (28, 28, 4) "
                             "float32");
    dpt_shape bad = {.rank = 4, .dim = {1, 2, 3}};
    assert_int_equal(dpt_model_build(&m, s, 2, &bad, 4, err, sizeof err), -1);
    assert_contains(err, "the model input: expected a shape of 1 to 3 dimensions per sample");
}

/* A layer reading float32 refuses int32 token ids (the model needs an embedding first); a type
 * declaring DPT_LAYER_INT_INPUT reads int32 and refuses float32. */
static int int_build(dpt_layer *l, char *err, size_t errlen) {
    (void)err, (void)errlen;
    l->out_shape = dpt_shape_2d(l->in_shape.dim[0], 8); /* (T, 1) ids -> (T, 8) vectors */
    return 0;
}

static void test_int32_input_needs_a_layer_that_reads_ids(void **state) {
    (void)state;
    dpt_layer_spec s = harness_spec("dense units=4");
    s.line = 3;
    dpt_shape ids = dpt_shape_2d(12, 1);
    ids.dtype = DPT_I32;
    dpt_model m;
    char err[512];
    assert_int_equal(dpt_model_build(&m, &s, 1, &ids, 4, err, sizeof err), -1);
    assert_string_equal(err, "layer 0 (dense, line 3): dense reads float32 input, got int32 "
                             "token ids: put an embedding layer before it");
    const dpt_layer_type ids_type = {
        .name = "ids", .flags = DPT_LAYER_INT_INPUT, .build = int_build};
    assert_int_equal(dpt_layer_input_dtype(&ids_type), DPT_I32);
    assert_int_equal(dpt_layer_input_dtype(dpt_layer_find("lstm")), DPT_F32);
    dpt_layer l = {.type = &ids_type};
    assert_int_equal(dpt_layer_build(&l, &ids, err, sizeof err), 0);
    assert_string_equal(str(&l.out_shape), "(12, 8) float32");
    assert_int_equal(l.steps_out, 12);
    dpt_shape floats = dpt_shape_2d(12, 1);
    assert_int_equal(dpt_layer_build(&l, &floats, err, sizeof err), -1);
    assert_string_equal(err, "ids reads int32 token ids, got (12, 1) float32 input");
}

/* The int32 entry: no layer reads ids yet (an embedding will), so a stand-in takes the place of
 * a built model's first layer: it must get the caller's ids as they are, in forward and in
 * backward, and the float layers after it run as usual. */
static const int32_t *seen_ids;

static void ids_forward(dpt_layer *l, const float *x, float *y, int B, const dpt_step_ctx *ctx) {
    (void)ctx;
    const int32_t *ids = (const int32_t *)(const void *)x; /* (B, T) */
    for (int r = 0; r < B * l->steps_in; r++)
        for (int j = 0; j < l->out; j++) y[r * l->out + j] = (float)(ids[r] * (j % 2 ? 1 : -1));
}

static void ids_backward(dpt_layer *l, const float *x, const float *y, const float *dy, float *dx,
                         int B, const dpt_step_ctx *ctx) {
    (void)l, (void)y, (void)dy, (void)B, (void)ctx;
    assert_null(dx);
    seen_ids = (const int32_t *)(const void *)x;
}

static void test_int32_ids_reach_the_first_layer_through_their_own_entry(void **state) {
    (void)state;
    dpt_layer_spec s[2] = {harness_spec("dense units=2"),
                           harness_spec("activation activation=relu")};
    dpt_shape in = dpt_shape_2d(3, 1);
    dpt_model m;
    char err[512];
    assert_int_equal(dpt_model_build(&m, s, 2, &in, 2, err, sizeof err), 0);
    const dpt_layer_type ids_type = {.name = "ids",
                                     .flags = DPT_LAYER_INT_INPUT,
                                     .forward = ids_forward,
                                     .backward = ids_backward};
    m.layers[0].type = &ids_type; /* the stand-in, (3, 1) ids -> (3, 2) */
    m.in_shape.dtype = DPT_I32;
    const int32_t ids[6] = {4, 0, 7, 1, 2, 9}; /* (B = 2, T = 3) */
    const float *out = dpt_model_forward_ids(&m, ids, 2, NULL);
    for (int r = 0; r < 6; r++) {
        assert_true(out[2 * r] == 0.0f); /* relu of -id */
        assert_true(out[2 * r + 1] == (float)ids[r]);
    }
    float dout[12] = {0};
    dpt_model_backward(&m, dout, 2);
    assert_ptr_equal(seen_ids, ids);
    dpt_model_free(&m);
}

/* dense -> relu -> dropout -> dense on (4, 3, 2) images: the model's shapes, and outputs and
 * gradients bit for bit those of the same model on (12, 2) sequences and on (2) vectors of
 * B * 12 rows (the layers act on the last axis: the leading axes are only rows). */
static void run_rows(const dpt_shape *in, int B, const float *x, const float *dy, float *out,
                     float *grads, dpt_shape *out_shape) {
    dpt_layer_spec s[3] = {harness_spec("dense units=5 activation=relu"),
                           harness_spec("dropout rate=0.25"), harness_spec("dense units=3")};
    dpt_model m;
    char err[512];
    if (dpt_model_build(&m, s, 3, in, B, err, sizeof err)) fail_msg("%s", err);
    *out_shape = m.out_shape;
    dpt_model_init_params(&m, 5);
    /* dropout keys its masks by sample and row within the sample: the same for all three
     * only without masks, so evaluation mode */
    size_t n = (size_t)B * dpt_shape_size(&m.out_shape);
    memcpy(out, dpt_model_forward(&m, x, B, NULL), n * sizeof *out);
    dpt_model_zero_grads(&m);
    dpt_model_backward(&m, dy, B);
    memcpy(grads, m.grads, m.nparams * sizeof *grads);
    dpt_model_free(&m);
}

static void test_a_model_on_images_computes_what_it_computes_on_rows(void **state) {
    (void)state;
    enum { B = 3, P = 12, F = 2, K = 3, NP = 5 * 2 + 5 + 3 * 5 + 3 };
    float x[B * P * F], dy[B * P * K];
    fill_uniform(x, B * P * F, -1.0f, 1.0f, 90);
    fill_uniform(dy, B * P * K, -1.0f, 1.0f, 91);
    dpt_shape im = dpt_shape_3d(4, 3, F), seq = dpt_shape_2d(P, F), vec = dpt_shape_1d(F), o;
    float out[3][B * P * K], g[3][NP];
    run_rows(&im, B, x, dy, out[0], g[0], &o);
    assert_string_equal(str(&o), "(4, 3, 3) float32");
    run_rows(&seq, B, x, dy, out[1], g[1], &o);
    assert_string_equal(str(&o), "(12, 3) float32");
    run_rows(&vec, B * P, x, dy, out[2], g[2], &o);
    for (int k = 1; k < 3; k++) {
        assert_memory_equal(out[0], out[k], sizeof out[0]);
        assert_memory_equal(g[0], g[k], sizeof g[0]);
    }
}

/* Many-to-one lstm, repeat of 3 steps, gru, dense: a (6, 4) input gives a (3, 2) output; only
 * target lengths can describe its steps. */
static void test_an_output_on_a_new_time_axis_takes_the_target_lengths(void **state) {
    (void)state;
    dpt_layer_spec s[4] = {harness_spec("lstm units=5"), harness_spec("repeat steps=3"),
                           harness_spec("gru units=4 return_sequences=true"),
                           harness_spec("dense units=2")};
    dpt_shape in = dpt_shape_2d(6, 4);
    dpt_model m;
    char err[512];
    assert_int_equal(dpt_model_build(&m, s, 4, &in, 2, err, sizeof err), 0);
    assert_string_equal(str(&m.in_shape), "(6, 4) float32");
    assert_string_equal(str(&m.out_shape), "(3, 2) float32");
    assert_int_equal(m.in_steps, 6);
    assert_int_equal(m.out_steps, 3);
    assert_int_equal(m.out_features, 2);
    assert_int_equal(m.axis_change, 0);
    const int32_t xl[2] = {6, 4}, yl[2] = {3, 1};
    assert_ptr_equal(dpt_model_output_lengths(&m, xl, yl), yl);
    assert_null(dpt_model_output_lengths(&m, xl, NULL));
    dpt_model_free(&m);
    /* On the input's axis: the input lengths; no sequence out: none. */
    dpt_layer_spec t[2] = {harness_spec("gru units=4 return_sequences=true"),
                           harness_spec("dense units=2")};
    assert_int_equal(dpt_model_build(&m, t, 2, &in, 2, err, sizeof err), 0);
    assert_int_equal(m.axis_change, m.nlayers);
    assert_ptr_equal(dpt_model_output_lengths(&m, xl, yl), xl);
    dpt_model_free(&m);
    assert_int_equal(dpt_model_build(&m, s, 1, &in, 2, err, sizeof err), 0);
    assert_string_equal(str(&m.out_shape), "(5) float32");
    assert_null(dpt_model_output_lengths(&m, xl, yl));
    dpt_model_free(&m);
}

/* The products a step runs, as the roofline of bench/bench_train.c asks the types: rows are B
 * times the leading axes; a bidirectional layer runs its products per direction. */
static void test_layer_types_declare_the_gemms_of_their_step(void **state) {
    (void)state;
    dpt_layer l;
    dpt_gemm_shape g[DPT_LAYER_GEMMS_MAX];
    char err[256];
    dpt_layer_spec s = harness_spec("dense units=5");
    dpt_shape im = dpt_shape_3d(2, 3, 4), seq = dpt_shape_2d(6, 4);
    assert_int_equal(harness_build_shape(&l, &s, &im, 1, err, sizeof err), 0);
    assert_int_equal(l.type->gemms(&l, 7, g), 3);
    assert_int_equal(g[0].M, 7 * 6); /* y = x W^T over B H W rows */
    assert_int_equal(g[0].N, 5);
    assert_int_equal(g[0].K, 4);
    assert_true(g[1].ta && g[1].M == 5 && g[1].K == 42 && g[1].beta == 1.0f); /* dW += dy^T x */
    assert_int_equal(harness_build_shape(&l, &s, &im, 0, err, sizeof err), 0);
    assert_int_equal(l.type->gemms(&l, 7, g), 2); /* no dx for the first layer */
    s = harness_spec("lstm units=3 bidirectional=true");
    assert_int_equal(harness_build_shape(&l, &s, &seq, 1, err, sizeof err), 0);
    assert_int_equal(l.type->gemms(&l, 2, g), 12);
    assert_true(g[0].M == 12 && g[0].N == 12 && g[0].K == 4);   /* X W_ih^T, B T rows */
    assert_true(g[1].M == 2 && g[1].N == 12 && g[1].reps == 6); /* h W_hh^T per step */
    assert_true(g[11].beta == 1.0f && g[5].beta == 0.0f);       /* dx summed over directions */
    assert_null(dpt_layer_find("activation")->gemms);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_helpers_count_name_and_compare),
        cmocka_unit_test(test_last_axis_layers_take_every_rank),
        cmocka_unit_test(test_recurrent_layers_take_sequences_and_refuse_images),
        cmocka_unit_test(test_repeat_makes_a_time_axis_from_a_vector),
        cmocka_unit_test(test_model_messages_name_the_layer_and_the_shape),
        cmocka_unit_test(test_int32_input_needs_a_layer_that_reads_ids),
        cmocka_unit_test(test_int32_ids_reach_the_first_layer_through_their_own_entry),
        cmocka_unit_test(test_a_model_on_images_computes_what_it_computes_on_rows),
        cmocka_unit_test(test_an_output_on_a_new_time_axis_takes_the_target_lengths),
        cmocka_unit_test(test_layer_types_declare_the_gemms_of_their_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
