// Storage: memory and file back ends, OUT.part handling, piece verification.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "loopback/protocol/metainfo.hpp"
#include "loopback/storage/storage.hpp"

namespace fs = std::filesystem;
using namespace p2pdist::bt;

namespace {

std::vector<std::byte> random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng() & 0xff);
  return out;
}

metainfo torrent_for(const std::vector<std::byte>& data, std::uint32_t piece_bytes) {
  auto parsed = parse_metainfo(create_torrent(data, {.name = "data.bin", .piece_bytes = piece_bytes}));
  REQUIRE(parsed.has_value());
  return std::move(parsed).value();
}

/// A fresh directory under the system temp dir, removed at scope exit.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::random_device rd;
    path = fs::temp_directory_path() /
           ("p2pdist-storage-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write_file(const fs::path& p, const std::vector<std::byte>& data) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  REQUIRE(f.good());
}

std::vector<std::byte> read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) out[i] = static_cast<std::byte>(raw[i]);
  return out;
}

constexpr std::uint32_t piece16k = 16 * 1024;

}  // namespace

TEST_CASE("memory storage: writes read back and ranges past the end are refused", "[storage]") {
  auto store = make_memory_storage(100);
  CHECK(store->size_bytes() == 100);
  const auto data = random_bytes(30, 1);
  store->write(70, data);
  std::vector<std::byte> back(30);
  store->read(70, back);
  CHECK(back == data);
  std::vector<std::byte> head(10);
  store->read(0, head);
  CHECK(head == std::vector<std::byte>(10));  // untouched bytes stay zero
  CHECK(store->memory().size() == 100);
  CHECK(store->memory()[70] == data[0]);
  std::vector<std::byte> too_long(31);
  CHECK_THROWS_AS(store->read(70, too_long), std::out_of_range);
  CHECK_THROWS_AS(store->write(71, data), std::out_of_range);
  CHECK_THROWS_AS(store->read(~std::uint64_t{0}, head), std::out_of_range);
}

TEST_CASE("verify_pieces: every piece of the seed's data is good, a corrupted one is not", "[storage]") {
  // 3.5 pieces: the last piece is short (8 KiB).
  const auto data = random_bytes(3 * piece16k + piece16k / 2, 2);
  const auto torrent = torrent_for(data, piece16k);
  REQUIRE(torrent.piece_count() == 4);
  auto store = make_memory_storage(data);
  const auto all = verify_pieces(*store, torrent);
  CHECK(all.all());

  const auto which = GENERATE(0u, 1u, 3u);
  const std::uint64_t offset = which == 3 ? data.size() - 1 : std::uint64_t{which} * piece16k + 5;
  auto bad = data;
  bad[offset] ^= std::byte{0x01};
  auto bad_store = make_memory_storage(bad);
  const auto good = verify_pieces(*bad_store, torrent);
  CHECK(good.count() == 3);
  CHECK_FALSE(good.test(which));
}

TEST_CASE("verify_pieces refuses a storage of the wrong size", "[storage]") {
  const auto data = random_bytes(2 * piece16k, 3);
  const auto torrent = torrent_for(data, piece16k);
  auto store = make_memory_storage(data.size() + 1);
  CHECK_THROWS_AS(verify_pieces(*store, torrent), std::invalid_argument);
}

TEST_CASE("download file: OUT.part at full size and resume keeps good pieces and finalize renames",
          "[storage]") {
  temp_dir dir;
  const auto data = random_bytes(4 * piece16k + 1000, 4);  // short last piece of 1000 bytes
  const auto torrent = torrent_for(data, piece16k);
  REQUIRE(torrent.piece_count() == 5);
  const auto out = dir.path / "out.bin";
  const auto part = dir.path / "out.bin.part";
  CHECK(part_path_for(out) == part);

  {
    auto store = open_download_file(out, torrent);
    CHECK(fs::exists(part));
    CHECK_FALSE(fs::exists(out));
    CHECK(fs::file_size(part) == data.size());
    CHECK(store->current_path() == part);
    CHECK_FALSE(store->finalized());
    CHECK(verify_pieces(*store, torrent).none());
    // Pieces 1 and 4 (the short last one) arrive.
    for (std::uint32_t i : {1u, 4u}) {
      const auto off = torrent.piece_offset(i);
      store->write(off, std::span(data).subspan(off, torrent.piece_size(i)));
    }
    store->flush();
  }
  CHECK_FALSE(fs::exists(out));

  {
    // Restart: pieces 1 and 4 are kept. Corrupt piece 1 on disk behind its back: only 4 stays.
    auto store = open_download_file(out, torrent);
    const auto have = verify_pieces(*store, torrent);
    CHECK(have.count() == 2);
    CHECK(have.test(1));
    CHECK(have.test(4));
    const std::byte junk[1] = {~data[piece16k + 7]};
    store->write(piece16k + 7, junk);
    const auto after = verify_pieces(*store, torrent);
    CHECK(after.count() == 1);
    CHECK(after.test(4));
  }

  {
    auto store = open_download_file(out, torrent);
    store->write(0, data);
    CHECK(verify_pieces(*store, torrent).all());
    store->finalize();
    CHECK(store->finalized());
    CHECK(store->current_path() == out);
    CHECK(fs::exists(out));
    CHECK_FALSE(fs::exists(part));
    CHECK(read_file(out) == data);
    store->finalize();  // idempotent
    // Still usable for seeding after the rename.
    std::vector<std::byte> back(100);
    store->read(50, back);
    CHECK(std::equal(back.begin(), back.end(), data.begin() + 50));
  }
}

TEST_CASE("download file: a longer stale .part is cut to the torrent's size", "[storage]") {
  temp_dir dir;
  const auto data = random_bytes(2 * piece16k, 5);
  const auto torrent = torrent_for(data, piece16k);
  const auto out = dir.path / "x";
  auto longer = data;
  longer.resize(data.size() + 12345);
  write_file(part_path_for(out), longer);
  auto store = open_download_file(out, torrent);
  CHECK(store->size_bytes() == data.size());
  CHECK(fs::file_size(part_path_for(out)) == data.size());
  CHECK(verify_pieces(*store, torrent).all());  // its first bytes were the right ones
}

TEST_CASE("seed file: opened read-only and refuses a size mismatch and a missing file", "[storage]") {
  temp_dir dir;
  const auto data = random_bytes(3 * piece16k, 6);
  const auto torrent = torrent_for(data, piece16k);
  const auto path = dir.path / "seed.bin";
  write_file(path, data);

  auto store = open_seed_file(path, torrent);
  CHECK(store->finalized());
  CHECK_FALSE(store->writable());
  CHECK(verify_pieces(*store, torrent).all());
  const std::byte one[1] = {std::byte{1}};
  CHECK_THROWS_AS(store->write(0, one), std::system_error);
  store->finalize();  // no-op for a seed
  CHECK(fs::exists(path));

  auto shorter = data;
  shorter.pop_back();
  const auto short_path = dir.path / "short.bin";
  write_file(short_path, shorter);
  try {
    (void)open_seed_file(short_path, torrent);
    FAIL("a size mismatch was accepted");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::invalid_argument);
    CHECK(std::string(e.what()).find("short.bin") != std::string::npos);
  }
  try {
    (void)open_seed_file(dir.path / "missing.bin", torrent);
    FAIL("a missing file was accepted");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::no_such_file_or_directory);
    CHECK(std::string(e.what()).find("missing.bin") != std::string::npos);
  }
}

TEST_CASE("download file: a directory in the way is an error naming the file", "[storage]") {
  temp_dir dir;
  const auto data = random_bytes(piece16k, 7);
  const auto torrent = torrent_for(data, piece16k);
  const auto out = dir.path / "busy";
  fs::create_directories(part_path_for(out));
  try {
    (void)open_download_file(out, torrent);
    FAIL("a directory was opened as the download file");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find("busy.part") != std::string::npos);
  }
}
