# tests/layers/ — the include rules (docs/architecture.md, "Include
# rules"): ci/check-layers.sh on the tree, and proof that it can fail.
# `make check` runs it with the test programs, so CI does.
TESTS += tests/layers/check_layers_test.sh
