/*
 * squtil.h — small helpers that every part of the tree uses, kept once:
 * the library (core/, adapters/), kvrest, sqsim, the benches and the
 * tests.  Private: not installed, not part of the API, and not exported
 * from libsqclaim.so (its objects are linked into the library and into
 * the programs that do not link the library, e.g. kvrest).
 *
 * Names start with sq_ (the public API's with sqclaim_).
 */
#ifndef SQCLAIM_SQUTIL_H
#define SQCLAIM_SQUTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- random numbers (rng.c): not for secrets ------------------------ */

/* splitmix64: the next number of the sequence whose state is *state
 * (any value, 0 included).  Fast and well mixed: jitter, fault dice. */
uint64_t sq_splitmix64(uint64_t *state);

/* A uniform double in [0, 1) from 53 bits of x. */
double sq_unit(uint64_t x);

/* xoshiro256** (Blackman & Vigna), seeded through splitmix64: streams
 * that are reproducible from (seed, stream), for the simulator's bots. */
typedef struct sq_rng {
    uint64_t s[4];
} sq_rng;

void sq_rng_seed(sq_rng *r, uint64_t seed, uint64_t stream);
uint64_t sq_rng_next(sq_rng *r);
double sq_rng_unit(sq_rng *r);                /* [0, 1) */
uint64_t sq_rng_below(sq_rng *r, uint64_t n); /* [0, n), n > 0 */
bool sq_rng_chance(sq_rng *r, double p);

/* ---- a growable byte buffer (buf.c) ---------------------------------- */

/* Zero-initialise ({0}).  p is NUL-terminated once anything (even 0
 * bytes) was added.  When memory runs out an append returns -1, the
 * buffer keeps what it had, and oom stays set: every later append fails
 * too, so a caller may check once at the end. */
typedef struct sq_buf {
    char *p;
    size_t len, cap;
    bool oom;
} sq_buf;

int sq_buf_add(sq_buf *b, const void *p, size_t n); /* 0 or -1 */
int sq_buf_adds(sq_buf *b, const char *s);
int sq_buf_addf(sq_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sq_buf_vaddf(sq_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Room for n more bytes and a NUL after them: where to write them (then
 * add n to len yourself), or NULL when memory ran out. */
char *sq_buf_room(sq_buf *b, size_t n);
void sq_buf_reset(sq_buf *b); /* empty (oom cleared), memory kept */
void sq_buf_free(sq_buf *b);  /* and zeroed */

/* ---- a growable array of any element type (grow.c) ------------------- */

/* Room for one more element in the array v of *cap elements of `size`
 * bytes, n of them in use: v itself while n < *cap, else v reallocated to
 * twice *cap (`first` elements when *cap is 0) with *cap updated.  NULL
 * when memory ran out or the size overflows; v and *cap are then kept.
 *   T *nv = sq_grow(a->v, &a->cap, a->n, sizeof *nv, 64);
 *   if (!nv) return -1;
 *   a->v = nv;  a->v[a->n++] = x; */
void *sq_grow(void *v, size_t *cap, size_t n, size_t size, size_t first);

/* ---- numbers on a command line (parse.c) ------------------------------ */

/* The whole of s as a decimal number, nothing before or after it: a
 * non-negative integer that fits in 64 bits, or a double in lo..hi.  true
 * and *out set, or false and *out untouched (the caller says why). */
bool sq_parse_u64(const char *s, uint64_t *out);
bool sq_parse_double(const char *s, double lo, double hi, double *out);

/* ---- UTF-8 (utf8.c) -------------------------------------------------- */

/* The length (1..4) of the valid UTF-8 sequence at s[0..n), or 0 if
 * there is none: overlong forms, UTF-16 surrogates, code points past
 * U+10FFFF and truncated sequences are invalid.  For a NUL-terminated
 * string pass n = SIZE_MAX (the NUL ends a sequence).  If bad is not
 * NULL, on 0 it receives the length of the maximal invalid subpart (at
 * least 1): what one U+FFFD replaces (Unicode's "substitution of maximal
 * subparts"). */
size_t sq_utf8_seq(const unsigned char *s, size_t n, size_t *bad);

/* ---- numbers (num.c) --------------------------------------------------- */

/* The largest whole number every double below it holds exactly: 2^53.
 * cJSON keeps JSON numbers as doubles, so a 64-bit integer read through
 * it is trusted only up to here. */
#define SQ_EXACT_MAX 9007199254740992ULL

/* True, with *out set, if d is a whole number in [0, max] (max at most
 * SQ_EXACT_MAX); false for fractions, negatives, NaN and anything
 * larger. */
bool sq_whole_u64(double d, uint64_t max, uint64_t *out);

/* ---- the redis backend's URL (redisurl.c) ----------------------------- */

typedef struct sq_redis_url {
    bool is_unix;       /* unix:///path (else TCP) */
    char host[256];     /* TCP: host name or address (IPv6 without brackets) */
    int port;           /* TCP: 1..65535 (default 6379) */
    char path[108];     /* unix: socket path (sizeof sun_path) */
    char user[128];     /* "" : no user (AUTH password) */
    char password[256]; /* "" : no AUTH */
    int db;             /* SELECT db when not 0 */
} sq_redis_url;

/* Parse `text`.  Forms:
 *   redis://[[user]:password@]host[:port][/db]
 *   redis://password@host[:port][/db]        (no colon: a password)
 *   unix:///path/to/socket[?db=N&password=P&user=U]
 * User, password and query values may be percent-encoded (%40 for '@').
 * `source` names where the text came from ("REDIS_URL"), for messages.
 * 0, or -1 with a message in err[errlen] that never contains the
 * password (nor any other part of the URL after the scheme). */
int sq_redis_url_parse(const char *text, const char *source, sq_redis_url *out, char *err,
                       size_t errlen);

/* The value of hexadecimal digit c (either case), or -1. */
int sq_hexval(int c);

/* ---- strings and the environment (env.c) ---------------------------- */

/* getenv, with an empty value counting as unset (NULL). */
const char *sq_getenv(const char *name);

/* Copy src (NULL: "") into dst[size], cut to fit, always terminated. */
void sq_strlcpy(char *dst, const char *src, size_t size);

/* Where the Vercel KV / Upstash REST URL and token come from in the
 * environment, by the product's one rule (docs/vercel.md): the first
 * COMPLETE pair of KV_REST_API_URL + KV_REST_API_TOKEN, else
 * UPSTASH_REDIS_REST_URL + UPSTASH_REDIS_REST_TOKEN; if neither pair is
 * complete, each value on its own, KV_* first.  Empty or white-space
 * values count as unset.  The values are as set (not trimmed); url or
 * token is NULL when unset; *_var names the variable either came from. */
typedef struct sq_rest_source {
    const char *url, *token;
    const char *url_var, *token_var;
} sq_rest_source;

void sq_rest_env(sq_rest_source *src);

#endif
