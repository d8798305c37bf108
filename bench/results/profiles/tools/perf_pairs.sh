#!/bin/bash
# usage: perf_pairs.sh NAME [harness args...]
set -u
NAME=$1; shift; D=/tmp/prof/perf-$NAME; rm -rf $D; mkdir -p $D; cd $D
B=/work/main/build-load
TOKEN=proftoken-$RANDOM$RANDOM
$B/broker/possync-broker --listen 127.0.0.1:0 --store sqlite:$D/bench.db --admin-token $TOKEN --log-level warn >$D/broker.out 2>$D/broker.err &
BPID=$!; echo "broker pid $BPID" > $D/load.txt
for i in $(seq 1 60); do port=$(sed -n 's|^WebSocket ws://127\.0\.0\.1:\([0-9]*\)/ws$|\1|p' $D/broker.out); [[ -n $port ]] && break; sleep 0.5; done
timeout 120 $B/bench/possync-load --port $port --admin-token $TOKEN --broker-pid $BPID "$@" --json $D/run.json > $D/load.out 2>$D/load.err &
HPID=$!
sleep 2
echo "perf start: $(date -u +%T) load $(cat /proc/loadavg)" >> $D/load.txt
for t in /proc/$BPID/task/*; do echo "$(basename $t) $(cat $t/comm) $(awk '{print $14, $15}' $t/stat)"; done > $D/threads_before.txt
[[ ${MODE:-both} != record ]] && perf stat -e 'syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_pwrite64,syscalls:sys_enter_pread64,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvmsg,syscalls:sys_enter_write,syscalls:sys_enter_read' -p $BPID -o $D/perfstat.txt -- sleep 7 &
PSPID=$!; [[ ${MODE:-both} == record ]] && PSPID=""
if [[ ${MODE:-both} != stat ]]; then perf record -F 999 -g -p $BPID -o $D/perf.data -- sleep 7 > $D/perfrecord.log 2>&1; else sleep 7; fi
[[ -n $PSPID ]] && wait $PSPID
for t in /proc/$BPID/task/*; do echo "$(basename $t) $(cat $t/comm) $(awk '{print $14, $15}' $t/stat)"; done > $D/threads_after.txt
echo "perf end: $(date -u +%T) load $(cat /proc/loadavg)" >> $D/load.txt
wait $HPID; echo "harness rc $?" >> $D/load.txt
kill -TERM $BPID; for i in $(seq 1 40); do kill -0 $BPID 2>/dev/null || break; sleep 0.25; done
kill -0 $BPID 2>/dev/null && { echo KILL >> $D/load.txt; kill -KILL $BPID; }
wait $BPID; echo "broker rc $?" >> $D/load.txt
