#include "cli/peer_run.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>

#include "loopback/protocol/bencode.hpp"
#include "loopback/protocol/endpoint.hpp"

namespace p2pdist::cli {
namespace {

constexpr auto progress_period = std::chrono::milliseconds(500);

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

}  // namespace

peer_run::peer_run(asio::io_context& io, run_params params)
    : io_(io), params_(std::move(params)), signals_(io, SIGINT, SIGTERM), timer_(io) {}

void peer_run::run(bt::client& c) {
  client_ = &c;
  wait_signal();
  last_sample_ = steady::now();
  last_stats_ = c.stats();
  if (params_.progress) arm_timer();
  io_.run();
}

void peer_run::wait_signal() {
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

void peer_run::arm_timer() {
  timer_.expires_after(progress_period);
  timer_.async_wait([this](const std::error_code& ec) {
    if (ec || stopping_) return;
    draw();
    arm_timer();
  });
}

void peer_run::draw() {
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

void peer_run::clear_line() {
  if (line_drawn_) std::cerr << "\r\033[K" << std::flush;
  line_drawn_ = false;
}

void peer_run::finish() {
  if (stopping_) return;
  stopping_ = true;
  timer_.cancel();
  client_->stop([this] {
    signals_.cancel();
    timer_.cancel();
    io_.stop();
  });
}

void peer_run::on_event(const bt::client_event& e) {
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
        std::cout << "seeding " << params_.out_label << " on "
                  << bt::to_string(bt::endpoint{.ip = client_->address(), .port = client_->port()})
                  << " until SIGINT or SIGTERM" << std::endl;
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
      std::cerr << "p2pdist: warning: banned " << (e.peer_ip ? bt::to_string(*e.peer_ip) : "a peer") << ": "
                << e.detail << '\n';
      break;
    case kind::peer_connected:
    case kind::peer_disconnected:
      if (!params_.verbose) break;
      clear_line();
      std::cerr << "p2pdist: peer " << (e.peer_ip ? bt::to_string(bt::endpoint{.ip = *e.peer_ip, .port = e.peer_port}) : "?")
                << (e.kind == kind::peer_connected ? " connected" + (e.detail.empty() ? "" : " (" + e.detail + ")")
                                                   : " disconnected: " + e.detail)
                << '\n';
      break;
    case kind::error:
      clear_line();
      std::cerr << "p2pdist: warning: " << e.detail << '\n';
      break;
    default:
      break;
  }
}

std::optional<bt::metainfo> load_torrent(const std::string& path) {
  namespace fs = std::filesystem;
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

}  // namespace p2pdist::cli
