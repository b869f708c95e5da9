#pragma once
// The watcher of the one client that `seed` and `get` run: it prints the client's
// milestones on stdout, warnings and (on a terminal) a progress line on stderr, and stops
// the client on SIGINT/SIGTERM or, for get without --keep-seeding, once it is complete.

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include "loopback/net/client.hpp"
#include "loopback/protocol/metainfo.hpp"

namespace p2pdist::cli {

/// What a run does with the client it watches.
struct run_params {
  const bt::metainfo& torrent;  ///< must outlive the peer_run
  bool leeching = false;        ///< get: print `complete` when done
  bool keep_seeding = false;    ///< get: go on seeding once complete
  std::string out_label;        ///< the file named in messages
  bool progress = false;        ///< draw the progress line on stderr
  bool verbose = false;         ///< log peers coming and going on stderr
};

/// Watches one client: prints its milestones, draws progress, stops it on SIGINT/SIGTERM or
/// (get without --keep-seeding) at completion. Everything runs on the caller's thread
/// inside io.run(). Construct it before printing anything, so that a signal sent as soon
/// as a line appears is caught.
class peer_run {
 public:
  peer_run(asio::io_context& io, run_params params);

  /// The on_event callback for client_config (the client calls it on its strand, which
  /// here is the one thread running io).
  std::function<void(const bt::client_event&)> event_handler() {
    return [this](const bt::client_event& e) { on_event(e); };
  }

  /// Runs until the client has stopped. Precondition: `c` has started.
  void run(bt::client& c);

  /// True when the run ended because a signal asked it to.
  [[nodiscard]] bool interrupted() const noexcept { return interrupted_; }

 private:
  using steady = std::chrono::steady_clock;

  void wait_signal();
  void arm_timer();
  void draw();
  void clear_line();
  void finish();
  void on_event(const bt::client_event& e);

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

/// Reads and parses a .torrent; on failure prints one line ("p2pdist: PATH: why") and
/// returns nullopt.
std::optional<bt::metainfo> load_torrent(const std::string& path);

}  // namespace p2pdist::cli
