/* Models as graphs: layers that name their inputs and an initial state, several named model
 * inputs, gradients that fan in where an output is read twice, and the messages for graphs that
 * cannot be built (unknown names, cycles, dead branches, states of the wrong size). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/graph.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/util.h"
#include "core_check.h"
#include "layer_harness.h"

/* Same step and tolerance as test_gradcheck.c's model check: h = 1e-2 moves one weight; the
 * loss is a double sum over at most 24 outputs whose float32 error through four layers (a few
 * ulp of O(1) values, <= ~1e-6 each) is far below 1e-3 * 2h after the division; the truncation
 * error h^2 f'''/6 of the smooth gates is ~1e-5.  Bugs (a missing gradient path, a state
 * gradient not added, a fan-out overwritten instead of summed) are off by O(0.1). */
#define H_STEP 1e-2f
#define RTOL   1e-2
#define ATOL   1e-3

static dpt_model_input input(const char *name, dpt_shape shape) {
    dpt_model_input in = {.shape = shape};
    snprintf(in.name, sizeof in.name, "%s", name);
    return in;
}

static int build(dpt_model *m, dpt_layer_spec *s, int n, const dpt_model_input *in, int nin,
                 char *err, size_t errlen) {
    for (int i = 0; i < n; i++) s[i].line = 10 + i;
    return dpt_model_build_inputs(m, s, n, in, nin, 8, err, errlen);
}

static void test_a_chain_plans_two_gradient_buffers_and_keeps_list_order(void **state) {
    (void)state;
    dpt_layer_spec s[3] = {harness_spec("dense units=4 activation=tanh"),
                           harness_spec("dense units=3"), harness_spec("dense units=2")};
    dpt_shape in = dpt_shape_1d(5);
    dpt_model m;
    char err[512];
    assert_int_equal(dpt_model_build(&m, s, 3, &in, 4, err, sizeof err), 0);
    assert_int_equal(m.nlayers, 4);
    assert_string_equal(m.layers[0].name, "dense_0");
    assert_string_equal(m.layers[1].name, "activation_0");
    assert_string_equal(m.layers[3].name, "dense_2");
    assert_int_equal(m.nslots, 2);
    assert_int_equal(m.nscratch, 0);
    assert_string_equal(m.inputs[0].name, "input");
    dpt_model_free(&m);
}

static void test_layers_listed_out_of_order_are_sorted_after_what_they_read(void **state) {
    (void)state;
    dpt_layer_spec s[3] = {harness_spec("dense units=3 name=b inputs=a"),
                           harness_spec("dense units=4 name=a inputs=input"),
                           harness_spec("dense units=2 name=out inputs=b")};
    dpt_shape in = dpt_shape_1d(5);
    dpt_model m;
    char err[512];
    assert_int_equal(dpt_model_build(&m, s, 3, &in, 4, err, sizeof err), 0);
    assert_string_equal(m.layers[0].name, "a");
    assert_string_equal(m.layers[1].name, "b");
    assert_string_equal(m.layers[2].name, "out");
    assert_int_equal(m.layers[1].in, 4);
    dpt_model_free(&m);
}

static void expect_error(dpt_layer_spec *s, int n, const dpt_model_input *in, int nin,
                         const char *want) {
    dpt_model m;
    char err[768];
    assert_int_equal(build(&m, s, n, in, nin, err, sizeof err), -1);
    assert_contains(err, want);
}

static void test_graph_errors_name_the_layer_its_line_and_what_was_expected(void **state) {
    (void)state;
    dpt_model_input one = input("x", dpt_shape_1d(5));
    dpt_layer_spec unknown[2] = {harness_spec("dense units=3 name=a"),
                                 harness_spec("dense units=2 inputs=nope")};
    expect_error(unknown, 2, &one, 1,
                 "layer 1 (dense, line 11): inputs: no layer or model input is named 'nope' "
                 "(expected one of: x (input), a)");
    dpt_layer_spec cycle[3] = {harness_spec("dense units=3 name=a inputs=b"),
                               harness_spec("dense units=3 name=b inputs=a"),
                               harness_spec("dense units=2 inputs=[x,b]")};
    expect_error(cycle, 3, &one, 1, "the layers' inputs form a cycle: a <- b <- a");
    dpt_layer_spec dead[3] = {harness_spec("dense units=3 name=a"),
                              harness_spec("dense units=3 name=b inputs=x"),
                              harness_spec("dense units=2 inputs=b")};
    expect_error(dead, 3, &one, 1,
                 "layer 0 (dense, line 10): the output of 'a' leads nowhere: no layer after it "
                 "reads it");
    dpt_model_input two[2] = {input("src", dpt_shape_2d(4, 3)), input("tgt", dpt_shape_2d(5, 3))};
    dpt_layer_spec first[2] = {harness_spec("lstm units=2"), harness_spec("dense units=2")};
    expect_error(first, 2, two, 2,
                 "layer 0 (lstm, line 10): the model has 2 inputs, so the first layer must say "
                 "which it reads");
    dpt_layer_spec unused[2] = {harness_spec("lstm units=2 inputs=src"),
                                harness_spec("dense units=2")};
    expect_error(unused, 2, two, 2, "model input 'tgt' is read by no layer");
    dpt_layer_spec clash[2] = {harness_spec("lstm units=2 name=tgt inputs=src"),
                               harness_spec("dense units=2 inputs=[tgt]")};
    expect_error(clash, 2, two, 2, "name 'tgt' is also the name of a model input");
    dpt_layer_spec size[3] = {harness_spec("lstm units=2 name=enc inputs=src"),
                              harness_spec("lstm units=3 inputs=tgt initial_state=enc"),
                              harness_spec("dense units=2")};
    expect_error(size, 3, two, 2,
                 "layer 1 (lstm, line 11): initial_state: 'enc' gives a state of 4 values per "
                 "sample, this lstm needs 6");
    dpt_layer_spec kind[3] = {harness_spec("gru units=2 name=enc inputs=src"),
                              harness_spec("lstm units=2 inputs=tgt initial_state=enc"),
                              harness_spec("dense units=2")};
    expect_error(kind, 3, two, 2, "'enc' gives a state of 2 values per sample, this lstm needs 4");
    dpt_layer_spec nostate[3] = {harness_spec("dense units=4 name=enc inputs=src"),
                                 harness_spec("gru units=4 inputs=tgt initial_state=enc"),
                                 harness_spec("dense units=2")};
    expect_error(nostate, 3, two, 2, "initial_state: 'enc' (dense) has no final state to give");
    dpt_layer_spec d;
    char err[256];
    assert_int_equal(dpt_layer_spec_parse(&d, "dense units=2 initial_state=enc", err, sizeof err),
                     -1);
    assert_string_equal(err, "initial_state: unknown key for a dense layer");
}

/* The model's loss: softmax_ce of the output steps against labels, all steps valid. */
static double loss_of(dpt_model *m, const float *x, const int32_t *lab, int B,
                      const dpt_step_ctx *ctx, float *dout) {
    const float *out = dpt_model_forward_rows(m, x, B, ctx);
    dpt_target t = {.labels = lab};
    return dpt_loss_find("softmax_ce")->eval(out, t, B * m->out_steps, m->out_features, dout);
}

/* Every parameter's gradient against central differences of the loss. */
static void check_model(dpt_model *m, const float *x, const int32_t *lab, int B,
                        const dpt_step_ctx *ctx) {
    float dout[64]; /* (B, out_steps, K) */
    assert_true((size_t)B * (size_t)m->out_steps * (size_t)m->out_features <= 64);
    loss_of(m, x, lab, B, ctx, dout);
    dpt_model_zero_grads(m);
    dpt_model_backward(m, dout, B);
    for (size_t k = 0; k < m->nparams; k++) {
        float w0 = m->params[k], up = w0 + H_STEP, down = w0 - H_STEP;
        m->params[k] = up;
        double fp = loss_of(m, x, lab, B, ctx, NULL);
        m->params[k] = down;
        double fm = loss_of(m, x, lab, B, ctx, NULL);
        m->params[k] = w0;
        assert_close(m->grads[k], (fp - fm) / ((double)up - (double)down), RTOL, ATOL);
    }
}

/* An encoder whose final state starts the decoder, the source also read a second time (fan-out),
 * on two named inputs with their own lengths: every parameter, the encoder's included (its only
 * path to the loss is the state), matches finite differences. */
static void state_passing_case(const char *cell, bool bidirectional) {
    char enc[128], dec[128];
    int units = 3;
    snprintf(enc, sizeof enc, "%s units=%d name=enc inputs=proj bidirectional=%s", cell, units,
             bidirectional ? "true" : "false");
    snprintf(dec, sizeof dec,
             "%s units=%d name=dec inputs=tgt initial_state=enc "
             "return_sequences=true",
             cell, bidirectional ? 2 * units : units);
    /* enc's output is read by nobody: only its state reaches the loss (its dy is zero) */
    dpt_layer_spec list[4] = {harness_spec("dense units=3 name=proj inputs=src activation=tanh"),
                              harness_spec(enc), harness_spec(dec),
                              harness_spec("dense units=3 name=out inputs=dec")};
    enum { B = 3, T1 = 4, T2 = 3, F = 2 };
    dpt_model_input in[2] = {input("src", dpt_shape_2d(T1, F)), input("tgt", dpt_shape_2d(T2, F))};
    dpt_model m;
    char err[512];
    assert_int_equal(build(&m, list, 4, in, 2, err, sizeof err), 0);
    assert_int_equal(m.in_width, (size_t)(T1 * F + T2 * F));
    dpt_model_init_params(&m, 11);
    float x[B * (T1 * F + T2 * F)]; /* (B, in_width) packed: src then tgt */
    fill_uniform(x, sizeof x / sizeof x[0], -1.0f, 1.0f, 5);
    int32_t len[B * 2] = {4, 3, 2, 1, 3, 2};           /* (B, 2): src, tgt lengths */
    int32_t lab[B * T2] = {0, 1, 2, 2, 1, 0, 1, 1, 0}; /* (B, T2) */
    dpt_step_ctx ctx = {.training = true, .lengths = len};
    check_model(&m, x, lab, B, &ctx);
    /* the decoder's output keeps tgt's time axis: its lengths are tgt's column */
    const int32_t *ol = dpt_model_output_lengths(&m, len, NULL);
    assert_non_null(ol);
    assert_int_equal(ol[0], 3);
    assert_int_equal(ol[2], 2);
    dpt_model_free(&m);
}

static void test_lstm_state_passing_gradients_match_finite_differences(void **state) {
    (void)state;
    state_passing_case("lstm", false);
}

static void test_gru_state_passing_from_a_bidirectional_encoder_matches(void **state) {
    (void)state;
    state_passing_case("gru", true);
}

static void test_rnn_state_passing_gradients_match_finite_differences(void **state) {
    (void)state;
    state_passing_case("rnn", false);
}

/* One output read by two layers: the two gradients are summed (a recurrent layer and the
 * decoder both read proj). */
static void test_an_output_read_twice_gets_the_sum_of_both_gradients(void **state) {
    (void)state;
    dpt_layer_spec s[4] = {harness_spec("dense units=3 name=proj activation=tanh"),
                           harness_spec("lstm units=3 name=enc inputs=proj"),
                           harness_spec("lstm units=3 name=dec inputs=proj initial_state=enc "
                                        "return_sequences=true"),
                           harness_spec("dense units=2")};
    enum { B = 2, T = 3, F = 2 };
    dpt_shape in = dpt_shape_2d(T, F);
    dpt_model m;
    char err[512];
    assert_int_equal(dpt_model_build(&m, s, 4, &in, 4, err, sizeof err), 0);
    assert_int_equal(m.nscratch, 1);
    dpt_model_init_params(&m, 4);
    float x[B * T * F];
    fill_uniform(x, sizeof x / sizeof x[0], -1.0f, 1.0f, 9);
    int32_t lab[B * T] = {0, 1, 1, 0, 0, 1};
    int32_t len[B] = {3, 2};
    dpt_step_ctx ctx = {.training = true, .lengths = len};
    check_model(&m, x, lab, B, &ctx);
    dpt_model_free(&m);
}

/* A residual block: `add` reads the block's input (a) and its end (c); a's gradient is the sum
 * of the skip path's and the block's.  With a concatenate of the two paths on top. */
static void test_residual_and_concatenate_gradients_match_finite_differences(void **state) {
    (void)state;
    dpt_layer_spec s[6] = {harness_spec("dense units=4 name=a activation=tanh"),
                           harness_spec("dense units=4 name=b activation=tanh"),
                           harness_spec("dense units=4 name=c"),
                           harness_spec("add name=sum inputs=[a,c]"),
                           harness_spec("concatenate name=cat inputs=[sum,b]"),
                           harness_spec("dense units=3")};
    enum { B = 3, F = 5 };
    dpt_shape in = dpt_shape_1d(F);
    dpt_model m;
    char err[512];
    assert_int_equal(dpt_model_build(&m, s, 6, &in, 4, err, sizeof err), 0);
    assert_int_equal(m.layers[m.nlayers - 1].in, 8); /* concatenate: 4 + 4 */
    assert_true(m.nscratch >= 1);                    /* a and b are read twice */
    dpt_model_init_params(&m, 21);
    float x[B * F];
    fill_uniform(x, sizeof x / sizeof x[0], -1.0f, 1.0f, 3);
    int32_t lab[B] = {2, 0, 1};
    check_model(&m, x, lab, B, NULL);
    dpt_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_chain_plans_two_gradient_buffers_and_keeps_list_order),
        cmocka_unit_test(test_layers_listed_out_of_order_are_sorted_after_what_they_read),
        cmocka_unit_test(test_graph_errors_name_the_layer_its_line_and_what_was_expected),
        cmocka_unit_test(test_lstm_state_passing_gradients_match_finite_differences),
        cmocka_unit_test(test_gru_state_passing_from_a_bidirectional_encoder_matches),
        cmocka_unit_test(test_rnn_state_passing_gradients_match_finite_differences),
        cmocka_unit_test(test_an_output_read_twice_gets_the_sum_of_both_gradients),
        cmocka_unit_test(test_residual_and_concatenate_gradients_match_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
