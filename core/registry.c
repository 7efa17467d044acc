/* registry.c — the table of built-in backends, chosen by name. */
#include "backend.h"
#include "internal.h"

#include <pthread.h>
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

/* The names of the built backends, read off the table above. */
static const char *names[sizeof sqclaim_builtin_backends / sizeof sqclaim_builtin_backends[0]];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void fill_names(void)
{
    for (size_t i = 0; sqclaim_builtin_backends[i]; i++)
        names[i] = sqclaim_builtin_backends[i]->name;
}

const char *const *sqclaim_backend_names(void)
{
    pthread_once(&names_once, fill_names);
    return names;
}

const char *const *sqclaim_adapters(void) { return sqclaim_backend_names(); }

/* Every backend the library knows of, built into this copy or not: the
 * one list of backend names (a new backend adds itself here and to the
 * table above). */
static const char *const known[] = {"memory", "sqlite", "redis", "vercel", NULL};

bool sqc_backend_known(const char *name)
{
    for (size_t i = 0; name && known[i]; i++)
        if (strcmp(known[i], name) == 0)
            return true;
    return false;
}

const sqclaim_backend *sqclaim_find_backend(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; sqclaim_builtin_backends[i]; i++)
        if (strcmp(sqclaim_builtin_backends[i]->name, name) == 0)
            return sqclaim_builtin_backends[i];
    return NULL;
}
