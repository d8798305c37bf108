-- An order's updated_at is the newest of its deliveries' updated_at (every
-- change of an order is a change of one of its deliveries, and a new
-- order's deliveries carry its created_at). Kept on the order row, it was
-- rewritten by every ack, deliver, reject and cancel: the row holds the
-- order's JSON (~1.3 KB), so each transition wrote its page again, a third
-- of the order rows' share of the WAL
-- (bench/results/2026-12-07-durable-peer-and-write-path.md). Reads compute
-- it from deliveries instead (records.hpp, POSSYNC_ORDER_COLUMNS).
ALTER TABLE sync_orders DROP COLUMN updated_at;
