// Fuzzes the UDP tracker codec (BEP 15) with arbitrary datagrams, read both as a request
// (the tracker's side) and as an answer (the client's, over IPv4 and over IPv6). Beyond
// "never crashes": whatever parses must survive encode -> parse unchanged (but for an
// IPv4-mapped peer in an IPv6 answer: it reads as the IPv4 peer it is, which an IPv6
// answer does not carry), and an error names an offset within the packet.

#include <algorithm>
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
/// What an encoder writes of `r`: all of it, but for the IPv4 peers of an IPv6 answer.
template <class T>
T as_written(T r) {
  if constexpr (std::is_same_v<T, p2pdist::bt::udp_announce_response>) {
    if (r.ipv6) std::erase_if(r.response.peers, [](const auto& p) { return p.ip.is_v4(); });
  }
  return r;
}

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
        check(again.has_value() && std::holds_alternative<T>(*again) && std::get<T>(*again) == as_written(r));
      },
      *parsed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace p2pdist::bt;
  const std::string_view packet(reinterpret_cast<const char*>(data), size);
  round_trip(packet, parse_udp_request, [](const auto& r) { return encode_udp_request(r); });
  for (const bool ipv6 : {false, true})
    round_trip(packet, [ipv6](std::string_view p) { return parse_udp_response(p, ipv6); },
               [](const auto& r) { return encode_udp_response(r); });
  return 0;
}
