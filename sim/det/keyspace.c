/* keyspace.c — an in-process Redis keyspace; see keyspace.h.
 *
 * Data: a chained hash table with power-of-two sizes (so SCAN can use
 * Redis's reverse-binary cursor, which returns every key present for the
 * whole iteration at least once even when the table grows or shrinks
 * between calls), and a binary min-heap of the keys that have an expiry,
 * so set_time removes expired keys in time order without a sweep.
 *
 * Semantics follow Redis 7.0 command by command (argument parsing order,
 * error texts, reply types); the differential test (tests/det/) runs the
 * same commands on this and on a real redis-server and compares the
 * replies byte for byte. */
#include "keyspace.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* Replies                                                              */

void det_reply_init(det_reply *r) { memset(r, 0, sizeof *r); }

void det_reply_reset(det_reply *r)
{
    r->n = 0;
    r->used = 0;
    r->oom = false;
}

void det_reply_free(det_reply *r)
{
    free(r->node);
    free(r->buf);
    memset(r, 0, sizeof *r);
}

static det_rnode *rnode(det_reply *r, det_rtype type)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        det_rnode *g = realloc(r->node, cap * sizeof *g);
        if (!g) {
            r->oom = true;
            return NULL;
        }
        r->node = g;
        r->cap = cap;
    }
    det_rnode *x = &r->node[r->n++];
    x->type = type;
    x->v = 0;
    x->off = 0;
    x->len = 0;
    return x;
}

/* Copy len bytes into the arena (NUL-terminated); offset or SIZE_MAX. */
static size_t rbytes(det_reply *r, const char *s, size_t len)
{
    if (r->bufcap - r->used < len + 1) {
        size_t cap = r->bufcap ? r->bufcap : 1024;
        while (cap - r->used < len + 1)
            cap *= 2;
        char *g = realloc(r->buf, cap);
        if (!g) {
            r->oom = true;
            return SIZE_MAX;
        }
        r->buf = g;
        r->bufcap = cap;
    }
    size_t off = r->used;
    if (len)
        memcpy(r->buf + off, s, len);
    r->buf[off + len] = '\0';
    r->used += len + 1;
    return off;
}

static void rstring(det_reply *r, det_rtype type, const char *s, size_t len)
{
    size_t off = rbytes(r, s, len);
    det_rnode *x = rnode(r, type);
    if (!x || off == SIZE_MAX) {
        if (x)
            x->type = DET_NIL;
        return;
    }
    x->off = off;
    x->len = len;
    if (type == DET_STATUS || type == DET_ERR) {
        char *p = r->buf + off;
        for (size_t i = 0; i < len; i++)
            if (p[i] == '\r' || p[i] == '\n')
                p[i] = ' ';
    }
}

void det_reply_nil(det_reply *r) { (void)rnode(r, DET_NIL); }

void det_reply_int(det_reply *r, long long v)
{
    det_rnode *x = rnode(r, DET_INT);
    if (x)
        x->v = v;
}

void det_reply_bulk(det_reply *r, const char *s, size_t len) { rstring(r, DET_BULK, s, len); }
void det_reply_status(det_reply *r, const char *s, size_t len) { rstring(r, DET_STATUS, s, len); }
void det_reply_err(det_reply *r, const char *s, size_t len) { rstring(r, DET_ERR, s, len); }

void det_reply_errf(det_reply *r, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof buf)
        n = (int)sizeof buf - 1;
    det_reply_err(r, buf, (size_t)n);
}

void det_reply_arr(det_reply *r, long long n)
{
    det_rnode *x = rnode(r, DET_ARR);
    if (x)
        x->v = n;
}

size_t det_reply_arr_open(det_reply *r)
{
    size_t idx = r->n;
    det_reply_arr(r, 0);
    return idx;
}

void det_reply_arr_set(det_reply *r, size_t idx, long long n)
{
    if (idx < r->n)
        r->node[idx].v = n;
}

size_t det_reply_next(const det_reply *r, size_t i)
{
    long long pending = 1;
    while (pending > 0 && i < r->n) {
        pending--;
        if (r->node[i].type == DET_ARR)
            pending += r->node[i].v;
        i++;
    }
    return i;
}

static int out_put(char **out, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*cap - *len < n + 1) {
        size_t c = *cap ? *cap : 256;
        while (c - *len < n + 1)
            c *= 2;
        char *g = realloc(*out, c);
        if (!g)
            return -1;
        *out = g;
        *cap = c;
    }
    memcpy(*out + *len, s, n);
    *len += n;
    (*out)[*len] = '\0';
    return 0;
}

static int resp_at(const det_reply *r, size_t *i, char **out, size_t *len, size_t *cap)
{
    if (*i >= r->n)
        return -1;
    const det_rnode *x = &r->node[(*i)++];
    char head[48];
    int h;
    switch (x->type) {
    case DET_NIL: return out_put(out, len, cap, "$-1\r\n", 5);
    case DET_INT:
        h = snprintf(head, sizeof head, ":%lld\r\n", x->v);
        return out_put(out, len, cap, head, (size_t)h);
    case DET_BULK:
        h = snprintf(head, sizeof head, "$%zu\r\n", x->len);
        if (out_put(out, len, cap, head, (size_t)h) != 0 ||
            out_put(out, len, cap, r->buf + x->off, x->len) != 0)
            return -1;
        return out_put(out, len, cap, "\r\n", 2);
    case DET_STATUS:
    case DET_ERR:
        if (out_put(out, len, cap, x->type == DET_STATUS ? "+" : "-", 1) != 0 ||
            out_put(out, len, cap, r->buf + x->off, x->len) != 0)
            return -1;
        return out_put(out, len, cap, "\r\n", 2);
    case DET_ARR:
        h = snprintf(head, sizeof head, "*%lld\r\n", x->v);
        if (out_put(out, len, cap, head, (size_t)h) != 0)
            return -1;
        for (long long k = 0; k < x->v; k++)
            if (resp_at(r, i, out, len, cap) != 0)
                return -1;
        return 0;
    }
    return -1;
}

int det_reply_resp(const det_reply *r, size_t i, char **out, size_t *len, size_t *cap)
{
    if (r->oom)
        return -1;
    return resp_at(r, &i, out, len, cap);
}

/* ------------------------------------------------------------------ */
/* Values                                                               */

typedef enum vtype { T_STRING = 1, T_LIST, T_HASH } vtype;

typedef struct sstr {
    char *p;
    size_t len;
} sstr;

typedef struct entry {
    struct entry *next; /* bucket chain */
    uint64_t hash;
    int64_t expire;  /* ms; -1: none */
    size_t heap_idx; /* position in the expiry heap; SIZE_MAX: none */
    vtype type;
    union {
        sstr str;
        struct {
            sstr *items;
            size_t n, cap;
        } list; /* T_LIST: items[0] is the head */
        struct {
            sstr *kv;      /* field, value, field, value, ... (insertion order) */
            size_t n, cap; /* n fields */
        } hash;
    } v;
    size_t klen;
    char key[];
} entry;

struct det_ks {
    entry **table;
    size_t size; /* power of two */
    size_t count;
    entry **heap; /* min-heap on expire */
    size_t nheap, heapcap;
    int64_t now_ns, now_ms;
    det_script_fn script_fn;
    void *script_ctx;
    int16_t cmdtab[128];   /* command lookup (build_cmdtab) */
    uint64_t script_calls; /* commands run by scripts (redis.call/pcall) */
};

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static bool sstr_set(sstr *s, const char *p, size_t len)
{
    char *n = malloc(len + 1);
    if (!n)
        return false;
    if (len)
        memcpy(n, p, len);
    n[len] = '\0';
    free(s->p);
    s->p = n;
    s->len = len;
    return true;
}

static void value_free(entry *e)
{
    switch (e->type) {
    case T_STRING: free(e->v.str.p); break;
    case T_LIST:
        for (size_t i = 0; i < e->v.list.n; i++)
            free(e->v.list.items[i].p);
        free(e->v.list.items);
        break;
    case T_HASH:
        for (size_t i = 0; i < 2 * e->v.hash.n; i++)
            free(e->v.hash.kv[i].p);
        free(e->v.hash.kv);
        break;
    }
    memset(&e->v, 0, sizeof e->v);
}

/* ------------------------------------------------------------------ */
/* Expiry heap                                                          */

static void heap_swap(det_ks *ks, size_t a, size_t b)
{
    entry *t = ks->heap[a];
    ks->heap[a] = ks->heap[b];
    ks->heap[b] = t;
    ks->heap[a]->heap_idx = a;
    ks->heap[b]->heap_idx = b;
}

static void heap_up(det_ks *ks, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (ks->heap[p]->expire <= ks->heap[i]->expire)
            break;
        heap_swap(ks, p, i);
        i = p;
    }
}

static void heap_down(det_ks *ks, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < ks->nheap && ks->heap[l]->expire < ks->heap[m]->expire)
            m = l;
        if (r < ks->nheap && ks->heap[r]->expire < ks->heap[m]->expire)
            m = r;
        if (m == i)
            return;
        heap_swap(ks, i, m);
        i = m;
    }
}

static void heap_remove(det_ks *ks, entry *e)
{
    size_t i = e->heap_idx;
    if (i == SIZE_MAX)
        return;
    e->heap_idx = SIZE_MAX;
    ks->nheap--;
    if (i != ks->nheap) {
        ks->heap[i] = ks->heap[ks->nheap];
        ks->heap[i]->heap_idx = i;
        heap_up(ks, i);
        heap_down(ks, ks->heap[i]->heap_idx);
    }
}

/* Set or clear (-1) an entry's expiry.  False: out of memory. */
static bool set_expire(det_ks *ks, entry *e, int64_t when)
{
    if (when == -1) {
        heap_remove(ks, e);
        e->expire = -1;
        return true;
    }
    if (e->heap_idx == SIZE_MAX) {
        if (ks->nheap == ks->heapcap) {
            size_t cap = ks->heapcap ? ks->heapcap * 2 : 64;
            entry **g = realloc(ks->heap, cap * sizeof *g);
            if (!g)
                return false;
            ks->heap = g;
            ks->heapcap = cap;
        }
        e->expire = when;
        e->heap_idx = ks->nheap;
        ks->heap[ks->nheap++] = e;
        heap_up(ks, e->heap_idx);
        return true;
    }
    int64_t old = e->expire;
    e->expire = when;
    if (when < old)
        heap_up(ks, e->heap_idx);
    else
        heap_down(ks, e->heap_idx);
    return true;
}

/* ------------------------------------------------------------------ */
/* Table                                                                */

#define MIN_SIZE 16

static void rehash(det_ks *ks, size_t size)
{
    entry **t = calloc(size, sizeof *t);
    if (!t)
        return; /* keep the old table: slower, still correct */
    for (size_t i = 0; i < ks->size; i++) {
        entry *e = ks->table[i];
        while (e) {
            entry *next = e->next;
            size_t b = e->hash & (size - 1);
            e->next = t[b];
            t[b] = e;
            e = next;
        }
    }
    free(ks->table);
    ks->table = t;
    ks->size = size;
}

static void build_cmdtab(det_ks *ks);

det_ks *det_ks_new(void)
{
    det_ks *ks = calloc(1, sizeof *ks);
    if (!ks)
        return NULL;
    ks->table = calloc(MIN_SIZE, sizeof *ks->table);
    if (!ks->table) {
        free(ks);
        return NULL;
    }
    ks->size = MIN_SIZE;
    build_cmdtab(ks);
    return ks;
}

void det_ks_set_scripting(det_ks *ks, det_script_fn fn, void *ctx)
{
    ks->script_fn = fn;
    ks->script_ctx = ctx;
}

static entry **find_slot(det_ks *ks, const char *key, size_t len, uint64_t h)
{
    entry **pp = &ks->table[h & (ks->size - 1)];
    while (*pp) {
        entry *e = *pp;
        if (e->hash == h && e->klen == len && memcmp(e->key, key, len) == 0)
            return pp;
        pp = &e->next;
    }
    return pp;
}

static void unlink_entry(det_ks *ks, entry **pp)
{
    entry *e = *pp;
    *pp = e->next;
    heap_remove(ks, e);
    value_free(e);
    free(e);
    ks->count--;
    if (ks->size > MIN_SIZE && ks->count < ks->size / 8)
        rehash(ks, ks->size / 2);
}

static bool expired(const det_ks *ks, const entry *e)
{
    return e->expire != -1 && ks->now_ms > e->expire;
}

/* The live entry for key, or NULL (an expired one is deleted). */
static entry *lookup(det_ks *ks, const char *key, size_t len)
{
    uint64_t h = hash_bytes(key, len);
    entry **pp = find_slot(ks, key, len, h);
    if (!*pp)
        return NULL;
    if (expired(ks, *pp)) {
        unlink_entry(ks, pp);
        return NULL;
    }
    return *pp;
}

static bool delete_key(det_ks *ks, const char *key, size_t len)
{
    uint64_t h = hash_bytes(key, len);
    entry **pp = find_slot(ks, key, len, h);
    if (!*pp)
        return false;
    bool live = !expired(ks, *pp);
    unlink_entry(ks, pp);
    return live;
}

/* A new, empty entry of `type` for a key known to be absent. */
static entry *create(det_ks *ks, const char *key, size_t len, vtype type)
{
    uint64_t h = hash_bytes(key, len);
    entry **pp = find_slot(ks, key, len, h);
    if (*pp) /* an expired entry still linked */
        unlink_entry(ks, pp), pp = find_slot(ks, key, len, h);
    entry *e = calloc(1, sizeof *e + len + 1);
    if (!e)
        return NULL;
    e->hash = h;
    e->expire = -1;
    e->heap_idx = SIZE_MAX;
    e->type = type;
    e->klen = len;
    memcpy(e->key, key, len);
    e->next = NULL;
    *pp = e;
    ks->count++;
    if (ks->count > ks->size)
        rehash(ks, ks->size * 2);
    return e;
}

void det_ks_flush(det_ks *ks)
{
    for (size_t i = 0; i < ks->size; i++) {
        entry *e = ks->table[i];
        while (e) {
            entry *next = e->next;
            value_free(e);
            free(e);
            e = next;
        }
        ks->table[i] = NULL;
    }
    ks->count = 0;
    ks->nheap = 0;
    if (ks->size > MIN_SIZE) {
        entry **t = calloc(MIN_SIZE, sizeof *t);
        if (t) { /* else keep the large, now empty, table */
            free(ks->table);
            ks->table = t;
            ks->size = MIN_SIZE;
        }
    }
}

void det_ks_free(det_ks *ks)
{
    if (!ks)
        return;
    det_ks_flush(ks);
    free(ks->table);
    free(ks->heap);
    free(ks);
}

void det_ks_set_time(det_ks *ks, int64_t now_ns)
{
    if (now_ns > ks->now_ns)
        ks->now_ns = now_ns;
    /* floor division: virtual clocks may start anywhere */
    int64_t ms = ks->now_ns / 1000000;
    if (ks->now_ns < 0 && ks->now_ns % 1000000 != 0)
        ms--;
    ks->now_ms = ms;
    while (ks->nheap > 0 && ks->now_ms > ks->heap[0]->expire) {
        entry *e = ks->heap[0];
        (void)delete_key(ks, e->key, e->klen);
    }
}

int64_t det_ks_now_ms(const det_ks *ks) { return ks->now_ms; }

size_t det_ks_size(const det_ks *ks)
{
    /* set_time removed the expired keys; time stands still until the next
     * call, so every key in the table is live. */
    return ks->count;
}

/* ------------------------------------------------------------------ */
/* Parsing helpers                                                      */

bool det_parse_ll(const char *s, size_t len, long long *out)
{
    if (len == 0 || len >= 21)
        return false;
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    size_t i = 0;
    bool neg = false;
    if (s[0] == '-') {
        neg = true;
        i = 1;
        if (len == 1)
            return false;
    }
    if (s[i] < '1' || s[i] > '9')
        return false;
    unsigned long long v = (unsigned long long)(s[i] - '0');
    for (i++; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (v > ULLONG_MAX / 10)
            return false;
        v *= 10;
        unsigned long long d = (unsigned long long)(s[i] - '0');
        if (v > ULLONG_MAX - d)
            return false;
        v += d;
    }
    if (neg) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return false;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX)
            return false;
        *out = (long long)v;
    }
    return true;
}

bool det_glob_match(const char *p, size_t plen, const char *s, size_t slen)
{
    while (plen && slen) {
        switch (p[0]) {
        case '*':
            while (plen > 1 && p[1] == '*') {
                p++;
                plen--;
            }
            if (plen == 1)
                return true;
            while (slen) {
                if (det_glob_match(p + 1, plen - 1, s, slen))
                    return true;
                s++;
                slen--;
            }
            return false;
        case '?':
            s++;
            slen--;
            break;
        case '[': {
            p++;
            plen--;
            bool neg = plen > 0 && p[0] == '^';
            if (neg) {
                p++;
                plen--;
            }
            bool match = false;
            for (;;) {
                if (plen >= 2 && p[0] == '\\') {
                    p++;
                    plen--;
                    if (p[0] == s[0])
                        match = true;
                } else if (plen == 0) {
                    /* unterminated class: step back onto the last byte */
                    p--;
                    plen++;
                    break;
                } else if (p[0] == ']') {
                    break;
                } else if (plen >= 3 && p[1] == '-') {
                    char lo = p[0], hi = p[2], c = s[0];
                    if (lo > hi) {
                        char t = lo;
                        lo = hi;
                        hi = t;
                    }
                    p += 2;
                    plen -= 2;
                    if (c >= lo && c <= hi)
                        match = true;
                } else if (p[0] == s[0]) {
                    match = true;
                }
                p++;
                plen--;
            }
            if (neg)
                match = !match;
            if (!match)
                return false;
            s++;
            slen--;
            break;
        }
        case '\\':
            if (plen >= 2) {
                p++;
                plen--;
            }
            /* fall through */
        default:
            if (p[0] != s[0])
                return false;
            s++;
            slen--;
            break;
        }
        p++;
        plen--;
        if (slen == 0) {
            while (plen > 0 && p[0] == '*') {
                p++;
                plen--;
            }
            break;
        }
    }
    return plen == 0 && slen == 0;
}

/* ------------------------------------------------------------------ */
/* Commands                                                             */

typedef struct args {
    int argc;
    const char *const *argv;
    const size_t *len;
} args;

static bool arg_is(const args *a, int i, const char *word)
{
    size_t wl = strlen(word);
    return a->len[i] == wl && strncasecmp(a->argv[i], word, wl) == 0;
}

static const char wrongtype[] = "WRONGTYPE Operation against a key holding the wrong kind of value";
static const char notint[] = "ERR value is not an integer or out of range";
static const char syntaxerr[] = "ERR syntax error";

static void err(det_reply *out, const char *text) { det_reply_err(out, text, strlen(text)); }

static bool arg_ll(const args *a, int i, long long *v, det_reply *out)
{
    if (det_parse_ll(a->argv[i], a->len[i], v))
        return true;
    err(out, notint);
    return false;
}

static void arity_err(det_reply *out, const char *name)
{
    det_reply_errf(out, "ERR wrong number of arguments for '%s' command", name);
}

static void reply_ok(det_reply *out) { det_reply_status(out, "OK", 2); }

/* Set key to a string value; keep_ttl keeps the expiry of an existing
 * string... of any existing key (SET KEEPTTL).  NULL: out of memory. */
static entry *set_string(det_ks *ks, const char *key, size_t klen, const char *v, size_t vlen,
                         bool keep_ttl)
{
    entry *e = lookup(ks, key, klen);
    if (e) {
        sstr s = {NULL, 0};
        if (!sstr_set(&s, v, vlen))
            return NULL;
        value_free(e);
        e->type = T_STRING;
        e->v.str = s;
        if (!keep_ttl)
            set_expire(ks, e, -1);
        return e;
    }
    e = create(ks, key, klen, T_STRING);
    if (!e)
        return NULL;
    if (!sstr_set(&e->v.str, v, vlen)) {
        (void)delete_key(ks, key, klen);
        return NULL;
    }
    return e;
}

static void oom(det_reply *out)
{
    err(out, "OOM command not allowed when used memory > 'maxmemory'.");
}

/* Expiry as Redis's getExpireMillisecondsOrReply (SET, SETEX, PSETEX). */
enum { X_EX = 1, X_PX = 2, X_EXAT = 4, X_PXAT = 8 };
static bool expire_arg(det_ks *ks, const char *cmd, const char *s, size_t len, int unit_flags,
                       long long *ms, det_reply *out)
{
    long long v;
    if (!det_parse_ll(s, len, &v)) {
        err(out, notint);
        return false;
    }
    bool seconds = unit_flags & (X_EX | X_EXAT);
    if (v <= 0 || (seconds && v > LLONG_MAX / 1000)) {
        det_reply_errf(out, "ERR invalid expire time in '%s' command", cmd);
        return false;
    }
    if (seconds)
        v *= 1000;
    if (unit_flags & (X_EX | X_PX)) /* relative: wraps like Redis's signed add */
        v = (long long)((unsigned long long)v + (unsigned long long)ks->now_ms);
    if (v <= 0) {
        det_reply_errf(out, "ERR invalid expire time in '%s' command", cmd);
        return false;
    }
    *ms = v;
    return true;
}

static void cmd_get(det_ks *ks, const args *a, det_reply *out)
{
    entry *e = lookup(ks, a->argv[1], a->len[1]);
    if (!e)
        det_reply_nil(out);
    else if (e->type != T_STRING)
        err(out, wrongtype);
    else
        det_reply_bulk(out, e->v.str.p, e->v.str.len);
}

enum { S_NX = 1, S_XX = 2, S_GET = 4, S_KEEPTTL = 8 };

static void cmd_set(det_ks *ks, const args *a, det_reply *out)
{
    int flags = 0, xflags = 0;
    int xi = -1;
    for (int j = 3; j < a->argc; j++) {
        bool has_next = j < a->argc - 1;
        if (arg_is(a, j, "nx") && !(flags & S_XX)) {
            flags |= S_NX;
        } else if (arg_is(a, j, "xx") && !(flags & S_NX)) {
            flags |= S_XX;
        } else if (arg_is(a, j, "get")) {
            flags |= S_GET;
        } else if (arg_is(a, j, "keepttl") && !xflags) {
            flags |= S_KEEPTTL;
        } else if (arg_is(a, j, "ex") && !(flags & S_KEEPTTL) && !(xflags & ~X_EX) && has_next) {
            xflags |= X_EX;
            xi = ++j;
        } else if (arg_is(a, j, "px") && !(flags & S_KEEPTTL) && !(xflags & ~X_PX) && has_next) {
            xflags |= X_PX;
            xi = ++j;
        } else if (arg_is(a, j, "exat") && !(flags & S_KEEPTTL) && !(xflags & ~X_EXAT) &&
                   has_next) {
            xflags |= X_EXAT;
            xi = ++j;
        } else if (arg_is(a, j, "pxat") && !(flags & S_KEEPTTL) && !(xflags & ~X_PXAT) &&
                   has_next) {
            xflags |= X_PXAT;
            xi = ++j;
        } else {
            err(out, syntaxerr);
            return;
        }
    }
    long long when = -1;
    if (xflags && !expire_arg(ks, "set", a->argv[xi], a->len[xi], xflags, &when, out))
        return;
    entry *e = lookup(ks, a->argv[1], a->len[1]);
    if (flags & S_GET) {
        if (!e)
            det_reply_nil(out);
        else if (e->type != T_STRING) {
            err(out, wrongtype);
            return;
        } else
            det_reply_bulk(out, e->v.str.p, e->v.str.len);
    }
    if (((flags & S_NX) && e) || ((flags & S_XX) && !e)) {
        if (!(flags & S_GET))
            det_reply_nil(out);
        return;
    }
    e = set_string(ks, a->argv[1], a->len[1], a->argv[2], a->len[2], flags & S_KEEPTTL);
    if (!e) {
        if (!(flags & S_GET))
            oom(out);
        return;
    }
    if (xflags)
        set_expire(ks, e, when);
    if (!(flags & S_GET))
        reply_ok(out);
}

static void cmd_setnx(det_ks *ks, const args *a, det_reply *out)
{
    if (lookup(ks, a->argv[1], a->len[1])) {
        det_reply_int(out, 0);
        return;
    }
    if (!set_string(ks, a->argv[1], a->len[1], a->argv[2], a->len[2], false))
        oom(out);
    else
        det_reply_int(out, 1);
}

static void setex_generic(det_ks *ks, const args *a, det_reply *out, const char *name, int unit)
{
    long long when;
    if (!expire_arg(ks, name, a->argv[2], a->len[2], unit, &when, out))
        return;
    entry *e = set_string(ks, a->argv[1], a->len[1], a->argv[3], a->len[3], false);
    if (!e) {
        oom(out);
        return;
    }
    set_expire(ks, e, when);
    reply_ok(out);
}

static void cmd_setex(det_ks *ks, const args *a, det_reply *out)
{
    setex_generic(ks, a, out, "setex", X_EX);
}

static void cmd_psetex(det_ks *ks, const args *a, det_reply *out)
{
    setex_generic(ks, a, out, "psetex", X_PX);
}

static void cmd_getdel(det_ks *ks, const args *a, det_reply *out)
{
    entry *e = lookup(ks, a->argv[1], a->len[1]);
    if (!e) {
        det_reply_nil(out);
    } else if (e->type != T_STRING) {
        err(out, wrongtype);
    } else {
        det_reply_bulk(out, e->v.str.p, e->v.str.len);
        (void)delete_key(ks, a->argv[1], a->len[1]);
    }
}

static void cmd_strlen(det_ks *ks, const args *a, det_reply *out)
{
    entry *e = lookup(ks, a->argv[1], a->len[1]);
    if (!e)
        det_reply_int(out, 0);
    else if (e->type != T_STRING)
        err(out, wrongtype);
    else
        det_reply_int(out, (long long)e->v.str.len);
}

static void cmd_append(det_ks *ks, const args *a, det_reply *out)
{
    entry *e = lookup(ks, a->argv[1], a->len[1]);
    if (e && e->type != T_STRING) {
        err(out, wrongtype);
        return;
    }
    if (!e) {
        e = set_string(ks, a->argv[1], a->len[1], a->argv[2], a->len[2], false);
        if (!e)
            oom(out);
        else
            det_reply_int(out, (long long)e->v.str.len);
        return;
    }
    size_t n = e->v.str.len + a->len[2];
    char *g = realloc(e->v.str.p, n + 1);
    if (!g) {
        oom(out);
        return;
    }
    memcpy(g + e->v.str.len, a->argv[2], a->len[2]);
    g[n] = '\0';
    e->v.str.p = g;
    e->v.str.len = n;
    det_reply_int(out, (long long)n);
}

static void cmd_mget(det_ks *ks, const args *a, det_reply *out)
{
    det_reply_arr(out, a->argc - 1);
    for (int i = 1; i < a->argc; i++) {
        entry *e = lookup(ks, a->argv[i], a->len[i]);
        if (!e || e->type != T_STRING)
            det_reply_nil(out);
        else
            det_reply_bulk(out, e->v.str.p, e->v.str.len);
    }
}

static void cmd_mset(det_ks *ks, const args *a, det_reply *out)
{
    if (a->argc % 2 == 0) {
        arity_err(out, "mset");
        return;
    }
    for (int i = 1; i < a->argc; i += 2)
        if (!set_string(ks, a->argv[i], a->len[i], a->argv[i + 1], a->len[i + 1], false)) {
            oom(out);
            return;
        }
    reply_ok(out);
}

static void cmd_del(det_ks *ks, const args *a, det_reply *out)
{
    long long n = 0;
    for (int i = 1; i < a->argc; i++)
        n += delete_key(ks, a->argv[i], a->len[i]);
    det_reply_int(out, n);
}

static void cmd_exists(det_ks *ks, const args *a, det_reply *out)
{
    long long n = 0;
    for (int i = 1; i < a->argc; i++)
        n += lookup(ks, a->argv[i], a->len[i]) != NULL;
    det_reply_int(out, n);
}

static const char *type_name(vtype t)
{
    switch (t) {
    case T_STRING: return "string";
    case T_LIST: return "list";
    case T_HASH: return "hash";
    }
    return "none";
}

static void cmd_type(det_ks *ks, const args *a, det_reply *out)
{
    entry *e = lookup(ks, a->argv[1], a->len[1]);
    const char *t = e ? type_name(e->type) : "none";
    det_reply_status(out, t, strlen(t));
}

static void incr_generic(det_ks *ks, const args *a, long long incr, det_reply *out)
{
    entry *e = lookup(ks, a->argv[1], a->len[1]);
    long long v = 0;
    if (e) {
        if (e->type != T_STRING) {
            err(out, wrongtype);
            return;
        }
        if (!det_parse_ll(e->v.str.p, e->v.str.len, &v)) {
            err(out, notint);
            return;
        }
    }
    if ((incr < 0 && v < 0 && incr < LLONG_MIN - v) ||
        (incr > 0 && v > 0 && incr > LLONG_MAX - v)) {
        err(out, "ERR increment or decrement would overflow");
        return;
    }
    v += incr;
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%lld", v);
    if (e) { /* in place: the expiry stays */
        if (!sstr_set(&e->v.str, buf, (size_t)n)) {
            oom(out);
            return;
        }
    } else if (!set_string(ks, a->argv[1], a->len[1], buf, (size_t)n, false)) {
        oom(out);
        return;
    }
    det_reply_int(out, v);
}

static void cmd_incr(det_ks *ks, const args *a, det_reply *out) { incr_generic(ks, a, 1, out); }
static void cmd_decr(det_ks *ks, const args *a, det_reply *out) { incr_generic(ks, a, -1, out); }

static void cmd_incrby(det_ks *ks, const args *a, det_reply *out)
{
    long long incr;
    if (arg_ll(a, 2, &incr, out))
        incr_generic(ks, a, incr, out);
}

static void cmd_decrby(det_ks *ks, const args *a, det_reply *out)
{
    long long incr;
    if (!arg_ll(a, 2, &incr, out))
        return;
    if (incr == LLONG_MIN) {
        err(out, "ERR decrement would overflow");
        return;
    }
    incr_generic(ks, a, -incr, out);
}

enum { E_NX = 1, E_XX = 2, E_GT = 4, E_LT = 8 };

static void expire_generic(det_ks *ks, const args *a, det_reply *out, const char *name,
                           bool seconds, bool absolute)
{
    int flags = 0;
    for (int j = 3; j < a->argc; j++) {
        if (arg_is(a, j, "nx"))
            flags |= E_NX;
        else if (arg_is(a, j, "xx"))
            flags |= E_XX;
        else if (arg_is(a, j, "gt"))
            flags |= E_GT;
        else if (arg_is(a, j, "lt"))
            flags |= E_LT;
        else {
            det_reply_errf(out, "ERR Unsupported option %.*s", (int)a->len[j], a->argv[j]);
            return;
        }
    }
    if ((flags & E_NX) && (flags & (E_XX | E_GT | E_LT))) {
        err(out, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if ((flags & E_GT) && (flags & E_LT)) {
        err(out, "ERR GT and LT options at the same time are not compatible");
        return;
    }
    long long when;
    if (!arg_ll(a, 2, &when, out))
        return;
    long long base = absolute ? 0 : ks->now_ms;
    if (seconds) {
        if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000) {
            det_reply_errf(out, "ERR invalid expire time in '%s' command", name);
            return;
        }
        when *= 1000;
    }
    if (when > LLONG_MAX - base) {
        det_reply_errf(out, "ERR invalid expire time in '%s' command", name);
        return;
    }
    when += base;
    entry *e = lookup(ks, a->argv[1], a->len[1]);
    if (!e) {
        det_reply_int(out, 0);
        return;
    }
    long long cur = e->expire;
    if (((flags & E_NX) && cur != -1) || ((flags & E_XX) && cur == -1) ||
        ((flags & E_GT) && (when <= cur || cur == -1)) ||
        ((flags & E_LT) && cur != -1 && when >= cur)) {
        det_reply_int(out, 0);
        return;
    }
    if (when <= ks->now_ms)
        (void)delete_key(ks, a->argv[1], a->len[1]);
    else
        set_expire(ks, e, when);
    det_reply_int(out, 1);
}

static void cmd_expire(det_ks *ks, const args *a, det_reply *out)
{
    expire_generic(ks, a, out, "expire", true, false);
}
static void cmd_pexpire(det_ks *ks, const args *a, det_reply *out)
{
    expire_generic(ks, a, out, "pexpire", false, false);
}
static void cmd_expireat(det_ks *ks, const args *a, det_reply *out)
{
    expire_generic(ks, a, out, "expireat", true, true);
}
static void cmd_pexpireat(det_ks *ks, const args *a, det_reply *out)
{
    expire_generic(ks, a, out, "pexpireat", false, true);
}

static void cmd_persist(det_ks *ks, const args *a, det_reply *out)
{
    entry *e = lookup(ks, a->argv[1], a->len[1]);
    if (!e || e->expire == -1) {
        det_reply_int(out, 0);
        return;
    }
    set_expire(ks, e, -1);
    det_reply_int(out, 1);
}

static void ttl_generic(det_ks *ks, const args *a, det_reply *out, bool ms)
{
    entry *e = lookup(ks, a->argv[1], a->len[1]);
    if (!e) {
        det_reply_int(out, -2);
        return;
    }
    if (e->expire == -1) {
        det_reply_int(out, -1);
        return;
    }
    long long ttl = e->expire - ks->now_ms;
    if (ttl < 0)
        ttl = 0;
    det_reply_int(out, ms ? ttl : (ttl + 500) / 1000);
}

static void cmd_ttl(det_ks *ks, const args *a, det_reply *out) { ttl_generic(ks, a, out, false); }
static void cmd_pttl(det_ks *ks, const args *a, det_reply *out) { ttl_generic(ks, a, out, true); }

static void expiretime_generic(det_ks *ks, const args *a, det_reply *out, bool ms)
{
    entry *e = lookup(ks, a->argv[1], a->len[1]);
    if (!e)
        det_reply_int(out, -2);
    else if (e->expire == -1)
        det_reply_int(out, -1);
    else /* (e->expire + 500) / 1000 without overflow at LLONG_MAX */
        det_reply_int(out,
                      ms ? e->expire : (long long)(((unsigned long long)e->expire + 500) / 1000));
}

static void cmd_expiretime(det_ks *ks, const args *a, det_reply *out)
{
    expiretime_generic(ks, a, out, false);
}
static void cmd_pexpiretime(det_ks *ks, const args *a, det_reply *out)
{
    expiretime_generic(ks, a, out, true);
}

static void cmd_keys(det_ks *ks, const args *a, det_reply *out)
{
    const char *pat = a->argv[1];
    size_t plen = a->len[1];
    bool all = plen == 1 && pat[0] == '*';
    size_t idx = det_reply_arr_open(out);
    long long n = 0;
    for (size_t b = 0; b < ks->size; b++)
        for (entry *e = ks->table[b]; e; e = e->next) {
            if (expired(ks, e))
                continue;
            if (all || det_glob_match(pat, plen, e->key, e->klen)) {
                det_reply_bulk(out, e->key, e->klen);
                n++;
            }
        }
    det_reply_arr_set(out, idx, n);
}

static unsigned long rev_bits(unsigned long v)
{
    unsigned long s = 8 * sizeof(v), mask = ~0UL;
    while ((s >>= 1) > 0) {
        mask ^= (mask << s);
        v = ((v >> s) & mask) | ((v << s) & ~mask);
    }
    return v;
}

static void cmd_scan(det_ks *ks, const args *a, det_reply *out)
{
    char cbuf[64];
    size_t cl = a->len[1] < sizeof cbuf - 1 ? a->len[1] : sizeof cbuf - 1;
    memcpy(cbuf, a->argv[1], cl);
    cbuf[cl] = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long cursor = strtoul(cbuf, &end, 10);
    if (isspace((unsigned char)cbuf[0]) || *end != '\0' || errno == ERANGE || cl != a->len[1]) {
        err(out, "ERR invalid cursor");
        return;
    }
    long long count = 10;
    const char *pat = NULL;
    size_t plen = 0;
    const char *tname = NULL;
    size_t tlen = 0;
    for (int i = 2; i < a->argc;) {
        int left = a->argc - i;
        if (arg_is(a, i, "count") && left >= 2) {
            if (!arg_ll(a, i + 1, &count, out))
                return;
            if (count < 1) {
                err(out, syntaxerr);
                return;
            }
            i += 2;
        } else if (arg_is(a, i, "match") && left >= 2) {
            pat = a->argv[i + 1];
            plen = a->len[i + 1];
            if (plen == 1 && pat[0] == '*')
                pat = NULL;
            i += 2;
        } else if (arg_is(a, i, "type") && left >= 2) {
            tname = a->argv[i + 1];
            tlen = a->len[i + 1];
            i += 2;
        } else {
            err(out, syntaxerr);
            return;
        }
    }
    /* Collect whole buckets until count keys (or 10 * count buckets). */
    entry **found = NULL;
    size_t nfound = 0, capfound = 0;
    long long maxiter = count > LLONG_MAX / 10 ? LLONG_MAX : count * 10;
    unsigned long mask = ks->size - 1;
    do {
        for (entry *e = ks->table[cursor & mask]; e; e = e->next) {
            if (nfound == capfound) {
                size_t c = capfound ? capfound * 2 : 32;
                entry **g = realloc(found, c * sizeof *g);
                if (!g) {
                    free(found);
                    oom(out);
                    return;
                }
                found = g;
                capfound = c;
            }
            found[nfound++] = e;
        }
        cursor |= ~mask;
        cursor = rev_bits(cursor);
        cursor++;
        cursor = rev_bits(cursor);
    } while (cursor && maxiter-- && nfound < (size_t)count);

    det_reply_arr(out, 2);
    char cur[24];
    int cn = snprintf(cur, sizeof cur, "%lu", cursor);
    det_reply_bulk(out, cur, (size_t)cn);
    size_t idx = det_reply_arr_open(out);
    long long n = 0;
    for (size_t i = 0; i < nfound; i++) {
        entry *e = found[i];
        if (pat && !det_glob_match(pat, plen, e->key, e->klen))
            continue;
        if (tname) {
            const char *t = type_name(e->type);
            if (strlen(t) != tlen || strncasecmp(t, tname, tlen) != 0)
                continue;
        }
        if (expired(ks, e))
            continue;
        det_reply_bulk(out, e->key, e->klen);
        n++;
    }
    det_reply_arr_set(out, idx, n);
    free(found);
}

static void cmd_time(det_ks *ks, const args *a, det_reply *out)
{
    (void)a;
    long long us = ks->now_ns / 1000;
    long long sec = us / 1000000, usec = us % 1000000;
    if (usec < 0) {
        usec += 1000000;
        sec--;
    }
    char b[32];
    det_reply_arr(out, 2);
    int n = snprintf(b, sizeof b, "%lld", sec);
    det_reply_bulk(out, b, (size_t)n);
    n = snprintf(b, sizeof b, "%lld", usec);
    det_reply_bulk(out, b, (size_t)n);
}

static void cmd_ping(det_ks *ks, const args *a, det_reply *out)
{
    (void)ks;
    if (a->argc > 2)
        arity_err(out, "ping");
    else if (a->argc == 2)
        det_reply_bulk(out, a->argv[1], a->len[1]);
    else
        det_reply_status(out, "PONG", 4);
}

static void cmd_echo(det_ks *ks, const args *a, det_reply *out)
{
    (void)ks;
    det_reply_bulk(out, a->argv[1], a->len[1]);
}

static void cmd_dbsize(det_ks *ks, const args *a, det_reply *out)
{
    (void)a;
    det_reply_int(out, (long long)det_ks_size(ks));
}

static void cmd_flushall(det_ks *ks, const args *a, det_reply *out)
{
    if (a->argc > 2 || (a->argc == 2 && !arg_is(a, 1, "sync") && !arg_is(a, 1, "async"))) {
        err(out, syntaxerr);
        return;
    }
    det_ks_flush(ks);
    reply_ok(out);
}

/* Hashes ----------------------------------------------------------- */

static entry *typed(det_ks *ks, const args *a, vtype t, bool *wrong)
{
    entry *e = lookup(ks, a->argv[1], a->len[1]);
    *wrong = e && e->type != t;
    return *wrong ? NULL : e;
}

static long hash_find(const entry *e, const char *f, size_t flen)
{
    for (size_t i = 0; i < e->v.hash.n; i++) {
        const sstr *k = &e->v.hash.kv[2 * i];
        if (k->len == flen && memcmp(k->p, f, flen) == 0)
            return (long)i;
    }
    return -1;
}

static void cmd_hset(det_ks *ks, const args *a, det_reply *out)
{
    if (a->argc % 2 == 1) {
        arity_err(out, "hset");
        return;
    }
    bool wrong;
    entry *e = typed(ks, a, T_HASH, &wrong);
    if (wrong) {
        err(out, wrongtype);
        return;
    }
    if (!e && !(e = create(ks, a->argv[1], a->len[1], T_HASH))) {
        oom(out);
        return;
    }
    long long added = 0;
    for (int i = 2; i < a->argc; i += 2) {
        long at = hash_find(e, a->argv[i], a->len[i]);
        if (at >= 0) {
            if (!sstr_set(&e->v.hash.kv[2 * at + 1], a->argv[i + 1], a->len[i + 1])) {
                oom(out);
                return;
            }
            continue;
        }
        if (e->v.hash.n == e->v.hash.cap) {
            size_t cap = e->v.hash.cap ? e->v.hash.cap * 2 : 4;
            sstr *g = realloc(e->v.hash.kv, 2 * cap * sizeof *g);
            if (!g) {
                oom(out);
                return;
            }
            e->v.hash.kv = g;
            e->v.hash.cap = cap;
        }
        sstr *kv = &e->v.hash.kv[2 * e->v.hash.n];
        kv[0] = (sstr){NULL, 0};
        kv[1] = (sstr){NULL, 0};
        if (!sstr_set(&kv[0], a->argv[i], a->len[i]) ||
            !sstr_set(&kv[1], a->argv[i + 1], a->len[i + 1])) {
            free(kv[0].p);
            free(kv[1].p);
            oom(out);
            return;
        }
        e->v.hash.n++;
        added++;
    }
    det_reply_int(out, added);
}

static void cmd_hget(det_ks *ks, const args *a, det_reply *out)
{
    bool wrong;
    entry *e = typed(ks, a, T_HASH, &wrong);
    long at = e ? hash_find(e, a->argv[2], a->len[2]) : -1;
    if (wrong)
        err(out, wrongtype);
    else if (at < 0)
        det_reply_nil(out);
    else
        det_reply_bulk(out, e->v.hash.kv[2 * at + 1].p, e->v.hash.kv[2 * at + 1].len);
}

static void cmd_hgetall(det_ks *ks, const args *a, det_reply *out)
{
    bool wrong;
    entry *e = typed(ks, a, T_HASH, &wrong);
    if (wrong) {
        err(out, wrongtype);
        return;
    }
    size_t n = e ? e->v.hash.n : 0;
    det_reply_arr(out, (long long)(2 * n));
    for (size_t i = 0; i < 2 * n; i++)
        det_reply_bulk(out, e->v.hash.kv[i].p, e->v.hash.kv[i].len);
}

static void cmd_hdel(det_ks *ks, const args *a, det_reply *out)
{
    bool wrong;
    entry *e = typed(ks, a, T_HASH, &wrong);
    if (wrong) {
        err(out, wrongtype);
        return;
    }
    long long n = 0;
    for (int i = 2; e && i < a->argc; i++) {
        long at = hash_find(e, a->argv[i], a->len[i]);
        if (at < 0)
            continue;
        free(e->v.hash.kv[2 * at].p);
        free(e->v.hash.kv[2 * at + 1].p);
        memmove(&e->v.hash.kv[2 * at], &e->v.hash.kv[2 * at + 2],
                2 * (e->v.hash.n - (size_t)at - 1) * sizeof(sstr));
        e->v.hash.n--;
        n++;
    }
    if (e && e->v.hash.n == 0)
        (void)delete_key(ks, a->argv[1], a->len[1]);
    det_reply_int(out, n);
}

static void cmd_hlen(det_ks *ks, const args *a, det_reply *out)
{
    bool wrong;
    entry *e = typed(ks, a, T_HASH, &wrong);
    if (wrong)
        err(out, wrongtype);
    else
        det_reply_int(out, e ? (long long)e->v.hash.n : 0);
}

/* Lists ------------------------------------------------------------ */

static void push_generic(det_ks *ks, const args *a, det_reply *out, bool head)
{
    bool wrong;
    entry *e = typed(ks, a, T_LIST, &wrong);
    if (wrong) {
        err(out, wrongtype);
        return;
    }
    if (!e && !(e = create(ks, a->argv[1], a->len[1], T_LIST))) {
        oom(out);
        return;
    }
    for (int i = 2; i < a->argc; i++) {
        if (e->v.list.n == e->v.list.cap) {
            size_t cap = e->v.list.cap ? e->v.list.cap * 2 : 4;
            sstr *g = realloc(e->v.list.items, cap * sizeof *g);
            if (!g) {
                oom(out);
                return;
            }
            e->v.list.items = g;
            e->v.list.cap = cap;
        }
        sstr s = {NULL, 0};
        if (!sstr_set(&s, a->argv[i], a->len[i])) {
            oom(out);
            return;
        }
        if (head) {
            memmove(&e->v.list.items[1], &e->v.list.items[0], e->v.list.n * sizeof(sstr));
            e->v.list.items[0] = s;
        } else {
            e->v.list.items[e->v.list.n] = s;
        }
        e->v.list.n++;
    }
    det_reply_int(out, (long long)e->v.list.n);
}

static void cmd_lpush(det_ks *ks, const args *a, det_reply *out) { push_generic(ks, a, out, true); }
static void cmd_rpush(det_ks *ks, const args *a, det_reply *out)
{
    push_generic(ks, a, out, false);
}

static void cmd_lrange(det_ks *ks, const args *a, det_reply *out)
{
    long long start, stop;
    if (!arg_ll(a, 2, &start, out) || !arg_ll(a, 3, &stop, out))
        return;
    bool wrong;
    entry *e = typed(ks, a, T_LIST, &wrong);
    if (wrong) {
        err(out, wrongtype);
        return;
    }
    long long n = e ? (long long)e->v.list.n : 0;
    if (start < 0)
        start = n + start;
    if (stop < 0)
        stop = n + stop;
    if (start < 0)
        start = 0;
    if (start > stop || start >= n) {
        det_reply_arr(out, 0);
        return;
    }
    if (stop >= n)
        stop = n - 1;
    det_reply_arr(out, stop - start + 1);
    for (long long i = start; i <= stop; i++)
        det_reply_bulk(out, e->v.list.items[i].p, e->v.list.items[i].len);
}

static void cmd_llen(det_ks *ks, const args *a, det_reply *out)
{
    bool wrong;
    entry *e = typed(ks, a, T_LIST, &wrong);
    if (wrong)
        err(out, wrongtype);
    else
        det_reply_int(out, e ? (long long)e->v.list.n : 0);
}

/* Scripting: dispatched to the handler lua.c registered ---------------- */

static void cmd_script_any(det_ks *ks, const args *a, det_reply *out)
{
    if (!ks->script_fn) {
        err(out, "ERR scripting is not available");
        return;
    }
    ks->script_fn(ks->script_ctx, a->argc, a->argv, a->len, out);
}

/* ------------------------------------------------------------------ */
/* Command table                                                        */

enum { F_NOSCRIPT = 1 };

typedef struct cmd {
    const char *name;
    int arity; /* > 0 exact, < 0 at least -arity */
    unsigned flags;
    void (*fn)(det_ks *ks, const args *a, det_reply *out);
} cmd;

/* Sorted by name (bsearch). */
static const cmd commands[] = {
    {"append", 3, 0, cmd_append},
    {"dbsize", 1, 0, cmd_dbsize},
    {"decr", 2, 0, cmd_decr},
    {"decrby", 3, 0, cmd_decrby},
    {"del", -2, 0, cmd_del},
    {"echo", 2, 0, cmd_echo},
    {"eval", -3, F_NOSCRIPT, cmd_script_any},
    {"evalsha", -3, F_NOSCRIPT, cmd_script_any},
    {"exists", -2, 0, cmd_exists},
    {"expire", -3, 0, cmd_expire},
    {"expireat", -3, 0, cmd_expireat},
    {"expiretime", 2, 0, cmd_expiretime},
    {"flushall", -1, 0, cmd_flushall},
    {"flushdb", -1, 0, cmd_flushall},
    {"get", 2, 0, cmd_get},
    {"getdel", 2, 0, cmd_getdel},
    {"hdel", -3, 0, cmd_hdel},
    {"hget", 3, 0, cmd_hget},
    {"hgetall", 2, 0, cmd_hgetall},
    {"hlen", 2, 0, cmd_hlen},
    {"hset", -4, 0, cmd_hset},
    {"incr", 2, 0, cmd_incr},
    {"incrby", 3, 0, cmd_incrby},
    {"keys", 2, 0, cmd_keys},
    {"llen", 2, 0, cmd_llen},
    {"lpush", -3, 0, cmd_lpush},
    {"lrange", 4, 0, cmd_lrange},
    {"mget", -2, 0, cmd_mget},
    {"mset", -3, 0, cmd_mset},
    {"persist", 2, 0, cmd_persist},
    {"pexpire", -3, 0, cmd_pexpire},
    {"pexpireat", -3, 0, cmd_pexpireat},
    {"pexpiretime", 2, 0, cmd_pexpiretime},
    {"ping", -1, 0, cmd_ping},
    {"psetex", 4, 0, cmd_psetex},
    {"pttl", 2, 0, cmd_pttl},
    {"rpush", -3, 0, cmd_rpush},
    {"scan", -2, 0, cmd_scan},
    {"script", -2, F_NOSCRIPT, cmd_script_any},
    {"set", -3, 0, cmd_set},
    {"setex", 4, 0, cmd_setex},
    {"setnx", 3, 0, cmd_setnx},
    {"strlen", 2, 0, cmd_strlen},
    {"time", 1, 0, cmd_time},
    {"ttl", 2, 0, cmd_ttl},
    {"type", 2, 0, cmd_type},
    {"unlink", -2, 0, cmd_del},
};

/* Command lookup: an open-addressing table of the lowercase names,
 * built once per keyspace (no shared state between stores). */
#define NCOMMANDS  (sizeof commands / sizeof commands[0])
#define CMDTAB     128 /* power of two > 2 * NCOMMANDS */
#define CMDNAMEMAX 16

static uint32_t name_hash(const char *lower, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)lower[i]) * 16777619u;
    return h;
}

static void build_cmdtab(det_ks *ks)
{
    for (size_t i = 0; i < CMDTAB; i++)
        ks->cmdtab[i] = -1;
    for (size_t c = 0; c < NCOMMANDS; c++) {
        size_t len = strlen(commands[c].name);
        uint32_t h = name_hash(commands[c].name, len) & (CMDTAB - 1);
        while (ks->cmdtab[h] >= 0)
            h = (h + 1) & (CMDTAB - 1);
        ks->cmdtab[h] = (int16_t)c;
    }
}

static const cmd *find_cmd(const det_ks *ks, const char *name, size_t len)
{
    if (len == 0 || len > CMDNAMEMAX)
        return NULL;
    char lower[CMDNAMEMAX];
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        lower[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
    }
    uint32_t h = name_hash(lower, len) & (CMDTAB - 1);
    for (int16_t c; (c = ks->cmdtab[h]) >= 0; h = (h + 1) & (CMDTAB - 1)) {
        const char *cn = commands[c].name;
        if (strlen(cn) == len && memcmp(cn, lower, len) == 0)
            return &commands[c];
    }
    return NULL;
}

bool det_ks_known_command(const det_ks *ks, const char *name, size_t len)
{
    return find_cmd(ks, name, len) != NULL;
}

static bool arity_ok(const cmd *c, int argc)
{
    return c->arity > 0 ? argc == c->arity : argc >= -c->arity;
}

/* "ERR unknown command 'x', with args beginning with: 'a' 'b' " — as Redis
 * builds it (each argument quoted, at most 128 bytes of them). */
static void unknown_command(det_reply *out, int argc, const char *const *argv, const size_t *lens)
{
    char list[160];
    size_t used = 0;
    list[0] = '\0';
    for (int i = 1; i < argc && used < 128; i++) {
        size_t room = 128 - used;
        size_t n = strnlen(argv[i], lens[i]);
        if (n > room)
            n = room;
        int w = snprintf(list + used, sizeof list - used, "'%.*s' ", (int)n, argv[i]);
        if (w < 0)
            break;
        used += (size_t)w;
        if (used >= sizeof list)
            used = sizeof list - 1;
    }
    size_t nl = strnlen(argv[0], lens[0]);
    det_reply_errf(out, "ERR unknown command '%.*s', with args beginning with: %s",
                   (int)(nl > 128 ? 128 : nl), argv[0], list);
}

void det_ks_exec(det_ks *ks, int argc, const char *const *argv, const size_t *lens, det_reply *out)
{
    if (argc < 1) {
        err(out, "ERR empty command");
        return;
    }
    const cmd *c = find_cmd(ks, argv[0], lens[0]);
    if (!c) {
        unknown_command(out, argc, argv, lens);
        return;
    }
    if (!arity_ok(c, argc)) {
        arity_err(out, c->name);
        return;
    }
    args a = {argc, argv, lens};
    c->fn(ks, &a, out);
}

uint64_t det_ks_script_calls(const det_ks *ks) { return ks->script_calls; }

const char *det_ks_exec_script(det_ks *ks, int argc, const char *const *argv, const size_t *lens,
                               det_reply *out)
{
    const cmd *c = argc >= 1 ? find_cmd(ks, argv[0], lens[0]) : NULL;
    if (!c)
        return "Unknown Redis command called from script";
    if (!arity_ok(c, argc))
        return "Wrong number of args calling Redis command from script";
    if (c->flags & F_NOSCRIPT)
        return "This Redis command is not allowed from script";
    ks->script_calls++;
    args a = {argc, argv, lens};
    c->fn(ks, &a, out);
    return NULL;
}
