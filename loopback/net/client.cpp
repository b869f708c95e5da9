#include "loopback/net/client.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <random>
#include <stdexcept>
#include <utility>

#include <asio/bind_executor.hpp>
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

namespace p2pdist::bt {

namespace detail {

namespace {

std::uint64_t to_rate(double bytes_per_s) {
  if (!(bytes_per_s > 0) || !std::isfinite(bytes_per_s)) return 0;
  return static_cast<std::uint64_t>(std::llround(std::min(bytes_per_s, 1e10)));
}



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
  if (c.loopback_only && !is_loopback(c.address))
    throw std::invalid_argument("client: address " + to_string(c.address) + " is not a loopback address (127.0.0.0/8, ::1)");
  return c;
}

std::optional<tracker_url> tracker_url_of(const client_config& c) {
  const std::string url = c.announce_url.value_or(c.torrent->announce);
  if (url.empty()) return std::nullopt;
  auto parsed = parse_tracker_url(url);
  if (!parsed)
    throw std::invalid_argument("client: bad announce URL " + url + ": " + std::string(to_string(parsed.error().code)));
  return std::move(parsed).value();
}

}  // namespace

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
      refill_timer_(strand_),
      jitter_seed_(seed_from(config_.rng_seed) ^ 0x6a09e667f3bcc908ULL) {
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
  completion_done_ = complete;

  const auto listen_at = make_endpoint(config_.address, config_.port);
  acceptor_.open(listen_at.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  std::error_code both;
  serve_both_families(acceptor_, config_.address, both);
  if (both) throw std::system_error(both, "client: cannot take IPv4 on " + to_string(config_.address));
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
  stats_.complete = s.complete && completion_done_;
}

peer_connection* client_impl::find(peer_key k) {
  const auto it = conns_.find(static_cast<std::uint32_t>(k));
  return it == conns_.end() ? nullptr : it->second.get();
}

std::shared_ptr<peer_connection> client_impl::make_connection(peer_key key, const ip_address& remote) {
  const auto delay = path_to(remote);
  connection_params params{
      .key = key,
      .wire = {.piece_bytes = config_.torrent->piece_bytes, .total_bytes = config_.torrent->total_bytes},
      .inbound_delay = delay.inbound,
      .jitter = config_.jitter,
      .jitter_seed = jitter_seed_ ^ (static_cast<std::uint64_t>(key) * 0x9e3779b97f4a7c15ULL),
      .connect_delay = delay.inbound + delay.outbound,
  };
  auto c = std::make_shared<peer_connection>(*this, strand_, params);
  conns_.emplace(static_cast<std::uint32_t>(key), c);
  return c;
}

void client_impl::report_round_trip(peer_key key, const ip_address& remote,
                                    std::optional<duration> tcp) {
  const auto delay = path_to(remote);
  const duration added = delay.inbound + delay.outbound;
  if (!tcp && added == duration::zero()) return;
  session_.handle_round_trip(key, tcp.value_or(duration::zero()) + added, now());
}

void client_impl::carry_out(out::send& o) {
  if (auto* c = find(o.conn)) c->send(o.message);
}

void client_impl::carry_out(out::close& o) {
  if (auto* c = find(o.conn)) c->close(close_cause::requested, std::move(o.reason));
}

void client_impl::carry_out(out::dial& o) {
  make_connection(o.conn, o.remote.ip)->start_outgoing(config_.address, make_endpoint(o.remote.ip, o.remote.port));
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
    completion_done_ = true;
  }
  publish_stats();  // a listener that reads stats() on the event sees the turn that caused it
  emit(o.what);
}

void client_impl::carry_out(out::stop&) { begin_stop(); }

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
  // An announce in flight ends now, unless it tells the tracker the download completed:
  // that one ends on its own (answer or timeout), then the session announces `stopped`.
  if (tracker_event_ != announce_event::completed) {
    if (tracker_socket_) tracker_socket_->close(ec);
    if (udp_tracker_socket_) udp_tracker_socket_->close(ec);
  }
  session_.stop(now());  // closes every connection; then `completed` if owed, and `stopped`
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
                        .loopback_only = c.loopback_only,
                        .has_tracker = has_tracker,
                        .upload = c.upload,
                        .upload_bytes_per_s = static_cast<double>(detail::to_rate(c.upload_bytes_per_s)),
                        .download_bytes_per_s = static_cast<double>(detail::to_rate(c.download_bytes_per_s)),
                        .upload_order = c.upload_order,
                        .connect_to_leechers = c.connect_to_leechers,
                        .seed_when_complete = c.seed_when_complete,
                        .choker = c.choker,
                        .picker = c.picker,
                        .max_peers = c.max_peers,
                        .max_hash_failures = c.max_hash_failures,
                        .max_queued_requests = c.max_queued_requests,
                        .fast_extension = c.fast_extension,
                        .extension_protocol = c.extension_protocol,
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
void client::connect_to(const endpoint& peer) { impl_->connect_to(peer_endpoint{.ip = peer.ip, .port = peer.port}); }
void client::stop(std::function<void()> on_stopped) { impl_->stop(std::move(on_stopped)); }
std::uint16_t client::port() const noexcept { return impl_->port(); }
ip_address client::address() const noexcept { return impl_->address(); }
const peer_id& client::id() const noexcept { return impl_->id(); }
client_stats client::stats() const { return impl_->stats(); }
bool client::is_complete() const { return impl_->stats().complete; }

}  // namespace p2pdist::bt
