#pragma once
// The p2pdist subcommands as plain functions over option structs. main.cpp parses the
// command line (CLI11) into these structs; each run_* returns the process exit code:
// 0 success, 1 runtime failure (message already on stderr), 2 usage error.

#include <cstdint>
#include <optional>
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

}  // namespace p2pdist::cli
