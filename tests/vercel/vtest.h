/* vtest.h — helpers shared by the vercel backend's tests. */
#ifndef SQCLAIM_VTEST_H
#define SQCLAIM_VTEST_H

#include "../../adapters/vercel/vercel.h"
#include "responder.h"
#include "servers.h"
#include "sqclaim.h"
#include "tcase.h"

#include <check.h>
#include <stdbool.h>
#include <stddef.h>

Suite *vt_unit_suite(void);
Suite *vt_http_suite(void);
Suite *vt_kvrest_suite(void);
Suite *vt_secrets_suite(void);

/* Unset every environment variable the backend reads. */
void vt_clear_env(void);

/* Open a vercel store on url/token with a key prefix; retries as the
 * option (0 default, -1 none); timeout_ms 0: default. */
sqclaim_store *vt_open(const char *url, const char *token, const char *prefix, int retries,
                       int timeout_ms);

/* A redis-server (password redis_pw, may be NULL) and kvrest in front of
 * it (bearer token): for an unchecked fixture.  True if both started. */
bool vt_servers_start(tsrv *redis, tsrv *kv, const char *redis_pw, const char *token);
void vt_servers_stop(tsrv *redis, tsrv *kv);
/* Checked fixture around each test on those servers: environment cleared,
 * servers up (asserted), faults off, counters zero. */
void vt_servers_each(bool up, const tsrv *kv);
/* The "kvrest" test case of a suite on such servers (for TCASE_ADD):
 * those fixtures, 120 s per test. */
tcase_spec vt_kvrest_case(SFun servers_start, SFun servers_stop, SFun each_setup);

/* Checked fixture: vt_rs, a local HTTP responder (responder.h), started
 * before each test and stopped after it. */
extern responder *vt_rs;
void vt_rs_setup(void);
void vt_rs_teardown(void);

/* A fresh key prefix ("vt:<tag>:<pid>:<n>:"), unique per call. */
void vt_prefix(char *buf, size_t len, const char *tag);

/* A redis reply read by the raw RESP client. */
typedef struct vt_raw {
    char type; /* '+', '-', ':', '$', '*' ; 'n' for nil */
    long long integer;
    char *str; /* '$', '+', '-' (malloc'd, NUL-terminated) */
    size_t len;
} vt_raw;

/* Run one command on the redis server (binary-safe), bypassing kvrest.
 * Arrays are read but only their length is kept (integer).  0 or -1. */
int vt_redis(const tsrv *redis, vt_raw *out, int argc, const char *const *argv, const size_t *lens);
void vt_raw_free(vt_raw *r);
/* GET key as a malloc'd string, NULL if absent (or on error). */
char *vt_redis_get(const tsrv *redis, const char *key);

/* kvrest admin API: method "GET"/"POST", path "/_kvrest/…", body (may be
 * NULL).  Returns the HTTP status and the body in out (may be NULL). */
long vt_admin(const tsrv *kv, const char *method, const char *path, const char *body, char *out,
              size_t outlen);
/* A counter from GET /_kvrest/stats: "requests", "commands", "errors",
 * "unauthorized", "routes.single", "routes.pipeline", "faults.failed",
 * "faults.dropped", "faults.stalled".  -1 if unreadable. */
long long vt_kv_stat(const tsrv *kv, const char *name);
/* POST /_kvrest/faults with this JSON object; ck_assert on failure. */
void vt_faults(const tsrv *kv, const char *json);
/* All faults off, quota off, stats reset. */
void vt_faults_clear(const tsrv *kv);

#endif
