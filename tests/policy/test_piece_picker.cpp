// Tests of the piece picker, built from compact descriptions as libtorrent's are: an
// availability string ("2223333": piece i is held by that many peers), the picking peer's
// pieces and ours as masks ("1101"). Random swarms against an independent model are in
// test_piece_picker_swarm.cpp.

#include "loopback/policy/piece_picker.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>

#include "loopback/protocol/bitfield.hpp"
#include "loopback/protocol/types.hpp"

namespace {

using namespace p2pdist::bt;

constexpr std::uint32_t kib = 1024;
constexpr peer_key peer_a{1};
constexpr peer_key peer_b{2};
constexpr peer_key peer_c{3};

/// "1101" -> a bitfield of 4 pieces with pieces 0, 1 and 3.
bitfield mask(std::string_view bits) {
  bitfield b(bits.size());
  for (std::size_t i = 0; i < bits.size(); ++i) {
    if (bits[i] == '1') b.set(i);
  }
  return b;
}

/// The availability of every piece as a string of digits, e.g. "2223333".
std::string availability_string(const piece_picker& picker) {
  std::string out;
  for (std::uint32_t p = 0; p < picker.piece_count(); ++p) out += static_cast<char>('0' + picker.availability(p));
  return out;
}

/// A swarm described compactly. Piece i is held by availability[i] peers in all: the
/// picking peer (peer_a, holding `peer`, all pieces when empty) and as many background
/// peers (keys 100, 101, ...) as needed for the rest.
struct swarm_spec {
  std::string_view availability;
  std::string_view peer = "";
  std::string_view we_have = "";
  std::uint32_t blocks_per_piece = 1;
  std::uint32_t random_first_pieces = 0;
  std::uint32_t pipeline_depth = 16;
};

piece_picker make_swarm(const swarm_spec& spec) {
  const std::size_t n = spec.availability.size();
  piece_picker picker(picker_config{.total_bytes = std::uint64_t{n} * spec.blocks_per_piece * block_bytes,
                                    .piece_bytes = spec.blocks_per_piece * block_bytes,
                                    .random_first_pieces = spec.random_first_pieces,
                                    .pipeline_depth = spec.pipeline_depth});
  if (!spec.we_have.empty()) REQUIRE(picker.set_have(mask(spec.we_have)));
  const std::string peer = spec.peer.empty() ? std::string(n, '1') : std::string(spec.peer);
  REQUIRE(picker.add_peer(peer_a, mask(peer)));
  for (std::uint32_t k = 0;; ++k) {
    std::string background(n, '0');
    for (std::size_t i = 0; i < n; ++i) {
      const int others = (spec.availability[i] - '0') - (peer[i] - '0');
      REQUIRE(others >= 0);
      if (others > static_cast<int>(k)) background[i] = '1';
    }
    if (background == std::string(n, '0')) break;
    REQUIRE(picker.add_peer(peer_key{100 + k}, mask(background)));
  }
  REQUIRE(availability_string(picker) == spec.availability);
  return picker;
}

/// The piece of the single block peer_a is given first; -1 when none.
long first_piece(const swarm_spec& spec, std::uint64_t seed) {
  auto picker = make_swarm(spec);
  std::mt19937_64 rng(seed);
  const auto blocks = picker.pick(peer_a, 1, rng);
  return blocks.empty() ? -1 : static_cast<long>(blocks[0].piece);
}

/// The pieces peer_a is given first over many seeds.
std::set<long> first_pieces(const swarm_spec& spec, int seeds = 200) {
  std::set<long> out;
  for (int s = 0; s < seeds; ++s) out.insert(first_piece(spec, static_cast<std::uint64_t>(s)));
  return out;
}

using triple = std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>;
std::vector<triple> sorted(const std::vector<block_request>& blocks) {
  std::vector<triple> out;
  for (const auto& b : blocks) out.emplace_back(b.piece, b.begin, b.length);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("geometry: pieces, blocks, and the shorter last piece and last block", "[piece_picker]") {
  SECTION("pieces a multiple of 16 KiB; the last piece is 20000 bytes") {
    piece_picker picker(picker_config{.total_bytes = 3 * 64 * kib + 20000, .piece_bytes = 64 * kib,
                                      .pipeline_depth = 100});
    CHECK(picker.piece_count() == 4);
    CHECK(picker.piece_length(0) == 65536);
    CHECK(picker.piece_length(3) == 20000);
    CHECK(picker.piece_length(4) == 0);
    CHECK(picker.blocks_in_piece(0) == 4);
    CHECK(picker.blocks_in_piece(3) == 2);
    CHECK(picker.free_blocks() == 14);
    REQUIRE(picker.add_peer(peer_a, mask("1111")));
    std::mt19937_64 rng(1);
    const auto blocks = picker.pick(peer_a, 100, rng);
    // 20000 = 16384 + 3616.
    const std::vector<triple> expected = {
        {0, 0, 16384}, {0, 16384, 16384}, {0, 32768, 16384}, {0, 49152, 16384},
        {1, 0, 16384}, {1, 16384, 16384}, {1, 32768, 16384}, {1, 49152, 16384},
        {2, 0, 16384}, {2, 16384, 16384}, {2, 32768, 16384}, {2, 49152, 16384},
        {3, 0, 16384}, {3, 16384, 3616}};
    CHECK(sorted(blocks) == expected);
    CHECK(picker.free_blocks() == 0);
  }
  SECTION("pieces of 20000 bytes: every piece ends on a short block") {
    piece_picker picker(picker_config{.total_bytes = 50000, .piece_bytes = 20000, .pipeline_depth = 100});
    CHECK(picker.piece_count() == 3);
    CHECK(picker.piece_length(2) == 10000);
    REQUIRE(picker.add_peer(peer_a, mask("111")));
    std::mt19937_64 rng(1);
    const std::vector<triple> expected = {{0, 0, 16384}, {0, 16384, 3616}, {1, 0, 16384},
                                          {1, 16384, 3616}, {2, 0, 10000}};
    CHECK(sorted(picker.pick(peer_a, 100, rng)) == expected);
  }
  SECTION("a configuration that cannot describe a torrent is refused") {
    CHECK_THROWS_AS(piece_picker(picker_config{.total_bytes = 0, .piece_bytes = 16 * kib}), std::invalid_argument);
    CHECK_THROWS_AS(piece_picker(picker_config{.total_bytes = 100, .piece_bytes = 0}), std::invalid_argument);
    CHECK_THROWS_AS(piece_picker(picker_config{.total_bytes = 100, .piece_bytes = 100, .pipeline_depth = 0}),
                    std::invalid_argument);
    CHECK_THROWS_AS(piece_picker(picker_config{.total_bytes = std::uint64_t{1} << 40, .piece_bytes = 1}),
                    std::invalid_argument);
  }
}

TEST_CASE("rarest first: the unique rarest piece the peer has and we lack", "[piece_picker]") {
  struct row {
    std::string_view availability, peer, we_have;
    long expected;
  };
  const auto [availability, peer, we_have, expected] = GENERATE(
      row{"3332333", "", "", 3},           // the unique rarest
      row{"4444441", "", "", 6},           // at the end
      row{"1233", "0111", "", 1},          // piece 0 is rarer, but the peer lacks it
      row{"1233", "1111", "1000", 1},      // piece 0 is rarer, but we have it
      row{"2312", "1101", "0001", 0},      // 2 is the rarest but lacking; 3 is ours
      row{"5557555", "0001000", "", 3});   // the only piece the peer has
  const swarm_spec spec{.availability = availability, .peer = peer, .we_have = we_have};
  CAPTURE(availability, peer, we_have);
  CHECK(first_pieces(spec, 20) == std::set<long>{expected});
}

TEST_CASE("ties between the rarest pieces are broken at random, never towards a commoner one",
          "[piece_picker]") {
  SECTION("every tied piece is picked over many seeds, and roughly as often") {
    const swarm_spec spec{.availability = "3232232"};
    std::map<long, int> counts;
    for (int s = 0; s < 200; ++s) ++counts[first_piece(spec, static_cast<std::uint64_t>(s))];
    CHECK(counts.size() == 4);
    for (const long p : {1, 3, 4, 6}) {
      CAPTURE(p);
      CHECK(counts[p] >= 20);  // 50 expected of 200
    }
  }
  SECTION("the peer lacks one of the tied pieces") {
    CHECK(first_pieces({.availability = "3232232", .peer = "1110111"}) == std::set<long>{1, 4, 6});
  }
  SECTION("a large bucket where the peer holds only three pieces (random draws mostly miss)") {
    std::string availability(200, '1');
    std::string peer(200, '0');
    for (const std::size_t p : {17u, 88u, 150u}) peer[p] = '1';
    CHECK(first_pieces({.availability = availability, .peer = peer}) == std::set<long>{17, 88, 150});
  }
}

TEST_CASE("a begun piece comes strictly before any new piece, even a rarer one", "[piece_picker]") {
  const std::uint32_t random_first = GENERATE(0u, 4u);
  CAPTURE(random_first);
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    // Four blocks per piece. peer_b holds only piece 0; pieces 1..3 are rarer (1 vs 3).
    piece_picker picker(picker_config{.total_bytes = 4 * 64 * kib, .piece_bytes = 64 * kib,
                                      .random_first_pieces = random_first});
    REQUIRE(picker.add_peer(peer_a, mask("1111")));
    REQUIRE(picker.add_peer(peer_b, mask("1000")));
    REQUIRE(picker.add_peer(peer_c, mask("1000")));
    REQUIRE(availability_string(picker) == "3111");
    std::mt19937_64 rng(seed);
    const auto first = picker.pick(peer_b, 2, rng);
    REQUIRE(sorted(first) == std::vector<triple>{{0, 0, 16384}, {0, 16384, 16384}});
    const auto next = picker.pick(peer_a, 4, rng);
    REQUIRE(next.size() == 4);
    CHECK(sorted({next[0], next[1]}) == std::vector<triple>{{0, 32768, 16384}, {0, 49152, 16384}});
    CHECK(next[2].piece == next[3].piece);
    CHECK(next[2].piece != 0);
    CHECK(picker.check_invariants());
  }
}

TEST_CASE("random first pieces, then rarest first", "[piece_picker]") {
  // Piece 0 is the rarest; while we hold fewer than two pieces any piece the peer has goes.
  const swarm_spec random_phase{.availability = "1222222222", .random_first_pieces = 2};
  const auto early = first_pieces(random_phase);
  CHECK(early.size() >= 8);
  CHECK(*early.begin() >= 0);
  CHECK(*early.rbegin() <= 9);

  const swarm_spec restricted{.availability = "1222222222", .peer = "0101010101", .random_first_pieces = 2};
  CHECK(first_pieces(restricted) == std::set<long>{1, 3, 5, 7, 9});

  const swarm_spec one_held{.availability = "1222222222", .we_have = "0000000001", .random_first_pieces = 2};
  CHECK(first_pieces(one_held).size() >= 7);

  const swarm_spec two_held{.availability = "1222222222", .we_have = "0000000011", .random_first_pieces = 2};
  CHECK(first_pieces(two_held) == std::set<long>{0});
}

TEST_CASE("the pipeline depth bounds the requests in flight at a peer", "[piece_picker]") {
  piece_picker picker(picker_config{.total_bytes = 8 * 64 * kib, .piece_bytes = 64 * kib, .pipeline_depth = 5});
  REQUIRE(picker.add_peer(peer_a, bitfield(8, true)));
  std::mt19937_64 rng(7);
  const auto first = picker.pick(peer_a, 100, rng);
  CHECK(first.size() == 5);
  CHECK(picker.pick(peer_a, 1, rng).empty());
  CHECK(picker.requests_of(peer_a) == first);

  CHECK(picker.block_received(peer_a, first[0]).status == block_status::new_block);
  CHECK(picker.block_received(peer_a, first[1]).status == block_status::new_block);
  CHECK(picker.pick(peer_a, 100, rng).size() == 2);
  CHECK(picker.pick(peer_a, 100, rng).empty());

  CHECK(picker.request_dropped(peer_a, first[2]));
  CHECK_FALSE(picker.request_dropped(peer_a, first[2]));  // no longer in flight
  const auto again = picker.pick(peer_a, 100, rng);
  REQUIRE(again.size() == 1);
  CHECK(again[0] == first[2]);  // the dropped block is the oldest free block of a begun piece

  picker.peer_choked(peer_a);
  CHECK(picker.requests_of(peer_a).empty());
  CHECK(picker.pick(peer_a, 3, rng).size() == 3);  // max_new below the free pipeline
  CHECK(picker.pick(peer_a, 100, rng).size() == 2);
  CHECK(picker.check_invariants());
}

TEST_CASE("end game: the last blocks go to several peers, an arrival cancels the others", "[piece_picker]") {
  // Two pieces of two blocks; peer_a and peer_b have everything.
  piece_picker picker(picker_config{.total_bytes = 2 * 32 * kib, .piece_bytes = 32 * kib, .pipeline_depth = 8});
  REQUIRE(picker.add_peer(peer_a, mask("11")));
  REQUIRE(picker.add_peer(peer_b, mask("11")));
  std::mt19937_64 rng(3);
  CHECK_FALSE(picker.in_end_game());
  const auto to_a = picker.pick(peer_a, 3, rng);
  REQUIRE(to_a.size() == 3);
  CHECK_FALSE(picker.in_end_game());  // one block never requested yet

  // peer_b gets the free block first, then duplicates of all three of peer_a's.
  const auto to_b = picker.pick(peer_b, 8, rng);
  REQUIRE(to_b.size() == 4);
  CHECK(picker.in_end_game());
  CHECK(std::find(to_a.begin(), to_a.end(), to_b[0]) == to_a.end());
  CHECK(sorted({to_b[1], to_b[2], to_b[3]}) == sorted(to_a));
  CHECK(picker.pick(peer_b, 8, rng).empty());  // each block to a peer at most once

  // peer_a now gets the one block only peer_b had.
  const auto to_a_more = picker.pick(peer_a, 8, rng);
  REQUIRE(to_a_more.size() == 1);
  CHECK(to_a_more[0] == to_b[0]);
  CHECK(picker.check_invariants());

  const auto first = picker.block_received(peer_a, to_a[0]);
  CHECK(first.status == block_status::new_block);
  CHECK(first.cancel == std::vector<peer_key>{peer_b});
  CHECK(picker.requests_of(peer_b).size() == 3);
  CHECK(picker.block_received(peer_b, to_a[0]).status == block_status::duplicate);  // too late

  const auto other = picker.block_received(peer_b, to_b[0]);
  CHECK(other.status == block_status::new_block);
  CHECK(other.cancel == std::vector<peer_key>{peer_a});
  CHECK(picker.check_invariants());
}

TEST_CASE("end game: a duplicate filter decides which blocks in flight elsewhere a peer gets", "[piece_picker]") {
  // Two pieces of two blocks, all four in flight at peer_a. peer_b's filter lets through
  // only the blocks of piece 1, and is asked only about blocks in flight elsewhere.
  piece_picker picker(picker_config{.total_bytes = 2 * 32 * kib, .piece_bytes = 32 * kib, .pipeline_depth = 8});
  REQUIRE(picker.add_peer(peer_a, mask("11")));
  REQUIRE(picker.add_peer(peer_b, mask("11")));
  std::mt19937_64 rng(3);
  REQUIRE(picker.pick(peer_a, 8, rng).size() == 4);
  REQUIRE(picker.in_end_game());
  std::vector<block_request> asked;
  const auto only_piece_1 = [&](const block_request& b) {
    asked.push_back(b);
    return b.piece == 1;
  };
  const auto to_b = picker.pick(peer_b, 8, rng, only_piece_1);
  CHECK(asked.size() == 4);
  REQUIRE(to_b.size() == 2);
  for (const auto& b : to_b) CHECK(b.piece == 1);
  CHECK(picker.requests_of(peer_b) == to_b);
  // A filter that refuses everything hands out nothing more; without one, the rest go.
  CHECK(picker.pick(peer_b, 8, rng, [](const block_request&) { return false; }).empty());
  const auto rest = picker.pick(peer_b, 8, rng);
  REQUIRE(rest.size() == 2);
  for (const auto& b : rest) CHECK(b.piece == 0);
  CHECK(picker.check_invariants());
}

TEST_CASE("end game threshold: duplicates while a few blocks are still unrequested", "[piece_picker]") {
  const std::uint32_t threshold = GENERATE(0u, 2u);
  CAPTURE(threshold);
  // Three pieces of two blocks. peer_a takes pieces 1 and 2; piece 0 stays free, and peer_b
  // does not have it.
  piece_picker picker(picker_config{.total_bytes = 3 * 32 * kib, .piece_bytes = 32 * kib,
                                    .end_game_free_blocks = threshold});
  REQUIRE(picker.add_peer(peer_a, mask("011")));
  REQUIRE(picker.add_peer(peer_b, mask("011")));
  std::mt19937_64 rng(5);
  REQUIRE(picker.pick(peer_a, 4, rng).size() == 4);
  REQUIRE(picker.peer_have(peer_a, 0));
  CHECK(picker.free_blocks() == 2);
  CHECK(picker.in_end_game() == (threshold == 2));
  CHECK(picker.pick(peer_b, 8, rng).size() == (threshold == 2 ? 4u : 0u));
  CHECK(picker.check_invariants());
}

TEST_CASE("remove_peer: its availability goes and its requests return to the pool", "[piece_picker]") {
  piece_picker picker(picker_config{.total_bytes = 2 * 32 * kib, .piece_bytes = 32 * kib});
  REQUIRE(picker.add_peer(peer_a, mask("11")));
  REQUIRE(picker.add_peer(peer_b, mask("10")));
  CHECK(availability_string(picker) == "21");
  std::mt19937_64 rng(9);
  const auto to_a = picker.pick(peer_a, 16, rng);
  REQUIRE(to_a.size() == 4);
  CHECK(picker.free_blocks() == 0);

  picker.remove_peer(peer_a);
  CHECK(availability_string(picker) == "10");
  CHECK(picker.free_blocks() == 4);
  CHECK_FALSE(picker.in_end_game());
  CHECK(picker.check_invariants());
  // peer_b gets piece 0's two blocks, fresh (not as end-game duplicates).
  CHECK(sorted(picker.pick(peer_b, 16, rng)) == std::vector<triple>{{0, 0, 16384}, {0, 16384, 16384}});
  CHECK_FALSE(picker.in_end_game());
  CHECK(picker.pick(peer_a, 16, rng).empty());  // gone
  // A block the removed peer sent before it left is still data: new, and peer_b's copy
  // of the request is cancelled.
  const auto late = picker.block_received(peer_a, {.piece = 0, .begin = 0, .length = 16384});
  CHECK(late.status == block_status::new_block);
  CHECK(late.cancel == std::vector<peer_key>{peer_b});
  CHECK(picker.check_invariants());
}

TEST_CASE("a piece that fails its hash is requested again, a passed one never", "[piece_picker]") {
  piece_picker picker(picker_config{.total_bytes = 2 * 32 * kib, .piece_bytes = 32 * kib});
  REQUIRE(picker.add_peer(peer_a, mask("11")));
  std::mt19937_64 rng(11);
  REQUIRE(picker.pick(peer_a, 16, rng).size() == 4);
  const block_request b0{.piece = 0, .begin = 0, .length = 16384};
  const block_request b1{.piece = 0, .begin = 16384, .length = 16384};
  CHECK_FALSE(picker.piece_failed(0));  // not complete yet
  const auto r0 = picker.block_received(peer_a, b0);
  CHECK(r0.status == block_status::new_block);
  CHECK_FALSE(r0.piece_complete);
  const auto r1 = picker.block_received(peer_a, b1);
  CHECK(r1.piece_complete);
  CHECK(picker.block_received(peer_a, b1).status == block_status::duplicate);

  CHECK(picker.piece_failed(0));
  CHECK_FALSE(picker.piece_failed(0));
  CHECK(picker.free_blocks() == 2);
  CHECK(sorted(picker.pick(peer_a, 16, rng)) == sorted({b0, b1}));
  CHECK(picker.block_received(peer_a, b1).status == block_status::new_block);
  CHECK(picker.block_received(peer_a, b0).piece_complete);
  CHECK(picker.piece_passed(0));
  CHECK_FALSE(picker.piece_passed(0));
  CHECK(picker.have().test(0));
  CHECK(picker.block_received(peer_a, b0).status == block_status::duplicate);
  CHECK(picker.is_interesting(peer_a));  // still has piece 1 for us
  CHECK_FALSE(picker.is_complete());

  for (const std::uint32_t begin : {0u, 16384u}) {
    CHECK(picker.block_received(peer_a, {.piece = 1, .begin = begin, .length = 16384}).status ==
          block_status::new_block);
  }
  CHECK(picker.piece_passed(1));
  CHECK(picker.is_complete());
  CHECK_FALSE(picker.in_end_game());
  CHECK_FALSE(picker.is_interesting(peer_a));
  CHECK(picker.pick(peer_a, 16, rng).empty());
  CHECK(picker.check_invariants());
}

TEST_CASE("single source: after a mixed failure one peer fetches the piece alone until it leaves",
          "[piece_picker]") {
  // One piece of four blocks; two peers with it; two requests in flight per peer.
  piece_picker picker(picker_config{.total_bytes = 64 * kib, .piece_bytes = 64 * kib, .pipeline_depth = 2});
  REQUIRE(picker.add_peer(peer_a, mask("1")));
  REQUIRE(picker.add_peer(peer_b, mask("1")));
  std::mt19937_64 rng(5);
  auto block = [](std::uint32_t i) { return block_request{.piece = 0, .begin = i * 16384, .length = 16384}; };
  // Without single source the two peers share the piece.
  REQUIRE(picker.pick(peer_a, 2, rng) == std::vector{block(0), block(1)});
  REQUIRE(picker.pick(peer_b, 2, rng) == std::vector{block(2), block(3)});
  for (std::uint32_t i = 0; i < 4; ++i) (void)picker.block_received(i < 2 ? peer_a : peer_b, block(i));
  REQUIRE(picker.piece_failed(0));

  picker.set_single_source(0);
  CHECK(picker.single_source(0));
  CHECK(picker.pick(peer_b, 2, rng) == std::vector{block(0), block(1)});  // b is the source now
  CHECK(picker.pick(peer_a, 2, rng).empty());                             // a may not join in
  CHECK(picker.check_invariants());
  (void)picker.block_received(peer_b, block(0));
  CHECK(picker.pick(peer_b, 2, rng) == std::vector{block(2)});
  // The source chokes us: its requests return, and the next peer to ask becomes the source.
  picker.peer_choked(peer_b);
  CHECK(picker.pick(peer_a, 2, rng) == std::vector{block(1), block(2)});
  CHECK(picker.pick(peer_b, 2, rng).empty());
  (void)picker.block_received(peer_a, block(1));
  (void)picker.block_received(peer_a, block(2));
  CHECK(picker.pick(peer_a, 2, rng) == std::vector{block(3)});
  CHECK(picker.block_received(peer_a, block(3)).piece_complete);
  CHECK(picker.piece_passed(0));
  CHECK_FALSE(picker.single_source(0));  // a pass ends it
  CHECK(picker.check_invariants());
}

TEST_CASE("untrusted block fields and bad peer input change nothing", "[piece_picker]") {
  // Two pieces of 20000 bytes (blocks 16384 + 3616), the second 10000.
  piece_picker picker(picker_config{.total_bytes = 30000, .piece_bytes = 20000});
  REQUIRE(picker.add_peer(peer_a, mask("11")));
  std::mt19937_64 rng(13);
  REQUIRE(picker.pick(peer_a, 1, rng).size() == 1);
  const auto free_before = picker.free_blocks();
  const auto requests_before = picker.requests_of(peer_a);

  const block_request bad = GENERATE(block_request{.piece = 2, .begin = 0, .length = 16384},
                                     block_request{.piece = 0xffffffff, .begin = 0, .length = 16384},
                                     block_request{.piece = 0, .begin = 1, .length = 16384},
                                     block_request{.piece = 0, .begin = 32768, .length = 16384},
                                     block_request{.piece = 0, .begin = 16384, .length = 16384},
                                     block_request{.piece = 0, .begin = 0, .length = 0},
                                     block_request{.piece = 1, .begin = 0, .length = 16384},
                                     block_request{.piece = 1, .begin = 0, .length = 9999},
                                     block_request{.piece = 0, .begin = 0xffffc000, .length = 16384});
  CAPTURE(bad.piece, bad.begin, bad.length);
  const auto outcome = picker.block_received(peer_a, bad);
  CHECK(outcome.status == block_status::invalid);
  CHECK_FALSE(outcome.piece_complete);
  CHECK(outcome.cancel.empty());
  CHECK_FALSE(picker.request_dropped(peer_a, bad));
  CHECK(picker.free_blocks() == free_before);
  CHECK(picker.requests_of(peer_a) == requests_before);

  CHECK_FALSE(picker.peer_have(peer_a, 2));
  CHECK_FALSE(picker.peer_have(peer_key{77}, 0));
  CHECK_FALSE(picker.add_peer(peer_b, mask("111")));
  CHECK_FALSE(picker.add_peer(peer_a, mask("11")));  // key in use
  CHECK_FALSE(picker.set_have(mask("1")));
  CHECK(picker.pick(peer_key{77}, 4, rng).empty());
  CHECK(picker.requests_of(peer_key{77}).empty());
  picker.remove_peer(peer_key{77});
  picker.peer_choked(peer_key{77});
  CHECK(picker.availability(2) == 0);
  CHECK_FALSE(picker.piece_passed(2));
  CHECK(availability_string(picker) == "11");
  CHECK(picker.check_invariants());
}

TEST_CASE("availability and interest follow bitfields and haves", "[piece_picker]") {
  piece_picker picker(picker_config{.total_bytes = 5 * 16 * kib, .piece_bytes = 16 * kib});
  REQUIRE(picker.add_peer(peer_a, mask("11000")));
  REQUIRE(picker.add_peer(peer_b, mask("01100")));
  REQUIRE(picker.add_peer(peer_c, mask("00000")));
  CHECK(availability_string(picker) == "12100");
  CHECK_FALSE(picker.is_interesting(peer_c));
  CHECK(picker.peer_have(peer_c, 4));
  CHECK(picker.peer_have(peer_c, 4));  // twice: counted once
  CHECK(availability_string(picker) == "12101");
  CHECK(picker.is_interesting(peer_c));

  std::mt19937_64 rng(17);
  // Piece 4 is the only one peer_c has: pick it, receive it, pass it.
  const auto blocks = picker.pick(peer_c, 4, rng);
  REQUIRE(blocks == std::vector<block_request>{{.piece = 4, .begin = 0, .length = 16384}});
  CHECK(picker.block_received(peer_c, blocks[0]).piece_complete);
  CHECK(picker.is_interesting(peer_c));  // not ours until it passes
  CHECK(picker.piece_passed(4));
  CHECK_FALSE(picker.is_interesting(peer_c));
  CHECK(picker.availability(4) == 1);  // availability counts peers, not us

  CHECK(picker.set_have(mask("11000")));
  CHECK_FALSE(picker.is_interesting(peer_a));
  CHECK(picker.is_interesting(peer_b));
  CHECK(picker.pick(peer_a, 4, rng).empty());
  picker.remove_peer(peer_b);
  CHECK(availability_string(picker) == "11001");
  CHECK(picker.check_invariants());
}
