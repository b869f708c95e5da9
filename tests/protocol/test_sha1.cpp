#include "loopback/protocol/sha1.hpp"

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <catch2/catch.hpp>

#include "bytes.hpp"

using p2pdist::bt::parse_hex_digest;
using p2pdist::bt::sha1;
using p2pdist::bt::sha1_digest;
using p2pdist::bt::sha1_hasher;
using p2pdist::bt::to_hex;

namespace {

using p2pdist::test::bytes_of;

// Test vectors from FIPS 180-2 (appendix A) / RFC 3174, plus a widely published one.
struct vector {
  std::string message;
  std::string hex;
};
const vector vectors[] = {
    {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
    {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
    {"The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"},
};

}  // namespace

TEST_CASE("sha1 matches the published test vectors", "[sha1]") {
  for (const auto& v : vectors) {
    INFO("message: \"" << v.message << "\"");
    CHECK(to_hex(sha1(v.message)) == v.hex);
    CHECK(to_hex(sha1(bytes_of(v.message))) == v.hex);
  }
}

TEST_CASE("sha1 of one million 'a' (FIPS 180-2 long message)", "[sha1]") {
  const std::string million(1'000'000, 'a');
  CHECK(to_hex(sha1(million)) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");

  // The same message fed in odd-sized chunks that straddle the 64-byte block boundary.
  sha1_hasher h;
  std::string_view rest = million;
  while (!rest.empty()) {
    const auto n = std::min<std::size_t>(rest.size(), 997);
    h.update(rest.substr(0, n));
    rest.remove_prefix(n);
  }
  CHECK(to_hex(h.finish()) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST_CASE("sha1_hasher gives the same digest at every split point", "[sha1]") {
  const auto& v = vectors[2];  // 56 bytes: padding spills into a second block
  sha1_hasher h;
  for (std::size_t cut = 0; cut <= v.message.size(); ++cut) {
    INFO("cut at " << cut);
    const std::string_view m = v.message;
    h.update(m.substr(0, cut));
    h.update(m.substr(cut));
    CHECK(to_hex(h.finish()) == v.hex);
  }
}

TEST_CASE("sha1_hasher is reusable: finish, reset and digest start a new message", "[sha1]") {
  sha1_hasher h;
  h.update("abc");
  CHECK(to_hex(h.finish()) == vectors[1].hex);
  // After finish the hasher holds nothing: finishing at once gives the empty digest.
  CHECK(to_hex(h.finish()) == vectors[0].hex);

  h.update("some bytes that reset() must discard");
  h.reset();
  h.update("abc");
  CHECK(to_hex(h.finish()) == vectors[1].hex);

  h.update("partial input that digest() must discard");
  CHECK(to_hex(h.digest(bytes_of("abc"))) == vectors[1].hex);
  CHECK(to_hex(h.digest(bytes_of(vectors[3].message))) == vectors[3].hex);
}

TEST_CASE("sha1_hasher can be moved with its partial state", "[sha1]") {
  sha1_hasher a;
  a.update("ab");
  sha1_hasher b = std::move(a);
  b.update("c");
  CHECK(to_hex(b.finish()) == vectors[1].hex);

  sha1_hasher c;
  c.update("The quick brown fox ");
  b = std::move(c);
  b.update("jumps over the lazy dog");
  CHECK(to_hex(b.finish()) == vectors[3].hex);
}

TEST_CASE("parse_hex_digest reads 40 hex digits of either case", "[sha1]") {
  const auto lower = parse_hex_digest("a9993e364706816aba3e25717850c26c9cd0d89d");
  REQUIRE(lower);
  CHECK(*lower == sha1("abc"));
  CHECK(std::to_integer<int>((*lower)[0]) == 0xa9);
  CHECK(std::to_integer<int>((*lower)[19]) == 0x9d);

  const auto upper = parse_hex_digest("A9993E364706816ABA3E25717850C26C9CD0D89D");
  REQUIRE(upper);
  CHECK(*upper == *lower);
}

TEST_CASE("parse_hex_digest refuses anything but 40 hex digits", "[sha1]") {
  const std::string good = "a9993e364706816aba3e25717850c26c9cd0d89d";
  CHECK_FALSE(parse_hex_digest(""));
  CHECK_FALSE(parse_hex_digest(good.substr(0, 39)));
  CHECK_FALSE(parse_hex_digest(good + "0"));
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (char bad : {'g', 'G', ' ', 'x', '\0', '/', ':', '@', '`'}) {
      std::string s = good;
      s[i] = bad;
      INFO("position " << i << " byte " << int(bad));
      CHECK_FALSE(parse_hex_digest(s));
    }
  }
}
