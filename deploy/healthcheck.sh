#!/bin/bash
# Docker HEALTHCHECK of the possync-broker image, without curl: GET /readyz
# over bash's /dev/tcp. Healthy (exit 0) only on a 200, i.e. when the node
# can write to its store; /readyz answers 503 while PostgreSQL is away.
# The address comes from POSSYNC_LISTEN (the image sets 0.0.0.0:8080): give
# the listen address through that variable, not --listen, or this checks
# the wrong port. Plain HTTP only (no TLS on the node).
set -u
listen=${POSSYNC_LISTEN:-127.0.0.1:8080}
port=${listen##*:}
host=${listen%:*}
case $host in
  "" | 0.0.0.0 | "[::]" | "::") host=127.0.0.1 ;;
  \[*\]) host=${host:1:-1} ;;
esac
exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
IFS= read -r -t 3 status <&3 || { echo "no answer from $host:$port"; exit 1; }
status=${status%$'\r'}
case $status in
  "HTTP/1."?" 200 "*) exit 0 ;;
esac
echo "$status"
exit 1
