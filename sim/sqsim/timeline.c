/* timeline.c — the HTML timeline writer (timeline.h).
 *
 * The page itself (HTML, CSS, JavaScript) is sim/sqsim/timeline.html,
 * compiled in as lines of text (the build turns it into
 * timeline_page.inc); its line "@@DATA@@" is replaced by the run as one
 * JSON object.  This file chooses what goes in (the bound) and writes the
 * JSON. */
#include "timeline.h"
#include "util/squtil.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const page_lines[] = {
#include "timeline_page.inc"
    NULL};

static const char *const kind_names[TL_KIND_COUNT] = {
    "hold", "store", "keepalive", "renew", "reserve", "write", "crash", "pause", "fault", "refused",
};

#define DENSITY_BUCKETS 300

uint32_t tl_token32(const char *token)
{
    uint32_t v = 0;
    if (!token)
        return 0;
    for (int i = 0; i < 8; i++) {
        char c = token[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return 0;
        v = v << 4 | (uint32_t)d;
    }
    return v;
}

/* A JSON string inside the page's <script>: never "</script>" there. */
static void json_str(FILE *f, const char *s) { sq_json_fput(f, s, SQ_JSON_CSTR, SQ_JSON_HTML); }

static bool intersects(const tl_event *e, int64_t lo, int64_t hi)
{
    return e->t1 >= lo && e->t0 <= hi;
}

static size_t count_in(const tl_page *p, int64_t lo, int64_t hi)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nev; i++)
        n += intersects(&p->ev[i], lo, hi);
    return n;
}

/* Which events go into the page: keep[i].  Returns how many; lo and hi the
 * window kept (whole run: 0, span), *stride the sampling step (1: none). */
static size_t choose(const tl_page *p, size_t max, bool *keep, int64_t *lo, int64_t *hi,
                     size_t *stride)
{
    *lo = 0;
    *hi = p->span;
    *stride = 1;
    if (p->nev <= max) {
        for (size_t i = 0; i < p->nev; i++)
            keep[i] = true;
        return p->nev;
    }
    if (p->nmarks) {
        /* The widest window around the first violation that fits. */
        const tl_mark *m = &p->marks[0];
        int64_t c0 = m->a0, c1 = m->a1;
        if (m->lane_b >= 0) {
            if (m->b0 < c0)
                c0 = m->b0;
            if (m->b1 > c1)
                c1 = m->b1;
        }
        int64_t good = -1, w = (c1 - c0) / 4 + 1000;
        int64_t bad = -1;
        while (w < p->span * 2 + 2000) {
            if (count_in(p, c0 - w, c1 + w) <= max) {
                good = w;
                w *= 2;
            } else {
                bad = w;
                break;
            }
        }
        if (bad < 0)
            bad = w;
        if (good < 0) {
            if (count_in(p, c0, c1) <= max) {
                good = 0;
            } else { /* even the violation alone is too much: its first events */
                size_t n = 0;
                for (size_t i = 0; i < p->nev; i++) {
                    keep[i] = n < max && intersects(&p->ev[i], c0, c1);
                    n += keep[i];
                }
                *lo = c0;
                *hi = c1;
                return n;
            }
        }
        for (int k = 0; k < 40 && bad - good > 1000; k++) {
            int64_t mid = good + (bad - good) / 2;
            if (count_in(p, c0 - mid, c1 + mid) <= max)
                good = mid;
            else
                bad = mid;
        }
        *lo = c0 - good;
        *hi = c1 + good;
        size_t n = 0;
        for (size_t i = 0; i < p->nev; i++) {
            keep[i] = intersects(&p->ev[i], *lo, *hi);
            n += keep[i];
        }
        return n;
    }
    *stride = (p->nev + max - 1) / max;
    size_t n = 0;
    for (size_t i = 0; i < p->nev; i++) {
        keep[i] = i % *stride == 0;
        n += keep[i];
    }
    return n;
}

static void write_json(FILE *f, const tl_page *p)
{
    size_t max = p->max_events ? p->max_events : TL_DEFAULT_MAX_EVENTS;
    bool *keep = calloc(p->nev ? p->nev : 1, sizeof *keep);
    if (!keep) {
        errno = ENOMEM;
        fputs("null", f);
        return;
    }
    int64_t lo, hi;
    size_t stride;
    size_t shown = choose(p, max, keep, &lo, &hi, &stride);
    uint64_t omitted[TL_KIND_COUNT] = {0}, total[TL_KIND_COUNT] = {0};
    uint64_t density[DENSITY_BUCKETS] = {0};
    int64_t span = p->span > 0 ? p->span : 1;
    for (size_t i = 0; i < p->nev; i++) {
        const tl_event *e = &p->ev[i];
        unsigned k = e->kind < TL_KIND_COUNT ? e->kind : TL_FAULT;
        total[k]++;
        if (!keep[i])
            omitted[k]++;
        int64_t b = e->t0 * DENSITY_BUCKETS / span;
        if (b < 0)
            b = 0;
        if (b >= DENSITY_BUCKETS)
            b = DENSITY_BUCKETS - 1;
        density[b]++;
    }

    fputs("{\"title\":", f);
    json_str(f, p->title);
    fputs(",\"verdict\":", f);
    json_str(f, p->verdict);
    fputs(",\"reproduce\":", f);
    json_str(f, p->reproduce);
    fprintf(f, ",\"span\":%" PRId64 ",\"total\":%zu,\"shown\":%zu,\"stride\":%zu", span / 1000,
            p->nev, shown, stride);
    fprintf(f, ",\"window\":[%" PRId64 ",%" PRId64 "]", lo / 1000, hi / 1000);
    fputs(",\"lanes\":[", f);
    for (int i = 0; i < p->nlanes; i++) {
        if (i)
            fputc(',', f);
        json_str(f, p->lane_names ? p->lane_names[i] : "");
    }
    fputs("],\"sqs\":[", f);
    for (int i = 0; i < p->nsqs; i++) {
        if (i)
            fputc(',', f);
        json_str(f, p->sq_names ? p->sq_names[i] : "");
    }
    fputs("],\"kinds\":[", f);
    for (int k = 0; k < TL_KIND_COUNT; k++)
        fprintf(f, "%s\"%s\"", k ? "," : "", kind_names[k]);
    fputs("],\"counts\":{", f);
    for (int k = 0; k < TL_KIND_COUNT; k++)
        fprintf(f, "%s\"%s\":[%" PRIu64 ",%" PRIu64 "]", k ? "," : "", kind_names[k], total[k],
                omitted[k]);
    fputs("},\"density\":[", f);
    for (int b = 0; b < DENSITY_BUCKETS; b++)
        fprintf(f, "%s%" PRIu64, b ? "," : "", density[b]);
    fputs("],\"marks\":[", f);
    for (size_t i = 0; i < p->nmarks; i++) {
        const tl_mark *m = &p->marks[i];
        fprintf(f,
                "%s{\"a\":%d,\"b\":%d,\"a0\":%" PRId64 ",\"a1\":%" PRId64 ",\"b0\":%" PRId64
                ",\"b1\":%" PRId64 ",\"sq\":%d,\"row\":%" PRIu64 ",\"rows\":%" PRIu32 ",\"kind\":",
                i ? "," : "", m->lane_a, m->lane_b, m->a0 / 1000, m->a1 / 1000, m->b0 / 1000,
                m->b1 / 1000, m->sq, m->row, m->rows);
        json_str(f, m->kind);
        fputs(",\"text\":", f);
        json_str(f, m->text);
        fputc('}', f);
    }
    /* Events: [kind, lane, t0, t1, sq, fence, row, rows, lease, token, flags, note] */
    fputs("],\"ev\":[", f);
    bool first = true;
    for (size_t i = 0; i < p->nev; i++) {
        if (!keep[i])
            continue;
        const tl_event *e = &p->ev[i];
        fprintf(f,
                "%s\n[%u,%d,%" PRId64 ",%" PRId64 ",%d,%" PRIu64 ",%" PRIu64 ",%" PRIu32 ",%" PRIu32
                ",\"%08" PRIx32 "\",%u,",
                first ? "" : ",", e->kind < TL_KIND_COUNT ? e->kind : TL_FAULT, e->lane,
                e->t0 / 1000, e->t1 / 1000, e->sq, e->fence, e->row, e->rows, e->lease, e->token,
                e->flags);
        char note[sizeof e->note + 1];
        memcpy(note, e->note, sizeof e->note);
        note[sizeof e->note] = '\0';
        json_str(f, note);
        fputc(']', f);
        first = false;
    }
    fputs("]}", f);
    free(keep);
}

int tl_write_html(FILE *f, const tl_page *page)
{
    errno = 0;
    for (size_t i = 0; page_lines[i]; i++) {
        if (strcmp(page_lines[i], "@@DATA@@\n") == 0) {
            write_json(f, page);
            if (errno == ENOMEM)
                return -1;
            fputc('\n', f);
        } else {
            fputs(page_lines[i], f);
        }
    }
    if (fflush(f) != 0 || ferror(f))
        return -1;
    return 0;
}

int tl_write_file(const char *path, const tl_page *page)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int rc = tl_write_html(f, page);
    int saved = errno;
    if (fclose(f) != 0 && rc == 0)
        return -1;
    errno = saved;
    return rc;
}
