#include "loopback/net/peer_connection.hpp"

#include "loopback/net/asio_endpoint.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "loopback/policy/rate_limiter.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames (its
// awaitable_frame_base pairs its own operator new and delete); the warning is off here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace p2pdist::bt::detail {

namespace {

constexpr std::size_t min_read_chunk = 16 * 1024;
constexpr std::size_t max_read_chunk = 256 * 1024;

// One read buffer per thread, shared by every connection that reads on it: a read and the
// decoding of what it returned run with no suspension in between, and the decoder keeps
// the unparsed tail in its own buffer before it returns, so no connection sees another's
// bytes. An idle connection then holds no read buffer at all.
std::span<std::byte> thread_read_buffer() {
  thread_local const auto buffer = std::make_unique_for_overwrite<std::byte[]>(max_read_chunk);
  return {buffer.get(), max_read_chunk};
}

}  // namespace

peer_connection::peer_connection(connection_host& host, strand_type strand, const connection_params& params)
    : host_(host),
      strand_(strand),
      params_(params),
      socket_(strand),
      writer_wake_(strand),
      reader_wake_(strand),
      deliver_wake_(strand),
      decoder_(params.wire),
      jitter_state_(params.jitter_seed) {
  writer_wake_.expires_at(asio::steady_timer::time_point::max());
  reader_wake_.expires_at(asio::steady_timer::time_point::max());
  if (params.inbound_delay > duration::zero() || params.jitter > duration::zero())
    line_ = std::make_unique<delay_line>(params.delay_capacity);
}

void peer_connection::start_incoming(asio::ip::tcp::socket socket) {
  socket_ = std::move(socket);
  std::error_code ec;
  remote_ = socket_.remote_endpoint(ec);
  host_.spawn(run(shared_from_this(), std::nullopt));
}

void peer_connection::start_outgoing(const ip_address& local, const asio::ip::tcp::endpoint& remote) {
  remote_ = remote;
  host_.spawn(run(shared_from_this(), local));
}

void peer_connection::close(close_cause cause, std::string reason) {
  if (closed_) return;
  closed_ = true;
  cause_ = cause;
  close_reason_ = std::move(reason);
  std::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  writer_wake_.cancel();
  reader_wake_.cancel();
  deliver_wake_.cancel();
}

std::optional<duration> tcp_round_trip(asio::ip::tcp::socket& socket) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(socket.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &len) != 0 || len < sizeof info)
    return std::nullopt;
  return std::chrono::duration_cast<duration>(std::chrono::microseconds(info.tcpi_rtt));
}

ip_address peer_connection::remote_address() const { return from_asio(remote_.address()); }

void peer_connection::send(const wire_event& message) {
  if (closed_) return;
  wire_append(message, ctrl_out_);
  wake_writer();
}

void peer_connection::wake_writer() {
  if (writer_waiting_) writer_wake_.cancel();
}

void peer_connection::set_buffer_sizes() {
  std::error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  const int small = static_cast<int>(params_.small_buffer_bytes);
  if (host_.limited(direction::up)) socket_.set_option(asio::socket_base::send_buffer_size(small), ec);
  if (host_.limited(direction::down)) socket_.set_option(asio::socket_base::receive_buffer_size(small), ec);
}

void peer_connection::wake_reader() {
  if (reader_waiting_) reader_wake_.cancel();
}

asio::awaitable<void> peer_connection::wait_for_reader_wake(std::error_code& ec) {
  reader_waiting_ = true;
  reader_wake_.expires_at(asio::steady_timer::time_point::max());
  co_await reader_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  reader_waiting_ = false;
  ec.clear();
}

time_point peer_connection::due_time() {
  auto due = time_point(std::chrono::steady_clock::now().time_since_epoch()) + params_.inbound_delay;
  if (params_.jitter > duration::zero()) {
    due += std::chrono::duration_cast<duration>(unit_fraction(splitmix64(jitter_state_)) * params_.jitter);
  }
  return due;
}

// Emulated path: hands the line's bytes to the decoder once due, and wakes a reader that
// waits for room (or for the line to empty before it closes).
asio::awaitable<void> peer_connection::deliver_loop(std::shared_ptr<peer_connection> self) {
  std::error_code ec;
  while (!closed_) {
    const auto due = line_->next_due();
    deliver_wake_.expires_at(due ? asio::steady_timer::time_point(std::chrono::duration_cast<
                                       asio::steady_timer::duration>(due->time_since_epoch()))
                                 : asio::steady_timer::time_point::max());
    co_await deliver_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (closed_) break;
    const auto bytes = line_->due_at(time_point(std::chrono::steady_clock::now().time_since_epoch()));
    if (bytes.empty()) continue;  // re-armed for an earlier due time, or woken early
    decoder_.feed_view(bytes);
    host_.on_wire_bytes(*this, direction::down, bytes.size());
    const bool open = drain_events();
    decoder_.release();
    line_->pop(bytes.size());
    wake_reader();
    if (!open) break;
  }
  (void)self;
}

asio::awaitable<void> peer_connection::run(std::shared_ptr<peer_connection> self,
                                           std::optional<ip_address> local) {
  try {
    std::error_code ec;
    if (local && !closed_) {
      open_towards(socket_, *local, from_asio(remote_.address()), ec);
      if (!ec) set_buffer_sizes();  // before connecting: the window scale is fixed then
      if (!ec) co_await socket_.async_connect(remote_, asio::redirect_error(asio::use_awaitable, ec));
      if (!ec && !closed_ && params_.connect_delay > duration::zero()) {
        deliver_wake_.expires_after(params_.connect_delay);
        co_await deliver_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        ec.clear();  // cancelled: close() says so through closed_
      }
      if (ec && !closed_) close(close_cause::connect, "connect: " + ec.message());
      if (!closed_) host_.on_connected(*this);
    } else if (!closed_) {
      set_buffer_sizes();
    }
    if (!closed_) {
      host_.spawn(write_loop(self));
      if (emulated_path()) host_.spawn(deliver_loop(self));
      co_await read_loop();
    }
  } catch (const std::exception& e) {
    close(close_cause::peer, std::string("error: ") + e.what());
  }
  close(close_cause::peer, "closed");
  host_.on_closed(*this, cause_, close_reason_);
}

// Limited reads: waits until the socket is readable and the host granted bytes to read;
// returns how many to read (1 when readable with nothing to read: end or error).
asio::awaitable<std::size_t> peer_connection::limited_read_size(std::error_code& ec) {
  co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
  if (ec || closed_) co_return 0;
  const std::size_t avail = socket_.available(ec);
  if (ec) co_return 0;
  if (avail == 0) co_return 1;
  const std::size_t want = std::min(avail, max_read_chunk);
  read_wanted_ = want;  // before asking: the host arms its refill for it
  std::uint64_t may = host_.want_to_read(*this, want);
  // Read a useful amount at a time (a block message, or all there is when less), the
  // amount the host wakes us for, not the few bytes a refill may have granted so far.
  const std::uint64_t useful = std::min<std::uint64_t>(want, block_message_bytes);
  while (may < useful && !closed_ && host_.limited(direction::down)) {
    co_await wait_for_reader_wake(ec);
    may = host_.granted(*this, direction::down);
  }
  read_wanted_ = 0;
  ec.clear();
  if (closed_) co_return 0;
  co_return std::min<std::uint64_t>(want, std::max<std::uint64_t>(may, 1));
}

// Reads wait for readiness, then read without blocking: one recv per wake-up. (Asio's
// async_read_some first tries a read at once, which after a drained socket fails with
// EAGAIN: a second system call for every message at hundreds of connections.) A read that
// filled its buffer is followed by another at once, as more is likely waiting.
asio::awaitable<void> peer_connection::read_loop() {
  std::error_code ec;
  socket_.non_blocking(true, ec);
  if (ec) {
    close(close_cause::peer, "socket: " + ec.message());
    co_return;
  }
  bool drained = true;
  while (!closed_) {
    // Emulated path: read only what the line has room for (a block message at least).
    while (emulated_path() && line_->room() < block_message_bytes && !closed_) co_await wait_for_reader_wake(ec);
    if (closed_) break;
    const bool limited = host_.limited(direction::down);
    std::size_t max_read = read_chunk_;
    if (limited) {
      max_read = co_await limited_read_size(ec);  // waits for readiness itself
    } else if (drained) {
      co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec || closed_ || max_read == 0) break;
    std::size_t most = std::min(max_read, max_read_chunk);
    if (emulated_path()) most = std::min(most, line_->room());
    const auto area = thread_read_buffer().first(most);
    const std::size_t n = socket_.read_some(asio::buffer(area.data(), area.size()), ec);
    if (emulated_path()) {
      if (n > 0) {
        const bool was_empty = line_->empty();
        line_->push(due_time(), area.first(n));
        if (was_empty) deliver_wake_.cancel();  // the deliverer re-arms for this due time
      }
    } else {
      decoder_.feed_view(area.first(n));
    }
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      ec.clear();
      drained = true;
      continue;
    }
    drained = n < most;
    if (n > 0) {
      if (!emulated_path()) host_.on_wire_bytes(*this, direction::down, n);
      if (limited) {
        host_.spend(*this, direction::down, n);
      } else if (n == read_chunk_ && read_chunk_ < max_read_chunk) {
        read_chunk_ *= 2;
      } else if (n < read_chunk_ / 4 && read_chunk_ > min_read_chunk) {
        read_chunk_ /= 2;
      }
    }
    if (!emulated_path()) {
      if (!drain_events()) break;
      decoder_.release();
    }
    if (ec) break;
  }
  // Emulated path: what was read before the peer closed still arrives, then the close.
  if (ec && emulated_path()) {
    std::error_code wait_ec;
    while (!closed_ && !line_->empty()) co_await wait_for_reader_wake(wait_ec);
  }
  if (ec && !closed_) close(close_cause::peer, ec == asio::error::eof ? "peer closed" : "read: " + ec.message());
}

bool peer_connection::drain_events() {
  while (!closed_) {
    auto next = decoder_.next();
    if (!next) {
      close(close_cause::protocol, std::string("protocol: ") + std::string(to_string(next.error().code)) +
                                       " at byte " + std::to_string(next.error().offset));
      return false;
    }
    if (!next->has_value()) return true;
    if (!host_.on_wire_event(*this, **next)) return false;
  }
  return false;
}

asio::awaitable<void> peer_connection::write_loop(std::shared_ptr<peer_connection> self) {
  std::vector<std::byte> sending;
  std::vector<asio::const_buffer> buffers;
  std::vector<std::array<std::byte, piece_header_bytes>> headers(params_.max_write_blocks);
  std::vector<std::vector<std::byte>> scratch(params_.max_write_blocks);
  std::vector<block_request> sent;
  std::error_code ec;
  while (!closed_) {
    buffers.clear();
    sent.clear();
    sending.clear();
    if (!ctrl_out_.empty()) {
      sending.swap(ctrl_out_);
      buffers.emplace_back(sending.data(), sending.size());
    }
    const bool limited = host_.limited(direction::up);
    while (sent.size() < params_.max_write_blocks) {
      const auto front = host_.peek_upload(*this);
      if (!front) break;
      const std::uint64_t bytes = piece_header_bytes + front->length;
      if (limited && host_.granted(*this, direction::up) < bytes) break;
      if (limited) host_.spend(*this, direction::up, bytes);  // before take_upload: the host then syncs the demand
      const auto r = host_.take_upload(*this);
      if (!r) break;
      const auto data = host_.block_data(*r, scratch[sent.size()]);
      if (data.size() != r->length) continue;
      headers[sent.size()] = piece_header(r->piece, r->begin, r->length);
      buffers.emplace_back(headers[sent.size()].data(), piece_header_bytes);
      buffers.emplace_back(data.data(), data.size());
      sent.push_back(*r);
    }
    if (closed_) break;
    if (buffers.empty()) {
      writer_waiting_ = true;
      writer_wake_.expires_at(asio::steady_timer::time_point::max());
      co_await writer_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      writer_waiting_ = false;
      continue;
    }
    const std::size_t n = co_await asio::async_write(socket_, buffers, asio::redirect_error(asio::use_awaitable, ec));
    // Count what reached the kernel even when the connection closed meanwhile: the peer
    // may well have read it.
    host_.on_wire_bytes(*this, direction::up, n);
    std::size_t left = n - std::min(n, sending.size());
    for (const auto& r : sent) {
      const std::size_t bytes = piece_header_bytes + r.length;
      if (left < bytes) break;
      left -= bytes;
      host_.on_block_sent(*this, r);
    }
    if (closed_) break;
    if (ec) {
      close(close_cause::peer, "write: " + ec.message());
      break;
    }
    // Nothing more to upload here for now: the blocks' scratch memory goes back (a
    // connection that does not upload holds none).
    if (!host_.peek_upload(*this)) {
      for (auto& bytes : scratch) std::vector<std::byte>().swap(bytes);
    }
  }
  (void)self;
}

}  // namespace p2pdist::bt::detail
