// `p2pdist scrape`: asks a torrent's tracker (http:// per BEP 48, udp:// per BEP 15) how
// many seeds and leechers it lists and how many downloads it has counted.

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "cli/output.hpp"
#include "cli/peer_run.hpp"
#include "loopback/net/tracker_client.hpp"
#include "loopback/protocol/tracker_codec.hpp"
#include "model/units.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace p2pdist::cli {
namespace {

struct scrape_input {
  scrape_options opts;
  std::string timeout = "5s";
  [[nodiscard]] scrape_options parsed() const {
    scrape_options o = opts;
    o.timeout_seconds = parse_flag("--timeout", timeout, model::parse_duration_seconds);
    if (!(o.timeout_seconds > 0 && o.timeout_seconds <= 3600))
      throw usage_error("--timeout: must be above 0 s and at most 1 h");
    return o;
  }
};

}  // namespace

int run_scrape(const scrape_options& opts) {
  const auto torrent = load_torrent(opts.torrent_path);
  if (!torrent) return 1;
  const std::string url_text = opts.tracker.empty() ? torrent->announce : opts.tracker;
  if (url_text.empty()) throw usage_error("the torrent names no tracker; give one with --tracker");
  const auto url = bt::parse_tracker_url(url_text);
  if (!url)
    throw usage_error((opts.tracker.empty() ? "the torrent's tracker " : "--tracker ") + url_text + ": " +
                      std::string(bt::to_string(url.error().code)));
  const auto from = bt::parse_ip(opts.from);
  if (!from) throw usage_error("--from: not an IPv4 or IPv6 address: " + opts.from);

  const auto timeout = std::chrono::duration_cast<bt::duration>(std::chrono::duration<double>(opts.timeout_seconds));
  asio::io_context io;
  auto strand = asio::make_strand(io);
  bt::udp_tracker_state udp_state;
  bt::scrape_outcome outcome;
  std::vector<bt::sha1_digest> hashes{torrent->info_hash};
  asio::co_spawn(
      strand,
      [&]() -> asio::awaitable<void> {
        if (url->scheme == bt::tracker_scheme::udp)
          outcome = co_await bt::udp_scrape(strand, std::make_shared<asio::ip::udp::socket>(strand), *from, *url, hashes,
                                            timeout, std::chrono::seconds(15), udp_state);
        else
          outcome = co_await bt::http_scrape(strand, std::make_shared<asio::ip::tcp::socket>(strand), *from, *url,
                                             hashes, timeout);
      },
      asio::detached);
  io.run();  // bounded: each scrape ends within its timeout
  if (outcome.entries.empty()) {
    std::cerr << "p2pdist: scrape " << url_text << ": " << (outcome.error.empty() ? "no answer" : outcome.error)
              << '\n';
    return 1;
  }
  const auto& e = outcome.entries.front();
  if (opts.json_path != "-")
    std::cout << "tracker " << url_text << ": " << e.complete << " seeds, " << e.incomplete << " leechers, "
              << e.downloaded << " downloads completed (info-hash " << bt::to_hex(e.info_hash) << ")" << std::endl;
  if (!opts.json_path.empty())
    write_json(opts.json_path, nlohmann::json{{"tracker", url_text},
                                              {"info_hash", bt::to_hex(e.info_hash)},
                                              {"complete", e.complete},
                                              {"incomplete", e.incomplete},
                                              {"downloaded", e.downloaded}});
  return 0;
}

command add_scrape_command(CLI::App& parent) {
  auto in = std::make_shared<scrape_input>();
  auto* app = parent.add_subcommand("scrape", "ask a .torrent's tracker (http:// or udp://) for its seeds, leechers and downloads");
  app->add_option("torrent", in->opts.torrent_path, "the .torrent file")->required();
  app->add_option("--tracker", in->opts.tracker, "tracker URL instead of the torrent's announce URL");
  app->add_option("--from", in->opts.from, "local address to ask from, IPv4 or IPv6 (0.0.0.0: the system's choice)")
      ->capture_default_str();
  app->add_option("--timeout", in->timeout, "give up after this long, e.g. 5s")->capture_default_str();
  add_json_option(*app, in->opts.json_path);
  return {app, [in] { return run_scrape(in->parsed()); }};
}

}  // namespace p2pdist::cli
