#include "loopback/protocol/bencode.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

using namespace std::string_view_literals;
using p2pdist::bt::bdecode;
using p2pdist::bt::bencode;
using p2pdist::bt::bencode_errc;
using p2pdist::bt::bencode_error;
using p2pdist::bt::bencode_limits;
using p2pdist::bt::bvalue;

namespace {

struct bad_case {
  std::string_view input;
  bencode_errc code;
  std::size_t offset;
};

// Decodes each input and checks that it fails with the expected code at the expected offset.
void check_errors(std::initializer_list<bad_case> cases, const bencode_limits& limits = {}) {
  for (const auto& c : cases) {
    INFO("input: " << std::string(c.input));
    const auto r = bdecode(c.input, limits);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == c.code);
    CHECK(r.error().offset == c.offset);
  }
}

std::string repeat(std::string_view s, std::size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

// The info dictionary of a small single-file torrent, written out by hand (BEP 3 layout).
const std::string info_text =
    "d6:lengthi1048576e4:name8:file.bin12:piece lengthi262144e6:pieces40:" +
    std::string(20, 'A') + std::string(20, '\xee') + "e";
const std::string announce_text = "d8:announce30:http://127.0.0.1:6969/announce";
const std::string torrent_text = announce_text + "4:info" + info_text + "e";

}  // namespace

TEST_CASE("bencode decodes every kind of value", "[bencode]") {
  SECTION("integers") {
    auto r = bdecode("i42e");
    REQUIRE(r.has_value());
    REQUIRE(r->as_int() != nullptr);
    CHECK(*r->as_int() == 42);
    CHECK(r->as_string() == nullptr);
    CHECK(bdecode("i-7e")->as_int() != nullptr);
    CHECK(*bdecode("i-7e")->as_int() == -7);
    CHECK(*bdecode("i0e")->as_int() == 0);
  }
  SECTION("strings, including empty and binary ones") {
    auto r = bdecode("4:spam");
    REQUIRE(r.has_value());
    REQUIRE(r->is_string());
    CHECK(*r->as_string() == "spam");
    CHECK(*bdecode("0:")->as_string() == "");
    const auto binary = "5:\0\xff\x80z\n"sv;
    auto b = bdecode(binary);
    REQUIRE(b.has_value());
    CHECK(*b->as_string() == "\0\xff\x80z\n"sv);
  }
  SECTION("lists") {
    auto r = bdecode("l4:spami42ee");  // BEP 3's example plus an integer
    REQUIRE(r.has_value());
    REQUIRE(r->is_list());
    const auto& l = *r->as_list();
    REQUIRE(l.size() == 2);
    CHECK(*l[0].as_string() == "spam");
    CHECK(*l[1].as_int() == 42);
    CHECK(bdecode("le")->as_list()->empty());
  }
  SECTION("dictionaries") {
    auto r = bdecode("d3:cow3:moo4:spam4:eggse");  // BEP 3's example
    REQUIRE(r.has_value());
    REQUIRE(r->is_dict());
    CHECK(r->as_dict()->size() == 2);
    CHECK(*r->find("cow")->as_string() == "moo");
    CHECK(*r->find("spam")->as_string() == "eggs");
    CHECK(bdecode("de")->as_dict()->empty());
  }
  SECTION("unsorted keys are accepted; encoding sorts them") {
    auto r = bdecode("d1:bi1e1:ai2ee");
    REQUIRE(r.has_value());
    CHECK(*r->find("a")->as_int() == 2);
    CHECK(*r->find("b")->as_int() == 1);
    CHECK(bencode(*r) == "d1:ai2e1:bi1ee");
  }
  SECTION("the std::byte overload reads the same bytes") {
    const std::vector<std::byte> bytes{std::byte{'3'}, std::byte{':'}, std::byte{0x00},
                                       std::byte{0xfe}, std::byte{'x'}};
    auto r = bdecode(std::span<const std::byte>(bytes));
    REQUIRE(r.has_value());
    CHECK(*r->as_string() == "\0\xfex"sv);
  }
}

TEST_CASE("bencode: input that ends too early", "[bencode][errors]") {
  check_errors({
      {"", bencode_errc::truncated, 0},
      {"i", bencode_errc::truncated, 1},
      {"i-", bencode_errc::truncated, 2},
      {"i12", bencode_errc::truncated, 3},
      {"4", bencode_errc::truncated, 1},
      {"4:", bencode_errc::truncated, 2},
      {"4:spa", bencode_errc::truncated, 5},
      {"li1e4:sp", bencode_errc::truncated, 8},  // inside a string inside a list
      {"l", bencode_errc::missing_end, 1},
      {"li1e", bencode_errc::missing_end, 4},
      {"lde", bencode_errc::missing_end, 3},
      {"d3:cow", bencode_errc::missing_end, 6},  // a key read, its value never starts
      {"d3:cow3:moo", bencode_errc::missing_end, 11},
  });
}

TEST_CASE("bencode: bad string lengths", "[bencode][errors]") {
  check_errors({
      {"3x:abc", bencode_errc::bad_length, 1},
      {"1-:a", bencode_errc::bad_length, 1},
      {"l2 :abe", bencode_errc::bad_length, 2},
      {"03:abc", bencode_errc::leading_zero, 0},
      {"l00:e", bencode_errc::leading_zero, 1},
  });
}

TEST_CASE("bencode: a string length past the end", "[bencode][errors]") {
  SECTION("a length that would wrap size_t is refused, not wrapped") {
    // 2^64 + 1 wraps to 1 in 64-bit arithmetic, which would make "x" a valid string.
    check_errors({
        {"l18446744073709551617:xe", bencode_errc::length_past_end, 1},
        {"99999999999999999999999:x", bencode_errc::length_past_end, 0},
    });
  }
  SECTION("the boundary is the largest input allowed, max_bytes") {
    // Default max_bytes is 64 MiB = 67108864. "67108855:" is 9 bytes, so 67108855 more
    // bytes end exactly at the limit: the input merely ended early. One more cannot fit.
    check_errors({
        {"67108855:abc", bencode_errc::truncated, 12},
        {"67108856:abc", bencode_errc::length_past_end, 0},
    });
    // With max_bytes = 10: "l6:" leaves 7 bytes (fits), "l20:" leaves 6 (does not).
    check_errors({{"l6:abc", bencode_errc::truncated, 6},
                  {"l20:abc", bencode_errc::length_past_end, 1}},
                 bencode_limits{.max_bytes = 10});
  }
}

TEST_CASE("bencode: malformed integers", "[bencode][errors]") {
  check_errors({
      {"i03e", bencode_errc::leading_zero, 1},
      {"i00e", bencode_errc::leading_zero, 1},
      {"i-03e", bencode_errc::leading_zero, 2},
      {"i-0e", bencode_errc::negative_zero, 1},
      {"ie", bencode_errc::bad_integer, 1},
      {"i-e", bencode_errc::bad_integer, 2},
      {"i1xe", bencode_errc::bad_integer, 2},
      {"i+1e", bencode_errc::bad_integer, 1},
      {"i1.5e", bencode_errc::bad_integer, 2},
      {"i--1e", bencode_errc::bad_integer, 2},
      {"i 1e", bencode_errc::bad_integer, 1},
  });
}

TEST_CASE("bencode: 64-bit integer range", "[bencode][errors]") {
  const auto max = std::numeric_limits<std::int64_t>::max();  //  9223372036854775807
  const auto min = std::numeric_limits<std::int64_t>::min();  // -9223372036854775808
  auto hi = bdecode("i9223372036854775807e");
  REQUIRE(hi.has_value());
  CHECK(*hi->as_int() == max);
  auto lo = bdecode("i-9223372036854775808e");
  REQUIRE(lo.has_value());
  CHECK(*lo->as_int() == min);
  // The offending digit is the 19th: at index 19 ('i' first), or 20 after a '-'.
  check_errors({
      {"i9223372036854775808e", bencode_errc::int_overflow, 19},
      {"i-9223372036854775809e", bencode_errc::int_overflow, 20},
      {"i99999999999999999999999e", bencode_errc::int_overflow, 19},
      {"i18446744073709551617e", bencode_errc::int_overflow, 20},  // 2^64+1: 20 digits
  });
}

TEST_CASE("bencode: dictionary keys", "[bencode][errors]") {
  check_errors({
      {"di1ei2ee", bencode_errc::key_not_string, 1},
      {"dlei1ee", bencode_errc::key_not_string, 1},
      {"ddee", bencode_errc::key_not_string, 1},
      {"d1:ai1ei2ei3ee", bencode_errc::key_not_string, 7},
      {"d1:ai1e1:ai2ee", bencode_errc::duplicate_key, 7},
      {"d1:bi1e1:ai2e1:bi3ee", bencode_errc::duplicate_key, 13},  // unsorted, then repeated
      {"d1:ae", bencode_errc::missing_value, 4},
      {"d1:ai1e1:be", bencode_errc::missing_value, 10},
  });
}

TEST_CASE("bencode: bytes that cannot start a value, and trailing bytes", "[bencode][errors]") {
  check_errors({
      {"x", bencode_errc::unexpected_char, 0},
      {"e", bencode_errc::unexpected_char, 0},
      {" i1e", bencode_errc::unexpected_char, 0},
      {"-1:a", bencode_errc::unexpected_char, 0},
      {"lxe", bencode_errc::unexpected_char, 1},
      {"dxe", bencode_errc::unexpected_char, 1},
      {"d1:a:e", bencode_errc::unexpected_char, 4},
      {"i1ei2e", bencode_errc::trailing_data, 3},
      {"lee", bencode_errc::trailing_data, 2},
      {"4:spam\n", bencode_errc::trailing_data, 6},
  });
}

TEST_CASE("bencode: depth limit", "[bencode][limits]") {
  SECTION("default 64: exactly 64 nested lists pass, 65 fail at the 65th 'l'") {
    const auto ok = bdecode(repeat("l", 64) + repeat("e", 64));
    REQUIRE(ok.has_value());
    std::size_t depth = 0;
    for (const bvalue* v = &*ok; v->is_list(); ++depth) {
      if (v->as_list()->empty()) {
        ++depth;
        break;
      }
      v = &v->as_list()->front();
    }
    CHECK(depth == 64);
    check_errors({{repeat("l", 65) + repeat("e", 65), bencode_errc::depth_exceeded, 64}});
  }
  SECTION("dictionaries count too") {
    CHECK(bdecode(repeat("d1:a", 64) + "i1e" + repeat("e", 64)).has_value());
    const auto deep = repeat("d1:a", 65) + "i1e" + repeat("e", 65);
    check_errors({{deep, bencode_errc::depth_exceeded, 4 * 64}});
  }
  SECTION("a custom limit") {
    const bencode_limits three{.max_depth = 3};
    CHECK(bdecode("llleee", three).has_value());
    check_errors({{"lllleeee", bencode_errc::depth_exceeded, 3}}, three);
    const bencode_limits zero{.max_depth = 0};
    CHECK(bdecode("i1e", zero).has_value());
    check_errors({{"le", bencode_errc::depth_exceeded, 0}}, zero);
  }
  SECTION("a million unclosed lists stop at the limit without deep recursion") {
    const auto many = repeat("l", 1'000'000);
    check_errors({{many, bencode_errc::depth_exceeded, 64}});
  }
  SECTION("a larger max_depth is capped by bencode_depth_ceiling") {
    const auto n = static_cast<std::size_t>(p2pdist::bt::bencode_depth_ceiling);
    const bencode_limits huge{.max_depth = 1'000'000};
    // At the ceiling: decodes, and the tree is destroyed (recursively) without trouble.
    CHECK(bdecode(repeat("l", n) + repeat("e", n), huge).has_value());
    check_errors({{repeat("l", n + 1) + repeat("e", n + 1), bencode_errc::depth_exceeded, n}},
                 huge);
  }
}

TEST_CASE("bencode: token and size limits", "[bencode][limits]") {
  SECTION("tokens: every value counts, dictionary keys included") {
    // "li1ei2ei3ee": the list and three integers are 4 tokens; the third integer is at 7.
    CHECK(bdecode("li1ei2ei3ee", bencode_limits{.max_tokens = 4}).has_value());
    check_errors({{"li1ei2ei3ee", bencode_errc::too_many_tokens, 7}},
                 bencode_limits{.max_tokens = 3});
    // "d1:ai1ee": dict (0), key (1), value (4).
    CHECK(bdecode("d1:ai1ee", bencode_limits{.max_tokens = 3}).has_value());
    check_errors({{"d1:ai1ee", bencode_errc::too_many_tokens, 4}},
                 bencode_limits{.max_tokens = 2});
    check_errors({{"d1:ai1ee", bencode_errc::too_many_tokens, 1}},
                 bencode_limits{.max_tokens = 1});
  }
  SECTION("size: the input may be exactly max_bytes long") {
    CHECK(bdecode("4:spam", bencode_limits{.max_bytes = 6}).has_value());
    check_errors({{"4:spam", bencode_errc::too_large, 5}}, bencode_limits{.max_bytes = 5});
  }
}

TEST_CASE("bencode: every proper prefix of a valid stream fails where it ends", "[bencode]") {
  const std::string streams[] = {
      torrent_text,
      "l0:i-12ei0eld1:xlee4:spamee",
      "d5:peersld2:ip9:127.0.0.14:porti6881eeee",
  };
  for (const auto& full : streams) {
    REQUIRE(bdecode(full).has_value());
    for (std::size_t k = 0; k < full.size(); ++k) {
      INFO("prefix length " << k << " of " << full);
      const auto r = bdecode(std::string_view(full).substr(0, k));
      REQUIRE_FALSE(r.has_value());
      const auto code = r.error().code;
      CHECK((code == bencode_errc::truncated || code == bencode_errc::missing_end));
      CHECK(r.error().offset == k);
    }
  }
  // Which of the two: inside a scalar it is truncated, between values it is missing_end.
  CHECK(bdecode("d8:ann").error() == bencode_error{bencode_errc::truncated, 6});
  CHECK(bdecode("d8:announce").error() == bencode_error{bencode_errc::missing_end, 11});
  CHECK(bdecode("li-1").error() == bencode_error{bencode_errc::truncated, 4});
}

TEST_CASE("bencode records the byte span of every value", "[bencode]") {
  SECTION("the info dictionary of a torrent") {
    auto r = bdecode(torrent_text);
    REQUIRE(r.has_value());
    CHECK(r->begin == 0);
    CHECK(r->end == torrent_text.size());
    const bvalue* info = r->find("info");
    REQUIRE(info != nullptr);
    const std::size_t info_at = announce_text.size() + "4:info"sv.size();
    CHECK(info->begin == info_at);
    CHECK(info->end == info_at + info_text.size());
    CHECK(torrent_text.substr(info->begin, info->end - info->begin) == info_text);
    const bvalue* pieces = info->find("pieces");
    REQUIRE(pieces != nullptr);
    CHECK(pieces->as_string()->size() == 40);
    // "6:pieces" is followed by the value "40:<40 bytes>", the last thing before info's 'e'.
    CHECK(pieces->end == info->end - 1);
    CHECK(pieces->begin == pieces->end - "40:"sv.size() - 40);
  }
  SECTION("elements of nested lists") {
    //             0123456789012
    auto r = bdecode("li1el3:abcee");
    REQUIRE(r.has_value());
    const auto& outer = *r->as_list();
    CHECK(outer[0].begin == 1);
    CHECK(outer[0].end == 4);
    CHECK(outer[1].begin == 4);
    CHECK(outer[1].end == 11);
    const auto& inner = *outer[1].as_list();
    CHECK(inner[0].begin == 5);
    CHECK(inner[0].end == 10);
    CHECK(r->end == 12);
  }
}

TEST_CASE("bencode encodes canonically and round-trips", "[bencode]") {
  SECTION("BEP 3's examples") {
    CHECK(bencode(bvalue{"spam"}) == "4:spam");
    CHECK(bencode(bvalue{3}) == "i3e");
    CHECK(bencode(bvalue{-3}) == "i-3e");
    CHECK(bencode(bvalue{0}) == "i0e");
    CHECK(bencode(bvalue{""}) == "0:");
    CHECK(bencode(bvalue::list{"spam", "eggs"}) == "l4:spam4:eggse");
    CHECK(bencode(bvalue::dict{{"spam", "eggs"}, {"cow", "moo"}}) == "d3:cow3:moo4:spam4:eggse");
    CHECK(bencode(bvalue::dict{{"spam", bvalue::list{"a", "b"}}}) == "d4:spaml1:a1:bee");
    CHECK(bencode(bvalue::list{}) == "le");
    CHECK(bencode(bvalue::dict{}) == "de");
  }
  SECTION("64-bit extremes") {
    CHECK(bencode(bvalue{std::numeric_limits<std::int64_t>::min()}) == "i-9223372036854775808e");
    CHECK(bencode(bvalue{std::numeric_limits<std::int64_t>::max()}) == "i9223372036854775807e");
  }
  SECTION("bencode(bdecode(x)) == x for canonical x") {
    std::string all_bytes;
    for (int b = 0; b < 256; ++b) all_bytes += static_cast<char>(b);
    const std::string canonical[] = {
        torrent_text,
        "i-9223372036854775808e",
        "l0:lelede0:dee",
        "d1:ad1:bd1:cleee1:zi0ee",
        "256:" + all_bytes,
        "d5:peersld2:ip9:127.0.0.14:porti6881eeee",
    };
    for (const auto& x : canonical) {
      INFO(x);
      auto r = bdecode(x);
      REQUIRE(r.has_value());
      CHECK(bencode(*r) == x);
    }
  }
  SECTION("bencode_append appends") {
    std::string out = "xy";
    p2pdist::bt::bencode_append(bvalue{7}, out);
    CHECK(out == "xyi7e");
  }
  SECTION("a hand-built tree decodes back to itself") {
    const bvalue tree = bvalue::dict{
        {"list", bvalue::list{1, -2, "three", bvalue::dict{{"k", "v"}}}},
        {"", bvalue::list{}},
        {"num", bvalue{std::int64_t{1} << 40}},
    };
    auto r = bdecode(bencode(tree));
    REQUIRE(r.has_value());
    CHECK(*r == tree);
  }
}

TEST_CASE("bvalue equality ignores spans and compares data", "[bencode]") {
  auto r = bdecode("li1e3:abce");
  REQUIRE(r.has_value());
  CHECK(*r == bvalue{bvalue::list{1, "abc"}});
  CHECK_FALSE(*r == bvalue{bvalue::list{1, "abd"}});
  CHECK_FALSE(*r == bvalue{bvalue::list{1}});
  CHECK_FALSE(bvalue{1} == bvalue{"1"});
  CHECK_FALSE(bvalue{bvalue::dict{{"a", 1}}} == bvalue{bvalue::dict{{"b", 1}}});
}

TEST_CASE("bvalue::find", "[bencode]") {
  auto r = bdecode("d1:ai1e3:k\0yi2e1:zlee"sv);
  REQUIRE(r.has_value());
  REQUIRE(r->find("a") != nullptr);
  CHECK(*r->find("a")->as_int() == 1);
  REQUIRE(r->find("k\0y"sv) != nullptr);
  CHECK(*r->find("k\0y"sv)->as_int() == 2);
  CHECK(r->find("k") == nullptr);
  CHECK(r->find("b") == nullptr);
  CHECK(r->find("z")->is_list());
  CHECK(bvalue{bvalue::list{"a"}}.find("a") == nullptr);
  CHECK(bvalue{5}.find("a") == nullptr);
  CHECK(bvalue{"a"}.find("a") == nullptr);
}

TEST_CASE("bencode error codes have distinct descriptions", "[bencode]") {
  std::set<std::string_view> seen;
  const auto first = static_cast<int>(bencode_errc::truncated);
  const auto last = static_cast<int>(bencode_errc::trailing_data);
  for (int c = first; c <= last; ++c) {
    const auto text = p2pdist::bt::to_string(static_cast<bencode_errc>(c));
    INFO("code " << c << ": " << std::string(text));
    CHECK_FALSE(text.empty());
    CHECK(seen.insert(text).second);
  }
  CHECK(seen.size() == 16);
  const auto unknown = p2pdist::bt::to_string(static_cast<bencode_errc>(999));
  CHECK_FALSE(unknown.empty());
  CHECK(seen.count(unknown) == 0);
}
