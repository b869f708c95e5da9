#include "loopback/sim/world.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "loopback/sim/world_detail.hpp"

namespace p2pdist::sim {

using detail::item;
using detail::link;
using detail::peer;

namespace {

std::uint64_t to_rate(double bytes_per_s) {
  if (!(bytes_per_s > 0) || !std::isfinite(bytes_per_s)) return 0;
  return static_cast<std::uint64_t>(std::llround(std::min(bytes_per_s, 1e10)));
}

}  // namespace

world::world(world_config config) : config_(std::move(config)), rng_(config_.rng_seed) {
  if (!config_.torrent) throw std::invalid_argument("world: no torrent");
  if (config_.content && config_.content->size() != config_.torrent->total_bytes)
    throw std::invalid_argument("world: the content's size differs from the torrent's");
  // The clock starts at an arbitrary epoch away from zero, so that no duration is negative.
  epoch_ = now_ = bt::time_point(std::chrono::hours(1));
}

world::~world() = default;
world::world(world&&) noexcept = default;
world& world::operator=(world&&) noexcept = default;

std::size_t world::add_peer(peer_config config) {
  if (by_address_.count(config.address))
    throw std::invalid_argument("world: two peers at one address");
  auto p = std::make_unique<peer>();
  const auto index = static_cast<std::uint32_t>(peers_.size());
  config.session.torrent = config_.torrent;
  config.session.address = config.address;
  config.session.has_tracker = true;
  config.session.upload_bytes_per_s = static_cast<double>(to_rate(config.up_bytes_per_s));
  config.session.download_bytes_per_s = static_cast<double>(to_rate(config.down_bytes_per_s));
  config.session.rng_seed = config_.rng_seed * 0x9E3779B97F4A7C15ULL + index + 1;
  p->config = std::move(config);
  if (!p->config.seed) ++incomplete_;
  by_address_.emplace(p->config.address, index);
  peers_.push_back(std::move(p));
  schedule(epoch_ + peers_.back()->config.start_at, event_kind::start, index);
  return index;
}

void world::schedule(bt::time_point at, event_kind kind, std::uint32_t p, std::uint64_t a, std::uint64_t b) {
  queue_.push(event{.at = at, .seq = seq_++, .kind = kind, .peer = p, .a = a, .b = b});
}

void world::arm(detail::due_timer& t, std::optional<bt::time_point> at, event_kind kind, std::uint32_t p) {
  t.due = at;
  if (!at) return;  // a live event finds nothing due
  const auto when = std::max(*at, now_);
  if (t.event_at && *t.event_at <= when) return;  // it fires in time and is queued again then
  t.event_at = when;
  schedule(when, kind, p, ++t.gen);
}

bool world::fire(detail::due_timer& t, const event& e) {
  if (e.a != t.gen) return false;
  t.event_at.reset();
  if (!t.due) return false;
  if (*t.due > now_) {
    t.event_at = *t.due;
    schedule(*t.due, e.kind, e.peer, t.gen);
    return false;
  }
  t.due.reset();
  return true;
}

bool world::run(bt::duration limit) {
  const auto until = epoch_ + limit;
  while (incomplete_ > 0 && !queue_.empty()) {
    const event e = queue_.top();
    if (e.at > until) return false;
    queue_.pop();
    now_ = std::max(now_, e.at);
    ++events_;
    dispatch(e);
  }
  return incomplete_ == 0;
}

void world::dispatch(const event& e) {
  auto& p = *peers_[e.peer < peers_.size() ? e.peer : 0];
  switch (e.kind) {
    case event_kind::start: start_peer(e.peer); return;
    case event_kind::wake:
      if (e.a != p.wake_gen || !p.session) return;
      p.wake_at.reset();
      p.session->handle_timeout(now_);
      drain(e.peer);
      return;
    case event_kind::up_due:
      if (!fire(p.up_due, e)) return;
      try_upload(e.peer);
      return;
    case event_kind::down_due: {
      if (!fire(p.down_due, e)) return;
      (void)p.down->refill_to(now_);
      auto& sides = sides_scratch_;
      sides.clear();
      for (const auto& [key, id] : p.links) {
        const auto& l = *links_[id];
        sides.emplace_back(id, l.peer[0] == e.peer && l.key[0] == bt::peer_key{key} ? 0 : 1);
      }
      for (const auto& [id, side] : sides) try_deliver(id, side, false);
      schedule_pacing(e.peer);
      return;
    }
    case event_kind::arrive: on_arrive(static_cast<std::uint32_t>(e.a), static_cast<int>(e.b)); return;
    case event_kind::connect: on_connect(static_cast<std::uint32_t>(e.a)); return;
    case event_kind::connected: {
      auto& l = *links_[e.a];
      if (!l.open[0]) return;
      p.session->handle_connected(l.key[0], now_);
      p.session->handle_round_trip(l.key[0], 2 * l.latency, now_);
      drain(e.peer);
      return;
    }
    case event_kind::refused: {
      auto& l = *links_[e.a];
      if (!l.open[0]) return;
      l.open[0] = false;
      p.links.erase(static_cast<std::uint32_t>(l.key[0]));
      p.session->handle_closed(l.key[0], bt::close_cause::connect, "connect: connection refused", now_);
      drain(e.peer);
      return;
    }
    case event_kind::announce: answer_announce(e.peer); return;
  }
}

// ---------------------------------------------------------------------------------------
// Peers

void world::start_peer(std::uint32_t index) {
  auto& p = *peers_[index];
  const auto& t = *config_.torrent;
  p.up.emplace(to_rate(p.config.up_bytes_per_s), now_);
  p.down.emplace(to_rate(p.config.down_bytes_per_s), now_);
  if (config_.content) {
    p.memory = p.config.seed ? bt::make_memory_storage(*config_.content) : bt::make_memory_storage(t.total_bytes);
    p.store = std::make_unique<bt::piece_store>(p.memory, config_.torrent);
  }
  p.session.emplace(p.config.session);
  p.session->start(bt::bitfield(t.piece_count(), p.config.seed), 6881, now_);
  for (const auto& ip : p.config.dial_at_start) p.session->connect_to({.ip = ip, .port = 6881}, now_);
  drain(index);
}

void world::drain(std::uint32_t index) {
  auto& p = *peers_[index];
  if (p.draining) return;  // a call made while carrying out an output: the loop goes on
  p.draining = true;
  while (auto o = p.session->poll_output()) carry_out(index, *o);
  p.draining = false;
  after_drain(index);
}

void world::carry_out(std::uint32_t index, bt::output& o) {
  auto& p = *peers_[index];
  std::visit(
      [&](auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bt::out::send>) {
          if (auto* l = link_of(index, x.conn)) {
            const int side = l->peer[0] == index && l->key[0] == x.conn ? 0 : 1;
            const auto size = bt::wire_size(x.message);
            send_item(static_cast<std::uint32_t>(p.links.at(static_cast<std::uint32_t>(x.conn))), side,
                      item{.what = item::kind::message, .message = std::move(x.message), .wire_bytes = size});
          }
        } else if constexpr (std::is_same_v<T, bt::out::close>) {
          if (auto it = p.links.find(static_cast<std::uint32_t>(x.conn)); it != p.links.end()) {
            auto& l = *links_[it->second];
            close_side(it->second, l.peer[0] == index && l.key[0] == x.conn ? 0 : 1);
          }
        } else if constexpr (std::is_same_v<T, bt::out::dial>) {
          dial(index, x.conn, x.remote);
        } else if constexpr (std::is_same_v<T, bt::out::upload_changed>) {
          upload_changed(index, x.conn);
        } else if constexpr (std::is_same_v<T, bt::out::check_piece>) {
          check_piece(index, x.piece, x.fingerprints_on_pass);
        } else if constexpr (std::is_same_v<T, bt::out::announce>) {
          p.announcing = x.request;
          schedule(now_ + (config_.per_peer_latency ? p.config.access_rtt : 2 * config_.latency), event_kind::announce,
                   index);
        } else if constexpr (std::is_same_v<T, bt::out::event>) {
          if (config_.on_event) config_.on_event(index, x.what);
          if (x.what.kind == bt::client_event_kind::completed && !p.config.seed && !p.counted_complete) {
            p.counted_complete = true;
            --incomplete_;
          }
        } else if constexpr (std::is_same_v<T, bt::out::stop>) {
          p.session->stop(now_);
        }
      },
      o);
}

void world::after_drain(std::uint32_t index) {
  auto& p = *peers_[index];
  if (p.upload_wanted) {
    p.upload_wanted = false;
    try_upload(index);
    return;  // try_upload drains again, which ends here
  }
  const auto next = p.session->poll_timeout();
  if (next != p.wake_at) {
    p.wake_at = next;
    ++p.wake_gen;
    if (next) schedule(std::max(*next, now_), event_kind::wake, index, p.wake_gen);
  }
  schedule_pacing(index);
}

void world::check_piece(std::uint32_t index, std::uint32_t piece, bool fingerprints_on_pass) {
  auto& p = *peers_[index];
  if (p.store) {
    const auto r = p.store->check(piece, fingerprints_on_pass);
    const auto verdict = r.result == bt::piece_check::verdict::passed ? bt::piece_verdict::passed
                         : r.result == bt::piece_check::verdict::failed ? bt::piece_verdict::failed
                                                                         : bt::piece_verdict::io_error;
    p.session->handle_piece_checked(piece, verdict, r.fingerprints, now_);
    return;
  }
  auto prints = std::move(p.prints[piece]);
  p.prints.erase(piece);
  const bool clean = std::all_of(prints.begin(), prints.end(), [](std::uint64_t v) { return v == 0; });
  p.session->handle_piece_checked(piece, clean ? bt::piece_verdict::passed : bt::piece_verdict::failed, prints, now_);
}

// The tracker: every peer that announced and did not stop, answered after one round trip
// with up to tracker_max_peers others at random.
void world::answer_announce(std::uint32_t index) {
  auto& p = *peers_[index];
  if (!p.announcing || !p.session) return;
  const auto request = *std::exchange(p.announcing, std::nullopt);
  ++sent_[count_announce];
  const auto listed = std::find(tracker_list_.begin(), tracker_list_.end(), index);
  if (request.event == bt::announce_event::stopped) {
    if (listed != tracker_list_.end()) tracker_list_.erase(listed);
  } else if (listed == tracker_list_.end()) {
    tracker_list_.push_back(index);
  }
  bt::announce_response response{.interval = config_.tracker_interval};
  const std::size_t want =
      std::min<std::size_t>(config_.tracker_max_peers, static_cast<std::size_t>(std::max(request.numwant.value_or(50), 0)));
  const std::size_t others = tracker_list_.size() - (request.event == bt::announce_event::stopped ? 0 : 1);
  std::vector<std::uint32_t> chosen;
  if (others <= want) {
    for (const auto q : tracker_list_)
      if (q != index) chosen.push_back(q);
  } else {
    std::uniform_int_distribution<std::size_t> pick(0, tracker_list_.size() - 1);
    while (chosen.size() < want) {
      const auto q = tracker_list_[pick(rng_)];
      if (q != index && std::find(chosen.begin(), chosen.end(), q) == chosen.end()) chosen.push_back(q);
    }
  }
  for (const auto q : chosen) response.peers.push_back({.ip = peers_[q]->config.address, .port = 6881});
  p.session->handle_announce(response, {}, now_);
  drain(index);
}

std::map<std::string, std::uint64_t> world::messages_sent() const {
  std::map<std::string, std::uint64_t> out;
  for (std::size_t k = 0; k < wire_kinds; ++k) {
    if (sent_[k] == 0) continue;
    out.emplace(std::string(bt::event_name(k)), sent_[k]);
  }
  if (sent_[count_dial] > 0) out.emplace("(dial)", sent_[count_dial]);
  if (sent_[count_refused] > 0) out.emplace("(refused)", sent_[count_refused]);
  if (sent_[count_announce] > 0) out.emplace("(announce)", sent_[count_announce]);
  return out;
}

peer_report world::report(std::size_t i) const {
  const auto& p = *peers_.at(i);
  peer_report r{.seed = p.config.seed};
  if (p.session) r.stats = p.session->stats();
  if (config_.content && p.memory) {
    const auto got = p.memory->bytes();
    r.data_matches = std::equal(got.begin(), got.end(), config_.content->begin(), config_.content->end());
  } else {
    r.data_matches = r.stats.complete;
  }
  return r;
}

const bt::session& world::session_of(std::size_t i) const {
  const auto& p = *peers_.at(i);
  if (!p.session) throw std::logic_error("world: the peer has not started");
  return *p.session;
}

}  // namespace p2pdist::sim
