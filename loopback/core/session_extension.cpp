// The session's extensions (BEP 10): the peer's extended handshake, and the metadata we
// serve over ut_metadata (BEP 9) to a peer that came with a magnet link only.

#include <algorithm>
#include <span>
#include <string>
#include <string_view>

#include "loopback/core/connection.hpp"
#include "loopback/core/session.hpp"
#include "loopback/protocol/extension.hpp"

namespace p2pdist::bt {

void session::on_extended(connection& c, const msg::extended& m) {
  note_idle_message(c);  // it moves no file data: counted as control messages are
  if (!c.is_open()) return;
  const auto drop = [&](std::string_view why) {
    ++stats_.protocol_drops;
    close_connection(c, "protocol: " + std::string(why));
  };
  if (!c.extensions) return drop("extended message without the extension protocol (BEP 10) in both handshakes");
  if (m.id == extended_handshake_id) {
    const auto theirs = decode_extension_handshake(m.payload);
    if (!theirs) return drop(to_string(theirs.error().code));
    c.peer_ut_metadata = theirs->id_of(ut_metadata_name);
    return;
  }
  if (m.id != our_ut_metadata_id) return;  // not an extension we offered: ignored, as BEP 10 says
  const auto request = decode_metadata_message(m.payload);
  if (!request) return drop(to_string(request.error().code));
  // We never ask for metadata, so data and rejects are ignored; a request is answered under
  // the id the peer gave ut_metadata (without one, it cannot be).
  if (request->type != metadata_type::request || c.peer_ut_metadata == 0) return;
  const auto& info = config_.torrent->info_bytes;
  const auto pieces = metadata_piece_count(info.size());
  // Each piece once or twice is all a fetch needs: past that, rejects (16 KiB answers to a
  // flood of requests would be free upload for the asker).
  const bool serve = request->piece < pieces && c.metadata_served < 2 * pieces + 2;
  metadata_message answer{.type = serve ? metadata_type::data : metadata_type::reject, .piece = request->piece};
  if (serve) {
    ++c.metadata_served;
    const std::size_t at = std::size_t{request->piece} * metadata_piece_bytes;
    answer.total_size = info.size();
    answer.data = std::as_bytes(std::span<const char>(info.data() + at, std::min<std::size_t>(metadata_piece_bytes, info.size() - at)));
  }
  send(c, msg::extended{.id = c.peer_ut_metadata, .payload = encode_metadata_message(answer)});
}

}  // namespace p2pdist::bt
