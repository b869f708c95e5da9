#include "loopback/core/session.hpp"

#include <algorithm>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "loopback/core/connection.hpp"
#include "loopback/protocol/extension.hpp"

namespace p2pdist::bt {


namespace {

picker_config picker_config_for(const session_config& c) {
  return picker_config{.total_bytes = c.torrent ? c.torrent->total_bytes : 1,
                       .piece_bytes = c.torrent ? c.torrent->piece_bytes : 1,
                       .random_first_pieces = c.picker.random_first_pieces,
                       .pipeline_depth = std::max<std::uint32_t>(
                           {c.picker.pipeline_depth, c.picker.request_queue_time > duration::zero()
                                                         ? c.picker.max_pipeline_depth
                                                         : 1u,
                            1u}),
                       .end_game_free_blocks = c.picker.end_game_free_blocks};
}

const session_config& checked(const session_config& c) {
  if (!c.torrent) throw std::invalid_argument("session: no torrent");
  return c;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Lifecycle

session::session(session_config config)
    : config_(std::move(checked(config))), rng_(config_.rng_seed), picker_(picker_config_for(config_)) {
  id_ = make_peer_id(rng_);
  stats_.piece_count = config_.torrent->piece_count();
  backoff_ = config_.tracker_retry_min;
}

session::~session() = default;
session::session(session&&) noexcept = default;
session& session::operator=(session&&) noexcept = default;

void session::start(const bitfield& have, std::uint16_t listen_port, time_point now) {
  if (started_) throw std::logic_error("session: start() called twice");
  if (!picker_.set_have(have)) throw std::invalid_argument("session: `have` does not match the torrent's pieces");
  now_ = now;
  started_ = true;
  listen_port_ = listen_port;
  complete_ = picker_.is_complete();
  start_incomplete_ = !complete_;
  const auto pieces = config_.torrent->piece_count();
  if (complete_ && config_.upload && config_.picker.seeding == initial_seeding::each_piece_once_first && pieces > 1) {
    super_seeding_ = true;
    sent_count_.assign(pieces, 0);
    offered_count_.assign(pieces, 0);
  }
  stats_.started_at = now;
  stats_.pieces_held = static_cast<std::uint32_t>(have.count());
  stats_.complete = complete_;
  if (complete_) stats_.completed_at = now;
  next_tick_ = now + config_.tick_interval;
  if (config_.has_tracker) announce(announce_event::started, config_.tracker_timeout);
}

void session::stop(time_point now) {
  now_ = now;
  if (stopping_) return;
  stopping_ = true;
  for (auto& [k, c] : conns_) close_connection(*c, "stopping");
  // An announce in flight ends first (the driver abandons it, unless it is `completed`):
  // handle_announce goes on from there.
  if (!announce_in_flight_) announce_for_stop();
}

// The announces a stop owes the tracker, one at a time: `completed` if the download
// completed and the tracker has not heard it (a download that leaves at once), then
// `stopped`, which follows `started` only.
void session::announce_for_stop() {
  if (started_sent_ && complete_ && start_incomplete_ && !completed_announced_)
    announce(announce_event::completed, config_.stop_announce_timeout);
  else if (started_sent_ && !stopped_announced_)
    announce(announce_event::stopped, config_.stop_announce_timeout);
}

std::optional<output> session::poll_output() {
  if (outputs_.empty()) return std::nullopt;
  output o = std::move(outputs_.front());
  outputs_.pop_front();
  return o;
}

std::optional<time_point> session::poll_timeout() const {
  if (!started_ || stopping_) return std::nullopt;
  time_point next = next_tick_;
  if (config_.upload && !super_seeding_) next = std::min(next, next_rechoke_at(choker_state_, config_.choker, now_));
  if (next_announce_at_ && !announce_in_flight_) next = std::min(next, *next_announce_at_);
  return next;
}

void session::handle_timeout(time_point now) {
  now_ = now;
  if (!started_ || stopping_) return;
  if (now >= next_tick_) {
    next_tick_ = now + config_.tick_interval;
    housekeeping();
    dispatch_offers();  // offers that lapsed
  }
  if (config_.upload && !super_seeding_ && rechoke_due(choker_state_, config_.choker, now)) run_rechoke();
  announce_due();
}

// ---------------------------------------------------------------------------------------
// Connections

session::connection* session::find(peer_key k) {
  const auto it = conns_.find(static_cast<std::uint32_t>(k));
  return it == conns_.end() ? nullptr : it->second.get();
}

const session::connection* session::find(peer_key k) const {
  const auto it = conns_.find(static_cast<std::uint32_t>(k));
  return it == conns_.end() ? nullptr : it->second.get();
}

bool session::is_open(peer_key conn) const {
  const auto* c = find(conn);
  return c != nullptr && c->is_open();
}

session::connection& session::add_connection(const endpoint& remote, bool outgoing) {
  const auto key = peer_key{next_key_++};
  auto c = std::make_unique<connection>();
  c->key = key;
  c->remote = remote;
  c->outgoing = outgoing;
  c->connected_at = c->last_received = c->last_sent = c->waiting_since = now_;
  auto& ref = *c;
  conns_.emplace(static_cast<std::uint32_t>(key), std::move(c));
  return ref;
}

void session::close_connection(connection& c, std::string reason) {
  if (c.closing) return;
  c.closing = true;
  c.close_reason = reason;
  if (!c.uploads.empty()) {
    c.uploads.clear();
    c.upload_since.clear();
    c.upload_bytes = 0;
  }
  recount_serving(c);
  outputs_.push_back(out::close{.conn = c.key, .reason = std::move(reason)});
}

void session::send(connection& c, wire_event message) {
  send_waiting_haves(c);  // they go first, in the same write
  outputs_.push_back(out::send{.conn = c.key, .message = std::move(message)});
}

void session::send_have(connection& c, std::uint32_t piece) {
  if (c.peer_has.test(piece)) return;  // it will not ask us for it
  const bool batch = config_.have_batch_interval > duration::zero() && c.am_choking && upload_busy();
  if (!batch) {
    send(c, msg::have{piece});
    return;
  }
  if (c.haves_waiting.empty()) c.haves_waiting_since = now_;
  c.haves_waiting.push_back(piece);
}

void session::send_waiting_haves(connection& c) {
  if (c.haves_waiting.empty()) return;
  std::vector<std::uint32_t> pieces;
  pieces.swap(c.haves_waiting);
  for (const auto p : pieces)
    if (!c.peer_has.test(p)) outputs_.push_back(out::send{.conn = c.key, .message = msg::have{p}});
}

void session::emit(client_event_kind kind, std::string detail, std::optional<std::uint32_t> piece,
                   const connection* c) {
  client_event e{.kind = kind, .at = now_, .piece = piece, .detail = std::move(detail)};
  if (c != nullptr) {
    e.peer_ip = c->remote.ip;
    e.peer_port = c->remote.port;
  }
  outputs_.push_back(out::event{std::move(e)});
}

namespace {

/// At max_peers, the incoming connection that gives way to a new one, so that a flood of
/// connections that say nothing cannot lock honest peers out: the oldest one still
/// without a handshake, else, when we hold pieces (so that an honest peer has heard of
/// them and answers with a bitfield or `interested` within a round trip), the oldest one
/// that has sent nothing since its handshake, if it connected before `silent_before`.
/// Null when every open connection is in use or ours (outgoing): the new one is refused.
template <class Map>
detail::connection* idle_incoming(const Map& conns, bool holding_pieces, time_point silent_before) {
  detail::connection* silent = nullptr;
  detail::connection* no_handshake = nullptr;
  auto older = [](const detail::connection* a, const detail::connection* b) {
    return b == nullptr || a->connected_at < b->connected_at || (a->connected_at == b->connected_at && a->key < b->key);
  };
  for (const auto& [k, c] : conns) {
    if (!c->is_open() || c->outgoing) continue;
    if (!c->handshake_done) {
      if (older(c.get(), no_handshake)) no_handshake = c.get();
    } else if (holding_pieces && !c->first_message_seen && c->connected_at <= silent_before) {
      if (older(c.get(), silent)) silent = c.get();
    }
  }
  return no_handshake != nullptr ? no_handshake : silent;
}

}  // namespace

std::optional<peer_key> session::handle_accept(const endpoint& remote, time_point now) {
  now_ = now;
  if (!started_ || stopping_) return std::nullopt;
  if ((config_.loopback_only && !is_loopback(remote.ip)) || banned_.count(remote.ip)) return std::nullopt;
  // Connections closed but not yet gone do not count (they are leaving), nor our own dials
  // still connecting: peers dialing each other at the limit would otherwise refuse each
  // other's dials for the slots their own pending dials hold. Of those, the ones this
  // address made count against max_peers_per_address.
  std::size_t open = 0;
  std::size_t from_there = 0;
  for (const auto& [k, c] : conns_) {
    if (!c->is_open() || !c->connected) continue;
    ++open;
    if (!c->outgoing && c->remote.ip == remote.ip) ++from_there;
  }
  if (from_there >= config_.max_peers_per_address) return std::nullopt;
  if (open >= config_.max_peers) {
    auto* idle = idle_incoming(conns_, picker_.have().count() > 0, now - config_.evict_silent_after);
    if (idle == nullptr) return std::nullopt;
    close_connection(*idle, "evicted for a new connection (max_peers)");
  }
  auto& c = add_connection(remote, false);
  c.connected = true;
  send(c, our_handshake());
  return c.key;
}

void session::connect_to(const peer_endpoint& peer, time_point now) {
  now_ = now;
  if (stopping_ || !started_ || peer.port == 0) return;
  if (config_.loopback_only && !is_loopback(peer.ip)) return;
  if (peer.ip == config_.address && peer.port == listen_port_) return;
  if (banned_.count(peer.ip) || conns_.size() >= config_.max_peers) return;
  // A few dials at a time (half-open connections), as real clients do.
  const auto connecting = static_cast<std::size_t>(
      std::count_if(conns_.begin(), conns_.end(), [](const auto& kc) { return !kc.second->connected; }));
  if (connecting >= config_.max_half_open) return;
  if (peer.id && *peer.id == id_) return;
  const endpoint remote{.ip = peer.ip, .port = peer.port};
  if (dialed_.count(remote) || not_useful_.count(remote)) return;
  // A seed does not dial: leechers come to it (they dial what the tracker lists), and a
  // seed dialing every peer it hears of would mostly meet other seeds (N² connections, each
  // closed at once, late in a swarm where everyone stays).
  if (complete_) return;
  // The tracker lists one peer at this address and it has already connected to us: this
  // dial would only duplicate that connection, and the rule in handle_handshake would then
  // replace a working connection (its unchokes and requests) by a fresh one.
  if (const auto listed = listed_per_ip_.find(peer.ip); listed != listed_per_ip_.end() && listed->second == 1) {
    for (const auto& [k, c] : conns_)
      if (c->is_open() && !c->outgoing && c->remote.ip == peer.ip) return;
  }
  dialed_.insert(remote);
  auto& c = add_connection(remote, true);
  outputs_.push_back(out::dial{.conn = c.key, .remote = remote});
}

void session::handle_connected(peer_key conn, time_point now) {
  now_ = now;
  auto* c = find(conn);
  if (c == nullptr || !c->is_open()) return;
  c->connected = true;
  send(*c, our_handshake());
}

handshake session::our_handshake() const {
  handshake hs{.info_hash = config_.torrent->info_hash, .id = id_};
  if (config_.fast_extension) hs.reserved[fast_extension_byte] |= fast_extension_bit;
  if (config_.extension_protocol) hs.reserved[extension_protocol_byte] |= extension_protocol_bit;
  return hs;
}

void session::handle_closed(peer_key conn, close_cause cause, std::string_view reason, time_point now) {
  now_ = now;
  const auto it = conns_.find(static_cast<std::uint32_t>(conn));
  if (it == conns_.end()) return;
  auto owned = std::move(it->second);
  conns_.erase(it);
  auto& c = *owned;
  if (!c.closing) c.close_reason = std::string(reason);
  c.closing = true;
  recount_serving(c);
  if (c.outgoing) dialed_.erase(c.remote);
  if (c.in_picker) picker_.remove_peer(c.key);
  c.outstanding.clear();
  drop_offers(c.key);
  if (cause == close_cause::protocol) ++stats_.protocol_drops;
  if (!c.handshake_done) return;
  update_peer_count();
  emit(client_event_kind::peer_disconnected, c.close_reason, {}, &c);
  if (stopping_) return;
  if (!c.am_choking && c.peer_interested) fill_free_slots();
  fill_all_pipelines();  // its requests are back in the pool
  dispatch_offers();     // and the pieces offered to it go to another peer
}

void session::update_peer_count() {
  std::size_t n = 0;
  for (const auto& [k, c] : conns_)
    if (c->is_open() && c->handshake_done) ++n;
  stats_.peers_connected = n;
}

bool session::peer_is_seed(const connection& c) const { return c.peer_has.size() > 0 && c.peer_has.all(); }

bool session::unwanted(const connection& c) const {
  // Two seeds have nothing to say to each other; a client-server leecher keeps only seeds.
  if (!c.first_message_seen) return false;
  if (complete_ && peer_is_seed(c)) return true;
  if (!complete_ && !config_.connect_to_leechers && !peer_is_seed(c)) return true;
  return false;
}

// ---------------------------------------------------------------------------------------
// Handshake and messages

// True when the handshake is refused (the connection is then closing).
bool session::refuse_handshake(connection& c, const handshake& hs) {
  if (stopping_ || hs.info_hash != config_.torrent->info_hash) return true;
  if (hs.id == id_) {  // we dialed ourselves (e.g. the tracker listed us)
    if (c.outgoing) not_useful_.insert(c.remote);
    return true;
  }
  if (banned_.count(c.remote.ip)) return true;
  return !keep_one_connection_per_id(c, hs);
}

// One connection per peer id. When both sides dialed each other, both keep the connection
// whose initiator has the smaller peer id, so they agree on which to drop. False: drop `c`.
bool session::keep_one_connection_per_id(connection& c, const handshake& hs) {
  for (auto& [k, other] : conns_) {
    if (other.get() == &c || !other->is_open() || !other->handshake_done || other->id != hs.id) continue;
    const peer_id& init_other = other->outgoing ? id_ : hs.id;
    const peer_id& init_new = c.outgoing ? id_ : hs.id;
    if (init_new < init_other) {
      close_connection(*other, "duplicate connection");
      return true;
    }
    return false;
  }
  return true;
}

void session::handle_handshake(peer_key conn, const handshake& hs, time_point now) {
  now_ = now;
  auto* cp = find(conn);
  if (cp == nullptr || !cp->is_open() || cp->handshake_done) return;
  auto& c = *cp;
  if (refuse_handshake(c, hs)) {
    close_connection(c, "handshake refused");
    return;
  }
  c.handshake_done = true;
  c.id = hs.id;
  c.fast = config_.fast_extension && offers_fast_extension(hs);
  c.extensions = config_.extension_protocol &&
                 (hs.reserved[extension_protocol_byte] & extension_protocol_bit) != std::byte{0};
  c.peer_has = bitfield(config_.torrent->piece_count());
  c.last_received = now;
  // What we hold (a super seed shows nothing and offers pieces one by one). With the fast
  // extension one of bitfield, have all, have none must come first; without it a peer with
  // nothing sends nothing.
  const auto held = super_seeding_ ? 0 : picker_.have().count();
  if (c.fast && held == 0)
    send(c, msg::have_none{});
  else if (c.fast && picker_.is_complete())
    send(c, msg::have_all{});
  else if (held > 0)
    send(c, msg::bitfield{picker_.have()});
  if (c.extensions) {
    // Our extensions: ut_metadata, with the size of the metadata we serve (BEP 9).
    extension_handshake ours{.messages = {{std::string(ut_metadata_name), our_ut_metadata_id}}, .client = "p2pdist"};
    if (!config_.torrent->info_bytes.empty()) ours.metadata_size = config_.torrent->info_bytes.size();
    send(c, msg::extended{.id = extended_handshake_id, .payload = encode_extension_handshake(ours)});
  }
  if (super_seeding_ && !peer_is_seed(c)) {
    never_offered_.insert(static_cast<std::uint32_t>(c.key));
    apply_choke(c, false);
    dispatch_offers();
  } else {
    unchoke_ahead(c);
  }
  update_peer_count();
  emit(client_event_kind::peer_connected, c.fast ? "fast extension" : "", {}, &c);
}

// aria2 sends no bitfield while it has nothing, then a bitfield instead of its first
// `have`: a late bitfield counts as haves for the pieces it adds. True when handled.
bool session::late_bitfield(connection& c, const msg::bitfield& bf) {
  for (std::uint32_t i = 0; i < bf.pieces.size(); ++i) {
    if (!bf.pieces.test(i) || c.peer_has.test(i)) continue;
    c.peer_has.set(i);
    (void)picker_.peer_have(c.key, i);
  }
  if (unwanted(c)) {
    close_connection(c, complete_ ? "both seeds" : "not a seed");
    return true;
  }
  update_interest(c);
  fill_pipeline(c);
  return true;
}

namespace {

/// A message of the fast extension (BEP 6), valid only where both handshakes offered it.
bool is_fast_message(const wire_event& m) noexcept {
  return std::holds_alternative<msg::suggest_piece>(m) || std::holds_alternative<msg::have_all>(m) ||
         std::holds_alternative<msg::have_none>(m) || std::holds_alternative<msg::reject_request>(m) ||
         std::holds_alternative<msg::allowed_fast>(m);
}

}  // namespace

void session::handle_message(peer_key conn, const wire_event& message, time_point now) {
  now_ = now;
  auto* cp = find(conn);
  if (cp == nullptr || !cp->is_open() || !cp->handshake_done) return;
  auto& c = *cp;
  if (!c.fast && is_fast_message(message)) {
    ++stats_.protocol_drops;
    close_connection(c, "protocol: " + std::string(event_name(message)) +
                            " without the fast extension (BEP 6) in both handshakes");
    return;
  }
  const bool first = !c.first_message_seen;
  // Have all stands for a full bitfield; have none for an empty one (BEP 6).
  std::optional<msg::bitfield> all;
  if (std::holds_alternative<msg::have_all>(message)) {
    all.emplace(msg::bitfield{bitfield(config_.torrent->piece_count(), true)});
  }
  const auto* bf = all ? &*all : std::get_if<msg::bitfield>(&message);
  if (!first && (bf != nullptr || std::holds_alternative<msg::have_none>(message))) {
    // Late: a bitfield (aria2's habit) or have all counts as the haves it adds; have none
    // says nothing new.
    if (bf != nullptr)
      (void)late_bitfield(c, *bf);
    else
      note_idle_message(c);
    return;
  }
  if (first) {
    add_to_picker(c, bf != nullptr ? &bf->pieces : nullptr);
    if (unwanted(c)) {
      if (c.outgoing) not_useful_.insert(c.remote);
      close_connection(c, complete_ ? "both seeds" : "not a seed");
      return;
    }
    update_interest(c);
    dispatch_offers();
  }
  dispatch(c, message);
}

void session::dispatch(connection& c, const wire_event& message) {
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, msg::choke>) {
          c.peer_choking = true;
          // With the fast extension the choke voids nothing: every request gets its block or
          // a reject, so ours stay in flight until one of the two arrives.
          if (c.fast) return;
          if (c.in_picker) picker_.peer_choked(c.key);
          // The choke voids our requests there, but those still on their way to the peer
          // arrive after it: a peer that unchokes us again before they do (its upload went
          // idle, a rechoke) would serve them, and we would drop the blocks as unasked, having
          // asked another peer for them meanwhile. A cancel behind each keeps it from sending
          // them (simulate, download-bound, d alternating 1/2 MB/s, N = 16: 6 % of a 1 MB/s
          // leecher's download was such blocks, and the swarm 1.070 of the bound, 1.022 with
          // the cancels).
          for (const auto& b : c.outstanding) send(c, msg::cancel{.index = b.piece, .begin = b.begin, .length = b.length});
          c.outstanding.clear();
        } else if constexpr (std::is_same_v<T, msg::unchoke>) {
          c.peer_choking = false;
          c.snubbed = false;
          c.waiting_since = now_;
          fill_pipeline(c);
        } else if constexpr (std::is_same_v<T, msg::interested>) {
          note_idle_message(c);
          if (c.is_open()) on_peer_interested(c);
        } else if constexpr (std::is_same_v<T, msg::not_interested>) {
          note_idle_message(c);
          if (c.is_open() && c.peer_interested) {
            c.peer_interested = false;
            if (!c.am_choking) fill_free_slots();
            if (super_seeding_) withdraw_taken_offers(c);
          }
        } else if constexpr (std::is_same_v<T, msg::have>) {
          if (c.peer_has.test(m.index))
            note_idle_message(c);
          else
            on_peer_have(c, m.index);
        } else if constexpr (std::is_same_v<T, msg::request>) {
          if (on_peer_request(c, m)) return;
          note_idle_message(c);
          if (c.is_open() && c.fast)
            send(c, msg::reject_request{.index = m.index, .begin = m.begin, .length = m.length});
        } else if constexpr (std::is_same_v<T, msg::cancel>) {
          note_idle_message(c);
          if (c.is_open()) cancel_upload(c, m);
        } else if constexpr (std::is_same_v<T, msg::reject_request>) {
          on_reject(c, block_request{.piece = m.index, .begin = m.begin, .length = m.length});
        } else if constexpr (std::is_same_v<T, msg::extended>) {
          on_extended(c, m);
        } else if constexpr (std::is_same_v<T, msg::keep_alive> || std::is_same_v<T, msg::suggest_piece> ||
                             std::is_same_v<T, msg::allowed_fast>) {
          // Suggestions and allowed-fast pieces are advice: we ask only peers that unchoke us.
          note_idle_message(c);
        }
        // bitfield, have all, have none (handled before), piece (handle_block), unknown ids: nothing.
      },
      message);
}

// A flood of messages that move no data costs every peer that reads them its download (they
// count against its limit as data does) and its time: past the limit the sender is cut and
// banned. (swarm --fault chatter: two such peers at 48 kB/s each cost a download-bound
// swarm of 4 leechers at 1 MB/s 12 % of its time before this limit.)
void session::note_idle_message(connection& c) {
  if (!(config_.max_idle_messages_per_s > 0)) return;
  c.idle_messages.add(now_, 1);
  if (c.idle_messages.rate(now_) <= config_.max_idle_messages_per_s) return;
  ban(c.remote.ip, "flooding: more than " + std::to_string(static_cast<long long>(config_.max_idle_messages_per_s)) +
                               " messages a second that move no data");
}

void session::on_peer_interested(connection& c) {
  if (c.peer_interested) return;
  c.peer_interested = true;
  if (stopping_) return;
  if (super_seeding_) {
    if (c.am_choking) apply_choke(c, false);  // dispatch_offers gates the upload
    return;
  }
  if (!config_.upload) return;
  const auto action = on_interested(choker_state_, snapshot(), config_.choker, c.key, now_);
  if (action == interest_action::unchoke_regular || action == interest_action::unchoke_optimistic)
    apply_choke(c, false);
  else if (action == interest_action::choke)
    apply_choke(c, true);
}

void session::on_peer_have(connection& c, std::uint32_t piece) {
  if (c.peer_has.test(piece)) return;
  c.peer_has.set(piece);
  (void)picker_.peer_have(c.key, piece);
  if (unwanted(c)) {
    close_connection(c, complete_ ? "both seeds" : "not a seed");
    return;
  }
  update_interest(c);
  fill_pipeline(c);
  dispatch_offers();
}

bool session::on_peer_request(connection& c, const msg::request& r) {
  if (c.am_choking || !config_.upload) return false;  // BEP 3: ignored while choked
  if (!picker_.have().test(r.index)) return false;    // we do not have it: ignore
  if (c.uploads.size() >= config_.max_queued_requests) return false;
  if (super_seeding_) note_offer_asked(c, r.index);
  queue_upload(c, r);
  return true;
}

void session::handle_wire_bytes(peer_key conn, direction d, std::uint64_t bytes, time_point now) {
  now_ = now;
  (d == direction::up ? stats_.wire_up_bytes : stats_.wire_down_bytes) += bytes;
  auto* c = find(conn);
  if (c == nullptr) return;
  if (d == direction::up)
    c->last_sent = now;
  else if (bytes > 0)
    c->last_received = now;
}

// ---------------------------------------------------------------------------------------
// Timeouts

void session::housekeeping() {
  bool refill_needed = false;
  std::vector<connection*> all;
  all.reserve(conns_.size());
  for (auto& [k, c] : conns_) all.push_back(c.get());
  for (auto* c : all) {
    if (!c->is_open()) continue;
    if (!c->handshake_done) {
      if (now_ - c->connected_at > config_.handshake_timeout) {
        close_connection(*c, "handshake timeout");
        ++stats_.handshake_timeouts;
      }
      continue;
    }
    if (now_ - c->last_received > config_.idle_timeout) {
      close_connection(*c, "idle timeout");
      continue;
    }
    if (!c->haves_waiting.empty() &&
        (now_ - c->haves_waiting_since >= config_.have_batch_interval || !upload_busy())) {
      send_waiting_haves(*c);
    }
    if (now_ - c->last_sent > config_.keepalive_interval) {
      send(*c, msg::keep_alive{});
      c->last_sent = now_;
    }
    if (!c->outstanding.empty() && now_ - c->waiting_since > config_.request_timeout) {
      snub(*c);
      refill_needed = true;
    }
  }
  if (refill_needed) fill_all_pipelines();
}

}  // namespace p2pdist::bt
