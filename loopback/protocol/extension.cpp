#include "loopback/protocol/extension.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "loopback/protocol/bencode.hpp"

namespace p2pdist::bt {
namespace {

unexpected<extension_error> fail(extension_errc code, std::size_t offset) {
  return unexpected<extension_error>{extension_error{.code = code, .offset = offset}};
}

/// The payload's leading dictionary: an error when the payload does not start with one or,
/// unless `trailing_ok`, goes on after it. Extended messages are small: the limits keep a
/// hostile one cheap.
result<bvalue, extension_error> leading_dict(std::span<const std::byte> payload, bool trailing_ok) {
  const bencode_limits limits{.max_depth = 8, .max_tokens = 4096, .max_bytes = payload.size()};
  auto v = bdecode_prefix(payload, limits);
  if (!v) return fail(extension_errc::bad_bencode, v.error().offset);
  if (!v->is_dict()) return fail(extension_errc::not_a_dictionary, 0);
  if (!trailing_ok && v->end != payload.size()) return fail(extension_errc::trailing_bytes, v->end);
  return std::move(*v);
}

std::vector<std::byte> to_bytes(const std::string& s) {
  std::vector<std::byte> out(s.size());
  if (!s.empty()) std::memcpy(out.data(), s.data(), s.size());
  return out;
}

/// The integer under `key` when it is one within [low, high].
std::optional<std::int64_t> int_in(const bvalue& dict, std::string_view key, std::int64_t low, std::int64_t high) {
  const bvalue* v = dict.find(key);
  const auto* i = v != nullptr ? v->as_int() : nullptr;
  if (i == nullptr || *i < low || *i > high) return std::nullopt;
  return *i;
}

std::size_t offset_of(const bvalue& dict, std::string_view key) {
  const bvalue* v = dict.find(key);
  return v != nullptr ? v->begin : dict.begin;
}

constexpr auto max_metadata = static_cast<std::int64_t>(max_metadata_bytes);

}  // namespace

std::string_view to_string(extension_errc code) noexcept {
  switch (code) {
    case extension_errc::bad_bencode: return "extended message: not bencode";
    case extension_errc::not_a_dictionary: return "extended message: not a dictionary";
    case extension_errc::bad_messages: return "extended handshake: m is not a dictionary of ids 0 to 255";
    case extension_errc::bad_metadata_size: return "extended handshake: metadata_size is not 1 byte to 16 MiB";
    case extension_errc::bad_listen_port: return "extended handshake: p is not a port";
    case extension_errc::bad_msg_type: return "ut_metadata: msg_type is not request, data or reject";
    case extension_errc::bad_piece: return "ut_metadata: piece missing or past the metadata's end";
    case extension_errc::bad_total_size: return "ut_metadata: total_size is not 1 byte to 16 MiB";
    case extension_errc::bad_data_length: return "ut_metadata: the data is not the piece's size";
    case extension_errc::trailing_bytes: return "extended message: bytes after the dictionary";
  }
  return "unknown extension error";
}

result<extension_handshake, extension_error> decode_extension_handshake(std::span<const std::byte> payload) {
  auto root = leading_dict(payload, false);
  if (!root) return unexpected{root.error()};
  extension_handshake h;
  if (const bvalue* m = root->find("m")) {
    const auto* d = m->as_dict();
    if (d == nullptr) return fail(extension_errc::bad_messages, m->begin);
    for (const auto& [name, id] : *d) {
      const auto* i = id.as_int();
      if (i == nullptr || *i < 0 || *i > 255) return fail(extension_errc::bad_messages, id.begin);
      if (*i != 0) h.messages.emplace(name, static_cast<std::uint8_t>(*i));
    }
  }
  if (root->find("metadata_size") != nullptr) {
    const auto size = int_in(*root, "metadata_size", 1, max_metadata);
    if (!size) return fail(extension_errc::bad_metadata_size, offset_of(*root, "metadata_size"));
    h.metadata_size = static_cast<std::uint64_t>(*size);
  }
  if (const bvalue* p = root->find("p"); p != nullptr && p->as_int() != nullptr) {
    const auto port = int_in(*root, "p", 1, 65535);
    if (!port) return fail(extension_errc::bad_listen_port, p->begin);
    h.listen_port = static_cast<std::uint16_t>(*port);
  }
  if (const bvalue* v = root->find("v"); v != nullptr && v->as_string() != nullptr) h.client = *v->as_string();
  return h;
}

std::vector<std::byte> encode_extension_handshake(const extension_handshake& handshake) {
  bvalue::dict m;
  for (const auto& [name, id] : handshake.messages) m.emplace(name, bvalue(static_cast<bvalue::integer>(id)));
  bvalue::dict root;
  root.emplace("m", bvalue(std::move(m)));
  if (handshake.metadata_size)
    root.emplace("metadata_size", bvalue(static_cast<bvalue::integer>(*handshake.metadata_size)));
  if (handshake.listen_port) root.emplace("p", bvalue(static_cast<bvalue::integer>(*handshake.listen_port)));
  if (!handshake.client.empty()) root.emplace("v", bvalue(handshake.client));
  return to_bytes(bencode(bvalue(std::move(root))));
}

result<metadata_message, extension_error> decode_metadata_message(std::span<const std::byte> payload) {
  auto root = leading_dict(payload, true);
  if (!root) return unexpected{root.error()};
  metadata_message m;
  const auto type = int_in(*root, "msg_type", 0, 2);
  if (!type) return fail(extension_errc::bad_msg_type, offset_of(*root, "msg_type"));
  m.type = static_cast<metadata_type>(*type);
  // A piece index beyond what any accepted metadata holds is refused at once.
  const auto piece = int_in(*root, "piece", 0, metadata_piece_count(max_metadata_bytes) - 1);
  if (!piece) return fail(extension_errc::bad_piece, offset_of(*root, "piece"));
  m.piece = static_cast<std::uint32_t>(*piece);
  const auto rest = payload.subspan(root->end);
  if (m.type != metadata_type::data) {
    if (!rest.empty()) return fail(extension_errc::trailing_bytes, root->end);
    return m;
  }
  const auto total = int_in(*root, "total_size", 1, max_metadata);
  if (!total) return fail(extension_errc::bad_total_size, offset_of(*root, "total_size"));
  m.total_size = static_cast<std::uint64_t>(*total);
  if (m.piece >= metadata_piece_count(m.total_size)) return fail(extension_errc::bad_piece, offset_of(*root, "piece"));
  const std::uint64_t expected =
      std::min<std::uint64_t>(metadata_piece_bytes, m.total_size - std::uint64_t{m.piece} * metadata_piece_bytes);
  if (rest.size() != expected) return fail(extension_errc::bad_data_length, root->end);
  m.data = rest;
  return m;
}

std::vector<std::byte> encode_metadata_message(const metadata_message& message) {
  bvalue::dict root;
  root.emplace("msg_type", bvalue(static_cast<bvalue::integer>(message.type)));
  root.emplace("piece", bvalue(static_cast<bvalue::integer>(message.piece)));
  if (message.type == metadata_type::data)
    root.emplace("total_size", bvalue(static_cast<bvalue::integer>(message.total_size)));
  auto out = to_bytes(bencode(bvalue(std::move(root))));
  if (message.type == metadata_type::data) out.insert(out.end(), message.data.begin(), message.data.end());
  return out;
}

}  // namespace p2pdist::bt
