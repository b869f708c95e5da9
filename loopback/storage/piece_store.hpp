#pragma once
// piece_store: a torrent's storage seen as a driver of the session needs it — blocks put in
// as they arrive, a piece checked against its SHA-1 once complete (and then written, for a
// file), blocks read out for upload. A storage in memory is written in place; a file-backed
// one collects each piece in a buffer of its own and writes it only once it has passed, so
// that the file never holds unverified bytes. No socket, no clock, no thread.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "loopback/protocol/metainfo.hpp"
#include "loopback/protocol/sha1.hpp"
#include "loopback/storage/storage.hpp"

namespace p2pdist::bt {

/// One 64-bit fingerprint per 16 KiB block of `piece` (the first 8 bytes of its SHA-1):
/// two copies of a piece differ in a block exactly where the fingerprints differ (but for
/// a 2^-64 chance), which tells a session whose blocks were wrong.
std::vector<std::uint64_t> block_fingerprints(std::span<const std::byte> piece, sha1_hasher& hasher);

/// The outcome of piece_store::check.
struct piece_check {
  enum class verdict { passed, failed, io_error } result = verdict::failed;
  /// Per block, when the piece failed or the caller asked for them on a pass.
  std::vector<std::uint64_t> fingerprints;
  std::string error;  ///< io_error: what went wrong
};

/// A torrent's storage for a driver. Not thread-safe (one driver, one strand).
class piece_store {
 public:
  /// Precondition: store->size_bytes() == torrent->total_bytes (else std::invalid_argument).
  piece_store(std::shared_ptr<storage> store, std::shared_ptr<const metainfo> torrent);

  /// Stores a block the session accepted: bytes [begin, begin + data.size()) of `piece`.
  /// Precondition: the range lies inside the piece (the wire decoder checks it).
  void put_block(std::uint32_t piece, std::uint32_t begin, std::span<const std::byte> data);
  /// Hashes the complete piece against the torrent. Passed: a file-backed store writes it
  /// (a write error gives io_error). Fingerprints come with a failure, or with a pass when
  /// `fingerprints_on_pass`. The piece's buffer is released either way.
  piece_check check(std::uint32_t piece, bool fingerprints_on_pass);
  /// The bytes of a block to upload: a span into memory, or read into `scratch`. Empty when
  /// it cannot be read (`error` says why).
  std::span<const std::byte> block(std::uint32_t piece, std::uint32_t begin, std::uint32_t length,
                                   std::vector<std::byte>& scratch, std::string& error);
  /// The storage itself (finalize, checks).
  [[nodiscard]] storage& backing() noexcept { return *store_; }

 private:
  std::span<std::byte> piece_area(std::uint32_t piece);

  std::shared_ptr<storage> store_;
  std::shared_ptr<const metainfo> torrent_;
  std::unordered_map<std::uint32_t, std::vector<std::byte>> buffers_;  // file-backed: pieces being received
  sha1_hasher hasher_;
};

}  // namespace p2pdist::bt
