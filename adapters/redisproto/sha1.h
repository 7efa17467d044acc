/* sha1.h — SHA-1 (FIPS 180-4), only to name Lua scripts for EVALSHA.
 * Private to adapters/redisproto. */
#ifndef SQCLAIM_REDISPROTO_SHA1_H
#define SQCLAIM_REDISPROTO_SHA1_H

#include <stddef.h>

/* Write the SHA-1 of data[0..len) as 40 lowercase hex digits and a NUL
 * into hex[41] (the form EVALSHA and SCRIPT LOAD use). */
void rp_sha1_hex(const void *data, size_t len, char hex[41]);

#endif
