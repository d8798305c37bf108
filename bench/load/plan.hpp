// Who exists and who talks to whom: the sessions of a run laid out in shops
// of realistic size, and their tokens (provisioned through the ops API or
// read from a file of an earlier run).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/load/options.hpp"

namespace possync::load {

struct Terminal {
  std::string id;
  std::string shop;
  bool sender = false;
  bool receiver = false;
  std::string token;
};

// How a sender picks the receivers of each order among its targets.
enum class Addressing {
  all,          // every target (pairs, fanout, claim)
  random,       // `to` distinct targets at random (mesh)
  round_robin,  // one target, in turn (storm's pending orders)
};

struct SenderPlan {
  int terminal = 0;
  std::vector<int> targets;  // terminal indices, all in the sender's shop
  std::int64_t quota = -1;   // orders this sender sends at most; -1: no limit
};

struct Plan {
  std::vector<Terminal> terminals;
  std::vector<SenderPlan> senders;
  std::vector<int> receivers;  // terminal indices with the receiver role
  Addressing addressing = Addressing::all;
  int to = 1;         // receivers per order
  bool claim = false;
  int shops = 0;
};

// The layout for the options' mode and topology; ids start with `prefix`.
Plan make_plan(const Options& options, const std::string& prefix);

// Fills every terminal's token: from options.tokens_in, or by creating the
// sessions through the ops API. Returns an error line on failure.
std::optional<std::string> provision(const Options& options, Plan& plan);
std::optional<std::string> save_tokens(const std::string& path, const Plan& plan);

}  // namespace possync::load
