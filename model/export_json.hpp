#pragma once
// JSON export of the model's results (the one place the model formats JSON). Field names
// follow the contract in DESIGN.md; an infinite rate is written as null.

#include <nlohmann/json.hpp>

#include "model/bounds.hpp"
#include "model/chunked.hpp"
#include "model/latency_bound.hpp"
#include "model/piece_bound.hpp"
#include "model/schedule.hpp"
#include "model/sweep.hpp"

namespace p2pdist::model {

/// {"seconds", "binding", "terms": {"server_upload", "slowest_download", "aggregate_upload"}}
nlohmann::json to_json(const bound& b, bool p2p);
/// The contract's `bound` document: N, file_bits, server_up_bps, d_min_bps,
/// sum_peer_up_bps, peer_up_bps, peer_down_bps, client_server, p2p.
nlohmann::json bound_document(const swarm_params& p);
/// {"kind", "seconds", "server_send_bps", "peers": [{"from_server_bps", "from_peers_bps",
/// "receive_bps", "upload_bps"}]}; relay matrices are left out (N² values).
nlohmann::json to_json(const schedule& s);
/// {"chunks", "closed_form", "rounds", "seconds", "fluid_seconds", "note"}
nlohmann::json to_json(const chunked_result& c, std::uint64_t chunks);
/// {"seconds", "pieces", "piece_bits", "binding", "fluid_seconds", "spread_seconds",
/// "ramp_seconds", "round_schedule_seconds" (null unless the homogeneous round schedule applies)}
nlohmann::json to_json(const piece_bound_result& r, double piece_bits);
/// {"seconds", "binding", "rtt_seconds", "first_send_seconds", and each term's seconds:
/// "piece_seconds", "first_copy_seconds", "download_seconds", "upload_seconds"}.
nlohmann::json to_json(const latency_bound_result& r);
/// Columnar sweep output a notebook plots directly: "base" (the fixed parameters; null for
/// the swept and series ones), "x": {"param", "values", "log"},
/// optional "y", "series_param", "binding_terms" (the code legend), and "series": per
/// series its "value" and "client_server_seconds", "p2p_seconds", "client_server_binding",
/// "p2p_binding": arrays over x for a 1-D sweep, arrays of rows (one per y) for a grid.
nlohmann::json to_json(const sweep_result& r);

}  // namespace p2pdist::model
