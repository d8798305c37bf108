// fuzz_json: the JSON reader alone (targets.hpp).
#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "protocol/json.hpp"
#include "tests/fuzz/targets.hpp"

namespace possync::fuzz {
namespace {

void require(bool ok, const char* what) {
  if (!ok) broken("json", what);
}

// The document as compact JSON; false when RapidJSON refuses to write it
// (a non-finite double: the reader keeps 1e400 as inf on purpose).
bool write(const rapidjson::Document& doc, std::string& out) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  if (!doc.Accept(writer)) return false;
  out.assign(buffer.GetString(), buffer.GetSize());
  return true;
}

}  // namespace

int json_one(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // A small depth limit too, so the limit's edge is reached by short inputs.
  for (std::size_t depth : {std::size_t{256}, std::size_t{3}}) {
    rapidjson::Document doc;
    if (auto failure = protocol::parse_json(text, doc, depth)) {
      require(!failure->empty(), "a refusal says why");
      continue;
    }
    std::string first;
    if (!write(doc, first)) continue;
    rapidjson::Document again;
    require(!protocol::parse_json(first, again, depth), "what was read writes back as readable JSON");
    std::string second;
    require(write(again, second) && second == first, "writing what was read back is stable");
  }
  return 0;
}

}  // namespace possync::fuzz
