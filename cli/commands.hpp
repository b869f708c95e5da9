#pragma once
// The p2pdist subcommands. Each is a plain function over an option struct (run_*), and an
// add_*_command that registers the subcommand and its options (CLI11) on the top-level app
// and returns how to run what was parsed. Each run returns the process exit code:
// 0 success, 1 runtime failure (message already on stderr), 2 usage error.

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace p2pdist::cli {

/// A subcommand registered on the top-level app. `app` is the subcommand (owned by the
/// parent app); `run`, once `app->parsed()`, parses the flags' texts (a unit error is a
/// usage_error naming the flag) and runs the command, returning its exit code. `run` owns
/// what the options are stored in: keep it while the parent app parses.
struct command {
  CLI::App* app;
  std::function<int()> run;
};

/// `p2pdist info FILE.torrent [--json FILE]`
struct info_options {
  std::string torrent_path;
  std::string json_path;  ///< empty: no JSON; "-": stdout
};
int run_info(const info_options& opts);
/// Registers `info`.
command add_info_command(CLI::App& parent);

/// `p2pdist make-torrent FILE --announce URL -o OUT [--piece-size SIZE] [--name NAME]`
struct make_torrent_options {
  std::string file_path;
  std::string announce;
  std::string output_path;
  std::uint32_t piece_bytes = 256 * 1024;
  std::string name;  ///< empty: the file's base name
};
int run_make_torrent(const make_torrent_options& opts);
/// Registers `make-torrent`.
command add_make_torrent_command(CLI::App& parent);

/// `p2pdist bound`: both bounds for one swarm (rates in bits/s, sizes in bits, already
/// validated by the caller's parsing; the model validates the rest).
struct bound_options {
  std::size_t n = 10;
  double file_bits = 15e9;
  double server_up_bps = 30e6;
  std::vector<double> peer_up_bps{300e3};    ///< one value for all, or N values
  std::vector<double> peer_down_bps{2e6};    ///< one value for all, or N values; may be inf
  bool schedule = false;                     ///< also print the achieving schedules
  std::vector<std::uint64_t> chunks;         ///< chunk counts for the chunked bound
  double piece_bits = 256.0 * 1024 * 8;      ///< piece size for the piece bound
  std::optional<double> rtt_seconds;         ///< the least round trip, for the latency bound
  std::string json_path;                     ///< empty: no JSON; "-": stdout
};
int run_bound(const bound_options& opts);
/// Registers `bound`.
command add_bound_command(CLI::App& parent);

/// `p2pdist sweep`: the bounds over one or two swept parameters, several series.
struct sweep_options {
  std::size_t n = 10;
  double file_bits = 15e9;
  double server_up_bps = 30e6;
  double peer_up_bps = 300e3;
  double peer_down_bps = 2e6;
  std::string x_param = "N";
  std::string x_from, x_to;        ///< in the x parameter's unit (e.g. "1", "300kbps")
  std::size_t x_points = 50;
  bool x_log = false;
  std::string y_param;             ///< empty: a 1-D sweep
  std::string y_from, y_to;
  std::size_t y_points = 20;
  bool y_log = false;
  std::string series;              ///< "PARAM=V1,V2,..." or empty
  std::string json_path;
};
int run_sweep(const sweep_options& opts);
/// Registers `sweep`.
command add_sweep_command(CLI::App& parent);

/// `p2pdist demo` (the main job): the textbook's example as a table.
struct demo_options {
  std::string json_path;
  bool swarm = true;  ///< also run a short loopback swarm beside the bounds
};
int run_demo(const demo_options& opts);
/// Registers `demo`.
command add_demo_command(CLI::App& parent);

/// `p2pdist tracker --listen 127.0.0.1:6969 [--interval 5s]`: runs the HTTP tracker until
/// SIGINT or SIGTERM.
struct tracker_options {
  std::string listen = "127.0.0.1:6969";  ///< ADDR:PORT, any address of this host ([IPV6]:PORT for IPv6)
  double interval_seconds = 5;            ///< the announce interval told to clients
  bool udp = false;                       ///< also serve BEP 15 on the same port
};
int run_tracker(const tracker_options& opts);
/// Registers `tracker`.
command add_tracker_command(CLI::App& parent);

/// `p2pdist scrape`: the tracker's counts for a torrent.
struct scrape_options {
  std::string torrent_path;
  std::string tracker;             ///< empty: the torrent's announce URL
  std::string from = "0.0.0.0";    ///< local address the request comes from
  double timeout_seconds = 5;
  std::string json_path;           ///< "-": JSON on stdout instead of the line
};
int run_scrape(const scrape_options& opts);
/// Registers `scrape`.
command add_scrape_command(CLI::App& parent);

/// `p2pdist swarm`: a real swarm on loopback, measured against the bound. Rates in bits/s
/// as parsed (0 = unlimited); the command converts them to the harness's bytes/s.
struct swarm_options {
  std::size_t leechers = 8;
  std::size_t seeds = 1;
  double file_bits = 32.0 * 1024 * 1024 * 8;
  std::string file;                            ///< share this file instead of random bytes
  std::uint64_t data_seed = 1;
  std::uint32_t piece_bytes = 256 * 1024;
  double server_up_bps = 32e6;                 ///< 4 MB/s
  std::vector<double> peer_up_bps{16e6};       ///< 2 MB/s; one value or N
  std::vector<double> peer_down_bps{0};        ///< unlimited; one value or N
  std::string mode = "p2p";                    ///< p2p | cs
  std::string after_complete = "stay";         ///< stay | leave
  std::string content = "memory";              ///< memory | generated
  std::size_t max_peers = 0;                   ///< connections an instance keeps; 0: the harness's default
  std::string seed_policy = "once-first";      ///< once-first (super-seeding) | standard
  std::string upload_order = "piece-first";    ///< piece-first | fair
  int slots = 4;
  int idle_extra_slots = 4;                    ///< unchokes beyond slots + 1 while our upload idles
  std::uint32_t pieces_in_flight = 1;          ///< once-first seeds: unsent pieces kept on offer
  std::uint64_t offer_lookahead_bytes = 128 * 1024;  ///< once-first seeds: and this many bytes more
  double rechoke_seconds = 10;
  double request_queue_seconds = 0.03;  ///< 0: a fixed pipeline of 16 requests per peer
  double have_batch_seconds = 1;        ///< 0: every `have` at once
  bool no_fast_extension = false;       ///< true: no instance offers BEP 6 (plain BEP 3)
  double optimistic_seconds = 30;
  double time_scale = 1;
  double timeout_seconds = 600;
  std::size_t repeat = 1;
  std::string json_path;
  std::vector<std::string> faults;             ///< `--fault KIND[:COUNT]` texts, parsed by run_swarm
  bool no_baseline = false;                    ///< with faults: skip the fault-free baseline run
  bool progress_json = false;                  ///< a JSON line per progress sample on stderr
  std::uint64_t rng_seed = 1;                  ///< simulate's --seed: peer ids, policies, tracker answers
  /// --rtt: each connection's round trip drawn once, uniformly in [min, max] (both 0: the
  /// loopback's own); simulate's default is 100us (50..150us).
  double rtt_min_seconds = 0;
  double rtt_max_seconds = 0;
  std::vector<double> rtt_per_leecher_seconds;  ///< --rtt R1,...,RN: each leecher's access round trip
  double jitter_seconds = 0;                   ///< --jitter: each read or item up to this much later
};
int run_swarm(const swarm_options& opts);
/// Registers `swarm`.
command add_swarm_command(CLI::App& parent);

/// `p2pdist simulate`: the same swarm as `swarm` (the same options but --content and
/// --fault, and --seed), in simulated time; the same JSON document with "engine":
/// "simulated", the events processed and the wall-clock seconds.
int run_simulate(const swarm_options& opts);
/// Registers `simulate`.
command add_simulate_command(CLI::App& parent);

/// `p2pdist seed FILE.torrent FILE [--listen ADDR:PORT] [--up RATE]`: checks FILE against the
/// torrent (exit 1 naming the first bad piece), listens, prints a line with `seeding` and
/// the address, announces to the torrent's tracker, and uploads until SIGINT or SIGTERM
/// (announcing `stopped`, exit 0).
struct seed_options {
  std::string torrent_path;
  std::string file_path;
  std::string listen = "127.0.0.1:0";  ///< ADDR:PORT, any address of this host ([IPV6]:PORT); port 0: any free port
  double up_bytes_per_s = 0;           ///< upload limit, bytes/s on the wire; 0 = unlimited
  bool verbose = false;                ///< log peers connecting and leaving on stderr
  bool no_fast_extension = false;      ///< true: do not offer the fast extension (BEP 6)
  /// Network emulation: every connection's round trip grows by this much (what we receive
  /// waits that long), and each read waits up to jitter more.
  double rtt_seconds = 0;
  double jitter_seconds = 0;
};
int run_seed(const seed_options& opts);
/// Registers `seed`.
command add_seed_command(CLI::App& parent);

/// `p2pdist get FILE.torrent -o OUT [--listen ADDR:PORT] [--up RATE] [--down RATE]
/// [--keep-seeding]`: downloads into OUT.part (resuming an existing one after re-checking it),
/// renames it to OUT once every piece is verified and prints a line with `complete`; then
/// exits 0, or with keep_seeding seeds until SIGINT or SIGTERM. A signal stops cleanly
/// (announces `stopped`, keeps OUT.part, exit 0). An existing OUT is never overwritten: if it
/// is this torrent's file the command says `complete` and exits 0, otherwise exit 1.
struct get_options {
  std::string torrent_path;
  std::string output_path;
  std::string listen = "127.0.0.1:0";  ///< as for seed
  double up_bytes_per_s = 0;           ///< bytes/s on the wire; 0 = unlimited
  double down_bytes_per_s = 0;         ///< bytes/s on the wire; 0 = unlimited
  bool keep_seeding = false;
  bool verbose = false;                ///< as for seed
  bool no_fast_extension = false;      ///< as for seed
  double rtt_seconds = 0;              ///< as for seed
  double jitter_seconds = 0;           ///< as for seed
  double metadata_timeout_seconds = 60;  ///< a magnet link: the fetch of its metadata, at most
};
int run_get(const get_options& opts);
/// Registers `get`.
command add_get_command(CLI::App& parent);

/// Thrown by commands for a usage error (exit code 2); what() is the one-line message.
/// `p2pdist serve [--listen ADDR:PORT]`: the calculator's page and its JSON API.
struct serve_options {
  std::string listen = "127.0.0.1:8080";
  std::size_t max_leechers = 16;        ///< a swarm from the page: at most this many leechers,
  std::string max_file_size = "64MiB";  ///< sharing at most this much,
  std::string max_seconds = "120s";     ///< ended after this long
};
int run_serve(const serve_options& opts);
/// Registers `serve`.
command add_serve_command(CLI::App& parent);

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace p2pdist::cli
