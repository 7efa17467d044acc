/* url.h — parsing the redis backend's connection URL.  Private to
 * adapters/redis. */
#ifndef SQCLAIM_REDIS_URL_H
#define SQCLAIM_REDIS_URL_H

#include "backend.h"

typedef struct redis_url {
    bool is_unix;       /* unix:///path (else TCP) */
    char host[256];     /* TCP: host name or address (IPv6 without brackets) */
    int port;           /* TCP: 1..65535 (default 6379) */
    char path[108];     /* unix: socket path (sizeof sun_path) */
    char user[128];     /* "" : no user (AUTH password) */
    char password[256]; /* "" : no AUTH */
    int db;             /* SELECT db when not 0 */
} redis_url;

/* Parse `text`.  Forms:
 *   redis://[[user]:password@]host[:port][/db]
 *   redis://password@host[:port][/db]        (no colon: a password)
 *   unix:///path/to/socket[?db=N&password=P&user=U]
 * User, password and query values may be percent-encoded (%40 for '@').
 * `source` names where the text came from ("REDIS_URL"), for messages.
 * OK, or SQCLAIM_ECONFIG with a message in err that never contains the
 * password (nor any other part of the URL after the scheme). */
sqclaim_rc redis_url_parse(const char *text, const char *source, redis_url *out, sqb_err *err);

#endif
