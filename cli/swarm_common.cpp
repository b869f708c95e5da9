// What `swarm` and `simulate` share: options, configuration, report (swarm_common.hpp).

#include "cli/swarm_common.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/flags.hpp"
#include "cli/output.hpp"
#include "loopback/harness/faults.hpp"
#include "loopback/harness/harness_json.hpp"
#include "loopback/protocol/metainfo.hpp"
#include "model/units.hpp"

namespace p2pdist::cli {

namespace {

// Bytes per second with an SI prefix, as the flags take them: "4 MB/s", "500 kB/s".
std::string rate_text(double bytes_per_s) {
  if (bytes_per_s == 0) return "unlimited";
  std::string bits = model::format_bps(8 * bytes_per_s);  // "32 Mbps": reuse its prefix logic
  char buf[48];
  const double v = bytes_per_s >= 1e9 ? bytes_per_s / 1e9 : bytes_per_s >= 1e6 ? bytes_per_s / 1e6
                 : bytes_per_s >= 1e3 ? bytes_per_s / 1e3 : bytes_per_s;
  const char* unit = bytes_per_s >= 1e9 ? "GB/s" : bytes_per_s >= 1e6 ? "MB/s" : bytes_per_s >= 1e3 ? "kB/s" : "B/s";
  std::snprintf(buf, sizeof buf, "%.3g %s (%s)", v, unit, bits.c_str());
  return buf;
}

std::string rates_text(const std::vector<double>& v) {
  if (v.size() == 1) return rate_text(v.front());
  return std::to_string(v.size()) + " rates";
}

std::vector<double> bytes_per_s(const std::vector<double>& bps) {
  std::vector<double> out;
  for (double r : bps) out.push_back(std::isinf(r) ? 0.0 : r / 8.0);
  return out;
}

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(std::llround(seconds * 1000.0)));
}

/// The harness's choices named by --mode, --after-complete, --seed-policy and --upload-order;
/// a usage_error names the flag and the accepted values.
void set_choices(const swarm_options& o, loopback::swarm_config& c) {
  if (o.mode == "p2p") c.mode = loopback::swarm_mode::p2p;
  else if (o.mode == "cs") c.mode = loopback::swarm_mode::cs;
  else throw usage_error("--mode: '" + o.mode + "' is not a mode (use p2p or cs)");
  if (o.after_complete == "stay") c.after = loopback::after_complete::stay;
  else if (o.after_complete == "leave") c.after = loopback::after_complete::leave;
  else throw usage_error("--after-complete: '" + o.after_complete + "' (use stay or leave)");
  if (o.seed_policy == "once-first") c.seed_policy = bt::initial_seeding::each_piece_once_first;
  else if (o.seed_policy == "standard") c.seed_policy = bt::initial_seeding::standard;
  else throw usage_error("--seed-policy: '" + o.seed_policy + "' (use once-first or standard)");
  if (o.content == "memory") c.content = loopback::swarm_content::memory;
  else if (o.content == "generated") c.content = loopback::swarm_content::generated;
  else throw usage_error("--content: '" + o.content + "' (use memory or generated)");
  if (c.content == loopback::swarm_content::generated && !o.file.empty())
    throw usage_error("--content generated: the bytes are made by the harness; it cannot share --file");
  if (o.upload_order == "piece-first") c.upload_order = bt::upload_policy::piece_first;
  else if (o.upload_order == "fair") c.upload_order = bt::upload_policy::fair;
  else throw usage_error("--upload-order: '" + o.upload_order + "' (use piece-first or fair)");
}

/// The ranges of the numeric options, checked before anything is allocated or started; a
/// usage_error names the flag and its range.
void check_ranges(const swarm_options& o, engine e) {
  if (o.slots < 0) throw usage_error("--slots: must be zero or more");
  // Bounded so that the intervals, scaled by --time-scale, fit bt::duration (nanoseconds).
  if (!(o.rechoke_seconds > 0 && o.rechoke_seconds <= 86400)) throw usage_error("--rechoke: must be above zero and at most 1 day");
  if (!(o.optimistic_seconds > 0 && o.optimistic_seconds <= 86400))
    throw usage_error("--optimistic: must be above zero and at most 1 day");
  if (!(o.timeout_seconds > 0 && o.timeout_seconds <= 604800)) throw usage_error("--timeout: must be above zero and at most 1 week");
  if (!(o.time_scale > 0 && o.time_scale <= 1000)) throw usage_error("--time-scale: must be above zero and at most 1000");
  const std::size_t most = e == engine::simulated ? loopback::max_simulated_leechers : loopback::max_leechers;
  if (o.leechers > most)
    throw usage_error("--leechers: at most " + std::to_string(most) + (e == engine::simulated ? "" : " on loopback (simulate goes further)") +
                      " (got " + std::to_string(o.leechers) + ")");
  if (o.seeds > loopback::max_seeds)
    throw usage_error("--seeds: at most " + std::to_string(loopback::max_seeds) + " (got " + std::to_string(o.seeds) + ")");
  if (!bt::is_valid_piece_bytes(o.piece_bytes))
    throw usage_error("--piece-size: " + std::to_string(o.piece_bytes) + " bytes is not a multiple of 16KiB from 16KiB to 64MiB");
  for (const auto& [flag, rates] : {std::pair{"--peer-up", &o.peer_up_bps}, std::pair{"--peer-down", &o.peer_down_bps}}) {
    if (rates->size() != 1 && rates->size() != o.leechers)
      throw usage_error(std::string(flag) + ": " + std::to_string(rates->size()) + " rates given, but --leechers is " +
                        std::to_string(o.leechers) + " (give one rate for all or one per leecher)");
  }
  if (o.repeat < 1) throw usage_error("--repeat: must be at least 1");
  if (!o.rtt_per_leecher_seconds.empty() && o.rtt_per_leecher_seconds.size() != o.leechers)
    throw usage_error("--rtt: " + std::to_string(o.rtt_per_leecher_seconds.size()) + " round trips given, but --leechers is " +
                      std::to_string(o.leechers) + " (give one value, a range A..B, or one per leecher)");
  if (!(o.request_queue_seconds >= 0 && o.request_queue_seconds <= 10))
    throw usage_error("--request-queue: must be from 0 to 10s");
  if (!(o.have_batch_seconds >= 0 && o.have_batch_seconds <= 60))
    throw usage_error("--have-batch: must be from 0 to 60s");
  if (o.idle_extra_slots > 64) throw usage_error("--idle-extra-slots: must be from 0 to 64");
  if (o.pieces_in_flight < 1 || o.pieces_in_flight > 64) throw usage_error("--pieces-in-flight: must be from 1 to 64");
  if (o.offer_lookahead_bytes > 64ull * 1024 * 1024) throw usage_error("--offer-lookahead: must be from 0 to 64MiB");
}

/// --rtt: "T" (each connection's round trip drawn within T +- 50 %, uniformly) or "A..B"
/// (drawn within [A, B]; A..A for exactly A); "0": none. Returns the range in seconds.
std::pair<double, double> parse_rtt(const std::string& text) {
  const auto dots = text.find("..");
  double lo = 0, hi = 0;
  if (dots == std::string::npos) {
    const double t = delay_seconds("--rtt", text);
    lo = t / 2;
    hi = 1.5 * t;
  } else {
    lo = delay_seconds("--rtt", text.substr(0, dots));
    hi = delay_seconds("--rtt", text.substr(dots + 2));
    if (!(lo <= hi)) throw usage_error("--rtt: the range " + text + " runs backwards (give A..B with A <= B)");
  }
  return {lo, hi};
}

// Each leecher's line, up to 32 of them; beyond, the spread of their completion times.
void print_leechers(const loopback::swarm_result& r) {
  if (r.leechers.size() <= 32) {
    std::printf("%-16s %-14s %-14s %s\n", "leecher", "completion", "uploaded", "downloaded");
    for (const auto& l : r.leechers) {
      char done[32] = "-";
      if (l.completion_seconds) std::snprintf(done, sizeof done, "%.2f s", *l.completion_seconds);
      std::printf("%-16s %-14s %-14s %s%s\n", l.address.c_str(), done, mib(l.bytes_up).c_str(),
                  mib(l.bytes_down).c_str(), l.completion_seconds && !l.data_matches ? "  DATA DIFFERS" : "");
    }
    return;
  }
  std::vector<double> done;
  std::uint64_t up = 0, down = 0;
  std::string differs;
  for (const auto& l : r.leechers) {
    if (l.completion_seconds) done.push_back(*l.completion_seconds);
    if (l.completion_seconds && !l.data_matches) differs += (differs.empty() ? "" : ", ") + l.address;
    up += l.bytes_up;
    down += l.bytes_down;
  }
  std::sort(done.begin(), done.end());
  std::printf("leechers            %zu, %zu complete; uploaded %s, downloaded %s in all\n", r.leechers.size(), done.size(),
              mib(up).c_str(), mib(down).c_str());
  if (!differs.empty()) std::printf("DATA DIFFERS        at %s\n", differs.c_str());
  if (done.empty()) return;
  auto at = [&](double q) { return done[static_cast<std::size_t>(q * static_cast<double>(done.size() - 1))]; };
  std::printf("completion          first %.2f s, 10%% %.2f s, median %.2f s, 90%% %.2f s, last %.2f s\n", done.front(),
              at(0.1), at(0.5), at(0.9), done.back());
}

// What the run cost: the process's CPU and memory, and with `sim` the simulation's events.
void print_cost(const loopback::swarm_config& c, const loopback::swarm_result& r, const loopback::simulation_stats* sim) {
  const double delivered_gib = static_cast<double>(r.file_bytes) * static_cast<double>(c.leechers) / (1u << 30);
  std::printf("cost                %.1f CPU-s (%.2f per GiB delivered), peak RSS %s, %zu connections at most %s\n",
              r.cpu_seconds, delivered_gib > 0 ? r.cpu_seconds / delivered_gib : 0.0, mib(r.peak_rss_bytes).c_str(),
              r.max_peers, c.mode == loopback::swarm_mode::p2p ? "an instance" : "a leecher (the server keeps all)");
  if (sim) {
    std::printf("simulation          %llu events in %.2f s wall (%.3g events/s), one-way delay %.0f us +- %.0f %%\n",
                static_cast<unsigned long long>(sim->events), sim->wall_seconds,
                sim->wall_seconds > 0 ? static_cast<double>(sim->events) / sim->wall_seconds : 0.0,
                sim->latency_seconds * 1e6, sim->latency_jitter * 100);
  }
}

}  // namespace

std::string mib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

namespace {

void draw_progress(const loopback::swarm_progress& p) {
  const double frac = p.bytes_total ? static_cast<double>(p.bytes_held) / static_cast<double>(p.bytes_total) : 0.0;
  constexpr int width = 30;
  const int filled = static_cast<int>(frac * width);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r  [%s] %3.0f%%  %zu/%zu leechers done  %6.1f s ", bar.c_str(), frac * 100,
               p.leechers_complete, p.leechers, p.elapsed_seconds);
  std::fflush(stderr);
}

void write_progress_json(const loopback::swarm_progress& p) {
  const nlohmann::json line{{"elapsed_seconds", p.elapsed_seconds}, {"leechers_complete", p.leechers_complete},
                            {"leechers", p.leechers},           {"bytes_total", p.bytes_total},
                            {"bytes_held", p.bytes_held},
                            {"held", p.leecher_held},           {"up", p.leecher_up},
                            {"down", p.leecher_down},           {"seed_up", p.seed_up}};
  const auto text = line.dump() + "\n";
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

progress_reporter progress_of(const swarm_options& o) {
  if (o.progress_json) return {.on_sample = write_progress_json, .bar = false};
  if (stderr_is_terminal()) return {.on_sample = draw_progress, .bar = true};
  return {};
}

void print_table(const loopback::swarm_config& c, const loopback::swarm_result& r, std::size_t run, std::size_t runs,
                 const loopback::simulation_stats* sim) {
  const auto bound = loopback::swarm_bound(c, r.file_bytes);
  if (runs > 1) std::printf("\nrun %zu of %zu\n", run + 1, runs);
  print_leechers(r);
  std::printf("%-16s %-14s %s\n", "seed(s)", "", mib(r.seed_bytes_up).c_str());
  if (r.distribution_seconds) {
    std::printf("distribution time   %.3f s\n", *r.distribution_seconds);
  } else {
    std::printf("distribution time   - (not every leecher finished)\n");
  }
  if (r.first_byte_seconds) std::printf("first byte          %.3f s (the first block to reach any leecher)\n", *r.first_byte_seconds);
  const auto pieces = loopback::swarm_piece_bound(c, r.file_bytes);
  if (bound && pieces) {
    std::printf("bound               %.3f s (%s; the fluid bound)\n", bound->seconds,
                std::string(model::to_string(bound->binding)).c_str());
    std::printf("piece bound         %.3f s (%s; %llu whole pieces, each passed on only once received)\n",
                pieces->seconds, std::string(model::to_string(pieces->binding)).c_str(),
                static_cast<unsigned long long>(pieces->pieces));
    // Over emulated round trips of a millisecond or more the latency bound is the one to read
    // the engine against; under that it differs from the piece bound by microseconds.
    const auto latency = loopback::swarm_latency_bound(c, r.file_bytes);
    const bool show_latency = latency && latency->rtt_seconds >= 1e-3;
    if (show_latency)
      std::printf("latency bound       %.3f s (%s; round trips of at least %.3g ms, the first block leaves the seed at %.3f s at the earliest)\n",
                  latency->seconds, std::string(model::to_string(latency->binding)).c_str(), latency->rtt_seconds * 1e3,
                  latency->first_send_seconds);
    if (r.distribution_seconds) {
      std::printf("measured / bound    %.3f\n", *r.distribution_seconds / bound->seconds);
      if (show_latency) {
        std::printf("measured / piece    %.3f\n", *r.distribution_seconds / pieces->seconds);
        std::printf("measured / latency  %.3f  <- read the engine against this one: no client that speaks the\n"
                    "                           protocol over these round trips beats the latency bound\n",
                    *r.distribution_seconds / latency->seconds);
      } else {
        std::printf("measured / piece    %.3f  <- read the engine against this one: no schedule of whole\n"
                    "                           pieces beats the piece bound\n",
                    *r.distribution_seconds / pieces->seconds);
      }
    }
  } else {
    std::printf("bound               - (the server's upload is unlimited)\n");
  }
  print_cost(c, r, sim);
}

loopback::swarm_config config_of(const swarm_options& o, engine which) {
  loopback::swarm_config c;
  c.leechers = o.leechers;
  c.seeds = o.seeds;
  if (!o.file.empty()) {
    c.file = o.file;
  } else {
    const double bytes = o.file_bits / 8;
    // The swarm holds the file in memory (and every leecher a copy): 64 GiB is far beyond any
    // loopback run, and keeps the cast below defined.
    if (bytes < 1 || bytes != std::floor(bytes) || bytes > 64.0 * 1024 * 1024 * 1024)
      throw usage_error("--file-size: must be a whole number of bytes from 1 byte to 64GiB");
    c.file_bytes = static_cast<std::uint64_t>(bytes);
  }
  c.data_seed = o.data_seed;
  if (o.max_peers > 0) c.max_peers = o.max_peers;
  c.piece_bytes = o.piece_bytes;
  c.server_up_bytes_per_s = std::isinf(o.server_up_bps) ? 0 : o.server_up_bps / 8;
  c.peer_up_bytes_per_s = bytes_per_s(o.peer_up_bps);
  c.peer_down_bytes_per_s = bytes_per_s(o.peer_down_bps);
  set_choices(o, c);
  check_ranges(o, which);
  c.picker.request_queue_time =
      std::chrono::duration_cast<bt::duration>(std::chrono::duration<double>(o.request_queue_seconds));
  c.have_batch_interval = std::chrono::duration_cast<bt::duration>(std::chrono::duration<double>(o.have_batch_seconds));
  c.fast_extension = !o.no_fast_extension;
  c.choker.regular_slots = o.slots;
  c.choker.idle_extra_slots = o.idle_extra_slots;
  c.picker.pieces_in_flight = o.pieces_in_flight;
  c.picker.offer_lookahead_bytes = static_cast<std::uint32_t>(o.offer_lookahead_bytes);
  c.choker.rechoke_interval = std::chrono::duration_cast<bt::duration>(std::chrono::duration<double>(o.rechoke_seconds));
  c.choker.optimistic_interval =
      std::chrono::duration_cast<bt::duration>(std::chrono::duration<double>(o.optimistic_seconds));
  c.time_scale = o.time_scale;
  c.timeout = millis(o.timeout_seconds);
  const auto span = [](double s) { return std::chrono::duration_cast<bt::duration>(std::chrono::duration<double>(s)); };
  c.rtt_min = span(o.rtt_min_seconds);
  c.rtt_max = span(o.rtt_max_seconds);
  c.jitter = span(o.jitter_seconds);
  for (const double r : o.rtt_per_leecher_seconds) c.leecher_rtt.push_back(span(r));
  for (const auto& text : o.faults) {
    try {
      c.faults.push_back(loopback::parse_fault(text));
    } catch (const std::invalid_argument& e) {
      throw usage_error(std::string("--fault: ") + e.what());
    }
  }
  c.rng_seed = o.rng_seed;
  try {
    if (which == engine::simulated)
      loopback::validate_simulation(c);
    else
      loopback::validate(c);
  } catch (const std::invalid_argument& e) {
    throw usage_error(e.what());
  }
  return c;
}

void print_header(const swarm_options& o, const loopback::swarm_config& c, engine e) {
  std::printf("%s: %s, %zu leecher%s, %zu seed%s, F = %s, u_s = %s, u_i = %s, d_i = %s\n", e == engine::simulated ? "simulate" : "swarm", o.mode.c_str(),
              c.leechers, c.leechers == 1 ? "" : "s", c.seeds, c.seeds == 1 ? "" : "s",
              c.file ? c.file->c_str() : mib(c.file_bytes).c_str(), rate_text(c.server_up_bytes_per_s).c_str(),
              rates_text(c.peer_up_bytes_per_s).c_str(), rates_text(c.peer_down_bytes_per_s).c_str());
  // The emulated paths, when longer than a loopback's (simulate's default 100us is not
  // worth a line).
  if (!c.leecher_rtt.empty()) {
    const auto [lo, hi] = std::minmax_element(c.leecher_rtt.begin(), c.leecher_rtt.end());
    std::printf("paths: each leecher's round trip to a seed from %.3g to %.3g ms (between two: the sum)\n",
                std::chrono::duration<double, std::milli>(*lo).count(), std::chrono::duration<double, std::milli>(*hi).count());
  } else if (c.rtt_max > std::chrono::milliseconds(1) || c.jitter > bt::duration::zero()) {
    const auto ms = [](bt::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
    std::printf("paths: each connection's round trip within %.3g..%.3g ms, jitter up to %.3g ms\n", ms(c.rtt_min),
                ms(c.rtt_max), ms(c.jitter));
  }
  std::fflush(stdout);
}

swarm_options swarm_input::parsed(bool file_given) const {
  if (file_given && opts.file.empty()) throw usage_error("--file: an empty path (give the file to share)");
  if (!refused_content.empty())
    throw usage_error("--content: simulate carries no bytes (blocks are sizes, no copy of the file is held); "
                      "--content is swarm's");
  if (which == engine::simulated && !opts.faults.empty())
    throw usage_error("--fault: faults (adversaries, churn) are not simulated; run them with swarm");
  swarm_options o = opts;
  o.leechers = parse_peer_count("--leechers", leechers);
  o.seeds = parse_peer_count("--seeds", seeds);
  o.file_bits = parse_flag("--file-size", file_size, model::parse_size_bits);
  o.piece_bytes = piece_size_bytes(piece_size, 0);
  o.server_up_bps = parse_flag("--server-up", server_up, model::parse_rate_or_unlimited_bps);
  o.peer_up_bps = parse_flag_list("--peer-up", peer_up, model::parse_rate_or_unlimited_bps);
  o.peer_down_bps = parse_flag_list("--peer-down", peer_down, model::parse_rate_or_unlimited_bps);
  // Zero would read as "unlimited" below (a rate of 0 is no limit), so it is refused, with
  // the advice that fits the mode.
  for (double r : o.peer_up_bps)
    if (r == 0)
      throw usage_error(o.mode == "cs" ? "--peer-up: a rate of zero; in --mode cs leechers upload nothing whatever "
                                         "--peer-up says: leave it out"
                                       : "--peer-up: a rate of zero; use --mode cs for leechers that upload nothing");
  for (double r : o.peer_down_bps)
    if (r == 0) throw usage_error("--peer-down: a leecher cannot download at zero");
  if (o.server_up_bps == 0) throw usage_error("--server-up: the seed cannot upload at zero");
  o.rechoke_seconds = parse_flag("--rechoke", rechoke, model::parse_duration_seconds);
  o.request_queue_seconds = duration_or_zero("--request-queue", request_queue);
  o.have_batch_seconds = duration_or_zero("--have-batch", have_batch);
  o.optimistic_seconds = parse_flag("--optimistic", optimistic, model::parse_duration_seconds);
  o.timeout_seconds = parse_flag("--timeout", timeout, model::parse_duration_seconds);
  o.repeat = parse_count("--repeat", repeat);
  static_assert(sizeof(std::size_t) == sizeof(std::uint64_t), "a seed is a whole count");
  o.data_seed = parse_count("--data-seed", data_seed);
  // Bounded here so that the narrowing below is safe; check_ranges gives the ranges.
  o.idle_extra_slots = static_cast<int>(std::min<std::size_t>(parse_count("--idle-extra-slots", idle_extra_slots), 65));
  o.pieces_in_flight = static_cast<std::uint32_t>(std::min<std::size_t>(parse_count("--pieces-in-flight", pieces_in_flight), 65));
  {
    const double bits = parse_flag("--offer-lookahead", offer_lookahead, model::parse_size_bits);
    if (std::fmod(bits, 8) != 0 || bits < 0)
      throw usage_error("--offer-lookahead: '" + offer_lookahead + "' is not a whole number of bytes");
    o.offer_lookahead_bytes = static_cast<std::uint64_t>(std::min(bits / 8, 1e12));
  }
  o.rng_seed = parse_count("--seed", rng_seed);
  // Run k of --repeat takes --seed + k: that must not wrap past the largest seed.
  if (o.repeat > 1 && o.rng_seed > std::numeric_limits<std::uint64_t>::max() - (o.repeat - 1))
    throw usage_error("--seed: " + rng_seed + " with --repeat " + repeat + " would pass 2^64 - 1 (run k takes --seed + k)");
  if (rtt.find(',') != std::string::npos) {
    // One round trip per leecher (its access path): a connection's is the sum of its ends'.
    std::size_t from = 0;
    while (from <= rtt.size()) {
      const auto comma = std::min(rtt.find(',', from), rtt.size());
      o.rtt_per_leecher_seconds.push_back(delay_seconds("--rtt", rtt.substr(from, comma - from)));
      from = comma + 1;
    }
  } else {
    std::tie(o.rtt_min_seconds, o.rtt_max_seconds) = parse_rtt(rtt);
  }
  o.jitter_seconds = delay_seconds("--jitter", jitter);
  if (max_peers != "auto") {
    o.max_peers = parse_count("--max-peers", max_peers);
    if (o.max_peers < 1 || o.max_peers > 100000) throw usage_error("--max-peers: from 1 to 100000, or auto");
  }
  return o;
}

void swarm_input::add_options(CLI::App& app, engine e) {
  which = e;
  app.add_option("--leechers,-N", leechers, "number of leechers N")->capture_default_str();
  app.add_option("--seeds", seeds, "number of seeds (each uploads at --server-up)")->capture_default_str();
  app.add_option("--file-size", file_size, "size of the random file")->capture_default_str();
  app.add_option("--file", opts.file,
                 "share this file instead of random bytes (a directory: its files, as a multi-file torrent)");
  app.add_option("--data-seed", data_seed, "seed of the random file (0 to 2^64 - 1)")
      ->type_name("UINT")
      ->capture_default_str();
  app.add_option("--piece-size", piece_size, "piece length")->capture_default_str();
  app.add_option("--server-up", server_up, "the seed's upload u_s ('unlimited' allowed)")->capture_default_str();
  app.add_option("--peer-up", peer_up, "leechers' upload u_i: one rate or N rates")->capture_default_str();
  app.add_option("--peer-down", peer_down, "leechers' download d_i: one rate or N rates")->capture_default_str();
  app.add_option("--mode", opts.mode, "p2p (BitTorrent) or cs (client-server)")->capture_default_str();
  app.add_option("--after-complete", opts.after_complete, "stay (seed until all are done) or leave")
      ->capture_default_str();
  if (e == engine::loopback) {
    app.add_option("--content", opts.content,
                    "memory (every instance holds the file) or generated (bytes made on demand from "
                    "--data-seed; no copy held, every piece still SHA-1-checked)")
        ->capture_default_str();
  }
  app.add_option("--max-peers", max_peers,
                  "connections an instance keeps (auto: 50, fewer when the open-file limit requires)")
      ->capture_default_str();
  app.add_option("--seed-policy", opts.seed_policy, "once-first (seeds send each piece once before any twice) or standard")
      ->capture_default_str();
  app.add_option("--pieces-in-flight", pieces_in_flight,
                  "once-first seeds: unsent pieces kept on offer, 1 to 64 (more: peers that pass pieces on fast "
                  "take more of the seed)")
      ->type_name("UINT")
      ->capture_default_str();
  app.add_option("--offer-lookahead", offer_lookahead,
                  "once-first seeds: bytes offered beyond --pieces-in-flight, so the next piece is offered "
                  "before the last is sent, 0 to 64MiB")
      ->capture_default_str();
  app.add_option("--upload-order", opts.upload_order,
                  "piece-first (a piece asked for goes out whole before the next) or fair (equal shares)")
      ->capture_default_str();
  app.add_option("--slots", opts.slots, "regular unchoke slots")->capture_default_str();
  app.add_option("--idle-extra-slots", idle_extra_slots,
                  "unchokes beyond --slots + 1 (the optimistic) granted while our upload has nothing to send, "
                  "0 to 64 (0: the classic choker)")
      ->type_name("UINT")
      ->capture_default_str();
  app.add_option("--rechoke", rechoke, "rechoke interval")->capture_default_str();
  app.add_option("--request-queue", request_queue,
                  "requests kept at a peer cover this much of its sending, at least 45ms while the --peer-down "
                  "limit binds (0: always 16)")
      ->capture_default_str();
  app.add_option("--have-batch", have_batch,
                  "a `have` for a peer we choke waits up to this long while our upload is busy, and leaves "
                  "with others (0: each at once)")
      ->capture_default_str();
  app.add_flag("--no-fast-extension", opts.no_fast_extension,
               "plain BEP 3: no instance offers the fast extension (BEP 6) in its handshake");
  app.add_option("--optimistic", optimistic, "optimistic unchoke interval")->capture_default_str();
  app.add_option("--time-scale", opts.time_scale, "multiplies every choker interval")->capture_default_str();
  if (e == engine::simulated) rtt = "100us";
  app.add_option("--rtt", rtt,
                  "each connection's round trip: T (drawn once per connection within T +- 50 %), A..B "
                  "(within [A, B]; A..A for exactly A), or N values R1,...,RN (leecher i's round trip to "
                  "a seed; between two leechers the sum); each direction delays what it carries by half "
                  "of it, after the rate limits. 0: the loopback's own (about 100us)")
      ->capture_default_str();
  app.add_option("--jitter", jitter,
                  "each read (simulate: each message) arrives up to this much later again, uniformly; "
                  "never before what was sent before it")
      ->capture_default_str();
  app.add_option("--timeout", timeout, "give up after this long, with partial results")->capture_default_str();
  app.add_option("--repeat", repeat, "runs; figures are the median run's")->capture_default_str();
  add_json_option(app, opts.json_path);
  app.add_flag("--progress-json", opts.progress_json,
               "while it runs, a JSON line per sample on stderr: elapsed_seconds, leechers_complete, bytes_held, and per "
               "leecher held, up and down (payload bytes; simulate: held only), seed_up (what p2pdist serve "
               "streams)");
  if (e == engine::simulated) {
    app.add_option("--seed", rng_seed, "seed of every random choice (peer ids, policies, tracker answers): "
                   "the same seed, the same run")
        ->type_name("UINT")
        ->capture_default_str();
    // Not simulated, but named: a clear usage error rather than "not expected".
    app.add_option("--fault", opts.faults)->group("");
    app.add_option("--content", refused_content)->group("");
    return;
  }
  app.add_option("--fault", opts.faults,
                  "add adversaries, KIND[:COUNT] (repeatable): corrupt (wrong data), drop (cuts pieces "
                  "midway), stall (never answers), garbage (bad bytes, 4 GiB length prefix), slowloris "
                  "(one byte every few seconds to every peer and the tracker), chatter (control messages "
                  "only, 48 kB/s a connection), churn (the first COUNT "
                  "leechers leave mid-download and come back); the report counts hash failures, bans, "
                  "snubs, protocol drops, wasted bytes and the time lost: distribution time minus that "
                  "of the same swarm without faults, run first")
      ->type_name("KIND[:COUNT]");
  app.add_flag("--no-baseline", opts.no_baseline, "with --fault: skip the fault-free run (no time lost)");
}

}  // namespace p2pdist::cli
