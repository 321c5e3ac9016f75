/* Random numbers: xoshiro256** streams seeded through splitmix64 (initialisation, permutations)
 * and counter-based hashes of integer keys (dropout), whose values do not depend on how work is
 * split across ranks or threads. */
#include "core/rng.h"

#include <math.h>

#include "core/util.h"

#define GOLDEN 0x9E3779B97F4A7C15ULL
#define TWO_PI 6.283185307179586476925

/* splitmix64 finaliser: a bijective mix with good avalanche. */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t splitmix64_next(uint64_t *x) {
    *x += GOLDEN;
    return mix64(*x);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

void dpt_rng_seed(dpt_rng *rng, uint64_t seed, uint64_t stream) {
    /* Mixing the stream id through its own splitmix step keeps (seed, stream) and
     * (seed + 1, stream - 1) from landing on overlapping sequences. */
    uint64_t x =
        mix64(seed + GOLDEN) ^ mix64(stream * 0xD1B54A32D192ED03ULL + 0x8CB92BA72F3D8DD7ULL);
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64_next(&x);
    /* The all-zero state is a fixed point of xoshiro; splitmix64 outputs never give four zeros in
     * practice, but the guard costs nothing. */
    if ((rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) == 0) rng->s[0] = GOLDEN;
}

uint64_t dpt_rng_u64(dpt_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float dpt_rng_uniform(dpt_rng *rng) {
    return (float)(dpt_rng_u64(rng) >> 40) * 0x1.0p-24f;
}

float dpt_rng_normal(dpt_rng *rng) {
    /* u1 in (0, 1] so the logarithm is finite; 53-bit uniforms keep the tails accurate. */
    double u1 = (double)((dpt_rng_u64(rng) >> 11) + 1) * 0x1.0p-53;
    double u2 = (double)(dpt_rng_u64(rng) >> 11) * 0x1.0p-53;
    return (float)(sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2));
}

uint64_t dpt_rng_below(dpt_rng *rng, uint64_t n) {
    DPT_ASSERT(n > 0);
    /* Rejecting the lowest (2^64 mod n) values leaves a range that is a multiple of n. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t r = dpt_rng_u64(rng);
        if (r >= threshold) return r % n;
    }
}

uint64_t dpt_hash4(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
    /* Each key goes through a full mix before the next is added, so keys differing in one
     * position (e.g. consecutive units) give unrelated outputs. */
    uint64_t h = mix64(a + GOLDEN);
    h = mix64(h ^ (b + 0x632BE59BD9B4E019ULL));
    h = mix64(h ^ (c + 0x85157AF5ULL * GOLDEN));
    h = mix64(h ^ (d + 0xCA5A826395121157ULL));
    return h;
}

float dpt_hash_uniform(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
    return (float)(dpt_hash4(a, b, c, d) >> 40) * 0x1.0p-24f;
}

void dpt_permutation(int64_t *perm, int64_t n, uint64_t seed, uint64_t epoch) {
    DPT_ASSERT(n >= 0);
    /* A tag in the seed keeps the shuffle stream apart from the initialisation streams, which
     * use (seed, layer index). */
    dpt_rng rng;
    dpt_rng_seed(&rng, dpt_hash4(seed, 0x7065726D75746531ULL /* "permute1" */, 0, 0), epoch);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)dpt_rng_below(&rng, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
