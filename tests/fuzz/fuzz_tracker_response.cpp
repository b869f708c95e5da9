// Fuzzes parse_announce_response, and parse_scrape_response, with arbitrary bodies. Beyond
// "never crashes": whatever parses must survive encode -> parse unchanged (the list form
// keeps everything; the compact form keeps everything but peer ids, and puts IPv4 peers
// before IPv6 ones, "peers" before "peers6"), and a failure must keep its reason.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "loopback/protocol/tracker_codec.hpp"

#include "fuzz_check.hpp"

using p2pdist::fuzz::check;

namespace {

// The same bytes as a scrape answer (BEP 48): what parses survives encode -> parse.
void scrape(std::string_view body) {
  using namespace p2pdist::bt;
  const auto parsed = parse_scrape_response(body);
  if (!parsed) {
    check(parsed.error().offset <= body.size());
    return;
  }
  if (parsed->failure_reason) return;
  const auto again = parse_scrape_response(encode_scrape_response(parsed->entries));
  check(again.has_value() && !again->failure_reason && again->entries.size() == parsed->entries.size());
  for (std::size_t i = 0; i < parsed->entries.size(); ++i) {
    const auto& a = parsed->entries[i];
    const auto& b = again->entries[i];
    check(a.info_hash == b.info_hash && a.complete == b.complete && a.downloaded == b.downloaded &&
          a.incomplete == b.incomplete);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace p2pdist::bt;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  scrape(body);
  const auto parsed = parse_announce_response(body);
  if (!parsed) {
    check(parsed.error().offset <= size);
    check(!to_string(parsed.error().code).empty());
    return 0;
  }
  const announce_response& r = *parsed;
  if (r.failure_reason) {
    const auto again = parse_announce_response(encode_failure(*r.failure_reason));
    check(again.has_value() && again->failure_reason == r.failure_reason);
    return 0;
  }
  check(r.interval.count() >= 1 && r.interval <= max_announce_interval);

  const auto list = parse_announce_response(encode_announce_response(r, peer_form::dictionaries));
  check(list.has_value() && *list == r);

  const auto compact = parse_announce_response(encode_announce_response(r, peer_form::compact));
  check(compact.has_value());
  announce_response without_ids = r;
  for (auto& p : without_ids.peers) p.id.reset();
  std::stable_partition(without_ids.peers.begin(), without_ids.peers.end(), [](const peer_endpoint& p) { return p.ip.is_v4(); });
  check(*compact == without_ids);
  return 0;
}
