#include "loopback/net/peer_connection.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames (its
// awaitable_frame_base pairs its own operator new and delete); the warning is off here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace p2pdist::bt::detail {

namespace {

constexpr std::size_t min_read_chunk = 16 * 1024;
constexpr std::size_t max_read_chunk = 256 * 1024;

}  // namespace

peer_connection::peer_connection(connection_host& host, strand_type strand, const connection_params& params)
    : host_(host),
      strand_(strand),
      params_(params),
      socket_(strand),
      writer_wake_(strand),
      reader_wake_(strand),
      decoder_(params.wire) {
  writer_wake_.expires_at(asio::steady_timer::time_point::max());
  reader_wake_.expires_at(asio::steady_timer::time_point::max());
}

std::array<std::uint8_t, 4> peer_connection::remote_ip() const noexcept {
  const auto a = remote_.address();
  if (!a.is_v4()) return {};
  const auto b = a.to_v4().to_bytes();
  return {b[0], b[1], b[2], b[3]};
}

void peer_connection::start_incoming(asio::ip::tcp::socket socket) {
  socket_ = std::move(socket);
  std::error_code ec;
  remote_ = socket_.remote_endpoint(ec);
  outgoing_ = false;
  connected_at = last_received = last_sent = waiting_since = host_.now();
  host_.spawn(run(shared_from_this(), std::nullopt));
}

void peer_connection::start_outgoing(const asio::ip::tcp::endpoint& local, const asio::ip::tcp::endpoint& remote) {
  remote_ = remote;
  outgoing_ = true;
  connected_at = last_received = last_sent = waiting_since = host_.now();
  host_.spawn(run(shared_from_this(), local));
}

void peer_connection::close(std::string reason) {
  if (closed_) return;
  closed_ = true;
  close_reason_ = std::move(reason);
  std::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  writer_wake_.cancel();
  reader_wake_.cancel();
  if (!uploads_.empty()) uploads_.clear();
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

void peer_connection::queue_upload(const msg::request& r) {
  if (closed_) return;
  const std::uint64_t bytes = piece_header_bytes + r.length;
  uploads_.push_back(r);
  queued_upload_bytes_ += bytes;
  if (std::none_of(upload_since_.begin(), upload_since_.end(), [&](const auto& e) { return e.first == r.index; }))
    upload_since_.emplace_back(r.index, host_.now());
  if (uploads_.size() == 1) upload_front_changed();
  // Demand is registered as soon as the request arrives, so that the limiter shares its
  // tokens among every connection with blocks waiting (max-min fair), not only the one
  // that happened to ask last.
  up_granted_ += host_.request_grant(*this, direction::up, bytes);
  wake_writer();
}

bool peer_connection::cancel_upload(const msg::cancel& c) {
  const auto it = std::find_if(uploads_.begin(), uploads_.end(), [&](const msg::request& r) {
    return r.index == c.index && r.begin == c.begin && r.length == c.length;
  });
  if (it == uploads_.end()) return false;
  queued_upload_bytes_ -= piece_header_bytes + it->length;
  uploads_.erase(it);
  upload_front_changed();  // rare: also forgets the piece if that was its last block
  // Demand beyond what is still queued is withdrawn.
  const std::uint64_t pending = host_.pending_grant(*this, direction::up);
  if (up_granted_ + pending > queued_upload_bytes_) {
    host_.cancel_grant(*this, direction::up);
    if (queued_upload_bytes_ > up_granted_)
      up_granted_ += host_.request_grant(*this, direction::up, queued_upload_bytes_ - up_granted_);
  }
  return true;
}

void peer_connection::clear_uploads() {
  uploads_.clear();
  upload_since_.clear();
  queued_upload_bytes_ = 0;
  host_.cancel_grant(*this, direction::up);
}

// Forgets pieces with no block left in uploads_ and tells the host when the front block's
// piece was first asked for, so that the host can finish pieces one after another.
void peer_connection::upload_front_changed() {
  std::erase_if(upload_since_, [&](const auto& e) {
    return std::none_of(uploads_.begin(), uploads_.end(), [&](const msg::request& r) { return r.index == e.first; });
  });
  if (uploads_.empty()) return;
  for (const auto& [index, since] : upload_since_)
    if (index == uploads_.front().index) host_.upload_front_changed(*this, since);
}

void peer_connection::add_grant(direction d, std::uint64_t bytes) {
  if (d == direction::up) {
    up_granted_ += bytes;
    wake_writer();
  } else {
    down_granted_ += bytes;
    if (reader_waiting_) reader_wake_.cancel();
  }
}

asio::awaitable<void> peer_connection::run(std::shared_ptr<peer_connection> self,
                                           std::optional<asio::ip::tcp::endpoint> local) {
  try {
    std::error_code ec;
    if (local && !closed_) {
      socket_.open(asio::ip::tcp::v4(), ec);
      if (!ec) socket_.bind(*local, ec);
      if (!ec) set_buffer_sizes();  // before connecting: the window scale is fixed then
      if (!ec) co_await socket_.async_connect(remote_, asio::redirect_error(asio::use_awaitable, ec));
      if (ec && !closed_) close("connect: " + ec.message());
    } else if (!closed_) {
      set_buffer_sizes();
    }
    if (!closed_) {
      send(params_.ours);
      host_.spawn(write_loop(self));
      co_await read_loop();
    }
  } catch (const std::exception& e) {
    close(std::string("error: ") + e.what());
  }
  close("closed");
  host_.on_closed(*this);
}

asio::awaitable<void> peer_connection::read_loop() {
  std::error_code ec;
  while (!closed_) {
    std::size_t max_read = 0;
    const bool limited = host_.limited(direction::down);
    if (limited) {
      co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || closed_) break;
      const std::size_t avail = socket_.available(ec);
      if (ec) break;
      if (avail == 0) {
        max_read = 1;  // readable with nothing to read: end of stream or an error
      } else {
        const std::size_t want = std::min(avail, max_read_chunk);
        if (down_granted_ == 0) {
          if (host_.pending_grant(*this, direction::down) == 0)
            down_granted_ += host_.request_grant(*this, direction::down, want);
          while (down_granted_ == 0 && !closed_ && host_.limited(direction::down)) {
            reader_waiting_ = true;
            reader_wake_.expires_at(asio::steady_timer::time_point::max());
            co_await reader_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            reader_waiting_ = false;
          }
          if (closed_) break;
        }
        max_read = std::min<std::uint64_t>(want, std::max<std::uint64_t>(down_granted_, 1));
      }
    } else {
      max_read = read_chunk_;
    }
    const auto area = decoder_.prepare(max_read);
    const std::size_t n =
        co_await socket_.async_read_some(asio::buffer(area.data(), area.size()),
                                         asio::redirect_error(asio::use_awaitable, ec));
    decoder_.commit(n);
    if (closed_) break;
    if (n > 0) {
      last_received = host_.now();
      host_.on_wire_bytes(*this, direction::down, n);
      if (limited) {
        down_granted_ -= std::min<std::uint64_t>(down_granted_, n);
      } else if (n == read_chunk_ && read_chunk_ < max_read_chunk) {
        read_chunk_ *= 2;
      } else if (n < read_chunk_ / 4 && read_chunk_ > min_read_chunk) {
        read_chunk_ /= 2;
      }
    }
    if (!drain_events()) break;
    if (ec) {
      close(ec == asio::error::eof ? "peer closed" : "read: " + ec.message());
      break;
    }
  }
}

bool peer_connection::drain_events() {
  while (!closed_) {
    auto next = decoder_.next();
    if (!next) {
      close(std::string("protocol: ") + std::string(to_string(next.error().code)) + " at byte " +
            std::to_string(next.error().offset));
      return false;
    }
    if (!next->has_value()) return true;
    const wire_event& event = **next;
    if (const auto* hs = std::get_if<handshake>(&event)) {
      if (!host_.on_handshake(*this, *hs)) {
        close("handshake refused");
        return false;
      }
      continue;
    }
    if (!handshake_done) {  // the host has not accepted the handshake: cannot happen
      close("message before handshake");
      return false;
    }
    if (!host_.on_message(*this, event)) {
      close(std::string("protocol: bad ") + std::string(event_name(event)));
      return false;
    }
  }
  return false;
}

asio::awaitable<void> peer_connection::write_loop(std::shared_ptr<peer_connection> self) {
  std::vector<std::byte> sending;
  std::vector<asio::const_buffer> buffers;
  std::vector<std::array<std::byte, piece_header_bytes>> headers(params_.max_write_blocks);
  std::vector<std::vector<std::byte>> scratch(params_.max_write_blocks);
  std::vector<msg::request> sent;
  std::error_code ec;
  while (!closed_) {
    buffers.clear();
    sent.clear();
    sending.clear();
    if (!ctrl_out_.empty()) {
      sending.swap(ctrl_out_);
      buffers.emplace_back(sending.data(), sending.size());
    }
    while (!uploads_.empty() && sent.size() < params_.max_write_blocks) {
      const msg::request r = uploads_.front();
      const std::uint64_t bytes = piece_header_bytes + r.length;
      if (up_granted_ < bytes) break;
      uploads_.pop_front();
      // Within one piece the front's piece, and so its priority, stays as it was.
      if (uploads_.empty() || uploads_.front().index != r.index) upload_front_changed();
      queued_upload_bytes_ -= bytes;
      up_granted_ -= bytes;
      const auto data = host_.block_data(r, scratch[sent.size()]);
      if (data.size() != r.length) continue;
      headers[sent.size()] = piece_header(r.index, r.begin, r.length);
      buffers.emplace_back(headers[sent.size()].data(), piece_header_bytes);
      buffers.emplace_back(data.data(), data.size());
      sent.push_back(r);
    }
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
    last_sent = host_.now();
    if (n > 0) host_.on_wire_bytes(*this, direction::up, n);
    std::size_t left = n - std::min(n, sending.size());
    for (const auto& r : sent) {
      const std::size_t bytes = piece_header_bytes + r.length;
      if (left < bytes) break;
      left -= bytes;
      payload_up_bytes += r.length;
      host_.on_block_sent(*this, r);
    }
    if (closed_) break;
    if (ec) {
      close("write: " + ec.message());
      break;
    }
  }
  (void)self;
}

}  // namespace p2pdist::bt::detail
