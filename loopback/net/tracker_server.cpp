#include "loopback/net/tracker_server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <list>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <asio/buffer.hpp>
#include <asio/dispatch.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>

#include "loopback/protocol/tracker_codec.hpp"

namespace p2pdist::bt {

duration effective_peer_expiry(const tracker_config& config) {
  if (config.peer_expiry) return *config.peer_expiry;
  return 2 * duration{config.interval} + duration{std::chrono::seconds{5}};
}

namespace detail {
namespace {

using tcp = asio::ip::tcp;
using ipv4_bytes = std::array<std::uint8_t, 4>;

time_point now() { return std::chrono::time_point_cast<duration>(std::chrono::steady_clock::now()); }

/// A peer's (address, port) packed into one integer: address in bits 16..47, port below.
std::uint64_t peer_key(const ipv4_bytes& ip, std::uint16_t port) {
  std::uint64_t key = 0;
  for (std::uint8_t b : ip) key = (key << 8) | b;
  return (key << 16) | port;
}

peer_endpoint unpack_key(std::uint64_t key) {
  peer_endpoint out;
  out.port = static_cast<std::uint16_t>(key & 0xffff);
  for (std::size_t i = 0; i < 4; ++i) {
    out.ip[3 - i] = static_cast<std::uint8_t>((key >> (16 + 8 * i)) & 0xff);
  }
  return out;
}

/// The address part of a peer_key.
std::uint32_t address_of(std::uint64_t key) { return static_cast<std::uint32_t>(key >> 16); }

/// One peer of a swarm.
struct peer_record {
  std::uint64_t key = 0;  ///< peer_key(address, port)
  peer_id id{};
  std::uint64_t left_bytes = 0;
  time_point last_seen{};
  std::uint64_t touched = 0;      ///< the table's announce counter at its last announce
  bool counted_download = false;  ///< its `completed` was counted in torrent::downloaded
};

/// One swarm: its peers in a vector (for random picks) indexed by key.
struct torrent {
  std::vector<peer_record> peers;
  std::unordered_map<std::uint64_t, std::size_t> index;
  std::int64_t downloaded = 0;  ///< `completed` events seen

  void remove_at(std::size_t i) {
    index.erase(peers[i].key);
    if (i + 1 != peers.size()) {
      peers[i] = std::move(peers.back());
      index[peers[i].key] = i;
    }
    peers.pop_back();
  }

  std::int64_t seeds() const {
    return static_cast<std::int64_t>(
        std::count_if(peers.begin(), peers.end(), [](const peer_record& p) { return p.left_bytes == 0; }));
  }
};

/// Where one peer is held: its torrent and its key there.
struct peer_place {
  sha1_digest info_hash{};
  std::uint64_t key = 0;
};

/// The swarms: pure state, driven with `now` and a generator by the server.
class swarm_table {
 public:
  explicit swarm_table(const tracker_config& config)
      : config_(config), expiry_(effective_peer_expiry(config)) {}

  /// Records an announce from the peer at (ip, request.port) and builds its answer.
  announce_response announce(const announce_request& request, const ipv4_bytes& ip,
                             time_point at, std::mt19937_64& rng) {
    announce_response out;
    out.interval = config_.interval;
    auto it = torrents_.find(request.info_hash);
    if (it == torrents_.end()) {
      if (request.event == announce_event::stopped) {
        out.complete = 0;
        out.incomplete = 0;
        return out;
      }
      if (torrents_.size() >= config_.max_torrents) return failure("tracker full: too many torrents");
      it = torrents_.emplace(request.info_hash, torrent{}).first;
    }
    torrent& t = it->second;
    purge(t, at - expiry_);

    const std::uint64_t key = peer_key(ip, request.port);
    const auto found = t.index.find(key);
    if (request.event == announce_event::stopped) {
      if (found != t.index.end()) remove(t, found->second);
    } else {
      std::size_t i = 0;
      if (found != t.index.end()) {
        i = found->second;
        by_address_[address_of(key)].erase(t.peers[i].touched);
      } else {
        if (t.peers.size() >= config_.max_peers_per_torrent) {
          if (t.peers.empty()) torrents_.erase(it);
          return failure("torrent full: too many peers");
        }
        // At its cap, the address trades its least recently announced peer for this one
        // (never emptying `t` away: it is about to hold the new peer).
        const auto held = by_address_.find(address_of(key));
        if (held != by_address_.end() && held->second.size() >= config_.max_peers_per_address) {
          evict_oldest(held->second, &t);
        }
        i = t.peers.size();
        t.peers.push_back(peer_record{.key = key});
        t.index.emplace(key, i);
        ++peers_;
      }
      peer_record& p = t.peers[i];
      p.id = request.id;
      p.left_bytes = request.left_bytes;
      p.last_seen = at;
      p.touched = ++announces_;
      by_address_[address_of(key)].emplace(p.touched, peer_place{.info_hash = request.info_hash, .key = key});
      if (request.event == announce_event::completed && !p.counted_download) {
        p.counted_download = true;
        ++t.downloaded;
      }
      const std::size_t wanted = std::min<std::size_t>(
          request.numwant ? static_cast<std::size_t>(std::max(*request.numwant, 0)) : 50,
          config_.max_peers_returned);
      pick_peers(t, i, wanted, rng, out.peers);
    }
    out.complete = t.seeds();
    out.incomplete = static_cast<std::int64_t>(t.peers.size()) - *out.complete;
    if (t.peers.empty()) torrents_.erase(it);
    return out;
  }

  /// The counts of each torrent asked for (zeros for an unknown one), or of every torrent.
  std::vector<scrape_entry> scrape(const scrape_request& request) const {
    std::vector<scrape_entry> out;
    auto entry = [](const sha1_digest& hash, const torrent* t) {
      scrape_entry e{.info_hash = hash};
      if (t != nullptr) {
        e.complete = t->seeds();
        e.incomplete = static_cast<std::int64_t>(t->peers.size()) - e.complete;
        e.downloaded = t->downloaded;
      }
      return e;
    };
    if (request.info_hashes.empty()) {
      for (const auto& [hash, t] : torrents_) out.push_back(entry(hash, &t));
      return out;
    }
    for (const sha1_digest& hash : request.info_hashes) {
      const bool repeated = std::any_of(out.begin(), out.end(),
                                        [&](const scrape_entry& e) { return e.info_hash == hash; });
      if (repeated) continue;
      const auto it = torrents_.find(hash);
      out.push_back(entry(hash, it == torrents_.end() ? nullptr : &it->second));
    }
    return out;
  }

  /// Drops every peer not seen since `at - peer_expiry`, and the swarms left empty.
  void expire(time_point at) {
    for (auto it = torrents_.begin(); it != torrents_.end();) {
      purge(it->second, at - expiry_);
      it = it->second.peers.empty() ? torrents_.erase(it) : std::next(it);
    }
  }

  std::size_t torrents() const noexcept { return torrents_.size(); }
  std::size_t peers() const noexcept { return peers_; }
  std::uint64_t evicted() const noexcept { return evicted_; }

 private:
  static announce_response failure(std::string reason) {
    announce_response out;
    out.failure_reason = std::move(reason);
    return out;
  }

  /// Removes the peer at `i` of `t` from the torrent and from its address's book.
  void remove(torrent& t, std::size_t i) {
    const std::uint32_t address = address_of(t.peers[i].key);
    const auto book = by_address_.find(address);
    if (book != by_address_.end()) {
      book->second.erase(t.peers[i].touched);
      if (book->second.empty()) by_address_.erase(book);
    }
    t.remove_at(i);
    --peers_;
  }

  /// Drops the peers of `t` last seen before `cutoff`.
  void purge(torrent& t, time_point cutoff) {
    for (std::size_t i = 0; i < t.peers.size();) {
      if (t.peers[i].last_seen < cutoff) {
        remove(t, i);
      } else {
        ++i;
      }
    }
  }

  /// Removes the least recently announced peer of an address's book (not empty), and its
  /// torrent when that is left empty, unless it is `keep`.
  void evict_oldest(std::map<std::uint64_t, peer_place>& book, const torrent* keep) {
    const peer_place place = book.begin()->second;
    const auto it = torrents_.find(place.info_hash);
    if (it == torrents_.end()) {  // cannot happen: every book entry is a held peer
      book.erase(book.begin());
      return;
    }
    const auto at = it->second.index.find(place.key);
    if (at == it->second.index.end()) {  // cannot happen, as above
      book.erase(book.begin());
      return;
    }
    remove(it->second, at->second);  // may erase `book` (when it held one peer): not used after
    ++evicted_;
    if (it->second.peers.empty() && &it->second != keep) torrents_.erase(it);
  }

  /// Up to `wanted` peers of `t` other than the one at `self`, spread over addresses: in
  /// rounds, each address still holding candidates gives one peer chosen at random, the
  /// addresses taken in a random order. When every peer has its own address this is a
  /// uniform random choice; when one address holds most peers (a flood of fake ports),
  /// the others still get their share of the answer.
  static void pick_peers(const torrent& t, std::size_t self, std::size_t wanted, std::mt19937_64& rng,
                         std::vector<peer_endpoint>& out) {
    if (wanted == 0) return;
    // Candidates sorted by address; each address's run of them is a group.
    std::vector<std::pair<std::uint32_t, std::size_t>> candidates;
    candidates.reserve(t.peers.size());
    for (std::size_t i = 0; i < t.peers.size(); ++i) {
      if (i != self) candidates.emplace_back(address_of(t.peers[i].key), i);
    }
    std::sort(candidates.begin(), candidates.end());
    struct group {
      std::size_t begin = 0, end = 0;  ///< candidates not taken yet: [begin, end)
    };
    std::vector<group> groups;
    for (std::size_t k = 0; k < candidates.size(); ++k) {
      if (k == 0 || candidates[k].first != candidates[k - 1].first) groups.push_back({.begin = k, .end = k});
      ++groups.back().end;
    }
    while (out.size() < wanted && !groups.empty()) {
      std::shuffle(groups.begin(), groups.end(), rng);
      for (std::size_t g = 0; g < groups.size() && out.size() < wanted; ++g) {
        group& range = groups[g];
        std::uniform_int_distribution<std::size_t> pick(range.begin, range.end - 1);
        std::swap(candidates[pick(rng)], candidates[range.end - 1]);
        const peer_record& p = t.peers[candidates[--range.end].second];
        peer_endpoint e = unpack_key(p.key);
        e.id = p.id;
        out.push_back(e);
      }
      std::erase_if(groups, [](const group& range) { return range.begin == range.end; });
    }
  }

  tracker_config config_;
  duration expiry_;
  std::map<sha1_digest, torrent> torrents_;  // ordered: no hash flooding by chosen info-hashes
  /// Per address, its peers by `touched` (oldest first). Ordered maps, as above.
  std::map<std::uint32_t, std::map<std::uint64_t, peer_place>> by_address_;
  std::size_t peers_ = 0;
  std::uint64_t announces_ = 0;
  std::uint64_t evicted_ = 0;
};

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
  if (!is_loopback(config.listen.ip)) {
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
      config.max_peers_per_torrent == 0 || config.max_peers_per_address == 0) {
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
