/* fuzz_lease_json.c — sqclaim_lease_from_json (core/json.c): the lease a
 * bot passes between processes (the CLI reads it from stdin or a file).
 *
 * Invariants: anything accepted is a valid lease (SQ id, bot id and token
 * pass the library's own checks; the TTL is 0 or in range); written again
 * with sqclaim_lease_to_json and read back it is the same lease; a refusal
 * has a message and leaves no partial lease; no message quotes the token. */
#include "fuzz.h"

#include "sqclaim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *json = fz_cstr(data, size);
    sqclaim_lease l;
    char err[256] = "";
    sqclaim_rc rc = sqclaim_lease_from_json(json, &l, err, sizeof err);
    if (rc != SQCLAIM_OK) {
        FUZZ_CHECK(rc == SQCLAIM_EINVAL, "rc %d", (int)rc);
        FUZZ_CHECK(err[0] != '\0', "refusal without a message");
        FUZZ_CHECK(l.sq[0] == '\0' && l.token[0] == '\0', "partial lease left after a refusal");
        free(json);
        return 0;
    }
    FUZZ_CHECK(sqclaim_check_sq(l.sq, NULL, 0) == SQCLAIM_OK, "invalid SQ accepted");
    FUZZ_CHECK(l.bot[0] == '\0' || sqclaim_check_bot(l.bot, NULL, 0) == SQCLAIM_OK,
               "invalid bot accepted");
    FUZZ_CHECK(strlen(l.token) == SQCLAIM_TOKEN_LEN &&
                   strspn(l.token, "0123456789abcdef") == SQCLAIM_TOKEN_LEN,
               "invalid token accepted");
    FUZZ_CHECK(l.ttl_ms == 0 || (l.ttl_ms >= SQCLAIM_MIN_TTL_MS && l.ttl_ms <= SQCLAIM_MAX_TTL_MS),
               "ttl %lld accepted", (long long)l.ttl_ms);
    FUZZ_CHECK(l.deadline_ns == 0 && l.flags == 0, "a rebuilt lease claims a deadline");
    char *again = sqclaim_lease_to_json(&l);
    FUZZ_CHECK(again != NULL, "lease_to_json failed");
    sqclaim_lease l2;
    rc = sqclaim_lease_from_json(again, &l2, err, sizeof err);
    FUZZ_CHECK(rc == SQCLAIM_OK, "own output refused: %s (%s)", err, again);
    FUZZ_CHECK(strcmp(l.sq, l2.sq) == 0 && strcmp(l.bot, l2.bot) == 0 &&
                   strcmp(l.token, l2.token) == 0 && l.fence == l2.fence && l.ttl_ms == l2.ttl_ms,
               "round trip changed the lease: %s", again);
    sqclaim_free(again);
    free(json);
    return 0;
}
