#include "cli/flags.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <system_error>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "model/units.hpp"

namespace p2pdist::cli {

double parse_flag(const std::string& flag, const std::string& text, double (*parse)(std::string_view)) {
  try {
    return parse(text);
  } catch (const model::unit_error& e) {
    throw usage_error(flag + ": " + e.what());
  }
}

std::vector<double> parse_flag_list(const std::string& flag, const std::string& text,
                                    double (*parse)(std::string_view)) {
  try {
    return model::parse_list(text, parse);
  } catch (const model::unit_error& e) {
    throw usage_error(flag + ": " + e.what());
  }
}

std::size_t parse_count(const std::string& flag, const std::string& text) {
  std::size_t v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range)
    throw usage_error(flag + ": '" + text + "' is too large (at most " +
                      std::to_string(std::numeric_limits<std::size_t>::max()) + ")");
  if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty())
    throw usage_error(flag + ": '" + text + "' is not a whole number");
  return v;
}

std::size_t parse_peer_count(const std::string& flag, const std::string& text) {
  const auto v = parse_count(flag, text);
  if (v < 1) throw usage_error(flag + ": must be at least 1 (got " + text + ")");
  return v;
}

double positive(const std::string& flag, double v) {
  if (!(v > 0)) throw usage_error(flag + ": must be above zero");
  return v;
}

double duration_or_zero(const std::string& flag, const std::string& text) {
  return text == "0" ? 0.0 : parse_flag(flag, text, model::parse_duration_seconds);
}

double delay_seconds(const std::string& flag, const std::string& text) {
  const double s = duration_or_zero(flag, text);
  if (!(s <= 10)) throw usage_error(flag + ": at most 10s (got " + text + ")");
  return s;
}

double limit_bytes_per_s(const std::string& flag, const std::string& text) {
  const double bps = parse_flag(flag, text, model::parse_rate_or_unlimited_bps);
  if (std::isinf(bps)) return 0;
  if (!(bps >= 8)) throw usage_error(flag + ": '" + text + "' is below one byte per second; give a rate such as 2MB/s, or 'unlimited'");
  return bps / 8;
}

std::uint32_t piece_size_bytes(const std::string& text, double min_bytes) {
  const double bytes = parse_flag("--piece-size", text, model::parse_size_bits) / 8;
  if (bytes != std::floor(bytes) || bytes < min_bytes || bytes > (1u << 30))
    throw usage_error("--piece-size: '" + text + "' is not a whole number of bytes up to 1GiB");
  return static_cast<std::uint32_t>(bytes);
}

void add_json_option(CLI::App& app, std::string& path) {
  app.add_option("--json", path, "write JSON to FILE ('-' for stdout)");
}

void swarm_flags::add_to(CLI::App& app, bool lists) {
  app.add_option("-N,--peers", n, "number of peers (leechers) N")->capture_default_str();
  app.add_option("--file-size", file_size, "file size F, e.g. 15Gbit, 2GB, 32MiB")->capture_default_str();
  app.add_option("--server-up", server_up, "server upload u_s, e.g. 30Mbps, 2MB/s")->capture_default_str();
  app.add_option("--peer-up", peer_up,
                 lists ? "peer upload u_i: one rate, or N comma-separated rates" : "peer upload u")
      ->capture_default_str();
  app.add_option("--peer-down", peer_down,
                 lists ? "peer download d_i: one rate, or N comma-separated rates; 'unlimited' allowed"
                       : "peer download d_min; 'unlimited' allowed")
      ->capture_default_str();
}

std::size_t swarm_flags::peer_count() const { return parse_peer_count("-N", n); }

double swarm_flags::file_bits() const {
  return positive("--file-size", parse_flag("--file-size", file_size, model::parse_size_bits));
}

double swarm_flags::server_up_bps() const {
  return positive("--server-up", parse_flag("--server-up", server_up, model::parse_rate_bps));
}

}  // namespace p2pdist::cli
