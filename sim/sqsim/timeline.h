/*
 * timeline.h — an HTML timeline of a simulation: one self-contained page
 * (inline SVG, CSS and JavaScript; nothing fetched from the network) with
 * one lane per bot, its leases, reservations, writes, crashes, pauses and
 * faults, and the oracle's violations drawn where they happened.
 *
 * The writer knows nothing of sqsim: a simulator (the real-thread sqsim,
 * the deterministic one, the capacity planner) turns its history into a
 * flat list of tl_event and tl_mark and calls tl_write_html().  Times are
 * nanoseconds from the start of the run, real or virtual.
 *
 * Bounded: at most page->max_events events go into the page (default
 * TL_DEFAULT_MAX_EVENTS, a page of a few MB).  With more, the page keeps
 * a window around the first violation (or, without one, an even sample of
 * the run) and says how many of each kind it left out; a density strip
 * above the lanes counts every event of the run.  See docs/simulator.md.
 */
#ifndef SQSIM_TIMELINE_H
#define SQSIM_TIMELINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TL_DEFAULT_MAX_EVENTS 40000

enum tl_kind {
    TL_HOLD,      /* a bot's belief that it holds sq: grant .. belief end */
    TL_STORE,     /* the store-side life of that lease: sent .. at most this */
    TL_KEEPALIVE, /* the keep-alive renewing a lease: start .. stop */
    TL_RENEW,     /* an explicit renewal (t0 invoke, t1 return) */
    TL_RESERVE,   /* rows [row, row + rows) reserved for sq: t0 .. finish/end */
    TL_WRITE,     /* a write of rows into the Refund Log (TLF_REJECTED: stale) */
    TL_CRASH,     /* the bot abandoned its lease (a point) */
    TL_PAUSE,     /* the bot stood still (GC, swap, SIGSTOP): t0 .. t1 */
    TL_FAULT,     /* a call failed or its reply was lost (note says which) */
    TL_REFUSED,   /* a claim refused: held by another bot (a point) */
    TL_KIND_COUNT
};

#define TLF_FAILED    0x01u /* renew/claim: refused or lost */
#define TLF_REJECTED  0x02u /* write: rejected for a stale fence */
#define TLF_BELIEVED  0x04u /* write: the writer's lease was valid */
#define TLF_RECLAIMED 0x08u /* hold: granted by finding our own token */
#define TLF_LOST      0x10u /* keep-alive: it lost the lease */
#define TLF_OPEN      0x20u /* hold/reserve: still open when the history ended */

typedef struct tl_event {
    int64_t t0, t1; /* ns from the start; t1 == t0 for a point */
    uint64_t fence; /* 0: none */
    uint64_t row;   /* reserve/write: first row */
    uint32_t rows;  /* reserve/write: row count (0: none) */
    uint32_t lease; /* the bot's lease number (0: none) */
    uint32_t token; /* the first 8 hex digits of the lease token (0: unknown) */
    int32_t lane;   /* bot, 0-based */
    int32_t sq;     /* index into page->sq_names, -1: none */
    uint8_t kind;   /* enum tl_kind */
    uint8_t flags;  /* TLF_* */
    char note[22];  /* a short word or two: "BUSY", "timeout", "ka lost" */
} tl_event;

/* A violation: two parties (lane b may be -1), the SQ or the rows. */
typedef struct tl_mark {
    int lane_a, lane_b;
    int64_t a0, a1, b0, b1; /* ns from the start */
    int sq;                 /* -1: none */
    uint64_t row;           /* rows [row, row + rows), rows 0: none */
    uint32_t rows;
    const char *kind; /* "overlap", "row_overlap" ... */
    const char *text; /* the oracle's sentence */
} tl_mark;

typedef struct tl_page {
    const char *title;     /* "sqsim: memory backend, 8 bots" */
    const char *verdict;   /* "pass", "violation" ... */
    const char *reproduce; /* the command that reproduces the run */
    const char *time_unit; /* NULL: choose from the span */
    int nlanes;
    const char *const *lane_names; /* nlanes names */
    int nsqs;
    const char *const *sq_names;
    int64_t span; /* run length, ns */
    const tl_event *ev;
    size_t nev;
    const tl_mark *marks;
    size_t nmarks;
    size_t max_events; /* 0: TL_DEFAULT_MAX_EVENTS */
} tl_page;

/* The first 8 hex digits of a token as a number (0 if not hex). */
uint32_t tl_token32(const char *token);

/* Write the page to f.  0, or -1 (out of memory or a write error; errno
 * tells which). */
int tl_write_html(FILE *f, const tl_page *page);

/* The same into a file at path (replaced).  0, or -1 with errno set. */
int tl_write_file(const char *path, const tl_page *page);

#endif
