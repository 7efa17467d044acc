/*
 * vercel.h — internals of the `vercel` backend: the claim protocol over the
 * Vercel KV / Upstash Redis REST API (libcurl + cJSON).  Not installed; the
 * tests include it to exercise the pieces one by one.
 *
 *   config.c   options + environment -> a checked vc_config (no I/O)
 *   codec.c    request bodies (JSON arrays of strings) and reply decoding
 *              (Upstash-Encoding: base64, integers exact to 64 bits)
 *   http.c     the transport for the Redis protocol layer: one reused curl
 *              easy handle per store, error mapping for the core's retries
 *   vercel.c   the backend table entry (ops delegate to adapters/redisproto)
 *
 * See docs/vercel.md for the wire format, the error mapping and the
 * request budget.
 */
#ifndef SQCLAIM_VERCEL_H
#define SQCLAIM_VERCEL_H

#include "../redisproto/proto.h"
#include "util/squtil.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- config.c --------------------------------------------------------- */

#define VC_URL_MAX   2048
#define VC_TOKEN_MAX 4096
#define VC_HOST_MAX  300

/* Where a setting came from, for messages ("KV_REST_API_URL", "the
 * rest_url option", ...). */
typedef struct vc_config {
    char url[VC_URL_MAX];   /* base URL: scheme://host[:port][/path], no
                               trailing '/', no userinfo/query/fragment */
    char *token;            /* heap copy (wiped on free); never printed */
    char host[VC_HOST_MAX]; /* "host:port" for messages */
    bool https;
    bool loopback;            /* http:// allowed; proxies bypassed */
    const char *url_source;   /* static string */
    const char *token_source; /* static string */
} vc_config;

/* Resolve the configuration: opts->rest_url / rest_token, else the
 * environment (see docs/vercel.md, "Configuration").  Neither URL nor
 * token: SQCLAIM_ECONFIG with exactly SQCLAIM_KV_NOT_CONFIGURED as the
 * message.  Only one of them: SQCLAIM_ECONFIG, "KV not configured: <what>
 * is set but <what> is not. …" naming both settings.  Malformed URL, a
 * scheme other than https:// (http:// only to a loopback host), a token
 * with control characters: SQCLAIM_ECONFIG with a message naming the
 * setting and what it accepts (never the token).  No network I/O.  On OK
 * free with vc_config_free(). */
sqclaim_rc vc_config_resolve(const sqclaim_options *opts, vc_config *cfg, sqb_err *err);
void vc_config_free(vc_config *cfg);

/* Is host (as in a URL: "127.0.0.1", "[::1]", "localhost") a loopback
 * address?  Exposed for tests. */
bool vc_host_is_loopback(const char *host);

/* ---- codec.c ---------------------------------------------------------- */

/* Request bodies are built in the tree's one growable buffer (squtil.h). */

/* Request bodies as the official client sends them: a JSON array of
 * strings for one command, an array of such arrays for a pipeline.
 * Arguments must be valid UTF-8 (JSON text cannot carry other bytes):
 * otherwise SQCLAIM_EINVAL.  OK, EINVAL or ENOMEM; the body replaces b's
 * contents. */
sqclaim_rc vc_body_command(sq_buf *b, const rp_cmd *cmd, sqb_err *err);
sqclaim_rc vc_body_pipeline(sq_buf *b, size_t ncmds, const rp_cmd *cmds, sqb_err *err);

/* Decode a 2xx body of a single command, {"result": …} (or {"error": …},
 * which becomes an RP_ERR reply).  Every string in the result is padded
 * base64, except a top-level "OK".  Integers are read from their literal
 * text (exact to 64 bits).  OK and *out, or SQCLAIM_EPROTOCOL / ENOMEM.
 * Ambiguous text is EPROTOCOL, never a guess: an entry with more than one
 * member (a duplicate "result", a "result" and an "error", an unknown
 * member), a UTF-8 byte order mark, control characters outside strings
 * (cJSON skips them as whitespace) or raw inside them, \u0000 in a string
 * (cJSON cuts the string there), invalid UTF-8. */
sqclaim_rc vc_decode_single(const char *body, size_t len, rp_reply **out, sqb_err *err);

/* Decode a 2xx pipeline body, [{"result":…}|{"error":…}, …] with exactly
 * ncmds entries, into replies[0..ncmds-1] (all NULL on failure), with the
 * same strictness.  A body {"error": …} instead of an array is
 * SQCLAIM_ESERVER (or EQUOTA) with its text; a body {"result": …} is
 * SQCLAIM_ECONFIG (the URL's path was run as a command). */
sqclaim_rc vc_decode_pipeline(const char *body, size_t len, size_t ncmds, rp_reply **replies,
                              sqb_err *err);

/* The "error" text of an error body {"error":"…"}: a malloc'd string, or
 * NULL if the body is not exactly such JSON (same strictness as above). */
char *vc_error_text(const char *body, size_t len);

/* True for the Upstash quota and size errors ("ERR max daily request limit
 * exceeded…", "ERR max requests limit exceeded", "ERR max request size
 * exceeded", and the other "ERR max … limit exceeded" texts). */
bool vc_is_quota_error(const char *text);

/* Strict padded base64 (standard alphabet).  0 and a malloc'd,
 * NUL-terminated *out of *outlen bytes, or -1 (invalid, or no memory). */
int vc_base64_decode(const char *in, size_t inlen, char **out, size_t *outlen);

/* A JSON integer literal ("-12", "9223372036854775807") to a long long.
 * 0, or -1 for anything else (fraction, exponent, leading zeros, out of
 * range). */
int vc_parse_int(const char *lit, size_t len, long long *out);

/* ---- http.c ----------------------------------------------------------- */

typedef struct vc_http vc_http;

/* Create the transport (one curl easy handle; no I/O).  The config is
 * copied.  NULL with err set (ENOMEM, or EUNSUPPORTED if libcurl cannot be
 * initialised). */
vc_http *vc_http_new(const vc_config *cfg, int connect_timeout_ms, int timeout_ms, sqb_err *err);
void vc_http_free(vc_http *h);

/* The rp_transport over a vc_http (void *t = vc_http *). */
extern const rp_transport vc_http_transport;

/* Counters: HTTP requests sent, TCP connections opened (the first one
 * included), replies lost after sending. */
typedef struct vc_http_stats {
    uint64_t requests;
    uint64_t connects;
    uint64_t ambiguous;
    uint64_t resent_refused; /* curl wanted to resend a request on a fresh
                                connection after the old one died; refused
                                (reported as ambiguous instead) */
} vc_http_stats;
void vc_http_get_stats(const vc_http *h, vc_http_stats *out);

/* The last upstash-sync-token received ("" if none), sent back with every
 * later request. */
const char *vc_http_sync_token(const vc_http *h);

/* Largest reply body accepted (default 32 MiB); for tests. */
void vc_http_set_max_reply(vc_http *h, size_t max);

#endif
