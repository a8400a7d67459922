#!/bin/bash
# usage: measure.sh BINARY [KEYS] [extra server args...]
# Starts BINARY on port 23000, fills KEYS keys (DEBUG POPULATE, 16-byte values), then runs
# loadgen SET at 20,000/s over the same key range for 8 s twice: without BGSAVE, and with a
# back-to-back BGSAVE loop. Prints loadgen's CSV rows, saves done, RSS before/peak, save time.
BIN=$1; KEYS=${2:-1000000}; shift 2
P=23000; D=/tmp/snapstall/dir; rm -rf $D; mkdir -p $D
LG=/tmp/bench/loadgen-target/release/loadgen
$BIN --port $P --save '' --dir $D --appendonly no --enable-debug-command yes "$@" >/tmp/snapstall/server.log 2>&1 &
SP=$!
trap "kill $SP 2>/dev/null" EXIT
for i in $(seq 50); do redis-cli -p $P ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p $P debug populate $KEYS key 16 >/dev/null
echo "dbsize $(redis-cli -p $P dbsize)"
rss() { local k v u; while read -r k v u; do [ "$k" = VmRSS: ] && echo $v; done < /proc/$SP/status; }
LGARGS="--port $P --rate 20000 --duration 8 --set-ratio 1.0 --keyspace $KEYS --datasize 16 --csv"
echo "mode,$($LG --csv-header --port $P --rate 1 --duration 0 2>/dev/null | head -1)"
for round in 1 2; do
  echo "nosave,$($LG $LGARGS)"
  R0=$(rss); PEAK=$R0
  python3 "$(dirname "$0")/bgsave-loop.py" $P 10 ${GAP:-0} > /tmp/snapstall/saves &
  BL=$!
  ( while kill -0 $BL 2>/dev/null; do r=$(rss); [ -n "$r" ] && [ $r -gt $PEAK ] && PEAK=$r && echo $PEAK > /tmp/snapstall/peak; sleep 0.05; done ) &
  RL=$!
  echo "bgsave,$($LG $LGARGS)"
  wait $BL; wait $RL
  echo "saves $(cat /tmp/snapstall/saves) rss_before_kb $R0 rss_peak_kb $(cat /tmp/snapstall/peak 2>/dev/null || echo $R0) $(redis-cli -p $P info persistence | grep -E 'rdb_last_bgsave_time_sec|rdb_last_cow_size' | tr -d '\r' | tr '\n' ' ') file_bytes $(stat -c %s $D/dump.rdb)"
  rm -f /tmp/snapstall/peak
done
# BGSAVEs without load (0.2 s apart): mean time from the command to rdb_bgsave_in_progress:0.
echo "idle $(python3 "$(dirname "$0")/bgsave-loop.py" $P 4 0.2) bytes $(stat -c %s $D/dump.rdb)"
echo "empty-check: rss_kb $(rss)"
