build/obj/core/registry.o: core/registry.c core/backend.h core/sqclaim.h
core/backend.h:
core/sqclaim.h:
