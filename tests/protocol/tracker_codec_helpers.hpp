#pragma once
// Helpers shared by the tracker codec's tests (test_tracker_codec.cpp and
// test_tracker_codec_server.cpp).

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "loopback/protocol/tracker_codec.hpp"

namespace Catch {
template <>
struct StringMaker<p2pdist::bt::tracker_error> {
  static std::string convert(const p2pdist::bt::tracker_error& e) {
    return "{" + std::string(to_string(e.code)) + " at " + std::to_string(e.offset) + "}";
  }
};
}  // namespace Catch

namespace p2pdist::test {

/// A 20-byte id from a 20-character string.
inline std::array<std::byte, 20> id20(std::string_view s) {
  REQUIRE(s.size() == 20);
  std::array<std::byte, 20> out{};
  for (std::size_t i = 0; i < 20; ++i) out[i] = static_cast<std::byte>(s[i]);
  return out;
}

/// A compact peer entry from its parts.
inline std::string compact_peer(unsigned a, unsigned b, unsigned c, unsigned d, unsigned port) {
  return std::string{static_cast<char>(a), static_cast<char>(b), static_cast<char>(c),
                     static_cast<char>(d), static_cast<char>(port >> 8), static_cast<char>(port & 0xff)};
}

/// The error of a result that must have failed.
template <class T>
bt::tracker_error error_of(const bt::result<T, bt::tracker_error>& r) {
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

}  // namespace p2pdist::test
