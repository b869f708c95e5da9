// libFuzzer target for the bencode decoder. Beyond "no crash", it checks properties of
// every input: errors point inside the input; a decoded value re-encodes to the same
// length and decodes back equal; each value's span decodes alone to the same value; the
// limits the value needs are exactly the limits that accept it; and proper prefixes fail
// where they end.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "loopback/protocol/bencode.hpp"

namespace {

using p2pdist::bt::bdecode;
using p2pdist::bt::bencode;
using p2pdist::bt::bencode_errc;
using p2pdist::bt::bencode_limits;
using p2pdist::bt::bvalue;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

struct shape {
  int depth = 0;            // lists/dicts nested
  std::size_t tokens = 0;   // values, dictionary keys included
};

// Recursion is bounded by the decoder's depth limit.
shape measure(const bvalue& v) {
  shape s{.depth = 0, .tokens = 1};
  if (const auto* l = v.as_list()) {
    int inner = 0;
    for (const auto& e : *l) {
      const auto t = measure(e);
      inner = std::max(inner, t.depth);
      s.tokens += t.tokens;
    }
    s.depth = inner + 1;
  } else if (const auto* d = v.as_dict()) {
    int inner = 0;
    for (const auto& [k, e] : *d) {
      const auto t = measure(e);
      inner = std::max(inner, t.depth);
      s.tokens += t.tokens + 1;  // the key
    }
    s.depth = inner + 1;
  }
  return s;
}

// Every value's recorded span holds exactly that value.
void check_spans(const bvalue& v, std::string_view input) {
  require(v.begin < v.end && v.end <= input.size());
  const auto alone = bdecode(input.substr(v.begin, v.end - v.begin));
  require(alone.has_value() && *alone == v);
  if (const auto* l = v.as_list()) {
    std::size_t at = v.begin + 1;
    for (const auto& e : *l) {
      require(e.begin == at);
      check_spans(e, input);
      at = e.end;
    }
    require(at + 1 == v.end);
  } else if (const auto* d = v.as_dict()) {
    for (const auto& [k, e] : *d) {
      require(e.begin > v.begin && e.end < v.end);
      check_spans(e, input);
    }
  }
}

void check_prefix(std::string_view input, std::size_t k) {
  const auto r = bdecode(input.substr(0, k));
  require(!r.has_value());
  require(r.error().code == bencode_errc::truncated || r.error().code == bencode_errc::missing_end);
  require(r.error().offset == k);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto r = bdecode(input);
  if (!r.has_value()) {
    const auto e = r.error();
    require(e.offset <= size);
    if (e.code == bencode_errc::truncated || e.code == bencode_errc::missing_end) {
      require(e.offset == size);
    }
    return 0;
  }
  const bvalue& v = *r;
  require(v.begin == 0 && v.end == size);

  // Re-encoding only reorders dictionary keys: same length, same multiset of bytes.
  const std::string encoded = bencode(v);
  require(encoded.size() == size);
  std::array<std::size_t, 256> histogram{};
  for (const unsigned char c : input) ++histogram[c];
  for (const unsigned char c : encoded) --histogram[c];
  for (const auto n : histogram) require(n == 0);
  const auto again = bdecode(encoded);
  require(again.has_value() && *again == v && bencode(*again) == encoded);

  check_spans(v, input);

  // The limits the value needs pass; one less fails with the matching code.
  const shape s = measure(v);
  require(bdecode(input, bencode_limits{.max_depth = s.depth}).has_value());
  require(bdecode(input, bencode_limits{.max_tokens = s.tokens}).has_value());
  require(bdecode(input, bencode_limits{.max_bytes = size}).has_value());
  if (s.depth > 0) {
    const auto d = bdecode(input, bencode_limits{.max_depth = s.depth - 1});
    require(!d.has_value() && d.error().code == bencode_errc::depth_exceeded);
  }
  const auto t = bdecode(input, bencode_limits{.max_tokens = s.tokens - 1});
  require(!t.has_value() && t.error().code == bencode_errc::too_many_tokens);
  const auto b = bdecode(input, bencode_limits{.max_bytes = size - 1});
  require(!b.has_value() && b.error().code == bencode_errc::too_large && b.error().offset == size - 1);

  check_prefix(input, size - 1);
  check_prefix(input, size / 2);
  return 0;
}
