/* replay.c — runs every file of the seed corpus (tests/fuzz/corpus/<target>/)
 * through its fuzz target, without libFuzzer: `make check` runs it, so a
 * build with any C compiler re-checks every input that ever found a bug.
 *
 *   fuzz_replay                       every target, its whole corpus
 *   fuzz_replay TARGET FILE|DIR...    one target on the given inputs (to
 *                                     reproduce a crash file from libFuzzer)
 *
 * A target that finds a violated invariant aborts, after this driver has
 * said which file it was running. */
#include "targets.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FUZZ_CORPUS_DIR
#define FUZZ_CORPUS_DIR "tests/fuzz/corpus"
#endif

#define DECLARE(name) int fuzz_##name##_one(const uint8_t *data, size_t size);
FUZZ_TARGET_LIST(DECLARE)
#undef DECLARE

typedef struct target {
    const char *name;
    int (*one)(const uint8_t *data, size_t size);
} target;

static const target targets[] = {
#define ENTRY(name) {#name, fuzz_##name##_one},
    FUZZ_TARGET_LIST(ENTRY)
#undef ENTRY
};

static char current[4096];

static void on_crash(int sig)
{
    /* Async-signal-safe: write(2) only. */
    static const char head[] = "fuzz_replay: crashed on ";
    ssize_t r = write(2, head, sizeof head - 1);
    r = write(2, current, strlen(current));
    r = write(2, "\n", 1);
    (void)r;
    signal(sig, SIG_DFL);
    raise(sig);
}

static int run_file(const target *t, const char *path)
{
    snprintf(current, sizeof current, "%s (target %s)", path, t->name);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    size_t k;
    while (buf && (k = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += k;
        if (n == cap) {
            uint8_t *g = realloc(buf, cap * 2);
            if (!g) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = g;
            cap *= 2;
        }
    }
    fclose(fp);
    if (!buf) {
        fprintf(stderr, "fuzz_replay: %s: out of memory\n", path);
        return -1;
    }
    /* A copy of exactly n bytes: reading past the input is caught by
     * ASan in a sanitizer build, as under libFuzzer. */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, n);
    free(buf);
    t->one(exact, n);
    free(exact);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir, in name order.  Returns the count, or -1. */
static long run_dir(const target *t, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "fuzz_replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **g = realloc(names, cap * sizeof *names);
            if (!g)
                abort();
            names = g;
        }
        names[n] = strdup(e->d_name);
        if (!names[n])
            abort();
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    long count = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(t, path) != 0)
                count = -1;
            else if (count >= 0)
                count++;
        }
        free(names[i]);
    }
    free(names);
    return count;
}

static const target *find(const char *name)
{
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (strcmp(targets[i].name, name) == 0)
            return &targets[i];
    return NULL;
}

int main(int argc, char **argv)
{
    signal(SIGABRT, on_crash);
    signal(SIGSEGV, on_crash);
    signal(SIGBUS, on_crash);
    signal(SIGFPE, on_crash);
    if (argc >= 2) {
        const target *t = find(argv[1]);
        if (!t || argc < 3) {
            fprintf(stderr, "usage: %s [TARGET FILE|DIR...]\ntargets:", argv[0]);
            for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
                fprintf(stderr, " %s", targets[i].name);
            fputc('\n', stderr);
            return 2;
        }
        for (int i = 2; i < argc; i++) {
            struct stat st;
            long r = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) ? run_dir(t, argv[i])
                                                                    : run_file(t, argv[i]);
            if (r < 0)
                return 1;
        }
        printf("fuzz_replay: %s: %d input(s) passed\n", t->name, argc - 2);
        return 0;
    }
    int failed = 0;
    long total = 0;
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", FUZZ_CORPUS_DIR, targets[i].name);
        long n = run_dir(&targets[i], dir);
        if (n <= 0) {
            /* A missing or empty corpus replays nothing: that is a failure,
             * not a pass. */
            fprintf(stderr, "fuzz_replay: %s: %s\n", targets[i].name,
                    n == 0 ? "empty corpus" : "corpus unreadable");
            failed = 1;
            continue;
        }
        printf("fuzz_replay: %-15s %5ld corpus files passed\n", targets[i].name, n);
        total += n;
    }
    printf("fuzz_replay: %ld files, %s\n", total, failed ? "FAILED" : "all passed");
    return failed;
}
