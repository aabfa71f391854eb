/* The one seeded random generator: xoshiro256** seeded by splitmix64.
 * Same seed, same stream on every platform. */
#ifndef NF_RNG_H
#define NF_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
} rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
/* uniform in [0, 1) with 53 random bits */
double rng_uniform(rng *r);
/* uniform in (0, 1): safe for log() */
double rng_uniform_open(rng *r);
double rng_normal(rng *r);
/* uniform integer in [0, n) without modulo bias */
uint64_t rng_below(rng *r, uint64_t n);
/* Fisher-Yates shuffle of an index array */
void rng_shuffle(rng *r, int64_t *idx, int64_t n);

#endif
