-- Several broker nodes on one database (store.hpp, "cluster").

-- Which node wrote a history row (NULL: a node that never joined a
-- cluster), and when, by the server's clock: after a gap in its
-- notification stream a node re-reads the rows other nodes logged since it
-- last heard (cluster.cpp). The server's clock, not the nodes': their
-- clocks may disagree, the server's is one.
ALTER TABLE history ADD COLUMN node TEXT;
ALTER TABLE history ADD COLUMN logged_at TIMESTAMPTZ NOT NULL DEFAULT now();
CREATE INDEX history_by_logged_at ON history (logged_at);

-- One row per live node, refreshed every heartbeat. A node whose
-- heartbeat is older than the node timeout is dead: the first node to see
-- it deletes this row and the node's presence rows, in one transaction.
CREATE TABLE cluster_nodes (
  node_id      TEXT PRIMARY KEY,
  started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
  heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- How many connections each node holds for each session (no row: none).
CREATE TABLE cluster_presence (
  node        TEXT NOT NULL,
  session     TEXT NOT NULL,
  shop        TEXT NOT NULL,
  connections INTEGER NOT NULL CHECK (connections > 0),
  updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (node, session)
);
