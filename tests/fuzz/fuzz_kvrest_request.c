/* fuzz_kvrest_request.c — kvrest's request parsing (sim/kvrest/cmdparse.c):
 * JSON bodies (one command, pipelines), path-style commands and
 * percent-decoding.
 *
 * Input: byte 0 picks the mode, the rest is the data.
 *   0, 1  the rest is a body (1: a pipeline).  Anything accepted is
 *         re-encoded as canonical JSON, which must parse to the very same
 *         arguments; where cJSON also reads the body, the two agree on the
 *         shape and on every string without a NUL.
 *   2     a path "/cmd/arg…" (up to the first NUL) and a body: the
 *         arguments are the segments, each percent-decoded (checked
 *         against a reference decoder), then the body; re-encoding them
 *         (every byte %XX) parses back to the same arguments.
 *   3     structured: arguments drawn from the input are encoded with
 *         escapes chosen by the input (\uXXXX, surrogate pairs, short
 *         escapes, whitespace, numbers as literals); kvrest must accept
 *         the body and decode exactly the arguments that were sent. */
#include "fuzz.h"

#include "../../sim/kvrest/kvrest.h"

#include <cjson/cJSON.h>

typedef struct args {
    size_t ncmds;
    size_t argc[64];
    size_t n;
    char *v[512];
    size_t len[512];
} args;

static void args_free(args *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    memset(a, 0, sizeof *a);
}

static bool args_add(args *a, const char *s, size_t len)
{
    if (a->n == sizeof a->v / sizeof a->v[0])
        return false;
    a->v[a->n] = malloc(len + 1);
    if (!a->v[a->n])
        abort();
    if (len)
        memcpy(a->v[a->n], s, len);
    a->v[a->n][len] = '\0';
    a->len[a->n++] = len;
    return true;
}

/* Check out against the expected arguments a (flattened, a->argc per
 * command). */
static void same_args(const kv_cmds *out, const args *a, const char *what)
{
    FUZZ_CHECK(out->n == a->ncmds, "%s: %zu commands, expected %zu", what, out->n, a->ncmds);
    size_t k = 0;
    for (size_t c = 0; c < out->n; c++) {
        FUZZ_CHECK((size_t)out->cmd[c].argc == a->argc[c], "%s: command %zu has %d args, not %zu",
                   what, c, out->cmd[c].argc, a->argc[c]);
        for (int i = 0; i < out->cmd[c].argc; i++, k++) {
            FUZZ_CHECK(out->cmd[c].argvlen[i] == a->len[k] &&
                           memcmp(out->cmd[c].argv[i], a->v[k], a->len[k]) == 0,
                       "%s: argument %zu differs", what, k);
            FUZZ_CHECK(out->cmd[c].argv[i][a->len[k]] == '\0', "%s: argument %zu not terminated",
                       what, k);
        }
    }
}

static void to_args(const kv_cmds *out, args *a)
{
    memset(a, 0, sizeof *a);
    for (size_t c = 0; c < out->n && c < 64; c++) {
        a->argc[a->ncmds++] = (size_t)out->cmd[c].argc;
        for (int i = 0; i < out->cmd[c].argc; i++)
            if (!args_add(a, out->cmd[c].argv[i], out->cmd[c].argvlen[i]))
                return;
    }
}

/* Canonical JSON of one argument: escapes for '"', '\\' and bytes < 0x20,
 * every other byte as it is (kvrest passes raw bytes >= 0x80 through). */
static void enc_string(kv_buf *b, const char *s, size_t n)
{
    kv_buf_addc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            kv_buf_addc(b, '\\');
            kv_buf_addc(b, (char)c);
        } else if (c < 0x20) {
            kv_buf_addf(b, "\\u%04x", c);
        } else {
            kv_buf_addc(b, (char)c);
        }
    }
    kv_buf_addc(b, '"');
}

static void enc_body(kv_buf *b, const args *a, bool nested)
{
    size_t k = 0;
    if (nested)
        kv_buf_addc(b, '[');
    for (size_t c = 0; c < a->ncmds; c++) {
        if (c)
            kv_buf_addc(b, ',');
        kv_buf_addc(b, '[');
        for (size_t i = 0; i < a->argc[c]; i++, k++) {
            if (i)
                kv_buf_addc(b, ',');
            enc_string(b, a->v[k], a->len[k]);
        }
        kv_buf_addc(b, ']');
    }
    if (nested)
        kv_buf_addc(b, ']');
}

/* Where cJSON reads the body too, it must see the same shape. */
static void compare_cjson(const char *body, size_t len, const kv_cmds *out, bool nested)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root)
        return;
    FUZZ_CHECK(cJSON_IsArray(root), "accepted body is not an array for cJSON");
    size_t ncmd = nested ? (size_t)cJSON_GetArraySize(root) : 1;
    FUZZ_CHECK(ncmd == out->n, "cJSON sees %zu commands, kvrest %zu", ncmd, out->n);
    size_t c = 0;
    for (const cJSON *cmd = nested ? root->child : root; cmd && c < out->n; cmd = cmd->next, c++) {
        FUZZ_CHECK(cJSON_IsArray(cmd), "command %zu is not an array for cJSON", c);
        FUZZ_CHECK(cJSON_GetArraySize(cmd) == out->cmd[c].argc, "command %zu: argc differs", c);
        int i = 0;
        for (const cJSON *v = cmd->child; v; v = v->next, i++) {
            const char *arg = out->cmd[c].argv[i];
            size_t alen = out->cmd[c].argvlen[i];
            if (cJSON_IsString(v)) {
                if (memchr(arg, '\0', alen))
                    continue; /* cJSON cuts strings at \u0000 */
                FUZZ_CHECK(strlen(v->valuestring) == alen && memcmp(v->valuestring, arg, alen) == 0,
                           "command %zu argument %d: cJSON reads another string", c, i);
            } else if (cJSON_IsBool(v)) {
                const char *w = cJSON_IsTrue(v) ? "true" : "false";
                FUZZ_CHECK(alen == strlen(w) && memcmp(arg, w, alen) == 0,
                           "command %zu argument %d: boolean differs", c, i);
            } else if (cJSON_IsNumber(v)) {
                FUZZ_CHECK(strtod(arg, NULL) == v->valuedouble,
                           "command %zu argument %d: number differs", c, i);
            } else {
                FUZZ_CHECK(false, "command %zu argument %d: accepted a null/array/object", c, i);
            }
        }
    }
    cJSON_Delete(root);
}

static void mode_body(const uint8_t *data, size_t size, bool nested)
{
    kv_cmds out;
    char err[256];
    if (kv_parse_commands(&out, (const char *)data, size, nested, err, sizeof err) != 0) {
        FUZZ_CHECK(strncmp(err, "ERR ", 4) == 0, "error text without ERR: %s", err);
        return;
    }
    FUZZ_CHECK(out.n >= 1 && (nested || out.n == 1), "%zu commands", out.n);
    for (size_t c = 0; c < out.n; c++)
        FUZZ_CHECK(out.cmd[c].argc >= 1, "empty command %zu accepted", c);
    compare_cjson((const char *)data, size, &out, nested);
    args a;
    to_args(&out, &a);
    if (a.ncmds == out.n && a.n == out.nargs) {
        kv_buf b = {0};
        enc_body(&b, &a, nested);
        kv_cmds again;
        int rc = kv_parse_commands(&again, b.p, b.len, nested, err, sizeof err);
        FUZZ_CHECK(rc == 0, "re-encoded body refused: %s", err);
        same_args(&again, &a, "re-encoded body");
        kv_cmds_free(&again);
        kv_buf_free(&b);
    }
    args_free(&a);
    kv_cmds_free(&out);
}

/* Reference percent-decoder (malformed escapes kept). */
static size_t ref_decode(const char *s, size_t n, char *out)
{
    size_t w = 0;
    for (size_t r = 0; r < n;) {
        if (s[r] == '%' && r + 2 < n && sq_hexval((unsigned char)s[r + 1]) >= 0 &&
            sq_hexval((unsigned char)s[r + 2]) >= 0) {
            out[w++] = (char)(sq_hexval((unsigned char)s[r + 1]) * 16 +
                              sq_hexval((unsigned char)s[r + 2]));
            r += 3;
        } else {
            out[w++] = s[r++];
        }
    }
    return w;
}

static void mode_path(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : size;
    char *path = fz_cstr(data, plen);
    const char *body = nul ? (const char *)nul + 1 : NULL;
    size_t blen = nul ? size - plen - 1 : 0;

    /* Percent-decoding alone, against the reference. */
    char *dec = fz_cstr(data, plen), *ref = malloc(plen + 1);
    if (!ref)
        abort();
    size_t dn = kv_percent_decode(dec, plen);
    size_t rn = ref_decode(path, plen, ref);
    FUZZ_CHECK(dn == rn && memcmp(dec, ref, dn) == 0, "percent-decoding differs");
    free(dec);
    free(ref);

    kv_cmds out;
    char err[256];
    if (kv_path_command(&out, path, body, blen, err, sizeof err) != 0) {
        free(path);
        return;
    }
    /* Expected: segments of the path (one leading and one trailing '/'
     * dropped), decoded, then the body if any. */
    args a = {0};
    a.ncmds = 1;
    size_t i = plen && path[0] == '/' ? 1 : 0, n = plen;
    if (n > i && path[n - 1] == '/')
        n--;
    char *seg = malloc(plen + 1);
    if (!seg)
        abort();
    bool fits = true;
    while (i <= n && fits) {
        size_t j = i;
        while (j < n && path[j] != '/')
            j++;
        size_t sl = ref_decode(path + i, j - i, seg);
        fits = args_add(&a, seg, sl);
        i = j + 1;
    }
    if (fits && body && blen)
        fits = args_add(&a, body, blen);
    a.argc[0] = a.n;
    if (fits) {
        same_args(&out, &a, "path command");
        /* Re-encode: every byte %XX; an empty last segment needs the
         * trailing '/' that is otherwise dropped. */
        kv_buf b = {0};
        size_t segs = a.n - (body && blen ? 1 : 0);
        for (size_t k = 0; k < segs; k++) {
            kv_buf_addc(&b, '/');
            for (size_t m = 0; m < a.len[k]; m++)
                kv_buf_addf(&b, "%%%02X", (unsigned char)a.v[k][m]);
        }
        if (segs && a.len[segs - 1] == 0)
            kv_buf_addc(&b, '/');
        kv_cmds again;
        if (b.p && kv_path_command(&again, b.p, body, blen, err, sizeof err) == 0) {
            same_args(&again, &a, "re-encoded path");
            kv_cmds_free(&again);
        } else {
            FUZZ_CHECK(segs == 1 && a.len[0] == 0, "re-encoded path refused: %s", b.p ? b.p : "");
        }
        kv_buf_free(&b);
    }
    free(seg);
    args_free(&a);
    kv_cmds_free(&out);
    free(path);
}

/* A JSON number literal (RFC 8259)?  Then it may be sent bare. */
static bool is_json_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || s[i] < '0' || s[i] > '9')
        return false;
    if (s[i] == '0')
        i++;
    else
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return false;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return false;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    return i == n;
}

static void ws(kv_buf *b, fz *f)
{
    static const char w[] = " \t\n\r";
    unsigned k = fz_u8(f) % 8;
    if (k < 4)
        kv_buf_addc(b, w[k]);
}

/* Encode s with escapes chosen by the input. */
static void enc_fancy(kv_buf *b, const char *s, size_t n, fz *f)
{
    kv_buf_addc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        unsigned how = fz_u8(f) % 4;
        /* A valid 4-byte UTF-8 sequence may go as a surrogate pair. */
        if (c >= 0xF0 && c <= 0xF4 && i + 3 < n && how == 0 &&
            ((unsigned char)s[i + 1] & 0xC0) == 0x80 && ((unsigned char)s[i + 2] & 0xC0) == 0x80 &&
            ((unsigned char)s[i + 3] & 0xC0) == 0x80) {
            unsigned long cp = (unsigned long)(c & 7) << 18 |
                               (unsigned long)((unsigned char)s[i + 1] & 0x3F) << 12 |
                               (unsigned long)((unsigned char)s[i + 2] & 0x3F) << 6 |
                               ((unsigned char)s[i + 3] & 0x3F);
            if (cp >= 0x10000 && cp <= 0x10FFFF) {
                cp -= 0x10000;
                kv_buf_addf(b, "\\u%04lX\\u%04lx", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
                i += 4;
                continue;
            }
        }
        if (c >= 0x80) {
            kv_buf_addc(b, (char)c);
        } else if (how == 1 || c < 0x20 || c == '"' || c == '\\') {
            const char *short_esc = c == '"'    ? "\\\""
                                    : c == '\\' ? "\\\\"
                                    : c == '/'  ? "\\/"
                                    : c == '\b' ? "\\b"
                                    : c == '\f' ? "\\f"
                                    : c == '\n' ? "\\n"
                                    : c == '\r' ? "\\r"
                                    : c == '\t' ? "\\t"
                                                : NULL;
            if (short_esc && how != 2)
                kv_buf_adds(b, short_esc);
            else
                kv_buf_addf(b, how == 3 ? "\\u%04X" : "\\u%04x", c);
        } else {
            kv_buf_addc(b, (char)c);
        }
        i++;
    }
    kv_buf_addc(b, '"');
}

static void mode_structured(const uint8_t *data, size_t size)
{
    fz f = {data, size, 0};
    bool nested = fz_u8(&f) & 1;
    args a = {0};
    a.ncmds = nested ? 1 + fz_u8(&f) % 4 : 1;
    for (size_t c = 0; c < a.ncmds; c++) {
        size_t argc = 1 + fz_u8(&f) % 5;
        for (size_t i = 0; i < argc; i++) {
            const uint8_t *p;
            size_t len = fz_bytes(&f, fz_u8(&f) % 24, &p);
            args_add(&a, (const char *)p, len);
        }
        a.argc[c] = argc;
    }
    kv_buf b = {0};
    size_t k = 0;
    ws(&b, &f);
    if (nested)
        kv_buf_addc(&b, '[');
    for (size_t c = 0; c < a.ncmds; c++) {
        if (c)
            kv_buf_addc(&b, ',');
        ws(&b, &f);
        kv_buf_addc(&b, '[');
        for (size_t i = 0; i < a.argc[c]; i++, k++) {
            if (i)
                kv_buf_addc(&b, ',');
            ws(&b, &f);
            if (i > 0 && is_json_number(a.v[k], a.len[k]) && fz_u8(&f) % 2)
                kv_buf_add(&b, a.v[k], a.len[k]);
            else if (i > 0 && a.len[k] == 4 && memcmp(a.v[k], "true", 4) == 0)
                kv_buf_adds(&b, "true");
            else
                enc_fancy(&b, a.v[k], a.len[k], &f);
            ws(&b, &f);
        }
        kv_buf_addc(&b, ']');
        ws(&b, &f);
    }
    if (nested)
        kv_buf_addc(&b, ']');
    ws(&b, &f);
    kv_cmds out;
    char err[256];
    int rc = kv_parse_commands(&out, b.p, b.len, nested, err, sizeof err);
    FUZZ_CHECK(rc == 0, "a well-formed body was refused: %s", err);
    same_args(&out, &a, "structured body");
    kv_cmds_free(&out);
    kv_buf_free(&b);
    args_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    switch (data[0] % 4) {
    case 0: mode_body(data + 1, size - 1, false); break;
    case 1: mode_body(data + 1, size - 1, true); break;
    case 2: mode_path(data + 1, size - 1); break;
    default: mode_structured(data + 1, size - 1); break;
    }
    return 0;
}
