#include "model/export_json.hpp"

#include <cmath>

namespace p2pdist::model {

namespace {

nlohmann::json rate(double bps) { return std::isinf(bps) ? nlohmann::json(nullptr) : nlohmann::json(bps); }

template <class Array>
nlohmann::json array(const Array& a) {
  auto out = nlohmann::json::array();
  out.get_ref<nlohmann::json::array_t&>().reserve(static_cast<std::size_t>(a.size()));
  for (Eigen::Index i = 0; i < a.size(); ++i) {
    if constexpr (std::is_same_v<typename Array::Scalar, std::uint8_t>) {
      out.push_back(static_cast<int>(a(i)));
    } else {
      out.push_back(a(i));
    }
  }
  return out;
}

nlohmann::json axis(const sweep_axis& a, const Eigen::ArrayXd& values) {
  return {{"param", to_string(a.param)}, {"values", array(values)}, {"log", a.log_steps}};
}

}  // namespace

nlohmann::json to_json(const bound& b, bool p2p) {
  nlohmann::json terms = {{"server_upload", b.server_upload_seconds},
                          {"slowest_download", b.slowest_download_seconds}};
  if (p2p) terms["aggregate_upload"] = b.aggregate_upload_seconds;
  return {{"seconds", b.seconds}, {"binding", to_string(b.binding)}, {"terms", terms}};
}

nlohmann::json bound_document(const swarm_params& p) {
  nlohmann::json up = nlohmann::json::array(), down = nlohmann::json::array();
  for (double u : p.peer_up_bps) up.push_back(u);
  for (double d : p.peer_down_bps) down.push_back(rate(d));
  return {{"N", p.n},
          {"file_bits", p.file_bits},
          {"server_up_bps", p.server_up_bps},
          {"d_min_bps", rate(p.d_min_bps())},
          {"sum_peer_up_bps", p.sum_peer_up_bps()},
          {"peer_up_bps", up},
          {"peer_down_bps", down},
          {"client_server", to_json(client_server_bound(p), false)},
          {"p2p", to_json(p2p_bound(p), true)}};
}

nlohmann::json to_json(const schedule& s) {
  auto peers = nlohmann::json::array();
  for (std::size_t i = 0; i < s.n(); ++i) {
    const double in = s.peer_receive_bps(i);
    peers.push_back({{"peer", i + 1},
                     {"from_server_bps", s.server_to_peer[i]},
                     {"from_peers_bps", in - s.server_to_peer[i]},
                     {"receive_bps", in},
                     {"upload_bps", s.peer_send_bps(i)}});
  }
  return {{"kind", to_string(s.kind)},
          {"seconds", s.seconds},
          {"server_send_bps", s.server_send_bps()},
          {"peers", peers}};
}

nlohmann::json to_json(const chunked_result& c, std::uint64_t chunks) {
  nlohmann::json j = {{"chunks", chunks},
                      {"closed_form", c.closed_form},
                      {"seconds", c.seconds},
                      {"fluid_seconds", c.fluid_seconds}};
  j["rounds"] = c.rounds ? nlohmann::json(*c.rounds) : nlohmann::json(nullptr);
  if (!c.note.empty()) j["note"] = c.note;
  return j;
}

nlohmann::json to_json(const piece_bound_result& r, double piece_bits) {
  return {{"seconds", r.seconds},
          {"pieces", r.pieces},
          {"piece_bits", piece_bits},
          {"binding", to_string(r.binding)},
          {"fluid_seconds", r.fluid_seconds},
          {"spread_seconds", r.spread_seconds},
          {"ramp_seconds", r.ramp_seconds},
          {"round_schedule_seconds",
           r.round_schedule_seconds ? nlohmann::json(*r.round_schedule_seconds) : nlohmann::json(nullptr)}};
}

nlohmann::json to_json(const latency_bound_result& r) {
  return {{"seconds", r.seconds},
          {"binding", to_string(r.binding)},
          {"rtt_seconds", r.rtt_seconds},
          {"first_send_seconds", r.first_send_seconds},
          {"piece_seconds", r.piece_seconds},
          {"first_copy_seconds", r.first_copy_seconds},
          {"download_seconds", r.download_seconds},
          {"upload_seconds", r.upload_seconds}};
}

nlohmann::json to_json(const sweep_result& r) {
  const auto& spec = r.spec;
  nlohmann::json j;
  j["base"] = {{"N", spec.base.n},
               {"file_bits", spec.base.file_bits},
               {"server_up_bps", spec.base.server_up_bps},
               {"peer_up_bps", spec.base.peer_up_bps},
               {"d_min_bps", rate(spec.base.d_min_bps)}};
  // A swept or series parameter has no single base value.
  j["base"][std::string(to_string(spec.x.param))] = nullptr;
  if (spec.y) j["base"][std::string(to_string(spec.y->param))] = nullptr;
  if (spec.series_param) j["base"][std::string(to_string(*spec.series_param))] = nullptr;
  j["x"] = axis(spec.x, r.x_values);
  if (spec.y) j["y"] = axis(*spec.y, r.y_values);
  j["series_param"] = spec.series_param ? nlohmann::json(to_string(*spec.series_param)) : nlohmann::json(nullptr);
  j["binding_terms"] = {to_string(binding_term::server_upload), to_string(binding_term::slowest_download),
                        to_string(binding_term::aggregate_upload)};
  auto series = nlohmann::json::array();
  for (const auto& s : r.series) {
    nlohmann::json js;
    js["value"] = s.value ? nlohmann::json(*s.value) : nlohmann::json(nullptr);
    const auto column = [&](auto member) {
      if (!spec.y) return array(s.rows.front().*member);
      auto rows = nlohmann::json::array();
      for (const auto& row : s.rows) rows.push_back(array(row.*member));
      return rows;
    };
    js["client_server_seconds"] = column(&sweep_row::client_server_seconds);
    js["p2p_seconds"] = column(&sweep_row::p2p_seconds);
    js["client_server_binding"] = column(&sweep_row::client_server_binding);
    js["p2p_binding"] = column(&sweep_row::p2p_binding);
    series.push_back(std::move(js));
  }
  j["series"] = std::move(series);
  return j;
}

}  // namespace p2pdist::model
