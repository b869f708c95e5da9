// Fuzzes the extension protocol codecs (BEP 10's extended handshake, BEP 9's ut_metadata
// messages). The first byte plays the extended message id and picks the decoder: even (0,
// the handshake's id) the handshake, odd (1, our ut_metadata id) a ut_metadata message; the
// rest is the payload. Beyond "never crashes": an error names an offset within the payload;
// an accepted handshake re-encodes to bytes that decode to the same value (and encode to the
// same bytes again); an accepted ut_metadata message re-encodes to bytes that decode to the
// same fields and data, and its data is the payload's tail, of the piece's exact size.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "loopback/protocol/extension.hpp"

#include "fuzz_check.hpp"

namespace {

using namespace p2pdist::bt;
using p2pdist::fuzz::check;

void check_error(const extension_error& e, std::span<const std::byte> payload) {
  check(e.offset <= payload.size());
  check(!to_string(e.code).empty());
  // Bytes after the dictionary: there is at least one at the offset.
  if (e.code == extension_errc::trailing_bytes) check(e.offset < payload.size());
}

void handshake(std::span<const std::byte> payload) {
  const auto h = decode_extension_handshake(payload);
  if (!h) {
    check_error(h.error(), payload);
    return;
  }
  for (const auto& [name, id] : h->messages) check(id != 0 && h->id_of(name) == id);  // id 0 is left out
  if (h->metadata_size) check(*h->metadata_size >= 1 && *h->metadata_size <= max_metadata_bytes);
  if (h->listen_port) check(*h->listen_port != 0);
  const auto bytes = encode_extension_handshake(*h);
  const auto again = decode_extension_handshake(bytes);
  check(again.has_value() && *again == *h);
  check(encode_extension_handshake(*again) == bytes);
}

void metadata(std::span<const std::byte> payload) {
  const auto m = decode_metadata_message(payload);
  if (!m) {
    check_error(m.error(), payload);
    return;
  }
  check(m->piece < metadata_piece_count(max_metadata_bytes));
  if (m->type == metadata_type::data) {
    check(m->total_size >= 1 && m->total_size <= max_metadata_bytes);
    check(m->piece < metadata_piece_count(m->total_size));
    const std::uint64_t start = std::uint64_t{m->piece} * metadata_piece_bytes;
    check(m->data.size() == std::min<std::uint64_t>(metadata_piece_bytes, m->total_size - start));
    // The data is the payload's tail, not a copy.
    check(m->data.data() + m->data.size() == payload.data() + payload.size());
  } else {
    check(m->type == metadata_type::request || m->type == metadata_type::reject);
    check(m->data.empty());
  }
  const auto bytes = encode_metadata_message(*m);
  const auto again = decode_metadata_message(bytes);
  check(again.has_value());
  check(again->type == m->type && again->piece == m->piece);
  check(again->type != metadata_type::data || again->total_size == m->total_size);
  check(std::ranges::equal(again->data, m->data));
  check(encode_metadata_message(*again) == bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto payload = std::as_bytes(std::span<const std::uint8_t>(data + 1, size - 1));
  if ((data[0] & 1) == 0) {
    handshake(payload);
  } else {
    metadata(payload);
  }
  return 0;
}
