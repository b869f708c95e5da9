#pragma once
// The flag parsing several subcommands share: flag texts (sizes, rates, durations, counts)
// to numbers, each error a usage_error naming the flag; and the swarm flags `bound` and
// `sweep` both register. Units are those of model/units.hpp (bits, bits/s, seconds).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}

namespace p2pdist::cli {

/// Parses a flag's text with `parse` (a model/units.hpp parser), turning a unit error into
/// a usage error naming the flag.
double parse_flag(const std::string& flag, const std::string& text, double (*parse)(std::string_view));

/// The same for a comma-separated list of values (model::parse_list).
std::vector<double> parse_flag_list(const std::string& flag, const std::string& text,
                                    double (*parse)(std::string_view));

/// A whole number written in digits alone; otherwise a usage error naming the flag.
std::size_t parse_count(const std::string& flag, const std::string& text);

/// A whole number of at least 1 (a number of peers).
std::size_t parse_peer_count(const std::string& flag, const std::string& text);

/// `v` when it is above zero; otherwise a usage error naming the flag.
double positive(const std::string& flag, double v);

/// A duration flag where a bare "0" (no unit) means zero: off, or always the fixed default.
double duration_or_zero(const std::string& flag, const std::string& text);

/// A network-emulation delay flag (--jitter, or seed's and get's --rtt): duration_or_zero,
/// at most 10 s.
double delay_seconds(const std::string& flag, const std::string& text);

/// A peer's rate limit flag (`2MB/s`, `30Mbps`, `unlimited`) in bytes/s, 0 for unlimited.
/// Zero and rates under one byte per second are usage errors.
double limit_bytes_per_s(const std::string& flag, const std::string& text);

/// The --piece-size flag (a size) in bytes: a whole number of bytes from `min_bytes` up to
/// 1 GiB, so that it fits the uint32; the commands check their own, narrower range after.
std::uint32_t piece_size_bytes(const std::string& text, double min_bytes);

/// Registers `--json FILE` on `app`, storing FILE in `path` (empty: no JSON; "-": stdout).
void add_json_option(CLI::App& app, std::string& path);

/// The swarm flags `bound` and `sweep` share, as text until parsed.
struct swarm_flags {
  std::string n = "10";
  std::string file_size = "15Gbit";
  std::string server_up = "30Mbps";
  std::string peer_up = "300kbps";
  std::string peer_down = "2Mbps";

  /// Registers -N, --file-size, --server-up, --peer-up and --peer-down on `app`, which must
  /// not outlive this object. `lists`: the rates may be N comma-separated values (the help
  /// says so).
  void add_to(CLI::App& app, bool lists);

  /// The flags read alike by both commands, parsed (a usage_error names the flag): N at
  /// least 1; F in bits and u_s in bits/s, both above zero. The rates are the caller's.
  [[nodiscard]] std::size_t peer_count() const;
  [[nodiscard]] double file_bits() const;
  [[nodiscard]] double server_up_bps() const;
};

}  // namespace p2pdist::cli
