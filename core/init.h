/* Parameter initialisers, looked up by name.  Seeded and reproducible: the same rng state gives
 * the same values on every rank. */
#ifndef DPT_INIT_H
#define DPT_INIT_H

#include <stddef.h>

#include "core/rng.h"

/* Fills w (n) for a tensor with the given fan-in/fan-out.  scale: the limit of "uniform"
 * (U(-scale, scale)) or the standard deviation of "normal"; ignored by the others.
 *   zeros, ones, uniform, normal,
 *   glorot_uniform (alias xavier_uniform): U(-l, l), l = sqrt(6 / (fan_in + fan_out))
 *   glorot_normal  (alias xavier_normal):  N(0, sqrt(2 / (fan_in + fan_out)))
 *   he_uniform: U(-l, l), l = sqrt(6 / fan_in);  he_normal: N(0, sqrt(2 / fan_in)) */
typedef void (*dpt_init_fn)(float *w, size_t n, int fan_in, int fan_out, float scale, dpt_rng *rng);

typedef struct dpt_initializer {
    const char *name;
    dpt_init_fn fill;
} dpt_initializer;

const dpt_initializer *dpt_init_find(const char *name); /* NULL if unknown */
const char *const *dpt_init_names(void);                /* NULL-terminated */

#endif
