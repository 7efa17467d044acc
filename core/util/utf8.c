/* utf8.c — the tree's one UTF-8 validator (see squtil.h). */
#include "squtil.h"

size_t sq_utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
    size_t ignored;
    if (!bad)
        bad = &ignored;
    *bad = 1;
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf; /* the range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0)
            lo = 0xa0; /* no overlong forms */
        else if (c == 0xed)
            hi = 0x9f; /* no UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0)
            lo = 0x90; /* no overlong forms */
        else if (c == 0xf4)
            hi = 0x8f; /* <= U+10FFFF */
    } else {
        return 0; /* 0x80..0xc1, 0xf5..0xff: never a valid lead byte */
    }
    for (size_t i = 1; i < need; i++) {
        unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xbf;
        if (i >= n || s[i] < l || s[i] > h) {
            *bad = i;
            return 0;
        }
    }
    return need;
}
