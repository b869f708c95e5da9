#pragma once
// harness: runs a whole swarm in one process on loopback — our HTTP tracker, S seeds and
// N leechers, each on its own 127.0.0.x address, with emulated access links (a token
// bucket per instance for upload and one for download) — and measures the distribution
// time: from t0, the moment the leechers are released together (after the tracker and
// every seed listen and the seeds hold the file), until the last leecher has verified its
// last piece. Every leecher's data is compared with the seed's at the end.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "loopback/choker.hpp"
#include "loopback/client.hpp"

namespace p2pdist::loopback {

/// Which architecture the swarm emulates.
enum class swarm_mode {
  p2p,  ///< full BitTorrent: leechers trade pieces with each other
  cs,   ///< client-server: leechers download from the seeds only and upload nothing
};

/// What a leecher does once it holds the whole file.
enum class after_complete {
  stay,   ///< keeps seeding until every leecher is done (what the bound assumes)
  leave,  ///< stops at once (announcing `stopped`)
};

/// A swarm to run. Rates are in bytes per second on the wire; 0 means unlimited.
struct swarm_config {
  std::size_t leechers = 8;                       ///< N >= 1
  std::size_t seeds = 1;                          ///< S >= 1; each uploads at server_up
  std::uint64_t file_bytes = 32u << 20;           ///< random data of this size (if no file)
  std::optional<std::filesystem::path> file{};    ///< share this file instead
  std::uint64_t data_seed = 1;                    ///< seed of the random data
  std::uint32_t piece_bytes = 256 * 1024;
  double server_up_bytes_per_s = 0;               ///< u_s of each seed
  std::vector<double> peer_up_bytes_per_s{0};     ///< u_i: one value for all, or N values
  std::vector<double> peer_down_bytes_per_s{0};   ///< d_i: one value for all, or N values
  swarm_mode mode = swarm_mode::p2p;
  after_complete after = after_complete::stay;
  bt::choker_config choker{};                     ///< before time_scale is applied
  double time_scale = 1.0;                        ///< multiplies every choker interval
  bt::picker_knobs picker{};
  /// How seeds hand out pieces in p2p mode with N > 1: each_piece_once_first (the default:
  /// super-seeding, each piece leaves a seed once before any leaves it twice, as the bound's
  /// schedule has it) or standard (a full bitfield). Client-server mode always uses standard.
  bt::initial_seeding seed_policy = bt::initial_seeding::each_piece_once_first;
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds sample_interval{100};  ///< timeline resolution
  std::size_t io_threads = 2;                      ///< threads running the instances
  std::uint64_t rng_seed = 1;                      ///< peer ids and policies
};

/// Throws std::invalid_argument naming the problem: N or S zero, a list whose length is
/// neither 1 nor N, a negative or non-finite rate, a zero file size, a bad piece size,
/// a time scale not above 0, too many instances for the address plan.
void validate(const swarm_config& config);

/// A snapshot while the swarm runs, for progress displays.
struct swarm_progress {
  double elapsed_seconds = 0;
  std::size_t leechers_complete = 0;
  std::size_t leechers = 0;
  std::uint64_t bytes_held = 0;   ///< verified bytes held by all leechers together
  std::uint64_t bytes_total = 0;  ///< N × file size
};

/// One leecher's outcome.
struct leecher_result {
  std::string address;                       ///< e.g. "127.0.0.10"
  std::optional<double> completion_seconds;  ///< since t0; nullopt if it did not finish
  std::uint64_t bytes_up = 0;                ///< payload bytes uploaded
  std::uint64_t bytes_down = 0;              ///< payload bytes downloaded (duplicates too)
  std::uint64_t wire_bytes_up = 0;
  std::uint64_t wire_bytes_down = 0;
  std::uint64_t hash_failures = 0;
  bool data_matches = false;                 ///< its bytes equal the seed's at the end
};

/// The outcome of one run.
struct swarm_result {
  std::vector<leecher_result> leechers;
  std::optional<double> distribution_seconds;  ///< last completion; nullopt if any missed
  bool timed_out = false;
  bool data_ok = false;                        ///< every finished leecher's data matches
  std::uint64_t seed_bytes_up = 0;             ///< payload, all seeds together
  std::uint64_t file_bytes = 0;
  std::uint32_t piece_bytes = 0;
  /// Bytes held (verified) by each leecher every sample_interval since t0:
  /// timeline_seconds[k] and timeline_bytes[i][k] for leecher i.
  std::vector<double> timeline_seconds;
  std::vector<std::vector<std::uint64_t>> timeline_bytes;
  std::string failure;  ///< why the run failed (timeout, data mismatch), empty when fine
};

/// Runs one swarm to completion or timeout. Calls `on_progress` (if set) from the calling
/// thread every sample_interval. Throws std::invalid_argument for a bad config and
/// std::system_error when an instance cannot listen or a file cannot be read.
swarm_result run_swarm(const swarm_config& config,
                       const std::function<void(const swarm_progress&)>& on_progress = {});

/// The address plan: the tracker listens on 127.0.0.1, seed s (s < 8) on 127.0.0.(2+s),
/// leecher i on 127.0.0.(10+i) for i < 246 and on through 127.0.1.0, 127.0.1.1, ... (the
/// whole 127.0.0.0/8 is loopback), so every instance has an address of its own.
inline constexpr std::size_t max_seeds = 8;
inline constexpr std::size_t max_leechers = 60000;
std::array<std::uint8_t, 4> seed_address(std::size_t s);
std::array<std::uint8_t, 4> leecher_address(std::size_t i);
/// "127.0.0.10"
std::string to_string(const std::array<std::uint8_t, 4>& ip);

}  // namespace p2pdist::loopback
