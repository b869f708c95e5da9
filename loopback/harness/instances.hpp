#pragma once
// The swarm's instances as the harness configures them — the torrent it shares, each
// seed's and each leecher's client settings — in one place, for both engines: the real
// swarm (harness.cpp) builds a bt::client from them, the simulated one (simulate.cpp) a
// session from the very same settings (bt::session_config_for). A simulated peer is
// therefore the real peer's configuration, not a copy of it kept in step by hand.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "loopback/harness/harness.hpp"
#include "loopback/net/client.hpp"
#include "loopback/protocol/metainfo.hpp"

namespace p2pdist::loopback {

/// The file's bytes (a directory: its files' bytes end to end, in bt::list_directory's
/// order); std::system_error naming the path when it cannot be read whole.
std::vector<std::byte> read_file(const std::filesystem::path& path);
/// The size of what read_file(path) reads (a directory: its files' sizes added), or nullopt
/// when it cannot be listed.
std::optional<std::uint64_t> shared_bytes(const std::filesystem::path& path);
/// User + system CPU time of this process so far, in seconds.
double process_cpu_seconds();
/// The program's peak resident set size so far, in bytes (since its exec: VmHWM).
std::uint64_t peak_rss_bytes();

/// A leecher's byte counters and hash failures from its session's stats.
void set_counters(leecher_result& r, const bt::client_stats& s);
/// Adds an instance's fault counters (hash failures, bans, snubs, protocol drops, handshake
/// timeouts, wasted bytes) to the run's report.
void add_to_report(fault_report& r, const bt::client_stats& s);

/// The torrent of a swarm: `data`'s pieces (multi-file when config.file is a directory), or with generated content (data empty) the
/// pieces of the bytes made from config.data_seed, `file_bytes` long; announcing to
/// `announce`. std::logic_error if the torrent made does not parse back.
std::shared_ptr<const bt::metainfo> swarm_torrent(const swarm_config& config, std::span<const std::byte> data,
                                                  std::uint64_t file_bytes, const std::string& announce);

/// The settings of every instance of a swarm, for a torrent and a connection limit. The
/// returned client_configs have no storage (the engine gives each its own).
class swarm_plan {
 public:
  swarm_plan(const swarm_config& config, std::shared_ptr<const bt::metainfo> torrent, std::size_t max_peers);

  [[nodiscard]] bool p2p() const noexcept { return config_.mode == swarm_mode::p2p; }
  /// The choker every instance runs (the config's, time-scaled).
  [[nodiscard]] const bt::choker_config& choker() const noexcept { return choker_; }
  [[nodiscard]] std::size_t max_peers() const noexcept { return max_peers_; }
  /// A seed's connection limit: max_peers in p2p mode; in client-server mode every client
  /// and adversary, with a margin (the model's server streams to all N at once).
  [[nodiscard]] std::size_t seed_max_peers() const noexcept;
  /// Seed s: starts complete, uploads at server_up, standard bitfield in client-server
  /// mode, config.seed_policy in p2p mode with several leechers.
  [[nodiscard]] bt::client_config seed(std::size_t s, std::uint64_t rng_seed) const;
  /// Leecher i: its rates, uploading and dialing other leechers only in p2p mode, leaving
  /// or staying when complete as config.after says.
  [[nodiscard]] bt::client_config leecher(std::size_t i, std::uint64_t rng_seed, bt::initial_data initial) const;

 private:
  /// What seeds and leechers share: torrent, choker, picker, limits, timeouts.
  [[nodiscard]] bt::client_config common(std::uint64_t rng_seed) const;
  /// The emulated path (config.rtt_min/max or leecher_rtt, jitter) of an instance at c.address.
  void add_path(bt::client_config& c) const;

  const swarm_config& config_;
  std::shared_ptr<const bt::metainfo> torrent_;
  std::size_t max_peers_;
  bt::choker_config choker_;
  scaled_timeouts timeouts_;
  /// config.leecher_rtt by leecher address (null without it), shared by every instance's path.
  std::shared_ptr<const std::unordered_map<bt::ip_address, bt::duration>> leecher_rtt_;
};

}  // namespace p2pdist::loopback
