// The delay line of an emulated path (loopback/net/delay_line.hpp), pure: time is passed in.

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "loopback/net/delay_line.hpp"

using namespace std::chrono_literals;
using p2pdist::bt::delay_line;
using p2pdist::bt::duration;
using p2pdist::bt::time_point;

namespace {

std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

std::vector<std::byte> copy(std::span<const std::byte> s) { return {s.begin(), s.end()}; }

}  // namespace

TEST_CASE("delay line: bytes wait until due and leave in order", "[unit]") {
  delay_line line(100);
  const time_point t0{};
  CHECK(line.empty());
  CHECK(!line.next_due());
  line.push(t0 + 50ms, bytes_of({1, 2, 3}));
  line.push(t0 + 70ms, bytes_of({4, 5}));
  CHECK(line.size() == 5);
  CHECK(line.room() == 95);
  CHECK(*line.next_due() == t0 + 50ms);
  CHECK(line.due_at(t0 + 49ms).empty());
  CHECK(copy(line.due_at(t0 + 50ms)) == bytes_of({1, 2, 3}));
  CHECK(copy(line.due_at(t0 + 1s)) == bytes_of({1, 2, 3, 4, 5}));
  // Handing on part of a chunk: the rest keeps the chunk's due time.
  line.pop(2);
  CHECK(*line.next_due() == t0 + 50ms);
  CHECK(copy(line.due_at(t0 + 60ms)) == bytes_of({3}));
  line.pop(1);
  CHECK(*line.next_due() == t0 + 70ms);
  CHECK(line.due_at(t0 + 60ms).empty());
  line.pop(2);
  CHECK(line.empty());
  CHECK(!line.next_due());
  CHECK(line.room() == 100);
}

TEST_CASE("delay line: a chunk due before the one ahead of it waits for it (no reordering)", "[unit]") {
  delay_line line(100);
  const time_point t0{};
  CHECK(line.push(t0 + 80ms, bytes_of({1})) == t0 + 80ms);
  // Jitter drew a shorter delay for the next read: it still leaves after the first.
  CHECK(line.push(t0 + 30ms, bytes_of({2})) == t0 + 80ms);
  CHECK(line.due_at(t0 + 30ms).empty());
  CHECK(copy(line.due_at(t0 + 80ms)) == bytes_of({1, 2}));
}

TEST_CASE("delay line: room bounds what it holds, and every byte comes out once in order", "[unit]") {
  // Random chunk sizes and delays, taken out at random moments: what leaves is exactly what
  // went in, never more held than the capacity, never a byte before its due time.
  const std::size_t capacity = 4096;
  delay_line line(capacity);
  std::mt19937 rng(7);
  std::vector<std::byte> in, out;
  std::vector<std::pair<std::size_t, time_point>> due_of;  // (end offset in `in`, due)
  time_point now{};
  std::uint8_t next = 0;
  for (int step = 0; step < 5000; ++step) {
    now += std::chrono::microseconds(rng() % 500);
    if (rng() % 2 == 0 && line.room() > 0) {
      const std::size_t n = 1 + rng() % std::min<std::size_t>(line.room(), 700);
      std::vector<std::byte> chunk(n);
      for (auto& b : chunk) b = static_cast<std::byte>(next++);
      const auto due = line.push(now + std::chrono::microseconds(rng() % 3000), chunk);
      in.insert(in.end(), chunk.begin(), chunk.end());
      due_of.emplace_back(in.size(), due);
    } else {
      const auto ready = line.due_at(now);
      // Nothing handed on is due later than now.
      for (const auto& [end, due] : due_of)
        if (end > out.size() && end <= out.size() + ready.size()) CHECK(due <= now);
      const std::size_t take = ready.empty() ? 0 : 1 + rng() % ready.size();
      out.insert(out.end(), ready.begin(), ready.begin() + static_cast<std::ptrdiff_t>(take));
      line.pop(take);
    }
    REQUIRE(line.size() <= capacity);
    REQUIRE(line.size() == in.size() - out.size());
  }
  const auto rest = line.due_at(now + 1h);
  out.insert(out.end(), rest.begin(), rest.end());
  line.pop(rest.size());
  CHECK(line.empty());
  CHECK(out == in);
}

TEST_CASE("pair_one_way_delay: both ends draw the same half round trip within the range", "[unit]") {
  using p2pdist::bt::pair_one_way_delay;
  const std::array<std::uint8_t, 4> a{127, 0, 0, 10}, b{127, 0, 0, 11}, c{127, 0, 1, 3};
  CHECK(pair_one_way_delay(1, a, b, 20ms, 200ms) == pair_one_way_delay(1, b, a, 20ms, 200ms));
  CHECK(pair_one_way_delay(1, a, b, 40ms, 40ms) == 20ms);  // A..A: exactly half of A
  // Over many pairs the one-way delays fill [10, 100] ms: uniform, mean 55 ms.
  duration lo = duration::max(), hi = duration::zero(), sum{};
  int pairs = 0;
  for (std::uint8_t x = 0; x < 40; ++x)
    for (std::uint8_t y = static_cast<std::uint8_t>(x + 1); y < 40; ++y) {
      const auto d = pair_one_way_delay(9, {127, 0, 0, x}, {127, 0, 0, y}, 20ms, 200ms);
      lo = std::min(lo, d);
      hi = std::max(hi, d);
      sum += d;
      ++pairs;
    }
  CHECK(lo >= 10ms);
  CHECK(hi <= 100ms);
  CHECK(lo < 15ms);
  CHECK(hi > 95ms);
  CHECK(std::chrono::duration<double>(sum / pairs).count() == Approx(0.055).margin(0.005));
  // Another seed, another draw.
  CHECK(pair_one_way_delay(2, a, c, 20ms, 200ms) != pair_one_way_delay(3, a, c, 20ms, 200ms));
}
