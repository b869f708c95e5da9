// session: announces to the tracker — `started` at once, then again every interval the
// tracker gives (with backoff after failures), `completed` as soon as a download completes
// (a download that stops once complete sends it on stop, before `stopped`), `stopped` on
// stop. One announce in flight at a time; the driver carries it. See session.hpp.

#include <algorithm>

#include "loopback/core/connection.hpp"
#include "loopback/core/session.hpp"

namespace p2pdist::bt {

void session::announce(announce_event event, duration timeout) {
  const auto& t = *config_.torrent;
  std::uint64_t left = 0;
  for (std::uint32_t i = 0; i < t.piece_count(); ++i)
    if (!picker_.have().test(i)) left += t.piece_size(i);
  announce_in_flight_ = true;
  in_flight_event_ = event;
  next_announce_at_.reset();
  outputs_.push_back(out::announce{.request = {.info_hash = t.info_hash,
                                               .id = id_,
                                               .port = listen_port_,
                                               .uploaded_bytes = uploaded_bytes_,
                                               .downloaded_bytes = downloaded_bytes_,
                                               .left_bytes = left,
                                               .event = event,
                                               .compact = true,
                                               .numwant = config_.numwant},
                                   .timeout = timeout});
}

// Announces now if one is due: the next regular one, or `completed` right after completion.
void session::announce_due() {
  if (!config_.has_tracker || !started_ || stopping_ || announce_in_flight_) return;
  if (started_sent_ && complete_ && start_incomplete_ && !completed_announced_) {
    announce(announce_event::completed, config_.tracker_timeout);
    return;
  }
  if (next_announce_at_ && now_ >= *next_announce_at_)
    announce(started_sent_ ? announce_event::none : announce_event::started, config_.tracker_timeout);
}

void session::handle_announce(const std::optional<announce_response>& response, std::string_view error,
                              time_point now) {
  now_ = now;
  if (!announce_in_flight_) return;
  announce_in_flight_ = false;
  if (stopping_) {
    // Answered, failed or abandoned by stop(): the next one the stop owes, if any. A
    // `completed` that failed is not tried again.
    if (in_flight_event_ == announce_event::started && response) started_sent_ = true;
    if (in_flight_event_ == announce_event::completed) completed_announced_ = true;
    if (in_flight_event_ == announce_event::stopped) stopped_announced_ = true;
    announce_for_stop();
    return;
  }
  if (!response) {
    emit(client_event_kind::tracker_failed, std::string(error));
    next_announce_at_ = now + backoff_;
    backoff_ = std::min<duration>(backoff_ * 2, config_.tracker_retry_max);
    return;
  }
  on_announce_reply(*response);
  announce_due();  // `completed` at once if the download completed meanwhile
}

void session::on_announce_reply(const announce_response& response) {
  if (in_flight_event_ == announce_event::started) started_sent_ = true;
  if (in_flight_event_ == announce_event::completed) completed_announced_ = true;
  ++stats_.announces;
  emit(client_event_kind::tracker_announced, std::string(to_string(in_flight_event_)));
  backoff_ = config_.tracker_retry_min;
  next_announce_at_ = now_ + std::max<duration>(response.interval, std::chrono::seconds(1));
  listed_per_ip_.clear();
  for (const auto& p : response.peers) ++listed_per_ip_[p.ip];
  for (const auto& p : response.peers) connect_to(p, now_);
}

}  // namespace p2pdist::bt
