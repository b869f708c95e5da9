#include "loopback/net/tracker_server.hpp"

#include <algorithm>
#include <atomic>
#include <list>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/buffer.hpp>
#include <asio/dispatch.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>

#include "loopback/net/swarm_table.hpp"
#include "loopback/protocol/tracker_codec.hpp"

namespace p2pdist::bt {

duration effective_peer_expiry(const tracker_config& config) {
  if (config.peer_expiry) return *config.peer_expiry;
  return 2 * duration{config.interval} + duration{std::chrono::seconds{5}};
}

namespace detail {
namespace {

using tcp = asio::ip::tcp;

time_point now() { return std::chrono::time_point_cast<duration>(std::chrono::steady_clock::now()); }

/// A whole HTTP/1.1 response that closes the connection.
std::string http_response(int status, std::string_view reason, std::string_view body,
                          std::string_view extra_headers = {}) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + ' ';
  out += reason;
  out += "\r\nContent-Type: text/plain\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += "\r\nConnection: close\r\n";
  out += extra_headers;
  out += "\r\n";
  out += body;
  return out;
}

std::string bencoded_ok(std::string body) { return http_response(200, "OK", body); }

std::string describe(const tracker_error& e) {
  return std::string(to_string(e.code)) + " (at byte " + std::to_string(e.offset) + " of the request target)";
}

constexpr std::string_view request_end = "\r\n\r\n";
constexpr std::string_view expected_method = "GET ";

}  // namespace

class connection;

/// The server's state; shared by the handlers queued in the io_context so that it
/// outlives the tracker_server handle when they do. Every member function other than
/// start(), port() and stats() runs on strand_.
class tracker_impl : public std::enable_shared_from_this<tracker_impl> {
 public:
  tracker_impl(asio::io_context& io, const tracker_config& config)
      : config_(config),
        strand_(asio::make_strand(io)),
        acceptor_(strand_),
        sweep_timer_(strand_),
        retry_timer_(strand_),
        swarms_(config),
        rng_(config.rng_seed) {}

  void start();
  void stop();
  std::uint16_t port() const noexcept { return port_.load(std::memory_order_relaxed); }
  tracker_stats stats() const noexcept;

  // For connections (on the strand).
  const tracker_config& config() const noexcept { return config_; }
  std::string answer(std::string_view head, const ipv4_bytes& remote);
  std::string refuse(int status, std::string_view reason, std::string_view body) {
    http_errors_.fetch_add(1, std::memory_order_relaxed);
    return http_response(status, reason, body);
  }
  void received(std::size_t bytes) { bytes_received_.fetch_add(bytes, std::memory_order_relaxed); }
  void timed_out() { timeouts_.fetch_add(1, std::memory_order_relaxed); }
  void forget(std::list<connection*>::iterator where) {
    connections_.erase(where);
    connections_open_.store(connections_.size(), std::memory_order_relaxed);
  }

 private:
  void accept_next();
  void on_accept(const std::error_code& ec, tcp::socket socket);
  void sweep_later();
  void publish_sizes() {
    torrents_.store(swarms_.torrents(), std::memory_order_relaxed);
    peers_held_.store(swarms_.peers(), std::memory_order_relaxed);
    peers_evicted_.store(swarms_.evicted(), std::memory_order_relaxed);
  }
  std::string announce(std::string_view target, const ipv4_bytes& remote);
  std::string scrape(std::string_view target);

  tracker_config config_;
  asio::strand<asio::io_context::executor_type> strand_;
  tcp::acceptor acceptor_;
  asio::steady_timer sweep_timer_;
  asio::steady_timer retry_timer_;
  std::list<connection*> connections_;  // oldest first; each removes itself when it closes
  swarm_table swarms_;
  std::mt19937_64 rng_;
  bool stopped_ = false;
  std::atomic<bool> started_{false};
  std::atomic<std::uint16_t> port_{0};
  std::atomic<std::uint64_t> announces_{0}, scrapes_{0}, failures_{0}, http_errors_{0},
      accepted_{0}, connections_open_{0}, dropped_{0}, timeouts_{0}, bytes_received_{0},
      torrents_{0}, peers_held_{0}, peers_evicted_{0};

};

/// One accepted connection: reads one request (bounded in size and time), answers, closes.
/// Kept alive by its pending handlers; every member runs on the server's strand.
class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(std::shared_ptr<tracker_impl> owner, tcp::socket socket)
      : owner_(std::move(owner)), socket_(std::move(socket)), deadline_(socket_.get_executor()) {}
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection() {
    if (!closed_) owner_->forget(where_);
  }

  /// Starts the deadline and the first read; `where` is this connection's place in the
  /// owner's list.
  void start(std::list<connection*>::iterator where) {
    where_ = where;
    std::error_code ec;
    const auto remote = socket_.remote_endpoint(ec);
    if (ec || !remote.address().is_v4()) {
      close();
      return;
    }
    remote_ = remote.address().to_v4().to_bytes();
    deadline_.expires_after(owner_->config().idle_timeout);
    deadline_.async_wait([self = shared_from_this()](const std::error_code& error) {
      if (error || self->closed_) return;
      self->owner_->timed_out();
      self->close();
    });
    buffer_.resize(std::min<std::size_t>(owner_->config().max_request_bytes, 1024));
    read_more();
  }

  /// Closes the socket and leaves the owner's list; idempotent.
  void close() {
    if (closed_) return;
    closed_ = true;
    owner_->forget(where_);  // first: the stats agree with what the peer sees next
    std::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    deadline_.cancel();
  }

 private:
  void read_more() {
    const std::size_t limit = owner_->config().max_request_bytes;
    if (filled_ == buffer_.size()) buffer_.resize(std::min(limit, buffer_.size() * 2));
    socket_.async_read_some(
        asio::buffer(buffer_.data() + filled_, buffer_.size() - filled_),
        [self = shared_from_this()](const std::error_code& ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(const std::error_code& ec, std::size_t n) {
    if (closed_) return;
    if (ec) {  // end of stream or reset before a whole request: nobody to answer
      close();
      return;
    }
    owner_->received(n);
    const std::size_t before = filled_;
    filled_ += n;
    const std::string_view head(buffer_.data(), filled_);
    // Refuse at once what cannot become a GET (a BitTorrent handshake, TLS, binary junk).
    const std::size_t prefix = std::min(filled_, expected_method.size());
    if (head.substr(0, prefix) != expected_method.substr(0, prefix)) {
      respond(owner_->refuse(400, "Bad Request", "bad request: this tracker serves GET only\n"));
      return;
    }
    const std::size_t from = before >= request_end.size() - 1 ? before - (request_end.size() - 1) : 0;
    const std::size_t end = head.find(request_end, from);
    if (end != std::string_view::npos) {
      respond(owner_->answer(head.substr(0, end + 2), remote_));
      return;
    }
    if (filled_ == owner_->config().max_request_bytes) {
      if (head.find("\r\n") == std::string_view::npos) {
        respond(owner_->refuse(414, "URI Too Long", "request line too long\n"));
      } else {
        respond(owner_->refuse(431, "Request Header Fields Too Large", "request headers too large\n"));
      }
      return;
    }
    read_more();
  }

  void respond(std::string response) {
    response_ = std::move(response);
    buffer_ = {};  // the request is done with; hold only the answer
    asio::async_write(socket_, asio::buffer(response_),
                      [self = shared_from_this()](const std::error_code&, std::size_t) { self->close(); });
  }

  std::shared_ptr<tracker_impl> owner_;
  tcp::socket socket_;
  asio::steady_timer deadline_;
  std::list<connection*>::iterator where_{};
  ipv4_bytes remote_{};
  std::vector<char> buffer_;
  std::size_t filled_ = 0;
  std::string response_;
  bool closed_ = false;
};

void tracker_impl::start() {
  if (started_.exchange(true)) throw std::logic_error("tracker_server::start called twice");
  const tcp::endpoint endpoint(asio::ip::address_v4(config_.listen.ip), config_.listen.port);
  const std::string where = "tracker: cannot listen on " + to_string(config_.listen);
  std::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::error_code ignored;
    acceptor_.close(ignored);
    // Asio's system category does not map to std::errc; the standard one does.
    if (ec.category() == asio::error::get_system_category()) {
      ec = std::error_code(ec.value(), std::system_category());
    }
    throw std::system_error(ec, where);
  }
  port_.store(acceptor_.local_endpoint().port(), std::memory_order_relaxed);
  asio::dispatch(strand_, [self = shared_from_this()] {
    if (self->stopped_) return;
    self->accept_next();
    self->sweep_later();
  });
}

void tracker_impl::stop() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    if (self->stopped_) return;
    self->stopped_ = true;
    std::error_code ignored;
    self->acceptor_.close(ignored);
    self->sweep_timer_.cancel();
    self->retry_timer_.cancel();
    while (!self->connections_.empty()) self->connections_.front()->close();
  });
}

tracker_stats tracker_impl::stats() const noexcept {
  constexpr auto relaxed = std::memory_order_relaxed;
  return tracker_stats{
      .announces = announces_.load(relaxed),
      .scrapes = scrapes_.load(relaxed),
      .failures = failures_.load(relaxed),
      .http_errors = http_errors_.load(relaxed),
      .connections_accepted = accepted_.load(relaxed),
      .connections_open = connections_open_.load(relaxed),
      .connections_dropped = dropped_.load(relaxed),
      .timeouts = timeouts_.load(relaxed),
      .bytes_received = bytes_received_.load(relaxed),
      .torrents = torrents_.load(relaxed),
      .peers_held = peers_held_.load(relaxed),
      .peers_evicted = peers_evicted_.load(relaxed),
  };
}

void tracker_impl::accept_next() {
  acceptor_.async_accept(strand_, [self = shared_from_this()](const std::error_code& ec, tcp::socket socket) {
    self->on_accept(ec, std::move(socket));
  });
}

void tracker_impl::on_accept(const std::error_code& ec, tcp::socket socket) {
  if (stopped_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    if (ec == asio::error::connection_aborted) {
      accept_next();
      return;
    }
    if (ec == asio::error::no_descriptors && !connections_.empty()) {
      // Out of file descriptors (ulimit -n below max_connections): make room as at
      // max_connections, so that a flood cannot shut out the next honest request.
      dropped_.fetch_add(1, std::memory_order_relaxed);
      connections_.front()->close();
      accept_next();
      return;
    }
    // Out of buffers, or nothing to close: pause instead of spinning, then try again.
    retry_timer_.expires_after(std::chrono::milliseconds{50});
    retry_timer_.async_wait([self = shared_from_this()](const std::error_code& error) {
      if (!error && !self->stopped_) self->accept_next();
    });
    return;
  }
  accepted_.fetch_add(1, std::memory_order_relaxed);
  if (connections_.size() >= config_.max_connections) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    connections_.front()->close();  // the oldest: a silent or slow one, under a flood
  }
  auto conn = std::make_shared<connection>(shared_from_this(), std::move(socket));
  connections_.push_back(conn.get());
  connections_open_.store(connections_.size(), std::memory_order_relaxed);
  conn->start(std::prev(connections_.end()));
  accept_next();
}

void tracker_impl::sweep_later() {
  const duration period = std::clamp<duration>(effective_peer_expiry(config_) / 2,
                                               std::chrono::milliseconds{10}, std::chrono::seconds{30});
  sweep_timer_.expires_after(period);
  sweep_timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
    if (ec || self->stopped_) return;
    self->swarms_.expire(now());
    self->publish_sizes();
    self->sweep_later();
  });
}

std::string tracker_impl::answer(std::string_view head, const ipv4_bytes& remote) {
  const std::string_view line = head.substr(0, head.find("\r\n"));
  const auto parsed = parse_request_line(line, config_.max_request_bytes);
  if (!parsed) {
    if (parsed.error().code == tracker_errc::bad_method) {
      http_errors_.fetch_add(1, std::memory_order_relaxed);
      return http_response(405, "Method Not Allowed", "this tracker serves GET only\n", "Allow: GET\r\n");
    }
    return refuse(400, "Bad Request", "bad request: " + std::string(to_string(parsed.error().code)) + "\n");
  }
  const std::string_view path = target_path(parsed->target);
  if (path == "/announce") return announce(parsed->target, remote);
  if (path == "/scrape") return scrape(parsed->target);
  return refuse(404, "Not Found", "not found: this tracker serves /announce and /scrape\n");
}

std::string tracker_impl::announce(std::string_view target, const ipv4_bytes& remote) {
  const auto request = parse_announce_target(target);
  if (!request) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    return bencoded_ok(encode_failure(describe(request.error())));
  }
  // The peer's address is the connection's, never the `ip` it claims: on loopback the
  // source address is exact, and trusting `ip` would let one process plant any address.
  const announce_response response = swarms_.announce(*request, remote, now(), rng_);
  publish_sizes();
  if (response.failure_reason) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    return bencoded_ok(encode_failure(*response.failure_reason));
  }
  announces_.fetch_add(1, std::memory_order_relaxed);
  return bencoded_ok(
      encode_announce_response(response, request->compact ? peer_form::compact : peer_form::dictionaries));
}

std::string tracker_impl::scrape(std::string_view target) {
  const auto request = parse_scrape_target(target);
  if (!request) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    return bencoded_ok(encode_failure(describe(request.error())));
  }
  swarms_.expire(now());
  publish_sizes();
  scrapes_.fetch_add(1, std::memory_order_relaxed);
  return bencoded_ok(encode_scrape_response(swarms_.scrape(*request)));
}

}  // namespace detail

tracker_server::tracker_server(asio::io_context& io, const tracker_config& config) {
  if (config.loopback_only && !is_loopback(config.listen.ip)) {
    throw std::invalid_argument("tracker: listen address " + to_string(config.listen) +
                                " is outside 127.0.0.0/8; only loopback is served");
  }
  if (config.interval < std::chrono::seconds{1} || config.interval > max_announce_interval) {
    throw std::invalid_argument("tracker: interval must be 1 s .. 1 week");
  }
  if (effective_peer_expiry(config) <= duration::zero() || config.idle_timeout <= duration::zero()) {
    throw std::invalid_argument("tracker: peer_expiry and idle_timeout must be above zero");
  }
  if (config.max_request_bytes < 16 || config.max_connections == 0 || config.max_torrents == 0 ||
      config.max_peers_per_torrent == 0 || config.max_peers_per_address == 0 || config.max_peers_per_range == 0 ||
      config.max_peers == 0) {
    throw std::invalid_argument(
        "tracker: max_request_bytes must be at least 16 and the other limits above zero");
  }
  impl_ = std::make_shared<detail::tracker_impl>(io, config);
}

tracker_server::~tracker_server() { impl_->stop(); }

void tracker_server::start() { impl_->start(); }

std::uint16_t tracker_server::port() const noexcept { return impl_->port(); }

void tracker_server::stop() { impl_->stop(); }

tracker_stats tracker_server::stats() const noexcept { return impl_->stats(); }

}  // namespace p2pdist::bt
