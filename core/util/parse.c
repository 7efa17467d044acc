/* parse.c — numbers on a command line (see squtil.h). */
#include "squtil.h"

#include <errno.h>
#include <stdlib.h>

bool sq_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (*s == '-')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno)
        return false;
    *out = v;
    return true;
}

bool sq_parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}
