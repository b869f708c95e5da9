#pragma once
// peer_connection: the socket side of one BitTorrent peer connection (an internal of the
// client). It connects (outgoing) or takes an accepted socket, sends our handshake, reads
// the peer's stream through the wire decoder and hands every item to its host (the client
// instance), and writes what the host queues: control messages at once, piece messages
// once the host's upload limiter granted their bytes. Decisions (what to request, whom to
// unchoke, whether a peer is acceptable) stay with the host and the pure units.
//
// Rate limits, when the host says a direction is limited: a piece message (13 + block
// bytes) leaves only after that many bytes were granted; a read waits until the socket is
// readable, asks a grant for the bytes waiting (at most one read chunk) and reads at most
// what was granted. Unlimited, reads use an adaptive chunk (16 KiB .. 256 KiB) and writes
// gather queued control bytes and up to `max_write_blocks` blocks into one write.
//
// Threading: every member is called on the host's strand, and every handler runs there.
// Lifetime: the object is held by shared_ptr (its coroutines hold one); the host must
// outlive its coroutines, which it ensures by spawning them through host.spawn().

// Clang 14 implements C++20 coroutines, but Asio 1.22 only recognises them in GCC and
// MSVC (for Clang it looks for the Coroutines TS); enable Asio's awaitable support here
// (the macro affects Asio's coroutine headers only).
#if defined(__clang__) && defined(__cpp_impl_coroutine) && !defined(ASIO_HAS_CO_AWAIT)
#define ASIO_HAS_CO_AWAIT 1
#endif

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/io_context.hpp>

#include "loopback/protocol/bitfield.hpp"
#include "loopback/policy/piece_picker.hpp"
#include "loopback/policy/request_pipeline.hpp"
#include "loopback/protocol/time.hpp"
#include "loopback/protocol/types.hpp"
#include "loopback/protocol/wire.hpp"

namespace p2pdist::bt::detail {

using strand_type = asio::strand<asio::io_context::executor_type>;

/// Direction of a rate limit, seen from us.
enum class direction : std::uint8_t { up, down };

class peer_connection;

/// What a connection needs from its client instance. All calls on the strand.
class connection_host {
 public:
  virtual ~connection_host() = default;
  /// The peer's handshake arrived; false closes the connection.
  virtual bool on_handshake(peer_connection& c, const handshake& hs) = 0;
  /// A message after the handshake (spans valid during the call only); false closes.
  virtual bool on_message(peer_connection& c, const wire_event& event) = 0;
  /// The connection is closed and both its loops are done or ending; called once.
  virtual void on_closed(peer_connection& c) = 0;
  /// The bytes of a block to upload: a span into memory storage, or read into `scratch`.
  /// Empty: not available (the request is dropped).
  virtual std::span<const std::byte> block_data(const msg::request& r, std::vector<std::byte>& scratch) = 0;
  /// A piece message carrying `r` was written.
  virtual void on_block_sent(peer_connection& c, const msg::request& r) = 0;
  /// Bytes written (up) or read (down) on the wire, all messages counted.
  virtual void on_wire_bytes(peer_connection& c, direction d, std::uint64_t bytes) = 0;
  /// Whether a direction is rate limited now.
  virtual bool limited(direction d) const = 0;
  /// Asks the direction's limiter for `bytes` more; returns the bytes granted at once (the
  /// rest arrives later through peer_connection::add_grant).
  virtual std::uint64_t request_grant(peer_connection& c, direction d, std::uint64_t bytes) = 0;
  /// Bytes asked for and not yet granted.
  virtual std::uint64_t pending_grant(const peer_connection& c, direction d) const = 0;
  /// Drops the connection's pending demand in that direction.
  virtual void cancel_grant(peer_connection& c, direction d) = 0;
  /// The connection's next block to upload belongs to a piece it first asked for at
  /// `since` (see peer_connection::upload_piece_since); the host may serve earlier pieces first.
  virtual void upload_front_changed(peer_connection& c, time_point since) = 0;
  /// Runs a coroutine on the strand, keeping the host alive until it ends.
  virtual void spawn(asio::awaitable<void> task) = 0;
  /// The current time (steady clock).
  virtual time_point now() const = 0;
};

/// Settings of one connection.
struct connection_params {
  peer_key key{};                          ///< the host's id, also picker key and consumer id
  wire_config wire{};                      ///< torrent geometry for the decoder
  handshake ours{};                        ///< our handshake, sent first
  std::size_t max_write_blocks = 16;       ///< blocks gathered into one write
  std::size_t small_buffer_bytes = 2 * block_bytes;  ///< SO_SNDBUF/SO_RCVBUF while limited
};

/// One peer connection. See the file comment.
class peer_connection : public std::enable_shared_from_this<peer_connection> {
 public:
  /// An unconnected connection. Precondition: `host` outlives it.
  peer_connection(connection_host& host, strand_type strand, const connection_params& params);

  /// Takes an accepted socket and starts the loops. Once.
  void start_incoming(asio::ip::tcp::socket socket);
  /// Binds to `local` (port 0), connects to `remote`, then starts the loops. Once.
  void start_outgoing(const asio::ip::tcp::endpoint& local, const asio::ip::tcp::endpoint& remote);

  /// Closes the socket and stops the loops; on_closed follows from the read loop. Idempotent.
  void close(std::string reason);
  /// Not closed.
  [[nodiscard]] bool is_open() const noexcept { return !closed_; }
  /// Why it was closed (empty while open).
  [[nodiscard]] const std::string& close_reason() const noexcept { return close_reason_; }

  /// Appends a control message (anything but piece) to the output and wakes the writer.
  template <class Message>
  void send(const Message& m) {
    if (closed_) return;
    wire_append(m, ctrl_out_);
    wake_writer();
  }

  /// Queues a block to upload (a request we accepted); asks the upload grant for it.
  void queue_upload(const msg::request& r);
  /// Removes a queued (not yet written) upload equal to `c`; false when none.
  bool cancel_upload(const msg::cancel& c);
  /// Drops every queued upload (we choked the peer).
  void clear_uploads();
  /// Blocks queued for upload.
  [[nodiscard]] std::size_t queued_uploads() const noexcept { return uploads_.size(); }
  /// Bytes granted by a limiter's refill.
  void add_grant(direction d, std::uint64_t bytes);

  /// The host's key for this peer.
  [[nodiscard]] peer_key key() const noexcept { return params_.key; }
  /// We dialed it.
  [[nodiscard]] bool outgoing() const noexcept { return outgoing_; }
  /// The socket's remote end (for an outgoing connection: the endpoint dialed).
  [[nodiscard]] const asio::ip::tcp::endpoint& remote() const noexcept { return remote_; }
  /// The remote address as four bytes.
  [[nodiscard]] std::array<std::uint8_t, 4> remote_ip() const noexcept;

  // ----- protocol state, kept by the host -----
  bool handshake_done = false;
  bool first_message_seen = false;  ///< a message after the handshake arrived
  bool in_picker = false;           ///< added to the piece picker
  std::optional<peer_id> id;        ///< from its handshake
  bool am_choking = true;
  bool am_interested = false;
  bool peer_choking = true;
  bool peer_interested = false;
  bool snubbed = false;
  bitfield peer_has;                            ///< pieces it announced
  std::vector<block_request> outstanding;       ///< our requests in flight at it, oldest first
  decayed_rate rate_from{};                     ///< its recent sending rate to us (blocks received)
  time_point connected_at{};
  time_point last_received{};                   ///< any bytes read
  time_point last_sent{};                       ///< any bytes written
  time_point waiting_since{};                   ///< last block from it, or first request since
  std::optional<time_point> last_unchoked;      ///< when we last choked it after an unchoke
  std::uint64_t payload_down_bytes = 0;         ///< block bytes received from it
  std::uint64_t payload_up_bytes = 0;           ///< block bytes sent to it
  std::vector<std::uint32_t> offered;           ///< super seeding: pieces announced to it
  std::unordered_map<std::uint32_t, std::uint32_t> sent_by_piece;  ///< super seeding: bytes sent, by piece
  /// Choker rate samples: payload totals at the last two rechokes.
  struct sample {
    time_point at{};
    std::uint64_t down = 0, up = 0;
  };
  std::optional<sample> sample_old, sample_new;

 private:
  asio::awaitable<void> run(std::shared_ptr<peer_connection> self, std::optional<asio::ip::tcp::endpoint> local);
  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop(std::shared_ptr<peer_connection> self);
  void wake_writer();
  void set_buffer_sizes();
  bool drain_events();

  connection_host& host_;
  strand_type strand_;
  connection_params params_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer writer_wake_;
  asio::steady_timer reader_wake_;
  wire_decoder decoder_;
  bool outgoing_ = false;
  bool closed_ = false;
  bool writer_waiting_ = false;
  bool reader_waiting_ = false;
  std::string close_reason_;
  asio::ip::tcp::endpoint remote_;

  std::vector<std::byte> ctrl_out_;          ///< control bytes waiting for the writer
  std::deque<msg::request> uploads_;         ///< blocks to upload, in order
  /// For each piece with a block in uploads_: when its first block was queued.
  std::vector<std::pair<std::uint32_t, time_point>> upload_since_;
  void upload_front_changed();
  std::uint64_t queued_upload_bytes_ = 0;    ///< wire bytes of uploads_
  std::uint64_t up_granted_ = 0;             ///< upload grant not yet spent
  std::uint64_t down_granted_ = 0;           ///< download grant not yet spent
  std::size_t read_chunk_ = 16 * 1024;       ///< unlimited reads: adaptive size
};

}  // namespace p2pdist::bt::detail
