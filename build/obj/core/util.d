build/obj/core/util.o: core/util.c core/backend.h core/sqclaim.h
core/backend.h:
core/sqclaim.h:
