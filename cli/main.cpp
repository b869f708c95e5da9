// p2pdist: the one executable. This file parses the command line (CLI11) into the option
// structs of cli/commands.hpp, validates units once (naming the flag, with cli/flags.hpp),
// and maps errors to exit codes: 0 success, 1 runtime failure, 2 usage error.

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <new>
#include <string>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "model/units.hpp"

namespace {

using namespace p2pdist;
using namespace p2pdist::cli;

std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

int run(int argc, char** argv) {
  CLI::App app{"p2pdist: how long does it take to hand one file to N peers, client-server versus P2P?\n"
               "Sizes: 15Gbit, 2GB, 32MiB, 16KiB (bare numbers are bits). Rates: 30Mbps, 300kbps, 2MB/s,\n"
               "4MiB/s (bare numbers are bits/s). G, M, k are powers of ten; Gi, Mi, Ki powers of two.",
               "p2pdist"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "p2pdist 0.1.0");

  // demo
  cli::demo_options demo;
  auto* demo_cmd = app.add_subcommand("demo", "the main job: the textbook's example as a table");
  demo_cmd->add_option("--json", demo.json_path, "write JSON to FILE ('-' for stdout)");
  bool demo_no_swarm = false;
  demo_cmd->add_flag("--no-swarm", demo_no_swarm, "only the bounds, no loopback swarm");

  // bound
  cli::bound_options bound;
  swarm_flags bound_flags;
  std::vector<std::string> chunk_texts;
  auto* bound_cmd = app.add_subcommand("bound", "both lower bounds for one swarm, with the binding term");
  bound_flags.add_to(*bound_cmd, true);
  bound_cmd->add_flag("--schedule", bound.schedule, "also print the schedules that reach the bounds");
  bound_cmd->add_option("--chunks", chunk_texts, "chunk counts M for the chunked bound (repeatable)");
  bound_cmd->add_option("--json", bound.json_path, "write JSON to FILE ('-' for stdout)");

  // sweep
  cli::sweep_options sweep;
  swarm_flags sweep_flags;
  std::string x_points = "50", y_points = "20";
  auto* sweep_cmd = app.add_subcommand("sweep", "the bounds over one or two swept parameters");
  sweep_flags.add_to(*sweep_cmd, false);
  sweep_cmd->add_option("--x", sweep.x_param, "swept parameter: N, file-size, server-up, peer-up, peer-down")
      ->capture_default_str();
  sweep_cmd->add_option("--from", sweep.x_from, "first value, in the parameter's unit")->required();
  sweep_cmd->add_option("--to", sweep.x_to, "last value");
  sweep_cmd->add_option("--points", x_points, "number of points")->capture_default_str();
  sweep_cmd->add_flag("--log", sweep.x_log, "logarithmic steps");
  sweep_cmd->add_option("--y", sweep.y_param, "second swept parameter (a grid)");
  sweep_cmd->add_option("--y-from", sweep.y_from, "first y value");
  sweep_cmd->add_option("--y-to", sweep.y_to, "last y value");
  sweep_cmd->add_option("--y-points", y_points, "number of y points")->capture_default_str();
  sweep_cmd->add_flag("--y-log", sweep.y_log, "logarithmic y steps");
  sweep_cmd->add_option("--series", sweep.series, "series: PARAM=V1,V2,... e.g. peer-up=300kbps,700kbps,2Mbps");
  sweep_cmd->add_option("--json", sweep.json_path, "write JSON to FILE ('-' for stdout)");

  // info
  cli::info_options info;
  auto* info_cmd = app.add_subcommand("info", "name, size, piece length, pieces and info-hash of a .torrent");
  info_cmd->add_option("torrent", info.torrent_path, "the .torrent file")->required();
  info_cmd->add_option("--json", info.json_path, "write JSON to FILE ('-' for stdout)");

  // make-torrent
  cli::make_torrent_options make;
  std::string piece_size = "256KiB";
  auto* make_cmd = app.add_subcommand("make-torrent", "create a single-file .torrent");
  make_cmd->add_option("file", make.file_path, "the file to share")->required();
  make_cmd->add_option("--announce", make.announce, "tracker URL, e.g. http://127.0.0.1:6969/announce")->required();
  make_cmd->add_option("-o,--output", make.output_path, "the .torrent to write")->required();
  make_cmd->add_option("--piece-size", piece_size, "piece length, e.g. 256KiB")->capture_default_str();
  make_cmd->add_option("--name", make.name, "name in the torrent (default: the file's name)");

  // swarm
  cli::swarm_options swarm;
  struct {
    std::string leechers = "8", seeds = "1", file_size = "32MiB", piece_size = "256KiB";
    std::string server_up = "4MB/s", peer_up = "2MB/s", peer_down = "unlimited";
    std::string rechoke = "10s", optimistic = "30s", timeout = "10min", repeat = "1", request_queue = "30ms";
  } sw;
  auto* swarm_cmd = app.add_subcommand("swarm", "run a swarm on loopback and hold its time against the bound");
  swarm_cmd->add_option("--leechers,-N", sw.leechers, "number of leechers N")->capture_default_str();
  swarm_cmd->add_option("--seeds", sw.seeds, "number of seeds (each uploads at --server-up)")->capture_default_str();
  swarm_cmd->add_option("--file-size", sw.file_size, "size of the random file")->capture_default_str();
  swarm_cmd->add_option("--file", swarm.file, "share this file instead of random bytes");
  swarm_cmd->add_option("--data-seed", swarm.data_seed, "seed of the random file")->capture_default_str();
  swarm_cmd->add_option("--piece-size", sw.piece_size, "piece length")->capture_default_str();
  swarm_cmd->add_option("--server-up", sw.server_up, "the seed's upload u_s ('unlimited' allowed)")->capture_default_str();
  swarm_cmd->add_option("--peer-up", sw.peer_up, "leechers' upload u_i: one rate or N rates")->capture_default_str();
  swarm_cmd->add_option("--peer-down", sw.peer_down, "leechers' download d_i: one rate or N rates")->capture_default_str();
  swarm_cmd->add_option("--mode", swarm.mode, "p2p (BitTorrent) or cs (client-server)")->capture_default_str();
  swarm_cmd->add_option("--after-complete", swarm.after_complete, "stay (seed until all are done) or leave")
      ->capture_default_str();
  swarm_cmd->add_option("--seed-policy", swarm.seed_policy,
                        "once-first (seeds send each piece once before any twice) or standard")
      ->capture_default_str();
  swarm_cmd->add_option("--upload-order", swarm.upload_order,
                        "piece-first (a piece asked for goes out whole before the next) or fair (equal shares)")
      ->capture_default_str();
  swarm_cmd->add_option("--slots", swarm.slots, "regular unchoke slots")->capture_default_str();
  swarm_cmd->add_option("--rechoke", sw.rechoke, "rechoke interval")->capture_default_str();
  swarm_cmd->add_option("--request-queue", sw.request_queue,
                        "requests kept at a peer cover this much of its sending (0: always 16)")
      ->capture_default_str();
  swarm_cmd->add_option("--optimistic", sw.optimistic, "optimistic unchoke interval")->capture_default_str();
  swarm_cmd->add_option("--time-scale", swarm.time_scale, "multiplies every choker interval")->capture_default_str();
  swarm_cmd->add_option("--timeout", sw.timeout, "give up after this long, with partial results")->capture_default_str();
  swarm_cmd->add_option("--repeat", sw.repeat, "runs; figures are the median run's")->capture_default_str();
  swarm_cmd->add_option("--json", swarm.json_path, "write JSON to FILE ('-' for stdout)");
  swarm_cmd->add_option("--fault", swarm.faults,
                        "add adversaries, KIND[:COUNT] (repeatable): corrupt (wrong data), drop (cuts pieces "
                        "midway), stall (never answers), garbage (bad bytes, 4 GiB length prefix), slowloris "
                        "(one byte every few seconds to every peer and the tracker), churn (the first COUNT "
                        "leechers leave mid-download and come back); the report counts hash failures, bans, "
                        "snubs, protocol drops, wasted bytes and the time lost: distribution time minus that "
                        "of the same swarm without faults, run first")
      ->type_name("KIND[:COUNT]");
  swarm_cmd->add_flag("--no-baseline", swarm.no_baseline, "with --fault: skip the fault-free run (no time lost)");

  // tracker
  cli::tracker_options tracker;
  std::string tracker_interval = "5s";
  auto* tracker_cmd = app.add_subcommand("tracker", "run an HTTP BitTorrent tracker on loopback until stopped");
  tracker_cmd->add_option("--listen", tracker.listen, "ADDR:PORT, ADDR in 127.0.0.0/8")->capture_default_str();
  tracker_cmd->add_option("--interval", tracker_interval, "announce interval told to clients, e.g. 5s")
      ->capture_default_str();

  // seed and get
  auto add_peer_flags = [](CLI::App& cmd, std::string& listen, bool& verbose) {
    cmd.add_option("--listen", listen, "ADDR:PORT to listen on, ADDR in 127.0.0.0/8; port 0 picks a free port")
        ->capture_default_str();
    cmd.add_flag("-v,--verbose", verbose, "log peers connecting and leaving (with the reason) on stderr");
  };
  cli::seed_options seed;
  std::string seed_up = "unlimited";
  auto* seed_cmd = app.add_subcommand("seed", "check a file against its .torrent and share it until stopped");
  seed_cmd->add_option("torrent", seed.torrent_path, "the .torrent file")->required();
  seed_cmd->add_option("file", seed.file_path, "the complete file it describes")->required();
  add_peer_flags(*seed_cmd, seed.listen, seed.verbose);
  seed_cmd->add_option("--up", seed_up, "upload limit, e.g. 2MB/s, 30Mbps, or 'unlimited'")->capture_default_str();

  cli::get_options get;
  std::string get_up = "unlimited", get_down = "unlimited";
  auto* get_cmd = app.add_subcommand("get", "download a .torrent's file into OUT (via OUT.part), resuming if stopped");
  get_cmd->add_option("torrent", get.torrent_path, "the .torrent file")->required();
  get_cmd->add_option("-o,--output", get.output_path, "where the file goes once complete and verified")->required();
  add_peer_flags(*get_cmd, get.listen, get.verbose);
  get_cmd->add_option("--up", get_up, "upload limit, e.g. 2MB/s, 30Mbps, or 'unlimited'")->capture_default_str();
  get_cmd->add_option("--down", get_down, "download limit, e.g. 2MB/s, 30Mbps, or 'unlimited'")
      ->capture_default_str();
  get_cmd->add_flag("--keep-seeding", get.keep_seeding, "once complete, go on seeding until SIGINT or SIGTERM");

  if (argc > 1 && argv[1][0] != '-') {
    const std::string first = argv[1];
    bool known = false;
    std::string names;
    for (const auto* sub : app.get_subcommands({})) {
      known = known || sub->get_name() == first;
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) throw usage_error("unknown command '" + first + "' (commands: " + names + ")");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << (app.get_subcommands().empty() ? app.help() : app.get_subcommands().front()->help());
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::CallForVersion&) {
    std::cout << "p2pdist 0.1.0\n";
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << "p2pdist: " << one_line(e.what()) << " (see p2pdist --help)\n";
    return 2;
  }

  if (demo_cmd->parsed()) {
    demo.swarm = !demo_no_swarm;
    return cli::run_demo(demo);
  }
  if (swarm_cmd->parsed()) {
    if (swarm_cmd->count("--file") > 0 && swarm.file.empty()) throw usage_error("--file: an empty path (give the file to share)");
    swarm.leechers = parse_peer_count("--leechers", sw.leechers);
    swarm.seeds = parse_peer_count("--seeds", sw.seeds);
    swarm.file_bits = parse_flag("--file-size", sw.file_size, model::parse_size_bits);
    const double piece_bits = parse_flag("--piece-size", sw.piece_size, model::parse_size_bits);
    if (piece_bits / 8 != std::floor(piece_bits / 8) || piece_bits / 8 > (1u << 30))
      throw usage_error("--piece-size: '" + sw.piece_size + "' is not a whole number of bytes up to 1GiB");
    swarm.piece_bytes = static_cast<std::uint32_t>(piece_bits / 8);
    swarm.server_up_bps = parse_flag("--server-up", sw.server_up, model::parse_rate_or_unlimited_bps);
    swarm.peer_up_bps = parse_flag_list("--peer-up", sw.peer_up, model::parse_rate_or_unlimited_bps);
    swarm.peer_down_bps = parse_flag_list("--peer-down", sw.peer_down, model::parse_rate_or_unlimited_bps);
    for (double r : swarm.peer_up_bps)
      if (r == 0) throw usage_error("--peer-up: a rate of zero; use --mode cs for leechers that upload nothing");
    for (double r : swarm.peer_down_bps)
      if (r == 0) throw usage_error("--peer-down: a leecher cannot download at zero");
    if (swarm.server_up_bps == 0) throw usage_error("--server-up: the seed cannot upload at zero");
    swarm.rechoke_seconds = parse_flag("--rechoke", sw.rechoke, model::parse_duration_seconds);
    swarm.request_queue_seconds = sw.request_queue == "0" ? 0.0 : parse_flag("--request-queue", sw.request_queue, model::parse_duration_seconds);
    swarm.optimistic_seconds = parse_flag("--optimistic", sw.optimistic, model::parse_duration_seconds);
    swarm.timeout_seconds = parse_flag("--timeout", sw.timeout, model::parse_duration_seconds);
    swarm.repeat = parse_count("--repeat", sw.repeat);
    return cli::run_swarm(swarm);
  }
  if (bound_cmd->parsed()) {
    bound.n = parse_peer_count("-N", bound_flags.n);
    bound.file_bits = positive("--file-size", parse_flag("--file-size", bound_flags.file_size, model::parse_size_bits));
    bound.server_up_bps = positive("--server-up", parse_flag("--server-up", bound_flags.server_up, model::parse_rate_bps));
    bound.peer_up_bps = parse_flag_list("--peer-up", bound_flags.peer_up, model::parse_rate_bps);
    bound.peer_down_bps = parse_flag_list("--peer-down", bound_flags.peer_down, model::parse_rate_or_unlimited_bps);
    for (double d : bound.peer_down_bps) positive("--peer-down", d);
    for (const auto& c : chunk_texts) {
      const auto m = parse_count("--chunks", c);
      if (m < 1) throw usage_error("--chunks: must be at least 1");
      bound.chunks.push_back(m);
    }
    return cli::run_bound(bound);
  }
  if (sweep_cmd->parsed()) {
    sweep.n = parse_peer_count("-N", sweep_flags.n);
    sweep.file_bits = positive("--file-size", parse_flag("--file-size", sweep_flags.file_size, model::parse_size_bits));
    sweep.server_up_bps = positive("--server-up", parse_flag("--server-up", sweep_flags.server_up, model::parse_rate_bps));
    sweep.peer_up_bps = parse_flag("--peer-up", sweep_flags.peer_up, model::parse_rate_bps);
    sweep.peer_down_bps = positive("--peer-down", parse_flag("--peer-down", sweep_flags.peer_down,
                                                            model::parse_rate_or_unlimited_bps));
    sweep.x_points = parse_count("--points", x_points);
    sweep.y_points = parse_count("--y-points", y_points);
    return cli::run_sweep(sweep);
  }
  if (info_cmd->parsed()) return cli::run_info(info);
  if (tracker_cmd->parsed()) {
    tracker.interval_seconds = parse_flag("--interval", tracker_interval, model::parse_duration_seconds);
    return cli::run_tracker(tracker);
  }
  if (seed_cmd->parsed()) {
    seed.up_bytes_per_s = limit_bytes_per_s("--up", seed_up);
    return cli::run_seed(seed);
  }
  if (get_cmd->parsed()) {
    get.up_bytes_per_s = limit_bytes_per_s("--up", get_up);
    get.down_bytes_per_s = limit_bytes_per_s("--down", get_down);
    return cli::run_get(get);
  }
  if (make_cmd->parsed()) {
    const double bits = parse_flag("--piece-size", piece_size, model::parse_size_bits);
    const double bytes = bits / 8;
    if (bytes != std::floor(bytes) || bytes < 1 || bytes > 1u << 30)
      throw usage_error("--piece-size: '" + piece_size + "' is not a whole number of bytes up to 1GiB");
    make.piece_bytes = static_cast<std::uint32_t>(bytes);
    return cli::run_make_torrent(make);
  }
  return 2;  // unreachable: require_subcommand(1)
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const usage_error& e) {
    std::cerr << "p2pdist: " << one_line(e.what()) << '\n';
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "p2pdist: error: out of memory (try smaller sizes or fewer peers)\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "p2pdist: error: " << one_line(e.what()) << '\n';
    return 1;
  } catch (...) {
    std::cerr << "p2pdist: error: unknown failure\n";
    return 1;
  }
}
