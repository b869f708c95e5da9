// The server side of the tracker codec: the request line, the announce and scrape targets,
// and the responses. The shared parts and the client side are in tracker_codec.cpp.
#include "loopback/protocol/tracker_codec.hpp"

#include <cassert>
#include <limits>
#include <utility>

#include "loopback/protocol/tracker_codec_detail.hpp"

namespace p2pdist::bt {

namespace {

using error = detail::tracker_failure;
using detail::decode_at;
using detail::fail;
using detail::is_digit;
using detail::is_visible;
using detail::to_id;

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

/// The announce parameters parse_announce_target knows, one bit each (to find a parameter
/// given twice, and the required ones missing).
enum announce_field : unsigned {
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

/// The known parameter named `key` (decoded); announce_field{} for an unknown one.
announce_field field_named(std::string_view key) noexcept {
  struct known {
    std::string_view name;
    announce_field bit;
  };
  static constexpr known names[] = {
      {"info_hash", f_info_hash}, {"peer_id", f_peer_id},       {"port", f_port},
      {"uploaded", f_uploaded},   {"downloaded", f_downloaded}, {"left", f_left},
      {"event", f_event},         {"compact", f_compact},       {"numwant", f_numwant},
      {"key", f_key},             {"ip", f_ip},
  };
  announce_field bit{};
  for (const known& k : names) {
    if (key == k.name) bit = k.bit;
  }
  return bit;
}

/// The event named by an announce's `event` value: "", "empty", "paused" or anything
/// unknown is none.
announce_event event_named(std::string_view value) noexcept {
  if (value == "started") return announce_event::started;
  if (value == "completed") return announce_event::completed;
  if (value == "stopped") return announce_event::stopped;
  return announce_event::none;
}

/// Stores the value of the known parameter `p` (its field `bit`) in `req`; the error of a
/// bad value, at the value's offset in the target. Takes the value of key and ip.
std::optional<tracker_error> read_field(announce_field bit, query_param& p, announce_request& req) {
  const std::size_t at = p.value_offset;
  switch (bit) {
    case f_info_hash:
      if (p.value.size() != 20) return tracker_error{tracker_errc::bad_info_hash, at};
      req.info_hash = to_id(p.value);
      break;
    case f_peer_id:
      if (p.value.size() != 20) return tracker_error{tracker_errc::bad_peer_id, at};
      req.id = to_id(p.value);
      break;
    case f_port: {
      auto n = parse_decimal(p.value, at);
      if (!n) return n.error();
      if (*n == 0 || *n > 65535) return tracker_error{tracker_errc::bad_port, at};
      req.port = static_cast<std::uint16_t>(*n);
      break;
    }
    case f_uploaded:
    case f_downloaded:
    case f_left: {
      auto n = parse_decimal(p.value, at);
      if (!n) return n.error();
      if (bit == f_uploaded) {
        req.uploaded_bytes = *n;
      } else if (bit == f_downloaded) {
        req.downloaded_bytes = *n;
      } else {
        req.left_bytes = *n;
      }
      break;
    }
    case f_event: req.event = event_named(p.value); break;
    case f_compact:
      if (p.value == "1") {
        req.compact = true;
      } else if (p.value == "0") {
        req.compact = false;
      } else {
        return tracker_error{tracker_errc::bad_compact, at};
      }
      break;
    case f_numwant: {
      auto n = parse_decimal(p.value, at);
      if (!n) return n.error();
      if (*n > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
        return tracker_error{tracker_errc::number_overflow, at};
      }
      req.numwant = static_cast<int>(*n);
      break;
    }
    case f_key: req.key = std::move(p.value); break;
    case f_ip: req.ip = std::move(p.value); break;
  }
  return std::nullopt;
}

std::string id_string(const std::array<std::byte, 20>& id) {
  std::string s(20, '\0');
  for (std::size_t i = 0; i < 20; ++i) s[i] = static_cast<char>(id[i]);
  return s;
}

bvalue peer_dictionary(const peer_endpoint& peer) {
  bvalue::dict d;
  d.emplace("ip", to_string(peer.ip));
  d.emplace("port", bvalue::integer{peer.port});
  if (peer.id) d.emplace("peer id", id_string(*peer.id));
  return d;
}

}  // namespace

std::string_view target_path(std::string_view target) noexcept {
  return target.substr(0, target.find('?'));
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

  announce_request req;
  unsigned seen = 0;
  for (query_param& p : *params) {
    const announce_field bit = field_named(p.key);
    if (bit == announce_field{}) continue;  // unknown: ignored
    if ((seen & bit) != 0) return fail(tracker_errc::duplicate_parameter, p.value_offset);
    seen |= bit;
    if (auto e = read_field(bit, p, req)) return error{*e};
  }

  static constexpr std::pair<announce_field, tracker_errc> required[] = {
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
    std::string compact;   // IPv4: 4 address bytes and the port (BEP 23)
    std::string compact6;  // IPv6: 16 address bytes and the port (BEP 7)
    compact.reserve(response.peers.size() * 6);
    for (const peer_endpoint& p : response.peers) {
      std::string& into = p.ip.is_v4() ? compact : compact6;
      const auto& bytes = p.ip.bytes();
      for (std::size_t i = p.ip.is_v4() ? 12 : 0; i < 16; ++i) into += static_cast<char>(bytes[i]);
      into += static_cast<char>(p.port >> 8);
      into += static_cast<char>(p.port & 0xff);
    }
    d.emplace("peers", std::move(compact));
    if (!compact6.empty()) d.emplace("peers6", std::move(compact6));
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
