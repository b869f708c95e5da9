#include "model/latency_bound.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <limits>
#include <stdexcept>
#include <vector>

namespace p2pdist::model {

std::string_view to_string(latency_binding b) noexcept {
  switch (b) {
    case latency_binding::piece: return "piece";
    case latency_binding::first_copy: return "latency_first_copy";
    case latency_binding::download: return "latency_download";
    case latency_binding::upload_ramp: return "latency_upload";
  }
  return "piece";
}

namespace {

constexpr double infinity = std::numeric_limits<double>::infinity();

// C(s) = u_s·(s − t_s)⁺ + Σ_j u_j·(s − b_j)⁺, inverted for targets that only grow, with
// uploads that join at times b_j that never precede the last answer (h_k + r lies after the
// moment C reached k·σ). One pass over the uploads: O(N) for the whole bound.
class send_capacity {
 public:
  send_capacity(double start, double server_bps) : at_(start), rate_(server_bps) {}

  /// Uploads from `from` on at `bps`; `from` ≥ every earlier one and ≥ the last answer.
  void join(double from, double bps) { joins_.push_back({from, bps}); }

  /// The least s with C(s) ≥ bits (not below the last answer).
  double reach(double bits) {
    for (;;) {
      if (!joins_.empty() && joins_.front().from <= at_) {
        rate_ += joins_.front().bps;
        joins_.pop_front();
        continue;
      }
      const double next = joins_.empty() ? infinity : joins_.front().from;
      const double by_next = next == infinity ? infinity : sent_ + rate_ * (next - at_);
      if (by_next >= bits) {
        at_ += (bits - sent_) / rate_;
        sent_ = bits;
        return at_;
      }
      sent_ = by_next;
      at_ = next;
    }
  }

 private:
  struct upload {
    double from;
    double bps;
  };
  double at_;
  double rate_;
  double sent_ = 0;
  std::deque<upload> joins_;
};

// L3 for P2P: the ramp of the aggregate upload (see the header).
double p2p_upload_seconds(const swarm_params& p, double sigma, double r, double t_s) {
  std::vector<double> up = p.peer_up_bps;
  std::sort(up.begin(), up.end(), std::greater<>());
  double receive = 0, d_max = 0;
  for (const double d : p.peer_down_bps) {
    receive += d;
    d_max = std::max(d_max, d);
  }
  const double arrive = t_s + r / 2;  // nothing reaches a peer before
  send_capacity sent(t_s, p.server_up_bps);
  double h = arrive;
  for (std::size_t k = 1; k <= p.n; ++k) {
    const double need = static_cast<double>(k) * sigma;
    h = std::max({h, sent.reach(need) + r / 2, arrive + sigma / d_max, arrive + need / receive});
    sent.join(h + r, up[k - 1]);
  }
  const double all = static_cast<double>(p.n) * p.file_bits;
  return std::max(sent.reach(all) + r / 2, arrive + all / receive);
}

}  // namespace

latency_bound_result latency_bound(const swarm_params& p, double piece_bits, distribution_mode mode,
                                   double rtt_seconds, discovery how) {
  if (!(rtt_seconds >= 0) || !std::isfinite(rtt_seconds))
    throw std::invalid_argument("the round trip must be zero or more and finite");
  const auto pieces = piece_bound(p, piece_bits, mode);
  const double r = rtt_seconds;
  latency_bound_result out;
  out.rtt_seconds = r;
  out.first_send_seconds = how == discovery::tracker ? 3 * r : 2.5 * r;
  const double t_s = out.first_send_seconds;
  out.piece_seconds = pieces.seconds;
  out.first_copy_seconds = t_s + p.file_bits / p.server_up_bps + r / 2;
  out.download_seconds = t_s + r / 2 + p.file_bits / p.d_min_bps();
  if (mode == distribution_mode::client_server) {
    out.upload_seconds = t_s + static_cast<double>(p.n) * p.file_bits / p.server_up_bps + r / 2;
  } else {
    const double sigma =
        std::min(piece_bits, p.file_bits - static_cast<double>(pieces.pieces - 1) * piece_bits);
    if (p.n >= 2)
      out.first_copy_seconds += std::min(1.5 * r, static_cast<double>(p.n - 1) * sigma / p.server_up_bps);
    out.upload_seconds = p2p_upload_seconds(p, sigma, r, t_s);
  }
  out.seconds = out.piece_seconds;
  const auto take = [&](double term, latency_binding b) {
    // A term must exceed the piece bound by more than rounding to be said to bind: at r = 0
    // the ramp falls to the piece bound's own.
    if (term > out.seconds * (1 + 1e-12)) {
      out.seconds = term;
      out.binding = b;
    }
  };
  take(out.first_copy_seconds, latency_binding::first_copy);
  take(out.download_seconds, latency_binding::download);
  take(out.upload_seconds, latency_binding::upload_ramp);
  return out;
}

}  // namespace p2pdist::model
