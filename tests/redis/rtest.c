/* rtest.c — helpers of the redis backend tests; see rtest.h. */
#include "rtest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

tsrv rt_srv;
char rt_prefix[64];
redisContext *rt_raw;

#define MAX_HANDLES 64
static sqclaim_store *handles[MAX_HANDLES];
static int nhandles;
static int counter;

void rt_server_start(void)
{
    if (tsrv_redis_start(&rt_srv, NULL) != 0)
        ck_abort_msg("could not start redis-server");
}

void rt_auth_server_start(void)
{
    if (tsrv_redis_start(&rt_srv, RT_PASSWORD) != 0)
        ck_abort_msg("could not start redis-server");
}

void rt_server_stop(void) { tsrv_stop(&rt_srv); }

redisContext *rt_connect(const tsrv *s)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
    ck_assert_msg(c && !c->err, "raw connect to port %d: %s", s->port, c ? c->errstr : "oom");
    redisSetTimeout(c, tv);
    if (s->password[0]) {
        redisReply *r = redisCommand(c, "AUTH %s", s->password);
        ck_assert_msg(r && r->type == REDIS_REPLY_STATUS, "raw AUTH failed");
        freeReplyObject(r);
    }
    return c;
}

void rt_setup(void)
{
    snprintf(rt_prefix, sizeof rt_prefix, "rt%ld-%d:", (long)getpid(), ++counter);
    nhandles = 0;
    rt_raw = rt_srv.pid > 0 ? rt_connect(&rt_srv) : NULL;
}

void rt_teardown(void)
{
    for (int i = 0; i < nhandles; i++)
        sqclaim_close(handles[i]);
    nhandles = 0;
    if (rt_raw)
        redisFree(rt_raw);
    rt_raw = NULL;
}

sqclaim_rc rt_open_opts(const sqclaim_options *o, sqclaim_store **out)
{
    sqclaim_options copy = *o;
    copy.adapter = "redis";
    sqclaim_rc rc = sqclaim_open(&copy, out);
    ck_assert_int_lt(nhandles, MAX_HANDLES);
    handles[nhandles++] = *out;
    return rc;
}

sqclaim_store *rt_open(void)
{
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.redis_url = rt_srv.url;
    o.key_prefix = rt_prefix;
    sqclaim_store *s = NULL;
    sqclaim_rc rc = rt_open_opts(&o, &s);
    ck_assert_msg(rc == SQCLAIM_OK, "open: %s", sqclaim_errmsg(s));
    return s;
}

redisReply *rt_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_msg(r != NULL, "raw command \"%s\" failed: %s", fmt, c->errstr);
    return r;
}

char *rt_get(const char *suffix)
{
    redisReply *r = rt_cmd(rt_raw, "GET %s%s", rt_prefix, suffix);
    char *v = NULL;
    if (r->type == REDIS_REPLY_STRING)
        v = strdup(r->str);
    else
        ck_assert_msg(r->type == REDIS_REPLY_NIL, "GET %s: unexpected reply type %d", suffix,
                      r->type);
    freeReplyObject(r);
    return v;
}

long long rt_pttl(const char *suffix)
{
    redisReply *r = rt_cmd(rt_raw, "PTTL %s%s", rt_prefix, suffix);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **rt_keys(size_t *n)
{
    char **keys = NULL;
    size_t count = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = rt_cmd(rt_raw, "SCAN %s MATCH %s* COUNT 500", cursor, rt_prefix);
        ck_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            keys = realloc(keys, (count + 1) * sizeof *keys);
            keys[count++] = strdup(r->element[1]->element[i]->str);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    if (count > 1)
        qsort(keys, count, sizeof *keys, cmp_str);
    /* SCAN may repeat a key. */
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        if (k > 0 && strcmp(keys[i], keys[k - 1]) == 0)
            free(keys[i]);
        else
            keys[k++] = keys[i];
    }
    *n = k;
    return keys;
}

void rt_free_keys(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

static const char *cmdstat_line(const char *info, const char *cmd)
{
    char needle[64];
    snprintf(needle, sizeof needle, "cmdstat_%s:", cmd);
    const char *p = info;
    while ((p = strstr(p, needle)) != NULL) {
        if (p == info || p[-1] == '\n')
            return p + strlen(needle);
        p++;
    }
    return NULL;
}

static long long cmdstat(const char *cmd, bool *present)
{
    redisReply *r = rt_cmd(rt_raw, "INFO commandstats");
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    const char *line = cmdstat_line(r->str, cmd);
    long long calls = 0;
    if (line)
        ck_assert_int_eq(sscanf(line, "calls=%lld", &calls), 1);
    if (present)
        *present = line != NULL;
    freeReplyObject(r);
    return calls;
}

long long rt_cmdstat(const char *cmd) { return cmdstat(cmd, NULL); }

bool rt_cmdstat_present(const char *cmd)
{
    bool present;
    cmdstat(cmd, &present);
    return present;
}

long long rt_inner_calls(void)
{
    static const char *const cmds[] = {"mget", "get", "set", "incr", "pttl", "pexpire", "del"};
    long long sum = 0;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        sum += rt_cmdstat(cmds[i]);
    return sum;
}

sqclaim_stats rt_stats(sqclaim_store *s)
{
    sqclaim_stats st;
    ck_assert_int_eq(sqclaim_stats_get(s, &st), SQCLAIM_OK);
    return st;
}

uint64_t rt_round_trips(sqclaim_store *s) { return rt_stats(s).round_trips; }

/* ------------------------------------------------------------------ */
/* The rogue peer                                                       */

/* Length of one complete RESP request at buf[0..len): 0 if incomplete,
 * -1 if it is not a RESP array of bulk strings. */
static long request_len(const char *buf, size_t len)
{
    size_t pos = 0;
    const char *nl = memchr(buf, '\n', len);
    if (!nl)
        return 0;
    if (buf[0] != '*')
        return -1;
    long n = strtol(buf + 1, NULL, 10);
    pos = (size_t)(nl - buf) + 1;
    for (long i = 0; i < n; i++) {
        if (pos >= len)
            return 0;
        nl = memchr(buf + pos, '\n', len - pos);
        if (!nl)
            return 0;
        if (buf[pos] != '$')
            return -1;
        long blen = strtol(buf + pos + 1, NULL, 10);
        pos = (size_t)(nl - buf) + 1 + (size_t)blen + 2;
        if (pos > len)
            return 0;
    }
    return (long)pos;
}

/* Send the canned reply (MSG_NOSIGNAL: the client may have hung up).
 * 0, or -1 if the peer is gone or the rogue is stopping. */
static int send_reply(rt_rogue *r, int fd)
{
    if (r->trickle_ms <= 0)
        return send(fd, r->reply, r->replylen, MSG_NOSIGNAL) == (ssize_t)r->replylen ? 0 : -1;
    for (size_t i = 0; i < r->replylen; i++) {
        if (atomic_load(&r->stop) || send(fd, r->reply + i, 1, MSG_NOSIGNAL) != 1)
            return -1;
        struct timespec ts = {r->trickle_ms / 1000, (long)(r->trickle_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* The error reply quoting the request buf[0..len) (a complete RESP
 * array of bulk strings), as r->echo says, in out[size]; its length. */
static size_t echo_reply(const rt_rogue *r, const char *buf, size_t len, char *out, size_t size)
{
    size_t o = 0;
    const char *p = memchr(buf, '\n', len);
    long n = strtol(buf + 1, NULL, 10);
    size_t pos = p ? (size_t)(p - buf) + 1 : len;
    o += (size_t)snprintf(out, size, "-ERR ");
    for (long i = 0; i < n && pos < len && o + 8 < size; i++) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl)
            break;
        long blen = strtol(buf + pos + 1, NULL, 10);
        const char *arg = nl + 1;
        pos = (size_t)(arg - buf) + (size_t)blen + 2;
        if (i == 0)
            o += (size_t)snprintf(out + o, size - o,
                                  r->echo == 'u' ? "unknown command '%.*s', with args beginning "
                                                   "with:"
                                                 : "echo: %.*s",
                                  (int)blen, arg);
        else
            for (size_t k = 0; k < (size_t)blen + 3 && o + 8 < size; k++) {
                char c = k == 0 ? ' ' : k == 1 || k == (size_t)blen + 2 ? '\'' : arg[k - 2];
                out[o++] = (c == '\r' || c == '\n') ? ' ' : c;
            }
    }
    o += (size_t)snprintf(out + o, size - o, "\r\n");
    return o < size ? o : size - 1;
}

static void serve(rt_rogue *r, int fd)
{
    char buf[65536];
    size_t have = 0;
    while (!atomic_load(&r->stop)) {
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, 50);
        if (n <= 0)
            continue;
        ssize_t got = read(fd, buf + have, sizeof buf - have);
        if (got <= 0)
            return;
        have += (size_t)got;
        for (;;) {
            long used = request_len(buf, have);
            if (used < 0)
                return;
            if (used == 0)
                break;
            atomic_fetch_add(&r->requests, 1);
            if (r->echo) {
                char out[4096];
                size_t olen = echo_reply(r, buf, (size_t)used, out, sizeof out);
                if (send(fd, out, olen, MSG_NOSIGNAL) != (ssize_t)olen)
                    return;
            } else if (send_reply(r, fd) != 0) {
                return;
            }
            memmove(buf, buf + used, have - (size_t)used);
            have -= (size_t)used;
        }
        if (have == sizeof buf)
            return;
    }
}

static void serve_conn(void *arg, int fd) { serve(arg, fd); }

static void *rogue_main(void *arg)
{
    rt_rogue *r = arg;
    tsrv_accept_loop(r->lfd, &r->stop, serve_conn, r);
    return NULL;
}

static void rogue_start(rt_rogue *r, const char *reply, int trickle_ms, char echo)
{
    memset(r, 0, sizeof *r);
    r->trickle_ms = trickle_ms;
    r->echo = echo;
    snprintf(r->reply, sizeof r->reply, "%s", reply);
    r->replylen = strlen(r->reply);
    r->lfd = tsrv_listen(16, &r->port);
    ck_assert_int_ge(r->lfd, 0);
    snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d", r->port);
    snprintf(r->auth_url, sizeof r->auth_url, "redis://:%s@127.0.0.1:%d/2", RT_PASSWORD, r->port);
    atomic_store(&r->stop, false);
    ck_assert_int_eq(pthread_create(&r->thread, NULL, rogue_main, r), 0);
}

void rt_rogue_start(rt_rogue *r, const char *reply) { rogue_start(r, reply, 0, 0); }

void rt_rogue_start_trickle(rt_rogue *r, const char *reply, int trickle_ms)
{
    rogue_start(r, reply, trickle_ms, 0);
}

void rt_rogue_start_echo(rt_rogue *r, char echo) { rogue_start(r, "", 0, echo); }

void rt_rogue_stop(rt_rogue *r)
{
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    close(r->lfd);
}
