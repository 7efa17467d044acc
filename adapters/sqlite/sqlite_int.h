/*
 * sqlite_int.h — the sqlite backend's private pieces, for the simulator's
 * negative controls (sim/controls/sqlite_controls.c) and the benchmark.
 * Not installed, not part of the public API: the functions are in the
 * library so that the broken variants can reuse the real open, schema and
 * transaction code, but the broken logic itself lives only in sim/.
 */
#ifndef SQCLAIM_SQLITE_INT_H
#define SQCLAIM_SQLITE_INT_H

#include "backend.h"

#include <limits.h>
#include <sqlite3.h>

/* PRAGMA application_id of an sqclaim database: "SQC1". */
#define SQLT_APPLICATION_ID 0x53514331
/* PRAGMA user_version: the schema version this code writes and reads. */
#define SQLT_SCHEMA_VERSION 1

/* Names of the helper rows in table meta (as the redis keys). */
#define SQLT_FENCE_KEY  "sqclaim:fence"
#define SQLT_CURSOR_KEY "sqclaim:rowcursor"
#define SQLT_BOOT_KEY   "sqclaim:bootid"

typedef struct sqlt_conn {
    sqlite3 *db;
    char path[PATH_MAX];
    char boot_id[64];      /* this boot's /proc/sys/kernel/random/boot_id */
    sqclaim_clock clock;   /* the store clock (status, inspect) */
    int timeout_ms;        /* busy timeout */
    int64_t busy_since_ns; /* the busy handler's current wait */
    uint64_t busy_rng;     /* its jitter */
} sqlt_conn;

/* Resolve the database path: opts->sqlite_path, else $SQCLAIM_DB, else
 * $XDG_STATE_HOME/sqclaim/claims.db, else ~/.local/state/sqclaim/claims.db.
 * 0, or -1 with a message in err. */
int sqlt_default_path(const sqclaim_options *opts, char *out, size_t len, sqb_err *err);

/* Open (creating when absent) the database at `path` as the backend does. */
sqclaim_rc sqlt_open_path(const char *path, int timeout_ms, const sqclaim_clock *clock,
                          sqlt_conn **out, sqb_err *err);
void sqlt_close(sqlt_conn *c);

/* BEGIN IMMEDIATE, and the boot check (records of an earlier boot are
 * deleted).  OK or an error in err. */
sqclaim_rc sqlt_begin(sqlt_conn *c, sqb_err *err);
/* COMMIT (OK or an error that may have been applied) / ROLLBACK. */
sqclaim_rc sqlt_commit(sqlt_conn *c, sqb_err *err);
void sqlt_rollback(sqlt_conn *c);

/* Map an SQLite error to a backend error naming the file. */
sqclaim_rc sqlt_fail(sqlt_conn *c, int src, const char *what, sqb_err *err);

/* Inside a transaction, the backend's own writes (SQLITE_OK or an SQLite
 * error): counter `name` of table meta set to v; a claim, or a
 * reservation, stored (replacing sq's) with its columns and the JSON value
 * the other stores keep (bot id quoted once, with sq_json_quote). */
int sqlt_set_counter(sqlt_conn *c, const char *name, uint64_t v);
int sqlt_put_claim(sqlt_conn *c, const char *sq, const char *bot, const char *token, uint64_t fence,
                   const char *ts, int64_t expires_ns);
int sqlt_put_reservation(sqlt_conn *c, const char *sq, const char *bot, const char *token,
                         uint64_t fence, uint64_t start, uint32_t count, const char *ts,
                         int64_t expires_ns);

/* The backend's table entries (the controls reuse the ones they leave
 * unbroken). */
extern const sqclaim_backend sqclaim_backend_sqlite;

#endif
