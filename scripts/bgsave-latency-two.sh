#!/bin/bash
# one.sh BIN DELAY_US: 1M keys, loadgen 8 s, BGSAVEs (no INFO polling) at 3 s and 6 s with rdb-key-save-delay DELAY_US
BIN=$1; P=23000; D=/tmp/snapstall/dir; rm -rf $D; mkdir -p $D
LG=/tmp/bench/loadgen-target/release/loadgen
$BIN --port $P --save '' --dir $D --appendonly no --enable-debug-command yes >/tmp/snapstall/server.log 2>&1 &
SP=$!; trap "kill $SP 2>/dev/null" EXIT
for i in $(seq 50); do redis-cli -p $P ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p $P debug populate 1000000 key 16 >/dev/null
redis-cli -p $P config set rdb-key-save-delay ${2:-0} >/dev/null
LGARGS="--port $P --rate 20000 --duration 8 --set-ratio 1.0 --keyspace 1000000 --datasize 16 --csv"
echo "nosave,$($LG $LGARGS)"
( sleep 3; redis-cli -p $P bgsave; sleep 3; redis-cli -p $P bgsave ) >/dev/null &
echo "bgsave,$($LG $LGARGS)"
grep -i "saved\|error" /tmp/snapstall/server.log | tail -3
