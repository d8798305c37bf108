#!/bin/bash
set -u
N=$1; HOLD=$2; D=/tmp/prof/idle-$N; rm -rf $D; mkdir -p $D; cd $D
B=/work/main/build-load
TOKEN=proftoken-$RANDOM$RANDOM
echo "load start: $(cat /proc/loadavg)" > $D/load.txt
$B/broker/possync-broker --listen 127.0.0.1:0 --store sqlite:$D/bench.db --admin-token $TOKEN --log-level warn >$D/broker.out 2>$D/broker.err &
BPID=$!; echo "broker pid $BPID" >> $D/load.txt
for i in $(seq 1 60); do port=$(sed -n 's|^WebSocket ws://127\.0\.0\.1:\([0-9]*\)/ws$|\1|p' $D/broker.out); [[ -n $port ]] && break; sleep 0.5; done
( for t in $(seq 1 $((HOLD+40))); do echo "$(date +%s) $(grep -E '^(VmRSS|RssAnon|RssFile)' /proc/$BPID/status 2>/dev/null | tr -s ' \n' ' ') | $(grep TCP: /proc/net/sockstat)"; sleep 1; done ) > $D/sampler.txt 2>/dev/null &
SPID=$!
timeout 300 $B/bench/possync-load --port $port --admin-token $TOKEN --broker-pid $BPID --mode idle --connections $N --hold $HOLD --json $D/idle.json --quiet > $D/load.out 2>&1
echo "harness rc $?" >> $D/load.txt
cat /proc/$BPID/smaps_rollup > $D/smaps_after.txt
echo "load end: $(cat /proc/loadavg)" >> $D/load.txt
kill $SPID 2>/dev/null
kill -TERM $BPID; for i in $(seq 1 40); do kill -0 $BPID 2>/dev/null || break; sleep 0.25; done
kill -0 $BPID 2>/dev/null && { echo KILL >> $D/load.txt; kill -KILL $BPID; }
wait $BPID; echo "broker rc $?" >> $D/load.txt
