// Storage: memory and file back ends, OUT.part handling, piece verification.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
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

// ---------------------------------------------------------------------------------------
// Multi-file torrents: the files laid end to end, pieces across their boundaries.

namespace {

/// Writes the tree a multi-file test shares below `root` and returns its files' bytes in
/// the torrent's order: a (10000 bytes, at 0), e/empty (0 bytes, at 10000), sub/b (20000,
/// at 10000), sub/c (5000, at 30000); 35000 bytes, so 16 KiB pieces are 16384 | 16384 |
/// 2232. Piece 0 holds all of a and b's bytes 0..6383; piece 1 (16384..32767) b's bytes
/// 6384..19999 and c's bytes 0..2767; piece 2 (32768..34999) c's bytes 2768..4999.
std::vector<std::byte> make_tree(const fs::path& root) {
  fs::create_directories(root / "e");
  fs::create_directories(root / "sub");
  const auto a = random_bytes(10000, 1), b = random_bytes(20000, 2), c = random_bytes(5000, 3);
  write_file(root / "a", a);
  write_file(root / "e" / "empty", {});
  write_file(root / "sub" / "b", b);
  write_file(root / "sub" / "c", c);
  std::vector<std::byte> all(a);
  all.insert(all.end(), b.begin(), b.end());
  all.insert(all.end(), c.begin(), c.end());
  return all;
}

metainfo tree_torrent(const fs::path& root) {
  auto parsed = parse_metainfo(create_torrent_from_directory(root, {.name = "tree", .piece_bytes = 16384}));
  REQUIRE(parsed.has_value());
  return std::move(parsed).value();
}

}  // namespace

TEST_CASE("list_directory: every regular file, sorted by joined path as mktorrent sorts", "[storage][multi-file]") {
  temp_dir dir;
  const auto root = dir.path / "t";
  fs::create_directories(root / "a");
  fs::create_directories(root / "a-b");
  write_file(root / "a" / "b", random_bytes(2, 1));
  write_file(root / "a-b" / "c", random_bytes(3, 1));
  write_file(root / "a.txt", random_bytes(4, 1));
  write_file(root / "ab", random_bytes(5, 1));
  fs::create_directories(root / "only-dirs" / "deeper");  // directories without files add nothing
  // Bytewise on "a-b/c", "a.txt", "a/b", "ab": '-' (0x2d) < '.' (0x2e) < '/' (0x2f) < 'b'.
  const auto files = list_directory(root);
  REQUIRE(files.size() == 4);
  CHECK(files[0].path == std::vector<std::string>{"a-b", "c"});
  CHECK(files[1].path == std::vector<std::string>{"a.txt"});
  CHECK(files[2].path == std::vector<std::string>{"a", "b"});
  CHECK(files[3].path == std::vector<std::string>{"ab"});
  CHECK(files[0].length == 3);
  CHECK(files[3].length == 5);

  SECTION("a link to a directory is not entered; a link to a file is followed") {
    fs::create_directory_symlink(root / "a", root / "link-dir");
    fs::create_symlink(root / "ab", root / "link-file");
    const auto again = list_directory(root);
    REQUIRE(again.size() == 5);
    CHECK(again[4].path == std::vector<std::string>{"link-file"});
    CHECK(again[4].length == 5);
  }
  SECTION("a dangling link is an error naming it") {
    fs::create_symlink(root / "nowhere", root / "dangling");
    CHECK_THROWS_WITH(list_directory(root), Catch::Contains("dangling") && Catch::Contains("dangling link"));
  }
  SECTION("a directory with no file is an error") {
    CHECK_THROWS_WITH(list_directory(root / "only-dirs"), Catch::Contains("holds no file"));
  }
}

TEST_CASE("multi-file seed: reads run across file boundaries, empty files included", "[storage][multi-file]") {
  temp_dir dir;
  const auto root = dir.path / "tree";
  const auto all = make_tree(root);
  const auto t = tree_torrent(root);
  REQUIRE(t.multi_file);
  REQUIRE(t.files.size() == 4);
  CHECK(t.total_bytes == 35000);
  CHECK(t.piece_count() == 3);  // ceil(35000 / 16384)

  auto store = open_seed_file(root, t);
  CHECK(store->size_bytes() == 35000);
  CHECK_FALSE(store->writable());
  // Bytes 9990..30009: the last 10 of a, nothing of the empty file, all of b, 10 of c.
  std::vector<std::byte> out(20020);
  store->read(9990, out);
  CHECK(std::equal(out.begin(), out.end(), all.begin() + 9990));
  CHECK(verify_pieces(*store, t).count() == 3);

  SECTION("a file of the wrong size, or missing, is named") {
    write_file(root / "sub" / "c", random_bytes(4999, 3));
    CHECK_THROWS_WITH(open_seed_file(root, t), Catch::Contains("c is 4999 bytes") && Catch::Contains("says 5000"));
    fs::remove(root / "e" / "empty");
    CHECK_THROWS_WITH(open_seed_file(root, t), Catch::Contains("empty"));
  }
  SECTION("a changed byte in b fails exactly the pieces that hold it") {
    auto b = random_bytes(20000, 2);
    b[19999] = static_cast<std::byte>(~static_cast<unsigned>(b[19999]));  // offset 29999: piece 1
    write_file(root / "sub" / "b", b);
    const auto good = verify_pieces(*open_seed_file(root, t), t);
    CHECK(good.test(0));
    CHECK_FALSE(good.test(1));
    CHECK(good.test(2));
  }
}

TEST_CASE("multi-file download: FILE.part below OUT, resume, and finalize renames every file",
          "[storage][multi-file]") {
  temp_dir dir;
  const auto all = make_tree(dir.path / "src");
  const auto t = tree_torrent(dir.path / "src");
  const auto out = dir.path / "out";
  {
    auto store = open_download_file(out, t);
    CHECK(fs::is_directory(out / "sub"));
    CHECK(fs::file_size(out / "a.part") == 10000);
    CHECK(fs::file_size(out / "e" / "empty.part") == 0);
    CHECK(fs::file_size(out / "sub" / "b.part") == 20000);
    CHECK_FALSE(fs::exists(out / "a"));
    // Piece 1 (16384..32767) lands in b and c.
    store->write(16384, std::span<const std::byte>(all).subspan(16384, 16384));
    store->flush();
  }
  {
    auto store = open_download_file(out, t);  // resume: the bytes kept
    const auto good = verify_pieces(*store, t);
    CHECK_FALSE(good.test(0));
    CHECK(good.test(1));
    CHECK_FALSE(good.test(2));
    store->write(0, std::span<const std::byte>(all).first(16384));
    store->write(32768, std::span<const std::byte>(all).subspan(32768));
    CHECK(verify_pieces(*store, t).count() == 3);
    CHECK_FALSE(store->finalized());
    store->finalize();
    CHECK(store->finalized());
    store->finalize();  // idempotent
    // Reads go on from the renamed files (a get that keeps seeding).
    std::vector<std::byte> back(35000);
    store->read(0, back);
    CHECK(back == all);
  }
  for (const auto* name : {"a", "e/empty", "sub/b", "sub/c"}) {
    INFO(name);
    CHECK(fs::exists(out / name));
    CHECK_FALSE(fs::exists(part_path_for(out / name)));
  }
  CHECK(read_file(out / "sub" / "b") == std::vector<std::byte>(all.begin() + 10000, all.begin() + 30000));
}

TEST_CASE("multi-file download: nothing is written through a link or past OUT", "[storage][multi-file]") {
  temp_dir dir;
  (void)make_tree(dir.path / "src");
  const auto t = tree_torrent(dir.path / "src");
  const auto out = dir.path / "out";
  const auto elsewhere = dir.path / "elsewhere";
  fs::create_directories(out);
  fs::create_directories(elsewhere);

  SECTION("a directory of the torrent that is a link in OUT is refused") {
    fs::create_directory_symlink(elsewhere, out / "sub");
    CHECK_THROWS_WITH(open_download_file(out, t), Catch::Contains("sub") && Catch::Contains("symbolic link"));
    CHECK(fs::is_empty(elsewhere));
  }
  SECTION("a file where the torrent has a directory is refused") {
    write_file(out / "sub", random_bytes(1, 1));
    CHECK_THROWS_WITH(open_download_file(out, t), Catch::Contains("not a directory"));
  }
  SECTION("a link in the place of a .part is not followed") {
    write_file(elsewhere / "victim", random_bytes(7, 1));
    fs::create_symlink(elsewhere / "victim", out / "a.part");
    CHECK_THROWS(open_download_file(out, t));
    CHECK(fs::file_size(elsewhere / "victim") == 7);
  }
}

TEST_CASE("a storage of many files keeps few descriptors open", "[storage][multi-file]") {
  temp_dir dir;
  const auto root = dir.path / "many";
  fs::create_directories(root);
  // 3 * max_open_files files of 1000 bytes each: reading them all cycles the descriptors.
  const std::size_t count = 3 * file_storage::max_open_files;
  std::vector<std::byte> all;
  for (std::size_t i = 0; i < count; ++i) {
    const auto bytes = random_bytes(1000, i);
    char name[16];
    std::snprintf(name, sizeof name, "f%04zu", i);  // sorted as created
    write_file(root / name, bytes);
    all.insert(all.end(), bytes.begin(), bytes.end());
  }
  const auto t = tree_torrent(root);
  auto store = open_seed_file(root, t);
  const auto before = std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator{});
  std::vector<std::byte> back(all.size());
  store->read(0, back);
  CHECK(back == all);
  const auto after = std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator{});
  CHECK(after - before <= static_cast<long>(file_storage::max_open_files));
  CHECK(verify_pieces(*store, t).count() == t.piece_count());
}
