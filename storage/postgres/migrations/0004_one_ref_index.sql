-- One unique index on (ref, sender) serves both the duplicate check of a
-- send and the ops filter by ref, where two B-trees did it (the
-- sync_orders_sender_ref constraint and sync_orders_by_ref): one index
-- fewer written per order (as SQLite's migration 0003).
ALTER TABLE sync_orders DROP CONSTRAINT sync_orders_sender_ref;
ALTER TABLE sync_orders ADD CONSTRAINT sync_orders_ref_sender UNIQUE (ref, sender);
DROP INDEX sync_orders_by_ref;
