#include "loopback/storage/piece_store.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <stdexcept>

#include "loopback/protocol/types.hpp"

namespace p2pdist::bt {

std::vector<std::uint64_t> block_fingerprints(std::span<const std::byte> piece, sha1_hasher& hasher) {
  std::vector<std::uint64_t> out;
  out.reserve((piece.size() + block_bytes - 1) / block_bytes);
  for (std::size_t off = 0; off < piece.size(); off += block_bytes) {
    const auto d = hasher.digest(piece.subspan(off, std::min<std::size_t>(block_bytes, piece.size() - off)));
    std::uint64_t v = 0;
    std::memcpy(&v, d.data(), sizeof v);
    out.push_back(v);
  }
  return out;
}

piece_store::piece_store(std::shared_ptr<storage> store, std::shared_ptr<const metainfo> torrent)
    : store_(std::move(store)), torrent_(std::move(torrent)) {
  if (!store_ || !torrent_ || store_->size_bytes() != torrent_->total_bytes)
    throw std::invalid_argument("piece_store: the storage's size differs from the torrent's");
}

std::span<std::byte> piece_store::piece_area(std::uint32_t piece) {
  const auto len = torrent_->piece_size(piece);
  const auto mem = store_->memory();
  if (!mem.empty()) return mem.subspan(static_cast<std::size_t>(torrent_->piece_offset(piece)), len);
  auto& buffer = buffers_[piece];
  if (buffer.size() != len) buffer.resize(len);
  return buffer;
}

void piece_store::put_block(std::uint32_t piece, std::uint32_t begin, std::span<const std::byte> data) {
  const auto area = piece_area(piece);
  if (begin > area.size() || data.size() > area.size() - begin) return;  // cannot happen: the decoder checks it
  std::memcpy(area.data() + begin, data.data(), data.size());
}

piece_check piece_store::check(std::uint32_t piece, bool fingerprints_on_pass) {
  piece_check out;
  const auto area = piece_area(piece);
  const bool ok = hasher_.digest(area) == torrent_->piece_hashes[piece];
  if (!ok || fingerprints_on_pass) out.fingerprints = block_fingerprints(area, hasher_);
  out.result = ok ? piece_check::verdict::passed : piece_check::verdict::failed;
  if (ok && store_->memory().empty()) {
    try {
      store_->write(torrent_->piece_offset(piece), area);
    } catch (const std::exception& e) {
      out.result = piece_check::verdict::io_error;
      out.error = e.what();
    }
  }
  buffers_.erase(piece);
  return out;
}

std::span<const std::byte> piece_store::block(std::uint32_t piece, std::uint32_t begin, std::uint32_t length,
                                              std::vector<std::byte>& scratch, std::string& error) {
  if (piece >= torrent_->piece_count()) return {};
  const std::uint64_t off = torrent_->piece_offset(piece) + begin;
  if (off + length > store_->size_bytes()) return {};
  const auto mem = store_->memory();
  if (!mem.empty()) return std::span<const std::byte>(mem).subspan(static_cast<std::size_t>(off), length);
  try {
    scratch.resize(length);
    store_->read(off, scratch);
    return scratch;
  } catch (const std::exception& e) {
    error = e.what();
    return {};
  }
}

}  // namespace p2pdist::bt
