# tests/unit/ — unit tests of the core's own pieces.
TESTS += $(BUILD)/tests/unit
UNIT_OBJS = $(BUILD)/obj/tests/unit/test_core.o

$(BUILD)/tests/unit: $(UNIT_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $(UNIT_OBJS) $(LIB_A) $(PKG_LIBS) $(CHECK_LIBS) -lm
