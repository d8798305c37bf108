#!/bin/bash
# usage: threads.sh NAME BUILD [harness args...]  -- per-thread CPU split of the broker
# (results in /tmp/prof/t-NAME; env BROKER_ARGS adds broker flags, BROKER_ENV="VAR=value ..." its environment, STORE another store URL, PERF=1 also records perf for 5 s)
set -u
NAME=$1; B=$2; shift 2; D=/tmp/prof/t-$NAME; rm -rf $D; mkdir -p $D; cd $D
TOKEN=proftoken-$RANDOM$RANDOM
env ${BROKER_ENV:-} $B/broker/possync-broker --listen 127.0.0.1:0 --store ${STORE:-sqlite:$D/bench.db} --admin-token $TOKEN --log-level warn --rate-limit 10000000 ${BROKER_ARGS:-} >$D/broker.out 2>$D/broker.err &
BPID=$!
for i in $(seq 1 60); do port=$(sed -n 's|^WebSocket ws://127\.0\.0\.1:\([0-9]*\)/ws$|\1|p' $D/broker.out); [[ -n $port ]] && break; sleep 0.5; done
timeout 120 $B/bench/possync-load --port $port --admin-token $TOKEN --broker-pid $BPID "$@" --json $D/run.json > $D/load.out 2>$D/load.err &
HPID=$!
sleep 3
snap() { for t in /proc/$BPID/task/*; do echo "$(basename $t) $(cat $t/comm) $(awk '{print $14+$15}' $t/stat)"; done; }
snap > before.txt; t0=$(date +%s.%N)
if [[ -n ${PERF:-} ]]; then perf record -F 999 -g -p $BPID -o $D/perf.data -- sleep 5 > perfrecord.log 2>&1; else sleep 5; fi
snap > after.txt; t1=$(date +%s.%N)
wait $HPID; echo "harness rc $?"
kill -TERM $BPID; for i in $(seq 1 40); do kill -0 $BPID 2>/dev/null || break; sleep 0.25; done
kill -0 $BPID 2>/dev/null && kill -KILL $BPID; wait $BPID 2>/dev/null
join before.txt after.txt | awk -v dt=$(echo "$t1 - $t0" | bc) '{printf "%s %s %.1f%%\n", $1, $2, ($5-$3)/dt}'
grep -E "orders:|cpu|broker |harness |broker store" load.out
