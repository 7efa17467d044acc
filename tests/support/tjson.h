/*
 * tjson.h — reading a program's JSON report (cJSON) in a test: a member
 * one or two levels down, and a number or string that must be there.
 *
 *   ck_assert(tjson_num(report, "counters", "grants") > 0);
 *   ck_assert_str_eq(tjson_str(report, "verdict"), "pass");
 *
 * Header only (static inline); the test program links cJSON.
 */
#ifndef SQCLAIM_TEST_TJSON_H
#define SQCLAIM_TEST_TJSON_H

#include <cJSON.h>
#include <check.h>

/* root.a, or root.a.b when b is not NULL; NULL when missing. */
static inline const cJSON *tjson_get(const cJSON *root, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, a);
    return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

/* root.a(.b) as a number; the test fails when it is not one. */
static inline double tjson_num(const cJSON *root, const char *a, const char *b)
{
    const cJSON *x = tjson_get(root, a, b);
    ck_assert_msg(cJSON_IsNumber(x), "report has no number %s.%s", a, b ? b : "");
    return x->valuedouble;
}

/* root.a as a string; the test fails when it is not one. */
static inline const char *tjson_str(const cJSON *root, const char *a)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, a);
    ck_assert_msg(cJSON_IsString(x), "report has no string %s", a);
    return x->valuestring;
}

#endif
