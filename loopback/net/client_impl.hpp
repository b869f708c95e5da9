#pragma once
// client_impl: the network driver behind bt::client (an internal of loopback/net). Its
// members are defined in two files: client.cpp (set-up, carrying out the session's outputs,
// stop, the public API) and client_io.cpp (connections, timers and the tracker, pacing).

// Clang 14 implements C++20 coroutines, but Asio 1.22 only recognises them in GCC and
// MSVC (for Clang it looks for the Coroutines TS); enable Asio's awaitable support here
// (the macro affects Asio's coroutine headers only).
#if defined(__clang__) && defined(__cpp_impl_coroutine) && !defined(ASIO_HAS_CO_AWAIT)
#define ASIO_HAS_CO_AWAIT 1
#endif

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "loopback/core/session.hpp"
#include "loopback/net/client.hpp"
#include "loopback/net/peer_connection.hpp"
#include "loopback/net/tracker_client.hpp"
#include "loopback/policy/pacer.hpp"
#include "loopback/net/asio_endpoint.hpp"
#include "loopback/storage/piece_store.hpp"

namespace p2pdist::bt::detail {

using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

inline clock_type::time_point to_clock(time_point t) {
  return clock_type::time_point(std::chrono::duration_cast<clock_type::duration>(t.time_since_epoch()));
}

inline consumer_id consumer_of(peer_key k) { return consumer_id{static_cast<std::uint32_t>(k)}; }

/// The driver: sockets, timers, pacing and storage around one session. Every member runs
/// on the strand but the public calls, which post to it (see client.hpp).
class client_impl final : public connection_host, public std::enable_shared_from_this<client_impl> {
 public:
  client_impl(asio::io_context& io, client_config config);

  // Public API, see client.hpp.
  void start();
  void connect_to(const peer_endpoint& peer);
  void stop(std::function<void()> on_stopped);
  std::uint16_t port() const noexcept { return port_.load(); }
  ip_address address() const noexcept { return config_.address; }
  const peer_id& id() const noexcept { return session_.id(); }
  client_stats stats() const {
    std::lock_guard lock(stats_mutex_);
    return stats_;
  }

  // connection_host
  void on_connected(peer_connection& c) override;
  bool on_wire_event(peer_connection& c, const wire_event& event) override;
  void on_closed(peer_connection& c, close_cause cause, const std::string& reason) override;
  std::optional<block_request> peek_upload(peer_connection& c) override { return session_.peek_upload(c.key()); }
  std::optional<block_request> take_upload(peer_connection& c) override;
  std::span<const std::byte> block_data(const block_request& r, std::vector<std::byte>& scratch) override;
  void on_block_sent(peer_connection& c, const block_request& r) override;
  void on_wire_bytes(peer_connection& c, direction d, std::uint64_t bytes) override;
  bool limited(direction d) const override { return !pacer_of(d).unlimited(); }
  std::uint64_t granted(const peer_connection& c, direction d) const override {
    return pacer_of(d).granted(consumer_of(c.key()));
  }
  void spend(peer_connection& c, direction d, std::uint64_t bytes) override {
    pacer_of(d).spend(consumer_of(c.key()), bytes);
    arm_refill();  // what it still waits for may need a refill now
  }
  std::uint64_t want_to_read(peer_connection& c, std::uint64_t bytes) override;
  void spawn(asio::awaitable<void> task) override;

 private:
  time_point now() const { return time_point(clock_type::now().time_since_epoch()); }
  void emit(const client_event& e);
  void emit_error(std::string detail, std::optional<std::uint32_t> piece = {});

  // Carrying out the session's outputs.
  void drain();
  void publish_stats();
  void carry_out(out::send& o);
  void carry_out(out::close& o);
  void carry_out(out::dial& o);
  void carry_out(out::upload_changed& o);
  void carry_out(out::check_piece& o);
  void carry_out(out::announce& o);
  void carry_out(out::event& o);
  void carry_out(out::stop& o);
  peer_connection* find(peer_key k);
  std::shared_ptr<peer_connection> make_connection(peer_key key, const ip_address& remote);
  /// config_.path's delays to `remote` (none without a path).
  path_delay path_to(const ip_address& remote) const {
    return config_.path ? config_.path(remote) : path_delay{};
  }
  /// Tells the session a connection's round trip: TCP's own estimate (when the kernel gives
  /// one) plus what an emulated path adds both ways.
  void report_round_trip(peer_key key, const ip_address& remote, std::optional<duration> tcp);

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> wake_loop();
  asio::awaitable<void> announce_task(announce_request request, duration timeout);

  // Rate limits: one pacer a direction, refilled when the next item can go.
  pacer& pacer_of(direction d) { return d == direction::up ? up_ : down_; }
  const pacer& pacer_of(direction d) const { return d == direction::up ? up_ : down_; }
  void arm_refill();
  void wake_granted(direction d, std::span<const grant> grants);
  asio::awaitable<void> refill_loop();

  void begin_stop();
  void check_stopped();

  client_config config_;
  strand_type strand_;
  std::optional<tracker_url> tracker_url_;
  session session_;
  piece_store store_;
  std::atomic<std::uint16_t> port_{0};

  pacer up_;
  pacer down_;
  std::optional<time_point> refill_at_;  // when refill_timer_ fires (nullopt: never)

  tcp::acceptor acceptor_;
  asio::steady_timer wake_timer_;
  std::optional<time_point> armed_at_;  // when wake_timer_ fires (nullopt: never)
  asio::steady_timer refill_timer_;
  std::shared_ptr<tcp::socket> tracker_socket_;  // the announce in flight, closed by stop
  std::shared_ptr<asio::ip::udp::socket> udp_tracker_socket_;  // the same for a udp:// tracker
  udp_tracker_state udp_tracker_;  // its connection id, kept from one announce to the next
  announce_event tracker_event_ = announce_event::none;  // its event

  std::unordered_map<std::uint32_t, std::shared_ptr<peer_connection>> conns_;
  bool draining_ = false;
  /// The completed event was carried out (the store finalized: OUT.part renamed) or we
  /// started complete. Until then stats() says not complete, even when the session is: a
  /// reader that sees `complete` finds the file under its final name.
  bool completion_done_ = false;
  bool started_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  std::size_t tasks_ = 0;
  std::vector<std::function<void()>> stop_callbacks_;

  std::uint64_t jitter_seed_;  // emulated paths: each connection's jitter sequence starts from it

  mutable std::mutex stats_mutex_;
  client_stats stats_;
};

}  // namespace p2pdist::bt::detail
