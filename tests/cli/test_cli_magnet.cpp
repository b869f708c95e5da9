// `p2pdist get MAGNET`: the metadata from peers (BEP 9 over BEP 10), then the download, run
// as a user runs it, each command its own process on its own 127.0.0.x. Every wait has a
// deadline; every process started here is ended here, by its PID.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "peer_process.hpp"

namespace fs = std::filesystem;
using p2pdist::test::run_p2pdist;
using p2pdist::test::scratch_dir;
using namespace p2pdist::test::peers;
using namespace std::chrono_literals;

namespace {

/// The info-hash of a .torrent, as `p2pdist info --json -` prints it.
std::string info_hash_of(const fs::path& torrent) {
  const auto r = run_p2pdist({"info", torrent.string(), "--json", "-"});
  REQUIRE(r.exit_code == 0);
  std::smatch m;
  REQUIRE(std::regex_search(r.out, m, std::regex(R"re("info_hash": "([0-9a-f]{40})")re")));
  return m.str(1);
}

/// `url` with ':' and '/' percent-encoded, as in a magnet link's tr=.
std::string encoded(const std::string& url) {
  std::string out;
  for (char c : url) out += c == ':' ? "%3A" : c == '/' ? "%2F" : std::string(1, c);
  return out;
}

}  // namespace

TEST_CASE("get MAGNET: the metadata from our seed, then the file", "[cli][magnet]") {
  scratch_dir dir("magnet");
  tracker_process tracker;
  const auto bytes = random_bytes(2 * 1024 * 1024 + 5, 21);
  write_file(dir / "data.bin", bytes);
  REQUIRE(run_p2pdist({"make-torrent", (dir / "data.bin").string(), "--announce", tracker.announce, "-o",
                       (dir / "data.torrent").string(), "--piece-size", "64KiB"})
              .exit_code == 0);
  const auto hash = info_hash_of(dir / "data.torrent");
  // info gives the torrent's magnet link: its hash, name and tracker, percent-encoded.
  const auto info = run_p2pdist({"info", (dir / "data.torrent").string()});
  CHECK_THAT(info.out, Catch::Contains("magnet:       magnet:?xt=urn:btih:" + hash + "&dn=data.bin&tr=" +
                                       encoded(tracker.announce) + "\n"));

  child_process seed({"seed", (dir / "data.torrent").string(), (dir / "data.bin").string(), "--listen", "127.0.0.2:0"});
  const auto seeding = seed.wait_line("seeding", 20s);
  REQUIRE(seeding);
  REQUIRE(seed.wait_line("announced", 20s));
  std::smatch port;
  REQUIRE(std::regex_search(*seeding, port, std::regex(R"(127\.0\.0\.2:(\d+))")));

  // The hash in upper case, a name, our tracker twice (one copy kept) and one where nobody
  // listens ([::1]:1: refused, or unreachable without IPv6; the next is asked).
  std::string upper = hash;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string link = "magnet:?xt=urn:btih:" + upper + "&dn=data%20file&tr=" + encoded(tracker.announce) +
                           "&tr=" + encoded("http://[::1]:1/announce") + "&tr=" + encoded(tracker.announce);
  const fs::path out = dir / "copy.bin";
  child_process get({"get", link, "-o", out.string(), "--listen", "127.0.0.3:0"});
  const auto fetching = get.wait_line("fetching the metadata", 20s);
  REQUIRE(fetching);
  CHECK_THAT(*fetching, Catch::Contains(hash) && Catch::Contains("(data file)"));
  const auto metadata = get.wait_line("metadata:", 30s);
  REQUIRE(metadata);
  // data.bin: 2097157 bytes in 64 KiB pieces, ceil(2097157 / 65536) = 33 pieces.
  CHECK_THAT(*metadata, Catch::Contains("data.bin (2097157 bytes, 33 pieces) from 127.0.0.2:" + port.str(1)));
  REQUIRE(get.wait_line("complete", 60s));
  CHECK(get.wait_exit(20s) == 0);
  CHECK(read_file(out) == bytes);
  CHECK_FALSE(fs::exists(dir / "copy.bin.part"));

  seed.send(SIGTERM);
  CHECK(seed.wait_exit(20s) == 0);
}

TEST_CASE("get MAGNET: bad links, no reachable tracker, no metadata: one line, exit 1, nothing written",
          "[cli][magnet]") {
  scratch_dir dir("magnet_bad");
  const fs::path out = dir / "out.bin";
  const std::string hash(40, 'a');

  SECTION("a link that does not parse names the reason and the character") {
    const auto r = run_p2pdist({"get", "magnet:?xt=urn:btih:1234", "-o", out.string()});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("neither 40 hex digits nor 32 base32") && Catch::Contains("character 20"));
  }
  SECTION("no tracker this client reaches") {
    const auto r = run_p2pdist({"get", "magnet:?xt=urn:btih:" + hash + "&tr=wss%3A%2F%2Ftracker%2Fx", "-o", out.string()});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("no tracker p2pdist can reach") && Catch::Contains("no DHT"));
  }
  SECTION("a bad --metadata-timeout is a usage error") {
    const auto r = run_p2pdist({"get", "magnet:?xt=urn:btih:" + hash, "-o", out.string(), "--metadata-timeout", "0s"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("--metadata-timeout"));
  }
  SECTION("a tracker that lists no peer: the fetch gives up at its timeout") {
    tracker_process tracker;
    const auto started = std::chrono::steady_clock::now();
    const auto r = run_p2pdist({"get", "magnet:?xt=urn:btih:" + hash + "&tr=" + encoded(tracker.announce), "-o",
                                out.string(), "--listen", "127.0.0.3:0", "--metadata-timeout", "2s"});
    CHECK(std::chrono::steady_clock::now() - started < 15s);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("no metadata within the timeout"));
  }
  CHECK_FALSE(fs::exists(out));
  CHECK_FALSE(fs::exists(dir / "out.bin.part"));
}
