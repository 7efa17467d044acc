/* fuzz_rest_config.c — the vercel backend's configuration
 * (adapters/vercel/config.c): rest_url / rest_token options and the
 * KV_REST_API_* / UPSTASH_REDIS_REST_* environment, parsed with libcurl's
 * URL API.
 *
 * Input: byte 0 says which of the six values are given; then the values,
 * separated by NUL bytes: option URL, option token, KV URL, KV token,
 * UPSTASH URL, UPSTASH token.
 * Invariants: an accepted configuration has an https:// URL, or http:// to
 * a loopback host, without userinfo, query, fragment or trailing '/'; its
 * token is one of the tokens given, trimmed, of printable ASCII; resolving
 * the resulting URL again gives the same URL; a refusal is ECONFIG and its
 * message never contains a token; with nothing set the message is the
 * seed's, exactly. */
#include "fuzz.h"

#include "../../adapters/vercel/vercel.h"

#include <curl/curl.h>
#include <strings.h>

static const char *const envs[4] = {"KV_REST_API_URL", "KV_REST_API_TOKEN",
                                    "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN"};

static void trim(const char *s, char *out, size_t size)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    if (n >= size)
        n = size - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 16384)
        return 0;
    unsigned which = data[0];
    char *buf = fz_cstr(data + 1, size - 1);
    const char *v[6] = {0};
    const char *p = buf, *end = buf + size - 1;
    for (int i = 0; i < 6; i++) {
        if (which & (1u << i))
            v[i] = p;
        if (p < end)
            p += strlen(p) + 1;
        if (p > end)
            p = end;
    }
    for (int i = 0; i < 4; i++) {
        if (v[2 + i])
            setenv(envs[i], v[2 + i], 1);
        else
            unsetenv(envs[i]);
    }
    sqclaim_options o;
    sqclaim_options_init(&o);
    o.rest_url = v[0];
    o.rest_token = v[1];
    vc_config cfg;
    sqb_err err = {0};
    sqclaim_rc rc = vc_config_resolve(&o, &cfg, &err);
    if (rc != SQCLAIM_OK) {
        FUZZ_CHECK(rc == SQCLAIM_ECONFIG, "rc %d: %s", (int)rc, err.msg);
        FUZZ_CHECK(cfg.token == NULL, "token kept after a refusal");
        /* The same with every token's letters swapped (same validity,
         * same decisions): the message must not change. */
        char *swapped[6] = {0};
        for (int i = 1; i < 6; i += 2)
            if (v[i]) {
                swapped[i] = fz_cstr((const uint8_t *)v[i], strlen(v[i]));
                fz_swapcase(swapped[i], strlen(swapped[i]));
            }
        if (swapped[3])
            setenv(envs[1], swapped[3], 1);
        if (swapped[5])
            setenv(envs[3], swapped[5], 1);
        o.rest_token = swapped[1];
        vc_config cfg2;
        sqb_err err2 = {0};
        sqclaim_rc rc2 = vc_config_resolve(&o, &cfg2, &err2);
        FUZZ_CHECK(rc2 == rc && strcmp(err.msg, err2.msg) == 0,
                   "the message depends on a token: \"%s\" vs \"%s\"", err.msg, err2.msg);
        for (int i = 0; i < 6; i++)
            free(swapped[i]);
        goto done;
    }
    FUZZ_CHECK(cfg.token && cfg.token[0], "no token");
    for (const char *q = cfg.token; *q; q++)
        FUZZ_CHECK(*q > 0x20 && *q < 0x7f, "token byte 0x%02x", (unsigned char)*q);
    bool from_given = false;
    for (int i = 1; i < 6; i += 2) {
        if (!v[i])
            continue;
        char t[VC_TOKEN_MAX];
        trim(v[i], t, sizeof t);
        from_given |= strcmp(t, cfg.token) == 0;
    }
    FUZZ_CHECK(from_given, "the token is none of those given");
    size_t ul = strlen(cfg.url);
    FUZZ_CHECK(ul > 0 && cfg.url[ul - 1] != '/', "URL ends with '/': %s", cfg.url);
    FUZZ_CHECK(strncmp(cfg.url, "https://", 8) == 0 ||
                   (strncmp(cfg.url, "http://", 7) == 0 && cfg.loopback),
               "URL %s is neither https nor loopback http", cfg.url);
    FUZZ_CHECK(cfg.https == (strncmp(cfg.url, "https://", 8) == 0), "https flag");
    {
        /* The URL handed to the transport: no userinfo, query or fragment,
         * and it resolves to itself. */
        CURLU *u = curl_url();
        FUZZ_CHECK(u && curl_url_set(u, CURLUPART_URL, cfg.url, 0) == CURLUE_OK,
                   "resolved URL is not a URL: %s", cfg.url);
        char *part = NULL;
        FUZZ_CHECK(curl_url_get(u, CURLUPART_USER, &part, 0) != CURLUE_OK || !part, "user");
        curl_free(part);
        part = NULL;
        FUZZ_CHECK(curl_url_get(u, CURLUPART_QUERY, &part, 0) != CURLUE_OK || !part, "query");
        curl_free(part);
        part = NULL;
        FUZZ_CHECK(curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) != CURLUE_OK || !part, "fragment");
        curl_free(part);
        curl_url_cleanup(u);
        sqclaim_options o2;
        sqclaim_options_init(&o2);
        o2.rest_url = cfg.url;
        o2.rest_token = cfg.token;
        vc_config cfg2;
        sqb_err err2 = {0};
        rc = vc_config_resolve(&o2, &cfg2, &err2);
        FUZZ_CHECK(rc == SQCLAIM_OK, "the resolved URL %s is refused: %s", cfg.url, err2.msg);
        FUZZ_CHECK(strcmp(cfg.url, cfg2.url) == 0, "resolving %s again gives %s", cfg.url,
                   cfg2.url);
        vc_config_free(&cfg2);
    }
    vc_config_free(&cfg);
done:
    if (!v[0] && !v[1]) {
        bool any = false;
        for (int i = 2; i < 6; i++) {
            char t[VC_TOKEN_MAX];
            if (v[i]) {
                trim(v[i], t, sizeof t);
                any |= t[0] != '\0';
            }
        }
        if (!any)
            FUZZ_CHECK(rc == SQCLAIM_ECONFIG && strcmp(err.msg, SQCLAIM_KV_NOT_CONFIGURED) == 0,
                       "nothing set but: %s", err.msg);
    }
    free(buf);
    return 0;
}
