#!/bin/bash
# usage: massif.sh N HOLD
set -u
N=$1; HOLD=$2; D=/tmp/prof/massif-$N; rm -rf $D; mkdir -p $D; cd $D
B=/work/main/build-load
TOKEN=proftoken-$RANDOM$RANDOM
echo "load start: $(cat /proc/loadavg)" > $D/load.txt
valgrind --tool=massif --massif-out-file=$D/massif.out --detailed-freq=1 --max-snapshots=200 --threshold=0.1 \
  $B/broker/possync-broker --listen 127.0.0.1:0 --store sqlite:$D/bench.db --admin-token $TOKEN --log-level warn \
  --hello-timeout-ms 120000 --handshake-timeout-ms 120000 >$D/broker.out 2>$D/broker.err &
BPID=$!; echo "valgrind/broker pid $BPID" >> $D/load.txt
for i in $(seq 1 120); do port=$(sed -n 's|^WebSocket ws://127\.0\.0\.1:\([0-9]*\)/ws$|\1|p' $D/broker.out); [[ -n $port ]] && break; sleep 0.5; done
echo "port $port after $i" >> $D/load.txt
sleep 2
timeout 600 $B/bench/possync-load --port $port --admin-token $TOKEN --broker-pid $BPID --mode idle --connections $N --hold $HOLD \
   --request-timeout-ms 120000 --connect-concurrency 50 --json $D/idle.json --quiet > $D/load.out 2>&1
echo "harness rc $?" >> $D/load.txt
echo "load end: $(cat /proc/loadavg)" >> $D/load.txt
sleep 3
kill -TERM $BPID; for i in $(seq 1 120); do kill -0 $BPID 2>/dev/null || break; sleep 0.5; done
kill -0 $BPID 2>/dev/null && { echo "KILL" >> $D/load.txt; kill -KILL $BPID; }
wait $BPID; echo "broker rc $?" >> $D/load.txt
