/*
 * kvtest.h — helpers for the kvrest tests: real HTTP over libcurl, raw
 * redis access over hiredis, exact response checks.
 */
#ifndef SQCLAIM_KVTEST_H
#define SQCLAIM_KVTEST_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>

#include "servers.h"

typedef struct kt_resp {
    CURLcode rc;
    long status; /* 0 when no HTTP response arrived */
    char *body;  /* NUL-terminated (may contain NULs: use len) */
    size_t len;
    bool has_sync;
    char sync[128];  /* upstash-sync-token */
    char ctype[128]; /* Content-Type */
    long connects;   /* CURLINFO_NUM_CONNECTS */
    long long ms;    /* wall time of the request */
} kt_resp;

enum {
    KT_B64 = 1,     /* Upstash-Encoding: base64 */
    KT_CHUNKED = 2, /* send the body with Transfer-Encoding: chunked */
    KT_NOEXPECT = 4 /* no Expect: 100-continue */
};

typedef struct kt_req {
    const tsrv *kv;
    CURL *handle;       /* NULL: a fresh handle (new connection) */
    const char *method; /* NULL: POST if body, else GET */
    const char *path;   /* "/…", may include a query */
    const char *token;  /* NULL: no Authorization header */
    const char *body;   /* NULL: none */
    size_t bodylen;     /* 0: strlen(body) */
    unsigned flags;
    long timeout_ms;    /* 0: 60 s */
    const char *header; /* NULL or one more request header, "Name: value" */
} kt_req;

void kt_http(kt_resp *r, const kt_req *q);
void kt_free(kt_resp *r);

/* Check status, Content-Type application/json, a sync token, and (if
 * body != NULL) the exact body. */
#define kt_expect(r, status, body) kt_expect_at(__FILE__, __LINE__, (r), (status), (body))
void kt_expect_at(const char *file, int line, const kt_resp *r, long status, const char *body);

/* The body is JSON with an "error" string (returned, in a static buffer)
 * and nothing else. */
#define kt_error_text(r) kt_error_text_at(__FILE__, __LINE__, (r))
const char *kt_error_text_at(const char *file, int line, const kt_resp *r);

/* One-shot raw redis command (hiredis format string, %b for binary). */
redisReply *kt_redis(const tsrv *redis, const char *fmt, ...);

/* Fetch a counter from GET /_kvrest/stats: "requests", "routes.path",
 * "faults.dropped"… */
long long kt_stat(const tsrv *kv, const char *token, const char *name);

/* POST /_kvrest/faults with the JSON object text; asserts 200. */
void kt_faults(const tsrv *kv, const char *token, const char *json);

/* Suites of other files. */
#include <check.h>
Suite *kt_framing_suite(void);

#endif
