#include "cli/serve_process.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <system_error>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace p2pdist::cli {

namespace {

struct pipe_pair {
  int read = -1;
  int write = -1;
  pipe_pair() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    read = fds[0];
    write = fds[1];
  }
  ~pipe_pair() {
    if (read >= 0) ::close(read);
    if (write >= 0) ::close(write);
  }
  pipe_pair(const pipe_pair&) = delete;
  pipe_pair& operator=(const pipe_pair&) = delete;
};

constexpr std::size_t stderr_keep = 64u << 10;

}  // namespace

child_output run_self(const std::vector<std::string>& args, const child_limits& limits,
                      const std::function<void(const std::string&)>& on_stderr_line,
                      const std::function<bool()>& keep_going) {
  pipe_pair out_pipe;
  pipe_pair err_pipe;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe.write, 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe.write, 2);
  std::vector<char*> argv;
  std::string self = "/proc/self/exe";
  argv.push_back(self.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The child starts with no signal blocked (the server blocks SIGINT and SIGTERM in its
  // threads to wait for them in one).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, "/proc/self/exe", &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "cannot start p2pdist");
  ::close(out_pipe.write);
  out_pipe.write = -1;
  ::close(err_pipe.write);
  err_pipe.write = -1;

  child_output result;
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + limits.timeout;
  bool out_open = true;
  bool err_open = true;
  bool ended = false;
  std::array<char, 65536> buf{};
  while (out_open || err_open) {
    if (!ended && std::chrono::steady_clock::now() >= deadline) {
      result.timed_out = true;
      ended = true;
    }
    if (!ended && keep_going && !keep_going()) {
      result.cancelled = true;
      ended = true;
    }
    if (ended) {
      ::kill(pid, SIGKILL);  // its pipes close with it
    }
    std::array<pollfd, 2> fds{pollfd{out_open ? out_pipe.read : -1, POLLIN, 0},
                              pollfd{err_open ? err_pipe.read : -1, POLLIN, 0}};
    const int ready = ::poll(fds.data(), fds.size(), 100);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    if (fds[0].revents != 0) {
      const auto n = ::read(out_pipe.read, buf.data(), buf.size());
      if (n <= 0) {
        out_open = false;
      } else if (result.out.size() + static_cast<std::size_t>(n) <= limits.max_stdout_bytes) {
        result.out.append(buf.data(), static_cast<std::size_t>(n));
      } else {
        result.truncated = true;
      }
    }
    if (fds[1].revents != 0) {
      const auto n = ::read(err_pipe.read, buf.data(), buf.size());
      if (n <= 0) {
        err_open = false;
      } else {
        result.err.append(buf.data(), static_cast<std::size_t>(n));
        if (on_stderr_line) {
          line.append(buf.data(), static_cast<std::size_t>(n));
          for (auto nl = line.find('\n'); nl != std::string::npos; nl = line.find('\n')) {
            on_stderr_line(line.substr(0, nl));
            line.erase(0, nl + 1);
          }
          if (line.size() > stderr_keep) line.clear();  // a line without an end: not one to pass on
        }
        if (result.err.size() > 2 * stderr_keep) result.err.erase(0, result.err.size() - stderr_keep);
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = !ended && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (result.err.size() > stderr_keep) result.err.erase(0, result.err.size() - stderr_keep);
  return result;
}

}  // namespace p2pdist::cli
