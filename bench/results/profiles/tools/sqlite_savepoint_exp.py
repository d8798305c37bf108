import sqlite3, sys, os, time, random
variant, batch_orders, nsend = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
path = f'/tmp/prof/sqlexp/{variant}-{batch_orders}.db'
for s in ('', '-wal', '-shm'):
    try: os.remove(path + s)
    except FileNotFoundError: pass
schema = open('/work/main/storage/sqlite/migrations/0001_init.sql').read()
if 'noidx' in variant:
    schema = schema.replace('CREATE INDEX sync_orders_by_sender ON sync_orders (sender, order_id);', '')
    schema = schema.replace('CREATE INDEX sync_orders_by_ref ON sync_orders (ref, order_id);', '')
    schema = schema.replace('CREATE INDEX sync_orders_by_shop ON sync_orders (shop, order_id);', '')
if 'noauto' in variant:
    schema = schema.replace('AUTOINCREMENT', '')
db = sqlite3.connect(path, isolation_level=None)
db.execute('PRAGMA journal_mode=WAL'); db.execute('PRAGMA synchronous=FULL'); db.execute('PRAGMA foreign_keys=ON')
if 'bigcache' in variant: db.execute('PRAGMA cache_size=-65536')
if 'memtemp' in variant: db.execute('PRAGMA temp_store=MEMORY')
SP = 'savepoint' in variant
def sp(): 
    if SP: db.execute('SAVEPOINT request')
def rel():
    if SP: db.execute('RELEASE request')
db.executescript(schema)
order_json = '{"lines":[' + ','.join('{"sku":"SKU-%d","name":"Crème brûlée","qty":2,"price":"7.50","note":"sans sucre"}' % i for i in range(5)) + '],"table":"12","customer":"Zoë"}'
order_json = order_json + ' ' * max(0, 620 - len(order_json))
N = 4000; seq = 0; pending = []
t0 = time.time()
while seq < N:
    db.execute('BEGIN IMMEDIATE')
    acks, pending = pending, []
    for _ in range(batch_orders):
        s = seq % nsend; seq += 1
        at = '2026-11-27T11:00:00.000Z'
        sp()
        cur = db.execute('INSERT INTO sync_orders (shop, sender, sender_name, ref, mode, order_json, line_count, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)',
                         (f'shop-{s//10}', f'snd-{s}', 'Counter', f'ld.run-{s}-{seq}', 'copy', order_json, 5, at, at))
        oid = cur.lastrowid
        db.execute('INSERT INTO deliveries (order_id, receiver, position, status, updated_at) VALUES (?,?,?,?,?)', (oid, f'rcv-{s}', 0, 'sent', at))
        db.execute('INSERT INTO history (order_id, receiver, from_status, to_status, by_session, reason, at) VALUES (?,?,?,?,?,?,?)', (oid, f'rcv-{s}', None, 'sent', f'snd-{s}', None, at))
        pending.append((oid, f'rcv-{s}')); rel()
    for oid, r in acks:
        sp()
        db.execute("UPDATE deliveries SET status='received', updated_at=? WHERE order_id=? AND receiver=? AND status='sent'", (at, oid, r))
        db.execute('INSERT INTO history (order_id, receiver, from_status, to_status, by_session, reason, at) VALUES (?,?,?,?,?,?,?)', (oid, r, 'sent', 'received', r, None, at))
        db.execute('UPDATE sync_orders SET updated_at=? WHERE order_id=?', (at, oid)); rel()
    db.execute('COMMIT')
el = time.time() - t0
print(f'{variant} batch={batch_orders} orders senders={nsend}: {N} orders in {el:.2f} s = {N/el:.0f} orders/s, commits {N//batch_orders}')
