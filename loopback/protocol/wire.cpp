#include "loopback/protocol/wire.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <limits>

namespace p2pdist::bt {

namespace {

constexpr std::uint8_t to_u8(message_id id) noexcept { return static_cast<std::uint8_t>(id); }

/// Writes `v` big-endian at `p` (4 bytes).
void store32(std::byte* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::byte>(v >> 24);
  p[1] = static_cast<std::byte>(v >> 16);
  p[2] = static_cast<std::byte>(v >> 8);
  p[3] = static_cast<std::byte>(v);
}

/// Reads a big-endian uint32 at `p` (4 bytes).
std::uint32_t load32(const std::byte* p) noexcept {
  return (std::to_integer<std::uint32_t>(p[0]) << 24) | (std::to_integer<std::uint32_t>(p[1]) << 16) |
         (std::to_integer<std::uint32_t>(p[2]) << 8) | std::to_integer<std::uint32_t>(p[3]);
}

/// Grows `out` by `n` bytes and returns where they start.
std::byte* grow(std::vector<std::byte>& out, std::size_t n) {
  const std::size_t old = out.size();
  out.resize(old + n);
  return out.data() + old;
}

/// Appends a message with no payload: length 1 and the id.
void append_bare(std::vector<std::byte>& out, message_id id) {
  std::byte* p = grow(out, 5);
  store32(p, 1);
  p[4] = std::byte{to_u8(id)};
}

/// Appends a message with one uint32 (have, suggest piece, allowed fast): length 5.
void append_index(std::vector<std::byte>& out, message_id id, std::uint32_t index) {
  std::byte* p = grow(out, 9);
  store32(p, 5);
  p[4] = std::byte{to_u8(id)};
  store32(p + 5, index);
}

/// Appends a request-shaped message (request, cancel, reject request): length 13, id, three uint32.
void append_triple(std::vector<std::byte>& out, message_id id, std::uint32_t index, std::uint32_t begin,
                   std::uint32_t length) {
  std::byte* p = grow(out, 17);
  store32(p, 13);
  p[4] = std::byte{to_u8(id)};
  store32(p + 5, index);
  store32(p + 9, begin);
  store32(p + 13, length);
}

/// A length prefix for `payload_bytes` bytes after the id. Precondition: it fits a uint32.
std::uint32_t length_for(std::size_t payload_bytes) noexcept {
  assert(payload_bytes < std::numeric_limits<std::uint32_t>::max());
  return static_cast<std::uint32_t>(payload_bytes + 1);
}

/// Appends a message with an id and an arbitrary payload.
void append_with_payload(std::vector<std::byte>& out, std::uint8_t id, std::span<const std::byte> payload) {
  std::byte* p = grow(out, 5 + payload.size());
  store32(p, length_for(payload.size()));
  p[4] = std::byte{id};
  if (!payload.empty()) std::memcpy(p + 5, payload.data(), payload.size());
}

}  // namespace

namespace msg {

bool operator==(const piece& a, const piece& b) noexcept {
  return a.index == b.index && a.begin == b.begin && std::ranges::equal(a.data, b.data);
}

bool operator==(const unknown& a, const unknown& b) noexcept {
  return a.id == b.id && std::ranges::equal(a.payload, b.payload);
}

}  // namespace msg

std::string_view event_name(std::size_t index) noexcept {
  static constexpr std::string_view names[] = {
      "handshake", "keep-alive", "choke", "unchoke", "interested", "not interested",
      "have",      "bitfield",   "request", "piece", "cancel",     "suggest piece",
      "have all",  "have none",  "reject request", "allowed fast", "unknown",
      "extended",
  };
  static_assert(std::size(names) == std::variant_size_v<wire_event>);
  return names[std::min(index, std::size(names) - 1)];
}

std::string_view event_name(const wire_event& event) noexcept { return event_name(event.index()); }

// ----------------------------------------------------------------------------- encoders

void wire_append(const handshake& value, std::vector<std::byte>& out) {
  std::byte* p = grow(out, handshake_bytes);
  p[0] = std::byte{19};
  std::memcpy(p + 1, protocol_name.data(), protocol_name.size());
  std::memcpy(p + 20, value.reserved.data(), value.reserved.size());
  std::memcpy(p + 28, value.info_hash.data(), value.info_hash.size());
  std::memcpy(p + 48, value.id.data(), value.id.size());
}

void wire_append(const msg::keep_alive&, std::vector<std::byte>& out) { store32(grow(out, 4), 0); }
void wire_append(const msg::choke&, std::vector<std::byte>& out) { append_bare(out, message_id::choke); }
void wire_append(const msg::unchoke&, std::vector<std::byte>& out) { append_bare(out, message_id::unchoke); }
void wire_append(const msg::interested&, std::vector<std::byte>& out) {
  append_bare(out, message_id::interested);
}
void wire_append(const msg::not_interested&, std::vector<std::byte>& out) {
  append_bare(out, message_id::not_interested);
}

void wire_append(const msg::have& value, std::vector<std::byte>& out) {
  append_index(out, message_id::have, value.index);
}

void wire_append(const msg::bitfield& value, std::vector<std::byte>& out) {
  append_with_payload(out, to_u8(message_id::bitfield), value.pieces.bytes());
}

void wire_append(const msg::request& value, std::vector<std::byte>& out) {
  append_triple(out, message_id::request, value.index, value.begin, value.length);
}

void wire_append(const msg::piece& value, std::vector<std::byte>& out) {
  assert(value.data.size() <= std::numeric_limits<std::uint32_t>::max() - 9);
  const auto header = piece_header(value.index, value.begin, static_cast<std::uint32_t>(value.data.size()));
  std::byte* p = grow(out, header.size() + value.data.size());
  std::memcpy(p, header.data(), header.size());
  if (!value.data.empty()) std::memcpy(p + header.size(), value.data.data(), value.data.size());
}

void wire_append(const msg::cancel& value, std::vector<std::byte>& out) {
  append_triple(out, message_id::cancel, value.index, value.begin, value.length);
}

void wire_append(const msg::suggest_piece& value, std::vector<std::byte>& out) {
  append_index(out, message_id::suggest_piece, value.index);
}
void wire_append(const msg::have_all&, std::vector<std::byte>& out) { append_bare(out, message_id::have_all); }
void wire_append(const msg::have_none&, std::vector<std::byte>& out) { append_bare(out, message_id::have_none); }
void wire_append(const msg::reject_request& value, std::vector<std::byte>& out) {
  append_triple(out, message_id::reject_request, value.index, value.begin, value.length);
}
void wire_append(const msg::allowed_fast& value, std::vector<std::byte>& out) {
  append_index(out, message_id::allowed_fast, value.index);
}

void wire_append(const msg::unknown& value, std::vector<std::byte>& out) {
  append_with_payload(out, value.id, value.payload);
}

void wire_append(const msg::extended& value, std::vector<std::byte>& out) {
  assert(value.payload.size() <= std::numeric_limits<std::uint32_t>::max() - 2);
  std::byte* p = grow(out, 6 + value.payload.size());
  store32(p, static_cast<std::uint32_t>(value.payload.size() + 2));
  p[4] = std::byte{to_u8(message_id::extended)};
  p[5] = std::byte{value.id};
  if (!value.payload.empty()) std::memcpy(p + 6, value.payload.data(), value.payload.size());
}

std::size_t wire_size(const wire_event& event) noexcept {
  return std::visit(
      [](const auto& m) -> std::size_t {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, handshake>) return handshake_bytes;
        else if constexpr (std::is_same_v<T, msg::keep_alive>) return 4;
        else if constexpr (std::is_same_v<T, msg::have> || std::is_same_v<T, msg::suggest_piece> ||
                           std::is_same_v<T, msg::allowed_fast>)
          return 9;
        else if constexpr (std::is_same_v<T, msg::bitfield>) return 5 + m.pieces.bytes().size();
        else if constexpr (std::is_same_v<T, msg::request> || std::is_same_v<T, msg::cancel> ||
                           std::is_same_v<T, msg::reject_request>)
          return 17;
        else if constexpr (std::is_same_v<T, msg::piece>) return piece_header_bytes + m.data.size();
        else if constexpr (std::is_same_v<T, msg::unknown>) return 5 + m.payload.size();
        else if constexpr (std::is_same_v<T, msg::extended>) return 6 + m.payload.size();
        else return 5;  // choke, unchoke, interested, not interested, have all, have none
      },
      event);
}

void wire_append(const wire_event& event, std::vector<std::byte>& out) {
  std::visit([&out](const auto& item) { wire_append(item, out); }, event);
}

std::array<std::byte, piece_header_bytes> piece_header(std::uint32_t index, std::uint32_t begin,
                                                        std::uint32_t data_bytes) noexcept {
  assert(data_bytes <= std::numeric_limits<std::uint32_t>::max() - 9);
  std::array<std::byte, piece_header_bytes> header{};
  store32(header.data(), data_bytes + 9);
  header[4] = std::byte{to_u8(message_id::piece)};
  store32(header.data() + 5, index);
  store32(header.data() + 9, begin);
  return header;
}

// ----------------------------------------------------------------------------- errors

std::string_view to_string(wire_errc code) noexcept {
  switch (code) {
    case wire_errc::bad_protocol_length: return "handshake does not start with byte 19";
    case wire_errc::bad_protocol_string: return "handshake protocol is not \"BitTorrent protocol\"";
    case wire_errc::message_too_long: return "length prefix above the limit";
    case wire_errc::bad_message_length: return "message length does not match its id";
    case wire_errc::bad_bitfield_size: return "bitfield size does not match the piece count";
    case wire_errc::bitfield_spare_bits: return "bitfield has a spare bit set";
    case wire_errc::piece_out_of_range: return "piece index out of range";
    case wire_errc::bad_block_length: return "block length is zero or above the limit";
    case wire_errc::block_past_piece_end: return "block reaches past the end of its piece";
  }
  return "unknown wire error";
}

// ----------------------------------------------------------------------------- decoder

wire_decoder::wire_decoder(const wire_config& config) : config_(config) {
  assert(config.piece_bytes > 0 || config.total_bytes == 0);
  if (config.piece_bytes > 0 && config.total_bytes > 0) {
    piece_count_ = config.total_bytes / config.piece_bytes + (config.total_bytes % config.piece_bytes != 0);
    last_piece_bytes_ = config.total_bytes - (piece_count_ - 1) * config.piece_bytes;
  }
}

std::uint64_t wire_decoder::piece_size(std::uint64_t index) const noexcept {
  assert(index < piece_count_);
  return index + 1 == piece_count_ ? last_piece_bytes_ : config_.piece_bytes;
}

std::byte* wire_decoder::reserve_tail(std::size_t bytes) {
  if (view_ != nullptr) stash_view();
  if (begin_ == end_) rewind();  // everything consumed: start over at the front, for free
  if (capacity_ - end_ < bytes) {
    if (begin_ > 0) {  // drop consumed bytes before growing
      std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
      base_offset_ += begin_;
      end_ -= begin_;
      begin_ = 0;
    }
    if (capacity_ - end_ < bytes) {
      const std::size_t grown = std::max(end_ + bytes, capacity_ + capacity_ / 2);
      auto bigger = std::make_unique_for_overwrite<std::byte[]>(grown);
      if (end_ > 0) std::memcpy(bigger.get(), buf_.get(), end_);
      buf_ = std::move(bigger);
      capacity_ = grown;
    }
  }
  return buf_.get() + end_;
}

void wire_decoder::rewind() noexcept {
  base_offset_ += begin_;
  begin_ = end_ = 0;
}

void wire_decoder::stash_view() {
  const std::byte* tail_at = view_ + begin_;
  const std::size_t tail = end_ - begin_;
  rewind();
  view_ = nullptr;
  if (tail == 0 || error_) return;  // a failed stream keeps nothing
  std::memcpy(reserve_tail(tail), tail_at, tail);
  end_ += tail;
}

void wire_decoder::feed(std::span<const std::byte> bytes) {
  prepared_ = 0;
  if (error_ || bytes.empty()) return;  // a failed stream keeps nothing more
  std::byte* p = reserve_tail(bytes.size());
  std::memcpy(p, bytes.data(), bytes.size());
  end_ += bytes.size();
}

void wire_decoder::feed_view(std::span<const std::byte> bytes) {
  prepared_ = 0;
  if (error_ || bytes.empty()) return;
  if (view_ != nullptr || begin_ != end_) {  // bytes pending: append behind them
    feed(bytes);
    return;
  }
  rewind();
  view_ = bytes.data();
  end_ = bytes.size();
}

void wire_decoder::release() noexcept {
  if (view_ != nullptr || begin_ != end_) return;
  rewind();
  buf_.reset();
  capacity_ = 0;
}

std::span<std::byte> wire_decoder::prepare(std::size_t max_bytes) {
  if (view_ != nullptr) stash_view();
  if (error_) rewind();  // a failed stream keeps nothing: reuse the buffer as scratch space
  std::byte* p = reserve_tail(max_bytes);
  prepared_ = max_bytes;
  return {p, max_bytes};
}

void wire_decoder::commit(std::size_t bytes) {
  assert(bytes <= prepared_);
  bytes = std::min(bytes, prepared_);
  prepared_ = 0;
  if (error_) return;
  end_ += bytes;
}

result<std::optional<wire_event>, wire_error> wire_decoder::fail(wire_errc code, std::uint64_t offset) {
  error_ = wire_error{.code = code, .offset = static_cast<std::size_t>(offset)};
  if (view_ != nullptr) stash_view();  // keeps nothing of the caller's bytes
  return unexpected{*error_};
}

result<std::optional<wire_event>, wire_error> wire_decoder::next_handshake() {
  const std::size_t avail = end_ - begin_;
  const std::byte* p = data() + begin_;
  const std::uint64_t offset = base_offset_ + begin_;
  // Check every byte of the fixed prefix that has arrived, so that a peer speaking another
  // protocol (e.g. an encrypted handshake) is refused at its first byte.
  const std::size_t prefix = std::min(avail, 1 + protocol_name.size());
  if (prefix > 0 && std::to_integer<unsigned>(p[0]) != 19) return fail(wire_errc::bad_protocol_length, offset);
  for (std::size_t i = 1; i < prefix; ++i) {
    if (std::to_integer<char>(p[i]) != protocol_name[i - 1]) return fail(wire_errc::bad_protocol_string, offset + i);
  }
  if (avail < handshake_bytes) return std::optional<wire_event>{};
  handshake h;
  std::memcpy(h.reserved.data(), p + 20, h.reserved.size());
  std::memcpy(h.info_hash.data(), p + 28, h.info_hash.size());
  std::memcpy(h.id.data(), p + 48, h.id.size());
  begin_ += handshake_bytes;
  handshake_done_ = true;
  return std::optional<wire_event>{std::move(h)};
}

std::optional<wire_errc> wire_decoder::length_error(std::uint8_t id, std::uint32_t length) const noexcept {
  const std::uint64_t payload_bytes = length - 1;
  switch (static_cast<message_id>(id)) {
    case message_id::choke:
    case message_id::unchoke:
    case message_id::interested:
    case message_id::not_interested:
    case message_id::have_all:
    case message_id::have_none:
      if (length != 1) return wire_errc::bad_message_length;
      break;
    case message_id::have:
    case message_id::suggest_piece:
    case message_id::allowed_fast:
      if (length != 5) return wire_errc::bad_message_length;
      break;
    case message_id::bitfield:
      if (payload_bytes != (piece_count_ + 7) / 8) return wire_errc::bad_bitfield_size;
      break;
    case message_id::request:
    case message_id::cancel:
    case message_id::reject_request:
      if (length != 13) return wire_errc::bad_message_length;
      break;
    case message_id::piece:
      if (length < 9) return wire_errc::bad_message_length;
      break;
    case message_id::extended:
      if (length < 2) return wire_errc::bad_message_length;  // the extended id at least
      break;
    default:
      break;  // unknown ids: any length up to the limit
  }
  return std::nullopt;
}

result<std::optional<wire_event>, wire_error> wire_decoder::decode_message(std::uint8_t id, std::uint32_t length,
                                                                          const std::byte* p,
                                                                          std::uint64_t offset) {
  const std::uint64_t payload_bytes = length - 1;
  const std::byte* payload = p + 5;
  const auto payload_span = std::span<const std::byte>(payload, static_cast<std::size_t>(payload_bytes));
  std::optional<wire_event> event;
  switch (static_cast<message_id>(id)) {
    case message_id::choke: event.emplace(msg::choke{}); break;
    case message_id::unchoke: event.emplace(msg::unchoke{}); break;
    case message_id::interested: event.emplace(msg::interested{}); break;
    case message_id::not_interested: event.emplace(msg::not_interested{}); break;
    case message_id::have_all: event.emplace(msg::have_all{}); break;
    case message_id::have_none: event.emplace(msg::have_none{}); break;
    case message_id::have:
    case message_id::suggest_piece:
    case message_id::allowed_fast: {
      const std::uint32_t index = load32(payload);
      if (index >= piece_count_) return fail(wire_errc::piece_out_of_range, offset + 5);
      if (id == to_u8(message_id::have))
        event.emplace(msg::have{.index = index});
      else if (id == to_u8(message_id::suggest_piece))
        event.emplace(msg::suggest_piece{.index = index});
      else
        event.emplace(msg::allowed_fast{.index = index});
      break;
    }
    case message_id::bitfield: {
      auto pieces = bt::bitfield::from_wire(payload_span, static_cast<std::size_t>(piece_count_));
      // length_error checked the size, so only a spare bit can make from_wire refuse it.
      if (!pieces) return fail(wire_errc::bitfield_spare_bits, offset + 4 + length - 1);
      event.emplace(msg::bitfield{.pieces = std::move(*pieces)});
      break;
    }
    case message_id::request:
    case message_id::cancel:
    case message_id::reject_request: {
      const std::uint32_t index = load32(payload);
      const std::uint32_t begin = load32(payload + 4);
      const std::uint32_t block = load32(payload + 8);
      if (index >= piece_count_) return fail(wire_errc::piece_out_of_range, offset + 5);
      if (block == 0 || block > config_.max_request_bytes) return fail(wire_errc::bad_block_length, offset + 13);
      if (std::uint64_t{begin} + block > piece_size(index)) return fail(wire_errc::block_past_piece_end, offset + 9);
      if (id == to_u8(message_id::request)) {
        event.emplace(msg::request{.index = index, .begin = begin, .length = block});
      } else if (id == to_u8(message_id::cancel)) {
        event.emplace(msg::cancel{.index = index, .begin = begin, .length = block});
      } else {
        event.emplace(msg::reject_request{.index = index, .begin = begin, .length = block});
      }
      break;
    }
    case message_id::piece: {
      const std::uint32_t index = load32(payload);
      const std::uint32_t begin = load32(payload + 4);
      const std::uint64_t data_bytes = payload_bytes - 8;
      if (index >= piece_count_) return fail(wire_errc::piece_out_of_range, offset + 5);
      if (begin + data_bytes > piece_size(index)) return fail(wire_errc::block_past_piece_end, offset + 9);
      event.emplace(msg::piece{.index = index, .begin = begin, .data = payload_span.subspan(8)});
      break;
    }
    case message_id::extended:
      event.emplace(msg::extended{.id = std::to_integer<std::uint8_t>(payload_span[0]),
                                  .payload = {payload_span.begin() + 1, payload_span.end()}});
      break;
    default: event.emplace(msg::unknown{.id = id, .payload = payload_span}); break;
  }
  return event;
}

result<std::optional<wire_event>, wire_error> wire_decoder::next() {
  prepared_ = 0;
  if (error_) return unexpected{*error_};
  auto item = handshake_done_ ? next_message() : next_handshake();
  // Out of complete items in the caller's bytes: keep their tail, they are about to be reused.
  if (item && !item->has_value() && view_ != nullptr) stash_view();
  return item;
}

result<std::optional<wire_event>, wire_error> wire_decoder::next_message() {
  const std::size_t avail = end_ - begin_;
  if (avail < 4) return std::optional<wire_event>{};
  const std::byte* p = data() + begin_;
  const std::uint64_t offset = base_offset_ + begin_;
  const std::uint32_t length = load32(p);
  if (length > config_.max_message_bytes) return fail(wire_errc::message_too_long, offset);
  if (length == 0) {
    begin_ += 4;
    return std::optional<wire_event>{msg::keep_alive{}};
  }
  if (avail < 5) return std::optional<wire_event>{};

  // Check the length against the id as soon as both are known, before waiting for the
  // payload: a wrong length is refused without buffering it.
  const auto id = std::to_integer<std::uint8_t>(p[4]);
  // Metadata only (the torrent's size not known yet): every message but an extended one is
  // passed on unchecked, as unknown.
  const bool unchecked = config_.metadata_only && id != to_u8(message_id::extended);
  if (const auto code = unchecked ? std::nullopt : length_error(id, length)) return fail(*code, offset);
  if (avail - 4 < length) return std::optional<wire_event>{};
  if (unchecked) {
    begin_ += 4 + static_cast<std::size_t>(length);
    return std::optional<wire_event>{msg::unknown{.id = id, .payload = std::span<const std::byte>(p + 5, length - 1)}};
  }

  auto event = decode_message(id, length, p, offset);
  if (event) begin_ += 4 + static_cast<std::size_t>(length);
  return event;
}

}  // namespace p2pdist::bt
