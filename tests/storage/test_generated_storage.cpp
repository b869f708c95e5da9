// Generated content: the same bytes whatever the offset and order they are read in, a
// torrent made of them piece by piece, and a piece_store on it that hashes what arrives.
#include "loopback/storage/generated_storage.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "loopback/protocol/metainfo.hpp"
#include "loopback/storage/piece_store.hpp"

using namespace p2pdist::bt;

namespace {

std::vector<std::byte> whole(std::uint64_t size, std::uint64_t seed) {
  std::vector<std::byte> out(size);
  generated_storage(size, seed).read(0, out);
  return out;
}

}  // namespace

TEST_CASE("generated content: any slice equals the same bytes of the whole", "[storage]") {
  const auto all = whole(1000, 7);
  generated_storage g(1000, 7);
  for (std::uint64_t offset : {0u, 1u, 7u, 8u, 13u, 500u, 993u}) {
    for (std::size_t n : {0u, 1u, 5u, 8u, 9u, 64u}) {
      if (offset + n > 1000) continue;
      std::vector<std::byte> part(n);
      g.read(offset, part);
      INFO("offset " << offset << ", " << n << " bytes");
      CHECK(std::equal(part.begin(), part.end(), all.begin() + static_cast<std::ptrdiff_t>(offset)));
    }
  }
  CHECK(whole(1000, 8) != all);  // another seed, other content
  std::size_t zeros = 0;
  for (auto b : all) zeros += b == std::byte{0};
  CHECK(zeros < 20);  // about 1000/256 expected: not a constant
}

TEST_CASE("generated content: writes are dropped, ranges are checked", "[storage]") {
  generated_storage g(100, 1);
  std::vector<std::byte> junk(10, std::byte{0xAA});
  g.write(50, junk);
  std::vector<std::byte> back(10);
  g.read(50, back);
  CHECK(back != junk);
  CHECK_THROWS_AS(g.read(95, back), std::out_of_range);
  CHECK_THROWS_AS(g.write(91, junk), std::out_of_range);
}

TEST_CASE("generated content: its torrent, made piece by piece, is the torrent of its bytes", "[storage]") {
  const std::uint64_t size = 5 * 16384 + 123;
  const create_options options{.announce = "http://127.0.0.1:6969/announce", .name = "g", .piece_bytes = 16384};
  const auto piecewise = create_torrent_from(
      size, [](std::uint64_t offset, std::span<std::byte> out) { generated_storage::fill(3, offset, out); }, options);
  CHECK(piecewise == create_torrent(whole(size, 3), options));
}

TEST_CASE("piece_store on generated content: the right bytes pass, wrong ones fail", "[storage]") {
  const std::uint64_t size = 3 * 32768;
  const auto text = create_torrent(whole(size, 9), {.announce = "http://127.0.0.1:1/announce", .name = "g",
                                                    .piece_bytes = 32768});
  const auto torrent = std::make_shared<const metainfo>(*parse_metainfo(text));
  piece_store store(make_generated_storage(size, 9), torrent);
  std::vector<std::byte> block(16384);
  generated_storage::fill(9, 32768, block);
  store.put_block(1, 0, block);
  generated_storage::fill(9, 32768 + 16384, block);
  store.put_block(1, 16384, block);
  CHECK(store.check(1, false).result == piece_check::verdict::passed);
  block.assign(16384, std::byte{0});
  store.put_block(2, 0, block);
  store.put_block(2, 16384, block);
  const auto bad = store.check(2, false);
  CHECK(bad.result == piece_check::verdict::failed);
  CHECK(bad.fingerprints.size() == 2);
  // A block served from it is regenerated: the same bytes as the file's.
  std::vector<std::byte> scratch;
  std::string error;
  const auto served = store.block(1, 16384, 16384, scratch, error);
  std::vector<std::byte> expected(16384);
  generated_storage::fill(9, 32768 + 16384, expected);
  CHECK(std::equal(served.begin(), served.end(), expected.begin(), expected.end()));
}
