#pragma once
// What `swarm` and `simulate` share: their options (one registration, so that the two
// commands take the same flags with the same defaults and the same checks), the
// configuration they make of them, and the report they print.

#include <cstdint>
#include <functional>
#include <string>

#include "cli/commands.hpp"
#include "loopback/harness/harness.hpp"
#include "loopback/harness/simulate.hpp"

namespace p2pdist::cli {

/// Which engine runs the swarm: sockets on loopback, or the simulator.
enum class engine { loopback, simulated };

/// The command line of `swarm` and `simulate`: the options CLI11 fills in directly, and
/// the texts to parse.
struct swarm_input {
  swarm_options opts;
  std::string leechers = "8", seeds = "1", file_size = "32MiB", piece_size = "256KiB";
  std::string server_up = "4MB/s", peer_up = "2MB/s", peer_down = "unlimited";
  std::string rechoke = "10s", optimistic = "30s", timeout = "10min", repeat = "1", request_queue = "30ms";
  std::string have_batch = "1s";
  std::string data_seed = "1", rng_seed = "1";  ///< --data-seed, simulate's --seed
  std::string idle_extra_slots = "4", pieces_in_flight = "1", offer_lookahead = "128KiB";
  std::string rtt = "0";      ///< --rtt (simulate's default: 100us, set by add_options)
  std::string jitter = "0";
  std::string max_peers = "auto";
  std::string refused_content;  ///< simulate's hidden --content, refused with a reason
  engine which = engine::loopback;  ///< set by add_options

  /// Registers the options on `app`: those both engines take, then the engine's own
  /// (loopback: --content, --fault, --no-baseline; simulated: --seed).
  void add_options(CLI::App& app, engine e);
  /// `opts` with the texts parsed; a usage_error names the flag at fault. `file_given`:
  /// --file was on the command line (an empty path is then an error).
  [[nodiscard]] swarm_options parsed(bool file_given) const;
};

/// The harness's configuration for `o`, checked in full (with the engine's limits) before
/// any swarm starts; a usage_error names the flag at fault.
loopback::swarm_config config_of(const swarm_options& o, engine e);

/// The line that says which swarm runs ("swarm: ..." or "simulate: ..."), on stdout.
void print_header(const swarm_options& o, const loopback::swarm_config& c, engine e);

/// How a run shows its progress on stderr: a JSON line per sample with --progress-json,
/// else a one-line bar redrawn in place on a terminal, else nothing.
struct progress_reporter {
  std::function<void(const loopback::swarm_progress&)> on_sample;  ///< empty: no progress
  bool bar = false;  ///< a bar is drawn: end it with a newline after each run
};
progress_reporter progress_of(const swarm_options& o);

/// One run's report: the leechers (each, up to 32; else their completion times' spread),
/// the seeds' upload, the distribution time against both bounds, the cost; with `sim`,
/// what the simulation took.
void print_table(const loopback::swarm_config& c, const loopback::swarm_result& r, std::size_t run, std::size_t runs,
                 const loopback::simulation_stats* sim = nullptr);

/// "12.50 MiB"
std::string mib(std::uint64_t bytes);

}  // namespace p2pdist::cli
