// Tests of the peer wire codec. Expected bytes are written out by hand from BEP 3's
// message layout (length, id, big-endian fields), not taken from the encoder's output.
#include "loopback/protocol/wire.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "bytes.hpp"

namespace bt = p2pdist::bt;
namespace msg = p2pdist::bt::msg;
using bytes = std::vector<std::byte>;

namespace {

using p2pdist::test::hex_bytes;

bytes text_bytes(std::string_view text) {
  bytes out;
  for (char c : text) out.push_back(static_cast<std::byte>(c));
  return out;
}

bytes concat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

template <class T>
bytes encoded(const T& value) {
  bytes out;
  bt::wire_append(value, out);
  return out;
}

bt::handshake sample_handshake() {
  bt::handshake h;
  for (std::size_t i = 0; i < 8; ++i) h.reserved[i] = static_cast<std::byte>(i == 5 ? 0x10 : 0);
  for (std::size_t i = 0; i < 20; ++i) h.info_hash[i] = static_cast<std::byte>(0xa0 + i);
  const std::string_view id = "-PD0001-abcdefghijkl";
  for (std::size_t i = 0; i < 20; ++i) h.id[i] = static_cast<std::byte>(id[i]);
  return h;
}

/// 32 KiB pieces, 4 pieces, the last one 10 000 bytes long.
constexpr bt::wire_config small_torrent{.piece_bytes = 32 * 1024, .total_bytes = 3 * 32 * 1024 + 10'000};

/// Decodes `stream` fed in chunks of `chunk` bytes (0 = all at once), draining next() after
/// each feed. Returns each event's own encoding (taken at once, while spans are valid) and
/// the error if the stream failed.
struct decoded {
  std::vector<bytes> events;
  std::vector<std::string> names;
  std::optional<bt::wire_error> error;
};

decoded decode_all(const bt::wire_config& config, std::span<const std::byte> stream, std::size_t chunk = 0) {
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
decoded_one decode_one(const bt::wire_config& config, const bytes& message) {
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

/// Decodes handshake + `message` and returns the error it must produce.
bt::wire_error decode_error_of(const bt::wire_config& config, const bytes& message) {
  const bytes stream = concat({encoded(sample_handshake()), message});
  const auto result = decode_all(config, stream);
  REQUIRE(result.error.has_value());
  CHECK(result.events.size() == 1);  // the handshake came through
  return *result.error;
}

}  // namespace

// ------------------------------------------------------------------------------ encoding

TEST_CASE("handshake encodes to the 68 bytes of BEP 3") {
  const bt::handshake h = sample_handshake();
  const bytes expected = concat({hex_bytes({19}), text_bytes("BitTorrent protocol"),
                                 hex_bytes({0, 0, 0, 0, 0, 0x10, 0, 0}),
                                 hex_bytes({0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa,
                                            0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3}),
                                 text_bytes("-PD0001-abcdefghijkl")});
  REQUIRE(expected.size() == 68);
  CHECK(encoded(h) == expected);
}

TEST_CASE("every message encodes to its BEP 3 layout") {
  CHECK(encoded(msg::keep_alive{}) == hex_bytes({0, 0, 0, 0}));
  CHECK(encoded(msg::choke{}) == hex_bytes({0, 0, 0, 1, 0}));
  CHECK(encoded(msg::unchoke{}) == hex_bytes({0, 0, 0, 1, 1}));
  CHECK(encoded(msg::interested{}) == hex_bytes({0, 0, 0, 1, 2}));
  CHECK(encoded(msg::not_interested{}) == hex_bytes({0, 0, 0, 1, 3}));
  CHECK(encoded(msg::have{.index = 0x01020304}) == hex_bytes({0, 0, 0, 5, 4, 1, 2, 3, 4}));

  bt::bitfield pieces(10);
  pieces.set(0);
  pieces.set(9);
  CHECK(encoded(msg::bitfield{.pieces = pieces}) == hex_bytes({0, 0, 0, 3, 5, 0x80, 0x40}));

  CHECK(encoded(msg::request{.index = 1, .begin = 0x4000, .length = 0x4000}) ==
        hex_bytes({0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0}));
  CHECK(encoded(msg::cancel{.index = 0xfffffffe, .begin = 0x10203, .length = 7}) ==
        hex_bytes({0, 0, 0, 13, 8, 0xff, 0xff, 0xff, 0xfe, 0, 1, 2, 3, 0, 0, 0, 7}));

  const bytes data = text_bytes("abc");
  CHECK(encoded(msg::piece{.index = 2, .begin = 0x4000, .data = data}) ==
        hex_bytes({0, 0, 0, 12, 7, 0, 0, 0, 2, 0, 0, 0x40, 0, 'a', 'b', 'c'}));

  const bytes payload = text_bytes("xy");
  CHECK(encoded(msg::unknown{.id = 20, .payload = payload}) == hex_bytes({0, 0, 0, 3, 20, 'x', 'y'}));
}

TEST_CASE("encoders append to what the buffer already holds") {
  bytes out = hex_bytes({0xee});
  bt::wire_append(msg::have{.index = 7}, out);
  bt::wire_append(msg::choke{}, out);
  CHECK(out == hex_bytes({0xee, 0, 0, 0, 5, 4, 0, 0, 0, 7, 0, 0, 0, 1, 0}));
}

TEST_CASE("piece_header is the piece message without its data") {
  bytes block(bt::block_bytes);
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<std::byte>(i * 7);
  const bytes whole = encoded(msg::piece{.index = 300, .begin = 3 * bt::block_bytes, .data = block});
  const auto header = bt::piece_header(300, 3 * bt::block_bytes, bt::block_bytes);
  // Length 16384 + 9 = 0x4009; index 300 = 0x12c; begin 49152 = 0xc000.
  CHECK(bytes(header.begin(), header.end()) ==
        hex_bytes({0, 0, 0x40, 0x09, 7, 0, 0, 0x01, 0x2c, 0, 0, 0xc0, 0}));
  REQUIRE(whole.size() == bt::piece_header_bytes + bt::block_bytes);
  CHECK(bytes(whole.begin(), whole.begin() + 13) == bytes(header.begin(), header.end()));
  CHECK(bytes(whole.begin() + 13, whole.end()) == block);
}

TEST_CASE("max_message_bytes admits a 16 KiB block and a 1 MiB bitfield, not more than 1 MiB + 16") {
  CHECK(bt::max_message_bytes == 1048576 + 16);
  CHECK(9 + bt::block_bytes <= bt::max_message_bytes);
  CHECK(1 + (1u << 20) <= bt::max_message_bytes);
}

// ------------------------------------------------------------------------------ decoding

TEST_CASE("every message round-trips through the decoder") {
  bt::bitfield pieces(4);
  pieces.set(1);
  pieces.set(3);
  const bytes data = text_bytes("0123456789");
  const bytes payload = hex_bytes({0x1a, 0xe1});
  const std::vector<bt::wire_event> messages = {
      msg::keep_alive{},
      msg::choke{},
      msg::unchoke{},
      msg::interested{},
      msg::not_interested{},
      msg::have{.index = 3},
      msg::bitfield{.pieces = pieces},
      msg::request{.index = 1, .begin = 16384, .length = 16384},
      msg::piece{.index = 3, .begin = 9990, .data = data},
      msg::cancel{.index = 0, .begin = 0, .length = 1},
      msg::unknown{.id = 9, .payload = payload},
  };
  for (const auto& message : messages) {
    INFO(bt::event_name(message));
    const decoded_one back = decode_one(small_torrent, encoded(message));
    CHECK(back.event == message);
  }

  bt::wire_decoder decoder(small_torrent);
  decoder.feed(encoded(sample_handshake()));
  auto h = decoder.next();
  REQUIRE(h.has_value());
  REQUIRE(h->has_value());
  CHECK(std::get<bt::handshake>(**h) == sample_handshake());
  CHECK(decoder.consumed_bytes() == 68);
}

TEST_CASE("decoded fields come from the right bytes") {
  // Hand-written request for piece 2, offset 0x8000 - 0x10 = 32752, 16 bytes.
  const auto event = decode_one(small_torrent, hex_bytes({0, 0, 0, 13, 6, 0, 0, 0, 2, 0, 0, 0x7f, 0xf0, 0, 0, 0, 16})).event;
  const auto* r = std::get_if<msg::request>(&event);
  REQUIRE(r != nullptr);
  CHECK(r->index == 2);
  CHECK(r->begin == 32752);
  CHECK(r->length == 16);

  const auto bf = decode_one(small_torrent, hex_bytes({0, 0, 0, 2, 5, 0xa0})).event;  // 1010 0000: pieces 0, 2
  const auto* b = std::get_if<msg::bitfield>(&bf);
  REQUIRE(b != nullptr);
  CHECK(b->pieces.size() == 4);
  CHECK(b->pieces.test(0));
  CHECK_FALSE(b->pieces.test(1));
  CHECK(b->pieces.test(2));
  CHECK_FALSE(b->pieces.test(3));
}

namespace {

/// Handshake and one of each message (with a short block), and the encodings it must yield.
struct long_stream {
  bytes stream;
  std::vector<bytes> parts;
};

long_stream make_long_stream() {
  long_stream s;
  static const bytes data = text_bytes("block data, shorter than 16 KiB for speed");
  static const bytes payload = hex_bytes({'d', 'e'});  // a tiny bencoded dict
  bt::bitfield pieces(4, true);
  const std::vector<bt::wire_event> items = {
      sample_handshake(),
      msg::bitfield{.pieces = pieces},
      msg::keep_alive{},
      msg::interested{},
      msg::unchoke{},
      msg::request{.index = 3, .begin = 0, .length = 10'000},
      msg::have{.index = 2},
      msg::unknown{.id = 20, .payload = payload},
      msg::piece{.index = 1, .begin = 32768 - 42, .data = data},
      msg::cancel{.index = 3, .begin = 0, .length = 10'000},
      msg::choke{},
      msg::not_interested{},
      msg::keep_alive{},
  };
  for (const auto& item : items) {
    s.parts.push_back(encoded(item));
    s.stream.insert(s.stream.end(), s.parts.back().begin(), s.parts.back().end());
  }
  return s;
}

}  // namespace

TEST_CASE("the decoder yields the same events at every split point") {
  const long_stream s = make_long_stream();
  for (std::size_t split = 0; split <= s.stream.size(); ++split) {
    INFO("split at " << split);
    bt::wire_decoder decoder(small_torrent);
    std::vector<bytes> got;
    for (auto part : {std::span<const std::byte>(s.stream).first(split),
                      std::span<const std::byte>(s.stream).subspan(split)}) {
      decoder.feed(part);
      for (;;) {
        auto r = decoder.next();
        REQUIRE(r.has_value());
        if (!*r) break;
        got.push_back(encoded(**r));
      }
    }
    CHECK(got == s.parts);
    CHECK(decoder.buffered_bytes() == 0);
    CHECK(decoder.consumed_bytes() == s.stream.size());
  }
}

TEST_CASE("the decoder yields the same events for every chunk size") {
  const long_stream s = make_long_stream();
  for (std::size_t chunk = 1; chunk <= s.stream.size(); ++chunk) {
    INFO("chunk size " << chunk);
    const decoded d = decode_all(small_torrent, s.stream, chunk);
    CHECK_FALSE(d.error.has_value());
    CHECK(d.events == s.parts);
  }
}

TEST_CASE("prepare and commit feed like feed, and piece data is not copied") {
  const long_stream s = make_long_stream();
  for (std::size_t chunk : {1u, 5u, 13u, 64u, 1000u}) {
    INFO("chunk size " << chunk);
    bt::wire_decoder decoder(small_torrent);
    std::vector<bytes> got;
    std::size_t pos = 0;
    while (pos < s.stream.size()) {
      const std::size_t n = std::min(chunk, s.stream.size() - pos);
      // Offer more room than is written, as a socket read may fill only part of it.
      const std::span<std::byte> area = decoder.prepare(n + 7);
      REQUIRE(area.size() == n + 7);
      std::copy_n(s.stream.begin() + static_cast<std::ptrdiff_t>(pos), n, area.begin());
      decoder.commit(n);
      pos += n;
      for (;;) {
        auto r = decoder.next();
        REQUIRE(r.has_value());
        if (!*r) break;
        if (const auto* p = std::get_if<msg::piece>(&**r); p != nullptr && chunk == 1000) {
          // The whole stream fits one prepared area: the block must be a view into it.
          CHECK(p->data.data() >= area.data());
          CHECK(p->data.data() + p->data.size() <= area.data() + area.size());
        }
        got.push_back(encoded(**r));
      }
    }
    CHECK(got == s.parts);
  }
}

TEST_CASE("a stream of full 16 KiB blocks decodes in 64 KiB chunks") {
  const bt::wire_config config{.piece_bytes = 256 * 1024, .total_bytes = 8 * 256 * 1024};
  bytes stream = encoded(sample_handshake());
  bytes block(bt::block_bytes);
  const std::size_t blocks = 8 * 16;
  for (std::size_t i = 0; i < blocks; ++i) {
    for (std::size_t j = 0; j < block.size(); ++j) block[j] = static_cast<std::byte>(i + j);
    bt::wire_append(msg::piece{.index = static_cast<std::uint32_t>(i / 16),
                               .begin = static_cast<std::uint32_t>(i % 16) * bt::block_bytes,
                               .data = block},
                    stream);
  }
  bt::wire_decoder decoder(config);
  std::size_t pieces_seen = 0;
  std::size_t max_capacity = 0;
  const std::size_t chunk = 64 * 1024;
  for (std::size_t pos = 0; pos < stream.size(); pos += chunk) {
    decoder.feed(std::span<const std::byte>(stream).subspan(pos, std::min(chunk, stream.size() - pos)));
    for (;;) {
      auto r = decoder.next();
      REQUIRE(r.has_value());
      if (!*r) break;
      if (const auto* p = std::get_if<msg::piece>(&**r)) {
        const std::size_t i = pieces_seen++;
        CHECK(p->index == i / 16);
        CHECK(p->begin == (i % 16) * bt::block_bytes);
        REQUIRE(p->data.size() == bt::block_bytes);
        CHECK(p->data[0] == static_cast<std::byte>(i));
        CHECK(p->data[1000] == static_cast<std::byte>(i + 1000));
      }
    }
    // After draining, less than one message (13 + 16 KiB) is left over.
    CHECK(decoder.buffered_bytes() < bt::piece_header_bytes + bt::block_bytes);
    max_capacity = std::max(max_capacity, decoder.capacity_bytes());
  }
  CHECK(pieces_seen == blocks);
  // Memory stays near one chunk plus one partial message, not the 2 MiB stream.
  CHECK(max_capacity <= 2 * (chunk + bt::piece_header_bytes + bt::block_bytes));
}

TEST_CASE("memory stays bounded whatever the chunking") {
  const bt::wire_config config{.piece_bytes = 16384, .total_bytes = 64 * 16384};
  bytes stream = encoded(sample_handshake());
  const bytes block(16384, std::byte{0x5a});
  for (std::uint32_t i = 0; i < 64; ++i) {
    bt::wire_append(msg::have{.index = i}, stream);
    bt::wire_append(msg::piece{.index = i, .begin = 0, .data = block}, stream);
  }
  const std::size_t message = bt::piece_header_bytes + block.size();
  for (std::size_t chunk : {1u, 3u, 4096u, 16397u, 16398u, 40000u}) {
    INFO("chunk size " << chunk);
    bt::wire_decoder decoder(config);
    std::size_t events = 0;
    for (std::size_t pos = 0; pos < stream.size(); pos += chunk) {
      decoder.feed(std::span<const std::byte>(stream).subspan(pos, std::min(chunk, stream.size() - pos)));
      for (;;) {
        auto r = decoder.next();
        REQUIRE(r.has_value());
        if (!*r) break;
        ++events;
      }
      CHECK(decoder.buffered_bytes() < message);
      CHECK(decoder.capacity_bytes() <= 2 * (message + chunk));
    }
    CHECK(events == 1 + 2 * 64);
  }
}

// ------------------------------------------------------------------------------ handshake errors

TEST_CASE("a first byte other than 19 fails at once") {
  const auto first = GENERATE(0x00u, 0x12u, 0x14u, 0xa7u, 0xffu);  // e.g. an encrypted handshake's key
  bt::wire_decoder decoder(small_torrent);
  decoder.feed(hex_bytes({first}));
  auto r = decoder.next();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == bt::wire_error{.code = bt::wire_errc::bad_protocol_length, .offset = 0});
  CHECK(decoder.failed());
}

TEST_CASE("a wrong protocol string fails at its first wrong byte, before 68 bytes") {
  bytes start = concat({hex_bytes({19}), text_bytes("BitTorrent protocol")});
  const std::size_t wrong = GENERATE(1u, 10u, 19u);
  start[wrong] = static_cast<std::byte>('?');
  bt::wire_decoder decoder(small_torrent);
  // Byte by byte: the bytes before the wrong one need more input, the wrong one fails.
  for (std::size_t i = 0; i < wrong; ++i) {
    decoder.feed(std::span<const std::byte>(start).subspan(i, 1));
    auto r = decoder.next();
    REQUIRE(r.has_value());
    CHECK_FALSE(r->has_value());
  }
  decoder.feed(std::span<const std::byte>(start).subspan(wrong, 1));
  auto r = decoder.next();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == bt::wire_error{.code = bt::wire_errc::bad_protocol_string, .offset = wrong});
}

TEST_CASE("a correct prefix waits for the whole handshake") {
  const bytes h = encoded(sample_handshake());
  bt::wire_decoder decoder(small_torrent);
  decoder.feed(std::span<const std::byte>(h).first(67));
  auto r = decoder.next();
  REQUIRE(r.has_value());
  CHECK_FALSE(r->has_value());
  decoder.feed(std::span<const std::byte>(h).subspan(67));
  r = decoder.next();
  REQUIRE(r.has_value());
  REQUIRE(r->has_value());
  CHECK(std::holds_alternative<bt::handshake>(**r));
}

// ------------------------------------------------------------------------------ message errors

TEST_CASE("a 4 GiB length prefix is refused as soon as its 4 bytes arrive") {
  bt::wire_decoder decoder(small_torrent);
  decoder.feed(encoded(sample_handshake()));
  REQUIRE(decoder.next().has_value());
  for (int i = 0; i < 3; ++i) {
    decoder.feed(hex_bytes({0xff}));
    auto r = decoder.next();
    REQUIRE(r.has_value());
    CHECK_FALSE(r->has_value());
  }
  decoder.feed(hex_bytes({0xff}));
  auto r = decoder.next();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == bt::wire_error{.code = bt::wire_errc::message_too_long, .offset = 68});
  CHECK(decoder.buffered_bytes() == 4);
  CHECK(decoder.capacity_bytes() < 1024);
}

TEST_CASE("the length limit is inclusive") {
  const bt::wire_config config{.piece_bytes = 32768, .total_bytes = 32768, .max_message_bytes = 100};
  const bytes at_limit = concat({hex_bytes({0, 0, 0, 100, 42}), bytes(99, std::byte{1})});
  const decoded_one one = decode_one(config, at_limit);
  REQUIRE(std::holds_alternative<msg::unknown>(one.event));
  CHECK(std::get<msg::unknown>(one.event).id == 42);
  CHECK(std::get<msg::unknown>(one.event).payload.size() == 99);
  CHECK(std::get<msg::unknown>(one.event).payload[98] == std::byte{1});

  const bytes over = hex_bytes({0, 0, 0, 101, 42});
  CHECK(decode_error_of(config, over) == bt::wire_error{.code = bt::wire_errc::message_too_long, .offset = 68});

  // The default limit: 1 MiB + 16 passes the length check, one more does not.
  const bytes default_over = hex_bytes({0, 0x10, 0, 0x11});
  CHECK(decode_error_of(small_torrent, default_over) ==
        bt::wire_error{.code = bt::wire_errc::message_too_long, .offset = 68});
  bt::wire_decoder decoder(small_torrent);
  decoder.feed(concat({encoded(sample_handshake()), hex_bytes({0, 0x10, 0, 0x10, 42})}));
  REQUIRE(decoder.next().has_value());
  auto r = decoder.next();
  REQUIRE(r.has_value());
  CHECK_FALSE(r->has_value());  // waits for the payload
}

TEST_CASE("a length that does not match the id is refused before its payload arrives") {
  struct example {
    unsigned length;
    unsigned id;
  };
  const auto e = GENERATE(example{2, 0}, example{2, 1}, example{5, 2}, example{0x100, 3}, example{4, 4},
                          example{6, 4}, example{12, 6}, example{14, 6}, example{1, 7}, example{8, 7},
                          example{1, 8}, example{17, 8});
  INFO("length " << e.length << " id " << e.id);
  // Only the length prefix and the id are fed: the error must not wait for more.
  const bytes header = hex_bytes({0, 0, e.length >> 8, e.length & 0xff, e.id});
  CHECK(decode_error_of(small_torrent, header) ==
        bt::wire_error{.code = bt::wire_errc::bad_message_length, .offset = 68});
}

TEST_CASE("a bitfield of the wrong size is refused") {
  // 4 pieces: exactly one byte of payload (length 2).
  CHECK(decode_error_of(small_torrent, hex_bytes({0, 0, 0, 1, 5})) ==
        bt::wire_error{.code = bt::wire_errc::bad_bitfield_size, .offset = 68});
  CHECK(decode_error_of(small_torrent, hex_bytes({0, 0, 0, 3, 5})) ==
        bt::wire_error{.code = bt::wire_errc::bad_bitfield_size, .offset = 68});

  // 17 pieces need 3 bytes; 2 or 4 are wrong.
  const bt::wire_config seventeen{.piece_bytes = 100, .total_bytes = 1650};
  CHECK(decode_error_of(seventeen, hex_bytes({0, 0, 0, 3, 5})).code == bt::wire_errc::bad_bitfield_size);
  CHECK(decode_error_of(seventeen, hex_bytes({0, 0, 0, 5, 5})).code == bt::wire_errc::bad_bitfield_size);
  const auto ok = decode_one(seventeen, hex_bytes({0, 0, 0, 4, 5, 0xff, 0xff, 0x80})).event;
  CHECK(std::get<msg::bitfield>(ok).pieces.count() == 17);
}

TEST_CASE("a bitfield with a spare bit set is refused at its last byte") {
  // 4 pieces: the low nibble is spare.
  const auto spare = GENERATE(0x01u, 0x02u, 0x04u, 0x08u, 0xffu);
  const bytes message = hex_bytes({0, 0, 0, 2, 5, spare});
  CHECK(decode_error_of(small_torrent, message) ==
        bt::wire_error{.code = bt::wire_errc::bitfield_spare_bits, .offset = 68 + 5});

  // With whole bytes there is no spare bit: 8 pieces, all set.
  const bt::wire_config eight{.piece_bytes = 10, .total_bytes = 80};
  CHECK(std::get<msg::bitfield>(decode_one(eight, hex_bytes({0, 0, 0, 2, 5, 0xff})).event).pieces.all());
}

TEST_CASE("an empty torrent takes an empty bitfield and no have") {
  const bt::wire_config empty{.piece_bytes = 16384, .total_bytes = 0};
  CHECK(bt::wire_decoder(empty).piece_count() == 0);
  CHECK(std::get<msg::bitfield>(decode_one(empty, hex_bytes({0, 0, 0, 1, 5})).event).pieces.size() == 0);
  CHECK(decode_error_of(empty, hex_bytes({0, 0, 0, 5, 4, 0, 0, 0, 0})).code == bt::wire_errc::piece_out_of_range);
}

TEST_CASE("piece indices at or past the piece count are refused") {
  REQUIRE(bt::wire_decoder(small_torrent).piece_count() == 4);
  const bt::wire_error at_index{.code = bt::wire_errc::piece_out_of_range, .offset = 68 + 5};
  const std::uint32_t bad = GENERATE(4u, 5u, 0xffffffffu);
  CHECK(decode_error_of(small_torrent, encoded(msg::have{.index = bad})) == at_index);
  CHECK(decode_error_of(small_torrent, encoded(msg::request{.index = bad, .begin = 0, .length = 1})) == at_index);
  CHECK(decode_error_of(small_torrent, encoded(msg::cancel{.index = bad, .begin = 0, .length = 1})) == at_index);
  const bytes data(1);
  CHECK(decode_error_of(small_torrent, encoded(msg::piece{.index = bad, .begin = 0, .data = data})) == at_index);
  // The last valid index passes.
  CHECK(std::get<msg::have>(decode_one(small_torrent, encoded(msg::have{.index = 3})).event).index == 3);
}

TEST_CASE("a request over 16 KiB or of zero bytes is refused") {
  const bt::wire_error at_length{.code = bt::wire_errc::bad_block_length, .offset = 68 + 13};
  const std::uint32_t bad = GENERATE(0u, 16385u, 65536u, 0xffffffffu);
  CHECK(decode_error_of(small_torrent, encoded(msg::request{.index = 0, .begin = 0, .length = bad})) == at_length);
  CHECK(decode_error_of(small_torrent, encoded(msg::cancel{.index = 0, .begin = 0, .length = bad})) == at_length);
  // 16 KiB exactly passes; a larger limit can be configured (aria2 accepts 64 KiB).
  CHECK(std::get<msg::request>(decode_one(small_torrent, encoded(msg::request{.index = 0, .begin = 0, .length = 16384})).event)
            .length == 16384);
  bt::wire_config wide = small_torrent;
  wide.max_request_bytes = 65536;
  CHECK(std::get<msg::request>(decode_one(wide, encoded(msg::request{.index = 0, .begin = 0, .length = 32768})).event)
            .length == 32768);
}

TEST_CASE("blocks past the end of their piece are refused, the short last piece included") {
  const bt::wire_error at_begin{.code = bt::wire_errc::block_past_piece_end, .offset = 68 + 9};
  // Pieces 0..2 are 32768 bytes, piece 3 is 10 000 bytes.
  CHECK(decode_error_of(small_torrent, encoded(msg::request{.index = 3, .begin = 0, .length = 16384})) == at_begin);
  CHECK(decode_error_of(small_torrent, encoded(msg::request{.index = 3, .begin = 9999, .length = 2})) == at_begin);
  CHECK(decode_error_of(small_torrent, encoded(msg::request{.index = 3, .begin = 10000, .length = 1})) == at_begin);
  CHECK(decode_error_of(small_torrent, encoded(msg::request{.index = 2, .begin = 16385, .length = 16384})) ==
        at_begin);
  CHECK(decode_error_of(small_torrent, encoded(msg::cancel{.index = 3, .begin = 9000, .length = 1001})) == at_begin);
  // begin + length overflowing 32 bits must not wrap around to a small value.
  CHECK(decode_error_of(small_torrent, encoded(msg::request{.index = 0, .begin = 0xffffc001, .length = 16384})) ==
        at_begin);
  const bytes data(1001);
  CHECK(decode_error_of(small_torrent, encoded(msg::piece{.index = 3, .begin = 9000, .data = data})) == at_begin);
  CHECK(decode_error_of(small_torrent, encoded(msg::piece{.index = 0, .begin = 0xffffffff, .data = data})) ==
        at_begin);

  // Up to the end exactly passes.
  CHECK(std::holds_alternative<msg::request>(
      decode_one(small_torrent, encoded(msg::request{.index = 3, .begin = 0, .length = 10000})).event));
  CHECK(std::holds_alternative<msg::request>(
      decode_one(small_torrent, encoded(msg::request{.index = 3, .begin = 9999, .length = 1})).event));
  CHECK(std::holds_alternative<msg::request>(
      decode_one(small_torrent, encoded(msg::request{.index = 2, .begin = 16384, .length = 16384})).event));
  const bytes last(1000);
  CHECK(std::holds_alternative<msg::piece>(
      decode_one(small_torrent, encoded(msg::piece{.index = 3, .begin = 9000, .data = last})).event));
}

TEST_CASE("unknown ids are reported with their payload and decoding goes on") {
  // 9 port (2 bytes), 13 suggest piece, 14 have all, 20 extended, 255.
  const bytes stream = concat({encoded(sample_handshake()), hex_bytes({0, 0, 0, 3, 9, 0x1a, 0xe1}),
                               hex_bytes({0, 0, 0, 5, 13, 0, 0, 0, 1}), hex_bytes({0, 0, 0, 1, 14}),
                               hex_bytes({0, 0, 0, 4, 20, 0, 'd', 'e'}), hex_bytes({0, 0, 0, 1, 255}),
                               hex_bytes({0, 0, 0, 1, 2})});
  bt::wire_decoder decoder(small_torrent);
  decoder.feed(stream);
  REQUIRE(decoder.next().has_value());
  struct expect {
    std::uint8_t id;
    std::size_t payload_bytes;
  };
  for (const expect e : {expect{9, 2}, expect{13, 4}, expect{14, 0}, expect{20, 3}, expect{255, 0}}) {
    auto r = decoder.next();
    REQUIRE(r.has_value());
    REQUIRE(r->has_value());
    const auto* u = std::get_if<msg::unknown>(&**r);
    REQUIRE(u != nullptr);
    CHECK(u->id == e.id);
    CHECK(u->payload.size() == e.payload_bytes);
    CHECK(bt::event_name(**r) == "unknown");
  }
  auto last = decoder.next();
  REQUIRE(last.has_value());
  REQUIRE(last->has_value());
  CHECK(std::holds_alternative<msg::interested>(**last));
}

TEST_CASE("after an error the decoder stays failed") {
  bt::wire_decoder decoder(small_torrent);
  decoder.feed(concat({encoded(sample_handshake()), encoded(msg::have{.index = 99})}));
  REQUIRE(decoder.next().has_value());
  const auto first = decoder.next();
  REQUIRE_FALSE(first.has_value());
  CHECK(decoder.failed());
  decoder.feed(encoded(msg::choke{}));
  const auto again = decoder.next();
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error() == first.error());
  CHECK(decoder.buffered_bytes() <= 9);  // what was fed after the failure is not kept
}

TEST_CASE("error offsets count from the start of the stream across compactions") {
  // 500 haves fed in 7-byte chunks (the buffer is compacted many times), then a bad one.
  bytes stream = encoded(sample_handshake());
  for (std::uint32_t i = 0; i < 500; ++i) bt::wire_append(msg::have{.index = i % 4}, stream);
  bt::wire_append(msg::keep_alive{}, stream);
  const std::size_t bad_at = stream.size();
  bt::wire_append(msg::request{.index = 1, .begin = 0, .length = 16385}, stream);
  const decoded d = decode_all(small_torrent, stream, 7);
  REQUIRE(d.error.has_value());
  CHECK(bad_at == 68 + 500 * 9 + 4);
  CHECK(*d.error == bt::wire_error{.code = bt::wire_errc::bad_block_length, .offset = bad_at + 13});
  CHECK(d.events.size() == 502);
}

TEST_CASE("wire: every error code has its own description") {
  std::vector<std::string_view> seen;
  for (int c = static_cast<int>(bt::wire_errc::bad_protocol_length);
       c <= static_cast<int>(bt::wire_errc::block_past_piece_end); ++c) {
    const auto text = bt::to_string(static_cast<bt::wire_errc>(c));
    INFO("code " << c);
    CHECK_FALSE(text.empty());
    CHECK(text != bt::to_string(static_cast<bt::wire_errc>(0)));  // not the fallback
    CHECK(std::find(seen.begin(), seen.end(), text) == seen.end());
    seen.push_back(text);
  }
  CHECK(seen.size() == 9);
}

TEST_CASE("event names tell every kind apart") {
  const long_stream s = make_long_stream();
  const decoded d = decode_all(small_torrent, s.stream);
  REQUIRE(d.names.size() == 13);
  CHECK(d.names[0] == "handshake");
  CHECK(d.names[1] == "bitfield");
  CHECK(d.names[2] == "keep-alive");
  CHECK(d.names[7] == "unknown");
  CHECK(d.names[8] == "piece");
  CHECK(d.names[11] == "not interested");
}
