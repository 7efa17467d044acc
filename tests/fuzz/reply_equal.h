/* reply_equal.h — value equality of two rp_reply trees, for the targets
 * that check a round trip (fuzz_redis_reply.c, fuzz_vercel_reply.c).
 * NULL equals only NULL. */
#ifndef SQCLAIM_FUZZ_REPLY_EQUAL_H
#define SQCLAIM_FUZZ_REPLY_EQUAL_H

#include "../../adapters/redisproto/proto.h"

#include <stdbool.h>
#include <string.h>

static inline bool rp_equal(const rp_reply *a, const rp_reply *b)
{
    if (!a || !b)
        return a == b;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case RP_NIL: return true;
    case RP_INT: return a->integer == b->integer;
    case RP_STR:
    case RP_ERR: return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
    case RP_ARR:
        if (a->n != b->n)
            return false;
        for (size_t i = 0; i < a->n; i++)
            if (!rp_equal(a->elem[i], b->elem[i]))
                return false;
        return true;
    }
    return false;
}

#endif
