#include "loopback/net/client.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <random>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include "loopback/core/session.hpp"
#include "loopback/net/peer_connection.hpp"
#include "loopback/net/tracker_client.hpp"
#include "loopback/policy/pacer.hpp"
#include "loopback/storage/piece_store.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames (its
// awaitable_frame_base pairs its own operator new and delete); the warning is off here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace p2pdist::bt {

namespace detail {

namespace {

using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

tcp::endpoint make_endpoint(const std::array<std::uint8_t, 4>& ip, std::uint16_t port) {
  return {asio::ip::address_v4(asio::ip::address_v4::bytes_type{ip[0], ip[1], ip[2], ip[3]}), port};
}

std::uint64_t to_rate(double bytes_per_s) {
  if (!(bytes_per_s > 0) || !std::isfinite(bytes_per_s)) return 0;
  return static_cast<std::uint64_t>(std::llround(std::min(bytes_per_s, 1e10)));
}

clock_type::time_point to_clock(time_point t) {
  return clock_type::time_point(std::chrono::duration_cast<clock_type::duration>(t.time_since_epoch()));
}

consumer_id consumer_of(peer_key k) { return consumer_id{static_cast<std::uint32_t>(k)}; }

std::uint64_t seed_from(const std::optional<std::uint64_t>& seed) {
  if (seed) return *seed;
  std::random_device rd;
  return (std::uint64_t{rd()} << 32) ^ rd();
}

const client_config& checked(const client_config& c) {
  if (!c.torrent) throw std::invalid_argument("client: no torrent");
  if (!c.store) throw std::invalid_argument("client: no storage");
  if (c.store->size_bytes() != c.torrent->total_bytes)
    throw std::invalid_argument("client: storage size differs from the torrent's");
  if (!is_loopback(c.address))
    throw std::invalid_argument("client: address " + format_ipv4(c.address) + " is not in 127.0.0.0/8");
  return c;
}

std::optional<http_url> tracker_url_of(const client_config& c) {
  const std::string url = c.announce_url.value_or(c.torrent->announce);
  if (url.empty()) return std::nullopt;
  auto parsed = parse_http_url(url);
  if (!parsed) throw std::invalid_argument("client: bad announce URL " + url);
  return std::move(parsed).value();
}

}  // namespace

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
  std::array<std::uint8_t, 4> address() const noexcept { return config_.address; }
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
  std::shared_ptr<peer_connection> make_connection(peer_key key);

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
  std::optional<http_url> tracker_url_;
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

  std::unordered_map<std::uint32_t, std::shared_ptr<peer_connection>> conns_;
  bool draining_ = false;
  bool started_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  std::size_t tasks_ = 0;
  std::vector<std::function<void()>> stop_callbacks_;

  mutable std::mutex stats_mutex_;
  client_stats stats_;
};

// ---------------------------------------------------------------------------------------
// Set-up

client_impl::client_impl(asio::io_context& io, client_config config)
    : config_(std::move(checked(config))),
      strand_(asio::make_strand(io)),
      tracker_url_(tracker_url_of(config_)),
      session_(session_config_for(config_, tracker_url_.has_value())),
      store_(config_.store, config_.torrent),
      up_(to_rate(config_.upload_bytes_per_s), now()),
      down_(to_rate(config_.download_bytes_per_s), now()),
      acceptor_(strand_),
      wake_timer_(strand_),
      refill_timer_(strand_) {
  stats_.piece_count = config_.torrent->piece_count();
}

void client_impl::emit(const client_event& e) {
  if (!config_.on_event) return;
  try {
    config_.on_event(e);
  } catch (...) {
    // A throwing callback must not take the instance down.
  }
}

void client_impl::emit_error(std::string detail, std::optional<std::uint32_t> piece) {
  emit(client_event{.kind = client_event_kind::error, .at = now(), .piece = piece, .detail = std::move(detail)});
}

void client_impl::spawn(asio::awaitable<void> task) {
  ++tasks_;
  asio::co_spawn(strand_, std::move(task),
                 asio::bind_executor(strand_, [self = shared_from_this()](std::exception_ptr e) {
                   --self->tasks_;
                   if (e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       self->emit_error(ex.what());
                     } catch (...) {
                       self->emit_error("unknown exception");
                     }
                   }
                   self->check_stopped();
                 }));
}

void client_impl::start() {
  if (started_) throw std::logic_error("client: start() called twice");
  started_ = true;
  const auto& t = *config_.torrent;
  bitfield have(t.piece_count());
  switch (config_.initial) {
    case initial_data::verify: have = verify_pieces(*config_.store, t); break;
    case initial_data::assume_complete: have = bitfield(t.piece_count(), true); break;
    case initial_data::assume_empty: break;
  }
  const bool complete = have.all();
  if (complete) config_.store->finalize();

  const auto listen_at = make_endpoint(config_.address, config_.port);
  acceptor_.open(listen_at.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  if (!down_.unlimited())  // accepted sockets inherit it, before the window scale is fixed
    acceptor_.set_option(asio::socket_base::receive_buffer_size(static_cast<int>(limited_socket_buffer_bytes)));
  acceptor_.bind(listen_at);
  acceptor_.listen();
  port_ = acceptor_.local_endpoint().port();

  const auto t0 = now();
  {
    std::lock_guard lock(stats_mutex_);
    stats_.started_at = t0;
    stats_.pieces_held = static_cast<std::uint32_t>(have.count());
    stats_.complete = complete;
    if (complete) stats_.completed_at = t0;
  }
  asio::post(strand_, [self = shared_from_this(), have = std::move(have), t0] {
    if (self->stopping_) return;
    self->session_.start(have, self->port_.load(), t0);
    self->emit(client_event{.kind = client_event_kind::listening, .at = t0, .peer_port = self->port_.load()});
    self->spawn(self->accept_loop());
    self->spawn(self->wake_loop());
    if (!self->up_.unlimited() || !self->down_.unlimited()) self->spawn(self->refill_loop());
    self->drain();
  });
}

// ---------------------------------------------------------------------------------------
// The session's outputs

void client_impl::drain() {
  if (draining_) return;  // a call made while carrying out an output: the loop below goes on
  draining_ = true;
  while (auto o = session_.poll_output()) std::visit([this](auto& x) { carry_out(x); }, *o);
  draining_ = false;
  const auto next = session_.poll_timeout();
  if (next && (!armed_at_ || *next < *armed_at_)) wake_timer_.cancel();  // the wake loop re-arms
  publish_stats();
}

// The counters stats() reads: a copy under the lock after every turn, so that a reader on
// another thread always sees one consistent, current snapshot.
void client_impl::publish_stats() {
  const auto& s = session_.stats();
  std::lock_guard lock(stats_mutex_);
  const bool stopped = stats_.stopped;
  stats_ = s;
  stats_.stopped = stopped;
}

peer_connection* client_impl::find(peer_key k) {
  const auto it = conns_.find(static_cast<std::uint32_t>(k));
  return it == conns_.end() ? nullptr : it->second.get();
}

std::shared_ptr<peer_connection> client_impl::make_connection(peer_key key) {
  connection_params params{
      .key = key,
      .wire = {.piece_bytes = config_.torrent->piece_bytes, .total_bytes = config_.torrent->total_bytes},
  };
  auto c = std::make_shared<peer_connection>(*this, strand_, params);
  conns_.emplace(static_cast<std::uint32_t>(key), c);
  return c;
}

void client_impl::carry_out(out::send& o) {
  if (auto* c = find(o.conn)) c->send(o.message);
}

void client_impl::carry_out(out::close& o) {
  if (auto* c = find(o.conn)) c->close(close_cause::requested, std::move(o.reason));
}

void client_impl::carry_out(out::dial& o) {
  make_connection(o.conn)->start_outgoing(make_endpoint(config_.address, 0), make_endpoint(o.remote.ip, o.remote.port));
}

void client_impl::carry_out(out::upload_changed& o) {
  auto* c = find(o.conn);
  if (c == nullptr) return;
  if (!up_.unlimited()) {
    const auto t = now();
    wake_granted(direction::up, up_.refill_to(t));  // before any change (pacer::sync)
    if (config_.upload_order == upload_policy::piece_first)
      up_.set_priority(consumer_of(o.conn), session_.upload_priority(o.conn));
    (void)up_.sync(consumer_of(o.conn), session_.upload_queued_bytes(o.conn), t);
    arm_refill();
    const auto front = session_.peek_upload(o.conn);
    if (!front || up_.granted(consumer_of(o.conn)) < piece_header_bytes + front->length) return;
  }
  c->wake_writer();
}

void client_impl::carry_out(out::check_piece& o) {
  const auto r = store_.check(o.piece, o.fingerprints_on_pass);
  piece_verdict verdict = piece_verdict::passed;
  if (r.result == piece_check::verdict::failed) verdict = piece_verdict::failed;
  if (r.result == piece_check::verdict::io_error) {
    verdict = piece_verdict::io_error;
    emit_error(r.error, o.piece);
  }
  session_.handle_piece_checked(o.piece, verdict, r.fingerprints, now());
}

void client_impl::carry_out(out::announce& o) {
  if (tracker_url_) spawn(announce_task(std::move(o.request), o.timeout));
}

void client_impl::carry_out(out::event& o) {
  if (o.what.kind == client_event_kind::completed) {
    try {
      config_.store->finalize();
    } catch (const std::exception& e) {
      emit_error(e.what());
    }
  }
  emit(o.what);
}

void client_impl::carry_out(out::stop&) { begin_stop(); }

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
    if (ec2 || !remote.address().is_v4()) continue;
    const auto b = remote.address().to_v4().to_bytes();
    const auto key = session_.handle_accept({.ip = {b[0], b[1], b[2], b[3]}, .port = remote.port()}, now());
    if (!key) {
      socket.close(ec2);
      drain();  // an eviction may have been decided all the same
      continue;
    }
    const auto rtt = tcp_round_trip(socket);
    make_connection(*key)->start_incoming(std::move(socket));
    if (rtt) session_.handle_round_trip(*key, *rtt, now());
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
  if (const auto rtt = c.round_trip()) session_.handle_round_trip(c.key(), *rtt, now());
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
  auto socket = std::make_shared<tcp::socket>(strand_);
  tracker_socket_ = socket;
  const auto outcome = co_await http_announce(strand_, socket, config_.address, *tracker_url_, request, timeout);
  if (tracker_socket_ == socket) tracker_socket_.reset();
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

// ---------------------------------------------------------------------------------------
// Stop

void client_impl::stop(std::function<void()> on_stopped) {
  asio::post(strand_, [self = shared_from_this(), cb = std::move(on_stopped)]() mutable {
    if (self->stopped_) {
      if (cb) cb();
      return;
    }
    if (cb) self->stop_callbacks_.push_back(std::move(cb));
    self->begin_stop();
  });
}

void client_impl::begin_stop() {
  if (stopping_) return;
  stopping_ = true;
  std::error_code ec;
  acceptor_.close(ec);
  wake_timer_.cancel();
  refill_timer_.cancel();
  if (tracker_socket_) tracker_socket_->close(ec);  // an announce in flight ends now
  session_.stop(now());  // closes every connection; announces `stopped` if it had started
  drain();
  // Defer the check: tasks that are ending are counted until their completion runs.
  asio::post(strand_, [self = shared_from_this()] { self->check_stopped(); });
}

void client_impl::check_stopped() {
  if (!stopping_ || stopped_ || tasks_ != 0 || !conns_.empty()) return;
  stopped_ = true;
  publish_stats();
  {
    std::lock_guard lock(stats_mutex_);
    stats_.stopped = true;
    stats_.peers_connected = 0;
  }
  emit(client_event{.kind = client_event_kind::stopped, .at = now()});
  auto callbacks = std::move(stop_callbacks_);
  stop_callbacks_.clear();
  for (auto& cb : callbacks) {
    try {
      cb();
    } catch (...) {
    }
  }
}

}  // namespace detail

session_config session_config_for(const client_config& c, bool has_tracker) {
  return session_config{.torrent = c.torrent,
                        .address = c.address,
                        .loopback_only = true,
                        .has_tracker = has_tracker,
                        .upload = c.upload,
                        .upload_bytes_per_s = static_cast<double>(detail::to_rate(c.upload_bytes_per_s)),
                        .upload_order = c.upload_order,
                        .connect_to_leechers = c.connect_to_leechers,
                        .seed_when_complete = c.seed_when_complete,
                        .choker = c.choker,
                        .picker = c.picker,
                        .max_peers = c.max_peers,
                        .max_hash_failures = c.max_hash_failures,
                        .max_queued_requests = c.max_queued_requests,
                        .rng_seed = detail::seed_from(c.rng_seed),
                        .handshake_timeout = c.handshake_timeout,
                        .evict_silent_after = c.evict_silent_after,
                        .idle_timeout = c.idle_timeout,
                        .keepalive_interval = c.keepalive_interval,
                        .request_timeout = c.request_timeout,
                        .tick_interval = c.tick_interval,
                        .have_batch_interval = c.have_batch_interval,
                        .tracker_timeout = c.tracker_timeout,
                        .stop_announce_timeout = c.stop_announce_timeout,
                        .tracker_retry_min = c.tracker_retry_min,
                        .tracker_retry_max = c.tracker_retry_max,
                        .numwant = c.numwant};
}

// ---------------------------------------------------------------------------------------
// client

client::client(asio::io_context& io, client_config config)
    : impl_(std::make_shared<detail::client_impl>(io, std::move(config))) {}

client::~client() {
  if (impl_) impl_->stop({});
}

void client::start() { impl_->start(); }
void client::connect_to(const endpoint_v4& peer) { impl_->connect_to(peer_endpoint{.ip = peer.ip, .port = peer.port}); }
void client::stop(std::function<void()> on_stopped) { impl_->stop(std::move(on_stopped)); }
std::uint16_t client::port() const noexcept { return impl_->port(); }
std::array<std::uint8_t, 4> client::address() const noexcept { return impl_->address(); }
const peer_id& client::id() const noexcept { return impl_->id(); }
client_stats client::stats() const { return impl_->stats(); }
bool client::is_complete() const { return impl_->stats().complete; }

}  // namespace p2pdist::bt
