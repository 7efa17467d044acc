/* vercel.c — the `vercel` backend: Vercel KV / Upstash Redis over its REST
 * API.  The claim protocol itself (Lua scripts, keys, values, reply
 * decoding) is the Redis protocol layer's, shared with the `redis`
 * backend; this file only wires the REST transport (http.c) under it. */
#include "vercel.h"

#include <stdlib.h>
#include <string.h>

typedef struct vc_conn {
    rp_conn rp; /* first: the protocol layer's entries (RP_BACKEND_OPS) cast to it */
    vc_http *http;
} vc_conn;

static sqclaim_rc vc_open(const sqclaim_options *opts, void **conn, sqb_err *err)
{
    *conn = NULL;
    vc_config cfg;
    sqclaim_rc rc = vc_config_resolve(opts, &cfg, err);
    if (rc != SQCLAIM_OK)
        return rc;
    vc_conn *c = calloc(1, sizeof *c);
    if (!c) {
        vc_config_free(&cfg);
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    }
    c->http = vc_http_new(&cfg, opts->connect_timeout_ms, opts->timeout_ms, err);
    vc_config_free(&cfg);
    if (!c->http) {
        free(c);
        return err->rc ? err->rc : SQCLAIM_ENOMEM;
    }
    rc = rp_open(&c->rp, &vc_http_transport, c->http, opts, err);
    if (rc != SQCLAIM_OK) {
        vc_http_free(c->http);
        free(c);
        return rc;
    }
    *conn = c;
    return SQCLAIM_OK;
}

static void vc_close(void *conn)
{
    vc_conn *c = conn;
    if (!c)
        return;
    vc_http_free(c->http);
    free(c);
}

static void vc_stats(void *conn, sqclaim_stats *out)
{
    vc_http_stats st;
    vc_http_get_stats(((vc_conn *)conn)->http, &st);
    out->round_trips = st.requests;
    /* As the redis backend counts them: connections re-established, the
     * first one not included (keep-alive working = 0). */
    out->reconnects = st.connects ? st.connects - 1 : 0;
    out->ambiguous = st.ambiguous;
}

RP_TRANSPORT_BACKEND(sqclaim_backend_vercel, "vercel",
                     "Vercel KV / Upstash Redis over its REST API (HTTPS, libcurl)", vc_open,
                     vc_close, vc_stats);
