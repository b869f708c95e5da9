#pragma once
// Byte helpers shared by the engine's tests.

#include <cstddef>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

namespace p2pdist::test {

/// The bytes of a string, without a copy (valid while `s` is).
inline std::span<const std::byte> bytes_of(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

/// A byte vector from literal values, e.g. hex_bytes({0x13, 0x42}).
inline std::vector<std::byte> hex_bytes(std::initializer_list<unsigned> values) {
  std::vector<std::byte> out;
  for (unsigned v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

}  // namespace p2pdist::test
