#pragma once
// Bencode (BEP 3): decoder for untrusted bytes and encoder.
//
// The decoder is iterative (an explicit stack, never unbounded recursion), never reads
// past its input, never throws on input, and enforces limits given by the caller. Each
// decoded value records the byte span it came from, so that a caller can hash the exact
// bytes of a value (the metainfo's info-hash is the SHA-1 of the `info` value's bytes).

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "loopback/protocol/result.hpp"

namespace p2pdist::bt {

/// Why a bencoded input was refused.
enum class bencode_errc {
  truncated = 1,     ///< input ended inside a value
  missing_end,       ///< a list or dictionary is not closed by 'e' (input ended)
  bad_length,        ///< a string length holds a non-digit, or is empty
  length_past_end,   ///< a string length no input within the size limit could hold (or overflows);
                     ///< a length that merely runs past this input is `truncated`
  leading_zero,      ///< an integer or a length with a leading zero ("i03e", "03:abc")
  negative_zero,     ///< "i-0e"
  int_overflow,      ///< an integer outside the signed 64-bit range
  bad_integer,       ///< an integer with no digits or a non-digit ("ie", "i-e", "i1xe")
  key_not_string,    ///< a dictionary key that is not a string
  duplicate_key,     ///< the same key twice in one dictionary
  missing_value,     ///< a dictionary key with no value before 'e'
  depth_exceeded,    ///< nesting deeper than bencode_limits::max_depth
  too_many_tokens,   ///< more values than bencode_limits::max_tokens
  too_large,         ///< input longer than bencode_limits::max_bytes
  unexpected_char,   ///< a byte that cannot start a value
  trailing_data,     ///< bytes after the top-level value
};

/// A short English description of an error code, e.g. "integer has a leading zero".
std::string_view to_string(bencode_errc code) noexcept;

using bencode_error = decode_error<bencode_errc>;

/// Limits the decoder enforces; the defaults suit .torrent files and tracker responses.
struct bencode_limits {
  int max_depth = 64;                     ///< lists/dicts nested deeper are refused
  std::size_t max_tokens = 2'000'000;     ///< values (of any kind) in the whole input
  std::size_t max_bytes = 64u << 20;      ///< total input size
};

/// A bencoded value: integer, byte string, list or dictionary (keys sorted, unique).
struct bvalue {
  using integer = std::int64_t;
  using string = std::string;
  using list = std::vector<bvalue>;
  using dict = std::map<std::string, bvalue, std::less<>>;

  std::variant<integer, string, list, dict> data;
  /// Byte span [begin, end) of this value in the decoded input; 0, 0 when built by hand.
  std::size_t begin = 0, end = 0;

  bvalue() = default;
  bvalue(integer i) : data(i) {}                      // NOLINT: implicit by design
  bvalue(int i) : data(integer{i}) {}                 // NOLINT
  bvalue(string s) : data(std::move(s)) {}            // NOLINT
  bvalue(const char* s) : data(string(s)) {}          // NOLINT
  bvalue(std::string_view s) : data(string(s)) {}     // NOLINT
  bvalue(list l) : data(std::move(l)) {}              // NOLINT
  bvalue(dict d) : data(std::move(d)) {}              // NOLINT

  bool is_int() const { return std::holds_alternative<integer>(data); }
  bool is_string() const { return std::holds_alternative<string>(data); }
  bool is_list() const { return std::holds_alternative<list>(data); }
  bool is_dict() const { return std::holds_alternative<dict>(data); }
  /// Accessors; nullptr when the value is of another kind.
  const integer* as_int() const { return std::get_if<integer>(&data); }
  const string* as_string() const { return std::get_if<string>(&data); }
  const list* as_list() const { return std::get_if<list>(&data); }
  const dict* as_dict() const { return std::get_if<dict>(&data); }
  /// The value under `key` if this is a dictionary holding it, else nullptr.
  const bvalue* find(std::string_view key) const;
};

/// Equal when both hold the same data (kind, integer, bytes, elements, keys); the byte
/// spans `begin`/`end` are ignored. Recurses once per nesting level.
bool operator==(const bvalue& a, const bvalue& b);

/// The deepest nesting the decoder accepts whatever bencode_limits::max_depth says: a
/// decoded tree is destroyed (and compared) recursively, one call per level, so its depth
/// must stay far below what a thread's stack holds.
inline constexpr int bencode_depth_ceiling = 1000;

/// Decodes exactly one value spanning the whole input. On error, the offset is that of
/// the offending byte (or input.size() when the input ended too early).
result<bvalue, bencode_error> bdecode(std::span<const std::byte> input,
                                      const bencode_limits& limits = {});
result<bvalue, bencode_error> bdecode(std::string_view input, const bencode_limits& limits = {});

/// Decodes the one value at the start of `input`, which may go on after it (BEP 9's data
/// message: a dictionary, then raw bytes); the value's `end` is where it stops.
result<bvalue, bencode_error> bdecode_prefix(std::span<const std::byte> input, const bencode_limits& limits = {});

/// Encodes a value canonically (dictionary keys in sorted order).
std::string bencode(const bvalue& value);
/// Appends the encoding of `value` to `out`.
void bencode_append(const bvalue& value, std::string& out);

}  // namespace p2pdist::bt
