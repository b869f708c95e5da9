// The shared parts (error and event names, IPv4, percent encoding) and the client side:
// announce URLs, the announce query, and the tracker's response. The server side is in
// tracker_codec_server.cpp.
#include "loopback/protocol/tracker_codec.hpp"


#include "loopback/protocol/tracker_codec_detail.hpp"

namespace p2pdist::bt {

namespace {

using error = detail::tracker_failure;
using detail::fail;
using detail::is_digit;
using detail::is_visible;
using detail::to_id;

constexpr bool is_unreserved(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
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

void append_param(std::string& out, std::string_view key, std::string_view encoded_value) {
  if (!out.empty()) out += '&';
  out += key;
  out += '=';
  out += encoded_value;
}

std::span<const std::byte> as_bytes(const std::array<std::byte, 20>& a) { return {a.data(), a.size()}; }

/// Offset of a dictionary's closing 'e', where a missing key "should have been".
std::size_t closing_offset(const bvalue& dict) { return dict.end > 0 ? dict.end - 1 : 0; }

/// Parses a compact peer string into `out`: `stride` bytes a peer, the address (4 bytes
/// for "peers", BEP 23; 16 for "peers6", BEP 7) then the port, both in network order.
std::optional<tracker_error> parse_compact_peers(const bvalue& value, const std::string& compact, std::size_t stride,
                                                 std::vector<peer_endpoint>& out) {
  if (compact.size() % stride != 0) return tracker_error{tracker_errc::bad_peers_length, value.begin};
  out.reserve(out.size() + compact.size() / stride);
  for (std::size_t i = 0; i < compact.size(); i += stride) {
    const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(compact[i + k]); };
    ip_address::v6_bytes v6{};
    for (std::size_t k = 0; k < 16 && stride == 18; ++k) v6[k] = byte(k);
    out.push_back(peer_endpoint{
        .ip = stride == 6 ? ip_address(byte(0), byte(1), byte(2), byte(3)) : ip_address::from_v6(v6),
        .port = static_cast<std::uint16_t>((byte(stride - 2) << 8) | byte(stride - 1)),
        .id = std::nullopt,
    });
  }
  return std::nullopt;
}

/// Parses the "peers" value (compact string or list of dictionaries) into `out`.
std::optional<tracker_error> parse_peers(const bvalue& peers, std::vector<peer_endpoint>& out) {
  if (const auto* compact = peers.as_string()) return parse_compact_peers(peers, *compact, 6, out);
  const auto* list = peers.as_list();
  if (list == nullptr) return tracker_error{tracker_errc::wrong_type, peers.begin};
  out.reserve(out.size() + list->size());
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
    const auto address = parse_ip(*ip_text);
    if (!address) continue;  // a host name: this client does not resolve names
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

}  // namespace

namespace detail {

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

}  // namespace detail

std::string_view to_string(tracker_errc code) noexcept {
  switch (code) {
    case tracker_errc::bad_url_scheme: return "URL scheme is not http:// or udp://";
    case tracker_errc::bad_url_host: return "URL host is not a dotted IPv4 address, a bracketed IPv6 address or localhost";
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
    case tracker_errc::bad_peers_length: return "compact peers length is not a multiple of 6 (18 for peers6)";
    case tracker_errc::bad_peer_entry: return "peer entry without ip or port";
    case tracker_errc::bad_count: return "negative peer count";
    case tracker_errc::missing_files: return "scrape response without \"files\"";
    case tracker_errc::no_scrape: return "announce URL's last path part does not begin with \"announce\": no scrape";
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

result<std::string, tracker_error> percent_decode(std::string_view text) { return detail::decode_at(text, 0); }

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

result<tracker_url, tracker_error> parse_tracker_url(std::string_view url) {
  const auto starts = [&](std::string_view prefix) {
    return url.size() >= prefix.size() && iequals(url.substr(0, prefix.size()), prefix);
  };
  tracker_url out;
  std::size_t host_begin = 0;
  if (starts("http://")) {
    host_begin = 7;
  } else if (starts("udp://")) {
    out.scheme = tracker_scheme::udp;
    host_begin = 6;
  } else {
    return fail(tracker_errc::bad_url_scheme, 0);
  }
  for (std::size_t i = 0; i < url.size(); ++i) {
    if (!is_visible(url[i]) || url[i] == '#') return fail(tracker_errc::bad_character, i);
  }
  std::size_t authority_end = url.find_first_of("/?", host_begin);
  if (authority_end == std::string_view::npos) authority_end = url.size();
  const std::string_view authority = url.substr(host_begin, authority_end - host_begin);
  // An IPv6 host is written in brackets (RFC 3986 §3.2.2): "[::1]:6969".
  const bool bracketed = !authority.empty() && authority.front() == '[';
  const std::size_t host_end = bracketed ? authority.find(']') : authority.find(':');
  if (bracketed && host_end == std::string_view::npos) return fail(tracker_errc::bad_url_host, host_begin);
  const std::string_view host = bracketed ? authority.substr(0, host_end + 1) : authority.substr(0, host_end);
  const std::size_t colon = host.size() < authority.size() ? host.size() : std::string_view::npos;
  if (colon != std::string_view::npos && authority[colon] != ':') return fail(tracker_errc::bad_url_host, host_begin);

  if (iequals(host, "localhost")) {
    out.address = ip_address(127, 0, 0, 1);
  } else if (const auto v4 = bracketed ? std::nullopt : parse_ipv4(host)) {
    out.address = *v4;
  } else if (const auto v6 = bracketed ? parse_ipv6(host.substr(1, host.size() - 2)) : std::nullopt) {
    out.address = *v6;
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
  } else if (out.scheme == tracker_scheme::udp) {
    return fail(tracker_errc::bad_url_port, host_begin + authority.size());
  }

  // The target is the rest of the URL, with "/" put in front when the path is empty. (Built
  // by append: GCC 12 at -O3 warns falsely (-Wrestrict) on assigning a literal or "/" + s here.)
  const std::string_view rest = url.substr(authority_end);
  out.target.clear();
  if (rest.empty() || rest.front() == '?') out.target.push_back('/');
  out.target.append(rest);
  return out;
}

namespace {

/// The bencoded dictionary a tracker answered, with its "failure reason" (a string) when it
/// holds one.
struct tracker_answer {
  bvalue root;
  std::optional<std::string> failure_reason;
};

result<tracker_answer, tracker_error> decode_answer(std::string_view body, const bencode_limits& limits) {
  auto decoded = bdecode(body, limits);
  if (!decoded) return fail(tracker_errc::bad_bencode, decoded.error().offset);
  tracker_answer out{.root = std::move(decoded).value(), .failure_reason = std::nullopt};
  if (!out.root.is_dict()) return fail(tracker_errc::not_a_dictionary, out.root.begin);
  if (const bvalue* failure = out.root.find("failure reason")) {
    const auto* text = failure->as_string();
    if (text == nullptr) return fail(tracker_errc::wrong_type, failure->begin);
    out.failure_reason = *text;
  }
  return out;
}

}  // namespace

result<announce_response, tracker_error> parse_announce_response(std::string_view body,
                                                                 const bencode_limits& limits) {
  auto answer = decode_answer(body, limits);
  if (!answer) return error{answer.error()};
  const bvalue& root = answer->root;
  announce_response out;
  if (answer->failure_reason) {
    out.failure_reason = std::move(answer->failure_reason);
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
  const bvalue* peers6 = root.find("peers6");
  if (peers == nullptr && peers6 == nullptr) return fail(tracker_errc::missing_peers, closing_offset(root));
  if (peers != nullptr) {
    if (auto e = parse_peers(*peers, out.peers)) return error{*e};
  }
  if (peers6 != nullptr) {
    const auto* compact = peers6->as_string();
    if (compact == nullptr) return fail(tracker_errc::wrong_type, peers6->begin);
    if (auto e = parse_compact_peers(*peers6, *compact, 18, out.peers)) return error{*e};
  }
  return out;
}

result<announce_response, tracker_error> parse_announce_response(std::span<const std::byte> body,
                                                                 const bencode_limits& limits) {
  return parse_announce_response(
      std::string_view(reinterpret_cast<const char*>(body.data()), body.size()), limits);
}

result<std::string, tracker_error> scrape_target(std::string_view url_target,
                                                 std::span<const sha1_digest> info_hashes) {
  const std::size_t query = std::min(url_target.find('?'), url_target.size());
  const std::string_view path = url_target.substr(0, query);
  const std::size_t last = path.rfind('/') + 1;  // npos + 1 == 0: no slash at all
  constexpr std::string_view announce = "announce";
  if (path.substr(last, announce.size()) != announce) return fail(tracker_errc::no_scrape, last);
  std::string out(path.substr(0, last));
  out += "scrape";
  out += path.substr(last + announce.size());
  out += url_target.substr(query);
  char separator = query < url_target.size() ? '&' : '?';
  for (const auto& h : info_hashes) {
    out += separator;
    out += "info_hash=";
    out += percent_encode(std::as_bytes(std::span(h)));
    separator = '&';
  }
  return out;
}

result<scrape_response, tracker_error> parse_scrape_response(std::string_view body, const bencode_limits& limits) {
  auto answer = decode_answer(body, limits);
  if (!answer) return error{answer.error()};
  const bvalue& root = answer->root;
  scrape_response out;
  if (answer->failure_reason) {
    out.failure_reason = std::move(answer->failure_reason);
    return out;
  }
  const bvalue* files = root.find("files");
  if (files == nullptr) return fail(tracker_errc::missing_files, closing_offset(root));
  const auto* torrents = files->as_dict();
  if (torrents == nullptr) return fail(tracker_errc::wrong_type, files->begin);
  for (const auto& [hash, counts] : *torrents) {
    if (hash.size() != 20) return fail(tracker_errc::bad_info_hash, counts.begin);
    if (!counts.is_dict()) return fail(tracker_errc::wrong_type, counts.begin);
    scrape_entry e{.info_hash = detail::to_id(hash)};
    const std::pair<const char*, std::int64_t*> fields[] = {
        {"complete", &e.complete}, {"downloaded", &e.downloaded}, {"incomplete", &e.incomplete}};
    for (const auto& [key, slot] : fields) {
      const bvalue* v = counts.find(key);
      if (v == nullptr) continue;
      std::optional<std::int64_t> n;
      if (auto err = read_count(*v, n)) return error{*err};
      *slot = *n;
    }
    out.entries.push_back(e);
  }
  return out;
}

}  // namespace p2pdist::bt
