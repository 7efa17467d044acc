# tests/unit/ — unit tests of the core's own pieces.
TESTS += $(BUILD)/tests/unit
UNIT_OBJS = $(BUILD)/obj/tests/unit/test_core.o

$(BUILD)/tests/unit: $(UNIT_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(UNIT_OBJS) $(LIB_A) $(PKG_LIBS) $(CHECK_LIBS) -lm

# The core's private seam for the deterministic simulator (core/seam.h).
TESTS += $(BUILD)/tests/unit-seam
$(BUILD)/tests/unit-seam: $(BUILD)/obj/tests/unit/test_seam.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(PKG_LIBS) $(CHECK_LIBS) -lm

# The tree's one JSON string quoter (core/util/jsonstr.c): every mode, every door.
TESTS += $(BUILD)/tests/unit-jsonstr
$(BUILD)/tests/unit-jsonstr: $(BUILD)/obj/tests/unit/test_jsonstr.o $(SQUTIL_LIB)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS) -lm
