/* config.c — where the vercel backend's URL and token come from, and the
 * checks made before anything is sent.  No network I/O here: the URL is
 * parsed with libcurl's URL API, which only looks at the text.
 *
 * Precedence (see docs/vercel.md):
 *   1. opts->rest_url / opts->rest_token, each on its own;
 *   2. for what is still missing, the first COMPLETE pair of
 *      KV_REST_API_URL + KV_REST_API_TOKEN, else
 *      UPSTASH_REDIS_REST_URL + UPSTASH_REDIS_REST_TOKEN;
 *   3. if neither pair is complete, each value on its own, KV_* first.
 * So a complete KV pair is never mixed with an UPSTASH value: the two
 * could be different databases.  Surrounding whitespace (a trailing
 * newline pasted into a .env file) is trimmed. */
#include "vercel.h"
#include "util/squtil.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SRC_OPT_URL   "the rest_url option"
#define SRC_OPT_TOKEN "the rest_token option"

/* A trimmed copy of s in buf[size], or NULL if s is NULL, empty after
 * trimming, or too long (*toolong set). */
static const char *trimmed(const char *s, char *buf, size_t size, bool *toolong)
{
    if (!s)
        return NULL;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    if (n == 0)
        return NULL;
    if (n >= size) {
        *toolong = true;
        return NULL;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

bool vc_host_is_loopback(const char *host)
{
    if (!host || !*host)
        return false;
    size_t n = strlen(host);
    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
        return true;
    char buf[64];
    if (host[0] == '[') {
        if (n < 3 || host[n - 1] != ']' || n - 2 >= sizeof buf)
            return false;
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = '\0';
        char *zone = strchr(buf, '%');
        if (zone)
            *zone = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, buf, &a6) != 1)
            return false;
        if (IN6_IS_ADDR_LOOPBACK(&a6))
            return true;
        /* ::ffff:127.x.y.z, an IPv4 loopback address in IPv6 form */
        return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
    }
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return ((const unsigned char *)&a4.s_addr)[0] == 127;
    return false;
}

static bool token_ok(const char *t)
{
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return false;
    return true;
}

static sqclaim_rc parse_url(const char *url, const char *source, vc_config *cfg, sqb_err *err)
{
    sqclaim_rc rc = SQCLAIM_ECONFIG;
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *user = NULL, *password = NULL,
         *query = NULL, *fragment = NULL, *options = NULL, *dport = NULL;
    if (!u)
        return sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory parsing the REST URL");
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (uc != CURLUE_OK) {
        /* The URL itself is not shown: it may carry a token (?_token=). */
        sqb_seterr(err, rc,
                   "%s is not a valid URL (%s); expected https://<host> as shown in the "
                   "Vercel or Upstash dashboard",
                   source, curl_url_strerror(uc));
        goto out;
    }
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    curl_url_get(u, CURLUPART_PORT, &port, 0); /* only if given */
    curl_url_get(u, CURLUPART_PORT, &dport, CURLU_DEFAULT_PORT);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    curl_url_get(u, CURLUPART_USER, &user, 0);
    curl_url_get(u, CURLUPART_PASSWORD, &password, 0);
    curl_url_get(u, CURLUPART_OPTIONS, &options, 0);
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
    curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0);
    if (!scheme || !host || !*host) {
        sqb_seterr(err, rc, "%s has no host; expected https://<host>", source);
        goto out;
    }
    bool https = strcasecmp(scheme, "https") == 0;
    bool http = strcasecmp(scheme, "http") == 0;
    if (!https && !http) {
        sqb_seterr(err, rc,
                   "%s must start with https:// (or http:// to a loopback host: 127.0.0.0/8, "
                   "::1 or localhost); \"%.16s\" is not supported",
                   source, scheme);
        goto out;
    }
    if (user || password || options) {
        sqb_seterr(err, rc,
                   "%s must not contain user or password (user:pass@host); put the token in "
                   "the token setting",
                   source);
        goto out;
    }
    if (query || fragment) {
        sqb_seterr(err, rc,
                   "%s must not contain a query string or fragment; put the token in the "
                   "token setting, not in ?_token=",
                   source);
        goto out;
    }
    cfg->https = https;
    cfg->loopback = vc_host_is_loopback(host);
    snprintf(cfg->host, sizeof cfg->host, "%s:%s", host, dport ? dport : "?");
    if (http && !cfg->loopback) {
        sqb_seterr(err, rc,
                   "%s uses plain http:// to %.200s: the token would travel unencrypted; use "
                   "https:// (http:// is only allowed to 127.0.0.0/8, ::1 and localhost)",
                   source, host);
        goto out;
    }
    /* Rebuild scheme://host:port/path without trailing '/' so that "/" and
     * "/pipeline" can be appended. */
    const char *p = path ? path : "";
    size_t plen = strlen(p);
    while (plen && p[plen - 1] == '/')
        plen--;
    int w = snprintf(cfg->url, sizeof cfg->url, "%s://%s%s%s%.*s", https ? "https" : "http", host,
                     port ? ":" : "", port ? port : "", (int)plen, p);
    if (w < 0 || (size_t)w >= sizeof cfg->url) {
        sqb_seterr(err, rc, "%s is too long (at most %d bytes)", source, VC_URL_MAX - 1);
        goto out;
    }
    rc = SQCLAIM_OK;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(dport);
    curl_free(path);
    curl_free(user);
    curl_free(password);
    curl_free(options);
    curl_free(query);
    curl_free(fragment);
    curl_url_cleanup(u);
    return rc;
}

/* The URL is set (from `set`) and no token is, or the other way round. */
static void missing_half(const char *set, bool url_set, sqb_err *err)
{
    const char *tail = " Set both from the Vercel dashboard (or UPSTASH_REDIS_REST_URL and "
                       "UPSTASH_REDIS_REST_TOKEN from the Upstash console).";
    const char *partner = NULL;
    if (strcmp(set, "KV_REST_API_URL") == 0)
        partner = "KV_REST_API_TOKEN";
    else if (strcmp(set, "KV_REST_API_TOKEN") == 0)
        partner = "KV_REST_API_URL";
    else if (strcmp(set, "UPSTASH_REDIS_REST_URL") == 0)
        partner = "UPSTASH_REDIS_REST_TOKEN";
    else if (strcmp(set, "UPSTASH_REDIS_REST_TOKEN") == 0)
        partner = "UPSTASH_REDIS_REST_URL";
    if (partner) {
        sqb_seterr(err, SQCLAIM_ECONFIG, "KV not configured: %s is set but %s is not.%s", set,
                   partner, tail);
        return;
    }
    /* An option: nothing in the environment completes it either. */
    if (url_set)
        sqb_seterr(err, SQCLAIM_ECONFIG,
                   "KV not configured: %s is set but no token is (the rest_token option, "
                   "KV_REST_API_TOKEN or UPSTASH_REDIS_REST_TOKEN).",
                   set);
    else
        sqb_seterr(err, SQCLAIM_ECONFIG,
                   "KV not configured: %s is set but no URL is (the rest_url option, "
                   "KV_REST_API_URL or UPSTASH_REDIS_REST_URL).",
                   set);
}

sqclaim_rc vc_config_resolve(const sqclaim_options *opts, vc_config *cfg, sqb_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    char *ubuf = malloc(VC_URL_MAX), *tbuf = malloc(VC_TOKEN_MAX);
    sqclaim_rc rc = SQCLAIM_ECONFIG;
    if (!ubuf || !tbuf) {
        rc = sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
        goto out;
    }
    bool ulong = false, tlong = false;
    const char *url = trimmed(opts ? opts->rest_url : NULL, ubuf, VC_URL_MAX, &ulong);
    const char *token = trimmed(opts ? opts->rest_token : NULL, tbuf, VC_TOKEN_MAX, &tlong);
    const char *usrc = SRC_OPT_URL, *tsrc = SRC_OPT_TOKEN;
    if (!ulong && !tlong && (!url || !token)) {
        /* The pair rule is the tree's one (core/util: sq_rest_env). */
        sq_rest_source env;
        sq_rest_env(&env);
        const char *eu = env.url, *et = env.token, *eus = env.url_var, *ets = env.token_var;
        if (!url) {
            url = trimmed(eu, ubuf, VC_URL_MAX, &ulong);
            usrc = eus;
        }
        if (!token) {
            token = trimmed(et, tbuf, VC_TOKEN_MAX, &tlong);
            tsrc = ets;
        }
    }
    if (ulong) {
        sqb_seterr(err, rc, "%s is too long (at most %d bytes)", usrc, VC_URL_MAX - 1);
        goto out;
    }
    if (tlong) {
        sqb_seterr(err, rc, "%s is too long (at most %d bytes)", tsrc, VC_TOKEN_MAX - 1);
        goto out;
    }
    if (!url && !token) {
        /* The seed's message, exactly: existing tools look for it. */
        sqb_seterr(err, rc, "%s", SQCLAIM_KV_NOT_CONFIGURED);
        goto out;
    }
    if (!url || !token) {
        /* Half a pair: say which half is missing (same first words as the
         * seed's message, so that tools looking for them still do). */
        missing_half(url ? usrc : tsrc, url != NULL, err);
        goto out;
    }
    if (!token_ok(token)) {
        sqb_seterr(err, rc,
                   "%s contains a space, control character or non-ASCII byte; copy the token "
                   "again from the dashboard",
                   tsrc);
        goto out;
    }
    cfg->url_source = usrc;
    cfg->token_source = tsrc;
    rc = parse_url(url, usrc, cfg, err);
    if (rc != SQCLAIM_OK)
        goto out;
    cfg->token = strdup(token);
    if (!cfg->token)
        rc = sqb_seterr(err, SQCLAIM_ENOMEM, "out of memory");
out:
    if (tbuf) {
        explicit_bzero(tbuf, VC_TOKEN_MAX);
        free(tbuf);
    }
    free(ubuf);
    if (rc != SQCLAIM_OK)
        vc_config_free(cfg);
    return rc;
}

void vc_config_free(vc_config *cfg)
{
    if (!cfg)
        return;
    if (cfg->token) {
        explicit_bzero(cfg->token, strlen(cfg->token));
        free(cfg->token);
    }
    cfg->token = NULL;
}
