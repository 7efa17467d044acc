/* sqsim_http.h — sqsim's `--adapter http` (http_backend.c): the bots
 * through a running `sqclaim serve` ($SQCLAIM_SERVE_URL,
 * $SQCLAIM_SERVE_TOKEN; docs/http.md). */
#ifndef SQSIM_HTTP_H
#define SQSIM_HTTP_H

#include "backend.h"

extern const sqclaim_backend sim_http_backend;

#endif
