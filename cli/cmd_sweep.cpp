// `p2pdist sweep`: the bounds over one or two swept parameters, for several series.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "cli/output.hpp"
#include "model/export_json.hpp"
#include "model/sweep.hpp"
#include "model/units.hpp"

namespace p2pdist::cli {

namespace {

using model::sweep_param;

sweep_param param_of(const std::string& text, const char* flag) {
  const auto p = model::parse_sweep_param(text);
  if (!p) {
    throw usage_error(std::string(flag) + ": unknown parameter '" + text +
                      "' (use N, file-size, server-up, peer-up or peer-down)");
  }
  return *p;
}

// Parses one value of parameter `p` in its own unit: N a number, the file size a size,
// the rates rates ("unlimited" allowed for the download).
double value_of(sweep_param p, const std::string& text, const std::string& flag) {
  try {
    switch (p) {
      case sweep_param::n: {
        double v = 0;
        const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc{} || ptr != text.data() + text.size() || !std::isfinite(v) || v < 1)
          throw model::unit_error("'" + text + "' is not a number of peers of at least 1");
        return v;
      }
      case sweep_param::file_bits: return model::parse_size_bits(text);
      case sweep_param::d_min_bps: return model::parse_rate_or_unlimited_bps(text);
      default: return model::parse_rate_bps(text);
    }
  } catch (const model::unit_error& e) {
    throw usage_error(flag + ": " + e.what());
  }
}

model::sweep_axis axis_of(const std::string& param, const std::string& from, const std::string& to,
                          std::size_t points, bool log, const std::string& prefix) {
  model::sweep_axis a;
  a.param = param_of(param, prefix == "--" ? "--x" : "--y");
  if (from.empty()) throw usage_error(prefix + "from: required (the first value of the sweep)");
  if (to.empty() && points > 1) throw usage_error(prefix + "to: required (the last value of the sweep)");
  a.from = value_of(a.param, from, prefix + "from");
  a.to = to.empty() ? a.from : value_of(a.param, to, prefix + "to");
  a.points = points;
  a.log_steps = log;
  return a;
}

std::string cell(sweep_param p, double v) {
  switch (p) {
    case sweep_param::n: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.0f", v);
      return buf;
    }
    case sweep_param::file_bits: return model::format_bits(v);
    default: return model::format_bps(v);
  }
}

void print_table(const model::sweep_result& r) {
  constexpr std::size_t max_rows = 200;
  const auto& spec = r.spec;
  const auto xs = static_cast<std::size_t>(r.x_values.size());
  if (spec.y || xs > max_rows) {
    std::printf("swept %zu points (%zu series x %zu x values%s); too many for a table: "
                "use --json FILE for the data\n",
                r.point_count(), r.series.size(), xs,
                spec.y ? (" x " + std::to_string(r.y_values.size()) + " y values").c_str() : "");
    return;
  }
  for (const auto& s : r.series) {
    if (s.value) {
      std::printf("\nseries %s = %s\n", std::string(to_string(*spec.series_param)).c_str(),
                  cell(*spec.series_param, *s.value).c_str());
    }
    std::printf("%-12s %-24s %-18s %-24s %s\n", std::string(to_string(spec.x.param)).c_str(), "client-server",
                "binding", "p2p", "binding");
    const auto& row = s.rows.front();
    for (std::size_t i = 0; i < xs; ++i) {
      const auto k = static_cast<Eigen::Index>(i);
      std::printf("%-12s %-24s %-18s %-24s %s\n", cell(spec.x.param, r.x_values(k)).c_str(),
                  model::format_seconds(row.client_server_seconds(k)).c_str(),
                  std::string(to_string(static_cast<model::binding_term>(row.client_server_binding(k)))).c_str(),
                  model::format_seconds(row.p2p_seconds(k)).c_str(),
                  std::string(to_string(static_cast<model::binding_term>(row.p2p_binding(k)))).c_str());
    }
  }
}

/// sweep's command line: the options CLI11 fills in directly, and the texts to parse.
struct sweep_input {
  sweep_options opts;
  swarm_flags swarm;
  std::string x_points = "50";
  std::string y_points = "20";

  /// `opts` with the texts parsed; a usage_error names the flag at fault.
  [[nodiscard]] sweep_options parsed() const {
    sweep_options o = opts;
    o.n = swarm.peer_count();
    o.file_bits = swarm.file_bits();
    o.server_up_bps = swarm.server_up_bps();
    o.peer_up_bps = parse_flag("--peer-up", swarm.peer_up, model::parse_rate_bps);
    o.peer_down_bps =
        positive("--peer-down", parse_flag("--peer-down", swarm.peer_down, model::parse_rate_or_unlimited_bps));
    o.x_points = parse_count("--points", x_points);
    o.y_points = parse_count("--y-points", y_points);
    return o;
  }
};

}  // namespace

int run_sweep(const sweep_options& o) {
  model::sweep_spec spec;
  spec.base = {.n = static_cast<double>(o.n),
               .file_bits = o.file_bits,
               .server_up_bps = o.server_up_bps,
               .peer_up_bps = o.peer_up_bps,
               .d_min_bps = o.peer_down_bps};
  spec.x = axis_of(o.x_param, o.x_from, o.x_to, o.x_points, o.x_log, "--");
  if (!o.y_param.empty()) spec.y = axis_of(o.y_param, o.y_from, o.y_to, o.y_points, o.y_log, "--y-");
  if (!o.series.empty()) {
    const auto eq = o.series.find('=');
    if (eq == std::string::npos || eq + 1 == o.series.size())
      throw usage_error("--series: expected PARAM=V1,V2,... (e.g. peer-up=300kbps,700kbps,2Mbps)");
    const auto p = param_of(o.series.substr(0, eq), "--series");
    spec.series_param = p;
    std::string rest = o.series.substr(eq + 1);
    std::size_t item = 1;
    for (std::size_t start = 0;; ++item) {
      const auto comma = rest.find(',', start);
      spec.series_values.push_back(
          value_of(p, rest.substr(start, comma - start), "--series item " + std::to_string(item)));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  // Bounded before any allocation: 10^7 points in all (x values by y values by series).
  constexpr std::size_t max_points = 10'000'000;
  if (o.x_points > max_points) throw usage_error("--points: at most 10000000 (got " + std::to_string(o.x_points) + ")");
  if (spec.y && o.y_points > max_points)
    throw usage_error("--y-points: at most 10000000 (got " + std::to_string(o.y_points) + ")");
  const std::size_t series_count = std::max<std::size_t>(1, spec.series_values.size());
  if (spec.y && o.x_points * o.y_points > max_points / series_count)
    throw usage_error("--points x --y-points: " + std::to_string(o.x_points) + " x " + std::to_string(o.y_points) +
                      " x " + std::to_string(series_count) + " series is more than 10000000 points");
  if (!spec.y && o.x_points > max_points / series_count)
    throw usage_error("--points: " + std::to_string(o.x_points) + " x " + std::to_string(series_count) +
                      " series is more than 10000000 points");
  model::sweep_result r;
  try {
    r = model::run_sweep(spec);
  } catch (const std::invalid_argument& e) {
    throw usage_error(e.what());
  }
  if (o.json_path != "-") print_table(r);
  if (!o.json_path.empty()) write_json(o.json_path, model::to_json(r));
  return 0;
}

command add_sweep_command(CLI::App& parent) {
  auto in = std::make_shared<sweep_input>();
  auto& o = in->opts;
  auto* app = parent.add_subcommand("sweep", "the bounds over one or two swept parameters");
  in->swarm.add_to(*app, false);
  app->add_option("--x", o.x_param, "swept parameter: N, file-size, server-up, peer-up, peer-down")
      ->capture_default_str();
  app->add_option("--from", o.x_from, "first value, in the parameter's unit")->required();
  app->add_option("--to", o.x_to, "last value");
  app->add_option("--points", in->x_points, "number of points")->capture_default_str();
  app->add_flag("--log", o.x_log, "logarithmic steps");
  app->add_option("--y", o.y_param, "second swept parameter (a grid)");
  app->add_option("--y-from", o.y_from, "first y value");
  app->add_option("--y-to", o.y_to, "last y value");
  app->add_option("--y-points", in->y_points, "number of y points")->capture_default_str();
  app->add_flag("--y-log", o.y_log, "logarithmic y steps");
  app->add_option("--series", o.series, "series: PARAM=V1,V2,... e.g. peer-up=300kbps,700kbps,2Mbps");
  add_json_option(*app, o.json_path);
  return {app, [in] { return run_sweep(in->parsed()); }};
}

}  // namespace p2pdist::cli
