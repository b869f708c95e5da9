#pragma once
// peer_connection: the socket side of one BitTorrent peer connection (an internal of the
// client). It connects (outgoing) or takes an accepted socket, reads the peer's stream
// through the wire decoder and hands every item to its host, and writes what the host
// queues: control messages at once, and blocks pulled from the host once the host's upload
// limiter granted their bytes. It decides nothing: the host's session does.
//
// Rate limits, when the host says a direction is limited (the host's pacers hold the
// grants): a piece message (13 + block bytes) leaves only once the host granted that many
// bytes; a read waits until the socket is readable, asks the host for the bytes waiting (at
// most one read chunk) and reads at most what it granted. The host wakes the writer or the
// reader when a grant arrives that it can use. Unlimited, reads use an adaptive chunk
// (16 KiB .. 256 KiB) and writes gather queued control bytes and up to `max_write_blocks`
// blocks into one write.
//
// An emulated path (params.inbound_delay or params.jitter set): what the reader takes from the
// socket waits in a delay_line until it is due, then goes to the decoder; the reader stops
// while the line is full. The rate limits act where they did (the download pacer at the
// read), the delay after them, so a path's one-way delay adds to its serialization as on a
// real access link. Bytes read before the peer closed are still delivered, then the close.
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
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "loopback/core/session_io.hpp"
#include "loopback/net/delay_line.hpp"
#include "loopback/policy/piece_picker.hpp"
#include "loopback/policy/rate_limiter.hpp"
#include "loopback/protocol/wire.hpp"

namespace p2pdist::bt::detail {

using strand_type = asio::strand<asio::io_context::executor_type>;

class peer_connection;

/// What a connection needs from its client instance. All calls on the strand.
class connection_host {
 public:
  virtual ~connection_host() = default;
  /// Our outgoing connection is established.
  virtual void on_connected(peer_connection& c) = 0;
  /// A decoded item of the peer's stream (spans valid during the call only). False: the
  /// connection is closing, read no further.
  virtual bool on_wire_event(peer_connection& c, const wire_event& event) = 0;
  /// The connection is closed and both its loops are done or ending; called once.
  virtual void on_closed(peer_connection& c, close_cause cause, const std::string& reason) = 0;
  /// The next block to upload, without taking it.
  virtual std::optional<block_request> peek_upload(peer_connection& c) = 0;
  /// Takes the next block to upload (its bytes were granted).
  virtual std::optional<block_request> take_upload(peer_connection& c) = 0;
  /// The bytes of a block to upload: a span into memory storage, or read into `scratch`.
  /// Empty: not available (the block is skipped).
  virtual std::span<const std::byte> block_data(const block_request& r, std::vector<std::byte>& scratch) = 0;
  /// A piece message carrying `r` was written.
  virtual void on_block_sent(peer_connection& c, const block_request& r) = 0;
  /// Bytes written (up) or read (down) on the wire, all messages counted.
  virtual void on_wire_bytes(peer_connection& c, direction d, std::uint64_t bytes) = 0;
  /// Whether a direction is rate limited now.
  virtual bool limited(direction d) const = 0;
  /// Bytes the direction's pacer granted the connection and it has not spent.
  virtual std::uint64_t granted(const peer_connection& c, direction d) const = 0;
  /// The connection sent (up) or read (down) `bytes` of its grant.
  virtual void spend(peer_connection& c, direction d, std::uint64_t bytes) = 0;
  /// The connection could read `bytes` now: its demand on the download pacer. Returns what
  /// it may read at once (the reader waits for wake_reader otherwise).
  virtual std::uint64_t want_to_read(peer_connection& c, std::uint64_t bytes) = 0;
  /// Runs a coroutine on the strand, keeping the host alive until it ends.
  virtual void spawn(asio::awaitable<void> task) = 0;
};

/// The socket buffers of a rate-limited direction: small, so that the limiter, not the
/// kernel, decides when bytes move, but room for two whole block messages (one being read,
/// the next waiting) and the small messages between them. With exactly 2 × 16 KiB, about
/// one block in four left its last 13 bytes in the sender's buffer until the receiver's
/// next request carried a window update: the leecher read that block a block-time late and
/// asked for the next ones that much later (tests/net/test_socket_buffers.cpp).
inline constexpr std::size_t limited_socket_buffer_bytes = 2 * block_message_bytes + 1024;

/// TCP's smoothed round-trip time of a connected socket (TCP_INFO), or nullopt when the
/// kernel does not say.
std::optional<duration> tcp_round_trip(asio::ip::tcp::socket& socket);

/// Settings of one connection.
struct connection_params {
  peer_key key{};                          ///< the session's key, also the limiters' consumer id
  wire_config wire{};                      ///< torrent geometry for the decoder
  std::size_t max_write_blocks = 16;       ///< blocks gathered into one write
  std::size_t small_buffer_bytes = limited_socket_buffer_bytes;  ///< SO_SNDBUF/SO_RCVBUF while limited
  /// Emulated path: what is read waits this long (plus jitter) before it is decoded.
  duration inbound_delay{};
  /// Emulated path: each read's bytes wait a further uniform [0, jitter] (order kept).
  duration jitter{};
  std::uint64_t jitter_seed = 0;  ///< the jitter's random sequence
  /// Emulated path, outgoing: TCP's own set-up (SYN, SYN-ACK) takes this long (a round
  /// trip) before the connection counts as established.
  duration connect_delay{};
  std::size_t delay_capacity = delay_line::default_capacity;  ///< bytes the path holds
};

/// One peer connection. See the file comment.
class peer_connection : public std::enable_shared_from_this<peer_connection> {
 public:
  /// An unconnected connection. Precondition: `host` outlives it.
  peer_connection(connection_host& host, strand_type strand, const connection_params& params);

  /// Takes an accepted socket and starts the loops. Once.
  void start_incoming(asio::ip::tcp::socket socket);
  /// tcp_round_trip of its socket.
  [[nodiscard]] std::optional<duration> round_trip() { return tcp_round_trip(socket_); }
  /// Binds to `local` (port 0) when it is of the remote's family, connects to `remote`,
  /// then starts the loops. Once.
  void start_outgoing(const ip_address& local, const asio::ip::tcp::endpoint& remote);

  /// Closes the socket and stops the loops; on_closed follows from the read loop with this
  /// cause and reason (the first close wins). Idempotent.
  void close(close_cause cause, std::string reason);
  /// Not closed.
  [[nodiscard]] bool is_open() const noexcept { return !closed_; }

  /// Appends a message (the handshake or a control message) to the output; wakes the writer.
  void send(const wire_event& message);
  /// Something to write may have become possible (control bytes, a block, a grant).
  void wake_writer();
  /// A download grant arrived.
  void wake_reader();
  /// Bytes the reader waits to read (0 when it does not wait for a grant).
  [[nodiscard]] std::uint64_t read_wanted() const noexcept { return read_wanted_; }

  /// The peer's IPv4 address (zeros before it is known).
  [[nodiscard]] ip_address remote_address() const;
  /// The host's key for this peer.
  [[nodiscard]] peer_key key() const noexcept { return params_.key; }

 private:
  asio::awaitable<void> run(std::shared_ptr<peer_connection> self, std::optional<ip_address> local);
  asio::awaitable<void> read_loop();
  asio::awaitable<std::size_t> limited_read_size(std::error_code& ec);
  asio::awaitable<void> write_loop(std::shared_ptr<peer_connection> self);
  asio::awaitable<void> deliver_loop(std::shared_ptr<peer_connection> self);
  asio::awaitable<void> wait_for_reader_wake(std::error_code& ec);
  [[nodiscard]] bool emulated_path() const noexcept { return line_ != nullptr; }
  /// The moment bytes read now are due at the decoder.
  time_point due_time();
  void set_buffer_sizes();
  bool drain_events();

  connection_host& host_;
  strand_type strand_;
  connection_params params_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer writer_wake_;
  asio::steady_timer reader_wake_;
  asio::steady_timer deliver_wake_;  ///< emulated path: the line's next due time
  wire_decoder decoder_;
  bool closed_ = false;
  bool writer_waiting_ = false;
  bool reader_waiting_ = false;
  close_cause cause_ = close_cause::requested;
  std::string close_reason_;
  asio::ip::tcp::endpoint remote_;

  std::vector<std::byte> ctrl_out_;          ///< control bytes waiting for the writer
  std::uint64_t read_wanted_ = 0;            ///< limited reads: bytes waiting for a grant
  std::size_t read_chunk_ = 16 * 1024;       ///< unlimited reads: adaptive size
  std::unique_ptr<delay_line> line_;         ///< emulated path only
  std::uint64_t jitter_state_ = 0;           ///< splitmix64 state of the jitter
};

}  // namespace p2pdist::bt::detail
