// `p2pdist swarm`: runs a swarm on loopback (tracker, seeds, leechers in this process) and
// holds its distribution time against the bound.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "cli/output.hpp"
#include "loopback/harness/faults.hpp"
#include "loopback/harness/harness.hpp"
#include "loopback/harness/harness_json.hpp"
#include "loopback/protocol/metainfo.hpp"
#include "model/units.hpp"

namespace p2pdist::cli {

namespace {

std::string mib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

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

// A one-line progress bar on stderr, redrawn in place (only on a terminal).
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

std::string fault_list(const std::vector<loopback::fault_spec>& faults) {
  std::string out;
  for (const auto& f : faults)
    out += (out.empty() ? "" : " ") + std::string(loopback::to_string(f.kind)) + ":" + std::to_string(f.count);
  return out;
}

// What the faults did and cost, below the swarm's table.
void print_faults(const loopback::swarm_result& r) {
  const auto& f = r.faults;
  std::printf("\nfaults              %s\n", fault_list(f.faults).c_str());
  std::printf("hash failures       %llu (%s wasted in all, duplicates included)\n",
              static_cast<unsigned long long>(f.hash_failures), mib(f.wasted_bytes).c_str());
  std::printf("bans                %llu\n", static_cast<unsigned long long>(f.bans));
  std::printf("snubs               %llu (request timeouts)\n", static_cast<unsigned long long>(f.snubs));
  std::printf("protocol drops      %llu\n", static_cast<unsigned long long>(f.protocol_drops));
  std::printf("handshake timeouts  %llu (and %llu idle tracker connections cut)\n",
              static_cast<unsigned long long>(f.handshake_timeouts), static_cast<unsigned long long>(f.tracker_timeouts));
  if (const auto lost = loopback::time_lost_seconds(r)) {
    std::printf("time lost           %.3f s (%.3f s without faults)\n", *lost, *f.baseline_seconds);
  } else if (f.baseline_seconds) {
    std::printf("time lost           - (this run did not finish)\n");
  } else {
    std::printf("time lost           - (no baseline run)\n");
  }
  if (!f.peers.empty()) {
    std::printf("%-16s %-10s %8s %9s %11s %10s %12s\n", "adversary", "kind", "conns", "requests", "sent",
                "cut by it", "cut by peer");
    for (const auto& p : f.peers)
      std::printf("%-16s %-10s %8llu %9llu %11s %10llu %12llu\n", p.address.c_str(),
                  std::string(loopback::to_string(p.kind)).c_str(), static_cast<unsigned long long>(p.connections),
                  static_cast<unsigned long long>(p.requests), mib(p.bytes_sent).c_str(),
                  static_cast<unsigned long long>(p.cut_by_us), static_cast<unsigned long long>(p.cut_by_peer));
  }
  for (const auto& ch : f.churn) {
    if (ch.restarts == 0) {
      std::printf("churn %-10s planned to leave at %.0f%% of the file; it completed first\n", ch.address.c_str(),
                  100 * ch.leave_at_fraction);
    } else {
      std::printf("churn %-10s left at %.2f s (its moment: %.0f%% of the file held), back at %.2f s keeping %u pieces\n",
                  ch.address.c_str(), ch.left_seconds.value_or(0), 100 * ch.leave_at_fraction,
                  ch.back_seconds.value_or(0), ch.pieces_kept);
    }
  }
}

void print_table(const loopback::swarm_config& c, const loopback::swarm_result& r, std::size_t run,
                 std::size_t runs) {
  const auto bound = loopback::swarm_bound(c, r.file_bytes);
  if (runs > 1) std::printf("\nrun %zu of %zu\n", run + 1, runs);
  std::printf("%-16s %-14s %-14s %s\n", "leecher", "completion", "uploaded", "downloaded");
  for (const auto& l : r.leechers) {
    char done[32] = "-";
    if (l.completion_seconds) std::snprintf(done, sizeof done, "%.2f s", *l.completion_seconds);
    std::printf("%-16s %-14s %-14s %s%s\n", l.address.c_str(), done, mib(l.bytes_up).c_str(),
                mib(l.bytes_down).c_str(), l.completion_seconds && !l.data_matches ? "  DATA DIFFERS" : "");
  }
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
    if (r.distribution_seconds) {
      std::printf("measured / bound    %.3f\n", *r.distribution_seconds / bound->seconds);
      std::printf("measured / piece    %.3f  <- read the engine against this one: no schedule of whole\n"
                  "                           pieces beats the piece bound\n",
                  *r.distribution_seconds / pieces->seconds);
    }
  } else {
    std::printf("bound               - (the server's upload is unlimited)\n");
  }
  const double delivered_gib = static_cast<double>(r.file_bytes) * static_cast<double>(c.leechers) / (1u << 30);
  std::printf("cost                %.1f CPU-s (%.2f per GiB delivered), peak RSS %s, %zu connections at most %s\n",
              r.cpu_seconds, delivered_gib > 0 ? r.cpu_seconds / delivered_gib : 0.0, mib(r.peak_rss_bytes).c_str(),
              r.max_peers, c.mode == loopback::swarm_mode::p2p ? "an instance" : "a leecher (the server keeps all)");
  if (!c.faults.empty()) print_faults(r);
}

using progress_fn = std::function<void(const loopback::swarm_progress&)>;

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
void check_ranges(const swarm_options& o) {
  if (o.slots < 0) throw usage_error("--slots: must be zero or more");
  // Bounded so that the intervals, scaled by --time-scale, fit bt::duration (nanoseconds).
  if (!(o.rechoke_seconds > 0 && o.rechoke_seconds <= 86400)) throw usage_error("--rechoke: must be above zero and at most 1 day");
  if (!(o.optimistic_seconds > 0 && o.optimistic_seconds <= 86400))
    throw usage_error("--optimistic: must be above zero and at most 1 day");
  if (!(o.timeout_seconds > 0 && o.timeout_seconds <= 604800)) throw usage_error("--timeout: must be above zero and at most 1 week");
  if (!(o.time_scale > 0 && o.time_scale <= 1000)) throw usage_error("--time-scale: must be above zero and at most 1000");
  if (o.leechers > loopback::max_leechers)
    throw usage_error("--leechers: at most " + std::to_string(loopback::max_leechers) + " (got " + std::to_string(o.leechers) + ")");
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
  if (!(o.request_queue_seconds >= 0 && o.request_queue_seconds <= 10))
    throw usage_error("--request-queue: must be from 0 to 10s");
  if (!(o.have_batch_seconds >= 0 && o.have_batch_seconds <= 60))
    throw usage_error("--have-batch: must be from 0 to 60s");
}

/// The harness's configuration for `o`, checked in full before any swarm starts; a
/// usage_error names the flag at fault.
loopback::swarm_config config_of(const swarm_options& o) {
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
  check_ranges(o);
  c.picker.request_queue_time =
      std::chrono::duration_cast<bt::duration>(std::chrono::duration<double>(o.request_queue_seconds));
  c.have_batch_interval = std::chrono::duration_cast<bt::duration>(std::chrono::duration<double>(o.have_batch_seconds));
  c.choker.regular_slots = o.slots;
  c.choker.rechoke_interval = std::chrono::duration_cast<bt::duration>(std::chrono::duration<double>(o.rechoke_seconds));
  c.choker.optimistic_interval =
      std::chrono::duration_cast<bt::duration>(std::chrono::duration<double>(o.optimistic_seconds));
  c.time_scale = o.time_scale;
  c.timeout = millis(o.timeout_seconds);
  for (const auto& text : o.faults) {
    try {
      c.faults.push_back(loopback::parse_fault(text));
    } catch (const std::invalid_argument& e) {
      throw usage_error(std::string("--fault: ") + e.what());
    }
  }
  try {
    loopback::validate(c);
  } catch (const std::invalid_argument& e) {
    throw usage_error(e.what());
  }
  return c;
}

/// The line that says which swarm runs, on stdout before it starts.
void print_header(const swarm_options& o, const loopback::swarm_config& c) {
  std::printf("swarm: %s, %zu leecher%s, %zu seed%s, F = %s, u_s = %s, u_i = %s, d_i = %s\n", o.mode.c_str(),
              c.leechers, c.leechers == 1 ? "" : "s", c.seeds, c.seeds == 1 ? "" : "s",
              c.file ? c.file->c_str() : mib(c.file_bytes).c_str(), rate_text(c.server_up_bytes_per_s).c_str(),
              rates_text(c.peer_up_bytes_per_s).c_str(), rates_text(c.peer_down_bytes_per_s).c_str());
  std::fflush(stdout);
}

/// Runs `c` without its faults, for the time they cost; prints its time unless the JSON
/// goes to stdout.
loopback::swarm_result run_baseline(const loopback::swarm_config& c, const progress_fn& on_progress, bool to_stdout) {
  auto cfg = c;
  cfg.faults.clear();
  if (!to_stdout) std::printf("baseline run, without faults: ");
  std::fflush(stdout);
  auto baseline = loopback::run_swarm(cfg, on_progress);
  if (on_progress) std::fprintf(stderr, "\n");
  if (!to_stdout) {
    if (baseline.distribution_seconds) std::printf("%.3f s\n", *baseline.distribution_seconds);
    else std::printf("did not finish (%s)\n", baseline.failure.c_str());
  }
  return baseline;
}

/// Says on stderr why a run failed, if one did; the exit code: 1 if any failed, else 0.
int report_failures(const std::optional<loopback::swarm_result>& baseline,
                    const std::vector<loopback::swarm_result>& runs) {
  int status = 0;
  if (baseline && !baseline->failure.empty()) {
    std::cerr << "p2pdist: swarm: the baseline run without faults: " << baseline->failure << '\n';
    status = 1;
  }
  for (const auto& r : runs) {
    if (!r.failure.empty()) {
      std::cerr << "p2pdist: swarm: " << r.failure << '\n';
      status = 1;
    }
  }
  return status;
}

/// A duration flag where a bare "0" (no unit) means zero: off, or always the fixed default.
double duration_or_zero(const char* flag, const std::string& text) {
  return text == "0" ? 0.0 : parse_flag(flag, text, model::parse_duration_seconds);
}

/// swarm's command line: the options CLI11 fills in directly, and the texts to parse.
struct swarm_input {
  swarm_options opts;
  std::string leechers = "8", seeds = "1", file_size = "32MiB", piece_size = "256KiB";
  std::string server_up = "4MB/s", peer_up = "2MB/s", peer_down = "unlimited";
  std::string rechoke = "10s", optimistic = "30s", timeout = "10min", repeat = "1", request_queue = "30ms";
  std::string have_batch = "1s";
  std::string max_peers = "auto";

  /// `opts` with the texts parsed; a usage_error names the flag at fault. `file_given`:
  /// --file was on the command line (an empty path is then an error).
  [[nodiscard]] swarm_options parsed(bool file_given) const {
    if (file_given && opts.file.empty()) throw usage_error("--file: an empty path (give the file to share)");
    swarm_options o = opts;
    o.leechers = parse_peer_count("--leechers", leechers);
    o.seeds = parse_peer_count("--seeds", seeds);
    o.file_bits = parse_flag("--file-size", file_size, model::parse_size_bits);
    o.piece_bytes = piece_size_bytes(piece_size, 0);
    o.server_up_bps = parse_flag("--server-up", server_up, model::parse_rate_or_unlimited_bps);
    o.peer_up_bps = parse_flag_list("--peer-up", peer_up, model::parse_rate_or_unlimited_bps);
    o.peer_down_bps = parse_flag_list("--peer-down", peer_down, model::parse_rate_or_unlimited_bps);
    for (double r : o.peer_up_bps)
      if (r == 0) throw usage_error("--peer-up: a rate of zero; use --mode cs for leechers that upload nothing");
    for (double r : o.peer_down_bps)
      if (r == 0) throw usage_error("--peer-down: a leecher cannot download at zero");
    if (o.server_up_bps == 0) throw usage_error("--server-up: the seed cannot upload at zero");
    o.rechoke_seconds = parse_flag("--rechoke", rechoke, model::parse_duration_seconds);
    o.request_queue_seconds = duration_or_zero("--request-queue", request_queue);
    o.have_batch_seconds = duration_or_zero("--have-batch", have_batch);
    o.optimistic_seconds = parse_flag("--optimistic", optimistic, model::parse_duration_seconds);
    o.timeout_seconds = parse_flag("--timeout", timeout, model::parse_duration_seconds);
    o.repeat = parse_count("--repeat", repeat);
    if (max_peers != "auto") {
      o.max_peers = parse_count("--max-peers", max_peers);
      if (o.max_peers < 1 || o.max_peers > 100000) throw usage_error("--max-peers: from 1 to 100000, or auto");
    }
    return o;
  }
};

}  // namespace

int run_swarm(const swarm_options& o) {
  const loopback::swarm_config c = config_of(o);
  const bool to_stdout = o.json_path == "-";
  const bool progress = stderr_is_terminal();
  if (!to_stdout) print_header(o, c);
  const auto on_progress = progress ? draw_progress : progress_fn{};
  // Time lost to faults is measured against the same swarm without them, run first.
  std::optional<loopback::swarm_result> baseline;
  if (!c.faults.empty() && !o.no_baseline) baseline = run_baseline(c, on_progress, to_stdout);
  std::vector<loopback::swarm_result> runs;
  for (std::size_t k = 0; k < o.repeat; ++k) {
    auto cfg = c;
    cfg.rng_seed = c.rng_seed + 1000 * k;
    runs.push_back(loopback::run_swarm(cfg, on_progress));
    if (baseline) runs.back().faults.baseline_seconds = baseline->distribution_seconds;
    if (progress) std::fprintf(stderr, "\n");
    if (!to_stdout) print_table(cfg, runs.back(), k, o.repeat);
  }
  const std::size_t mid = loopback::median_run(runs);
  if (!to_stdout && o.repeat > 1) {
    std::printf("\nmedian of %zu runs: run %zu\n", o.repeat, mid + 1);
  }
  if (!o.json_path.empty()) {
    write_json(o.json_path, o.repeat == 1 ? loopback::swarm_document(c, runs.front()) : loopback::repeat_document(c, runs));
  }
  return report_failures(baseline, runs);
}

command add_swarm_command(CLI::App& parent) {
  auto in = std::make_shared<swarm_input>();
  auto& o = in->opts;
  auto* app = parent.add_subcommand("swarm", "run a swarm on loopback and hold its time against the bound");
  app->add_option("--leechers,-N", in->leechers, "number of leechers N")->capture_default_str();
  app->add_option("--seeds", in->seeds, "number of seeds (each uploads at --server-up)")->capture_default_str();
  app->add_option("--file-size", in->file_size, "size of the random file")->capture_default_str();
  app->add_option("--file", o.file, "share this file instead of random bytes");
  app->add_option("--data-seed", o.data_seed, "seed of the random file")->capture_default_str();
  app->add_option("--piece-size", in->piece_size, "piece length")->capture_default_str();
  app->add_option("--server-up", in->server_up, "the seed's upload u_s ('unlimited' allowed)")->capture_default_str();
  app->add_option("--peer-up", in->peer_up, "leechers' upload u_i: one rate or N rates")->capture_default_str();
  app->add_option("--peer-down", in->peer_down, "leechers' download d_i: one rate or N rates")->capture_default_str();
  app->add_option("--mode", o.mode, "p2p (BitTorrent) or cs (client-server)")->capture_default_str();
  app->add_option("--after-complete", o.after_complete, "stay (seed until all are done) or leave")
      ->capture_default_str();
  app->add_option("--content", o.content,
                  "memory (every instance holds the file) or generated (bytes made on demand from "
                  "--data-seed; no copy held, every piece still SHA-1-checked)")
      ->capture_default_str();
  app->add_option("--max-peers", in->max_peers,
                  "connections an instance keeps (auto: 50, fewer when the open-file limit requires)")
      ->capture_default_str();
  app->add_option("--seed-policy", o.seed_policy, "once-first (seeds send each piece once before any twice) or standard")
      ->capture_default_str();
  app->add_option("--upload-order", o.upload_order,
                  "piece-first (a piece asked for goes out whole before the next) or fair (equal shares)")
      ->capture_default_str();
  app->add_option("--slots", o.slots, "regular unchoke slots")->capture_default_str();
  app->add_option("--rechoke", in->rechoke, "rechoke interval")->capture_default_str();
  app->add_option("--request-queue", in->request_queue,
                  "requests kept at a peer cover this much of its sending (0: always 16)")
      ->capture_default_str();
  app->add_option("--have-batch", in->have_batch,
                  "a `have` for a peer we choke waits up to this long while our upload is busy, and leaves "
                  "with others (0: each at once)")
      ->capture_default_str();
  app->add_option("--optimistic", in->optimistic, "optimistic unchoke interval")->capture_default_str();
  app->add_option("--time-scale", o.time_scale, "multiplies every choker interval")->capture_default_str();
  app->add_option("--timeout", in->timeout, "give up after this long, with partial results")->capture_default_str();
  app->add_option("--repeat", in->repeat, "runs; figures are the median run's")->capture_default_str();
  add_json_option(*app, o.json_path);
  app->add_option("--fault", o.faults,
                  "add adversaries, KIND[:COUNT] (repeatable): corrupt (wrong data), drop (cuts pieces "
                  "midway), stall (never answers), garbage (bad bytes, 4 GiB length prefix), slowloris "
                  "(one byte every few seconds to every peer and the tracker), churn (the first COUNT "
                  "leechers leave mid-download and come back); the report counts hash failures, bans, "
                  "snubs, protocol drops, wasted bytes and the time lost: distribution time minus that "
                  "of the same swarm without faults, run first")
      ->type_name("KIND[:COUNT]");
  app->add_flag("--no-baseline", o.no_baseline, "with --fault: skip the fault-free run (no time lost)");
  return {app, [in, app] { return run_swarm(in->parsed(app->count("--file") > 0)); }};
}

}  // namespace p2pdist::cli
