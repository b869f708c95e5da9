// `p2pdist seed` and `p2pdist get`: one client instance on a loopback address, sharing a
// file or downloading it, until it is complete (get) or stopped by SIGINT or SIGTERM.
//
// stdout carries the few lines scripts wait for ("seeding ...", "complete ...",
// "resuming ...", "stopped ..."); stderr carries warnings and, on a terminal only, a
// progress line redrawn twice a second.

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "cli/listen.hpp"
#include "cli/output.hpp"
#include "loopback/protocol/bencode.hpp"
#include "loopback/net/client.hpp"
#include "loopback/protocol/endpoint.hpp"
#include "loopback/protocol/metainfo.hpp"
#include "loopback/storage/storage.hpp"
#include "loopback/protocol/tracker_codec.hpp"

namespace p2pdist::cli {
namespace {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

constexpr auto progress_period = std::chrono::milliseconds(500);

bt::endpoint_v4 peer_listen_endpoint(const std::string& text) { return parse_listen_flag(text, "peers", "127.0.0.2:0"); }

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

/// Reads and parses a .torrent; on failure prints one line and returns nullopt.
std::optional<bt::metainfo> load_torrent(const std::string& path) {
  const std::size_t max_bytes = bt::bencode_limits{}.max_bytes;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    std::cerr << "p2pdist: " << path << ": cannot read: "
              << (fs::exists(path, ec) ? "not a regular file" : "No such file or directory") << '\n';
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "p2pdist: " << path << ": cannot read: " << std::generic_category().message(errno) << '\n';
    return std::nullopt;
  }
  // At most one byte more than the parser accepts, so that it refuses an oversized file
  // with an offset rather than us reading all of it.
  const auto size = fs::file_size(path, ec);
  std::string bytes;
  bytes.resize(ec ? max_bytes + 1 : static_cast<std::size_t>(std::min<std::uintmax_t>(size, max_bytes + 1)));
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (in.bad()) {
    std::cerr << "p2pdist: " << path << ": cannot read\n";
    return std::nullopt;
  }
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  auto parsed = bt::parse_metainfo(bytes);
  if (!parsed) {
    std::cerr << "p2pdist: " << path << ": " << bt::describe(parsed.error()) << '\n';
    return std::nullopt;
  }
  return std::move(parsed).value();
}

/// "3.10 MB/s" (MB = 10^6 bytes).
std::string rate_text(double bytes_per_s) {
  char buf[32];
  if (bytes_per_s >= 1e6) std::snprintf(buf, sizeof buf, "%.2f MB/s", bytes_per_s / 1e6);
  else if (bytes_per_s >= 1e3) std::snprintf(buf, sizeof buf, "%.1f kB/s", bytes_per_s / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f B/s", bytes_per_s);
  return buf;
}

/// "1:02:03" or "2:03"; "--:--" when unknown.
std::string eta_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 359999) return "--:--";
  const auto s = static_cast<long>(std::lround(seconds));
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

/// The progress line: a bar, percent, rates (bytes/s), ETA (seconds; NaN: unknown), peers.
std::string progress_line(const bt::client_stats& s, double down_rate, double up_rate, double eta_seconds) {
  const double fraction = s.piece_count == 0 ? 1.0 : static_cast<double>(s.pieces_held) / s.piece_count;
  constexpr int width = 24;
  const int filled = static_cast<int>(fraction * width);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(width, '.');
  char buf[160];
  if (s.complete) {
    std::snprintf(buf, sizeof buf, "\r[%s] 100.0%%  seeding  up %s  peers %zu\033[K", bar.c_str(),
                  rate_text(up_rate).c_str(), s.peers_connected);
  } else {
    std::snprintf(buf, sizeof buf, "\r[%s] %5.1f%%  down %s  up %s  ETA %s  peers %zu\033[K", bar.c_str(),
                  100.0 * fraction, rate_text(down_rate).c_str(), rate_text(up_rate).c_str(),
                  eta_text(eta_seconds).c_str(), s.peers_connected);
  }
  return buf;
}

/// What a run does with the client it watches.
struct run_params {
  const bt::metainfo& torrent;
  bool leeching = false;      ///< get: print `complete` when done
  bool keep_seeding = false;  ///< get: go on seeding once complete
  std::string out_label;      ///< the file named in messages
  bool progress = false;      ///< draw the progress line on stderr
  bool verbose = false;       ///< log peers coming and going on stderr
};

/// Watches one client: prints its milestones, draws progress, stops it on SIGINT/SIGTERM or
/// (get without --keep-seeding) at completion. Everything runs on the caller's thread
/// inside io.run().
class peer_run {
 public:
  peer_run(asio::io_context& io, run_params params)
      : io_(io), params_(std::move(params)), signals_(io, SIGINT, SIGTERM), timer_(io) {}

  /// The on_event callback for client_config (the client calls it on its strand, which
  /// here is the one thread running io).
  std::function<void(const bt::client_event&)> event_handler() {
    return [this](const bt::client_event& e) { on_event(e); };
  }

  /// Runs until the client has stopped. Precondition: `c` has started.
  void run(bt::client& c) {
    client_ = &c;
    wait_signal();
    last_sample_ = steady::now();
    last_stats_ = c.stats();
    if (params_.progress) arm_timer();
    io_.run();
  }

  /// True when the run ended because a signal asked it to.
  [[nodiscard]] bool interrupted() const noexcept { return interrupted_; }

 private:
  void wait_signal() {
    signals_.async_wait([this](const std::error_code& ec, int signo) {
      if (ec) return;
      if (stopping_) {  // a second signal: do not wait for the `stopped` announce
        io_.stop();
        return;
      }
      interrupted_ = true;
      clear_line();
      std::cout << "stopping on " << (signo == SIGINT ? "SIGINT" : "SIGTERM")
                << " (announcing stopped to the tracker)" << std::endl;
      finish();
      wait_signal();
    });
  }

  void arm_timer() {
    timer_.expires_after(progress_period);
    timer_.async_wait([this](const std::error_code& ec) {
      if (ec || stopping_) return;
      draw();
      arm_timer();
    });
  }

  void draw() {
    const auto now = steady::now();
    const auto s = client_->stats();
    const double dt = std::chrono::duration<double>(now - last_sample_).count();
    if (dt > 0) {
      const double down = static_cast<double>(s.payload_down_bytes - last_stats_.payload_down_bytes) / dt;
      const double up = static_cast<double>(s.payload_up_bytes - last_stats_.payload_up_bytes) / dt;
      // Smoothed over about two seconds, so the figures do not flicker.
      const double a = std::min(1.0, dt / 2.0);
      down_rate_ = have_rate_ ? down_rate_ + a * (down - down_rate_) : down;
      up_rate_ = have_rate_ ? up_rate_ + a * (up - up_rate_) : up;
      have_rate_ = true;
    }
    last_sample_ = now;
    last_stats_ = s;
    const double left_bytes =
        static_cast<double>(params_.torrent.total_bytes) *
        (1.0 - static_cast<double>(s.pieces_held) / std::max<std::uint32_t>(1, s.piece_count));
    const double eta = down_rate_ > 1 ? left_bytes / down_rate_ : std::nan("");
    std::cerr << progress_line(s, down_rate_, up_rate_, eta) << std::flush;
    line_drawn_ = true;
  }

  void clear_line() {
    if (line_drawn_) std::cerr << "\r\033[K" << std::flush;
    line_drawn_ = false;
  }

  void finish() {
    if (stopping_) return;
    stopping_ = true;
    timer_.cancel();
    client_->stop([this] {
      signals_.cancel();
      timer_.cancel();
      io_.stop();
    });
  }

  void on_event(const bt::client_event& e) {
    using kind = bt::client_event_kind;
    switch (e.kind) {
      case kind::completed:
        if (!params_.leeching) break;
        clear_line();
        {
          const auto s = client_->stats();
          std::ostringstream took;
          if (s.started_at && s.completed_at) {
            took.precision(2);
            took << std::fixed << " in " << std::chrono::duration<double>(*s.completed_at - *s.started_at).count()
                 << " s";
          }
          std::cout << "complete: " << params_.out_label << " (" << params_.torrent.total_bytes << " bytes, "
                    << params_.torrent.piece_count() << " pieces verified)" << took.str() << std::endl;
        }
        if (params_.keep_seeding) {
          std::cout << "seeding " << params_.out_label << " on " << bt::format_ipv4(client_->address()) << ':'
                    << client_->port() << " until SIGINT or SIGTERM" << std::endl;
        } else {
          finish();
        }
        break;
      case kind::tracker_announced:
        if (!announced_) std::cout << "tracker: announced " << e.detail << std::endl;
        else if (tracker_failing_) std::cerr << "p2pdist: tracker reachable again\n";
        announced_ = true;
        tracker_failing_ = false;
        break;
      case kind::tracker_failed:
        if (!tracker_failing_) {
          clear_line();
          std::cerr << "p2pdist: warning: tracker: " << e.detail << " (retrying)\n";
        }
        tracker_failing_ = true;
        break;
      case kind::hash_failed:
        clear_line();
        std::cerr << "p2pdist: warning: piece " << e.piece.value_or(0) << " failed its SHA-1 check; fetching it again\n";
        break;
      case kind::peer_banned:
        clear_line();
        std::cerr << "p2pdist: warning: banned " << (e.peer_ip ? bt::format_ipv4(*e.peer_ip) : "a peer") << ": "
                  << e.detail << '\n';
        break;
      case kind::peer_connected:
      case kind::peer_disconnected:
        if (!params_.verbose) break;
        clear_line();
        std::cerr << "p2pdist: peer " << (e.peer_ip ? bt::format_ipv4(*e.peer_ip) : "?") << ':' << e.peer_port
                  << (e.kind == kind::peer_connected ? " connected" : " disconnected: " + e.detail) << '\n';
        break;
      case kind::error:
        clear_line();
        std::cerr << "p2pdist: warning: " << e.detail << '\n';
        break;
      default:
        break;
    }
  }

  asio::io_context& io_;
  run_params params_;
  asio::signal_set signals_;
  asio::steady_timer timer_;
  bt::client* client_ = nullptr;
  bool stopping_ = false;
  bool interrupted_ = false;
  bool announced_ = false;
  bool tracker_failing_ = false;
  bool line_drawn_ = false;
  bool have_rate_ = false;
  double down_rate_ = 0;
  double up_rate_ = 0;
  steady::time_point last_sample_{};
  bt::client_stats last_stats_{};
};

/// Starts `c`, turning a listen or storage failure into one line; false on failure.
bool start_client(bt::client& c, const bt::endpoint_v4& listen) {
  try {
    c.start();
  } catch (const std::system_error& e) {
    std::cerr << "p2pdist: cannot start on " << bt::to_string(listen) << ": " << e.what() << '\n';
    return false;
  }
  return true;
}

std::string where(const bt::client& c) { return bt::format_ipv4(c.address()) + ":" + std::to_string(c.port()); }

/// The first piece not in `have`, if any.
std::optional<std::uint32_t> first_missing(const bt::bitfield& have, std::uint32_t pieces) {
  for (std::uint32_t i = 0; i < pieces; ++i)
    if (!have.test(i)) return i;
  return std::nullopt;
}

/// Seeds an already complete, verified file (seed, or get on a finished OUT).
int seed_verified(const bt::metainfo& torrent, std::shared_ptr<bt::file_storage> store, const bt::endpoint_v4& listen,
                  double up_bytes_per_s, const std::string& label, bool verbose) {
  asio::io_context io;
  // Before anything is printed, so that a signal sent as soon as a line appears is caught.
  peer_run watcher(io, run_params{.torrent = torrent, .out_label = label, .progress = stderr_is_terminal(), .verbose = verbose});
  auto shared_torrent = std::make_shared<const bt::metainfo>(torrent);
  bt::client c(io, bt::client_config{
                       .torrent = shared_torrent,
                       .store = std::move(store),
                       .address = listen.ip,
                       .port = listen.port,
                       .initial = bt::initial_data::assume_complete,
                       .upload_bytes_per_s = up_bytes_per_s,
                       .on_event = watcher.event_handler(),
                   });
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
int use_existing_output(const bt::metainfo& torrent, const bt::endpoint_v4& listen, const get_options& opts) {
  const fs::path out = opts.output_path;
  std::shared_ptr<bt::file_storage> existing;
  try {
    existing = bt::open_seed_file(out, torrent);
  } catch (const std::system_error& e) {
    std::cerr << "p2pdist: " << out.string() << " already exists and is not this torrent's file (" << error_text(e)
              << "); remove it or choose another -o\n";
    return 1;
  }
  const auto have = bt::verify_pieces(*existing, torrent);
  if (const auto bad = first_missing(have, torrent.piece_count())) {
    std::cerr << "p2pdist: " << out.string() << " already exists and is not this torrent's file (piece " << *bad
              << " fails its SHA-1 check); remove it or choose another -o\n";
    return 1;
  }
  std::cout << "complete: " << out.string() << " already holds the whole file (" << torrent.piece_count()
            << " pieces verified); nothing to download" << std::endl;
  if (!opts.keep_seeding) return 0;
  return seed_verified(torrent, std::move(existing), listen, opts.up_bytes_per_s, out.string(), opts.verbose);
}

/// get's download into `store` (OUT.part, re-checked first when `resuming`): runs the client
/// until the file is complete and renamed to OUT, then stops or, with --keep-seeding, seeds
/// until SIGINT or SIGTERM. A signal stops it early, keeping OUT.part.
int download(const bt::metainfo& torrent, std::shared_ptr<bt::file_storage> store, const bt::endpoint_v4& listen,
             const get_options& opts, bool resuming) {
  const fs::path out = opts.output_path;
  const fs::path part = bt::part_path_for(out);
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
  bt::client c(io, bt::client_config{
                       .torrent = shared_torrent,
                       .store = store,
                       .address = listen.ip,
                       .port = listen.port,
                       .initial = resuming ? bt::initial_data::verify : bt::initial_data::assume_empty,
                       .upload_bytes_per_s = opts.up_bytes_per_s,
                       .download_bytes_per_s = opts.down_bytes_per_s,
                       .on_event = watcher.event_handler(),
                   });
  if (!start_client(c, listen)) {
    if (!resuming) fs::remove(part, ec);  // created just now, holds nothing: leave no trace
    return 1;
  }
  const auto held = c.stats().pieces_held;
  std::cout << "get " << torrent.name << " (" << torrent.total_bytes << " bytes, " << torrent.piece_count()
            << " pieces) into " << part.string() << "; listening on " << where(c) << std::endl;
  if (resuming) {
    std::cout << "resuming from " << part.string() << ": kept " << held << " of " << torrent.piece_count()
              << " pieces" << std::endl;
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
    std::cerr << "p2pdist: " << part.string() << " is complete but could not be renamed to " << out.string() << '\n';
    return 1;
  }
  if (!s.complete) {
    std::cout << "stopped: " << part.string() << " keeps " << s.pieces_held << " of " << s.piece_count
              << " pieces" << std::endl;
  } else if (watcher.interrupted()) {
    std::cout << "stopped" << std::endl;
  }
  return 0;
}

/// Registers the flags seed and get share: --listen, -v, --up.
void add_peer_flags(CLI::App& app, std::string& listen, bool& verbose, std::string& up) {
  app.add_option("--listen", listen, "ADDR:PORT to listen on, ADDR in 127.0.0.0/8; port 0 picks a free port")
      ->capture_default_str();
  app.add_flag("-v,--verbose", verbose, "log peers connecting and leaving (with the reason) on stderr");
  app.add_option("--up", up, "upload limit, e.g. 2MB/s, 30Mbps, or 'unlimited'")->capture_default_str();
}

/// seed's command line: the options CLI11 fills in directly, and the rate text.
struct seed_input {
  seed_options opts;
  std::string up = "unlimited";

  /// `opts` with the rate parsed; a usage_error names --up.
  [[nodiscard]] seed_options parsed() const {
    seed_options o = opts;
    o.up_bytes_per_s = limit_bytes_per_s("--up", up);
    return o;
  }
};

/// get's command line: the options CLI11 fills in directly, and the rate texts.
struct get_input {
  get_options opts;
  std::string up = "unlimited";
  std::string down = "unlimited";

  /// `opts` with the rates parsed; a usage_error names the flag at fault.
  [[nodiscard]] get_options parsed() const {
    get_options o = opts;
    o.up_bytes_per_s = limit_bytes_per_s("--up", up);
    o.down_bytes_per_s = limit_bytes_per_s("--down", down);
    return o;
  }
};

}  // namespace

int run_seed(const seed_options& opts) {
  const bt::endpoint_v4 listen = peer_listen_endpoint(opts.listen);
  check_rate("--up", opts.up_bytes_per_s);
  if (opts.torrent_path.empty()) throw usage_error("torrent: an empty path (give the .torrent file)");
  if (opts.file_path.empty()) throw usage_error("file: an empty path (give the file to seed)");
  const auto torrent = load_torrent(opts.torrent_path);
  if (!torrent) return 1;
  std::error_code dir_ec;
  if (fs::is_directory(opts.file_path, dir_ec)) {
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
              << torrent->piece_offset(*bad) + torrent->piece_size(*bad) << ") fails its SHA-1 check (" << bad_count
              << " of " << torrent->piece_count() << " pieces bad)\n";
    return 1;
  }
  std::cout << "checked " << opts.file_path << ": all " << torrent->piece_count() << " pieces verified"
            << std::endl;
  return seed_verified(*torrent, std::move(store), listen, opts.up_bytes_per_s, opts.file_path, opts.verbose);
}

int run_get(const get_options& opts) {
  const bt::endpoint_v4 listen = peer_listen_endpoint(opts.listen);
  check_rate("--up", opts.up_bytes_per_s);
  check_rate("--down", opts.down_bytes_per_s);
  if (opts.output_path.empty()) throw usage_error("-o: an output file is required");
  if (opts.torrent_path.empty()) throw usage_error("torrent: an empty path (give the .torrent file)");
  const auto torrent = load_torrent(opts.torrent_path);
  if (!torrent) return 1;

  const fs::path out = opts.output_path;
  std::error_code ec;
  if (fs::exists(out, ec) || fs::is_symlink(out, ec)) return use_existing_output(*torrent, listen, opts);
  const bool resuming = fs::exists(bt::part_path_for(out), ec);
  std::shared_ptr<bt::file_storage> store;
  try {
    store = bt::open_download_file(out, *torrent);
  } catch (const std::system_error& e) {
    std::cerr << "p2pdist: " << error_text(e) << '\n';
    return 1;
  }
  return download(*torrent, std::move(store), listen, opts, resuming);
}

command add_seed_command(CLI::App& parent) {
  auto in = std::make_shared<seed_input>();
  auto* app = parent.add_subcommand("seed", "check a file against its .torrent and share it until stopped");
  app->add_option("torrent", in->opts.torrent_path, "the .torrent file")->required();
  app->add_option("file", in->opts.file_path, "the complete file it describes")->required();
  add_peer_flags(*app, in->opts.listen, in->opts.verbose, in->up);
  return {app, [in] { return run_seed(in->parsed()); }};
}

command add_get_command(CLI::App& parent) {
  auto in = std::make_shared<get_input>();
  auto& o = in->opts;
  auto* app = parent.add_subcommand("get", "download a .torrent's file into OUT (via OUT.part), resuming if stopped");
  app->add_option("torrent", o.torrent_path, "the .torrent file")->required();
  app->add_option("-o,--output", o.output_path, "where the file goes once complete and verified")->required();
  add_peer_flags(*app, o.listen, o.verbose, in->up);
  app->add_option("--down", in->down, "download limit, e.g. 2MB/s, 30Mbps, or 'unlimited'")->capture_default_str();
  app->add_flag("--keep-seeding", o.keep_seeding, "once complete, go on seeding until SIGINT or SIGTERM");
  return {app, [in] { return run_get(in->parsed()); }};
}

}  // namespace p2pdist::cli
