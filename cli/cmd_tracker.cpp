// `p2pdist tracker`: the HTTP tracker (and with --udp the UDP one) until SIGINT or SIGTERM.

#include <chrono>
#include <cmath>
#include <csignal>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <system_error>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "cli/listen.hpp"
#include "loopback/protocol/endpoint.hpp"
#include "loopback/protocol/tracker_codec.hpp"
#include "loopback/net/tracker_server.hpp"
#include "model/units.hpp"

namespace p2pdist::cli {
namespace {

bt::endpoint listen_endpoint(const std::string& text) { return parse_listen_flag(text, "the tracker", "127.0.0.1:6969"); }

/// The --interval flag: whole seconds, since the protocol carries an integer of seconds.
std::chrono::seconds announce_interval(double seconds) {
  const double most = static_cast<double>(bt::max_announce_interval.count());
  if (!(seconds >= 1 && seconds <= most) || std::floor(seconds) != seconds) {
    std::ostringstream got;
    got << seconds;
    throw usage_error("--interval: must be a whole number of seconds from 1s to 1 week (got " + got.str() +
                      "s)");
  }
  return std::chrono::seconds{static_cast<std::chrono::seconds::rep>(seconds)};
}

/// tracker's command line: the options CLI11 fills in directly, and the interval text.
struct tracker_input {
  tracker_options opts;
  std::string interval = "5s";

  /// `opts` with the interval parsed; a usage_error names --interval.
  [[nodiscard]] tracker_options parsed() const {
    tracker_options o = opts;
    o.interval_seconds = parse_flag("--interval", interval, model::parse_duration_seconds);
    return o;
  }
};

}  // namespace

int run_tracker(const tracker_options& opts) {
  const bt::endpoint listen = listen_endpoint(opts.listen);
  const std::chrono::seconds interval = announce_interval(opts.interval_seconds);

  asio::io_context io;
  // Before anything is printed, so that a signal sent as soon as the line appears is caught.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  bt::tracker_server server(io, bt::tracker_config{
                                    .listen = listen,
                                    .loopback_only = false,
                                    .interval = interval,
                                    .rng_seed = std::random_device{}(),
                                    .udp = opts.udp,
                                });
  try {
    server.start();
  } catch (const std::system_error& e) {
    std::cerr << "p2pdist: " << e.what() << '\n';  // "tracker: cannot listen on [UDP ]ADDR:PORT: <reason>"
    return 1;
  }
  const std::string where = bt::to_string(bt::endpoint{.ip = listen.ip, .port = server.port()});
  std::cout << "tracker listening on http://" << where << "/announce" << std::endl;
  if (opts.udp) std::cout << "tracker listening on udp://" << where << "/announce" << std::endl;
  if (listen.ip.is_unspecified())
    std::cerr << "p2pdist: tracker: listening on every address of this host"
              << (listen.ip.is_v4() ? "" : " (IPv4 and IPv6)") << "; the announce URL peers use names one of them\n";

  signals.async_wait([&server](const std::error_code& ec, int) {
    if (!ec) server.stop();
  });
  io.run();
  return 0;
}

command add_tracker_command(CLI::App& parent) {
  auto in = std::make_shared<tracker_input>();
  auto* app = parent.add_subcommand("tracker", "run an HTTP BitTorrent tracker (and with --udp a UDP one) until stopped");
  app->add_option("--listen", in->opts.listen, "ADDR:PORT, any address of this host: IPv4, or IPv6 in brackets (0.0.0.0: all IPv4, [::]: all)")
      ->capture_default_str();
  app->add_option("--interval", in->interval, "announce interval told to clients, e.g. 5s")->capture_default_str();
  app->add_flag("--udp", in->opts.udp, "also serve the UDP tracker protocol (BEP 15) on the same port");
  return {app, [in] { return run_tracker(in->parsed()); }};
}

}  // namespace p2pdist::cli
