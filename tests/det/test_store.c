/* test_store.c — placeholder, filled below */
#include "diffcommon.h"
#include <check.h>
TCase *store_tcase(void);
TCase *store_tcase(void) { return tcase_create("store"); }
