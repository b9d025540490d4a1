/* The seeded generator shared by the data layer (augmentation, synthetic data) and the model
 * layer (initialisation). */
#include "core/rng.h"

uint64_t ykd_rng_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

void ykd_rng_seed(ykd_rng *rng, uint64_t seed)
{
    rng->state = ykd_rng_mix(seed);
}

uint64_t ykd_rng_next(ykd_rng *rng)
{
    rng->state += 0x9e3779b97f4a7c15ULL;
    return ykd_rng_mix(rng->state);
}

double ykd_rng_unit(ykd_rng *rng)
{
    return (double)(ykd_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

double ykd_rng_uniform(ykd_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * ykd_rng_unit(rng);
}

uint64_t ykd_rng_below(ykd_rng *rng, uint64_t n)
{
    if (n == 0)
        return 0;
    /* reject the top partial block so every residue is equally likely */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t r = ykd_rng_next(rng);
        if (r >= threshold)
            return r % n;
    }
}
