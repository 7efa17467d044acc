/* test_remote_lossy.c — the CLI through a kvrest that loses replies or
 * stops mid-request: nothing unproven is printed, nothing is left behind.
 * Shared helpers: remote.h. */
#include "kvadmin.h"
#include "remote.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A private kvrest (started with fault flags) in front of the shared
 * redis.  `o` runs sqclaim through it, in the prefix of `x`; `x` runs it
 * through the shared, well-behaved kvrest (same redis, same keys). */
typedef struct side {
    tsrv kv;
    rctx x;
    char url[200];
    const char *env[5];
    cr_opts o;
} side;

static int vercel_index(void)
{
    for (int i = 0; i < tc_nbackends; i++)
        if (strcmp(tc_backends[i].name, "vercel") == 0)
            return i;
    ck_abort_msg("the vercel backend is not set up");
    return -1;
}

static void side_start(side *sd, const char *const *flags)
{
    memset(sd, 0, sizeof *sd);
    ck_assert_int_eq(tsrv_kvrest_start(&sd->kv, &tc_redis, TC_KV_TOKEN, flags), 0);
    snprintf(sd->url, sizeof sd->url, "KV_REST_API_URL=%s", sd->kv.url);
}

/* A fresh key prefix for the next round (sd must not move). */
static void side_prefix(side *sd)
{
    rctx_init(&sd->x, vercel_index());
    sd->env[0] = "SQCLAIM_ADAPTER=vercel";
    sd->env[1] = sd->url;
    sd->env[2] = "KV_REST_API_TOKEN=" TC_KV_TOKEN;
    sd->env[3] = sd->x.penv;
    sd->env[4] = NULL;
    sd->o = tc_opts(NULL, sd->env);
}

/* Replies lost after the request was applied (kvrest drops them): a claim
 * is printed only when it is proven, and one that cannot be proven is not
 * left behind.  Every run: exit 0 and the SQ is ours, or exit 5 and the SQ
 * is free. */
START_TEST(test_uncertain_claim)
{
    static const char *const rates[] = {"1", "0.5"};
    for (int k = 0; k < 2; k++) {
        side lossy;
        const char *extra[] = {"--drop-rate", rates[k], "--seed", "42", NULL};
        side_start(&lossy, extra);
        side_prefix(&lossy);
        cr_opts lo = lossy.o, go = ropts(&lossy.x);
        int ok = 0;
        for (int n = 0; n < (k == 0 ? 2 : 12); n++) {
            char sq[16];
            snprintf(sq, sizeof sq, "U%d", n);
            cr_result r;
            char other[16];
            snprintf(other, sizeof other, "V%d", n);
            /* Odd runs: claim-first over two fresh SQs (the first is granted). */
            if (n % 2)
                cr_runv(&r, &lo, "claim-first", sq, other, "--bot", "BOTU", NULL);
            else
                cr_runv(&r, &lo, "claim", sq, "--bot", "BOTU", NULL);
            /* Advice meant for C callers is not shown to shell users. */
            ck_assert_msg(!cr_contains(r.err, r.errlen, "sqclaim_"), "%s", r.err);
            tc_check_no_secret(&r, TC_KV_TOKEN);
            tc_check_stderr_form(&r);
            cr_result s;
            TC_RUNV(&s, &go, 0, "status", NULL);
            cJSON *j = tc_check_status(s.out);
            const cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "sqClaims"), sq);
            if (r.code == 0) {
                ok++;
                tc_lease l;
                tc_check_lease(r.out, sq, "BOTU", -1, &l);
                ck_assert_msg(c != NULL, "%s reported granted but not held", sq);
            } else {
                ck_assert_msg(r.code == 5, "exit %d: %s", r.code, r.err);
                ck_assert_str_eq(r.out, "");
                ck_assert_msg(c == NULL, "%s left held after exit 5:\n%s", sq, r.err);
                ck_assert_msg(!cJSON_GetObjectItem(cJSON_GetObjectItem(j, "sqClaims"), other),
                              "%s left held after exit 5", other);
                ck_assert_msg(cr_contains(r.err, r.errlen, "outcome"), "%s", r.err);
            }
            cJSON_Delete(j);
            cr_free(&s);
            cr_free(&r);
        }
        if (k == 0)
            ck_assert_int_eq(ok, 0); /* nothing can be proven when every reply is lost */
        tsrv_stop(&lossy.kv);
    }
}
END_TEST

#ifdef SQCLAIM_WITH_VERCEL
/* A request to kvrest's admin API (kvadmin.h): GET path, or POST body to
 * it; the answer in body[1024]. */
static void kv_admin(const tsrv *kv, const char *path, const char *post, char *body)
{
    char err[256] = "";
    long status = kva_call(kv->url, TC_KV_TOKEN, post ? "POST" : "GET", path, post, body, 1024, err,
                           sizeof err);
    ck_assert_msg(status == 200, "kvrest %s: %s, status %ld: %s", path, err, status, body);
}

/* A counter of kvrest's GET /_kvrest/stats ("requests", "commands"). */
static long long kv_stat(const tsrv *kv, const char *name)
{
    char body[1024], key[64];
    kv_admin(kv, "/_kvrest/stats", NULL, body);
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *v = strstr(body, key);
    ck_assert_msg(v != NULL, "no %s in %s", name, body);
    return strtoll(v + strlen(key), NULL, 10);
}

/* Wait until kvrest counter `name` reaches `want` (a poll with a
 * deadline).  False if it never does. */
static bool kv_wait_stat(const tsrv *kv, const char *name, long long want)
{
    long long deadline = tsrv_now_ms() + 30000;
    while (kv_stat(kv, name) < want) {
        if (tsrv_now_ms() > deadline)
            return false;
        pause_ms(5);
    }
    return true;
}

/* Stopped (Ctrl-C, SIGTERM, SIGHUP) while a claim or a reservation is on
 * its way: the tool waits for the store's answer and hands back what it
 * got, instead of dying and leaving a claim (or rows) held that nobody
 * has the token of.  A kvrest with 2.5 s of latency keeps the request in
 * flight while the signal arrives; it exits by that signal. */
START_TEST(test_stopped_in_flight)
{
    side sd;
    const char *extra[] = {"--latency-ms", "2500", NULL};
    side_start(&sd, extra);
    const tsrv *slow = &sd.kv;
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (int k = 0; k < 3; k++) {
        side_prefix(&sd);
        cr_opts so = sd.o;
        /* Through the quick kvrest first: the claim script is cached in
         * redis, so the slow claim is one request. */
        tc_lease held;
        claim_ok(&sd.x, "S0", "BOTS", NULL, &held);
        long long before = kv_stat(slow, "requests");
        long long cmds = kv_stat(slow, "commands");
        cr_proc *p;
        if (k < 2) { /* claim, claim-first */
            /* --timeout: the command's bound, shared by up to three
             * requests; each must outlast the 2.5 s latency. */
            const char *one[] = {"claim", "S1", "--bot", "BOTS", "--timeout", "30s", NULL};
            const char *first[] = {"claim-first", "S0",        "S1",  "--bot",
                                   "BOTS",        "--timeout", "30s", NULL};
            p = cr_spawn(&so, k == 0 ? one : first, NULL);
        } else { /* reserve (stdin is only written by cr_wait) */
            const char *res[] = {"reserve", "--rows",    "4",   "--lease",
                                 held.line, "--timeout", "30s", NULL};
            p = cr_spawn(&so, res, NULL);
        }
        ck_assert_ptr_nonnull(p);
        bool sent = kv_wait_stat(slow, "requests", before + 1); /* in flight */
        kill(cr_proc_pid(p), sent ? sigs[k] : SIGKILL);
        cr_result r;
        cr_wait(p, &r);
        ck_assert_msg(sent, "case %d: no request arrived:\n%s", k, r.err);
        TC_EXIT(&r, 128 + sigs[k]);
        ck_assert_str_eq(r.out, "");
        ck_assert_msg(
            cr_contains(r.err, r.errlen, k < 2 ? "has been released" : "has been finished"), "%s",
            r.err);
        tc_check_stderr_form(&r);
        cr_free(&r);
        /* What the store holds once the request has landed (a status
         * through the slow kvrest queues behind it). */
        ck_assert(kv_wait_stat(slow, "commands", cmds + 1));
        TC_RUNV(&r, &so, 0, "status", NULL);
        cJSON *j = tc_check_status(r.out);
        const cJSON *claims = cJSON_GetObjectItem(j, "sqClaims");
        ck_assert_msg(!cJSON_GetObjectItem(claims, "S1"), "S1 left held: %s", r.out);
        ck_assert_msg(cJSON_GetObjectItem(claims, "S0"), "S0 lost: %s", r.out);
        ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "refundReservations")), 0);
        cJSON_Delete(j);
        cr_free(&r);
    }
    tsrv_stop(&sd.kv);
}
END_TEST
/* The first reply of a release (or finish) is lost after it was applied;
 * the retry finds the lease (or reservation) gone.  A finish converges:
 * the claim is still ours and its reservation gone, so exit 0 (issue 9).
 * A release from the command line is not provable (a lease read from JSON
 * has no local deadline), so exit 3, with the message saying the first
 * attempt may have done it.  kvrest drops replies with probability 0.5;
 * seed 3 drops the first request and answers the next two. */
START_TEST(test_lost_reply_release_finish)
{
    side lossy;
    const char *extra[] = {"--drop-rate", "0.5", "--seed", "3", NULL};
    side_start(&lossy, extra);
    side_prefix(&lossy);
    const rctx *x = &lossy.x;
    char body[1024];
    cr_opts lo = lossy.o;
    const char *reserve[] = {"reserve", "--rows", "2", NULL};
    const char *finish[] = {"finish", NULL};
    const char *release[] = {"release", NULL};
    /* Every script cached in redis first (through the quick kvrest), so
     * each attempt below is one request. */
    tc_lease w, l;
    cr_result r;
    claim_ok(x, "W1", "BOTL", NULL, &w);
    for (int k = 0; k < 3; k++) {
        with_lease(x, &r, w.line, k == 0 ? reserve : k == 1 ? finish : release);
        TC_EXIT(&r, 0);
        cr_free(&r);
    }

    claim_ok(x, "R1", "BOTL", NULL, &l);
    with_lease(x, &r, l.line, reserve);
    TC_EXIT(&r, 0);
    cr_free(&r);
    /* finish */
    kv_admin(&lossy.kv, "/_kvrest/faults", "{\"seed\":3}", body);
    lo.input = l.line;
    cr_run(&r, &lo, finish);
    TC_EXIT(&r, 0);
    ck_assert_msg(r.errlen == 0, "%s", r.err);
    cr_free(&r);
    int claims, reservations;
    held_counts(x, &claims, &reservations);
    ck_assert_int_eq(claims, 1);
    ck_assert_int_eq(reservations, 0);
    /* release */
    kv_admin(&lossy.kv, "/_kvrest/faults", "{\"seed\":3}", body);
    cr_run(&r, &lo, release);
    TC_EXIT(&r, 3);
    ck_assert_msg(cr_contains(r.err, r.errlen, "may have released it"), "%s", r.err);
    cr_free(&r);
    assert_nothing_held(x);
    ck_assert_int_eq(kv_stat(&lossy.kv, "dropped"), 2); /* one lost reply each */
    tsrv_stop(&lossy.kv);
}
END_TEST

/* watch on vercel (issue 9.12): every request is billed, and the legacy
 * Vercel KV free plan allows 3 000 a day.  Without --interval, watch
 * polls at a pace that keeps it within half of that, counted from the
 * requests a poll really took (kvrest counts them too), and says what it
 * costs.  Other backends keep 2 s. */
START_TEST(test_watch_request_budget)
{
    int vi = vercel_index();
    rctx x;
    rctx_init(&x, vi);
    tc_lease l;
    claim_ok(&x, "WB1", "BOTW", NULL, &l); /* a store that holds something */
    cr_opts o = ropts(&x);
    cr_result r;
    long long before = kv_stat(&tc_kvrest, "requests");
    cr_runv(&r, &o, "watch", "--count", "1", NULL);
    long long polled = kv_stat(&tc_kvrest, "requests") - before; /* admin routes not counted */
    TC_EXIT(&r, 0);
    ck_assert_msg(polled >= 1, "%lld requests", polled);
    /* The note names the real count, the interval and the daily cost. */
    char want[96];
    snprintf(want, sizeof want, ": %lld request%s a poll, ", polled, polled == 1 ? "" : "s");
    ck_assert_msg(cr_contains(r.err, r.errlen, want), "no \"%s\" in:\n%s", want, r.err);
    const char *every = strstr(r.out, "every ");
    ck_assert_msg(every != NULL, "%s", r.out);
    int minutes = 0, seconds = -1;
    ck_assert_msg(sscanf(every, "every %dm%ds, ~", &minutes, &seconds) == 2, "%s", r.out);
    long long interval_ms = minutes * 60000LL + seconds * 1000LL;
    long long per_day = (polled * 86400000LL + interval_ms - 1) / interval_ms;
    ck_assert_msg(per_day <= 1500, "every %lld ms costs %lld requests a day", interval_ms, per_day);
    char day[64];
    snprintf(day, sizeof day, ", ~%lld requests/day, ", per_day);
    ck_assert_msg(cr_contains(r.out, r.outlen, day), "no \"%s\" in:\n%s", day, r.out);
    snprintf(day, sizeof day, "%lld requests a day", per_day);
    ck_assert_msg(cr_contains(r.err, r.errlen, day), "%s", r.err);
    tc_check_stderr_form(&r);
    cr_free(&r);

    /* An interval given is kept, and its cost said: over the plan. */
    TC_RUNV(&r, &o, 0, "watch", "--count", "2", "--interval", "10ms", NULL);
    ck_assert_int_eq(cr_count(r.out, r.outlen, "sqclaim watch: vercel, every 10ms, ~"), 2);
    ck_assert_msg(cr_contains(r.err, r.errlen, "exceeds it"), "%s", r.err);
    ck_assert_int_eq(cr_count(r.err, r.errlen, "sqclaim: note: watch polls"), 1);
    cr_free(&r);
    /* --quiet: no note. */
    TC_RUNV(&r, &o, 0, "-q", "watch", "--count", "1", NULL);
    ck_assert_str_eq(r.err, "");
    cr_free(&r);

    /* redis: the plain 2 s, no cost. */
    for (int i = 0; i < tc_nbackends; i++) {
        if (strcmp(tc_backends[i].name, "redis") != 0)
            continue;
        rctx y;
        rctx_init(&y, i);
        cr_opts oy = ropts(&y);
        TC_RUNV(&r, &oy, 0, "watch", "--count", "1", NULL);
        ck_assert_msg(strncmp(r.out, "sqclaim watch: redis, every 2.0s, 20", 36) == 0, "%s", r.out);
        ck_assert_str_eq(r.err, "");
        cr_free(&r);
    }
}
END_TEST
#endif

void trm_add_lossy(TCase *tc)
{
    tcase_add_test(tc, test_uncertain_claim);
#ifdef SQCLAIM_WITH_VERCEL
    tcase_add_test(tc, test_stopped_in_flight);
    tcase_add_test(tc, test_lost_reply_release_finish);
    tcase_add_test(tc, test_watch_request_budget);
#endif
}
