/* fuzz.h — shared by the libFuzzer targets of tests/fuzz/ (see
 * docs/fuzzing.md).
 *
 * Each target is one C file defining LLVMFuzzerTestOneInput.  Built with
 * clang -fsanitize=fuzzer it is a fuzzer (make fuzz); built with the
 * project's compiler and -DLLVMFuzzerTestOneInput=fuzz_<name>_one it is
 * linked into build/tests/fuzz_replay, which replays the corpus in
 * `make check`.  A target checks invariants with FUZZ_CHECK: a violation
 * aborts (a crash to libFuzzer, a failure to the replay). */
#ifndef SQCLAIM_FUZZ_H
#define SQCLAIM_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with the failed condition and a message (printf-style). */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A cursor over the fuzz input: structured targets draw their decisions
 * from it; past the end every draw is 0. */
typedef struct fz {
    const uint8_t *p;
    size_t n, i;
} fz;

static inline unsigned fz_u8(fz *f) { return f->i < f->n ? f->p[f->i++] : 0u; }

static inline uint64_t fz_u64(fz *f)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v = v << 8 | fz_u8(f);
    return v;
}

static inline size_t fz_left(const fz *f) { return f->n - f->i; }

/* Up to `want` bytes of the input (fewer at its end); *out points into it. */
static inline size_t fz_bytes(fz *f, size_t want, const uint8_t **out)
{
    size_t k = want < fz_left(f) ? want : fz_left(f);
    *out = f->p + f->i;
    f->i += k;
    return k;
}

/* A malloc'd NUL-terminated copy of data[0..n). */
static inline char *fz_cstr(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/* Swap the case of every ASCII letter of s[0..n), in place.  Hex digits
 * stay hex digits of the same value, so a parser takes the same path on
 * the swapped text; a message that differs between the two quoted it. */
static inline void fz_swapcase(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z'))
            s[i] ^= 0x20;
}

#endif
