// session: the upload side — the blocks peers asked of us, waiting for the driver's pacing,
// and choking (who may ask). See session.hpp.

#include <algorithm>

#include "loopback/core/connection.hpp"
#include "loopback/core/session.hpp"

namespace p2pdist::bt {

namespace {

std::uint64_t wire_bytes_of(const block_request& b) { return piece_header_bytes + b.length; }

}  // namespace

// ---------------------------------------------------------------------------------------
// The upload queue

void session::queue_upload(connection& c, const msg::request& r) {
  const block_request b{.piece = r.index, .begin = r.begin, .length = r.length};
  c.uploads.push_back(b);
  c.upload_bytes += wire_bytes_of(b);
  if (std::none_of(c.upload_since.begin(), c.upload_since.end(), [&](const auto& e) { return e.first == b.piece; }))
    c.upload_since.emplace_back(b.piece, ++upload_asks_);
  recount_serving(c);
  outputs_.push_back(out::upload_changed{c.key});
}

void session::cancel_upload(connection& c, const msg::cancel& m) {
  const auto it = std::find_if(c.uploads.begin(), c.uploads.end(), [&](const block_request& b) {
    return b.piece == m.index && b.begin == m.begin && b.length == m.length;
  });
  if (it != c.uploads.end()) {
    // BEP 6: a cancelled request is answered too, by its block or, here, a reject.
    if (c.fast) send(c, msg::reject_request{.index = it->piece, .begin = it->begin, .length = it->length});
    c.upload_bytes -= wire_bytes_of(*it);
    c.uploads.erase(it);
    forget_sent_pieces(c);  // rare: also forgets the piece if that was its last block
    recount_serving(c);
    outputs_.push_back(out::upload_changed{c.key});
  }
  if (super_seeding_) withdraw_offer(c, m.index);
}

void session::clear_uploads(connection& c) {
  c.uploads.clear();
  c.upload_since.clear();
  c.upload_bytes = 0;
  recount_serving(c);
  outputs_.push_back(out::upload_changed{c.key});
}

// Keeps serving_ right after c's queue, choke or state changed: O(1), so that an idle upload
// is seen without walking every connection.
void session::recount_serving(connection& c) {
  const bool now_serving = c.is_open() && !c.am_choking && !c.uploads.empty();
  if (now_serving == c.serving) return;
  c.serving = now_serving;
  if (now_serving)
    ++serving_;
  else
    --serving_;
}

// Forgets the pieces with no block left in the queue.
void session::forget_sent_pieces(connection& c) {
  std::erase_if(c.upload_since, [&](const auto& e) {
    return std::none_of(c.uploads.begin(), c.uploads.end(), [&](const block_request& b) { return b.piece == e.first; });
  });
}

std::optional<block_request> session::peek_upload(peer_key conn) const {
  const auto* c = find(conn);
  if (c == nullptr || !c->is_open() || c->uploads.empty()) return std::nullopt;
  return c->uploads.front();
}

std::optional<block_request> session::take_upload(peer_key conn, time_point now) {
  now_ = now;
  auto* c = find(conn);
  if (c == nullptr || !c->is_open() || c->uploads.empty()) return std::nullopt;
  const block_request b = c->uploads.front();
  c->uploads.erase(c->uploads.begin());
  c->upload_bytes -= wire_bytes_of(b);
  recount_serving(*c);
  // Within one piece the front's piece, and so its priority, stays as it was.
  if (c->uploads.empty() || c->uploads.front().piece != b.piece) {
    forget_sent_pieces(*c);
    outputs_.push_back(out::upload_changed{c->key});
  }
  return b;
}

std::uint64_t session::upload_queued_bytes(peer_key conn) const {
  const auto* c = find(conn);
  return c == nullptr ? 0 : c->upload_bytes;
}

std::uint64_t session::upload_priority(peer_key conn) const {
  const auto* c = find(conn);
  if (c == nullptr || c->uploads.empty() || config_.upload_order != upload_policy::piece_first) return 0;
  for (const auto& [piece, since] : c->upload_since)
    if (piece == c->uploads.front().piece) return since;
  return 0;
}

void session::handle_block_sent(peer_key conn, const block_request& b, time_point now) {
  now_ = now;
  uploaded_bytes_ += b.length;
  stats_.payload_up_bytes += b.length;
  sent_rate_.add(now, b.length);
  auto* c = find(conn);
  if (c == nullptr) return;
  c->payload_up_bytes += b.length;
  c->rate_to.add(now, b.length);
  if (!super_seeding_) {
    unchoke_if_idle();
    return;
  }
  count_sent_for_super_seeding(*c, b);
}

// ---------------------------------------------------------------------------------------
// Choking

std::vector<peer_stats> session::snapshot() const {
  std::vector<peer_stats> out;
  out.reserve(conns_.size());
  for (const auto& [k, c] : conns_) {
    if (!c->is_open() || !c->handshake_done) continue;
    double from = 0, to = 0;
    const auto& base = c->sample_old ? c->sample_old : c->sample_new;
    const auto since = base ? base->at : c->connected_at;
    const double secs = std::chrono::duration<double>(now_ - since).count();
    if (secs > 0) {
      from = static_cast<double>(c->payload_down_bytes - (base ? base->down : 0)) / secs;
      to = static_cast<double>(c->payload_up_bytes - (base ? base->up : 0)) / secs;
    }
    out.push_back(peer_stats{.id = c->key,
                             .interested = c->peer_interested,
                             .unchoked = !c->am_choking,
                             .snubbed = c->snubbed,
                             .rate_from_bytes_per_s = from,
                             .rate_to_bytes_per_s = to,
                             .connected_at = c->connected_at,
                             .last_unchoked = c->last_unchoked,
                             .unchoked_since = c->unchoked_since,
                             .recent_rate_to_bytes_per_s = c->rate_to.rate(now_)});
  }
  return out;
}

void session::apply_choke(connection& c, bool choke) {
  if (!c.is_open() || c.am_choking == choke) return;
  c.am_choking = choke;
  recount_serving(c);
  if (choke) {
    c.last_unchoked = now_;
    send(c, msg::choke{});
    // BEP 6: the choke drops the requests still queued, each with its reject.
    if (c.fast)
      for (const auto& b : c.uploads)
        send(c, msg::reject_request{.index = b.piece, .begin = b.begin, .length = b.length});
    clear_uploads(c);
  } else {
    c.unchoked_since = now_;
    send(c, msg::unchoke{});
  }
}

void session::fill_free_slots() {
  if (!config_.upload || stopping_ || super_seeding_) return;
  auto peers = snapshot();
  // Longest-waiting first, so freed slots go round.
  std::vector<connection*> waiting;
  for (auto& [k, c] : conns_)
    if (c->is_open() && c->handshake_done && c->peer_interested && c->am_choking) waiting.push_back(c.get());
  std::sort(waiting.begin(), waiting.end(), [](const connection* a, const connection* b) {
    const auto ta = a->last_unchoked.value_or(a->connected_at);
    const auto tb = b->last_unchoked.value_or(b->connected_at);
    return ta != tb ? ta < tb : a->key < b->key;
  });
  for (auto* c : waiting) {
    const auto action = on_interested(choker_state_, peers, config_.choker, c->key, now_);
    if (action != interest_action::unchoke_regular && action != interest_action::unchoke_optimistic) {
      if (action == interest_action::none) break;  // no slot is free
      continue;
    }
    apply_choke(*c, false);
    for (auto& p : peers)
      if (p.id == c->key) p.unchoked = true;
  }
}

// A new peer, while fewer than regular_slots peers are unchoked: unchoked at once, before it
// says it is interested (BEP 3 allows it), so that once it is it can ask at once; its
// `interested` then finds the slot taken (the choker's on_interested), and the first
// rechoke chokes it if it never became interested. Saves a round trip per peer at the
// start, where every peer becomes interested a round trip after its first `have`.
void session::unchoke_ahead(connection& c) {
  if (!config_.upload || stopping_ || super_seeding_) return;
  std::size_t unchoked = 0;
  for (const auto& [k, o] : conns_)
    if (o->is_open() && o->handshake_done && !o->am_choking) ++unchoked;
  if (unchoked < static_cast<std::size_t>(std::max(0, config_.choker.regular_slots))) apply_choke(c, false);
}

// Our upload is about to have nothing to send: unchoke one more interested peer (within
// choker_config::idle_extra_slots) rather than leave the capacity idle until the rechoke.
//
// Idle also means busy below the limit: requests wait, but the peers we unchoked cannot
// take our upload (their downloads are slower). After 200 ms below 90 % of the limit, one
// more, then again no sooner than 200 ms later. Once every slot that may be added is
// taken, the same 200 ms steps hand a slot from an unchoked peer that takes almost nothing
// of our upload to one that waits (choker's on_upload_underused): in a swarm bound by its
// downloads the capacity goes where a download has room, not to peers already full.
void session::unchoke_if_idle() {
  if (!config_.upload || stopping_ || !(config_.upload_bytes_per_s > 0)) return;
  const auto tau = std::chrono::milliseconds(200);
  const bool underused =
      stats_.started_at && now_ - *stats_.started_at >= 2 * tau && now_ - idle_unchoke_at_ >= tau && upload_underused();
  if (!underused && serving_ > 0) return;
  const auto peers = snapshot();
  if (const auto k = on_upload_idle(peers, config_.choker)) {
    if (auto* c = find(*k)) apply_choke(*c, false);
    idle_unchoke_at_ = now_;
  } else if (underused) {
    const auto swap = on_upload_underused(choker_state_, peers, config_.choker, config_.upload_bytes_per_s, now_);
    if (!swap) return;
    if (auto* c = find(swap->choke)) apply_choke(*c, true);
    if (auto* c = find(swap->unchoke)) apply_choke(*c, false);
    idle_unchoke_at_ = now_;
  }
}

bool session::upload_underused() const {
  const double payload_limit = config_.upload_bytes_per_s * block_bytes / (block_bytes + piece_header_bytes);
  return sent_rate_.rate(now_) < 0.9 * payload_limit;
}

bool session::upload_busy() const {
  return config_.upload && config_.upload_bytes_per_s > 0 && serving_ > 0;
}

void session::run_rechoke() {
  const auto role = complete_ ? choker_role::seed : choker_role::leecher;
  const auto decision = rechoke(choker_state_, snapshot(), config_.choker, role, now_, rng_);
  for (const auto k : decision.to_choke)
    if (auto* c = find(k)) apply_choke(*c, true);
  for (const auto k : decision.to_unchoke)
    if (auto* c = find(k)) apply_choke(*c, false);
  for (auto& [k, c] : conns_) {  // rate samples for the next decision
    c->sample_old = c->sample_new;
    c->sample_new = connection::sample{.at = now_, .down = c->payload_down_bytes, .up = c->payload_up_bytes};
  }
}

}  // namespace p2pdist::bt
