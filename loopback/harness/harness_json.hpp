#pragma once
// The harness's numbers against the model: the bound for a swarm, and the JSON document of
// a swarm run (the one place the harness formats JSON).

#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "loopback/harness/harness.hpp"
#include "loopback/harness/simulate.hpp"
#include "model/bounds.hpp"
#include "model/latency_bound.hpp"
#include "model/piece_bound.hpp"

namespace p2pdist::loopback {

/// The model's swarm for a harness config: F = 8·file_bytes bits, u_s = 8·S·server_up,
/// u_i and d_i in bits/s (an unlimited download is +infinity, an unlimited upload a rate
/// so large its term vanishes). nullopt when the server's upload is unlimited (no bound).
/// `file_bytes` is the size actually shared (it may come from a file).
std::optional<model::swarm_params> model_params(const swarm_config& config, std::uint64_t file_bytes);

/// The bound the run is held against: D_p2p in p2p mode, D_cs in cs mode.
std::optional<model::bound> swarm_bound(const swarm_config& config, std::uint64_t file_bytes);

/// The piece bound the run is also held against: the same swarm when whole pieces of
/// config.piece_bytes must be received before they are passed on (model/piece_bound.hpp).
std::optional<model::piece_bound_result> swarm_piece_bound(const swarm_config& config, std::uint64_t file_bytes);

/// The least round trip of any emulated path (seed, leecher or tracker): config.rtt_min, or
/// the smallest of config.leecher_rtt (a seed's and the tracker's access add nothing).
/// nullopt on the loopback's own paths (no emulated round trip).
std::optional<double> least_rtt_seconds(const swarm_config& config);

/// The latency bound the run is held against when its paths are emulated: the piece bound's
/// swarm with every path's round trip at least least_rtt_seconds, peers found through the
/// tracker (p2p) or dialing the server they know (cs) (model/latency_bound.hpp). With
/// config.leecher_rtt the seeds reach the tracker in no time, and the first block may leave
/// at 2.5r as in the direct case.
std::optional<model::latency_bound_result> swarm_latency_bound(const swarm_config& config, std::uint64_t file_bytes);

/// The contract's swarm document for one run: parameters, bound (seconds, binding),
/// piece_bound (seconds, pieces, binding, ...), latency_bound (null without emulated
/// paths), distribution_seconds, ratio, ratio_to_piece_bound, ratio_to_latency_bound,
/// first_byte_seconds, leechers (address, completion_seconds,
/// first_byte_seconds, bytes_up, bytes_down, ...), timeline (seconds, bytes_held per
/// leecher), timed_out, data_ok.
nlohmann::json swarm_document(const swarm_config& config, const swarm_result& result);

/// The `faults` object of a run with faults: spec (kind, count), the counters of
/// fault_report (hash_failures, bans, snubs, protocol_drops, handshake_timeouts,
/// tracker_timeouts, wasted_bytes), baseline_seconds, time_lost_seconds (measured −
/// baseline), over_bound_seconds (measured − bound), peers (each adversary's counters) and
/// churn (each churning leecher). swarm_document adds it when config.faults is not empty.
nlohmann::json faults_document(const swarm_config& config, const swarm_result& result);

/// The document for K runs: the figures of the median run at the top (distribution_seconds,
/// ratio, leechers), "spread" (min, max, of the distribution times and ratios) and every
/// run under "runs" (timelines kept for the median run only).
nlohmann::json repeat_document(const swarm_config& config, const std::vector<swarm_result>& runs);

/// A simulated run's own figures, to merge into its swarm document: "engine": "simulated",
/// "content": "abstract" (blocks carry no bytes), events, wall_seconds, events_per_second,
/// latency_seconds, memory_estimate_bytes and messages (sent, by kind).
nlohmann::json simulation_fields(const simulation_stats& stats);

/// Index of the run with the median distribution time (the lower middle for even K; runs
/// that did not finish count as longest).
std::size_t median_run(const std::vector<swarm_result>& runs);

}  // namespace p2pdist::loopback
