# tests/sqlite/ — the sqlite backend with real processes: three bot
# processes sharing the default store, kill -9 in the middle of a
# transaction, a file of a previous boot, lost counters, refused files
# (corrupt, foreign), permissions and the default path.  Each test works in
# a temporary directory of its own; nothing is written under the home.
ifeq ($(HAVE_SQLITE3),1)
TESTS += $(BUILD)/tests/sqlite
SQLITE_TEST_OBJS = $(BUILD)/obj/tests/sqlite/test_sqlite.o

$(BUILD)/obj/tests/sqlite/test_sqlite.o: EXTRA_TEST_CFLAGS = -Iadapters/sqlite
# It also runs the built sqclaim (tests/support/run.c).
$(BUILD)/tests/sqlite: $(SQLITE_TEST_OBJS) $(TEST_SUPPORT_OBJS) $(LIB_A) $(BUILD)/sqclaim
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(SQLITE_TEST_OBJS) $(TEST_SUPPORT_OBJS) $(LIB_A) $(PKG_LIBS) $(CHECK_LIBS) -lm
endif

# The contract suite on each sqlite negative control: it must fail there.
ifeq ($(HAVE_SQLITE3),1)
TESTS += $(BUILD)/tests/contract-sqlite-controls
$(BUILD)/obj/tests/sqlite/contract_controls.o: EXTRA_TEST_CFLAGS = -Itests/contract -Isim/controls
$(BUILD)/tests/contract-sqlite-controls: $(CONTRACT_SUITE_OBJS) $(BUILD)/obj/tests/sqlite/contract_controls.o $(SQLITE_CONTROLS_OBJ) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIB_A) $(PKG_LIBS) $(CHECK_LIBS) -lm
endif
