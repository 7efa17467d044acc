/*
 * servers.h — start and stop the real servers tests run against.
 *
 * Each server gets a temporary directory, binds 127.0.0.1 on a free port,
 * and is polled until it answers (never a fixed sleep).  Servers are
 * started with PR_SET_PDEATHSIG so they die with the test program even if
 * it crashes.
 */
#ifndef SQCLAIM_TEST_SERVERS_H
#define SQCLAIM_TEST_SERVERS_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct tsrv {
    pid_t pid;          /* 0 when not running */
    int port;           /* TCP port on 127.0.0.1 */
    char dir[256];      /* temporary directory (logs, sockets, files) */
    char password[64];  /* redis requirepass ("" none) */
    char token[128];    /* kvrest bearer token */
    char url[128];      /* redis://… or http://127.0.0.1:port */
    char unixsock[300]; /* redis unix socket path */
    char kind[16];      /* "redis-server" or "kvrest" */
} tsrv;

/* Start a redis-server without persistence.  password may be NULL.
 * Returns 0, or -1 with a message on stderr. */
int tsrv_redis_start(tsrv *s, const char *password);

/* Stop and start the same redis-server again on the same port (all data
 * is lost: no persistence).  Returns 0 or -1. */
int tsrv_redis_restart(tsrv *s);

/* Start kvrest in front of `redis` with bearer `token`; extra_args is a
 * NULL-terminated list of further kvrest flags (may be NULL).  The kvrest
 * binary is $SQCLAIM_KVREST, else build/kvrest.  Returns 0 or -1. */
int tsrv_kvrest_start(tsrv *s, const tsrv *redis, const char *token, const char *const *extra_args);

/* SIGTERM, wait up to 5 s, then SIGKILL; remove the directory.  Safe to
 * call twice. */
void tsrv_stop(tsrv *s);

/* Stop the process but keep the directory and port (for restarts). */
void tsrv_kill(tsrv *s, int sig);

/* True if something accepts TCP connections on 127.0.0.1:port. */
bool tsrv_port_open(int port);

/* A port on 127.0.0.1 that was free a moment ago. */
int tsrv_free_port(void);

/* 127.0.0.1:port as a socket address (port 0: any, for bind). */
struct sockaddr_in tsrv_loopback(int port);

/* A TCP socket (close-on-exec) bound to a free port on 127.0.0.1, its port
 * in *port, listening with `backlog`; backlog < 0: bound only, so that
 * connects to the port are refused.  The fd, or -1. */
int tsrv_listen(int backlog, int *port);

/* A blocking TCP connection to 127.0.0.1:port, or -1. */
int tsrv_connect(int port);

/* Accept connections on lfd one at a time, serve(arg, fd) each and close
 * it, until *stop (checked every 50 ms): the body of a test peer's
 * thread. */
void tsrv_accept_loop(int lfd, atomic_bool *stop, void (*serve)(void *arg, int fd), void *arg);

/* Monotonic milliseconds, for deadlines in tests. */
long long tsrv_now_ms(void);

/* Send a RESP command (argv strings) to the redis server and copy the
 * first reply line (without CRLF) into out.  For quick admin commands in
 * tests that do not link hiredis.  Returns 0 or -1. */
int tsrv_redis_raw(const tsrv *s, char *out, size_t outlen, int argc, const char *const *argv);

#endif
