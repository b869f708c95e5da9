#pragma once
// `p2pdist serve` answers with the CLI's own documents: each API call runs this very
// executable (/proc/self/exe) as a child with an argument vector (never a shell), reads
// what it writes, bounded in time and size, and ends it by PID when the bound is reached
// or the caller gives up.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace p2pdist::cli {

/// What a child run of p2pdist left.
struct child_output {
  int exit_code = -1;        ///< its exit status; -1 when it was ended (timeout, cancel) or died by a signal
  bool timed_out = false;    ///< ended at the time limit
  bool cancelled = false;    ///< ended because `keep_going` said so
  bool truncated = false;    ///< stdout reached its cap (the rest was read and dropped)
  std::string out;           ///< stdout, up to the cap
  std::string err;           ///< the last 64 KiB of stderr
};

struct child_limits {
  std::chrono::milliseconds timeout{10000};
  std::size_t max_stdout_bytes = 64u << 20;
};

/// Runs `/proc/self/exe args...`. `on_stderr_line` (if set) gets each line the child
/// writes on stderr as it comes; `keep_going` (if set) is asked about every 100 ms and
/// ends the child when it says false. Throws std::system_error when the child cannot start.
child_output run_self(const std::vector<std::string>& args, const child_limits& limits,
                      const std::function<void(const std::string&)>& on_stderr_line = {},
                      const std::function<bool()>& keep_going = {});

}  // namespace p2pdist::cli
