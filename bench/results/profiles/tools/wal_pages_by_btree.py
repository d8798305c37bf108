#!/usr/bin/env python3
"""Which B-tree of the SQLite schema writes how many WAL pages per order.

Usage: wal_pages_by_btree.py DB   (DB holding the schema, at version 1 or 2, and the sessions of a
100-pairs run: limit-tx-J and limit-rx-J-0 in shops bench-J/5, as store-limit-sqlite creates them)

Works on schema 1 (the order row's updated_at touched by every ack) and on
schema 2 (migration 0002: no touch). Runs 40 transactions of the writer's shape at max_batch 512 (256 sends, one
receiver each, and the 256 acks of the previous transaction's orders, over
100 senders in shops of 5), with the raw rows of store-limit-sqlite, with
automatic checkpoints off; then reads the WAL's frame headers (page number,
commit flag) and maps every page to its table or index through SQLite's
dbstat table. The first 30 transactions are warm-up (7,680 orders: the
indexes grow to one leaf per sender or more, as in a running broker). WAL bytes only: the
checkpoint writes each distinct page once more into the database file.
"""
import collections
import sqlite3
import struct
import sys

db = sys.argv[1]
c = sqlite3.connect(db, isolation_level=None)
c.execute('PRAGMA wal_autocheckpoint=0')
c.execute('PRAGMA synchronous=FULL')
c.execute('PRAGMA wal_checkpoint(TRUNCATE)')
line = ('{"product_id":%d,"name":"Product number %d with a long name","qty":2,"price_unit":9.5,'
        '"discount":0,"note":"no onions please"}')
order = ('{"lines":[' + ','.join(line % (i, i) for i in range(5)) +
         '],"customer":{"id":42,"name":"Jane Doe"},"note":"table 12, allergy: nuts"}')
order += ' ' * max(0, 1300 - len(order))  # ~1.3 KB, as bench/common/sample_order.hpp with 5 lines
touch = any(row[1] == 'updated_at' for row in c.execute('PRAGMA table_info(sync_orders)'))
senders, seq, prev = 100, 0, []
WARMUP, MEASURED = 30, 10
for t in range(WARMUP + MEASURED):
    # Each transaction at its own time: an UPDATE that writes the same
    # bytes again leaves the page clean, one with a new time does not.
    at = '2026-12-07T21:%02d:%02d.000Z' % divmod(t, 60)
    c.execute('BEGIN IMMEDIATE')
    new = []
    for _ in range(256):
        j = seq % senders
        seq += 1
        s, r, shop = 'limit-tx-%d' % j, 'limit-rx-%d-0' % j, 'bench-%d' % (j // 5)
        if touch:
            c.execute("INSERT INTO sync_orders (shop, sender, sender_name, ref, mode, order_json, line_count,"
                      " created_at, updated_at) VALUES (?,?,?,?,'copy',?,5,?,?)",
                      (shop, s, s, 'prof-%s-%d' % (s, seq), order, at, at))
        else:
            c.execute("INSERT INTO sync_orders (shop, sender, sender_name, ref, mode, order_json, line_count,"
                      " created_at) VALUES (?,?,?,?,'copy',?,5,?)",
                      (shop, s, s, 'prof-%s-%d' % (s, seq), order, at))
        oid = c.execute('SELECT last_insert_rowid()').fetchone()[0]
        c.execute("INSERT INTO deliveries (order_id, receiver, position, status, updated_at)"
                  " VALUES (?,?,0,'sent',?)", (oid, r, at))
        c.execute("INSERT INTO history (order_id, receiver, to_status, by_session, at) VALUES (?,?,'sent',?,?)",
                  (oid, r, s, at))
        new.append((oid, r))
    for oid, r in prev:
        c.execute("UPDATE deliveries SET status='received', updated_at=? WHERE order_id=? AND receiver=?",
                  (at, oid, r))
        c.execute("INSERT INTO history (order_id, receiver, from_status, to_status, by_session, at)"
                  " VALUES (?,?,'sent','received',?,?)", (oid, r, r, at))
        if touch:
            c.execute('UPDATE sync_orders SET updated_at=? WHERE order_id=?', (at, oid))
    c.execute('COMMIT')
    prev = new

data = open(db + '-wal', 'rb').read()
page_size = struct.unpack('>I', data[8:12])[0]
off, tx, txs = 32, [], []
while off + 24 + page_size <= len(data):
    page, commit = struct.unpack('>II', data[off:off + 8])
    tx.append(page)
    if commit:
        txs.append(tx)
        tx = []
    off += 24 + page_size
owner = {pageno: name for name, pageno in c.execute('SELECT name, pageno FROM dbstat')}
measured = txs[WARMUP:]
n, orders = len(measured), 256 * len(measured)
frame = page_size + 24
pages = collections.Counter(owner.get(p, '?') for t in measured for p in t)
total = sum(pages.values())
print(f'schema {"1 (order row touched by acks)" if touch else "2 (no touch)"}; '
      f'{n} transactions of 256 sends + 256 acks: {total / n:.1f} WAL pages each, {total * frame / orders:.0f} B per order')
print(f'{"B-tree":32s} {"pages/tx":>9s} {"B/order":>8s}')
for name, count in pages.most_common():
    print(f'{name:32s} {count / n:9.1f} {count * frame / orders:8.0f}')
