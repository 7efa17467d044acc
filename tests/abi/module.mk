# tests/abi/ — the binary interface (docs/architecture.md "Binary
# interface"): libsqclaim.so exports exactly the header's functions with the
# Makefile's soname (symbols.sh); a program built with other layouts of the
# growable structs, linked to the shared library, is never written or read
# past its sizes, and the fixed structs keep their 1.0 sizes (old-caller);
# the product library holds no negative control (no-controls.sh).
TESTS += tests/abi/symbols.sh tests/abi/no-controls.sh $(BUILD)/tests/abi-old-caller

# Linked to the shared library, as an installed program is (rpath: the
# build directory), with the header included as <sqclaim.h>.
$(BUILD)/tests/abi-old-caller: tests/abi/old_caller.c core/sqclaim.h $(LIB_SO)
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(SANFLAGS) -Icore $(CFLAGS) -o $@ $< \
	  -L$(BUILD) -Wl,-rpath,$(abspath $(BUILD)) -lsqclaim $(BASE_LDFLAGS) $(LDFLAGS)
