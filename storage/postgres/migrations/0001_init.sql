-- possync schema, version 1, for PostgreSQL: the same logical schema as
-- storage/sqlite/migrations/0001_init.sql. Applied once, in its own
-- transaction, under an advisory lock (see migrate.cpp); the runner records
-- it in schema_version. Never edit a released migration: add the next
-- numbered file instead.
--
-- Timestamps are the broker's RFC 3339 UTC texts with milliseconds (as in
-- SQLite): they sort correctly as text and come back byte for byte as they
-- were replied to the client.

-- POS sessions. The token is kept only as its SHA-256 (lowercase hex).
CREATE TABLE sessions (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  shop       TEXT NOT NULL,
  sender     BOOLEAN NOT NULL,
  receiver   BOOLEAN NOT NULL,
  token_hash TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX sessions_by_shop ON sessions (shop, id);

-- Sync orders. An identity column: ids increase and are never reused (a
-- rolled-back insert leaves a gap). order_json is the `order` member as
-- sent, as TEXT (jsonb would normalize numbers and key order).
CREATE TABLE sync_orders (
  order_id    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  shop        TEXT NOT NULL,
  sender      TEXT NOT NULL,
  sender_name TEXT NOT NULL,
  ref         TEXT NOT NULL,
  mode        TEXT NOT NULL CHECK (mode IN ('copy', 'claim')),
  order_json  TEXT NOT NULL,
  line_count  INTEGER NOT NULL,
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  CONSTRAINT sync_orders_sender_ref UNIQUE (sender, ref)
);
CREATE INDEX sync_orders_by_shop ON sync_orders (shop, order_id);
CREATE INDEX sync_orders_by_sender ON sync_orders (sender, order_id);
CREATE INDEX sync_orders_by_ref ON sync_orders (ref, order_id);

-- One row per (order, receiver). No foreign key to sessions: a deleted
-- session's deliveries stay, and are replayed if the id is created again.
-- position keeps the order of the send's `to` list.
CREATE TABLE deliveries (
  order_id   BIGINT NOT NULL REFERENCES sync_orders (order_id),
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
  id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id    BIGINT NOT NULL REFERENCES sync_orders (order_id),
  receiver    TEXT NOT NULL,
  from_status TEXT,
  to_status   TEXT NOT NULL,
  by_session  TEXT NOT NULL,
  reason      TEXT,
  at          TEXT NOT NULL
);
CREATE INDEX history_by_order ON history (order_id, id);
