#include "loopback/protocol/sha1.hpp"

#include <stdexcept>
#include <string>
#include <utility>

#include <openssl/evp.h>

namespace p2pdist::bt {
namespace {

[[noreturn]] void fail(const char* what) {
  throw std::runtime_error(std::string("OpenSSL SHA-1: ") + what + " failed");
}

/// The SHA-1 implementation, fetched once per process. EVP_MD objects are immutable and
/// reference counted; this one is deliberately never freed (it lives as long as OpenSSL).
const EVP_MD* sha1_md() {
  static EVP_MD* const md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA1", nullptr);
    if (fetched == nullptr) fail("EVP_MD_fetch");
    return fetched;
  }();
  return md;
}

std::span<const std::byte> as_bytes(std::string_view s) noexcept {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

}  // namespace

sha1_digest sha1(std::span<const std::byte> data) {
  sha1_digest out{};
  unsigned int out_len = 0;
  if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &out_len,
                 sha1_md(), nullptr) != 1 ||
      out_len != out.size()) {
    fail("EVP_Digest");
  }
  return out;
}

sha1_digest sha1(std::string_view data) { return sha1(as_bytes(data)); }

sha1_hasher::sha1_hasher() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) fail("EVP_MD_CTX_new");
  if (EVP_DigestInit_ex2(ctx_, sha1_md(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    fail("EVP_DigestInit_ex2");
  }
}

sha1_hasher::~sha1_hasher() { EVP_MD_CTX_free(ctx_); }

sha1_hasher::sha1_hasher(sha1_hasher&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)), pending_(std::exchange(other.pending_, false)) {}

sha1_hasher& sha1_hasher::operator=(sha1_hasher&& other) noexcept {
  if (this != &other) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
    pending_ = std::exchange(other.pending_, false);
  }
  return *this;
}

void sha1_hasher::update(std::span<const std::byte> data) {
  if (data.empty()) return;
  if (EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1) fail("EVP_DigestUpdate");
  pending_ = true;
}

void sha1_hasher::update(std::string_view data) { update(as_bytes(data)); }

sha1_digest sha1_hasher::finish() {
  sha1_digest out{};
  unsigned int out_len = 0;
  if (EVP_DigestFinal_ex(ctx_, reinterpret_cast<unsigned char*>(out.data()), &out_len) != 1 ||
      out_len != out.size()) {
    fail("EVP_DigestFinal_ex");
  }
  reset();
  return out;
}

void sha1_hasher::reset() {
  if (EVP_DigestInit_ex2(ctx_, sha1_md(), nullptr) != 1) fail("EVP_DigestInit_ex2");
  pending_ = false;
}

sha1_digest sha1_hasher::digest(std::span<const std::byte> data) {
  if (pending_) reset();  // a fresh context needs no second initialisation
  update(data);
  return finish();
}

std::optional<sha1_digest> parse_hex_digest(std::string_view hex) noexcept {
  if (hex.size() != 40) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  sha1_digest out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::byte>((hi << 4) | lo);
  }
  return out;
}

}  // namespace p2pdist::bt
