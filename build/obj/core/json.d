build/obj/core/json.o: core/json.c core/internal.h core/backend.h \
 core/sqclaim.h
core/internal.h:
core/backend.h:
core/sqclaim.h:
