#include "loopback/harness/harness_json.hpp"

#include "model/export_json.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace p2pdist::loopback {

namespace {

constexpr double unlimited_up_bps = 1e300;  // makes N·F/(u_s + Σu_i) vanish

double bits(double bytes_per_s) { return 8.0 * bytes_per_s; }

nlohmann::json rates(const std::vector<double>& v, std::size_t n) {
  auto out = nlohmann::json::array();
  for (std::size_t i = 0; i < n; ++i) {
    const double r = v.size() == 1 ? v.front() : v[i];
    out.push_back(r == 0 ? nlohmann::json(nullptr) : nlohmann::json(r));
  }
  return out;
}

std::string_view mode_name(swarm_mode m) { return m == swarm_mode::p2p ? "p2p" : "cs"; }
std::string_view after_name(after_complete a) { return a == after_complete::stay ? "stay" : "leave"; }

nlohmann::json optional_number(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// Measured over a bound (any with `seconds`): none without the bound or a finished run.
template <class Bound>
std::optional<double> measured_over(const std::optional<Bound>& b, const swarm_result& r) {
  if (!b || !r.distribution_seconds || b->seconds <= 0) return std::nullopt;
  return *r.distribution_seconds / b->seconds;
}

std::optional<double> ratio(const swarm_config& config, const swarm_result& r) {
  return measured_over(swarm_bound(config, r.file_bytes), r);
}

std::optional<double> ratio_to_piece_bound(const swarm_config& config, const swarm_result& r) {
  return measured_over(swarm_piece_bound(config, r.file_bytes), r);
}

std::optional<double> ratio_to_latency_bound(const swarm_config& config, const swarm_result& r) {
  return measured_over(swarm_latency_bound(config, r.file_bytes), r);
}

nlohmann::json leechers(const swarm_result& r) {
  auto out = nlohmann::json::array();
  for (const auto& l : r.leechers) {
    out.push_back({{"address", l.address},
                   {"completion_seconds", optional_number(l.completion_seconds)},
                   {"first_byte_seconds", optional_number(l.first_byte_seconds)},
                   {"bytes_up", l.bytes_up},
                   {"bytes_down", l.bytes_down},
                   {"wire_bytes_up", l.wire_bytes_up},
                   {"wire_bytes_down", l.wire_bytes_down},
                   {"hash_failures", l.hash_failures},
                   {"data_matches", l.data_matches}});
  }
  return out;
}

nlohmann::json run_figures(const swarm_config& config, const swarm_result& r) {
  nlohmann::json j{{"distribution_seconds", optional_number(r.distribution_seconds)},
                   {"ratio", optional_number(ratio(config, r))},
                   {"ratio_to_piece_bound", optional_number(ratio_to_piece_bound(config, r))},
                   {"ratio_to_latency_bound", optional_number(ratio_to_latency_bound(config, r))},
                   {"first_byte_seconds", optional_number(r.first_byte_seconds)},
                   {"timed_out", r.timed_out},
                   {"data_ok", r.data_ok},
                   {"failure", r.failure},
                   {"seed_bytes_up", r.seed_bytes_up},
                   {"max_peers", r.max_peers},
                   {"cpu_seconds", r.cpu_seconds},
                   {"peak_rss_bytes", r.peak_rss_bytes},
                   {"leechers", leechers(r)}};
  if (!config.faults.empty()) j["faults"] = faults_document(config, r);
  return j;
}

double sort_key(const swarm_result& r) {
  return r.distribution_seconds ? *r.distribution_seconds : std::numeric_limits<double>::infinity();
}

}  // namespace

std::optional<model::swarm_params> model_params(const swarm_config& c, std::uint64_t file_bytes) {
  if (c.server_up_bytes_per_s <= 0) return std::nullopt;
  model::swarm_params p;
  p.n = c.leechers;
  p.file_bits = 8.0 * static_cast<double>(file_bytes);
  p.server_up_bps = bits(c.server_up_bytes_per_s) * static_cast<double>(c.seeds);
  for (std::size_t i = 0; i < c.leechers; ++i) {
    const double up = c.peer_up_bytes_per_s.size() == 1 ? c.peer_up_bytes_per_s.front() : c.peer_up_bytes_per_s[i];
    const double down =
        c.peer_down_bytes_per_s.size() == 1 ? c.peer_down_bytes_per_s.front() : c.peer_down_bytes_per_s[i];
    p.peer_up_bps.push_back(up == 0 ? unlimited_up_bps : bits(up));
    p.peer_down_bps.push_back(down == 0 ? std::numeric_limits<double>::infinity() : bits(down));
  }
  return p;
}

std::optional<model::bound> swarm_bound(const swarm_config& c, std::uint64_t file_bytes) {
  const auto p = model_params(c, file_bytes);
  if (!p) return std::nullopt;
  return c.mode == swarm_mode::p2p ? model::p2p_bound(*p) : model::client_server_bound(*p);
}

std::optional<model::piece_bound_result> swarm_piece_bound(const swarm_config& c, std::uint64_t file_bytes) {
  const auto p = model_params(c, file_bytes);
  if (!p) return std::nullopt;
  const auto mode = c.mode == swarm_mode::p2p ? model::distribution_mode::p2p : model::distribution_mode::client_server;
  return model::piece_bound(*p, 8.0 * c.piece_bytes, mode);
}

std::optional<double> least_rtt_seconds(const swarm_config& c) {
  if (!c.leecher_rtt.empty()) {
    const auto least = *std::min_element(c.leecher_rtt.begin(), c.leecher_rtt.end());
    return std::chrono::duration<double>(least).count();
  }
  if (c.rtt_max <= bt::duration::zero()) return std::nullopt;
  return std::chrono::duration<double>(c.rtt_min).count();
}

std::optional<model::latency_bound_result> swarm_latency_bound(const swarm_config& c, std::uint64_t file_bytes) {
  const auto p = model_params(c, file_bytes);
  const auto rtt = least_rtt_seconds(c);
  if (!p || !rtt) return std::nullopt;
  const auto mode = c.mode == swarm_mode::p2p ? model::distribution_mode::p2p : model::distribution_mode::client_server;
  // With a round trip per leecher the seeds' path to the tracker takes none: a seed may hear
  // of a leecher as soon as its announce arrives, r/2 after the start, and dial it. That is
  // the direct case's first block (2.5r), not the tracker's (3r), whose assumption is a round
  // trip of r on every path, the tracker's included.
  const auto how = c.leecher_rtt.empty() ? model::discovery_for(mode) : model::discovery::direct;
  return model::latency_bound(*p, 8.0 * c.piece_bytes, mode, *rtt, how);
}

nlohmann::json faults_document(const swarm_config& c, const swarm_result& r) {
  const auto& f = r.faults;
  auto spec = nlohmann::json::array();
  for (const auto& s : f.faults) spec.push_back({{"kind", to_string(s.kind)}, {"count", s.count}});
  auto peers = nlohmann::json::array();
  for (const auto& p : f.peers)
    peers.push_back({{"address", p.address},
                     {"kind", to_string(p.kind)},
                     {"connections", p.connections},
                     {"requests", p.requests},
                     {"bytes_sent", p.bytes_sent},
                     {"cut_by_us", p.cut_by_us},
                     {"cut_by_peer", p.cut_by_peer},
                     {"announces", p.announces}});
  auto churn = nlohmann::json::array();
  for (const auto& ch : f.churn)
    churn.push_back({{"address", ch.address},
                     {"leave_at_fraction", ch.leave_at_fraction},
                     {"restarts", ch.restarts},
                     {"left_seconds", optional_number(ch.left_seconds)},
                     {"back_seconds", optional_number(ch.back_seconds)},
                     {"pieces_kept", ch.pieces_kept}});
  const auto b = swarm_bound(c, r.file_bytes);
  std::optional<double> over_bound;
  if (b && r.distribution_seconds) over_bound = *r.distribution_seconds - b->seconds;
  return {{"spec", spec},
          {"hash_failures", f.hash_failures},
          {"bans", f.bans},
          {"snubs", f.snubs},
          {"protocol_drops", f.protocol_drops},
          {"handshake_timeouts", f.handshake_timeouts},
          {"tracker_timeouts", f.tracker_timeouts},
          {"wasted_bytes", f.wasted_bytes},
          {"baseline_seconds", optional_number(f.baseline_seconds)},
          {"time_lost_seconds", optional_number(time_lost_seconds(r))},
          {"over_bound_seconds", optional_number(over_bound)},
          {"peers", peers},
          {"churn", churn}};
}

std::size_t median_run(const std::vector<swarm_result>& runs) {
  std::vector<std::size_t> order(runs.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return sort_key(runs[a]) < sort_key(runs[b]); });
  return order[(order.size() - 1) / 2];
}

nlohmann::json simulation_fields(const simulation_stats& s) {
  return {{"engine", "simulated"},
          {"content", "abstract"},
          {"events", s.events},
          {"wall_seconds", s.wall_seconds},
          {"events_per_second", s.wall_seconds > 0 ? static_cast<double>(s.events) / s.wall_seconds : 0.0},
          {"latency_seconds", s.latency_seconds},
          {"latency_jitter", s.latency_jitter},
          {"memory_estimate_bytes", s.memory_estimate_bytes},
          {"messages", s.messages}};
}

nlohmann::json swarm_document(const swarm_config& c, const swarm_result& r) {
  nlohmann::json j;
  j["engine"] = "loopback";
  j["mode"] = mode_name(c.mode);
  j["N"] = c.leechers;
  j["seeds"] = c.seeds;
  j["file_bytes"] = r.file_bytes;
  j["piece_bytes"] = r.piece_bytes;
  j["server_up_bytes_per_s"] = c.server_up_bytes_per_s == 0 ? nlohmann::json(nullptr) : nlohmann::json(c.server_up_bytes_per_s);
  j["peer_up_bytes_per_s"] = rates(c.peer_up_bytes_per_s, c.leechers);
  j["peer_down_bytes_per_s"] = rates(c.peer_down_bytes_per_s, c.leechers);
  j["after_complete"] = after_name(c.after);
  j["rtt_min_seconds"] = std::chrono::duration<double>(c.rtt_min).count();
  j["rtt_max_seconds"] = std::chrono::duration<double>(c.rtt_max).count();
  j["jitter_seconds"] = std::chrono::duration<double>(c.jitter).count();
  if (!c.leecher_rtt.empty()) {
    auto per = nlohmann::json::array();
    for (const auto rtt : c.leecher_rtt) per.push_back(std::chrono::duration<double>(rtt).count());
    j["rtt_per_leecher_seconds"] = per;
  }
  j["content"] = c.content == swarm_content::generated ? "generated" : "memory";
  j["time_scale"] = c.time_scale;
  j["seed_policy"] = c.seed_policy == bt::initial_seeding::standard ? "standard" : "once-first";
  j["upload_order"] = c.upload_order == bt::upload_policy::fair ? "fair" : "piece-first";
  j["request_queue_seconds"] = std::chrono::duration<double>(c.picker.request_queue_time).count();
  j["have_batch_seconds"] = std::chrono::duration<double>(c.have_batch_interval).count();
  j["fast_extension"] = c.fast_extension;
  const auto scaled = bt::scaled(c.choker, c.time_scale);
  j["pieces_in_flight"] = c.picker.pieces_in_flight;
  j["offer_lookahead_bytes"] = c.picker.offer_lookahead_bytes;
  j["choker"] = {{"regular_slots", scaled.regular_slots},
                 {"idle_extra_slots", scaled.idle_extra_slots},
                 {"rechoke_seconds", std::chrono::duration<double>(scaled.rechoke_interval).count()},
                 {"optimistic_seconds", std::chrono::duration<double>(scaled.optimistic_interval).count()}};
  if (const auto b = swarm_bound(c, r.file_bytes)) {
    j["bound"] = {{"seconds", b->seconds}, {"binding", model::to_string(b->binding)}};
  } else {
    j["bound"] = nullptr;
  }
  const auto pb = swarm_piece_bound(c, r.file_bytes);
  j["piece_bound"] = pb ? model::to_json(*pb, 8.0 * c.piece_bytes) : nlohmann::json(nullptr);
  const auto lb = swarm_latency_bound(c, r.file_bytes);
  j["latency_bound"] = lb ? model::to_json(*lb) : nlohmann::json(nullptr);
  j.update(run_figures(c, r));
  j["timeline"] = {{"seconds", r.timeline_seconds},
                   {"bytes_held", r.timeline_bytes},
                   {"bytes_held_total", r.timeline_total_bytes}};
  return j;
}

nlohmann::json repeat_document(const swarm_config& c, const std::vector<swarm_result>& runs) {
  const std::size_t mid = median_run(runs);
  nlohmann::json j = swarm_document(c, runs[mid]);
  j["repeat"] = runs.size();
  j["median_run"] = mid;
  std::vector<double> times, ratios, piece_ratios, latency_ratios;
  auto all = nlohmann::json::array();
  for (const auto& r : runs) {
    if (r.distribution_seconds) times.push_back(*r.distribution_seconds);
    if (const auto q = ratio(c, r)) ratios.push_back(*q);
    if (const auto q = ratio_to_piece_bound(c, r)) piece_ratios.push_back(*q);
    if (const auto q = ratio_to_latency_bound(c, r)) latency_ratios.push_back(*q);
    all.push_back(run_figures(c, r));
  }
  auto span = [](const std::vector<double>& v) {
    if (v.empty()) return nlohmann::json(nullptr);
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    return nlohmann::json{{"min", *lo}, {"max", *hi}};
  };
  j["spread"] = {{"distribution_seconds", span(times)}, {"ratio", span(ratios)},
                 {"ratio_to_piece_bound", span(piece_ratios)},
                 {"ratio_to_latency_bound", span(latency_ratios)}};
  j["runs"] = all;
  return j;
}

}  // namespace p2pdist::loopback
