#pragma once
// Internals shared by the two halves of the tracker codec: tracker_codec.cpp (the shared
// parts and the client side) and tracker_codec_server.cpp (the server side). Include it
// from those two files only.

#include <array>
#include <cassert>
#include <cstddef>
#include <string>
#include <string_view>

#include "loopback/protocol/result.hpp"
#include "loopback/protocol/tracker_codec.hpp"

namespace p2pdist::bt::detail {

/// The error side of a tracker codec result.
using tracker_failure = unexpected<tracker_error>;

/// The error `code` at byte `offset` of the caller's input.
inline tracker_failure fail(tracker_errc code, std::size_t offset) {
  return tracker_failure{tracker_error{code, offset}};
}

/// An ASCII decimal digit.
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

/// A byte allowed in a request target or URL: visible ASCII.
constexpr bool is_visible(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x21 && u <= 0x7e;
}

/// The 20 bytes of `s` as an info-hash or peer id. Precondition: s.size() == 20.
inline std::array<std::byte, 20> to_id(std::string_view s) {
  assert(s.size() == 20);
  std::array<std::byte, 20> id{};
  for (std::size_t i = 0; i < 20; ++i) id[i] = static_cast<std::byte>(s[i]);
  return id;
}

/// Percent-decodes `text`, which starts at `base` in the caller's input (for offsets).
/// Error: bad_escape at the offset of a '%' not followed by two hex digits.
result<std::string, tracker_error> decode_at(std::string_view text, std::size_t base);

}  // namespace p2pdist::bt::detail
