/*
 * resp.h — a minimal RESP2 client and parser for the differential test:
 * raw reply bytes from a real redis-server (so replies can be compared
 * byte for byte with the scripted store's), and a parsed form that keeps
 * what rp_reply drops (status vs bulk).
 */
#ifndef SQCLAIM_TEST_DET_RESP_H
#define SQCLAIM_TEST_DET_RESP_H

#include "proto.h"

#include <stdbool.h>
#include <stddef.h>

/* A parsed reply. t: '+' status, '-' error, ':' integer, '$' bulk,
 * 'n' nil bulk, '*' array. */
typedef struct rv {
    char t;
    long long i;
    char *s;
    size_t len;
    size_t n;
    struct rv **e;
} rv;

/* Length of the complete reply at buf[0..len), 0 if incomplete, -1 if
 * malformed. */
long resp_frame(const char *buf, size_t len);
/* Parse one complete reply (NULL if malformed). */
rv *rv_parse(const char *buf, size_t len);
void rv_free(rv *v);
/* rp_reply of a complete reply (status and bulk both RP_STR). */
rp_reply *rv_to_rp(const rv *v);

/* A connection to 127.0.0.1:port. */
typedef struct resp_conn {
    int fd;
    char *buf;
    size_t len, cap;
} resp_conn;

int resp_connect(resp_conn *c, int port); /* 0 or -1 */
void resp_close(resp_conn *c);
/* Send one command; read one reply's raw bytes into *raw (malloc'd,
 * NUL-terminated, *rawlen).  0 or -1 (I/O error, 10 s timeout). */
int resp_call(resp_conn *c, int argc, const char **argv, const size_t *lens, char **raw,
              size_t *rawlen);
/* Several commands in one write, then their replies. */
int resp_pipeline(resp_conn *c, size_t n, const rp_cmd *cmds, char **raw, size_t *rawlen);

/* Append a printable, escaped form of bytes to out (at most max bytes
 * shown). */
void resp_escape(char *out, size_t outlen, const char *s, size_t len);

#endif
