/* old_caller.c — a program built against other layouts of the growable
 * structs, linked to libsqclaim.so like any installed program (public API
 * only).
 *
 *   - An "older" caller whose sqclaim_stats / sqclaim_counters end early:
 *     the library writes its fields and not one byte past its size (guard
 *     bytes after the struct keep their pattern).
 *   - An older caller's sqclaim_options: sqclaim_options_init_sized()
 *     writes exactly its size, and sqclaim_open() reads no byte past it
 *     (the struct ends at a page boundary and the next page is not
 *     readable: a read past it would crash this test).
 *   - A "newer" caller (bigger structs): the library zeroes the fields it
 *     does not know; options it does not know are fine while 0 and refused
 *     (EUNSUPPORTED) when set.
 *   - The handle still works: claim, reserve, release.
 *   - The structs whose layout is fixed for major version 1 (all but
 *     options, stats and counters) still have their 1.0 sizes: a change
 *     there needs a new SOMAJOR (docs/architecture.md "Binary interface").
 * Exits 0 if every check passed; prints each failure. */
#include <sqclaim.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "old-caller: FAIL line %d: %s: ", __LINE__, #cond);                    \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define GUARD 0xA5

static int guard_intact(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != GUARD)
            return 0;
    return 1;
}

/* The first two counters of sqclaim_stats: a caller built when the struct
 * had only these. */
typedef struct old_stats {
    uint64_t operations;
    uint64_t round_trips;
} old_stats;

/* sqclaim_counters up to cursor_state. */
typedef struct old_counters {
    uint64_t fence;
    unsigned fence_state;
    uint64_t row_cursor;
    unsigned cursor_state;
} old_counters;

/* A caller built against a header with one more option. */
typedef struct new_options {
    sqclaim_options known;
    const char *future_option;
} new_options;

static void test_options_read_bounded(void)
{
    /* Options of exactly the 1.0 layout (through op_timeout_ms) at the end
     * of a page; the page after it is PROT_NONE. */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t size = offsetof(sqclaim_options, op_timeout_ms) + sizeof(int);
    unsigned char *map =
        mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(map != MAP_FAILED, "mmap");
    if (map == MAP_FAILED)
        return;
    CHECK(mprotect(map + page, page, PROT_NONE) == 0, "mprotect");
    /* Aligned for the struct's first member, ending as close to the page
     * end as alignment allows. */
    size_t off = (page - size) & ~(size_t)(_Alignof(sqclaim_options) - 1);
    memset(map, GUARD, page);
    sqclaim_options *o = (sqclaim_options *)(map + off);
    sqclaim_options_init_sized(o, size);
    CHECK(o->size == size, "size %zu, want %zu", o->size, size);
    CHECK(guard_intact(map, off), "init wrote before the struct");
    CHECK(guard_intact(map + off + size, page - off - size), "init wrote past the caller's size");
    o->adapter = "memory";
    o->memory_space = "abi-old";
    sqclaim_store *s = NULL;
    sqclaim_rc rc = sqclaim_open(o, &s); /* a read past `size` would fault */
    CHECK(rc == SQCLAIM_OK, "open: %s", sqclaim_errmsg(s));
    sqclaim_lease l;
    rc = sqclaim_claim(s, "251019-164rmb", "BOT1", 0, &l, NULL);
    CHECK(rc == SQCLAIM_OK, "claim: %s", sqclaim_errmsg(s));
    sqclaim_rows rows;
    rc = sqclaim_reserve_rows(s, &l, 5, 51, &rows);
    CHECK(rc == SQCLAIM_OK && rows.start_row == 51, "reserve: %s", sqclaim_errmsg(s));

    /* Stats of the old layout, guard bytes after it. */
    unsigned char sbuf[sizeof(old_stats) + 32];
    memset(sbuf, GUARD, sizeof sbuf);
    old_stats *st = (old_stats *)(void *)sbuf;
    rc = sqclaim_stats_get_sized(s, (sqclaim_stats *)(void *)st, sizeof *st);
    CHECK(rc == SQCLAIM_OK, "stats");
    CHECK(st->operations == 2, "operations %llu, want 2", (unsigned long long)st->operations);
    CHECK(st->round_trips == 0, "round_trips %llu (memory: 0)",
          (unsigned long long)st->round_trips);
    CHECK(guard_intact(sbuf + sizeof *st, sizeof sbuf - sizeof *st),
          "stats wrote past the caller's size");

    /* Counters of the old layout. */
    unsigned char cbuf[sizeof(old_counters) + 32];
    memset(cbuf, GUARD, sizeof cbuf);
    old_counters *c = (old_counters *)(void *)cbuf;
    rc = sqclaim_counters_get_sized(s, (sqclaim_counters *)(void *)c, sizeof *c);
    CHECK(rc == SQCLAIM_OK, "counters: %s", sqclaim_errmsg(s));
    CHECK(c->row_cursor == 56, "row_cursor %llu, want 56", (unsigned long long)c->row_cursor);
    CHECK(c->fence >= 1 && c->fence_state == SQCLAIM_COUNTER_OK, "fence %llu",
          (unsigned long long)c->fence);
    CHECK(guard_intact(cbuf + sizeof *c, sizeof cbuf - sizeof *c),
          "counters wrote past the caller's size");

    rc = sqclaim_release(s, &l);
    CHECK(rc == SQCLAIM_OK, "release: %s", sqclaim_errmsg(s));
    sqclaim_close(s);
    munmap(map, 2 * page);
}

static void test_new_caller(void)
{
    /* Bigger structs than the library knows: the tail is zeroed. */
    unsigned char big[sizeof(sqclaim_stats) + 16];
    memset(big, GUARD, sizeof big);
    sqclaim_store *s = NULL;
    sqclaim_options o;
    sqclaim_options_init(&o);
    CHECK(o.size == sizeof o, "options_init macro: size %zu", o.size);
    o.adapter = "memory";
    CHECK(sqclaim_open(&o, &s) == SQCLAIM_OK, "open: %s", sqclaim_errmsg(s));
    CHECK(sqclaim_stats_get_sized(s, (sqclaim_stats *)(void *)big, sizeof big) == SQCLAIM_OK,
          "stats");
    for (size_t i = sizeof(sqclaim_stats); i < sizeof big; i++)
        CHECK(big[i] == 0, "byte %zu of a newer caller's stats not zeroed", i);
    sqclaim_stats plain;
    CHECK(sqclaim_stats_get(s, &plain) == SQCLAIM_OK, "stats_get macro");
    sqclaim_close(s);

    /* A newer caller's option: 0 is fine, set is refused. */
    new_options n;
    sqclaim_options_init_sized(&n.known, sizeof n);
    CHECK(n.known.size == sizeof n && n.future_option == NULL, "init of a newer layout");
    n.known.adapter = "memory";
    s = NULL;
    CHECK(sqclaim_open(&n.known, &s) == SQCLAIM_OK, "newer caller, unknown field 0: %s",
          sqclaim_errmsg(s));
    sqclaim_close(s);
    n.future_option = "x";
    s = NULL;
    sqclaim_rc rc = sqclaim_open(&n.known, &s);
    CHECK(rc == SQCLAIM_EUNSUPPORTED, "newer caller, unknown field set: %s", sqclaim_rcname(rc));
    CHECK(strstr(sqclaim_errmsg(s), "newer sqclaim.h") != NULL, "message: %s", sqclaim_errmsg(s));
    sqclaim_close(s);

    /* Too small to be any layout. */
    sqclaim_options tiny;
    sqclaim_options_init(&tiny);
    tiny.size = sizeof(size_t) + 1;
    s = NULL;
    rc = sqclaim_open(&tiny, &s);
    CHECK(rc == SQCLAIM_EINVAL, "tiny size: %s", sqclaim_rcname(rc));
    sqclaim_close(s);

    /* size 0 (zeroed by hand): the 1.0 layout. */
    sqclaim_options zero;
    memset(&zero, 0, sizeof zero);
    zero.adapter = "memory";
    s = NULL;
    CHECK(sqclaim_open(&zero, &s) == SQCLAIM_OK, "size 0: %s", sqclaim_errmsg(s));
    sqclaim_close(s);
}

/* The 1.0 sizes on LP64 (x86_64, aarch64 Linux). */
static void test_fixed_layouts(void)
{
    if (sizeof(void *) != 8 || sizeof(long) != 8 || _Alignof(uint64_t) != 8) {
        printf("old-caller: SKIP fixed layouts: sizes recorded for LP64 only\n");
        return;
    }
    static const struct {
        const char *name;
        size_t now, v1;
    } fixed[] = {
        {"sqclaim_lease", sizeof(sqclaim_lease), 216},
        {"sqclaim_holder", sizeof(sqclaim_holder), 144},
        {"sqclaim_rows", sizeof(sqclaim_rows), 24},
        {"sqclaim_claim_info", sizeof(sqclaim_claim_info), 352},
        {"sqclaim_reservation_info", sizeof(sqclaim_reservation_info), 368},
        {"sqclaim_entry", sizeof(sqclaim_entry), 800},
        {"sqclaim_status", sizeof(sqclaim_status), 64},
        {"sqclaim_clock", sizeof(sqclaim_clock), 16},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        CHECK(fixed[i].now == fixed[i].v1,
              "%s is %zu bytes, %zu in 1.0: its layout is fixed for major version 1", fixed[i].name,
              fixed[i].now, fixed[i].v1);
    /* The growable ones only grow. */
    CHECK(sizeof(sqclaim_options) >= 88, "sqclaim_options shrank");
    CHECK(sizeof(sqclaim_stats) >= 40, "sqclaim_stats shrank");
    CHECK(sizeof(sqclaim_counters) >= 560, "sqclaim_counters shrank");
    CHECK(offsetof(sqclaim_options, size) == 0, "size is not the first field of the options");
}

int main(void)
{
    test_fixed_layouts();
    test_options_read_bounded();
    test_new_caller();
    if (failures) {
        fprintf(stderr, "old-caller: %d check(s) failed\n", failures);
        return 1;
    }
    printf("old-caller: OK (library %s, linked as a shared library)\n", sqclaim_version());
    return 0;
}
