// `p2pdist seed` and `p2pdist get` run as a user runs them: flags, exit codes, and real
// transfers through `p2pdist tracker`, each command its own process on its own 127.0.0.x.
// Every wait has a deadline; every process started here is ended here, by its PID.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
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

std::size_t count_lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

/// The file, its torrent (made by `p2pdist make-torrent`) and the piece size.
struct shared_file {
  std::vector<char> bytes;
  fs::path data;
  fs::path torrent;
  std::size_t piece_bytes = 64 * 1024;
};

shared_file make_shared_file(const scratch_dir& dir, const std::string& announce, std::size_t size_bytes,
                             std::uint64_t seed) {
  shared_file f{.bytes = random_bytes(size_bytes, seed), .data = dir / "data.bin", .torrent = dir / "data.torrent"};
  write_file(f.data, f.bytes);
  const auto r = run_p2pdist({"make-torrent", f.data.string(), "--announce", announce, "-o", f.torrent.string(),
                              "--piece-size", "64KiB"});
  REQUIRE(r.exit_code == 0);
  return f;
}

/// The body of GET `target` from 127.0.0.1:`port` (HTTP/1.0, the server closes), or
/// nullopt on any error or after 5 s.
std::optional<std::string> http_get(std::uint16_t port, const std::string& target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return std::nullopt;
  const timeval limit{.tv_sec = 5, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  const std::string request = "GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) reply.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto body = reply.find("\r\n\r\n");
  if (reply.rfind("HTTP/1.", 0) != 0 || body == std::string::npos) return std::nullopt;
  return reply.substr(body + 4);
}

}  // namespace

TEST_CASE("seed and get: usage errors exit 2 with one line naming the flag", "[cli]") {
  struct usage_case {
    std::vector<std::string> args;
    std::string flag;
  };
  const std::vector<usage_case> cases{
      {{"seed", "x.torrent", "x.bin", "--listen", "localhost:6881"}, "--listen"},
      {{"seed", "x.torrent", "x.bin", "--listen", "127.0.0.1"}, "--listen"},
      {{"seed", "x.torrent", "x.bin", "--listen", "127.0.0.1:70000"}, "--listen"},
      {{"get", "x.torrent", "-o", "out", "--listen", "224.0.0.1:0"}, "--listen"},
      {{"get", "x.torrent", "-o", "out", "--listen", "255.255.255.255:6881"}, "--listen"},
      {{"seed", "x.torrent", "x.bin", "--listen", "::1:6881"}, "--listen"},        // IPv6 needs brackets
      {{"get", "x.torrent", "-o", "out", "--listen", "[ff02::1]:0"}, "--listen"},  // IPv6 multicast
      {{"get", "x.torrent", "-o", "out", "--listen", "[fe80::1%lo]:0"}, "--listen"},  // a zone id
      {{"seed", "x.torrent", "x.bin", "--up", "fast"}, "--up"},
      {{"get", "x.torrent", "-o", "out", "--down", "2 parsecs"}, "--down"},
      {{"get", "x.torrent", "-o", "out", "--up", "0"}, "--up"},
      {{"get", "x.torrent", "-o", "out", "--down", "-1MB/s"}, "--down"},
      {{"seed", "x.torrent", "x.bin", "--rtt", "soon"}, "--rtt"},
      {{"get", "x.torrent", "-o", "out", "--rtt", "-5ms"}, "--rtt"},
      {{"get", "x.torrent", "-o", "out", "--jitter", "11s"}, "--jitter"},
      {{"get", "x.torrent"}, "--output"},
      {{"seed", "x.torrent"}, "file"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.args);
    const auto r = run_p2pdist(c.args);
    CHECK(r.exit_code == 2);
    CHECK(count_lines(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains(c.flag));
    CHECK(r.out.empty());
  }
}

TEST_CASE("seed and get: bad inputs exit 1 with one line", "[cli]") {
  scratch_dir dir("inputs");
  const std::string announce = "http://127.0.0.1:9/announce";  // never reached
  const auto f = make_shared_file(dir, announce, 300 * 1024 + 17, 11);

  SECTION("a missing .torrent") {
    const auto r = run_p2pdist({"get", (dir / "missing.torrent").string(), "-o", (dir / "out").string()});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("missing.torrent"));
    CHECK(count_lines(r.err) == 1);
    CHECK_FALSE(fs::exists(dir / "out.part"));
  }
  SECTION("a malformed .torrent") {
    write_file(dir / "bad.torrent", {'d', '3', ':', 'a', 'b'});
    const auto r = run_p2pdist({"seed", (dir / "bad.torrent").string(), f.data.string()});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("bad.torrent"));
    CHECK(count_lines(r.err) == 1);
  }
  SECTION("a tracker this client cannot reach (a zone id, another scheme) is named before the file is read") {
    for (const std::string url : {"udp://[fe80::1%25eth0]:6969/announce", "wss://127.0.0.1:1/announce"}) {
      const auto t = dir / "elsewhere.torrent";
      const auto made = run_p2pdist({"make-torrent", f.data.string(), "--announce", url, "-o", t.string()});
      REQUIRE(made.exit_code == 0);
      for (const auto& args : {std::vector<std::string>{"seed", t.string(), f.data.string()},
                               std::vector<std::string>{"get", t.string(), "-o", (dir / "out").string()}}) {
        const auto r = run_p2pdist(args);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.err, Catch::Contains("announce URL " + url));
        CHECK(count_lines(r.err) == 1);
        CHECK_THAT(r.out, !Catch::Contains("checked"));
        CHECK_FALSE(fs::exists(dir / "out.part"));
      }
    }
  }
  SECTION("a missing file to seed") {
    const auto r = run_p2pdist({"seed", f.torrent.string(), (dir / "nothing.bin").string()});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("nothing.bin"));
    CHECK(count_lines(r.err) == 1);
  }
  SECTION("a file of the wrong size") {
    auto longer = f.bytes;
    longer.push_back('x');
    write_file(dir / "longer.bin", longer);
    const auto r = run_p2pdist({"seed", f.torrent.string(), (dir / "longer.bin").string()});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains(std::to_string(longer.size())) &&
                          Catch::Contains(std::to_string(f.bytes.size())));
    CHECK(count_lines(r.err) == 1);
  }
  SECTION("a file that differs from the torrent names the first bad piece") {
    auto changed = f.bytes;
    changed[3 * f.piece_bytes + 5] ^= 0x01;  // piece 3 of 5
    changed[4 * f.piece_bytes + 1] ^= 0x01;  // and piece 4
    write_file(dir / "changed.bin", changed);
    const auto r = run_p2pdist({"seed", f.torrent.string(), (dir / "changed.bin").string()});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("piece 3 ") && Catch::Contains("2 of 5"));
    CHECK(count_lines(r.err) == 1);
    CHECK_THAT(r.out, !Catch::Contains("seeding"));
  }
  SECTION("an existing OUT with other bytes is refused and left alone") {
    auto other = f.bytes;
    other[0] ^= 0x01;
    write_file(dir / "out.bin", other);
    const auto r = run_p2pdist({"get", f.torrent.string(), "-o", (dir / "out.bin").string()});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("out.bin") && Catch::Contains("piece 0 "));
    CHECK(read_file(dir / "out.bin") == other);
    CHECK_FALSE(fs::exists(dir / "out.bin.part"));
  }
  SECTION("an existing OUT that is already the file: complete, exit 0, nothing written") {
    write_file(dir / "out.bin", f.bytes);
    const auto r = run_p2pdist({"get", f.torrent.string(), "-o", (dir / "out.bin").string()});
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("complete"));
    CHECK(read_file(dir / "out.bin") == f.bytes);
    CHECK_FALSE(fs::exists(dir / "out.bin.part"));
  }
}

TEST_CASE("seed: a port in use exits 1", "[cli]") {
  scratch_dir dir("port");
  const auto f = make_shared_file(dir, "http://127.0.0.1:9/announce", 100 * 1024, 12);
  child_process first({"seed", f.torrent.string(), f.data.string(), "--listen", "127.0.0.4:0"});
  const auto line = first.wait_line("seeding", 20s);
  REQUIRE(line);
  std::smatch m;
  REQUIRE(std::regex_search(*line, m, std::regex(R"(on 127\.0\.0\.4:(\d+))")));
  const auto r = run_p2pdist({"seed", f.torrent.string(), f.data.string(), "--listen", "127.0.0.4:" + m.str(1)});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("127.0.0.4:" + m.str(1)));
  CHECK(count_lines(r.err) == 1);
}

TEST_CASE("seed on IPv6 with an IPv4 tracker: a warning, and it seeds", "[cli][ipv6]") {
  scratch_dir dir("family");
  const auto f = make_shared_file(dir, "http://127.0.0.1:9/announce", 100 * 1024, 13);
  child_process seed({"seed", f.torrent.string(), f.data.string(), "--listen", "[::1]:0"});
  const auto line = seed.wait_line("seeding", 20s);
  if (!line && seed.err().find("cannot start on [::1]") != std::string::npos) {
    WARN("skipped: this host has no IPv6 loopback");
    return;
  }
  REQUIRE(line);
  CHECK(std::regex_search(*line, std::regex(R"(on \[::1\]:\d+)")));
  CHECK_THAT(seed.err(), Catch::Contains("warning: listening on ::1 but the tracker http://127.0.0.1:9/announce is "
                                         "reached over IPv4"));
}

TEST_CASE("tracker --udp: a UDP port in use exits 1 naming it", "[cli]") {
  // A UDP socket on 127.0.0.1, any port; the tracker asked for the same port number. (Tried
  // a few times: the port's TCP twin may be taken by someone else, and then TCP fails first.)
  std::string where;
  p2pdist::test::run_result r;
  for (int attempt = 0; attempt < 5; ++attempt) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    where = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
    r = run_p2pdist({"tracker", "--listen", where, "--udp"});
    ::close(fd);
    if (r.err.find("UDP") != std::string::npos) break;
  }
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("cannot listen on UDP " + where));
  CHECK(count_lines(r.err) == 1);
}

TEST_CASE("seed to get through p2pdist tracker: an identical file, then clean stops", "[cli]") {
  scratch_dir dir("transfer");
  tracker_process tracker;
  const auto f = make_shared_file(dir, tracker.announce, 3 * 1024 * 1024 + 4321, 13);
  const std::size_t pieces = (f.bytes.size() + f.piece_bytes - 1) / f.piece_bytes;

  child_process seed({"seed", f.torrent.string(), f.data.string(), "--listen", "127.0.0.2:0"});
  const auto seeding = seed.wait_line("seeding", 20s);
  REQUIRE(seeding);
  CHECK_THAT(*seeding, Catch::Contains("127.0.0.2:"));
  REQUIRE(seed.wait_line("announced", 20s));

  const fs::path out = dir / "copy.bin";
  child_process get({"get", f.torrent.string(), "-o", out.string(), "--listen", "127.0.0.3:0"});
  const auto complete = get.wait_line("complete", 60s);
  REQUIRE(complete);
  CHECK_THAT(*complete, Catch::Contains(std::to_string(pieces) + " pieces"));
  // ... and how long the download took (the session's own start and completion times).
  CHECK_THAT(*complete, Catch::Matches(R"(.* in [0-9]+\.[0-9]{2} s)"));
  // The file is there under its name the moment `complete` is printed.
  CHECK(read_file(out) == f.bytes);
  CHECK_FALSE(fs::exists(dir / "copy.bin.part"));
  CHECK(get.wait_exit(20s) == 0);
  CHECK(get.err().empty());

  seed.send(SIGTERM);
  CHECK(seed.wait_exit(20s) == 0);
  CHECK_THAT(seed.out(), Catch::Contains("stopped"));
  CHECK(read_file(f.data) == f.bytes);  // a seed never writes
}

TEST_CASE("get -o DIR writes into DIR under the torrent's name, the tracker hears `completed`", "[cli]") {
  scratch_dir dir("into_dir");
  tracker_process tracker;
  const auto f = make_shared_file(dir, tracker.announce, 1024 * 1024 + 77, 17);
  std::smatch m;
  REQUIRE(std::regex_search(tracker.announce, m, std::regex(R"(:(\d+)/announce)")));
  const auto port = static_cast<std::uint16_t>(std::stoul(m.str(1)));

  child_process seed({"seed", f.torrent.string(), f.data.string(), "--listen", "127.0.0.2:0"});
  REQUIRE(seed.wait_line("announced", 20s));
  const fs::path into = dir / "downloads";
  fs::create_directory(into);
  child_process get({"get", f.torrent.string(), "-o", into.string(), "--listen", "127.0.0.3:0"});
  REQUIRE(get.wait_line("complete", 60s));
  CHECK(get.wait_exit(20s) == 0);
  CHECK(get.err().empty());
  CHECK(read_file(into / "data.bin") == f.bytes);  // the torrent's name: the file it was made of
  CHECK_FALSE(fs::exists(into / "data.bin.part"));

  // The tracker counts a download once its peer announces `completed` (scrape's
  // "downloaded"); the seed began complete and never does. The get has exited, so its
  // announces are all in: `completed`, then `stopped` (which leaves the seed alone listed).
  const auto scrape = http_get(port, "/scrape");
  REQUIRE(scrape);
  CHECK_THAT(*scrape, Catch::Contains("10:downloadedi1e"));
  CHECK_THAT(*scrape, Catch::Contains("8:completei1e"));
  CHECK_THAT(*scrape, Catch::Contains("10:incompletei0e"));

  seed.send(SIGTERM);
  CHECK(seed.wait_exit(20s) == 0);
}

TEST_CASE("seed and get through the UDP tracker, and scrape counts them over UDP and HTTP", "[cli]") {
  scratch_dir dir("udp_tracker");
  tracker_process tracker;
  const auto f = make_shared_file(dir, tracker.udp_announce, 1024 * 1024 + 99, 23);
  child_process seed({"seed", f.torrent.string(), f.data.string(), "--listen", "127.0.0.2:0"});
  REQUIRE(seed.wait_line("announced", 20s));
  const fs::path out = dir / "copy.bin";
  child_process get({"get", f.torrent.string(), "-o", out.string(), "--listen", "127.0.0.3:0"});
  REQUIRE(get.wait_line("complete", 60s));
  CHECK(get.wait_exit(20s) == 0);
  CHECK(get.err().empty());
  CHECK(read_file(out) == f.bytes);

  // The get announced `completed` (counted) and `stopped`: one seed, no leecher, one download.
  const auto udp = run_p2pdist({"scrape", f.torrent.string(), "--json", "-"});
  REQUIRE(udp.exit_code == 0);
  CHECK_THAT(udp.out, Catch::Contains("\"complete\": 1") && Catch::Contains("\"incomplete\": 0") &&
                          Catch::Contains("\"downloaded\": 1") && Catch::Contains(tracker.udp_announce));
  const auto http = run_p2pdist({"scrape", f.torrent.string(), "--tracker", tracker.announce});
  REQUIRE(http.exit_code == 0);
  CHECK_THAT(http.out, Catch::Contains(": 1 seeds, 0 leechers, 1 downloads completed"));

  // No scrape path (BEP 48), a wrong scheme, and a tracker that does not answer.
  const auto no_path = run_p2pdist({"scrape", f.torrent.string(), "--tracker", "http://127.0.0.1:1/a"});
  CHECK(no_path.exit_code == 1);
  CHECK_THAT(no_path.err, Catch::Contains("no scrape"));
  CHECK(run_p2pdist({"scrape", f.torrent.string(), "--tracker", "ftp://127.0.0.1:1/announce"}).exit_code == 2);
  const auto silent = run_p2pdist({"scrape", f.torrent.string(), "--tracker", "udp://127.0.0.1:1", "--timeout", "300ms"});
  CHECK(silent.exit_code == 1);
  CHECK_THAT(silent.err, Catch::Contains("timeout"));
  CHECK(count_lines(silent.err) == 1);

  seed.send(SIGTERM);
  CHECK(seed.wait_exit(20s) == 0);
}

TEST_CASE("seed and get -v name the fast extension where both offer it and --no-fast-extension speaks plain BEP 3",
          "[cli]") {
  scratch_dir dir("fast");
  tracker_process tracker;
  const auto f = make_shared_file(dir, tracker.announce, 1024 * 1024 + 77, 23);
  child_process seed({"seed", f.torrent.string(), f.data.string(), "--listen", "127.0.0.2:0", "-v"});
  REQUIRE(seed.wait_line("announced", 20s));
  const fs::path fast_out = dir / "fast.bin";
  child_process fast({"get", f.torrent.string(), "-o", fast_out.string(), "--listen", "127.0.0.3:0", "-v"});
  REQUIRE(fast.wait_line("complete", 60s));
  CHECK(fast.wait_exit(20s) == 0);
  CHECK_THAT(fast.err(), Catch::Contains("127.0.0.2:") && Catch::Contains("connected (fast extension)"));
  const fs::path plain_out = dir / "plain.bin";
  child_process plain({"get", f.torrent.string(), "-o", plain_out.string(), "--listen", "127.0.0.4:0", "-v",
                       "--no-fast-extension"});
  REQUIRE(plain.wait_line("complete", 60s));
  CHECK(plain.wait_exit(20s) == 0);
  CHECK_THAT(plain.err(), Catch::Contains(" connected\n"));
  CHECK_THAT(plain.err(), !Catch::Contains("fast extension"));
  CHECK(read_file(fast_out) == f.bytes);
  CHECK(read_file(plain_out) == f.bytes);
  seed.send(SIGTERM);
  CHECK(seed.wait_exit(20s) == 0);
  // The seed saw one of each.
  CHECK_THAT(seed.err(), Catch::Contains("127.0.0.3:") && Catch::Contains("connected (fast extension)"));
  CHECK_THAT(seed.err(), Catch::Contains("127.0.0.4:") && Catch::Contains(" connected\n"));
}

TEST_CASE("seed and get with --rtt and --jitter: each adds its round trip and the file arrives intact", "[cli]") {
  // Each side delays what it receives by 100 ms (--rtt 100ms on both: a 200 ms round trip
  // between them), the downloader's reads up to 30 ms more. Before `complete` the get waits
  // at least for the tracker's answer (its own 100 ms), TCP's set-up (100 ms) and one
  // request's round trip (200 ms): 0.4 s, however fast the machine.
  scratch_dir dir("emulated");
  tracker_process tracker;
  const auto f = make_shared_file(dir, tracker.announce, 1024 * 1024 + 77, 21);
  child_process seed({"seed", f.torrent.string(), f.data.string(), "--listen", "127.0.0.2:0", "--rtt", "100ms"});
  REQUIRE(seed.wait_line("announced", 20s));
  const fs::path out = dir / "copy.bin";
  const auto started = clock_type::now();
  child_process get({"get", f.torrent.string(), "-o", out.string(), "--listen", "127.0.0.3:0", "--rtt", "100ms",
                     "--jitter", "30ms"});
  REQUIRE(get.wait_line("complete", 60s));
  CHECK(clock_type::now() - started >= 400ms);
  CHECK(read_file(out) == f.bytes);
  CHECK(get.wait_exit(20s) == 0);
  seed.send(SIGTERM);
  CHECK(seed.wait_exit(20s) == 0);
}

TEST_CASE("get stopped by SIGINT keeps OUT.part, a second get resumes and completes", "[cli]") {
  scratch_dir dir("resume");
  tracker_process tracker;
  const auto f = make_shared_file(dir, tracker.announce, 3 * 1024 * 1024 + 99, 14);
  const std::size_t pieces = (f.bytes.size() + f.piece_bytes - 1) / f.piece_bytes;

  child_process seed({"seed", f.torrent.string(), f.data.string(), "--listen", "127.0.0.2:0"});
  REQUIRE(seed.wait_line("seeding", 20s));
  REQUIRE(seed.wait_line("announced", 20s));

  const fs::path out = dir / "copy.bin";
  const fs::path part = dir / "copy.bin.part";
  std::size_t good_before_stop = 0;
  {
    // 400 kB/s: the 3 MiB take about 8 s, so the stop lands mid-way.
    child_process get({"get", f.torrent.string(), "-o", out.string(), "--listen", "127.0.0.3:0", "--down",
                       "400kB/s"});
    REQUIRE(get.wait_line("listening on 127.0.0.3:", 20s));
    // Wait (bounded) until the test itself sees a few whole pieces in OUT.part.
    const auto deadline = clock_type::now() + 30s;
    while (pieces_equal(read_file(part), f.bytes, f.piece_bytes) < 3 && clock_type::now() < deadline)
      get.poll_for(50ms);
    get.send(SIGINT);
    REQUIRE(get.wait_exit(20s) == 0);
    const auto stopped = get.wait_line("stopped:", 1s);
    REQUIRE(stopped);
    CHECK_FALSE(fs::exists(out));
    REQUIRE(fs::exists(part));
    good_before_stop = pieces_equal(read_file(part), f.bytes, f.piece_bytes);
    CHECK(good_before_stop >= 3);
    CHECK(good_before_stop < pieces);
    // What the first run says it keeps is what the test finds in the file.
    CHECK(kept_count(*stopped, pieces) == good_before_stop);
  }

  child_process again({"get", f.torrent.string(), "-o", out.string(), "--listen", "127.0.0.3:0"});
  const auto resumed = again.wait_line("resuming", 20s);
  REQUIRE(resumed);
  CHECK(kept_count(*resumed, pieces) == good_before_stop);
  REQUIRE(again.wait_line("complete", 60s));
  CHECK(again.wait_exit(20s) == 0);
  CHECK(read_file(out) == f.bytes);
  CHECK_FALSE(fs::exists(part));
}
