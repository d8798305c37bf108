#!/bin/bash
# usage: trace.sh NAME BUILD [harness args...] -- per-thread syscall time summary (perf trace -s) of the broker
set -u
NAME=$1; B=$2; shift 2; D=/tmp/prof/tr-$NAME; rm -rf $D; mkdir -p $D; cd $D
TOKEN=proftoken-$RANDOM$RANDOM
$B/broker/possync-broker --listen 127.0.0.1:0 --store sqlite:$D/bench.db --admin-token $TOKEN --log-level warn --rate-limit 10000000 >broker.out 2>broker.err &
BPID=$!
for i in $(seq 1 60); do port=$(sed -n 's|^WebSocket ws://127\.0\.0\.1:\([0-9]*\)/ws$|\1|p' broker.out); [[ -n $port ]] && break; sleep 0.5; done
timeout 120 $B/bench/possync-load --port $port --admin-token $TOKEN --broker-pid $BPID "$@" --json run.json > load.out 2>load.err &
HPID=$!
sleep 3
for t in /proc/$BPID/task/*; do echo "$(basename $t) $(awk '{print $14+$15}' $t/stat)"; done > threads.txt
perf trace -s -e ${EVENTS:-fdatasync,pread64,pwrite64} -p $BPID -o trace.txt -- sleep 6 >/dev/null 2>&1
wait $HPID
kill -TERM $BPID; wait $BPID 2>/dev/null
grep -A2 "latency ms" load.out | tail -1
