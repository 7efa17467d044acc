/*
 * contract.h — the contract suite: one set of tests that runs unchanged
 * against every backend.
 *
 * Adding a backend: write tests/contract/target_<name>.c defining
 * `const ct_target ct_target_<name>` (guarded by the backend's
 * SQCLAIM_WITH_<NAME> define), and list it in main.c.  The target starts
 * whatever servers it needs in setup() (once per run, before the tests)
 * and fills the options of every handle a test opens in options().
 */
#ifndef SQCLAIM_CONTRACT_H
#define SQCLAIM_CONTRACT_H

#include "sqclaim.h"

#include <check.h>

typedef struct ct_target {
    const char *name; /* backend name, also the suite name */
    /* Start servers; 0 or -1 (the run fails).  May be NULL. */
    int (*setup)(void);
    void (*teardown)(void);
    /* Fill options for a new handle.  `ns` is unique per test (and per
     * process): use it as key prefix or memory space so tests never see
     * each other's data. */
    void (*options)(sqclaim_options *o, const char *ns);
    /* The target accepts an injected clock: tests move time instead of
     * waiting (memory). */
    bool fake_clock;
    /* With fake_clock: the store's clock resolution in ns (0 = 1 ns, as the
     * memory backend; a Redis model keeps milliseconds).  A key is live AT
     * its expiry instant and gone one resolution step later. */
    int64_t clock_step_ns;
    /* TTL for leases that a test lets expire in real time (remote). */
    int64_t short_ttl_ms;
    /* Work multiplier for the concurrency tests (1.0 = full). */
    double scale;
    /* Optional: open a handle some other way than sqclaim_open() (the
     * negative controls use sqclaim_open_backend()). */
    sqclaim_rc (*open)(const sqclaim_options *o, sqclaim_store **out);
    /* Optional: run a raw Redis command (argv[0..argc-1]) on the store
     * behind the target and copy the first line of its reply into out
     * ("+OK", ":5", "-ERR …").  0 or -1.  Targets with it also run the
     * "store" group: values written by other tools, lost helper keys. */
    int (*raw)(char *out, size_t outlen, int argc, const char *const *argv);
    /* Optional: set the faults of the path to the store (a JSON object for
     * kvrest's POST /_kvrest/faults).  0 or -1.  Targets with it also run
     * the "faults" group (last: it resets the faults when done). */
    int (*faults)(const char *json);
} ct_target;

/* Build the suite for one target (sets the current target). */
Suite *contract_suite(const ct_target *t);

#endif
