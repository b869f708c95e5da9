#include "loopback/harness/faults.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <functional>
#include <future>
#include <random>
#include <set>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "loopback/net/asio_endpoint.hpp"
#include "loopback/protocol/tracker_codec.hpp"
#include "loopback/protocol/wire.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames (see client.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace p2pdist::loopback {

using bt::make_endpoint;

// ---------------------------------------------------------------------------------------
// One adversarial peer

namespace detail {

namespace {

using asio::ip::tcp;
using strand_type = asio::strand<asio::io_context::executor_type>;

void fill_random(std::span<std::byte> out, std::mt19937_64& rng) {
  std::size_t i = 0;
  for (; i + 8 <= out.size(); i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  const std::uint64_t v = rng();
  std::memcpy(out.data() + i, &v, out.size() - i);
}

constexpr std::size_t read_chunk_bytes = 16 * 1024;
constexpr std::size_t garbage_bytes = 16 * 1024;

}  // namespace

/// A socket and a timer that stop() closes together. The generation changes when a
/// session on it ends, so that a late timer handler cannot touch the next session.
struct session_io {
  explicit session_io(const strand_type& strand) : socket(strand), timer(strand) {}
  tcp::socket socket;
  asio::steady_timer timer;
  std::uint64_t generation = 0;
  void close() {
    std::error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    timer.cancel();
  }
};

/// One adversarial peer; every member runs on its strand unless said otherwise.
class fault_peer : public std::enable_shared_from_this<fault_peer> {
 public:
  fault_peer(asio::io_context& io, const fault_swarm_config& config, fault_kind kind,
             std::array<std::uint8_t, 4> address, std::uint64_t seed)
      : config_(config), kind_(kind), address_(address), strand_(asio::make_strand(io)), rng_(seed),
        acceptor_(strand_) {
    static constexpr std::string_view prefix = "-PF0001-";
    for (std::size_t i = 0; i < prefix.size(); ++i) id_[i] = static_cast<std::byte>(prefix[i]);
    for (std::size_t i = prefix.size(); i < id_.size(); ++i) id_[i] = static_cast<std::byte>(rng_() & 0xff);
  }

  /// Listens, then announces and dials on the strand. Any thread, once.
  void start() {
    const auto at = make_endpoint(address_, 0);
    acceptor_.open(at.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(at);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::post(strand_, [self = shared_from_this()] {
      if (self->stopping_) return;
      self->spawn(self->accept_loop());
      self->spawn(self->announce_loop());
    });
  }

  /// Closes everything; `done` runs on the strand once every coroutine has ended. Any thread.
  void stop(std::function<void()> done) {
    asio::post(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
      self->stopping_ = true;
      std::error_code ec;
      self->acceptor_.close(ec);
      const auto open = self->sessions_;
      for (const auto& s : open) s->close();
      if (done) self->on_done_.push_back(std::move(done));
      asio::post(self->strand_, [self] { self->check_done(); });
    });
  }

  /// Any thread.
  fault_peer_stats stats() const {
    return {.address = bt::to_string(bt::ip_address(address_)),
            .kind = kind_,
            .connections = connections_.load(),
            .requests = requests_.load(),
            .bytes_sent = bytes_sent_.load(),
            .cut_by_us = cut_by_us_.load(),
            .cut_by_peer = cut_by_peer_.load(),
            .announces = announces_.load()};
  }

 private:
  void spawn(asio::awaitable<void> task) {
    ++tasks_;
    asio::co_spawn(strand_, std::move(task), asio::bind_executor(strand_, [self = shared_from_this()](std::exception_ptr) {
                     // An exception (e.g. out of memory) ends that task only.
                     --self->tasks_;
                     self->check_done();
                   }));
  }

  void check_done() {
    if (!stopping_ || tasks_ != 0) return;
    auto callbacks = std::move(on_done_);
    on_done_.clear();
    for (auto& cb : callbacks) cb();
  }

  std::shared_ptr<session_io> open_session() {
    if (stopping_) return nullptr;
    auto s = std::make_shared<session_io>(strand_);
    sessions_.insert(s);
    return s;
  }

  void close_session(const std::shared_ptr<session_io>& s) {
    s->close();
    sessions_.erase(s);
  }

  /// Waits `d` on the session's timer; false when stopping.
  asio::awaitable<bool> pause(session_io& s, bt::duration d) {
    if (stopping_) co_return false;
    s.timer.expires_after(d);
    std::error_code ec;
    co_await s.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    co_return !stopping_;
  }

  asio::awaitable<bool> write(session_io& s, std::span<const std::byte> bytes) {
    std::error_code ec;
    const std::size_t n = co_await asio::async_write(s.socket, asio::buffer(bytes.data(), bytes.size()),
                                                     asio::redirect_error(asio::use_awaitable, ec));
    bytes_sent_ += n;
    co_return !ec;
  }

  bt::handshake our_handshake() const { return {.info_hash = config_.torrent->info_hash, .id = id_}; }

  bool claims_pieces() const {
    return kind_ == fault_kind::corrupt || kind_ == fault_kind::drop || kind_ == fault_kind::stall;
  }

  // ----- connections -----

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopping_) {
      auto s = open_session();
      if (!s) break;
      std::error_code ec;
      co_await acceptor_.async_accept(s->socket, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        // E.g. out of file descriptors: wait a little rather than spin.
        bool again = !stopping_ && ec != asio::error::operation_aborted;
        if (again) again = co_await pause(*s, std::chrono::milliseconds(100));
        close_session(s);
        if (!again) break;
        continue;
      }
      spawn(incoming(s));
    }
  }

  asio::awaitable<void> incoming(std::shared_ptr<session_io> s) {
    auto self = shared_from_this();
    (void)co_await run_session(s, /*to_tracker=*/false);
    close_session(s);
  }

  /// Dials `target` again and again (after reconnect_pause), until stopping, until the
  /// target refuses the connection, or (kinds that serve requests) after a run of sessions
  /// that brought no request.
  asio::awaitable<void> outgoing(bt::endpoint target, bool to_tracker) {
    auto self = shared_from_this();
    auto s = open_session();
    if (!s) co_return;
    std::size_t idle_sessions = 0;
    while (!stopping_) {
      std::error_code ec;
      s->socket.open(tcp::v4(), ec);
      if (!ec) s->socket.bind(make_endpoint(address_, 0), ec);
      if (!ec) co_await s->socket.async_connect(make_endpoint(target.ip, target.port),
                                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec || stopping_) break;  // the target is gone (or we stop)
      const bool asked = co_await run_session(s, to_tracker);
      s->close();
      ++s->generation;
      if (stopping_) break;
      idle_sessions = asked ? 0 : idle_sessions + 1;
      if (claims_pieces() && idle_sessions >= config_.attempts_without_request) break;
      if (!co_await pause(*s, config_.reconnect_pause)) break;
    }
    close_session(s);
  }

  /// One connection, already established, as the kind behaves. True when the peer sent
  /// at least one request.
  asio::awaitable<bool> run_session(std::shared_ptr<session_io> s, bool to_tracker) {
    ++connections_;
    if (kind_ == fault_kind::slowloris) {
      // A named string, not a temporary of ?: in the co_await: GCC 12 destroys that twice.
      std::string bytes = to_tracker ? tracker_line() : handshake_bytes();
      co_await drip(*s, std::move(bytes));
      co_return false;
    }
    std::vector<std::byte> out;
    bt::wire_append(our_handshake(), out);
    if (claims_pieces()) {
      bt::wire_append(bt::msg::bitfield{bt::bitfield(config_.torrent->piece_count(), true)}, out);
      bt::wire_append(bt::msg::unchoke{}, out);
    } else if (kind_ == fault_kind::garbage) {
      append_garbage(out);
    } else if (kind_ == fault_kind::chatter) {
      bt::wire_append(bt::msg::bitfield{bt::bitfield(config_.torrent->piece_count(), false)}, out);
    }
    if (!co_await write(*s, out)) {
      if (!stopping_) ++cut_by_peer_;
      co_return false;
    }
    if (kind_ == fault_kind::chatter) spawn(chatter(s));
    co_return co_await read_and_answer(s);
  }

  /// Chatter: control messages at chatter_bytes_per_s, in a batch every 10 ms, while this
  /// session lasts (read_and_answer reads the peer meanwhile).
  asio::awaitable<void> chatter(std::shared_ptr<session_io> io) {
    session_io& s = *io;
    const std::uint64_t generation = s.generation;
    const auto tick = std::chrono::milliseconds(10);
    const auto batch_bytes = static_cast<std::size_t>(std::max(1.0, config_.chatter_bytes_per_s * 0.01));
    const auto& t = *config_.torrent;
    std::uniform_int_distribution<std::uint32_t> any_piece(0, t.piece_count() - 1);
    std::vector<std::byte> out;
    for (std::uint64_t k = 0; !stopping_ && s.generation == generation && s.socket.is_open(); ++k) {
      out.clear();
      while (out.size() < batch_bytes) {
        switch (k++ % 5) {
          case 0: bt::wire_append(bt::msg::have{any_piece(rng_)}, out); break;
          case 1: bt::wire_append(bt::msg::interested{}, out); break;
          case 2: bt::wire_append(bt::msg::not_interested{}, out); break;
          case 3: {
            const std::uint32_t piece = any_piece(rng_);
            const auto length = static_cast<std::uint32_t>(std::min<std::uint64_t>(bt::block_bytes, t.piece_size(piece)));
            bt::wire_append(bt::msg::request{.index = piece, .begin = 0, .length = length}, out);
            bt::wire_append(bt::msg::cancel{.index = piece, .begin = 0, .length = length}, out);
            break;
          }
          default: bt::wire_append(bt::msg::keep_alive{}, out); break;
        }
      }
      if (!co_await write(s, out)) break;  // the session ended (read_and_answer counts the cut)
      if (s.generation != generation || !co_await pause(s, tick)) break;
    }
  }

  /// Garbage after a valid handshake, alternately: a length prefix of 2^32 - 1 bytes (4 GiB)
  /// followed by a few random bytes, or random bytes whose first length prefix is at least
  /// 2 GiB (so that the framing breaks at once rather than after a long wait).
  void append_garbage(std::vector<std::byte>& out) {
    const bool huge_prefix = (garbage_sessions_++ % 2) == 0;
    const std::size_t at = out.size();
    if (huge_prefix) {
      out.resize(at + 64);
      fill_random(std::span(out).subspan(at), rng_);
      for (std::size_t i = 0; i < 4; ++i) out[at + i] = std::byte{0xff};
      out[at + 4] = std::byte{7};  // the id of a piece message
    } else {
      out.resize(at + garbage_bytes);
      fill_random(std::span(out).subspan(at), rng_);
      out[at] |= std::byte{0x80};
    }
  }

  /// Reads the peer's stream and answers requests as the kind does. Every keepalive_interval
  /// without input, the pending read is cancelled to send a keep-alive (kinds that claim
  /// pieces). Ends when the peer closes, the stream is invalid, or we drop the connection.
  asio::awaitable<bool> read_and_answer(std::shared_ptr<session_io> io) {
    session_io& s = *io;
    bt::wire_decoder decoder({.piece_bytes = config_.torrent->piece_bytes, .total_bytes = config_.torrent->total_bytes});
    bool asked = false;
    std::vector<std::byte> out;
    std::vector<std::byte> block;
    const std::uint64_t generation = s.generation;
    while (!stopping_) {
      if (claims_pieces()) {
        s.timer.expires_after(config_.keepalive_interval);
        s.timer.async_wait([io, generation](std::error_code ec) {
          if (!ec && io->generation == generation) io->socket.cancel(ec);
        });
      }
      std::error_code ec;
      const auto area = decoder.prepare(read_chunk_bytes);
      const std::size_t n =
          co_await s.socket.async_read_some(asio::buffer(area.data(), area.size()), asio::redirect_error(asio::use_awaitable, ec));
      decoder.commit(n);
      if (stopping_) break;
      out.clear();
      if (ec == asio::error::operation_aborted && s.socket.is_open()) {
        bt::wire_append(bt::msg::keep_alive{}, out);  // the keep-alive tick
      } else if (ec) {
        ++cut_by_peer_;
        break;
      }
      bool drop_now = false;
      bool broken = false;
      for (;;) {
        auto next = decoder.next();
        if (!next) {  // the peer broke the protocol: leave
          broken = true;
          break;
        }
        if (!next->has_value()) break;
        const auto* r = std::get_if<bt::msg::request>(&**next);
        if (!r) continue;
        ++requests_;
        asked = true;
        if (kind_ == fault_kind::corrupt) {
          block.resize(r->length);
          fill_random(block, rng_);
          bt::wire_append(bt::msg::piece{.index = r->index, .begin = r->begin, .data = block}, out);
        } else if (kind_ == fault_kind::drop) {
          // A whole piece message's header, then half its block: the receiver waits for the rest.
          const auto header = bt::piece_header(r->index, r->begin, r->length);
          out.insert(out.end(), header.begin(), header.end());
          block.resize(r->length / 2);
          fill_random(block, rng_);
          out.insert(out.end(), block.begin(), block.end());
          drop_now = true;
          break;
        }
        // stall: take the request, never answer it.
      }
      if (broken) break;
      if (!out.empty() && !co_await write(s, out)) {
        if (!stopping_) ++cut_by_peer_;
        break;
      }
      if (drop_now) {
        ++cut_by_us_;
        break;
      }
    }
    ++s.generation;
    s.timer.cancel();
    co_return asked;
  }

  /// Slowloris: one byte of `bytes` every drip_interval, until the peer cuts us.
  asio::awaitable<void> drip(session_io& s, std::string bytes) {
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      if (!co_await write(s, std::as_bytes(std::span(bytes.data() + i, 1)))) {
        if (!stopping_) ++cut_by_peer_;
        co_return;
      }
      if (!co_await pause(s, config_.drip_interval)) co_return;
    }
    ++cut_by_us_;  // every byte went (the other side never timed out): give up this one
  }

  std::string handshake_bytes() const {
    std::vector<std::byte> hs;
    bt::wire_append(our_handshake(), hs);
    return std::string(reinterpret_cast<const char*>(hs.data()), hs.size());
  }

  std::string tracker_line() const {
    return "GET /announce?info_hash=" + bt::percent_encode(std::span<const std::byte>(config_.torrent->info_hash)) +
           "&peer_id=" + bt::percent_encode(std::span<const std::byte>(id_)) + "&port=1 HTTP/1.1\r\n";
  }

  // ----- tracker -----

  asio::awaitable<void> announce_loop() {
    auto self = shared_from_this();
    auto http = open_session();
    auto wait = open_session();
    if (!http || !wait) co_return;
    if (kind_ == fault_kind::slowloris)
      for (std::size_t k = 0; k < config_.slowloris_connections; ++k) spawn(outgoing(config_.tracker, true));
    bool started = false;
    while (!stopping_) {
      std::vector<bt::peer_endpoint> peers;
      const auto event = started ? bt::announce_event::none : bt::announce_event::started;
      const bool ok = co_await announce(http, event, peers);
      ++http->generation;
      if (stopping_) break;
      if (ok) {
        started = true;
        ++announces_;
        for (const auto& p : peers) consider(p);
      }
      if (!co_await pause(*wait, config_.announce_interval)) break;
    }
    close_session(http);
    close_session(wait);
  }

  /// Dials a peer the tracker listed, once per endpoint (the dial loop reconnects itself).
  void consider(const bt::peer_endpoint& p) {
    if (stopping_ || p.port == 0 || !bt::is_loopback(p.ip) || is_fault_address(p.ip) || p.ip == address_) return;
    const bt::endpoint target{.ip = p.ip, .port = p.port};
    if (!targets_.insert(bt::to_string(target)).second) return;
    const std::size_t loops = kind_ == fault_kind::slowloris ? config_.slowloris_connections : 1;
    for (std::size_t k = 0; k < loops; ++k) spawn(outgoing(target, false));
  }

  /// One announce over HTTP/1.0, bounded by announce_timeout; fills `peers` on success.
  asio::awaitable<bool> announce(std::shared_ptr<session_io> io, bt::announce_event event,
                                 std::vector<bt::peer_endpoint>& peers) {
    session_io& s = *io;
    const bool seed_like = claims_pieces();
    const bt::announce_request req{.info_hash = config_.torrent->info_hash,
                                   .id = id_,
                                   .port = port_,
                                   .left_bytes = seed_like ? 0 : config_.torrent->total_bytes,
                                   .event = event,
                                   .compact = true,
                                   .numwant = 200};
    const std::string request = "GET " + bt::announce_target("/announce", req) + " HTTP/1.0\r\nHost: " +
                                bt::to_string(config_.tracker) + "\r\nConnection: close\r\n\r\n";
    const std::uint64_t generation = s.generation;
    s.timer.expires_after(config_.announce_timeout);
    s.timer.async_wait([io, generation](std::error_code ec) {
      if (!ec && io->generation == generation) {
        std::error_code ignored;
        io->socket.close(ignored);
      }
    });
    std::error_code ec;
    std::string response;
    s.socket.open(tcp::v4(), ec);
    if (!ec) s.socket.bind(make_endpoint(address_, 0), ec);
    if (!ec)
      co_await s.socket.async_connect(make_endpoint(config_.tracker.ip, config_.tracker.port),
                                      asio::redirect_error(asio::use_awaitable, ec));
    if (!ec)
      co_await asio::async_write(s.socket, asio::buffer(request), asio::redirect_error(asio::use_awaitable, ec));
    std::array<char, 4096> buf;
    while (!ec && response.size() < (1u << 20)) {
      const std::size_t n = co_await s.socket.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      response.append(buf.data(), n);
    }
    s.timer.cancel();
    std::error_code ignored;
    s.socket.close(ignored);
    if (ec != asio::error::eof) co_return false;
    const auto head_end = response.find("\r\n\r\n");
    if (head_end == std::string::npos || response.compare(0, 5, "HTTP/") != 0) co_return false;
    const auto sp = response.find(' ');
    if (sp == std::string::npos || response.compare(sp + 1, 3, "200") != 0) co_return false;
    auto parsed = bt::parse_announce_response(std::string_view(response).substr(head_end + 4));
    if (!parsed || parsed->failure_reason) co_return false;
    peers = std::move(parsed->peers);
    co_return true;
  }

  fault_swarm_config config_;
  fault_kind kind_;
  std::array<std::uint8_t, 4> address_;
  strand_type strand_;
  std::mt19937_64 rng_;
  bt::peer_id id_{};
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;  // written by start() before anything runs on the strand

  bool stopping_ = false;
  std::size_t tasks_ = 0;
  std::vector<std::function<void()>> on_done_;
  std::set<std::shared_ptr<session_io>> sessions_;
  std::set<std::string> targets_;
  std::uint64_t garbage_sessions_ = 0;

  std::atomic<std::uint64_t> connections_{0}, requests_{0}, bytes_sent_{0}, cut_by_us_{0}, cut_by_peer_{0},
      announces_{0};
};

}  // namespace detail

// ---------------------------------------------------------------------------------------
// fault_swarm

fault_swarm::fault_swarm(asio::io_context& io, fault_swarm_config config) {
  if (!config.torrent) throw std::invalid_argument("fault swarm: no torrent");
  const std::size_t n = fault_peer_count(config.faults);
  if (n > max_fault_peers)
    throw std::invalid_argument("at most " + std::to_string(max_fault_peers) + " adversarial peers (not counting churn)");
  std::size_t j = 0;
  for (const auto& f : config.faults) {
    if (f.kind == fault_kind::churn) continue;
    for (std::size_t k = 0; k < f.count; ++k, ++j)
      peers_.push_back(std::make_shared<detail::fault_peer>(io, config, f.kind, fault_address(j),
                                                            config.rng_seed * 7919 + j));
  }
}

fault_swarm::~fault_swarm() {
  if (!stopped_) (void)stop(std::chrono::seconds(5));
}

void fault_swarm::start() {
  for (auto& p : peers_) p->start();
}

bool fault_swarm::stop(std::chrono::milliseconds limit) {
  std::vector<std::future<void>> done;
  for (auto& p : peers_) {
    auto promise = std::make_shared<std::promise<void>>();
    done.push_back(promise->get_future());
    p->stop([promise] { promise->set_value(); });
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  bool all = true;
  for (auto& f : done) all = f.wait_until(deadline) == std::future_status::ready && all;
  stopped_ = true;
  return all;
}

bool fault_swarm::announced() const {
  return std::all_of(peers_.begin(), peers_.end(), [](const auto& p) { return p->stats().announces > 0; });
}

std::vector<fault_peer_stats> fault_swarm::stats() const {
  std::vector<fault_peer_stats> out;
  for (const auto& p : peers_) out.push_back(p->stats());
  return out;
}

}  // namespace p2pdist::loopback
