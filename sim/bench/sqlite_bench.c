/* sqlite_bench.c — sqclaim-sqlite-bench: claim+release pairs per second
 * and their latency on the sqlite backend, for 1 and N processes (fork),
 * beside a baseline that runs the same transaction shape with raw SQLite
 * calls on a file with the same settings (WAL, synchronous=FULL):
 *
 *   claim:   BEGIN IMMEDIATE; SELECT; INSERT OR REPLACE; COMMIT
 *   release: BEGIN IMMEDIATE; SELECT; DELETE; COMMIT
 *
 * with statements prepared once (the raw best case).  A program, not a
 * test: it prints numbers (docs/performance.md).
 *
 *   sqclaim-sqlite-bench [--seconds S] [--procs 1,4] [--rounds R] [--dir DIR]
 *
 * Each process count runs R rounds, sqclaim and raw alternating which goes
 * first, so both see the disk at the same moments (an fsync costs what the
 * disk and its other users make it cost); each round prints its numbers and
 * ratio, then the median ratio. */
#include "sqclaim.h"
#include "util/squtil.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct lat {
    int64_t *v;
    size_t n, cap;
} lat;

static int lat_add(lat *l, int64_t x)
{
    int64_t *v = sq_grow(l->v, &l->cap, l->n, sizeof *v, 4096);
    if (!v)
        return -1;
    l->v = v;
    l->v[l->n++] = x;
    return 0;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* ------------------------------------------------------------------ */
/* One process's loop: pairs until the deadline, latencies to `out`.     */

/* BEGIN IMMEDIATE, then the read of the live claim of sq (sel, bound
 * ?1 sq, ?2 now) as the backend does first.  SQLITE_OK or BEGIN's error. */
static int begin_and_read(sqlite3 *db, sqlite3_stmt *sel, const char *sq, int64_t now)
{
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(sel, 1, sq, -1, SQLITE_STATIC);
    sqlite3_bind_int64(sel, 2, now);
    sqlite3_step(sel);
    sqlite3_reset(sel);
    return SQLITE_OK;
}

/* Step the bound write st, then COMMIT.  SQLITE_OK or the error. */
static int write_and_commit(sqlite3 *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    sqlite3_reset(st);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return rc;
}

static int run_sqclaim(const char *path, int id, int64_t until, lat *out)
{
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.adapter = "sqlite";
    o.sqlite_path = path;
    o.timeout_ms = 10000;
    sqclaim_store *s = NULL;
    if (sqclaim_open(&o, &s) != SQCLAIM_OK) {
        fprintf(stderr, "sqclaim-sqlite-bench: open: %s\n", sqclaim_errmsg(s));
        sqclaim_close(s);
        return -1;
    }
    char sq[64];
    for (uint64_t i = 0; now_ns() < until; i++) {
        snprintf(sq, sizeof sq, "bench-p%d-%02" PRIu64, id, i % 64);
        int64_t t0 = now_ns();
        sqclaim_lease lease;
        sqclaim_rc rc = sqclaim_claim(s, sq, "BENCH", 60000, &lease, NULL);
        if (rc == SQCLAIM_OK)
            rc = sqclaim_release(s, &lease);
        if (rc != SQCLAIM_OK) {
            fprintf(stderr, "sqclaim-sqlite-bench: %s\n", sqclaim_errmsg(s));
            sqclaim_close(s);
            return -1;
        }
        if (lat_add(out, now_ns() - t0) != 0)
            break;
    }
    sqclaim_close(s);
    return 0;
}

static int raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "sqclaim-sqlite-bench: raw: %s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
    return rc;
}

static int run_raw(const char *path, int id, int64_t until, lat *out)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        return -1;
    sqlite3_busy_timeout(db, 10000);
    if (raw_exec(db, "PRAGMA journal_mode=WAL") || raw_exec(db, "PRAGMA synchronous=FULL")) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_stmt *sel = NULL, *ins = NULL, *del = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT token FROM claims WHERE sq = ?1 AND expires_ns >= ?2",
                                -1, &sel, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT OR REPLACE INTO claims(sq, bot, token, fence, ts, "
                                "expires_ns, value) VALUES(?1, 'BENCH', ?2, ?3, "
                                "'2025-10-26T12:34:56.789Z', ?4, '{}')",
                                -1, &ins, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "DELETE FROM claims WHERE sq = ?1", -1, &del, NULL);
    char sq[64], token[40];
    for (uint64_t i = 0; rc == SQLITE_OK && now_ns() < until; i++) {
        snprintf(sq, sizeof sq, "bench-p%d-%02" PRIu64, id, i % 64);
        snprintf(token, sizeof token, "%032" PRIx64, i);
        int64_t t0 = now_ns();
        /* claim */
        rc = begin_and_read(db, sel, sq, t0);
        if (rc != SQLITE_OK)
            break;
        sqlite3_bind_text(ins, 1, sq, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, token, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 3, (int64_t)i + 1);
        sqlite3_bind_int64(ins, 4, t0 + 60000000000LL);
        rc = write_and_commit(db, ins);
        if (rc != SQLITE_OK)
            break;
        /* release */
        rc = begin_and_read(db, sel, sq, t0);
        if (rc != SQLITE_OK)
            break;
        sqlite3_bind_text(del, 1, sq, -1, SQLITE_STATIC);
        rc = write_and_commit(db, del);
        if (rc == SQLITE_OK && lat_add(out, now_ns() - t0) != 0)
            break;
    }
    if (rc != SQLITE_OK)
        fprintf(stderr, "sqclaim-sqlite-bench: raw: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    sqlite3_finalize(del);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* N processes at once; the parent merges their latencies.             */

typedef struct result {
    double pairs_per_s;
    double p50_us, p99_us;
    size_t n;
} result;

static int run_procs(bool raw, const char *path, int procs, double seconds, result *res)
{
    int go[2];
    if (pipe(go) != 0)
        return -1;
    int fds[64];
    pid_t pids[64];
    for (int p = 0; p < procs; p++) {
        int out[2];
        if (pipe(out) != 0)
            return -1;
        pids[p] = fork();
        if (pids[p] < 0)
            return -1;
        if (pids[p] == 0) {
            close(go[1]);
            close(out[0]);
            char ch;
            if (read(go[0], &ch, 1) != 1)
                _exit(2);
            lat l = {0};
            int64_t until = now_ns() + (int64_t)(seconds * 1e9);
            int rc = raw ? run_raw(path, p, until, &l) : run_sqclaim(path, p, until, &l);
            uint64_t n = l.n;
            FILE *f = fdopen(out[1], "w");
            if (!f || fwrite(&n, sizeof n, 1, f) != 1 ||
                (n && fwrite(l.v, sizeof *l.v, l.n, f) != l.n) || fclose(f) != 0)
                _exit(3);
            _exit(rc == 0 ? 0 : 1);
        }
        close(out[1]);
        fds[p] = out[0];
    }
    close(go[0]);
    for (int p = 0; p < procs; p++)
        if (write(go[1], "G", 1) != 1)
            return -1;
    close(go[1]);
    lat all = {0};
    int failed = 0;
    for (int p = 0; p < procs; p++) {
        FILE *f = fdopen(fds[p], "r");
        uint64_t n = 0;
        if (!f || fread(&n, sizeof n, 1, f) != 1) {
            failed = 1;
        } else {
            for (uint64_t i = 0; i < n; i++) {
                int64_t x;
                if (fread(&x, sizeof x, 1, f) != 1 || lat_add(&all, x) != 0) {
                    failed = 1;
                    break;
                }
            }
        }
        if (f)
            fclose(f);
        int st = 0;
        waitpid(pids[p], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed = 1;
    }
    if (failed || all.n == 0) {
        free(all.v);
        return -1;
    }
    qsort(all.v, all.n, sizeof *all.v, cmp64);
    res->n = all.n;
    res->pairs_per_s = (double)all.n / seconds;
    res->p50_us = (double)all.v[all.n / 2] / 1000.0;
    res->p99_us = (double)all.v[(all.n * 99) / 100] / 1000.0;
    free(all.v);
    return 0;
}

static int make_raw_file(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    int rc = raw_exec(db, "PRAGMA journal_mode=WAL");
    if (!rc)
        rc = raw_exec(db, "CREATE TABLE IF NOT EXISTS claims(sq TEXT PRIMARY KEY NOT NULL, bot "
                          "TEXT NOT NULL, token TEXT NOT NULL, fence INTEGER NOT NULL, ts TEXT NOT "
                          "NULL, expires_ns INTEGER NOT NULL, value TEXT NOT NULL);"
                          "CREATE INDEX IF NOT EXISTS claims_expiry ON claims(expires_ns);");
    sqlite3_close(db);
    return rc ? -1 : 0;
}

int main(int argc, char **argv)
{
    double seconds = 2.0;
    const char *procs_arg = "1,4";
    const char *dir_arg = NULL;
    int rounds = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--procs") == 0 && i + 1 < argc)
            procs_arg = argv[++i];
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir_arg = argv[++i];
        else {
            fprintf(stderr, "usage: sqclaim-sqlite-bench [--seconds S] [--procs 1,4] [--rounds R] "
                            "[--dir DIR]\n");
            return 2;
        }
    }
    if (rounds < 1 || rounds > 99) {
        fprintf(stderr, "sqclaim-sqlite-bench: --rounds must be 1 to 99\n");
        return 2;
    }
    if (seconds <= 0 || seconds > 600) {
        fprintf(stderr, "sqclaim-sqlite-bench: --seconds must be in (0, 600]\n");
        return 2;
    }
    char dir[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/sqclaim-bench-XXXXXX",
             dir_arg       ? dir_arg
             : tmp && *tmp ? tmp
                           : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "sqclaim-sqlite-bench: %s: %s\n", dir, strerror(errno));
        return 2;
    }
    char lib_db[300], raw_db[300];
    snprintf(lib_db, sizeof lib_db, "%s/sqclaim.db", dir);
    snprintf(raw_db, sizeof raw_db, "%s/raw.db", dir);
    if (make_raw_file(raw_db) != 0) {
        fprintf(stderr, "sqclaim-sqlite-bench: cannot create %s\n", raw_db);
        return 2;
    }
    struct statfs fs;
    long fstype = statfs(dir, &fs) == 0 ? (long)fs.f_type : 0;
    printf("sqclaim-sqlite-bench: SQLite %s, files in %s (statfs type 0x%lx), WAL, "
           "synchronous=FULL, %.1f s per run, %ld CPUs\n",
           sqlite3_libversion(), dir, fstype, seconds, sysconf(_SC_NPROCESSORS_ONLN));
    printf("%-6s %-26s %12s %10s %10s %8s\n", "procs", "what", "pairs/s", "p50 us", "p99 us",
           "pairs");
    int status = 0;
    char list[64];
    snprintf(list, sizeof list, "%s", procs_arg);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int procs = atoi(t);
        if (procs < 1 || procs > 64) {
            fprintf(stderr, "sqclaim-sqlite-bench: --procs: 1 to 64 each\n");
            status = 2;
            break;
        }
        double ratios[99];
        for (int r = 0; r < rounds; r++) {
            result a, b;
            bool raw_first = r % 2 == 1;
            int rc = raw_first ? run_procs(true, raw_db, procs, seconds, &b)
                               : run_procs(false, lib_db, procs, seconds, &a);
            if (rc == 0)
                rc = raw_first ? run_procs(false, lib_db, procs, seconds, &a)
                               : run_procs(true, raw_db, procs, seconds, &b);
            if (rc != 0) {
                fprintf(stderr, "sqclaim-sqlite-bench: a run failed\n");
                status = 1;
                break;
            }
            ratios[r] = a.pairs_per_s / b.pairs_per_s;
            printf("%-6d %-26s %12.0f %10.1f %10.1f %8zu\n", procs, "sqclaim claim+release",
                   a.pairs_per_s, a.p50_us, a.p99_us, a.n);
            printf("%-6d %-26s %12.0f %10.1f %10.1f %8zu\n", procs, "raw SQLite, same shape",
                   b.pairs_per_s, b.p50_us, b.p99_us, b.n);
            printf("%-6d %-26s %12.2f   (round %d)\n", procs, "ratio sqclaim / raw", ratios[r],
                   r + 1);
            fflush(stdout);
        }
        if (status)
            break;
        qsort(ratios, (size_t)rounds, sizeof ratios[0], cmpd);
        printf("%-6d %-26s %12.2f   (median of %d rounds)\n", procs, "RATIO sqclaim / raw",
               ratios[rounds / 2], rounds);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "sqclaim-sqlite-bench: could not remove %s\n", dir);
    return status;
}
