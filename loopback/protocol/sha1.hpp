#pragma once
// SHA-1 through OpenSSL 3's EVP interface: piece hashes and the info-hash.
//
// The SHA-1 EVP_MD is fetched once per process (EVP_MD_fetch, kept in a function-local
// static; it is immutable and safe to share between threads). A sha1_hasher owns one
// EVP_MD_CTX and reuses it for every message, which is what makes small inputs fast:
// hash many small messages with one hasher rather than with many sha1() calls.
// OpenSSL failures are resource failures, not input-driven: they throw std::runtime_error.

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "loopback/protocol/types.hpp"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept out of this header

namespace p2pdist::bt {

/// SHA-1 of `data`. Creates a short-lived context per call; for many small inputs reuse
/// a sha1_hasher. Throws std::runtime_error only if OpenSSL fails (out of memory).
sha1_digest sha1(std::span<const std::byte> data);
/// SHA-1 of the bytes of `data`.
sha1_digest sha1(std::string_view data);

/// Incremental SHA-1 over one reusable OpenSSL context. One hasher per thread: a hasher
/// is not safe to share between threads, distinct hashers are. Movable, not copyable;
/// a moved-from hasher may only be destroyed or assigned to.
class sha1_hasher {
 public:
  /// A hasher ready for a new message. Throws std::runtime_error if OpenSSL fails.
  sha1_hasher();
  ~sha1_hasher();
  sha1_hasher(sha1_hasher&& other) noexcept;
  sha1_hasher& operator=(sha1_hasher&& other) noexcept;
  sha1_hasher(const sha1_hasher&) = delete;
  sha1_hasher& operator=(const sha1_hasher&) = delete;

  /// Appends `data` to the message being hashed.
  void update(std::span<const std::byte> data);
  /// Appends the bytes of `data` to the message being hashed.
  void update(std::string_view data);
  /// The digest of everything appended since construction or the last finish()/reset();
  /// the hasher is then ready for a new message.
  sha1_digest finish();
  /// Discards what was appended; the hasher is ready for a new message.
  void reset();
  /// Convenience: reset(), update(data), finish().
  sha1_digest digest(std::span<const std::byte> data);

 private:
  evp_md_ctx_st* ctx_ = nullptr;
  bool pending_ = false;  ///< update() was called since the last (re)initialisation
};

/// Parses 40 hex digits (either case) into a digest; std::nullopt for any other input.
std::optional<sha1_digest> parse_hex_digest(std::string_view hex) noexcept;

}  // namespace p2pdist::bt
