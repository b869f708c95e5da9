// Fuzzes the UDP tracker codec (BEP 15) with arbitrary datagrams, read both as a request
// (the tracker's side) and as an answer (the client's). Beyond "never crashes": whatever
// parses must survive encode -> parse unchanged, and an error names an offset within the
// packet.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <variant>

#include "loopback/protocol/udp_tracker_codec.hpp"

#include "fuzz_check.hpp"

namespace {

using p2pdist::fuzz::check;

/// Whatever `parse` reads from `packet` must survive encode -> parse unchanged; an error
/// names an offset within the packet.
template <class Parse, class Encode>
void round_trip(std::string_view packet, Parse parse, Encode encode) {
  const auto parsed = parse(packet);
  if (!parsed) {
    check(parsed.error().offset <= packet.size());
    check(!p2pdist::bt::to_string(parsed.error().code).empty());
    return;
  }
  std::visit(
      [&](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        const auto again = parse(encode(r));
        check(again.has_value() && std::holds_alternative<T>(*again) && std::get<T>(*again) == r);
      },
      *parsed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace p2pdist::bt;
  const std::string_view packet(reinterpret_cast<const char*>(data), size);
  round_trip(packet, parse_udp_request, [](const auto& r) { return encode_udp_request(r); });
  round_trip(packet, parse_udp_response, [](const auto& r) { return encode_udp_response(r); });
  return 0;
}
