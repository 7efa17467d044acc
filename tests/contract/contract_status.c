/* contract_status.c — the contract suite (contract.h): the status view: the seed's shape, no token,
 * expiry. */
#include "suite.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Status                                                               */

static bool is_iso_ms(const char *s)
{
    /* 2025-10-26T12:34:56.789Z */
    const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (strlen(s) != strlen(shape))
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    return true;
}

static void assert_keys(const cJSON *obj, const char *const *keys)
{
    /* Exactly these keys, in this order. */
    const cJSON *it = obj->child;
    for (size_t i = 0; keys[i]; i++, it = it->next) {
        ck_assert_msg(it != NULL, "missing key %s", keys[i]);
        ck_assert_str_eq(it->string, keys[i]);
    }
    ck_assert_msg(it == NULL, "unexpected key %s", it ? it->string : "");
}

START_TEST(status_empty_is_seed_shape)
{
    sqclaim_store *a = ct_open();
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(a, &st), SQCLAIM_OK);
    char *json = sqclaim_status_json(st, 0);
    ck_assert_ptr_nonnull(json);
    char expect[256];
    snprintf(expect, sizeof expect,
             "{\"success\":true,\"sqClaims\":{},\"refundReservations\":{},\"timestamp\":\"%s\","
             "\"kvConfigured\":true}",
             st->timestamp);
    ck_assert_str_eq(json, expect);
    ck_assert(is_iso_ms(st->timestamp));
    sqclaim_free(json);
    sqclaim_status_free(st);
}
END_TEST

START_TEST(status_shape_exact_no_token)
{
    sqclaim_lease l1, l2;
    sqclaim_rows r;
    sqclaim_store *a = ct_claimed("251019-164rmb", "BOT1", 60000, &l1);
    claim_ok(a, "251019-200xyz", "BOT3", 60000, &l2);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l1, 5, 51, &r), SQCLAIM_OK);
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(a, &st), SQCLAIM_OK);
    char *json = sqclaim_status_json(st, 0);
    char *pretty = sqclaim_status_json(st, SQCLAIM_JSON_PRETTY);
    ck_assert_ptr_null(strstr(json, l1.token));
    ck_assert_ptr_null(strstr(json, l2.token));
    ck_assert_ptr_null(strstr(json, "token"));
    cJSON *root = cJSON_Parse(json);
    cJSON *proot = cJSON_Parse(pretty);
    ck_assert_ptr_nonnull(root);
    ck_assert_msg(cJSON_Compare(root, proot, 1), "pretty and compact differ");
    static const char *const top[] = {"success",   "sqClaims",     "refundReservations",
                                      "timestamp", "kvConfigured", NULL};
    assert_keys(root, top);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(root, "success")));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(root, "kvConfigured")));
    ck_assert(is_iso_ms(cJSON_GetObjectItem(root, "timestamp")->valuestring));

    cJSON *claims = cJSON_GetObjectItem(root, "sqClaims");
    ck_assert_int_eq(cJSON_GetArraySize(claims), 2);
    static const char *const ckeys[] = {"botId", "timestamp", "status", "fence", "ttlMs", NULL};
    cJSON *c1 = cJSON_GetObjectItem(claims, "251019-164rmb");
    ck_assert_ptr_nonnull(c1);
    assert_keys(c1, ckeys);
    ck_assert_str_eq(cJSON_GetObjectItem(c1, "botId")->valuestring, "BOT1");
    ck_assert_str_eq(cJSON_GetObjectItem(c1, "status")->valuestring, "CLAIMING");
    ck_assert(is_iso_ms(cJSON_GetObjectItem(c1, "timestamp")->valuestring));
    ck_assert_uint_eq((uint64_t)cJSON_GetObjectItem(c1, "fence")->valuedouble, l1.fence);
    double ttl = cJSON_GetObjectItem(c1, "ttlMs")->valuedouble;
    ck_assert(ttl > 0 && ttl <= 60000);
    cJSON *c2 = cJSON_GetObjectItem(claims, "251019-200xyz");
    ck_assert_str_eq(cJSON_GetObjectItem(c2, "botId")->valuestring, "BOT3");

    cJSON *res = cJSON_GetObjectItem(root, "refundReservations");
    ck_assert_int_eq(cJSON_GetArraySize(res), 1);
    cJSON *r1 = cJSON_GetObjectItem(res, "251019-164rmb");
    static const char *const rkeys[] = {"botId",     "startRow", "rowCount", "status",
                                        "timestamp", "fence",    "ttlMs",    NULL};
    assert_keys(r1, rkeys);
    ck_assert_str_eq(cJSON_GetObjectItem(r1, "botId")->valuestring, "BOT1");
    ck_assert_int_eq(cJSON_GetObjectItem(r1, "startRow")->valueint, 51);
    ck_assert_int_eq(cJSON_GetObjectItem(r1, "rowCount")->valueint, 5);
    ck_assert_str_eq(cJSON_GetObjectItem(r1, "status")->valuestring, "WRITING");
    cJSON_Delete(root);
    cJSON_Delete(proot);
    sqclaim_free(json);
    sqclaim_free(pretty);
    sqclaim_status_free(st);
}
END_TEST

START_TEST(status_expired_vanish)
{
    sqclaim_lease l;
    sqclaim_rows r;
    sqclaim_store *a = ct_claimed("sq-ex", "BOT1", short_ttl(), &l);
    ck_assert_int_eq(sqclaim_reserve_rows(a, &l, 2, 0, &r), SQCLAIM_OK);
    bool c, res;
    ck_assert(status_has(a, "sq-ex", &c, &res));
    ck_assert(c && res);
    expire(a, "sq-ex", short_ttl());
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(a, &st), SQCLAIM_OK);
    ck_assert_uint_eq(st->nclaims, 0);
    ck_assert_uint_eq(st->nreservations, 0);
    sqclaim_status_free(st);
}
END_TEST

START_TEST(bot_id_cannot_inject_fields)
{
    sqclaim_store *a = ct_open(), *b = ct_open();
    const char *evil = "BOT1\",\"token\":\"x\",\"fence\":\"9\\";
    const char *uni = "B\xc3\xb6tchen \xf0\x9f\xa4\x96";
    sqclaim_lease l1, l2, l3;
    claim_ok(a, "sq-e1", evil, 60000, &l1);
    claim_ok(a, "sq-e2", uni, 60000, &l2);
    sqclaim_holder h;
    ck_assert_int_eq(sqclaim_claim(b, "sq-e1", "BOT2", 60000, &l3, &h), SQCLAIM_BUSY);
    ck_assert_str_eq(h.bot, evil);
    /* The real token still owns the claim. */
    ck_assert_int_eq(sqclaim_renew(a, &l1, 60000), SQCLAIM_OK);
    sqclaim_status *st;
    ck_assert_int_eq(sqclaim_status_get(a, &st), SQCLAIM_OK);
    char *json = sqclaim_status_json(st, 0);
    cJSON *root = cJSON_Parse(json);
    ck_assert_ptr_nonnull(root);
    cJSON *c1 = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "sqClaims"), "sq-e1");
    ck_assert_str_eq(cJSON_GetObjectItem(c1, "botId")->valuestring, evil);
    ck_assert_uint_eq((uint64_t)cJSON_GetObjectItem(c1, "fence")->valuedouble, l1.fence);
    ck_assert_int_eq(cJSON_GetArraySize(c1), 5);
    cJSON *c2 = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "sqClaims"), "sq-e2");
    ck_assert_str_eq(cJSON_GetObjectItem(c2, "botId")->valuestring, uni);
    cJSON_Delete(root);
    sqclaim_free(json);
    sqclaim_status_free(st);
}
END_TEST

void ct_group_status(const TTest **tests)
{
    size_t n = 0;
    tests[n++] = status_empty_is_seed_shape;
    tests[n++] = status_shape_exact_no_token;
    tests[n++] = status_expired_vanish;
    tests[n++] = bot_id_cannot_inject_fields;
    tests[n] = NULL;
}
