# Sourced by the end-to-end suites: a scratch folder removed on exit, and pass/fail counting.
# check WHAT CMD...: CMD succeeding counts a pass, failing prints "FAIL: WHAT".
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; profile "$what"; }
# CLI_TEST_PROFILE=FILE: the seconds since the previous check, and the check, one line each (where
# a suite spends its time: sort -rn FILE | head).
_profile_t=$(date +%s.%N)
profile() {
  [ -n "${CLI_TEST_PROFILE:-}" ] || return 0
  local now; now=$(date +%s.%N)
  awk -v a="$_profile_t" -v b="$now" -v w="${1:0:90}" 'BEGIN { printf "%.2f\t%s\n", b - a, w }' >>"$CLI_TEST_PROFILE"
  _profile_t=$now
}
