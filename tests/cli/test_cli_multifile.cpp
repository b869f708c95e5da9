// A directory shared as a multi-file torrent through `p2pdist make-torrent`, `info`,
// `seed` and `get`, run as a user runs them, each command its own process on its own
// 127.0.0.x. Every wait has a deadline; every process started here is ended here, by its PID.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "cli_runner.hpp"
#include "peer_process.hpp"

namespace fs = std::filesystem;
using p2pdist::test::run_p2pdist;
using p2pdist::test::scratch_dir;
using namespace p2pdist::test::peers;
using namespace std::chrono_literals;

namespace {

/// A directory tree to share as a multi-file torrent, its files' bytes by relative path.
struct shared_tree {
  fs::path root;
  fs::path torrent;
  std::vector<std::pair<std::string, std::vector<char>>> files;  // in the torrent's order
  std::size_t piece_bytes = 64 * 1024;
  std::size_t pieces = 0;
};

/// a (700000 bytes), e/empty (0), sub/b (300003), sub/deep/c (1048577): 2048580 bytes in
/// 64 KiB pieces, ceil(2048580 / 65536) = 32 pieces, several of them across two files.
shared_tree make_shared_tree(const scratch_dir& dir, const std::string& announce) {
  shared_tree t;
  t.root = dir / "share";
  t.torrent = dir / "share.torrent";
  const std::pair<const char*, std::size_t> layout[] = {
      {"a", 700000}, {"e/empty", 0}, {"sub/b", 300003}, {"sub/deep/c", 1048577}};
  std::uint64_t seed = 40;
  std::size_t total = 0;
  for (const auto& [name, size] : layout) {
    fs::create_directories((t.root / name).parent_path());
    t.files.emplace_back(name, random_bytes(size, seed++));
    write_file(t.root / name, t.files.back().second);
    total += size;
  }
  t.pieces = (total + t.piece_bytes - 1) / t.piece_bytes;
  const auto r = run_p2pdist({"make-torrent", t.root.string(), "--announce", announce, "-o", t.torrent.string(),
                              "--piece-size", "64KiB"});
  REQUIRE(r.exit_code == 0);
  return t;
}

/// True when every file of `t` is under `out` with its bytes, and no .part is left.
void check_tree(const shared_tree& t, const fs::path& out) {
  for (const auto& [name, bytes] : t.files) {
    INFO(name);
    CHECK(read_file(out / name) == bytes);
    CHECK_FALSE(fs::exists(out / (name + ".part")));
  }
}

}  // namespace

TEST_CASE("a directory: make-torrent and info list its files", "[cli][multi-file]") {
  scratch_dir dir("tree_info");
  const auto t = make_shared_tree(dir, "http://127.0.0.1:9/announce");
  const auto r = run_p2pdist({"info", t.torrent.string(), "--json", "-"});
  REQUIRE(r.exit_code == 0);
  // The table is left out with --json -; the JSON lists the files with their offsets.
  CHECK_THAT(r.out, Catch::Contains("\"multi_file\": true"));
  CHECK_THAT(r.out, Catch::Contains("\"name\": \"share\""));
  CHECK_THAT(r.out, Catch::Contains("\"total_bytes\": 2048580"));
  CHECK_THAT(r.out, Catch::Contains("\"pieces\": 32"));
  CHECK_THAT(r.out, Catch::Contains("\"path\": \"sub/deep/c\""));
  CHECK_THAT(r.out, Catch::Contains("\"offset\": 1000003"));  // sub/deep/c: 700000 + 0 + 300003
  const auto table = run_p2pdist({"info", t.torrent.string()});
  REQUIRE(table.exit_code == 0);
  CHECK_THAT(table.out, Catch::Contains("files:        4"));
  CHECK_THAT(table.out, Catch::Contains("  e/empty  0 bytes"));
}

TEST_CASE("a directory through seed and get: stopped, resumed, complete file by file", "[cli][multi-file]") {
  scratch_dir dir("tree_transfer");
  tracker_process tracker;
  const auto t = make_shared_tree(dir, tracker.announce);

  child_process seed({"seed", t.torrent.string(), t.root.string(), "--listen", "127.0.0.2:0"});
  const auto checked = seed.wait_line("checked", 20s);
  REQUIRE(checked);
  CHECK_THAT(*checked, Catch::Contains("all 32 pieces verified (4 files)"));
  REQUIRE(seed.wait_line("announced", 20s));

  const fs::path out = dir / "out";
  {
    // 300 kB/s: the 2 MB take about 7 s, so the stop lands mid-way.
    child_process get({"get", t.torrent.string(), "-o", out.string(), "--listen", "127.0.0.3:0", "--down",
                       "300kB/s"});
    const auto started = get.wait_line("listening on 127.0.0.3:", 20s);
    REQUIRE(started);
    CHECK_THAT(*started, Catch::Contains("(4 files, each as FILE.part)"));
    // Wait (bounded) until a few whole pieces of `a` are in a.part.
    const auto deadline = clock_type::now() + 30s;
    while (pieces_equal(read_file(out / "a.part"), t.files[0].second, t.piece_bytes) < 3 && clock_type::now() < deadline)
      get.poll_for(50ms);
    get.send(SIGINT);
    REQUIRE(get.wait_exit(20s) == 0);
    const auto stopped = get.wait_line("stopped:", 1s);
    REQUIRE(stopped);
    const auto kept = kept_count(*stopped, t.pieces);
    REQUIRE(kept);
    CHECK(*kept >= 3);
    CHECK(*kept < t.pieces);
    // Nothing under a final name: every file is still its .part, the empty one too.
    for (const auto& [name, bytes] : t.files) {
      INFO(name);
      CHECK_FALSE(fs::exists(out / name));
      CHECK(fs::file_size(out / (name + ".part")) == bytes.size());
    }
  }

  child_process again({"get", t.torrent.string(), "-o", out.string(), "--listen", "127.0.0.3:0"});
  REQUIRE(again.wait_line("resuming", 20s));
  REQUIRE(again.wait_line("complete", 60s));
  CHECK(again.wait_exit(20s) == 0);
  check_tree(t, out);

  // Once more: every file is there and verifies, so there is nothing to do.
  const auto done = run_p2pdist({"get", t.torrent.string(), "-o", out.string(), "--listen", "127.0.0.3:0"});
  CHECK(done.exit_code == 0);
  CHECK_THAT(done.out, Catch::Contains("already holds the whole torrent"));

  seed.send(SIGTERM);
  CHECK(seed.wait_exit(20s) == 0);
  check_tree(t, t.root);  // a seed never writes
}

TEST_CASE("a directory: what seed and get refuse, naming the file", "[cli][multi-file]") {
  scratch_dir dir("tree_refuse");
  const auto t = make_shared_tree(dir, "http://127.0.0.1:9/announce");

  SECTION("seed with a file, not the directory") {
    const auto r = run_p2pdist({"seed", t.torrent.string(), (t.root / "a").string()});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("not a directory") && Catch::Contains("4 files"));
  }
  SECTION("seed with a changed byte in sub/b: the bad piece names the files it spans") {
    auto b = t.files[2].second;
    b[0] = static_cast<char>(~b[0]);  // offset 700000: piece 10 (655360..720895) holds a's end and b's start
    write_file(t.root / "sub" / "b", b);
    const auto r = run_p2pdist({"seed", t.torrent.string(), t.root.string()});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("piece 10") && Catch::Contains("(in a, sub/b)"));
  }
  SECTION("get -o an existing regular file") {
    write_file(dir / "plain", {'x'});
    const auto r = run_p2pdist({"get", t.torrent.string(), "-o", (dir / "plain").string()});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("not a directory"));
    CHECK(read_file(dir / "plain") == std::vector<char>{'x'});
  }
  SECTION("get -o a directory where one of the files already is: never overwritten") {
    const auto out = dir / "out";
    fs::create_directories(out / "sub");
    write_file(out / "sub" / "b", {'m', 'i', 'n', 'e'});
    const auto r = run_p2pdist({"get", t.torrent.string(), "-o", out.string()});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("sub/b already exists") && Catch::Contains("1 of 4"));
    CHECK(read_file(out / "sub" / "b") == std::vector<char>{'m', 'i', 'n', 'e'});
    CHECK_FALSE(fs::exists(out / "a.part"));
  }
  SECTION("get -o a directory where a link stands in for one of the torrent's directories") {
    const auto out = dir / "out";
    const auto elsewhere = dir / "elsewhere";
    fs::create_directories(out);
    fs::create_directories(elsewhere);
    fs::create_directory_symlink(elsewhere, out / "sub");
    const auto r = run_p2pdist({"get", t.torrent.string(), "-o", out.string()});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("symbolic link"));
    CHECK(fs::is_empty(elsewhere));
    // The .part files made before it reached sub/ (a, e/empty) are gone again.
    CHECK_FALSE(fs::exists(out / "a.part"));
    CHECK_FALSE(fs::exists(out / "e" / "empty.part"));
  }
}

TEST_CASE("swarm and simulate --file DIR share a directory as a multi-file torrent", "[cli][multi-file]") {
  scratch_dir dir("tree_swarm");
  const auto t = make_shared_tree(dir, "http://127.0.0.1:9/announce");
  for (const char* command : {"swarm", "simulate"}) {
    INFO(command);
    const auto r = run_p2pdist({command, "-N", "3", "--file", t.root.string(), "--server-up", "16MB/s",
                                "--peer-up", "8MB/s", "--piece-size", "64KiB", "--json", "-"});
    REQUIRE(r.exit_code == 0);
    // Every leecher ends with the directory's 2048580 bytes in 32 pieces, verified.
    CHECK_THAT(r.out, Catch::Contains("\"file_bytes\": 2048580"));
    CHECK_THAT(r.out, Catch::Contains("\"pieces\": 32"));
    if (std::string(command) == "swarm") CHECK_THAT(r.out, Catch::Contains("\"data_ok\": true"));
  }
}
