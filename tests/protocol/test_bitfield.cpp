// Tests of bitfield: BitTorrent's bit order (piece 0 = high bit of byte 0), the wire form's
// size and spare bits, and the running count. Expected bytes are worked out by hand.
#include "loopback/protocol/bitfield.hpp"

#include <cstddef>
#include <initializer_list>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "bytes.hpp"

namespace bt = p2pdist::bt;
using bytes = std::vector<std::byte>;

namespace {

using p2pdist::test::hex_bytes;

bytes wire(const bt::bitfield& b) { return bytes(b.bytes().begin(), b.bytes().end()); }

}  // namespace

TEST_CASE("a new bitfield is empty and its wire form has ceil(pieces / 8) zero bytes") {
  const std::size_t pieces = GENERATE(0u, 1u, 7u, 8u, 9u, 16u, 17u, 1000u);
  const bt::bitfield b(pieces);
  CHECK(b.size() == pieces);
  CHECK(b.count() == 0);
  CHECK(b.none());
  CHECK(b.all() == (pieces == 0));
  CHECK(wire(b) == bytes((pieces + 7) / 8, std::byte{0}));
  for (std::size_t i = 0; i < pieces; ++i) CHECK_FALSE(b.test(i));
}

TEST_CASE("piece 0 is the high bit of byte 0") {
  bt::bitfield b(16);
  b.set(0);
  CHECK(wire(b) == hex_bytes({0x80, 0x00}));
  b.set(7);
  CHECK(wire(b) == hex_bytes({0x81, 0x00}));
  b.set(8);
  CHECK(wire(b) == hex_bytes({0x81, 0x80}));
  b.set(10);
  b.set(15);
  CHECK(wire(b) == hex_bytes({0x81, 0xa1}));
  b.reset(0);
  CHECK(wire(b) == hex_bytes({0x01, 0xa1}));
}

TEST_CASE("the all-set constructor sets every piece and clears the spare bits") {
  struct example {
    std::size_t pieces;
    std::vector<unsigned> expected;
  };
  const auto e = GENERATE(example{1, {0x80}}, example{3, {0xe0}}, example{7, {0xfe}}, example{8, {0xff}},
                          example{9, {0xff, 0x80}}, example{12, {0xff, 0xf0}}, example{16, {0xff, 0xff}},
                          example{0, {}});
  INFO("pieces " << e.pieces);
  const bt::bitfield b(e.pieces, true);
  bytes expected;
  for (unsigned v : e.expected) expected.push_back(static_cast<std::byte>(v));
  CHECK(wire(b) == expected);
  CHECK(b.count() == e.pieces);
  CHECK(b.all());
  for (std::size_t i = 0; i < e.pieces; ++i) CHECK(b.test(i));
  // Its wire form is accepted back: no spare bit is set.
  const auto back = bt::bitfield::from_wire(b.bytes(), e.pieces);
  REQUIRE(back.has_value());
  CHECK(*back == b);
}

TEST_CASE("from_wire reads pieces in BitTorrent order and counts them") {
  // 0xa5 = 1010 0101: pieces 0, 2, 5, 7; 0x40 = 0100 0000: piece 9.
  const auto b = bt::bitfield::from_wire(hex_bytes({0xa5, 0x40}), 10);
  REQUIRE(b.has_value());
  CHECK(b->size() == 10);
  CHECK(b->count() == 5);
  const std::vector<bool> expected = {true, false, true, false, false, true, false, true, false, true};
  for (std::size_t i = 0; i < 10; ++i) CHECK(b->test(i) == expected[i]);
}

TEST_CASE("from_wire rejects a wrong byte count") {
  CHECK_FALSE(bt::bitfield::from_wire(hex_bytes({}), 1).has_value());
  CHECK_FALSE(bt::bitfield::from_wire(hex_bytes({0x00}), 9).has_value());
  CHECK_FALSE(bt::bitfield::from_wire(hex_bytes({0x00, 0x00, 0x00}), 9).has_value());
  CHECK_FALSE(bt::bitfield::from_wire(hex_bytes({0x00}), 0).has_value());
  CHECK_FALSE(bt::bitfield::from_wire(hex_bytes({0x00, 0x00}), 8).has_value());
  CHECK(bt::bitfield::from_wire(hex_bytes({}), 0).has_value());
  CHECK(bt::bitfield::from_wire(hex_bytes({0x00, 0x00}), 9).has_value());
  CHECK(bt::bitfield::from_wire(hex_bytes({0x00, 0x00}), 16).has_value());
}

TEST_CASE("from_wire rejects any set spare bit") {
  // 10 pieces: the last byte holds pieces 8, 9 in its two high bits; its six low bits are spare.
  for (unsigned bit = 0; bit < 6; ++bit) {
    INFO("spare bit " << bit);
    CHECK_FALSE(bt::bitfield::from_wire(hex_bytes({0xff, 0xc0u | (1u << bit)}), 10).has_value());
  }
  CHECK(bt::bitfield::from_wire(hex_bytes({0xff, 0xc0}), 10).has_value());
  // 1 piece: seven spare bits.
  CHECK_FALSE(bt::bitfield::from_wire(hex_bytes({0x81}), 1).has_value());
  CHECK(bt::bitfield::from_wire(hex_bytes({0x80}), 1).has_value());
}

TEST_CASE("count stays right through set and reset, repeated ones included") {
  bt::bitfield b(20);
  b.set(3);
  b.set(3);  // already set: no change
  CHECK(b.count() == 1);
  b.reset(4);  // already clear: no change
  CHECK(b.count() == 1);
  b.set(19);
  b.set(0);
  CHECK(b.count() == 3);
  b.reset(3);
  b.reset(3);
  CHECK(b.count() == 2);
  for (std::size_t i = 0; i < 20; ++i) b.set(i);
  CHECK(b.all());
  CHECK(b.count() == 20);
  for (std::size_t i = 0; i < 20; ++i) b.reset(i);
  CHECK(b.none());
}

TEST_CASE("count matches a reference model over random set and reset") {
  std::mt19937_64 rng(GENERATE(1u, 2u, 3u));
  const std::size_t pieces = 77;
  bt::bitfield b(pieces);
  std::vector<bool> model(pieces, false);
  std::uniform_int_distribution<std::size_t> pick(0, pieces - 1);
  for (int step = 0; step < 2000; ++step) {
    const std::size_t i = pick(rng);
    if (rng() % 2 == 0) {
      b.set(i);
      model[i] = true;
    } else {
      b.reset(i);
      model[i] = false;
    }
  }
  std::size_t expected = 0;
  for (std::size_t i = 0; i < pieces; ++i) {
    CHECK(b.test(i) == model[i]);
    expected += model[i] ? 1 : 0;
  }
  CHECK(b.count() == expected);
  // The wire form agrees and round-trips, with spare bits still clear.
  const auto back = bt::bitfield::from_wire(b.bytes(), pieces);
  REQUIRE(back.has_value());
  CHECK(*back == b);
  CHECK(back->count() == expected);
}

TEST_CASE("equality compares size and bits") {
  bt::bitfield a(9), b(9), c(10);
  CHECK(a == b);
  CHECK_FALSE(a == c);  // same bytes, different size
  a.set(8);
  CHECK_FALSE(a == b);
  b.set(8);
  CHECK(a == b);
}
