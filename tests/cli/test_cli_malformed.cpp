// Malformed invocations of every subcommand that takes input, in one table: each exits 2
// (the command line is wrong) or 1 (the world is wrong: a missing, unreadable or malformed
// file, a port in use), with one line on stderr naming the problem, no JSON on stdout, no
// signal or abort, and no process left behind in its process group.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "cli_runner.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using p2pdist::test::run_bounded;
using p2pdist::test::scratch_dir;
using p2pdist::test::run_p2pdist_bounded;

namespace {

constexpr auto case_timeout = 30s;

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

/// A TCP socket listening on 127.0.0.1 at a port the kernel picks; closed on destruction.
class busy_port {
 public:
  busy_port() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 4) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~busy_port() { ::close(fd_); }
  busy_port(const busy_port&) = delete;
  busy_port& operator=(const busy_port&) = delete;
  [[nodiscard]] std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  unsigned port_ = 0;
};

/// One malformed invocation. In args, mentions and absent, "@dir" stands for the temporary
/// directory and "@busy" for 127.0.0.1:PORT with PORT held by another socket.
struct malformed {
  std::vector<std::string> args;
  int exit;                           ///< 2 usage error, 1 runtime failure
  std::vector<std::string> mentions;  ///< stderr contains each: the flag, file or value at fault
  std::string absent = {};            ///< a file the failed command must not leave behind
};

std::string expand(std::string s, const std::string& dir, const std::string& busy) {
  for (const auto& [token, value] : {std::pair<std::string, std::string>{"@dir", dir}, {"@busy", busy}}) {
    for (std::size_t at; (at = s.find(token)) != std::string::npos;) s.replace(at, token.size(), value);
  }
  return s;
}

// A single-file torrent with 12 bytes in one 16 KiB piece; `length`, `piece_length` and
// `info` replace their parts to make it malformed. The piece hash is not the data's (only
// `info` and `get` read these, and both refuse before any data is hashed).
std::string torrent(const std::string& length = "i12e", const std::string& piece_length = "i16384e",
                    const std::string& info = "") {
  const std::string info_dict = "d6:length" + length + "4:name8:data.bin12:piece length" + piece_length +
                                "6:pieces20:" + std::string(20, 'a') + "e";
  return "d8:announce27:http://127.0.0.1:9/announce4:info" + (info.empty() ? info_dict : info) + "e";
}

/// The arguments as a shell would show them, each in single quotes.
std::string joined(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) out += (out.empty() ? "" : " ") + p2pdist::test::shell_quote(a);
  return out;
}

std::size_t newlines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST_CASE("the bounded runner sees exit codes, timeouts and processes left behind", "[cli]") {
  // The checks below rely on these three verdicts, so the runner is shown to reach each.
  auto r = run_bounded("/bin/sh", {"-c", "echo out; echo err >&2; exit 3"}, 10s);
  CHECK(r.exit_code == 3);
  CHECK(r.out == "out\n");
  CHECK(r.err == "err\n");
  CHECK_FALSE(r.timed_out);
  CHECK_FALSE(r.group_left);

  r = run_bounded("/bin/sh", {"-c", "sleep 60 & exit 0"}, 10s);  // a child outlives its parent
  CHECK(r.exit_code == 0);
  CHECK(r.group_left);
  CHECK_FALSE(r.timed_out);

  r = run_bounded("/bin/sh", {"-c", "exec sleep 60"}, 300ms);  // never ends by itself
  CHECK(r.timed_out);
  CHECK(r.exit_code == 128 + SIGKILL);
}

TEST_CASE("malformed invocations exit 1 or 2 with one line naming the problem", "[cli]") {
  scratch_dir tmp("malformed");
  const auto& dir = tmp.path();
  const busy_port busy;

  // Inputs: a real file and its torrent (by make-torrent), a directory, a dangling link,
  // and malformed torrents.
  write_bytes(dir / "data.bin", "hello world\n");
  const auto made = run_p2pdist_bounded({"make-torrent", (dir / "data.bin").string(), "--announce",
                                         "http://127.0.0.1:9/announce", "-o", (dir / "good.torrent").string(),
                                         "--piece-size", "16KiB"},
                                        case_timeout);
  REQUIRE(made.exit_code == 0);
  fs::create_directory(dir / "adir");
  fs::create_symlink(dir / "nowhere", dir / "dangling.torrent");
  const std::string parses = torrent();
  write_bytes(dir / "parses.torrent", parses);  // well formed; its hash is not data.bin's
  write_bytes(dir / "truncated.torrent", parses.substr(0, parses.size() - 10));
  write_bytes(dir / "not-bencode.torrent", "this is not a torrent\n");
  write_bytes(dir / "empty.torrent", "");
  write_bytes(dir / "wrong-type.torrent", torrent("2:12"));            // length as a string
  write_bytes(dir / "info-list.torrent", torrent("", "", "li1ee"));    // info a list
  write_bytes(dir / "negative-length.torrent", torrent("i-12e"));
  write_bytes(dir / "huge-length.torrent", torrent("i1000000000000000000000000000000e"));  // 10^30 bytes
  write_bytes(dir / "bad-piece-length.torrent", torrent("i12e", "i12345e"));
  write_bytes(dir / "zero-piece-length.torrent", torrent("i12e", "i0e"));

  const std::string good = "@dir/good.torrent";
  const std::string data = "@dir/data.bin";
  const std::string make_ok_announce = "http://127.0.0.1:9/announce";
  std::vector<malformed> table = {
      // bound: units, zero, NaN/inf, empty, overflow, lists of the wrong length
      {{"bound", "--file-size", "10 MiB/h"}, 2, {"--file-size", "MiB/h"}},
      {{"bound", "--server-up", "5 parsecs", "--json", "-"}, 2, {"--server-up", "parsecs"}},
      {{"bound", "-N", "1e30"}, 2, {"-N", "1e30"}},
      {{"bound", "-N", "1000000000000", "--json", "-"}, 2, {"-N", "1000000000000"}},
      {{"bound", "-N", ""}, 2, {"-N"}},
      {{"bound", "--file-size", "nan"}, 2, {"--file-size", "nan"}},
      {{"bound", "--file-size", "1e400"}, 2, {"--file-size", "out of range"}},
      {{"bound", "--server-up", "inf"}, 2, {"--server-up", "inf"}},
      {{"bound", "--piece-size", "0"}, 2, {"--piece-size", "above zero"}},
      {{"bound", "--piece-size", "-256KiB"}, 2, {"--piece-size"}},
      {{"bound", "--piece-size", "big"}, 2, {"--piece-size", "big"}},
      {{"bound", "--peer-up", ""}, 2, {"--peer-up", "empty"}},
      {{"bound", "-N", "3", "--peer-up", "1Mbps,,2Mbps"}, 2, {"--peer-up", "item 2"}},
      {{"bound", "-N", "3", "--peer-down", "1Mbps,2Mbps,3Mbps,4Mbps", "--json", "-"}, 2, {"--peer-down", "4 values"}},
      {{"bound", "-N", "2000", "--schedule"}, 2, {"--schedule", "2000"}},
      {{"bound", "--chunks", "-1"}, 2, {"--chunks"}},
      {{"bound", "--json"}, 2, {"--json"}},
      {{"bound", "--frobnicate"}, 2, {"--frobnicate"}},
      // sweep
      {{"sweep", "--from", "1", "--to", "10", "--points", "99999999999", "--json", "-"}, 2, {"--points"}},
      {{"sweep", "--from", "1", "--to", "100", "--points", "100000", "--y", "peer-up", "--y-from", "1kbps",
        "--y-to", "2kbps", "--y-points", "1000"},
       2,
       {"--y-points", "100000 x 1000"}},
      {{"sweep", "--from", "nan", "--to", "10"}, 2, {"--from", "nan"}},
      {{"sweep", "--x", "file-size", "--from", "1Mbit", "--to", "inf"}, 2, {"--to", "inf"}},
      {{"sweep", "--from", "1", "--to", "10", "--y", "peer-up", "--y-from", "1kbps"}, 2, {"--y-to"}},
      {{"sweep", "--from", "1", "--to", "10", "--peer-down", "0"}, 2, {"--peer-down"}},
      {{"sweep", "--from", "1", "--to", "10", "--series", "peer-up=1kbps,2 parsecs"}, 2, {"--series item 2"}},
      // info: missing, a directory, a dangling link, malformed files, an empty path
      {{"info", "@dir/missing.torrent"}, 1, {"@dir/missing.torrent", "No such file"}},
      {{"info", "@dir/adir", "--json", "-"}, 1, {"@dir/adir", "directory"}},
      {{"info", "@dir/dangling.torrent"}, 1, {"dangling.torrent"}},
      {{"info", "@dir/truncated.torrent", "--json", "-"}, 1, {"truncated.torrent", "ends"}},
      {{"info", "@dir/not-bencode.torrent"}, 1, {"not-bencode.torrent", "byte 0"}},
      {{"info", "@dir/empty.torrent"}, 1, {"empty.torrent"}},
      {{"info", "@dir/wrong-type.torrent"}, 1, {"wrong-type.torrent", "length"}},
      {{"info", "@dir/info-list.torrent"}, 1, {"info-list.torrent", "info"}},
      {{"info", "@dir/negative-length.torrent"}, 1, {"negative-length.torrent"}},
      {{"info", "@dir/huge-length.torrent"}, 1, {"huge-length.torrent"}},
      {{"info", "@dir/bad-piece-length.torrent"}, 1, {"bad-piece-length.torrent", "piece length"}},
      {{"info", "@dir/zero-piece-length.torrent"}, 1, {"zero-piece-length.torrent", "piece length"}},
      {{"info", ""}, 2, {"torrent", "empty"}},
      // make-torrent
      {{"make-torrent", data, "--announce", make_ok_announce, "-o", "@dir/o1.torrent", "--piece-size", "5 parsecs"},
       2,
       {"--piece-size", "parsecs"},
       "@dir/o1.torrent"},
      {{"make-torrent", data, "--announce", make_ok_announce, "-o", "@dir/o2.torrent", "--piece-size", "-16KiB"},
       2,
       {"--piece-size", "negative"},
       "@dir/o2.torrent"},
      {{"make-torrent", data, "--announce", make_ok_announce, "-o", "@dir/o3.torrent", "--piece-size", "1e30B"},
       2,
       {"--piece-size", "1e30B"},
       "@dir/o3.torrent"},
      {{"make-torrent", data, "--announce", make_ok_announce, "-o", "@dir/o4.torrent", "--piece-size", "0"},
       2,
       {"--piece-size"},
       "@dir/o4.torrent"},
      {{"make-torrent", "@dir/adir", "--announce", make_ok_announce, "-o", "@dir/o5.torrent"},
       1,
       {"@dir/adir", "directory"},
       "@dir/o5.torrent"},
      {{"make-torrent", "@dir/missing.bin", "--announce", make_ok_announce, "-o", "@dir/o6.torrent"},
       1,
       {"missing.bin"},
       "@dir/o6.torrent"},
      {{"make-torrent", data, "-o", "@dir/o7.torrent"}, 2, {"--announce"}, "@dir/o7.torrent"},
      {{"make-torrent", data, "--announce", "", "-o", "@dir/o8.torrent"}, 2, {"--announce"}, "@dir/o8.torrent"},
      {{"make-torrent", data, "--announce", make_ok_announce}, 2, {"--output"}},
      {{"make-torrent", data, "--announce", make_ok_announce, "-o", "@dir/adir"}, 1, {"@dir/adir"}},
      // tracker: a port in use, an address this host does not have (the bind fails; nothing
      // is sent), multicast and broadcast addresses, bad intervals
      {{"tracker", "--listen", "@busy"}, 1, {"@busy", "in use"}},
      {{"tracker", "--listen", "192.0.2.1:6969"}, 1, {"192.0.2.1", "cannot listen"}},
      {{"tracker", "--listen", "224.0.0.1:6969"}, 2, {"--listen", "multicast"}},
      {{"tracker", "--listen", "255.255.255.255:6969"}, 2, {"--listen", "broadcast"}},
      {{"tracker", "--listen", "127.0.0.1:99999"}, 2, {"--listen"}},
      {{"tracker", "--listen", ""}, 2, {"--listen"}},
      {{"tracker", "--interval", "0"}, 2, {"--interval"}},
      {{"tracker", "--interval", "5 parsecs"}, 2, {"--interval", "parsecs"}},
      {{"tracker", "--interval", "nan"}, 2, {"--interval", "nan"}},
      {{"tracker", "--interval", "1e30h"}, 2, {"--interval"}},
      // seed
      {{"seed", good, data, "--listen", "@busy"}, 1, {"@busy", "in use"}},
      {{"seed", good, "@dir/adir"}, 1, {"@dir/adir", "directory"}},
      {{"seed", "@dir/dangling.torrent", data}, 1, {"dangling.torrent"}},
      {{"seed", "@dir/not-bencode.torrent", data}, 1, {"not-bencode.torrent"}},
      {{"seed", "", data}, 2, {"torrent", "empty"}},
      {{"seed", good, ""}, 2, {"file", "empty"}},
      {{"seed", good, data, "--up", "-5MB/s"}, 2, {"--up"}},
      {{"seed", good, data, "--listen", "192.0.2.7:6881"}, 1, {"192.0.2.7", "cannot start"}},  // not this host's
      // get
      {{"get", "@dir/parses.torrent", "-o", "@dir/busy.bin", "--listen", "@busy"},
       1,
       {"@busy", "in use"},
       "@dir/busy.bin.part"},
      {{"get", "@dir/bad-piece-length.torrent", "-o", "@dir/g1.bin"}, 1, {"bad-piece-length.torrent"}, "@dir/g1.bin.part"},
      {{"get", "@dir/adir", "-o", "@dir/g2.bin"}, 1, {"@dir/adir"}, "@dir/g2.bin.part"},
      {{"get", "", "-o", "@dir/g3.bin"}, 2, {"torrent", "empty"}, "@dir/g3.bin.part"},
      {{"get", good, "-o", "@dir/g4.bin", "--down", "10 MiB/h"}, 2, {"--down", "MiB/h"}, "@dir/g4.bin.part"},
      {{"get", good, "-o", "@dir/g5.bin", "--up", "nan"}, 2, {"--up", "nan"}, "@dir/g5.bin.part"},
      {{"get", good, "-o", "@dir/g6.bin", "--listen", "239.1.1.1:0"}, 2, {"--listen"}, "@dir/g6.bin.part"},
      // swarm: checked before any swarm starts
      {{"swarm", "-N", "3", "--peer-up", "1MB/s,2MB/s", "--json", "-"}, 2, {"--peer-up", "2 rates"}},
      {{"swarm", "-N", "2", "--peer-down", "1MB/s,2MB/s,3MB/s"}, 2, {"--peer-down", "3 rates"}},
      {{"swarm", "--file-size", "1e30B", "--json", "-"}, 2, {"--file-size"}},
      {{"swarm", "--file-size", "0"}, 2, {"--file-size"}},
      {{"swarm", "--file-size", "10 MiB/h"}, 2, {"--file-size", "MiB/h"}},
      {{"swarm", "-N", "0"}, 2, {"--leechers"}},
      {{"swarm", "-N", "100000"}, 2, {"--leechers", "60000"}},
      // simulate: swarm's checks, its own limits, and what it does not simulate named
      {{"simulate", "-N", "3", "--peer-up", "1MB/s,2MB/s"}, 2, {"--peer-up", "2 rates"}},
      {{"simulate", "-N", "3000000"}, 2, {"--leechers", "2000000"}},
      {{"simulate", "--fault", "corrupt"}, 2, {"--fault", "not simulated"}},
      {{"simulate", "--content", "generated"}, 2, {"--content", "no bytes"}},
      {{"simulate", "-N", "2000000", "--file-size", "64GiB", "--piece-size", "16KiB"}, 2, {"memory", "available"}},
      {{"simulate", "--seed", "x"}, 2, {"--seed"}},
      {{"swarm", "--seeds", "9"}, 2, {"--seeds"}},
      {{"swarm", "--server-up", "-4MB/s"}, 2, {"--server-up", "negative"}},
      {{"swarm", "--piece-size", "10KiB"}, 2, {"--piece-size"}},
      {{"swarm", "--time-scale", "nan"}, 2, {"--time-scale"}},
      {{"swarm", "--rechoke", "1e300s"}, 2, {"--rechoke"}},
      {{"swarm", "--timeout", "inf"}, 2, {"--timeout", "inf"}},
      {{"swarm", "--timeout", "1e300h"}, 2, {"--timeout"}},
      {{"swarm", "--mode", "bogus"}, 2, {"--mode", "bogus"}},
      {{"swarm", "--upload-order", "random"}, 2, {"--upload-order", "random"}},
      {{"swarm", "--request-queue", "-5ms"}, 2, {"--request-queue"}},
      {{"swarm", "--request-queue", "1h"}, 2, {"--request-queue"}},
      {{"swarm", "--have-batch", "-1s"}, 2, {"--have-batch"}},
      {{"swarm", "--have-batch", "2min"}, 2, {"--have-batch"}},
      {{"swarm", "--have-batch", "soon"}, 2, {"--have-batch"}},
      {{"swarm", "--file", ""}, 2, {"--file", "empty"}},
      {{"swarm", "--file", "@dir/missing.bin", "--json", "-"}, 1, {"@dir/missing.bin"}},
      {{"swarm", "--file", "@dir/adir"}, 1, {"@dir/adir"}},
      // the command itself
      {{"frobnicate", "--json", "-"}, 2, {"frobnicate"}},
      {{"get", good}, 2, {"--output"}},
  };
  if (::geteuid() != 0) {  // root reads a file whatever its mode: only meaningful for others
    write_bytes(dir / "unreadable.torrent", parses);
    fs::permissions(dir / "unreadable.torrent", fs::perms::none);
    table.push_back({{"info", "@dir/unreadable.torrent"}, 1, {"unreadable.torrent", "Permission denied"}});
  }
  REQUIRE(table.size() >= 30);

  const std::string dir_text = dir.string();
  const std::string busy_text = busy.endpoint();
  for (std::size_t i = 0; i < table.size(); ++i) {
    const auto& row = table[i];
    std::vector<std::string> args;
    for (const auto& a : row.args) args.push_back(expand(a, dir_text, busy_text));
    const auto r = run_p2pdist_bounded(args, case_timeout);
    INFO("row " << i << ": p2pdist " << joined(args) << "\nexit " << r.exit_code << "\nstderr: " << r.err
                << "\nstdout: " << r.out);
    REQUIRE_FALSE(r.spawn_failed);
    CHECK_FALSE(r.timed_out);
    CHECK_FALSE(r.group_left);
    CHECK(r.exit_code == row.exit);
    CHECK(r.exit_code < 128);  // no signal, no abort
    // Exactly one non-empty line, starting with the program's name.
    CHECK(r.err.rfind("p2pdist: ", 0) == 0);
    CHECK(newlines(r.err) == 1);
    CHECK(r.err.back() == '\n');
    CHECK(r.err.find('\r') == std::string::npos);
    for (const auto& m : row.mentions) CHECK_THAT(r.err, Catch::Contains(expand(m, dir_text, busy_text)));
    // No JSON on stdout, whole or partial (a failed command writes none).
    CHECK(r.out.find('{') == std::string::npos);
    if (!row.absent.empty()) CHECK_FALSE(fs::exists(expand(row.absent, dir_text, busy_text)));
  }
}
