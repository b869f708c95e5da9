#pragma once
// Runs the built p2pdist executable as a user would, capturing exit code, stdout, stderr.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace p2pdist::test {

struct run_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Quotes one argument for /bin/sh.
inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Runs P2PDIST_EXE with `args` (stdin closed), waits, returns its exit code and output.
inline run_result run_p2pdist(const std::vector<std::string>& args) {
  namespace fs = std::filesystem;
  static int counter = 0;
  const auto dir = fs::temp_directory_path();
  const auto tag = std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const auto out_path = dir / ("p2pdist-cli-out-" + tag);
  const auto err_path = dir / ("p2pdist-cli-err-" + tag);
  std::string cmd = shell_quote(P2PDIST_EXE);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " </dev/null >" + shell_quote(out_path.string()) + " 2>" + shell_quote(err_path.string());
  const int status = std::system(cmd.c_str());
  run_result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  fs::remove(out_path);
  fs::remove(err_path);
  return r;
}

/// What run_p2pdist_bounded saw, beyond run_result.
/// After poll(): appends what `fd` has to `sink`; closes it (fd = -1) at end of file or on error.
inline void drain_fd(const pollfd& p, int& fd, std::string& sink) {
  if (fd < 0 || p.revents == 0) return;
  char buf[4096];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  if (n > 0) {
    sink.append(buf, static_cast<std::size_t>(n));
  } else if (n == 0 || errno != EINTR) {
    ::close(fd);
    fd = -1;
  }
}

/// A child started by spawn_piped(): its pid (-1 if it could not start) and the read ends of
/// its stdout and stderr pipes.
struct spawned {
  pid_t pid = -1;
  int out_fd = -1;
  int err_fd = -1;
};

/// Starts `exe args...` with stdin from /dev/null and stdout/stderr into pipes; with
/// `own_group`, in a process group of its own (pgid = pid).
inline spawned spawn_piped(const std::string& exe, const std::vector<std::string>& args, bool own_group) {
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return {};
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return {};
  }
  std::vector<std::string> argv_store{exe};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (own_group) ::setpgid(0, 0);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (pid < 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return {};
  }
  if (own_group) ::setpgid(pid, pid);  // also here, so the group exists whichever of the two runs first
  return {.pid = pid, .out_fd = out_pipe[0], .err_fd = err_pipe[0]};
}

struct bounded_run_result : run_result {
  bool timed_out = false;   ///< the deadline passed: the group was killed (exit_code is then 128 + SIGKILL)
  bool group_left = false;  ///< a process of the child's group outlived it (then killed)
  bool spawn_failed = false;
};

/// Runs `exe` with `args` (stdin /dev/null) as the leader of a new process group, reading
/// stdout and stderr through pipes. Waits at most `timeout`; at the deadline it kills the
/// whole group. Once the child is reaped it checks that its group is empty (kill(-pgid, 0)
/// fails with ESRCH), killing and reporting whatever is left.
inline bounded_run_result run_bounded(const std::string& exe, const std::vector<std::string>& args,
                                      std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  bounded_run_result r;
  const spawned child = spawn_piped(exe, args, /*own_group=*/true);
  if (child.pid < 0) {
    r.spawn_failed = true;
    return r;
  }
  const pid_t pid = child.pid;
  int out_fd = child.out_fd;
  int err_fd = child.err_fd;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  const auto deadline = clock::now() + timeout;
  bool reaped = false;

  auto reap = [&](int flags) {
    int status = 0;
    if (::waitpid(pid, &status, flags) != pid) return;
    reaped = true;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (::kill(-pid, 0) == 0 || errno != ESRCH) {  // someone else is still in its group
      r.group_left = true;
      ::kill(-pid, SIGKILL);
    }
  };

  while (!reaped || out_fd >= 0 || err_fd >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    if (left <= 0) {
      r.timed_out = true;
      ::kill(-pid, SIGKILL);
      if (!reaped) reap(0);  // bounded: SIGKILL cannot be ignored
      break;
    }
    pollfd fds[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {reaped ? -1 : pidfd, POLLIN, 0}};
    const int n = ::poll(fds, 3, static_cast<int>(left));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    drain_fd(fds[0], out_fd, r.out);
    drain_fd(fds[1], err_fd, r.err);
    if (fds[2].revents != 0) reap(WNOHANG);
    if (pidfd < 0 && !reaped && out_fd < 0 && err_fd < 0) reap(0);  // no pidfd: its pipes closed, it is ending
  }
  if (!reaped) {  // poll failed: end it all the same
    ::kill(-pid, SIGKILL);
    reap(0);
  }
  for (int fd : {out_fd, err_fd, pidfd})
    if (fd >= 0) ::close(fd);
  return r;
}

/// run_bounded for P2PDIST_EXE.
inline bounded_run_result run_p2pdist_bounded(const std::vector<std::string>& args,
                                              std::chrono::milliseconds timeout) {
  return run_bounded(P2PDIST_EXE, args, timeout);
}

/// A fresh directory for one test, p2pdist-TAG-PID-K under the temporary directory,
/// removed with everything in it when the test ends.
class scratch_dir {
 public:
  explicit scratch_dir(const std::string& tag) {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("p2pdist-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace p2pdist::test
