/*
 * protoint.h — what proto.c and status.c share inside the protocol layer
 * (not part of proto.h's interface to the transports).
 */
#ifndef SQCLAIM_PROTOINT_H
#define SQCLAIM_PROTOINT_H

#include "proto.h"

#include <stdbool.h>
#include <stddef.h>

/* A reply of an unexpected shape to `what`: SQCLAIM_EPROTOCOL with a
 * message saying what came back and why it is wrong. */
sqclaim_rc rp_bad_reply(sqb_err *err, const char *what, const rp_reply *r, const char *why);

/* True if r is an integer reply. */
bool rp_is_int(const rp_reply *r);

/* True if s (len bytes) is `word`, or starts with it and a space. */
bool rp_starts_with(const char *s, size_t len, const char *word);

/* The KEYS / SCAN MATCH pattern of every key of a kind ("sq:",
 * "refund:") under c's prefix, its glob characters escaped. */
void rp_match_pattern(const rp_conn *c, const char *kind, char *out, size_t outlen);

#endif
