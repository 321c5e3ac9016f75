/* Model building and bookkeeping: dense + activation expansion, automatic and user names,
 * messages for bad specs, the flat parameter layout, reproducible initialisation, and the
 * forward/backward plumbing (B = 0, partial batches, L2, checksum). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "core/util.h"
#include "core_check.h"
#include "layer_harness.h"

static dpt_layer_spec spec(const char *type, int units, const char *act, const char *name,
                           int line) {
    dpt_layer_spec s;
    if (dpt_layer_spec_init(&s, type, NULL, 0) == 0) { /* an unknown type is the model's error */
        char text[16];
        snprintf(text, sizeof text, "%d", units);
        if (units) harness_set(&s, "units", text);
        if (act[0]) harness_set(&s, "activation", act);
    }
    strcpy(s.name, name);
    s.line = line;
    return s;
}

static void test_dense_with_activation_expands_and_layers_get_automatic_names(void **state) {
    (void)state;
    dpt_layer_spec s[5] = {spec("dense", 4, "relu", "", 3), spec("dropout", 0, "", "", 4),
                           spec("dense", 3, "", "", 5), spec("dense", 2, "linear", "head", 6),
                           spec("activation", 0, "tanh", "", 7)};
    harness_set(&s[1], "rate", "0.5");
    dpt_model m;
    char err[512];
    assert_int_equal(dpt_model_build(&m, s, 5, harness_steps(1, 6), 10, err, sizeof err), 0);
    const char *names[] = {"dense_0", "activation_0", "dropout_0",
                           "dense_1", "head",         "activation_1"};
    const char *types[] = {"dense", "activation", "dropout", "dense", "dense", "activation"};
    const int in[] = {6, 4, 4, 4, 3, 2}, out[] = {4, 4, 4, 3, 2, 2};
    assert_int_equal(m.nlayers, 6);
    for (int i = 0; i < 6; i++) {
        assert_string_equal(m.layers[i].name, names[i]);
        assert_string_equal(m.layers[i].type->name, types[i]);
        assert_int_equal(m.layers[i].index, i);
        assert_int_equal(m.layers[i].in, in[i]);
        assert_int_equal(m.layers[i].out, out[i]);
    }
    assert_string_equal(harness_value(&m.layers[1].spec, "activation"), "relu");
    assert_string_equal(harness_value(&m.layers[0].spec, "activation"), ""); /* moved */
    assert_int_equal(m.layers[1].spec.line, 3);
    assert_int_equal(m.in_features, 6);
    assert_int_equal(m.out_features, 2);
    assert_ptr_equal(dpt_model_layer(&m, "head"), &m.layers[4]);
    assert_null(dpt_model_layer(&m, "dense_2"));
    dpt_model_free(&m);
}

static void test_fused_activation_inherits_alpha(void **state) {
    (void)state;
    dpt_layer_spec s = spec("dense", 3, "leaky_relu", "", 9);
    harness_set(&s, "alpha", "0.3");
    dpt_model m;
    char err[512];
    assert_int_equal(dpt_model_build(&m, &s, 1, harness_steps(1, 2), 1, err, sizeof err), 0);
    assert_near(m.layers[1].alpha, 0.3f, 0.0);
    assert_int_equal(m.layers[1].spec.line, 9);
    dpt_model_free(&m);
}

static void test_parameters_are_laid_out_contiguously_in_layer_order(void **state) {
    (void)state;
    dpt_layer_spec s[3] = {spec("dense", 4, "tanh", "", 0), spec("dense", 3, "", "", 0),
                           spec("dense", 2, "", "", 0)};
    harness_set(&s[1], "use_bias", "false");
    dpt_model m;
    char err[512];
    assert_int_equal(dpt_model_build(&m, s, 3, harness_steps(1, 5), 2, err, sizeof err), 0);
    /* dense_0 W (4,5) b (4), tanh, dense_1 W (3,4), dense_2 W (2,3) b (2). */
    assert_int_equal((int)m.nparams, 20 + 4 + 12 + 6 + 2);
    const dpt_layer *d0 = &m.layers[0], *d1 = &m.layers[2], *d2 = &m.layers[3];
    assert_int_equal(d0->ntensors, 2);
    assert_string_equal(d0->tensors[0].name, "W");
    assert_int_equal(d0->tensors[0].dim[0], 4);
    assert_int_equal(d0->tensors[0].dim[1], 5);
    assert_true(d0->tensors[0].decay);
    assert_string_equal(d0->tensors[1].name, "b");
    assert_false(d0->tensors[1].decay);
    assert_int_equal((int)d0->tensors[1].offset, 20);
    assert_int_equal(d1->ntensors, 1);
    assert_int_equal((int)d1->tensors[0].offset, 24);
    assert_int_equal((int)d2->tensors[0].offset, 36);
    assert_int_equal((int)d2->tensors[1].offset, 42);
    assert_ptr_equal(d2->params, m.params + 36);
    assert_ptr_equal(d2->grads, m.grads + 36);
    assert_null(m.layers[1].params);
    dpt_model_free(&m);
}

/* Builds specs expecting failure; returns the message. */
static const char *build_error(const dpt_layer_spec *s, int n, char *err, size_t errlen) {
    dpt_model m;
    err[0] = '\0';
    assert_int_equal(dpt_model_build(&m, s, n, harness_steps(1, 4), 8, err, errlen), -1);
    assert_int_equal(m.nlayers, 0); /* nothing half-built is left behind */
    assert_null(m.params);
    dpt_model_free(&m);
    return err;
}

static void test_duplicate_names_are_rejected(void **state) {
    (void)state;
    char err[512];
    dpt_layer_spec s[2] = {spec("dense", 4, "", "fc", 3), spec("dense", 2, "", "fc", 7)};
    build_error(s, 2, err, sizeof err);
    assert_contains(err, "layer 1 (dense, line 7)");
    assert_contains(err, "'fc'");
    assert_contains(err, "unique");
    /* A user name may not take an automatic name either. */
    dpt_layer_spec t[2] = {spec("dense", 4, "", "dense_1", 3), spec("dense", 2, "", "", 4)};
    build_error(t, 2, err, sizeof err);
    assert_contains(err, "layer 1 (dense, line 4)");
    assert_contains(err, "'dense_1'");
}

static void test_unknown_names_are_rejected_with_the_valid_names(void **state) {
    (void)state;
    char err[1024];
    dpt_layer_spec a[2] = {spec("dense", 4, "", "", 2), spec("conv9d", 4, "", "", 5)};
    build_error(a, 2, err, sizeof err);
    assert_contains(err, "layer 1 (conv9d, line 5): unknown layer type 'conv9d'");
    assert_contains(err, "expected one of: dense, activation, dropout");

    /* Names from a registry are checked when the key is set, as the config reads them. */
    dpt_layer_spec b = spec("dense", 4, "", "", 3);
    assert_int_equal(dpt_layer_spec_set(&b, "activation", "gelu", err, sizeof err), -1);
    assert_contains(err, "activation: expected one of: ");
    assert_contains(err,
                    "sigmoid, tanh, relu, leaky_relu, elu, softplus, arctan, softsign, linear; "
                    "got 'gelu'");
    assert_int_equal(dpt_layer_spec_set(&b, "kernel_init", "glorot", err, sizeof err), -1);
    assert_contains(err, "kernel_init: expected one of: ");
    assert_contains(err, "glorot_uniform, xavier_uniform");
    assert_contains(err, "got 'glorot'");
}

static void test_out_of_range_values_are_rejected_with_what_was_expected(void **state) {
    (void)state;
    char err[512];
    dpt_layer_spec a = spec("dense", 0, "", "", 4);
    build_error(&a, 1, err, sizeof err);
    assert_contains(err, "layer 0 (dense, line 4): units must be a positive integer (got 0)");
    dpt_layer_spec b = spec("dropout", 0, "", "", 0);
    assert_int_equal(dpt_layer_spec_set(&b, "rate", "1", err, sizeof err), -1);
    assert_contains(err, "rate: expected a number in [0, 1), got '1'");
    dpt_layer_spec c = spec("dense", 2, "", "a/b", 0);
    build_error(&c, 1, err, sizeof err);
    assert_contains(err, "'/'");
    build_error(&c, 0, err, sizeof err);
    assert_contains(err, "no layers");
}

static dpt_model small_model(void) {
    dpt_layer_spec s[2] = {spec("dense", 6, "tanh", "", 0), spec("dense", 3, "", "", 0)};
    dpt_model m;
    char err[512];
    assert_int_equal(dpt_model_build(&m, s, 2, harness_steps(1, 4), 5, err, sizeof err), 0);
    return m;
}

static void test_initialisation_is_reproducible_and_per_layer(void **state) {
    (void)state;
    dpt_model a = small_model(), b = small_model();
    dpt_model_init_params(&a, 11);
    dpt_model_init_params(&b, 11);
    assert_memory_equal(a.params, b.params, a.nparams * sizeof(float));
    assert_true(dpt_model_checksum(&a) == dpt_model_checksum(&b));
    dpt_model_init_params(&b, 12);
    assert_true(dpt_model_checksum(&a) != dpt_model_checksum(&b));
    /* Default init: glorot_uniform weights, zero biases. */
    const dpt_layer *d0 = &a.layers[0];
    double limit = sqrt(6.0 / (4 + 6));
    for (int i = 0; i < 24; i++) assert_true(fabs(d0->params[i]) <= limit);
    for (int i = 24; i < 30; i++) assert_near(d0->params[i], 0.0, 0.0);
    /* Layer i draws from its own stream i: layer 0's values do not depend on the layers after
     * it, so a one-layer model gets the same first tensor. */
    dpt_layer_spec s[1] = {spec("dense", 6, "", "", 0)};
    dpt_model c;
    char err[256];
    assert_int_equal(dpt_model_build(&c, s, 1, harness_steps(1, 4), 5, err, sizeof err), 0);
    dpt_model_init_params(&c, 11);
    assert_memory_equal(c.params, a.params, 24 * sizeof(float));
    dpt_model_free(&a);
    dpt_model_free(&b);
    dpt_model_free(&c);
}

static void test_forward_of_a_partial_batch_equals_the_rows_of_a_full_batch(void **state) {
    (void)state;
    dpt_model m = small_model();
    dpt_model_init_params(&m, 1);
    float x[5 * 4], full[5 * 3]; /* (5, F), (5, K) */
    fill_uniform(x, 20, -1.0f, 1.0f, 1);
    memcpy(full, dpt_model_forward(&m, x, 5, NULL), sizeof full);
    const float *part = dpt_model_forward(&m, x, 2, NULL);
    /* Row results do not depend on the batch size beyond float summation order in the GEMM
     * (K = 6 terms of size ~1: < 1e-6). */
    for (int i = 0; i < 6; i++) assert_near(part[i], full[i], 1e-6);
    dpt_model_free(&m);
}

static void test_empty_batch_is_a_no_op(void **state) {
    (void)state;
    dpt_model m = small_model();
    dpt_model_init_params(&m, 1);
    for (size_t i = 0; i < m.nparams; i++) m.grads[i] = 1.0f;
    assert_non_null(dpt_model_forward(&m, NULL, 0, NULL));
    dpt_model_backward(&m, NULL, 0);
    for (size_t i = 0; i < m.nparams; i++) assert_near(m.grads[i], 1.0, 0.0);
    dpt_model_zero_grads(&m);
    for (size_t i = 0; i < m.nparams; i++) assert_near(m.grads[i], 0.0, 0.0);
    dpt_model_free(&m);
}

static void test_backward_accumulates_into_gradients(void **state) {
    (void)state;
    dpt_model m = small_model();
    dpt_model_init_params(&m, 1);
    float x[5 * 4], dout[5 * 3]; /* (5, F), (5, K) */
    fill_uniform(x, 20, -1.0f, 1.0f, 2);
    fill_uniform(dout, 15, -1.0f, 1.0f, 3);
    dpt_model_forward(&m, x, 5, NULL);
    dpt_model_backward(&m, dout, 5);
    float *once = dpt_alloc_floats(m.nparams); /* (nparams) */
    memcpy(once, m.grads, m.nparams * sizeof *once);
    dpt_model_backward(&m, dout, 5);
    /* Twice the same contribution: 2g, exact up to one rounding of the addition. */
    for (size_t i = 0; i < m.nparams; i++) assert_close(m.grads[i], 2.0 * once[i], 1e-6, 1e-7);
    free(once);
    dpt_model_free(&m);
}

static void test_l2_penalises_weights_only(void **state) {
    (void)state;
    dpt_model m = small_model();
    for (size_t i = 0; i < m.nparams; i++) m.params[i] = 2.0f;
    dpt_model_zero_grads(&m);
    /* Weights: 24 + 18 = 42 values of 2; biases 6 + 3 untouched. */
    double penalty = dpt_model_add_l2(&m, 0.1f);
    assert_near(penalty, 0.5 * 0.1f * 42 * 4.0, 1e-6);
    assert_near(m.layers[0].grads[0], 0.2f, 0.0);
    assert_near(m.layers[0].grads[24], 0.0, 0.0);
    assert_near(m.layers[2].grads[17], 0.2f, 0.0);
    assert_near(m.layers[2].grads[18], 0.0, 0.0);
    assert_near(dpt_model_add_l2(&m, 0.0f), 0.0, 0.0);
    dpt_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_with_activation_expands_and_layers_get_automatic_names),
        cmocka_unit_test(test_fused_activation_inherits_alpha),
        cmocka_unit_test(test_parameters_are_laid_out_contiguously_in_layer_order),
        cmocka_unit_test(test_duplicate_names_are_rejected),
        cmocka_unit_test(test_unknown_names_are_rejected_with_the_valid_names),
        cmocka_unit_test(test_out_of_range_values_are_rejected_with_what_was_expected),
        cmocka_unit_test(test_initialisation_is_reproducible_and_per_layer),
        cmocka_unit_test(test_forward_of_a_partial_batch_equals_the_rows_of_a_full_batch),
        cmocka_unit_test(test_empty_batch_is_a_no_op),
        cmocka_unit_test(test_backward_accumulates_into_gradients),
        cmocka_unit_test(test_l2_penalises_weights_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
