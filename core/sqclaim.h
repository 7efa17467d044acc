/*
 * sqclaim.h — claim work items ("SQs") and rows of a shared Refund Log
 * without ever colliding.
 *
 * This header is the manual.  Every function says what it does, what it
 * returns, who owns what, and which threads may call it.  The protocol and
 * its guarantees are explained in docs/protocol.md.
 *
 * Conventions
 *   - Functions named for an action return an sqclaim_rc; SQCLAIM_OK is 0.
 *     Outcomes (BUSY, LOST) are positive, failures are negative, so
 *     `rc < 0` (or sqclaim_is_error(rc)) means "something went wrong", and
 *     `rc > 0` means "the store answered, and the answer is no".
 *   - Functions named as a question return bool.
 *   - Detail about the most recent failure or BUSY/LOST answer is in
 *     sqclaim_errmsg(store); like SQLite's, it is reset by every operation,
 *     so after an OK it is "" (see sqclaim_errmsg).
 *   - Durations are milliseconds (int64_t); a TTL of 0 means the default
 *     (SQCLAIM_DEFAULT_TTL_MS, 600 s).
 *   - Strings passed in are only read during the call; nothing is retained.
 *   - Whatever the library allocates, it frees with its own function.
 *   - Binary interface (docs/architecture.md "Binary interface"):
 *     sqclaim_options, sqclaim_stats and sqclaim_counters may grow (fields
 *     appended, in a minor version): the caller's sizeof travels with them
 *     (options.size, and the macros sqclaim_options_init,
 *     sqclaim_stats_get and sqclaim_counters_get), and the library never
 *     writes or reads past it.  Every other struct here (lease, holder,
 *     rows, claim and reservation info, entry, status, clock) keeps its
 *     layout for the whole of major version 1.
 *
 * Thread safety
 *   A store handle may be shared between threads: calls on one handle are
 *   serialised by a lock inside it.  For parallelism open one handle per
 *   thread (with the memory backend, handles opened with the same
 *   memory_space share their data).  The message of the last failure is
 *   per handle: threads sharing a handle read it with
 *   sqclaim_errmsg_copy() (sqclaim_errmsg() returns the live buffer, which
 *   another thread's call may overwrite).
 *   Lease, holder and row structs are plain values owned by the caller.
 */
#ifndef SQCLAIM_H
#define SQCLAIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SQCLAIM_VERSION     "1.0.0"
#define SQCLAIM_VERSION_NUM 0x010000

/* Marks the functions libsqclaim.so exports; everything else in the
 * library is hidden (it is built with -fvisibility=hidden).  See
 * docs/architecture.md "Binary interface" for what a version promises. */
#if defined(__GNUC__) || defined(__clang__)
#define SQCLAIM_API __attribute__((visibility("default")))
#else
#define SQCLAIM_API
#endif

/* ---------------------------------------------------------------------
 * Limits (validation rules; see also docs/protocol.md "Validation")
 * ------------------------------------------------------------------- */

/* SQ id: 1..64 bytes of [A-Za-z0-9._-], not starting with '-' or '.'.
 * The seed's ids such as "251019-164rmb" pass; anything that could break
 * a key or a key pattern (':', '*', '?', '[', ']', spaces, control
 * characters, non-ASCII) is rejected. */
#define SQCLAIM_SQ_MAX 64
/* Bot id: 1..64 bytes of valid UTF-8 without control characters.  Stored
 * JSON-escaped, so it can never add or change fields of a stored value. */
#define SQCLAIM_BOT_MAX 64
/* Lease token: 128 random bits as 32 lowercase hex digits. */
#define SQCLAIM_TOKEN_LEN 32
/* TTL range for claims and renewals. */
#define SQCLAIM_DEFAULT_TTL_MS 600000
#define SQCLAIM_MIN_TTL_MS     10
#define SQCLAIM_MAX_TTL_MS     86400000 /* one day */
/* Row reservations: count 1..SQCLAIM_MAX_ROWS; hint 0 (none) or
 * 1..SQCLAIM_MAX_ROW.  Rows are 1-based, as in a spreadsheet. */
#define SQCLAIM_MAX_ROWS 100000
#define SQCLAIM_MAX_ROW  1000000000
/* claim-first-free: at most this many candidates in one call. */
#define SQCLAIM_MAX_CANDIDATES 256
/* ISO-8601 UTC timestamp with milliseconds, "2025-10-26T12:34:56.789Z". */
#define SQCLAIM_TIMESTAMP_LEN 24
/* Status strings stored in the seed layout ("CLAIMING", "WRITING", or what
 * another tool wrote, truncated to this length). */
#define SQCLAIM_STATUS_MAX 31

/* ---------------------------------------------------------------------
 * Result codes
 * ------------------------------------------------------------------- */
typedef enum sqclaim_rc {
    SQCLAIM_OK = 0,
    /* Outcomes: the store answered "no". */
    SQCLAIM_BUSY = 1, /* the SQ (or every candidate) is held by another lease,
                         or a reservation is already open */
    SQCLAIM_LOST = 2, /* the lease expired or moved on; you no longer hold it */

    /* Failures: nothing is known to have changed, unless the message says
     * the outcome is uncertain (see SQCLAIM_LEASE_UNCERTAIN). */
    SQCLAIM_EINVAL = -1,       /* invalid argument (SQ id, bot id, TTL, count...) */
    SQCLAIM_ECONFIG = -2,      /* missing or malformed configuration */
    SQCLAIM_EIO = -3,          /* connection refused, reset, transport error */
    SQCLAIM_ETIMEOUT = -4,     /* no reply within the configured timeout */
    SQCLAIM_EAUTH = -5,        /* wrong password or token */
    SQCLAIM_EPROTOCOL = -6,    /* malformed or unexpected reply */
    SQCLAIM_ENOMEM = -7,       /* out of memory */
    SQCLAIM_EUNSUPPORTED = -8, /* backend not built, or operation not supported */
    SQCLAIM_EQUOTA = -9,       /* the service's request, size or rate limit hit */
    SQCLAIM_ESERVER = -10,     /* the server reported an error (message has its text) */
    SQCLAIM_ESTATE = -11       /* call not allowed in this state (e.g. keep-alive running) */
} sqclaim_rc;

/* A static English name and description of a code, e.g. "BUSY: held by
 * another bot".  Never NULL; thread-safe. */
SQCLAIM_API const char *sqclaim_strerror(sqclaim_rc rc);

/* The enum's short name without prefix ("OK", "BUSY", "EINVAL" ...).  Never
 * NULL; thread-safe. */
SQCLAIM_API const char *sqclaim_rcname(sqclaim_rc rc);

/* True for failures (rc < 0), false for OK, BUSY and LOST. */
static inline bool sqclaim_is_error(sqclaim_rc rc) { return rc < 0; }

/* The library version string, SQCLAIM_VERSION of the build. */
SQCLAIM_API const char *sqclaim_version(void);

/* ---------------------------------------------------------------------
 * Opening a store
 * ------------------------------------------------------------------- */

typedef struct sqclaim_store sqclaim_store;

/* A monotonic clock in nanoseconds.  Injecting one lets tests move time
 * forward instead of sleeping.  Only backends with SQCLAIM_CAP_CLOCK (the
 * memory backend) accept one; the function must be thread-safe and never
 * go backwards. */
typedef struct sqclaim_clock {
    int64_t (*now_ns)(void *ctx); /* monotonic nanoseconds */
    void *ctx;                    /* passed to now_ns */
} sqclaim_clock;

/* Options.  Initialise with sqclaim_options_init(); fields left NULL/0 take
 * the environment, then the default.
 *
 * Binary interface: new fields are only ever appended, and `size` says
 * which the caller knows.  sqclaim_options_init() sets it to the caller's
 * sizeof(sqclaim_options); the library reads no byte past `size` and takes
 * the fields beyond it as NULL/0 (defaults), so a program built against an
 * older header keeps working with a newer library.  A program built
 * against a newer header than the library's may set fields the library
 * does not know: left 0 they are fine, set they make sqclaim_open() answer
 * SQCLAIM_EUNSUPPORTED.  size 0 (a struct zeroed by hand instead of
 * initialised) means the 1.0 layout: through op_timeout_ms. */
typedef struct sqclaim_options {
    size_t size; /* sizeof(sqclaim_options) of the caller;
                    set by sqclaim_options_init() */
    union {
        const char *backend; /* "sqlite" | "memory" | "redis" | "vercel"; NULL:
                                $SQCLAIM_BACKEND, else $SQCLAIM_ADAPTER, else
                                "sqlite" (the default: shared by every process
                                of the host; memory only when named) */
        const char *adapter; /* deprecated: the old name of `backend` (the
                                same field) */
    };
    const char *redis_url;      /* NULL: $REDIS_URL, else redis://127.0.0.1:6379;
                                   redis://[:password@]host:port[/db] or
                                   unix:///path/to/socket[?db=N&password=P] */
    const char *rest_url;       /* NULL: $KV_REST_API_URL, else $UPSTASH_REDIS_REST_URL
                                   (the first complete URL+token pair wins; see
                                   docs/vercel.md) */
    const char *rest_token;     /* NULL: $KV_REST_API_TOKEN, else $UPSTASH_REDIS_REST_TOKEN */
    const char *key_prefix;     /* prepended to every key (redis, vercel); NULL:
                                   $SQCLAIM_KEY_PREFIX, else "" (the seed's keys) */
    const char *memory_space;   /* memory: handles with the same name share data;
                                   NULL or "": the process-wide default space;
                                   at most 127 bytes */
    int connect_timeout_ms;     /* 0: 2000 */
    int timeout_ms;             /* per attempt; 0: 5000 */
    int retries;                /* extra attempts after a transient failure or
                                   an ambiguous reply; 0: $SQCLAIM_RETRIES
                                   (-1..10), else 2; -1: none */
    const sqclaim_clock *clock; /* NULL: CLOCK_MONOTONIC; copied at open */
    int op_timeout_ms;          /* total time for one operation, every attempt
                                   and the waits between them; 0: no total
                                   limit (see "Time limits" below) */
    const char *sqlite_path;    /* sqlite: the database file; NULL or "":
                                   $SQCLAIM_DB, else $XDG_STATE_HOME/sqclaim/
                                   claims.db, else ~/.local/state/sqclaim/
                                   claims.db.  Created 0600 (its directories
                                   0700) when absent; a file that is not an
                                   sqclaim database, or one on a network
                                   filesystem, is refused (ECONFIG).  All
                                   processes that must coordinate name the
                                   same file.  See docs/sqlite.md.  (Appended
                                   after 1.0: read when `size` covers it.) */
} sqclaim_options;

/* Time limits.
 *   connect_timeout_ms  bounds one connection (redis: the TCP or unix
 *                       connect and its AUTH/SELECT; vercel: up to the
 *                       end of the TLS handshake).
 *   timeout_ms          bounds one request: from sending it to the end of
 *                       its reply (vercel: the whole HTTP exchange,
 *                       connecting included; sqlite: the wait for the
 *                       database's write lock held by other processes).
 *   retries             an operation whose attempt failed transiently, or
 *                       whose reply was lost, is tried again (same token)
 *                       up to this many times, after a backoff of 25 ms
 *                       doubling per attempt (capped at 1 s, jittered).
 * Without op_timeout_ms an operation can thus take up to (1 + retries) x
 * (connect_timeout_ms + timeout_ms) plus the backoffs: about 21 s with
 * the defaults (15 s against a server that accepts connections but never
 * answers), and a caller that retries on top multiplies it.
 *   op_timeout_ms       bounds the operation as a whole.  timeout_ms and
 *                       connect_timeout_ms larger than it are cut to it.
 *                       The first attempt always runs; a retry starts only
 *                       if its backoff plus a whole attempt
 *                       (connect_timeout_ms + timeout_ms) still fit in
 *                       what is left; otherwise the operation returns the
 *                       last attempt's failure (its code and message; a
 *                       lost reply stays ambiguous).  With
 *                       connect_timeout_ms + timeout_ms <= op_timeout_ms
 *                       (the sqclaim CLI uses a sixth and a third of it)
 *                       an operation therefore ends within op_timeout_ms,
 *                       plus scheduling noise -- except where one attempt
 *                       is several requests in a row, each with its own
 *                       timeout_ms: a status of a store with more keys
 *                       than one SCAN page, or a script sent again after
 *                       NOSCRIPT.
 * Time is measured on the store's clock (an injected clock included). */

/* Fill *opts with defaults (all NULL/0) and opts->size.  Always call it
 * first.  A macro, so that `size` is the caller's sizeof: the function
 * behind it writes exactly `size` bytes, never more.  NULL is a no-op. */
#define sqclaim_options_init(opts) sqclaim_options_init_sized((opts), sizeof *(opts))
SQCLAIM_API void sqclaim_options_init_sized(sqclaim_options *opts, size_t size);

/* Open a store.  The backend is opts->backend, else $SQCLAIM_BACKEND, else
 * $SQCLAIM_ADAPTER (its old name; both set to different names is
 * SQCLAIM_ECONFIG), else "sqlite": one database file shared by every
 * process of this host (see sqlite_path), so bots started without
 * configuration still coordinate.  "memory" (claims kept inside this one
 * process: threads, tests) is only used when named.  An unknown or unbuilt
 * backend name is SQCLAIM_EUNSUPPORTED with a message listing the available
 * ones.  opts may be NULL (all defaults).
 *
 * Returns SQCLAIM_OK and a handle in *out, or an error.  Like SQLite, on
 * failure *out is still set (unless memory ran out, then NULL) to a handle
 * whose sqclaim_errmsg() says what went wrong; close it with
 * sqclaim_close().  Remote backends connect lazily on first use unless the
 * configuration itself is wrong, so a server that is down is reported by
 * the first operation (and by sqclaim_ping()).
 * Thread-safe. */
SQCLAIM_API sqclaim_rc sqclaim_open(const sqclaim_options *opts, sqclaim_store **out);

/* Close a store and free it.  NULL is a no-op.  Stops and joins (without
 * releasing) any keep-alive still running on it; each keep-alive handle
 * must still be freed with sqclaim_keepalive_stop().  No other thread may
 * be using the handle. */
SQCLAIM_API void sqclaim_close(sqclaim_store *store);

/* The message of the most recent operation on this handle: its failure,
 * or its BUSY/LOST answer, in words a user can act on; "" after an
 * operation that returned OK.  Every operation clears it first, as SQLite
 * does — claim, claim_first, claim_retry, abandon, renew, release,
 * reserve_rows, finish_rows, finish_range, status_get, ping,
 * keepalive_start, inspect, break, counters_get, raise_cursor — so it
 * never describes an earlier call.  Calls that only read the handle (sqclaim_errmsg_copy,
 * sqclaim_errcode, sqclaim_stats_get, sqclaim_may_act...) and the
 * keep-alive's background renewals leave it alone.  A handle whose open
 * failed keeps its open error for good.  Never contains a password or
 * token.  Owned by the handle and valid until its next operation; if other
 * threads use the handle, use sqclaim_errmsg_copy() instead.
 * NULL store: "out of memory". */
SQCLAIM_API const char *sqclaim_errmsg(const sqclaim_store *store);

/* Copy the most recent message into buf[len] (truncated, NUL-terminated)
 * and return its code, atomically with respect to other threads using the
 * handle.  NULL store: "out of memory" and SQCLAIM_ENOMEM. */
SQCLAIM_API sqclaim_rc sqclaim_errmsg_copy(sqclaim_store *store, char *buf, size_t len);

/* The code that goes with sqclaim_errmsg(): that of the most recent
 * operation (SQCLAIM_OK after a success).  Thread-safe. */
SQCLAIM_API sqclaim_rc sqclaim_errcode(const sqclaim_store *store);

/* The backend's name ("sqlite", "memory", "redis", "vercel").  "" for NULL. */
SQCLAIM_API const char *sqclaim_backend_name(const sqclaim_store *store);
/* Deprecated: the old name of sqclaim_backend_name(). */
SQCLAIM_API const char *sqclaim_adapter(const sqclaim_store *store);

/* Capability bits of the store's backend. */
#define SQCLAIM_CAP_CLOCK         0x01u /* accepts an injected clock */
#define SQCLAIM_CAP_CROSS_PROCESS 0x02u /* several processes share the data */
#define SQCLAIM_CAP_PERSISTENT    0x04u /* data outlives the process */
#define SQCLAIM_CAP_FOREIGN       0x08u /* sees values written by other tools */
#define SQCLAIM_CAP_STATS         0x10u /* counts round trips (sqclaim_stats) */
SQCLAIM_API unsigned sqclaim_caps(const sqclaim_store *store);

/* Names of the backends built into this library, as a NULL-terminated
 * static array ("memory" first).  Thread-safe. */
SQCLAIM_API const char *const *sqclaim_backend_names(void);
/* Deprecated: the old name of sqclaim_backend_names(). */
SQCLAIM_API const char *const *sqclaim_adapters(void);

/* Round trip to the store (connects if needed).  OK, or an error. */
SQCLAIM_API sqclaim_rc sqclaim_ping(sqclaim_store *store);

/* Counters kept per handle.  Fields are only ever appended (see
 * sqclaim_stats_get). */
typedef struct sqclaim_stats {
    uint64_t operations;  /* protocol operations started */
    uint64_t round_trips; /* requests sent to the server (memory: 0) */
    uint64_t retries;     /* attempts repeated after a transient failure */
    uint64_t reconnects;  /* connections re-established */
    uint64_t ambiguous;   /* replies lost after the request was sent */
} sqclaim_stats;

/* Copy the handle's counters into *out.  OK, or EINVAL if store or out is
 * NULL.  A macro passing the caller's sizeof(*out): the library writes
 * exactly that many bytes (fields it does not know are zeroed, fields the
 * caller does not know are not written). */
#define sqclaim_stats_get(store, out) sqclaim_stats_get_sized((store), (out), sizeof *(out))
SQCLAIM_API sqclaim_rc sqclaim_stats_get_sized(sqclaim_store *store, sqclaim_stats *out,
                                               size_t size);

/* ---------------------------------------------------------------------
 * Leases: claim, renew, release
 * ------------------------------------------------------------------- */

/* Lease flags. */
#define SQCLAIM_LEASE_UNCERTAIN                                                                    \
    0x01u /* the claim's reply was lost: it may be                                                 \
             held.  Retry with sqclaim_claim_retry()                                               \
             or give it up with sqclaim_release(). */
#define SQCLAIM_LEASE_RECLAIMED                                                                    \
    0x02u /* granted by finding our own token (an                                                  \
             earlier attempt had succeeded) */

/* A lease: the proof that a bot holds an SQ.  A plain value owned by the
 * caller; copy it freely.  The token is the secret that makes renew and
 * release owner-checked: do not log it. */
typedef struct sqclaim_lease {
    char sq[SQCLAIM_SQ_MAX + 1];       /* the SQ held */
    char bot[SQCLAIM_BOT_MAX + 1];     /* the holder */
    char token[SQCLAIM_TOKEN_LEN + 1]; /* 128-bit random token, hex */
    uint64_t fence;                    /* fencing number: strictly increasing
                                          across grants of the same SQ */
    int64_t ttl_ms;                    /* the TTL asked for */
    int64_t sent_ns;                   /* store clock when the (first) request
                                          that granted or renewed it was sent */
    int64_t deadline_ns;               /* store clock: sent + ttl - margin;
                                          0 if unknown (a lease rebuilt from
                                          its token) */
    int64_t expires_unix_ms;           /* wall-clock estimate of the store's
                                          expiry, for display only */
    unsigned flags;                    /* SQCLAIM_LEASE_* */
} sqclaim_lease;

/* Who holds an SQ, when a claim says BUSY. */
typedef struct sqclaim_holder {
    char sq[SQCLAIM_SQ_MAX + 1];   /* the SQ asked for (first candidate) */
    char bot[SQCLAIM_BOT_MAX + 1]; /* holder's bot id ("" if unknown) */
    int64_t remaining_ms;          /* holder's remaining time; -1 if unknown */
} sqclaim_holder;

/* Claim `sq` for `bot` for ttl_ms (0: 600 s).
 *   SQCLAIM_OK    *lease filled: new token, fence, deadline.
 *   SQCLAIM_BUSY  held by another lease; *holder (if not NULL) names it.
 *   SQCLAIM_EINVAL bad SQ id, bot id or TTL; nothing was sent.
 *   other errors  the store could not be asked, or did not answer.  If the
 *                 request may have been applied, *lease carries the token
 *                 and SQCLAIM_LEASE_UNCERTAIN: call sqclaim_claim_retry()
 *                 (idempotent: finding our own token means granted) or
 *                 sqclaim_release() to give up what we may hold.
 * Ambiguous replies are retried internally (opts.retries) with the same
 * token before an error is returned.  lease must not be NULL. */
SQCLAIM_API sqclaim_rc sqclaim_claim(sqclaim_store *store, const char *sq, const char *bot,
                                     int64_t ttl_ms, sqclaim_lease *lease, sqclaim_holder *holder);

/* Claim the first free SQ of sqs[0..n-1], in list order, in one backend
 * operation (one round trip).  n is 1..SQCLAIM_MAX_CANDIDATES; every id is
 * validated before anything is sent; duplicates are allowed.
 *   SQCLAIM_OK    lease->sq is the SQ granted.
 *   SQCLAIM_BUSY  every candidate is held; *holder names the first one's.
 * Other codes as sqclaim_claim(). */
SQCLAIM_API sqclaim_rc sqclaim_claim_first(sqclaim_store *store, const char *const *sqs, size_t n,
                                           const char *bot, int64_t ttl_ms, sqclaim_lease *lease,
                                           sqclaim_holder *holder);

/* Re-send a claim whose outcome is uncertain, with the lease's token, bot
 * and TTL (0: the default).  sqs/n: the candidates of the original call
 * (NULL/0: lease->sq).  Works on a lease rebuilt from JSON too.
 *   OK    granted.  If an earlier attempt had granted it (flag RECLAIMED),
 *         the deadline is the earlier of "TTL after the first send we know
 *         of" and "the store's remaining TTL after this send"; a fresh
 *         grant gets a fresh deadline and fence.
 *   BUSY  not granted (every candidate held by others).
 * The UNCERTAIN flag is cleared on OK and BUSY; errors as sqclaim_claim(). */
SQCLAIM_API sqclaim_rc sqclaim_claim_retry(sqclaim_store *store, const char *const *sqs, size_t n,
                                           sqclaim_lease *lease, sqclaim_holder *holder);

/* Give up a claim whose outcome is uncertain: release the lease's token on
 * every candidate of the original call (sqs/n; NULL/0: lease->sq) — at
 * most one can hold it.  One release per candidate.
 *   OK    one was held with the token, and is released.
 *   LOST  none was (the claim never landed, or has expired).
 *   error still unresolved (the UNCERTAIN flag stays): call it again. */
SQCLAIM_API sqclaim_rc sqclaim_abandon(sqclaim_store *store, const char *const *sqs, size_t n,
                                       sqclaim_lease *lease);

/* Extend the lease to ttl_ms from now (0: lease->ttl_ms), owner-checked.
 * Also extends the lease's open row reservation.
 *   OK    lease->deadline_ns, sent_ns, expires_unix_ms and ttl_ms updated;
 *         SQCLAIM_LEASE_UNCERTAIN cleared (the claim is proven held).
 *   LOST  the lease expired or another lease holds the SQ; an expired lease
 *         is never revived.  lease->deadline_ns becomes 0.
 * Errors as sqclaim_claim(); the old deadline still applies, except that if
 * a renewal to a shorter TTL may have been applied, the deadline moves to
 * the earlier of the two. */
SQCLAIM_API sqclaim_rc sqclaim_renew(sqclaim_store *store, sqclaim_lease *lease, int64_t ttl_ms);

/* Release the lease, owner-checked, and remove its open row reservation.
 * Stops and joins any keep-alive running for this lease on this handle
 * first, so no renewal can outlive the release.
 *   OK    released.  Also when an attempt's reply was lost and the retry
 *         finds the claim gone (or held by another lease) while the
 *         lease's local deadline had not passed when that answer arrived:
 *         the claim cannot have expired by then, so the lost attempt
 *         released it (unless an operator removed it meanwhile: a
 *         sqclaim_break, a FLUSH, a failover that lost it).
 *   LOST  it was not held any more (expired or moved on); nothing of another
 *         lease is touched.  After a lost reply with the deadline passed or
 *         unknown (a lease rebuilt from JSON), the message says the earlier
 *         attempt may have released it: that is not proven.
 * After OK or LOST the lease must not be used to act. */
SQCLAIM_API sqclaim_rc sqclaim_release(sqclaim_store *store, sqclaim_lease *lease);

/* May the holder still act?  A local check without a round trip: true
 * while the store's clock is before lease->deadline_ns, i.e. before
 * sent + ttl - (ttl/100 + 2 ms).  False for a NULL lease, a lease without
 * a deadline, or an uncertain one.  Thread-safe. */
SQCLAIM_API bool sqclaim_may_act(const sqclaim_store *store, const sqclaim_lease *lease);

/* Milliseconds left before lease->deadline_ns (0 if passed). */
SQCLAIM_API int64_t sqclaim_lease_remaining_ms(const sqclaim_store *store,
                                               const sqclaim_lease *lease);

/* The store's clock (injected or CLOCK_MONOTONIC), in nanoseconds. */
SQCLAIM_API int64_t sqclaim_now_ns(const sqclaim_store *store);

/* The safety margin subtracted from a TTL for the local deadline:
 * ttl/100 + 2 ms, in milliseconds. */
SQCLAIM_API int64_t sqclaim_margin_ms(int64_t ttl_ms);

/* Write the lease as one line of JSON into a new string:
 *   {"sq":"…","bot":"…","token":"…","fence":7,"ttlMs":600000,
 *    "expiresAt":"2025-10-26T12:44:56.789Z"}
 * "bot" is left out when the lease has none (lease->bot "", e.g. rebuilt
 * from JSON without one), so that the output always reads back.
 * It contains the token: it is for passing a lease between processes (the
 * CLI), not for logs.  Returns NULL if out of memory; free with
 * sqclaim_free(). */
SQCLAIM_API char *sqclaim_lease_to_json(const sqclaim_lease *lease);

/* Rebuild a lease from sqclaim_lease_to_json() output (extra fields are
 * ignored; "sq" and "token" are required).  The deadline is unknown
 * (deadline_ns 0): renew it to act again.  SQCLAIM_EINVAL with a message in
 * errbuf (if not NULL) for anything malformed. */
SQCLAIM_API sqclaim_rc sqclaim_lease_from_json(const char *json, sqclaim_lease *lease, char *errbuf,
                                               size_t errlen);

/* ---------------------------------------------------------------------
 * Keep-alive
 * ------------------------------------------------------------------- */

typedef struct sqclaim_keepalive sqclaim_keepalive;

/* Called from the keep-alive thread, once, when the lease is lost (LOST) or
 * cannot be renewed before its deadline (the error).  It may call any
 * sqclaim function, including sqclaim_release() and
 * sqclaim_keepalive_stop() of this keep-alive (which then does not wait for
 * its own thread); keep it short. */
typedef void (*sqclaim_lost_fn)(const sqclaim_lease *lease, sqclaim_rc why, void *arg);

/* Start renewing *lease in a background thread every ttl/3 — sooner if
 * less than that is left — (the lease is copied; the keep-alive owns its
 * copy).  Transient failures are retried until the lease's deadline
 * passes; LOST or a passed deadline is reported at once through on_lost
 * (may be NULL) and sqclaim_keepalive_lost().  A keep-alive stops for good
 * once lost, released, or its store closed.
 * OK and *out (free it with sqclaim_keepalive_stop()), or SQCLAIM_EINVAL
 * (invalid lease, or one without a known deadline), SQCLAIM_ENOMEM,
 * SQCLAIM_EIO (thread could not start), or the open error of a store that
 * failed to open. */
SQCLAIM_API sqclaim_rc sqclaim_keepalive_start(sqclaim_store *store, const sqclaim_lease *lease,
                                               sqclaim_lost_fn on_lost, void *arg,
                                               sqclaim_keepalive **out);

/* Has the keep-alive lost its lease?  Thread-safe (until
 * sqclaim_keepalive_stop() frees ka); cheap (an atomic load). */
SQCLAIM_API bool sqclaim_keepalive_lost(const sqclaim_keepalive *ka);

/* May the holder still act: not lost, not stopped (by stop, release or
 * close), and the latest renewed deadline not passed.  Thread-safe (until
 * sqclaim_keepalive_stop() frees ka). */
SQCLAIM_API bool sqclaim_keepalive_may_act(const sqclaim_keepalive *ka);

/* Number of successful renewals so far.  Thread-safe. */
SQCLAIM_API uint64_t sqclaim_keepalive_renewals(const sqclaim_keepalive *ka);

/* The deadline (store clock, ns) of the latest successful renewal — the
 * lease's own deadline until the first one.  Thread-safe (until
 * sqclaim_keepalive_stop() frees ka); 0 for NULL. */
SQCLAIM_API int64_t sqclaim_keepalive_deadline_ns(const sqclaim_keepalive *ka);

/* Stop renewing, join the thread (no renewal is in flight after this
 * returns), copy the latest lease into *lease (if not NULL), and free ka.
 * Returns OK, or LOST if the lease was lost while it ran (the reason was
 * given to on_lost).  NULL: OK.  May race with sqclaim_release() and
 * sqclaim_close() on other threads. */
SQCLAIM_API sqclaim_rc sqclaim_keepalive_stop(sqclaim_keepalive *ka, sqclaim_lease *lease);

/* ---------------------------------------------------------------------
 * Refund Log row reservations
 * ------------------------------------------------------------------- */

typedef struct sqclaim_rows {
    uint64_t start_row; /* first row of the range, >= hint */
    uint32_t count;     /* rows in the range */
    uint64_t fence;     /* the fencing number of the lease that reserved it */
} sqclaim_rows;

/* Reserve `count` rows of the Refund Log for the SQ the lease holds,
 * starting at or after `hint` (the first row the bot sees free; 0: none).
 * The range never overlaps any other range this store has handed out
 * (while it keeps its row cursor: the cursor never moves back and never
 * expires), nor any live reservation in the store — also ones written in
 * the seed layout by other tools, and also after the cursor was lost (it
 * is rebuilt from the live reservations; see docs/protocol.md).  The
 * reservation expires with the claim.  Its stored "botId" is that of the
 * claim in the store, whatever lease->bot says (lease->bot may be "").
 *   OK    *rows filled.  A retry while the same reservation is open
 *         returns the same range (idempotent).
 *   LOST  the lease is not the SQ's current claim.
 *   BUSY  a reservation is already open under this SQ: this lease's with a
 *         different count or starting below the hint (finish it first),
 *         or a value another tool wrote under refund:{sq}.
 *   EINVAL count or hint out of range.
 *   ESERVER the row cursor holds something that is not a row number (the
 *         message names the key and the fix); nothing was reserved. */
SQCLAIM_API sqclaim_rc sqclaim_reserve_rows(sqclaim_store *store, const sqclaim_lease *lease,
                                            uint32_t count, uint64_t hint, sqclaim_rows *rows);

/* Finish (remove) the lease's open reservation, whichever it is,
 * owner-checked: the lease-wide form.  Prefer sqclaim_finish_range(): a
 * finish of this form that arrives late (held in a proxy past the
 * client's give-up, re-sent, delivered twice) after the same lease's
 * next reservation removes that one instead (docs/protocol.md, "A late
 * or duplicated finish").
 *   OK    the lease still holds the SQ and has no open reservation any
 *         more: removed by this call, or already gone — by an earlier
 *         attempt whose reply was lost, an earlier call (a retry from
 *         another process), or never made.  Finishing twice is OK.
 *   LOST  the lease no longer holds the SQ (expired or moved on); nothing
 *         of another lease is touched.
 *   EINVAL invalid lease; other errors as sqclaim_claim() (nothing is
 *         known to have changed, unless the reply was lost: then call it
 *         again).
 * Thread-safe as every call on a handle. */
SQCLAIM_API sqclaim_rc sqclaim_finish_rows(sqclaim_store *store, const sqclaim_lease *lease);

/* Finish (remove) one reservation of the lease: the one *rows describes,
 * as sqclaim_reserve_rows() returned it.  Owner-checked, one atomic step
 * (one round trip on remote stores).  The lease's stored reservation is
 * removed only if its start row, row count and fence all equal those of
 * *rows; any other reservation is never touched.
 *   OK    the lease still holds the SQ and the reservation *rows describes
 *         is not open any more: removed by this call; or already gone (an
 *         earlier attempt whose reply was lost, a retry from another
 *         process, a finish delivered twice); or the lease's open
 *         reservation is another one — a later reservation of the same
 *         lease — which is left in place.  So a finish retried, repeated
 *         or arriving late always converges and never removes a range
 *         the bot still writes to.  Call it again after any error.
 *   LOST  the lease no longer holds the SQ (expired or moved on); nothing
 *         of another lease is touched.
 *   EINVAL invalid lease, rows NULL, start_row 0 or above 10^15, or
 *         count outside 1..SQCLAIM_MAX_ROWS; nothing was sent.
 *   EUNSUPPORTED the backend cannot tell reservations apart (a backend
 *         written for an older backend interface); nothing was changed:
 *         use sqclaim_finish_rows() there.
 *   other errors as sqclaim_claim().
 * Limit: two reservations of one lease with the same start row, count
 * and fence cannot be told apart.  That takes the row cursor to be lost
 * between them (a new range never starts below the cursor), and the
 * hint not to have stepped over the first range.
 * Thread-safe as every call on a handle; rows is only read. */
SQCLAIM_API sqclaim_rc sqclaim_finish_range(sqclaim_store *store, const sqclaim_lease *lease,
                                            const sqclaim_rows *rows);

/* ---------------------------------------------------------------------
 * Status
 * ------------------------------------------------------------------- */

/* Flags of a status entry. */
#define SQCLAIM_ENTRY_FOREIGN                                                                      \
    0x01u /* not written by sqclaim (no lease token): another tool's value,                        \
             e.g. the seed's own layout.  It blocks claims all the same. */
#define SQCLAIM_ENTRY_UNREADABLE                                                                   \
    0x02u /* not a JSON object (plain text, a JSON array or number, or a key                       \
             of another type): the holder is unknown, bot is "?", `type`                           \
             and `raw` say what is there.  Always with FOREIGN. */
#define SQCLAIM_ENTRY_RAW_HIDDEN                                                                   \
    0x04u /* `raw` is withheld ("") because the value mentions a token */

/* Longest preview of a value (raw), without the NUL. */
#define SQCLAIM_RAW_MAX 72
/* Longest value fingerprint, without the NUL. */
#define SQCLAIM_FINGERPRINT_MAX 47

typedef struct sqclaim_claim_info {
    char sq[SQCLAIM_SQ_MAX + 1];
    char bot[SQCLAIM_BOT_MAX + 1];             /* "?" when not known */
    char timestamp[SQCLAIM_TIMESTAMP_LEN + 1]; /* when claimed ("" if absent) */
    char status[SQCLAIM_STATUS_MAX + 1];       /* "CLAIMING" */
    uint64_t fence;                            /* 0 if absent (foreign value) */
    int64_t ttl_ms;                            /* remaining; -1: never expires */
    /* Fields appended after the first release: */
    unsigned flags;                                /* SQCLAIM_ENTRY_* */
    char type[16];                                 /* UNREADABLE: the store's type of the
                                                      key ("string", "hash", "list"...) */
    char raw[SQCLAIM_RAW_MAX + 1];                 /* UNREADABLE strings: the value's first
                                                      bytes, printable ASCII only (other
                                                      bytes '.'), runs of 16+ hex digits
                                                      replaced by "<hex>", "..." if cut;
                                                      "" with RAW_HIDDEN or another type */
    char fingerprint[SQCLAIM_FINGERPRINT_MAX + 1]; /* identifies the stored value, for
                                                      sqclaim_break(); opaque, reveals
                                                      nothing of the value or token */
} sqclaim_claim_info;

typedef struct sqclaim_reservation_info {
    char sq[SQCLAIM_SQ_MAX + 1];
    char bot[SQCLAIM_BOT_MAX + 1]; /* "?" when not known */
    uint64_t start_row;            /* 0 if unknown (UNREADABLE) */
    uint32_t row_count;
    char status[SQCLAIM_STATUS_MAX + 1]; /* "WRITING" */
    char timestamp[SQCLAIM_TIMESTAMP_LEN + 1];
    uint64_t fence;
    int64_t ttl_ms; /* remaining; -1: never expires */
    /* Appended, as in sqclaim_claim_info: */
    unsigned flags;
    char type[16];
    char raw[SQCLAIM_RAW_MAX + 1];
    char fingerprint[SQCLAIM_FINGERPRINT_MAX + 1];
} sqclaim_reservation_info;

/* A snapshot of live claims and reservations, sorted by SQ id. */
typedef struct sqclaim_status {
    size_t nclaims;
    sqclaim_claim_info *claims;
    size_t nreservations;
    sqclaim_reservation_info *reservations;
    char timestamp[SQCLAIM_TIMESTAMP_LEN + 1]; /* when the snapshot was taken */
} sqclaim_status;

/* Take a snapshot.  Expired entries never appear.  Every live key that
 * blocks a claim is shown — sqclaim's own claims, values in the seed
 * layout written by other tools (flag FOREIGN; fields they lack are empty
 * or 0, the bot "?" if it has none), and anything else under sq:{id}:
 * plain text, JSON that is not an object, keys of another type (flags
 * FOREIGN|UNREADABLE, with `type` and a `raw` preview) — and every live
 * key under refund:{id} the same way.  Only keys whose {id} is not a valid
 * SQ id (they cannot block a claim made through this API) are left out.
 * A key without expiry has ttl_ms -1 ("never expires").  OK and *out
 * (free with sqclaim_status_free()), or an error. */
SQCLAIM_API sqclaim_rc sqclaim_status_get(sqclaim_store *store, sqclaim_status **out);

/* Free a snapshot.  NULL is a no-op. */
SQCLAIM_API void sqclaim_status_free(sqclaim_status *status);

#define SQCLAIM_JSON_PRETTY 0x01u

/* Render a snapshot as the seed's /api/queue JSON:
 *   {"success":true,"sqClaims":{"<sq>":{"botId":…,"timestamp":…,
 *    "status":"CLAIMING","fence":…,"ttlMs":…}},"refundReservations":{"<sq>":
 *    {"botId":…,"startRow":…,"rowCount":…,"status":"WRITING",
 *    "timestamp":…,"fence":…,"ttlMs":…}},"timestamp":…,"kvConfigured":true}
 * Entries with flags get more members after "ttlMs", and only they:
 * "foreign":true (FOREIGN); "unreadable":true,"type":"…","raw":"…"
 * (UNREADABLE); "rawHidden":true (RAW_HIDDEN).  ttlMs -1: never expires.
 * Never contains a token (nor fingerprints).  NULL if out of memory; free
 * with sqclaim_free(). */
SQCLAIM_API char *sqclaim_status_json(const sqclaim_status *status, unsigned flags);

/* The seed's error JSON for a store that could not be used:
 *   {"success":false,"error":"<message>"}
 * For a vercel backend without configuration the message is the seed's
 * "KV not configured. Visit Vercel dashboard to set up KV storage.".
 * NULL if out of memory; free with sqclaim_free(). */
SQCLAIM_API char *sqclaim_error_json(const char *message, unsigned flags);

/* The seed's "KV not configured" message. */
#define SQCLAIM_KV_NOT_CONFIGURED "KV not configured. Visit Vercel dashboard to set up KV storage."

/* Free a string returned by this library.  NULL is a no-op. */
SQCLAIM_API void sqclaim_free(void *ptr);

/* ---------------------------------------------------------------------
 * Operator tools: inspect and break one SQ, read and raise the counters
 *
 * For people repairing a store (the CLI's `break` and `counters`), not
 * for bots.  Backends that lack them answer SQCLAIM_EUNSUPPORTED.
 * ------------------------------------------------------------------- */

/* What the store holds for one SQ. */
typedef struct sqclaim_entry {
    char sq[SQCLAIM_SQ_MAX + 1];
    bool has_claim;                       /* a live key under sq:{sq} */
    sqclaim_claim_info claim;             /* as in sqclaim_status_get() */
    bool has_reservation;                 /* a live key under refund:{sq} */
    sqclaim_reservation_info reservation; /* as in sqclaim_status_get() */
} sqclaim_entry;

/* Read what the store holds for `sq` (one round trip), with the values'
 * fingerprints, to show an operator before sqclaim_break().
 *   OK  *out filled (has_claim / has_reservation false where nothing is).
 *   EINVAL bad SQ id or NULL out; EUNSUPPORTED backend without it. */
SQCLAIM_API sqclaim_rc sqclaim_inspect(sqclaim_store *store, const char *sq, sqclaim_entry *out);

/* sqclaim_break() flags. */
#define SQCLAIM_BREAK_FORCE 0x01u /* also remove a live claim written by sqclaim */
/* What sqclaim_break() removed (*removed bits). */
#define SQCLAIM_BROKE_CLAIM       0x01u
#define SQCLAIM_BROKE_RESERVATION 0x02u

/* End `sq`'s claim and reservation whatever their owner, in one atomic
 * step: a kill -9'ed bot's claim, a key without expiry written by another
 * tool, a value that is not JSON.  `expected` (may be NULL) is what the
 * operator was shown: from sqclaim_inspect(), or built from the entries of
 * a sqclaim_status_get() snapshot (sq, has_claim + claim, has_reservation
 * + reservation: the fingerprints are what is compared);
 * a key whose value is no longer the one shown — a claim made, replaced
 * or re-reserved in between — is never removed.
 *   OK    removed; *removed (if not NULL) has a BROKE_ bit per key deleted
 *         (0: nothing was there).  A key shown in `expected` but gone by
 *         now is fine (it expired, or an earlier attempt whose reply was
 *         lost removed it: then its bit is set too).
 *   BUSY  the claim is a live claim written by sqclaim — a bot may still
 *         be working on it — and SQCLAIM_BREAK_FORCE was not given;
 *         nothing removed.  The message names its bot and time left.
 *   LOST  a key changed since `expected` was read; nothing removed:
 *         inspect again.
 *   EINVAL bad SQ id or flags; EUNSUPPORTED backend without it.
 * The bot whose claim is broken learns it at its next renew/reserve/
 * finish/release (LOST); a stale bot's writes are stopped by its fence. */
SQCLAIM_API sqclaim_rc sqclaim_break(sqclaim_store *store, const char *sq,
                                     const sqclaim_entry *expected, unsigned flags,
                                     unsigned *removed);

/* State of a helper counter. */
#define SQCLAIM_COUNTER_OK 0 /* holds a number */
#define SQCLAIM_COUNTER_MISSING                                                                    \
    1 /* absent (or a fence counter of 0): the next claim (fence)                                  \
         or reservation (cursor) rebuilds it from the live records */
#define SQCLAIM_COUNTER_INVALID                                                                    \
    2 /* holds something else: claims (fence) or                                                   \
         reservations (cursor) fail until it is                                                    \
         deleted or set to a number */
/* Longest key name of a counter, without the NUL. */
#define SQCLAIM_KEY_MAX 159

typedef struct sqclaim_counters {
    uint64_t fence;       /* the last fencing number handed out (OK only) */
    unsigned fence_state; /* SQCLAIM_COUNTER_* */
    uint64_t row_cursor;  /* the next row a reservation may start at (OK
                             only; memory: 0 until the first reservation) */
    unsigned cursor_state;
    char fence_key[SQCLAIM_KEY_MAX + 1];     /* e.g. "sqclaim:fence" (with prefix) */
    char cursor_key[SQCLAIM_KEY_MAX + 1];    /* e.g. "sqclaim:rowcursor" */
    char fence_detail[SQCLAIM_RAW_MAX + 32]; /* INVALID: what it holds, e.g.
                                                "a hash" or "\"abc\"" */
    char cursor_detail[SQCLAIM_RAW_MAX + 32];
} sqclaim_counters;

/* Read the fencing counter and the row cursor (one round trip).  OK and
 * *out, or an error (EUNSUPPORTED backend without it).  Sized as
 * sqclaim_stats_get(): fields are only ever appended, the library writes
 * exactly sizeof(*out) of the caller. */
#define sqclaim_counters_get(store, out) sqclaim_counters_get_sized((store), (out), sizeof *(out))
SQCLAIM_API sqclaim_rc sqclaim_counters_get_sized(sqclaim_store *store, sqclaim_counters *out,
                                                  size_t size);

/* Move the row cursor up to `row` (1 .. 999999999999999): the next
 * reservation starts at `row` or later.  Never down: rows below the
 * cursor may have been handed out.
 *   OK    the cursor is now `row` (raised, or it already was exactly
 *         that, or it was missing and is set); *cursor = row.
 *   BUSY  the cursor is already above `row`: unchanged; *cursor = its
 *         value.
 *   EINVAL row out of range; ESERVER the cursor key holds something that
 *         is not a row number (message names the key and the fix).
 * cursor may be NULL. */
SQCLAIM_API sqclaim_rc sqclaim_raise_cursor(sqclaim_store *store, uint64_t row, uint64_t *cursor);

/* ---------------------------------------------------------------------
 * Validation (the same checks every operation makes)
 * ------------------------------------------------------------------- */

/* Check an SQ id or bot id.  OK, or SQCLAIM_EINVAL with a message in errbuf
 * (if not NULL).  Thread-safe. */
SQCLAIM_API sqclaim_rc sqclaim_check_sq(const char *sq, char *errbuf, size_t errlen);
SQCLAIM_API sqclaim_rc sqclaim_check_bot(const char *bot, char *errbuf, size_t errlen);

/* Parse a duration, the one grammar of every sqclaim program (the CLI's
 * --ttl, --timeout and --interval, sqsim's options): a decimal number and
 * a unit, no spaces -- "250us", "250ms", "1.5s", "600s", "10m", "1h".
 * A number without a unit is refused ("600": "did you mean 600s?"), since
 * a TTL read in the wrong unit is a lock that lasts a thousand times too
 * long or too short; only "0" is accepted bare.  At most 9 decimals; the
 * value must be exact to the microsecond.
 *   sqclaim_parse_duration     *ms; also refuses what is not a whole number
 *                              of milliseconds ("1.5ms", "250us")
 *   sqclaim_parse_duration_us  *us (microseconds)
 * OK and the value (out may be NULL to only check), or SQCLAIM_EINVAL
 * with a message in errbuf (if not NULL) that quotes the text (cut to 40
 * bytes, control characters escaped).  Range checks are the caller's.
 * Thread-safe. */
SQCLAIM_API sqclaim_rc sqclaim_parse_duration(const char *text, int64_t *ms, char *errbuf,
                                              size_t errlen);
SQCLAIM_API sqclaim_rc sqclaim_parse_duration_us(const char *text, int64_t *us, char *errbuf,
                                                 size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* SQCLAIM_H */
