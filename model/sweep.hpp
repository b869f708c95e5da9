#pragma once
// Parameter sweeps of the bounds over homogeneous swarms, with Eigen arrays: one swept
// parameter (x) or two (an x–y grid, for heat maps), for one or several series (values of
// a third parameter, e.g. u = 300 kbps, 700 kbps, 2 Mbps), with linear or logarithmic steps.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "model/bounds.hpp"

namespace p2pdist::model {

/// A parameter of a homogeneous swarm that a sweep can vary.
enum class sweep_param { n, file_bits, server_up_bps, peer_up_bps, d_min_bps };

/// The JSON and table name: "N", "file_bits", "server_up_bps", "peer_up_bps", "d_min_bps".
std::string_view to_string(sweep_param p) noexcept;
/// Accepts the names above and the CLI's flag spellings: "N", "n", "file-size",
/// "server-up", "peer-up", "peer-down", "d-min". nullopt for anything else.
std::optional<sweep_param> parse_sweep_param(std::string_view text) noexcept;

/// One swept axis: `points` values from `from` to `to`, evenly spaced or (log_steps)
/// evenly spaced in log. N values are rounded to integers and duplicates dropped.
struct sweep_axis {
  sweep_param param = sweep_param::n;
  double from = 1;
  double to = 1;
  std::size_t points = 1;
  bool log_steps = false;
};

/// The fixed parameters of a homogeneous swarm (N as a real number, for sweeps).
struct sweep_base {
  double n = 1;
  double file_bits = 1;
  double server_up_bps = 1;
  double peer_up_bps = 0;
  double d_min_bps = 1;  ///< may be +infinity
};

/// What to sweep. Without series values, one series at the base parameters.
struct sweep_spec {
  sweep_base base;
  sweep_axis x;
  std::optional<sweep_axis> y;
  std::optional<sweep_param> series_param;
  std::vector<double> series_values;
};

/// Binding terms per point, as small codes: the index of binding_term.
using binding_codes = Eigen::Array<std::uint8_t, Eigen::Dynamic, 1>;

/// The bounds over the x axis for one y value of one series.
struct sweep_row {
  Eigen::ArrayXd client_server_seconds;
  Eigen::ArrayXd p2p_seconds;
  binding_codes client_server_binding;
  binding_codes p2p_binding;
};

/// One series: one row for a 1-D sweep, one row per y value for a grid.
struct sweep_series {
  std::optional<double> value;  ///< the series parameter's value, if there is one
  std::vector<sweep_row> rows;
};

struct sweep_result {
  sweep_spec spec;
  Eigen::ArrayXd x_values;
  Eigen::ArrayXd y_values;  ///< empty for a 1-D sweep
  std::vector<sweep_series> series;
  std::size_t point_count() const;
};

/// The values along an axis. Throws std::invalid_argument for an empty or invalid range
/// (points = 0; from > to; from = to with more than one point; a log range not above 0;
/// N below 1).
Eigen::ArrayXd axis_values(const sweep_axis& axis);

/// Runs a sweep. Throws std::invalid_argument for an invalid spec: a bad axis, the same
/// parameter swept twice, a base or series value out of range (N ≥ 1, F > 0, u_s > 0,
/// u ≥ 0, d_min > 0).
sweep_result run_sweep(const sweep_spec& spec);

/// The kernel: both bounds over `x.size()` points where one parameter varies and the
/// others are fixed; `which` names the one `x` holds. Outputs are resized as needed.
void sweep_bounds(sweep_param which, const Eigen::ArrayXd& x, const sweep_base& fixed,
                  sweep_row& out);

}  // namespace p2pdist::model
