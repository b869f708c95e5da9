// Fuzzes the magnet link parser (BEP 9) with arbitrary text. Beyond "never crashes": an
// error names an offset within the text (a bad escape's offset is its '%'); an accepted
// link has distinct, non-empty trackers; and make_magnet of what was read parses back to the
// same info-hash, name and trackers, and writes the same link again.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "loopback/protocol/magnet.hpp"

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace p2pdist::bt;
  using p2pdist::fuzz::check;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const auto link = parse_magnet(text);
  if (!link) {
    const auto& e = link.error();
    check(e.offset <= text.size());
    check(!to_string(e.code).empty());
    if (e.code == magnet_errc::not_a_magnet) check(e.offset == 0);
    if (e.code == magnet_errc::bad_escape) check(e.offset < text.size() && text[e.offset] == '%');
    if (e.code == magnet_errc::too_long) check(text.size() > max_magnet_bytes);
    return 0;
  }
  check(looks_like_magnet(text));
  check(text.size() <= max_magnet_bytes);
  for (std::size_t i = 0; i < link->trackers.size(); ++i) {
    check(!link->trackers[i].empty());
    check(std::find(link->trackers.begin() + static_cast<std::ptrdiff_t>(i) + 1, link->trackers.end(),
                    link->trackers[i]) == link->trackers.end());
  }

  const std::string made = make_magnet(link->info_hash, link->display_name, link->trackers);
  const auto again = parse_magnet(made);
  if (made.size() > max_magnet_bytes) {
    // Escaping can triple a name's length: such a link is refused as too long, not misread.
    check(!again.has_value() && again.error().code == magnet_errc::too_long);
    return 0;
  }
  check(again.has_value());
  check(again->info_hash == link->info_hash);
  check(again->display_name == link->display_name);
  check(again->trackers == link->trackers);
  check(make_magnet(again->info_hash, again->display_name, again->trackers) == made);
  return 0;
}
