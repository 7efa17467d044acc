/* reply.h — the redis transport's reply reading, without the socket:
 * hiredis reply -> rp_reply, and the reader guard that refuses huge array
 * headers.  Private to adapters/redis; exposed for tests/fuzz. */
#ifndef SQCLAIM_REDIS_REPLY_H
#define SQCLAIM_REDIS_REPLY_H

#include "../redisproto/proto.h"

#include <hiredis/hiredis.h>

/* The longest array a reply may announce.  hiredis 0.14 allocates an
 * array as soon as it reads its header: "*2147483647\r\n" from a broken
 * peer would cost a 16 GB calloc. */
#define RC_MAX_ELEMENTS (1 << 20)

/* Make reader rd refuse (stop with an error) any array header longer than
 * RC_MAX_ELEMENTS; the announced length is stored in *refused (which must
 * outlive the reader; set it to 0 first).  0, or -1 if the guard could
 * not be set up (the reader is then left unguarded). */
int redis_reader_guard(redisReader *rd, long long *refused);

/* hiredis reply -> rp_reply (*out, freed with rp_reply_free).  0 OK, -1
 * out of memory, -2 NULL or of an unknown type. */
int redis_reply_convert(const redisReply *r, rp_reply **out);

/* Are there bytes in rd's buffer that no reply read so far consumed? */
bool redis_reader_unparsed(const redisReader *rd);

#endif
