# sim/controls/ — the negative controls: deliberately broken backends built
# from the memory space's locked operations (adapters/memory/memory_space.h).
# libsqcontrols.a is linked only by sqsim and the tests, never into
# libsqclaim (tests/abi checks the library holds none of it).
CONTROLS_SRCS := sim/controls/controls.c
CONTROLS_LIB := $(BUILD)/libsqcontrols.a
CONTROLS_CFLAGS := -Isim/controls -Iadapters/memory

$(BUILD)/obj/sim/controls/%.o: sim/controls/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CONTROLS_CFLAGS) $(PKG_CFLAGS) $(CFLAGS) -c $< -o $@

$(CONTROLS_LIB): $(CONTROLS_SRCS:%.c=$(BUILD)/obj/%.o)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^
