#include "loopback/net/client.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "loopback/net/peer_connection.hpp"
#include "loopback/policy/piece_picker.hpp"
#include "loopback/policy/rate_limiter.hpp"
#include "loopback/policy/request_pipeline.hpp"
#include "loopback/policy/super_seed.hpp"
#include "loopback/protocol/sha1.hpp"

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

constexpr std::size_t max_tracker_response_bytes = 1u << 20;

std::uint32_t ip_key(const std::array<std::uint8_t, 4>& ip) noexcept {
  return (std::uint32_t{ip[0]} << 24) | (std::uint32_t{ip[1]} << 16) | (std::uint32_t{ip[2]} << 8) | ip[3];
}

tcp::endpoint make_endpoint(const std::array<std::uint8_t, 4>& ip, std::uint16_t port) {
  return {asio::ip::address_v4(asio::ip::address_v4::bytes_type{ip[0], ip[1], ip[2], ip[3]}), port};
}

std::uint64_t to_rate(double bytes_per_s) {
  if (!(bytes_per_s > 0) || !std::isfinite(bytes_per_s)) return 0;
  return static_cast<std::uint64_t>(std::llround(std::min(bytes_per_s, 1e10)));
}

std::string endpoint_key(const std::array<std::uint8_t, 4>& ip, std::uint16_t port) {
  return format_ipv4(ip) + ":" + std::to_string(port);
}

}  // namespace

/// A piece being downloaded: its buffer (file storage only) and who sent each block.
struct partial_piece {
  std::vector<std::byte> buffer;          // empty when the storage is in memory
  std::vector<std::uint32_t> senders;     // per block: ip_key of the sender, 0 = none
};

/// A piece that failed its check with blocks from several addresses: its bad bytes, kept
/// until the piece passes, to find which blocks were wrong (and who sent them).
struct failed_copy {
  std::vector<std::byte> data;
  std::vector<std::uint32_t> senders;
};

class client_impl final : public connection_host, public std::enable_shared_from_this<client_impl> {
 public:
  client_impl(asio::io_context& io, client_config config);

  // Public API, see client.hpp.
  void start();
  void connect_to(const peer_endpoint& peer);
  void stop(std::function<void()> on_stopped);
  std::uint16_t port() const noexcept { return port_.load(); }
  std::array<std::uint8_t, 4> address() const noexcept { return config_.address; }
  const peer_id& id() const noexcept { return id_; }
  client_stats stats() const {
    std::lock_guard lock(stats_mutex_);
    return stats_;
  }

  // connection_host
  bool on_handshake(peer_connection& c, const handshake& hs) override;
  bool on_message(peer_connection& c, const wire_event& event) override;
  void on_closed(peer_connection& c) override;
  std::span<const std::byte> block_data(const msg::request& r, std::vector<std::byte>& scratch) override;
  void on_block_sent(peer_connection& c, const msg::request& r) override;
  void on_wire_bytes(peer_connection& c, direction d, std::uint64_t bytes) override;
  bool limited(direction d) const override { return !limiter(d).unlimited(); }
  std::uint64_t request_grant(peer_connection& c, direction d, std::uint64_t bytes) override;
  std::uint64_t pending_grant(const peer_connection& c, direction d) const override;
  void cancel_grant(peer_connection& c, direction d) override;
  void upload_front_changed(peer_connection& c, time_point since) override;
  void spawn(asio::awaitable<void> task) override;
  time_point now() const override { return time_point(clock_type::now().time_since_epoch()); }

 private:
  // ----- set-up -----
  void emit(client_event_kind kind, std::string detail = {}, std::optional<std::uint32_t> piece = {},
            const peer_connection* c = nullptr);
  template <class F>
  void update_stats(F&& f) {
    std::lock_guard lock(stats_mutex_);
    f(stats_);
  }

  // ----- connections -----
  asio::awaitable<void> accept_loop();
  void try_connect(const peer_endpoint& peer);
  std::shared_ptr<peer_connection> make_connection();
  void add_to_picker(peer_connection& c, const bitfield* pieces);
  void update_interest(peer_connection& c);
  void fill_pipeline(peer_connection& c);
  void fill_all_pipelines();
  void on_piece(peer_connection& c, const msg::piece& p);
  void finish_piece(std::uint32_t piece);
  void strike(std::uint32_t address);
  void on_complete();
  bool peer_is_seed(const peer_connection& c) const { return c.peer_has.size() > 0 && c.peer_has.all(); }
  bool unwanted(const peer_connection& c) const;
  peer_connection* find(peer_key k) {
    const auto it = conns_.find(static_cast<std::uint32_t>(k));
    return it == conns_.end() ? nullptr : it->second.get();
  }
  std::span<std::byte> piece_area(std::uint32_t piece, partial_piece& pp);
  void update_peer_count();

  // ----- super seeding (initial_seeding::each_piece_once_first) -----
  void dispatch_offers();
  void drop_offers(std::uint32_t key);
  void end_super_seeding();

  // ----- choking -----
  std::vector<peer_stats> snapshot(time_point t);
  void apply_choke(peer_connection& c, bool choke, time_point t);
  void fill_free_slots();
  void unchoke_if_idle();
  asio::awaitable<void> choke_loop();

  // ----- timers -----
  asio::awaitable<void> tick_loop();
  void housekeeping(time_point t);
  rate_limiter& limiter(direction d) { return d == direction::up ? up_limiter_ : down_limiter_; }
  const rate_limiter& limiter(direction d) const { return d == direction::up ? up_limiter_ : down_limiter_; }
  void refill(direction d);
  void ensure_refill_loop();
  asio::awaitable<void> refill_loop();

  // ----- tracker -----
  asio::awaitable<void> tracker_loop();
  asio::awaitable<std::optional<announce_response>> announce(announce_event event, duration timeout,
                                                             std::string& why);
  void wake_tracker() { tracker_wake_.cancel(); }

  // ----- stop -----
  void begin_stop();
  void check_stopped();

  client_config config_;
  strand_type strand_;
  std::mt19937_64 rng_;
  peer_id id_{};
  std::atomic<std::uint16_t> port_{0};
  std::optional<http_url> tracker_url_;

  piece_picker picker_;
  sha1_hasher hasher_;
  choker_state choker_state_;
  rate_limiter up_limiter_;
  rate_limiter down_limiter_;
  time_point last_refill_{};
  bool refill_running_ = false;

  tcp::acceptor acceptor_;
  asio::steady_timer tick_timer_;
  asio::steady_timer choke_timer_;
  asio::steady_timer refill_timer_;
  asio::steady_timer tracker_wake_;
  std::shared_ptr<tcp::socket> tracker_socket_;  // the announce in flight, closed by stop

  std::uint32_t next_key_ = 1;
  std::unordered_map<std::uint32_t, std::shared_ptr<peer_connection>> conns_;
  std::set<std::string> dialed_;       // endpoints of open outgoing connections
  std::set<std::string> not_useful_;   // endpoints that were us or useless (cs mode)
  std::unordered_map<std::uint32_t, std::uint32_t> listed_per_ip_;  // address → peers the last announce listed there
  std::set<std::uint32_t> banned_;     // addresses
  std::unordered_map<std::uint32_t, std::uint32_t> strikes_;  // address → failed pieces
  std::unordered_map<std::uint32_t, partial_piece> partial_;
  std::unordered_map<std::uint32_t, failed_copy> failed_;
  std::vector<std::byte> upload_scratch_;
  bool super_seeding_ = false;
  std::vector<std::uint32_t> sent_count_;     // super seeding: whole uploads of each piece
  std::vector<std::uint32_t> offered_count_;  // super seeding: peers each piece was offered to
  struct super_seed_peer {
    std::vector<std::uint32_t> served;  // pieces uploaded whole to it that some leecher lacks
    std::uint64_t last_served = 0;      // serve_seq_ at its latest offer; 0 = never
  };
  struct offer_in_flight {
    std::uint32_t key = 0;  // the connection it was offered to
    time_point at{};
  };
  std::unordered_map<std::uint32_t, super_seed_peer> super_peers_;  // super seeding: by connection key
  std::map<std::uint32_t, offer_in_flight> flying_;  // super seeding: pieces offered, not yet sent whole
  std::uint64_t serve_seq_ = 0;

  bool started_ = false;
  bool start_incomplete_ = false;  // we began as a leecher (so we announce `completed`)
  bool complete_ = false;
  bool completed_announced_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  std::size_t tasks_ = 0;
  std::vector<std::function<void()>> stop_callbacks_;
  std::uint64_t uploaded_bytes_ = 0;    // for announces (strand only)
  std::uint64_t downloaded_bytes_ = 0;  // idem

  mutable std::mutex stats_mutex_;
  client_stats stats_;
};

// ---------------------------------------------------------------------------------------
// Set-up

client_impl::client_impl(asio::io_context& io, client_config config)
    : config_(std::move(config)),
      strand_(asio::make_strand(io)),
      picker_(picker_config{.total_bytes = config_.torrent ? config_.torrent->total_bytes : 1,
                            .piece_bytes = config_.torrent ? config_.torrent->piece_bytes : 1,
                            .random_first_pieces = config_.picker.random_first_pieces,
                            .pipeline_depth = std::max<std::uint32_t>(config_.picker.pipeline_depth, 1),
                            .end_game_free_blocks = config_.picker.end_game_free_blocks}),
      up_limiter_(rate_limiter_config{.rate_bytes_per_s = to_rate(config_.upload_bytes_per_s)}),
      down_limiter_(rate_limiter_config{.rate_bytes_per_s = to_rate(config_.download_bytes_per_s)}),
      acceptor_(strand_),
      tick_timer_(strand_),
      choke_timer_(strand_),
      refill_timer_(strand_),
      tracker_wake_(strand_) {
  if (!config_.torrent) throw std::invalid_argument("client: no torrent");
  if (!config_.store) throw std::invalid_argument("client: no storage");
  if (config_.store->size_bytes() != config_.torrent->total_bytes)
    throw std::invalid_argument("client: storage size differs from the torrent's");
  if (!is_loopback(config_.address))
    throw std::invalid_argument("client: address " + format_ipv4(config_.address) + " is not in 127.0.0.0/8");
  const std::string url = config_.announce_url.value_or(config_.torrent->announce);
  if (!url.empty()) {
    auto parsed = parse_http_url(url);
    if (!parsed) throw std::invalid_argument("client: bad announce URL " + url);
    tracker_url_ = std::move(parsed).value();
  }
  if (config_.rng_seed) {
    rng_.seed(*config_.rng_seed);
  } else {
    std::random_device rd;
    rng_.seed((std::uint64_t{rd()} << 32) ^ rd());
  }
  static constexpr std::string_view prefix = "-PD0001-";
  for (std::size_t i = 0; i < prefix.size(); ++i) id_[i] = static_cast<std::byte>(prefix[i]);
  for (std::size_t i = prefix.size(); i < id_.size(); ++i) id_[i] = static_cast<std::byte>(rng_() & 0xff);
  stats_.piece_count = config_.torrent->piece_count();
}

void client_impl::emit(client_event_kind kind, std::string detail, std::optional<std::uint32_t> piece,
                       const peer_connection* c) {
  if (!config_.on_event) return;
  client_event e{.kind = kind, .at = now(), .piece = piece, .detail = std::move(detail)};
  if (c) {
    e.peer_ip = c->remote_ip();
    e.peer_port = c->remote().port();
  }
  if (kind == client_event_kind::listening) e.peer_port = port_.load();
  try {
    config_.on_event(e);
  } catch (...) {
    // A throwing callback must not take the instance down.
  }
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
                       self->emit(client_event_kind::error, ex.what());
                     } catch (...) {
                       self->emit(client_event_kind::error, "unknown exception");
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
  (void)picker_.set_have(have);
  complete_ = picker_.is_complete();
  start_incomplete_ = !complete_;
  if (complete_ && config_.upload && config_.picker.seeding == initial_seeding::each_piece_once_first &&
      t.piece_count() > 1) {
    super_seeding_ = true;
    sent_count_.assign(t.piece_count(), 0);
    offered_count_.assign(t.piece_count(), 0);
  }
  if (complete_) config_.store->finalize();

  const auto listen_at = make_endpoint(config_.address, config_.port);
  acceptor_.open(listen_at.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  if (!down_limiter_.unlimited())  // accepted sockets inherit it, before the window scale is fixed
    acceptor_.set_option(asio::socket_base::receive_buffer_size(static_cast<int>(2 * block_bytes)));
  acceptor_.bind(listen_at);
  acceptor_.listen();
  port_ = acceptor_.local_endpoint().port();

  const auto t0 = now();
  last_refill_ = t0;
  update_stats([&](client_stats& s) {
    s.started_at = t0;
    s.pieces_held = static_cast<std::uint32_t>(have.count());
    s.complete = complete_;
    if (complete_) s.completed_at = t0;
  });
  asio::post(strand_, [self = shared_from_this()] {
    if (self->stopping_) return;
    self->emit(client_event_kind::listening);
    self->spawn(self->accept_loop());
    self->spawn(self->tick_loop());
    if (self->config_.upload) self->spawn(self->choke_loop());
    if (self->tracker_url_) self->spawn(self->tracker_loop());
  });
}

// ---------------------------------------------------------------------------------------
// Connections

std::shared_ptr<peer_connection> client_impl::make_connection() {
  const auto key = peer_key{next_key_++};
  if (next_key_ == 0) next_key_ = 1;
  connection_params params{
      .key = key,
      .wire = {.piece_bytes = config_.torrent->piece_bytes, .total_bytes = config_.torrent->total_bytes},
      .ours = {.info_hash = config_.torrent->info_hash, .id = id_},
  };
  auto c = std::make_shared<peer_connection>(*this, strand_, params);
  conns_.emplace(static_cast<std::uint32_t>(key), c);
  return c;
}

namespace {

/// At max_peers, the incoming connection that gives way to a new one, so that a flood of
/// connections that say nothing cannot lock honest peers out: the oldest one still
/// without a handshake, else, when we hold pieces (so that an honest peer has heard of
/// them and answers with a bitfield or `interested` within a round trip), the oldest one
/// that has sent nothing since its handshake. Null when every open connection is in use
/// or ours (outgoing): the new one is refused.
peer_connection* idle_incoming(const std::unordered_map<std::uint32_t, std::shared_ptr<peer_connection>>& conns,
                               bool holding_pieces) {
  peer_connection* silent = nullptr;
  peer_connection* no_handshake = nullptr;
  auto older = [](const peer_connection* a, const peer_connection* b) {
    return b == nullptr || a->connected_at < b->connected_at ||
           (a->connected_at == b->connected_at && a->key() < b->key());
  };
  for (const auto& [k, c] : conns) {
    if (!c->is_open() || c->outgoing()) continue;
    if (!c->handshake_done) {
      if (older(c.get(), no_handshake)) no_handshake = c.get();
    } else if (holding_pieces && !c->first_message_seen) {
      if (older(c.get(), silent)) silent = c.get();
    }
  }
  return no_handshake != nullptr ? no_handshake : silent;
}

}  // namespace

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
    const std::array<std::uint8_t, 4> ip{b[0], b[1], b[2], b[3]};
    if (!is_loopback(ip) || banned_.count(ip_key(ip))) {
      socket.close(ec2);
      continue;
    }
    // Connections closed but not yet unwound do not count: they are leaving.
    const auto open = static_cast<std::size_t>(
        std::count_if(conns_.begin(), conns_.end(), [](const auto& kc) { return kc.second->is_open(); }));
    if (open >= config_.max_peers) {
      auto* idle = idle_incoming(conns_, picker_.have().count() > 0);
      if (idle == nullptr) {
        socket.close(ec2);
        continue;
      }
      idle->close("evicted for a new connection (max_peers)");
    }
    make_connection()->start_incoming(std::move(socket));
  }
}

void client_impl::connect_to(const peer_endpoint& peer) {
  asio::post(strand_, [self = shared_from_this(), peer] { self->try_connect(peer); });
}

void client_impl::try_connect(const peer_endpoint& peer) {
  if (stopping_ || !started_ || !is_loopback(peer.ip) || peer.port == 0) return;
  if (peer.ip == config_.address && peer.port == port_.load()) return;
  if (banned_.count(ip_key(peer.ip)) || conns_.size() >= config_.max_peers) return;
  if (peer.id && *peer.id == id_) return;
  const auto key = endpoint_key(peer.ip, peer.port);
  if (dialed_.count(key) || not_useful_.count(key)) return;
  if (complete_ && !config_.seed_when_complete) return;
  // The tracker lists one peer at this address and it has already connected to us: this
  // dial would only duplicate that connection, and the rule in on_handshake would then
  // replace a working connection (its unchokes and requests) by a fresh one.
  if (const auto listed = listed_per_ip_.find(ip_key(peer.ip)); listed != listed_per_ip_.end() && listed->second == 1) {
    for (const auto& [k, c] : conns_)
      if (c->is_open() && !c->outgoing() && c->remote_ip() == peer.ip) return;
  }
  dialed_.insert(key);
  make_connection()->start_outgoing(make_endpoint(config_.address, 0), make_endpoint(peer.ip, peer.port));
}

void client_impl::update_peer_count() {
  std::size_t n = 0;
  for (const auto& [k, c] : conns_)
    if (c->is_open() && c->handshake_done) ++n;
  update_stats([&](client_stats& s) { s.peers_connected = n; });
}

// Super seeding. The seed keeps a few pieces on their way out (flying_), each offered (a
// `have`) to one peer, chosen by pick_recipient, the piece by pick_offer. Every peer is
// unchoked meanwhile, so the upload goes to those few pieces at a high rate, and a piece
// half sent to a peer is never offered to another (it would leave the seed twice). The next
// piece is offered before the last one is sent (offer_lookahead_bytes), so that the seed
// does not idle for the round trip. An offer that draws no block within request_timeout
// lapses.
void client_impl::dispatch_offers() {
  if (!super_seeding_ || stopping_) return;
  const auto t = now();
  const auto& torrent = *config_.torrent;
  // Unsent bytes of the pieces in flight; lapsed offers leave.
  std::uint64_t unsent = 0;
  for (auto it = flying_.begin(); it != flying_.end();) {
    const auto size = std::uint64_t{torrent.piece_size(it->first)};
    std::uint64_t sent = 0;
    auto* c = find(peer_key{it->second.key});
    if (c != nullptr) {
      const auto s = c->sent_by_piece.find(it->first);
      if (s != c->sent_by_piece.end()) sent = std::min<std::uint64_t>(s->second, size);
    }
    if (c == nullptr || !c->is_open() || (sent == 0 && t - it->second.at > config_.request_timeout)) {
      it = flying_.erase(it);
      continue;
    }
    unsent += size - sent;
    ++it;
  }
  const std::uint64_t budget = std::uint64_t{std::max<std::uint32_t>(config_.picker.pieces_in_flight, 1)} *
                                   torrent.piece_bytes + config_.picker.offer_lookahead_bytes;
  if (unsent + torrent.piece_bytes > budget) return;

  const std::size_t per_peer = std::max<std::uint32_t>(config_.picker.offers_per_peer, 1);
  std::unordered_map<std::uint32_t, std::size_t> live_of;
  for (const auto& [p, f] : flying_) ++live_of[f.key];
  // Copies owed: for each piece a peer got (or is getting) from us, the leechers that do not
  // hold it yet. A peer that passes its pieces on faster owes fewer and is given more.
  std::uint32_t leechers = 0;
  for (auto& [k, c] : conns_)
    if (c->is_open() && c->handshake_done && !peer_is_seed(*c)) ++leechers;
  const std::uint32_t others = leechers > 0 ? leechers - 1 : 0;
  std::vector<offer_candidate> candidates;
  for (auto& [k, c] : conns_) {
    if (!c->is_open() || !c->handshake_done || peer_is_seed(*c) || live_of[k] >= per_peer) continue;
    auto& sp = super_peers_[k];
    std::uint64_t owed = std::uint64_t{live_of[k]} * others;
    // Pieces every leecher holds owe nothing and leave the list, which so stays short.
    std::erase_if(sp.served, [&](std::uint32_t p) {
      // The recipient counts as a holder even before its `have` arrives.
      const auto holders = picker_.availability(p) + (c->peer_has.test(p) ? 0u : 1u);
      if (holders >= leechers) return true;
      owed += leechers - holders;
      return false;
    });
    candidates.push_back({.id = c->key(), .owed = owed, .last_served = sp.last_served});
  }
  if (candidates.empty()) return;
  const auto count = static_cast<std::uint32_t>(sent_count_.size());
  std::vector<std::uint32_t> spread(count, 0);
  for (std::uint32_t p = 0; p < count; ++p) spread[p] = sent_count_[p] + picker_.availability(p);
  std::vector<std::uint8_t> excluded(count, 0);
  while (unsent + torrent.piece_bytes <= budget && !candidates.empty()) {
    const auto who = pick_recipient(candidates);
    const auto pos = std::find_if(candidates.begin(), candidates.end(),
                                  [&](const offer_candidate& x) { return x.id == *who; });
    auto* c = find(*who);
    const auto key = static_cast<std::uint32_t>(*who);
    // Excluded: what the peer holds or was ever offered, and what is in flight to anyone.
    for (std::uint32_t p = 0; p < count; ++p) excluded[p] = c->peer_has.test(p) ? 1 : 0;
    for (const auto p : c->offered) excluded[p] = 1;
    for (const auto& [p, f] : flying_) excluded[p] = 1;
    const auto best = pick_offer({.spread = spread, .offered = offered_count_, .excluded = excluded}, rng_);
    if (!best) {
      candidates.erase(pos);
      continue;
    }
    auto& sp = super_peers_[key];
    c->offered.push_back(*best);
    ++offered_count_[*best];
    flying_[*best] = offer_in_flight{.key = key, .at = t};
    unsent += torrent.piece_size(*best);
    sp.last_served = ++serve_seq_;
    if (c->am_choking) apply_choke(*c, false, t);
    c->send(msg::have{*best});
    if (++live_of[key] >= per_peer)
      candidates.erase(pos);
    else {
      pos->last_served = sp.last_served;
      pos->owed += others;
    }
  }
}

void client_impl::drop_offers(std::uint32_t key) {
  super_peers_.erase(key);
  std::erase_if(flying_, [&](const auto& kv) { return kv.second.key == key; });
}

void client_impl::end_super_seeding() {
  super_seeding_ = false;
  for (auto& [k, c] : conns_) {
    if (!c->is_open() || !c->handshake_done) continue;
    for (std::uint32_t p = 0; p < picker_.piece_count(); ++p) {
      if (c->peer_has.test(p) || std::find(c->offered.begin(), c->offered.end(), p) != c->offered.end()) continue;
      c->send(msg::have{p});
    }
    c->offered.clear();
    c->sent_by_piece.clear();
  }
  super_peers_.clear();
  flying_.clear();
  // Standard choking from now on: the first rechoke runs at once.
  choker_state_.last_rechoke.reset();
  choke_timer_.cancel();
}

bool client_impl::on_handshake(peer_connection& c, const handshake& hs) {
  if (stopping_) return false;
  if (hs.info_hash != config_.torrent->info_hash) return false;
  if (hs.id == id_) {  // we dialed ourselves (e.g. the tracker listed us)
    if (c.outgoing()) not_useful_.insert(endpoint_key(c.remote_ip(), c.remote().port()));
    return false;
  }
  if (banned_.count(ip_key(c.remote_ip()))) return false;
  // One connection per peer id. When both sides dialed each other, both keep the
  // connection whose initiator has the smaller peer id, so they agree on which to drop.
  for (auto& [k, other] : conns_) {
    if (other.get() == &c || !other->is_open() || !other->handshake_done || other->id != hs.id) continue;
    const peer_id& init_other = other->outgoing() ? id_ : hs.id;
    const peer_id& init_new = c.outgoing() ? id_ : hs.id;
    if (init_new < init_other) {
      other->close("duplicate connection");
      break;
    }
    return false;
  }
  c.handshake_done = true;
  c.id = hs.id;
  c.peer_has = bitfield(config_.torrent->piece_count());
  c.last_received = now();
  if (picker_.have().count() > 0 && !super_seeding_) c.send(msg::bitfield{picker_.have()});
  if (super_seeding_ && !peer_is_seed(c)) {
    apply_choke(c, false, now());
    dispatch_offers();
  }
  update_peer_count();
  emit(client_event_kind::peer_connected, {}, {}, &c);
  return true;
}

void client_impl::add_to_picker(peer_connection& c, const bitfield* pieces) {
  c.first_message_seen = true;
  if (pieces) c.peer_has = *pieces;
  c.in_picker = picker_.add_peer(c.key(), c.peer_has);
}

bool client_impl::unwanted(const peer_connection& c) const {
  // Two seeds have nothing to say to each other; a client-server leecher keeps only seeds.
  if (!c.first_message_seen) return false;
  if (complete_ && peer_is_seed(c)) return true;
  if (!complete_ && !config_.connect_to_leechers && !peer_is_seed(c)) return true;
  return false;
}

void client_impl::update_interest(peer_connection& c) {
  if (!c.is_open() || !c.in_picker) return;
  const bool want = !complete_ && picker_.is_interesting(c.key());
  if (want && !c.am_interested) {
    c.am_interested = true;
    c.send(msg::interested{});
    fill_pipeline(c);
  } else if (!want && c.am_interested) {
    c.am_interested = false;
    c.send(msg::not_interested{});
  }
}

void client_impl::fill_pipeline(peer_connection& c) {
  if (!c.is_open() || !c.in_picker || c.peer_choking || !c.am_interested || complete_) return;
  const auto& knobs = config_.picker;
  const std::uint32_t most = std::max<std::uint32_t>(knobs.pipeline_depth, 1);
  const std::size_t depth =
      c.snubbed ? 1
      : knobs.request_queue_time > duration::zero()
          ? pipeline_depth_for(c.rate_from.rate(now()), knobs.request_queue_time,
                               std::clamp<std::uint32_t>(knobs.min_pipeline_depth, 1, most), most)
          : most;
  if (c.outstanding.size() >= depth) return;
  const auto blocks = picker_.pick(c.key(), depth - c.outstanding.size(), rng_);
  if (blocks.empty()) return;
  if (c.outstanding.empty()) c.waiting_since = now();
  for (const auto& b : blocks) {
    c.outstanding.push_back(b);
    c.send(msg::request{.index = b.piece, .begin = b.begin, .length = b.length});
  }
}

void client_impl::fill_all_pipelines() {
  // Snubbed peers last: the blocks a snub just put back go to peers that answer, not back
  // to a peer that stalls (it would hold the one block the others wait for, again).
  for (auto& [k, c] : conns_)
    if (!c->snubbed) fill_pipeline(*c);
  for (auto& [k, c] : conns_)
    if (c->snubbed) fill_pipeline(*c);
}

bool client_impl::on_message(peer_connection& c, const wire_event& event) {
  const bool first = !c.first_message_seen;
  if (const auto* bf = std::get_if<msg::bitfield>(&event)) {
    if (!first) {
      // aria2 sends no bitfield while it has nothing, then a bitfield instead of its first
      // `have`: take a late bitfield as haves for the pieces it adds.
      for (std::uint32_t i = 0; i < bf->pieces.size(); ++i) {
        if (!bf->pieces.test(i) || c.peer_has.test(i)) continue;
        c.peer_has.set(i);
        (void)picker_.peer_have(c.key(), i);
      }
      if (unwanted(c)) {
        c.close(complete_ ? "both seeds" : "not a seed");
        return true;
      }
      update_interest(c);
      fill_pipeline(c);
      return true;
    }
    add_to_picker(c, &bf->pieces);
  } else if (first) {
    add_to_picker(c, nullptr);
  }
  if (first) {
    if (unwanted(c)) {
      if (c.outgoing()) not_useful_.insert(endpoint_key(c.remote_ip(), c.remote().port()));
      c.close(complete_ ? "both seeds" : "not a seed");
      return true;
    }
    update_interest(c);
    dispatch_offers();
  }

  return std::visit(
      [&](const auto& m) -> bool {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, msg::choke>) {
          c.peer_choking = true;
          if (c.in_picker) picker_.peer_choked(c.key());
          c.outstanding.clear();
        } else if constexpr (std::is_same_v<T, msg::unchoke>) {
          c.peer_choking = false;
          c.snubbed = false;
          c.waiting_since = now();
          fill_pipeline(c);
        } else if constexpr (std::is_same_v<T, msg::interested>) {
          if (!c.peer_interested) {
            c.peer_interested = true;
            if (super_seeding_ && !stopping_) {
              if (c.am_choking) apply_choke(c, false, now());  // dispatch_offers gates the upload
            } else if (config_.upload && !stopping_) {
              const auto t = now();
              const auto peers = snapshot(t);
              const auto action = on_interested(choker_state_, peers, config_.choker, c.key(), t);
              if (action == interest_action::unchoke_regular || action == interest_action::unchoke_optimistic)
                apply_choke(c, false, t);
              else if (action == interest_action::choke)
                apply_choke(c, true, t);
            }
          }
        } else if constexpr (std::is_same_v<T, msg::not_interested>) {
          if (c.peer_interested) {
            c.peer_interested = false;
            if (!c.am_choking) fill_free_slots();
          }
        } else if constexpr (std::is_same_v<T, msg::have>) {
          if (!c.peer_has.test(m.index)) {
            c.peer_has.set(m.index);
            (void)picker_.peer_have(c.key(), m.index);
            if (unwanted(c)) {
              c.close(complete_ ? "both seeds" : "not a seed");
              return true;
            }
            update_interest(c);
            fill_pipeline(c);
            dispatch_offers();
          }
        } else if constexpr (std::is_same_v<T, msg::request>) {
          if (c.am_choking || !config_.upload) return true;  // BEP 3: ignored while choked
          if (!picker_.have().test(m.index)) return true;    // we do not have it: ignore
          if (c.queued_uploads() >= config_.max_queued_requests) return true;
          c.queue_upload(m);
        } else if constexpr (std::is_same_v<T, msg::piece>) {
          on_piece(c, m);
        } else if constexpr (std::is_same_v<T, msg::cancel>) {
          (void)c.cancel_upload(m);
        }
        // keep-alive, bitfield (handled above), unknown ids: nothing to do.
        return true;
      },
      event);
}

std::span<std::byte> client_impl::piece_area(std::uint32_t piece, partial_piece& pp) {
  const auto& t = *config_.torrent;
  const auto len = t.piece_size(piece);
  const auto mem = config_.store->memory();
  if (!mem.empty()) return mem.subspan(static_cast<std::size_t>(t.piece_offset(piece)), len);
  if (pp.buffer.size() != len) pp.buffer.resize(len);
  return pp.buffer;
}

void client_impl::on_piece(peer_connection& c, const msg::piece& p) {
  const auto len = static_cast<std::uint32_t>(p.data.size());
  const block_request b{.piece = p.index, .begin = p.begin, .length = len};
  c.payload_down_bytes += len;
  downloaded_bytes_ += len;
  const auto it = std::find(c.outstanding.begin(), c.outstanding.end(), b);
  if (it == c.outstanding.end()) {  // not asked (or cancelled since): ignore the data
    update_stats([&](client_stats& s) {
      s.payload_down_bytes += len;
      s.wasted_bytes += len;
    });
    return;
  }
  c.outstanding.erase(it);
  c.waiting_since = now();
  c.rate_from.add(c.waiting_since, len);
  c.snubbed = false;
  const auto outcome = picker_.block_received(c.key(), b);
  update_stats([&](client_stats& s) {
    s.payload_down_bytes += len;
    if (outcome.status != block_status::new_block) s.wasted_bytes += len;
  });
  if (outcome.status == block_status::new_block) {
    auto& pp = partial_[p.index];
    const auto area = piece_area(p.index, pp);
    std::memcpy(area.data() + p.begin, p.data.data(), len);
    const std::size_t block = p.begin / block_bytes;
    if (pp.senders.size() <= block) pp.senders.resize(picker_.blocks_in_piece(p.index), 0);
    pp.senders[block] = ip_key(c.remote_ip());
    for (const auto k : outcome.cancel) {
      auto* other = find(k);
      if (!other || !other->is_open()) continue;
      const auto oit = std::find(other->outstanding.begin(), other->outstanding.end(), b);
      if (oit != other->outstanding.end()) other->outstanding.erase(oit);
      other->send(msg::cancel{.index = b.piece, .begin = b.begin, .length = b.length});
    }
    if (outcome.piece_complete) finish_piece(p.index);
  }
  if (c.is_open()) fill_pipeline(c);
  if (!outcome.cancel.empty())
    for (const auto k : outcome.cancel)
      if (auto* other = find(k)) fill_pipeline(*other);
}

void client_impl::finish_piece(std::uint32_t piece) {
  const auto& t = *config_.torrent;
  auto pit = partial_.find(piece);
  if (pit == partial_.end()) return;  // cannot happen: every block was stored through partial_
  auto& pp = pit->second;
  const auto area = piece_area(piece, pp);
  const bool ok = hasher_.digest(area) == t.piece_hashes[piece];
  if (ok) {
    try {
      if (config_.store->memory().empty()) config_.store->write(t.piece_offset(piece), area);
    } catch (const std::exception& e) {
      // The piece could not be stored: download it again later.
      emit(client_event_kind::error, e.what(), piece);
      (void)picker_.piece_failed(piece);
      partial_.erase(pit);
      fill_all_pipelines();
      return;
    }
    (void)picker_.piece_passed(piece);
    // A copy that failed earlier with several senders: the blocks that differ name the culprits.
    if (const auto fit = failed_.find(piece); fit != failed_.end()) {
      std::set<std::uint32_t> guilty;
      for (std::size_t blk = 0; blk < fit->second.senders.size(); ++blk) {
        const std::size_t off = blk * block_bytes;
        const std::size_t n = std::min<std::size_t>(block_bytes, area.size() - off);
        if (std::memcmp(fit->second.data.data() + off, area.data() + off, n) != 0 && fit->second.senders[blk] != 0)
          guilty.insert(fit->second.senders[blk]);
      }
      failed_.erase(fit);
      for (const auto a : guilty) strike(a);
    }
    partial_.erase(pit);
    const auto held = static_cast<std::uint32_t>(picker_.have().count());
    update_stats([&](client_stats& s) { s.pieces_held = held; });
    for (auto& [k, c] : conns_) {
      if (!c->is_open() || !c->handshake_done) continue;
      c->send(msg::have{piece});
      update_interest(*c);
    }
    emit(client_event_kind::piece_verified, {}, piece);
    if (picker_.is_complete()) on_complete();
    return;
  }

  (void)picker_.piece_failed(piece);
  update_stats([&](client_stats& s) {
    ++s.hash_failures;
    s.hash_failed_bytes += area.size();
  });
  std::set<std::uint32_t> senders(pp.senders.begin(), pp.senders.end());
  senders.erase(0);
  if (senders.size() == 1) {
    strike(*senders.begin());
  } else if (const auto fit = failed_.find(piece); !senders.empty() && fit == failed_.end()) {
    failed_.emplace(piece, failed_copy{.data = std::vector<std::byte>(area.begin(), area.end()), .senders = pp.senders});
  } else if (!senders.empty()) {
    // A second bad copy with several senders: an address that sent two different versions
    // of one block lied (without this, two liars that share pieces are never struck).
    std::set<std::uint32_t> guilty;
    const auto& old = fit->second;
    for (std::size_t blk = 0; blk < std::min(old.senders.size(), pp.senders.size()); ++blk) {
      const std::size_t off = blk * block_bytes;
      const std::size_t n = std::min<std::size_t>(block_bytes, area.size() - off);
      if (old.senders[blk] != 0 && old.senders[blk] == pp.senders[blk] &&
          std::memcmp(old.data.data() + off, area.data() + off, n) != 0)
        guilty.insert(old.senders[blk]);
    }
    for (const auto a : guilty) strike(a);
  }
  partial_.erase(pit);
  emit(client_event_kind::hash_failed, {}, piece);
  fill_all_pipelines();
}

void client_impl::strike(std::uint32_t address) {
  if (banned_.count(address)) return;
  if (++strikes_[address] < std::max<std::uint32_t>(config_.max_hash_failures, 1)) return;
  banned_.insert(address);
  update_stats([&](client_stats& s) { ++s.peers_banned; });
  for (auto& [k, c] : conns_) {
    if (c->is_open() && ip_key(c->remote_ip()) == address) {
      emit(client_event_kind::peer_banned, "repeated hash failures", {}, c.get());
      c->close("banned: repeated hash failures");
    }
  }
}

void client_impl::on_complete() {
  if (complete_) return;
  complete_ = true;
  const auto t = now();
  try {
    config_.store->finalize();
  } catch (const std::exception& e) {
    emit(client_event_kind::error, e.what());
  }
  update_stats([&](client_stats& s) {
    s.complete = true;
    s.completed_at = t;
  });
  emit(client_event_kind::completed);
  for (auto& [k, c] : conns_) {
    if (!c->is_open()) continue;
    update_interest(*c);
    if (unwanted(*c)) c->close("both seeds");
  }
  wake_tracker();
  if (!config_.seed_when_complete) begin_stop();
}

void client_impl::on_closed(peer_connection& c) {
  const auto key = static_cast<std::uint32_t>(c.key());
  const auto it = conns_.find(key);
  if (it == conns_.end()) return;
  auto keep = it->second;  // c lives until the end of this call
  conns_.erase(it);
  if (c.outgoing()) dialed_.erase(endpoint_key(c.remote_ip(), c.remote().port()));
  if (c.in_picker) picker_.remove_peer(c.key());
  c.outstanding.clear();
  up_limiter_.remove_consumer(consumer_id{key});
  down_limiter_.remove_consumer(consumer_id{key});
  drop_offers(key);
  if (c.close_reason().starts_with("protocol")) update_stats([&](client_stats& s) { ++s.protocol_drops; });
  if (c.handshake_done) {
    update_peer_count();
    emit(client_event_kind::peer_disconnected, c.close_reason(), {}, &c);
    if (!stopping_) {
      if (!c.am_choking && c.peer_interested) fill_free_slots();
      fill_all_pipelines();  // its requests are back in the pool
      dispatch_offers();     // and the pieces offered to it go to another peer
    }
  }
  check_stopped();
}

std::span<const std::byte> client_impl::block_data(const msg::request& r, std::vector<std::byte>& scratch) {
  const auto& t = *config_.torrent;
  if (r.index >= t.piece_count() || !picker_.have().test(r.index)) return {};
  const std::uint64_t off = t.piece_offset(r.index) + r.begin;
  const auto mem = config_.store->memory();
  if (!mem.empty()) return std::span<const std::byte>(mem).subspan(static_cast<std::size_t>(off), r.length);
  try {
    scratch.resize(r.length);
    config_.store->read(off, scratch);
    return scratch;
  } catch (const std::exception& e) {
    emit(client_event_kind::error, e.what(), r.index);
    return {};
  }
}

void client_impl::on_block_sent(peer_connection& c, const msg::request& r) {
  uploaded_bytes_ += r.length;
  update_stats([&](client_stats& s) { s.payload_up_bytes += r.length; });
  if (!super_seeding_) unchoke_if_idle();
  if (!super_seeding_ || r.index >= sent_count_.size()) return;
  auto& sent = c.sent_by_piece[r.index];
  sent += r.length;
  if (sent < config_.torrent->piece_size(r.index)) return;
  c.sent_by_piece.erase(r.index);
  ++sent_count_[r.index];
  if (std::all_of(sent_count_.begin(), sent_count_.end(), [](std::uint32_t n) { return n > 0; })) {
    end_super_seeding();
    return;
  }
  super_peers_[static_cast<std::uint32_t>(c.key())].served.push_back(r.index);
  flying_.erase(r.index);
  dispatch_offers();
}

void client_impl::on_wire_bytes(peer_connection& c, direction d, std::uint64_t bytes) {
  (void)c;
  update_stats([&](client_stats& s) { (d == direction::up ? s.wire_up_bytes : s.wire_down_bytes) += bytes; });
}

// ---------------------------------------------------------------------------------------
// Rate limits

void client_impl::refill(direction d) {
  // Both buckets share one clock reading per refill: elapsed time is credited once.
  (void)d;
  const auto t = now();
  const auto elapsed = t - last_refill_;
  last_refill_ = t;
  for (auto dir : {direction::up, direction::down}) {
    auto& lim = limiter(dir);
    if (lim.unlimited()) continue;
    for (const auto& g : lim.refill(elapsed)) {
      if (auto* c = find(peer_key{static_cast<std::uint32_t>(g.consumer)})) c->add_grant(dir, g.bytes);
    }
  }
}

std::uint64_t client_impl::request_grant(peer_connection& c, direction d, std::uint64_t bytes) {
  auto& lim = limiter(d);
  if (lim.unlimited()) return bytes;
  refill(d);  // credit the time since the last refill before asking
  const auto granted = lim.request(consumer_id{static_cast<std::uint32_t>(c.key())}, bytes);
  if (granted < bytes) ensure_refill_loop();
  return granted;
}

std::uint64_t client_impl::pending_grant(const peer_connection& c, direction d) const {
  return limiter(d).pending_bytes(consumer_id{static_cast<std::uint32_t>(c.key())});
}

void client_impl::upload_front_changed(peer_connection& c, time_point since) {
  if (config_.upload_order != upload_policy::piece_first) return;
  up_limiter_.set_priority(consumer_id{static_cast<std::uint32_t>(c.key())},
                           static_cast<std::uint64_t>(since.time_since_epoch().count()));
}

void client_impl::cancel_grant(peer_connection& c, direction d) {
  (void)limiter(d).cancel(consumer_id{static_cast<std::uint32_t>(c.key())});
}

void client_impl::ensure_refill_loop() {
  if (refill_running_ || stopping_) return;
  refill_running_ = true;
  spawn(refill_loop());
}

asio::awaitable<void> client_impl::refill_loop() {
  std::error_code ec;
  while (!stopping_) {
    refill_timer_.expires_after(config_.refill_interval);
    co_await refill_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) break;
    refill(direction::up);
    if (up_limiter_.total_pending_bytes() == 0 && down_limiter_.total_pending_bytes() == 0) break;
  }
  refill_running_ = false;
}

// ---------------------------------------------------------------------------------------
// Choking

std::vector<peer_stats> client_impl::snapshot(time_point t) {
  std::vector<peer_stats> out;
  out.reserve(conns_.size());
  for (auto& [k, c] : conns_) {
    if (!c->is_open() || !c->handshake_done) continue;
    double from = 0, to = 0;
    const auto& base = c->sample_old ? c->sample_old : c->sample_new;
    if (base) {
      const double secs = std::chrono::duration<double>(t - base->at).count();
      if (secs > 0) {
        from = static_cast<double>(c->payload_down_bytes - base->down) / secs;
        to = static_cast<double>(c->payload_up_bytes - base->up) / secs;
      }
    } else {
      const double secs = std::chrono::duration<double>(t - c->connected_at).count();
      if (secs > 0) {
        from = static_cast<double>(c->payload_down_bytes) / secs;
        to = static_cast<double>(c->payload_up_bytes) / secs;
      }
    }
    out.push_back(peer_stats{.id = c->key(),
                             .interested = c->peer_interested,
                             .unchoked = !c->am_choking,
                             .snubbed = c->snubbed,
                             .rate_from_bytes_per_s = from,
                             .rate_to_bytes_per_s = to,
                             .connected_at = c->connected_at,
                             .last_unchoked = c->last_unchoked});
  }
  return out;
}

void client_impl::apply_choke(peer_connection& c, bool choke, time_point t) {
  if (!c.is_open() || c.am_choking == choke) return;
  c.am_choking = choke;
  if (choke) {
    c.last_unchoked = t;
    c.clear_uploads();
    c.send(msg::choke{});
  } else {
    c.send(msg::unchoke{});
  }
}

void client_impl::fill_free_slots() {
  if (!config_.upload || stopping_ || super_seeding_) return;
  const auto t = now();
  auto peers = snapshot(t);
  // Longest-waiting first, so freed slots go round.
  std::vector<peer_connection*> waiting;
  for (auto& [k, c] : conns_)
    if (c->is_open() && c->handshake_done && c->peer_interested && c->am_choking) waiting.push_back(c.get());
  std::sort(waiting.begin(), waiting.end(), [](const peer_connection* a, const peer_connection* b) {
    const auto ta = a->last_unchoked.value_or(a->connected_at);
    const auto tb = b->last_unchoked.value_or(b->connected_at);
    return ta != tb ? ta < tb : a->key() < b->key();
  });
  for (auto* c : waiting) {
    const auto action = on_interested(choker_state_, peers, config_.choker, c->key(), t);
    if (action != interest_action::unchoke_regular && action != interest_action::unchoke_optimistic) {
      if (action == interest_action::none) break;  // no slot is free
      continue;
    }
    apply_choke(*c, false, t);
    for (auto& p : peers)
      if (p.id == c->key()) p.unchoked = true;
  }
}

// Our upload is about to have nothing to send: unchoke one more interested peer (within
// choker_config::idle_extra_slots) rather than leave the capacity idle until the rechoke.
void client_impl::unchoke_if_idle() {
  if (!config_.upload || stopping_ || up_limiter_.unlimited()) return;
  for (const auto& [k, c] : conns_)
    if (c->is_open() && !c->am_choking && c->queued_uploads() > 0) return;
  const auto t = now();
  if (const auto k = on_upload_idle(snapshot(t), config_.choker))
    if (auto* c = find(*k)) apply_choke(*c, false, t);
}

asio::awaitable<void> client_impl::choke_loop() {
  auto self = shared_from_this();
  std::error_code ec;
  while (!stopping_) {
    const auto t = now();
    if (!super_seeding_ && rechoke_due(choker_state_, config_.choker, t)) {  // super seeding unchokes all
      const auto peers = snapshot(t);
      const auto role = complete_ ? choker_role::seed : choker_role::leecher;
      const auto decision = rechoke(choker_state_, peers, config_.choker, role, t, rng_);
      for (const auto k : decision.to_choke)
        if (auto* c = find(k)) apply_choke(*c, true, t);
      for (const auto k : decision.to_unchoke)
        if (auto* c = find(k)) apply_choke(*c, false, t);
      for (auto& [k, c] : conns_) {  // rate samples for the next decision
        c->sample_old = c->sample_new;
        c->sample_new = peer_connection::sample{.at = t, .down = c->payload_down_bytes, .up = c->payload_up_bytes};
      }
    }
    const auto next = next_rechoke_at(choker_state_, config_.choker, now());
    choke_timer_.expires_at(clock_type::time_point(std::chrono::duration_cast<clock_type::duration>(
        std::max(next, now() + std::chrono::milliseconds(1)).time_since_epoch())));
    co_await choke_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

// ---------------------------------------------------------------------------------------
// Timeouts

asio::awaitable<void> client_impl::tick_loop() {
  auto self = shared_from_this();
  std::error_code ec;
  while (!stopping_) {
    tick_timer_.expires_after(config_.tick_interval);
    co_await tick_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) break;
    housekeeping(now());
    dispatch_offers();  // offers that lapsed
  }
}

void client_impl::housekeeping(time_point t) {
  bool refill_needed = false;
  std::vector<peer_connection*> all;
  all.reserve(conns_.size());
  for (auto& [k, c] : conns_) all.push_back(c.get());
  for (auto* c : all) {
    if (!c->is_open()) continue;
    if (!c->handshake_done) {
      if (t - c->connected_at > config_.handshake_timeout) {
        c->close("handshake timeout");
        update_stats([&](client_stats& s) { ++s.handshake_timeouts; });
      }
      continue;
    }
    if (t - c->last_received > config_.idle_timeout) {
      c->close("idle timeout");
      continue;
    }
    if (t - c->last_sent > config_.keepalive_interval) {
      c->send(msg::keep_alive{});
      c->last_sent = t;
    }
    if (!c->outstanding.empty() && t - c->waiting_since > config_.request_timeout) {
      // Snubbed: its requests go back to the pool for the others; it keeps one at a time.
      c->snubbed = true;
      update_stats([&](client_stats& s) { ++s.snubs; });
      for (const auto& b : c->outstanding) {
        (void)picker_.request_dropped(c->key(), b);
        c->send(msg::cancel{.index = b.piece, .begin = b.begin, .length = b.length});
      }
      c->outstanding.clear();
      c->waiting_since = t;
      refill_needed = true;
    }
  }
  if (refill_needed) fill_all_pipelines();
}

// ---------------------------------------------------------------------------------------
// Tracker

asio::awaitable<std::optional<announce_response>> client_impl::announce(announce_event event, duration timeout,
                                                                        std::string& why) {
  const auto& url = *tracker_url_;
  std::uint64_t left = 0;
  const auto& t = *config_.torrent;
  for (std::uint32_t i = 0; i < t.piece_count(); ++i)
    if (!picker_.have().test(i)) left += t.piece_size(i);
  const announce_request req{.info_hash = t.info_hash,
                             .id = id_,
                             .port = port_.load(),
                             .uploaded_bytes = uploaded_bytes_,
                             .downloaded_bytes = downloaded_bytes_,
                             .left_bytes = left,
                             .event = event,
                             .compact = true,
                             .numwant = config_.numwant};
  const std::string request = "GET " + announce_target(url.target, req) + " HTTP/1.0\r\nHost: " + url.host + ":" +
                              std::to_string(url.port) + "\r\nUser-Agent: p2pdist/0.1\r\nConnection: close\r\n\r\n";

  auto socket = std::make_shared<tcp::socket>(strand_);
  tracker_socket_ = socket;
  asio::steady_timer watchdog(strand_);
  watchdog.expires_after(timeout);
  watchdog.async_wait([socket](std::error_code ec) {
    if (!ec) {
      std::error_code ignored;
      socket->close(ignored);
    }
  });
  std::error_code ec;
  std::string response;
  do {
    socket->open(tcp::v4(), ec);
    if (ec) break;
    socket->bind(make_endpoint(config_.address, 0), ec);  // the tracker sees our own address
    if (ec) break;
    co_await socket->async_connect(make_endpoint(url.address, url.port), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    co_await asio::async_write(*socket, asio::buffer(request), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    std::array<char, 16 * 1024> buf;
    while (response.size() <= max_tracker_response_bytes) {
      const std::size_t n =
          co_await socket->async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      response.append(buf.data(), n);
      if (ec) break;
    }
    if (ec == asio::error::eof) ec.clear();
  } while (false);
  watchdog.cancel();
  std::error_code ignored;
  socket->close(ignored);
  if (tracker_socket_ == socket) tracker_socket_.reset();

  if (ec) {
    why = ec == asio::error::operation_aborted ? "timeout" : ec.message();
    co_return std::nullopt;
  }
  if (response.size() > max_tracker_response_bytes) {
    why = "response too large";
    co_return std::nullopt;
  }
  const auto head_end = response.find("\r\n\r\n");
  if (head_end == std::string::npos || response.compare(0, 5, "HTTP/") != 0) {
    why = "not an HTTP response";
    co_return std::nullopt;
  }
  const auto sp = response.find(' ');
  if (sp == std::string::npos || sp > head_end || response.compare(sp + 1, 3, "200") != 0) {
    why = "HTTP status " + response.substr(sp == std::string::npos ? 0 : sp + 1, 3);
    co_return std::nullopt;
  }
  auto parsed = parse_announce_response(std::string_view(response).substr(head_end + 4));
  if (!parsed) {
    why = "bad response: " + std::string(to_string(parsed.error().code)) + " at byte " +
          std::to_string(parsed.error().offset);
    co_return std::nullopt;
  }
  if (parsed->failure_reason) {
    why = "tracker: " + *parsed->failure_reason;
    co_return std::nullopt;
  }
  co_return std::move(parsed).value();
}

asio::awaitable<void> client_impl::tracker_loop() {
  auto self = shared_from_this();
  std::error_code ec;
  announce_event event = announce_event::started;
  bool started_sent = false;
  duration backoff = config_.tracker_retry_min;
  while (!stopping_) {
    if (started_sent && complete_ && start_incomplete_ && !completed_announced_) event = announce_event::completed;
    std::string why;
    const auto resp = co_await announce(event, config_.tracker_timeout, why);
    if (stopping_) break;
    duration wait = backoff;
    if (resp) {
      if (event == announce_event::started) started_sent = true;
      if (event == announce_event::completed) completed_announced_ = true;
      update_stats([&](client_stats& s) { ++s.announces; });
      emit(client_event_kind::tracker_announced, std::string(to_string(event)));
      event = announce_event::none;
      backoff = config_.tracker_retry_min;
      wait = std::max<duration>(resp->interval, std::chrono::seconds(1));
      listed_per_ip_.clear();
      for (const auto& p : resp->peers) ++listed_per_ip_[ip_key(p.ip)];
      for (const auto& p : resp->peers) try_connect(p);
    } else {
      emit(client_event_kind::tracker_failed, why);
      backoff = std::min<duration>(backoff * 2, config_.tracker_retry_max);
    }
    if (resp && started_sent && complete_ && start_incomplete_ && !completed_announced_) continue;
    tracker_wake_.expires_after(wait);
    co_await tracker_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (started_sent) {
    std::string why;
    (void)co_await announce(announce_event::stopped, config_.stop_announce_timeout, why);
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
  for (auto& [k, c] : conns_) c->close("stopping");
  tick_timer_.cancel();
  choke_timer_.cancel();
  refill_timer_.cancel();
  tracker_wake_.cancel();
  if (tracker_socket_) tracker_socket_->close(ec);  // an announce in flight ends now
  // Defer the check: tasks that are ending are counted until their completion runs.
  asio::post(strand_, [self = shared_from_this()] { self->check_stopped(); });
}

void client_impl::check_stopped() {
  if (!stopping_ || stopped_ || tasks_ != 0 || !conns_.empty()) return;
  stopped_ = true;
  update_stats([&](client_stats& s) {
    s.stopped = true;
    s.peers_connected = 0;
  });
  emit(client_event_kind::stopped);
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
