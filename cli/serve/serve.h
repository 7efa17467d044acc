/*
 * serve.h — `sqclaim serve`: the seed's /api/queue as an HTTP service, an
 * API for bots that cannot link C, and a live dashboard (docs/http.md).
 *
 *   serve.c      options, the HTTP daemon (libmicrohttpd), limits,
 *                authentication, the access log, graceful stop
 *   api.c        one handler per route: JSON in, library call, JSON out
 *   dashboard.c  the dashboard page (generated from dashboard.html at
 *                build time, embedded: no external assets)
 *
 * The server is a plain user of the public API, like the rest of the CLI.
 */
#ifndef SQCLAIM_SERVE_H
#define SQCLAIM_SERVE_H

#include "../cli.h"

#include <stdbool.h>
#include <stddef.h>

/* Largest request body accepted (a claim-first of 256 candidates of 64
 * bytes with JSON quoting fits easily). Bigger: 413. */
#define SERVE_MAX_BODY (64 * 1024)

/* The store pool: one handle per worker thread, so requests never wait
 * for each other's round trips. */
typedef struct serve_pool serve_pool;

/* A finished handler's answer: the HTTP status and a JSON body (owned,
 * freed by the caller with free()). */
typedef struct serve_reply {
    unsigned status;
    char *body;
    const char *content_type; /* NULL: application/json */
    const char *allow;        /* 405: the Allow header */
} serve_reply;

/* What a handler gets. */
typedef struct serve_req {
    const char *method;
    const char *path;
    const char *body; /* NUL-terminated (may be "") */
    size_t body_len;
    const char *query_sq; /* GET /api/inspect?sq= */
} serve_req;

/* ---- api.c --------------------------------------------------------- */

typedef struct serve_api {
    serve_pool *pool;
    sqclaim_rc open_rc; /* OK, or why the store could not be opened */
    char open_msg[512]; /* its message (the seed's KV not configured) */
} serve_api;

/* Is this route one that changes the store (needs the token)? */
bool serve_route_mutates(const char *method, const char *path);

/* Handle one request; fills *out. */
void serve_api_handle(serve_api *api, const serve_req *rq, serve_reply *out);

/* Open n handles with *o.  NULL (ENOMEM) or a pool; if the first open
 * failed, *rc and msg say why and the pool is empty (handlers answer with
 * that error, as the seed did when KV was not configured). */
serve_pool *serve_pool_open(const sqclaim_options *o, int n, sqclaim_rc *rc, char *msg, size_t len);
void serve_pool_close(serve_pool *p);
/* The backend's name, "" if the store could not be opened. */
const char *serve_pool_adapter(const serve_pool *p);

/* The pool: acquire a handle (waits for a free one), give it back. */
sqclaim_store *serve_pool_get(serve_pool *p);
void serve_pool_put(serve_pool *p, sqclaim_store *s);

/* The HTTP status for a library result code (docs/http.md "Statuses"). */
unsigned serve_http_status(sqclaim_rc rc);

/* ---- dashboard.c (generated) ----------------------------------------- */

extern const unsigned char serve_dashboard_html[];
extern const size_t serve_dashboard_html_len;

#endif
