# sim/kvadmin/ — the one client for kvrest's admin API (libcurl), linked
# by sqsim and by the tests that set kvrest's faults or read its counters.
ifeq ($(HAVE_CURL)$(HAVE_CJSON),11)
KVADMIN_OBJ := $(BUILD)/obj/sim/kvadmin/kvadmin.o
endif
