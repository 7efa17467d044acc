/* buf.c — the tree's one growable byte buffer (see squtil.h). */
#include "squtil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for `more` bytes and the terminating NUL; 0 or -1 (b->oom set). */
static int reserve(sq_buf *b, size_t more)
{
    if (b->oom)
        return -1;
    if (more > SIZE_MAX - b->len - 1) {
        b->oom = true;
        return -1;
    }
    if (b->p && b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

char *sq_buf_room(sq_buf *b, size_t n)
{
    if (reserve(b, n) != 0)
        return NULL;
    b->p[b->len] = '\0';
    return b->p + b->len;
}

int sq_buf_add(sq_buf *b, const void *p, size_t n)
{
    if (reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int sq_buf_adds(sq_buf *b, const char *s) { return sq_buf_add(b, s, strlen(s)); }

int sq_buf_vaddf(sq_buf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    int rc = n < 0 || reserve(b, (size_t)n) != 0 ? -1 : 0;
    if (rc == 0) {
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
    return rc;
}

int sq_buf_addf(sq_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sq_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void sq_buf_reset(sq_buf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->p)
        b->p[0] = '\0';
}

void sq_buf_free(sq_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}
