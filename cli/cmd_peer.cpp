// `p2pdist seed` and `p2pdist get`: one client instance on a loopback address, sharing a
// file or downloading it, until it is complete (get) or stopped by SIGINT or SIGTERM.
//
// stdout carries the few lines scripts wait for ("seeding ...", "complete ...",
// "resuming ...", "stopped ..."); stderr carries warnings and, on a terminal only, a
// progress line redrawn twice a second (the watcher in cli/peer_run.hpp draws it).

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <asio/io_context.hpp>
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "cli/listen.hpp"
#include "cli/output.hpp"
#include "cli/peer_magnet.hpp"
#include "cli/peer_run.hpp"
#include "loopback/protocol/bencode.hpp"
#include "loopback/net/client.hpp"
#include "loopback/protocol/endpoint.hpp"
#include "loopback/protocol/magnet.hpp"
#include "loopback/protocol/metainfo.hpp"
#include "loopback/storage/storage.hpp"
#include "loopback/protocol/tracker_codec.hpp"
#include "model/units.hpp"

namespace p2pdist::cli {
namespace {

namespace fs = std::filesystem;

bt::endpoint peer_listen_endpoint(const std::string& text) { return parse_listen_flag(text, "peers", "127.0.0.2:0"); }

/// A rate flag in bytes/s: finite and above zero, or 0 for unlimited.
void check_rate(const char* flag, double bytes_per_s) {
  if (!(bytes_per_s >= 0) || std::isinf(bytes_per_s)) {
    throw usage_error(std::string(flag) + ": must be a rate above zero or 'unlimited'");
  }
}

/// A storage error as one line: its message, without the ": Invalid argument" that
/// std::system_error appends to the size-mismatch message (which says it all already).
std::string error_text(const std::system_error& e) {
  std::string text = e.what();
  const std::string suffix = ": " + e.code().message();
  if (e.code() == std::errc::invalid_argument && text.size() > suffix.size() &&
      text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0)
    text.resize(text.size() - suffix.size());
  return text;
}

/// The torrent's announce URL, when it names one, is one this client can reach (http:// or
/// udp://, an IPv4 or bracketed IPv6 address); otherwise prints one line and returns false, before the file
/// is checked. A tracker of the other family than the address we listen on gets a warning:
/// it lists us at the address our announce comes from, where nothing listens.
bool tracker_usable(const bt::metainfo& torrent, const std::string& path, const bt::endpoint& listen) {
  if (torrent.announce.empty()) return true;
  const auto url = bt::parse_tracker_url(torrent.announce);
  if (url) {
    if (!listen.ip.is_unspecified() && listen.ip.is_v4() != url->address.is_v4())
      std::cerr << "p2pdist: warning: listening on " << bt::to_string(listen.ip) << " but the tracker "
                << torrent.announce << " is reached over " << (url->address.is_v4() ? "IPv4" : "IPv6")
                << ": it will list this peer at an address where it does not listen (listen on [::] for both)\n";
    return true;
  }
  std::cerr << "p2pdist: " << path << ": announce URL " << torrent.announce << ": "
            << bt::to_string(url.error().code) << " (p2pdist reaches http:// and udp:// trackers at IPv4 or IPv6 addresses, not names)\n";
  return false;
}

/// Starts `c`, turning a listen or storage failure into one line; false on failure.
bool start_client(bt::client& c, const bt::endpoint& listen) {
  try {
    c.start();
  } catch (const std::system_error& e) {
    std::cerr << "p2pdist: cannot start on " << bt::to_string(listen) << ": " << e.what() << '\n';
    return false;
  }
  return true;
}

std::string where(const bt::client& c) { return bt::to_string(bt::endpoint{.ip = c.address(), .port = c.port()}); }

/// For a multi-file torrent, " (in FILE, ...)": the files that piece `index` covers (empty
/// for a single-file torrent, whose one file the message names already).
std::string files_of_piece(const bt::metainfo& torrent, std::uint32_t index) {
  if (!torrent.multi_file) return "";
  const auto begin = torrent.piece_offset(index);
  const auto end = begin + torrent.piece_size(index);
  std::string out;
  for (const auto& f : torrent.files) {
    if (f.length == 0 || f.offset + f.length <= begin || f.offset >= end) continue;
    out += (out.empty() ? " (in " : ", ") + printable_text(f.joined());
  }
  return out.empty() ? out : out + ")";
}

/// Where get puts its bytes until complete, for messages: OUT.part, or for a multi-file
/// torrent "OUT/ (N files, each as FILE.part)".
std::string part_label(const bt::metainfo& torrent, const fs::path& out) {
  if (!torrent.multi_file) return bt::part_path_for(out).string();
  return out.string() + "/ (" + std::to_string(torrent.files.size()) + " files, each as FILE.part)";
}

/// The first piece not in `have`, if any.
std::optional<std::uint32_t> first_missing(const bt::bitfield& have, std::uint32_t pieces) {
  for (std::uint32_t i = 0; i < pieces; ++i)
    if (!have.test(i)) return i;
  return std::nullopt;
}

/// What seed and get set on their client beyond rates: any IPv4 or IPv6 network (not loopback
/// alone), the fast extension or not, requests that follow each connection's rate and
/// round trip (30 ms of the peer's sending plus the round trip, as in swarm, but at least 8
/// at a peer), and the
/// network emulation of --rtt and --jitter (only what we receive is delayed: a peer at the other end adds its own).
struct link_settings {
  double rtt_seconds = 0;
  double jitter_seconds = 0;
  bool fast_extension = true;

  void apply_to(bt::client_config& c) const {
    const auto span = [](double s) { return std::chrono::duration_cast<bt::duration>(std::chrono::duration<double>(s)); };
    c.loopback_only = false;
    c.fast_extension = fast_extension;
    c.picker.request_queue_time = std::chrono::milliseconds(30);
    // At least 8 requests at a peer: a real client answers each after its own disk read,
    // a delay the round trip does not show. libtorrent 2.0 on loopback took ~22 ms a block,
    // so the 2 in flight that its measured rate asked for held our download from it at
    // ~0.7 MB/s (tests/interop/libtorrent_to_get.py, 6 MiB: 9.7 s; with 8, 0.95 s).
    c.picker.min_pipeline_depth = 8;
    c.jitter = span(jitter_seconds);
    if (rtt_seconds > 0)
      c.path = [inbound = span(rtt_seconds)](const bt::ip_address&) {
        return bt::path_delay{.inbound = inbound};
      };
    // A handshake, a request's answer and a silent peer's first message wait two round
    // trips more (ours; a peer's own emulation adds its own), as swarm's timeouts do.
    const auto path = 2 * span(rtt_seconds + jitter_seconds);
    c.handshake_timeout += path;
    c.request_timeout += path;
    c.evict_silent_after += path;
  }
};

/// The link settings of seed's or get's options.
template <class Options>
link_settings link_of(const Options& o) {
  return {.rtt_seconds = o.rtt_seconds, .jitter_seconds = o.jitter_seconds, .fast_extension = !o.no_fast_extension};
}

/// Seeds an already complete, verified file (seed, or get on a finished OUT).
int seed_verified(const bt::metainfo& torrent, std::shared_ptr<bt::file_storage> store, const bt::endpoint& listen,
                  double up_bytes_per_s, const link_settings& link, const std::string& label, bool verbose) {
  asio::io_context io;
  // Before anything is printed, so that a signal sent as soon as a line appears is caught.
  peer_run watcher(io, run_params{.torrent = torrent, .out_label = label, .progress = stderr_is_terminal(), .verbose = verbose});
  auto shared_torrent = std::make_shared<const bt::metainfo>(torrent);
  bt::client_config config{
      .torrent = shared_torrent,
      .store = std::move(store),
      .address = listen.ip,
      .port = listen.port,
      .initial = bt::initial_data::assume_complete,
      .upload_bytes_per_s = up_bytes_per_s,
      .on_event = watcher.event_handler(),
  };
  link.apply_to(config);
  bt::client c(io, std::move(config));
  if (!start_client(c, listen)) return 1;
  std::cout << "seeding " << label << " (" << torrent.total_bytes << " bytes, " << torrent.piece_count()
            << " pieces) on " << where(c) << std::endl;
  if (torrent.announce.empty()) std::cerr << "p2pdist: warning: the torrent names no tracker; waiting for peers\n";
  watcher.run(c);
  std::cout << "stopped" << std::endl;
  return 0;
}

/// get with OUT already there: never overwrite it. If it is this torrent's file there is
/// nothing to download (with --keep-seeding, seed it); otherwise refuse (exit 1).
int use_existing_output(const bt::metainfo& torrent, const bt::endpoint& listen, const get_options& opts) {
  const fs::path out = opts.output_path;
  std::shared_ptr<bt::file_storage> existing;
  try {
    existing = bt::open_seed_file(out, torrent);
  } catch (const std::system_error& e) {
    std::cerr << "p2pdist: " << out.string() << " already exists and is not this torrent's "
              << (torrent.multi_file ? "data" : "file") << " (" << error_text(e) << "); remove it or choose another -o\n";
    return 1;
  }
  const auto have = bt::verify_pieces(*existing, torrent);
  if (const auto bad = first_missing(have, torrent.piece_count())) {
    std::cerr << "p2pdist: " << out.string() << " already exists and is not this torrent's "
              << (torrent.multi_file ? "data" : "file") << " (piece " << *bad << files_of_piece(torrent, *bad)
              << " fails its SHA-1 check); remove it or choose another -o\n";
    return 1;
  }
  std::cout << "complete: " << out.string() << " already holds the whole " << (torrent.multi_file ? "torrent" : "file")
            << " (" << torrent.piece_count()
            << " pieces verified); nothing to download" << std::endl;
  if (!opts.keep_seeding) return 0;
  return seed_verified(torrent, std::move(existing), listen, opts.up_bytes_per_s, link_of(opts), out.string(),
                       opts.verbose);
}

/// get's download into `store` (OUT.part, re-checked first when `resuming`): runs the client
/// until the file is complete and renamed to OUT, then stops or, with --keep-seeding, seeds
/// until SIGINT or SIGTERM. A signal stops it early, keeping OUT.part.
int download(const bt::metainfo& torrent, std::shared_ptr<bt::file_storage> store, const bt::endpoint& listen,
             const get_options& opts, bool resuming, bool created_root) {
  const fs::path out = opts.output_path;
  const std::string part = part_label(torrent, out);
  std::error_code ec;
  asio::io_context io;
  // Before anything is printed, so that a signal sent as soon as a line appears is caught.
  peer_run watcher(io, run_params{.torrent = torrent,
                                  .leeching = true,
                                  .keep_seeding = opts.keep_seeding,
                                  .out_label = out.string(),
                                  .progress = stderr_is_terminal(),
                                  .verbose = opts.verbose});
  auto shared_torrent = std::make_shared<const bt::metainfo>(torrent);
  bt::client_config config{
      .torrent = shared_torrent,
      .store = store,
      .address = listen.ip,
      .port = listen.port,
      .initial = resuming ? bt::initial_data::verify : bt::initial_data::assume_empty,
      .upload_bytes_per_s = opts.up_bytes_per_s,
      .download_bytes_per_s = opts.down_bytes_per_s,
      // Without --keep-seeding it stops once complete, announcing `completed`, then `stopped`.
      .seed_when_complete = opts.keep_seeding,
      .on_event = watcher.event_handler(),
  };
  link_of(opts).apply_to(config);
  bt::client c(io, std::move(config));
  if (!start_client(c, listen)) {
    if (!resuming) {  // created just now, holding nothing: leave no trace
      for (const auto& f : store->files()) fs::remove(f.current, ec);
      if (created_root) fs::remove_all(out, ec);
    }
    return 1;
  }
  const auto held = c.stats().pieces_held;
  std::cout << "get " << printable_text(torrent.name) << " (" << torrent.total_bytes << " bytes, "
            << torrent.piece_count() << " pieces) into " << part << "; listening on " << where(c) << std::endl;
  if (resuming) {
    std::cout << "resuming from " << part << ": kept " << held << " of " << torrent.piece_count() << " pieces"
              << std::endl;
  }
  if (torrent.announce.empty()) std::cerr << "p2pdist: warning: the torrent names no tracker; waiting for peers\n";
  if (c.is_complete()) {
    // The .part already held every piece: start() verified and renamed it.
    std::cout << "complete: " << out.string() << " (" << torrent.total_bytes << " bytes, "
              << torrent.piece_count() << " pieces verified)" << std::endl;
    if (!opts.keep_seeding) {
      bool stopped = false;
      c.stop([&] { stopped = true; });
      io.run();
      return stopped ? 0 : 1;
    }
    std::cout << "seeding " << out.string() << " on " << where(c) << " until SIGINT or SIGTERM" << std::endl;
  }
  watcher.run(c);
  const auto s = c.stats();
  if (s.complete && !store->finalized()) {
    std::cerr << "p2pdist: " << part << " is complete but could not be renamed to " << out.string() << '\n';
    return 1;
  }
  if (!s.complete) {
    std::cout << "stopped: " << part << " keeps " << s.pieces_held << " of " << s.piece_count
              << " pieces" << std::endl;
  } else if (watcher.interrupted()) {
    std::cout << "stopped" << std::endl;
  }
  return 0;
}

/// The texts of the flags seed and get share: --listen, -v and --no-fast-extension (filled
/// in directly), --up, --rtt and --jitter.
struct peer_flag_texts {
  std::string up = "unlimited";
  std::string rtt = "0";
  std::string jitter = "0";

  void add_to(CLI::App& app, std::string& listen, bool& verbose, bool& no_fast_extension) {
    app.add_option("--listen", listen,
                   "ADDR:PORT to listen on, any address of this host: IPv4, or IPv6 in brackets (0.0.0.0: all IPv4, [::]: all); port 0 picks a free port")
        ->capture_default_str();
    app.add_flag("-v,--verbose", verbose, "log peers connecting and leaving (with the reason) on stderr");
    app.add_flag("--no-fast-extension", no_fast_extension,
                 "plain BEP 3: do not offer the fast extension (BEP 6) in our handshakes");
    app.add_option("--up", up, "upload limit, e.g. 2MB/s, 30Mbps, or 'unlimited'")->capture_default_str();
    app.add_option("--rtt", rtt,
                   "network emulation: every connection's round trip grows by this much (what this peer "
                   "receives waits that long; a p2pdist peer at the other end adds its own)")
        ->capture_default_str();
    app.add_option("--jitter", jitter, "network emulation: each read waits up to this much more (order kept)")
        ->capture_default_str();
  }
  /// Parses them into `o` (seed_options or get_options); a usage_error names the flag.
  template <class Options>
  void parse_into(Options& o) const {
    o.up_bytes_per_s = limit_bytes_per_s("--up", up);
    o.rtt_seconds = delay_seconds("--rtt", rtt);
    o.jitter_seconds = delay_seconds("--jitter", jitter);
  }
};

/// seed's command line: the options CLI11 fills in directly, and the flag texts.
struct seed_input {
  seed_options opts;
  peer_flag_texts texts;

  [[nodiscard]] seed_options parsed() const {
    seed_options o = opts;
    texts.parse_into(o);
    return o;
  }
};

/// get's command line: the options CLI11 fills in directly, and the flag texts.
struct get_input {
  get_options opts;
  peer_flag_texts texts;
  std::string down = "unlimited";
  std::string metadata_timeout = "60s";

  [[nodiscard]] get_options parsed() const {
    get_options o = opts;
    texts.parse_into(o);
    o.down_bytes_per_s = limit_bytes_per_s("--down", down);
    o.metadata_timeout_seconds = parse_flag("--metadata-timeout", metadata_timeout, model::parse_duration_seconds);
    return o;
  }
};

}  // namespace

int run_seed(const seed_options& opts) {
  const bt::endpoint listen = peer_listen_endpoint(opts.listen);
  check_rate("--up", opts.up_bytes_per_s);
  if (opts.torrent_path.empty()) throw usage_error("torrent: an empty path (give the .torrent file)");
  if (opts.file_path.empty()) throw usage_error("file: an empty path (give the file to seed)");
  const auto torrent = load_torrent(opts.torrent_path);
  if (!torrent || !tracker_usable(*torrent, opts.torrent_path, listen)) return 1;
  warn_case_collisions(*torrent);
  std::error_code dir_ec;
  const bool is_directory = fs::is_directory(opts.file_path, dir_ec);
  if (torrent->multi_file && !is_directory) {
    std::cerr << "p2pdist: " << opts.file_path << ": not a directory; " << opts.torrent_path << " holds "
              << torrent->files.size() << " files: give the directory that holds them\n";
    return 1;
  }
  if (!torrent->multi_file && is_directory) {
    std::cerr << "p2pdist: " << opts.file_path << ": cannot read: Is a directory\n";
    return 1;
  }

  std::shared_ptr<bt::file_storage> store;
  try {
    store = bt::open_seed_file(opts.file_path, *torrent);
  } catch (const std::system_error& e) {
    std::cerr << "p2pdist: " << error_text(e) << '\n';
    return 1;
  }
  bt::bitfield have;
  try {
    have = bt::verify_pieces(*store, *torrent);
  } catch (const std::exception& e) {
    std::cerr << "p2pdist: " << opts.file_path << ": " << e.what() << '\n';
    return 1;
  }
  if (const auto bad = first_missing(have, torrent->piece_count())) {
    const auto bad_count = torrent->piece_count() - have.count();
    std::cerr << "p2pdist: " << opts.file_path << " does not match " << opts.torrent_path << ": piece " << *bad
              << " (bytes " << torrent->piece_offset(*bad) << " to "
              << torrent->piece_offset(*bad) + torrent->piece_size(*bad) << ")" << files_of_piece(*torrent, *bad)
              << " fails its SHA-1 check (" << bad_count
              << " of " << torrent->piece_count() << " pieces bad)\n";
    return 1;
  }
  std::cout << "checked " << opts.file_path << ": all " << torrent->piece_count() << " pieces verified";
  if (torrent->multi_file) std::cout << " (" << torrent->files.size() << " files)";
  std::cout << std::endl;
  return seed_verified(*torrent, std::move(store), listen, opts.up_bytes_per_s, link_of(opts), opts.file_path,
                       opts.verbose);
}

int run_get(const get_options& opts) {
  bt::endpoint listen = peer_listen_endpoint(opts.listen);
  check_rate("--up", opts.up_bytes_per_s);
  check_rate("--down", opts.down_bytes_per_s);
  if (opts.output_path.empty()) throw usage_error("-o: an output file is required");
  if (opts.torrent_path.empty()) throw usage_error("torrent: an empty path (give the .torrent file)");
  if (!(opts.metadata_timeout_seconds > 0 && opts.metadata_timeout_seconds <= 3600))
    throw usage_error("--metadata-timeout: must be above 0 s and at most 1 h");
  // A magnet link: the metadata from peers first (and the port we will listen on, so that
  // the trackers list us there from the start).
  const bool magnet = bt::looks_like_magnet(opts.torrent_path);
  const auto torrent =
      magnet ? torrent_from_magnet(opts.torrent_path, listen,
                                   std::chrono::duration_cast<bt::duration>(
                                       std::chrono::duration<double>(opts.metadata_timeout_seconds)),
                                   opts.verbose)
             : load_torrent(opts.torrent_path);
  if (!torrent || (!magnet && !tracker_usable(*torrent, opts.torrent_path, listen))) return 1;

  warn_case_collisions(*torrent);
  // -o an existing directory, for a single-file torrent: the file goes into it under the
  // torrent's name (which the metainfo check keeps to one safe path component), as other
  // clients do. For a multi-file torrent -o is the directory that holds its files.
  get_options o = opts;
  std::error_code ec;
  if (!torrent->multi_file && fs::is_directory(o.output_path, ec))
    o.output_path = (fs::path(o.output_path) / torrent->name).string();
  const fs::path out = o.output_path;
  const auto there = [&](const fs::path& p) { return fs::exists(p, ec) || fs::is_symlink(p, ec); };
  if (torrent->multi_file && there(out) && !fs::is_directory(out, ec)) {
    std::cerr << "p2pdist: " << out.string() << " already exists and is not a directory; for a torrent of "
              << torrent->files.size() << " files -o names the directory to hold them\n";
    return 1;
  }
  // Every final file there: it is a finished download (or not this torrent's data at all).
  // Some of them there: never overwrite a file that was not ours.
  const auto finals = bt::file_paths(out, *torrent);
  const auto present = static_cast<std::size_t>(std::count_if(finals.begin(), finals.end(), there));
  if (present == finals.size()) return use_existing_output(*torrent, listen, o);
  if (present > 0) {
    const auto first = *std::find_if(finals.begin(), finals.end(), there);
    std::cerr << "p2pdist: " << first.string() << " already exists (" << present << " of " << finals.size()
              << " of the torrent's files are there); p2pdist never overwrites a file: remove them or choose another -o\n";
    return 1;
  }
  const bool resuming = std::any_of(finals.begin(), finals.end(),
                                    [&](const fs::path& p) { return there(bt::part_path_for(p)); });
  const bool created_root = torrent->multi_file && !there(out);
  std::shared_ptr<bt::file_storage> store;
  try {
    store = bt::open_download_file(out, *torrent);
  } catch (const std::system_error& e) {
    std::cerr << "p2pdist: " << error_text(e) << '\n';
    if (!resuming) {  // the .part files (and directories) made before the failure hold nothing
      for (const auto& p : finals) fs::remove(bt::part_path_for(p), ec);
      if (created_root) fs::remove_all(out, ec);
    }
    return 1;
  }
  return download(*torrent, std::move(store), listen, o, resuming, created_root);
}

command add_seed_command(CLI::App& parent) {
  auto in = std::make_shared<seed_input>();
  auto* app = parent.add_subcommand("seed", "check a file against its .torrent and share it until stopped");
  app->add_option("torrent", in->opts.torrent_path, "the .torrent file")->required();
  app->add_option("file", in->opts.file_path,
                  "the complete file it describes (for a multi-file torrent: the directory that holds its files)")
      ->required();
  in->texts.add_to(*app, in->opts.listen, in->opts.verbose, in->opts.no_fast_extension);
  return {app, [in] { return run_seed(in->parsed()); }};
}

command add_get_command(CLI::App& parent) {
  auto in = std::make_shared<get_input>();
  auto& o = in->opts;
  auto* app = parent.add_subcommand(
      "get", "download a .torrent's file into OUT (via OUT.part), or its files into the directory OUT; resuming if stopped");
  app->add_option("torrent", o.torrent_path,
                  "the .torrent file, or a magnet link (magnet:?xt=urn:btih:...&tr=...): its metadata is fetched "
                  "from peers first")
      ->required();
  app->add_option("-o,--output", o.output_path,
                  "where the file goes once complete and verified (a directory: into it, under the torrent's name); "
                  "for a multi-file torrent, the directory that gets its files (created if need be)")
      ->required();
  in->texts.add_to(*app, o.listen, o.verbose, o.no_fast_extension);
  app->add_option("--down", in->down, "download limit, e.g. 2MB/s, 30Mbps, or 'unlimited'")->capture_default_str();
  app->add_flag("--keep-seeding", o.keep_seeding, "once complete, go on seeding until SIGINT or SIGTERM");
  app->add_option("--metadata-timeout", in->metadata_timeout,
                  "a magnet link: give up when no peer has sent the metadata within this long")
      ->capture_default_str();
  return {app, [in] { return run_get(in->parsed()); }};
}

}  // namespace p2pdist::cli
