build/obj/core/store.o: core/store.c core/internal.h core/backend.h \
 core/sqclaim.h
core/internal.h:
core/backend.h:
core/sqclaim.h:
