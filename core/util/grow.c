/* grow.c — the tree's one growable typed array (see squtil.h). */
#include "squtil.h"

#include <stdint.h>
#include <stdlib.h>

void *sq_grow(void *v, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return v;
    size_t want = *cap ? *cap : first;
    if (*cap && want > SIZE_MAX / 2)
        return NULL;
    if (*cap)
        want *= 2;
    if (size && want > SIZE_MAX / size)
        return NULL;
    void *nv = realloc(v, want * size);
    if (!nv)
        return NULL;
    *cap = want;
    return nv;
}
