// The cluster feed's NOTIFY payloads: what one transaction tells the other
// nodes. Text, one record per line, fields separated by tabs:
//
//   h <TAB> node <TAB> id,id,…                    history rows node committed
//   p <TAB> node <TAB> session <TAB> shop <TAB> n  node now holds n connections
//                                                  of session (0: none)
//   r <TAB> node <TAB> session <TAB> code <TAB> id  node revoked the session: close
//                                                  its connections with `code`;
//                                                  id: its cluster_revocations row
//                                                  (absent from older nodes: 0)
//
// `node` is the node the record is about (for `h` the writer; for `p` the
// holder of the connections, which is not the writer when a node reaps a
// dead one). Fields are percent-escaped (%, tab, newline, control bytes), so
// any node id travels. A transaction's records are split over several
// pg_notify calls so that every payload stays under kMaxPayload bytes
// (PostgreSQL refuses 8000 and more); ids of one `h` record may be split too.
// Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/store.hpp"

namespace possync::storage::postgres::feed {

inline constexpr std::size_t kMaxPayload = 7000;

struct Record {
  enum class Kind { history, presence, revoke };
  Kind kind = Kind::history;
  std::string node;
  std::vector<std::int64_t> ids;  // history
  NodePresence presence;          // presence (presence.node == node)
  std::string session;            // revoke
  int close_code = 0;             // revoke
  std::int64_t revocation_id = 0;  // revoke: the row, 0 when unknown
};

// Payloads carrying `records`, in order, each under kMaxPayload bytes.
std::vector<std::string> encode(const std::vector<Record>& records);
// The records of one payload; malformed lines are skipped (nullopt when
// none was well formed and the payload was not empty).
std::optional<std::vector<Record>> decode(const std::string& payload);

Record history_record(std::string node, std::vector<std::int64_t> ids);
Record presence_record(NodePresence presence);
Record revoke_record(std::string node, std::string session, int close_code, std::int64_t revocation_id = 0);

}  // namespace possync::storage::postgres::feed
