/* test_store.c — the scripted store's own behaviour, in virtual time:
 * what the differential test cannot pin down because redis-server's clock
 * cannot be stopped (the exact expiry instant, time standing still inside
 * a script), and what only the simulator needs (restart, fault hooks,
 * determinism, independent stores, the backend table). */
#include "diffcommon.h"
#include "sha1.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000LL

static det_store *st;
static det_reply r;
static char *resp;
static size_t resp_len, resp_cap;

static det_store *store_with(uint64_t seed)
{
    det_store_config cfg = {.seed = seed}; /* built-in clock */
    det_store *s = det_store_new(&cfg);
    ck_assert_ptr_nonnull(s);
    return s;
}

static void setup(void)
{
    st = store_with(0);
    det_reply_init(&r);
}

static void teardown(void)
{
    det_store_free(st);
    det_reply_free(&r);
    free(resp);
    resp = NULL;
    resp_len = resp_cap = 0;
}

/* Run a command (NULL-terminated arguments) on s; its RESP text. */
static const char *on(det_store *s, const char *a0, ...)
{
    const char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, a0);
    for (const char *a = a0; a && argc < 32; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    det_reply_reset(&r);
    det_store_execv(s, &r, argc, argv);
    resp_len = 0;
    ck_assert_int_eq(det_reply_resp(&r, 0, &resp, &resp_len, &resp_cap), 0);
    return resp;
}

#define RUN(...)          on(st, __VA_ARGS__, (const char *)NULL)
#define EXPECT(want, ...) ck_assert_str_eq(RUN(__VA_ARGS__), want)

START_TEST(expiry_at_the_exact_instant)
{
    EXPECT("+OK\r\n", "SET", "k", "v", "PX", "1000");
    EXPECT("+OK\r\n", "SET", "other", "x");
    det_store_advance(st, 1000 * MS); /* now == expiry: still live (Redis: now > T) */
    EXPECT("$1\r\nv\r\n", "GET", "k");
    EXPECT(":0\r\n", "PTTL", "k");
    EXPECT(":2\r\n", "DBSIZE");
    det_store_advance(st, MS - 1); /* expiry has whole milliseconds */
    EXPECT("$1\r\nv\r\n", "GET", "k");
    det_store_advance(st, 1);
    EXPECT("$-1\r\n", "GET", "k");
    EXPECT(":-2\r\n", "PTTL", "k");
    EXPECT(":0\r\n", "EXISTS", "k");
    EXPECT("+none\r\n", "TYPE", "k");
}
END_TEST

START_TEST(expired_keys_are_invisible_everywhere)
{
    EXPECT("+OK\r\n", "SET", "a1", "v", "PX", "10");
    EXPECT("+OK\r\n", "SET", "a2", "v", "PX", "20");
    EXPECT("+OK\r\n", "SET", "b", "v");
    det_store_advance(st, 11 * MS);
    /* no command touched a1: KEYS, SCAN and DBSIZE still never show it */
    const char *keys = RUN("KEYS", "*");
    ck_assert_msg(strncmp(keys, "*2\r\n", 4) == 0 && strstr(keys, "$2\r\na2\r\n") &&
                      strstr(keys, "$1\r\nb\r\n"),
                  "KEYS: %s", keys);
    EXPECT(":2\r\n", "DBSIZE");
    const char *scan = RUN("SCAN", "0", "MATCH", "a*", "COUNT", "100");
    ck_assert_ptr_null(strstr(scan, "a1"));
    ck_assert_ptr_nonnull(strstr(scan, "a2"));
    det_store_advance(st, 10 * MS);
    EXPECT("*1\r\n$1\r\nb\r\n", "KEYS", "*");
    EXPECT(":1\r\n", "DBSIZE");
    /* PEXPIRE to now deletes at once, as Redis's checkAlreadyExpired */
    EXPECT(":1\r\n", "PEXPIRE", "b", "0");
    EXPECT(":0\r\n", "DBSIZE");
}
END_TEST

static int64_t ticking_now;
static int64_t ticking_clock(void *ctx)
{
    (void)ctx;
    ticking_now += MS; /* every read moves time by 1 ms */
    return ticking_now;
}

START_TEST(time_stands_still_inside_a_script)
{
    ticking_now = 1700000000000LL * MS;
    det_store_config cfg = {.now_ns = ticking_clock};
    det_store *s = det_store_new(&cfg);
    ck_assert_ptr_nonnull(s);
    /* Reads of the clock: det_store_new 1, SET 2, EVAL 3, PTTL 4, GET 5,
     * TIME 6 (ms after the start).  A script reads it once for its whole
     * run, so its two TIMEs and PTTLs agree. */
    ck_assert_str_eq(on(s, "SET", "k", "v", "PX", "2", NULL), "+OK\r\n"); /* expires at 4 */
    const char *body = "local t1 = redis.call('TIME'); local p1 = redis.call('PTTL', KEYS[1]);"
                       "for i = 1, 100000 do end;"
                       "local t2 = redis.call('TIME'); local p2 = redis.call('PTTL', KEYS[1]);"
                       "return {t1[1] == t2[1] and t1[2] == t2[2] and 1 or 0, p1, p2, "
                       "redis.call('GET', KEYS[1])}";
    ck_assert_str_eq(on(s, "EVAL", body, "1", "k", NULL), "*4\r\n:1\r\n:1\r\n:1\r\n$1\r\nv\r\n");
    ck_assert_str_eq(on(s, "PTTL", "k", NULL), ":0\r\n"); /* at 4: live at its expiry */
    ck_assert_str_eq(on(s, "GET", "k", NULL), "$-1\r\n"); /* at 5: gone */
    /* TIME is the clock read as Unix time */
    ck_assert_str_eq(on(s, "TIME", NULL), "*2\r\n$10\r\n1700000000\r\n$4\r\n6000\r\n");
    det_store_free(s);
}
END_TEST

/* A clock the test sets by hand. */
static int64_t hand_now;
static int64_t hand_clock(void *ctx)
{
    (void)ctx;
    return hand_now;
}

START_TEST(time_never_goes_back)
{
    hand_now = 5000 * MS;
    det_store_config cfg = {.now_ns = hand_clock};
    det_store *s = det_store_new(&cfg);
    ck_assert_str_eq(on(s, "SET", "k", "v", "PX", "100", NULL), "+OK\r\n");
    hand_now = 5101 * MS;
    ck_assert_str_eq(on(s, "GET", "k", NULL), "$-1\r\n");
    hand_now = 5000 * MS; /* a clock stepping back does not revive it */
    ck_assert_str_eq(on(s, "GET", "k", NULL), "$-1\r\n");
    det_store_free(s);
}
END_TEST

START_TEST(restart_loses_keys_and_scripts)
{
    const char *body = "return 7";
    char sha[41];
    rp_sha1_hex(body, strlen(body), sha);
    EXPECT("+OK\r\n", "SET", "sqclaim:fence", "41");
    RUN("SCRIPT", "LOAD", body);
    EXPECT(":7\r\n", "EVALSHA", sha, "0");
    det_store_restart(st);
    EXPECT("-NOSCRIPT No matching script. Please use EVAL.\r\n", "EVALSHA", sha, "0");
    EXPECT("$-1\r\n", "GET", "sqclaim:fence");
    EXPECT(":0\r\n", "DBSIZE");
    /* FLUSHALL keeps the scripts, as in Redis */
    EXPECT(":7\r\n", "EVAL", body, "0");
    EXPECT("+OK\r\n", "FLUSHALL");
    EXPECT(":7\r\n", "EVALSHA", sha, "0");
}
END_TEST

START_TEST(stores_are_independent)
{
    det_store *b = store_with(0);
    EXPECT("+OK\r\n", "SET", "k", "a");
    ck_assert_str_eq(on(b, "GET", "k", NULL), "$-1\r\n");
    RUN("SCRIPT", "LOAD", "return 1");
    ck_assert_str_eq(on(b, "SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", NULL),
                     "*1\r\n:0\r\n");
    det_store_free(b);
}
END_TEST

/* The same operations on two stores with the same seed give the same
 * bytes (KEYS order, SCAN cursors, math.random included); another seed
 * changes math.random. */
static void drive(det_store *s, uint64_t seed, char **log, size_t *len, size_t *cap)
{
    gen g = {seed};
    char k[16], v[16];
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "k%d", (int)gen_below(&g, 50));
        snprintf(v, sizeof v, "%d", (int)gen_below(&g, 1000));
        det_store_advance(s, (int64_t)gen_below(&g, 5) * MS);
        det_reply_reset(&r);
        switch (gen_below(&g, 7)) {
        case 0: det_store_execv(s, &r, 5, (const char *[]){"SET", k, v, "PX", "20"}); break;
        case 1: det_store_execv(s, &r, 2, (const char *[]){"INCR", k}); break;
        case 2: det_store_execv(s, &r, 2, (const char *[]){"KEYS", "k1*"}); break;
        case 3: det_store_execv(s, &r, 4, (const char *[]){"SCAN", v, "COUNT", "3"}); break;
        case 4:
            det_store_execv(
                s, &r, 3,
                (const char *[]){"EVAL", "return {math.random(1000), math.random()}", "0"});
            break;
        case 5: det_store_execv(s, &r, 2, (const char *[]){"DEL", k}); break;
        default: det_store_execv(s, &r, 1, (const char *[]){"DBSIZE"}); break;
        }
        ck_assert_int_eq(det_reply_resp(&r, 0, log, len, cap), 0);
    }
}

START_TEST(same_seed_same_bytes)
{
    char *l1 = NULL, *l2 = NULL, *l3 = NULL;
    size_t n1 = 0, n2 = 0, n3 = 0, c1 = 0, c2 = 0, c3 = 0;
    det_store *a = store_with(42), *b = store_with(42), *c = store_with(43);
    drive(a, 7, &l1, &n1, &c1);
    drive(b, 7, &l2, &n2, &c2);
    drive(c, 7, &l3, &n3, &c3);
    ck_assert_uint_eq(n1, n2);
    ck_assert_int_eq(memcmp(l1, l2, n1), 0);
    ck_assert_msg(n1 != n3 || memcmp(l1, l3, n1) != 0, "math.random ignores the seed");
    free(l1);
    free(l2);
    free(l3);
    det_store_free(a);
    det_store_free(b);
    det_store_free(c);
}
END_TEST

START_TEST(runaway_script_is_stopped)
{
    det_lua_set_limit(det_store_lua(st), 2000000); /* fast under valgrind too */
    const char *out = RUN("EVAL", "while true do end", "0");
    ck_assert_msg(strncmp(out, "-BUSY", 5) == 0, "got %s", out);
    /* pcall cannot swallow it either */
    out = RUN("EVAL", "pcall(function() while true do end end) return 1", "0");
    ck_assert_msg(strncmp(out, "-BUSY", 5) == 0, "got %s", out);
    EXPECT("+PONG\r\n", "PING");
    EXPECT(":3\r\n", "EVAL", "return 1 + 2", "0");
}
END_TEST

START_TEST(deep_reply_is_an_error_not_a_crash)
{
    const char *out = RUN("EVAL",
                          "local t = {} local c = t for i = 1, 5000 do c[1] = {} c = c[1] end "
                          "return t",
                          "0");
    ck_assert_msg(strncmp(out, "-ERR reached lua stack limit", 28) == 0 ||
                      strncmp(out, "*1\r\n", 4) == 0,
                  "got %.60s", out);
}
END_TEST

static char logged[128];
static int logged_level = -1;
static void log_sink(void *ctx, int level, const char *msg, size_t len)
{
    (void)ctx;
    logged_level = level;
    snprintf(logged, sizeof logged, "%.*s", (int)len, msg);
}

START_TEST(redis_log_reaches_the_sink)
{
    det_lua_set_log(det_store_lua(st), log_sink, NULL);
    RUN("EVAL", "redis.log(redis.LOG_WARNING, 'fence', 7)", "0");
    ck_assert_int_eq(logged_level, 3);
    ck_assert_str_eq(logged, "fence 7");
}
END_TEST

/* ------------------------------------------------------------------ */
/* The transport: proto.c on the store, with fault hooks                */

static det_fate before_fate, after_fate;
static det_request *deferred;
static int befores, afters;

static det_fate hook_before(void *ctx, det_conn *c, const det_request *req, const char **text)
{
    (void)ctx;
    (void)c;
    befores++;
    if (before_fate == DET_LOSE && !deferred)
        deferred = det_request_copy(req); /* delivered later */
    if (before_fate == DET_ERROR_REPLY)
        *text = "LOADING Redis is loading the dataset in memory";
    return before_fate;
}

static det_fate hook_after(void *ctx, det_conn *c, const det_request *req, rp_reply *const *replies)
{
    (void)ctx;
    (void)c;
    (void)req;
    (void)replies;
    afters++;
    return after_fate;
}

static sqclaim_rc claim(det_conn *c, const char *sq, const char *tok, sqb_claim_res *res,
                        sqb_err *err)
{
    const char *sqs1[] = {sq};
    sqb_claim_req req = {sqs1, 1, "BOT1", tok, 600000, "2025-10-26T12:34:56.789Z", 0};
    memset(err, 0, sizeof *err);
    return rp_claim(&c->proto, &req, res, err);
}

START_TEST(fault_hooks)
{
    det_conn *c;
    sqb_err err = {0};
    sqb_claim_res res;
    ck_assert_int_eq(det_conn_open(st, NULL, &c, &err), SQCLAIM_OK);
    det_hooks h = {.before = hook_before, .after = hook_after};
    det_store_set_hooks(st, &h);
    const char *tok = "0123456789abcdef0123456789abcdef";

    /* the first call caches the script (NOSCRIPT, then EVAL) */
    before_fate = after_fate = DET_DELIVER;
    ck_assert_int_eq(claim(c, "W", tok, &res, &err), SQCLAIM_OK);
    ck_assert_uint_eq(c->proto.noscript_fallbacks, 1);
    EXPECT(":1\r\n", "DEL", "sq:W");

    /* refused: not applied, certainly */
    before_fate = DET_REFUSE;
    ck_assert_int_eq(claim(c, "A", tok, &res, &err), SQCLAIM_EIO);
    ck_assert(err.transient && !err.maybe_applied);
    EXPECT(":0\r\n", "EXISTS", "sq:A");

    /* applied, reply dropped: the retry with the same token is the grant */
    before_fate = DET_DELIVER;
    after_fate = DET_LOSE;
    ck_assert_int_eq(claim(c, "B", tok, &res, &err), SQCLAIM_ETIMEOUT);
    ck_assert(err.maybe_applied);
    EXPECT(":1\r\n", "EXISTS", "sq:B");
    after_fate = DET_DELIVER;
    ck_assert_int_eq(claim(c, "B", tok, &res, &err), SQCLAIM_OK);
    ck_assert(res.reclaimed);

    /* lost on the way (kept by the hook): maybe applied, not yet */
    before_fate = DET_LOSE;
    ck_assert_int_eq(claim(c, "A", tok, &res, &err), SQCLAIM_ETIMEOUT);
    ck_assert(err.maybe_applied);
    EXPECT(":0\r\n", "EXISTS", "sq:A");
    /* ... and delivered late (the script is cached by now): it lands */
    ck_assert_ptr_nonnull(deferred);
    det_store_apply(st, deferred);
    det_request_free(deferred);
    deferred = NULL;
    EXPECT(":1\r\n", "EXISTS", "sq:A");

    /* a transient server error, not applied */
    before_fate = DET_ERROR_REPLY;
    ck_assert_int_eq(claim(c, "C", tok, &res, &err), SQCLAIM_ESERVER);
    ck_assert(err.transient);
    before_fate = DET_DELIVER;
    EXPECT(":0\r\n", "EXISTS", "sq:C");

    /* a restart: the next script call answers NOSCRIPT, proto.c sends EVAL */
    uint64_t fallbacks = c->proto.noscript_fallbacks;
    det_store_restart(st);
    ck_assert_int_eq(claim(c, "A", tok, &res, &err), SQCLAIM_OK);
    ck_assert_uint_eq(c->proto.noscript_fallbacks, fallbacks + 1);

    ck_assert_int_gt(befores, 0);
    ck_assert_int_gt(afters, 0);
    det_store_set_hooks(st, NULL);
    det_conn_close(c);
}
END_TEST

START_TEST(library_handles_on_the_backend_table)
{
    sqclaim_backend be;
    det_backend_init(&be, st);
    ck_assert_ptr_eq(be.app_data, st);
    sqclaim_options o;
    sqclaim_options_init(&o);
    sqclaim_clock cc = {hand_clock, NULL}; /* the bot's clock, not the store's */
    hand_now = 123 * MS;
    o.clock = &cc;
    o.key_prefix = "t:";
    sqclaim_store *a = NULL, *b = NULL;
    ck_assert_int_eq(sqclaim_open_backend(&be, &o, &a), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_open_backend(&be, &o, &b), SQCLAIM_OK);
    ck_assert_str_eq(sqclaim_adapter(a), "scripted");
    sqclaim_lease la, lb;
    ck_assert_int_eq(sqclaim_claim(a, "251019-164rmb", "BOT1", 600000, &la, NULL), SQCLAIM_OK);
    ck_assert_int_eq(sqclaim_claim(b, "251019-164rmb", "BOT3", 600000, &lb, NULL), SQCLAIM_BUSY);
    EXPECT(":1\r\n", "EXISTS", "t:sq:251019-164rmb");
    sqclaim_rows rows;
    ck_assert_int_eq(sqclaim_reserve_rows(a, &la, 5, 51, &rows), SQCLAIM_OK);
    ck_assert_uint_eq(rows.start_row, 51);
    det_store_advance(st, 600001 * MS); /* the store's time, not the bots' */
    ck_assert_int_eq(sqclaim_claim(b, "251019-164rmb", "BOT3", 600000, &lb, NULL), SQCLAIM_OK);
    ck_assert_uint_gt(lb.fence, la.fence);
    sqclaim_stats sa;
    ck_assert_int_eq(sqclaim_stats_get(a, &sa), SQCLAIM_OK);
    ck_assert_uint_ge(sa.round_trips, 2);
    sqclaim_close(a);
    sqclaim_close(b);

    /* a table without a store is refused cleanly */
    sqclaim_backend none = be;
    none.app_data = NULL;
    sqclaim_store *c = NULL;
    ck_assert_int_ne(sqclaim_open_backend(&none, &o, &c), SQCLAIM_OK);
    sqclaim_close(c);
}
END_TEST

void store_add(Suite *s)
{
    TCASE_ADD(s, ((tcase_spec){.name = "store", .setup = setup, .teardown = teardown}),
              expiry_at_the_exact_instant, expired_keys_are_invisible_everywhere,
              time_stands_still_inside_a_script, time_never_goes_back,
              restart_loses_keys_and_scripts, stores_are_independent, same_seed_same_bytes,
              runaway_script_is_stopped, deep_reply_is_an_error_not_a_crash,
              redis_log_reaches_the_sink, fault_hooks, library_handles_on_the_backend_table);
}
