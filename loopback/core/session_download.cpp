// session: the download side — interest, requests, blocks, piece checks, strikes and bans,
// completion. See session.hpp.

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>

#include "loopback/core/connection.hpp"
#include "loopback/core/session.hpp"

namespace p2pdist::bt {

namespace {
/// The sender of a block not received yet (no peer has this address).
constexpr ip_address no_sender{};
}  // namespace

void session::add_to_picker(connection& c, const bitfield* pieces) {
  c.first_message_seen = true;
  if (pieces) c.peer_has = *pieces;
  c.in_picker = picker_.add_peer(c.key, c.peer_has);
}

void session::update_interest(connection& c) {
  if (!c.is_open() || !c.in_picker) return;
  const bool want = !complete_ && picker_.is_interesting(c.key);
  if (want && !c.am_interested) {
    c.am_interested = true;
    send(c, msg::interested{});
    fill_pipeline(c);
  } else if (!want && c.am_interested) {
    c.am_interested = false;
    send(c, msg::not_interested{});
  }
}

void session::fill_pipeline(connection& c) {
  if (!c.is_open() || !c.in_picker || c.peer_choking || !c.am_interested || complete_) return;
  const auto& knobs = config_.picker;
  const std::uint32_t fixed = std::max<std::uint32_t>(knobs.pipeline_depth, 1);
  // Adaptive: the peer's rate over the queue time plus the connection's round trip (the
  // bandwidth-delay product and a margin); above the fixed depth only as far as the round
  // trip asks.
  const duration queue_time =
      download_binds() ? std::max(knobs.request_queue_time, knobs.binding_queue_time) : knobs.request_queue_time;
  const auto adaptive = [&] {
    const double rate = c.rate_from.rate(now_);
    // Over a round trip longer than the queue time, at least the fixed depth: there a
    // peer's measured rate is mostly our own requests' echo (it cannot send more than our
    // requests in flight a round trip), so it cannot tell a slow peer from a short pipeline,
    // and requests sized from it grew by a third a round trip at most; a request there
    // costs a round trip whatever the queue. (A ramp by one request a block received, as
    // TCP's slow start, gained less: simulate -N 8, 64 KiB pieces, P2P at 100 ms 1.141 ->
    // 1.126 with the ramp, 1.093 with this; at 200 ms 1.289 -> 1.242.) On a loopback's
    // microseconds the rate decides from min_pipeline_depth up, as before.
    const std::uint32_t least = c.round_trip > queue_time
                                    ? fixed
                                    : std::clamp<std::uint32_t>(knobs.min_pipeline_depth, 1, fixed);
    // The round trip's whole blocks at that rate on top of the fixed most: none on a
    // loopback's microseconds below ~300 MB/s, so only a real round trip raises it.
    const double in_flight = rate > 0 ? rate * std::chrono::duration<double>(c.round_trip).count() / block_bytes : 0;
    const auto most = static_cast<std::uint32_t>(
        std::min<double>(fixed + std::floor(in_flight), std::max(knobs.max_pipeline_depth, fixed)));
    return pipeline_depth_for(rate, queue_time + c.round_trip, least, most);
  };
  const std::size_t depth = c.snubbed ? 1 : knobs.request_queue_time > duration::zero() ? adaptive() : fixed;
  if (c.outstanding.size() >= depth) return;
  const auto blocks = picker_.pick(c.key, depth - c.outstanding.size(), rng_, end_game_filter(c));
  if (blocks.empty()) return;
  if (c.outstanding.empty()) c.waiting_since = now_;
  for (const auto& b : blocks) {
    c.outstanding.push_back(b);
    send(c, msg::request{.index = b.piece, .begin = b.begin, .length = b.length});
  }
}

void session::handle_round_trip(peer_key conn, duration rtt, time_point now) {
  now_ = now;
  auto* c = find(conn);
  if (c == nullptr || !c->is_open() || rtt < duration::zero()) return;
  c->round_trip = rtt;
  longest_round_trip_ = std::max(longest_round_trip_, rtt);
  fill_pipeline(*c);
}

// Our download binds: it is limited, and we receive at 80 % of the limit or more.
bool session::download_binds() const {
  if (!(config_.download_bytes_per_s > 0)) return false;
  const double payload_limit = config_.download_bytes_per_s * block_bytes / (block_bytes + piece_header_bytes);
  return received_rate_.rate(now_) >= 0.8 * payload_limit;
}

// End game: a block in flight at other peers is asked of `c` as well only when `c` would
// bring it at least twice as soon — by each peer's recent rate and the block's place in that
// peer's queue — or when a peer that holds its request sends us nothing (the classic end
// game's purpose: a slow or stalled sender holding the last blocks). Every other duplicate
// costs twice: the sender's upload sends the block twice, and where our download binds, the
// link that binds a block's time (in the start-up swarm, N = 4, 1 MiB, d = 2 MB/s, three
// leechers of four took two duplicates each, 16 ms). Over a long round trip the cancel
// arrives after most duplicates are sent: simulate -N 8, 32 MiB in 64 KiB pieces, u_s =
// 8 MB/s, u = 4 MB/s, --rtt 100ms sent 2.1 % of the file twice with the classic end game.
// With no rate measured for `c` yet, every block may go. The other peers' queues are read
// once per pick, on the first question.
piece_picker::duplicate_filter session::end_game_filter(const connection& c) const {
  constexpr double margin = 2.0;
  if (!picker_.in_end_game()) return {};
  const double rate = c.rate_from.rate(now_);
  if (!(rate > 0)) return {};
  const double own = static_cast<double>(c.outstanding.size() + 1) * block_bytes / rate;
  struct arrival {
    double soonest = std::numeric_limits<double>::infinity();  ///< seconds, over the peers that send
    bool held_by_silent = false;                               ///< a holder sends us nothing
  };
  auto elsewhere = std::make_shared<std::optional<std::unordered_map<std::uint64_t, arrival>>>();
  const auto id = [](const block_request& b) { return (std::uint64_t{b.piece} << 32) | b.begin; };
  return [this, own, key = c.key, elsewhere, id](const block_request& b) {
    if (!*elsewhere) {
      auto& at = elsewhere->emplace();
      for (const auto& [k, q] : conns_) {
        if (q->key == key || !q->is_open()) continue;
        const double r = q->rate_from.rate(now_);
        for (std::size_t i = 0; i < q->outstanding.size(); ++i) {
          auto& a = at[id(q->outstanding[i])];
          if (!(r > 0))
            a.held_by_silent = true;
          else
            a.soonest = std::min(a.soonest, static_cast<double>(i + 1) * block_bytes / r);
        }
      }
    }
    const auto it = (*elsewhere)->find(id(b));
    if (it == (*elsewhere)->end()) return true;  // nobody else holds it
    return it->second.held_by_silent || it->second.soonest > margin * own;
  };
}

void session::fill_all_pipelines() {
  // Snubbed peers last: the blocks a snub just put back go to peers that answer, not back
  // to a peer that stalls (it would hold the one block the others wait for, again).
  for (auto& [k, c] : conns_)
    if (!c->snubbed) fill_pipeline(*c);
  for (auto& [k, c] : conns_)
    if (c->snubbed) fill_pipeline(*c);
}

// No block for request_timeout while requests wait: its requests go back to the pool for
// the others; it keeps one at a time until it sends again.
void session::snub(connection& c) {
  c.snubbed = true;
  ++stats_.snubs;
  for (const auto& b : c.outstanding) {
    (void)picker_.request_dropped(c.key, b);
    send(c, msg::cancel{.index = b.piece, .begin = b.begin, .length = b.length});
  }
  c.outstanding.clear();
  c.waiting_since = now_;
}

// BEP 6: the peer will not send this block. It returns to the pool; when the peer holds
// none of ours any more (a choke's rejects), the others' pipelines take what came back.
void session::on_reject(connection& c, const block_request& b) {
  const auto it = std::find(c.outstanding.begin(), c.outstanding.end(), b);
  if (it == c.outstanding.end()) {  // not asked, or cancelled since
    note_idle_message(c);
    return;
  }
  c.outstanding.erase(it);
  (void)picker_.request_dropped(c.key, b);
  // A peer that unchokes us and rejects what we ask would have us ask again at once, a
  // round trip later, for ever: rejects while it unchokes us count as messages that move no
  // data, so that such a peer is cut (an honest one rejects while unchoking only now and
  // then, when its queue is full).
  if (!c.peer_choking) note_idle_message(c);
  if (c.outstanding.empty() || !c.is_open())
    fill_all_pipelines();
  else
    fill_pipeline(c);
}

void session::cancel_elsewhere(const block_request& b, const std::vector<peer_key>& peers) {
  for (const auto k : peers) {
    auto* other = find(k);
    if (other == nullptr || !other->is_open()) continue;
    const auto it = std::find(other->outstanding.begin(), other->outstanding.end(), b);
    if (it != other->outstanding.end()) other->outstanding.erase(it);
    send(*other, msg::cancel{.index = b.piece, .begin = b.begin, .length = b.length});
  }
}

bool session::handle_block(peer_key conn, const msg::piece& p, time_point now) {
  now_ = now;
  auto* cp = find(conn);
  if (cp == nullptr || !cp->is_open()) return false;
  auto& c = *cp;
  const auto len = static_cast<std::uint32_t>(p.data.size());
  const block_request b{.piece = p.index, .begin = p.begin, .length = len};
  c.payload_down_bytes += len;
  downloaded_bytes_ += len;
  stats_.payload_down_bytes += len;
  const auto it = std::find(c.outstanding.begin(), c.outstanding.end(), b);
  if (it == c.outstanding.end()) {  // not asked (or cancelled since): ignore the data
    stats_.wasted_bytes += len;
    return false;
  }
  c.outstanding.erase(it);
  c.waiting_since = now;
  c.rate_from.add(now, len);
  received_rate_.add(now, len);
  c.snubbed = false;
  if (!stats_.first_block_at) stats_.first_block_at = now;
  const auto outcome = picker_.block_received(c.key, b);
  const bool fresh = outcome.status == block_status::new_block;
  if (!fresh) stats_.wasted_bytes += len;
  if (fresh) {
    auto& senders = senders_[p.index];
    if (senders.empty()) senders.assign(picker_.blocks_in_piece(p.index), no_sender);
    senders[p.begin / block_bytes] = c.remote.ip;
    cancel_elsewhere(b, outcome.cancel);
    if (outcome.piece_complete)
      outputs_.push_back(out::check_piece{.piece = p.index, .fingerprints_on_pass = failed_.count(p.index) > 0});
  }
  if (c.is_open()) fill_pipeline(c);
  for (const auto k : outcome.cancel)
    if (auto* other = find(k)) fill_pipeline(*other);
  return fresh;
}

void session::handle_piece_checked(std::uint32_t piece, piece_verdict verdict,
                                   std::span<const std::uint64_t> fingerprints, time_point now) {
  now_ = now;
  if (piece >= picker_.piece_count() || picker_.have().test(piece)) return;
  switch (verdict) {
    case piece_verdict::passed: piece_passed(piece, fingerprints); return;
    case piece_verdict::failed: piece_failed(piece, fingerprints); return;
    case piece_verdict::io_error:
      // The piece could not be stored: download it again later; nobody lied.
      (void)picker_.piece_failed(piece);
      senders_.erase(piece);
      fill_all_pipelines();
      return;
  }
}

namespace {

// The senders of the blocks whose fingerprints differ between two copies of a piece (with
// `same_sender`, only blocks that the same address sent both times).
std::set<ip_address> senders_of_differing_blocks(std::span<const std::uint64_t> a_prints,
                                                 std::span<const ip_address> a_senders,
                                                 std::span<const std::uint64_t> b_prints,
                                                 std::span<const ip_address> b_senders, bool same_sender) {
  std::set<ip_address> guilty;
  const std::size_t n = std::min({a_prints.size(), a_senders.size(), b_prints.size(), b_senders.size()});
  for (std::size_t blk = 0; blk < n; ++blk) {
    if (a_senders[blk] == no_sender || a_prints[blk] == b_prints[blk]) continue;
    if (same_sender && a_senders[blk] != b_senders[blk]) continue;
    guilty.insert(a_senders[blk]);
  }
  return guilty;
}

}  // namespace

void session::piece_passed(std::uint32_t piece, std::span<const std::uint64_t> fingerprints) {
  (void)picker_.piece_passed(piece);
  // A copy that failed earlier with several senders: the blocks that differ name the culprits.
  if (const auto fit = failed_.find(piece); fit != failed_.end()) {
    const auto guilty = senders_of_differing_blocks(fit->second.fingerprints, fit->second.senders, fingerprints,
                                                    fit->second.senders, false);
    failed_.erase(fit);
    for (const auto& a : guilty) strike(a);
  }
  senders_.erase(piece);
  stats_.pieces_held = static_cast<std::uint32_t>(picker_.have().count());
  // A peer that holds the piece has no use for our `have` (it will not ask us for it): none
  // is sent, which spares a message per peer and piece once pieces have spread (a super
  // seed counts what it handed out itself, so it needs none either). To a peer we choke it
  // may wait a little, batched (send_have).
  for (auto& [k, c] : conns_) {
    if (!c->is_open() || !c->handshake_done) continue;
    send_have(*c, piece);
    update_interest(*c);
  }
  emit(client_event_kind::piece_verified, {}, piece);
  if (picker_.is_complete()) on_complete();
}

void session::piece_failed(std::uint32_t piece, std::span<const std::uint64_t> fingerprints) {
  (void)picker_.piece_failed(piece);
  ++stats_.hash_failures;
  stats_.hash_failed_bytes += config_.torrent->piece_size(piece);
  const auto sit = senders_.find(piece);
  const std::vector<ip_address> senders = sit != senders_.end() ? sit->second : std::vector<ip_address>{};
  if (sit != senders_.end()) senders_.erase(sit);
  std::set<ip_address> distinct(senders.begin(), senders.end());
  distinct.erase(no_sender);
  // With several senders nobody can be blamed yet: the piece comes next from one peer
  // alone, so that its next check names the culprit either way (fails: that peer; passes:
  // the senders of the blocks that differ from this copy).
  if (distinct.size() > 1) picker_.set_single_source(piece);
  if (distinct.size() == 1) {
    strike(*distinct.begin());
  } else if (const auto fit = failed_.find(piece); !distinct.empty() && fit == failed_.end()) {
    failed_.emplace(piece, failed_copy{.fingerprints = {fingerprints.begin(), fingerprints.end()}, .senders = senders});
  } else if (!distinct.empty()) {
    // A second bad copy with several senders: an address that sent two different versions
    // of one block lied (without this, two liars that share pieces are never struck).
    for (const auto& a : senders_of_differing_blocks(fit->second.fingerprints, fit->second.senders, fingerprints,
                                                    senders, true))
      strike(a);
  }
  emit(client_event_kind::hash_failed, {}, piece);
  fill_all_pipelines();
}

void session::strike(const ip_address& address) {
  if (banned_.count(address)) return;
  if (++strikes_[address] < std::max<std::uint32_t>(config_.max_hash_failures, 1)) return;
  ban(address, "repeated hash failures");
}

void session::ban(const ip_address& address, const std::string& reason) {
  if (!banned_.insert(address).second) return;
  ++stats_.peers_banned;
  for (auto& [k, c] : conns_) {
    if (c->is_open() && c->remote.ip == address) {
      emit(client_event_kind::peer_banned, reason, {}, c.get());
      close_connection(*c, "banned: " + reason);
    }
  }
}

void session::on_complete() {
  if (complete_) return;
  complete_ = true;
  stats_.complete = true;
  stats_.completed_at = now_;
  emit(client_event_kind::completed);
  for (auto& [k, c] : conns_) {
    if (!c->is_open()) continue;
    update_interest(*c);
    if (unwanted(*c)) close_connection(*c, "both seeds");
  }
  if (config_.seed_when_complete)
    announce_due();  // `completed` at once
  else
    outputs_.push_back(out::stop{});  // stop() announces `completed`, then `stopped`
}

}  // namespace p2pdist::bt
