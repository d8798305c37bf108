#!/usr/bin/env bash
# The store limit for PostgreSQL: pgbench, one connection (as the broker's
# one writer), each transaction one group-commit batch of the broker's size,
# holding the rows one order produces, as storage/postgres/writes.cpp writes
# them. The counterpart of store-limit-sqlite (see its header for the modes).
#
#   bench/baselines/store_limit_pg.sh --url postgresql://… [--mode raw|broker]
#       [--seconds S] [--batch B] [--senders S] [--lines L] [--ack] [--json FILE]
#
#   raw     per order: INSERT the sync_orders row, one deliveries row and one
#           creation history row (one receiver); with --ack the receiver's
#           ack: delivery update, history row, order touch.
#   broker  the statements writes::send / writes::ack run (lookups, row
#           locks; no savepoint, as the writer's plain run), and the batch's
#           pg_notify.
# With --ack a batch holds B/2 sends and the acks of those orders, each ack
# right after its send. --senders S: the orders come from S senders in turn,
# each to its own receiver, in shops of 5 pairs (a pairs run's sessions, so
# the rows land where the broker's do); default one sender.
#
# A fresh schema is created (the migrations of storage/postgres applied with
# psql) and dropped afterwards. Prints one line; --json writes the figures.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
url="" mode=raw seconds=5 lines=5 ack=0 json="" senders=1
# The broker's StoreOptions::max_batch (storage/store.hpp): read, not copied.
batch=$(sed -n 's/.*max_batch = \([0-9]*\);.*/\1/p' "$root/storage/store.hpp")
while (($#)); do
  case $1 in
    --url) url=$2; shift ;;
    --mode) mode=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --batch) batch=$2; shift ;;
    --lines) lines=$2; shift ;;
    --senders) senders=$2; shift ;;
    --ack) ack=1 ;;
    --json) json=$2; shift ;;
    *) echo "store_limit_pg: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[[ -n $url && ($mode == raw || $mode == broker) && $batch -ge $((1 + ack)) && $senders =~ ^[1-9][0-9]*$ ]] || {
  echo "usage: $0 --url URL [--mode raw|broker] [--seconds S] [--batch B] [--senders S] [--lines L] [--ack] [--json FILE]" >&2
  exit 2
}

pg_bin=/usr/lib/postgresql/15/bin
pgbench=$pg_bin/pgbench
[[ -x $pgbench ]] || pgbench=$(command -v pgbench) || { echo "store_limit_pg: pgbench not found (postgresql-contrib)" >&2; exit 2; }

work=$(mktemp -d /tmp/possync-store-limit-pg.XXXXXX)
schema=store_limit_$$
cleanup() {
  PGOPTIONS="" psql -q "$url" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql -q -v ON_ERROR_STOP=1 "$url" -c "CREATE SCHEMA $schema" >/dev/null
export PGOPTIONS="-c search_path=$schema"
for file in "$root"/storage/postgres/migrations/*.sql; do
  psql -q -v ON_ERROR_STOP=1 -1 "$url" -f "$file" >/dev/null
done
# The broker formats each request's time once and binds it as text; pgbench
# does the same through :at. (Defined here: pgbench would read the format's
# colons as variables.)
psql -q -v ON_ERROR_STOP=1 "$url" >/dev/null <<'SQL'
CREATE FUNCTION store_limit_now() RETURNS text LANGUAGE sql AS
  $$ SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;
SQL
psql -q -v ON_ERROR_STOP=1 -v senders="$senders" "$url" >/dev/null <<'SQL'
INSERT INTO sessions (id, name, shop, sender, receiver, token_hash, created_at, updated_at)
SELECT 'limit-' || role || '-' || j, 'limit-' || role || '-' || j, 'bench-' || (j / 5), role = 'tx', role = 'rx',
       '-', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'
FROM generate_series(0, :senders - 1) AS j, (VALUES ('tx'), ('rx')) AS roles (role);
SQL

# The order JSON of the benches (bench/common/sample_order.hpp), as an SQL literal.
order='{"name":"bench","t0":1795770000000000000,"lines":['
for ((i = 0; i < lines; i++)); do
  ((i > 0)) && order+=','
  order+="{\"product_id\":$((100 + i)),\"name\":\"Item $i\",\"qty\":1,\"price_unit\":4.5,\"discount\":0}"
done
order+=']}'

sends=$batch
((ack)) && sends=$((batch / 2))
# Every order runs the same statement texts (pgbench prepares each text
# once, as the broker prepares its statements when it connects); the ref
# differs by :k. An order's ack follows it in the same transaction: the
# statements are those of an ack that arrives a batch later.
at=":at"
script=$work/batch.sql
{
  echo "\\set run random(1, 1000000000000)"
  echo "\\set k 0"
  echo "BEGIN;"
  echo "SELECT store_limit_now() AS at \\gset"
  for ((k = 0; k < sends; k++)); do
    j=$((k % senders))
    tx="limit-tx-$j" rx="limit-rx-$j" shop="bench-$((j / 5))"
    ref="'limit-' || :run || '-' || :k"
    echo "\\set k :k + 1"
    if [[ $mode == broker ]]; then
      echo "SELECT order_id FROM sync_orders WHERE sender = '$tx' AND ref = $ref;"
      echo "SELECT id, name, shop, sender, receiver FROM sessions WHERE id = ANY(ARRAY['$tx', '$rx']);"
    fi
    echo "INSERT INTO sync_orders (shop, sender, sender_name, ref, mode, order_json, line_count, created_at, updated_at)" \
      "VALUES ('$shop', '$tx', '$tx', $ref, 'copy', '$order', $lines, $at, $at)" \
      "ON CONFLICT ON CONSTRAINT sync_orders_ref_sender DO NOTHING RETURNING order_id AS o \\gset"
    echo "INSERT INTO deliveries (order_id, receiver, position, status, updated_at) VALUES (:o, '$rx', 0, 'sent', $at);"
    echo "INSERT INTO history (order_id, receiver, from_status, to_status, by_session, reason, at, node)" \
      "VALUES (:o, '$rx', NULL, 'sent', '$tx', NULL, $at, NULL) RETURNING id;"
    if ((ack)); then
      if [[ $mode == broker ]]; then
        echo "SELECT id, name, shop, sender, receiver FROM sessions WHERE id = '$rx';"
        echo "SELECT d.receiver, d.status, o.shop, o.sender, o.mode FROM deliveries d" \
          "JOIN sync_orders o ON o.order_id = d.order_id WHERE d.order_id = :o ORDER BY d.position FOR UPDATE OF d;"
      fi
      echo "UPDATE deliveries SET status = 'received', updated_at = $at WHERE order_id = :o AND receiver = '$rx' AND status = 'sent';"
      echo "INSERT INTO history (order_id, receiver, from_status, to_status, by_session, reason, at, node)" \
        "VALUES (:o, '$rx', 'sent', 'received', '$rx', NULL, $at, NULL) RETURNING id;"
      echo "UPDATE sync_orders SET updated_at = $at WHERE order_id = :o;"
    fi
  done
  # The broker tells the other nodes about the batch's history rows (about
  # ten bytes of payload per row).
  if [[ $mode == broker ]]; then
    echo "SELECT pg_notify('possync_store_limit', repeat('x', $((10 * sends * (1 + ack)))));"
  fi
  echo "COMMIT;"
} >"$script"

# One writer connection, as the broker; -l logs every transaction's latency.
(cd "$work" && "$pgbench" -n -c 1 -j 1 -M prepared -T "$seconds" -f "$script" -l --log-prefix=tx "$url" \
  >"$work/pgbench.out" 2>"$work/pgbench.err") || {
  cat "$work/pgbench.err" >&2
  exit 1
}
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench.out" | head -n1)
batches=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/pgbench.out")
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/pgbench.out")
# Per-transaction log: client, transaction, latency in µs, …
read -r p50 p99 < <(cat "$work"/tx.* | awk '{print $3}' | sort -n |
  awk '{v[NR] = $1} END { if (NR == 0) { print 0, 0; exit }
       i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1;
       printf "%.4f %.4f\n", v[i50] / 1000, v[i99] / 1000 }')
rows_per_order=3
((ack)) && rows_per_order=6
orders_per_s=$(awk -v t="$tps" -v s="$sends" 'BEGIN { printf "%.1f", t * s }')
rows_per_s=$(awk -v o="$orders_per_s" -v r="$rows_per_order" 'BEGIN { printf "%.1f", o * r }')
ack_text=$( ((ack)) && echo yes || echo no)
echo "store-limit postgresql mode=$mode batch=$batch senders=$senders receivers=1 lines=$lines ack=$ack_text: $orders_per_s orders/s," \
  "$rows_per_s rows/s, $tps transactions/s, transaction p50 $p50 ms p99 $p99 ms ($batches transactions, ${failed:-0} failed)"
if [[ -n $json ]]; then
  ack_json=$( ((ack)) && echo true || echo false)
  cat >"$json" <<EOF
{"store":"postgresql","mode":"$mode","batch":$batch,"senders":$senders,"receivers":1,"lines":$lines,"ack":$ack_json,"seconds":$seconds,"transactions":${batches:-0},"failed":${failed:-0},"orders_per_s":$orders_per_s,"rows_per_s":$rows_per_s,"transactions_per_s":${tps:-0},"transaction_ms_p50":$p50,"transaction_ms_p99":$p99}
EOF
fi
