/* Elementwise activation functions and their derivatives, found by name.  Derivatives use the
 * cheaper of x and y = f(x) (sigmoid and tanh reuse y, the rest need x). */
#include "core/activation.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

static float sigmoid_f(float x, float alpha) {
    (void)alpha;
    /* Never exponentiate a large positive number: exp(-x) for x >= 0, exp(x) otherwise. */
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}
static float sigmoid_df(float x, float y, float alpha) {
    (void)x, (void)alpha;
    return y * (1.0f - y);
}

static float tanh_f(float x, float alpha) {
    (void)alpha;
    return tanhf(x);
}
static float tanh_df(float x, float y, float alpha) {
    (void)x, (void)alpha;
    return 1.0f - y * y;
}

static float relu_f(float x, float alpha) {
    (void)alpha;
    return x > 0.0f ? x : 0.0f;
}
static float relu_df(float x, float y, float alpha) {
    (void)y, (void)alpha;
    return x > 0.0f ? 1.0f : 0.0f;
}

static float leaky_f(float x, float alpha) {
    return x > 0.0f ? x : alpha * x;
}
static float leaky_df(float x, float y, float alpha) {
    (void)y;
    return x > 0.0f ? 1.0f : alpha;
}

static float elu_f(float x, float alpha) {
    return x > 0.0f ? x : alpha * expm1f(x);
}
static float elu_df(float x, float y, float alpha) {
    (void)y;
    return x > 0.0f ? 1.0f : alpha * expf(x);
}

static float softplus_f(float x, float alpha) {
    (void)alpha;
    /* log(1 + e^x) = log1p(e^-|x|) + max(x, 0): no overflow for large x, no loss for small. */
    return log1pf(expf(-fabsf(x))) + fmaxf(x, 0.0f);
}
static float softplus_df(float x, float y, float alpha) {
    (void)y;
    return sigmoid_f(x, alpha);
}

static float arctan_f(float x, float alpha) {
    (void)alpha;
    return atanf(x);
}
static float arctan_df(float x, float y, float alpha) {
    (void)y, (void)alpha;
    return 1.0f / (1.0f + x * x);
}

static float softsign_f(float x, float alpha) {
    (void)alpha;
    return x / (1.0f + fabsf(x));
}
static float softsign_df(float x, float y, float alpha) {
    (void)y, (void)alpha;
    float d = 1.0f + fabsf(x);
    return 1.0f / (d * d);
}

static float linear_f(float x, float alpha) {
    (void)alpha;
    return x;
}
static float linear_df(float x, float y, float alpha) {
    (void)x, (void)y, (void)alpha;
    return 1.0f;
}

/* The registry, one row per activation: the table and the name list are both generated from
 * it, so a new activation is one row. */
#define ACTIVATIONS(X)                                                                             \
    X("sigmoid", 0.0f, sigmoid_f, sigmoid_df)                                                      \
    X("tanh", 0.0f, tanh_f, tanh_df)                                                               \
    X("relu", 0.0f, relu_f, relu_df)                                                               \
    X("leaky_relu", 0.01f, leaky_f, leaky_df)                                                      \
    X("elu", 1.0f, elu_f, elu_df)                                                                  \
    X("softplus", 0.0f, softplus_f, softplus_df)                                                   \
    X("arctan", 0.0f, arctan_f, arctan_df)                                                         \
    X("softsign", 0.0f, softsign_f, softsign_df)                                                   \
    X("linear", 0.0f, linear_f, linear_df)
#define ROW(name, alpha, f, df) {name, alpha, f, df},
#define NAME(name, ...)         name,

static const dpt_activation activations[] = {ACTIVATIONS(ROW)};
static const char *const activation_names[] = {ACTIVATIONS(NAME) NULL};
#define NACT (sizeof activations / sizeof activations[0])

const dpt_activation *dpt_activation_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < NACT; i++)
        if (strcmp(activations[i].name, name) == 0) return &activations[i];
    return NULL;
}

const char *const *dpt_activation_names(void) {
    return activation_names;
}
