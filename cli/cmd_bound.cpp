// `p2pdist bound` and `p2pdist demo`: the bounds for one swarm, or the textbook's table.

#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "cli/output.hpp"
#include "model/bounds.hpp"
#include "model/chunked.hpp"
#include "model/export_json.hpp"
#include "model/latency_bound.hpp"
#include "model/piece_bound.hpp"
#include "model/schedule.hpp"
#include "model/units.hpp"

namespace p2pdist::cli {

namespace {

using model::format_bps;
using model::format_seconds;

// One value for every peer, or exactly N values.
std::vector<double> per_peer(const std::vector<double>& v, std::size_t n, const char* flag) {
  if (v.size() == 1) return std::vector<double>(n, v.front());
  if (v.size() != n) {
    throw usage_error(std::string(flag) + ": " + std::to_string(v.size()) +
                      " values given, but N is " + std::to_string(n) +
                      " (give one value for all peers or N values)");
  }
  return v;
}

std::string term_cell(double seconds) { return seconds > 0 ? format_seconds(seconds) : "-"; }

void print_bound_table(const model::swarm_params& p) {
  const auto cs = model::client_server_bound(p);
  const auto pp = model::p2p_bound(p);
  std::printf("N = %zu peers, F = %s, u_s = %s, d_min = %s, sum of u_i = %s\n\n", p.n,
              model::format_bits(p.file_bits).c_str(), format_bps(p.server_up_bps).c_str(),
              format_bps(p.d_min_bps()).c_str(), format_bps(p.sum_peer_up_bps()).c_str());
  std::printf("%-14s %-24s %-18s %-24s %-24s %s\n", "architecture", "lower bound", "binding term",
              "server upload term", "slowest download term", "aggregate upload term");
  std::printf("%-14s %-24s %-18s %-24s %-24s %s\n", "client-server", format_seconds(cs.seconds).c_str(),
              std::string(to_string(cs.binding)).c_str(), term_cell(cs.server_upload_seconds).c_str(),
              term_cell(cs.slowest_download_seconds).c_str(), "-");
  std::printf("%-14s %-24s %-18s %-24s %-24s %s\n", "p2p", format_seconds(pp.seconds).c_str(),
              std::string(to_string(pp.binding)).c_str(), term_cell(pp.server_upload_seconds).c_str(),
              term_cell(pp.slowest_download_seconds).c_str(), term_cell(pp.aggregate_upload_seconds).c_str());
}

// The piece bound of both modes, and what it means, under the bound table.
void print_piece_bound(const model::swarm_params& p, double piece_bits, const model::piece_bound_result& cs,
                       const model::piece_bound_result& pp) {
  std::printf("\npiece bound, %llu pieces of %s (a piece is passed on only once received whole):\n",
              static_cast<unsigned long long>(pp.pieces), model::format_bits(piece_bits).c_str());
  std::printf("  client-server  %-24s (pieces cost nothing when nobody passes them on)\n",
              format_seconds(cs.seconds).c_str());
  std::printf("  p2p            %-24s binding %s; %.4f x the fluid bound\n", format_seconds(pp.seconds).c_str(),
              std::string(to_string(pp.binding)).c_str(), pp.seconds / pp.fluid_seconds);
  if (pp.round_schedule_seconds)
    std::printf("  the round schedule for equal peers (%llu + floor(log2 %zu) rounds) takes %s: achievable, not a bound\n",
                static_cast<unsigned long long>(pp.pieces), p.n, format_seconds(*pp.round_schedule_seconds).c_str());
  std::printf("  read a measured swarm against the piece bound: no schedule of whole pieces beats it\n");
}

// The latency bound of both modes under the piece bound.
void print_latency_bound(const model::latency_bound_result& cs, const model::latency_bound_result& pp, double cs_fluid,
                         double p2p_fluid) {
  std::printf("\nlatency bound, every round trip at least %s (BitTorrent over TCP: the first block leaves the\n"
              "server after the tracker, the connection and a request; a piece is passed on a round trip after\n"
              "it is held):\n",
              format_seconds(pp.rtt_seconds).c_str());
  std::printf("  client-server  %-24s binding %s; %.4f x the fluid bound (clients dial the server they know)\n",
              format_seconds(cs.seconds).c_str(), std::string(to_string(cs.binding)).c_str(),
              cs.seconds / cs_fluid);
  std::printf("  p2p            %-24s binding %s; %.4f x the fluid bound (peers found through a tracker)\n",
              format_seconds(pp.seconds).c_str(), std::string(to_string(pp.binding)).c_str(),
              pp.seconds / p2p_fluid);
}

void print_schedule(const char* title, const model::schedule& s) {
  constexpr std::size_t shown = 20;
  std::printf("\n%s schedule (%s): every peer completes at %s; the server sends %s in all\n", title,
              std::string(to_string(s.kind)).c_str(), format_seconds(s.seconds).c_str(),
              format_bps(s.server_send_bps()).c_str());
  std::printf("  %-6s %-14s %-14s %-14s %s\n", "peer", "from server", "from peers", "receives", "uploads");
  for (std::size_t i = 0; i < s.n() && i < shown; ++i) {
    const double in = s.peer_receive_bps(i);
    std::printf("  %-6zu %-14s %-14s %-14s %s\n", i + 1, format_bps(s.server_to_peer[i]).c_str(),
                format_bps(in - s.server_to_peer[i]).c_str(), format_bps(in).c_str(),
                format_bps(s.peer_send_bps(i)).c_str());
  }
  if (s.n() > shown) std::printf("  ... %zu more peers (--json FILE lists them all)\n", s.n() - shown);
}

/// bound's command line: the options CLI11 fills in directly, and the texts to parse.
struct bound_input {
  bound_options opts;
  swarm_flags swarm;
  std::vector<std::string> chunks;
  std::string piece_size = "256KiB";
  std::string rtt;

  /// `opts` with the texts parsed; a usage_error names the flag at fault.
  [[nodiscard]] bound_options parsed() const {
    bound_options o = opts;
    o.n = swarm.peer_count();
    o.file_bits = swarm.file_bits();
    o.server_up_bps = swarm.server_up_bps();
    o.peer_up_bps = parse_flag_list("--peer-up", swarm.peer_up, model::parse_rate_bps);
    o.peer_down_bps = parse_flag_list("--peer-down", swarm.peer_down, model::parse_rate_or_unlimited_bps);
    for (double d : o.peer_down_bps) positive("--peer-down", d);
    o.piece_bits = parse_flag("--piece-size", piece_size, model::parse_size_bits);
    if (!(o.piece_bits > 0) || !std::isfinite(o.piece_bits)) throw usage_error("--piece-size: must be above zero");
    if (!rtt.empty()) o.rtt_seconds = duration_or_zero("--rtt", rtt);
    for (const auto& c : chunks) {
      const auto m = parse_count("--chunks", c);
      if (m < 1) throw usage_error("--chunks: must be at least 1");
      o.chunks.push_back(m);
    }
    return o;
  }
};

/// demo's command line.
struct demo_input {
  demo_options opts;
  bool no_swarm = false;

  [[nodiscard]] demo_options parsed() const {
    demo_options o = opts;
    o.swarm = !no_swarm;
    return o;
  }
};

}  // namespace

int run_bound(const bound_options& o) {
  if (o.n < 1) throw usage_error("-N: must be at least 1");
  // Per-peer lists are N long and a schedule holds N x N rates: bound them before allocating.
  if (o.n > 10'000'000) throw usage_error("-N: at most 10000000 peers (got " + std::to_string(o.n) + "; sweep takes larger N)");
  if (o.schedule && o.n > 1000)
    throw usage_error("--schedule: at most 1000 peers, as a schedule holds N x N rates (got N = " + std::to_string(o.n) + ")");
  model::swarm_params p{.n = o.n,
                        .file_bits = o.file_bits,
                        .server_up_bps = o.server_up_bps,
                        .peer_up_bps = per_peer(o.peer_up_bps, o.n, "--peer-up"),
                        .peer_down_bps = per_peer(o.peer_down_bps, o.n, "--peer-down")};
  try {
    model::validate(p);
  } catch (const std::invalid_argument& e) {
    throw usage_error(e.what());
  }

  auto doc = model::bound_document(p);
  const bool to_stdout = o.json_path == "-";
  if (!to_stdout) print_bound_table(p);
  const auto cs_pieces = model::piece_bound(p, o.piece_bits, model::distribution_mode::client_server);
  const auto p2p_pieces = model::piece_bound(p, o.piece_bits, model::distribution_mode::p2p);
  doc["client_server"]["piece_bound"] = model::to_json(cs_pieces, o.piece_bits);
  doc["p2p"]["piece_bound"] = model::to_json(p2p_pieces, o.piece_bits);
  if (!to_stdout) print_piece_bound(p, o.piece_bits, cs_pieces, p2p_pieces);
  if (o.rtt_seconds) {
    using model::distribution_mode;
    const auto cs_latency = model::latency_bound(p, o.piece_bits, distribution_mode::client_server, *o.rtt_seconds,
                                                 model::discovery_for(distribution_mode::client_server));
    const auto p2p_latency = model::latency_bound(p, o.piece_bits, distribution_mode::p2p, *o.rtt_seconds,
                                                  model::discovery_for(distribution_mode::p2p));
    doc["client_server"]["latency_bound"] = model::to_json(cs_latency);
    doc["p2p"]["latency_bound"] = model::to_json(p2p_latency);
    if (!to_stdout) print_latency_bound(cs_latency, p2p_latency, cs_pieces.fluid_seconds, p2p_pieces.fluid_seconds);
  }

  if (!o.chunks.empty()) {
    auto chunked = nlohmann::json::array();
    for (auto m : o.chunks) {
      if (m < 1) throw usage_error("--chunks: must be at least 1");
      const auto c = model::chunked_bound(p, m);
      chunked.push_back(model::to_json(c, m));
      if (to_stdout) continue;
      if (c.closed_form) {
        std::printf("\nchunked, M = %llu: %llu rounds of F/(M*u): %s (fluid %s)\n",
                    static_cast<unsigned long long>(m), static_cast<unsigned long long>(*c.rounds),
                    format_seconds(c.seconds).c_str(), format_seconds(c.fluid_seconds).c_str());
      } else {
        std::printf("\nchunked, M = %llu: %s: %s\n", static_cast<unsigned long long>(m), c.note.c_str(),
                    format_seconds(c.seconds).c_str());
      }
    }
    doc["chunked"] = chunked;
  }
  if (o.schedule) {
    const auto cs = model::client_server_schedule(p);
    const auto pp = model::p2p_schedule(p);
    doc["client_server"]["schedule"] = model::to_json(cs);
    doc["p2p"]["schedule"] = model::to_json(pp);
    if (!to_stdout) {
      print_schedule("client-server", cs);
      print_schedule("p2p", pp);
    }
  }
  if (!o.json_path.empty()) write_json(o.json_path, doc);
  return 0;
}

int run_demo(const demo_options& o) {
  // Kurose & Ross, chapter 2, problem "P2P vs client-server": F = 15 Gbit, u_s = 30 Mbps,
  // d_i = 2 Mbps, N in {10, 100, 1000}, u in {300 kbps, 700 kbps, 2 Mbps}.
  const double file_bits = 15e9, server_up = 30e6, down = 2e6;
  const std::size_t ns[] = {10, 100, 1000};
  const double ups[] = {300e3, 700e3, 2e6};
  const bool to_stdout = o.json_path == "-";
  if (!to_stdout) {
    std::printf("Minimum distribution time of a %s file, server upload %s, peer download %s\n\n",
                model::format_bits(file_bits).c_str(), format_bps(server_up).c_str(), format_bps(down).c_str());
    std::printf("%-6s %-10s %-25s %-18s %-25s %s\n", "N", "peer up", "client-server", "binding", "p2p",
                "binding");
  }
  auto rows = nlohmann::json::array();
  for (auto n : ns) {
    for (double u : ups) {
      const auto p = model::swarm_params::homogeneous(n, file_bits, server_up, u, down);
      const auto cs = model::client_server_bound(p);
      const auto pp = model::p2p_bound(p);
      if (!to_stdout) {
        std::printf("%-6zu %-10s %-25s %-18s %-25s %s\n", n, format_bps(u).c_str(),
                    format_seconds(cs.seconds).c_str(), std::string(to_string(cs.binding)).c_str(),
                    format_seconds(pp.seconds).c_str(), std::string(to_string(pp.binding)).c_str());
      }
      rows.push_back(model::bound_document(p));
    }
  }
  if (!o.json_path.empty()) write_json(o.json_path, {{"bounds", rows}});
  if (!o.swarm || to_stdout) return 0;

  // A short real swarm on loopback beside the bounds: its measured time against its bound.
  swarm_options s;
  s.leechers = 4;
  s.file_bits = 8.0 * 8 * 1024 * 1024;  // 8 MiB
  s.server_up_bps = 32e6;               // 4 MB/s
  s.peer_up_bps = {16e6};               // 2 MB/s
  s.time_scale = 0.2;
  s.timeout_seconds = 120;
  std::printf("\nA real swarm on loopback: 1 seed and 4 leechers in this process, rates emulated\n"
              "(p2pdist swarm --leechers 4 --file-size 8MiB --server-up 4MB/s --peer-up 2MB/s --time-scale 0.2)\n\n");
  std::fflush(stdout);
  return run_swarm(s);
}

command add_bound_command(CLI::App& parent) {
  auto in = std::make_shared<bound_input>();
  auto* app = parent.add_subcommand("bound", "both lower bounds for one swarm, with the binding term");
  in->swarm.add_to(*app, true);
  app->add_flag("--schedule", in->opts.schedule, "also print the schedules that reach the bounds");
  app->add_option("--chunks", in->chunks, "chunk counts M for the chunked bound (repeatable)");
  app->add_option("--piece-size", in->piece_size, "piece size for the piece bound (store and forward)")
      ->capture_default_str();
  app->add_option("--rtt", in->rtt,
                  "also the latency bound: every path's round trip at least this (e.g. 100ms)");
  add_json_option(*app, in->opts.json_path);
  return {app, [in] { return run_bound(in->parsed()); }};
}

command add_demo_command(CLI::App& parent) {
  auto in = std::make_shared<demo_input>();
  auto* app = parent.add_subcommand("demo", "the main job: the textbook's example as a table");
  add_json_option(*app, in->opts.json_path);
  app->add_flag("--no-swarm", in->no_swarm, "only the bounds, no loopback swarm");
  return {app, [in] { return run_demo(in->parsed()); }};
}

}  // namespace p2pdist::cli
