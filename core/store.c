/* store.c — opening stores and the claim protocol's operations.
 *
 * Every public operation: validate (nothing is sent on bad input), take the
 * handle's lock, run the backend operation with retries for transient
 * failures and ambiguous replies (always with the same token), then turn
 * the outcome into the lease and a message a user can act on. */
#include "internal.h"
#include "util/squtil.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Randomness and clocks                                                */

static int fill_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t r = getrandom(p + got, len - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        got += (size_t)r;
    }
    if (got == len)
        return 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (got < len) {
        ssize_t r = read(fd, p + got, len - got);
        if (r <= 0) {
            close(fd);
            return -1;
        }
        got += (size_t)r;
    }
    close(fd);
    return 0;
}

int sqc_random_token(char *buf)
{
    unsigned char raw[SQCLAIM_TOKEN_LEN / 2];
    if (fill_random(raw, sizeof raw) != 0)
        return -1;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        buf[2 * i] = hex[raw[i] >> 4];
        buf[2 * i + 1] = hex[raw[i] & 15];
    }
    buf[SQCLAIM_TOKEN_LEN] = '\0';
    return 0;
}

uint64_t sqc_random_u64(void)
{
    uint64_t v = 0;
    if (fill_random(&v, sizeof v) != 0)
        v = (uint64_t)sqc_monotonic_ns(NULL) ^ (uint64_t)getpid() << 32;
    return v ? v : 0x9e3779b97f4a7c15ULL;
}

int64_t sqc_monotonic_ns(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t sqclaim_now_ns(const sqclaim_store *s)
{
    if (!s || !s->clock.now_ns)
        return sqc_monotonic_ns(NULL);
    return s->clock.now_ns(s->clock.ctx);
}

void sqc_seam_set(sqclaim_store *s, const sqc_seam *seam)
{
    if (!s)
        return;
    s->seam = seam;
    s->rng = seam && seam->rand64 ? seam->rand64(seam->ctx) | 1 : sqc_random_u64();
}

/* The wall clock in Unix ms: the seam's, or the real one. */
static int64_t wall_ms(const sqclaim_store *s)
{
    return s->seam && s->seam->unix_ms ? s->seam->unix_ms(s->seam->ctx) : sqb_unix_ms();
}

int64_t sqclaim_margin_ms(int64_t ttl_ms) { return ttl_ms / 100 + 2; }

static int64_t deadline_for(int64_t sent_ns, int64_t ttl_ms)
{
    return sent_ns + (ttl_ms - sqclaim_margin_ms(ttl_ms)) * 1000000;
}

/* ------------------------------------------------------------------ */
/* Errors                                                               */

static void set_msg(sqclaim_store *s, sqclaim_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_msg(sqclaim_store *s, sqclaim_rc rc, const char *fmt, ...)
{
    if (!s)
        return;
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&s->lock);
    s->errcode = rc;
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    pthread_mutex_unlock(&s->lock);
    va_end(ap);
}

/* Record a backend failure on the handle, with what we were doing. */
static sqclaim_rc fail(sqclaim_store *s, const char *doing, const sqb_err *err)
{
    set_msg(s, err->rc, "%s: %s", doing, err->msg[0] ? err->msg : sqclaim_strerror(err->rc));
    return err->rc;
}

static sqclaim_rc fail_invalid(sqclaim_store *s, const char *msg)
{
    set_msg(s, SQCLAIM_EINVAL, "%s", msg);
    return SQCLAIM_EINVAL;
}

const char *sqclaim_errmsg(const sqclaim_store *s)
{
    if (!s)
        return "out of memory";
    return s->errmsg;
}

sqclaim_rc sqclaim_errmsg_copy(sqclaim_store *s, char *buf, size_t len)
{
    if (!s) {
        if (buf && len)
            sqb_strlcpy(buf, "out of memory", len);
        return SQCLAIM_ENOMEM;
    }
    pthread_mutex_lock(&s->lock);
    sqclaim_rc rc = (sqclaim_rc)atomic_load(&s->errcode);
    if (buf && len)
        sqb_strlcpy(buf, s->errmsg, len);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

sqclaim_rc sqclaim_errcode(const sqclaim_store *s)
{
    return s ? (sqclaim_rc)atomic_load(&s->errcode) : SQCLAIM_ENOMEM;
}

/* ------------------------------------------------------------------ */
/* Open and close                                                       */

void sqclaim_options_init_sized(sqclaim_options *opts, size_t size)
{
    if (!opts)
        return;
    memset(opts, 0, size); /* the caller's struct: exactly its size */
    if (size >= offsetof(sqclaim_options, size) + sizeof opts->size)
        opts->size = size;
}

/* The 1.0 layout, assumed for a `size` of 0: every field up to the last one
 * of release 1.0.0 (a field appended before 1.0.0 is released moves this
 * end to it; after the release, never). */
#define OPTIONS_SIZE_1_0 (offsetof(sqclaim_options, op_timeout_ms) + sizeof(int))

/* Copy the caller's options (of the caller's size) into a struct of this
 * library's layout: fields the caller does not know stay 0.  A newer
 * caller's fields this library does not know must be 0.  OK or
 * EUNSUPPORTED / EINVAL with a message in buf. */
static sqclaim_rc options_import(sqclaim_options *dst, const sqclaim_options *src, char *buf,
                                 size_t len)
{
    memset(dst, 0, sizeof *dst);
    if (!src) {
        dst->size = sizeof *dst;
        return SQCLAIM_OK;
    }
    size_t n = src->size ? src->size : OPTIONS_SIZE_1_0;
    if (n < OPTIONS_SIZE_1_0) {
        snprintf(buf, len,
                 "invalid options: size %zu is smaller than any layout of sqclaim_options", n);
        return SQCLAIM_EINVAL;
    }
    if (n > sizeof *dst) {
        const unsigned char *extra = (const unsigned char *)src + sizeof *dst;
        for (size_t i = 0; i < n - sizeof *dst; i++)
            if (extra[i]) {
                snprintf(buf, len,
                         "options: a field this library (%s) does not know is set; the "
                         "program was built against a newer sqclaim.h",
                         SQCLAIM_VERSION);
                return SQCLAIM_EUNSUPPORTED;
            }
        n = sizeof *dst;
    }
    memcpy(dst, src, n);
    dst->size = sizeof *dst;
    return SQCLAIM_OK;
}

static void list_built(char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    const char *const *names = sqclaim_adapters();
    for (size_t i = 0; names[i] && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", names[i]);
}

static sqclaim_store *store_alloc(const char *adapter)
{
    sqclaim_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    sqb_strlcpy(s->adapter, adapter, sizeof s->adapter);
    s->clock.now_ns = sqc_monotonic_ns;
    s->rng = sqc_random_u64();
    return s;
}

static sqclaim_rc check_options(const sqclaim_options *o, char *buf, size_t len)
{
    if (o->connect_timeout_ms < 0 || o->connect_timeout_ms > SQC_MAX_TIMEOUT_MS) {
        snprintf(buf, len, "invalid connect_timeout_ms %d: must be 0 (default %d) to %d",
                 o->connect_timeout_ms, SQC_DEFAULT_CONNECT_TIMEOUT_MS, SQC_MAX_TIMEOUT_MS);
        return SQCLAIM_EINVAL;
    }
    if (o->timeout_ms < 0 || o->timeout_ms > SQC_MAX_TIMEOUT_MS) {
        snprintf(buf, len, "invalid timeout_ms %d: must be 0 (default %d) to %d", o->timeout_ms,
                 SQC_DEFAULT_TIMEOUT_MS, SQC_MAX_TIMEOUT_MS);
        return SQCLAIM_EINVAL;
    }
    if (o->retries < -1 || o->retries > SQC_MAX_RETRIES) {
        snprintf(buf, len, "invalid retries %d: must be -1 (none), 0 (default %d) or up to %d",
                 o->retries, SQC_DEFAULT_RETRIES, SQC_MAX_RETRIES);
        return SQCLAIM_EINVAL;
    }
    if (o->op_timeout_ms < 0 || o->op_timeout_ms > SQC_MAX_TIMEOUT_MS) {
        snprintf(buf, len, "invalid op_timeout_ms %d: must be 0 (no limit) to %d", o->op_timeout_ms,
                 SQC_MAX_TIMEOUT_MS);
        return SQCLAIM_EINVAL;
    }
    if (o->clock && !o->clock->now_ns) {
        snprintf(buf, len, "invalid clock: now_ns is NULL");
        return SQCLAIM_EINVAL;
    }
    return SQCLAIM_OK;
}

sqclaim_rc sqclaim_open_backend(const sqclaim_backend *be, const sqclaim_options *opts,
                                sqclaim_store **out)
{
    if (!out)
        return SQCLAIM_EINVAL;
    *out = NULL;
    sqclaim_options o;
    char msg[256];
    sqclaim_rc import_rc = options_import(&o, opts, msg, sizeof msg);
    sqclaim_store *s = store_alloc(be ? be->name : "?");
    if (!s)
        return SQCLAIM_ENOMEM;
    *out = s;
    if (import_rc != SQCLAIM_OK) {
        set_msg(s, import_rc, "%s", msg);
        return import_rc;
    }
    if (!be) {
        set_msg(s, SQCLAIM_EINVAL, "no backend given");
        return SQCLAIM_EINVAL;
    }
    bool has_open_with = be->version >= 2 && be->open_with;
    if (be->version < 1 || !be->name || !(be->open || has_open_with) || !be->claim || !be->renew ||
        !be->release || !be->reserve || !be->finish || !be->status) {
        set_msg(s, SQCLAIM_EUNSUPPORTED, "backend \"%s\" is incomplete (version %d)",
                be->name ? be->name : "?", be->version);
        return SQCLAIM_EUNSUPPORTED;
    }
    sqclaim_rc rc = check_options(&o, msg, sizeof msg);
    if (rc != SQCLAIM_OK) {
        set_msg(s, rc, "%s", msg);
        return rc;
    }
    if (o.clock && !(be->caps & SQCLAIM_CAP_CLOCK)) {
        set_msg(s, SQCLAIM_EUNSUPPORTED,
                "backend \"%s\" keeps time on its server and cannot use an injected clock",
                be->name);
        return SQCLAIM_EUNSUPPORTED;
    }
    if (o.retries == 0) {
        const char *env = sqb_getenv("SQCLAIM_RETRIES");
        if (env) {
            char *end = NULL;
            errno = 0;
            long v = strtol(env, &end, 10);
            if (errno || !end || *end || end == env || v < -1 || v > SQC_MAX_RETRIES) {
                set_msg(s, SQCLAIM_ECONFIG,
                        "invalid $SQCLAIM_RETRIES: must be a whole number of retries, 0 (none) "
                        "to %d",
                        SQC_MAX_RETRIES);
                return SQCLAIM_ECONFIG;
            }
            o.retries = v == 0 ? -1 : (int)v; /* the variable counts retries: 0 is none */
        }
    }
    if (o.clock)
        s->clock = *o.clock;
    o.clock = &s->clock;
    if (!o.connect_timeout_ms)
        o.connect_timeout_ms = SQC_DEFAULT_CONNECT_TIMEOUT_MS;
    if (!o.timeout_ms)
        o.timeout_ms = SQC_DEFAULT_TIMEOUT_MS;
    s->retries = o.retries == 0 ? SQC_DEFAULT_RETRIES : o.retries < 0 ? 0 : o.retries;
    if (o.op_timeout_ms) {
        /* No single request or connection may outlast the whole budget. */
        if (o.timeout_ms > o.op_timeout_ms)
            o.timeout_ms = o.op_timeout_ms;
        if (o.connect_timeout_ms > o.op_timeout_ms)
            o.connect_timeout_ms = o.op_timeout_ms;
        s->op_timeout_ms = o.op_timeout_ms;
        s->attempt_ms = o.connect_timeout_ms + o.timeout_ms;
    }
    o.backend = be->name;

    sqb_err err = {0};
    void *conn = NULL;
    rc = has_open_with ? be->open_with(be, &o, &conn, &err) : be->open(&o, &conn, &err);
    if (rc != SQCLAIM_OK) {
        if (rc > 0) /* a backend must not answer BUSY/LOST here */
            rc = SQCLAIM_EPROTOCOL;
        err.rc = rc;
        set_msg(s, rc, "%s", err.msg[0] ? err.msg : sqclaim_strerror(rc));
        return rc;
    }
    s->be = be;
    s->conn = conn;
    return SQCLAIM_OK;
}

sqclaim_rc sqclaim_open(const sqclaim_options *opts, sqclaim_store **out)
{
    if (!out)
        return SQCLAIM_EINVAL;
    *out = NULL;
    /* backend is in every layout (size 0 or at least OPTIONS_SIZE_1_0);
     * sqclaim_open_backend() checks the size. */
    const char *name =
        opts && (!opts->size || opts->size >= OPTIONS_SIZE_1_0) ? opts->backend : NULL;
    const char *from_env = NULL; /* the variable that named it */
    if (!name) {
        /* SQCLAIM_ADAPTER is the old name of SQCLAIM_BACKEND. */
        const char *b = sqb_getenv("SQCLAIM_BACKEND"), *a = sqb_getenv("SQCLAIM_ADAPTER");
        if (b && a && strcmp(a, b) != 0) {
            sqclaim_store *s = store_alloc("?");
            if (!s)
                return SQCLAIM_ENOMEM;
            *out = s;
            set_msg(s, SQCLAIM_ECONFIG,
                    "SQCLAIM_BACKEND and SQCLAIM_ADAPTER (its old name) name different "
                    "backends; set one of them");
            return SQCLAIM_ECONFIG;
        }
        name = b ? b : a;
        from_env = b ? "SQCLAIM_BACKEND" : a ? "SQCLAIM_ADAPTER" : NULL;
    }
    /* The default is the one backend that every process of the host
     * shares without configuration; memory is only ever chosen by name
     * (a default that kept claims per process repeated the seed's bug). */
    if (!name)
        name = "sqlite";
    const sqclaim_backend *be = sqclaim_find_backend(name);
    if (be)
        return sqclaim_open_backend(be, opts, out);

    sqclaim_store *s = store_alloc(name);
    if (!s)
        return SQCLAIM_ENOMEM;
    *out = s;
    char built[128];
    list_built(built, sizeof built);
    bool known = sqc_backend_known(name);
    char shown[48];
    sqb_strlcpy(shown, name, sizeof shown);
    for (char *p = shown; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
    if (known)
        set_msg(s, SQCLAIM_EUNSUPPORTED,
                "backend \"%s\"%s%s%s is not built into this library (its packages were "
                "missing at build time); available: %s",
                shown, from_env ? " (from " : "", from_env ? from_env : "", from_env ? ")" : "",
                built);
    else
        set_msg(s, SQCLAIM_EUNSUPPORTED, "unknown backend \"%s\"%s%s%s; available: %s", shown,
                from_env ? " (from " : "", from_env ? from_env : "", from_env ? ")" : "", built);
    return SQCLAIM_EUNSUPPORTED;
}

void sqclaim_close(sqclaim_store *s)
{
    if (!s)
        return;
    sqc_keepalive_detach(s, NULL);
    if (s->be && s->be->close)
        s->be->close(s->conn);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

const char *sqclaim_backend_name(const sqclaim_store *s) { return s ? s->adapter : ""; }
const char *sqclaim_adapter(const sqclaim_store *s) { return sqclaim_backend_name(s); }

unsigned sqclaim_caps(const sqclaim_store *s) { return s && s->be ? s->be->caps : 0; }

void sqc_begin(sqclaim_store *s)
{
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->errcode, SQCLAIM_OK);
    s->errmsg[0] = '\0';
    pthread_mutex_unlock(&s->lock);
}

/* A handle whose open failed answers every call with its open error.  On
 * a usable handle every call starts by clearing the last message (as
 * SQLite does): after an OK, sqclaim_errmsg() is "". */
static bool usable(sqclaim_store *s)
{
    if (!s)
        return false;
    if (s->be) {
        sqc_begin(s);
        return true;
    }
    if (atomic_load(&s->errcode) == SQCLAIM_OK)
        set_msg(s, SQCLAIM_ESTATE, "the store is not open");
    return false;
}

static sqclaim_rc dead_rc(const sqclaim_store *s)
{
    if (!s)
        return SQCLAIM_EINVAL;
    int rc = atomic_load(&s->errcode);
    return rc ? (sqclaim_rc)rc : SQCLAIM_ESTATE;
}
#define DEAD_RC(s) dead_rc(s)

/* ------------------------------------------------------------------ */
/* Retries                                                              */

/* One protocol operation, as the retry loop sends it (again). */
enum op_kind {
    OP_CLAIM,
    OP_RENEW,
    OP_RELEASE,
    OP_FINISH,
    OP_RESERVE,
    OP_STATUS,
    OP_PING,
    OP_INSPECT,
    OP_BREAK,
    OP_COUNTERS,
    OP_RAISE
};

struct op {
    enum op_kind kind;
    sqb_claim_req claim; /* OP_CLAIM */
    sqb_claim_res claimed;
    sqb_lease_req lease;     /* OP_RENEW, OP_RELEASE, OP_FINISH */
    int64_t held_until_ns;   /* OP_RELEASE: the lease's local deadline (0: unknown) */
    sqb_reserve_req reserve; /* OP_RESERVE */
    sqclaim_rows rows;
    sqclaim_status *status; /* OP_STATUS: filled afresh by each attempt */
    sqclaim_entry *entry;   /* OP_INSPECT: filled afresh by each attempt */
    sqb_break_req brk;      /* OP_BREAK */
    unsigned removed;
    sqclaim_counters *counters; /* OP_COUNTERS */
    uint64_t row;               /* OP_RAISE: asked for; then the cursor */
    uint64_t cursor;
    bool converged; /* the answer was settled from an ambiguous attempt */
};

/* One attempt: the backend call, with the store clock read now. */
static sqclaim_rc attempt_op(sqclaim_store *s, struct op *op, sqb_err *err)
{
    int64_t now = sqclaim_now_ns(s);
    switch (op->kind) {
    case OP_CLAIM:
        memset(&op->claimed, 0, sizeof op->claimed);
        op->claim.now_ns = now;
        return s->be->claim(s->conn, &op->claim, &op->claimed, err);
    case OP_RENEW: op->lease.now_ns = now; return s->be->renew(s->conn, &op->lease, err);
    case OP_RELEASE: op->lease.now_ns = now; return s->be->release(s->conn, &op->lease, err);
    case OP_FINISH: op->lease.now_ns = now; return s->be->finish(s->conn, &op->lease, err);
    case OP_RESERVE:
        memset(&op->rows, 0, sizeof op->rows);
        op->reserve.now_ns = now;
        return s->be->reserve(s->conn, &op->reserve, &op->rows, err);
    case OP_STATUS:
        free(op->status->claims);
        free(op->status->reservations);
        memset(op->status, 0, sizeof *op->status);
        return s->be->status(s->conn, op->status, err);
    case OP_PING: return s->be->ping ? s->be->ping(s->conn, err) : SQCLAIM_OK;
    case OP_INSPECT: {
        char sq[SQCLAIM_SQ_MAX + 1];
        sqb_strlcpy(sq, op->entry->sq, sizeof sq);
        memset(op->entry, 0, sizeof *op->entry);
        sqb_strlcpy(op->entry->sq, sq, sizeof op->entry->sq);
        return s->be->inspect(s->conn, sq, op->entry, err);
    }
    case OP_BREAK:
        op->removed = 0;
        op->brk.now_ns = now;
        return s->be->break_sq(s->conn, &op->brk, &op->removed, err);
    case OP_COUNTERS:
        memset(op->counters, 0, sizeof *op->counters);
        return s->be->counters(s->conn, op->counters, err);
    case OP_RAISE: op->cursor = 0; return s->be->raise_cursor(s->conn, op->row, &op->cursor, err);
    }
    return sqb_seterr(err, SQCLAIM_EINVAL, "unknown operation");
}

/* Retries converge: after an attempt that may have been applied, the
 * answer of the retry is turned into what the first attempt did whenever
 * the store's state proves it.  Claim, renew, reserve and finish need
 * nothing here: their backends answer a repeated request as they answered
 * the first (a claim finds its own token, a renewal extends again, a
 * reservation finds its own range, a finish finds the claim ours and no
 * reservation: OK).  A release cannot: the retry finds the claim gone, as
 * it would after an expiry.  But if that answer arrived before the
 * lease's local deadline, the claim had not expired when the store read
 * it (the deadline is before the store's expiry, see sqclaim_may_act), so
 * the lost attempt deleted it: OK.  (Only something outside the protocol
 * could have deleted it too — an operator's sqclaim_break, a FLUSH, a
 * failover that lost it — and then the claim is gone all the same.)
 * Called with the lock held, `now` read after the last answer. */
static sqclaim_rc converge(struct op *op, sqclaim_rc rc, int64_t now)
{
    if (op->kind == OP_RELEASE && rc == SQCLAIM_LOST && op->held_until_ns &&
        now < op->held_until_ns) {
        op->converged = true;
        return SQCLAIM_OK;
    }
    return rc;
}

/* 25 ms doubling per attempt, capped at 1 s, times a jitter in [0.5, 1.5)
 * so that competing bots do not retry in lockstep.  Called with the lock
 * held (the jitter generator is the handle's). */
static int64_t backoff_ms(sqclaim_store *s, int attempt)
{
    int64_t base = 25LL << (attempt < 6 ? attempt : 6);
    if (base > 1000)
        base = 1000;
    return base / 2 +
           (int64_t)(sq_splitmix64(&s->rng) /* jitter only, not security */ % (uint64_t)base);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* With op_timeout_ms: is there time for a backoff of ms and then a whole
 * attempt (connecting, then one request) before the budget runs out? */
static bool retry_fits(const sqclaim_store *s, int64_t start_ns, int64_t ms)
{
    if (!s->op_timeout_ms)
        return true;
    int64_t end = start_ns + (int64_t)s->op_timeout_ms * 1000000;
    return sqclaim_now_ns(s) + (ms + s->attempt_ms) * 1000000 <= end;
}

/* Run op until it answers (rc >= 0), fails for good, the attempts are
 * used up, or (op_timeout_ms) another attempt would not end within the
 * budget, holding the handle's lock except while backing off.  *sent is
 * the store clock before the first attempt (may be NULL); *ambiguous is set
 * if any attempt may have been applied without our seeing the reply. */
static sqclaim_rc run_op(sqclaim_store *s, struct op *op, sqb_err *err, bool *ambiguous,
                         int64_t *sent)
{
    pthread_mutex_lock(&s->lock);
    sqclaim_rc rc = SQCLAIM_OK;
    *ambiguous = false;
    s->stats.operations++;
    int64_t start = sqclaim_now_ns(s);
    if (sent)
        *sent = start;
    for (int attempt = 0;; attempt++) {
        memset(err, 0, sizeof *err);
        rc = attempt_op(s, op, err);
        if (rc >= 0) {
            if (*ambiguous)
                rc = converge(op, rc, sqclaim_now_ns(s));
            break;
        }
        if (err->rc >= 0 || err->rc != rc)
            err->rc = rc;
        if (err->maybe_applied)
            *ambiguous = true;
        if (!(err->maybe_applied || err->transient) || attempt >= s->retries)
            break;
        int64_t ms = backoff_ms(s, attempt);
        if (!retry_fits(s, start, ms))
            break;
        s->stats.retries++;
        /* Let other threads (a keep-alive sharing the handle) use it while
         * we wait. */
        pthread_mutex_unlock(&s->lock);
        if (s->seam && s->seam->sleep_ms)
            s->seam->sleep_ms(s->seam->ctx, s, ms);
        else
            sleep_ms(ms);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Claim                                                                */

static sqclaim_rc check_candidates(sqclaim_store *s, const char *const *sqs, size_t n)
{
    char msg[256];
    if (!sqs || n == 0)
        return fail_invalid(s, "no SQ given: claim needs at least one SQ id");
    if (n > SQCLAIM_MAX_CANDIDATES) {
        snprintf(msg, sizeof msg, "too many candidate SQs: %zu, at most %d in one call", n,
                 SQCLAIM_MAX_CANDIDATES);
        return fail_invalid(s, msg);
    }
    for (size_t i = 0; i < n; i++) {
        if (sqclaim_check_sq(sqs[i], msg, sizeof msg) != SQCLAIM_OK) {
            if (n > 1) {
                char full[300];
                snprintf(full, sizeof full, "candidate %zu: %s", i + 1, msg);
                return fail_invalid(s, full);
            }
            return fail_invalid(s, msg);
        }
    }
    return SQCLAIM_OK;
}

/* The candidates a call about a lease names: *sqs[0..*n), or, when it
 * names none, the lease's own SQ (through one[1]).  OK, or EINVAL (a NULL
 * lease, a bad candidate) recorded. */
static sqclaim_rc lease_candidates(sqclaim_store *s, const sqclaim_lease *lease,
                                   const char *const **sqs, size_t *n, const char **one)
{
    if (!lease)
        return fail_invalid(s, "lease is NULL");
    if (!*sqs || *n == 0) {
        one[0] = lease->sq;
        *sqs = one;
        *n = 1;
    }
    return check_candidates(s, *sqs, *n);
}

/* Send the claim in *lease (token, bot, ttl set) for the candidates. */
static sqclaim_rc claim_send(sqclaim_store *s, const char *const *sqs, size_t n,
                             sqclaim_lease *lease, sqclaim_holder *holder, bool first)
{
    char ts[SQCLAIM_TIMESTAMP_LEN + 1];
    int64_t unix_ms = wall_ms(s);
    sqb_format_timestamp(unix_ms, ts);
    struct op op;
    memset(&op, 0, sizeof op);
    op.kind = OP_CLAIM;
    op.claim.sqs = sqs;
    op.claim.n = n;
    op.claim.bot = lease->bot;
    op.claim.token = lease->token;
    op.claim.ttl_ms = lease->ttl_ms;
    op.claim.timestamp = ts;

    sqb_err err;
    bool ambiguous;
    int64_t sent;
    sqclaim_rc rc = run_op(s, &op, &err, &ambiguous, &sent);
    const sqb_claim_res *res = &op.claimed;
    sqc_point_info pi = {.op = SQC_OP_CLAIM, .ambiguous = ambiguous, .sent_ns = sent};
    if (s->seam)
        rc = (sqclaim_rc)sqc_adjust(s, SQC_PT_OUTCOME, rc, &pi);

    /* The earliest send we know of for this token (0: unknown, e.g. a
     * lease rebuilt from JSON). */
    int64_t first_sent = first ? sent : lease->sent_ns;
    if (holder)
        memset(holder, 0, sizeof *holder);

    if (rc == SQCLAIM_OK) {
        if (res->index >= n) {
            sqb_seterr(&err, SQCLAIM_EPROTOCOL, "backend granted candidate %zu of %zu",
                       res->index + 1, n);
            return fail(s, "claim", &err);
        }
        sqb_strlcpy(lease->sq, sqs[res->index], sizeof lease->sq);
        lease->fence = res->fence;
        if (res->reclaimed) {
            /* Granted by an earlier attempt: it expires no later than its
             * remaining TTL from this send, nor later than a full TTL
             * after the first send we know of. */
            int64_t left =
                res->ttl_ms >= 0 && res->ttl_ms < lease->ttl_ms ? res->ttl_ms : lease->ttl_ms;
            int64_t deadline = sent + (left - sqclaim_margin_ms(lease->ttl_ms)) * 1000000;
            if (first_sent && deadline_for(first_sent, lease->ttl_ms) < deadline)
                deadline = deadline_for(first_sent, lease->ttl_ms);
            if (s->seam) {
                sqc_point_info di = {.op = SQC_OP_CLAIM,
                                     .sent_ns = sent,
                                     .first_sent_ns = first_sent,
                                     .left_ms = res->ttl_ms,
                                     .ttl_ms = lease->ttl_ms,
                                     .reply_ns = sqclaim_now_ns(s)};
                deadline = sqc_adjust(s, SQC_PT_DEADLINE_RECLAIM, deadline, &di);
            }
            lease->deadline_ns = deadline;
            lease->sent_ns = first_sent ? first_sent : sent;
            lease->expires_unix_ms = unix_ms + left;
            lease->flags |= SQCLAIM_LEASE_RECLAIMED;
        } else {
            /* A fresh grant by this call. */
            lease->sent_ns = sent;
            lease->deadline_ns = deadline_for(sent, lease->ttl_ms);
            if (s->seam) {
                sqc_point_info di = {.op = SQC_OP_CLAIM,
                                     .sent_ns = sent,
                                     .reply_ns = sqclaim_now_ns(s),
                                     .ttl_ms = lease->ttl_ms};
                lease->deadline_ns = sqc_adjust(s, SQC_PT_DEADLINE_GRANT, lease->deadline_ns, &di);
            }
            lease->expires_unix_ms = unix_ms + lease->ttl_ms;
            lease->flags &= ~SQCLAIM_LEASE_RECLAIMED;
        }
        lease->flags &= ~SQCLAIM_LEASE_UNCERTAIN;
        return SQCLAIM_OK;
    }
    if (first || !lease->sent_ns) {
        lease->sent_ns = sent;
        lease->expires_unix_ms = unix_ms + lease->ttl_ms;
    }
    if (rc == SQCLAIM_BUSY) {
        lease->flags &= ~SQCLAIM_LEASE_UNCERTAIN;
        lease->deadline_ns = 0;
        sqb_strlcpy(op.claimed.holder.sq, sqs[0], sizeof op.claimed.holder.sq);
        if (holder)
            *holder = op.claimed.holder;
        char who[SQCLAIM_BOT_MAX * 6 + 64];
        if (op.claimed.holder.bot[0]) {
            char q[SQCLAIM_BOT_MAX * 6 + 3];
            sq_json_quote(q, sizeof q, op.claimed.holder.bot, SQ_JSON_CSTR, 0);
            if (op.claimed.holder.remaining_ms >= 0)
                snprintf(who, sizeof who, "by bot %s for another %lld ms", q,
                         (long long)op.claimed.holder.remaining_ms);
            else
                snprintf(who, sizeof who, "by bot %s", q);
        } else {
            /* sqclaim's claims always name their bot: this is a value
             * another tool wrote (not JSON, a key of another type, JSON
             * without a botId).  The claim's answer does not say which;
             * an inspect does (one more round trip, left to the caller:
             * on Upstash every request is billed). */
            char left[48] = "";
            if (op.claimed.holder.remaining_ms >= 0)
                snprintf(left, sizeof left, " for another %lld ms",
                         (long long)op.claimed.holder.remaining_ms);
            snprintf(who, sizeof who, "by a value another tool wrote, naming no bot%s", left);
        }
        if (n == 1)
            set_msg(s, SQCLAIM_BUSY, "SQ %s is held %s", sqs[0], who);
        else
            set_msg(s, SQCLAIM_BUSY, "all %zu candidate SQs are held; the first, %s, %s", n, sqs[0],
                    who);
        return SQCLAIM_BUSY;
    }
    if (rc == SQCLAIM_LOST) {
        sqb_seterr(&err, SQCLAIM_EPROTOCOL, "backend answered LOST to a claim");
        return fail(s, "claim", &err);
    }
    if (ambiguous) {
        lease->flags |= SQCLAIM_LEASE_UNCERTAIN;
        lease->deadline_ns = 0;
        if (n == 1)
            sqb_strlcpy(lease->sq, sqs[0], sizeof lease->sq);
        /* What to do about it is the caller's (the UNCERTAIN flag says
         * it, the header says how); the message only states the fact. */
        size_t len = strlen(err.msg);
        if (n == 1)
            snprintf(err.msg + len, sizeof err.msg - len, "; the claim may have been granted");
        else
            snprintf(err.msg + len, sizeof err.msg - len,
                     "; one of the %zu candidates may have been granted", n);
    }
    return fail(s, n == 1 ? "claim" : "claim-first", &err);
}

static sqclaim_rc claim_prepare(sqclaim_store *s, const char *bot, int64_t ttl_ms,
                                sqclaim_lease *lease)
{
    char msg[256];
    if (!lease)
        return fail_invalid(s, "lease is NULL: pass a sqclaim_lease to receive the claim");
    memset(lease, 0, sizeof *lease);
    if (sqclaim_check_bot(bot, msg, sizeof msg) != SQCLAIM_OK)
        return fail_invalid(s, msg);
    if (ttl_ms == 0)
        ttl_ms = SQCLAIM_DEFAULT_TTL_MS;
    if (sqc_check_ttl(ttl_ms, msg, sizeof msg) != SQCLAIM_OK)
        return fail_invalid(s, msg);
    sqb_strlcpy(lease->bot, bot, sizeof lease->bot);
    lease->ttl_ms = ttl_ms;
    if ((s->seam && s->seam->token ? s->seam->token(s->seam->ctx, lease->token)
                                   : sqc_random_token(lease->token)) != 0) {
        set_msg(s, SQCLAIM_EIO, "claim: no randomness available for the lease token");
        return SQCLAIM_EIO;
    }
    return SQCLAIM_OK;
}

sqclaim_rc sqclaim_claim_first(sqclaim_store *s, const char *const *sqs, size_t n, const char *bot,
                               int64_t ttl_ms, sqclaim_lease *lease, sqclaim_holder *holder)
{
    if (!usable(s))
        return DEAD_RC(s);
    if (holder)
        memset(holder, 0, sizeof *holder);
    if (lease)
        memset(lease, 0, sizeof *lease);
    sqclaim_rc rc = check_candidates(s, sqs, n);
    if (rc == SQCLAIM_OK)
        rc = claim_prepare(s, bot, ttl_ms, lease);
    if (rc != SQCLAIM_OK)
        return rc;
    return claim_send(s, sqs, n, lease, holder, true);
}

sqclaim_rc sqclaim_claim(sqclaim_store *s, const char *sq, const char *bot, int64_t ttl_ms,
                         sqclaim_lease *lease, sqclaim_holder *holder)
{
    const char *sqs[1] = {sq};
    return sqclaim_claim_first(s, sqs, 1, bot, ttl_ms, lease, holder);
}

sqclaim_rc sqclaim_claim_retry(sqclaim_store *s, const char *const *sqs, size_t n,
                               sqclaim_lease *lease, sqclaim_holder *holder)
{
    if (!usable(s))
        return DEAD_RC(s);
    if (holder)
        memset(holder, 0, sizeof *holder);
    char msg[256];
    const char *one[1];
    sqclaim_rc rc = lease_candidates(s, lease, &sqs, &n, one);
    if (rc != SQCLAIM_OK)
        return rc;
    if (lease->ttl_ms == 0)
        lease->ttl_ms = SQCLAIM_DEFAULT_TTL_MS;
    if (sqc_check_token(lease->token, msg, sizeof msg) != SQCLAIM_OK ||
        sqclaim_check_bot(lease->bot, msg, sizeof msg) != SQCLAIM_OK ||
        sqc_check_ttl(lease->ttl_ms, msg, sizeof msg) != SQCLAIM_OK)
        return fail_invalid(s, msg);
    char sqcopy[SQCLAIM_SQ_MAX + 1];
    if (sqs == one) { /* lease->sq is overwritten on success */
        sqb_strlcpy(sqcopy, lease->sq, sizeof sqcopy);
        one[0] = sqcopy;
    }
    return claim_send(s, sqs, n, lease, holder, false);
}

/* ------------------------------------------------------------------ */
/* Renew, release, finish                                               */

static sqclaim_rc check_lease(const sqclaim_lease *lease, bool need_bot, char *msg, size_t len)
{
    if (!lease) {
        snprintf(msg, len, "lease is NULL");
        return SQCLAIM_EINVAL;
    }
    char sub[256];
    if (sqclaim_check_sq(lease->sq, sub, sizeof sub) != SQCLAIM_OK ||
        sqc_check_token(lease->token, sub, sizeof sub) != SQCLAIM_OK ||
        (need_bot && sqclaim_check_bot(lease->bot, sub, sizeof sub) != SQCLAIM_OK)) {
        snprintf(msg, len, "invalid lease: %s", sub);
        return SQCLAIM_EINVAL;
    }
    return SQCLAIM_OK;
}

/* An operation on the lease's SQ (renew, release, finish). */
static void lease_op(struct op *op, enum op_kind kind, const sqclaim_lease *lease)
{
    memset(op, 0, sizeof *op);
    op->kind = kind;
    sqb_lease_req *r = &op->lease;
    r->sq = lease->sq;
    r->token = lease->token;
    r->bot = lease->bot;
    r->fence = lease->fence;
    r->ttl_ms = lease->ttl_ms;
}

sqclaim_rc sqc_renew(sqclaim_store *s, sqclaim_lease *lease, int64_t ttl_ms, sqb_err *err)
{
    struct op op;
    lease_op(&op, OP_RENEW, lease);
    op.lease.ttl_ms = ttl_ms;
    bool ambiguous;
    int64_t unix_ms = wall_ms(s);
    int64_t sent;
    sqclaim_rc rc = run_op(s, &op, err, &ambiguous, &sent);
    if (s->seam) {
        sqc_point_info pi = {.op = SQC_OP_RENEW, .ambiguous = ambiguous, .sent_ns = sent};
        sqclaim_rc was = rc;
        rc = (sqclaim_rc)sqc_adjust(s, SQC_PT_OUTCOME, rc, &pi);
        if (rc < 0 && was >= 0)
            sqb_seterr(err, rc, "renew: outcome substituted by the simulator");
    }
    if (rc == SQCLAIM_OK) {
        lease->ttl_ms = ttl_ms;
        lease->sent_ns = sent;
        int64_t old = lease->deadline_ns;
        lease->deadline_ns = deadline_for(sent, ttl_ms);
        if (s->seam) {
            sqc_point_info di = {.op = SQC_OP_RENEW,
                                 .sent_ns = sent,
                                 .reply_ns = sqclaim_now_ns(s),
                                 .ttl_ms = ttl_ms,
                                 .old_deadline_ns = old};
            lease->deadline_ns = sqc_adjust(s, SQC_PT_DEADLINE_RENEW, lease->deadline_ns, &di);
        }
        lease->expires_unix_ms = unix_ms + ttl_ms;
        lease->flags &= ~SQCLAIM_LEASE_UNCERTAIN; /* proven held */
    } else if (rc == SQCLAIM_LOST) {
        lease->deadline_ns = 0;
    } else if (rc == SQCLAIM_BUSY) {
        rc = sqb_seterr(err, SQCLAIM_EPROTOCOL, "backend answered BUSY to a renewal");
    } else if (ambiguous && lease->deadline_ns) {
        /* A renewal to a shorter TTL may have been applied: the claim may
         * now expire earlier than the old deadline says. */
        int64_t maybe = deadline_for(sent, ttl_ms);
        if (maybe < lease->deadline_ns)
            lease->deadline_ns = maybe;
    }
    return rc;
}

sqclaim_rc sqclaim_renew(sqclaim_store *s, sqclaim_lease *lease, int64_t ttl_ms)
{
    if (!usable(s))
        return DEAD_RC(s);
    char msg[300];
    if (check_lease(lease, false, msg, sizeof msg) != SQCLAIM_OK)
        return fail_invalid(s, msg);
    if (ttl_ms == 0)
        ttl_ms = lease->ttl_ms ? lease->ttl_ms : SQCLAIM_DEFAULT_TTL_MS;
    if (sqc_check_ttl(ttl_ms, msg, sizeof msg) != SQCLAIM_OK)
        return fail_invalid(s, msg);
    sqb_err err;
    sqclaim_rc rc = sqc_renew(s, lease, ttl_ms, &err);
    if (rc == SQCLAIM_LOST) {
        set_msg(s, SQCLAIM_LOST,
                "renew: the lease on SQ %s is lost: it expired or another bot claimed it; "
                "stop working on it",
                lease->sq);
        return rc;
    }
    return rc < 0 ? fail(s, "renew", &err) : rc;
}

sqclaim_rc sqclaim_release(sqclaim_store *s, sqclaim_lease *lease)
{
    if (!usable(s))
        return DEAD_RC(s);
    char msg[300];
    if (check_lease(lease, false, msg, sizeof msg) != SQCLAIM_OK)
        return fail_invalid(s, msg);
    /* No renewal may outlive the release. */
    sqc_keepalive_detach(s, lease);
    struct op op;
    lease_op(&op, OP_RELEASE, lease);
    if (!(lease->flags & SQCLAIM_LEASE_UNCERTAIN))
        op.held_until_ns = lease->deadline_ns; /* lets a retry prove the release */
    sqb_err err;
    bool ambiguous;
    sqclaim_rc rc = run_op(s, &op, &err, &ambiguous, NULL);
    lease->deadline_ns = 0;
    if (rc == SQCLAIM_OK) {
        lease->flags &= ~SQCLAIM_LEASE_UNCERTAIN;
        return rc;
    }
    if (rc == SQCLAIM_LOST) {
        lease->flags &= ~SQCLAIM_LEASE_UNCERTAIN;
        if (ambiguous)
            set_msg(s, SQCLAIM_LOST,
                    "release: the lease on SQ %s is not held any more: an earlier attempt "
                    "whose reply was lost may have released it, or it had expired (its "
                    "deadline had passed%s, so which one is not proven)",
                    lease->sq, op.held_until_ns ? "" : " or is unknown");
        else
            set_msg(s, SQCLAIM_LOST,
                    "release: the lease on SQ %s was already lost (expired or claimed by "
                    "another bot); nothing was changed",
                    lease->sq);
        return rc;
    }
    if (rc == SQCLAIM_BUSY)
        sqb_seterr(&err, SQCLAIM_EPROTOCOL, "backend answered BUSY to a release");
    return fail(s, "release", &err);
}

/* Finish, lease-wide (rows NULL) or of one reservation (rows). */
static sqclaim_rc finish_op(sqclaim_store *s, const sqclaim_lease *lease, const sqclaim_rows *rows)
{
    if (!usable(s))
        return DEAD_RC(s);
    char msg[300];
    if (check_lease(lease, false, msg, sizeof msg) != SQCLAIM_OK)
        return fail_invalid(s, msg);
    if (rows) {
        /* Rows as reserve hands them out: the cursor can be raised up to
         * 10^15 - 1 (sqclaim_raise_cursor), so no lower limit than that. */
        if (rows->start_row < 1 || rows->start_row >= 1000000000000000ULL || rows->count < 1 ||
            rows->count > SQCLAIM_MAX_ROWS) {
            snprintf(msg, sizeof msg,
                     "finish: rows %" PRIu64 "+%" PRIu32
                     " are not a reservation (start 1..999999999999999, count 1..%d)",
                     rows->start_row, rows->count, SQCLAIM_MAX_ROWS);
            return fail_invalid(s, msg);
        }
        if (s->be->version < 3) {
            set_msg(s, SQCLAIM_EUNSUPPORTED,
                    "finish: backend \"%s\" cannot finish one reservation (backend version %d, "
                    "3 needed); nothing was changed",
                    s->be->name, s->be->version);
            return SQCLAIM_EUNSUPPORTED;
        }
    }
    struct op op;
    lease_op(&op, OP_FINISH, lease);
    if (rows) {
        op.lease.rows_start = rows->start_row;
        op.lease.rows_count = rows->count;
        op.lease.rows_fence = rows->fence;
    }
    sqb_err err;
    bool ambiguous;
    sqclaim_rc rc = run_op(s, &op, &err, &ambiguous, NULL);
    if (rc == SQCLAIM_OK)
        return rc;
    if (rc == SQCLAIM_LOST) {
        set_msg(s, SQCLAIM_LOST,
                "finish: the lease on SQ %s is lost (expired or claimed by another bot); its "
                "reservation, if any, went with it%s",
                lease->sq,
                ambiguous ? " (an earlier attempt whose reply was lost may have finished it first)"
                          : "");
        return rc;
    }
    if (rc == SQCLAIM_BUSY)
        sqb_seterr(&err, SQCLAIM_EPROTOCOL, "backend answered BUSY to a finish");
    return fail(s, "finish", &err);
}

sqclaim_rc sqclaim_finish_rows(sqclaim_store *s, const sqclaim_lease *lease)
{
    return finish_op(s, lease, NULL);
}

sqclaim_rc sqclaim_finish_range(sqclaim_store *s, const sqclaim_lease *lease,
                                const sqclaim_rows *rows)
{
    if (!rows) {
        if (!usable(s))
            return DEAD_RC(s);
        return fail_invalid(s, "finish: rows is NULL (use sqclaim_finish_rows to finish "
                               "whatever reservation the lease has)");
    }
    return finish_op(s, lease, rows);
}

sqclaim_rc sqclaim_abandon(sqclaim_store *s, const char *const *sqs, size_t n, sqclaim_lease *lease)
{
    if (!usable(s))
        return DEAD_RC(s);
    char msg[300];
    const char *one[1];
    sqclaim_rc rc = lease_candidates(s, lease, &sqs, &n, one);
    if (rc != SQCLAIM_OK)
        return rc;
    if (sqc_check_token(lease->token, msg, sizeof msg) != SQCLAIM_OK)
        return fail_invalid(s, msg);
    sqc_keepalive_detach(s, lease);
    /* Release the token on every candidate: at most one can hold it. */
    bool released = false;
    for (size_t i = 0; i < n; i++) {
        struct op op;
        lease_op(&op, OP_RELEASE, lease);
        op.lease.sq = sqs[i];
        sqb_err err;
        bool ambiguous;
        rc = run_op(s, &op, &err, &ambiguous, NULL);
        if (rc < 0)
            return fail(s, "abandon", &err); /* still uncertain: call again */
        released = released || rc == SQCLAIM_OK;
    }
    lease->deadline_ns = 0;
    lease->flags &= ~SQCLAIM_LEASE_UNCERTAIN;
    if (released)
        return SQCLAIM_OK;
    set_msg(s, SQCLAIM_LOST,
            "abandon: none of the %zu candidate SQs was held with this lease's token; nothing "
            "was changed",
            n);
    return SQCLAIM_LOST;
}

/* ------------------------------------------------------------------ */
/* Reserve                                                              */

sqclaim_rc sqclaim_reserve_rows(sqclaim_store *s, const sqclaim_lease *lease, uint32_t count,
                                uint64_t hint, sqclaim_rows *rows)
{
    if (!usable(s))
        return DEAD_RC(s);
    char msg[300];
    if (rows)
        memset(rows, 0, sizeof *rows);
    if (!rows)
        return fail_invalid(s, "rows is NULL: pass a sqclaim_rows to receive the range");
    /* The bot is not needed: the reservation takes the stored claim's. */
    if (check_lease(lease, false, msg, sizeof msg) != SQCLAIM_OK ||
        sqc_check_rows(count, hint, msg, sizeof msg) != SQCLAIM_OK)
        return fail_invalid(s, msg);
    char ts[SQCLAIM_TIMESTAMP_LEN + 1];
    sqb_format_timestamp(wall_ms(s), ts);
    struct op op;
    memset(&op, 0, sizeof op);
    op.kind = OP_RESERVE;
    op.reserve.sq = lease->sq;
    op.reserve.token = lease->token;
    op.reserve.bot = lease->bot;
    op.reserve.fence = lease->fence;
    op.reserve.count = count;
    op.reserve.hint = hint;
    op.reserve.timestamp = ts;
    sqb_err err;
    bool ambiguous;
    sqclaim_rc rc = run_op(s, &op, &err, &ambiguous, NULL);
    if (rc == SQCLAIM_OK) {
        if (op.rows.count != count || op.rows.start_row < 1 || (hint && op.rows.start_row < hint)) {
            sqb_seterr(&err, SQCLAIM_EPROTOCOL,
                       "backend returned rows %llu+%u for a request of %u rows at or after %llu",
                       (unsigned long long)op.rows.start_row, op.rows.count, count,
                       (unsigned long long)hint);
            return fail(s, "reserve", &err);
        }
        *rows = op.rows;
        return rc;
    }
    if (rc == SQCLAIM_LOST) {
        set_msg(s, SQCLAIM_LOST,
                "reserve: the lease on SQ %s is lost (expired or claimed by another bot); "
                "no rows were reserved",
                lease->sq);
        return rc;
    }
    if (rc == SQCLAIM_BUSY) {
        set_msg(s, SQCLAIM_BUSY,
                "reserve: a reservation is already open for SQ %s: this lease's, with a "
                "different row count or starting below the hint (finish it first), or a "
                "value another tool wrote under its refund key (see status)",
                lease->sq);
        return rc;
    }
    return fail(s, "reserve", &err);
}

#define ANSWER(rc) (1u << (rc))

/* Run an operator tool's (or status's) op, `what` naming it in messages:
 * OK, an answer in `answers` (ANSWER(SQCLAIM_BUSY) | ...: returned for the
 * caller to explain), or a failure recorded with fail(), where any other
 * answer of the backend is EPROTOCOL.  *ambiguous (may be NULL) as
 * run_op. */
static sqclaim_rc run_tool(sqclaim_store *s, struct op *op, const char *what, unsigned answers,
                           bool *ambiguous)
{
    sqb_err err;
    bool amb;
    sqclaim_rc rc = run_op(s, op, &err, ambiguous ? ambiguous : &amb, NULL);
    if (rc == SQCLAIM_OK || (rc > 0 && (answers & ANSWER(rc))))
        return rc;
    if (rc > 0)
        sqb_seterr(&err, SQCLAIM_EPROTOCOL, "backend answered %s to %s", sqclaim_rcname(rc), what);
    return fail(s, what, &err);
}

/* ------------------------------------------------------------------ */
/* Status, ping, stats                                                  */

void sqclaim_status_free(sqclaim_status *st)
{
    if (!st)
        return;
    free(st->claims);
    free(st->reservations);
    free(st);
}

static int cmp_claim(const void *a, const void *b)
{
    return strcmp(((const sqclaim_claim_info *)a)->sq, ((const sqclaim_claim_info *)b)->sq);
}

static int cmp_res(const void *a, const void *b)
{
    return strcmp(((const sqclaim_reservation_info *)a)->sq,
                  ((const sqclaim_reservation_info *)b)->sq);
}

sqclaim_rc sqclaim_status_get(sqclaim_store *s, sqclaim_status **out)
{
    if (out)
        *out = NULL;
    if (!usable(s))
        return DEAD_RC(s);
    if (!out)
        return fail_invalid(s, "out is NULL");
    sqclaim_status *st = calloc(1, sizeof *st);
    if (!st) {
        set_msg(s, SQCLAIM_ENOMEM, "status: out of memory");
        return SQCLAIM_ENOMEM;
    }
    struct op op = {.kind = OP_STATUS, .status = st};
    sqclaim_rc rc = run_tool(s, &op, "status", 0, NULL);
    if (rc != SQCLAIM_OK) {
        sqclaim_status_free(st);
        return rc;
    }
    if (st->nclaims > 1)
        qsort(st->claims, st->nclaims, sizeof *st->claims, cmp_claim);
    if (st->nreservations > 1)
        qsort(st->reservations, st->nreservations, sizeof *st->reservations, cmp_res);
    sqb_format_timestamp(wall_ms(s), st->timestamp);
    *out = st;
    return SQCLAIM_OK;
}

sqclaim_rc sqclaim_ping(sqclaim_store *s)
{
    if (!usable(s))
        return DEAD_RC(s);
    sqb_err err;
    bool ambiguous;
    struct op op = {.kind = OP_PING};
    sqclaim_rc rc = run_op(s, &op, &err, &ambiguous, NULL);
    return rc < 0 ? fail(s, "ping", &err) : SQCLAIM_OK;
}

/* Copy a struct of this library's layout into the caller's of `size`
 * bytes: its fields this library does not know are zeroed, and nothing
 * past `size` is written. */
static void export_sized(void *dst, size_t size, const void *src, size_t ours)
{
    if (size > ours) {
        memset((char *)dst + ours, 0, size - ours);
        size = ours;
    }
    memcpy(dst, src, size);
}

sqclaim_rc sqclaim_stats_get_sized(sqclaim_store *s, sqclaim_stats *out, size_t size)
{
    if (!out)
        return SQCLAIM_EINVAL;
    sqclaim_stats st;
    memset(&st, 0, sizeof st);
    if (!s) {
        export_sized(out, size, &st, sizeof st);
        return SQCLAIM_EINVAL;
    }
    pthread_mutex_lock(&s->lock);
    if (s->be && s->be->stats)
        s->be->stats(s->conn, &st);
    st.operations = s->stats.operations;
    st.retries = s->stats.retries;
    pthread_mutex_unlock(&s->lock);
    export_sized(out, size, &st, sizeof st);
    return SQCLAIM_OK;
}

/* ------------------------------------------------------------------ */
/* Local validity                                                       */

bool sqclaim_may_act(const sqclaim_store *s, const sqclaim_lease *lease)
{
    if (!lease || lease->deadline_ns == 0 || (lease->flags & SQCLAIM_LEASE_UNCERTAIN))
        return false;
    return sqclaim_now_ns(s) < lease->deadline_ns;
}

int64_t sqclaim_lease_remaining_ms(const sqclaim_store *s, const sqclaim_lease *lease)
{
    if (!lease || lease->deadline_ns == 0 || (lease->flags & SQCLAIM_LEASE_UNCERTAIN))
        return 0;
    int64_t left = lease->deadline_ns - sqclaim_now_ns(s);
    return left > 0 ? left / 1000000 : 0;
}

/* ------------------------------------------------------------------ */
/* Operator tools                                                       */

/* The backend has the version-2 member `fn`?  If not, say so. */
static bool has_op(sqclaim_store *s, bool present, const char *what)
{
    if (s->be->version >= 2 && present)
        return true;
    set_msg(s, SQCLAIM_EUNSUPPORTED, "%s: the \"%s\" backend does not support it", what,
            s->be->name);
    return false;
}

sqclaim_rc sqclaim_inspect(sqclaim_store *s, const char *sq, sqclaim_entry *out)
{
    if (!usable(s))
        return DEAD_RC(s);
    char msg[256];
    if (!out)
        return fail_invalid(s, "inspect: out is NULL");
    memset(out, 0, sizeof *out);
    if (sqclaim_check_sq(sq, msg, sizeof msg) != SQCLAIM_OK)
        return fail_invalid(s, msg);
    if (!has_op(s, s->be->inspect != NULL, "inspect"))
        return SQCLAIM_EUNSUPPORTED;
    sqb_strlcpy(out->sq, sq, sizeof out->sq);
    struct op op = {.kind = OP_INSPECT, .entry = out};
    sqclaim_rc rc = run_tool(s, &op, "inspect", 0, NULL);
    if (rc != SQCLAIM_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

sqclaim_rc sqclaim_break(sqclaim_store *s, const char *sq, const sqclaim_entry *expected,
                         unsigned flags, unsigned *removed)
{
    if (removed)
        *removed = 0;
    if (!usable(s))
        return DEAD_RC(s);
    char msg[256];
    if (sqclaim_check_sq(sq, msg, sizeof msg) != SQCLAIM_OK)
        return fail_invalid(s, msg);
    if (flags & ~SQCLAIM_BREAK_FORCE)
        return fail_invalid(s, "break: unknown flags (only SQCLAIM_BREAK_FORCE)");
    if (expected && strcmp(expected->sq, sq) != 0)
        return fail_invalid(s, "break: `expected` was read for another SQ");
    if (!has_op(s, s->be->break_sq != NULL, "break"))
        return SQCLAIM_EUNSUPPORTED;
    struct op op = {.kind = OP_BREAK};
    op.brk.sq = sq;
    op.brk.force = (flags & SQCLAIM_BREAK_FORCE) != 0;
    if (expected) {
        op.brk.check = true;
        op.brk.claim_fp = expected->has_claim ? expected->claim.fingerprint : "";
        op.brk.res_fp = expected->has_reservation ? expected->reservation.fingerprint : "";
    }
    bool ambiguous;
    sqclaim_rc rc =
        run_tool(s, &op, "break", ANSWER(SQCLAIM_BUSY) | ANSWER(SQCLAIM_LOST), &ambiguous);
    if (rc == SQCLAIM_OK) {
        unsigned gone = op.removed;
        if (ambiguous && expected) {
            /* An earlier attempt whose reply was lost may have removed what
             * was shown: it is gone either way. */
            gone |= expected->has_claim ? SQCLAIM_BROKE_CLAIM : 0;
            gone |= expected->has_reservation ? SQCLAIM_BROKE_RESERVATION : 0;
        }
        if (removed)
            *removed = gone;
        return rc;
    }
    if (rc == SQCLAIM_BUSY) {
        /* Name the holder, as the operator needs to decide. */
        sqclaim_entry now;
        memset(&now, 0, sizeof now);
        sqb_strlcpy(now.sq, sq, sizeof now.sq);
        struct op look = {.kind = OP_INSPECT, .entry = &now};
        sqb_err e2;
        bool amb2;
        char who[SQCLAIM_BOT_MAX * 6 + 64] = "";
        if (s->be->inspect && run_op(s, &look, &e2, &amb2, NULL) == SQCLAIM_OK && now.has_claim) {
            char q[SQCLAIM_BOT_MAX * 6 + 3];
            sq_json_quote(q, sizeof q, now.claim.bot, SQ_JSON_CSTR, 0);
            if (now.claim.ttl_ms >= 0)
                snprintf(who, sizeof who, " of bot %s (fence %llu, %lld ms left)", q,
                         (unsigned long long)now.claim.fence, (long long)now.claim.ttl_ms);
            else
                snprintf(who, sizeof who, " of bot %s (fence %llu)", q,
                         (unsigned long long)now.claim.fence);
        }
        set_msg(s, SQCLAIM_BUSY,
                "break: SQ %s is held by a live sqclaim claim%s: a bot may still be working "
                "on it; nothing was removed (force it to break it anyway)",
                sq, who);
        return rc;
    }
    if (rc == SQCLAIM_LOST) {
        set_msg(s, SQCLAIM_LOST,
                "break: what the store holds for SQ %s changed since it was shown (claimed, "
                "released or reserved meanwhile); nothing was removed: look again",
                sq);
    }
    return rc;
}

static sqclaim_rc counters_get(sqclaim_store *s, sqclaim_counters *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!usable(s))
        return DEAD_RC(s);
    if (!out)
        return fail_invalid(s, "counters: out is NULL");
    if (!has_op(s, s->be->counters != NULL, "counters"))
        return SQCLAIM_EUNSUPPORTED;
    struct op op = {.kind = OP_COUNTERS, .counters = out};
    sqclaim_rc rc = run_tool(s, &op, "counters", 0, NULL);
    if (rc != SQCLAIM_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

sqclaim_rc sqclaim_counters_get_sized(sqclaim_store *s, sqclaim_counters *out, size_t size)
{
    sqclaim_counters c;
    sqclaim_rc rc = counters_get(s, out ? &c : NULL);
    if (out)
        export_sized(out, size, &c, sizeof c);
    return rc;
}

/* The largest row cursor the stores accept (15 decimal digits). */
#define SQC_MAX_CURSOR 999999999999999ULL

sqclaim_rc sqclaim_raise_cursor(sqclaim_store *s, uint64_t row, uint64_t *cursor)
{
    if (cursor)
        *cursor = 0;
    if (!usable(s))
        return DEAD_RC(s);
    if (row < 1 || row > SQC_MAX_CURSOR) {
        char msg[128];
        snprintf(msg, sizeof msg, "invalid row %llu for the row cursor: must be 1 to %llu",
                 (unsigned long long)row, SQC_MAX_CURSOR);
        return fail_invalid(s, msg);
    }
    if (!has_op(s, s->be->raise_cursor != NULL, "raise-cursor"))
        return SQCLAIM_EUNSUPPORTED;
    struct op op = {.kind = OP_RAISE, .row = row};
    sqclaim_rc rc = run_tool(s, &op, "raise-cursor", ANSWER(SQCLAIM_BUSY), NULL);
    if (cursor && rc >= 0)
        *cursor = op.cursor;
    if (rc == SQCLAIM_BUSY)
        set_msg(s, SQCLAIM_BUSY,
                "raise-cursor: the row cursor is already at %llu, above %llu; it only moves "
                "up (rows below it may have been handed out), so it was left alone",
                (unsigned long long)op.cursor, (unsigned long long)row);
    return rc;
}
