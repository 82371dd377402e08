# Sourced by the end-to-end suites: a scratch folder removed on exit, and pass/fail counting.
# check WHAT CMD...: CMD succeeding counts a pass, failing prints "FAIL: WHAT".
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
