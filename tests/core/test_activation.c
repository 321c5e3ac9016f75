/* Activation functions: values at hand-checked points, stability far from 0, the derivative
 * conventions at kinks, and the activation layer's alpha resolution. */
#include <stdio.h>
#include <string.h>

#include "core/activation.h"
#include "core/layer.h"
#include "core_check.h"
#include "layer_harness.h"

/* float32 libm results are within a couple of ulp (~2.4e-7 relative near 1). */
#define F32_TOL 3e-7

static float f(const char *name, float x, float alpha) {
    const dpt_activation *a = dpt_activation_find(name);
    assert_non_null(a);
    return a->f(x, isnan(alpha) ? a->default_alpha : alpha);
}

static float df(const char *name, float x, float alpha) {
    const dpt_activation *a = dpt_activation_find(name);
    float al = isnan(alpha) ? a->default_alpha : alpha;
    return a->df(x, a->f(x, al), al);
}

static void test_values_at_known_points(void **state) {
    (void)state;
    assert_near(f("sigmoid", 0.0f, NAN), 0.5, 0.0);
    assert_near(f("tanh", 0.5f, NAN), tanh(0.5), F32_TOL);
    assert_near(f("relu", -2.0f, NAN), 0.0, 0.0);
    assert_near(f("relu", 2.0f, NAN), 2.0, 0.0);
    assert_near(f("leaky_relu", -2.0f, NAN), -0.02, 1e-9);
    assert_near(f("leaky_relu", -2.0f, 0.2f), -0.4, 1e-7);
    assert_near(f("elu", -1.0f, NAN), exp(-1.0) - 1.0, F32_TOL);
    assert_near(f("elu", -1.0f, 0.5f), 0.5 * (exp(-1.0) - 1.0), F32_TOL);
    assert_near(f("softplus", 0.0f, NAN), log(2.0), F32_TOL);
    assert_near(f("arctan", 1.0f, NAN), atan(1.0), F32_TOL);
    assert_near(f("softsign", 3.0f, NAN), 0.75, 0.0);
    assert_near(f("linear", -7.5f, NAN), -7.5, 0.0);
}

static void test_sigmoid_and_softplus_are_stable_far_from_zero(void **state) {
    (void)state;
    assert_near(f("sigmoid", 100.0f, NAN), 1.0, 0.0);
    float s = f("sigmoid", -100.0f, NAN); /* e^-100 underflows float32 to 0: fine, not NaN */
    assert_true(s >= 0.0f && s < 1e-38f);
    assert_near(f("sigmoid", -20.0f, NAN), exp(-20.0) / (1.0 + exp(-20.0)), 1e-15);
    assert_near(f("softplus", 100.0f, NAN), 100.0, 0.0);
    assert_near(f("softplus", -30.0f, NAN), exp(-30.0), 1e-19);
    assert_near(df("softplus", 100.0f, NAN), 1.0, 0.0);
    assert_true(isfinite(f("elu", -100.0f, NAN)));
}

static void test_derivatives_at_kinks_follow_the_convention(void **state) {
    (void)state;
    assert_near(df("relu", 0.0f, NAN), 0.0, 0.0);
    assert_near(df("relu", 1e-30f, NAN), 1.0, 0.0);
    assert_near(df("leaky_relu", 0.0f, NAN), 0.01, 1e-9);
    assert_near(df("elu", 0.0f, 0.7f), 0.7, 1e-7);
    assert_near(df("sigmoid", 0.0f, NAN), 0.25, 0.0);
    assert_near(df("tanh", 0.0f, NAN), 1.0, 0.0);
}

static void test_lookup_and_default_alphas(void **state) {
    (void)state;
    assert_null(dpt_activation_find("gelu"));
    assert_null(dpt_activation_find(""));
    assert_near(dpt_activation_find("leaky_relu")->default_alpha, 0.01, 1e-9);
    assert_near(dpt_activation_find("elu")->default_alpha, 1.0, 0.0);
}

static dpt_layer activation_layer(const char *name, float alpha, char *err, size_t errlen,
                                  int *rc) {
    dpt_layer l;
    dpt_layer_spec s = harness_spec("activation");
    *rc = name[0] ? dpt_layer_spec_set(&s, "activation", name, err, errlen) : 0;
    if (*rc == 0 && !isnan(alpha)) {
        char text[32];
        snprintf(text, sizeof text, "%.9g", (double)alpha);
        harness_set(&s, "alpha", text);
    }
    if (*rc == 0) *rc = harness_build(&l, &s, 4, 1, 0, err, errlen);
    return l;
}

static void test_activation_layer_resolves_alpha_and_rejects_unknown_names(void **state) {
    (void)state;
    char err[512] = "";
    int rc;
    dpt_layer l = activation_layer("elu", NAN, err, sizeof err, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(l.out, 4);
    assert_near(l.alpha, 1.0, 0.0);
    l = activation_layer("leaky_relu", 0.3f, err, sizeof err, &rc);
    assert_near(l.alpha, 0.3f, 0.0);
    (void)activation_layer("swish", NAN, err, sizeof err, &rc);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "activation: expected one of: ")); /* when the key is set */
    assert_non_null(strstr(err, "got 'swish'"));
    assert_non_null(
        strstr(err, "sigmoid, tanh, relu, leaky_relu, elu, softplus, arctan, softsign, linear"));
    (void)activation_layer("", NAN, err, sizeof err, &rc);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "missing activation"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_at_known_points),
        cmocka_unit_test(test_sigmoid_and_softplus_are_stable_far_from_zero),
        cmocka_unit_test(test_derivatives_at_kinks_follow_the_convention),
        cmocka_unit_test(test_lookup_and_default_alphas),
        cmocka_unit_test(test_activation_layer_resolves_alpha_and_rejects_unknown_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
