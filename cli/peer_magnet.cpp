#include "cli/peer_magnet.hpp"

#include <iostream>
#include <random>
#include <system_error>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/strand.hpp>

#include "cli/output.hpp"
#include "loopback/net/asio_endpoint.hpp"
#include "loopback/net/metadata_fetch.hpp"
#include "loopback/protocol/magnet.hpp"
#include "loopback/protocol/tracker_codec.hpp"

namespace p2pdist::cli {
namespace {

/// A free TCP port on `ip` (the kernel's choice), or 0 when none can be bound.
std::uint16_t free_port(const bt::ip_address& ip) {
  asio::io_context io;
  asio::ip::tcp::acceptor probe(io);
  std::error_code ec;
  const auto at = bt::make_endpoint(ip, 0);
  probe.open(at.protocol(), ec);
  if (!ec) probe.bind(at, ec);
  return ec ? 0 : probe.local_endpoint(ec).port();
}

}  // namespace

std::optional<bt::metainfo> torrent_from_magnet(const std::string& link, bt::endpoint& listen, bt::duration timeout,
                                                bool verbose) {
  const auto shown = printable_text(link.size() > 80 ? link.substr(0, 77) + "..." : link);
  const auto magnet = bt::parse_magnet(link);
  if (!magnet) {
    std::cerr << "p2pdist: " << shown << ": " << bt::to_string(magnet.error().code) << " at character "
              << magnet.error().offset << '\n';
    return std::nullopt;
  }
  std::vector<bt::tracker_url> trackers;
  std::string announce;
  for (const auto& tr : magnet->trackers) {
    auto url = bt::parse_tracker_url(tr);
    if (!url) {
      if (verbose) std::cerr << "p2pdist: skipping tracker " << printable_text(tr) << ": " << bt::to_string(url.error().code) << '\n';
      continue;
    }
    if (announce.empty()) announce = tr;
    trackers.push_back(std::move(*url));
  }
  if (trackers.empty()) {
    std::cerr << "p2pdist: " << shown
              << ": no tracker p2pdist can reach (tr=http://... or udp://... at an IPv4 or IPv6 address); p2pdist finds peers "
                 "through trackers only (no DHT)\n";
    return std::nullopt;
  }
  if (listen.port == 0) listen.port = free_port(listen.ip);
  if (listen.port == 0) {
    std::cerr << "p2pdist: cannot listen on " << bt::to_string(listen) << '\n';
    return std::nullopt;
  }

  std::cout << "fetching the metadata of " << bt::to_hex(magnet->info_hash)
            << (magnet->display_name.empty() ? "" : " (" + printable_text(magnet->display_name) + ")") << " from peers of "
            << printable_text(announce) << (trackers.size() > 1 ? " and " + std::to_string(trackers.size() - 1) + " more" : "")
            << std::endl;
  bt::metadata_fetch_config config{.info_hash = magnet->info_hash,
                                   .trackers = std::move(trackers),
                                   .local_ip = listen.ip,
                                   .listen_port = listen.port,
                                   .timeout = timeout};
  std::random_device rd;
  config.id = bt::make_peer_id(rd);
  if (verbose) config.log = [](const std::string& line) { std::cerr << "p2pdist: " << line << '\n'; };

  asio::io_context io;
  auto strand = asio::make_strand(io);
  bt::metadata_fetch_result fetched;
  asio::co_spawn(
      strand, [&]() -> asio::awaitable<void> { fetched = co_await bt::fetch_metadata(strand, config); },
      asio::detached);
  io.run();  // bounded: the fetch ends within its timeout
  if (!fetched.error.empty()) {
    std::cerr << "p2pdist: " << shown << ": " << fetched.error << '\n';
    return std::nullopt;
  }
  // A .torrent around the info dictionary: its bytes, as fetched, give the same info-hash.
  const std::string torrent = "d8:announce" + std::to_string(announce.size()) + ":" + announce + "4:info" +
                              fetched.info_bytes + "e";
  auto parsed = bt::parse_metainfo(torrent);
  if (!parsed) {
    std::cerr << "p2pdist: the metadata from " << fetched.from << " hashes to the info-hash but is not a torrent this "
              << "client reads: " << bt::describe(parsed.error()) << '\n';
    return std::nullopt;
  }
  std::cout << "metadata: " << printable_text(parsed->name) << " (" << parsed->total_bytes << " bytes, "
            << parsed->piece_count() << " pieces" << (parsed->multi_file ? ", " + std::to_string(parsed->files.size()) + " files" : "")
            << ") from " << fetched.from << std::endl;
  return std::move(*parsed);
}

}  // namespace p2pdist::cli
