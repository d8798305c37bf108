-- possync schema, version 1. Applied once, in its own transaction; the
-- runner records it in schema_version. Never edit a released migration: add
-- the next numbered file instead.

-- POS sessions. The token is kept only as its SHA-256 (lowercase hex).
CREATE TABLE sessions (
  id         TEXT PRIMARY KEY NOT NULL,
  name       TEXT NOT NULL,
  shop       TEXT NOT NULL,
  sender     INTEGER NOT NULL CHECK (sender IN (0, 1)),
  receiver   INTEGER NOT NULL CHECK (receiver IN (0, 1)),
  token_hash TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX sessions_by_shop ON sessions (shop, id);

-- Sync orders. AUTOINCREMENT: ids strictly increase and are never reused,
-- even after the newest row is gone. order_json is the `order` member as sent.
CREATE TABLE sync_orders (
  order_id    INTEGER PRIMARY KEY AUTOINCREMENT,
  shop        TEXT NOT NULL,
  sender      TEXT NOT NULL,
  sender_name TEXT NOT NULL,
  ref         TEXT NOT NULL,
  mode        TEXT NOT NULL CHECK (mode IN ('copy', 'claim')),
  order_json  TEXT NOT NULL,
  line_count  INTEGER NOT NULL,
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  UNIQUE (sender, ref)
);
CREATE INDEX sync_orders_by_shop ON sync_orders (shop, order_id);
CREATE INDEX sync_orders_by_sender ON sync_orders (sender, order_id);
CREATE INDEX sync_orders_by_ref ON sync_orders (ref, order_id);

-- One row per (order, receiver). No foreign key to sessions: a deleted
-- session's deliveries stay, and are replayed if the id is created again.
-- position keeps the order of the send's `to` list.
CREATE TABLE deliveries (
  order_id   INTEGER NOT NULL REFERENCES sync_orders (order_id),
  receiver   TEXT NOT NULL,
  position   INTEGER NOT NULL,
  status     TEXT NOT NULL
             CHECK (status IN ('sent', 'received', 'delivered', 'rejected', 'cancelled', 'taken')),
  updated_at TEXT NOT NULL,
  PRIMARY KEY (order_id, receiver)
);
CREATE INDEX deliveries_by_receiver ON deliveries (receiver, status, order_id);

-- Every delivery transition; from_status is NULL for the creation entry.
CREATE TABLE history (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  order_id    INTEGER NOT NULL REFERENCES sync_orders (order_id),
  receiver    TEXT NOT NULL,
  from_status TEXT,
  to_status   TEXT NOT NULL,
  by_session  TEXT NOT NULL,
  reason      TEXT,
  at          TEXT NOT NULL
);
CREATE INDEX history_by_order ON history (order_id, id);
