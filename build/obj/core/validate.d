build/obj/core/validate.o: core/validate.c core/internal.h core/backend.h \
 core/sqclaim.h
core/internal.h:
core/backend.h:
core/sqclaim.h:
