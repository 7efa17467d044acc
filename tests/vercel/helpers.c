/* helpers.c — see vtest.h. */
#include "kvadmin.h"
#include "storeops.h"
#include "vtest.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void vt_clear_env(void)
{
    static const char *const vars[] = {"KV_REST_API_URL",        "KV_REST_API_TOKEN",
                                       "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN",
                                       "SQCLAIM_KEY_PREFIX",     "SQCLAIM_ADAPTER"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

sqclaim_store *vt_open(const char *url, const char *token, const char *prefix, int retries,
                       int timeout_ms)
{
    sqclaim_options o = tops_options((sqclaim_options){.adapter = "vercel",
                                                       .rest_url = url,
                                                       .rest_token = token,
                                                       .key_prefix = prefix,
                                                       .retries = retries,
                                                       .timeout_ms = timeout_ms});
    sqclaim_store *s = NULL;
    sqclaim_rc rc = sqclaim_open(&o, &s);
    ck_assert_msg(rc == SQCLAIM_OK, "open: %s", sqclaim_errmsg(s));
    return s;
}

bool vt_servers_start(tsrv *redis, tsrv *kv, const char *redis_pw, const char *token)
{
    return tsrv_redis_start(redis, redis_pw) == 0 && tsrv_kvrest_start(kv, redis, token, NULL) == 0;
}

void vt_servers_stop(tsrv *redis, tsrv *kv)
{
    tsrv_stop(kv);
    tsrv_stop(redis);
}

void vt_servers_each(bool up, const tsrv *kv)
{
    vt_clear_env();
    ck_assert_msg(up, "redis-server or kvrest did not start");
    vt_faults_clear(kv);
}

tcase_spec vt_kvrest_case(SFun servers_start, SFun servers_stop, SFun each_setup)
{
    return (tcase_spec){.name = "kvrest",
                        .timeout = 120,
                        .setup = each_setup,
                        .once_setup = servers_start,
                        .once_teardown = servers_stop};
}

responder *vt_rs;

void vt_rs_setup(void)
{
    vt_clear_env();
    vt_rs = rs_start();
    ck_assert_ptr_nonnull(vt_rs);
}

void vt_rs_teardown(void)
{
    rs_stop(vt_rs);
    vt_rs = NULL;
}

void vt_prefix(char *buf, size_t len, const char *tag)
{
    static int n;
    snprintf(buf, len, "vt:%s:%d:%d:", tag, (int)getpid(), ++n);
}

/* ---- raw RESP client ---------------------------------------------------- */

typedef struct rd {
    int fd;
    char buf[65536];
    size_t len, off;
} rd;

static int rd_fill(rd *r)
{
    if (r->off == r->len)
        r->off = r->len = 0;
    struct pollfd p = {r->fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0)
        return -1;
    ssize_t n = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
    if (n <= 0)
        return -1;
    r->len += (size_t)n;
    return 0;
}

static int rd_line(rd *r, char *out, size_t outlen)
{
    size_t n = 0;
    for (;;) {
        while (r->off < r->len) {
            char c = r->buf[r->off++];
            if (c == '\n') {
                if (n && out[n - 1] == '\r')
                    n--;
                out[n] = '\0';
                return 0;
            }
            if (n + 1 < outlen)
                out[n++] = c;
        }
        if (rd_fill(r) != 0)
            return -1;
    }
}

static int rd_bytes(rd *r, char *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        if (r->off == r->len && rd_fill(r) != 0)
            return -1;
        size_t k = r->len - r->off < n - got ? r->len - r->off : n - got;
        memcpy(out + got, r->buf + r->off, k);
        r->off += k;
        got += k;
    }
    return 0;
}

static int read_reply(rd *r, vt_raw *out, int depth)
{
    char line[512];
    if (depth > 8 || rd_line(r, line, sizeof line) != 0)
        return -1;
    memset(out, 0, sizeof *out);
    out->type = line[0];
    switch (line[0]) {
    case '+':
    case '-':
        out->str = strdup(line + 1);
        out->len = strlen(line + 1);
        return 0;
    case ':': out->integer = strtoll(line + 1, NULL, 10); return 0;
    case '$': {
        long n = strtol(line + 1, NULL, 10);
        if (n < 0) {
            out->type = 'n';
            return 0;
        }
        out->str = malloc((size_t)n + 3);
        if (!out->str || rd_bytes(r, out->str, (size_t)n + 2) != 0)
            return -1;
        out->str[n] = '\0';
        out->len = (size_t)n;
        return 0;
    }
    case '*': {
        long n = strtol(line + 1, NULL, 10);
        out->integer = n;
        for (long i = 0; i < n; i++) {
            vt_raw sub;
            if (read_reply(r, &sub, depth + 1) != 0)
                return -1;
            vt_raw_free(&sub);
        }
        return 0;
    }
    default: return -1;
    }
}

int vt_redis(const tsrv *redis, vt_raw *out, int argc, const char *const *argv, const size_t *lens)
{
    memset(out, 0, sizeof *out);
    rd *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    r->fd = tsrv_connect(redis->port);
    int rc = -1;
    if (r->fd < 0)
        goto out;
    char head[64];
    int n = snprintf(head, sizeof head, "*%d\r\n", argc);
    if (send(r->fd, head, (size_t)n, MSG_NOSIGNAL) != n)
        goto out;
    for (int i = 0; i < argc; i++) {
        size_t len = lens ? lens[i] : strlen(argv[i]);
        n = snprintf(head, sizeof head, "$%zu\r\n", len);
        if (send(r->fd, head, (size_t)n, MSG_NOSIGNAL) != n ||
            (len && send(r->fd, argv[i], len, MSG_NOSIGNAL) != (ssize_t)len) ||
            send(r->fd, "\r\n", 2, MSG_NOSIGNAL) != 2)
            goto out;
    }
    rc = read_reply(r, out, 0);
out:
    if (r->fd >= 0)
        close(r->fd);
    free(r);
    return rc;
}

void vt_raw_free(vt_raw *r)
{
    free(r->str);
    r->str = NULL;
}

char *vt_redis_get(const tsrv *redis, const char *key)
{
    const char *argv[] = {"GET", key};
    vt_raw r;
    if (vt_redis(redis, &r, 2, argv, NULL) != 0 || r.type != '$') {
        vt_raw_free(&r);
        return NULL;
    }
    return r.str;
}

/* ---- kvrest admin ------------------------------------------------------- */

long vt_admin(const tsrv *kv, const char *method, const char *path, const char *body, char *out,
              size_t outlen)
{
    return kva_call(kv->url, kv->token, method, path, body, out, outlen, NULL, 0);
}

long long vt_kv_stat(const tsrv *kv, const char *name)
{
    return kva_stat(kv->url, kv->token, name);
}

void vt_faults(const tsrv *kv, const char *json)
{
    char out[512];
    long st = vt_admin(kv, "POST", "/_kvrest/faults", json, out, sizeof out);
    ck_assert_msg(st == 200, "kvrest faults %s: HTTP %ld %s", json, st, out);
}

void vt_faults_clear(const tsrv *kv)
{
    vt_faults(kv, "{\"latency_ms\":0,\"jitter_ms\":0,\"fail_rate\":0,\"drop_rate\":0,"
                  "\"stall_rate\":0,\"stall_ms\":0,\"quota\":0}");
    ck_assert_int_eq(vt_admin(kv, "POST", "/_kvrest/stats/reset", "", NULL, 0), 200);
}
