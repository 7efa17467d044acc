/* helpers.c — checks shared by the CLI tests. */
#include "tcli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

cr_opts tc_opts(const tc_backend *b, const char *const *extra)
{
    cr_opts o;
    memset(&o, 0, sizeof o);
    o.env2 = b ? b->env : NULL;
    o.env = extra;
    return o;
}

void tc_run_exit(cr_result *r, const cr_opts *o, int want, const char *const *args)
{
    cr_run(r, o, args);
    ck_assert_msg(r->code == want,
                  "%s: exit status %d, expected %d\n--- stdout:\n%s\n--- stderr:\n%s", args[0],
                  r->code, want, r->out, r->err);
}

void tc_exits(const cr_opts *o, int want, const char *const *args)
{
    cr_result r;
    tc_run_exit(&r, o, want, args);
    cr_free(&r);
}

void tc_has_all(const char *file, int line, const char *which, const char *text, size_t len,
                const char *const *parts)
{
    for (size_t i = 0; parts[i]; i++)
        ck_assert_msg(cr_contains(text, len, parts[i]), "%s:%d: %s lacks \"%s\":\n%s", file, line,
                      which, parts[i], text);
}

void tc_add_loops(TCase *tc, const TTest *const *tests, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tcase_add_loop_test(tc, tests[i], 0, tc_nbackends);
}

TCase *tc_loop_case(Suite *s, tcase_spec spec, const TTest *const *tests, size_t n)
{
    TCase *tc = tcase_add_all(s, spec, NULL, 0);
    tc_add_loops(tc, tests, n);
    return tc;
}

const char *tc_prefix(char *buf, size_t len)
{
    static int n;
    snprintf(buf, len, "clitest-%ld-%d:", (long)getpid(), ++n);
    return buf;
}

void tc_check_stderr_form(const cr_result *r)
{
    const char *p = r->err;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        bool ok = strncmp(p, "sqclaim: ", 9) == 0 || strncmp(p, "Try 'sqclaim", 12) == 0;
        ck_assert_msg(ok, "stderr line not a \"sqclaim: \" message: %.*s", (int)n, p);
        p += n + (nl ? 1 : 0);
    }
}

void tc_check_no_secret(const cr_result *r, const char *secret)
{
    ck_assert_msg(!cr_contains(r->out, r->outlen, secret), "secret on stdout:\n%s", r->out);
    ck_assert_msg(!cr_contains(r->err, r->errlen, secret), "secret on stderr:\n%s", r->err);
}

void tc_check_one_line(const cr_result *r)
{
    ck_assert_msg(r->outlen > 1 && r->out[r->outlen - 1] == '\n', "stdout not a line: [%s]",
                  r->out);
    ck_assert_msg(memchr(r->out, '\n', r->outlen - 1) == NULL, "stdout has several lines: %s",
                  r->out);
}

cJSON *tc_json(const char *text)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(text, &end, 0);
    ck_assert_msg(j != NULL, "not JSON: [%s]", text);
    ck_assert_msg(cJSON_IsObject(j), "not a JSON object: [%s]", text);
    while (end && (*end == '\n' || *end == ' '))
        end++;
    ck_assert_msg(end && *end == '\0', "text after the JSON: [%s]", text);
    return j;
}

void tc_check_keys(const cJSON *obj, const char *const *keys, const char *what)
{
    const cJSON *c = obj->child;
    size_t i = 0;
    for (; keys[i]; i++, c = c->next) {
        ck_assert_msg(c != NULL, "%s: key \"%s\" missing (%zu keys)", what, keys[i], i);
        ck_assert_msg(strcmp(c->string, keys[i]) == 0, "%s: key %zu is \"%s\", expected \"%s\"",
                      what, i + 1, c->string, keys[i]);
    }
    ck_assert_msg(c == NULL, "%s: extra key \"%s\"", what, c ? c->string : "");
}

bool tc_is_timestamp(const char *s)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (!s || strlen(s) != sizeof pat - 1)
        return false;
    for (size_t i = 0; pat[i]; i++) {
        if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
            return false;
    }
    return true;
}

static bool is_hex32(const char *s)
{
    if (strlen(s) != 32)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

void tc_check_lease(const char *out, const char *sq, const char *bot, int64_t ttl_ms,
                    tc_lease *lease)
{
    memset(lease, 0, sizeof *lease);
    size_t len = strlen(out);
    ck_assert_msg(len > 1 && out[len - 1] == '\n' && !memchr(out, '\n', len - 1),
                  "the lease is not one line: [%s]", out);
    ck_assert_msg(len < sizeof lease->line, "lease too long");
    memcpy(lease->line, out, len - 1);
    cJSON *j = tc_json(out);
    static const char *const keys[] = {"sq", "bot", "token", "fence", "ttlMs", "expiresAt", NULL};
    tc_check_keys(j, keys, "lease");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "sq");
    ck_assert(cJSON_IsString(v));
    if (sq)
        ck_assert_str_eq(v->valuestring, sq);
    snprintf(lease->sq, sizeof lease->sq, "%s", v->valuestring);
    v = cJSON_GetObjectItemCaseSensitive(j, "bot");
    ck_assert(cJSON_IsString(v));
    if (bot)
        ck_assert_str_eq(v->valuestring, bot);
    snprintf(lease->bot, sizeof lease->bot, "%s", v->valuestring);
    v = cJSON_GetObjectItemCaseSensitive(j, "token");
    ck_assert(cJSON_IsString(v));
    ck_assert_msg(is_hex32(v->valuestring), "token not 32 hex digits: %s", v->valuestring);
    snprintf(lease->token, sizeof lease->token, "%s", v->valuestring);
    v = cJSON_GetObjectItemCaseSensitive(j, "fence");
    ck_assert(cJSON_IsNumber(v) && v->valuedouble >= 0);
    lease->fence = (uint64_t)v->valuedouble;
    v = cJSON_GetObjectItemCaseSensitive(j, "ttlMs");
    ck_assert(cJSON_IsNumber(v));
    lease->ttl_ms = (int64_t)v->valuedouble;
    if (ttl_ms >= 0)
        ck_assert_int_eq(lease->ttl_ms, ttl_ms);
    v = cJSON_GetObjectItemCaseSensitive(j, "expiresAt");
    ck_assert(cJSON_IsString(v));
    ck_assert_msg(tc_is_timestamp(v->valuestring), "expiresAt: %s", v->valuestring);
    cJSON_Delete(j);
}

cJSON *tc_check_status(const char *out)
{
    cJSON *j = tc_json(out);
    static const char *const top[] = {"success",   "sqClaims",     "refundReservations",
                                      "timestamp", "kvConfigured", NULL};
    tc_check_keys(j, top, "status");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "success")));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "kvConfigured")));
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(j, "timestamp");
    ck_assert_msg(cJSON_IsString(ts) && tc_is_timestamp(ts->valuestring), "timestamp: %s",
                  cJSON_IsString(ts) ? ts->valuestring : "(not a string)");
    const cJSON *claims = cJSON_GetObjectItemCaseSensitive(j, "sqClaims");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "refundReservations");
    ck_assert(cJSON_IsObject(claims));
    ck_assert(cJSON_IsObject(res));
    static const char *const ckeys[] = {"botId", "timestamp", "status", "fence", "ttlMs", NULL};
    static const char *const rkeys[] = {"botId",     "startRow", "rowCount", "status",
                                        "timestamp", "fence",    "ttlMs",    NULL};
    const cJSON *c;
    cJSON_ArrayForEach(c, claims)
    {
        ck_assert(cJSON_IsObject(c));
        tc_check_keys(c, ckeys, c->string);
        ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, "botId")));
        ck_assert(tc_is_timestamp(cJSON_GetObjectItemCaseSensitive(c, "timestamp")->valuestring));
        ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, "status")));
        ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(c, "fence")));
        ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(c, "ttlMs")));
    }
    cJSON_ArrayForEach(c, res)
    {
        ck_assert(cJSON_IsObject(c));
        tc_check_keys(c, rkeys, c->string);
        ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(c, "startRow")));
        ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(c, "rowCount")));
        ck_assert(tc_is_timestamp(cJSON_GetObjectItemCaseSensitive(c, "timestamp")->valuestring));
    }
    return j;
}
