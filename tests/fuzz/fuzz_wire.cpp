// libFuzzer target for the peer wire decoder.
//
// Input layout: byte 0 and 1 choose the torrent (32 KiB pieces, b0 full pieces plus a short
// last piece of b1 * 128 bytes), byte 2 the length limit (high bit set: 64 + 16 * low bits,
// else the default), byte 3 the number n (1..8) of chunk-size bytes that follow; each chunk
// size is the byte + 1, or 64 KiB for 0xff. The rest is the peer's stream (handshake first).
//
// Properties checked, beside "no crash, no hang, no read out of bounds":
//  - the events and the error do not depend on the chunking (chunked feed vs one prepare);
//  - re-encoding the events gives back exactly the bytes they were decoded from;
//  - decoding that re-encoding gives the same events and no error;
//  - an error's offset lies inside the stream and not before the last event's end;
//  - after draining, the decoder holds less than one handshake or one maximal message.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "loopback/protocol/wire.hpp"

namespace bt = p2pdist::bt;

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

struct outcome {
  std::vector<std::vector<std::byte>> events;  ///< each event's own encoding
  std::optional<bt::wire_error> error;
  std::uint64_t consumed = 0;
};

/// Drains `decoder` into `out`; returns false once it has failed.
bool drain(bt::wire_decoder& decoder, const bt::wire_config& config, outcome& out) {
  for (;;) {
    auto r = decoder.next();
    if (!r) {
      out.error = r.error();
      require(decoder.failed());
      return false;
    }
    if (!*r) break;
    std::vector<std::byte> bytes;
    bt::wire_append(**r, bytes);  // while the event's spans are valid
    out.events.push_back(std::move(bytes));
  }
  out.consumed = decoder.consumed_bytes();
  require(decoder.buffered_bytes() < 4 + std::size_t{config.max_message_bytes} || decoder.buffered_bytes() < 68);
  return true;
}

outcome decode_chunked(const bt::wire_config& config, std::span<const std::byte> stream,
                       std::span<const std::size_t> chunks) {
  outcome out;
  bt::wire_decoder decoder(config);
  std::size_t pos = 0;
  for (std::size_t k = 0; pos < stream.size(); ++k) {
    const std::size_t n = std::min(chunks[k % chunks.size()], stream.size() - pos);
    decoder.feed(stream.subspan(pos, n));
    pos += n;
    if (!drain(decoder, config, out)) break;
  }
  if (!out.error) out.consumed = decoder.consumed_bytes();
  return out;
}

outcome decode_prepared(const bt::wire_config& config, std::span<const std::byte> stream) {
  outcome out;
  bt::wire_decoder decoder(config);
  const auto area = decoder.prepare(stream.size() + 1);
  if (!stream.empty()) std::memcpy(area.data(), stream.data(), stream.size());
  decoder.commit(stream.size());
  drain(decoder, config, out);
  if (!out.error) out.consumed = decoder.consumed_bytes();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::size_t n_chunks = std::size_t{data[3]} % 8 + 1;
  if (size < 4 + n_chunks) return 0;

  bt::wire_config config{.piece_bytes = 32768, .total_bytes = std::uint64_t{data[0]} * 32768 + data[1] * 128u};
  if ((data[2] & 0x80) != 0) config.max_message_bytes = 64 + (data[2] & 0x7fu) * 16;
  std::vector<std::size_t> chunks;
  for (std::size_t i = 0; i < n_chunks; ++i) chunks.push_back(data[4 + i] == 0xff ? 65536 : data[4 + i] + 1u);
  const auto stream = std::as_bytes(std::span(data + 4 + n_chunks, size - 4 - n_chunks));

  const outcome chunked = decode_chunked(config, stream, chunks);
  const outcome whole = decode_prepared(config, stream);
  require(chunked.events == whole.events);
  require(chunked.error == whole.error);

  // Re-encoding gives back the consumed bytes exactly.
  std::vector<std::byte> reencoded;
  for (const auto& e : whole.events) reencoded.insert(reencoded.end(), e.begin(), e.end());
  require(reencoded.size() <= stream.size());
  require(reencoded.empty() || std::memcmp(reencoded.data(), stream.data(), reencoded.size()) == 0);
  if (!whole.error) require(reencoded.size() == whole.consumed);
  if (whole.error) {
    require(whole.error->offset >= reencoded.size());
    require(whole.error->offset < stream.size());
  }

  // Decoding the re-encoding gives the same events, no error, nothing left over.
  bt::wire_decoder again(config);
  again.feed(reencoded);
  outcome second;
  require(drain(again, config, second));
  require(second.events == whole.events);
  require(again.buffered_bytes() == 0);
  return 0;
}
