/* Random numbers for dptrain.  Two kinds:
 *  - dpt_rng: a small sequential stream (xoshiro256**, seeded through splitmix64),
 *    passed explicitly, used for parameter initialisation and permutations;
 *  - dpt_hash*: counter-based values keyed by integers (seed, epoch, sample, unit), used where
 *    the result must not depend on how work is split across ranks or threads (dropout). */
#ifndef DPT_RNG_H
#define DPT_RNG_H

#include <stdint.h>

typedef struct dpt_rng {
    uint64_t s[4];
} dpt_rng;

/* Seeds the stream from (seed, stream id); different stream ids give independent streams. */
void dpt_rng_seed(dpt_rng *rng, uint64_t seed, uint64_t stream);
uint64_t dpt_rng_u64(dpt_rng *rng);
/* Uniform in [0, 1) with 24 random bits. */
float dpt_rng_uniform(dpt_rng *rng);
/* Standard normal (Box-Muller). */
float dpt_rng_normal(dpt_rng *rng);
/* Uniform integer in [0, n), unbiased. n > 0. */
uint64_t dpt_rng_below(dpt_rng *rng, uint64_t n);

/* Stateless mix of four 64-bit keys into 64 random bits. */
uint64_t dpt_hash4(uint64_t a, uint64_t b, uint64_t c, uint64_t d);
/* Uniform in [0, 1) from the keys. */
float dpt_hash_uniform(uint64_t a, uint64_t b, uint64_t c, uint64_t d);

/* Fills perm (n) with a permutation of 0..n-1 determined only by (seed, epoch). */
void dpt_permutation(int64_t *perm, int64_t n, uint64_t seed, uint64_t epoch);

#endif
