#pragma once
// Helpers shared by the wire codec's tests (test_wire.cpp, test_wire_errors.cpp): byte
// strings, encodings, a sample handshake and torrent, and decoding a whole stream.

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "loopback/protocol/wire.hpp"

namespace p2pdist::test {

/// A byte string.
using bytes = std::vector<std::byte>;

/// The bytes of a string.
inline bytes text_bytes(std::string_view text) {
  bytes out;
  for (char c : text) out.push_back(static_cast<std::byte>(c));
  return out;
}

/// The parts one after the other.
inline bytes concat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

/// The encoding of one handshake, message or event.
template <class T>
bytes encoded(const T& value) {
  bytes out;
  bt::wire_append(value, out);
  return out;
}

/// A handshake with a reserved bit, info-hash a0..b3 and peer id "-PD0001-abcdefghijkl".
inline bt::handshake sample_handshake() {
  bt::handshake h;
  for (std::size_t i = 0; i < 8; ++i) h.reserved[i] = static_cast<std::byte>(i == 5 ? 0x10 : 0);
  for (std::size_t i = 0; i < 20; ++i) h.info_hash[i] = static_cast<std::byte>(0xa0 + i);
  const std::string_view id = "-PD0001-abcdefghijkl";
  for (std::size_t i = 0; i < 20; ++i) h.id[i] = static_cast<std::byte>(id[i]);
  return h;
}

/// 32 KiB pieces, 4 pieces, the last one 10 000 bytes long.
inline constexpr bt::wire_config small_torrent{.piece_bytes = 32 * 1024, .total_bytes = 3 * 32 * 1024 + 10'000};

/// Decodes `stream` fed in chunks of `chunk` bytes (0 = all at once), draining next() after
/// each feed. Returns each event's own encoding (taken at once, while spans are valid) and
/// the error if the stream failed.
struct decoded {
  std::vector<bytes> events;
  std::vector<std::string> names;
  std::optional<bt::wire_error> error;
};

inline decoded decode_all(const bt::wire_config& config, std::span<const std::byte> stream, std::size_t chunk = 0) {
  decoded out;
  bt::wire_decoder decoder(config);
  std::size_t pos = 0;
  while (pos < stream.size() && !out.error) {
    const std::size_t n = chunk == 0 ? stream.size() : std::min(chunk, stream.size() - pos);
    decoder.feed(stream.subspan(pos, n));
    pos += n;
    for (;;) {
      auto r = decoder.next();
      if (!r) {
        out.error = r.error();
        break;
      }
      if (!*r) break;
      out.events.push_back(encoded(**r));
      out.names.emplace_back(bt::event_name(**r));
    }
  }
  return out;
}

/// One message decoded, with the decoder that owns the bytes its spans point into.
struct decoded_one {
  std::unique_ptr<bt::wire_decoder> decoder;
  bt::wire_event event;
};

/// Decodes a stream that must yield exactly one message after the handshake.
inline decoded_one decode_one(const bt::wire_config& config, const bytes& message) {
  const bytes stream = concat({encoded(sample_handshake()), message});
  decoded_one out{.decoder = std::make_unique<bt::wire_decoder>(config), .event = {}};
  out.decoder->feed(stream);
  auto h = out.decoder->next();
  REQUIRE(h.has_value());
  REQUIRE(h->has_value());
  auto r = out.decoder->next();
  REQUIRE(r.has_value());
  REQUIRE(r->has_value());
  out.event = std::move(**r);
  CHECK(out.decoder->buffered_bytes() == 0);
  CHECK(out.decoder->consumed_bytes() == stream.size());
  return out;
}

}  // namespace p2pdist::test
