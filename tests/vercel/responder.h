/*
 * responder.h — a tiny HTTP/1.1 server thread for the vercel tests: it
 * plays a broken or unusual proxy in front of "Upstash" (HTML pages,
 * truncated or huge bodies, dropped connections, 401/429/5xx, sync
 * tokens), and records what the client sent.  Not a Redis mock: the
 * protocol itself is tested against kvrest + a real redis-server.
 */
#ifndef SQCLAIM_TEST_RESPONDER_H
#define SQCLAIM_TEST_RESPONDER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct rs_action {
    int status;          /* HTTP status; 0: close the connection without a reply */
    const char *body;    /* NULL: "" */
    size_t body_len;     /* 0: strlen(body) */
    size_t huge;         /* > 0: send this many bytes of body (body repeated) */
    const char *headers; /* extra header lines, each ending in "\r\n" */
    long announce;       /* > 0: Content-Length to announce instead of the
                            real one (a truncated reply); then close */
    bool close_after;    /* close the connection after replying */
    int delay_ms;        /* wait before replying */
    bool echo;           /* a server that quotes what it got: in body,
                            "@REQ@" becomes the request body and "@AUTH@"
                            the Authorization header's value, both escaped
                            as JSON string content */
} rs_action;

typedef struct responder responder;

/* Start on 127.0.0.1, a free port.  NULL on failure. */
responder *rs_start(void);
int rs_port(const responder *r);
/* "http://127.0.0.1:<port>" */
const char *rs_url(const responder *r);
/* Queue an action for the next request (the strings are copied).  With
 * the queue empty the default action answers 200 {"result":"UE9ORw=="}
 * (PING -> PONG). */
void rs_push(responder *r, const rs_action *a);
/* Replace the default action (copied). */
void rs_set_default(responder *r, const rs_action *a);

/* Counters. */
int rs_connections(responder *r);
int rs_requests(responder *r);
/* The n-th request received (0-based; -1: the last): request line, the
 * raw header block, and the body, copied into the buffers (NUL-
 * terminated, truncated).  false if there is no such request. */
bool rs_request(responder *r, int n, char *line, size_t linelen, char *headers, size_t hlen,
                char *body, size_t blen);
/* Forget recorded requests and counters. */
void rs_reset(responder *r);

void rs_stop(responder *r);

#endif
