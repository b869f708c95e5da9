// session: super seeding (initial_seeding::each_piece_once_first). The seed keeps a few
// pieces on their way out (flying_), each offered (a `have`) to one peer, chosen by
// pick_recipient, the piece by pick_offer. Every peer is unchoked meanwhile, so the upload
// goes to those few pieces at a high rate, and a piece half sent to a peer is never offered
// to another (it would leave the seed twice). The next piece is offered before the last one
// is sent (offer_lookahead_bytes), so that the seed does not idle for the round trip; a seed
// faster than its recipients keeps 100 ms of its upload on offer, and a peer that has never
// had an offer gets one at once. An offer that draws no block within request_timeout lapses.
// See session.hpp.

#include <algorithm>
#include <cmath>

#include "loopback/core/connection.hpp"
#include "loopback/core/session.hpp"

namespace p2pdist::bt {

namespace {
// An offer that its recipient does not ask for, while it asks nothing else of us, lapses once
// it is clear that the recipient has the piece or gets it elsewhere: after four times the
// delay that recipient takes to ask for an offered piece it lacks (smoothed over its offers;
// within these bounds), or the longest bound before it has asked for any. Lapsing early
// costs at most a piece offered twice (the peer may still ask for it); waiting keeps the
// peer's offer quota, and with it the seed's upload, idle.
constexpr auto unasked_lapse_min = std::chrono::milliseconds(10);
constexpr auto unasked_lapse_max = std::chrono::seconds(1);
}  // namespace

duration session::unasked_lapse(std::uint32_t key) const {
  const auto sp = super_peers_.find(key);
  if (sp == super_peers_.end() || !sp->second.answer_s) return unasked_lapse_max;
  const auto lapse = std::chrono::duration_cast<duration>(std::chrono::duration<double>(4 * *sp->second.answer_s));
  return std::clamp<duration>(lapse, unasked_lapse_min, unasked_lapse_max);
}

// The first request for a piece we offered c: how long c takes to answer an offer.
void session::note_offer_asked(connection& c, std::uint32_t piece) {
  const auto key = static_cast<std::uint32_t>(c.key);
  super_peers_[key].last_asked = now_;
  const auto [first, last] = flying_.equal_range(piece);
  for (auto f = first; f != last; ++f) {
    if (f->second.key != key || f->second.asked) continue;
    f->second.asked = true;
    const double took = std::chrono::duration<double>(now_ - f->second.offered).count();
    auto& answer = super_peers_[key].answer_s;
    answer = answer ? 0.75 * *answer + 0.25 * took : took;
  }
}

// Unsent bytes of the pieces in flight; lapsed offers leave.
std::uint64_t session::unsent_offered_bytes() {
  const auto& torrent = *config_.torrent;
  std::uint64_t unsent = 0;
  for (auto it = flying_.begin(); it != flying_.end();) {
    const auto size = std::uint64_t{torrent.piece_size(it->first)};
    std::uint64_t sent = 0;
    auto* c = find(peer_key{it->second.key});
    if (c != nullptr) {
      const auto s = c->sent_by_piece.find(it->first);
      if (s != c->sent_by_piece.end()) sent = std::min<std::uint64_t>(s->second, size);
    }
    // Lapsed: none of it waiting in the recipient's upload queue, and nothing of it sent for
    // request_timeout, or never asked for in unasked_lapse() while the recipient asked
    // nothing of us either (one that asks for blocks one after another, its download full,
    // comes to our other offers in turn): it holds the piece already or fetches it from
    // another peer (two seeds offer it the same pieces; a piece of one block can come from
    // anyone), and it says nothing of a piece we announced (it sends no `have` to a peer
    // that announced the piece). The wait restarts at each block sent: a recipient that
    // took part of the piece may get the rest elsewhere, so an offer cannot wait for the
    // piece to leave whole.
    const auto queued = [&] {
      return std::any_of(c->upload_since.begin(), c->upload_since.end(),
                         [&](const auto& u) { return u.first == it->first; });
    };
    const auto idle = now_ - it->second.at;
    // Quiet since the later of the offer and the recipient's latest request of us.
    const bool unasked = c != nullptr && !it->second.asked && c->uploads.empty() &&
                         now_ - std::max(it->second.at, super_peers_[it->second.key].last_asked) >
                             unasked_lapse(it->second.key);
    if (c == nullptr || !c->is_open() || ((idle > config_.request_timeout || unasked) && !queued())) {
      if (c != nullptr && !c->peer_interested) super_peers_[it->second.key].declined = true;
      it = flying_.erase(it);
      continue;
    }
    unsent += size - sent;
    ++it;
  }
  return unsent;
}

// Unsent bytes kept on offer: pieces_in_flight pieces (and the pieces widen_offers added)
// plus the lookahead, or 100 ms of our upload if that is more; both plus a round trip of our
// upload (the longest a connection reported): an offer's `have` and the request it draws
// take that long, and the upload must not run dry meanwhile.
std::uint64_t session::offer_budget() const {
  const std::uint64_t pieces = std::max<std::uint32_t>(config_.picker.pieces_in_flight, 1) + extra_offers_;
  const auto round_trip = static_cast<std::uint64_t>(config_.upload_bytes_per_s *
                                                      std::chrono::duration<double>(longest_round_trip_).count());
  const auto by_pieces = pieces * config_.torrent->piece_bytes + config_.picker.offer_lookahead_bytes + round_trip;
  const auto by_rate = static_cast<std::uint64_t>(config_.upload_bytes_per_s * 0.1) + round_trip;
  return std::max<std::uint64_t>(by_pieces, by_rate);
}

// Every 200 ms: when the offers are all taken up yet our upload runs below 90 % of its limit,
// the recipients' downloads hold it back (they cannot take the pieces as fast as we can send
// them): offer more pieces at a time, half as many again; once the upload is busy (97 %),
// a quarter fewer. Piece-first uploads still send the piece first asked for first.
void session::adapt_offer_budget(bool budget_full) {
  const double limit = config_.upload_bytes_per_s;
  const auto tau = std::chrono::milliseconds(200);
  if (!(limit > 0) || !stats_.started_at || now_ - *stats_.started_at < tau || now_ - offers_adapted_at_ < tau)
    return;
  offers_adapted_at_ = now_;
  const double rate = sent_rate_.rate(now_);
  const double payload_limit = limit * block_bytes / (block_bytes + piece_header_bytes);
  if (budget_full && rate < 0.9 * payload_limit)
    extra_offers_ = std::min<std::uint32_t>(extra_offers_ + std::max<std::uint32_t>(1, extra_offers_ / 2),
                                            2 * static_cast<std::uint32_t>(stats_.peers_connected));
  else if (rate > 0.97 * payload_limit && extra_offers_ > 0)
    extra_offers_ -= std::max<std::uint32_t>(1, extra_offers_ / 4);
}

// Live offers a peer may hold: offers_per_peer while our upload binds, so that the peers that
// pass pieces on fastest can take more than an equal share of it; at most two once the
// recipients' downloads hold the upload back (extra offers in use): a third piece queued at
// a download that binds only waits there (simulated, unequal downloads at N = 16: 1.022 with
// two, 1.035 with three).
std::size_t session::offers_per_peer_now() const {
  const std::size_t configured = std::max<std::uint32_t>(config_.picker.offers_per_peer, 1);
  return extra_offers_ > 0 ? std::min<std::size_t>(configured, 2) : configured;
}

// Live offers peer c may hold now: offers_per_peer_now(), or more over a long round trip. An
// offer's `have` and the request it draws take c's round trip, during which c's share of our
// upload (one of `leechers`) must already be on offer to it. Simulated, 4 MiB in 16 KiB
// pieces, a 1 MB/s seed, 300 ms: two leechers took 2.85 times the latency bound with three
// offers a peer and 1.11 with this; four leechers at 200 ms, 4 MB/s, 2.00 and 1.30; N = 16 at
// 200 ms 1.185 and 1.173; the README's N = 8 at 100 ms 1.049 and 1.050 (medians of 8 seeds;
// one piece more than the share cost that swarm 0.3 % and N = 16 1.7 %). On the loopback's
// round trip the share is a piece at most, and offers_per_peer_now() decides.
std::size_t session::offer_limit(const connection& c, std::uint32_t leechers) const {
  const double round_trip_bytes =
      config_.upload_bytes_per_s * std::chrono::duration<double>(c.round_trip).count();
  const auto cover = static_cast<std::size_t>(
      std::ceil(round_trip_bytes / (static_cast<double>(std::max<std::uint32_t>(leechers, 1)) * config_.torrent->piece_bytes)));
  return std::max(offers_per_peer_now(), cover);
}

// A peer that let an offer lapse without asking, was never interested and has announced no
// piece: another seed that super-seeds (it announces nothing either, and two such seeds
// cannot tell each other apart otherwise). It gets no more offers and is not counted among
// the leechers until it shows interest or announces a piece. (Offering to it held the
// seed's one piece in flight until the offer lapsed: two seeds that super-seed took 16
// times the bound at N = 3.)
bool session::seems_seed(const connection& c) const {
  if (c.peer_interested || c.peer_has.count() > 0) return false;
  const auto sp = super_peers_.find(static_cast<std::uint32_t>(c.key));
  return sp != super_peers_.end() && sp->second.declined;
}

// The leechers we could offer a piece now (fewer than offers_per_peer live offers), with what
// each owes: for each piece it got (or is getting) from us, the leechers that do not hold it
// yet. A peer that passes its pieces on faster owes fewer and is given more.
std::vector<offer_candidate> session::offer_candidates(std::unordered_map<std::uint32_t, std::size_t>& live_of,
                                                      std::uint32_t& others) {
  for (const auto& [p, f] : flying_) ++live_of[f.key];
  std::uint32_t leechers = 0;
  for (auto& [k, c] : conns_)
    if (c->is_open() && c->handshake_done && !peer_is_seed(*c) && !seems_seed(*c)) ++leechers;
  others = leechers > 0 ? leechers - 1 : 0;
  std::vector<offer_candidate> candidates;
  for (auto& [k, c] : conns_) {
    if (!c->is_open() || !c->handshake_done || peer_is_seed(*c) || seems_seed(*c) || live_of[k] >= offer_limit(*c, leechers))
      continue;
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
    candidates.push_back({.id = c->key, .owed = owed, .last_served = sp.last_served});
  }
  return candidates;
}

void session::dispatch_offers() {
  if (!super_seeding_ || stopping_) return;
  const auto& torrent = *config_.torrent;
  std::uint64_t unsent = unsent_offered_bytes();
  adapt_offer_budget(unsent + torrent.piece_bytes > offer_budget());
  const std::uint64_t budget = offer_budget();
  // Over the budget only a peer never offered a piece gets one: a late peer starts at once.
  if (unsent + torrent.piece_bytes > budget && never_offered_.empty()) return;
  std::unordered_map<std::uint32_t, std::size_t> live_of;
  std::uint32_t others = 0;
  auto candidates = offer_candidates(live_of, others);
  const auto count = static_cast<std::uint32_t>(sent_count_.size());
  std::vector<std::uint32_t> spread(count, 0);
  for (std::uint32_t p = 0; p < count; ++p) spread[p] = sent_count_[p] + picker_.availability(p);
  std::vector<std::uint8_t> excluded(count, 0);
  while (!candidates.empty()) {
    const auto who = pick_recipient(candidates);  // never-served peers first among equals
    const auto pos = std::find_if(candidates.begin(), candidates.end(),
                                  [&](const offer_candidate& x) { return x.id == *who; });
    if (unsent + torrent.piece_bytes > budget && pos->last_served != 0) break;
    auto* c = find(*who);
    const auto key = static_cast<std::uint32_t>(*who);
    // Excluded: what the peer holds or was ever offered, and what is in flight to anyone.
    for (std::uint32_t p = 0; p < count; ++p) excluded[p] = c->peer_has.test(p) ? 1 : 0;
    for (const auto p : c->offered) excluded[p] = 1;
    for (const auto& [p, f] : flying_) excluded[p] = 1;
    auto best = pick_offer({.spread = spread, .offered = offered_count_, .excluded = excluded}, rng_);
    // Every piece it lacks is on its way to someone, yet the upload has room (the seed is
    // faster than its recipients' downloads), or the peer has had nothing yet: a piece may
    // then go out a second time.
    if (!best && (unsent + torrent.piece_bytes <= budget || pos->last_served == 0)) {
      for (const auto& [p, f] : flying_) excluded[p] = c->peer_has.test(p) ? 1 : 0;
      for (const auto p : c->offered) excluded[p] = 1;
      best = pick_offer({.spread = spread, .offered = offered_count_, .excluded = excluded}, rng_);
    }
    if (!best) {
      candidates.erase(pos);
      continue;
    }
    auto& sp = super_peers_[key];
    c->offered.push_back(*best);
    ++offered_count_[*best];
    flying_.emplace(*best, offer_in_flight{.key = key, .at = now_, .offered = now_});
    unsent += torrent.piece_size(*best);
    sp.last_served = ++serve_seq_;
    never_offered_.erase(key);
    if (c->am_choking) apply_choke(*c, false);
    send(*c, msg::have{*best});
    if (++live_of[key] >= offer_limit(*c, others + 1)) {
      candidates.erase(pos);
    } else {
      pos->last_served = sp.last_served;
      pos->owed += others;
    }
  }
}

// A recipient cancelled a block of a piece we offered it and asks for no other block of it:
// it got the piece elsewhere (or gave up on us). It will not say so (no `have` goes to a peer
// that announced the piece), so the offer ends now, not at its lapse, and the next goes out.
void session::withdraw_offer(connection& c, std::uint32_t piece) {
  const auto key = static_cast<std::uint32_t>(c.key);
  const auto [first, last] = flying_.equal_range(piece);
  const auto offer = std::find_if(first, last, [&](const auto& kv) { return kv.second.key == key; });
  if (offer == last) return;
  if (std::any_of(c.uploads.begin(), c.uploads.end(), [&](const block_request& b) { return b.piece == piece; }))
    return;
  flying_.erase(offer);
  dispatch_offers();
}

// A recipient no longer interested holds every piece we announced to it, as far as it knew
// when it said so: the offers it took a block of are done, though some of their blocks came
// from elsewhere (it sends no `have` for them: see withdraw_offer). An offer it took nothing
// of yet stays: it may have been made after the message left, and it lapses in any case.
void session::withdraw_taken_offers(connection& c) {
  const auto key = static_cast<std::uint32_t>(c.key);
  const auto before = flying_.size();
  std::erase_if(flying_, [&](const auto& kv) { return kv.second.key == key && c.sent_by_piece.count(kv.first) > 0; });
  if (flying_.size() != before) dispatch_offers();
}

void session::drop_offers(peer_key k) {
  const auto key = static_cast<std::uint32_t>(k);
  never_offered_.erase(key);
  super_peers_.erase(key);
  std::erase_if(flying_, [&](const auto& kv) { return kv.second.key == key; });
}

void session::end_super_seeding() {
  super_seeding_ = false;
  for (auto& [k, c] : conns_) {
    if (!c->is_open() || !c->handshake_done) continue;
    for (std::uint32_t p = 0; p < picker_.piece_count(); ++p) {
      if (c->peer_has.test(p) || std::find(c->offered.begin(), c->offered.end(), p) != c->offered.end()) continue;
      send(*c, msg::have{p});
    }
    c->offered.clear();
    c->sent_by_piece.clear();
  }
  super_peers_.clear();
  flying_.clear();
  never_offered_.clear();
  // Standard choking from now on: the first rechoke is due at once.
  choker_state_.last_rechoke.reset();
}

void session::count_sent_for_super_seeding(connection& c, const block_request& b) {
  if (b.piece >= sent_count_.size()) return;
  auto& sent = c.sent_by_piece[b.piece];
  sent += b.length;
  if (sent < config_.torrent->piece_size(b.piece)) {
    const auto [first, last] = flying_.equal_range(b.piece);
    for (auto f = first; f != last; ++f)
      if (f->second.key == static_cast<std::uint32_t>(c.key)) f->second.at = now_;  // see unsent_offered_bytes
    return;
  }
  c.sent_by_piece.erase(b.piece);
  ++sent_count_[b.piece];
  if (std::all_of(sent_count_.begin(), sent_count_.end(), [](std::uint32_t n) { return n > 0; })) {
    end_super_seeding();
    return;
  }
  super_peers_[static_cast<std::uint32_t>(c.key)].served.push_back(b.piece);
  std::erase_if(flying_, [&](const auto& kv) { return kv.first == b.piece && kv.second.key == static_cast<std::uint32_t>(c.key); });
  dispatch_offers();
}

}  // namespace p2pdist::bt
