/* test_sqlite.c — the sqlite backend with real processes (fork), real
 * files and real kill -9.  Every test works in a temporary directory of its
 * own; nothing is written under the home directory. */
#include "run.h"
#include "sqclaim.h"
#include "sqlite_int.h"
#include "tcase.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[128];
static char db[256];

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/sqclaim-sqlite-XXXXXX",
             tmp && *tmp && strlen(tmp) < 60 ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/claims.db", dir);
    unsetenv("SQCLAIM_ADAPTER");
    setenv("SQCLAIM_DB", db, 1);
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A handle on the default backend (no adapter named), on `path`. */
static sqclaim_store *open_at(const char *path, int timeout_ms)
{
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.sqlite_path = path;
    o.timeout_ms = timeout_ms;
    sqclaim_store *s = NULL;
    sqclaim_rc rc = sqclaim_open(&o, &s);
    ck_assert_msg(rc == SQCLAIM_OK, "open %s: %s", path, sqclaim_errmsg(s));
    ck_assert_str_eq(sqclaim_adapter(s), "sqlite");
    return s;
}

static void claim_ok(sqclaim_store *s, const char *sq, const char *bot, sqclaim_lease *l)
{
    sqclaim_rc rc = sqclaim_claim(s, sq, bot, 0, l, NULL);
    ck_assert_msg(rc == SQCLAIM_OK, "claim %s: %s (%s)", sq, sqclaim_rcname(rc), sqclaim_errmsg(s));
}

static sqclaim_rows reserve_ok(sqclaim_store *s, const sqclaim_lease *l, uint32_t count,
                               uint64_t hint)
{
    sqclaim_rows rows;
    sqclaim_rc rc = sqclaim_reserve_rows(s, l, count, hint, &rows);
    ck_assert_msg(rc == SQCLAIM_OK, "reserve on %s: %s (%s)", l->sq, sqclaim_rcname(rc),
                  sqclaim_errmsg(s));
    return rows;
}

/* A handle on db where BOT1 claimed sq (*l) and reserved 5 rows at 51
 * (*rows). */
static sqclaim_store *open_with_rows(const char *sq, sqclaim_lease *l, sqclaim_rows *rows)
{
    sqclaim_store *s = open_at(db, 5000);
    claim_ok(s, sq, "BOT1", l);
    *rows = reserve_ok(s, l, 5, 51);
    return s;
}

/* claim_ok(), and the fence handed out is above `fence`. */
static void claim_above(sqclaim_store *s, const char *sq, const char *bot, uint64_t fence,
                        sqclaim_lease *l)
{
    claim_ok(s, sq, bot, l);
    ck_assert_msg(l->fence > fence, "claim %s: fence %" PRIu64 ", want above %" PRIu64, sq,
                  l->fence, fence);
}

/* reserve_ok(), and the rows start at `start` or later. */
static void reserve_from(sqclaim_store *s, const sqclaim_lease *l, uint32_t count, uint64_t hint,
                         uint64_t start)
{
    sqclaim_rows rows = reserve_ok(s, l, count, hint);
    ck_assert_msg(rows.start_row >= start,
                  "reserve on %s: row %" PRIu64 ", want %" PRIu64 " or later", l->sq,
                  rows.start_row, start);
}

/* Run one SQL statement on the file with SQLite itself (another tool). */
static void raw_sql(const char *path, const char *sql)
{
    sqlite3 *h = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    char *err = NULL;
    int rc = sqlite3_exec(h, sql, NULL, NULL, &err);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, err ? err : "?");
    sqlite3_free(err);
    sqlite3_close(h);
}

static void raw_text(const char *path, const char *sql, char *out, size_t len)
{
    sqlite3 *h = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    out[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
}

/* Whole file into a malloc'd buffer. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void spit(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Read a line from fd with a deadline; true if one was read. */
static bool read_line(int fd, char *buf, size_t len, int64_t deadline_ms)
{
    size_t n = 0;
    while (n + 1 < len) {
        int64_t left = deadline_ms - now_ms();
        if (left <= 0)
            break;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r <= 0)
            break;
        if (ch == '\n') {
            buf[n] = '\0';
            return true;
        }
        buf[n++] = ch;
    }
    buf[n] = '\0';
    return false;
}

/* ------------------------------------------------------------------ */
/* Three bot processes, no configuration: three different SQs           */

static const char *const queue[] = {"251019-164rmb", "251019-165abc", "251019-166xyz"};

/* The README's bot, holding its claim until the parent closes `hold`. */
static void bot_child(int i, int go, int rep, int hold)
{
    char ch;
    if (read(go, &ch, 1) != 1)
        _exit(10);
    sqclaim_store *s = NULL;
    if (sqclaim_open(NULL, &s) != SQCLAIM_OK) { /* no backend named: the default */
        fprintf(stderr, "bot %d: open: %s\n", i + 1, sqclaim_errmsg(s));
        _exit(11);
    }
    if (strcmp(sqclaim_adapter(s), "sqlite") != 0)
        _exit(12);
    char bot[16];
    snprintf(bot, sizeof bot, "BOT%d", i + 1);
    sqclaim_lease lease;
    sqclaim_holder holder;
    sqclaim_rc rc = sqclaim_claim_first(s, queue, 3, bot, 0, &lease, &holder);
    char line[200];
    if (rc != SQCLAIM_OK) {
        snprintf(line, sizeof line, "%s %s\n", bot, sqclaim_rcname(rc));
    } else {
        sqclaim_rows rows = {0};
        rc = sqclaim_reserve_rows(s, &lease, 5, 51, &rows);
        snprintf(line, sizeof line, "%s %s %" PRIu64 " %" PRIu64 " %s\n", bot, lease.sq,
                 lease.fence, rows.start_row, sqclaim_rcname(rc));
    }
    if (write(rep, line, strlen(line)) != (ssize_t)strlen(line))
        _exit(13);
    while (read(hold, &ch, 1) > 0) {
    }
    if (rc == SQCLAIM_OK) {
        sqclaim_finish_rows(s, &lease);
        sqclaim_release(s, &lease);
    }
    sqclaim_close(s);
    _exit(0);
}

START_TEST(three_bot_processes_share_the_default)
{
    int go[2], rep[2], hold[2];
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(rep), 0);
    ck_assert_int_eq(pipe(hold), 0);
    pid_t pids[3];
    for (int i = 0; i < 3; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            close(go[1]);
            close(rep[0]);
            close(hold[1]);
            bot_child(i, go[0], rep[1], hold[0]);
        }
    }
    close(go[0]);
    close(rep[1]);
    close(hold[0]);
    ck_assert_int_eq(write(go[1], "GGG", 3), 3); /* all three at once */
    char sqs[3][80];
    uint64_t fences[3], starts[3];
    int64_t deadline = now_ms() + 20000;
    for (int i = 0; i < 3; i++) {
        char line[200], bot[16], rcname[16];
        ck_assert_msg(read_line(rep[0], line, sizeof line, deadline), "bot %d did not report", i);
        int n = sscanf(line, "%15s %79s %" SCNu64 " %" SCNu64 " %15s", bot, sqs[i], &fences[i],
                       &starts[i], rcname);
        ck_assert_msg(n == 5 && strcmp(rcname, "OK") == 0, "bot report: %s", line);
    }
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++) {
            ck_assert_msg(strcmp(sqs[i], sqs[j]) != 0, "two bots claimed %s", sqs[i]);
            ck_assert_msg(fences[i] != fences[j], "fence %" PRIu64 " twice", fences[i]);
            uint64_t a = starts[i], b = starts[j];
            ck_assert_msg(a + 5 <= b || b + 5 <= a,
                          "rows %" PRIu64 "-%" PRIu64 " and %" PRIu64 "-%" PRIu64 " overlap", a,
                          a + 4, b, b + 4);
            ck_assert(a >= 51 && b >= 51);
        }
    close(hold[1]); /* let them release */
    for (int i = 0; i < 3; i++) {
        int st = 0;
        ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "bot %d: status %d", i, st);
    }
    close(go[1]);
    close(rep[0]);
    /* All released: nothing left. */
    sqclaim_store *s = open_at(db, 5000);
    sqclaim_status *st = NULL;
    ck_assert_int_eq(sqclaim_status_get(s, &st), SQCLAIM_OK);
    ck_assert_uint_eq(st->nclaims, 0);
    ck_assert_uint_eq(st->nreservations, 0);
    sqclaim_status_free(st);
    sqclaim_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* kill -9 in the middle of a transaction                               */

START_TEST(kill_holding_the_write_lock)
{
    sqclaim_store *s = open_at(db, 5000);
    sqclaim_lease first;
    claim_ok(s, "251019-aaa", "BOT1", &first);
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Another process, in the middle of a transaction: it holds the
         * write lock and has written a claim, a fence and a cursor. */
        close(ready[0]);
        sqlite3 *h = NULL;
        if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
            _exit(20);
        sqlite3_busy_timeout(h, 5000);
        if (sqlite3_exec(h,
                         "BEGIN IMMEDIATE;"
                         "INSERT OR REPLACE INTO claims VALUES('251019-bbb','GHOST',"
                         "'00000000000000000000000000000000',1,'2025-01-01T00:00:00.000Z',"
                         "9000000000000000000,'{}');"
                         "UPDATE meta SET value = 1 WHERE name = 'sqclaim:fence';"
                         "INSERT OR REPLACE INTO meta VALUES('sqclaim:rowcursor', 7);",
                         NULL, NULL, NULL) != SQLITE_OK)
            _exit(21);
        if (write(ready[1], "R", 1) != 1)
            _exit(22);
        for (;;)
            pause();
    }
    close(ready[1]);
    char ch;
    struct pollfd p = {ready[0], POLLIN, 0};
    ck_assert_int_eq(poll(&p, 1, 10000), 1);
    ck_assert_int_eq(read(ready[0], &ch, 1), 1);
    close(ready[0]);
    /* While it holds the lock, a claim waits for it, then times out:
     * proof that the child is inside its transaction. */
    sqclaim_store *quick = open_at(db, 200);
    sqclaim_lease l;
    int64_t t0 = now_ms();
    sqclaim_rc rc = sqclaim_claim(quick, "251019-bbb", "BOT2", 0, &l, NULL);
    ck_assert_msg(rc == SQCLAIM_ETIMEOUT, "claim during the lock: %s %s", sqclaim_rcname(rc),
                  sqclaim_errmsg(quick));
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(quick), db));
    ck_assert_int_ge(now_ms() - t0, 150);
    sqclaim_close(quick);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    /* Its transaction is gone, the lock with it: the ghost never existed. */
    claim_above(s, "251019-bbb", "BOT2", first.fence, &l);
    sqclaim_counters cn;
    ck_assert_int_eq(sqclaim_counters_get(s, &cn), SQCLAIM_OK);
    ck_assert_int_eq(cn.cursor_state, SQCLAIM_COUNTER_MISSING);
    ck_assert_uint_eq(cn.fence, l.fence);
    char out[64];
    raw_text(db, "PRAGMA integrity_check", out, sizeof out);
    ck_assert_str_eq(out, "ok");
    raw_text(db, "SELECT count(*) FROM claims WHERE bot = 'GHOST'", out, sizeof out);
    ck_assert_str_eq(out, "0");
    sqclaim_close(s);
}
END_TEST

#define HAMMER_SQS   16
#define HAMMER_PROCS 4

static void hammer_child(int id, int prog)
{
    char names[HAMMER_SQS][32];
    const char *sqs[HAMMER_SQS];
    for (int i = 0; i < HAMMER_SQS; i++) {
        snprintf(names[i], sizeof names[i], "251019-k%02d", (i + id) % HAMMER_SQS);
        sqs[i] = names[i];
    }
    sqclaim_store *s = NULL;
    if (sqclaim_open(NULL, &s) != SQCLAIM_OK) {
        fprintf(stderr, "hammer %d: open: %s\n", id, sqclaim_errmsg(s));
        _exit(30);
    }
    char bot[16];
    snprintf(bot, sizeof bot, "K%d", id);
    unsigned char tag = (unsigned char)id;
    for (;;) {
        sqclaim_lease lease;
        sqclaim_rc rc = sqclaim_claim_first(s, sqs, HAMMER_SQS, bot, 1000, &lease, NULL);
        if (rc != SQCLAIM_OK) {
            if (rc < 0)
                fprintf(stderr, "hammer %d: claim: %s\n", id, sqclaim_errmsg(s));
            continue;
        }
        sqclaim_rows rows;
        if (sqclaim_reserve_rows(s, &lease, 3, 1, &rows) == SQCLAIM_OK)
            sqclaim_finish_rows(s, &lease);
        /* One cycle in four keeps its claim (to expire on its own), so
         * killed holders leave some behind. */
        if (lease.fence % 4)
            sqclaim_release(s, &lease);
        if (write(prog, &tag, 1) < 0 && errno != EAGAIN)
            _exit(31);
    }
}

START_TEST(kill_nine_at_random_leaves_a_consistent_store)
{
    int prog[2];
    ck_assert_int_eq(pipe(prog), 0);
    pid_t pids[HAMMER_PROCS];
    for (int i = 0; i < HAMMER_PROCS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            close(prog[0]);
            fcntl(prog[1], F_SETFL, O_NONBLOCK);
            hammer_child(i, prog[1]);
        }
    }
    close(prog[1]);
    /* Wait until each has done some cycles, then kill them one by one
     * while they run (most kills land inside a transaction: the loop does
     * nothing else). */
    int seen[HAMMER_PROCS] = {0};
    int64_t deadline = now_ms() + 20000;
    bool all = false;
    while (!all && now_ms() < deadline) {
        unsigned char tag;
        struct pollfd p = {prog[0], POLLIN, 0};
        if (poll(&p, 1, 100) == 1 && read(prog[0], &tag, 1) == 1 && tag < HAMMER_PROCS)
            seen[tag]++;
        all = true;
        for (int i = 0; i < HAMMER_PROCS; i++)
            all = all && seen[i] >= 10;
    }
    ck_assert_msg(all, "the bot processes made no progress: %d %d %d %d cycles", seen[0], seen[1],
                  seen[2], seen[3]);
    srand((unsigned)now_ms());
    for (int i = 0; i < HAMMER_PROCS; i++) {
        struct timespec ts = {0, (long)(1000000 + rand() % 20000000)}; /* kill timing, not sync */
        nanosleep(&ts, NULL);
        ck_assert_int_eq(kill(pids[i], SIGKILL), 0);
    }
    for (int i = 0; i < HAMMER_PROCS; i++) {
        int st = 0;
        ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
        ck_assert_msg(WIFSIGNALED(st), "bot %d exited by itself: %d", i, st);
    }
    close(prog[0]);
    char out[64];
    raw_text(db, "PRAGMA integrity_check", out, sizeof out);
    ck_assert_str_eq(out, "ok");
    sqclaim_store *s = open_at(db, 5000);
    sqclaim_status *st = NULL;
    ck_assert_int_eq(sqclaim_status_get(s, &st), SQCLAIM_OK);
    for (size_t i = 0; i < st->nreservations; i++)
        for (size_t j = i + 1; j < st->nreservations; j++) {
            const sqclaim_reservation_info *a = &st->reservations[i], *b = &st->reservations[j];
            ck_assert(a->start_row + a->row_count <= b->start_row ||
                      b->start_row + b->row_count <= a->start_row);
        }
    sqclaim_status_free(st);
    sqclaim_counters before;
    ck_assert_int_eq(sqclaim_counters_get(s, &before), SQCLAIM_OK);
    ck_assert_int_eq(before.fence_state, SQCLAIM_COUNTER_OK);
    /* The dead bots' claims expire on their own (TTL 1 s). */
    deadline = now_ms() + 10000;
    size_t left = 1;
    while (left && now_ms() < deadline) {
        ck_assert_int_eq(sqclaim_status_get(s, &st), SQCLAIM_OK);
        left = st->nclaims + st->nreservations;
        sqclaim_status_free(st);
        if (left) {
            struct timespec ts = {0, 20000000};
            nanosleep(&ts, NULL);
        }
    }
    ck_assert_msg(left == 0, "claims of killed bots did not expire");
    for (int i = 0; i < HAMMER_SQS; i++) {
        char sq[32];
        snprintf(sq, sizeof sq, "251019-k%02d", i);
        sqclaim_lease l;
        claim_above(s, sq, "AFTER", before.fence, &l);
        reserve_from(s, &l, 2, 1, before.row_cursor);
    }
    sqclaim_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Records of a previous boot; lost counters                            */

START_TEST(records_of_a_previous_boot_are_expired)
{
    sqclaim_lease a;
    sqclaim_rows r1;
    sqclaim_store *s = open_with_rows("251019-boot", &a, &r1);
    sqclaim_close(s);
    /* As if the machine had rebooted: the file says another boot wrote it
     * (its expiry instants are of that boot's clock). */
    raw_sql(db, "UPDATE meta SET value = 'a-previous-boot' WHERE name = 'sqclaim:bootid'");
    s = open_at(db, 5000);
    sqclaim_status *st = NULL;
    ck_assert_int_eq(sqclaim_status_get(s, &st), SQCLAIM_OK);
    ck_assert_uint_eq(st->nclaims, 0);
    ck_assert_uint_eq(st->nreservations, 0);
    sqclaim_status_free(st);
    sqclaim_lease b;
    claim_above(s, "251019-boot", "BOT2", a.fence, &b); /* counters survive the reboot */
    reserve_from(s, &b, 5, 51, r1.start_row + 5);
    ck_assert_int_eq(sqclaim_renew(s, &a, 0), SQCLAIM_LOST);
    sqclaim_close(s);
}
END_TEST

START_TEST(lost_counters_are_rebuilt_from_live_records)
{
    sqclaim_lease a;
    sqclaim_rows r1;
    sqclaim_store *s = open_with_rows("251019-c1", &a, &r1);
    ck_assert_uint_eq(r1.start_row, 51);
    raw_sql(db, "DELETE FROM meta WHERE name IN ('sqclaim:fence', 'sqclaim:rowcursor')");
    sqclaim_counters cn;
    ck_assert_int_eq(sqclaim_counters_get(s, &cn), SQCLAIM_OK);
    ck_assert_int_eq(cn.fence_state, SQCLAIM_COUNTER_MISSING);
    ck_assert_int_eq(cn.cursor_state, SQCLAIM_COUNTER_MISSING);
    sqclaim_lease b;
    claim_above(s, "251019-c2", "BOT2", a.fence, &b);
    reserve_from(s, &b, 5, 1, 56); /* stepped over the live 51-55 */
    /* A counter holding junk is an error naming it, not a guess. */
    raw_sql(db, "UPDATE meta SET value = 'junk' WHERE name = 'sqclaim:rowcursor'");
    ck_assert_int_eq(sqclaim_finish_rows(s, &b), SQCLAIM_OK);
    sqclaim_rows r2;
    ck_assert_int_eq(sqclaim_reserve_rows(s, &b, 5, 1, &r2), SQCLAIM_ESERVER);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "sqclaim:rowcursor"));
    ck_assert_int_eq(sqclaim_counters_get(s, &cn), SQCLAIM_OK);
    ck_assert_int_eq(cn.cursor_state, SQCLAIM_COUNTER_INVALID);
    sqclaim_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Files that are refused, and never written                            */

static void expect_refused(const char *path, const char *what)
{
    size_t n0 = 0, n1 = 0;
    char *before = slurp(path, &n0);
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.sqlite_path = path;
    sqclaim_store *s = NULL;
    sqclaim_rc rc = sqclaim_open(&o, &s);
    if (rc == SQCLAIM_OK) { /* a damaged page may only show when read */
        sqclaim_lease l;
        rc = sqclaim_claim(s, "251019-x", "BOT1", 0, &l, NULL);
        if (rc == SQCLAIM_OK || rc == SQCLAIM_BUSY) {
            sqclaim_status *st = NULL;
            rc = sqclaim_status_get(s, &st);
            sqclaim_status_free(st);
        }
    }
    ck_assert_msg(rc == SQCLAIM_ECONFIG || rc == SQCLAIM_ESERVER, "%s: %s %s", what,
                  sqclaim_rcname(rc), sqclaim_errmsg(s));
    ck_assert_msg(strstr(sqclaim_errmsg(s), path), "%s: message does not name the file: %s", what,
                  sqclaim_errmsg(s));
    sqclaim_close(s);
    char *after = slurp(path, &n1);
    ck_assert_msg(n0 == n1 && memcmp(before, after, n0) == 0, "%s: the file was changed", what);
    free(before);
    free(after);
}

START_TEST(corrupt_and_foreign_files_are_refused_untouched)
{
    char path[300];
    snprintf(path, sizeof path, "%s/text.db", dir);
    spit(path, "these are my notes, not a database\n", 35);
    expect_refused(path, "a text file");

    snprintf(path, sizeof path, "%s/foreign.db", dir);
    {
        sqlite3 *h = NULL;
        ck_assert_int_eq(sqlite3_open(path, &h), SQLITE_OK);
        ck_assert_int_eq(sqlite3_exec(h,
                                      "CREATE TABLE invoices(id, amount);"
                                      "INSERT INTO invoices VALUES(1, 99);",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(h);
    }
    expect_refused(path, "another application's SQLite database");

    snprintf(path, sizeof path, "%s/otherapp.db", dir);
    {
        sqlite3 *h = NULL;
        ck_assert_int_eq(sqlite3_open(path, &h), SQLITE_OK);
        ck_assert_int_eq(sqlite3_exec(h, "PRAGMA application_id = 42;", NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(h);
    }
    expect_refused(path, "a database with another application id");

    /* An sqclaim database whose pages were damaged. */
    snprintf(path, sizeof path, "%s/damaged.db", dir);
    sqclaim_store *s = open_at(path, 5000);
    for (int i = 0; i < 40; i++) {
        char sq[32];
        snprintf(sq, sizeof sq, "251019-d%02d", i);
        sqclaim_lease l;
        claim_ok(s, sq, "BOT1", &l);
    }
    sqclaim_close(s); /* the last close checkpoints the WAL into the file */
    size_t n = 0;
    char *bytes = slurp(path, &n);
    ck_assert_uint_ge(n, 3 * 4096);
    for (size_t i = 4096; i < n; i++) /* every page but the header's */
        bytes[i] = (char)0xA5;
    spit(path, bytes, n);
    free(bytes);
    expect_refused(path, "a damaged sqclaim database");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Permissions and the default path                                     */

START_TEST(new_files_are_private)
{
    mode_t old = umask(0);
    char path[400], sub[300];
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    snprintf(path, sizeof path, "%s/claims.db", sub);
    sqclaim_store *s = open_at(path, 5000);
    sqclaim_lease l;
    claim_ok(s, "251019-p", "BOT1", &l);
    umask(old);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    char wal[420];
    snprintf(wal, sizeof wal, "%s-wal", path);
    ck_assert_int_eq(stat(wal, &st), 0); /* WAL mode, open: the WAL exists */
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq(stat(sub, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0700);
    snprintf(sub, sizeof sub, "%s/a", dir);
    ck_assert_int_eq(stat(sub, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0700);
    sqclaim_close(s);
}
END_TEST

static void expect_default_at(const char *want)
{
    sqclaim_store *s = NULL;
    ck_assert_int_eq(sqclaim_open(NULL, &s), SQCLAIM_OK);
    ck_assert_str_eq(sqclaim_adapter(s), "sqlite");
    ck_assert_int_eq(sqclaim_ping(s), SQCLAIM_OK);
    sqclaim_close(s);
    struct stat st;
    ck_assert_msg(stat(want, &st) == 0, "no database at %s", want);
}

START_TEST(default_path)
{
    char xdg[300], home[300], want[600];
    snprintf(xdg, sizeof xdg, "%s/state", dir);
    snprintf(home, sizeof home, "%s/home", dir);
    unsetenv("SQCLAIM_DB");
    setenv("XDG_STATE_HOME", xdg, 1);
    setenv("HOME", home, 1);
    snprintf(want, sizeof want, "%s/sqclaim/claims.db", xdg);
    expect_default_at(want);
    unsetenv("XDG_STATE_HOME");
    snprintf(want, sizeof want, "%s/.local/state/sqclaim/claims.db", home);
    expect_default_at(want);
    setenv("XDG_STATE_HOME", "relative/state", 1); /* the XDG spec: ignored */
    expect_default_at(want);
    /* SQCLAIM_DB wins over both; the option over the variable. */
    snprintf(want, sizeof want, "%s/env.db", dir);
    setenv("SQCLAIM_DB", want, 1);
    expect_default_at(want);
    char opt[300];
    snprintf(opt, sizeof opt, "%s/option.db", dir);
    sqclaim_store *s = open_at(opt, 1000);
    sqclaim_close(s);
    struct stat st;
    ck_assert_int_eq(stat(opt, &st), 0);
    /* No home, no variable: a clear configuration error. */
    unsetenv("SQCLAIM_DB");
    unsetenv("XDG_STATE_HOME");
    unsetenv("HOME");
    ck_assert_int_eq(sqclaim_open(NULL, &s), SQCLAIM_ECONFIG);
    ck_assert_ptr_nonnull(strstr(sqclaim_errmsg(s), "SQCLAIM_DB"));
    sqclaim_close(s);
    /* memory is there by name, and keeps its injected clock. */
    setenv("SQCLAIM_ADAPTER", "memory", 1);
    ck_assert_int_eq(sqclaim_open(NULL, &s), SQCLAIM_OK);
    ck_assert_str_eq(sqclaim_adapter(s), "memory");
    sqclaim_close(s);
}
END_TEST

static int64_t fake_now(void *ctx)
{
    (void)ctx;
    return 42;
}

START_TEST(an_injected_clock_is_refused)
{
    /* A file shared by processes keeps one clock: the host's. */
    static const sqclaim_clock fake = {fake_now, NULL};
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.sqlite_path = db;
    o.clock = &fake;
    sqclaim_store *s = NULL;
    ck_assert_int_eq(sqclaim_open(&o, &s), SQCLAIM_EUNSUPPORTED);
    sqclaim_close(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The CLI: three sqclaim processes at once, no backend named           */

START_TEST(cli_three_processes_and_status)
{
    char dbenv[300];
    snprintf(dbenv, sizeof dbenv, "SQCLAIM_DB=%s", db);
    /* SQCLAIM_ADAPTER empty: unset for sqclaim, so the default applies. */
    const char *env[] = {"SQCLAIM_ADAPTER=", dbenv, NULL};
    cr_opts o = {.env = env};
    cr_gate gate;
    ck_assert_int_eq(cr_gate_open(&gate), 0);
    cr_proc *p[3];
    char bots[3][8];
    for (int i = 0; i < 3; i++) {
        snprintf(bots[i], sizeof bots[i], "BOT%d", i + 1);
        const char *args[] = {
            "claim-first", "251019-164rmb", "251019-165abc", "251019-166xyz", "--bot", bots[i],
            NULL};
        p[i] = cr_spawn(&o, args, &gate);
        ck_assert_ptr_nonnull(p[i]);
    }
    cr_gate_release(&gate);
    char leases[3][400];
    for (int i = 0; i < 3; i++) {
        cr_result r;
        cr_wait(p[i], &r);
        ck_assert_msg(r.code == 0, "claim-first %d: exit %d: %s", i, r.code, r.err);
        ck_assert_msg(strstr(r.err, "memory") == NULL, "a note about memory: %s", r.err);
        snprintf(leases[i], sizeof leases[i], "%s", r.out);
        cr_free(&r);
    }
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++) {
            char a[32] = "", b[32] = "";
            sscanf(strstr(leases[i], "\"sq\":\"") + 6, "%31[^\"]", a);
            sscanf(strstr(leases[j], "\"sq\":\"") + 6, "%31[^\"]", b);
            ck_assert_msg(strcmp(a, b) != 0, "two processes claimed %s", a);
        }
    /* status: the seed's JSON, three claims, no token. */
    cr_result r;
    cr_runv(&r, &o, "status", NULL);
    ck_assert_int_eq(r.code, 0);
    static const char head[] = "{\"success\":true,\"sqClaims\":{";
    ck_assert_msg(strncmp(r.out, head, sizeof head - 1) == 0, "%s", r.out);
    for (int i = 0; i < 3; i++) {
        char want[32];
        snprintf(want, sizeof want, "\"botId\":\"BOT%d\"", i + 1);
        ck_assert_msg(strstr(r.out, want), "status lacks %s: %s", want, r.out);
    }
    ck_assert(strstr(r.out, "token") == NULL);
    ck_assert(strstr(r.out, "\"kvConfigured\":true}") != NULL);
    cr_free(&r);
    /* Release one from another process: status shows two. */
    cr_opts in = o;
    in.input = leases[0];
    cr_runv(&r, &in, "release", NULL);
    ck_assert_msg(r.code == 0, "release: %d %s", r.code, r.err);
    cr_free(&r);
    cr_runv(&r, &o, "status", NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert(strstr(r.out, "\"botId\":\"BOT1\"") == NULL);
    ck_assert(strstr(r.out, "\"botId\":\"BOT2\"") != NULL);
    cr_free(&r);
    /* An explicit memory still says its note. */
    cr_runv(&r, &o, "--adapter", "memory", "claim", "251019-164rmb", "--bot", "BOT9", NULL);
    ck_assert_int_eq(r.code, 0);
    ck_assert_msg(strstr(r.err, "memory backend keeps claims"), "%s", r.err);
    cr_free(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *su = suite_create("sqlite");
    TCASE_ADD(
        su,
        ((tcase_spec){.name = "processes", .timeout = 60, .setup = setup, .teardown = teardown}),
        three_bot_processes_share_the_default, kill_holding_the_write_lock,
        kill_nine_at_random_leaves_a_consistent_store, cli_three_processes_and_status);
    TCASE_ADD(su,
              ((tcase_spec){.name = "file", .timeout = 30, .setup = setup, .teardown = teardown}),
              records_of_a_previous_boot_are_expired, lost_counters_are_rebuilt_from_live_records,
              corrupt_and_foreign_files_are_refused_untouched, new_files_are_private, default_path,
              an_injected_clock_is_refused);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
