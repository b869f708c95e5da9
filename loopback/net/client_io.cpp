#include <algorithm>
#include <exception>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include "loopback/net/client_impl.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames (its
// awaitable_frame_base pairs its own operator new and delete); the warning is off here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace p2pdist::bt::detail {

// ---------------------------------------------------------------------------------------
// Connections (connection_host)

asio::awaitable<void> client_impl::accept_loop() {
  auto self = shared_from_this();
  std::error_code ec;
  while (!stopping_) {
    tcp::socket socket(strand_);
    co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) break;
    if (ec) {
      if (ec == asio::error::operation_aborted) break;
      // E.g. out of file descriptors: wait a little rather than spin.
      asio::steady_timer pause(strand_, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    std::error_code ec2;
    const auto remote = socket.remote_endpoint(ec2);
    if (ec2) continue;
    const ip_address b = from_asio(remote.address());
    const auto key = session_.handle_accept({.ip = b, .port = remote.port()}, now());
    if (!key) {
      socket.close(ec2);
      drain();  // an eviction may have been decided all the same
      continue;
    }
    const auto rtt = tcp_round_trip(socket);
    make_connection(*key, b)->start_incoming(std::move(socket));
    report_round_trip(*key, b, rtt);
    drain();
  }
}

void client_impl::connect_to(const peer_endpoint& peer) {
  asio::post(strand_, [self = shared_from_this(), peer] {
    self->session_.connect_to(peer, self->now());
    self->drain();
  });
}

void client_impl::on_connected(peer_connection& c) {
  session_.handle_connected(c.key(), now());
  report_round_trip(c.key(), c.remote_address(), c.round_trip());
  drain();
}

bool client_impl::on_wire_event(peer_connection& c, const wire_event& event) {
  const auto t = now();
  if (const auto* hs = std::get_if<handshake>(&event)) {
    session_.handle_handshake(c.key(), *hs, t);
  } else if (const auto* p = std::get_if<msg::piece>(&event)) {
    if (session_.handle_block(c.key(), *p, t)) store_.put_block(p->index, p->begin, p->data);
  } else {
    session_.handle_message(c.key(), event, t);
  }
  drain();
  return c.is_open() && session_.is_open(c.key());
}

void client_impl::on_closed(peer_connection& c, close_cause cause, const std::string& reason) {
  const auto it = conns_.find(static_cast<std::uint32_t>(c.key()));
  if (it == conns_.end()) return;
  auto keep = it->second;  // c lives until the end of this call
  conns_.erase(it);
  up_.remove(consumer_of(c.key()));
  down_.remove(consumer_of(c.key()));
  session_.handle_closed(c.key(), cause, reason, now());
  drain();
  check_stopped();
}

std::optional<block_request> client_impl::take_upload(peer_connection& c) {
  auto b = session_.take_upload(c.key(), now());
  drain();
  return b;
}

std::span<const std::byte> client_impl::block_data(const block_request& r, std::vector<std::byte>& scratch) {
  std::string error;
  const auto data = store_.block(r.piece, r.begin, r.length, scratch, error);
  if (!error.empty()) emit_error(error, r.piece);
  return data;
}

void client_impl::on_block_sent(peer_connection& c, const block_request& r) {
  session_.handle_block_sent(c.key(), r, now());
  drain();
}

void client_impl::on_wire_bytes(peer_connection& c, direction d, std::uint64_t bytes) {
  session_.handle_wire_bytes(c.key(), d, bytes, now());
  drain();
}

// ---------------------------------------------------------------------------------------
// Timers and the tracker

asio::awaitable<void> client_impl::wake_loop() {
  auto self = shared_from_this();
  std::error_code ec;
  while (!stopping_) {
    armed_at_ = session_.poll_timeout();
    wake_timer_.expires_at(armed_at_ ? to_clock(*armed_at_) : clock_type::time_point::max());
    co_await wake_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) break;
    if (ec == asio::error::operation_aborted) continue;  // re-armed earlier
    session_.handle_timeout(now());
    drain();
  }
}

asio::awaitable<void> client_impl::announce_task(announce_request request, duration timeout) {
  auto self = shared_from_this();
  tracker_event_ = request.event;
  announce_outcome outcome;
  if (tracker_url_->scheme == tracker_scheme::udp) {
    auto socket = std::make_shared<asio::ip::udp::socket>(strand_);
    udp_tracker_socket_ = socket;
    outcome = co_await udp_announce(strand_, socket, config_.address, *tracker_url_, request, timeout,
                                    config_.udp_tracker_retransmit, udp_tracker_);
    if (udp_tracker_socket_ == socket) udp_tracker_socket_.reset();
  } else {
    auto socket = std::make_shared<tcp::socket>(strand_);
    tracker_socket_ = socket;
    outcome = co_await http_announce(strand_, socket, config_.address, *tracker_url_, request, timeout);
    if (tracker_socket_ == socket) tracker_socket_.reset();
  }
  // An emulated path to the tracker: its answer comes a round trip later (the request's way
  // there and the answer's back; the HTTP exchange itself ran on the loopback).
  if (const auto delay = path_to(tracker_url_->address); delay.inbound + delay.outbound > duration::zero() && !stopping_) {
    asio::steady_timer wait(strand_, std::chrono::duration_cast<clock_type::duration>(delay.inbound + delay.outbound));
    std::error_code ec;
    co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  // Also while stopping: the session then sends the next announce the stop owes.
  session_.handle_announce(outcome.response, outcome.error, now());
  drain();
}

// ---------------------------------------------------------------------------------------
// Rate limits

std::uint64_t client_impl::want_to_read(peer_connection& c, std::uint64_t bytes) {
  const auto t = now();
  wake_granted(direction::down, down_.refill_to(t));  // before any change (pacer::sync)
  (void)down_.sync(consumer_of(c.key()), bytes, t);
  arm_refill();
  return down_.granted(consumer_of(c.key()));
}

// Arms the refill timer at the next moment a pacer can let an item go: the front block of a
// connection's uploads, or a useful part (a block's worth) of what a reader waits for.
void client_impl::arm_refill() {
  const auto up = up_.next_due([&](consumer_id id) -> std::uint64_t {
    const auto front = session_.peek_upload(peer_key{static_cast<std::uint32_t>(id)});
    return front ? piece_header_bytes + front->length : 0;
  });
  const auto down = down_.next_due([&](consumer_id id) -> std::uint64_t {
    const auto* c = find(peer_key{static_cast<std::uint32_t>(id)});
    return c ? std::min<std::uint64_t>(c->read_wanted(), block_message_bytes) : 0;
  });
  std::optional<time_point> next = up;
  if (down && (!next || *down < *next)) next = down;
  if (next && (!refill_at_ || *next < *refill_at_)) {
    refill_at_ = next;
    refill_timer_.cancel();  // the refill loop re-arms
  }
}

// Wakes the connections a refill granted enough to send their next block, or to read.
void client_impl::wake_granted(direction d, std::span<const grant> grants) {
  for (const auto& g : grants) {
    const auto key = peer_key{static_cast<std::uint32_t>(g.consumer)};
    auto* c = find(key);
    if (c == nullptr) continue;
    const auto have = pacer_of(d).granted(g.consumer);
    if (d == direction::up) {
      const auto front = session_.peek_upload(key);
      if (front && have >= piece_header_bytes + front->length) c->wake_writer();
    } else if (c->read_wanted() > 0 && have >= std::min<std::uint64_t>(c->read_wanted(), block_message_bytes)) {
      c->wake_reader();
    }
  }
}

asio::awaitable<void> client_impl::refill_loop() {
  auto self = shared_from_this();
  std::error_code ec;
  while (!stopping_) {
    refill_timer_.expires_at(refill_at_ ? to_clock(*refill_at_) : clock_type::time_point::max());
    co_await refill_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) break;
    if (ec == asio::error::operation_aborted) continue;  // re-armed earlier
    refill_at_.reset();
    const auto t = now();
    wake_granted(direction::up, up_.refill_to(t));
    wake_granted(direction::down, down_.refill_to(t));
    arm_refill();
  }
}

}  // namespace p2pdist::bt::detail
