#pragma once
// piece_picker: decides which 16 KiB blocks to request from which peer. Pure: no socket,
// no clock, no thread; randomness comes in as a std::mt19937_64&.
//
// Policy (BEP 3 practice): while we hold fewer than `random_first_pieces` verified pieces,
// a new piece is chosen at random among those the peer has; after that, rarest first (the
// lowest availability among the peer's pieces that we lack), ties broken at random. Pieces
// already begun come strictly before new ones. Each peer has at most `pipeline_depth`
// requests in flight. End game: once at most `end_game_free_blocks` blocks were never
// requested, a peer with nothing new to fetch is also handed blocks in flight at other
// peers (each block to a given peer at most once); block_received names the peers whose
// duplicate must then be cancelled. A piece the peer does not have is never handed out.
//
// Cost: the pieces not yet begun are kept in an array ordered by availability, cut into
// one bucket per availability value, so that a change of availability is O(1) (a swap at
// a bucket edge) and a pick draws at random inside the lowest bucket that holds one of
// the peer's pieces; it scans a bucket only when random draws miss. Beginning or
// returning a piece costs O(number of buckets) = O(max availability).
//
// Threading: not thread-safe; call from one thread (the network layer's loop thread).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include "loopback/protocol/bitfield.hpp"

namespace p2pdist::bt {

/// A peer as the caller names it (any value, unique among the peers added).
/// Declared opaque (no enumerators), identically in choker.hpp, piece_picker.hpp and
/// super_seed.hpp, so that these headers can be included in one translation unit.
enum class peer_key : std::uint32_t;

/// A block to request, with BEP 3's field names (as in msg::request): `begin` is an
/// offset in the piece and `length` a block length, both in bytes. begin is a multiple of
/// 16 KiB; length is 16 KiB except for the last block of a piece, which may be shorter.
struct block_request {
  std::uint32_t piece = 0;
  std::uint32_t begin = 0;   ///< offset in the piece, bytes
  std::uint32_t length = 0;  ///< bytes
  friend bool operator==(const block_request&, const block_request&) = default;
};

/// The torrent's geometry and the policy knobs.
struct picker_config {
  std::uint64_t total_bytes = 0;          ///< file size, bytes; > 0
  std::uint32_t piece_bytes = 0;          ///< nominal piece length, bytes; > 0
  std::uint32_t random_first_pieces = 4;  ///< pick at random until we hold this many pieces
  std::uint32_t pipeline_depth = 16;      ///< requests in flight per peer; >= 1
  /// End game starts when at most this many blocks were never requested (0: only when
  /// every block we lack has been requested).
  std::uint32_t end_game_free_blocks = 0;
};

/// What block_received found.
enum class block_status : std::uint8_t {
  new_block,  ///< first copy: store it
  duplicate,  ///< already received (or the piece is already complete): drop it
  invalid,    ///< no such block in this torrent (bad piece, offset or length): drop it
};

/// The outcome of block_received.
struct block_outcome {
  block_status status = block_status::invalid;
  /// All blocks of the piece have now arrived: hash it, then piece_passed / piece_failed.
  bool piece_complete = false;
  /// Other peers that had this block in flight (end game): send them a cancel. Sorted.
  std::vector<peer_key> cancel;
};

/// Per-piece availability, requests in flight and the choice of the next blocks.
class piece_picker {
 public:
  /// A picker for a torrent where we hold nothing yet. Throws std::invalid_argument when
  /// total_bytes or piece_bytes is 0, pipeline_depth is 0 or the piece count exceeds 2^32-1.
  explicit piece_picker(const picker_config& config);

  /// Number of pieces: ceil(total_bytes / piece_bytes).
  std::uint32_t piece_count() const noexcept { return piece_count_; }
  /// Length of a piece in bytes (the last one may be shorter); 0 when piece >= piece_count().
  std::uint32_t piece_length(std::uint32_t piece) const noexcept;
  /// Blocks in a piece: ceil(piece_length / 16 KiB); 0 when piece >= piece_count().
  std::uint32_t blocks_in_piece(std::uint32_t piece) const noexcept;

  /// Marks pieces we already hold (resume: verified on start-up). Pieces already begun or
  /// complete are left alone. False (and no change) when pieces.size() != piece_count().
  bool set_have(const bitfield& pieces);

  /// A new peer with the pieces it announced (bitfield message, or none yet). False (no
  /// change) when the key is already in use or the size is not piece_count().
  bool add_peer(peer_key peer, const bitfield& pieces);
  /// The peer announced a piece (have message). False when the peer is unknown or piece is
  /// out of range; true otherwise (also when it was already known to have it).
  bool peer_have(peer_key peer, std::uint32_t piece);
  /// The peer left: its availability goes and its requests return to the pool.
  void remove_peer(peer_key peer);

  /// Whether a block in flight elsewhere is worth asking of this peer too (end game).
  using duplicate_filter = std::function<bool(const block_request&)>;

  /// Up to max_new blocks to request from the peer now, never more than its pipeline
  /// allows in flight, only from pieces it has. Empty for an unknown peer. The blocks
  /// count as in flight at that peer until received, dropped, choked or removed. In the
  /// end game, a block in flight elsewhere is handed out only when `worth_duplicating`
  /// (if given) says so.
  std::vector<block_request> pick(peer_key peer, std::size_t max_new, std::mt19937_64& rng,
                                  const duplicate_filter& worth_duplicating = {});

  /// A block arrived from the peer (its fields come from the peer: validated here). A new
  /// block also clears every other peer's request for it (listed in `cancel`). Accepts a
  /// valid block that nobody requested, as new. The peer may be unknown (already removed).
  block_outcome block_received(peer_key peer, const block_request& block);
  /// A request that the peer will not answer: rejected (BEP 6), timed out, or cancelled by
  /// us. The block returns to the pool unless another peer has it in flight. False when
  /// it was not in flight at that peer (nothing changes).
  bool request_dropped(peer_key peer, const block_request& block);
  /// The peer choked us: every request in flight at it returns to the pool.
  void peer_choked(peer_key peer);

  /// The complete piece hashed right: we have it. False unless the piece was complete
  /// (all blocks received) and not yet passed or failed.
  bool piece_passed(std::uint32_t piece);
  /// The complete piece hashed wrong: all its blocks return to the pool. False unless
  /// the piece was complete.
  bool piece_failed(std::uint32_t piece);
  /// Single source: the next copy of `piece` comes from one peer alone, so that its check
  /// names a culprit either way (a failure: that peer; a pass: whoever sent the blocks that
  /// differ from a bad copy). The caller sets it after a piece failed with blocks from
  /// several peers. While set, the first peer handed a block of the piece is its source and
  /// no other peer is handed a block of it — until the source chokes us, leaves or drops a
  /// request (then the next peer to pick it becomes the source). Cleared when the piece passes.
  void set_single_source(std::uint32_t piece);
  /// The piece is under single_source (see set_single_source).
  [[nodiscard]] bool single_source(std::uint32_t piece) const { return sources_.count(piece) > 0; }

  /// Every piece passed.
  bool is_complete() const noexcept { return have_.all(); }
  /// The pieces we hold (passed or set by set_have).
  const bitfield& have() const noexcept { return have_; }
  /// Number of peers that have the piece; 0 when out of range.
  std::uint32_t availability(std::uint32_t piece) const noexcept;
  /// The peer has a piece we lack (send interested). False for an unknown peer.
  bool is_interesting(peer_key peer) const;
  /// At most end_game_free_blocks blocks were never requested, and we are not complete.
  bool in_end_game() const noexcept;
  /// Blocks neither received nor in flight anywhere, over the pieces we lack.
  std::uint64_t free_blocks() const noexcept { return free_blocks_; }
  /// The requests in flight at the peer, oldest first; empty for an unknown peer.
  std::vector<block_request> requests_of(peer_key peer) const;

  /// Checks every internal invariant (bucket order, counters, requests); O(pieces +
  /// blocks + peers * pipeline_depth). For tests.
  bool check_invariants() const;

 private:
  enum class piece_state : std::uint8_t { open, partial, complete, have };
  struct peer_state {
    bitfield pieces;
    std::uint32_t interesting = 0;           ///< pieces it has that we lack
    std::uint32_t open = 0;                  ///< pieces it has that are in the pool
    std::vector<std::size_t> requests;       ///< block ids in flight, oldest first
  };

  /// A position in order_ (fits: fewer than 2^32 - 1 pieces).
  using slot = std::uint32_t;
  static constexpr slot npos = static_cast<slot>(-1);

  slot pool_size() const noexcept { return static_cast<slot>(order_.size()); }

  std::size_t block_id(std::uint32_t piece, std::uint32_t block) const noexcept {
    return static_cast<std::size_t>(piece) * blocks_per_piece_ + block;
  }
  block_request request_for(std::size_t block) const noexcept;
  std::optional<std::size_t> validate(const block_request& block) const noexcept;

  void add_availability(std::uint32_t piece);
  void remove_availability(std::uint32_t piece);
  /// Moves `piece` to pool slot `target`, swapping it with the piece held there.
  void move_in_pool(std::uint32_t piece, slot target);
  void ensure_buckets(std::uint32_t availability);
  void pool_insert(std::uint32_t piece);
  void pool_erase(std::uint32_t piece);
  void erase_partial(std::uint32_t piece);
  void begin_piece(std::uint32_t piece);
  void lose_interest(std::uint32_t piece);
  void count_open(std::uint32_t piece, bool entering_pool);

  std::optional<std::uint32_t> choose_new_piece(const peer_state& peer, std::mt19937_64& rng) const;
  std::optional<std::uint32_t> draw_in_range(const peer_state& peer, std::size_t lo, std::size_t hi,
                                             std::mt19937_64& rng) const;
  void take_free_blocks(peer_state& peer, std::uint32_t piece, std::size_t& want,
                        std::vector<block_request>& out);
  void take_duplicates(peer_key key, peer_state& peer, std::size_t& want, std::vector<block_request>& out,
                       const duplicate_filter& worth);
  void release(std::size_t block);

  // The three parts of check_invariants().
  /// The pool holds exactly the open pieces, bucketed by their availability.
  bool pool_consistent() const;
  /// Per-block requester counts, availability and interest match the peers' records.
  bool peers_consistent() const;
  /// Per-piece counters and states, the partial list and free_blocks_ match the blocks.
  bool pieces_consistent() const;

  picker_config config_;
  std::uint32_t piece_count_ = 0;
  std::uint32_t blocks_per_piece_ = 0;  ///< of a full piece
  bitfield have_;

  // Per piece.
  std::vector<piece_state> state_;
  std::vector<std::uint32_t> availability_;
  std::vector<std::uint32_t> free_in_piece_;      ///< blocks neither received nor in flight
  std::vector<std::uint32_t> received_in_piece_;
  // Per block (id = piece * blocks_per_piece_ + block; ids past a short last piece unused).
  std::vector<std::uint32_t> requesters_;  ///< peers with the block in flight
  std::vector<std::uint8_t> received_;
  std::uint64_t free_blocks_ = 0;

  // The pool: open pieces ordered by availability; bucket a is
  // order_[bucket_start_[a], bucket_start_[a + 1]); the last entry is order_.size().
  std::vector<std::uint32_t> order_;
  std::vector<slot> pool_pos_;  ///< index in order_, npos when not open
  std::vector<slot> bucket_start_;

  std::vector<std::uint32_t> partial_;  ///< begun pieces, oldest first
  std::unordered_map<peer_key, peer_state> peers_;
  /// Pieces under single source, and the peer that is their source now (if any).
  std::unordered_map<std::uint32_t, std::optional<peer_key>> sources_;
  /// False when `piece` is under single source with another peer as its source.
  bool may_take(peer_key peer, std::uint32_t piece) const;
  /// The peer no longer serves its single-source pieces (choked, gone, a request dropped).
  void release_sources(peer_key peer);
};

}  // namespace p2pdist::bt
