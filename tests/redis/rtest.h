/* rtest.h — helpers of the redis backend tests (tests/redis). */
#ifndef SQCLAIM_RTEST_H
#define SQCLAIM_RTEST_H

#include "servers.h"
#include "sqclaim.h"

#include <check.h>
#include <hiredis/hiredis.h>
#include <stdatomic.h>
#include <pthread.h>

/* The redis-server of the current test case, started by the unchecked
 * fixture rt_server_start() (no password) or rt_auth_server_start()
 * (password RT_PASSWORD), stopped by rt_server_stop(). */
extern tsrv rt_srv;
#define RT_PASSWORD "s3cretPW"
void rt_server_start(void);
void rt_auth_server_start(void);
void rt_server_stop(void);

/* Checked fixture: a fresh key prefix per test in rt_prefix, a raw hiredis
 * connection to rt_srv in rt_raw, and handles closed afterwards. */
extern char rt_prefix[64];
extern redisContext *rt_raw;
void rt_setup(void);
void rt_teardown(void);

/* Open a redis handle on rt_srv with rt_prefix; asserts OK. */
sqclaim_store *rt_open(void);
/* Open with explicit options (adapter forced to redis).  Returns the rc;
 * *out is registered for closing at teardown. */
sqclaim_rc rt_open_opts(const sqclaim_options *o, sqclaim_store **out);

/* A raw connection (AUTH with the server's password if it has one). */
redisContext *rt_connect(const tsrv *s);
/* Run a command on a raw connection; asserts a reply came back.  Free it
 * with freeReplyObject(). */
redisReply *rt_cmd(redisContext *c, const char *fmt, ...);
/* GET rt_prefix + suffix as a malloc'd string (NULL if absent). */
char *rt_get(const char *suffix);
/* PTTL of rt_prefix + suffix. */
long long rt_pttl(const char *suffix);
/* Every key starting with rt_prefix (SCAN), sorted, malloc'd; *n set. */
char **rt_keys(size_t *n);
void rt_free_keys(char **keys, size_t n);

/* `calls` of cmdstat_<cmd> in INFO commandstats on rt_srv (0 if absent);
 * whether the line is present at all. */
long long rt_cmdstat(const char *cmd);
bool rt_cmdstat_present(const char *cmd);
/* Sum of the calls of the commands the scripts use inside (MGET, GET, SET,
 * INCR, PTTL, PEXPIRE, DEL): what Upstash bills besides the EVALSHA. */
long long rt_inner_calls(void);

/* The handle's round-trip counter. */
uint64_t rt_round_trips(sqclaim_store *s);
sqclaim_stats rt_stats(sqclaim_store *s);

/* A TCP peer that answers every RESP request with the same canned bytes:
 * for feeding the client malformed or unexpected replies over a real
 * socket.  Runs in a thread; one connection at a time. */
typedef struct rt_rogue {
    int lfd;
    int port;
    char url[64];
    char auth_url[96]; /* with password RT_PASSWORD and database 2 */
    pthread_t thread;
    atomic_bool stop;
    atomic_int requests;
    char reply[512];
    size_t replylen;
    int trickle_ms; /* > 0: send the reply one byte every trickle_ms */
    char echo;      /* 'u': answer as Redis does an unknown command, quoting
                       its arguments ("-ERR unknown command 'X', with args
                       beginning with: 'a' 'b' …"); 'e': an error quoting
                       the whole request in another form ("-ERR echo: X a
                       b …"); 0: the canned reply */
} rt_rogue;
void rt_rogue_start(rt_rogue *r, const char *reply);
/* The same, but the reply trickles out one byte every trickle_ms: a
 * server that is never silent for long yet never finishes a reply. */
void rt_rogue_start_trickle(rt_rogue *r, const char *reply, int trickle_ms);
/* A peer that quotes each request back in an error reply (echo 'u' or
 * 'e', see above). */
void rt_rogue_start_echo(rt_rogue *r, char echo);
void rt_rogue_stop(rt_rogue *r);

/* Suites. */
Suite *rt_layout_suite(void);
Suite *rt_faults_suite(void);
Suite *rt_secrets_suite(void);
Suite *rt_converge_suite(void);

#endif
