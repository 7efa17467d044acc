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

void kv_buf_add(kv_buf *b, const void *p, size_t n)
{
    if (sq_buf_add(b, p, n) != 0)
        oom(b->len + n);
}

void kv_buf_adds(kv_buf *b, const char *s) { kv_buf_add(b, s, strlen(s)); }

void kv_buf_addc(kv_buf *b, char c) { kv_buf_add(b, &c, 1); }

void kv_buf_addf(kv_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (sq_buf_vaddf(b, fmt, ap) != 0 && b->oom)
        oom(b->len);
    va_end(ap);
}

void kv_buf_free(kv_buf *b) { sq_buf_free(b); }
