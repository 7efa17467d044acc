/* transport.c — the scripted store and its transport; see transport.h. */
#include "transport.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct det_store {
    det_ks *ks;
    det_lua *lua;
    int64_t (*now_ns)(void *ctx);
    void *clock_ctx;
    int64_t builtin_now; /* the clock when cfg->now_ns is NULL */
    bool threadsafe;
    pthread_mutex_t mu;
    det_hooks hooks;
    bool has_hooks;
    uint64_t next_conn_id;
    det_reply reply; /* reused by the transport (under mu) */
};

det_store *det_store_new(const det_store_config *cfg)
{
    det_store *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->ks = det_ks_new();
    st->lua = st->ks ? det_lua_new(st->ks, cfg ? cfg->seed : 0) : NULL;
    if (!st->lua) {
        det_ks_free(st->ks);
        free(st);
        return NULL;
    }
    st->now_ns = cfg ? cfg->now_ns : NULL;
    st->clock_ctx = cfg ? cfg->clock_ctx : NULL;
    st->builtin_now = 1000000LL * 1000000000LL;
    st->threadsafe = cfg && cfg->threadsafe;
    if (st->threadsafe)
        pthread_mutex_init(&st->mu, NULL);
    det_reply_init(&st->reply);
    det_ks_set_time(st->ks, det_store_now_ns(st));
    return st;
}

void det_store_free(det_store *st)
{
    if (!st)
        return;
    det_lua_free(st->lua);
    det_ks_free(st->ks);
    det_reply_free(&st->reply);
    if (st->threadsafe)
        pthread_mutex_destroy(&st->mu);
    free(st);
}

static void lock(det_store *st)
{
    if (st->threadsafe)
        pthread_mutex_lock(&st->mu);
}

static void unlock(det_store *st)
{
    if (st->threadsafe)
        pthread_mutex_unlock(&st->mu);
}

void det_store_advance(det_store *st, int64_t ns)
{
    if (ns > 0)
        st->builtin_now += ns;
}

int64_t det_store_now_ns(det_store *st)
{
    return st->now_ns ? st->now_ns(st->clock_ctx) : st->builtin_now;
}

/* Under the lock: one command at the clock's current time. */
static void exec_locked(det_store *st, int argc, const char *const *argv, const size_t *lens,
                        det_reply *out)
{
    det_ks_set_time(st->ks, det_store_now_ns(st));
    det_ks_exec(st->ks, argc, argv, lens, out);
}

void det_store_exec(det_store *st, int argc, const char *const *argv, const size_t *lens,
                    det_reply *out)
{
    lock(st);
    exec_locked(st, argc, argv, lens, out);
    unlock(st);
}

void det_store_execv(det_store *st, det_reply *out, int argc, const char *const *argv)
{
    size_t lens[64];
    if (argc > 64) {
        det_reply_err(out, "ERR too many arguments for det_store_execv", 42);
        return;
    }
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    det_store_exec(st, argc, argv, lens, out);
}

void det_store_restart(det_store *st)
{
    lock(st);
    det_ks_flush(st->ks);
    (void)det_lua_flush(st->lua); /* on failure every script command says so */
    unlock(st);
}

det_ks *det_store_keyspace(det_store *st) { return st->ks; }
det_lua *det_store_lua(det_store *st) { return st->lua; }

void det_store_set_hooks(det_store *st, const det_hooks *hooks)
{
    lock(st);
    st->has_hooks = hooks != NULL;
    if (hooks)
        st->hooks = *hooks;
    else
        memset(&st->hooks, 0, sizeof st->hooks);
    unlock(st);
}

/* ------------------------------------------------------------------ */
/* Requests                                                             */

det_request *det_request_copy(const det_request *req)
{
    size_t bytes = 0, nargs = 0;
    for (size_t i = 0; i < req->ncmds; i++) {
        nargs += (size_t)req->cmds[i].argc;
        for (int a = 0; a < req->cmds[i].argc; a++)
            bytes += req->cmds[i].argvlen[a] + 1;
    }
    /* one block: request, cmds, argv, lens, bytes */
    size_t size = sizeof(det_request) + req->ncmds * sizeof(rp_cmd) + nargs * sizeof(char *) +
                  nargs * sizeof(size_t) + bytes;
    char *m = malloc(size);
    if (!m)
        return NULL;
    det_request *cp = (det_request *)m;
    rp_cmd *cmds = (rp_cmd *)(m + sizeof *cp);
    const char **argv = (const char **)(cmds + req->ncmds);
    size_t *lens = (size_t *)(argv + nargs);
    char *data = (char *)(lens + nargs);
    cp->ncmds = req->ncmds;
    cp->cmds = cmds;
    for (size_t i = 0; i < req->ncmds; i++) {
        cmds[i].argc = req->cmds[i].argc;
        cmds[i].argv = argv;
        cmds[i].argvlen = lens;
        for (int a = 0; a < req->cmds[i].argc; a++) {
            size_t l = req->cmds[i].argvlen[a];
            memcpy(data, req->cmds[i].argv[a], l);
            data[l] = '\0';
            *argv++ = data;
            *lens++ = l;
            data += l + 1;
        }
    }
    return cp;
}

void det_request_free(det_request *req) { free(req); }

void det_store_apply(det_store *st, const det_request *req)
{
    lock(st);
    for (size_t i = 0; i < req->ncmds; i++) {
        det_reply_reset(&st->reply);
        exec_locked(st, req->cmds[i].argc, req->cmds[i].argv, req->cmds[i].argvlen, &st->reply);
    }
    unlock(st);
}

/* ------------------------------------------------------------------ */
/* Transport                                                            */

/* det_reply subtree at *i -> rp_reply (NULL: out of memory). */
static rp_reply *to_rp(const det_reply *r, size_t *i)
{
    const det_rnode *x = &r->node[(*i)++];
    rp_reply *y = NULL;
    switch (x->type) {
    case DET_NIL: return rp_reply_new(RP_NIL);
    case DET_INT:
        y = rp_reply_new(RP_INT);
        if (y)
            y->integer = x->v;
        return y;
    case DET_BULK:
    case DET_STATUS: return rp_reply_str(RP_STR, det_reply_str(r, *i - 1), x->len);
    case DET_ERR: return rp_reply_str(RP_ERR, det_reply_str(r, *i - 1), x->len);
    case DET_ARR:
        y = rp_reply_new(RP_ARR);
        if (!y)
            return NULL;
        if (x->v > 0) {
            y->elem = calloc((size_t)x->v, sizeof *y->elem);
            if (!y->elem) {
                free(y);
                return NULL;
            }
            y->n = (size_t)x->v;
            for (size_t k = 0; k < y->n; k++) {
                y->elem[k] = to_rp(r, i);
                if (!y->elem[k]) {
                    rp_reply_free(y);
                    return NULL;
                }
            }
        }
        return y;
    }
    return NULL;
}

static void free_replies(size_t n, rp_reply **replies)
{
    for (size_t i = 0; i < n; i++) {
        rp_reply_free(replies[i]);
        replies[i] = NULL;
    }
}

static sqclaim_rc lost(det_conn *c, sqb_err *err, bool applied)
{
    c->ambiguous++;
    err->transient = true;
    err->maybe_applied = true;
    return sqb_seterr(err, SQCLAIM_ETIMEOUT, "scripted store: no reply (%s)",
                      applied ? "reply lost after the request was applied"
                              : "request lost or delayed");
}

static sqclaim_rc t_pipeline(void *t, size_t n, const rp_cmd *cmds, rp_reply **replies,
                             sqb_err *err)
{
    det_conn *c = t;
    det_store *st = c->st;
    if (rp_pipeline_empty(n, replies))
        return SQCLAIM_OK;
    det_request req = {n, cmds};
    c->round_trips++;
    det_hooks h = st->hooks; /* hooks are installed while no request runs */
    bool hooked = st->has_hooks;
    const char *etext = NULL;
    det_fate f = hooked && h.before ? h.before(h.ctx, c, &req, &etext) : DET_DELIVER;
    switch (f) {
    case DET_DELIVER: break;
    case DET_REFUSE:
        err->transient = true;
        err->maybe_applied = false;
        return sqb_seterr(err, SQCLAIM_EIO,
                          "scripted store: connection refused (the request was not sent)");
    case DET_LOSE: return lost(c, err, false);
    case DET_ERROR_REPLY:
        if (!etext)
            etext = "ERR injected error";
        for (size_t i = 0; i < n; i++) {
            replies[i] = rp_reply_str(RP_ERR, etext, strlen(etext));
            if (!replies[i]) {
                free_replies(i, replies);
                return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
            }
        }
        return SQCLAIM_OK;
    }
    bool oom = false;
    lock(st);
    for (size_t i = 0; i < n; i++) {
        det_reply_reset(&st->reply);
        exec_locked(st, cmds[i].argc, cmds[i].argv, cmds[i].argvlen, &st->reply);
        size_t k = 0;
        replies[i] = st->reply.oom || st->reply.n == 0 ? NULL : to_rp(&st->reply, &k);
        oom = oom || !replies[i];
    }
    unlock(st);
    if (oom) {
        /* applied, but the reply could not be built: ambiguous */
        free_replies(n, replies);
        c->ambiguous++;
        err->maybe_applied = true;
        return sqb_seterr(err, SQCLAIM_ENOMEM, "scripted store: out of memory building a reply");
    }
    f = hooked && h.after ? h.after(h.ctx, c, &req, replies) : DET_DELIVER;
    if (f != DET_DELIVER) {
        free_replies(n, replies);
        return lost(c, err, true);
    }
    return SQCLAIM_OK;
}

static sqclaim_rc t_command(void *t, const rp_cmd *cmd, rp_reply **out, sqb_err *err)
{
    *out = NULL;
    return t_pipeline(t, 1, cmd, out, err);
}

const rp_transport det_transport = {
    .command = t_command,
    .pipeline = t_pipeline,
};

static sqclaim_rc conn_new(det_store *st, det_conn **out, sqb_err *err)
{
    det_conn *c = calloc(1, sizeof *c);
    if (!c)
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    c->st = st;
    lock(st);
    c->id = ++st->next_conn_id;
    unlock(st);
    *out = c;
    return SQCLAIM_OK;
}

sqclaim_rc det_conn_open(det_store *st, const char *prefix, det_conn **out, sqb_err *err)
{
    *out = NULL;
    det_conn *c;
    sqclaim_rc rc = conn_new(st, &c, err);
    if (rc != SQCLAIM_OK)
        return rc;
    rc = rp_init(&c->proto, &det_transport, c, prefix, err);
    if (rc != SQCLAIM_OK) {
        free(c);
        return rc;
    }
    *out = c;
    return SQCLAIM_OK;
}

void det_conn_close(det_conn *c) { free(c); }

/* ------------------------------------------------------------------ */
/* Backend table                                                        */

static sqclaim_rc be_open_with(const sqclaim_backend *be, const sqclaim_options *opts, void **out,
                               sqb_err *err)
{
    *out = NULL;
    det_store *st = be->app_data;
    if (!st)
        return sqb_seterr(err, SQCLAIM_ECONFIG, "scripted backend table without a store");
    det_conn *c;
    sqclaim_rc rc = conn_new(st, &c, err);
    if (rc != SQCLAIM_OK)
        return rc;
    rc = rp_open(&c->proto, &det_transport, c, opts, err);
    if (rc != SQCLAIM_OK) {
        free(c);
        return rc;
    }
    if (opts->clock)
        c->client = *opts->clock;
    *out = c;
    return SQCLAIM_OK;
}

static sqclaim_rc be_open_plain(const sqclaim_options *opts, void **out, sqb_err *err)
{
    (void)opts;
    *out = NULL;
    return sqb_seterr(err, SQCLAIM_EUNSUPPORTED,
                      "the scripted store is opened through its backend table (det_backend_init)");
}

static void be_close(void *conn) { det_conn_close(conn); }

static void be_stats(void *conn, sqclaim_stats *out)
{
    const det_conn *c = conn;
    out->round_trips = c->round_trips;
    out->ambiguous = c->ambiguous;
}

void det_backend_init(sqclaim_backend *be, det_store *st)
{
    memset(be, 0, sizeof *be);
    be->version = SQB_VERSION;
    be->name = "scripted";
    be->summary = "the production Lua scripts on an in-process Redis model (simulator)";
    be->caps = SQCLAIM_CAP_CLOCK | SQCLAIM_CAP_FOREIGN | SQCLAIM_CAP_STATS;
    be->open = be_open_plain;
    be->close = be_close;
    be->ping = rp_be_ping;
    be->claim = rp_be_claim;
    be->renew = rp_be_renew;
    be->release = rp_be_release;
    be->reserve = rp_be_reserve;
    be->finish = rp_be_finish;
    be->status = rp_be_status;
    be->inspect = rp_be_inspect;
    be->break_sq = rp_be_break;
    be->counters = rp_be_counters;
    be->raise_cursor = rp_be_raise_cursor;
    be->stats = be_stats;
    be->app_data = st;
    be->open_with = be_open_with;
}
