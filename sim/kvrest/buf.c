/* buf.c — growable byte buffer and allocation helpers (see kvrest.h). */
#include "kvrest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, KVREST_NAME ": out of memory (%zu bytes)\n", n);
    abort();
}

void *kv_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *kv_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *kv_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *kv_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = kv_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

static void reserve(kv_buf *b, size_t extra)
{
    if (extra >= SIZE_MAX / 2 - b->len)
        oom(extra);
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    b->p = kv_xrealloc(b->p, cap);
    b->cap = cap;
}

void kv_buf_add(kv_buf *b, const void *p, size_t n)
{
    reserve(b, n);
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void kv_buf_adds(kv_buf *b, const char *s) { kv_buf_add(b, s, strlen(s)); }

void kv_buf_addc(kv_buf *b, char c)
{
    reserve(b, 1);
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

void kv_buf_addf(kv_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void kv_buf_free(kv_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
