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
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "loopback/net/asio_endpoint.hpp"
#include "loopback/net/swarm_table.hpp"
#include "loopback/protocol/tracker_codec.hpp"
#include "loopback/protocol/udp_tracker_codec.hpp"

namespace p2pdist::bt {

duration effective_peer_expiry(const tracker_config& config) {
  if (config.peer_expiry) return *config.peer_expiry;
  return 2 * duration{config.interval} + duration{std::chrono::seconds{5}};
}

namespace detail {
namespace {

using tcp = asio::ip::tcp;
using udp = asio::ip::udp;

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

/// Most peers in one UDP answer: 20 + 6 × 200 = 1220 bytes, within a 1500-byte MTU.
constexpr int max_udp_peers = 200;
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
        udp_(strand_),
        sweep_timer_(strand_),
        retry_timer_(strand_),
        swarms_(config),
        rng_(config.rng_seed) {
    std::random_device entropy;  // the UDP connection ids' secret: never from the (reproducible) rng_seed
    for (auto& b : udp_secret_) b = static_cast<unsigned char>(entropy());
  }

  void start();
  void stop();
  std::uint16_t port() const noexcept { return port_.load(std::memory_order_relaxed); }
  tracker_stats stats() const noexcept;

  // For connections (on the strand).
  const tracker_config& config() const noexcept { return config_; }
  std::string answer(std::string_view head, const ip_address& remote);
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
  std::string announce(std::string_view target, const ip_address& remote);
  std::string scrape(std::string_view target);
  void start_udp(std::uint16_t port);
  void receive_next();
  void on_datagram(std::string_view packet, const udp::endpoint& from);
  std::uint64_t connection_id(const ip_address& ip, std::int64_t minute) const;
  bool valid_connection_id(std::uint64_t id, const ip_address& ip) const;
  void send_udp(std::string packet, std::size_t most, const udp::endpoint& to);

  tracker_config config_;
  asio::strand<asio::io_context::executor_type> strand_;
  tcp::acceptor acceptor_;
  udp::socket udp_;
  std::array<char, 2048> udp_buffer_{};  // one datagram at a time: a request is at most 1496 bytes
  udp::endpoint udp_from_;
  std::array<unsigned char, 32> udp_secret_{};
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
      torrents_{0}, peers_held_{0}, peers_evicted_{0}, udp_packets_{0}, udp_malformed_{0}, udp_bad_ids_{0};

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
    if (ec) {
      close();
      return;
    }
    remote_ = from_asio(remote.address());
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
  ip_address remote_{};
  std::vector<char> buffer_;
  std::size_t filled_ = 0;
  std::string response_;
  bool closed_ = false;
};

void tracker_impl::start() {
  if (started_.exchange(true)) throw std::logic_error("tracker_server::start called twice");
  const tcp::endpoint endpoint = make_endpoint(config_.listen.ip, config_.listen.port);
  const std::string where = "tracker: cannot listen on " + to_string(config_.listen);
  std::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) serve_both_families(acceptor_, config_.listen.ip, ec);
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
  if (config_.udp) start_udp(acceptor_.local_endpoint().port());
  asio::dispatch(strand_, [self = shared_from_this()] {
    if (self->stopped_) return;
    self->accept_next();
    if (self->udp_.is_open()) self->receive_next();
    self->sweep_later();
  });
}

void tracker_impl::stop() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    if (self->stopped_) return;
    self->stopped_ = true;
    std::error_code ignored;
    self->acceptor_.close(ignored);
    self->udp_.close(ignored);
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
      .udp_packets = udp_packets_.load(relaxed),
      .udp_malformed = udp_malformed_.load(relaxed),
      .udp_bad_connection_ids = udp_bad_ids_.load(relaxed),
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

std::string tracker_impl::answer(std::string_view head, const ip_address& remote) {
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

std::string tracker_impl::announce(std::string_view target, const ip_address& remote) {
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

// ---------------------------------------------------------------------------------------
// UDP (BEP 15)

void tracker_impl::start_udp(std::uint16_t port) {
  const udp::endpoint endpoint = make_endpoint<udp>(config_.listen.ip, port);
  std::error_code ec;
  udp_.open(endpoint.protocol(), ec);
  if (!ec) serve_both_families(udp_, config_.listen.ip, ec);
  if (!ec) udp_.bind(endpoint, ec);
  // Answers are sent without waiting: when the socket's buffer is full one is dropped, as
  // the network may drop it, and the client asks again.
  if (!ec) udp_.non_blocking(true, ec);
  if (ec) {
    std::error_code ignored;
    udp_.close(ignored);
    acceptor_.close(ignored);
    if (ec.category() == asio::error::get_system_category()) ec = std::error_code(ec.value(), std::system_category());
    throw std::system_error(ec, "tracker: cannot listen on UDP " + to_string(bt::endpoint{config_.listen.ip, port}));
  }
}

void tracker_impl::receive_next() {
  udp_.async_receive_from(asio::buffer(udp_buffer_), udp_from_,
                          [self = shared_from_this()](const std::error_code& ec, std::size_t n) {
                            if (self->stopped_ || ec == asio::error::operation_aborted) return;
                            // Other errors (an earlier answer's ICMP unreachable) concern no request.
                            if (!ec) self->on_datagram(std::string_view(self->udp_buffer_.data(), n), self->udp_from_);
                            self->receive_next();
                          });
}

// The connection id for an address in a minute: the first 8 bytes of HMAC-SHA-256 under
// the server's secret. Only who receives our answers at that address can know it. (Not the
// port: a client may announce from a new socket each time, as ours does.)
std::uint64_t tracker_impl::connection_id(const ip_address& ip, std::int64_t minute) const {
  std::array<unsigned char, 24> message{};
  std::copy(ip.bytes().begin(), ip.bytes().end(), message.begin());
  for (int i = 0; i < 8; ++i) message[16 + i] = static_cast<unsigned char>(static_cast<std::uint64_t>(minute) >> (56 - 8 * i));
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), udp_secret_.data(), static_cast<int>(udp_secret_.size()), message.data(), message.size(),
       mac.data(), &mac_len);
  std::uint64_t id = 0;
  for (int i = 0; i < 8; ++i) id = (id << 8) | mac[static_cast<std::size_t>(i)];
  return id;
}

// BEP 15: an id is good for two minutes; ids of this minute and the one before are taken.
bool tracker_impl::valid_connection_id(std::uint64_t id, const ip_address& ip) const {
  const auto minute = std::chrono::duration_cast<std::chrono::minutes>(now().time_since_epoch()).count();
  return id == connection_id(ip, minute) || id == connection_id(ip, minute - 1);
}

// Sends `packet` cut to `most` bytes (an answer to a source not proven yet is never longer
// than what it sent).
void tracker_impl::send_udp(std::string packet, std::size_t most, const udp::endpoint& to) {
  if (packet.size() > most) packet.resize(most);
  std::error_code ignored;  // would_block: dropped, as a lossy path would
  udp_.send_to(asio::buffer(packet), to, 0, ignored);
}

void tracker_impl::on_datagram(std::string_view packet, const udp::endpoint& from) {
  udp_packets_.fetch_add(1, std::memory_order_relaxed);
  received(packet.size());
  const ip_address ip = from_asio(from.address());
  const auto parsed = parse_udp_request(packet);
  if (!parsed) {
    udp_malformed_.fetch_add(1, std::memory_order_relaxed);
    // With a transaction id to answer: say why, within the packet's own size.
    if (const auto tid = udp_request_transaction(packet))
      send_udp(encode_udp_response(udp_error_response{*tid, "bad request: " + std::string(to_string(parsed.error().code))}),
               packet.size(), from);
    return;
  }
  if (const auto* c = std::get_if<udp_connect_request>(&*parsed)) {
    const auto minute = std::chrono::duration_cast<std::chrono::minutes>(now().time_since_epoch()).count();
    send_udp(encode_udp_response(udp_connect_response{c->transaction_id, connection_id(ip, minute)}),
             packet.size(), from);
    return;
  }
  const auto [cid, tid] = std::visit(
      [](const auto& r) -> std::pair<std::uint64_t, std::uint32_t> {
        if constexpr (std::is_same_v<std::decay_t<decltype(r)>, udp_connect_request>) return {0, r.transaction_id};
        else return {r.connection_id, r.transaction_id};
      },
      *parsed);
  if (!valid_connection_id(cid, ip)) {
    udp_bad_ids_.fetch_add(1, std::memory_order_relaxed);
    send_udp(encode_udp_response(udp_error_response{tid, "connection id unknown or expired; connect again"}),
             packet.size(), from);
    return;
  }
  if (const auto* a = std::get_if<udp_announce_request>(&*parsed)) {
    announce_request request = a->request;
    if (request.numwant) request.numwant = std::min(*request.numwant, max_udp_peers);
    // The peer's address is the datagram's source, never the `ip` field it claims.
    announce_response response = swarms_.announce(request, ip, now(), rng_, /*own_family_only=*/true);
    publish_sizes();
    if (response.failure_reason) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      send_udp(encode_udp_response(udp_error_response{tid, *response.failure_reason}), packet.size(), from);
      return;
    }
    announces_.fetch_add(1, std::memory_order_relaxed);
    send_udp(encode_udp_response(udp_announce_response{tid, std::move(response), !ip.is_v4()}), 65'507, from);
    return;
  }
  const auto& sc = std::get<udp_scrape_request>(*parsed);
  swarms_.expire(now());
  publish_sizes();
  const auto entries = swarms_.scrape(scrape_request{.info_hashes = sc.info_hashes});
  udp_scrape_response answer{.transaction_id = tid};
  for (const auto& hash : sc.info_hashes) {  // one entry per hash asked, in order (repeats too)
    const auto it = std::find_if(entries.begin(), entries.end(), [&](const scrape_entry& e) { return e.info_hash == hash; });
    answer.entries.push_back({.seeders = static_cast<std::int32_t>(std::min<std::int64_t>(it->complete, INT32_MAX)),
                              .completed = static_cast<std::int32_t>(std::min<std::int64_t>(it->downloaded, INT32_MAX)),
                              .leechers = static_cast<std::int32_t>(std::min<std::int64_t>(it->incomplete, INT32_MAX))});
  }
  scrapes_.fetch_add(1, std::memory_order_relaxed);
  send_udp(encode_udp_response(answer), 65'507, from);
}

}  // namespace detail

tracker_server::tracker_server(asio::io_context& io, const tracker_config& config) {
  if (config.loopback_only && !is_loopback(config.listen.ip)) {
    throw std::invalid_argument("tracker: listen address " + to_string(config.listen) +
                                " is not a loopback address (127.0.0.0/8, ::1); only loopback is served");
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
