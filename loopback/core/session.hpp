#pragma once
// session: one BitTorrent peer for one torrent — every decision it makes — as a plain
// object that performs no I/O (sans-IO). It owns no socket, no timer and no thread and
// reads no clock: a driver (the network layer's client, or a simulator) feeds it what
// happened, with the time it happened, and carries out what it asks.
//
//   inputs   start / stop / connect_to (the application); handle_accept, handle_connected,
//            handle_closed, handle_handshake, handle_message, handle_block (the wire);
//            handle_piece_checked (the driver hashed a piece); take_upload, handle_block_sent
//            (the driver's pacing pulls blocks to upload); handle_wire_bytes;
//            handle_announce (the tracker answered); handle_timeout (the time is now T).
//   outputs  poll_output(): send a message on connection k, close k, dial e, the upload
//            queue of k changed, hash piece p, announce event x, report an event, stop;
//            poll_timeout(): wake me at T.
//
// Inside, the pure policy units decide: the piece picker (what to request), the choker
// (whom to unchoke), super seeding's offers (what a seed hands out first), strikes and bans
// (who sent a piece that failed its hash). Pacing (rate limits) and storage stay with the
// driver: it pulls the next block to upload when its limiter allows, and stores blocks
// that handle_block accepts.
//
// Rules for a driver: after every call into the session, drain poll_output() and carry
// out the outputs in order (a call made while carrying one out appends to the queue, so
// keep draining until it is empty); then arm one timer at poll_timeout(). Time never goes
// backwards between calls. Not thread-safe: one session, one thread (or strand) at a time.

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "loopback/core/session_config.hpp"
#include "loopback/core/session_io.hpp"
#include "loopback/policy/choker.hpp"
#include "loopback/policy/piece_picker.hpp"
#include "loopback/policy/request_pipeline.hpp"
#include "loopback/policy/super_seed.hpp"
#include "loopback/protocol/bitfield.hpp"
#include "loopback/protocol/tracker_codec.hpp"
#include "loopback/protocol/wire.hpp"

namespace p2pdist::bt {

namespace detail {
struct connection;
}

/// One peer's session for one torrent. Non-copyable; movable.
class session {
 public:
  /// Checks the config (std::invalid_argument: no torrent). Draws the peer id.
  explicit session(session_config config);
  ~session();
  session(session&&) noexcept;
  session& operator=(session&&) noexcept;
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  // ----- the application -----

  /// Begins: `have` are the pieces the driver's storage holds (verified, or trusted);
  /// `listen_port` is what we announce. Announces `started` when there is a tracker. Once;
  /// std::logic_error when called twice, std::invalid_argument when `have` has the wrong size.
  void start(const bitfield& have, std::uint16_t listen_port, time_point now);
  /// Dials a peer unless it is us, banned, already dialed, useless, outside 127.0.0.0/8
  /// (loopback_only), or max_peers connections are open, or we are a seed (output dial).
  void connect_to(const peer_endpoint& peer, time_point now);
  /// Stops: closes every connection, then announces, once an announce in flight has ended,
  /// `completed` if the download completed unannounced, and `stopped` if `started` was
  /// announced.
  /// Idempotent. After it, only handle_closed and handle_announce are of use.
  void stop(time_point now);

  // ----- the wire -----

  /// A peer connected to us from `remote`: its key, or nullopt when refused (banned, not
  /// loopback under loopback_only, or full with no idle connection to evict). Sends our
  /// handshake.
  std::optional<peer_key> handle_accept(const endpoint& remote, time_point now);
  /// Our dial of `conn` connected: sends our handshake.
  void handle_connected(peer_key conn, time_point now);
  /// `conn` is closed (whoever closed it); the session forgets it. Unknown keys are ignored.
  void handle_closed(peer_key conn, close_cause cause, std::string_view reason, time_point now);
  /// The peer's handshake arrived (the decoder's first item).
  void handle_handshake(peer_key conn, const handshake& hs, time_point now);
  /// A message after the handshake other than a piece (spans valid during the call only).
  void handle_message(peer_key conn, const wire_event& message, time_point now);
  /// A piece message (block) arrived. True: the driver must store p.data at (index, begin)
  /// now (the session may then ask to check the piece); false: drop it (unasked, duplicate).
  [[nodiscard]] bool handle_block(peer_key conn, const msg::piece& p, time_point now);
  /// Bytes the driver wrote to (up) or read from (down) the connection, every message counted.
  void handle_wire_bytes(peer_key conn, direction d, std::uint64_t bytes, time_point now);
  /// The connection's round-trip time as the transport knows it (TCP's estimate, or the
  /// simulated link's delays): the requests kept at the peer cover it on top of the queue
  /// time. Unknown keys and negative values are ignored.
  void handle_round_trip(peer_key conn, duration rtt, time_point now);

  // ----- the driver's work -----

  /// The answer to check_piece. `fingerprints` (one per block: any 64-bit digest of its
  /// bytes) are needed when the verdict is failed, or passed with fingerprints_on_pass;
  /// otherwise they may be empty.
  void handle_piece_checked(std::uint32_t piece, piece_verdict verdict, std::span<const std::uint64_t> fingerprints,
                            time_point now);
  /// The next block queued for upload on `conn` (the oldest request), without taking it.
  [[nodiscard]] std::optional<block_request> peek_upload(peer_key conn) const;
  /// Takes the next block queued for upload on `conn`: the driver's limiter allowed it.
  std::optional<block_request> take_upload(peer_key conn, time_point now);
  /// A piece message carrying `b` was written on `conn`.
  void handle_block_sent(peer_key conn, const block_request& b, time_point now);
  /// The tracker answered the announce in flight (`response`), or it failed (`error`).
  void handle_announce(const std::optional<announce_response>& response, std::string_view error, time_point now);
  /// The time is now `now` (at or after poll_timeout()).
  void handle_timeout(time_point now);

  // ----- outputs -----

  /// The next thing to do, in order; nullopt when there is nothing.
  std::optional<output> poll_output();
  /// When to call handle_timeout next; nullopt: not before some other input.
  [[nodiscard]] std::optional<time_point> poll_timeout() const;

  // ----- getters -----

  /// Our peer id: "-PD0001-" and 12 random bytes.
  [[nodiscard]] const peer_id& id() const noexcept { return id_; }
  [[nodiscard]] const client_stats& stats() const noexcept { return stats_; }
  [[nodiscard]] const bitfield& have() const noexcept { return picker_.have(); }
  [[nodiscard]] bool complete() const noexcept { return complete_; }
  [[nodiscard]] bool started() const noexcept { return started_; }
  [[nodiscard]] bool stopping() const noexcept { return stopping_; }
  /// The connection is known and not closing.
  [[nodiscard]] bool is_open(peer_key conn) const;
  /// Wire bytes (13 + block) of the blocks queued for upload on `conn`; 0 when unknown.
  [[nodiscard]] std::uint64_t upload_queued_bytes(peer_key conn) const;
  /// The priority of `conn`'s upload for its driver's limiter (rate_limiter::set_priority):
  /// with upload_policy::piece_first, the place of the front block's piece in the order
  /// pieces were first asked for (1, 2, ...: unique, so that two pieces asked for at the
  /// same instant do not share the upload), so that earlier pieces go out first; 0 otherwise.
  [[nodiscard]] std::uint64_t upload_priority(peer_key conn) const;
  /// Connections known (open or closing).
  [[nodiscard]] std::size_t connection_count() const noexcept { return conns_.size(); }

 private:
  using connection = detail::connection;

  // session.cpp: lifecycle, connections, dispatch, timers
  connection* find(peer_key k);
  const connection* find(peer_key k) const;
  connection& add_connection(const endpoint& remote, bool outgoing);
  void close_connection(connection& c, std::string reason);
  void emit(client_event_kind kind, std::string detail = {}, std::optional<std::uint32_t> piece = {},
            const connection* c = nullptr);
  void send(connection& c, wire_event message);
  bool refuse_handshake(connection& c, const handshake& hs);
  bool keep_one_connection_per_id(connection& c, const handshake& hs);
  bool late_bitfield(connection& c, const msg::bitfield& bf);
  void dispatch(connection& c, const wire_event& message);
  /// An extended message (BEP 10): the peer's extended handshake, or a ut_metadata request.
  void on_extended(connection& c, const msg::extended& m);
  void on_peer_interested(connection& c);
  void on_peer_have(connection& c, std::uint32_t piece);
  /// Queues c's request for upload; false when it is ignored (choked, a piece we lack, a
  /// full queue).
  bool on_peer_request(connection& c, const msg::request& r);
  void housekeeping();
  void update_peer_count();
  bool peer_is_seed(const connection& c) const;
  bool unwanted(const connection& c) const;

  // session_download.cpp: interest, requests, blocks, piece checks, strikes, completion
  void add_to_picker(connection& c, const bitfield* pieces);
  void update_interest(connection& c);
  /// Our `have` of `piece` for c: none when c holds it, batched when c is choked and our
  /// upload busy (session_config::have_batch_interval), else sent now.
  void send_have(connection& c, std::uint32_t piece);
  /// Sends c's batched haves (those of pieces it still lacks).
  void send_waiting_haves(connection& c);
  /// Our upload is limited and has blocks queued for a peer we unchoked: it is in use, so
  /// a peer we choke would not be served sooner for knowing what we have. (With nothing
  /// queued, an interested peer may get an idle unchoke at once: then haves go at once.)
  [[nodiscard]] bool upload_busy() const;
  /// Our payload rate is below 90 % of the upload limit.
  [[nodiscard]] bool upload_underused() const;
  void fill_pipeline(connection& c);
  /// Our download is limited and we receive at 80 % of the limit or more.
  [[nodiscard]] bool download_binds() const;
  /// In the end game, which blocks in flight elsewhere are worth asking of `c` too.
  [[nodiscard]] piece_picker::duplicate_filter end_game_filter(const connection& c) const;
  void fill_all_pipelines();
  void snub(connection& c);
  void cancel_elsewhere(const block_request& b, const std::vector<peer_key>& peers);
  void piece_passed(std::uint32_t piece, std::span<const std::uint64_t> fingerprints);
  void piece_failed(std::uint32_t piece, std::span<const std::uint64_t> fingerprints);
  void strike(const ip_address& address);
  /// Bans an address: its connections close, with `reason`, and it may not come back.
  void ban(const ip_address& address, const std::string& reason);
  /// c sent a message that moves no data (session_config::max_idle_messages_per_s).
  void note_idle_message(connection& c);
  void on_complete();

  // session_upload.cpp: the upload queue and choking
  void queue_upload(connection& c, const msg::request& r);
  void cancel_upload(connection& c, const msg::cancel& m);
  void on_reject(connection& c, const block_request& b);
  [[nodiscard]] handshake our_handshake() const;
  void clear_uploads(connection& c);
  void forget_sent_pieces(connection& c);
  void recount_serving(connection& c);
  std::vector<peer_stats> snapshot() const;
  void apply_choke(connection& c, bool choke);
  void fill_free_slots();
  void unchoke_ahead(connection& c);
  void unchoke_if_idle();
  void run_rechoke();

  // session_super_seed.cpp: super seeding (initial_seeding::each_piece_once_first)
  void dispatch_offers();
  std::uint64_t unsent_offered_bytes();
  std::uint64_t offer_budget() const;
  std::size_t offers_per_peer_now() const;
  std::size_t offer_limit(const connection& c, std::uint32_t leechers) const;
  void adapt_offer_budget(bool budget_full);
  std::vector<offer_candidate> offer_candidates(std::unordered_map<std::uint32_t, std::size_t>& live_of,
                                                std::uint32_t& others);
  void withdraw_offer(connection& c, std::uint32_t piece);
  void withdraw_taken_offers(connection& c);
  [[nodiscard]] bool seems_seed(const connection& c) const;
  [[nodiscard]] duration unasked_lapse(std::uint32_t key) const;
  void note_offer_asked(connection& c, std::uint32_t piece);
  void drop_offers(peer_key k);
  void end_super_seeding();
  void count_sent_for_super_seeding(connection& c, const block_request& b);

  // session_tracker.cpp: announces
  void announce(announce_event event, duration timeout);
  void announce_due();
  void announce_for_stop();
  void on_announce_reply(const announce_response& response);

  session_config config_;
  std::mt19937_64 rng_;
  peer_id id_{};
  piece_picker picker_;
  choker_state choker_state_;
  client_stats stats_;
  time_point now_{};
  std::uint16_t listen_port_ = 0;

  std::uint32_t next_key_ = 1;
  std::unordered_map<std::uint32_t, std::unique_ptr<connection>> conns_;
  std::deque<output> outputs_;
  std::set<endpoint> dialed_;      // endpoints of open outgoing connections
  std::set<endpoint> not_useful_;  // endpoints that were us or useless (cs mode)
  std::map<ip_address, std::uint32_t> listed_per_ip_;  // address → peers the last announce listed there
  std::set<ip_address> banned_;                    // addresses
  std::map<ip_address, std::uint32_t> strikes_;    // address → failed pieces
  /// Per piece being downloaded: the sender of each stored block (an address, 0 = none).
  std::unordered_map<std::uint32_t, std::vector<ip_address>> senders_;
  /// A piece that failed with blocks from several addresses: the fingerprints and senders
  /// of its bad copy, kept until the piece passes, to find which blocks were wrong.
  struct failed_copy {
    std::vector<std::uint64_t> fingerprints;
    std::vector<ip_address> senders;
  };
  std::unordered_map<std::uint32_t, failed_copy> failed_;

  // super seeding
  bool super_seeding_ = false;
  std::vector<std::uint32_t> sent_count_;     // whole uploads of each piece
  std::vector<std::uint32_t> offered_count_;  // peers each piece was offered to
  struct super_seed_peer {
    std::vector<std::uint32_t> served;  // pieces uploaded whole to it that some leecher lacks
    std::uint64_t last_served = 0;      // serve_seq_ at its latest offer; 0 = never
    bool declined = false;              // an offer lapsed unasked (see seems_seed)
    std::optional<double> answer_s;     // smoothed delay from an offer to its first request
    time_point last_asked{};            // its latest request of us
  };
  struct offer_in_flight {
    std::uint32_t key = 0;  // the connection it was offered to
    time_point at{};        // when offered, or when a block of it last went to that connection
    time_point offered{};   // when offered
    bool asked = false;     // a block of it was requested
  };
  std::unordered_map<std::uint32_t, super_seed_peer> super_peers_;  // by connection key
  std::multimap<std::uint32_t, offer_in_flight> flying_;  // pieces offered, not yet sent whole (one entry a recipient)
  std::uint64_t serve_seq_ = 0;
  std::uint64_t upload_asks_ = 0;  // pieces first asked for in an upload queue (upload_since)
  std::set<std::uint32_t> never_offered_;  // leechers connected that have had no offer yet
  std::uint32_t extra_offers_ = 0;         // pieces on offer beyond pieces_in_flight (adapt_offer_budget)
  time_point offers_adapted_at_{};
  duration longest_round_trip_{};          // the longest any connection reported (handle_round_trip)

  std::size_t serving_ = 0;  // connections open, unchoked, with blocks queued for upload
  // our upload: its recent rate, and when an idle upload last unchoked one more peer
  decayed_rate sent_rate_{std::chrono::milliseconds(200)};
  decayed_rate received_rate_{std::chrono::milliseconds(200)};  ///< payload blocks received
  time_point idle_unchoke_at_{};

  // timers
  time_point next_tick_{};

  // tracker
  bool announce_in_flight_ = false;
  announce_event in_flight_event_ = announce_event::none;
  std::optional<time_point> next_announce_at_{};
  bool started_sent_ = false;
  bool completed_announced_ = false;
  bool stopped_announced_ = false;
  duration backoff_{};

  bool started_ = false;
  bool start_incomplete_ = false;  // we began as a leecher (so we announce `completed`)
  bool complete_ = false;
  bool stopping_ = false;
  std::uint64_t uploaded_bytes_ = 0;    // payload, for announces
  std::uint64_t downloaded_bytes_ = 0;  // idem
};

}  // namespace p2pdist::bt
