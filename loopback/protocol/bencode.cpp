#include "loopback/protocol/bencode.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <utility>

namespace p2pdist::bt {

std::string_view to_string(bencode_errc code) noexcept {
  switch (code) {
    case bencode_errc::truncated: return "input ends inside a value";
    case bencode_errc::missing_end: return "list or dictionary not closed by 'e'";
    case bencode_errc::bad_length: return "string length holds a non-digit";
    case bencode_errc::length_past_end: return "string length reaches past the largest input allowed";
    case bencode_errc::leading_zero: return "integer or length has a leading zero";
    case bencode_errc::negative_zero: return "integer is negative zero";
    case bencode_errc::int_overflow: return "integer outside the signed 64-bit range";
    case bencode_errc::bad_integer: return "integer has no digits or a non-digit";
    case bencode_errc::key_not_string: return "dictionary key is not a string";
    case bencode_errc::duplicate_key: return "dictionary key appears twice";
    case bencode_errc::missing_value: return "dictionary key has no value";
    case bencode_errc::depth_exceeded: return "lists or dictionaries nested too deep";
    case bencode_errc::too_many_tokens: return "too many values";
    case bencode_errc::too_large: return "input too large";
    case bencode_errc::unexpected_char: return "byte cannot start a value";
    case bencode_errc::trailing_data: return "bytes after the value";
  }
  return "unknown bencode error";
}

const bvalue* bvalue::find(std::string_view key) const {
  const auto* d = as_dict();
  if (d == nullptr) return nullptr;
  const auto it = d->find(key);
  return it == d->end() ? nullptr : &it->second;
}

bool operator==(const bvalue& a, const bvalue& b) { return a.data == b.data; }

namespace detail {
namespace {

constexpr bool is_digit(unsigned char c) noexcept { return c >= '0' && c <= '9'; }

// One decoding run over a complete buffer. Containers under construction sit on an
// explicit stack; a finished value is moved into the container on top, or becomes the root.
class decoder {
 public:
  decoder(std::span<const std::byte> input, const bencode_limits& limits, bool allow_trailing = false)
      : allow_trailing_(allow_trailing),
        in_(reinterpret_cast<const unsigned char*>(input.data())),
        size_(input.size()),
        limits_(limits),
        max_depth_(static_cast<std::size_t>(
            std::clamp(limits.max_depth, 0, bencode_depth_ceiling))) {}

  result<bvalue, bencode_error> run() {
    if (size_ > limits_.max_bytes) return fail(bencode_errc::too_large, limits_.max_bytes);
    while (!root_done_) {
      if (pos_ == size_) {
        return fail(stack_.empty() ? bencode_errc::truncated : bencode_errc::missing_end, pos_);
      }
      const unsigned char c = in_[pos_];
      if (!stack_.empty()) {
        frame& top = stack_.back();
        auto* d = std::get_if<bvalue::dict>(&top.value.data);
        if (c == 'e') {
          if (d != nullptr && top.has_key) return fail(bencode_errc::missing_value, pos_);
          ++pos_;
          bvalue done = std::move(top.value);
          done.end = pos_;
          stack_.pop_back();
          put(std::move(done));
          continue;
        }
        if (d != nullptr && !top.has_key) {
          if (!is_digit(c)) {
            const bool starts_value = c == 'i' || c == 'l' || c == 'd';
            return fail(starts_value ? bencode_errc::key_not_string : bencode_errc::unexpected_char,
                        pos_);
          }
          const std::size_t key_offset = pos_;
          if (!count_token()) return fail(bencode_errc::too_many_tokens, pos_);
          if (!parse_string(top.key)) return error_;
          // Sorted keys (the common case) are checked against the last key only.
          if (!d->empty() && top.key <= d->rbegin()->first && d->contains(top.key)) {
            return fail(bencode_errc::duplicate_key, key_offset);
          }
          top.has_key = true;
          continue;
        }
      }
      const std::size_t begin = pos_;
      if (!count_token()) return fail(bencode_errc::too_many_tokens, pos_);
      if (c == 'i') {
        bvalue v;
        if (!parse_integer(v)) return error_;
        v.begin = begin;
        v.end = pos_;
        put(std::move(v));
      } else if (is_digit(c)) {
        bvalue v{bvalue::string{}};
        if (!parse_string(std::get<bvalue::string>(v.data))) return error_;
        v.begin = begin;
        v.end = pos_;
        put(std::move(v));
      } else if (c == 'l' || c == 'd') {
        if (stack_.size() >= max_depth_) return fail(bencode_errc::depth_exceeded, pos_);
        frame f;
        if (c == 'l') {
          f.value.data = bvalue::list{};
        } else {
          f.value.data = bvalue::dict{};
        }
        f.value.begin = begin;
        stack_.push_back(std::move(f));
        ++pos_;
      } else {
        return fail(bencode_errc::unexpected_char, pos_);
      }
    }
    if (pos_ != size_ && !allow_trailing_) return fail(bencode_errc::trailing_data, pos_);
    return std::move(root_);
  }

 private:
  struct frame {
    bvalue value;          // a list or a dict under construction; begin is set
    std::string key;       // for a dict: the key read, waiting for its value
    bool has_key = false;
  };

  unexpected<bencode_error> fail(bencode_errc code, std::size_t offset) {
    error_ = unexpected<bencode_error>{bencode_error{.code = code, .offset = offset}};
    return error_;
  }

  bool count_token() noexcept { return ++tokens_ <= limits_.max_tokens; }

  // Moves a finished value into the container on top of the stack, or makes it the root.
  void put(bvalue&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      root_done_ = true;
      return;
    }
    frame& top = stack_.back();
    if (auto* l = std::get_if<bvalue::list>(&top.value.data)) {
      l->push_back(std::move(v));
    } else {
      auto& d = std::get<bvalue::dict>(top.value.data);
      // Exact hint when keys come sorted: amortized constant time.
      d.emplace_hint(d.end(), std::move(top.key), std::move(v));
      top.key.clear();
      top.has_key = false;
    }
  }

  // At a digit: reads "<length>:<bytes>" into out. False (error_ set) on failure.
  bool parse_string(std::string& out) {
    const std::size_t start = pos_;
    if (in_[pos_] == '0' && pos_ + 1 < size_ && is_digit(in_[pos_ + 1])) {
      fail(bencode_errc::leading_zero, start);
      return false;
    }
    // The length may never exceed max_bytes, so stop accumulating before it could wrap.
    const std::size_t cap = limits_.max_bytes;
    std::size_t length = 0;
    for (;;) {
      if (pos_ == size_) {
        fail(bencode_errc::truncated, pos_);
        return false;
      }
      const unsigned char ch = in_[pos_];
      if (ch == ':') break;
      if (!is_digit(ch)) {
        fail(bencode_errc::bad_length, pos_);
        return false;
      }
      const auto digit = static_cast<std::size_t>(ch - '0');
      if (digit > cap || length > (cap - digit) / 10) {
        fail(bencode_errc::length_past_end, start);
        return false;
      }
      length = length * 10 + digit;
      ++pos_;
    }
    ++pos_;  // ':'
    // pos_ <= size_ <= max_bytes: neither subtraction can wrap.
    if (length > cap - pos_) {
      fail(bencode_errc::length_past_end, start);
      return false;
    }
    if (length > size_ - pos_) {
      fail(bencode_errc::truncated, size_);
      return false;
    }
    out.assign(reinterpret_cast<const char*>(in_ + pos_), length);
    pos_ += length;
    return true;
  }

  // At 'i': reads "i<integer>e" into out. False (error_ set) on failure.
  bool parse_integer(bvalue& out) {
    ++pos_;  // 'i'
    if (pos_ == size_) {
      fail(bencode_errc::truncated, pos_);
      return false;
    }
    const std::size_t sign_offset = pos_;
    const bool negative = in_[pos_] == '-';
    if (negative) ++pos_;
    if (pos_ == size_) {
      fail(bencode_errc::truncated, pos_);
      return false;
    }
    if (!is_digit(in_[pos_])) {
      fail(bencode_errc::bad_integer, pos_);
      return false;
    }
    if (in_[pos_] == '0' && pos_ + 1 < size_) {
      if (is_digit(in_[pos_ + 1])) {
        fail(bencode_errc::leading_zero, pos_);
        return false;
      }
      if (negative && in_[pos_ + 1] == 'e') {
        fail(bencode_errc::negative_zero, sign_offset);
        return false;
      }
    }
    constexpr auto max_positive = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    const std::uint64_t limit = negative ? max_positive + 1 : max_positive;
    std::uint64_t magnitude = 0;
    while (pos_ < size_ && is_digit(in_[pos_])) {
      const auto digit = static_cast<std::uint64_t>(in_[pos_] - '0');
      if (magnitude > (limit - digit) / 10) {
        fail(bencode_errc::int_overflow, pos_);
        return false;
      }
      magnitude = magnitude * 10 + digit;
      ++pos_;
    }
    if (pos_ == size_) {
      fail(bencode_errc::truncated, pos_);
      return false;
    }
    if (in_[pos_] != 'e') {
      fail(bencode_errc::bad_integer, pos_);
      return false;
    }
    ++pos_;
    std::int64_t value = 0;
    if (!negative) {
      value = static_cast<std::int64_t>(magnitude);
    } else if (magnitude == limit) {
      value = std::numeric_limits<std::int64_t>::min();
    } else {
      value = -static_cast<std::int64_t>(magnitude);
    }
    out.data = value;
    return true;
  }

  bool allow_trailing_;
  const unsigned char* in_;
  std::size_t size_;
  const bencode_limits& limits_;
  std::size_t max_depth_;
  std::size_t pos_ = 0;
  std::size_t tokens_ = 0;
  std::vector<frame> stack_;
  bvalue root_;
  bool root_done_ = false;
  unexpected<bencode_error> error_{bencode_error{}};
};

void append_integer(std::int64_t i, std::string& out) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, i);
  (void)ec;  // 24 bytes hold any int64
  out += 'i';
  out.append(buf, end);
  out += 'e';
}

void append_string(std::string_view s, std::string& out) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, s.size());
  (void)ec;
  out.append(buf, end);
  out += ':';
  out.append(s);
}

}  // namespace
}  // namespace detail

result<bvalue, bencode_error> bdecode(std::span<const std::byte> input, const bencode_limits& limits) {
  return detail::decoder(input, limits).run();
}

result<bvalue, bencode_error> bdecode(std::string_view input, const bencode_limits& limits) {
  return bdecode(std::as_bytes(std::span<const char>(input.data(), input.size())), limits);
}

result<bvalue, bencode_error> bdecode_prefix(std::span<const std::byte> input, const bencode_limits& limits) {
  return detail::decoder(input, limits, true).run();
}


void bencode_append(const bvalue& value, std::string& out) {
  // Iterative, like the decoder: one frame per open list or dict.
  struct frame {
    const bvalue::list* list = nullptr;
    std::size_t next = 0;
    const bvalue::dict* dict = nullptr;
    bvalue::dict::const_iterator it{};
  };
  std::vector<frame> stack;
  const bvalue* v = &value;
  for (;;) {
    if (v != nullptr) {
      if (const auto* i = v->as_int()) {
        detail::append_integer(*i, out);
      } else if (const auto* s = v->as_string()) {
        detail::append_string(*s, out);
      } else if (const auto* l = v->as_list()) {
        out += 'l';
        stack.push_back(frame{.list = l});
      } else {
        const auto* d = v->as_dict();
        out += 'd';
        stack.push_back(frame{.dict = d, .it = d->begin()});
      }
      v = nullptr;
    }
    if (stack.empty()) return;
    frame& top = stack.back();
    if (top.list != nullptr) {
      if (top.next < top.list->size()) {
        v = &(*top.list)[top.next++];
        continue;
      }
    } else if (top.it != top.dict->end()) {
      detail::append_string(top.it->first, out);
      v = &top.it->second;
      ++top.it;
      continue;
    }
    out += 'e';
    stack.pop_back();
  }
}

std::string bencode(const bvalue& value) {
  std::string out;
  bencode_append(value, out);
  return out;
}

}  // namespace p2pdist::bt
