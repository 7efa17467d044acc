/* registry.c — the table of built-in backends, chosen by name. */
#include "backend.h"

#include <string.h>

extern const sqclaim_backend sqclaim_backend_memory;
#ifdef SQCLAIM_WITH_SQLITE
extern const sqclaim_backend sqclaim_backend_sqlite;
#endif
#ifdef SQCLAIM_WITH_REDIS
extern const sqclaim_backend sqclaim_backend_redis;
#endif
#ifdef SQCLAIM_WITH_VERCEL
extern const sqclaim_backend sqclaim_backend_vercel;
#endif

const sqclaim_backend *const sqclaim_builtin_backends[] = {
    &sqclaim_backend_memory,
#ifdef SQCLAIM_WITH_SQLITE
    &sqclaim_backend_sqlite,
#endif
#ifdef SQCLAIM_WITH_REDIS
    &sqclaim_backend_redis,
#endif
#ifdef SQCLAIM_WITH_VERCEL
    &sqclaim_backend_vercel,
#endif
    NULL,
};

static const char *const names[] = {
    "memory",
#ifdef SQCLAIM_WITH_SQLITE
    "sqlite",
#endif
#ifdef SQCLAIM_WITH_REDIS
    "redis",
#endif
#ifdef SQCLAIM_WITH_VERCEL
    "vercel",
#endif
    NULL,
};

const char *const *sqclaim_backend_names(void) { return names; }
const char *const *sqclaim_adapters(void) { return names; }

const sqclaim_backend *sqclaim_find_backend(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; sqclaim_builtin_backends[i]; i++)
        if (strcmp(sqclaim_builtin_backends[i]->name, name) == 0)
            return sqclaim_builtin_backends[i];
    return NULL;
}
