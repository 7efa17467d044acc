build/obj/core/keepalive.o: core/keepalive.c core/internal.h \
 core/backend.h core/sqclaim.h
core/internal.h:
core/backend.h:
core/sqclaim.h:
