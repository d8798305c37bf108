// The delivery state machine (PROTOCOL.md §1) and the protocol vocabulary.
#include <catch2/catch.hpp>
#include <set>
#include <utility>

#include "protocol/types.hpp"

using namespace possync::protocol;

namespace {

constexpr Status kAllStatuses[] = {Status::sent,     Status::received,  Status::delivered,
                                   Status::rejected, Status::cancelled, Status::taken};

}  // namespace

TEST_CASE("state: exactly the documented transitions are allowed, every other pair is refused",
          "[protocol][state]") {
  const std::set<std::pair<Status, Status>> allowed = {
      {Status::sent, Status::received},     {Status::sent, Status::delivered},
      {Status::sent, Status::rejected},     {Status::sent, Status::cancelled},
      {Status::sent, Status::taken},        {Status::received, Status::delivered},
      {Status::received, Status::rejected}, {Status::received, Status::cancelled},
      {Status::received, Status::taken},
  };
  int checked = 0;
  for (Status from : kAllStatuses) {
    for (Status to : kAllStatuses) {
      CAPTURE(to_string(from), to_string(to));
      CHECK(can_transition(from, to) == (allowed.count({from, to}) == 1));
      ++checked;
    }
  }
  CHECK(checked == 36);
}

TEST_CASE("state: no status may transition to itself or back to sent", "[protocol][state]") {
  for (Status s : kAllStatuses) {
    CAPTURE(to_string(s));
    CHECK_FALSE(can_transition(s, s));
    CHECK_FALSE(can_transition(s, Status::sent));
  }
  CHECK_FALSE(can_transition(Status::received, Status::sent));
}

TEST_CASE("state: delivered, rejected, cancelled and taken are final and lead nowhere",
          "[protocol][state]") {
  CHECK_FALSE(is_final(Status::sent));
  CHECK_FALSE(is_final(Status::received));
  for (Status s : {Status::delivered, Status::rejected, Status::cancelled, Status::taken}) {
    CAPTURE(to_string(s));
    CHECK(is_final(s));
    for (Status to : kAllStatuses) CHECK_FALSE(can_transition(s, to));
  }
}

TEST_CASE("state: status names round-trip and unknown names are refused", "[protocol][state]") {
  CHECK(to_string(Status::sent) == "sent");
  CHECK(to_string(Status::received) == "received");
  CHECK(to_string(Status::delivered) == "delivered");
  CHECK(to_string(Status::rejected) == "rejected");
  CHECK(to_string(Status::cancelled) == "cancelled");
  CHECK(to_string(Status::taken) == "taken");
  for (Status s : kAllStatuses) CHECK(parse_status(to_string(s)) == s);
  CHECK_FALSE(parse_status("Sent").has_value());
  CHECK_FALSE(parse_status("canceled").has_value());
  CHECK_FALSE(parse_status("").has_value());
}

TEST_CASE("state: modes round-trip, copy and claim only", "[protocol][state]") {
  CHECK(to_string(Mode::copy) == "copy");
  CHECK(to_string(Mode::claim) == "claim");
  CHECK(parse_mode("copy") == Mode::copy);
  CHECK(parse_mode("claim") == Mode::claim);
  CHECK_FALSE(parse_mode("Copy").has_value());
  CHECK_FALSE(parse_mode("").has_value());
}

TEST_CASE("state: every error code has its documented wire name", "[protocol][state]") {
  CHECK(to_string(ErrorCode::bad_json) == "bad_json");
  CHECK(to_string(ErrorCode::bad_request) == "bad_request");
  CHECK(to_string(ErrorCode::unauthorized) == "unauthorized");
  CHECK(to_string(ErrorCode::forbidden) == "forbidden");
  CHECK(to_string(ErrorCode::not_found) == "not_found");
  CHECK(to_string(ErrorCode::conflict) == "conflict");
  CHECK(to_string(ErrorCode::too_large) == "too_large");
  CHECK(to_string(ErrorCode::rate_limited) == "rate_limited");
  CHECK(to_string(ErrorCode::unavailable) == "unavailable");
  CHECK(to_string(ErrorCode::internal) == "internal");
}

TEST_CASE("state: session ids follow ^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$", "[protocol][state]") {
  CHECK(valid_session_id("bar-1"));
  CHECK(valid_session_id("k"));
  CHECK(valid_session_id("Kitchen_1.main:2-b"));
  CHECK(valid_session_id(std::string(64, 'a')));
  CHECK_FALSE(valid_session_id(std::string(65, 'a')));
  CHECK_FALSE(valid_session_id(""));
  CHECK_FALSE(valid_session_id("-bar"));
  CHECK_FALSE(valid_session_id(".bar"));
  CHECK_FALSE(valid_session_id("bar 1"));
  CHECK_FALSE(valid_session_id("bar/1"));
  CHECK_FALSE(valid_session_id("bär"));
}

TEST_CASE("state: timestamps are RFC 3339 UTC with milliseconds and Z", "[protocol][state]") {
  CHECK(format_time_ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(format_time_ms(1795753003123) == "2026-11-27T04:16:43.123Z");
  CHECK(format_time_ms(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(now_unix_ms() > 1700000000000);
}
