// Tests of the peer wire decoder on refused input: handshake errors, lengths, bitfields,
// piece indices, block bounds, unknown ids, error offsets and descriptions. Expected bytes
// are written out by hand from BEP 3's message layout. Encoding and decoding of valid
// streams are tested in test_wire.cpp; the helpers both use are in wire_testing.hpp.
#include "loopback/protocol/wire.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "bytes.hpp"
#include "wire_testing.hpp"

namespace bt = p2pdist::bt;
namespace msg = p2pdist::bt::msg;
using namespace p2pdist::test;

namespace {

/// Decodes handshake + `message` and returns the error it must produce.
bt::wire_error decode_error_of(const bt::wire_config& config, const bytes& message) {
  const bytes stream = concat({encoded(sample_handshake()), message});
  const auto result = decode_all(config, stream);
  REQUIRE(result.error.has_value());
  CHECK(result.events.size() == 1);  // the handshake came through
  return *result.error;
}

}  // namespace

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
                          example{1, 8}, example{17, 8}, example{4, 13}, example{2, 14}, example{5, 15},
                          example{1, 16}, example{9, 16}, example{1, 17}, example{13, 17});
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
  CHECK(decode_error_of(small_torrent, encoded(msg::suggest_piece{.index = bad})) == at_index);
  CHECK(decode_error_of(small_torrent, encoded(msg::reject_request{.index = bad, .begin = 0, .length = 1})) ==
        at_index);
  CHECK(decode_error_of(small_torrent, encoded(msg::allowed_fast{.index = bad})) == at_index);
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
  CHECK(decode_error_of(small_torrent, encoded(msg::reject_request{.index = 0, .begin = 0, .length = bad})) ==
        at_length);
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
  CHECK(decode_error_of(small_torrent, encoded(msg::reject_request{.index = 3, .begin = 9000, .length = 1001})) ==
        at_begin);
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
  // 9 port (2 bytes), 12 (between BEP 3's and BEP 6's ids), 18 (after BEP 6's), 21 (after
  // BEP 10's), 255; then 20, an extended message (BEP 10): extended id 0, payload "de".
  const bytes stream = concat({encoded(sample_handshake()), hex_bytes({0, 0, 0, 3, 9, 0x1a, 0xe1}),
                               hex_bytes({0, 0, 0, 5, 12, 0, 0, 0, 1}), hex_bytes({0, 0, 0, 1, 18}),
                               hex_bytes({0, 0, 0, 4, 21, 0, 'd', 'e'}), hex_bytes({0, 0, 0, 1, 255}),
                               hex_bytes({0, 0, 0, 4, 20, 0, 'd', 'e'}), hex_bytes({0, 0, 0, 1, 2})});
  bt::wire_decoder decoder(small_torrent);
  decoder.feed(stream);
  REQUIRE(decoder.next().has_value());
  struct expect {
    std::uint8_t id;
    std::size_t payload_bytes;
  };
  for (const expect e : {expect{9, 2}, expect{12, 4}, expect{18, 0}, expect{21, 3}, expect{255, 0}}) {
    auto r = decoder.next();
    REQUIRE(r.has_value());
    REQUIRE(r->has_value());
    const auto* u = std::get_if<msg::unknown>(&**r);
    REQUIRE(u != nullptr);
    CHECK(u->id == e.id);
    CHECK(u->payload.size() == e.payload_bytes);
    CHECK(bt::event_name(**r) == "unknown");
  }
  auto ext = decoder.next();
  REQUIRE(ext.has_value());
  REQUIRE(ext->has_value());
  const auto* x = std::get_if<msg::extended>(&**ext);
  REQUIRE(x != nullptr);
  CHECK(x->id == 0);
  CHECK(x->payload == hex_bytes({'d', 'e'}));
  CHECK(bt::event_name(**ext) == "extended");
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

TEST_CASE("an extended message must carry its extended id, and metadata-only decoding passes the rest unchecked") {
  // Length 1: id 20 and nothing else.
  CHECK(decode_error_of(small_torrent, hex_bytes({0, 0, 0, 1, 20})) ==
        bt::wire_error{.code = bt::wire_errc::bad_message_length, .offset = 68});
  // A bitfield of any size and a have past any piece count: fine when the torrent's size
  // is not known yet (BEP 9's fetch), as unknown messages; an extended one still decodes.
  const bytes stream = concat({encoded(sample_handshake()), hex_bytes({0, 0, 0, 4, 5, 0xff, 0xff, 0xff}),
                               hex_bytes({0, 0, 0, 5, 4, 0xff, 0, 0, 0}), hex_bytes({0, 0, 0, 3, 20, 7, 'z'})});
  bt::wire_decoder decoder(bt::wire_config{.metadata_only = true});
  decoder.feed(stream);
  REQUIRE(decoder.next().has_value());
  for (const int id : {5, 4}) {
    auto r = decoder.next();
    REQUIRE(r.has_value());
    REQUIRE(r->has_value());
    REQUIRE(std::holds_alternative<msg::unknown>(**r));
    CHECK(std::get<msg::unknown>(**r).id == id);
  }
  auto x = decoder.next();
  REQUIRE(x.has_value());
  REQUIRE(x->has_value());
  REQUIRE(std::holds_alternative<msg::extended>(**x));
  CHECK(std::get<msg::extended>(**x).id == 7);
}
