/*
 * tfile.h — read a whole file in a test (a report, a history, a page).
 *
 *   size_t len;
 *   char *text = tfile_read(path, &len);   (len may be NULL)
 *   ...
 *   free(text);
 *
 * Reads to the end of the file rather than trusting its size up front, so
 * a pipe or a file still being appended to is read as far as it goes.
 * Header only: every test program can use it whether or not it links
 * tests/support.
 */
#ifndef SQCLAIM_TEST_TFILE_H
#define SQCLAIM_TEST_TFILE_H

#include <stdio.h>
#include <stdlib.h>

/* The file's bytes, NUL-terminated, in memory the caller frees; its
 * length in *len (when len is not NULL).  NULL when the file cannot be
 * opened or memory runs out. */
static inline char *tfile_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

#endif
