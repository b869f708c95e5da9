// Tests of the peer wire codec: encoding, and decoding at every split point and chunk size.
// Expected bytes are written out by hand from BEP 3's message layout (length, id,
// big-endian fields), not taken from the encoder's output. Refused input is tested in
// test_wire_errors.cpp; the helpers both use are in wire_testing.hpp.
#include "loopback/protocol/wire.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "bytes.hpp"
#include "wire_testing.hpp"

namespace bt = p2pdist::bt;
namespace msg = p2pdist::bt::msg;
using namespace p2pdist::test;

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
  CHECK(encoded(msg::unknown{.id = 9, .payload = payload}) == hex_bytes({0, 0, 0, 3, 9, 'x', 'y'}));
  // BEP 10: length 1 + 1 + 2, id 20, the extended id, then the payload.
  CHECK(encoded(msg::extended{.id = 3, .payload = payload}) == hex_bytes({0, 0, 0, 4, 20, 3, 'x', 'y'}));
}

TEST_CASE("the fast extension's messages encode to their BEP 6 layout") {
  // BEP 6: suggest 0x0D, have all 0x0E, have none 0x0F, reject 0x10, allowed fast 0x11.
  CHECK(encoded(msg::suggest_piece{.index = 0x0a0b0c0d}) == hex_bytes({0, 0, 0, 5, 13, 0x0a, 0x0b, 0x0c, 0x0d}));
  CHECK(encoded(msg::have_all{}) == hex_bytes({0, 0, 0, 1, 14}));
  CHECK(encoded(msg::have_none{}) == hex_bytes({0, 0, 0, 1, 15}));
  CHECK(encoded(msg::reject_request{.index = 2, .begin = 0x4000, .length = 0x4000}) ==
        hex_bytes({0, 0, 0, 13, 16, 0, 0, 0, 2, 0, 0, 0x40, 0, 0, 0, 0x40, 0}));
  CHECK(encoded(msg::allowed_fast{.index = 7}) == hex_bytes({0, 0, 0, 5, 17, 0, 0, 0, 7}));
}

TEST_CASE("the fast extension is offered by reserved byte 7, bit 0x04, and nothing else") {
  bt::handshake h = sample_handshake();  // extension protocol bit (byte 5, 0x10) only
  CHECK_FALSE(bt::offers_fast_extension(h));
  h.reserved[7] = std::byte{0x01};  // DHT
  CHECK_FALSE(bt::offers_fast_extension(h));
  h.reserved[7] = std::byte{0x05};  // DHT and fast
  CHECK(bt::offers_fast_extension(h));
  h.reserved[7] = std::byte{0};
  h.reserved[6] = std::byte{0x04};  // the right bit in the wrong byte
  CHECK_FALSE(bt::offers_fast_extension(h));
  // It survives encoding: byte 20 + 7 of the handshake.
  h.reserved[6] = std::byte{0};
  h.reserved[7] = std::byte{0x04};
  const bytes wire = encoded(h);
  CHECK(wire[27] == std::byte{0x04});
  bt::wire_decoder decoder(small_torrent);
  decoder.feed(wire);
  auto back = decoder.next();
  REQUIRE(back.has_value());
  REQUIRE(back->has_value());
  CHECK(bt::offers_fast_extension(std::get<bt::handshake>(**back)));
}

TEST_CASE("wire_size is the length each message encodes to, counted by hand from BEP 3") {
  bt::bitfield pieces(17);  // 3 bytes of bits
  const bytes data = text_bytes("abcde");
  const bytes payload = text_bytes("xyz");
  // Expected: 4-byte length + 1-byte id + payload; the handshake 1 + 19 + 8 + 20 + 20.
  const std::vector<std::pair<bt::wire_event, std::size_t>> cases = {
      {sample_handshake(), 68},
      {msg::keep_alive{}, 4},
      {msg::choke{}, 5},
      {msg::unchoke{}, 5},
      {msg::interested{}, 5},
      {msg::not_interested{}, 5},
      {msg::have{.index = 3}, 9},
      {msg::bitfield{.pieces = pieces}, 5 + 3},
      {msg::request{.index = 1, .begin = 0, .length = 16384}, 17},
      {msg::piece{.index = 1, .begin = 0, .data = data}, 13 + 5},
      {msg::cancel{.index = 1, .begin = 0, .length = 16384}, 17},
      {msg::suggest_piece{.index = 2}, 9},
      {msg::have_all{}, 5},
      {msg::have_none{}, 5},
      {msg::reject_request{.index = 1, .begin = 0, .length = 16384}, 17},
      {msg::allowed_fast{.index = 2}, 9},
      {msg::unknown{.id = 9, .payload = payload}, 5 + 3},
      {msg::extended{.id = 1, .payload = payload}, 6 + 3},  // length, 20, the extended id, payload
  };
  REQUIRE(cases.size() == std::variant_size_v<bt::wire_event>);
  for (const auto& [event, expected] : cases) {
    INFO(bt::event_name(event));
    CHECK(bt::wire_size(event) == expected);
    bytes out;
    bt::wire_append(event, out);
    CHECK(out.size() == expected);
  }
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
      msg::suggest_piece{.index = 3},
      msg::have_all{},
      msg::have_none{},
      msg::reject_request{.index = 3, .begin = 9999, .length = 1},
      msg::allowed_fast{.index = 0},
      msg::unknown{.id = 9, .payload = payload},
      msg::extended{.id = 0, .payload = payload},
      msg::extended{.id = 255, .payload = {}},
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
      msg::unknown{.id = 21, .payload = payload},
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

// Appends the encoding of every event the decoder has ready (it must not fail).
void drain_encoded(bt::wire_decoder& decoder, std::vector<bytes>& got) {
  for (;;) {
    auto r = decoder.next();
    REQUIRE(r.has_value());
    if (!*r) return;
    got.push_back(encoded(**r));
  }
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
      drain_encoded(decoder, got);
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

TEST_CASE("feed_view decodes the caller's bytes in place and keeps only the unparsed tail") {
  const long_stream s = make_long_stream();
  for (std::size_t chunk = 1; chunk <= s.stream.size(); chunk += (chunk < 64 ? 1 : 97)) {
    INFO("chunk size " << chunk);
    bt::wire_decoder decoder(small_torrent);
    // One buffer reused for every read, as connections share one per thread; it is
    // overwritten after each drain, so an event or a tail that still pointed into it would
    // come out wrong.
    bytes shared(chunk);
    std::vector<bytes> got;
    std::size_t max_capacity = 0;
    for (std::size_t pos = 0; pos < s.stream.size(); pos += chunk) {
      const std::size_t n = std::min(chunk, s.stream.size() - pos);
      std::copy_n(s.stream.begin() + static_cast<std::ptrdiff_t>(pos), n, shared.begin());
      decoder.feed_view(std::span<const std::byte>(shared).first(n));
      for (;;) {
        auto r = decoder.next();
        REQUIRE(r.has_value());
        if (!*r) break;
        if (const auto* p = std::get_if<msg::piece>(&**r); p != nullptr && n == s.stream.size()) {
          CHECK(p->data.data() >= shared.data());  // the block is a view into the caller's bytes
          CHECK(p->data.data() + p->data.size() <= shared.data() + shared.size());
        }
        got.push_back(encoded(**r));
      }
      std::fill(shared.begin(), shared.end(), std::byte{0xee});
      // What the decoder holds is the incomplete message at the end of what it was given.
      const std::size_t held = decoder.buffered_bytes();
      CHECK(held < n + bt::piece_header_bytes + 32 * 1024);
      max_capacity = std::max(max_capacity, decoder.capacity_bytes());
      decoder.release();
      CHECK((held == 0) == (decoder.capacity_bytes() == 0));
    }
    CHECK(got == s.parts);
    CHECK(decoder.consumed_bytes() == s.stream.size());
    CHECK(decoder.capacity_bytes() == 0);
    if (chunk == s.stream.size()) CHECK(max_capacity == 0);  // whole messages only: no copy at all
  }
}

TEST_CASE("feed_view after feed appends behind the bytes the decoder holds") {
  const long_stream s = make_long_stream();
  const auto stream = std::span<const std::byte>(s.stream);
  for (std::size_t split : {1u, 70u, 75u, 200u}) {
    INFO("split at " << split);
    bt::wire_decoder decoder(small_torrent);
    decoder.feed(stream.first(split));
    decoder.release();  // holds bytes: nothing is freed
    CHECK(decoder.buffered_bytes() == split);
    std::vector<bytes> got;
    bytes rest(stream.begin() + static_cast<std::ptrdiff_t>(split), stream.end());
    decoder.feed_view(rest);
    drain_encoded(decoder, got);
    CHECK(got == s.parts);
  }
}

TEST_CASE("a protocol error in borrowed bytes keeps none of them") {
  bt::wire_decoder decoder(small_torrent);
  bytes stream = concat({encoded(sample_handshake()), hex_bytes({0x00, 0x00, 0x00, 0x05, 0x04, 0x00, 0x00, 0x00, 0x09})});
  decoder.feed_view(stream);
  REQUIRE(decoder.next().has_value());
  auto r = decoder.next();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == bt::wire_errc::piece_out_of_range);
  std::fill(stream.begin(), stream.end(), std::byte{0});
  CHECK(decoder.buffered_bytes() == 0);
  CHECK_FALSE(decoder.next().has_value());  // stays failed
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
