// Tests of the magnet link parser and writer (BEP 9). The info-hashes' base32 forms were
// computed independently with Python's base64.b32encode (RFC 4648), the percent escapes
// by hand from ASCII (RFC 3986), and the offsets counted by hand and checked with Python's
// len() and str.index() on the same literals.
#include "loopback/protocol/magnet.hpp"

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

using namespace p2pdist::bt;
using namespace std::literals;

namespace Catch {
template <>
struct StringMaker<p2pdist::bt::magnet_error> {
  static std::string convert(const p2pdist::bt::magnet_error& e) {
    return "{" + std::string(to_string(e.code)) + " at " + std::to_string(e.offset) + "}";
  }
};
}  // namespace Catch

namespace {

/// The digest 00 01 02 ... 13 (bytes(range(20)) in Python): its hex is written out by
/// hand, its base32 is base64.b32encode(bytes(range(20))).
sha1_digest counting_digest() {
  sha1_digest d{};
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<std::byte>(i);
  return d;
}
constexpr std::string_view counting_hex = "000102030405060708090a0b0c0d0e0f10111213";
constexpr std::string_view counting_base32 = "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQT";

/// A second digest, c9e15763...53056, byte by byte; base32 from Python's
/// base64.b32encode(bytes.fromhex("c9e15763f722f23e98a29decdfae341b98d53056")).
sha1_digest other_digest() {
  const unsigned bytes[20] = {0xc9, 0xe1, 0x57, 0x63, 0xf7, 0x22, 0xf2, 0x3e, 0x98, 0xa2,
                              0x9d, 0xec, 0xdf, 0xae, 0x34, 0x1b, 0x98, 0xd5, 0x30, 0x56};
  sha1_digest d{};
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<std::byte>(bytes[i]);
  return d;
}
constexpr std::string_view other_hex = "c9e15763f722f23e98a29decdfae341b98d53056";
constexpr std::string_view other_base32 = "ZHQVOY7XELZD5GFCTXWN7LRUDOMNKMCW";

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  return out;
}
std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

/// "magnet:?xt=urn:btih:" is 20 characters: a hash starts at 20, and after 40 hex digits
/// the next parameter's '&' is at 60 (its value at 64 for a two-letter key).
const std::string counting_link = "magnet:?xt=urn:btih:"s + std::string(counting_hex);

magnet_link parsed(std::string_view text) {
  auto r = parse_magnet(text);
  REQUIRE(r.has_value());
  return std::move(r).value();
}

magnet_error error_of(std::string_view text) {
  const auto r = parse_magnet(text);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

}  // namespace

TEST_CASE("magnet: 40 hex and 32 base32 info-hashes of either case give the same digest", "[magnet]") {
  REQUIRE(counting_link.size() == 60);
  for (const std::string& v : {std::string(counting_hex), upper(counting_hex), std::string(counting_base32),
                               lower(counting_base32)}) {
    CAPTURE(v);
    const auto link = parsed("magnet:?xt=urn:btih:" + v);
    CHECK(link.info_hash == counting_digest());
    CHECK(link.display_name.empty());
    CHECK(link.trackers.empty());
  }
  for (const std::string& v :
       {std::string(other_hex), upper(other_hex), std::string(other_base32), lower(other_base32)}) {
    CAPTURE(v);
    CHECK(parsed("magnet:?xt=urn:btih:" + v).info_hash == other_digest());
  }
}

TEST_CASE("magnet: dn and every tr are percent-decoded, repeats dropped, order kept", "[magnet]") {
  // %20 space, %26 '&', %3A ':', %2F '/', %3F '?', %3D '='. The third tr is the first one
  // again, escaped in lower case: the same tracker once decoded, so dropped.
  const auto link = parsed(counting_link + "&dn=Ubuntu%2022.04%20%26%20more" +
                           "&tr=udp%3A%2F%2Ftracker.example%3A6969%2Fannounce" +
                           "&tr=http%3A%2F%2Ft2.example%2Fannounce%3Fk%3D1" +
                           "&tr=udp%3a%2f%2ftracker.example%3a6969%2fannounce" + "&tr=udp://raw.example:80");
  CHECK(link.info_hash == counting_digest());
  CHECK(link.display_name == "Ubuntu 22.04 & more");
  CHECK(link.trackers == std::vector<std::string>{"udp://tracker.example:6969/announce",
                                                  "http://t2.example/announce?k=1", "udp://raw.example:80"});
}

TEST_CASE("magnet: a UTF-8 dn is decoded byte for byte", "[magnet]") {
  // "café" in UTF-8: 63 61 66 C3 A9; either case of hex digit.
  CHECK(parsed(counting_link + "&dn=caf%C3%A9").display_name == "caf\xC3\xA9"s);
  CHECK(parsed(counting_link + "&dn=caf%c3%a9").display_name == "caf\xC3\xA9"s);
  // The parameters may come in any order: dn before xt.
  CHECK(parsed("magnet:?dn=x%2By&xt=urn:btih:"s + std::string(counting_hex)).display_name == "x+y");
}

TEST_CASE("magnet: tr.N parameters are trackers too, in order and without repeats", "[magnet]") {
  const auto link = parsed(counting_link + "&tr.1=udp%3A%2F%2Fa.example%3A1" + "&tr.2=udp%3A%2F%2Fb.example%3A2" +
                           "&tr=udp%3A%2F%2Fa.example%3A1" + "&tr.3=http%3A%2F%2Fc.example%2Fannounce");
  CHECK(link.trackers ==
        std::vector<std::string>{"udp://a.example:1", "udp://b.example:2", "http://c.example/announce"});
}

TEST_CASE("magnet: other parameters and a btmh xt beside the btih are ignored", "[magnet]") {
  const std::string btmh = "urn:btmh:1220" + std::string(64, 'a');
  const auto link = parsed(counting_link + "&xl=1234&ws=http%3A%2F%2Fw.example&x.pe=1.2.3.4:5&xt=" + btmh +
                           "&so=0-3&kt=a+b");
  CHECK(link.info_hash == counting_digest());
  CHECK(link.display_name.empty());
  CHECK(link.trackers.empty());
}

TEST_CASE("magnet: a link without a btih has no info-hash", "[magnet]") {
  // The offset is the link's length: the hash was looked for up to the end.
  const std::string btmh_only = "magnet:?xt=urn:btmh:1220" + std::string(64, 'b') + "&dn=x";
  CHECK(error_of(btmh_only) == magnet_error{magnet_errc::no_info_hash, btmh_only.size()});
  CHECK(error_of("magnet:?dn=x&tr=udp%3A%2F%2Fa%3A1") == magnet_error{magnet_errc::no_info_hash, 33});
  CHECK(error_of("magnet:?") == magnet_error{magnet_errc::no_info_hash, 8});
}

TEST_CASE("magnet: two different btih are refused, the same one twice is fine", "[magnet]") {
  // The second xt's value starts after "&xt=" at 60: at 64.
  CHECK(error_of(counting_link + "&xt=urn:btih:" + std::string(other_hex)) ==
        magnet_error{magnet_errc::two_info_hashes, 64});
  // "magnet:?xt.1=urn:btih:" is 22 characters; + 40 + "&xt.2=" 6 = 68.
  CHECK(error_of("magnet:?xt.1=urn:btih:"s + std::string(counting_hex) + "&xt.2=urn:btih:" + std::string(other_base32)) ==
        magnet_error{magnet_errc::two_info_hashes, 68});
  // The same hash, twice in hex, or once in hex and once in base32.
  CHECK(parsed(counting_link + "&xt=urn:btih:" + std::string(counting_hex)).info_hash == counting_digest());
  CHECK(parsed(counting_link + "&xt=urn:btih:" + std::string(counting_base32)).info_hash == counting_digest());
  CHECK(parsed("magnet:?xt.1=urn:btih:"s + upper(other_hex) + "&xt.2=urn:btih:" + lower(other_base32)).info_hash ==
        other_digest());
}

TEST_CASE("magnet: a bad escape names its percent sign", "[magnet]") {
  // After counting_link, "&dn=" puts the value at 64.
  CHECK(error_of(counting_link + "&dn=a%") == magnet_error{magnet_errc::bad_escape, 65});
  CHECK(error_of(counting_link + "&dn=%") == magnet_error{magnet_errc::bad_escape, 64});
  CHECK(error_of(counting_link + "&dn=%4") == magnet_error{magnet_errc::bad_escape, 64});
  CHECK(error_of(counting_link + "&dn=%zz") == magnet_error{magnet_errc::bad_escape, 64});
  CHECK(error_of(counting_link + "&dn=%4g&tr=x") == magnet_error{magnet_errc::bad_escape, 64});
  CHECK(error_of(counting_link + "&dn=ok%20then%g1") == magnet_error{magnet_errc::bad_escape, 73});
  // In a tracker: "udp%3A%2F%2Fa%3" from 64, its last '%' at 64 + 13 = 77.
  CHECK(error_of(counting_link + "&tr=udp%3A%2F%2Fa%3") == magnet_error{magnet_errc::bad_escape, 77});
  CHECK(error_of(counting_link + "&tr.1=%") == magnet_error{magnet_errc::bad_escape, 66});
  // In xt, and in a parameter before the xt (at 11, after "magnet:?dn=").
  CHECK(error_of("magnet:?xt=urn:btih:%zz") == magnet_error{magnet_errc::bad_escape, 20});
  CHECK(error_of("magnet:?dn=%&xt=urn:btih:"s + std::string(counting_hex)) ==
        magnet_error{magnet_errc::bad_escape, 11});
}

TEST_CASE("magnet: an info-hash neither 40 hex nor 32 base32 is refused where it starts", "[magnet]") {
  const std::string prefix = "magnet:?xt=urn:btih:";
  const std::vector<std::string> bad{
      "",                                                 // empty
      std::string(counting_hex.substr(0, 39)),            // 39 hex digits
      std::string(counting_hex) + "0",                    // 41
      std::string(40, 'g'),                               // 40, not hex
      "1" + std::string(counting_base32.substr(1)),       // 32, '1' is not base32
      "8" + std::string(counting_base32.substr(1)),       // nor '8'
      std::string(counting_base32.substr(0, 31)) + "=",  // nor padding
      std::string(counting_base32) + "A",                 // 33
      std::string(counting_base32.substr(0, 31)),         // 31
  };
  for (const auto& h : bad) {
    CAPTURE(h);
    CHECK(error_of(prefix + h) == magnet_error{magnet_errc::bad_info_hash, 20});
    CHECK(error_of(prefix + h + "&dn=x") == magnet_error{magnet_errc::bad_info_hash, 20});
  }
  // After "magnet:?dn=x&xt=" the value is at 16, the hash at 16 + 9 = 25.
  CHECK(error_of("magnet:?dn=x&xt=urn:btih:zz") == magnet_error{magnet_errc::bad_info_hash, 25});
}

TEST_CASE("magnet: an escaped urn prefix is accepted and a bad hash after it is named where it starts",
          "[magnet]") {
  // encodeURIComponent (JavaScript) writes xt's colons as %3A; RFC 3986 makes the two forms
  // equivalent. In "magnet:?xt=urn%3Abtih%3A" the hash starts at 11 + 13 = 24 (Python
  // "magnet:?xt=urn%3Abtih%3Azz".index("zz") == 24), which is where the offending text is.
  CHECK(parsed("magnet:?xt=urn%3Abtih%3A"s + std::string(counting_hex)).info_hash == counting_digest());
  CHECK(error_of("magnet:?xt=urn%3Abtih%3Azz") == magnet_error{magnet_errc::bad_info_hash, 24});
}

TEST_CASE("magnet: text that is not a magnet link is refused at 0", "[magnet]") {
  for (const std::string& text :
       {""s, "magnet"s, "magnet:"s, "magnet:x"s, "magnet:xt=urn:btih:"s + std::string(counting_hex),
        " "s + counting_link, "http://example.org/a.torrent"s, "magnet?xt=urn:btih:"s + std::string(counting_hex)}) {
    CAPTURE(text);
    CHECK(error_of(text) == magnet_error{magnet_errc::not_a_magnet, 0});
  }
  // URI schemes are case-insensitive (RFC 3986 3.1).
  CHECK(parsed("MAGNET:?xt=urn:btih:"s + std::string(counting_hex)).info_hash == counting_digest());
  CHECK(parsed("Magnet:?xt=urn:btih:"s + std::string(counting_hex)).info_hash == counting_digest());
}

TEST_CASE("magnet: a link over 64 KiB is too long", "[magnet]") {
  // 60 + 4 ("&dn=") + 65472 = 65536 = 64 KiB: accepted; one character more is refused,
  // at the first character past the limit.
  const std::string longest = counting_link + "&dn=" + std::string(65472, 'a');
  REQUIRE(longest.size() == 65536);
  CHECK(parsed(longest).display_name.size() == 65472);
  CHECK(error_of(longest + "a") == magnet_error{magnet_errc::too_long, 65536});
  CHECK(error_of(std::string(100000, 'x')) == magnet_error{magnet_errc::too_long, 65536});
}

TEST_CASE("magnet: looks_like_magnet tells links from file names", "[magnet]") {
  CHECK(looks_like_magnet(counting_link));
  CHECK(looks_like_magnet("magnet:"));
  CHECK(looks_like_magnet("MAGNET:?xt"));
  CHECK(looks_like_magnet("mAgNeT:anything"));
  CHECK_FALSE(looks_like_magnet(""));
  CHECK_FALSE(looks_like_magnet("magnet"));
  CHECK_FALSE(looks_like_magnet("magnets:?xt"));
  CHECK_FALSE(looks_like_magnet("/tmp/magnet:?xt"));
  CHECK_FALSE(looks_like_magnet("ubuntu.torrent"));
}

TEST_CASE("magnet: make_magnet writes the hash in hex and round trips through parse_magnet", "[magnet]") {
  // Without name or trackers the link is the xt alone, the hash in lower-case hex (by hand).
  CHECK(make_magnet(counting_digest(), "", {}) == counting_link);
  CHECK(make_magnet(other_digest(), "", {}) == "magnet:?xt=urn:btih:"s + std::string(other_hex));

  const std::vector<std::string> names{
      "Ubuntu 22.04 LTS",
      "a&b=c",
      "100% done",
      "%41 is not A",
      "plus+sign #hash ?query /slash",
      "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC",  // "café 日本" in UTF-8
      "",
  };
  const std::vector<std::string> trackers{"udp://tracker.example:6969/announce",
                                          "http://t.example/announce?passkey=a&b=%41", "wss://x.example/ a"};
  for (const auto& name : names) {
    CAPTURE(name);
    const auto text = make_magnet(other_digest(), name, trackers);
    CHECK(text.rfind("magnet:?xt=urn:btih:"s + std::string(other_hex), 0) == 0);
    // Nothing that would split or break the link is left unescaped.
    const auto separators = static_cast<std::ptrdiff_t>((name.empty() ? 0 : 1) + trackers.size());
    CHECK(std::count(text.begin(), text.end(), '&') == separators);  // before dn and each tr
    CHECK(std::none_of(text.begin(), text.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return u <= 0x20 || u >= 0x7f || c == '#';
    }));
    const auto back = parsed(text);
    CHECK(back.info_hash == other_digest());
    CHECK(back.display_name == name);
    CHECK(back.trackers == trackers);
  }
}

TEST_CASE("magnet: every error code has its own description", "[magnet]") {
  std::vector<std::string_view> seen;
  for (const auto code : {magnet_errc::not_a_magnet, magnet_errc::bad_escape, magnet_errc::no_info_hash,
                          magnet_errc::bad_info_hash, magnet_errc::two_info_hashes, magnet_errc::too_long}) {
    const auto text = to_string(code);
    CHECK_FALSE(text.empty());
    CHECK(std::find(seen.begin(), seen.end(), text) == seen.end());
    seen.push_back(text);
  }
}
