#!/usr/bin/env bash
# Searches shared by many workers, end to end: a real PostgreSQL server in a temporary directory
# (tests/support/pg_server.sh), several nnctl processes joining one search as if on several machines
# (NNCTL_HOSTNAME), kill -9 of one mid-trial, a new one added, a server restart. Every trial is
# completed once, with the scores of a one-worker SQLite search; the same suite runs against SQLite
# (processes sharing one sweep directory). The password never reaches a log, an output or a file.
# Usage: tests/pg_test.sh path/to/nnctl path/to/nnctl_tests SOURCE_DIR
set -u
NNCTL=$(realpath "$1")
UNIT=$(realpath "$2")
cd "$3"
BUILD_KIND=${4:-plain}
source tests/cli_common.sh
source tests/support/pg_server.sh
if ! pg_start; then
  echo "pg: cannot start a PostgreSQL server (scripts/setup.sh installs Debian's postgresql)" >&2
  exit 1
fi
trap 'pg_stop; rm -rf "$TMP"' EXIT
SS=tests/data/search_small.yaml
# Long enough trials (20 of them, 3 folds x 1000 epochs, over a second each) that a kill lands in one; heartbeats time out
# after 3 s. Under the sanitizers everything is slower: fewer epochs.
EPOCHS=1000
[ "$BUILD_KIND" = sanitized ] && EPOCHS=200
COMMON=(--threads 1 --set search.refit=false --set training.epochs=$EPOCHS --set search.heartbeat_timeout=3)

# The store's unit tests against this server too.
NNCTL_TEST_POSTGRES_URL="$PG_URL" "$UNIT" -sf='*test_store*' >"$TMP/unit.log" 2>&1
check "the store's unit tests pass against PostgreSQL ($(tail -1 "$TMP/unit.log"))" grep -q "Status: SUCCESS" "$TMP/unit.log"

# The reference: one worker, SQLite.
"$NNCTL" grid-search $SS --out "$TMP/ref" --json -q "${COMMON[@]}" --jobs 2 >"$TMP/ref.json"; code=$?
check "reference search (exit $code)" test $code -eq 0

same_as_ref='
import json, sys
ref = {t["trial"]: t["scores"] for t in json.load(open(sys.argv[1]))["trials"]}
got = [json.loads(l) for l in open(sys.argv[2])]
assert sorted(t["trial"] for t in got) == sorted(ref), "every trial once"
assert all(t["state"] == "complete" for t in got), [t for t in got if t["state"] != "complete"][:2]
assert all(t["scores"] == ref[t["trial"]] for t in got), "the scores of the one-worker search"
deaths = sum(t.get("worker_deaths", 0) for t in got)
assert deaths >= int(sys.argv[3]), ("trials run again after their worker died", deaths)'

for backend in sqlite postgresql; do
  if [ $backend = postgresql ]; then
    STORE=(--storage "$PG_URL" --name multi)
  else
    STORE=()
  fi
  rm -f "$TMP"/w*.pid
  # Three workers, as three machines (PostgreSQL) or three processes sharing a sweep directory.
  for w in 1 2 3; do
    host=machine-$w
    [ $backend = sqlite ] && host=one-machine
    NNCTL_HOSTNAME=$host setsid "$NNCTL" grid-search $SS "${STORE[@]}" --out "$TMP/$backend-shared${STORE:+$w}" \
      "${COMMON[@]}" --jobs 1 -q --events "$TMP/$backend-w$w.events" 2>"$TMP/$backend-w$w.err" &
    echo $! >"$TMP/w$w.pid"
  done
  # Kill worker 2 (its whole process group) while it runs a trial, once a few trials are done: just
  # after it started one (its "running" event under 0.3 s old when read; a trial takes over a
  # second). The age is taken when the file is read, not when Python has started (slow under load).
  # Gives up once worker 2 has exited (the check below then fails).
  victim=""
  for i in $(seq 1 1200); do
    kill -0 "$(cat "$TMP/w2.pid")" 2>/dev/null || break
    if [ "$(grep -c '"complete"' "$TMP"/$backend-w*.events 2>/dev/null | awk -F: '{s+=$2} END {print s+0}')" -ge 3 ]; then
      read_at=$(date +%s.%N)
      victim=$(tail -1 "$TMP/$backend-w2.events" 2>/dev/null | /usr/bin/python3 -c '
import json, sys, datetime
try:
    e = json.loads(sys.stdin.read())
except ValueError:
    sys.exit()
t = datetime.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
if e.get("state") == "running" and float(sys.argv[1]) - t.timestamp() < 0.3:
    print(e["trial"], e["worker"])' "$read_at")
      if [ -n "$victim" ]; then
        kill -9 -- -"$(cat "$TMP/w2.pid")"
        break
      fi
    fi
    sleep 0.05
  done
  check "$backend: worker 2 was killed while it ran a trial" test -n "$victim"
  # A fourth joins late.
  host=machine-4
  [ $backend = sqlite ] && host=one-machine
  NNCTL_HOSTNAME=$host "$NNCTL" grid-search $SS "${STORE[@]}" --out "$TMP/$backend-shared${STORE:+4}" "${COMMON[@]}" --jobs 1 -q \
    --events "$TMP/$backend-w4.events" 2>"$TMP/$backend-w4.err" &
  w4=$!
  codes=""
  for w in 1 3; do wait "$(cat "$TMP/w$w.pid")"; codes="$codes $?"; done
  wait $w4; codes="$codes $?"
  wait "$(cat "$TMP/w2.pid")" 2>/dev/null
  check "$backend: the surviving workers and the late one exit 0 (got$codes)" test "$codes" = " 0 0 0"
  if [ $backend = postgresql ]; then
    "$NNCTL" search export --storage "$PG_URL" --name multi --out "$TMP/pg-export" -q; code=$?
    check "search export from PostgreSQL (exit $code)" test $code -eq 0
    result="$TMP/pg-export/trials.jsonl"
  else
    result="$TMP/sqlite-shared/trials.jsonl"
  fi
  check "$backend: every trial completed once, with the scores of one worker on SQLite" \
    /usr/bin/python3 -c "$same_as_ref" "$TMP/ref.json" "$result" 0
  check "$backend: the killed worker's trial (trial, worker: $victim) was run again by another worker" /usr/bin/python3 -c '
import json,sys; t=[json.loads(l) for l in open(sys.argv[1])]; v=[x for x in t if x["trial"]==int(sys.argv[2])][0]
assert v["worker"]!=int(sys.argv[3]) and v["state"]=="complete", v' "$result" $victim
done
# Each machine's own copy of the outputs has the whole search.
check "postgresql: a worker's sweep directory holds the whole search" /usr/bin/python3 -c "$same_as_ref" "$TMP/ref.json" "$TMP/postgresql-shared1/trials.jsonl" 0

"$NNCTL" search status --storage "$PG_URL" --name multi >"$TMP/status.txt" 2>&1; code=$?
check "search status (exit $code) shows the finished search" grep -q "^trials: 20 (20 complete, 0 pruned, 0 failed, 0 running" "$TMP/status.txt"
"$NNCTL" search status --storage "$PG_URL" --name multi --json >"$TMP/status.json"
check "search status --json" /usr/bin/python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); assert d["states"]=={"complete":20} and d["workers"]==[] and d["best"]["trial"]>=0, d' "$TMP/status.json"
# Reading a search that is not there says so and creates nothing (no empty schema left behind).
"$NNCTL" search status --storage "$PG_URL" --name nosuch -q 2>"$TMP/e"; code=$?
"$NNCTL" search export --storage "$PG_URL" --name nosuch --out "$TMP/nosuch-export" -q 2>>"$TMP/e"; code2=$?
schemas=$(PGPASSWORD="$PG_PASSWORD" psql "postgresql://nnctl@/nnctl?host=$PG_DIR" -tAc \
  "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'nnctl_nosuch'" 2>&1)
check "status and export of an unknown search exit 3 and create nothing (exits $code $code2, schemas: $schemas)" \
  bash -c "test $code -eq 3 && test $code2 -eq 3 && test '$schemas' = 0 && test ! -e '$TMP/nosuch-export' && grep -q \"no search named 'nosuch'\" '$TMP/e'"
"$NNCTL" report "$TMP/pg-export" --out "$TMP/pg-report.html" -q; code=$?
check "nnctl report reads an exported search (exit $code)" test -s "$TMP/pg-report.html"

# A database restart in the middle of a search: the workers wait, reconnect, and go on.
NNCTL_STORAGE_RETRY_SECONDS=120 "$NNCTL" grid-search $SS --storage "$PG_URL" --name restart --out "$TMP/restart" \
  "${COMMON[@]}" --jobs 2 -q --json >"$TMP/restart.json" 2>"$TMP/restart.err" &
pid=$!
sleep 2
pg_restart 2
wait $pid; code=$?
check "a search survives a database restart (exit $code: $(tail -2 "$TMP/restart.err" | tr '\n' ' '))" test $code -eq 0
check "... with every trial completed once, as without the restart" /usr/bin/python3 -c "$same_as_ref" "$TMP/ref.json" "$TMP/restart/trials.jsonl" 0

# Credentials: the password is in the URL of every run above (and of a refit here, whose run.json
# keeps the command line); it must appear in no log, output, events file, results file or report.
"$NNCTL" grid-search $SS --storage "$PG_URL" --name refit --out "$TMP/refit" --threads 1 --set training.epochs=5 --json \
  --events "$TMP/refit.events" >"$TMP/refit.json" 2>"$TMP/refit.err"; code=$?
check "a shared search refits its best (exit $code)" test -s "$TMP/refit/best-model/run.json"
"$NNCTL" grid-search $SS --storage "${PG_URL/\/nnctl\?/\/nosuchdb?}" --out "$TMP/x" -q 2>"$TMP/nodb.err"; code=$?
check "an unknown database exits 5 naming the masked URL (exit $code)" bash -c "test $code -eq 5 && grep -q 'nnctl:\*\*\*@/nosuchdb.*database \"nosuchdb\" does not exist' '$TMP/nodb.err'"
"$NNCTL" grid-search $SS --storag "$PG_URL" --out "$TMP/x" -q 2>"$TMP/typo.err"; code=$?
check "a mistyped option quoting the URL exits 2, masked (exit $code)" bash -c "test $code -eq 2 && grep -q 'nnctl:\*\*\*@' '$TMP/typo.err'"
check "the password appears in no output, log, events, results file, run.json or report" \
  bash -c "! grep -rqF -- '$PG_PASSWORD' '$TMP'"
# libpq's own ways to give the password: PGPASSWORD (or ~/.pgpass).
"$NNCTL" search status --storage "${PG_URL/:$PG_PASSWORD@/@}" --name multi -q; code=$?
check "without a password in the URL, authentication fails: exit 5 (got $code)" test $code -eq 5
PGPASSWORD="$PG_PASSWORD" "$NNCTL" search status --storage "${PG_URL/:$PG_PASSWORD@/@}" --name multi >/dev/null 2>&1; code=$?
check "PGPASSWORD gives it (exit $code)" test $code -eq 0

# Bad storage: a malformed URL is a usage error (2), an unreachable server an I/O error (5); neither
# leaves anything behind.
"$NNCTL" grid-search $SS --storage "postgresql://u:pw@h/db?nosuch=1" --out "$TMP/bad1" -q 2>"$TMP/e"; code=$?
check "a malformed storage URL exits 2 (got $code)" bash -c "test $code -eq 2 && grep -q 'invalid URI query parameter' '$TMP/e' && test ! -e '$TMP/bad1'"
"$NNCTL" grid-search $SS --storage "mysql://u:pw@h/db" --out "$TMP/bad2" -q 2>"$TMP/e"; code=$?
check "a storage URL that is not PostgreSQL exits 2 (got $code)" bash -c "test $code -eq 2 && grep -q 'expected a postgresql://' '$TMP/e' && test ! -e '$TMP/bad2'"
"$NNCTL" grid-search $SS --storage "postgresql://u:pw@/db?host=$TMP/no-server&connect_timeout=3" --out "$TMP/bad3" -q 2>"$TMP/e"; code=$?
check "an unreachable server exits 5 with the reason, leaving no sweep directory (got $code)" \
  bash -c "test $code -eq 5 && grep -q 'cannot connect to the results storage' '$TMP/e' && test ! -e '$TMP/bad3'"

echo "pg: $pass passed, $fail failed"
test "$fail" -eq 0
