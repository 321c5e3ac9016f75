/* Parameter initialisers by name (Keras names; glorot_* also as xavier_*).  All draw from the
 * rng passed in, so a given seed and layer index give the same tensor on every rank. */
#include "core/init.h"

#include <math.h>
#include <string.h>

static void fill_uniform(float *w, size_t n, float limit, dpt_rng *rng) {
    for (size_t i = 0; i < n; i++) w[i] = limit * (2.0f * dpt_rng_uniform(rng) - 1.0f);
}

static void fill_normal(float *w, size_t n, float std, dpt_rng *rng) {
    for (size_t i = 0; i < n; i++) w[i] = std * dpt_rng_normal(rng);
}

static void init_zeros(float *w, size_t n, int fan_in, int fan_out, float scale, dpt_rng *rng) {
    (void)fan_in, (void)fan_out, (void)scale, (void)rng;
    memset(w, 0, n * sizeof *w);
}

static void init_ones(float *w, size_t n, int fan_in, int fan_out, float scale, dpt_rng *rng) {
    (void)fan_in, (void)fan_out, (void)scale, (void)rng;
    for (size_t i = 0; i < n; i++) w[i] = 1.0f;
}

static void init_uniform(float *w, size_t n, int fan_in, int fan_out, float scale, dpt_rng *rng) {
    (void)fan_in, (void)fan_out;
    fill_uniform(w, n, scale, rng);
}

static void init_normal(float *w, size_t n, int fan_in, int fan_out, float scale, dpt_rng *rng) {
    (void)fan_in, (void)fan_out;
    fill_normal(w, n, scale, rng);
}

static void init_glorot_uniform(float *w, size_t n, int fan_in, int fan_out, float scale,
                                dpt_rng *rng) {
    (void)scale;
    fill_uniform(w, n, sqrtf(6.0f / (float)(fan_in + fan_out)), rng);
}

static void init_glorot_normal(float *w, size_t n, int fan_in, int fan_out, float scale,
                               dpt_rng *rng) {
    (void)scale;
    fill_normal(w, n, sqrtf(2.0f / (float)(fan_in + fan_out)), rng);
}

static void init_he_uniform(float *w, size_t n, int fan_in, int fan_out, float scale,
                            dpt_rng *rng) {
    (void)fan_out, (void)scale;
    fill_uniform(w, n, sqrtf(6.0f / (float)fan_in), rng);
}

static void init_he_normal(float *w, size_t n, int fan_in, int fan_out, float scale, dpt_rng *rng) {
    (void)fan_out, (void)scale;
    fill_normal(w, n, sqrtf(2.0f / (float)fan_in), rng);
}

/* The registry, one row per name (aliases are rows of their own): the table and the name list
 * are both generated from it, so a new initialiser is one row. */
#define INITIALIZERS(X)                                                                            \
    X("zeros", init_zeros)                                                                         \
    X("ones", init_ones)                                                                           \
    X("uniform", init_uniform)                                                                     \
    X("normal", init_normal)                                                                       \
    X("glorot_uniform", init_glorot_uniform)                                                       \
    X("xavier_uniform", init_glorot_uniform)                                                       \
    X("glorot_normal", init_glorot_normal)                                                         \
    X("xavier_normal", init_glorot_normal)                                                         \
    X("he_uniform", init_he_uniform)                                                               \
    X("he_normal", init_he_normal)
#define ROW(name, fill) {name, fill},
#define NAME(name, ...) name,

static const dpt_initializer initializers[] = {INITIALIZERS(ROW)};
static const char *const init_names[] = {INITIALIZERS(NAME) NULL};
#define NINIT (sizeof initializers / sizeof initializers[0])

const dpt_initializer *dpt_init_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < NINIT; i++)
        if (strcmp(initializers[i].name, name) == 0) return &initializers[i];
    return NULL;
}

const char *const *dpt_init_names(void) {
    return init_names;
}
