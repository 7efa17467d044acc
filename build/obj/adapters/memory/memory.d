build/obj/adapters/memory/memory.o: adapters/memory/memory.c \
 core/backend.h core/sqclaim.h
core/backend.h:
core/sqclaim.h:
