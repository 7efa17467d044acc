/*
 * kvadmin.h — the one client for kvrest's admin API (docs/kvrest.md:
 * GET /_kvrest/stats, POST /_kvrest/stats/reset, GET|POST
 * /_kvrest/faults), over libcurl.  Used by sqsim (--kv-faults) and by
 * the tests that drive kvrest's faults or read its counters.
 *
 * Messages never contain the token.
 */
#ifndef SQCLAIM_KVADMIN_H
#define SQCLAIM_KVADMIN_H

#include <stddef.h>

/* `method` ("GET" or "POST"; POST sends body, NULL as "") to base_url +
 * path with the bearer token.  The response body, NUL-terminated and cut
 * to outlen - 1 bytes, goes to out (may be NULL).  Returns the HTTP
 * status, or -1 if no response came (a message in err, may be NULL). */
long kva_call(const char *base_url, const char *token, const char *method, const char *path,
              const char *body, char *out, size_t outlen, char *err, size_t errlen);

/* POST json to /_kvrest/faults.  0, or -1 with a message in err. */
int kva_faults(const char *base_url, const char *token, const char *json, char *err, size_t errlen);

/* One counter of GET /_kvrest/stats: "requests", or a member of an
 * object as "faults.stalled".  -1 if the request failed or there is no
 * such number. */
long long kva_stat(const char *base_url, const char *token, const char *name);

#endif
