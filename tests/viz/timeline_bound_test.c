/* timeline_bound_test.c — the timeline page stays small however long the
 * run: 3 000 000 synthetic events (16 lanes, 64 SQs) give a page of at most
 * a few MB, with a window around a violation (which stays in it) or an
 * even sample without one, and counts of what was left out. */
#include "tfile.h"
#include "timeline.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;

static void check(bool ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok)
        failures++;
}

/* The integer after "key": in the page's JSON. */
static long long field(const char *text, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    return p ? atoll(p + strlen(pat)) : -1;
}

int main(void)
{
    const size_t n = 3000000;
    tl_event *ev = calloc(n, sizeof *ev);
    if (!ev)
        return 2;
    char names[64][24];
    const char *sqs[64];
    for (int i = 0; i < 64; i++) {
        snprintf(names[i], sizeof names[i], "251019-t%04d", i);
        sqs[i] = names[i];
    }
    const char *lanes[16] = {"BOT1", "BOT2",  "BOT3",  "BOT4",  "BOT5",  "BOT6",  "BOT7",  "BOT8",
                             "BOT9", "BOT10", "BOT11", "BOT12", "BOT13", "BOT14", "BOT15", "BOT16"};
    for (size_t i = 0; i < n; i++) {
        ev[i].t0 = (int64_t)i * 1000;
        ev[i].t1 = ev[i].t0 + 5000;
        ev[i].lane = (int32_t)(i % 16);
        ev[i].sq = (int32_t)(i % 64);
        ev[i].kind = (uint8_t)(i % TL_KIND_COUNT);
        ev[i].fence = i;
        ev[i].token = 0xdeadbeef;
    }
    /* A violation two thirds in. */
    tl_mark m = {3,
                 5,
                 2000000000LL,
                 2000050000LL,
                 2000020000LL,
                 2000090000LL,
                 7,
                 0,
                 0,
                 "overlap",
                 "two bots at once <on purpose>"};
    char path[] = "/tmp/sqsim-timeline-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 2;
    close(fd);
    tl_page page = {.title = "bound test",
                    .verdict = "violation",
                    .reproduce = "sqsim --seed 1",
                    .nlanes = 16,
                    .lane_names = lanes,
                    .nsqs = 64,
                    .sq_names = sqs,
                    .span = (int64_t)n * 1000 + 5000,
                    .ev = ev,
                    .nev = n,
                    .marks = &m,
                    .nmarks = 1};
    check(tl_write_file(path, &page) == 0, "a page of 3 000 000 events with a violation written");
    size_t len = 0;
    char *text = tfile_read(path, &len);
    check(text && len < 4 * 1024 * 1024, "it is under 4 MB");
    if (text) {
        long long shown = field(text, "shown"), total = field(text, "total");
        check(total == (long long)n, "it says how many events the run had");
        check(shown > 0 && shown <= TL_DEFAULT_MAX_EVENTS, "it keeps at most the bound");
        const char *w = strstr(text, "\"window\":[");
        long long lo = w ? atoll(w + 10) : -1;
        const char *c = w ? strchr(w, ',') : NULL;
        long long hi = c ? atoll(c + 1) : -1;
        check(lo <= 2000000 && hi >= 2000090, "the window holds the violation (us)");
        check(!strstr(text, "<on purpose>") && strstr(text, "\\u003con purpose\\u003e"),
              "text is escaped inside the page's script");
        check(strstr(text, "\"refused\":[") != NULL, "it counts what it left out per kind");
    }
    free(text);

    page.nmarks = 0;
    page.verdict = "pass";
    check(tl_write_file(path, &page) == 0, "the same run without a violation written");
    text = tfile_read(path, &len);
    check(text && len < 4 * 1024 * 1024, "it is under 4 MB too");
    if (text) {
        long long stride = field(text, "stride"), shown = field(text, "shown");
        check(stride > 1 && shown <= TL_DEFAULT_MAX_EVENTS, "an even sample of the run");
    }
    free(text);
    unlink(path);
    free(ev);
    printf("%d failed\n", failures);
    return failures ? 1 : 0;
}
