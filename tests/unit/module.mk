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
