#include "loopback/policy/piece_picker.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <limits>
#include <stdexcept>

#include "loopback/protocol/types.hpp"

namespace p2pdist::bt {

namespace detail {
namespace {

/// Bit i of a bitfield, inline (the picker tests bits in its inner loops). i < b.size().
inline bool has_piece(const bitfield& b, std::size_t i) noexcept {
  return ((std::to_integer<unsigned>(b.bytes()[i / 8]) >> (7 - i % 8)) & 1u) != 0;
}

/// Calls f(i) for every set bit i, in increasing order.
template <class F>
void for_each_set(const bitfield& b, F&& f) {
  const auto bytes = b.bytes();
  for (std::size_t j = 0; j < bytes.size(); ++j) {
    auto v = std::to_integer<unsigned>(bytes[j]);
    while (v != 0) {
      const auto lead = std::countl_zero(static_cast<unsigned char>(v));
      f(j * 8 + static_cast<std::size_t>(lead));
      v &= ~(0x80u >> lead);
    }
  }
}

/// A value in [0, n), n > 0. Plain modulo: deterministic across standard libraries (unlike
/// std::uniform_int_distribution); its bias is below n / 2^64.
inline std::size_t uniform_index(std::mt19937_64& rng, std::size_t n) noexcept {
  return static_cast<std::size_t>(rng() % n);
}

/// Random draws inside a bucket before falling back to a scan.
constexpr int draws_before_scan = 8;

}  // namespace
}  // namespace detail

using detail::has_piece;

piece_picker::piece_picker(const picker_config& config) : config_(config) {
  if (config.total_bytes == 0) throw std::invalid_argument("piece_picker: total_bytes is 0");
  if (config.piece_bytes == 0) throw std::invalid_argument("piece_picker: piece_bytes is 0");
  if (config.pipeline_depth == 0) throw std::invalid_argument("piece_picker: pipeline_depth is 0");
  const std::uint64_t pieces = (config.total_bytes + config.piece_bytes - 1) / config.piece_bytes;
  if (pieces > std::numeric_limits<std::uint32_t>::max()) {
    throw std::invalid_argument("piece_picker: more than 2^32-1 pieces");
  }
  piece_count_ = static_cast<std::uint32_t>(pieces);
  blocks_per_piece_ = (config.piece_bytes + block_bytes - 1) / block_bytes;
  have_ = bitfield(piece_count_);

  state_.assign(piece_count_, piece_state::open);
  availability_.assign(piece_count_, 0);
  free_in_piece_.resize(piece_count_);
  received_in_piece_.assign(piece_count_, 0);
  for (std::uint32_t p = 0; p < piece_count_; ++p) {
    free_in_piece_[p] = blocks_in_piece(p);
    free_blocks_ += free_in_piece_[p];
  }
  const std::size_t block_slots = static_cast<std::size_t>(piece_count_) * blocks_per_piece_;
  requesters_.assign(block_slots, 0);
  received_.assign(block_slots, 0);

  // Every piece open, availability 0: one bucket holding all of them.
  order_.resize(piece_count_);
  pool_pos_.resize(piece_count_);
  for (std::uint32_t p = 0; p < piece_count_; ++p) {
    order_[p] = p;
    pool_pos_[p] = p;
  }
  bucket_start_ = {0, pool_size()};
}

std::uint32_t piece_picker::piece_length(std::uint32_t piece) const noexcept {
  if (piece >= piece_count_) return 0;
  if (piece + 1 < piece_count_) return config_.piece_bytes;
  return static_cast<std::uint32_t>(config_.total_bytes -
                                    static_cast<std::uint64_t>(piece_count_ - 1) * config_.piece_bytes);
}

std::uint32_t piece_picker::blocks_in_piece(std::uint32_t piece) const noexcept {
  return static_cast<std::uint32_t>((std::uint64_t{piece_length(piece)} + block_bytes - 1) / block_bytes);
}

block_request piece_picker::request_for(std::size_t block) const noexcept {
  const auto piece = static_cast<std::uint32_t>(block / blocks_per_piece_);
  const auto begin = static_cast<std::uint32_t>(block % blocks_per_piece_) * block_bytes;
  return {.piece = piece, .begin = begin, .length = std::min(block_bytes, piece_length(piece) - begin)};
}

std::optional<std::size_t> piece_picker::validate(const block_request& block) const noexcept {
  if (block.piece >= piece_count_ || block.begin % block_bytes != 0) return std::nullopt;
  const std::uint32_t index = block.begin / block_bytes;
  if (index >= blocks_in_piece(block.piece)) return std::nullopt;
  const std::size_t id = block_id(block.piece, index);
  if (request_for(id).length != block.length) return std::nullopt;
  return id;
}

// ---- the pool: open pieces bucketed by availability ---------------------------------------

void piece_picker::ensure_buckets(std::uint32_t availability) {
  // Bucket `availability` needs bucket_start_[availability + 1].
  while (bucket_start_.size() < static_cast<std::size_t>(availability) + 2) {
    bucket_start_.push_back(pool_size());
  }
}

void piece_picker::add_availability(std::uint32_t piece) {
  const std::uint32_t a = availability_[piece]++;
  if (state_[piece] != piece_state::open) return;
  ensure_buckets(a + 1);
  // Swap to the last slot of bucket a, then move the edge: it is now first of bucket a+1.
  move_in_pool(piece, bucket_start_[a + 1] - 1);
  --bucket_start_[a + 1];
}

void piece_picker::remove_availability(std::uint32_t piece) {
  assert(availability_[piece] > 0);
  const std::uint32_t a = availability_[piece]--;
  if (state_[piece] != piece_state::open) return;
  // Swap to the first slot of bucket a, then move the edge: it is now last of bucket a-1.
  move_in_pool(piece, bucket_start_[a]);
  ++bucket_start_[a];
}

void piece_picker::move_in_pool(std::uint32_t piece, slot target) {
  const slot at = pool_pos_[piece];
  const std::uint32_t other = order_[target];
  order_[at] = other;
  pool_pos_[other] = at;
  order_[target] = piece;
  pool_pos_[piece] = target;
}

void piece_picker::count_open(std::uint32_t piece, bool entering_pool) {
  for (auto& [key, peer] : peers_) {
    if (!has_piece(peer.pieces, piece)) continue;
    if (entering_pool) {
      ++peer.open;
    } else {
      --peer.open;
    }
  }
}

void piece_picker::pool_insert(std::uint32_t piece) {
  count_open(piece, true);
  const std::uint32_t a = availability_[piece];
  ensure_buckets(a);
  const auto buckets = static_cast<slot>(bucket_start_.size() - 1);
  order_.push_back(piece);
  bucket_start_.back() = pool_size();
  // The hole starts at the end; each bucket above a moves its first entry into the hole at
  // its end, which moves the hole down to the end of the bucket below.
  slot hole = pool_size() - 1;
  for (slot b = buckets - 1; b > a; --b) {
    const slot first = bucket_start_[b];
    if (first != hole) {
      order_[hole] = order_[first];
      pool_pos_[order_[hole]] = hole;
    }
    hole = first;
    bucket_start_[b] = first + 1;
  }
  order_[hole] = piece;
  pool_pos_[piece] = hole;
}

void piece_picker::pool_erase(std::uint32_t piece) {
  count_open(piece, false);
  const std::uint32_t a = availability_[piece];
  const auto buckets = static_cast<slot>(bucket_start_.size() - 1);
  // The last entry of bucket a fills the hole; then each bucket above moves its last entry
  // into the hole left just before it, until the hole reaches the end.
  slot hole = pool_pos_[piece];
  for (slot b = a; b < buckets; ++b) {
    const slot last = bucket_start_[b + 1] - 1;
    if (last != hole) {
      order_[hole] = order_[last];
      pool_pos_[order_[hole]] = hole;
    }
    hole = last;
    bucket_start_[b + 1] = last;
  }
  assert(hole == pool_size() - 1);
  order_.pop_back();
  pool_pos_[piece] = npos;
}

void piece_picker::erase_partial(std::uint32_t piece) {
  const auto it = std::find(partial_.begin(), partial_.end(), piece);
  assert(it != partial_.end());
  partial_.erase(it);
}

void piece_picker::begin_piece(std::uint32_t piece) {
  assert(state_[piece] == piece_state::open);
  pool_erase(piece);
  state_[piece] = piece_state::partial;
  partial_.push_back(piece);
}

void piece_picker::lose_interest(std::uint32_t piece) {
  for (auto& [key, peer] : peers_) {
    if (has_piece(peer.pieces, piece)) --peer.interesting;
  }
}

// ---- our pieces and the peers' ------------------------------------------------------------

bool piece_picker::set_have(const bitfield& pieces) {
  if (pieces.size() != piece_count_) return false;
  detail::for_each_set(pieces, [&](std::size_t i) {
    const auto piece = static_cast<std::uint32_t>(i);
    if (state_[piece] != piece_state::open) return;
    pool_erase(piece);
    state_[piece] = piece_state::have;
    have_.set(piece);
    free_blocks_ -= free_in_piece_[piece];
    free_in_piece_[piece] = 0;
    lose_interest(piece);
  });
  return true;
}

bool piece_picker::add_peer(peer_key key, const bitfield& pieces) {
  if (pieces.size() != piece_count_ || peers_.contains(key)) return false;
  auto& peer = peers_[key];
  peer.pieces = pieces;
  peer.requests.reserve(std::min<std::uint32_t>(config_.pipeline_depth, 16));
  detail::for_each_set(pieces, [&](std::size_t i) {
    const auto piece = static_cast<std::uint32_t>(i);
    add_availability(piece);
    if (state_[piece] != piece_state::have) ++peer.interesting;
    if (state_[piece] == piece_state::open) ++peer.open;
  });
  return true;
}

bool piece_picker::peer_have(peer_key key, std::uint32_t piece) {
  const auto it = peers_.find(key);
  if (it == peers_.end() || piece >= piece_count_) return false;
  auto& peer = it->second;
  if (has_piece(peer.pieces, piece)) return true;
  peer.pieces.set(piece);
  add_availability(piece);
  if (state_[piece] != piece_state::have) ++peer.interesting;
  if (state_[piece] == piece_state::open) ++peer.open;
  return true;
}

void piece_picker::remove_peer(peer_key key) {
  const auto it = peers_.find(key);
  if (it == peers_.end()) return;
  peer_choked(key);
  detail::for_each_set(it->second.pieces,
                       [&](std::size_t i) { remove_availability(static_cast<std::uint32_t>(i)); });
  peers_.erase(it);
}

// ---- picking ------------------------------------------------------------------------------

std::optional<std::uint32_t> piece_picker::draw_in_range(const peer_state& peer, std::size_t lo,
                                                         std::size_t hi, std::mt19937_64& rng) const {
  const std::size_t n = hi - lo;
  if (n == 0) return std::nullopt;
  // Rejection sampling: uniform among the peer's pieces in the range whenever it hits.
  for (int i = 0; i < detail::draws_before_scan; ++i) {
    const std::uint32_t piece = order_[lo + detail::uniform_index(rng, n)];
    if (has_piece(peer.pieces, piece)) return piece;
  }
  // The peer has few of these (or none): scan once, from a random start.
  const std::size_t start = detail::uniform_index(rng, n);
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t at = start + k;
    if (at >= n) at -= n;
    const std::uint32_t piece = order_[lo + at];
    if (has_piece(peer.pieces, piece)) return piece;
  }
  return std::nullopt;
}

std::optional<std::uint32_t> piece_picker::choose_new_piece(const peer_state& peer,
                                                            std::mt19937_64& rng) const {
  // Without this count, a peer whose pieces are all begun would scan the whole pool.
  if (peer.open == 0) return std::nullopt;
  const std::size_t buckets = bucket_start_.size() - 1;
  // Bucket 0 holds the pieces no peer has, so never one of this peer's.
  if (buckets < 2) return std::nullopt;
  if (have_.count() < config_.random_first_pieces) {
    return draw_in_range(peer, bucket_start_[1], order_.size(), rng);
  }
  for (std::size_t a = 1; a < buckets; ++a) {
    if (auto piece = draw_in_range(peer, bucket_start_[a], bucket_start_[a + 1], rng)) return piece;
  }
  return std::nullopt;
}

void piece_picker::take_free_blocks(peer_state& peer, std::uint32_t piece, std::size_t& want,
                                    std::vector<block_request>& out) {
  const std::uint32_t blocks = blocks_in_piece(piece);
  for (std::uint32_t b = 0; b < blocks && want > 0 && free_in_piece_[piece] > 0; ++b) {
    const std::size_t id = block_id(piece, b);
    if (received_[id] != 0 || requesters_[id] != 0) continue;
    requesters_[id] = 1;
    --free_in_piece_[piece];
    --free_blocks_;
    peer.requests.push_back(id);
    out.push_back(request_for(id));
    --want;
  }
}

void piece_picker::take_duplicates(peer_key key, peer_state& peer, std::size_t& want, std::vector<block_request>& out,
                                   const duplicate_filter& worth) {
  // Blocks in flight elsewhere, from pieces the peer has, not yet asked of this peer; the
  // least duplicated first, then the oldest piece first.
  struct candidate {
    std::uint32_t requesters;
    std::size_t id;
  };
  std::vector<candidate> candidates;
  for (const std::uint32_t piece : partial_) {
    if (!has_piece(peer.pieces, piece) || !may_take(key, piece)) continue;
    const std::uint32_t blocks = blocks_in_piece(piece);
    for (std::uint32_t b = 0; b < blocks; ++b) {
      const std::size_t id = block_id(piece, b);
      if (received_[id] != 0 || requesters_[id] == 0) continue;
      if (std::find(peer.requests.begin(), peer.requests.end(), id) != peer.requests.end()) continue;
      if (worth && !worth(request_for(id))) continue;
      candidates.push_back({requesters_[id], id});
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const candidate& x, const candidate& y) { return x.requesters < y.requesters; });
  for (const auto& c : candidates) {
    if (want == 0) break;
    ++requesters_[c.id];
    peer.requests.push_back(c.id);
    out.push_back(request_for(c.id));
    --want;
  }
}

std::vector<block_request> piece_picker::pick(peer_key key, std::size_t max_new, std::mt19937_64& rng,
                                              const duplicate_filter& worth_duplicating) {
  std::vector<block_request> out;
  const auto it = peers_.find(key);
  if (it == peers_.end()) return out;
  auto& peer = it->second;
  if (peer.requests.size() >= config_.pipeline_depth || peer.interesting == 0) return out;
  std::size_t want = std::min<std::size_t>(max_new, config_.pipeline_depth - peer.requests.size());
  if (want == 0) return out;
  out.reserve(want);

  // 1. Pieces already begun, oldest first.
  for (const std::uint32_t piece : partial_) {
    if (want == 0) break;
    if (free_in_piece_[piece] == 0 || !has_piece(peer.pieces, piece) || !may_take(key, piece)) continue;
    take_free_blocks(peer, piece, want, out);
    if (const auto s = sources_.find(piece); s != sources_.end()) s->second = key;
  }
  // 2. New pieces: random first, then rarest first.
  while (want > 0) {
    const auto piece = choose_new_piece(peer, rng);
    if (!piece) break;
    begin_piece(*piece);
    take_free_blocks(peer, *piece, want, out);
    if (const auto s = sources_.find(*piece); s != sources_.end()) s->second = key;
  }
  // 3. End game: blocks already in flight elsewhere.
  if (want > 0 && in_end_game()) take_duplicates(key, peer, want, out, worth_duplicating);
  return out;
}

void piece_picker::set_single_source(std::uint32_t piece) {
  if (piece < piece_count_ && !have_.test(piece)) sources_.try_emplace(piece, std::nullopt);
}

bool piece_picker::may_take(peer_key peer, std::uint32_t piece) const {
  const auto s = sources_.find(piece);
  return s == sources_.end() || !s->second || *s->second == peer;
}

void piece_picker::release_sources(peer_key peer) {
  for (auto& [piece, source] : sources_)
    if (source == peer) source.reset();
}

// ---- answers ------------------------------------------------------------------------------

void piece_picker::release(std::size_t block) {
  assert(requesters_[block] > 0);
  if (--requesters_[block] != 0 || received_[block] != 0) return;
  const auto piece = static_cast<std::uint32_t>(block / blocks_per_piece_);
  assert(state_[piece] == piece_state::partial);
  ++free_in_piece_[piece];
  ++free_blocks_;
  if (free_in_piece_[piece] == blocks_in_piece(piece)) {
    // Nothing of it in flight or received: back to the pool, to be chosen afresh.
    erase_partial(piece);
    state_[piece] = piece_state::open;
    pool_insert(piece);
  }
}

block_outcome piece_picker::block_received(peer_key key, const block_request& block) {
  block_outcome outcome;
  const auto id = validate(block);
  if (!id) return outcome;  // invalid
  const std::uint32_t piece = block.piece;
  if (received_[*id] != 0 || state_[piece] == piece_state::have) {
    // Nobody has a received block in flight (its requests were cleared on arrival).
    outcome.status = block_status::duplicate;
    return outcome;
  }
  outcome.status = block_status::new_block;

  // The sender's own request is answered; a block nobody asked for was free.
  bool requested_by_sender = false;
  if (const auto sender = peers_.find(key); sender != peers_.end()) {
    auto& requests = sender->second.requests;
    if (const auto it = std::find(requests.begin(), requests.end(), *id); it != requests.end()) {
      requests.erase(it);
      --requesters_[*id];
      requested_by_sender = true;
    }
  }
  if (!requested_by_sender && requesters_[*id] == 0) {
    if (state_[piece] == piece_state::open) begin_piece(piece);
    --free_in_piece_[piece];
    --free_blocks_;
  }
  // Every other request for this block is now redundant: cancel it.
  if (requesters_[*id] != 0) {
    for (auto& [other_key, other] : peers_) {
      auto& requests = other.requests;
      if (const auto it = std::find(requests.begin(), requests.end(), *id); it != requests.end()) {
        requests.erase(it);
        outcome.cancel.push_back(other_key);
      }
    }
    std::sort(outcome.cancel.begin(), outcome.cancel.end());
    requesters_[*id] = 0;
  }
  received_[*id] = 1;
  if (++received_in_piece_[piece] == blocks_in_piece(piece)) {
    erase_partial(piece);
    state_[piece] = piece_state::complete;
    outcome.piece_complete = true;
  }
  return outcome;
}

bool piece_picker::request_dropped(peer_key key, const block_request& block) {
  const auto id = validate(block);
  const auto it = peers_.find(key);
  if (!id || it == peers_.end()) return false;
  auto& requests = it->second.requests;
  const auto at = std::find(requests.begin(), requests.end(), *id);
  if (at == requests.end()) return false;
  requests.erase(at);
  release(*id);
  release_sources(key);
  return true;
}

void piece_picker::peer_choked(peer_key key) {
  const auto it = peers_.find(key);
  if (it == peers_.end()) return;
  std::vector<std::size_t> requests;
  requests.swap(it->second.requests);
  for (const std::size_t id : requests) release(id);
  release_sources(key);
  it->second.requests.reserve(std::min<std::uint32_t>(config_.pipeline_depth, 16));
}

bool piece_picker::piece_passed(std::uint32_t piece) {
  if (piece >= piece_count_ || state_[piece] != piece_state::complete) return false;
  state_[piece] = piece_state::have;
  have_.set(piece);
  sources_.erase(piece);
  lose_interest(piece);
  return true;
}

bool piece_picker::piece_failed(std::uint32_t piece) {
  if (piece >= piece_count_ || state_[piece] != piece_state::complete) return false;
  const std::uint32_t blocks = blocks_in_piece(piece);
  for (std::uint32_t b = 0; b < blocks; ++b) received_[block_id(piece, b)] = 0;
  received_in_piece_[piece] = 0;
  free_in_piece_[piece] = blocks;
  free_blocks_ += blocks;
  state_[piece] = piece_state::open;
  pool_insert(piece);
  if (const auto s = sources_.find(piece); s != sources_.end()) s->second.reset();
  return true;
}

// ---- queries ------------------------------------------------------------------------------

std::uint32_t piece_picker::availability(std::uint32_t piece) const noexcept {
  return piece < piece_count_ ? availability_[piece] : 0;
}

bool piece_picker::is_interesting(peer_key key) const {
  const auto it = peers_.find(key);
  return it != peers_.end() && it->second.interesting > 0;
}

bool piece_picker::in_end_game() const noexcept {
  return !is_complete() && free_blocks_ <= config_.end_game_free_blocks;
}

std::vector<block_request> piece_picker::requests_of(peer_key key) const {
  std::vector<block_request> out;
  const auto it = peers_.find(key);
  if (it == peers_.end()) return out;
  out.reserve(it->second.requests.size());
  for (const std::size_t id : it->second.requests) out.push_back(request_for(id));
  return out;
}

bool piece_picker::check_invariants() const {
  return pool_consistent() && peers_consistent() && pieces_consistent();
}

bool piece_picker::pool_consistent() const {
  if (bucket_start_.size() < 2 || bucket_start_.front() != 0 || bucket_start_.back() != order_.size()) {
    return false;
  }
  for (std::size_t a = 0; a + 1 < bucket_start_.size(); ++a) {
    if (bucket_start_[a] > bucket_start_[a + 1]) return false;
    for (std::size_t i = bucket_start_[a]; i < bucket_start_[a + 1]; ++i) {
      const std::uint32_t piece = order_[i];
      if (piece >= piece_count_ || pool_pos_[piece] != i || availability_[piece] != a) return false;
    }
  }
  std::size_t open = 0;
  for (std::uint32_t p = 0; p < piece_count_; ++p) {
    const bool is_open = state_[p] == piece_state::open;
    open += is_open ? 1 : 0;
    if (!is_open && pool_pos_[p] != npos) return false;
    if ((state_[p] == piece_state::have) != have_.test(p)) return false;
  }
  return open == order_.size();
}

bool piece_picker::peers_consistent() const {
  std::vector<std::uint32_t> requesters(requesters_.size(), 0);
  std::vector<std::uint32_t> availability(piece_count_, 0);
  for (const auto& [key, peer] : peers_) {
    if (peer.requests.size() > config_.pipeline_depth) return false;
    std::uint32_t interesting = 0, open_pieces = 0;
    for (std::uint32_t p = 0; p < piece_count_; ++p) {
      if (!has_piece(peer.pieces, p)) continue;
      ++availability[p];
      if (state_[p] != piece_state::have) ++interesting;
      if (state_[p] == piece_state::open) ++open_pieces;
    }
    if (interesting != peer.interesting || open_pieces != peer.open) return false;
    for (std::size_t i = 0; i < peer.requests.size(); ++i) {
      const std::size_t id = peer.requests[i];
      const auto piece = static_cast<std::uint32_t>(id / blocks_per_piece_);
      if (!has_piece(peer.pieces, piece)) return false;
      if (std::find(peer.requests.begin() + static_cast<std::ptrdiff_t>(i) + 1, peer.requests.end(), id) !=
          peer.requests.end()) {
        return false;
      }
      ++requesters[id];
    }
  }
  return requesters == requesters_ && availability == availability_;
}

bool piece_picker::pieces_consistent() const {
  std::uint64_t free_total = 0;
  std::size_t partial = 0;
  for (std::uint32_t p = 0; p < piece_count_; ++p) {
    const std::uint32_t blocks = blocks_in_piece(p);
    std::uint32_t free = 0, received = 0, in_flight = 0;
    for (std::uint32_t b = 0; b < blocks; ++b) {
      const std::size_t id = block_id(p, b);
      if (received_[id] != 0) {
        ++received;
        if (requesters_[id] != 0) return false;
      } else if (requesters_[id] != 0) {
        ++in_flight;
      } else {
        ++free;
      }
    }
    switch (state_[p]) {
      case piece_state::have:
        if (free_in_piece_[p] != 0 || in_flight != 0) return false;
        continue;
      case piece_state::open:
        if (free != blocks) return false;
        break;
      case piece_state::partial:
        ++partial;
        if (free == blocks || received == blocks) return false;
        if (std::find(partial_.begin(), partial_.end(), p) == partial_.end()) return false;
        break;
      case piece_state::complete:
        if (received != blocks) return false;
        break;
    }
    if (free != free_in_piece_[p] || received != received_in_piece_[p]) return false;
    free_total += free;
  }
  return partial == partial_.size() && free_total == free_blocks_;
}

}  // namespace p2pdist::bt
