#include "model/sweep.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace p2pdist::model {

std::string_view to_string(sweep_param p) noexcept {
  switch (p) {
    case sweep_param::n: return "N";
    case sweep_param::file_bits: return "file_bits";
    case sweep_param::server_up_bps: return "server_up_bps";
    case sweep_param::peer_up_bps: return "peer_up_bps";
    case sweep_param::d_min_bps: return "d_min_bps";
  }
  return "?";
}

std::optional<sweep_param> parse_sweep_param(std::string_view t) noexcept {
  if (t == "N" || t == "n") return sweep_param::n;
  if (t == "file_bits" || t == "file-size") return sweep_param::file_bits;
  if (t == "server_up_bps" || t == "server-up") return sweep_param::server_up_bps;
  if (t == "peer_up_bps" || t == "peer-up") return sweep_param::peer_up_bps;
  if (t == "d_min_bps" || t == "peer-down" || t == "d-min") return sweep_param::d_min_bps;
  return std::nullopt;
}

std::size_t sweep_result::point_count() const {
  const auto rows = y_values.size() > 0 ? static_cast<std::size_t>(y_values.size()) : 1;
  return static_cast<std::size_t>(x_values.size()) * rows * series.size();
}

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }

// Checks one value of a parameter; `what` names it in the message.
void check_value(sweep_param p, double v, const std::string& what) {
  const auto name = std::string(to_string(p));
  switch (p) {
    case sweep_param::n:
      if (!(v >= 1) || !std::isfinite(v)) fail(what + ": N must be at least 1");
      break;
    case sweep_param::file_bits:
    case sweep_param::server_up_bps:
      if (!(v > 0) || !std::isfinite(v)) fail(what + ": " + name + " must be positive and finite");
      break;
    case sweep_param::peer_up_bps:
      if (!(v >= 0) || !std::isfinite(v)) fail(what + ": " + name + " must be zero or positive");
      break;
    case sweep_param::d_min_bps:
      if (!(v > 0)) fail(what + ": " + name + " must be positive");
      break;
  }
}

double& field(sweep_base& b, sweep_param p) {
  switch (p) {
    case sweep_param::n: return b.n;
    case sweep_param::file_bits: return b.file_bits;
    case sweep_param::server_up_bps: return b.server_up_bps;
    case sweep_param::peer_up_bps: return b.peer_up_bps;
    case sweep_param::d_min_bps: return b.d_min_bps;
  }
  return b.n;
}

// Both bounds and their binding terms over `size` points, in one pass over the outputs
// (the sweep is memory bound, so one pass that writes each output once matters more than
// the few divisions). Each parameter is either an array (the swept one) or a constant;
// the compiler hoists what is constant, so sweeping N costs one division per point.
struct constant {
  double v;
  double operator[](Eigen::Index) const { return v; }
};
struct varying {
  const double* v;
  double operator[](Eigen::Index i) const { return v[i]; }
};

template <class N, class F, class US, class U, class D>
void kernel(Eigen::Index size, N n, F f, US us, U u, D d, sweep_row& out) {
  out.client_server_seconds.resize(size);
  out.p2p_seconds.resize(size);
  out.client_server_binding.resize(size);
  out.p2p_binding.resize(size);
  double* cs = out.client_server_seconds.data();
  double* p2p = out.p2p_seconds.data();
  std::uint8_t* cs_bind = out.client_server_binding.data();
  std::uint8_t* p2p_bind = out.p2p_binding.data();
  for (Eigen::Index i = 0; i < size; ++i) {
    const double server_p2p = f[i] / us[i];                // F/u_s
    const double server_cs = n[i] * server_p2p;            // N·F/u_s
    const double download = f[i] / d[i];                   // F/d_min
    const double aggregate = n[i] * f[i] / (us[i] + n[i] * u[i]);  // N·F/(u_s + N·u)
    // Codes follow binding_term; ties go to the earlier term, as in bounds.cpp.
    const bool download_cs = download > server_cs;
    cs[i] = download_cs ? download : server_cs;
    cs_bind[i] = static_cast<std::uint8_t>(download_cs);
    const bool download_p2p = download > server_p2p;
    const double first = download_p2p ? download : server_p2p;
    const bool aggregate_binds = aggregate > first;
    p2p[i] = aggregate_binds ? aggregate : first;
    p2p_bind[i] = static_cast<std::uint8_t>(aggregate_binds ? 2 : static_cast<int>(download_p2p));
  }
}

}  // namespace

void sweep_bounds(sweep_param which, const Eigen::ArrayXd& x, const sweep_base& b,
                  sweep_row& out) {
  const auto size = x.size();
  const varying v{x.data()};
  const auto c = [](double value) { return constant{value}; };
  switch (which) {
    case sweep_param::n:
      kernel(size, v, c(b.file_bits), c(b.server_up_bps), c(b.peer_up_bps), c(b.d_min_bps), out);
      break;
    case sweep_param::file_bits:
      kernel(size, c(b.n), v, c(b.server_up_bps), c(b.peer_up_bps), c(b.d_min_bps), out);
      break;
    case sweep_param::server_up_bps:
      kernel(size, c(b.n), c(b.file_bits), v, c(b.peer_up_bps), c(b.d_min_bps), out);
      break;
    case sweep_param::peer_up_bps:
      kernel(size, c(b.n), c(b.file_bits), c(b.server_up_bps), v, c(b.d_min_bps), out);
      break;
    case sweep_param::d_min_bps:
      kernel(size, c(b.n), c(b.file_bits), c(b.server_up_bps), c(b.peer_up_bps), v, out);
      break;
  }
}

Eigen::ArrayXd axis_values(const sweep_axis& a) {
  const auto name = std::string(to_string(a.param));
  if (a.points == 0) fail("the " + name + " sweep has no points");
  if (!std::isfinite(a.from) || !std::isfinite(a.to))
    fail("the " + name + " sweep range must be finite");
  if (a.from > a.to) fail("the " + name + " sweep range is empty (from is above to)");
  if (a.points > 1 && a.from == a.to)
    fail("the " + name + " sweep range is empty (from equals to with more than one point)");
  if (a.log_steps && !(a.from > 0)) fail("a logarithmic " + name + " sweep must start above 0");
  check_value(a.param, a.from, "sweep start");
  check_value(a.param, a.to, "sweep end");

  const auto count = static_cast<Eigen::Index>(a.points);
  Eigen::ArrayXd v;
  if (a.points == 1) {
    v = Eigen::ArrayXd::Constant(1, a.from);
  } else if (a.log_steps) {
    v = Eigen::ArrayXd::LinSpaced(count, std::log(a.from), std::log(a.to)).exp();
    v(0) = a.from;  // exact ends, whatever exp(log(x)) rounds to
    v(count - 1) = a.to;
  } else {
    v = Eigen::ArrayXd::LinSpaced(count, a.from, a.to);
  }
  if (a.param != sweep_param::n) return v;

  // N is a count: round, and drop the duplicates rounding makes (log sweeps at small N).
  Eigen::ArrayXd rounded(v.size());
  Eigen::Index kept = 0;
  for (Eigen::Index i = 0; i < v.size(); ++i) {
    const double r = std::round(v(i));
    if (kept == 0 || r != rounded(kept - 1)) rounded(kept++) = r;
  }
  return rounded.head(kept);
}

sweep_result run_sweep(const sweep_spec& spec) {
  sweep_result r;
  r.spec = spec;
  const auto& b = spec.base;
  check_value(sweep_param::n, b.n, "N");
  check_value(sweep_param::file_bits, b.file_bits, "file size");
  check_value(sweep_param::server_up_bps, b.server_up_bps, "server upload");
  check_value(sweep_param::peer_up_bps, b.peer_up_bps, "peer upload");
  check_value(sweep_param::d_min_bps, b.d_min_bps, "peer download");

  r.x_values = axis_values(spec.x);
  if (spec.y) {
    if (spec.y->param == spec.x.param) fail("x and y sweep the same parameter");
    r.y_values = axis_values(*spec.y);
  }
  if (spec.series_param) {
    const auto sp = *spec.series_param;
    if (sp == spec.x.param || (spec.y && sp == spec.y->param))
      fail("the series parameter " + std::string(to_string(sp)) + " is also swept");
    if (spec.series_values.empty()) fail("the series list is empty");
    for (double v : spec.series_values) check_value(sp, v, "series value");
  }

  const std::size_t series_count = spec.series_param ? spec.series_values.size() : 1;
  const std::size_t row_count = spec.y ? static_cast<std::size_t>(r.y_values.size()) : 1;
  r.series.resize(series_count);
  for (std::size_t s = 0; s < series_count; ++s) {
    sweep_base base = spec.base;
    if (spec.series_param) {
      field(base, *spec.series_param) = spec.series_values[s];
      r.series[s].value = spec.series_values[s];
    }
    r.series[s].rows.resize(row_count);
    for (std::size_t row = 0; row < row_count; ++row) {
      if (spec.y) field(base, spec.y->param) = r.y_values(static_cast<Eigen::Index>(row));
      sweep_bounds(spec.x.param, r.x_values, base, r.series[s].rows[row]);
    }
  }
  return r;
}

}  // namespace p2pdist::model
