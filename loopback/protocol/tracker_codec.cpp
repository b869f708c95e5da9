#include "loopback/protocol/tracker_codec.hpp"

#include <cassert>
#include <limits>
#include <utility>

namespace p2pdist::bt {

namespace {

using error = unexpected<tracker_error>;

error fail(tracker_errc code, std::size_t offset) { return error{tracker_error{code, offset}}; }

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

constexpr bool is_unreserved(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

/// A byte allowed in a request target or URL: visible ASCII.
constexpr bool is_visible(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x21 && u <= 0x7e;
}

constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

/// Percent-decodes `text`, which starts at `base` in the caller's input (for offsets).
result<std::string, tracker_error> decode_at(std::string_view text, std::size_t base) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return fail(tracker_errc::bad_escape, base + i);
    const int hi = hex_value(text[i + 1]);
    const int lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0) return fail(tracker_errc::bad_escape, base + i);
    out += static_cast<char>((hi << 4) | lo);
    i += 2;
  }
  return out;
}

/// Parses a decimal number of at most 20 digits that fits 64 bits; `offset` is where the
/// value starts in the caller's input.
result<std::uint64_t, tracker_error> parse_decimal(std::string_view text, std::size_t offset) {
  if (text.empty()) return fail(tracker_errc::bad_number, offset);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!is_digit(text[i])) return fail(tracker_errc::bad_number, offset);
  }
  if (text.size() > 20) return fail(tracker_errc::number_overflow, offset);
  std::uint64_t value = 0;
  constexpr auto max = std::numeric_limits<std::uint64_t>::max();
  for (char c : text) {
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (max - digit) / 10) return fail(tracker_errc::number_overflow, offset);
    value = value * 10 + digit;
  }
  return value;
}

/// One decoded query parameter and where its raw value starts in the target.
struct query_param {
  std::string key;
  std::string value;
  std::size_t value_offset = 0;
};

/// Checks the target's bytes and its path, then decodes every "key=value" of its query
/// ('&'-separated; empty segments skipped; a key without '=' has an empty value).
result<std::vector<query_param>, tracker_error> split_target(std::string_view target,
                                                             std::string_view expected_path) {
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (!is_visible(target[i])) return fail(tracker_errc::bad_character, i);
  }
  if (target_path(target) != expected_path) return fail(tracker_errc::bad_path, 0);
  std::vector<query_param> params;
  if (target.size() == expected_path.size()) return params;
  std::size_t pos = expected_path.size() + 1;  // past '?'
  while (pos <= target.size()) {
    std::size_t end = target.find('&', pos);
    if (end == std::string_view::npos) end = target.size();
    const std::string_view segment = target.substr(pos, end - pos);
    if (!segment.empty()) {
      const std::size_t eq = segment.find('=');
      const std::string_view raw_key = segment.substr(0, eq);
      const std::string_view raw_value =
          eq == std::string_view::npos ? std::string_view{} : segment.substr(eq + 1);
      const std::size_t value_offset = eq == std::string_view::npos ? end : pos + eq + 1;
      auto key = decode_at(raw_key, pos);
      if (!key) return error{key.error()};
      auto value = decode_at(raw_value, value_offset);
      if (!value) return error{value.error()};
      params.push_back({std::move(key).value(), std::move(value).value(), value_offset});
    }
    pos = end + 1;
  }
  return params;
}

void append_param(std::string& out, std::string_view key, std::string_view encoded_value) {
  if (!out.empty()) out += '&';
  out += key;
  out += '=';
  out += encoded_value;
}

std::span<const std::byte> as_bytes(const std::array<std::byte, 20>& a) { return {a.data(), a.size()}; }

std::array<std::byte, 20> to_id(std::string_view s) {
  assert(s.size() == 20);
  std::array<std::byte, 20> id{};
  for (std::size_t i = 0; i < 20; ++i) id[i] = static_cast<std::byte>(s[i]);
  return id;
}

std::string id_string(const std::array<std::byte, 20>& id) {
  std::string s(20, '\0');
  for (std::size_t i = 0; i < 20; ++i) s[i] = static_cast<char>(id[i]);
  return s;
}

/// Offset of a dictionary's closing 'e', where a missing key "should have been".
std::size_t closing_offset(const bvalue& dict) { return dict.end > 0 ? dict.end - 1 : 0; }

/// Parses the "peers" value (compact string or list of dictionaries) into `out`.
std::optional<tracker_error> parse_peers(const bvalue& peers, std::vector<peer_endpoint>& out) {
  if (const auto* compact = peers.as_string()) {
    if (compact->size() % 6 != 0) return tracker_error{tracker_errc::bad_peers_length, peers.begin};
    out.reserve(compact->size() / 6);
    for (std::size_t i = 0; i < compact->size(); i += 6) {
      const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>((*compact)[i + k]); };
      out.push_back(peer_endpoint{
          .ip = {byte(0), byte(1), byte(2), byte(3)},
          .port = static_cast<std::uint16_t>((byte(4) << 8) | byte(5)),
          .id = std::nullopt,
      });
    }
    return std::nullopt;
  }
  const auto* list = peers.as_list();
  if (list == nullptr) return tracker_error{tracker_errc::wrong_type, peers.begin};
  out.reserve(list->size());
  for (const bvalue& entry : *list) {
    if (!entry.is_dict()) return tracker_error{tracker_errc::not_a_dictionary, entry.begin};
    const bvalue* ip = entry.find("ip");
    const bvalue* port = entry.find("port");
    if (ip == nullptr || port == nullptr) {
      return tracker_error{tracker_errc::bad_peer_entry, closing_offset(entry)};
    }
    const auto* ip_text = ip->as_string();
    if (ip_text == nullptr) return tracker_error{tracker_errc::wrong_type, ip->begin};
    const auto* port_number = port->as_int();
    if (port_number == nullptr) return tracker_error{tracker_errc::wrong_type, port->begin};
    if (*port_number < 0 || *port_number > 65535) return tracker_error{tracker_errc::bad_port, port->begin};
    std::optional<peer_id> id;
    if (const bvalue* id_value = entry.find("peer id")) {
      const auto* id_text = id_value->as_string();
      if (id_text == nullptr) return tracker_error{tracker_errc::wrong_type, id_value->begin};
      if (id_text->size() != 20) return tracker_error{tracker_errc::bad_peer_id, id_value->begin};
      id = to_id(*id_text);
    }
    const auto address = parse_ipv4(*ip_text);
    if (!address) continue;  // a host name or IPv6: not for us
    out.push_back(peer_endpoint{
        .ip = *address, .port = static_cast<std::uint16_t>(*port_number), .id = id});
  }
  return std::nullopt;
}

/// Reads an optional interval key into `out`.
std::optional<tracker_error> read_interval(const bvalue& value, std::chrono::seconds& out) {
  const auto* seconds = value.as_int();
  if (seconds == nullptr) return tracker_error{tracker_errc::wrong_type, value.begin};
  if (*seconds < 1 || *seconds > max_announce_interval.count()) {
    return tracker_error{tracker_errc::bad_interval, value.begin};
  }
  out = std::chrono::seconds{*seconds};
  return std::nullopt;
}

std::optional<tracker_error> read_count(const bvalue& value, std::optional<std::int64_t>& out) {
  const auto* count = value.as_int();
  if (count == nullptr) return tracker_error{tracker_errc::wrong_type, value.begin};
  if (*count < 0) return tracker_error{tracker_errc::bad_count, value.begin};
  out = *count;
  return std::nullopt;
}

bvalue peer_dictionary(const peer_endpoint& peer) {
  bvalue::dict d;
  d.emplace("ip", format_ipv4(peer.ip));
  d.emplace("port", bvalue::integer{peer.port});
  if (peer.id) d.emplace("peer id", id_string(*peer.id));
  return d;
}

}  // namespace

std::string_view to_string(tracker_errc code) noexcept {
  switch (code) {
    case tracker_errc::bad_url_scheme: return "URL scheme is not http://";
    case tracker_errc::bad_url_host: return "URL host is not a dotted IPv4 address or localhost";
    case tracker_errc::bad_url_port: return "URL port is not a number in 1..65535";
    case tracker_errc::request_line_too_long: return "request line too long";
    case tracker_errc::bad_request_line: return "malformed request line";
    case tracker_errc::bad_method: return "method is not GET";
    case tracker_errc::bad_http_version: return "HTTP version is not 1.0 or 1.1";
    case tracker_errc::bad_character: return "byte not allowed in a request target";
    case tracker_errc::bad_path: return "unexpected path";
    case tracker_errc::bad_escape: return "invalid percent escape";
    case tracker_errc::duplicate_parameter: return "parameter given twice";
    case tracker_errc::missing_info_hash: return "missing info_hash";
    case tracker_errc::missing_peer_id: return "missing peer_id";
    case tracker_errc::missing_port: return "missing port";
    case tracker_errc::missing_uploaded: return "missing uploaded";
    case tracker_errc::missing_downloaded: return "missing downloaded";
    case tracker_errc::missing_left: return "missing left";
    case tracker_errc::bad_info_hash: return "info_hash is not 20 bytes";
    case tracker_errc::bad_peer_id: return "peer id is not 20 bytes";
    case tracker_errc::bad_port: return "port out of range";
    case tracker_errc::bad_number: return "number is empty or not decimal";
    case tracker_errc::number_overflow: return "number too large";
    case tracker_errc::bad_compact: return "compact is not 0 or 1";
    case tracker_errc::bad_bencode: return "response is not valid bencode";
    case tracker_errc::not_a_dictionary: return "expected a dictionary";
    case tracker_errc::wrong_type: return "value of the wrong type";
    case tracker_errc::missing_interval: return "missing interval";
    case tracker_errc::bad_interval: return "interval out of range";
    case tracker_errc::missing_peers: return "missing peers";
    case tracker_errc::bad_peers_length: return "compact peers length is not a multiple of 6";
    case tracker_errc::bad_peer_entry: return "peer entry without ip or port";
    case tracker_errc::bad_count: return "negative peer count";
  }
  return "unknown tracker error";
}

std::string_view to_string(announce_event event) noexcept {
  switch (event) {
    case announce_event::none: return "";
    case announce_event::started: return "started";
    case announce_event::completed: return "completed";
    case announce_event::stopped: return "stopped";
  }
  return "";
}

std::optional<std::array<std::uint8_t, 4>> parse_ipv4(std::string_view text) noexcept {
  std::array<std::uint8_t, 4> ip{};
  std::size_t pos = 0;
  for (std::size_t part = 0; part < 4; ++part) {
    if (part > 0) {
      if (pos >= text.size() || text[pos] != '.') return std::nullopt;
      ++pos;
    }
    const std::size_t start = pos;
    unsigned value = 0;
    while (pos < text.size() && is_digit(text[pos]) && pos - start < 3) {
      value = value * 10 + static_cast<unsigned>(text[pos] - '0');
      ++pos;
    }
    const std::size_t digits = pos - start;
    if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0')) return std::nullopt;
    ip[part] = static_cast<std::uint8_t>(value);
  }
  if (pos != text.size()) return std::nullopt;
  return ip;
}

std::string format_ipv4(const std::array<std::uint8_t, 4>& ip) {
  std::string out;
  out.reserve(15);
  for (std::size_t i = 0; i < 4; ++i) {
    if (i > 0) out += '.';
    out += std::to_string(ip[i]);
  }
  return out;
}

std::string percent_encode(std::span<const std::byte> bytes) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 3);
  for (std::byte b : bytes) {
    const auto c = std::to_integer<unsigned char>(b);
    if (is_unreserved(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

std::string percent_encode(std::string_view bytes) {
  return percent_encode(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())));
}

result<std::string, tracker_error> percent_decode(std::string_view text) { return decode_at(text, 0); }

std::string announce_query(const announce_request& request) {
  std::string q;
  q.reserve(200);
  append_param(q, "info_hash", percent_encode(as_bytes(request.info_hash)));
  append_param(q, "peer_id", percent_encode(as_bytes(request.id)));
  append_param(q, "port", std::to_string(request.port));
  append_param(q, "uploaded", std::to_string(request.uploaded_bytes));
  append_param(q, "downloaded", std::to_string(request.downloaded_bytes));
  append_param(q, "left", std::to_string(request.left_bytes));
  if (request.event != announce_event::none) append_param(q, "event", to_string(request.event));
  append_param(q, "compact", request.compact ? "1" : "0");
  if (request.numwant) append_param(q, "numwant", std::to_string(*request.numwant));
  if (request.key) append_param(q, "key", percent_encode(*request.key));
  if (request.ip) append_param(q, "ip", percent_encode(*request.ip));
  return q;
}

std::string announce_target(std::string_view url_target, const announce_request& request) {
  std::string out(url_target);
  if (out.find('?') == std::string::npos) {
    out += '?';
  } else if (out.back() != '?' && out.back() != '&') {
    out += '&';
  }
  out += announce_query(request);
  return out;
}

std::string_view target_path(std::string_view target) noexcept {
  return target.substr(0, target.find('?'));
}

result<http_url, tracker_error> parse_http_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (url.size() < scheme.size() || !iequals(url.substr(0, scheme.size()), scheme)) {
    return fail(tracker_errc::bad_url_scheme, 0);
  }
  for (std::size_t i = 0; i < url.size(); ++i) {
    if (!is_visible(url[i]) || url[i] == '#') return fail(tracker_errc::bad_character, i);
  }
  const std::size_t host_begin = scheme.size();
  std::size_t authority_end = url.find_first_of("/?", host_begin);
  if (authority_end == std::string_view::npos) authority_end = url.size();
  const std::string_view authority = url.substr(host_begin, authority_end - host_begin);
  const std::size_t colon = authority.find(':');
  const std::string_view host = authority.substr(0, colon);

  http_url out;
  if (iequals(host, "localhost")) {
    out.address = {127, 0, 0, 1};
  } else if (auto ip = parse_ipv4(host)) {
    out.address = *ip;
  } else {
    return fail(tracker_errc::bad_url_host, host_begin);
  }
  out.host = std::string(host);

  if (colon != std::string_view::npos) {
    const std::string_view port = authority.substr(colon + 1);
    const std::size_t port_offset = host_begin + colon + 1;
    if (port.empty() || port.size() > 5) return fail(tracker_errc::bad_url_port, port_offset);
    unsigned value = 0;
    for (char c : port) {
      if (!is_digit(c)) return fail(tracker_errc::bad_url_port, port_offset);
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return fail(tracker_errc::bad_url_port, port_offset);
    out.port = static_cast<std::uint16_t>(value);
  }

  // The target is the rest of the URL, with "/" put in front when the path is empty. (Built
  // by append: GCC 12 at -O3 warns falsely (-Wrestrict) on assigning a literal or "/" + s here.)
  const std::string_view rest = url.substr(authority_end);
  out.target.clear();
  if (rest.empty() || rest.front() == '?') out.target.push_back('/');
  out.target.append(rest);
  return out;
}

result<request_line, tracker_error> parse_request_line(std::string_view line, std::size_t max_bytes) {
  if (line.size() > max_bytes) return fail(tracker_errc::request_line_too_long, max_bytes);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return fail(tracker_errc::bad_request_line, line.size());
  if (sp1 == 0) return fail(tracker_errc::bad_request_line, 0);
  if (line.substr(0, sp1) != "GET") return fail(tracker_errc::bad_method, 0);
  const std::size_t target_begin = sp1 + 1;
  const std::size_t sp2 = line.find(' ', target_begin);
  if (sp2 == std::string_view::npos) return fail(tracker_errc::bad_request_line, line.size());
  if (sp2 == target_begin) return fail(tracker_errc::bad_request_line, target_begin);
  for (std::size_t i = target_begin; i < sp2; ++i) {
    if (!is_visible(line[i])) return fail(tracker_errc::bad_character, i);
  }
  const std::string_view version = line.substr(sp2 + 1);
  request_line out{.target = line.substr(target_begin, sp2 - target_begin), .minor_version = 1};
  if (version == "HTTP/1.1") {
    out.minor_version = 1;
  } else if (version == "HTTP/1.0") {
    out.minor_version = 0;
  } else {
    return fail(tracker_errc::bad_http_version, sp2 + 1);
  }
  return out;
}

result<announce_request, tracker_error> parse_announce_target(std::string_view target) {
  auto params = split_target(target, "/announce");
  if (!params) return error{params.error()};

  enum field : unsigned {
    f_info_hash = 1u << 0,
    f_peer_id = 1u << 1,
    f_port = 1u << 2,
    f_uploaded = 1u << 3,
    f_downloaded = 1u << 4,
    f_left = 1u << 5,
    f_event = 1u << 6,
    f_compact = 1u << 7,
    f_numwant = 1u << 8,
    f_key = 1u << 9,
    f_ip = 1u << 10,
  };
  struct known {
    std::string_view name;
    field bit;
  };
  static constexpr known names[] = {
      {"info_hash", f_info_hash}, {"peer_id", f_peer_id},       {"port", f_port},
      {"uploaded", f_uploaded},   {"downloaded", f_downloaded}, {"left", f_left},
      {"event", f_event},         {"compact", f_compact},       {"numwant", f_numwant},
      {"key", f_key},             {"ip", f_ip},
  };

  announce_request req;
  unsigned seen = 0;
  for (query_param& p : *params) {
    field bit{};
    for (const known& k : names) {
      if (p.key == k.name) bit = k.bit;
    }
    if (bit == field{}) continue;  // unknown: ignored
    if ((seen & bit) != 0) return fail(tracker_errc::duplicate_parameter, p.value_offset);
    seen |= bit;
    const std::size_t at = p.value_offset;
    switch (bit) {
      case f_info_hash:
        if (p.value.size() != 20) return fail(tracker_errc::bad_info_hash, at);
        req.info_hash = to_id(p.value);
        break;
      case f_peer_id:
        if (p.value.size() != 20) return fail(tracker_errc::bad_peer_id, at);
        req.id = to_id(p.value);
        break;
      case f_port: {
        auto n = parse_decimal(p.value, at);
        if (!n) return error{n.error()};
        if (*n == 0 || *n > 65535) return fail(tracker_errc::bad_port, at);
        req.port = static_cast<std::uint16_t>(*n);
        break;
      }
      case f_uploaded:
      case f_downloaded:
      case f_left: {
        auto n = parse_decimal(p.value, at);
        if (!n) return error{n.error()};
        if (bit == f_uploaded) {
          req.uploaded_bytes = *n;
        } else if (bit == f_downloaded) {
          req.downloaded_bytes = *n;
        } else {
          req.left_bytes = *n;
        }
        break;
      }
      case f_event:
        if (p.value == "started") {
          req.event = announce_event::started;
        } else if (p.value == "completed") {
          req.event = announce_event::completed;
        } else if (p.value == "stopped") {
          req.event = announce_event::stopped;
        } else {
          req.event = announce_event::none;  // "", "empty", "paused" or anything unknown
        }
        break;
      case f_compact:
        if (p.value == "1") {
          req.compact = true;
        } else if (p.value == "0") {
          req.compact = false;
        } else {
          return fail(tracker_errc::bad_compact, at);
        }
        break;
      case f_numwant: {
        auto n = parse_decimal(p.value, at);
        if (!n) return error{n.error()};
        if (*n > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
          return fail(tracker_errc::number_overflow, at);
        }
        req.numwant = static_cast<int>(*n);
        break;
      }
      case f_key: req.key = std::move(p.value); break;
      case f_ip: req.ip = std::move(p.value); break;
    }
  }

  static constexpr std::pair<field, tracker_errc> required[] = {
      {f_info_hash, tracker_errc::missing_info_hash}, {f_peer_id, tracker_errc::missing_peer_id},
      {f_port, tracker_errc::missing_port},           {f_uploaded, tracker_errc::missing_uploaded},
      {f_downloaded, tracker_errc::missing_downloaded}, {f_left, tracker_errc::missing_left},
  };
  for (const auto& [bit, code] : required) {
    if ((seen & bit) == 0) return fail(code, target.size());
  }
  return req;
}

std::string encode_announce_response(const announce_response& response, peer_form form) {
  if (response.failure_reason) return encode_failure(*response.failure_reason);
  assert(response.interval.count() >= 1);
  bvalue::dict d;
  d.emplace("interval", static_cast<bvalue::integer>(response.interval.count()));
  if (response.min_interval) {
    d.emplace("min interval", static_cast<bvalue::integer>(response.min_interval->count()));
  }
  if (response.complete) d.emplace("complete", bvalue::integer{*response.complete});
  if (response.incomplete) d.emplace("incomplete", bvalue::integer{*response.incomplete});
  if (response.warning) d.emplace("warning message", *response.warning);
  if (form == peer_form::compact) {
    std::string compact;
    compact.reserve(response.peers.size() * 6);
    for (const peer_endpoint& p : response.peers) {
      for (std::uint8_t b : p.ip) compact += static_cast<char>(b);
      compact += static_cast<char>(p.port >> 8);
      compact += static_cast<char>(p.port & 0xff);
    }
    d.emplace("peers", std::move(compact));
  } else {
    bvalue::list peers;
    peers.reserve(response.peers.size());
    for (const peer_endpoint& p : response.peers) peers.push_back(peer_dictionary(p));
    d.emplace("peers", std::move(peers));
  }
  return bencode(bvalue{std::move(d)});
}

std::string encode_failure(std::string_view reason) {
  bvalue::dict d;
  d.emplace("failure reason", std::string(reason));
  return bencode(bvalue{std::move(d)});
}

result<announce_response, tracker_error> parse_announce_response(std::string_view body,
                                                                 const bencode_limits& limits) {
  auto decoded = bdecode(body, limits);
  if (!decoded) return fail(tracker_errc::bad_bencode, decoded.error().offset);
  const bvalue& root = *decoded;
  if (!root.is_dict()) return fail(tracker_errc::not_a_dictionary, root.begin);

  announce_response out;
  if (const bvalue* failure = root.find("failure reason")) {
    const auto* text = failure->as_string();
    if (text == nullptr) return fail(tracker_errc::wrong_type, failure->begin);
    out.failure_reason = *text;
    return out;
  }

  const bvalue* interval = root.find("interval");
  if (interval == nullptr) return fail(tracker_errc::missing_interval, closing_offset(root));
  if (auto e = read_interval(*interval, out.interval)) return error{*e};
  if (const bvalue* min_interval = root.find("min interval")) {
    std::chrono::seconds value{};
    if (auto e = read_interval(*min_interval, value)) return error{*e};
    out.min_interval = value;
  }
  if (const bvalue* complete = root.find("complete")) {
    if (auto e = read_count(*complete, out.complete)) return error{*e};
  }
  if (const bvalue* incomplete = root.find("incomplete")) {
    if (auto e = read_count(*incomplete, out.incomplete)) return error{*e};
  }
  if (const bvalue* warning = root.find("warning message")) {
    const auto* text = warning->as_string();
    if (text == nullptr) return fail(tracker_errc::wrong_type, warning->begin);
    out.warning = *text;
  }
  const bvalue* peers = root.find("peers");
  if (peers == nullptr) {
    if (root.find("peers6") == nullptr) return fail(tracker_errc::missing_peers, closing_offset(root));
    return out;
  }
  if (auto e = parse_peers(*peers, out.peers)) return error{*e};
  return out;
}

result<announce_response, tracker_error> parse_announce_response(std::span<const std::byte> body,
                                                                 const bencode_limits& limits) {
  return parse_announce_response(
      std::string_view(reinterpret_cast<const char*>(body.data()), body.size()), limits);
}

result<scrape_request, tracker_error> parse_scrape_target(std::string_view target) {
  auto params = split_target(target, "/scrape");
  if (!params) return error{params.error()};
  scrape_request out;
  for (const query_param& p : *params) {
    if (p.key != "info_hash") continue;
    if (p.value.size() != 20) return fail(tracker_errc::bad_info_hash, p.value_offset);
    out.info_hashes.push_back(to_id(p.value));
  }
  return out;
}

std::string encode_scrape_response(std::span<const scrape_entry> entries) {
  bvalue::dict files;
  for (const scrape_entry& e : entries) {
    assert(e.complete >= 0 && e.downloaded >= 0 && e.incomplete >= 0);
    bvalue::dict counts;
    counts.emplace("complete", bvalue::integer{e.complete});
    counts.emplace("downloaded", bvalue::integer{e.downloaded});
    counts.emplace("incomplete", bvalue::integer{e.incomplete});
    [[maybe_unused]] const bool inserted = files.emplace(id_string(e.info_hash), std::move(counts)).second;
    assert(inserted);
  }
  bvalue::dict root;
  root.emplace("files", std::move(files));
  return bencode(bvalue{std::move(root)});
}

}  // namespace p2pdist::bt
