#pragma once
// result<T, E>: a value or an error, with std::expected's member names, until GCC has
// std::expected in C++20 mode. Decoders of untrusted bytes return it instead of throwing.

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace p2pdist::bt {

/// Wraps an error for construction of a result, like std::unexpected.
template <class E>
struct unexpected {
  E error;
};
template <class E>
unexpected(E) -> unexpected<E>;

/// The error of a decoder of untrusted bytes: a unit's error code and the byte offset in
/// the input where the problem was found.
template <class Code>
struct decode_error {
  Code code{};
  std::size_t offset = 0;
  friend bool operator==(const decode_error&, const decode_error&) = default;
};

/// A value of type T or an error of type E. Accessing value() without a value, or
/// error() with one, is a bug (checked by std::get).
template <class T, class E>
class [[nodiscard]] result {
 public:
  using value_type = T;
  using error_type = E;

  // Two constructors rather than one by value: GCC 12 warns (falsely, -Wmaybe-uninitialized)
  // when a by-value T holding a std::variant is moved in.
  result(T&& value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  result(const T& value) : v_(std::in_place_index<0>, value) {}        // NOLINT
  template <class G>
  result(unexpected<G> e) : v_(std::in_place_index<1>, E(std::move(e.error))) {}  // NOLINT

  [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const E& error() const { return std::get<1>(v_); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, E> v_;
};

}  // namespace p2pdist::bt
