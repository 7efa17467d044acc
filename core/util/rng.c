/* rng.c — splitmix64 and xoshiro256** (see squtil.h). */
#include "squtil.h"

uint64_t sq_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double sq_unit(uint64_t x) { return (double)(x >> 11) / 9007199254740992.0; }

void sq_rng_seed(sq_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = sq_splitmix64(&x);
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
        r->s[0] = 1;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t sq_rng_next(sq_rng *r)
{
    uint64_t *s = r->s;
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

double sq_rng_unit(sq_rng *r) { return sq_unit(sq_rng_next(r)); }

uint64_t sq_rng_below(sq_rng *r, uint64_t n) { return n ? sq_rng_next(r) % n : 0; }

bool sq_rng_chance(sq_rng *r, double p) { return p > 0 && sq_rng_unit(r) < p; }
