/* The example layer type of docs/adding-a-layer.md (tests/core/example/layer_scale.c) works as
 * the walkthrough says: its keys parse and default, it builds on any rank, and its gradients
 * match finite differences.  It is linked into this test, not registered: the walkthrough's last
 * step (one line in core/layer_types.h) is the only one this test cannot take. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "core_check.h"

extern const dpt_layer_type dpt_layer_scale_type; /* tests/core/example/layer_scale.c */
#define SCALE (&dpt_layer_scale_type)

/* The objective sum(r * y) is linear in each of x and gamma, so central differences are exact
 * but for float32 rounding of sums of at most 24 products of size <= 4: |error| <~ 24 * 4 *
 * 6e-8 / H = 6e-4 with H = 1e-2; the tolerance is twice that. */
#define H    1e-2f
#define ATOL 1.2e-3

/* A scale layer with its keys at their defaults (init = 1), then `init` set from text. */
static void make(dpt_layer *l, const dpt_shape *in, const char *init) {
    memset(l, 0, sizeof *l);
    l->type = SCALE;
    snprintf(l->spec.type, sizeof l->spec.type, "scale");
    snprintf(l->name, sizeof l->name, "scale_0");
    char err[256] = "";
    void *args = dpt_layer_args_mut(&l->spec);
    assert_int_equal(dpt_key_defaults(SCALE->keys, SCALE->nkeys, args, err, sizeof err), 0);
    if (init)
        assert_int_equal(dpt_key_parse(&SCALE->keys[0], args, init, NULL, err, sizeof err), 0);
    assert_int_equal(dpt_layer_build(l, in, err, sizeof err), 0);
    l->nparams = l->tensors[0].size;
    l->params = calloc(l->nparams, sizeof(float));
    l->grads = calloc(l->nparams, sizeof(float));
    SCALE->init(l, NULL);
}

static void unmake(dpt_layer *l) {
    free(l->params);
    free(l->grads);
}

static void test_keys_default_and_refuse_what_is_not_a_number(void **state) {
    (void)state;
    assert_int_equal(SCALE->nkeys, 1);
    const dpt_key *k = &SCALE->keys[0];
    assert_string_equal(k->name, "init");
    dpt_layer_spec s;
    memset(&s, 0, sizeof s);
    void *a = dpt_layer_args_mut(&s);
    char err[256] = "", text[64];
    assert_int_equal(dpt_key_defaults(SCALE->keys, SCALE->nkeys, a, err, sizeof err), 0);
    dpt_key_format(k, a, text, sizeof text);
    assert_string_equal(text, "1");
    assert_int_equal(dpt_key_parse(k, a, "0.25", NULL, err, sizeof err), 0);
    assert_int_equal(dpt_key_parse(k, a, "big", NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "expected"));
    dpt_key_format(k, a, text, sizeof text);
    assert_string_equal(text, "0.25"); /* unchanged on failure */
}

static void test_builds_on_every_rank_with_one_factor_per_feature(void **state) {
    (void)state;
    const dpt_shape shapes[] = {dpt_shape_1d(5), dpt_shape_2d(3, 5), dpt_shape_3d(2, 3, 5)};
    for (int i = 0; i < 3; i++) {
        dpt_layer l;
        make(&l, &shapes[i], "0.5");
        assert_true(dpt_shape_equal(&l.out_shape, &shapes[i]));
        assert_int_equal(l.ntensors, 1);
        assert_string_equal(l.tensors[0].name, "gamma");
        assert_int_equal(l.tensors[0].size, 5);
        assert_true(l.params[0] == 0.5f && l.params[4] == 0.5f);
        unmake(&l);
    }
}

static void test_int32_input_is_refused(void **state) {
    (void)state;
    dpt_layer l;
    memset(&l, 0, sizeof l);
    l.type = SCALE;
    dpt_shape ids = dpt_shape_1d(7);
    ids.dtype = DPT_I32;
    char err[256] = "";
    assert_int_equal(dpt_layer_build(&l, &ids, err, sizeof err), -1);
    assert_non_null(strstr(err, "scale reads float32 input"));
}

static double objective(dpt_layer *l, const float *x, float *y, const float *r, int B) {
    SCALE->forward(l, x, y, B, NULL);
    double s = 0;
    for (size_t i = 0; i < (size_t)B * dpt_shape_size(&l->out_shape); i++) s += (double)r[i] * y[i];
    return s;
}

static double numeric(dpt_layer *l, float *v, const float *x, float *y, const float *r, int B) {
    float v0 = *v, up = v0 + H, down = v0 - H;
    *v = up;
    double fp = objective(l, x, y, r, B);
    *v = down;
    double fm = objective(l, x, y, r, B);
    *v = v0;
    return (fp - fm) / ((double)up - (double)down);
}

static void test_gradients_match_finite_differences(void **state) {
    (void)state;
    const int B = 3;
    dpt_shape in = dpt_shape_3d(2, 3, 4);
    dpt_layer l;
    make(&l, &in, NULL);
    size_t n = (size_t)B * dpt_shape_size(&in);
    float *x = calloc(n, sizeof *x), *y = calloc(n, sizeof *y), *r = calloc(n, sizeof *r);
    float *dx = calloc(n, sizeof *dx);
    fill_uniform(l.params, l.nparams, -1.0f, 1.0f, 1);
    fill_uniform(x, n, -2.0f, 2.0f, 2);
    fill_uniform(r, n, -1.0f, 1.0f, 3);
    for (size_t k = 0; k < l.nparams; k++) l.grads[k] = 0.5f; /* backward must add */
    for (size_t k = 0; k < n; k++) dx[k] = NAN;               /* and overwrite dx */
    objective(&l, x, y, r, B);
    SCALE->backward(&l, x, y, r, dx, B, NULL);
    for (size_t k = 0; k < l.nparams; k++)
        assert_close((double)l.grads[k] - 0.5, numeric(&l, &l.params[k], x, y, r, B), 0, ATOL);
    for (size_t k = 0; k < n; k++) assert_close(dx[k], numeric(&l, &x[k], x, y, r, B), 0, ATOL);
    free(x), free(y), free(r), free(dx);
    unmake(&l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_default_and_refuse_what_is_not_a_number),
        cmocka_unit_test(test_builds_on_every_rank_with_one_factor_per_feature),
        cmocka_unit_test(test_int32_input_is_refused),
        cmocka_unit_test(test_gradients_match_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
