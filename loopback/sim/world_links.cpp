// world: connections between simulated peers — dialing, the two pipes of a link, delivery
// through the receiver's download pacer, and blocks leaving through the sender's upload
// pacer. See world.hpp.

#include <algorithm>
#include <array>
#include <limits>
#include <random>

#include "loopback/sim/world.hpp"
#include "loopback/sim/world_detail.hpp"

namespace p2pdist::sim {

using detail::item;
using detail::link;
using detail::other;
using detail::peer;

namespace {

// A block is counted as the piece message it stands for.
const std::size_t piece_kind = bt::wire_event(bt::msg::piece{}).index();

bt::consumer_id consumer_of(bt::peer_key k) { return bt::consumer_id{static_cast<std::uint32_t>(k)}; }

std::uint64_t wire_bytes_of(const bt::block_request& b) { return bt::piece_header_bytes + b.length; }

// The side of link `l` that peer `p` holds under `key`.
int side_of(const link& l, std::uint32_t p, bt::peer_key key) { return l.peer[0] == p && l.key[0] == key ? 0 : 1; }

// A wrong block's fingerprint in abstract mode: never 0, the same each time a liar sends it.
std::uint64_t wrong_print(std::uint32_t sender, const bt::block_request& b) {
  return ((std::uint64_t{sender} + 1) * 0x9E3779B97F4A7C15ULL) ^ ((std::uint64_t{b.piece} << 20) + b.begin + 1);
}

}  // namespace

detail::link* world::link_of(std::uint32_t p, bt::peer_key key) {
  const auto& links = peers_[p]->links;
  const auto it = links.find(static_cast<std::uint32_t>(key));
  return it == links.end() ? nullptr : links_[it->second].get();
}

// ---------------------------------------------------------------------------------------
// Opening and closing

void world::dial(std::uint32_t p, bt::peer_key key, const bt::endpoint& remote) {
  ++sent_[count_dial];
  const auto id = static_cast<std::uint32_t>(links_.size());
  auto l = std::make_unique<link>();
  l->peer = {p, p};
  l->key[0] = key;
  l->open[0] = true;
  const auto target = by_address_.find(remote.ip);
  l->latency = config_.latency;
  if (config_.per_peer_latency) {
    const auto far = target == by_address_.end() ? bt::duration::zero() : peers_[target->second]->config.access_rtt;
    l->latency = (peers_[p]->config.access_rtt + far) / 2;
  } else if (config_.latency_jitter > 0) {
    std::uniform_real_distribution<double> spread(1 - config_.latency_jitter, 1 + config_.latency_jitter);
    l->latency = std::chrono::duration_cast<bt::duration>(config_.latency * spread(rng_));
  }
  links_.push_back(std::move(l));
  peers_[p]->links[static_cast<std::uint32_t>(key)] = id;
  if (target == by_address_.end()) {
    schedule(now_ + 2 * links_[id]->latency, event_kind::refused, p, id);
    return;
  }
  links_[id]->peer[1] = target->second;
  for (int side : {0, 1}) links_[id]->window[side] = window_of(*links_[id], side);
  schedule(now_ + links_[id]->latency, event_kind::connect, target->second, id);
}

// The window of what side `side` sends: window_bytes, as the throttled sockets' small
// buffers hold, plus the bytes the path carries in a round trip at the slower of the
// sender's upload and the receiver's download, as buffers sized to the bandwidth-delay
// product would (none needed on a loopback's microseconds; without them a 64 KiB window
// at 100 ms carries 650 kB/s whatever the links). Unlimited both ways: no limit.
std::uint64_t world::window_of(const link& l, int side) const {
  const double up = peers_[l.peer[side]]->config.up_bytes_per_s;
  const double down = peers_[l.peer[other(side)]]->config.down_bytes_per_s;
  const double rate = up > 0 && down > 0 ? std::min(up, down) : std::max(up, down);
  if (!(rate > 0)) return std::numeric_limits<std::uint64_t>::max();
  const double in_flight = rate * 2 * std::chrono::duration<double>(l.latency).count();
  return config_.window_bytes + static_cast<std::uint64_t>(in_flight);
}

void world::on_connect(std::uint32_t id) {
  auto& l = *links_[id];
  auto& target = *peers_[l.peer[1]];
  const auto& dialer = *peers_[l.peer[0]];
  std::optional<bt::peer_key> key;
  if (l.open[0] && target.session && !target.session->stopping())
    key = target.session->handle_accept({.ip = dialer.config.address, .port = static_cast<std::uint16_t>(40000 + id % 20000)},
                                        now_);
  if (!key) {
    ++sent_[count_refused];
    schedule(now_ + l.latency, event_kind::refused, l.peer[0], id);
    drain(l.peer[1]);  // an eviction may have been decided all the same
    return;
  }
  l.key[1] = *key;
  l.open[1] = true;
  target.links[static_cast<std::uint32_t>(*key)] = id;
  target.session->handle_round_trip(*key, 2 * l.latency, now_);
  // Before the accepting side speaks: its handshake must not overtake the connection.
  schedule(now_ + l.latency, event_kind::connected, l.peer[0], id);
  drain(l.peer[1]);
}

void world::close_side(std::uint32_t id, int side) {
  auto& l = *links_[id];
  if (!l.open[side]) return;
  l.open[side] = false;
  auto& p = *peers_[l.peer[side]];
  const auto key = l.key[side];
  p.links.erase(static_cast<std::uint32_t>(key));
  p.up->remove(consumer_of(key));
  p.down->remove(consumer_of(key));
  // What was on its way to this side is lost; the other side learns of the close after
  // what this side sent before it.
  l.from[other(side)].clear();
  if (l.open[other(side)]) send_item(id, side, item{.what = item::kind::fin});
  p.session->handle_closed(key, bt::close_cause::requested, "closed", now_);
}

// ---------------------------------------------------------------------------------------
// Pipes

void world::send_item(std::uint32_t id, int side, item it) {
  auto& l = *links_[id];
  if (!l.open[other(side)] && l.key[other(side)] != bt::peer_key{}) return;  // the other side is gone
  auto& pipe = l.from[side];
  if (it.what == item::kind::message) ++sent_[it.message.index()];
  if (it.what == item::kind::block) ++sent_[piece_kind];
  it.arrives = now_ + l.latency;
  if (config_.jitter > bt::duration::zero()) {
    std::uniform_real_distribution<double> spread(0, 1);
    it.arrives += std::chrono::duration_cast<bt::duration>(config_.jitter * spread(rng_));
    if (pipe.size() > 0) it.arrives = std::max(it.arrives, pipe.items.back().arrives);
  }
  pipe.unread_bytes += it.wire_bytes;
  if (it.wire_bytes > 0)
    peers_[l.peer[side]]->session->handle_wire_bytes(l.key[side], bt::direction::up, it.wire_bytes, now_);
  // One arrival event per pipe at a time, for its front: what follows arrives with it
  // when sent at the same instant (the delay is the same for all), else after it.
  if (!pipe.in_transit()) schedule(it.arrives, event_kind::arrive, 0, id, static_cast<std::uint64_t>(side));
  pipe.push_back(std::move(it));
}

void world::on_arrive(std::uint32_t id, int side) {
  auto& l = *links_[id];
  auto& pipe = l.from[side];
  const int to = other(side);
  if (!l.open[to]) {
    pipe.drop_transit();
    return;
  }
  bool moved = false;
  while (pipe.in_transit() && pipe.transit_front().arrives <= now_) {
    pipe.inbox_bytes += pipe.transit_front().wire_bytes;
    ++pipe.arrived;
    moved = true;
  }
  if (!moved) return;  // dropped by a close
  if (pipe.in_transit())
    schedule(pipe.transit_front().arrives, event_kind::arrive, 0, id, static_cast<std::uint64_t>(side));
  try_deliver(id, to);
}

// Hands the items waiting at side `to` to its session, as far as its download pacer allows.
void world::try_deliver(std::uint32_t id, int to, bool pace) {
  auto& l = *links_[id];
  auto& pipe = l.from[other(to)];
  const auto receiver = l.peer[to];
  auto& r = *peers_[receiver];
  bool delivered = false;
  while (l.open[to] && !pipe.inbox_empty()) {
    auto& head = pipe.front();
    if (!r.down->unlimited() && head.wire_bytes > 0) {
      (void)r.down->refill_to(now_);
      if (r.down->granted(consumer_of(l.key[to])) < head.wire_bytes) {
        (void)r.down->sync(consumer_of(l.key[to]), pipe.inbox_bytes, now_);
        if (r.down->granted(consumer_of(l.key[to])) < head.wire_bytes) break;
      }
      r.down->spend(consumer_of(l.key[to]), head.wire_bytes);
    }
    item it = std::move(head);
    pipe.pop_front();
    --pipe.arrived;
    pipe.inbox_bytes -= it.wire_bytes;
    pipe.unread_bytes -= it.wire_bytes;
    delivered = true;
    deliver(id, to, it);
  }
  // The session's outputs once for all it was handed (the same instant).
  if (delivered) drain(receiver);
  if (delivered && l.open[other(to)]) try_upload(l.peer[other(to)]);  // its window opened
  if (pace) schedule_pacing(receiver);
}

void world::deliver(std::uint32_t id, int to, item& it) {
  auto& l = *links_[id];
  const auto p = l.peer[to];
  auto& r = *peers_[p];
  auto& s = *r.session;
  const auto key = l.key[to];
  if (it.wire_bytes > 0) s.handle_wire_bytes(key, bt::direction::down, it.wire_bytes, now_);
  switch (it.what) {
    case item::kind::fin:
      l.open[to] = false;
      r.links.erase(static_cast<std::uint32_t>(key));
      r.up->remove(consumer_of(key));
      r.down->remove(consumer_of(key));
      s.handle_closed(key, bt::close_cause::peer, "peer closed", now_);
      break;
    case item::kind::message:
      if (const auto* hs = std::get_if<bt::handshake>(&it.message))
        s.handle_handshake(key, *hs, now_);
      else
        s.handle_message(key, it.message, now_);
      break;
    case item::kind::block: {
      static const std::array<std::byte, bt::block_bytes> zeros{};
      const auto& b = it.block;
      const std::span<const std::byte> data =
          config_.content ? std::span<const std::byte>(it.data) : std::span<const std::byte>(zeros).first(b.length);
      if (!s.handle_block(key, bt::msg::piece{.index = b.piece, .begin = b.begin, .data = data}, now_)) break;
      if (r.store) {
        r.store->put_block(b.piece, b.begin, data);
      } else {
        auto& prints = r.prints[b.piece];
        if (prints.empty()) prints.assign((config_.torrent->piece_size(b.piece) + bt::block_bytes - 1) / bt::block_bytes, 0);
        prints[b.begin / bt::block_bytes] = it.corrupt ? wrong_print(l.peer[other(to)], b) : 0;
      }
      break;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Uploads

void world::upload_changed(std::uint32_t p, bt::peer_key key) {
  auto& u = *peers_[p];
  if (!link_of(p, key)) return;
  const auto& s = *u.session;
  (void)u.up->refill_to(now_);  // before any change; try_upload finds whom it let send
  if (!u.up->unlimited() && u.config.session.upload_order == bt::upload_policy::piece_first)
    u.up->set_priority(consumer_of(key), s.upload_priority(key));
  (void)u.up->sync(consumer_of(key), s.upload_queued_bytes(key), now_);
  u.upload_wanted = true;
}

// Sends every block whose bytes the upload pacer granted and whose pipe has room.
void world::try_upload(std::uint32_t p) {
  auto& u = *peers_[p];
  if (u.draining) {
    u.upload_wanted = true;
    return;
  }
  (void)u.up->refill_to(now_);
  // Who may send: with a limited upload only the connections holding a grant (a peer keeps
  // tens of connections, and a block leaves only on a grant); unlimited, every one.
  auto& candidates = u.candidates;
  candidates.clear();
  if (u.up->unlimited()) {
    for (const auto& [k, id] : u.links) candidates.push_back(k);
  } else {
    u.up->for_each_granted([&](bt::consumer_id c, std::uint64_t) { candidates.push_back(static_cast<std::uint32_t>(c)); });
  }
  for (const auto k : candidates) send_granted(p, bt::peer_key{k});
  drain(p);
}

// Sends the blocks of one connection that its grant covers and its pipe has room for.
void world::send_granted(std::uint32_t p, bt::peer_key key) {
  auto& u = *peers_[p];
  auto& s = *u.session;
  const auto found = u.links.find(static_cast<std::uint32_t>(key));
  if (found == u.links.end()) return;
  const auto id = found->second;
  auto& l = *links_[id];
  const int side = side_of(l, p, key);
  while (l.open[side] && l.open[other(side)]) {
    const auto front = s.peek_upload(key);
    if (!front) break;
    const auto bytes = wire_bytes_of(*front);
    if (!u.up->unlimited() && u.up->granted(consumer_of(key)) < bytes) break;
    if (l.from[side].unread_bytes + bytes > l.window[side]) break;
    u.up->spend(consumer_of(key), bytes);
    const auto b = s.take_upload(key, now_);
    if (!b) break;
    item it{.what = item::kind::block, .block = *b, .corrupt = u.config.liar, .wire_bytes = bytes};
    if (u.store) {
      std::vector<std::byte> scratch;
      std::string error;
      const auto data = u.store->block(b->piece, b->begin, b->length, scratch, error);
      it.data.assign(data.begin(), data.end());
      if (u.config.liar)
        for (auto& x : it.data) x = ~x;
    }
    send_item(id, side, std::move(it));
    s.handle_block_sent(key, *b, now_);
  }
}

// Schedules the next moments the pacers let an item go, when they changed.
void world::schedule_pacing(std::uint32_t p) {
  auto& u = *peers_[p];
  if (!u.up || !u.session) return;
  const auto up = u.up->next_due([&](bt::consumer_id c) -> std::uint64_t {
    const auto key = bt::peer_key{static_cast<std::uint32_t>(c)};
    const auto front = u.session->peek_upload(key);
    return front ? wire_bytes_of(*front) : 0;
  });
  arm(u.up_due, up, event_kind::up_due, p);
  const auto down = u.down->next_due([&](bt::consumer_id c) -> std::uint64_t {
    auto* l = link_of(p, bt::peer_key{static_cast<std::uint32_t>(c)});
    if (l == nullptr) return 0;
    const auto& pipe = l->from[other(side_of(*l, p, bt::peer_key{static_cast<std::uint32_t>(c)}))];
    return pipe.inbox_empty() ? 0 : pipe.front().wire_bytes;
  });
  arm(u.down_due, down, event_kind::down_due, p);
}

}  // namespace p2pdist::sim
