#pragma once
// The p2pdist subcommands as plain functions over option structs. main.cpp parses the
// command line (CLI11) into these structs; each run_* returns the process exit code:
// 0 success, 1 runtime failure (message already on stderr), 2 usage error.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace p2pdist::cli {

/// `p2pdist info FILE.torrent [--json FILE]`
struct info_options {
  std::string torrent_path;
  std::string json_path;  ///< empty: no JSON; "-": stdout
};
int run_info(const info_options& opts);

/// `p2pdist make-torrent FILE --announce URL -o OUT [--piece-size SIZE] [--name NAME]`
struct make_torrent_options {
  std::string file_path;
  std::string announce;
  std::string output_path;
  std::uint32_t piece_bytes = 256 * 1024;
  std::string name;  ///< empty: the file's base name
};
int run_make_torrent(const make_torrent_options& opts);

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
  std::string json_path;                     ///< empty: no JSON; "-": stdout
};
int run_bound(const bound_options& opts);

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

/// `p2pdist demo` (the main job): the textbook's example as a table.
struct demo_options {
  std::string json_path;
};
int run_demo(const demo_options& opts);

/// `p2pdist tracker --listen 127.0.0.1:6969 [--interval 5s]`: runs the HTTP tracker until
/// SIGINT or SIGTERM.
struct tracker_options {
  std::string listen = "127.0.0.1:6969";  ///< ADDR:PORT, ADDR in 127.0.0.0/8
  double interval_seconds = 5;            ///< the announce interval told to clients
};
int run_tracker(const tracker_options& opts);

/// Thrown by commands for a usage error (exit code 2); what() is the one-line message.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace p2pdist::cli
