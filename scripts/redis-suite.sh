#!/usr/bin/env bash
# Runs units of Redis's own 7.0.15 test suite against ochre-server and checks the ratchet.
#
# usage: scripts/redis-suite.sh [--update-ratchet] [--spawn] [UNIT ...]
#   UNIT defaults to the units this project gates on (DEFAULT_UNITS / DEFAULT_SPAWN_UNITS below).
#   External mode (default): each unit gets a fresh server, as upstream's external CI.
#   --spawn: the suite starts ochre-server itself with its own config files (persistence, config
#   and start-up tests); its ratchet is tests/redis-suite/must-pass-spawn.tsv.
#   --update-ratchet  add every test that passed to tests/redis-suite/must-pass.tsv (the list only grows)
# env:
#   SHARED   the shared folder with redis-tests/ [../shared next to the repository]
#   SUITE    where the suite is unpacked [~/.cache/redis-suite-7.0.15]
#   PORT     port for the server under test [21000]
#   BIN      server binary [target/release/ochre-server]
# The suite itself is fetched from Debian's source package by SHARED/redis-tests/get-suite.sh;
# it is never committed here. Exit status: non-zero if any ratchet test failed.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
RT="$SHARED/redis-tests"
PORT="${PORT:-21000}"
BIN="${BIN:-$ROOT/target/release/ochre-server}"
RATCHET="$ROOT/tests/redis-suite/must-pass.tsv"
DEFAULT_SPAWN_UNITS="unit/info unit/introspection unit/networking integration/aof integration/aof-multi-part
unit/aofrw integration/corrupt-dump integration/corrupt-dump-fuzzer integration/convert-zipmap-hash-on-load
integration/convert-ziplist-hash-on-load integration/convert-ziplist-zset-on-load unit/shutdown
unit/pubsubshard integration/rdb integration/logging"
DEFAULT_UNITS="unit/printver unit/protocol unit/keyspace unit/type/string unit/type/incr unit/expire
unit/info-command unit/quit unit/bitops unit/bitfield unit/dump unit/introspection
unit/introspection-2 unit/latency-monitor unit/slowlog unit/other unit/info unit/scan
integration/redis-cli unit/pause unit/replybufsize unit/type/hash unit/type/set unit/type/zset
unit/hyperloglog unit/geo unit/type/list-3 unit/sort unit/type/list unit/multi unit/type/stream unit/type/stream-cgroups unit/pubsub
unit/scripting unit/functions"

update=0
spawn=0
while [ $# -gt 0 ]; do
  case "$1" in
    --update-ratchet) update=1; shift ;;
    --spawn) spawn=1; shift ;;
    *) break ;;
  esac
done
units=("$@")
if [ "$spawn" = 1 ]; then
  RATCHET="$ROOT/tests/redis-suite/must-pass-spawn.tsv"
  [ ${#units[@]} -gt 0 ] || units=($DEFAULT_SPAWN_UNITS)
else
  [ ${#units[@]} -gt 0 ] || units=($DEFAULT_UNITS)
fi

# Tests skipped (never counted as passed), because failing they break the tests after them:
#   REPLICAOF inside MULTI (following a master belongs to the replication issue): the failure
#   leaves its connection inside MULTI with settings changed.
#   aof-multi-part's tests that kill the forked rewrite/save child (`get_child_pid`; Ochre
#   saves without fork, so there is no child): the failure leaves `rdb-key-save-delay` at 10 s
#   per key, so every later rewrite in the unit takes hours and the unit stalls.
SKIP_TESTS=(
  "AOF multiple rewrite failures will open multiple INCR AOFs"
  "AOF enable during BGSAVE will not write data util AOFRW finish"
  "AOF will trigger limit when AOFRW fails many times"
  "AOF will open a temporary INCR AOF to accumulate data until the first AOFRW success when AOF is dynamically enabled")
extra=()
for t in "${SKIP_TESTS[@]}"; do extra+=(--skiptest "$t"); done
case " ${units[*]} " in
  *" -- "*) units+=("${extra[@]}") ;;
  *) units+=(-- "${extra[@]}") ;;
esac

[ -x "$BIN" ] || { echo "redis-suite.sh: $BIN not built (cargo build --release)" >&2; exit 2; }
[ -d "$RT" ] || { echo "redis-suite.sh: $RT not found (set SHARED=)" >&2; exit 2; }

# The suite runs src/redis-check-aof and src/redis-check-rdb from its own folder: point them at
# our tools (run.sh links the system ones only where nothing is there yet).
SUITE_DIR="${SUITE:-${XDG_CACHE_HOME:-$HOME/.cache}/redis-suite-7.0.15}"
if [ -d "$SUITE_DIR/src" ]; then
  for tool in check-aof check-rdb; do
    [ -x "$ROOT/target/release/ochre-$tool" ] && ln -sfn "$ROOT/target/release/ochre-$tool" "$SUITE_DIR/src/redis-$tool"
  done
fi

export LOG_DIR="${LOG_DIR:-/tmp/ochre-suite-$(date +%s)}"
mkdir -p "$LOG_DIR"
touch "$RATCHET"
# run_suite UNIT... [-- OPTIONS]: one pass of the suite's runner over the units; its status.
run_suite() {
  if [ "$spawn" = 1 ]; then
    BASELINE="$RT/baseline-7.0.15-spawn.txt" MUST_PASS="$RATCHET" "$RT/run.sh" --spawn "$BIN" "$@"
    return $?
  fi
  SERVER="$BIN" "$RT/server.sh" start "$PORT" >/dev/null || { echo "redis-suite.sh: server did not start" >&2; return 2; }
  BEFORE_UNIT="SERVER=$BIN $RT/server.sh restart $PORT" \
  BASELINE="$RT/baseline-7.0.15-external.txt" \
  MUST_PASS="$RATCHET" \
    "$RT/run.sh" --external 127.0.0.1 "$PORT" "$@"
  local st=$?
  "$RT/server.sh" stop "$PORT" >/dev/null 2>&1 || true
  return $st
}
run_suite "${units[@]}"
rc=$?

# Up to four retries for units that missed ratchet tests. Many tests send a command on one
# connection and, without waiting for its reply, a command on another (a deferring client's
# XREAD BLOCK, then an XADD): Redis runs them in arrival order because it has one thread. Ochre
# runs connections on several workers, and the worker woken first is not always the first to
# run (docs/ARCHITECTURE.md, "Order across connections"). unit/type/stream-cgroups misses a
# test that way in about a quarter of its runs here, and in one CI run 2 of 3 attempts missed,
# so two retries left CI failing a few percent of the time. A unit that misses ratchet tests
# five times fails; one that passes on a retry is reported as flaky.
RETRIES=4
first="$LOG_DIR"
attempt=0
while [ "$rc" = 1 ] && [ "$attempt" -lt "$RETRIES" ] && [ -f "$LOG_DIR/results.tsv" ]; do
  retry=$(cut -f1 "$LOG_DIR/must-pass-violations.txt" 2>/dev/null | sort -u)
  [ -n "$retry" ] || break
  attempt=$((attempt + 1))
  echo
  echo "# retry $attempt of $RETRIES for the units that missed ratchet tests: $(echo $retry)"
  export LOG_DIR="$first/retry$attempt"
  mkdir -p "$LOG_DIR"
  run_suite $retry -- "${extra[@]}"
  rc=$?
  # Results: the retry's rows for the units retried, the earlier rows for the others.
  { head -1 "$first/results.tsv"
    awk -F'\t' 'NR==FNR { r[$1]=1; next } FNR>1 && !($1 in r)' <(printf '%s\n' $retry) "$first/results.tsv"
    tail -n +2 "$LOG_DIR/results.tsv"; } > "$first/results-merged.tsv"
  [ -f "$first/results-first.tsv" ] || cp "$first/results.tsv" "$first/results-first.tsv"
  mv "$first/results-merged.tsv" "$first/results.tsv"
  [ "$rc" = 0 ] && echo "# flaky: passed on retry $attempt: $(echo $retry)"
done
export LOG_DIR="$first"
if [ "$update" = 1 ] && [ -f "$LOG_DIR/results.tsv" ]; then
  # A name that also failed in this run (tests in loops) is not stable enough to add.
  awk -F'\t' 'NR>1 && $3=="err" {print $1"\t"$2}' "$LOG_DIR/results.tsv" | sort -u > "$LOG_DIR/failed-names.tsv"
  awk -F'\t' 'NR>1 && $3=="ok" {print $1"\t"$2}' "$LOG_DIR/results.tsv" | sort -u \
    | { grep -vxF -f "$LOG_DIR/failed-names.tsv" || true; } > "$LOG_DIR/new-passes.tsv"
  sort -u "$RATCHET" "$LOG_DIR/new-passes.tsv" > "$RATCHET.new" && mv "$RATCHET.new" "$RATCHET"
  echo "ratchet: $(wc -l < "$RATCHET") tests in $RATCHET"
fi
# The closing line counts the ratchet: listed tests that passed in the units run, and those that did not.
if [ -f "$LOG_DIR/results.tsv" ]; then
  # A listed test of a unit that ran counts as failed when it did not pass (a stalled unit).
  awk -F'\t' 'NR==FNR { want[$1"\t"$2]=$1; next }
       FNR>1 { ran[$1]=1; if (($1"\t"$2) in want) { if ($3=="ok") ok[$1"\t"$2]=1; else if ($3=="err") bad[$1"\t"$2]=1 } }
       END { p=0; f=0; for (k in want) { if (k in bad) f++; else if (k in ok) p++; else if (want[k] in ran) f++ }
             printf "ratchet: %d passed, %d failed\n", p, f }' "$RATCHET" "$LOG_DIR/results.tsv"
fi
exit $rc
