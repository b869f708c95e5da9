// Fuzzes the tracker server's parsers of untrusted request bytes: the announce target,
// the scrape target, the request line, percent-decoding and announce URLs. Properties:
// a parsed announce, rebuilt with announce_target(), parses to the same fields and makes a
// valid request line; percent-decoded text survives encode -> decode.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "loopback/protocol/tracker_codec.hpp"

#include "fuzz_check.hpp"

using p2pdist::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace p2pdist::bt;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  if (const auto req = parse_announce_target(input)) {
    check(req->port != 0);
    const std::string rebuilt = announce_target("/announce", *req);
    const auto again = parse_announce_target(rebuilt);
    check(again.has_value() && *again == *req);
    const std::string line = "GET " + rebuilt + " HTTP/1.1";
    const auto parsed_line = parse_request_line(line, line.size());
    check(parsed_line.has_value() && parsed_line->target == rebuilt);
  } else {
    check(req.error().offset <= size);
  }

  if (const auto scrape = parse_scrape_target(input); !scrape) check(scrape.error().offset <= size);

  if (const auto line = parse_request_line(input, 4096)) {
    check(!line->target.empty());
    check(line->target.data() >= input.data() && line->target.data() + line->target.size() <= input.data() + size);
  } else {
    check(line.error().offset <= size);
  }

  if (const auto decoded = percent_decode(input)) {
    const auto again = percent_decode(percent_encode(*decoded));
    check(again.has_value() && *again == *decoded);
  } else {
    check(decoded.error().offset < size && input[decoded.error().offset] == '%');
  }

  if (const auto url = parse_tracker_url(input)) {
    check(url->port != 0 && !url->target.empty() && url->target.front() == '/');
  } else {
    check(url.error().offset <= size);
  }
  return 0;
}
