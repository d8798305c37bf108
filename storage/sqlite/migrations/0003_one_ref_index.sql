-- One unique index on (ref, sender) serves both the duplicate check of a
-- send (ref = ? AND sender = ?) and the ops filter by ref, where two
-- B-trees did it: the UNIQUE (sender, ref) constraint's index and
-- sync_orders_by_ref (ref, order_id). Every new order wrote a leaf of each;
-- the second was ~1.25 KB of WAL per order in a 100-pair profile
-- (bench/results/2026-12-07-durable-peer-and-write-path.md).
--
-- A constraint's index cannot be dropped, so the table is rebuilt, as
-- SQLite's documentation says (https://www.sqlite.org/lang_altertable.html,
-- "other kinds of table schema changes"): the store runs its migrations
-- before it turns foreign keys on, so dropping the old table does not
-- check deliveries' and history's references, which name the new table
-- once it takes the old one's name. The AUTOINCREMENT sequence keeps the
-- highest id ever handed out.
CREATE TABLE sync_orders_new (
  order_id    INTEGER PRIMARY KEY AUTOINCREMENT,
  shop        TEXT NOT NULL,
  sender      TEXT NOT NULL,
  sender_name TEXT NOT NULL,
  ref         TEXT NOT NULL,
  mode        TEXT NOT NULL CHECK (mode IN ('copy', 'claim')),
  order_json  TEXT NOT NULL,
  line_count  INTEGER NOT NULL,
  created_at  TEXT NOT NULL
);
INSERT INTO sync_orders_new (order_id, shop, sender, sender_name, ref, mode, order_json, line_count, created_at)
  SELECT order_id, shop, sender, sender_name, ref, mode, order_json, line_count, created_at FROM sync_orders;
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'sync_orders_new', seq FROM sqlite_sequence WHERE name = 'sync_orders'
  AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'sync_orders_new');
UPDATE sqlite_sequence
  SET seq = MAX(seq, IFNULL((SELECT seq FROM sqlite_sequence WHERE name = 'sync_orders'), 0))
  WHERE name = 'sync_orders_new';
DROP TABLE sync_orders;
ALTER TABLE sync_orders_new RENAME TO sync_orders;
CREATE UNIQUE INDEX sync_orders_ref_sender ON sync_orders (ref, sender);
CREATE INDEX sync_orders_by_shop ON sync_orders (shop, order_id);
CREATE INDEX sync_orders_by_sender ON sync_orders (sender, order_id);
