-- Revocations (a token rotated, a session deleted or moved) as rows, not
-- only as NOTIFY payloads: a node whose listener was away when another
-- node revoked a session re-reads them after it reconnects, as it re-reads
-- history (cluster.cpp, recover()); otherwise it would keep serving the
-- revoked session's connections. Rows older than the recovery window are
-- of no use and are deleted by the nodes' reaping (an hour is kept).
CREATE TABLE cluster_revocations (
  id         BIGSERIAL PRIMARY KEY,
  node       TEXT NOT NULL,
  session    TEXT NOT NULL,
  close_code INTEGER NOT NULL,
  logged_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX cluster_revocations_by_logged_at ON cluster_revocations (logged_at);
