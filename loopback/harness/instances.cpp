#include "loopback/harness/instances.hpp"

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <memory>
#include <system_error>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>

#include "loopback/net/delay_line.hpp"
#include "loopback/storage/generated_storage.hpp"
#include "loopback/storage/storage.hpp"

#include <sys/resource.h>

namespace p2pdist::loopback {

namespace {

double per_leecher(const std::vector<double>& values, std::size_t i) {
  return values.size() == 1 ? values.front() : values[i];
}

}  // namespace

void set_counters(leecher_result& r, const bt::client_stats& s) {
  r.bytes_up = s.payload_up_bytes;
  r.bytes_down = s.payload_down_bytes;
  r.wire_bytes_up = s.wire_up_bytes;
  r.wire_bytes_down = s.wire_down_bytes;
  r.hash_failures = s.hash_failures;
}

void add_to_report(fault_report& r, const bt::client_stats& s) {
  r.hash_failures += s.hash_failures;
  r.bans += s.peers_banned;
  r.snubs += s.snubs;
  r.protocol_drops += s.protocol_drops;
  r.handshake_timeouts += s.handshake_timeouts;
  r.wasted_bytes += s.wasted_bytes + s.hash_failed_bytes;
}

std::vector<std::byte> read_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    // A directory: its files laid end to end, in the order a multi-file torrent lists them.
    std::uint64_t total = 0;
    const auto files = bt::list_directory(path);
    for (const auto& f : files) total += f.length;
    std::vector<std::byte> data;
    data.reserve(static_cast<std::size_t>(total));
    for (const auto& f : files) {
      auto file = path;
      for (const auto& c : f.path) file /= c;
      const auto part = read_file(file);
      if (part.size() != f.length)
        throw std::system_error(EIO, std::generic_category(), file.string() + ": changed while read");
      data.insert(data.end(), part.begin(), part.end());
    }
    return data;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::system_error(errno, std::generic_category(), path.string());
  std::vector<std::byte> data(std::filesystem::file_size(path));
  in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!in) throw std::system_error(EIO, std::generic_category(), path.string() + ": short read");
  return data;
}

std::optional<std::uint64_t> shared_bytes(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    const auto size = std::filesystem::file_size(path, ec);
    return ec ? std::nullopt : std::optional<std::uint64_t>(size);
  }
  try {
    std::uint64_t total = 0;
    for (const auto& f : bt::list_directory(path)) total += f.length;
    return total;
  } catch (const std::system_error&) {
    return std::nullopt;
  }
}

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::uint64_t peak_rss_bytes() {
  // VmHWM: this program's own high-water mark. getrusage's ru_maxrss also keeps the peak of
  // the image exec replaced, so a swarm started from a large parent (a Python campaign
  // worker: fork, then exec) would report the parent's size.
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      try {
        return static_cast<std::uint64_t>(std::stoull(line.substr(6))) * 1024;  // kB
      } catch (const std::exception&) {
        break;
      }
    }
  }
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<std::uint64_t>(u.ru_maxrss) * 1024;  // Linux: kilobytes
}

std::shared_ptr<const bt::metainfo> swarm_torrent(const swarm_config& config, std::span<const std::byte> data,
                                                  std::uint64_t file_bytes, const std::string& announce) {
  bt::create_options options{.announce = announce, .name = "swarm.bin", .piece_bytes = config.piece_bytes};
  std::error_code ec;
  if (config.file && std::filesystem::is_directory(*config.file, ec)) {
    // A directory shared as a multi-file torrent, as make-torrent would make it.
    options.name = bt::directory_name(*config.file);
    for (auto& f : bt::list_directory(*config.file)) options.files.push_back({.path = std::move(f.path), .length = f.length});
  }
  const std::string torrent_bytes =
      data.empty() ? bt::create_torrent_from(
                         file_bytes,
                         [seed = config.data_seed](std::uint64_t offset, std::span<std::byte> out) {
                           bt::generated_storage::fill(seed, offset, out);
                         },
                         options)
                   : bt::create_torrent(data, options);
  auto parsed = bt::parse_metainfo(torrent_bytes);
  if (!parsed) throw std::logic_error("harness: the torrent it made does not parse");
  return std::make_shared<const bt::metainfo>(std::move(*parsed));
}

swarm_plan::swarm_plan(const swarm_config& config, std::shared_ptr<const bt::metainfo> torrent, std::size_t max_peers)
    : config_(config),
      torrent_(std::move(torrent)),
      max_peers_(max_peers),
      choker_(bt::scaled(config.choker, config.time_scale)),
      timeouts_(scaled_timeouts_for(config)) {
  // Per-leecher round trips: one table for all instances, by address (seeds and the tracker
  // are not in it: zero).
  if (!config.leecher_rtt.empty()) {
    auto table = std::make_shared<std::unordered_map<bt::ip_address, bt::duration>>();
    for (std::size_t i = 0; i < config.leechers; ++i) (*table)[leecher_address(i)] = config.leecher_rtt[i];
    leecher_rtt_ = std::move(table);
  }
}

std::size_t swarm_plan::seed_max_peers() const noexcept {
  return p2p() ? max_peers_ : std::max(max_peers_, config_.leechers + fault_peer_count(config_.faults) + 8);
}

bt::client_config swarm_plan::common(std::uint64_t rng_seed) const {
  return bt::client_config{.torrent = torrent_,
                           .upload_order = config_.upload_order,
                           .choker = choker_,
                           .picker = config_.picker,
                           .max_peers = max_peers_,
                           .rng_seed = rng_seed,
                           .handshake_timeout = timeouts_.handshake,
                           .evict_silent_after = timeouts_.evict_silent,
                           .request_timeout = timeouts_.request,
                           .have_batch_interval = config_.have_batch_interval,
                           .fast_extension = config_.fast_extension,
                           .numwant = static_cast<int>(max_peers_)};
}

void swarm_plan::add_path(bt::client_config& c) const {
  c.jitter = config_.jitter;
  if (leecher_rtt_) {
    // One round trip per leecher: a connection's is the sum of its ends' (a seed's and the
    // tracker's are zero).
    const auto of = [access = leecher_rtt_](const bt::ip_address& ip) {
      const auto it = access->find(ip);
      return it == access->end() ? bt::duration::zero() : it->second;
    };
    c.path = [own = of(c.address), of](const bt::ip_address& remote) {
      const auto one_way = (own + of(remote)) / 2;
      return bt::path_delay{.inbound = one_way, .outbound = one_way};
    };
    return;
  }
  if (config_.rtt_max <= bt::duration::zero()) return;
  c.path = [own = c.address, seed = config_.rng_seed, lo = config_.rtt_min,
            hi = config_.rtt_max](const bt::ip_address& remote) {
    const auto one_way = bt::pair_one_way_delay(seed, own, remote, lo, hi);
    return bt::path_delay{.inbound = one_way, .outbound = one_way};
  };
}

bt::client_config swarm_plan::seed(std::size_t s, std::uint64_t rng_seed) const {
  auto c = common(rng_seed);
  c.address = seed_address(s);
  add_path(c);
  c.initial = bt::initial_data::assume_complete;
  c.upload_bytes_per_s = config_.server_up_bytes_per_s;
  c.max_peers = seed_max_peers();
  // Client-server: the server streams to every client at once (r = min(u_s/N, d_min)).
  if (!p2p()) c.choker.regular_slots = std::max<int>(choker_.regular_slots, static_cast<int>(config_.leechers));
  // In p2p mode with several leechers the seeds follow config.seed_policy (super-seeding by
  // default: each piece leaves a seed once before any leaves it twice, as the bound's
  // schedule has it; with a full bitfield, rarest-first fetches some pieces from the seed
  // twice, about a third of its upload at N = 8). Client-server mode keeps the bitfield.
  if (p2p() && config_.leechers > 1) c.picker.seeding = config_.seed_policy;
  return c;
}

bt::client_config swarm_plan::leecher(std::size_t i, std::uint64_t rng_seed, bt::initial_data initial) const {
  auto c = common(rng_seed);
  c.address = leecher_address(i);
  add_path(c);
  c.initial = initial;
  c.upload_bytes_per_s = per_leecher(config_.peer_up_bytes_per_s, i);
  c.download_bytes_per_s = per_leecher(config_.peer_down_bytes_per_s, i);
  c.upload = p2p();
  c.connect_to_leechers = p2p();
  c.seed_when_complete = config_.after == after_complete::stay;
  return c;
}

}  // namespace p2pdist::loopback
