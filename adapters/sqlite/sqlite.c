/* sqlite.c — the `sqlite` backend: the claim protocol in one SQLite
 * database file, shared by every process and thread of one host.  The
 * default backend (docs/sqlite.md).
 *
 * Each handle opens its own connection.  Every protocol operation is ONE
 * transaction: BEGIN IMMEDIATE (the write lock, waited for up to
 * timeout_ms with SQLite's busy handler), the reads and writes of the Lua
 * script it mirrors (adapters/redisproto/scripts.h), COMMIT.  WAL mode and
 * synchronous=FULL: a committed operation survives a crash of the process
 * and of the machine; a process killed in the middle of a transaction
 * leaves nothing of it (SQLite rolls the WAL back), and its write lock
 * goes with it (a POSIX lock, released by the kernel).
 *
 * Time.  Expiry instants are CLOCK_MONOTONIC nanoseconds (the store clock
 * the core passes with every request, the clock of the leases' local
 * deadlines), shared by every process of the host.  CLOCK_MONOTONIC
 * restarts at boot, so the file also records the boot id
 * (/proc/sys/kernel/random/boot_id) of the boot that wrote its records:
 * the first transaction of a new boot deletes every claim and reservation
 * of the previous one (they count as expired), and reads made before that
 * show none.  The fencing counter and the row cursor never expire.
 *
 * Schema (application_id "SQC1", user_version 1):
 *   meta(name, value)        sqclaim:fence, sqclaim:rowcursor, sqclaim:bootid
 *   claims(sq, …, value)     value: the seed's JSON, as redis stores it
 *   reservations(sq, …, value)
 * A file that is not an SQLite database, or one with another application
 * id or foreign tables, is refused (ECONFIG, naming the file) and never
 * written to.
 */
#include "sqlite_int.h"
#include "util/squtil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* Network filesystems (statfs f_type), where SQLite's POSIX locks and the
 * WAL's shared memory do not coordinate processes of different hosts, and
 * are unreliable even on one. */
#define NFS_MAGIC   0x6969
#define SMB_MAGIC   0x517B
#define CIFS_MAGIC  0xFF534D42u
#define SMB2_MAGIC  0xFE534D42u
#define CEPH_MAGIC  0x00C36400
#define AFS_MAGIC   0x5346414F
#define V9FS_MAGIC  0x01021997
#define CODA_MAGIC  0x73757245
#define NCP_MAGIC   0x564c
#define GFS2_MAGIC  0x01161970
#define OCFS2_MAGIC 0x7461636f

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS claims("
    " sq TEXT PRIMARY KEY NOT NULL, bot TEXT NOT NULL, token TEXT NOT NULL,"
    " fence INTEGER NOT NULL, ts TEXT NOT NULL, expires_ns INTEGER NOT NULL,"
    " value TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS claims_expiry ON claims(expires_ns);"
    "CREATE TABLE IF NOT EXISTS reservations("
    " sq TEXT PRIMARY KEY NOT NULL, bot TEXT NOT NULL, token TEXT NOT NULL,"
    " fence INTEGER NOT NULL, start_row INTEGER NOT NULL, row_count INTEGER NOT NULL,"
    " ts TEXT NOT NULL, expires_ns INTEGER NOT NULL, value TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS reservations_start ON reservations(start_row);"
    "CREATE INDEX IF NOT EXISTS reservations_expiry ON reservations(expires_ns);";

/* ------------------------------------------------------------------ */
/* Errors                                                               */

sqclaim_rc sqlt_fail(sqlt_conn *c, int src, const char *what, sqb_err *err)
{
    const char *msg = c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(src);
    const char *path = c ? c->path : "?";
    switch (src & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        err->transient = true;
        return sqb_seterr(err, SQCLAIM_ETIMEOUT,
                          "sqlite %s: %s: the database stayed locked by another process for "
                          "more than %d ms (timeout_ms)",
                          path, what, c ? c->timeout_ms : 0);
    case SQLITE_NOTADB:
        return sqb_seterr(err, SQCLAIM_ECONFIG,
                          "sqlite %s is not an sqclaim database (not an SQLite file, or "
                          "encrypted): left untouched; point SQCLAIM_DB elsewhere or move it aside",
                          path);
    case SQLITE_CORRUPT:
        return sqb_seterr(err, SQCLAIM_ESERVER,
                          "sqlite %s is corrupt (%s: %s): nothing was changed; move it aside "
                          "(claims in it are lost; fences restart above the clock)",
                          path, what, msg);
    case SQLITE_NOMEM: return sqb_seterr(err, SQCLAIM_ENOMEM, "sqlite %s: out of memory", path);
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH: return sqb_seterr(err, SQCLAIM_EIO, "sqlite %s: %s: %s", path, what, msg);
    default: return sqb_seterr(err, SQCLAIM_ESERVER, "sqlite %s: %s: %s", path, what, msg);
    }
}

/* ------------------------------------------------------------------ */
/* Path, directory, file                                                */

int sqlt_default_path(const sqclaim_options *opts, char *out, size_t len, sqb_err *err)
{
    const char *p = opts && opts->sqlite_path && *opts->sqlite_path ? opts->sqlite_path : NULL;
    const char *from = "sqlite_path";
    if (!p) {
        p = sqb_getenv("SQCLAIM_DB");
        from = "$SQCLAIM_DB";
    }
    int n;
    if (p) {
        n = snprintf(out, len, "%s", p);
    } else {
        const char *xdg = sqb_getenv("XDG_STATE_HOME");
        const char *home = sqb_getenv("HOME");
        if (xdg && xdg[0] == '/') { /* the XDG spec: relative values are ignored */
            n = snprintf(out, len, "%s/sqclaim/claims.db", xdg);
            from = "$XDG_STATE_HOME";
        } else if (home && home[0] == '/') {
            n = snprintf(out, len, "%s/.local/state/sqclaim/claims.db", home);
            from = "$HOME";
        } else {
            sqb_seterr(err, SQCLAIM_ECONFIG,
                       "sqlite: no database path: set SQCLAIM_DB (or XDG_STATE_HOME or HOME)");
            return -1;
        }
    }
    if (n < 0 || (size_t)n >= len) {
        sqb_seterr(err, SQCLAIM_ECONFIG, "sqlite: the database path (from %s) is too long", from);
        return -1;
    }
    if (strncmp(out, "file:", 5) == 0 || strcmp(out, ":memory:") == 0) {
        sqb_seterr(err, SQCLAIM_ECONFIG,
                   "sqlite: \"%.64s\" (from %s) is not a file path; the database must be a file "
                   "every process can open (use the memory backend for one process)",
                   out, from);
        return -1;
    }
    return 0;
}

/* mkdir -p with 0700 for the directories it creates. */
static int make_dirs(const char *dir, sqb_err *err)
{
    char buf[PATH_MAX];
    sqb_strlcpy(buf, dir, sizeof buf);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
            sqb_seterr(err, SQCLAIM_ECONFIG, "sqlite: cannot create the directory %s: %s", buf,
                       strerror(errno));
            return -1;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    return 0;
}

static const char *network_fs_name(long type)
{
    switch ((unsigned long)type & 0xffffffffUL) {
    case NFS_MAGIC: return "NFS";
    case SMB_MAGIC: return "SMB";
    case CIFS_MAGIC: return "CIFS";
    case SMB2_MAGIC: return "SMB2";
    case CEPH_MAGIC: return "CephFS";
    case AFS_MAGIC: return "AFS";
    case V9FS_MAGIC: return "9p";
    case CODA_MAGIC: return "Coda";
    case NCP_MAGIC: return "NCP";
    case GFS2_MAGIC: return "GFS2";
    case OCFS2_MAGIC: return "OCFS2";
    default: return NULL;
    }
}

/* Create the directory (0700) and the file (0600) if absent; refuse a
 * network filesystem and anything that is not a regular file. */
static int prepare_file(const char *path, sqb_err *err)
{
    char dir[PATH_MAX];
    sqb_strlcpy(dir, path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        sqb_strlcpy(dir, ".", sizeof dir);
    if (make_dirs(dir, err) != 0)
        return -1;
    struct statfs fs;
    if (statfs(dir, &fs) == 0) {
        const char *net = network_fs_name((long)fs.f_type);
        if (net) {
            sqb_seterr(err, SQCLAIM_ECONFIG,
                       "sqlite: %s is on a network filesystem (%s): SQLite's locks do not "
                       "coordinate processes there, so claims could be granted twice; refused. "
                       "Put the database on a local disk (SQCLAIM_DB), or use the redis backend "
                       "for bots on several hosts",
                       path, net);
            return -1;
        }
    }
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
        (void)fchmod(fd, 0600); /* whatever the umask */
        close(fd);
        return 0;
    }
    if (errno != EEXIST) {
        sqb_seterr(err, SQCLAIM_ECONFIG, "sqlite: cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        sqb_seterr(err, SQCLAIM_ECONFIG, "sqlite: cannot use %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        sqb_seterr(err, SQCLAIM_ECONFIG, "sqlite: %s is not a regular file", path);
        return -1;
    }
    return 0;
}

static int read_boot_id(char *out, size_t len)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (!f)
        return -1;
    char buf[64] = "";
    bool ok = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!ok || strlen(buf) < 8)
        return -1;
    sqb_strlcpy(out, buf, len);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Statements                                                           */

static int exec(sqlt_conn *c, const char *sql)
{
    return sqlite3_exec(c->db, sql, NULL, NULL, NULL);
}

/* Prepare a statement (per call: they are short, and preparing costs
 * microseconds beside a synchronous commit).  NULL with *rc on failure. */
static sqlite3_stmt *prep(sqlt_conn *c, const char *sql, int *rc)
{
    sqlite3_stmt *st = NULL;
    *rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    return *rc == SQLITE_OK ? st : NULL;
}

/* prep, with ?1 bound to the store clock `now` (the queries of what is
 * live). */
static sqlite3_stmt *prep_now(sqlt_conn *c, const char *sql, int64_t now, int *rc)
{
    sqlite3_stmt *st = prep(c, sql, rc);
    if (st)
        sqlite3_bind_int64(st, 1, now);
    return st;
}

/* Read a single integer of PRAGMA / SELECT.  SQLITE_OK and *v. */
static int query_int(sqlt_conn *c, const char *sql, int64_t *v)
{
    int rc;
    sqlite3_stmt *st = prep(c, sql, &rc);
    if (!st)
        return rc;
    rc = sqlite3_step(st);
    *v = 0;
    if (rc == SQLITE_ROW) {
        *v = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Open                                                                 */

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The busy handler: SQLite's own sleeps up to 100 ms between tries, so a
 * process that is unlucky a few times waits far longer than the work
 * takes (seconds at p99 with 4 processes).  Short sleeps with jitter
 * (50 us doubling to 2 ms), up to timeout_ms in all. */
static int busy_wait(void *ctx, int count)
{
    sqlt_conn *c = ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (count == 0)
        c->busy_since_ns = now;
    else if (now - c->busy_since_ns >= (int64_t)c->timeout_ms * 1000000)
        return 0;
    int64_t us = count < 6 ? 50LL << count : 2000;
    c->busy_rng = c->busy_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    us = us / 2 + (int64_t)((c->busy_rng >> 33) % (uint64_t)us);
    struct timespec d = {0, (long)(us * 1000)};
    nanosleep(&d, NULL);
    return 1;
}

static void set_busy(sqlt_conn *c)
{
    c->busy_rng = (uint64_t)(uintptr_t)c ^ (uint64_t)getpid() << 20;
    sqlite3_busy_handler(c->db, busy_wait, c);
}

/* check_or_init(): the file was empty and is initialised now (by us or by
 * another process): open it again. */
#define SQLT_REOPEN ((sqclaim_rc)100)

/* Check the file is ours (or empty, then make it ours).  Never writes to a
 * file that has tables or another application id. */
static sqclaim_rc check_or_init(sqlt_conn *c, sqb_err *err)
{
    int64_t app = 0, ver = 0, tables = 0;
    /* One read transaction: another process may be initialising it. */
    int rc = exec(c, "BEGIN");
    if (rc == SQLITE_OK)
        rc = query_int(c, "PRAGMA application_id", &app);
    if (rc == SQLITE_OK)
        rc = query_int(c, "PRAGMA user_version", &ver);
    if (rc == SQLITE_OK)
        rc = query_int(c, "SELECT count(*) FROM sqlite_master", &tables);
    if (rc != SQLITE_OK) {
        sqclaim_rc r = sqlt_fail(c, rc, "reading the header", err);
        sqlt_rollback(c);
        return r;
    }
    sqlt_rollback(c);
    if (app == SQLT_APPLICATION_ID) {
        if (ver != SQLT_SCHEMA_VERSION)
            return sqb_seterr(err, SQCLAIM_ECONFIG,
                              "sqlite %s has sqclaim schema version %" PRId64
                              ", this library reads version %d: left untouched",
                              c->path, ver, SQLT_SCHEMA_VERSION);
        return SQCLAIM_OK;
    }
    if (app != 0 || tables != 0)
        return sqb_seterr(err, SQCLAIM_ECONFIG,
                          "sqlite %s is not an sqclaim database (application_id %" PRId64
                          ", %" PRId64 " schema objects): left untouched; point SQCLAIM_DB "
                          "elsewhere or move it aside",
                          c->path, app, tables);
    /* Empty: initialise, under the write lock (another process may be
     * doing the same; the second finds it done).  The caller then opens a
     * fresh connection and switches to WAL. */
    rc = exec(c, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK)
        return sqlt_fail(c, rc, "initialising", err);
    rc = query_int(c, "PRAGMA application_id", &app);
    if (rc == SQLITE_OK)
        rc = query_int(c, "SELECT count(*) FROM sqlite_master", &tables);
    if (rc == SQLITE_OK && app == 0 && tables == 0) {
        rc = exec(c, schema_sql);
        if (rc == SQLITE_OK)
            rc = exec(c, "PRAGMA application_id=1397834545"); /* 0x53514331 */
        if (rc == SQLITE_OK)
            rc = exec(c, "PRAGMA user_version=1");
    }
    if (rc != SQLITE_OK) {
        exec(c, "ROLLBACK");
        return sqlt_fail(c, rc, "initialising", err);
    }
    rc = exec(c, "COMMIT");
    if (rc != SQLITE_OK) {
        exec(c, "ROLLBACK");
        return sqlt_fail(c, rc, "initialising", err);
    }
    if (app != 0 && app != SQLT_APPLICATION_ID)
        return sqb_seterr(err, SQCLAIM_ECONFIG,
                          "sqlite %s is not an sqclaim database: left untouched", c->path);
    return SQLT_REOPEN;
}

sqclaim_rc sqlt_open_path(const char *path, int timeout_ms, const sqclaim_clock *clock,
                          sqlt_conn **out, sqb_err *err)
{
    *out = NULL;
    sqlt_conn *c = calloc(1, sizeof *c);
    if (!c)
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
    sqb_strlcpy(c->path, path, sizeof c->path);
    c->timeout_ms = timeout_ms;
    c->clock = *clock;
    if (read_boot_id(c->boot_id, sizeof c->boot_id) != 0) {
        free(c);
        return sqb_seterr(err, SQCLAIM_ECONFIG,
                          "sqlite: cannot read /proc/sys/kernel/random/boot_id: without it "
                          "claims of an earlier boot cannot be told apart");
    }
    if (prepare_file(path, err) != 0) {
        free(c);
        return err->rc;
    }
    /* Opening a file that other processes open at the same moment: the
     * first initialises it (schema, then WAL).  Switching to WAL takes an
     * exclusive lock while holding a shared one, so two processes
     * switching at once wait for each other until their busy timeouts: a
     * switch that is refused is retried on a fresh connection after a
     * short random pause, until timeout_ms (at least 2 s) has passed. */
    int64_t deadline = monotonic_ns() + (int64_t)(timeout_ms > 2000 ? timeout_ms : 2000) * 1000000;
    sqclaim_rc r = SQCLAIM_OK;
    for (int attempt = 0;; attempt++) {
        if (c->db) {
            sqlite3_close_v2(c->db);
            c->db = NULL;
        }
        int rc = sqlite3_open_v2(
            path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW,
            NULL);
        if (rc != SQLITE_OK) {
            r = sqlt_fail(c, rc, "opening", err);
            break;
        }
        sqlite3_extended_result_codes(c->db, 0);
        set_busy(c);
        r = check_or_init(c, err);
        if (r == SQLT_REOPEN && attempt < 50)
            continue; /* initialised just now (by us or another process) */
        if (r == SQLT_REOPEN)
            r = sqb_seterr(err, SQCLAIM_ECONFIG, "sqlite %s: could not initialise it", path);
        if (r != SQCLAIM_OK)
            break;
        /* WAL is recorded in the file (a no-op once it is); synchronous is
         * per connection. */
        c->timeout_ms = 50;
        rc = exec(c, "PRAGMA journal_mode=WAL");
        c->timeout_ms = timeout_ms;
        if ((rc & 0xff) == SQLITE_BUSY && monotonic_ns() < deadline) {
            struct timespec d = {0, (long)(1000000 + (c->busy_rng >> 40) % 20000000)};
            nanosleep(&d, NULL);
            continue;
        }
        if (rc == SQLITE_OK)
            rc = exec(c, "PRAGMA synchronous=FULL");
        if (rc != SQLITE_OK)
            r = sqlt_fail(c, rc, "switching to WAL mode", err);
        break;
    }
    if (r != SQCLAIM_OK) {
        if (r == SQCLAIM_EIO)
            r = err->rc = SQCLAIM_ECONFIG;
        sqlt_close(c);
        return r;
    }
    *out = c;
    return SQCLAIM_OK;
}

void sqlt_close(sqlt_conn *c)
{
    if (!c)
        return;
    if (c->db)
        sqlite3_close_v2(c->db);
    free(c);
}

/* ------------------------------------------------------------------ */
/* Transactions                                                         */

/* Is the file's boot id ours?  SQLITE_OK and *same. */
static int boot_same(sqlt_conn *c, bool *same)
{
    int rc;
    sqlite3_stmt *st = prep(c, "SELECT value FROM meta WHERE name='" SQLT_BOOT_KEY "'", &rc);
    if (!st)
        return rc;
    rc = sqlite3_step(st);
    *same = false;
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        *same = v && strcmp((const char *)v, c->boot_id) == 0;
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

sqclaim_rc sqlt_begin(sqlt_conn *c, sqb_err *err)
{
    int rc = exec(c, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK)
        return sqlt_fail(c, rc, "starting a transaction", err);
    bool same = false;
    rc = boot_same(c, &same);
    if (rc == SQLITE_OK && !same) {
        /* The first transaction of this boot: the records of the previous
         * one have expired (their instants are another boot's clock). */
        rc = exec(c, "DELETE FROM claims; DELETE FROM reservations;");
        if (rc == SQLITE_OK) {
            sqlite3_stmt *st = prep(
                c, "INSERT OR REPLACE INTO meta(name, value) VALUES('" SQLT_BOOT_KEY "', ?)", &rc);
            if (st) {
                sqlite3_bind_text(st, 1, c->boot_id, -1, SQLITE_STATIC);
                rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(c->db);
                sqlite3_finalize(st);
            }
        }
    }
    if (rc != SQLITE_OK) {
        sqclaim_rc r = sqlt_fail(c, rc, "checking the boot id", err);
        sqlt_rollback(c);
        return r;
    }
    return SQCLAIM_OK;
}

sqclaim_rc sqlt_commit(sqlt_conn *c, sqb_err *err)
{
    int rc = exec(c, "COMMIT");
    if (rc == SQLITE_OK)
        return SQCLAIM_OK;
    /* An I/O error while committing: the WAL frames may be on disk. */
    sqclaim_rc r = sqlt_fail(c, rc, "committing", err);
    err->maybe_applied = (rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_FULL;
    if (!sqlite3_get_autocommit(c->db))
        sqlt_rollback(c);
    return r;
}

void sqlt_rollback(sqlt_conn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        exec(c, "ROLLBACK");
}

/* A read transaction for status and the operator reads: records of
 * another boot are not live (*live_boot false), but nothing is written. */
static sqclaim_rc begin_read(sqlt_conn *c, bool *live_boot, sqb_err *err)
{
    int rc = exec(c, "BEGIN");
    if (rc == SQLITE_OK)
        rc = boot_same(c, live_boot);
    if (rc != SQLITE_OK) {
        sqclaim_rc r = sqlt_fail(c, rc, "reading", err);
        sqlt_rollback(c);
        return r;
    }
    return SQCLAIM_OK;
}

/* ------------------------------------------------------------------ */
/* Records                                                              */

typedef struct sqlt_claim {
    char bot[4 * SQCLAIM_BOT_MAX + 1];
    char token[SQCLAIM_TOKEN_LEN + 1];
    uint64_t fence;
    char ts[SQCLAIM_TIMESTAMP_LEN + 1];
    int64_t expires_ns;
} sqlt_claim;

typedef struct sqlt_res {
    char bot[4 * SQCLAIM_BOT_MAX + 1];
    char token[SQCLAIM_TOKEN_LEN + 1];
    uint64_t fence;
    uint64_t start;
    uint32_t count;
    char ts[SQCLAIM_TIMESTAMP_LEN + 1];
    int64_t expires_ns;
} sqlt_res;

static void col_text(sqlite3_stmt *st, int i, char *out, size_t len)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    sqb_strlcpy(out, v ? (const char *)v : "", len);
}

/* The columns of a claim row from column i on: bot, token, fence, ts,
 * expires_ns. */
static void read_claim(sqlite3_stmt *st, int i, void *vout)
{
    sqlt_claim *out = vout;
    col_text(st, i, out->bot, sizeof out->bot);
    col_text(st, i + 1, out->token, sizeof out->token);
    out->fence = (uint64_t)sqlite3_column_int64(st, i + 2);
    col_text(st, i + 3, out->ts, sizeof out->ts);
    out->expires_ns = sqlite3_column_int64(st, i + 4);
}

/* The columns of a reservation row from column i on: bot, token, fence,
 * start_row, row_count, ts, expires_ns. */
static void read_res(sqlite3_stmt *st, int i, void *vout)
{
    sqlt_res *out = vout;
    col_text(st, i, out->bot, sizeof out->bot);
    col_text(st, i + 1, out->token, sizeof out->token);
    out->fence = (uint64_t)sqlite3_column_int64(st, i + 2);
    out->start = (uint64_t)sqlite3_column_int64(st, i + 3);
    out->count = (uint32_t)sqlite3_column_int64(st, i + 4);
    col_text(st, i + 5, out->ts, sizeof out->ts);
    out->expires_ns = sqlite3_column_int64(st, i + 6);
}

/* The live row of sq that sql selects (?1 sq, ?2 now), read into out:
 * SQLITE_ROW (filled), SQLITE_DONE (none), or an error code. */
static int get_live(sqlt_conn *c, const char *sql, const char *sq, int64_t now,
                    void (*read)(sqlite3_stmt *, int, void *), void *out)
{
    int rc;
    sqlite3_stmt *st = prep(c, sql, &rc);
    if (!st)
        return rc;
    sqlite3_bind_text(st, 1, sq, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        read(st, 0, out);
    sqlite3_finalize(st);
    return rc;
}

/* The live claim of sq: SQLITE_ROW (filled), SQLITE_DONE (none), or an
 * error code. */
static int get_claim(sqlt_conn *c, const char *sq, int64_t now, sqlt_claim *out)
{
    return get_live(c,
                    "SELECT bot, token, fence, ts, expires_ns FROM claims "
                    "WHERE sq = ?1 AND expires_ns >= ?2",
                    sq, now, read_claim, out);
}

static int get_res(sqlt_conn *c, const char *sq, int64_t now, sqlt_res *out)
{
    return get_live(c,
                    "SELECT bot, token, fence, start_row, row_count, ts, expires_ns "
                    "FROM reservations WHERE sq = ?1 AND expires_ns >= ?2",
                    sq, now, read_res, out);
}

/* Run a statement with up to 3 text and 2 integer parameters bound in
 * order (?1..?3 text, ?4..?5 integers); SQLITE_OK or an error. */
static int run(sqlt_conn *c, const char *sql, const char *t1, const char *t2, const char *t3,
               int64_t i4, int64_t i5)
{
    int rc;
    sqlite3_stmt *st = prep(c, sql, &rc);
    if (!st)
        return rc;
    int np = sqlite3_bind_parameter_count(st);
    if (np >= 1)
        sqlite3_bind_text(st, 1, t1, -1, SQLITE_STATIC);
    if (np >= 2)
        sqlite3_bind_text(st, 2, t2, -1, SQLITE_STATIC);
    if (np >= 3)
        sqlite3_bind_text(st, 3, t3, -1, SQLITE_STATIC);
    if (np >= 4)
        sqlite3_bind_int64(st, 4, i4);
    if (np >= 5)
        sqlite3_bind_int64(st, 5, i5);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* A helper counter: 0 missing, 1 a whole number >= 1 in *v, 2 invalid
 * (detail in buf); or -1 on an SQLite error (*rc).  The fence may reach
 * 2^53 (exact in JSON doubles), the row cursor 10^15 (as on redis). */
static int get_counter(sqlt_conn *c, const char *name, uint64_t *v, char *detail, size_t dlen,
                       int *rc)
{
    const int64_t limit =
        strcmp(name, SQLT_FENCE_KEY) == 0 ? 9007199254740992LL : 1000000000000000LL;
    sqlite3_stmt *st = prep(c, "SELECT value, typeof(value) FROM meta WHERE name = ?1", rc);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    int out;
    if (s == SQLITE_DONE) {
        out = 0;
    } else if (s != SQLITE_ROW) {
        *rc = s;
        out = -1;
    } else if (sqlite3_column_type(st, 0) == SQLITE_INTEGER && sqlite3_column_int64(st, 0) >= 1 &&
               sqlite3_column_int64(st, 0) < limit) {
        *v = (uint64_t)sqlite3_column_int64(st, 0);
        out = 1;
    } else {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(detail, dlen, "%s %s (%.40s)",
                 sqlite3_column_type(st, 0) == SQLITE_INTEGER ? "an out-of-range" : "a",
                 (const char *)sqlite3_column_text(st, 1), t ? (const char *)t : "NULL");
        out = 2;
    }
    sqlite3_finalize(st);
    return out;
}

int sqlt_set_counter(sqlt_conn *c, const char *name, uint64_t v)
{
    return run(c, "INSERT OR REPLACE INTO meta(name, value) VALUES(?1, ?4)", name, NULL, NULL,
               (int64_t)v, 0);
}

/* INSERT OR REPLACE one record with sql: ?1 sq, ?2 bot, ?3 token, ?4
 * fence, ?5 ts, ?6 expires_ns, ?7 its JSON value (the bot id and ts
 * quoted into it once, by the caller), and, if sql has them, ?8 start row
 * and ?9 row count.  SQLITE_OK or an error. */
static int put_record(sqlt_conn *c, const char *sql, const char *sq, const char *bot,
                      const char *token, uint64_t fence, const char *ts, int64_t expires_ns,
                      const char *value, uint64_t start, uint32_t count)
{
    int rc;
    sqlite3_stmt *st = prep(c, sql, &rc);
    if (!st)
        return rc;
    sqlite3_bind_text(st, 1, sq, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, bot, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, token, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)fence);
    sqlite3_bind_text(st, 5, ts, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, expires_ns);
    sqlite3_bind_text(st, 7, value, -1, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 9) {
        sqlite3_bind_int64(st, 8, (int64_t)start);
        sqlite3_bind_int64(st, 9, count);
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int sqlt_put_claim(sqlt_conn *c, const char *sq, const char *bot, const char *token, uint64_t fence,
                   const char *ts, int64_t expires_ns)
{
    char qbot[4 * SQCLAIM_BOT_MAX + 8], qts[64], value[512];
    sq_json_quote(qbot, sizeof qbot, bot, SQ_JSON_CSTR, 0);
    sq_json_quote(qts, sizeof qts, ts, SQ_JSON_CSTR, 0);
    snprintf(value, sizeof value,
             "{\"botId\":%s,\"timestamp\":%s,\"status\":\"CLAIMING\",\"token\":\"%s\","
             "\"fence\":%" PRIu64 "}",
             qbot, qts, token, fence);
    return put_record(c,
                      "INSERT OR REPLACE INTO claims(sq, bot, token, fence, ts, expires_ns, value) "
                      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                      sq, bot, token, fence, ts, expires_ns, value, 0, 0);
}

int sqlt_put_reservation(sqlt_conn *c, const char *sq, const char *bot, const char *token,
                         uint64_t fence, uint64_t start, uint32_t count, const char *ts,
                         int64_t expires_ns)
{
    char qbot[4 * SQCLAIM_BOT_MAX + 8], qts[64], value[512];
    sq_json_quote(qbot, sizeof qbot, bot, SQ_JSON_CSTR, 0);
    sq_json_quote(qts, sizeof qts, ts, SQ_JSON_CSTR, 0);
    snprintf(value, sizeof value,
             "{\"botId\":%s,\"startRow\":%" PRIu64 ",\"rowCount\":%" PRIu32
             ",\"status\":\"WRITING\",\"timestamp\":%s,\"token\":\"%s\",\"fence\":%" PRIu64 "}",
             qbot, start, count, qts, token, fence);
    return put_record(c,
                      "INSERT OR REPLACE INTO reservations(sq, bot, token, fence, ts, expires_ns, "
                      "value, start_row, row_count) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                      sq, bot, token, fence, ts, expires_ns, value, start, count);
}

/* The next fencing number: counter + 1, or, with the counter lost, the
 * wall clock in microseconds or above every fence the file holds (as the
 * redis script rebuilds it). */
static sqclaim_rc next_fence(sqlt_conn *c, uint64_t *fence, sqb_err *err)
{
    uint64_t v = 0;
    char detail[96] = "";
    int rc = SQLITE_OK;
    int k = get_counter(c, SQLT_FENCE_KEY, &v, detail, sizeof detail, &rc);
    if (k < 0)
        return sqlt_fail(c, rc, "reading the fencing counter", err);
    if (k == 2)
        return sqb_seterr(err, SQCLAIM_ESERVER,
                          "sqlite %s: fencing counter " SQLT_FENCE_KEY
                          " (table meta) holds %s, not a whole number; fix: DELETE FROM meta WHERE "
                          "name='" SQLT_FENCE_KEY
                          "' (the next claim rebuilds it above every live fence)",
                          c->path, detail);
    if (k == 1) {
        v++;
    } else {
        int64_t top = 0;
        rc = query_int(c,
                       "SELECT max(f) FROM (SELECT max(fence) AS f FROM claims "
                       "UNION ALL SELECT max(fence) FROM reservations)",
                       &top);
        if (rc != SQLITE_OK)
            return sqlt_fail(c, rc, "rebuilding the fencing counter", err);
        v = (uint64_t)sqb_unix_ms() * 1000;
        if (top >= 0 && (uint64_t)top >= v)
            v = (uint64_t)top + 1;
    }
    rc = sqlt_set_counter(c, SQLT_FENCE_KEY, v);
    if (rc != SQLITE_OK)
        return sqlt_fail(c, rc, "writing the fencing counter", err);
    *fence = v;
    return SQCLAIM_OK;
}

/* ------------------------------------------------------------------ */
/* Backend entries                                                      */

static sqclaim_rc be_open(const sqclaim_options *opts, void **out, sqb_err *err)
{
    char path[PATH_MAX];
    if (sqlt_default_path(opts, path, sizeof path, err) != 0)
        return err->rc;
    sqlt_conn *c = NULL;
    sqclaim_rc rc = sqlt_open_path(path, opts->timeout_ms, opts->clock, &c, err);
    if (rc == SQCLAIM_OK)
        *out = c;
    return rc;
}

static void be_close(void *vc) { sqlt_close(vc); }

static sqclaim_rc be_ping(void *vc, sqb_err *err)
{
    sqlt_conn *c = vc;
    int64_t v;
    int rc = query_int(c, "SELECT count(*) FROM meta", &v);
    return rc == SQLITE_OK ? SQCLAIM_OK : sqlt_fail(c, rc, "ping", err);
}

/* Finish a transaction with an SQLite error. */
static sqclaim_rc abort_tx(sqlt_conn *c, int rc, const char *what, sqb_err *err)
{
    sqclaim_rc r = sqlt_fail(c, rc, what, err);
    sqlt_rollback(c);
    return r;
}

/* Finish a transaction whose outcome is `r` (OK, BUSY, LOST). */
static sqclaim_rc end_tx(sqlt_conn *c, sqclaim_rc r, sqb_err *err)
{
    sqclaim_rc cr = sqlt_commit(c, err);
    return cr == SQCLAIM_OK ? r : cr;
}

static sqclaim_rc be_claim(void *vc, const sqb_claim_req *req, sqb_claim_res *res, sqb_err *err)
{
    sqlt_conn *c = vc;
    int64_t now = req->now_ns;
    sqclaim_rc r = sqlt_begin(c, err);
    if (r != SQCLAIM_OK)
        return r;
    sqlt_claim cl;
    /* Pass 1: a candidate held with our token is ours (a retry). */
    for (size_t i = 0; i < req->n; i++) {
        int rc = get_claim(c, req->sqs[i], now, &cl);
        if (rc == SQLITE_ROW && strcmp(cl.token, req->token) == 0) {
            res->index = i;
            res->fence = cl.fence;
            res->reclaimed = true;
            res->ttl_ms = (cl.expires_ns - now) / 1000000;
            return end_tx(c, SQCLAIM_OK, err);
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return abort_tx(c, rc, "reading a claim", err);
    }
    /* Pass 2: the first free candidate, in list order. */
    for (size_t i = 0; i < req->n; i++) {
        int rc = get_claim(c, req->sqs[i], now, &cl);
        if (rc == SQLITE_ROW)
            continue;
        if (rc != SQLITE_DONE)
            return abort_tx(c, rc, "reading a claim", err);
        uint64_t fence = 0;
        r = next_fence(c, &fence, err);
        if (r != SQCLAIM_OK) {
            sqlt_rollback(c);
            return r;
        }
        rc = sqlt_put_claim(c, req->sqs[i], req->bot, req->token, fence, req->timestamp,
                            now + req->ttl_ms * 1000000);
        if (rc != SQLITE_OK)
            return abort_tx(c, rc, "writing a claim", err);
        /* Keep the file small: expired records go (cheap: an index range). */
        rc = run(c, "DELETE FROM claims WHERE expires_ns < ?4", NULL, NULL, NULL, now, 0);
        if (rc == SQLITE_OK)
            rc = run(c, "DELETE FROM reservations WHERE expires_ns < ?4", NULL, NULL, NULL, now, 0);
        if (rc != SQLITE_OK)
            return abort_tx(c, rc, "purging expired records", err);
        res->index = i;
        res->fence = fence;
        res->reclaimed = false;
        res->ttl_ms = req->ttl_ms;
        return end_tx(c, SQCLAIM_OK, err);
    }
    int rc = get_claim(c, req->sqs[0], now, &cl);
    if (rc == SQLITE_ROW) {
        sqb_strlcpy(res->holder.bot, cl.bot, sizeof res->holder.bot);
        res->holder.remaining_ms = (cl.expires_ns - now) / 1000000;
    }
    return end_tx(c, SQCLAIM_BUSY, err);
}

/* Begin, and find whether the live claim of sq is ours.  OK (*mine set,
 * *cl filled when mine) or an error (transaction closed). */
static sqclaim_rc begin_owned(sqlt_conn *c, const char *sq, const char *token, int64_t now,
                              bool *mine, sqlt_claim *cl, sqb_err *err)
{
    sqclaim_rc r = sqlt_begin(c, err);
    if (r != SQCLAIM_OK)
        return r;
    int rc = get_claim(c, sq, now, cl);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return abort_tx(c, rc, "reading a claim", err);
    *mine = rc == SQLITE_ROW && strcmp(cl->token, token) == 0;
    return SQCLAIM_OK;
}

/* Begin, for a lease call: OK with the transaction open when the live
 * claim of req->sq is held with req->token; else the transaction is
 * closed and the result is LOST or an error. */
static sqclaim_rc begin_mine(sqlt_conn *c, const sqb_lease_req *req, sqb_err *err)
{
    bool mine;
    sqlt_claim cl;
    sqclaim_rc r = begin_owned(c, req->sq, req->token, req->now_ns, &mine, &cl, err);
    if (r != SQCLAIM_OK)
        return r;
    if (!mine)
        return end_tx(c, SQCLAIM_LOST, err);
    return SQCLAIM_OK;
}

/* A lease call's writes, when the claim is ours: sql1, then sql2 unless
 * NULL (?1 the SQ, ?2 the token, ?3 t3, ?4 i4, ?5 i5), committed; LOST when the
 * claim is not ours (a lost claim never revives); an error (what failed)
 * with nothing written. */
static sqclaim_rc lease_write(sqlt_conn *c, const sqb_lease_req *req, const char *what,
                              const char *sql1, const char *sql2, const char *t3, int64_t i4,
                              int64_t i5, sqb_err *err)
{
    sqclaim_rc r = begin_mine(c, req, err);
    if (r != SQCLAIM_OK)
        return r;
    int rc = run(c, sql1, req->sq, req->token, t3, i4, i5);
    if (rc == SQLITE_OK && sql2)
        rc = run(c, sql2, req->sq, req->token, t3, i4, i5);
    if (rc != SQLITE_OK)
        return abort_tx(c, rc, what, err);
    return end_tx(c, SQCLAIM_OK, err);
}

static sqclaim_rc be_renew(void *vc, const sqb_lease_req *req, sqb_err *err)
{
    return lease_write(vc, req, "renewing",
                       "UPDATE claims SET expires_ns = ?4 WHERE sq = ?1 AND token = ?2",
                       "UPDATE reservations SET expires_ns = ?4 WHERE sq = ?1 AND token = ?2 AND "
                       "expires_ns >= ?5",
                       NULL, req->now_ns + req->ttl_ms * 1000000, req->now_ns, err);
}

static sqclaim_rc be_release(void *vc, const sqb_lease_req *req, sqb_err *err)
{
    return lease_write(vc, req, "releasing", "DELETE FROM claims WHERE sq = ?1",
                       "DELETE FROM reservations WHERE sq = ?1 AND token = ?2", NULL, 0, 0, err);
}

/* The reservation removed now, or none left: both OK. */
static sqclaim_rc be_finish(void *vc, const sqb_lease_req *req, sqb_err *err)
{
    if (req->rows_start == 0) /* sqclaim_finish_rows: whichever is ours */
        return lease_write(vc, req, "finishing",
                           "DELETE FROM reservations WHERE sq = ?1 AND token = ?2", NULL, NULL, 0,
                           0, err);
    /* sqclaim_finish_range: only the one named; another stays */
    char fence[24];
    snprintf(fence, sizeof fence, "%" PRIu64, req->rows_fence);
    return lease_write(vc, req, "finishing",
                       "DELETE FROM reservations WHERE sq = ?1 AND token = ?2 AND "
                       "fence = CAST(?3 AS INTEGER) AND start_row = ?4 AND row_count = ?5",
                       NULL, fence, (int64_t)req->rows_start, (int64_t)req->rows_count, err);
}

/* The row cursor, in a transaction: 0 missing, 1 in *cur; or -1 with the
 * transaction closed and the error in *r (a cursor that is not a row
 * number is named, with its fix followed by more_fix). */
static int read_cursor(sqlt_conn *c, uint64_t *cur, const char *more_fix, sqclaim_rc *r,
                       sqb_err *err)
{
    char detail[96] = "";
    int rc = SQLITE_OK;
    int k = get_counter(c, SQLT_CURSOR_KEY, cur, detail, sizeof detail, &rc);
    if (k < 0) {
        *r = abort_tx(c, rc, "reading the row cursor", err);
        return -1;
    }
    if (k == 2) {
        sqlt_rollback(c);
        *r = sqb_seterr(err, SQCLAIM_ESERVER,
                        "sqlite %s: row cursor " SQLT_CURSOR_KEY
                        " (table meta) holds %s, not a row number; fix: DELETE FROM meta "
                        "WHERE name='" SQLT_CURSOR_KEY "'%s",
                        c->path, detail, more_fix);
        return -1;
    }
    return k;
}

#define ROW_LIMIT 1000000000000000LL /* 10^15, as the redis script */

static sqclaim_rc be_reserve(void *vc, const sqb_reserve_req *req, sqclaim_rows *rows, sqb_err *err)
{
    sqlt_conn *c = vc;
    int64_t now = req->now_ns;
    bool mine;
    sqlt_claim cl;
    sqclaim_rc r = begin_owned(c, req->sq, req->token, now, &mine, &cl, err);
    if (r != SQCLAIM_OK)
        return r;
    /* At its expiry instant the claim is live but has no time left. */
    if (!mine || cl.expires_ns == now)
        return end_tx(c, SQCLAIM_LOST, err);
    sqlt_res old;
    int rc = get_res(c, req->sq, now, &old);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return abort_tx(c, rc, "reading a reservation", err);
    if (rc == SQLITE_ROW && strcmp(old.token, req->token) == 0) {
        if (old.count == req->count && old.start >= req->hint) {
            rows->start_row = old.start;
            rows->count = old.count;
            rows->fence = old.fence;
            return end_tx(c, SQCLAIM_OK, err);
        }
        return end_tx(c, SQCLAIM_BUSY, err);
    }
    /* Another lease's leftover (an operator's doing): stepped over below,
     * then replaced, as the redis script does. */
    uint64_t cur = 0;
    int k = read_cursor(c, &cur,
                        " (the next reservation rebuilds it from the live reservations) or "
                        "sqclaim counters --raise-cursor ROW after deleting it",
                        &r, err);
    if (k < 0)
        return r;
    if (k == 0) {
        int64_t top = 0;
        sqlite3_stmt *st = prep_now(c,
                                    "SELECT max(start_row + row_count) FROM reservations "
                                    "WHERE expires_ns >= ?1",
                                    now, &rc);
        if (!st)
            return abort_tx(c, rc, "rebuilding the row cursor", err);
        rc = sqlite3_step(st);
        top = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW)
            return abort_tx(c, rc, "rebuilding the row cursor", err);
        cur = top > 1 ? (uint64_t)top : 1;
    }
    uint64_t start = cur;
    if (start < req->hint)
        start = req->hint;
    if (start < 1)
        start = 1;
    /* Step over every live range it would overlap, in start order. */
    sqlite3_stmt *st = prep_now(c,
                                "SELECT start_row, start_row + row_count FROM reservations "
                                "WHERE expires_ns >= ?1 AND start_row + row_count > ?2 "
                                "ORDER BY start_row",
                                now, &rc);
    if (!st)
        return abort_tx(c, rc, "reading reservations", err);
    sqlite3_bind_int64(st, 2, (int64_t)start);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t s = (uint64_t)sqlite3_column_int64(st, 0);
        uint64_t e = (uint64_t)sqlite3_column_int64(st, 1);
        if (s >= start + req->count)
            break;
        if (e > start)
            start = e;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return abort_tx(c, rc, "reading reservations", err);
    if (start + req->count > (uint64_t)ROW_LIMIT) {
        sqlt_rollback(c);
        return sqb_seterr(err, SQCLAIM_ESERVER,
                          "sqlite %s: the next range would end beyond row 10^15; fix the row "
                          "cursor or the reservations",
                          c->path);
    }
    rc = sqlt_set_counter(c, SQLT_CURSOR_KEY, start + req->count);
    if (rc != SQLITE_OK)
        return abort_tx(c, rc, "writing the row cursor", err);
    rc = sqlt_put_reservation(c, req->sq, cl.bot, req->token, cl.fence, start, req->count,
                              req->timestamp, cl.expires_ns);
    if (rc != SQLITE_OK)
        return abort_tx(c, rc, "writing a reservation", err);
    rows->start_row = start;
    rows->count = req->count;
    rows->fence = cl.fence;
    return end_tx(c, SQCLAIM_OK, err);
}

/* Status entries: every record is sqclaim's own; a fence is never handed
 * out twice by a file, so it identifies a grant (fence + start row a
 * reservation): that is the fingerprint. */
static void claim_info(const char *sq, const sqlt_claim *cl, int64_t now, sqclaim_claim_info *ci)
{
    memset(ci, 0, sizeof *ci);
    sqb_strlcpy(ci->sq, sq, sizeof ci->sq);
    sqb_strlcpy(ci->bot, cl->bot, sizeof ci->bot);
    sqb_strlcpy(ci->timestamp, cl->ts, sizeof ci->timestamp);
    sqb_strlcpy(ci->status, "CLAIMING", sizeof ci->status);
    ci->fence = cl->fence;
    ci->ttl_ms = (cl->expires_ns - now) / 1000000;
    snprintf(ci->fingerprint, sizeof ci->fingerprint, "s:c:%" PRIu64, cl->fence);
}

static void res_info(const char *sq, const sqlt_res *r, int64_t now, sqclaim_reservation_info *ri)
{
    memset(ri, 0, sizeof *ri);
    sqb_strlcpy(ri->sq, sq, sizeof ri->sq);
    sqb_strlcpy(ri->bot, r->bot, sizeof ri->bot);
    ri->start_row = r->start;
    ri->row_count = r->count;
    sqb_strlcpy(ri->status, "WRITING", sizeof ri->status);
    sqb_strlcpy(ri->timestamp, r->ts, sizeof ri->timestamp);
    ri->fence = r->fence;
    ri->ttl_ms = (r->expires_ns - now) / 1000000;
    snprintf(ri->fingerprint, sizeof ri->fingerprint, "s:r:%" PRIu64 ":%" PRIu64, r->fence,
             r->start);
}

/* One status row (sq, then a claim's or a reservation's columns) added
 * to out. */
static sqclaim_rc add_row(sqlite3_stmt *st, bool reservation, int64_t now, sqclaim_status *out)
{
    char sq[SQCLAIM_SQ_MAX + 1];
    col_text(st, 0, sq, sizeof sq);
    if (reservation) {
        sqlt_res rs;
        sqclaim_reservation_info ri;
        read_res(st, 1, &rs);
        res_info(sq, &rs, now, &ri);
        return sqb_status_add_reservation(out, &ri);
    }
    sqlt_claim cl;
    sqclaim_claim_info ci;
    read_claim(st, 1, &cl);
    claim_info(sq, &cl, now, &ci);
    return sqb_status_add_claim(out, &ci);
}

/* Add every live reservation, or every live claim, to out.  OK, or an
 * error with the transaction closed. */
static sqclaim_rc status_rows(sqlt_conn *c, int64_t now, bool reservations, sqclaim_status *out,
                              sqb_err *err)
{
    const char *sql = reservations
                          ? "SELECT sq, bot, token, fence, start_row, row_count, ts, expires_ns "
                            "FROM reservations WHERE expires_ns >= ?1"
                          : "SELECT sq, bot, token, fence, ts, expires_ns FROM claims "
                            "WHERE expires_ns >= ?1";
    const char *what = reservations ? "reading reservations" : "reading claims";
    int rc;
    sqlite3_stmt *st = prep_now(c, sql, now, &rc);
    if (!st)
        return abort_tx(c, rc, what, err);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (add_row(st, reservations, now, out) != SQCLAIM_OK) {
            sqlite3_finalize(st);
            sqlt_rollback(c);
            return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return abort_tx(c, rc, what, err);
    return SQCLAIM_OK;
}

/* Open the read of be_status / be_inspect at the clock's *now: OK with
 * *live set and the transaction open, OK with *live false and it closed
 * (every record is of an earlier boot: nothing to read), or an error with
 * it closed. */
static sqclaim_rc begin_live_read(sqlt_conn *c, int64_t *now, bool *live, sqb_err *err)
{
    *now = c->clock.now_ns(c->clock.ctx);
    *live = false;
    sqclaim_rc r = begin_read(c, live, err);
    if (r == SQCLAIM_OK && !*live)
        sqlt_rollback(c);
    return r;
}

static sqclaim_rc be_status(void *vc, sqclaim_status *out, sqb_err *err)
{
    sqlt_conn *c = vc;
    int64_t now;
    bool live;
    sqclaim_rc r = begin_live_read(c, &now, &live, err);
    if (r != SQCLAIM_OK || !live)
        return r;
    r = status_rows(c, now, false, out, err);
    if (r == SQCLAIM_OK)
        r = status_rows(c, now, true, out, err);
    if (r != SQCLAIM_OK)
        return r;
    sqlt_rollback(c); /* a read: nothing to commit */
    return SQCLAIM_OK;
}

/* Read sq's live claim and reservation inside the open transaction:
 * OK with *has_claim and *has_res set (and *cl, *rs filled when set), or
 * an error with the transaction closed. */
static sqclaim_rc read_entry(sqlt_conn *c, const char *sq, int64_t now, sqlt_claim *cl,
                             bool *has_claim, sqlt_res *rs, bool *has_res, sqb_err *err)
{
    int rc = get_claim(c, sq, now, cl);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return abort_tx(c, rc, "reading a claim", err);
    *has_claim = rc == SQLITE_ROW;
    rc = get_res(c, sq, now, rs);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return abort_tx(c, rc, "reading a reservation", err);
    *has_res = rc == SQLITE_ROW;
    return SQCLAIM_OK;
}

static sqclaim_rc be_inspect(void *vc, const char *sq, sqclaim_entry *out, sqb_err *err)
{
    sqlt_conn *c = vc;
    int64_t now;
    bool live;
    sqclaim_rc r = begin_live_read(c, &now, &live, err);
    if (r != SQCLAIM_OK || !live)
        return r;
    sqlt_claim cl;
    sqlt_res rs;
    r = read_entry(c, sq, now, &cl, &out->has_claim, &rs, &out->has_reservation, err);
    if (r != SQCLAIM_OK)
        return r;
    if (out->has_claim)
        claim_info(sq, &cl, now, &out->claim);
    if (out->has_reservation)
        res_info(sq, &rs, now, &out->reservation);
    sqlt_rollback(c);
    return SQCLAIM_OK;
}

static sqclaim_rc be_break(void *vc, const sqb_break_req *req, unsigned *removed, sqb_err *err)
{
    sqlt_conn *c = vc;
    sqlt_claim cl;
    sqlt_res rs;
    bool has_claim, has_res;
    sqclaim_rc r = sqlt_begin(c, err);
    if (r == SQCLAIM_OK)
        r = read_entry(c, req->sq, req->now_ns, &cl, &has_claim, &rs, &has_res, err);
    if (r != SQCLAIM_OK)
        return r;
    if (req->check) {
        char fp[SQCLAIM_FINGERPRINT_MAX + 1];
        if (has_claim) {
            snprintf(fp, sizeof fp, "s:c:%" PRIu64, cl.fence);
            if (strcmp(fp, req->claim_fp) != 0)
                return end_tx(c, SQCLAIM_LOST, err);
        }
        if (has_res) {
            snprintf(fp, sizeof fp, "s:r:%" PRIu64 ":%" PRIu64, rs.fence, rs.start);
            if (strcmp(fp, req->res_fp) != 0)
                return end_tx(c, SQCLAIM_LOST, err);
        }
    }
    if (has_claim && !req->force)
        return end_tx(c, SQCLAIM_BUSY, err); /* every claim here is sqclaim's own */
    int rc = run(c, "DELETE FROM claims WHERE sq = ?1", req->sq, NULL, NULL, 0, 0);
    if (rc == SQLITE_OK)
        rc = run(c, "DELETE FROM reservations WHERE sq = ?1", req->sq, NULL, NULL, 0, 0);
    if (rc != SQLITE_OK)
        return abort_tx(c, rc, "breaking", err);
    r = end_tx(c, SQCLAIM_OK, err);
    if (r == SQCLAIM_OK)
        *removed =
            (has_claim ? SQCLAIM_BROKE_CLAIM : 0u) | (has_res ? SQCLAIM_BROKE_RESERVATION : 0u);
    return r;
}

static sqclaim_rc be_counters(void *vc, sqclaim_counters *out, sqb_err *err)
{
    sqlt_conn *c = vc;
    bool live;
    sqclaim_rc r = begin_read(c, &live, err);
    if (r != SQCLAIM_OK)
        return r;
    int rc = SQLITE_OK;
    int kf = get_counter(c, SQLT_FENCE_KEY, &out->fence, out->fence_detail,
                         sizeof out->fence_detail, &rc);
    int kc = kf < 0 ? -1
                    : get_counter(c, SQLT_CURSOR_KEY, &out->row_cursor, out->cursor_detail,
                                  sizeof out->cursor_detail, &rc);
    if (kf < 0 || kc < 0)
        return abort_tx(c, rc, "reading the counters", err);
    sqlt_rollback(c);
    out->fence_state = kf == 1   ? SQCLAIM_COUNTER_OK
                       : kf == 0 ? SQCLAIM_COUNTER_MISSING
                                 : SQCLAIM_COUNTER_INVALID;
    out->cursor_state = kc == 1   ? SQCLAIM_COUNTER_OK
                        : kc == 0 ? SQCLAIM_COUNTER_MISSING
                                  : SQCLAIM_COUNTER_INVALID;
    if (kf != 1)
        out->fence = 0;
    if (kc != 1)
        out->row_cursor = 0;
    snprintf(out->fence_key, sizeof out->fence_key, "%s", SQLT_FENCE_KEY);
    snprintf(out->cursor_key, sizeof out->cursor_key, "%s", SQLT_CURSOR_KEY);
    return SQCLAIM_OK;
}

static sqclaim_rc be_raise_cursor(void *vc, uint64_t row, uint64_t *cursor, sqb_err *err)
{
    sqlt_conn *c = vc;
    sqclaim_rc r = sqlt_begin(c, err);
    if (r != SQCLAIM_OK)
        return r;
    uint64_t cur = 0;
    int k = read_cursor(c, &cur, "", &r, err);
    if (k < 0)
        return r;
    if (k == 1 && cur > row) {
        *cursor = cur;
        return end_tx(c, SQCLAIM_BUSY, err);
    }
    int rc = sqlt_set_counter(c, SQLT_CURSOR_KEY, row);
    if (rc != SQLITE_OK)
        return abort_tx(c, rc, "writing the row cursor", err);
    *cursor = row;
    return end_tx(c, SQCLAIM_OK, err);
}

const sqclaim_backend sqclaim_backend_sqlite = {
    .version = SQB_VERSION,
    .name = "sqlite",
    .summary = "one SQLite file shared by the processes of this host (the default)",
    .caps = SQCLAIM_CAP_CROSS_PROCESS | SQCLAIM_CAP_PERSISTENT,
    .open = be_open,
    .close = be_close,
    .ping = be_ping,
    .claim = be_claim,
    .renew = be_renew,
    .release = be_release,
    .reserve = be_reserve,
    .finish = be_finish,
    .status = be_status,
    .stats = NULL,
    .inspect = be_inspect,
    .break_sq = be_break,
    .counters = be_counters,
    .raise_cursor = be_raise_cursor,
};
