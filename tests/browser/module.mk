# tests/browser/ — the `sqclaim serve` dashboard in real headless Chromium
# (Debian's chromium, driven over the DevTools pipe by a Python script using
# only the standard library).  Keeps a screenshot in
# $(BUILD)/tests/browser-dashboard.png.  A missing chromium fails under
# CI=true.  Uses the wrapper recipe of tests/serve/module.mk.
ifeq ($(HAVE_MHD),1)
TESTS += $(BUILD)/tests/browser

$(BUILD)/tests/browser: tests/browser/dashboard_test.py tests/serve/harness.py $(BUILD)/sqclaim
	$(call serve_test_wrapper,$@,tests/browser/dashboard_test.py)
endif
