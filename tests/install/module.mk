# tests/install/ — the README example against the installed library.
TESTS += tests/install/readme-example.sh
