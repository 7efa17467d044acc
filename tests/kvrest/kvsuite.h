/*
 * kvsuite.h — what the kvrest test files (test_*.c) share: the servers
 * of the shared test cases, their fixtures and shorthands (test_kvrest.c).
 */
#ifndef SQCLAIM_KVSUITE_H
#define SQCLAIM_KVSUITE_H

#include "kvtest.h"
#include "tcase.h"

#include <check.h>
#include <stddef.h>
#include <string.h>

#define TOKEN        "kv-T0ken_with.special~chars"
#define RO_TOKEN     "kv-readonly-T0ken"
#define TEST_TIMEOUT 180

/* The shared redis-server and kvrest (--readonly-token RO_TOKEN). */
extern tsrv redis_srv, kv;

/* Unchecked fixture: start / stop the shared servers. */
void servers_up(void);
void servers_down(void);
/* Checked fixture: empty redis, no faults, zeroed counters. */
void fresh(void);
/* A test case on the shared servers with both fixtures, for TCASE_ADD. */
tcase_spec kvt_shared_case(const char *name);

/* A request to the shared kvrest. */
void req(kt_resp *r, const char *method, const char *path, const char *token, const char *body,
         unsigned flags);
/* A request to another kvrest, s. */
void on(const tsrv *s, kt_resp *r, const char *path, const char *token, const char *body,
        unsigned flags);
/* POST body / GET path with the full token. */
void post(kt_resp *r, const char *path, const char *body);
void get(kt_resp *r, const char *path);

/* Send body (NULL: none) to path with token and flags; expect status and
 * exact body want (NULL: any). */
#define EXPECT_REQ(path, token, body, flags, status, want)                                         \
    do {                                                                                           \
        kt_resp r_;                                                                                \
        req(&r_, NULL, (path), (token), (body), (flags));                                          \
        kt_expect(&r_, (status), (want));                                                          \
        kt_free(&r_);                                                                              \
    } while (0)
/* The same on another kvrest, srv. */
#define EXPECT_ON(srv, path, token, body, flags, status, want)                                     \
    do {                                                                                           \
        kt_resp r_;                                                                                \
        on((srv), &r_, (path), (token), (body), (flags));                                          \
        kt_expect(&r_, (status), (want));                                                          \
        kt_free(&r_);                                                                              \
    } while (0)
/* The same with the full token, raw or base64-encoded replies. */
#define EXPECT_POST(path, body, status, want) EXPECT_REQ(path, TOKEN, body, 0, status, want)
#define EXPECT_B64(path, body, status, want)  EXPECT_REQ(path, TOKEN, body, KT_B64, status, want)

/* One request -> reply check of a table walked by EXPECT_ROWS: body (NULL:
 * none) sent to path with token and flags; the reply is status and exactly
 * want (NULL: any).  The row macros record the source line of the row. */
typedef struct kvt_row {
    int line;
    const char *path, *token, *body;
    unsigned flags;
    long status;
    const char *want;
} kvt_row;
#define KVT_REQ(path, token, body, flags, status, want)                                            \
    {                                                                                              \
        __LINE__, (path), (token), (body), (flags), (status), (want)                               \
    }
#define KVT_POST(path, body, status, want)                                                         \
    {                                                                                              \
        __LINE__, (path), TOKEN, (body), 0, (status), (want)                                       \
    }
#define KVT_B64(path, body, status, want)                                                          \
    {                                                                                              \
        __LINE__, (path), TOKEN, (body), KT_B64, (status), (want)                                  \
    }
/* Send the rows of the array rows in order, each checked as EXPECT_REQ does;
 * a failure names the row's request and source line. */
#define EXPECT_ROWS(rows) expect_rows(__FILE__, (rows), sizeof(rows) / sizeof *(rows))
void expect_rows(const char *file, const kvt_row *rows, size_t n);

/* Error response with a text that starts with prefix. */
#define EXPECT_ERROR(r, status, prefix)                                                            \
    do {                                                                                           \
        kt_expect((r), (status), NULL);                                                            \
        const char *e_ = kt_error_text(r);                                                         \
        ck_assert_msg(strncmp(e_, (prefix), strlen(prefix)) == 0, "error '%s', want '%s…'", e_,    \
                      (prefix));                                                                   \
    } while (0)

/* Each of the n bodies, sent to path with token, is refused with status and
 * an error text that starts with prefix. */
void expect_refused(const char *path, const char *token, const char *const *bodies, size_t n,
                    long status, const char *prefix);

/* A request to path with token and body answers status (body not checked)
 * and carries the upstash-sync-token sync. */
void expect_sync(const char *path, const char *token, const char *body, long status,
                 const char *sync);

/* Requests on one kept-alive connection (one curl handle), counting the
 * connections opened. */
typedef struct kvt_session {
    CURL *handle;
    long connects;
} kvt_session;
kvt_session kvt_session_open(void);
/* Send q on the session's handle; expect status and body want (NULL: any). */
void kvt_session_expect(kvt_session *ss, kt_req *q, long status, const char *want);
/* Close the session; the number of connections it opened. */
long kvt_session_close(kvt_session *ss);

/* Raw redis GET; returns a malloc'd copy (NULL for nil) and its length. */
char *raw_get(const char *key, size_t klen, size_t *len);
/* The key holds want (NULL: is absent). */
void assert_raw(const char *key, const char *want);

/* threads x rounds transactions against srv (test_load.c). */
void run_load(const tsrv *srv, const char *path, int threads, int rounds);

/* Each test file adds its test cases, in this order. */
void kvt_add_routes(Suite *s);
void kvt_add_encoding(Suite *s);
void kvt_add_errors(Suite *s);
void kvt_add_faults(Suite *s);
void kvt_add_load(Suite *s);
void kvt_add_variants(Suite *s);
void kvt_add_lifecycle(Suite *s);

#endif
