#include "diffcommon.h"
#include <check.h>
TCase *diff_proto_tcase(void);
TCase *diff_proto_tcase(void) { return tcase_create("proto"); }
