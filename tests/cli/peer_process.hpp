#pragma once
// The processes and files of the CLI tests that run `p2pdist seed`, `get` and `tracker`:
// one p2pdist process read through pipes and ended by its PID, a tracker on 127.0.0.1, and
// the small file helpers the transfers are checked with. Every wait has a deadline.

#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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
#include <utility>
#include <vector>

#include "cli_runner.hpp"

namespace p2pdist::test::peers {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using clock_type = std::chrono::steady_clock;

inline std::vector<char> random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<char> out(n);
  for (auto& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

inline void write_file(const fs::path& p, const std::vector<char>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

inline std::vector<char> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// Pieces of `file` that equal the same bytes of `original`, counted by the test itself.
inline std::size_t pieces_equal(const std::vector<char>& file, const std::vector<char>& original, std::size_t piece_bytes) {
  if (file.size() != original.size()) return 0;
  std::size_t n = 0;
  for (std::size_t off = 0; off < original.size(); off += piece_bytes) {
    const std::size_t len = std::min(piece_bytes, original.size() - off);
    n += std::memcmp(file.data() + off, original.data() + off, len) == 0;
  }
  return n;
}

/// One p2pdist process with its stdout and stderr read through pipes. The destructor ends
/// it (SIGTERM, then SIGKILL after a bound) if it is still running, and reaps it.
class child_process {
 public:
  explicit child_process(const std::vector<std::string>& args) {
    const auto child = p2pdist::test::spawn_piped(P2PDIST_EXE, args, /*own_group=*/false);
    REQUIRE(child.pid >= 0);
    pid_ = child.pid;
    out_fd_ = child.out_fd;
    err_fd_ = child.err_fd;
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    REQUIRE(pidfd_ >= 0);
  }

  ~child_process() {
    if (!exit_code_) {
      ::kill(pid_, SIGTERM);
      if (!wait_exit(5s)) {
        ::kill(pid_, SIGKILL);
        (void)wait_exit(5s);
      }
    }
    for (int fd : {out_fd_, err_fd_, pidfd_})
      if (fd >= 0) ::close(fd);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Waits until a line of stdout contains `needle` (or the process exits, or the deadline
  /// passes); returns that line.
  std::optional<std::string> wait_line(const std::string& needle, clock_type::duration timeout) {
    const auto deadline = clock_type::now() + timeout;
    for (;;) {
      std::size_t start = 0;
      for (std::size_t nl; (nl = out_.find('\n', start)) != std::string::npos; start = nl + 1) {
        if (start < scanned_) continue;
        const std::string line = out_.substr(start, nl - start);
        scanned_ = nl + 1;
        if (line.find(needle) != std::string::npos) return line;
      }
      if (exit_code_ || !pump(deadline)) return std::nullopt;
    }
  }

  /// Waits for the process to exit, reading its output meanwhile; its exit code, or nullopt
  /// at the deadline.
  std::optional<int> wait_exit(clock_type::duration timeout) {
    const auto deadline = clock_type::now() + timeout;
    while (!exit_code_)
      if (!pump(deadline)) return std::nullopt;
    while (out_fd_ >= 0 || err_fd_ >= 0)  // the rest of its output
      if (!pump(deadline)) break;
    return exit_code_;
  }

  /// Reads what is there, for up to `slice` (a bounded wait for the next event).
  void poll_for(clock_type::duration slice) { (void)pump(clock_type::now() + slice); }

  void send(int signo) const { REQUIRE(::kill(pid_, signo) == 0); }
  [[nodiscard]] const std::string& out() const { return out_; }
  [[nodiscard]] const std::string& err() const { return err_; }

 private:
  // One poll() until the deadline; false when the deadline passed with nothing new.
  bool pump(clock_type::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    if (left.count() <= 0) return false;
    pollfd fds[3] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}, {exit_code_ ? -1 : pidfd_, POLLIN, 0}};
    const int n = ::poll(fds, 3, static_cast<int>(left.count()));
    if (n <= 0) return n < 0 && errno == EINTR;
    p2pdist::test::drain_fd(fds[0], out_fd_, out_);
    p2pdist::test::drain_fd(fds[1], err_fd_, err_);
    if (fds[2].revents != 0) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_)
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return true;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  int pidfd_ = -1;
  std::string out_;
  std::string err_;
  std::size_t scanned_ = 0;
  std::optional<int> exit_code_;
};

/// A running `p2pdist tracker` on 127.0.0.1 (any port) and its announce URL.
struct tracker_process {
  child_process proc{{"tracker", "--listen", "127.0.0.1:0", "--interval", "1s", "--udp"}};
  std::string announce;      ///< http://
  std::string udp_announce;  ///< udp://, the same port

  tracker_process() {
    for (auto [scheme, url] : {std::pair{"http", &announce}, std::pair{"udp", &udp_announce}}) {
      const auto line = proc.wait_line(std::string("tracker listening on ") + scheme, 10s);
      REQUIRE(line);
      std::smatch m;
      REQUIRE(std::regex_search(*line, m, std::regex(std::string(scheme) + R"(://127\.0\.0\.1:\d+/announce)")));
      *url = m.str();
    }
  }
};

/// The number in "kept K of N pieces" (or "keeps K of N"), checking N.
inline std::optional<std::size_t> kept_count(const std::string& line, std::size_t pieces) {
  std::smatch m;
  if (!std::regex_search(line, m, std::regex(R"((?:kept|keeps) (\d+) of (\d+) pieces)"))) return std::nullopt;
  if (std::stoul(m.str(2)) != pieces) return std::nullopt;
  return std::stoul(m.str(1));
}

}  // namespace p2pdist::test::peers
