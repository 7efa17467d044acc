/*
 * backend.h — the contract between the sqclaim core and a storage backend.
 *
 * Not installed: backends are built into the library (see the table in
 * core/registry.c).  The simulator uses sqclaim_open_backend() to run its
 * deliberately broken negative-control backends (sim/controls/, built from
 * the memory space in adapters/memory/memory_space.h), which are never
 * part of the library.
 *
 * Division of work
 *   The core validates every argument, makes tokens, timestamps and
 *   deadlines, retries transient failures and ambiguous replies (with the
 *   same token), serialises calls on a handle, runs keep-alives and renders
 *   status JSON.  A backend only stores and answers: every operation below
 *   is one atomic step in the store (one round trip for a remote store).
 *
 * Versioning (as SQLite's VFS): fields are only ever appended; a backend
 * sets .version to the SQB_VERSION it was written for, and the core never
 * calls a member beyond that version.  Optional members may be NULL.
 */
#ifndef SQCLAIM_BACKEND_H
#define SQCLAIM_BACKEND_H

#include "sqclaim.h"

#include <stdarg.h>

/* 2: inspect, break_sq, counters, raise_cursor, app_data and open_with
 *    appended; finish answers OK when the claim is ours and it has no
 *    reservation.
 * 3: finish honours sqb_lease_req.rows_start/rows_count/rows_fence (the
 *    reservation named by sqclaim_finish_range); the core refuses
 *    sqclaim_finish_range (EUNSUPPORTED) on a backend below 3. */
#define SQB_VERSION 3

/* Error detail from a backend.  Set with sqb_seterr(). */
typedef struct sqb_err {
    sqclaim_rc rc;      /* the failure code (negative) */
    bool maybe_applied; /* the request was sent and its reply lost, or it
                           arrived but could not be decoded: the store may
                           have applied it */
    bool transient;     /* worth another attempt (refused connection, 5xx,
                           429, NOSCRIPT handled inside is not this) */
    char msg[384];      /* for the user; never a secret */
} sqb_err;

/* Set err->rc and err->msg (printf-style).  Returns rc. */
sqclaim_rc sqb_seterr(sqb_err *err, sqclaim_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
sqclaim_rc sqb_vseterr(sqb_err *err, sqclaim_rc rc, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Claim the first free SQ of sqs[0..n-1] (n >= 1), atomically.  If an SQ
 * of the list is held with `token`, that is a grant too (an earlier attempt
 * whose reply was lost): report it with reclaimed = true and its stored
 * fence, do not mint a new fence and do not change its expiry.  A fencing
 * counter that was lost must be rebuilt in the same step above every fence
 * handed out that the store can still see (see docs/protocol.md). */
typedef struct sqb_claim_req {
    const char *const *sqs; /* validated SQ ids */
    size_t n;
    const char *bot;       /* validated bot id (raw, not escaped) */
    const char *token;     /* 32 hex digits */
    int64_t ttl_ms;        /* validated */
    const char *timestamp; /* ISO-8601 UTC ms, wall clock at the call */
    int64_t now_ns;        /* the store clock at the call */
} sqb_claim_req;

typedef struct sqb_claim_res {
    size_t index;          /* OK: sqs[index] was granted */
    uint64_t fence;        /* OK: its fencing number */
    bool reclaimed;        /* OK: found our own token */
    int64_t ttl_ms;        /* OK: remaining TTL in the store */
    sqclaim_holder holder; /* BUSY: holder of sqs[0] (core fills .sq) */
} sqb_claim_res;

/* Renew, release and finish act on one SQ, owner-checked by token.
 *
 * Finish (version 3): rows_start 0 means "any": delete the lease's
 * reservation whatever it is (sqclaim_finish_rows).  rows_start > 0 names
 * one reservation (sqclaim_finish_range): the lease's stored reservation
 * is deleted only if its start row, row count and fence equal rows_start,
 * rows_count and rows_fence; if it is another one (a later reservation of
 * the same lease), nothing is touched and the answer is OK, as when the
 * lease has no reservation (the one named is gone: a late or repeated
 * finish converges).  LOST as always when the claim is not ours. */
typedef struct sqb_lease_req {
    const char *sq;
    const char *token;
    const char *bot;
    uint64_t fence;
    int64_t ttl_ms; /* renew only */
    int64_t now_ns; /* the store clock at the call */
    /* Appended in version 3, finish only (0: any reservation of ours): */
    uint64_t rows_start;
    uint32_t rows_count;
    uint64_t rows_fence;
} sqb_lease_req;

/* Reserve rows: the SQ must be held with `token`.  start = max(cursor,
 * hint, 1), then moved past every live reservation it would overlap
 * (foreign ones too); cursor = start + count.  A lost cursor is rebuilt
 * from the highest end row of the live reservations.  An open reservation
 * with our token, the same count and a start >= hint is returned as it is
 * (idempotent retry); any other open reservation of ours, or any value
 * another tool keeps under the SQ's reservation key, is BUSY.  The
 * reservation carries the stored claim's bot and fence (not the
 * request's `bot`) and expires with the claim. */
typedef struct sqb_reserve_req {
    const char *sq;
    const char *token;
    const char *bot;
    uint64_t fence;
    uint32_t count;
    uint64_t hint;
    const char *timestamp;
    int64_t now_ns;
} sqb_reserve_req;

/* Break one SQ (operator tool).  With `check`, a key whose current value
 * has a fingerprint other than the one given ("" = expected absent) makes
 * it LOST and nothing is removed; an absent key is always fine.  Then a
 * claim written by sqclaim (a JSON object with a token and a fence) makes
 * it BUSY unless `force`.  Else both keys are deleted. */
typedef struct sqb_break_req {
    const char *sq;
    bool check;
    const char *claim_fp; /* check: fingerprint of the claim shown, "" none */
    const char *res_fp;   /* check: fingerprint of the reservation shown */
    bool force;
    int64_t now_ns; /* the store clock at the call */
} sqb_break_req;

struct sqclaim_backend {
    int version;         /* SQB_VERSION this backend was written for */
    const char *name;    /* "memory", "redis", "vercel" */
    const char *summary; /* one line for listings */
    unsigned caps;       /* SQCLAIM_CAP_* */

    /* --- version 1 --- */
    /* Open a connection or space.  opts has every timeout filled in and
     * a clock that is never NULL; the backend reads its own environment
     * variables for fields left NULL.  Must not block on the network when
     * the configuration is well-formed (connect lazily). */
    sqclaim_rc (*open)(const sqclaim_options *opts, void **conn, sqb_err *err);
    void (*close)(void *conn);
    sqclaim_rc (*ping)(void *conn, sqb_err *err); /* optional */

    /* OK, BUSY, or an error. */
    sqclaim_rc (*claim)(void *conn, const sqb_claim_req *req, sqb_claim_res *res, sqb_err *err);
    /* OK or LOST (expired, or held by another token); never revives. */
    sqclaim_rc (*renew)(void *conn, const sqb_lease_req *req, sqb_err *err);
    /* OK or LOST; deletes the claim and our reservation only if ours. */
    sqclaim_rc (*release)(void *conn, const sqb_lease_req *req, sqb_err *err);
    /* OK, LOST or BUSY. */
    sqclaim_rc (*reserve)(void *conn, const sqb_reserve_req *req, sqclaim_rows *rows, sqb_err *err);
    /* OK: the claim is ours and has no reservation of ours any more
     * (deleted now, or there was none: retries converge); with
     * req->rows_start set (version 3), only the reservation it names is
     * deleted, and another one of ours is left alone with OK.  LOST: the
     * claim is not ours (nothing touched).  (Version 1 answered LOST for
     * "ours, no reservation"; no such backend remains.) */
    sqclaim_rc (*finish)(void *conn, const sqb_lease_req *req, sqb_err *err);
    /* Append every live claim and reservation to *out with
     * sqb_status_add_claim() / sqb_status_add_reservation(); the core sorts
     * and stamps it.  Expired entries must not be added. */
    sqclaim_rc (*status)(void *conn, sqclaim_status *out, sqb_err *err);
    /* Optional: fill round_trips, reconnects, ambiguous. */
    void (*stats)(void *conn, sqclaim_stats *out);

    /* --- version 2: the operator tools (each optional: NULL makes the
     * public call answer SQCLAIM_EUNSUPPORTED) --- */
    /* Fill *out (sq already set, the rest zeroed) with the live keys of
     * one SQ, fingerprints included.  One round trip; a read. */
    sqclaim_rc (*inspect)(void *conn, const char *sq, sqclaim_entry *out, sqb_err *err);
    /* One atomic step, see sqb_break_req.  OK (*removed = SQCLAIM_BROKE_*
     * bits of what was deleted), BUSY (live sqclaim claim, no force),
     * LOST (a fingerprint differs).  Re-sending it after a lost reply is
     * safe: keys already gone are not an error. */
    sqclaim_rc (*break_sq)(void *conn, const sqb_break_req *req, unsigned *removed, sqb_err *err);
    /* Read both counters (out zeroed by the core).  A read. */
    sqclaim_rc (*counters)(void *conn, sqclaim_counters *out, sqb_err *err);
    /* cursor = max(cursor, row), atomically; a missing cursor is set to
     * row.  OK with *cursor = row when it is row now; BUSY with *cursor =
     * its value when it was above.  An invalid cursor is an error naming
     * the key. */
    sqclaim_rc (*raise_cursor)(void *conn, uint64_t row, uint64_t *cursor, sqb_err *err);
    /* The backend's own data, like sqlite3_vfs.pAppData: a table built at
     * run time (the simulator's scripted store) points it at its store
     * instance; a negative control (sim/controls/) at its fault.  The core
     * never reads it. */
    void *app_data;
    /* Optional: called instead of open when set, with the table itself
     * (so the backend finds its app_data); otherwise as open. */
    sqclaim_rc (*open_with)(const struct sqclaim_backend *be, const sqclaim_options *opts,
                            void **conn, sqb_err *err);
};
typedef struct sqclaim_backend sqclaim_backend;

/* Append one entry to a status snapshot (grows its array). OK or ENOMEM. */
sqclaim_rc sqb_status_add_claim(sqclaim_status *st, const sqclaim_claim_info *ci);
sqclaim_rc sqb_status_add_reservation(sqclaim_status *st, const sqclaim_reservation_info *ri);

/* The built-in backends, NULL-terminated; and lookup by name (NULL if not
 * built in). */
extern const sqclaim_backend *const sqclaim_builtin_backends[];
const sqclaim_backend *sqclaim_find_backend(const char *name);

/* Open a store on an explicit backend (for the simulator's negative
 * controls and for tests).  Otherwise as sqclaim_open(); opts->backend is
 * ignored. */
sqclaim_rc sqclaim_open_backend(const sqclaim_backend *be, const sqclaim_options *opts,
                                sqclaim_store **out);

/* Helpers shared by backends ------------------------------------------ */

/* Copy src into dst[size], truncating; always NUL-terminates. */
void sqb_strlcpy(char *dst, const char *src, size_t size);

/* Current wall-clock time in Unix milliseconds. */
int64_t sqb_unix_ms(void);

/* Format Unix milliseconds as ISO-8601 UTC with milliseconds into
 * buf[SQCLAIM_TIMESTAMP_LEN + 1]. */
void sqb_format_timestamp(int64_t unix_ms, char *buf);

/* A status entry's `raw` preview of value[0..len) into
 * out[SQCLAIM_RAW_MAX + 1]: printable ASCII kept, other bytes '.', runs of
 * 16 or more hex digits replaced by "<hex>", cut with "..." to fit.
 * Returns false, with out "", if the value mentions "token" (any case):
 * the caller sets SQCLAIM_ENTRY_RAW_HIDDEN. */
bool sqb_raw_preview(char *out, const char *value, size_t len);

/* Environment helpers: the value of `name` if set and non-empty, else
 * NULL. */
const char *sqb_getenv(const char *name);

#endif /* SQCLAIM_BACKEND_H */
