#include "loopback/protocol/udp_tracker_codec.hpp"

#include <algorithm>
#include <limits>

namespace p2pdist::bt {

namespace {

using failure = unexpected<udp_error>;

failure fail(udp_errc code, std::size_t offset) { return failure{udp_error{code, offset}}; }

// Big-endian writers and readers. The readers' callers check the length first.
void put32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}
void put64(std::string& out, std::uint64_t v) {
  put32(out, static_cast<std::uint32_t>(v >> 32));
  put32(out, static_cast<std::uint32_t>(v));
}
void put16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}
void put_id(std::string& out, const std::array<std::byte, 20>& id) {
  for (auto b : id) out.push_back(static_cast<char>(b));
}
std::uint32_t get32(std::string_view p, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[at + i]);
  return v;
}
std::uint64_t get64(std::string_view p, std::size_t at) {
  return (std::uint64_t{get32(p, at)} << 32) | get32(p, at + 4);
}
std::uint16_t get16(std::string_view p, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(p[at]) << 8) | static_cast<unsigned char>(p[at + 1]));
}
std::array<std::byte, 20> get_id(std::string_view p, std::size_t at) {
  std::array<std::byte, 20> id{};
  for (std::size_t i = 0; i < 20; ++i) id[i] = static_cast<std::byte>(p[at + i]);
  return id;
}

constexpr std::uint32_t int32_max = std::numeric_limits<std::int32_t>::max();

std::uint32_t clamp32(std::int64_t v) { return static_cast<std::uint32_t>(std::clamp<std::int64_t>(v, 0, int32_max)); }

// 4 raw bytes as a 32-bit number; anything else (absent, another length) as 0.
std::uint32_t four_bytes(const std::optional<std::string>& s) { return s && s->size() == 4 ? get32(*s, 0) : 0; }
std::optional<std::string> four_bytes_back(std::uint32_t v) {
  if (v == 0) return std::nullopt;
  std::string s;
  put32(s, v);
  return s;
}

std::uint32_t event_code(announce_event e) {
  switch (e) {
    case announce_event::none: return 0;
    case announce_event::completed: return 1;
    case announce_event::started: return 2;
    case announce_event::stopped: return 3;
  }
  return 0;
}

std::string header(udp_action action, std::uint32_t transaction_id) {
  std::string out;
  put32(out, static_cast<std::uint32_t>(action));
  put32(out, transaction_id);
  return out;
}

result<udp_request, udp_error> parse_announce(std::string_view p) {
  if (p.size() < udp_announce_request_bytes) return fail(udp_errc::too_short, p.size());
  udp_announce_request r{.connection_id = get64(p, 0), .transaction_id = get32(p, 12)};
  auto& a = r.request;
  a.info_hash = get_id(p, 16);
  a.id = get_id(p, 36);
  a.downloaded_bytes = get64(p, 56);
  a.left_bytes = get64(p, 64);
  a.uploaded_bytes = get64(p, 72);
  const auto event = get32(p, 80);
  if (event > 3) return fail(udp_errc::bad_event, 80);
  constexpr announce_event events[] = {announce_event::none, announce_event::completed, announce_event::started,
                                       announce_event::stopped};
  a.event = events[event];
  a.ip = four_bytes_back(get32(p, 84));
  a.key = four_bytes_back(get32(p, 88));
  const auto numwant = static_cast<std::int32_t>(get32(p, 92));
  if (numwant >= 0) a.numwant = numwant;  // -1 (or any negative): the tracker's default
  a.port = get16(p, 96);
  if (a.port == 0) return fail(udp_errc::bad_port, 96);
  a.compact = true;
  return udp_request{std::move(r)};
}

result<udp_request, udp_error> parse_scrape(std::string_view p) {
  if (p.size() < udp_scrape_request_header_bytes + 20) return fail(udp_errc::too_short, p.size());
  const std::size_t body = p.size() - udp_scrape_request_header_bytes;
  if (body % 20 != 0) return fail(udp_errc::bad_length, udp_scrape_request_header_bytes);
  if (body / 20 > udp_max_scrape_hashes) return fail(udp_errc::too_many_hashes, udp_scrape_request_header_bytes);
  udp_scrape_request r{.connection_id = get64(p, 0), .transaction_id = get32(p, 12)};
  for (std::size_t at = udp_scrape_request_header_bytes; at < p.size(); at += 20) r.info_hashes.push_back(get_id(p, at));
  return udp_request{std::move(r)};
}

}  // namespace

std::string_view to_string(udp_errc code) noexcept {
  switch (code) {
    case udp_errc::too_short: return "packet too short";
    case udp_errc::bad_protocol_id: return "connect request without the protocol id";
    case udp_errc::unknown_action: return "unknown action";
    case udp_errc::bad_length: return "packet length is not a whole number of entries";
    case udp_errc::bad_event: return "announce event outside 0..3";
    case udp_errc::bad_port: return "announce with port 0";
    case udp_errc::too_many_hashes: return "scrape of more than 74 info-hashes";
  }
  return "unknown error";
}

std::string encode_udp_request(const udp_connect_request& r) {
  std::string out;
  put64(out, udp_protocol_id);
  put32(out, static_cast<std::uint32_t>(udp_action::connect));
  put32(out, r.transaction_id);
  return out;
}

std::string encode_udp_request(const udp_announce_request& r) {
  const auto& a = r.request;
  std::string out;
  out.reserve(udp_announce_request_bytes);
  put64(out, r.connection_id);
  put32(out, static_cast<std::uint32_t>(udp_action::announce));
  put32(out, r.transaction_id);
  put_id(out, a.info_hash);
  put_id(out, a.id);
  put64(out, a.downloaded_bytes);
  put64(out, a.left_bytes);
  put64(out, a.uploaded_bytes);
  put32(out, event_code(a.event));
  put32(out, four_bytes(a.ip));
  put32(out, four_bytes(a.key));
  put32(out, a.numwant ? clamp32(*a.numwant) : 0xffffffffu);  // -1: the tracker's default
  put16(out, a.port);
  return out;
}

std::string encode_udp_request(const udp_scrape_request& r) {
  std::string out;
  put64(out, r.connection_id);
  put32(out, static_cast<std::uint32_t>(udp_action::scrape));
  put32(out, r.transaction_id);
  for (const auto& h : r.info_hashes) put_id(out, h);
  return out;
}

std::string encode_udp_response(const udp_connect_response& r) {
  auto out = header(udp_action::connect, r.transaction_id);
  put64(out, r.connection_id);
  return out;
}

std::string encode_udp_response(const udp_announce_response& r) {
  const auto& a = r.response;
  auto out = header(udp_action::announce, r.transaction_id);
  put32(out, clamp32(a.interval.count()));
  put32(out, clamp32(a.incomplete.value_or(0)));
  put32(out, clamp32(a.complete.value_or(0)));
  for (const auto& p : a.peers) {
    if (p.ip.is_v4() == r.ipv6) continue;
    const auto& bytes = p.ip.bytes();
    for (std::size_t i = r.ipv6 ? 0 : 12; i < 16; ++i) out.push_back(static_cast<char>(bytes[i]));
    put16(out, p.port);
  }
  return out;
}

std::string encode_udp_response(const udp_scrape_response& r) {
  auto out = header(udp_action::scrape, r.transaction_id);
  for (const auto& e : r.entries) {
    put32(out, clamp32(e.seeders));
    put32(out, clamp32(e.completed));
    put32(out, clamp32(e.leechers));
  }
  return out;
}

std::string encode_udp_response(const udp_error_response& r) {
  auto out = header(udp_action::error, r.transaction_id);
  out += r.message;
  return out;
}

std::optional<std::uint32_t> udp_request_transaction(std::string_view packet) noexcept {
  if (packet.size() < udp_connect_bytes) return std::nullopt;
  return get32(packet, 12);
}

std::optional<std::uint32_t> udp_response_transaction(std::string_view packet) noexcept {
  if (packet.size() < 8) return std::nullopt;
  return get32(packet, 4);
}

result<udp_request, udp_error> parse_udp_request(std::string_view p) {
  if (p.size() < udp_connect_bytes) return fail(udp_errc::too_short, p.size());
  const auto action = get32(p, 8);
  if (action == static_cast<std::uint32_t>(udp_action::connect)) {
    if (get64(p, 0) != udp_protocol_id) return fail(udp_errc::bad_protocol_id, 0);
    return udp_request{udp_connect_request{.transaction_id = get32(p, 12)}};
  }
  if (action == static_cast<std::uint32_t>(udp_action::announce)) return parse_announce(p);
  if (action == static_cast<std::uint32_t>(udp_action::scrape)) return parse_scrape(p);
  return fail(udp_errc::unknown_action, 8);
}

result<udp_response, udp_error> parse_udp_response(std::string_view p, bool ipv6) {
  if (p.size() < 8) return fail(udp_errc::too_short, p.size());
  const auto action = get32(p, 0);
  const auto tid = get32(p, 4);
  switch (action) {
    case static_cast<std::uint32_t>(udp_action::connect):
      if (p.size() < udp_connect_bytes) return fail(udp_errc::too_short, p.size());
      return udp_response{udp_connect_response{.transaction_id = tid, .connection_id = get64(p, 8)}};
    case static_cast<std::uint32_t>(udp_action::announce): {
      if (p.size() < udp_announce_response_header_bytes) return fail(udp_errc::too_short, p.size());
      const std::size_t body = p.size() - udp_announce_response_header_bytes;
      const std::size_t stride = ipv6 ? 18 : 6;
      if (body % stride != 0) return fail(udp_errc::bad_length, p.size() - body % stride);
      udp_announce_response r{.transaction_id = tid, .ipv6 = ipv6};
      auto& a = r.response;
      // BEP 15 carries these as signed 32-bit numbers: a negative count reads as 0, and the
      // interval is held within 1 s .. max_announce_interval, as an HTTP answer must be.
      a.interval = std::chrono::seconds(std::clamp<std::int64_t>(static_cast<std::int32_t>(get32(p, 8)), 1,
                                                                 max_announce_interval.count()));
      a.incomplete = std::max<std::int32_t>(0, static_cast<std::int32_t>(get32(p, 12)));
      a.complete = std::max<std::int32_t>(0, static_cast<std::int32_t>(get32(p, 16)));
      for (std::size_t at = udp_announce_response_header_bytes; at < p.size(); at += stride) {
        ip_address::v6_bytes bytes{};
        for (std::size_t i = 0; i < stride - 2; ++i) bytes[i] = static_cast<std::uint8_t>(p[at + i]);
        const ip_address ip = ipv6 ? ip_address::from_v6(bytes) : ip_address(bytes[0], bytes[1], bytes[2], bytes[3]);
        a.peers.push_back(peer_endpoint{.ip = ip, .port = get16(p, at + stride - 2)});
      }
      return udp_response{std::move(r)};
    }
    case static_cast<std::uint32_t>(udp_action::scrape): {
      const std::size_t body = p.size() - 8;
      if (body % 12 != 0) return fail(udp_errc::bad_length, p.size() - body % 12);
      udp_scrape_response r{.transaction_id = tid};
      const auto count = [&](std::size_t at) { return std::max<std::int32_t>(0, static_cast<std::int32_t>(get32(p, at))); };
      for (std::size_t at = 8; at < p.size(); at += 12)
        r.entries.push_back({.seeders = count(at), .completed = count(at + 4), .leechers = count(at + 8)});
      return udp_response{std::move(r)};
    }
    case static_cast<std::uint32_t>(udp_action::error):
      return udp_response{udp_error_response{.transaction_id = tid, .message = std::string(p.substr(8))}};
    default:
      return fail(udp_errc::unknown_action, 0);
  }
}

}  // namespace p2pdist::bt
