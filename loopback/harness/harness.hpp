#pragma once
// harness: runs a whole swarm in one process on loopback — our HTTP tracker, S seeds and
// N leechers, each on its own 127.0.0.x address, with emulated access links (a token
// bucket per instance for upload and one for download) — and measures the distribution
// time: from t0, the moment the leechers are released together (after the tracker and
// every seed listen and the seeds hold the file), until the last leecher has verified its
// last piece. Every leecher's data is compared with the seed's at the end.
//
// With faults (swarm_config::faults, see faults.hpp), adversarial peers join the swarm
// before t0 on addresses of their own, and churning leechers leave and come back; the
// result then counts what they did and what it cost (swarm_result::faults).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "loopback/policy/choker.hpp"
#include "loopback/net/client.hpp"
#include "loopback/harness/faults.hpp"

namespace p2pdist::loopback {

/// Which architecture the swarm emulates.
enum class swarm_mode {
  p2p,  ///< full BitTorrent: leechers trade pieces with each other
  cs,   ///< client-server: leechers download from the seeds only and upload nothing
};

/// Where the swarm's bytes live.
enum class swarm_content {
  memory,     ///< every instance holds the file in memory: (N + S)·F bytes; data compared at the end
  generated,  ///< bytes are a function of (data seed, offset), regenerated on demand; no
              ///< instance stores the file, every piece is still SHA-1-checked on arrival
};

/// The connections an instance keeps by default (both directions): what Transmission keeps
/// per torrent, and more than libtorrent's or aria2's unchoke and request fan-out ever use;
/// a swarm of up to 49 leechers stays fully meshed. Lowered when the process's descriptor
/// limit cannot hold it for every instance (see connection_limit).
inline constexpr std::size_t default_max_peers = 50;

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
  swarm_content content = swarm_content::memory;  ///< generated: no copy of the file (no `file`)
  /// Connections an instance keeps, both directions; nullopt: default_max_peers, lowered to
  /// what RLIMIT_NOFILE allows (connection_limit); a value given is checked against it. In
  /// client-server mode the seeds are not limited by it: a server keeps all N clients.
  std::optional<std::size_t> max_peers{};
  std::uint32_t piece_bytes = 256 * 1024;
  double server_up_bytes_per_s = 0;               ///< u_s of each seed
  std::vector<double> peer_up_bytes_per_s{0};     ///< u_i: one value for all, or N values
  std::vector<double> peer_down_bytes_per_s{0};   ///< d_i: one value for all, or N values
  swarm_mode mode = swarm_mode::p2p;
  after_complete after = after_complete::stay;
  bt::choker_config choker{};                     ///< before time_scale is applied
  double time_scale = 1.0;                        ///< multiplies every choker interval
  /// Leechers' picker. Requests in flight at a peer cover 30 ms of its recent sending
  /// (2 to 16 blocks): with a fixed 16, blocks wait in the queue of a rate-limited peer for
  /// a quarter second while other holders of them idle (N = 32 seed-limited: 1.05 → 1.024).
  bt::picker_knobs picker{.request_queue_time = std::chrono::milliseconds(30)};
  /// How seeds hand out pieces in p2p mode with N > 1: each_piece_once_first (the default:
  /// super-seeding, each piece leaves a seed once before any leaves it twice, as the bound's
  /// schedule has it) or standard (a full bitfield). Client-server mode always uses standard.
  bt::initial_seeding seed_policy = bt::initial_seeding::each_piece_once_first;
  /// How every instance shares its limited upload among the peers it serves: piece_first
  /// (the default: the piece first asked for goes out whole first, so it can be passed on
  /// sooner) or fair (max-min fair shares, blocks of several pieces interleaved).
  bt::upload_policy upload_order = bt::upload_policy::piece_first;
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds sample_interval{100};  ///< timeline resolution
  /// A `have` for a peer an instance chokes waits up to this long while its upload is busy
  /// (bt::session_config::have_batch_interval); zero: each at once. Not time-scaled.
  bt::duration have_batch_interval = std::chrono::seconds(1);
  /// Every instance offers the fast extension (BEP 6; bt::session_config::fast_extension).
  bool fast_extension = true;
  /// Emulated paths: each connection's round trip is drawn once, uniformly in [rtt_min,
  /// rtt_max], from the pair of addresses, and each direction delays what it carries by half
  /// of it, after the rate limits (bt::delay_line). Both zero: the loopback's own
  /// microseconds. The simulator's links take their delays from simulation_options (the CLI
  /// sets them from the same range); these also lengthen its timeouts and go in the JSON.
  bt::duration rtt_min{};
  bt::duration rtt_max{};
  bt::duration jitter{};  ///< emulated paths: each read waits up to this much longer (order kept)
  /// Emulated paths, instead of rtt_min/max: leecher i's access round trip (N values). A
  /// connection's round trip is the sum of its ends' (a seed's is zero: leecher i reaches a
  /// seed in leecher_rtt[i]); the tracker's answer takes the leecher's own.
  std::vector<bt::duration> leecher_rtt{};
  std::size_t io_threads = 2;                      ///< threads running the instances
  std::uint64_t rng_seed = 1;                      ///< peer ids and policies
  /// Honest instances' timeouts, before time_scale is applied (each scaled one is kept at
  /// least at its floor: 1 s for a request, 0.5 s for a handshake and the tracker's idle
  /// connections), so that a short time scale also makes stalled and slow peers cost less.
  bt::duration request_timeout = std::chrono::seconds(20);   ///< no block while requests wait: snubbed
  bt::duration handshake_timeout = std::chrono::seconds(10);  ///< connect + handshake
  /// Adversaries and churn (faults.hpp), in p2p and cs mode alike; empty: none. A kind may
  /// appear several times (counts add up).
  std::vector<fault_spec> faults{};
};

/// The connection limit a swarm runs with, and the descriptors it needs: every instance
/// holds its connections' sockets and a listener (both ends of an in-process connection are
/// ours), (N + S)·(max_peers + 1), plus the adversaries', the tracker's and a margin.
struct connection_budget {
  std::size_t max_peers = 0;
  std::uint64_t descriptors_needed = 0;
  std::uint64_t descriptors_available = 0;  ///< RLIMIT_NOFILE's soft limit, raised to the hard one
};
/// Raises RLIMIT_NOFILE's soft limit towards the hard one and picks max_peers: the config's,
/// else default_max_peers lowered until the swarm fits. Throws std::invalid_argument saying
/// how many descriptors the swarm needs and how many the process may have when it cannot
/// fit with at least 4 connections an instance (or with the config's own max_peers).
connection_budget connection_limit(const swarm_config& config);

/// The timeouts run_swarm gives every honest instance: the config's, times time_scale,
/// with the floors said at swarm_config::request_timeout.
struct scaled_timeouts {
  bt::duration request{};
  bt::duration handshake{};
  bt::duration tracker_idle{};
  bt::duration evict_silent{};  ///< 5 s scaled, at least 0.5 s (client_config::evict_silent_after)
};
scaled_timeouts scaled_timeouts_for(const swarm_config& config);

/// Throws std::invalid_argument naming the problem: N or S zero, a list whose length is
/// neither 1 nor N, a negative or non-finite rate, a zero file size, a bad piece size,
/// a time scale not above 0, too many instances for the address plan, a fault count of 0,
/// more churning leechers than leechers, more than max_fault_peers adversaries.
/// `most_leechers`: the engine's limit on N (the real swarm's is max_leechers).
void validate(const swarm_config& config, std::size_t most_leechers);
void validate(const swarm_config& config);

/// A snapshot while the swarm runs, for progress displays.
struct swarm_progress {
  double elapsed_seconds = 0;
  std::size_t leechers_complete = 0;
  std::size_t leechers = 0;
  std::uint64_t bytes_held = 0;   ///< verified bytes held by all leechers together
  std::uint64_t bytes_total = 0;  ///< N × file size
  // Per leecher (real swarms; a simulation leaves them empty): verified bytes held, and
  // payload bytes sent and received so far; and what the seeds have sent.
  std::vector<std::uint64_t> leecher_held;
  std::vector<std::uint64_t> leecher_up;
  std::vector<std::uint64_t> leecher_down;
  std::uint64_t seed_up = 0;
};

/// One leecher's outcome.
struct leecher_result {
  std::string address;                       ///< e.g. "127.0.0.10"
  std::optional<double> completion_seconds;  ///< since t0; nullopt if it did not finish
  std::optional<double> first_byte_seconds;  ///< since t0, its first block (16 KiB of payload)
  std::uint64_t bytes_up = 0;                ///< payload bytes uploaded
  std::uint64_t bytes_down = 0;              ///< payload bytes downloaded (duplicates too)
  std::uint64_t wire_bytes_up = 0;
  std::uint64_t wire_bytes_down = 0;
  std::uint64_t hash_failures = 0;
  /// Its bytes equal the seed's at the end (generated content: every piece passed its SHA-1
  /// check, the only copy there is to compare).
  bool data_matches = false;
};

/// One churning leecher's story.
struct churn_record {
  std::string address;                  ///< its address (the same in every incarnation)
  double leave_at_fraction = 0;         ///< planned moment: this fraction of the file held
  std::size_t restarts = 0;             ///< times it came back (0: it completed first)
  std::optional<double> left_seconds;   ///< since t0, when it was told to stop
  std::optional<double> back_seconds;   ///< since t0, when it started again
  std::uint32_t pieces_kept = 0;        ///< pieces its restart verified and kept
};

/// What the faults did and what they cost, summed over every honest instance (seeds and
/// every incarnation of every leecher).
struct fault_report {
  std::vector<fault_spec> faults;        ///< as configured
  std::uint64_t hash_failures = 0;       ///< pieces that failed their SHA-1 check
  std::uint64_t bans = 0;                ///< addresses banned (one per banning instance)
  std::uint64_t snubs = 0;               ///< request timeouts (a peer sent no block in time)
  std::uint64_t protocol_drops = 0;      ///< connections closed for a wire protocol error
  std::uint64_t handshake_timeouts = 0;  ///< connections closed before their handshake completed
  std::uint64_t tracker_timeouts = 0;    ///< tracker connections closed at its idle timeout
  /// Block bytes received and not used (duplicates, unasked) plus bytes of failed pieces.
  std::uint64_t wasted_bytes = 0;
  std::vector<fault_peer_stats> peers;   ///< each adversarial peer's counters
  std::vector<churn_record> churn;       ///< each churning leecher
  /// The same swarm's distribution time without faults, when the caller ran it (run_swarm
  /// leaves it empty; `p2pdist swarm` fills it from its baseline run).
  std::optional<double> baseline_seconds;
};

/// The outcome of one run.
struct swarm_result {
  std::vector<leecher_result> leechers;
  std::optional<double> distribution_seconds;  ///< last completion; nullopt if any missed
  /// Start-up: since t0, the first block (16 KiB of payload) that reached any leecher.
  std::optional<double> first_byte_seconds;
  bool timed_out = false;
  bool data_ok = false;                        ///< every finished leecher's data matches
  std::uint64_t seed_bytes_up = 0;             ///< payload, all seeds together
  std::uint64_t file_bytes = 0;
  std::uint32_t piece_bytes = 0;
  /// Bytes held (verified) by each leecher every sample_interval since t0:
  /// timeline_seconds[k] and timeline_bytes[i][k] for leecher i.
  std::vector<double> timeline_seconds;
  std::vector<std::vector<std::uint64_t>> timeline_bytes;
  /// All leechers together at each timeline_seconds[k].
  std::vector<std::uint64_t> timeline_total_bytes;
  std::string failure;  ///< why the run failed (timeout, data mismatch), empty when fine
  std::size_t max_peers = 0;           ///< the connection limit every instance ran with (cs: every leecher)
  double cpu_seconds = 0;              ///< user + system time of the process from t0 to the end of the distribution
  std::uint64_t peak_rss_bytes = 0;    ///< the process's peak resident set size so far
  fault_report faults;  ///< counters filled in every run; faults.faults empty without faults
};

/// Time lost to faults: the distribution time minus the baseline's (the same swarm without
/// faults); nullopt without a baseline or when either run did not finish. Runs vary, so a
/// small loss may come out negative.
std::optional<double> time_lost_seconds(const swarm_result& result);

/// Runs one swarm to completion or timeout. Calls `on_progress` (if set) from the calling
/// thread every sample_interval. Throws std::invalid_argument for a bad config and
/// std::system_error when an instance cannot listen or a file cannot be read.
swarm_result run_swarm(const swarm_config& config,
                       const std::function<void(const swarm_progress&)>& on_progress = {});

/// The address plan: the tracker listens on 127.0.0.1, seed s (s < 8) on 127.0.0.(2+s),
/// leecher i on 127.0.0.(10+i) for i < 246 and on through 127.0.1.0, 127.0.1.1, ... (the
/// whole 127.0.0.0/8 is loopback), so every instance has an address of its own.
/// Adversarial peers (faults.hpp) take 127.0.200.1 onwards (fault_address); with faults,
/// at most max_leechers_with_faults leechers, so that the two ranges never meet.
inline constexpr std::size_t max_seeds = 8;
inline constexpr std::size_t max_leechers = 60000;
inline constexpr std::size_t max_leechers_with_faults = 200 * 256 - 10;
std::array<std::uint8_t, 4> seed_address(std::size_t s);
std::array<std::uint8_t, 4> leecher_address(std::size_t i);
/// "127.0.0.10"
std::string to_string(const std::array<std::uint8_t, 4>& ip);

}  // namespace p2pdist::loopback
