/* A small seeded generator (splitmix64). The data layer gives every random choice of a sample
 * its own generator, seeded from (run seed, epoch, position), so results never depend on which
 * thread made them; the model layer draws initial weights from one. */
#ifndef YKD_CORE_RNG_H
#define YKD_CORE_RNG_H

#include <stdint.h>

typedef struct ykd_rng {
    uint64_t state;
} ykd_rng;

/* splitmix64's output function: a good 64-bit mix of any input. */
uint64_t ykd_rng_mix(uint64_t x);

void ykd_rng_seed(ykd_rng *rng, uint64_t seed);
uint64_t ykd_rng_next(ykd_rng *rng);
/* Uniform in [0, 1), 53 bits. */
double ykd_rng_unit(ykd_rng *rng);
/* Uniform in [lo, hi). */
double ykd_rng_uniform(ykd_rng *rng, double lo, double hi);
/* Uniform integer in [0, n), unbiased; 0 when n is 0. */
uint64_t ykd_rng_below(ykd_rng *rng, uint64_t n);

#endif
