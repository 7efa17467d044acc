# adapters/sqlite/ — the `sqlite` backend, the default: the claim protocol
# in one SQLite database file shared by the processes of one host
# (docs/sqlite.md).  Built when libsqlite3 is installed (libsqlite3-dev).
HAVE_SQLITE3 := $(call have,sqlite3)
ifeq ($(HAVE_SQLITE3),1)
LIB_SRCS += adapters/sqlite/sqlite.c
LIB_PKGS += sqlite3
LIB_DEFS += -DSQCLAIM_WITH_SQLITE
endif

# The simulator's negative controls for this backend: sim/controls/
# sqlite_controls.c, the real backend with one deliberate bug each, linked
# only into sqsim (never into the library), through the private header.
ifeq ($(HAVE_SQLITE3),1)
SQLITE_CONTROLS_OBJ = $(BUILD)/obj/sim/controls/sqlite_controls.o
$(SQLITE_CONTROLS_OBJ): CFLAGS += -Iadapters/sqlite -Isim/controls
# sqsim's run.c offers them with --backend sqlite.
$(BUILD)/obj/sim/sqsim/run.o: CFLAGS += -DSQCLAIM_WITH_SQLITE -Isim/controls
endif
