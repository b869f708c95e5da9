// `p2pdist serve`: the calculator in a browser. One page (cli/web/, built in) and a small
// JSON API whose answers are the CLI's own --json documents: each call runs this
// executable with the page's values as the command's options (cli/serve_process.hpp), so
// the numbers, the validation and the error messages are the CLI's, word for word.

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "cli/listen.hpp"
#include "cli/serve_assets.hpp"
#include "cli/serve_front.hpp"
#include "cli/serve_process.hpp"
#include "model/units.hpp"

namespace p2pdist::cli {

namespace {

using json = nlohmann::json;

/// Where Debian's libjs-chart.js puts Chart.js; the page draws its plot with it.
constexpr const char* chart_js_path = "/usr/share/javascript/chart.js/chart.min.js";
constexpr std::size_t max_value_chars = 4096;  // a list of rates for many peers fits

/// The options each API command takes: query parameter = the CLI option's long name
/// (N for -N); a flag's value must be 1 or true.
const std::map<std::string, std::pair<std::set<std::string>, std::set<std::string>>>& api_commands() {
  static const std::map<std::string, std::pair<std::set<std::string>, std::set<std::string>>> commands{
      {"bound",
       {{"N", "file-size", "server-up", "peer-up", "peer-down", "piece-size"}, {"schedule"}}},
      {"sweep",
       {{"N", "file-size", "server-up", "peer-up", "peer-down", "x", "from", "to", "points", "y", "y-from", "y-to",
         "y-points", "series"},
        {"log", "y-log"}}},
  };
  return commands;
}

const char* mime_of(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message, const std::string& field = {}) {
  send_json(res, status, json{{"error", message}, {"field", field.empty() ? json(nullptr) : json(field)}});
}

/// The CLI's message without its "p2pdist: " and "(see p2pdist --help)", and the option it
/// names first ("--peer-up: ..." -> "peer-up", "-N: ..." -> "N").
std::pair<std::string, std::string> cli_error(const std::string& err) {
  std::string line = err;
  const auto last = line.find_last_not_of("\n ");
  line = last == std::string::npos ? std::string() : line.substr(0, last + 1);
  if (const auto nl = line.rfind('\n'); nl != std::string::npos) line = line.substr(nl + 1);
  if (line.rfind("p2pdist: ", 0) == 0) line.erase(0, 9);
  if (const auto see = line.find(" (see p2pdist --help)"); see != std::string::npos) line.erase(see);
  std::string field;
  if (line.rfind("-N:", 0) == 0) {
    field = "N";
  } else if (line.rfind("--", 0) == 0) {
    const auto colon = line.find(':');
    if (colon != std::string::npos) field = line.substr(2, colon - 2);
  }
  return {line, field};
}

bool printable(const std::string& s) {
  for (const unsigned char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

/// The command line of `command` from a request's query (each parameter a long option
/// the command takes, a flag 1 or 0), or false with a 400 answer in `res`.
bool command_line(const std::string& command, const std::set<std::string>& options,
                  const std::set<std::string>& flags, const httplib::Request& req, httplib::Response& res,
                  std::vector<std::string>& args) {
  args = {command, "--json", "-"};
  std::set<std::string> seen;
  for (const auto& [name, value] : req.params) {
    if (!seen.insert(name).second) return send_error(res, 400, name + ": given twice", name), false;
    if (value.size() > max_value_chars || !printable(value)) {
      send_error(res, 400, name + ": not a value (printable text up to " + std::to_string(max_value_chars) +
                               " characters)", name);
      return false;
    }
    if (options.count(name)) {
      if (value.empty()) return send_error(res, 400, name + ": empty", name), false;
      args.push_back(name == "N" ? "-N" : "--" + name);
      args.push_back(value);
    } else if (flags.count(name)) {
      if (value == "1" || value == "true") args.push_back("--" + name);
      else if (value != "0" && value != "false") return send_error(res, 400, name + ": 1 or 0", name), false;
    } else {
      return send_error(res, 400, "unknown parameter '" + name + "' for " + command, name), false;
    }
  }
  return true;
}

/// Answers /api/COMMAND from the query: the CLI's JSON (200), or its usage error (400,
/// with the option it names), or why it could not run.
void answer_command(const std::string& command, const httplib::Request& req, httplib::Response& res) {
  const auto& [options, flags] = api_commands().at(command);
  std::vector<std::string> args;
  if (!command_line(command, options, flags, req, res, args)) return;
  child_output out;
  try {
    out = run_self(args, child_limits{.timeout = std::chrono::seconds(10), .max_stdout_bytes = 32u << 20});
  } catch (const std::exception& e) {
    return send_error(res, 500, e.what());
  }
  if (out.timed_out) return send_error(res, 504, command + " did not answer within 10 s (fewer points?)");
  if (out.truncated) return send_error(res, 413, command + ": the answer is over 32 MiB (fewer points?)");
  if (out.exit_code == 0) {
    res.status = 200;
    res.set_content(out.out, "application/json");
    return;
  }
  const auto [message, field] = cli_error(out.err);
  send_error(res, out.exit_code == 2 ? 400 : 500, message.empty() ? command + " failed" : message, field);
}

std::atomic<bool> stopping{false};  // SIGINT/SIGTERM: running swarms end too

/// A query value as a number by the CLI's own unit parser, or nullopt when it is not one
/// (the CLI then says what is wrong with it).
std::optional<double> number_of(const httplib::Request& req, const std::string& name, double (*parse)(std::string_view)) {
  if (!req.has_param(name)) return std::nullopt;
  try {
    return parse(req.get_param_value(name));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

double count_of(std::string_view text) {
  std::size_t used = 0;
  const double v = std::stod(std::string(text), &used);
  if (used != text.size()) throw std::invalid_argument("not a number");
  return v;
}

/// /api/swarm and /api/simulate: runs `p2pdist swarm` (or `simulate`) with the query's
/// options within the server's caps and streams Server-Sent Events: `progress` (its
/// --progress-json lines), then `result` (its JSON document, on one line) or `failed`
/// ({error, field}). One run at a time; a client that goes away ends its run.
void start_swarm(const std::string& command, const serve_options& o, std::atomic<bool>& busy,
                 const httplib::Request& req, httplib::Response& res) {
  std::set<std::string> options{"N",         "file-size", "piece-size", "server-up", "peer-up",
                                "peer-down", "mode",      "after-complete", "slots", "time-scale"};
  if (command == "simulate") options.insert("seed");
  std::vector<std::string> args;
  if (!command_line(command, options, {}, req, res, args)) return;
  if (const auto n = number_of(req, "N", count_of); n && *n > static_cast<double>(o.max_leechers)) {
    return send_error(res, 400, "-N: this server runs at most " + std::to_string(o.max_leechers) + " leechers", "N");
  }
  const double max_bits = model::parse_size_bits(o.max_file_size);
  if (const auto f = number_of(req, "file-size", model::parse_size_bits); f && *f > max_bits) {
    return send_error(res, 400, "--file-size: this server shares at most " + o.max_file_size, "file-size");
  }
  if (!req.has_param("file-size") && model::parse_size_bits("32MiB") > max_bits) {
    return send_error(res, 400, "--file-size: give one, at most " + o.max_file_size, "file-size");
  }
  bool expected = false;
  if (!busy.compare_exchange_strong(expected, true)) {
    return send_error(res, 409, "a swarm is running (this server runs one swarm or simulation at a time): try again "
                                "when it ends");
  }
  const double timeout = model::parse_duration_seconds(o.max_seconds);
  args.insert(args.end(), {"--progress-json", "--timeout", o.max_seconds});
  if (command == "swarm") args.insert(args.end(), {"--content", "generated"});
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [args, timeout](std::size_t, httplib::DataSink& sink) {
        bool gone = false;
        auto event = [&](const std::string& name, const std::string& data) {
          const std::string text = "event: " + name + "\ndata: " + data + "\n\n";
          if (!gone && !sink.write(text.data(), text.size())) gone = true;
        };
        child_output out;
        try {
          out = run_self(args, child_limits{.timeout = std::chrono::milliseconds(static_cast<long>(1000 * timeout)) +
                                                       std::chrono::seconds(30),
                                            .max_stdout_bytes = 64u << 20},
                         [&](const std::string& line) {
                           if (!line.empty() && line.front() == '{') event("progress", line);
                         },
                         [&] { return !gone && !stopping && sink.is_writable(); });
        } catch (const std::exception& e) {
          event("failed", json{{"error", e.what()}, {"field", nullptr}}.dump());
          sink.done();
          return true;
        }
        if (out.exit_code == 0 || (out.exit_code == 1 && !out.out.empty())) {
          try {
            event("result", json::parse(out.out).dump());
          } catch (const json::exception&) {
            event("failed", json{{"error", "the swarm's output is not JSON"}, {"field", nullptr}}.dump());
          }
        } else if (!gone) {
          const auto [message, field] = cli_error(out.err);
          event("failed", json{{"error", out.timed_out ? "the swarm did not end in time" : message},
                               {"field", field.empty() ? json(nullptr) : json(field)}}
                              .dump());
        }
        sink.done();
        return true;
      },
      [&busy](bool) { busy = false; });
}

/// /api/swarm as above; a refusal (bad value, over a cap, busy) is a JSON 4xx answer, or,
/// to an EventSource (Accept: text/event-stream, which cannot read an error's body), the
/// same JSON as a `failed` event.
void answer_swarm(const std::string& command, const serve_options& o, std::atomic<bool>& busy,
                  const httplib::Request& req, httplib::Response& res) {
  start_swarm(command, o, busy, req, res);
  if (res.status >= 400 && req.get_header_value("Accept").find("text/event-stream") != std::string::npos) {
    res.status = 200;
    res.set_content("event: failed\ndata: " + res.body + "\n\n", "text/event-stream");
  }
}

/// Host names a request to a loopback listener may carry: a page on another name (DNS
/// rebinding) gets 403 and cannot read the API.
bool host_allowed(const std::string& host, const std::string& listen_ip, int port) {
  const std::string p = ":" + std::to_string(port);
  return host == listen_ip + p || host == "localhost" + p || host == "127.0.0.1" + p || host == listen_ip ||
         host == "localhost";
}

}  // namespace

int run_serve(const serve_options& o) {
  positive("--max-file-size", parse_flag("--max-file-size", o.max_file_size, model::parse_size_bits));
  positive("--max-seconds", parse_flag("--max-seconds", o.max_seconds, model::parse_duration_seconds));
  if (o.max_leechers < 1) throw usage_error("--max-leechers: at least 1");
  const auto endpoint = parse_listen_flag(o.listen, "the server", "127.0.0.1:8080");
  const std::string ip = bt::url_host(endpoint.ip);  // "127.0.0.1", "[::1]": as in a URL and a Host header
  const bool loopback = endpoint.ip.is_loopback();

  std::string chart_js;
  if (std::ifstream in{chart_js_path, std::ios::binary}) {
    std::ostringstream s;
    s << in.rdbuf();
    chart_js = s.str();
  } else {
    std::cerr << "p2pdist serve: " << chart_js_path << " not found (Debian: libjs-chart.js): the page shows "
              << "tables without the plot\n";
  }

  httplib::Server server;
  // A thread per connection (httplib): a connection reaches it only with its request's head
  // whole (the front), so slow clients hold none.
  server.new_task_queue = [] { return new httplib::ThreadPool(32); };
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  server.set_keep_alive_timeout(5);
  server.set_payload_max_length(64 << 10);
  int port = endpoint.port;
  server.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-store");
    if (loopback && !host_allowed(req.get_header_value("Host"), ip, port)) {
      send_error(res, 403, "this server answers requests for " + ip + ":" + std::to_string(port) + " only");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  for (const auto& f : web_files()) {
    const std::string path = f.name == "index.html" ? "/" : "/" + std::string(f.name);
    server.Get(path, [f](const httplib::Request&, httplib::Response& res) {
      res.set_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:");
      res.set_content(std::string(f.bytes), mime_of(f.name));
    });
  }
  server.Get("/chart.js", [&chart_js](const httplib::Request&, httplib::Response& res) {
    if (chart_js.empty()) return send_error(res, 404, std::string(chart_js_path) + " is not installed");
    res.set_content(chart_js, "text/javascript; charset=utf-8");
  });
  for (const auto& [name, _] : api_commands()) {
    server.Get("/api/" + name, [name](const httplib::Request& req, httplib::Response& res) {
      answer_command(name, req, res);
    });
  }
  std::atomic<bool> swarm_busy{false};
  for (const std::string command : {"swarm", "simulate"}) {
    server.Get("/api/" + command, [command, &o, &swarm_busy](const httplib::Request& req, httplib::Response& res) {
      answer_swarm(command, o, swarm_busy, req, res);
    });
  }
  server.Get("/api/version", [](const httplib::Request&, httplib::Response& res) {
    const auto out = run_self({"--version"}, child_limits{});
    std::string v = out.out;
    while (!v.empty() && v.back() == '\n') v.pop_back();
    send_json(res, 200, json{{"version", v}});
  });
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) send_error(res, res.status, "HTTP " + std::to_string(res.status));
  });
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send_error(res, 500, "internal error");
  });

  // httplib listens on an internal loopback port; the front (cli/serve_front.hpp) on the
  // address asked for, handing it each request once its head is in, within 10 s.
  const int backend_port = server.bind_to_any_port("127.0.0.1");
  if (backend_port <= 0) {
    std::cerr << "p2pdist: serve: cannot listen on an internal loopback port\n";
    return 1;
  }
  server.set_keep_alive_max_count(1);  // a request a connection: each head passes the front's deadline
  std::unique_ptr<serve_front> front;
  try {
    front = std::make_unique<serve_front>(bt::to_string(endpoint.ip), endpoint.port, backend_port, serve_front::limits{});
  } catch (const std::system_error& e) {
    std::cerr << "p2pdist: serve: cannot listen on " << o.listen << " (" << e.code().message() << ")\n";
    return 1;
  }
  port = front->port();
  // SIGINT and SIGTERM end the server: this thread waits for them (blocked in every other).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::thread backend([&server] { server.listen_after_bind(); });
  std::thread front_thread([&front] { front->run(); });
  std::printf("p2pdist serve: http://%s:%d/ (the calculator; API under /api/)\n", ip.c_str(), port);
  if (!loopback) {
    std::printf("p2pdist serve: listening on %s, not loopback: anyone who reaches this address can compute bounds "
                "through it (it names no file and runs no shell)\n", ip.c_str());
  }
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  stopping = true;
  front->stop();
  server.stop();
  front_thread.join();
  backend.join();
  return 0;
}

command add_serve_command(CLI::App& parent) {
  auto o = std::make_shared<serve_options>();
  auto* app = parent.add_subcommand("serve", "the calculator in a browser: one page and a JSON API of the CLI's documents");
  app->add_option("--listen", o->listen, "ADDR:PORT to listen on (port 0: any free one)")->capture_default_str();
  app->add_option("--max-leechers", o->max_leechers, "the most leechers a swarm from the page may have")
      ->capture_default_str();
  app->add_option("--max-file-size", o->max_file_size, "the largest file a swarm from the page may share")
      ->capture_default_str();
  app->add_option("--max-seconds", o->max_seconds, "a swarm from the page ends after this long")->capture_default_str();
  return {app, [o] { return run_serve(*o); }};
}

}  // namespace p2pdist::cli
