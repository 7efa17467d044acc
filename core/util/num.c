/* num.c — numbers that came as doubles (see squtil.h). */
#include "squtil.h"

bool sq_whole_u64(double d, uint64_t max, uint64_t *out)
{
    /* Past 2^53 a double no longer holds every whole number: callers keep
     * max at or below SQ_EXACT_MAX.  NaN fails every comparison. */
    if (!(d >= 0 && d <= (double)max) || d != (double)(uint64_t)d)
        return false;
    *out = (uint64_t)d;
    return true;
}

int sq_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
