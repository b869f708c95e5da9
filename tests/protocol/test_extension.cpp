// Tests of the extension protocol codecs (BEP 10's extended handshake, BEP 9's ut_metadata
// messages). Expected bytes are bencoded by hand from the BEPs (dictionary keys in sorted
// order); offsets are counted by hand into the payload (the bytes after the extended id) and
// were checked with Python's len() and bytes.index() on the same literals.
#include "loopback/protocol/extension.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "bytes.hpp"

using namespace p2pdist::bt;
using namespace std::literals;
using p2pdist::test::bytes_of;

namespace Catch {
template <>
struct StringMaker<p2pdist::bt::extension_error> {
  static std::string convert(const p2pdist::bt::extension_error& e) {
    return "{" + std::string(to_string(e.code)) + " at " + std::to_string(e.offset) + "}";
  }
};
}  // namespace Catch

namespace {

std::string text_of(const std::vector<std::byte>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

std::string text_of(std::span<const std::byte> s) {
  return std::string(reinterpret_cast<const char*>(s.data()), s.size());
}

template <class R>
extension_error error_of(const R& r) {
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

extension_error handshake_error(std::string_view payload) { return error_of(decode_extension_handshake(bytes_of(payload))); }
extension_error metadata_error(std::string_view payload) { return error_of(decode_metadata_message(bytes_of(payload))); }

/// A data message's dictionary for `piece` of `total` bytes, bencoded by hand:
/// d 8:msg_type i1e 5:piece i<piece>e 10:total_size i<total>e e.
std::string data_dict(std::uint32_t piece, std::uint64_t total) {
  return "d8:msg_typei1e5:piecei" + std::to_string(piece) + "e10:total_sizei" + std::to_string(total) + "ee";
}

}  // namespace

TEST_CASE("extension: metadata_piece_count counts 16 KiB pieces, the last one partial", "[extension]") {
  // ceil(n / 16384) by hand: 20000 = 16384 + 3616, 16 MiB = 1024 x 16 KiB.
  STATIC_REQUIRE(metadata_piece_count(0) == 0);
  STATIC_REQUIRE(metadata_piece_count(1) == 1);
  STATIC_REQUIRE(metadata_piece_count(16384) == 1);
  STATIC_REQUIRE(metadata_piece_count(16385) == 2);
  STATIC_REQUIRE(metadata_piece_count(20000) == 2);
  STATIC_REQUIRE(metadata_piece_count(32768) == 2);
  STATIC_REQUIRE(metadata_piece_count(16u << 20) == 1024);
}

TEST_CASE("extension: our handshake's exact bytes follow BEP 10 with keys sorted", "[extension]") {
  extension_handshake h;
  h.messages = {{"ut_metadata", 1}, {"ut_pex", 2}};
  h.metadata_size = 31235;
  h.listen_port = 6881;
  h.client = "p2pdist";
  // Keys sorted: m < metadata_size < p < v (m is a prefix of metadata_size); in m,
  // ut_metadata < ut_pex. 79 bytes (Python len()).
  const std::string expected = "d1:md11:ut_metadatai1e6:ut_pexi2ee13:metadata_sizei31235e1:pi6881e1:v7:p2pdiste";
  REQUIRE(expected.size() == 79);
  CHECK(text_of(encode_extension_handshake(h)) == expected);

  const auto back = decode_extension_handshake(bytes_of(expected));
  REQUIRE(back.has_value());
  CHECK(*back == h);
  CHECK(back->id_of("ut_metadata") == 1);
  CHECK(back->id_of("ut_pex") == 2);
  CHECK(back->id_of("lt_donthave") == 0);
}

TEST_CASE("extension: a handshake with nothing but m is d1:mdee", "[extension]") {
  // BEP 10: m is the one key every handshake carries; empty here.
  CHECK(text_of(encode_extension_handshake(extension_handshake{})) == "d1:mdee");
  const auto back = decode_extension_handshake(bytes_of("d1:mdee"));
  REQUIRE(back.has_value());
  CHECK(back->messages.empty());
  CHECK_FALSE(back->metadata_size.has_value());
  CHECK_FALSE(back->listen_port.has_value());
  CHECK(back->client.empty());
  // A handshake without m at all speaks no extension.
  const auto none = decode_extension_handshake(bytes_of("de"));
  REQUIRE(none.has_value());
  CHECK(none->messages.empty());
}

TEST_CASE("extension: handshakes round trip through encode and decode", "[extension]") {
  extension_handshake full;
  full.messages = {{"lt_donthave", 7}, {"ut_metadata", our_ut_metadata_id}, {"ut_pex", 255}};
  full.metadata_size = max_metadata_bytes;  // the largest accepted
  full.listen_port = 65535;
  full.client = "p2pdist 0.1 \xC3\xA9";  // UTF-8 in v

  extension_handshake sparse;
  sparse.messages = {{"ut_metadata", 3}};
  sparse.metadata_size = 1;  // the smallest accepted
  sparse.listen_port = 1;

  for (const auto& h : {full, sparse, extension_handshake{}}) {
    const auto bytes = encode_extension_handshake(h);
    const auto back = decode_extension_handshake(bytes);
    REQUIRE(back.has_value());
    CHECK(*back == h);
  }
}

TEST_CASE("extension: a libtorrent-style handshake with extra keys is read right", "[extension]") {
  // What qBittorrent (libtorrent) sends, keys sorted, with keys this engine does not read
  // (complete_ago, reqq, upload_only, yourip: 127.0.0.1 as 4 raw bytes) and one extension
  // disabled with id 0 (ut_holepunch). 220 bytes; Python decoded it to the same fields.
  const std::string payload =
      "d12:complete_agoi-1e"
      "1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi0e11:ut_metadatai2e6:ut_pexi1ee"
      "13:metadata_sizei31235e1:pi51413e4:reqqi500e11:upload_onlyi1e1:v17:qBittorrent/4.5.2"
      "6:yourip4:\x7f\x00\x00\x01"s + "e";
  REQUIRE(payload.size() == 220);
  const auto h = decode_extension_handshake(bytes_of(payload));
  REQUIRE(h.has_value());
  CHECK(h->id_of("ut_metadata") == 2);
  CHECK(h->id_of("ut_pex") == 1);
  CHECK(h->id_of("lt_donthave") == 7);
  CHECK(h->id_of("share_mode") == 8);
  CHECK(h->id_of("upload_only") == 3);
  CHECK(h->id_of("ut_holepunch") == 0);                // disabled
  CHECK_FALSE(h->messages.contains("ut_holepunch"));  // and left out
  CHECK(h->messages.size() == 5);
  REQUIRE(h->metadata_size.has_value());
  CHECK(*h->metadata_size == 31235);
  REQUIRE(h->listen_port.has_value());
  CHECK(*h->listen_port == 51413);
  CHECK(h->client == "qBittorrent/4.5.2");
}

TEST_CASE("extension: a mistyped v is ignored", "[extension]") {
  // v as an integer, then as a list: the handshake stands, without a client name.
  for (const std::string_view payload : {"d1:md11:ut_metadatai4ee1:vi42ee"sv, "d1:md11:ut_metadatai4ee1:vl3:fooee"sv}) {
    const auto h = decode_extension_handshake(bytes_of(payload));
    REQUIRE(h.has_value());
    CHECK(h->client.empty());
    CHECK(h->id_of("ut_metadata") == 4);
  }
}

TEST_CASE("extension: a mistyped p is ignored as decode_extension_handshake documents", "[extension]") {
  // extension.hpp: "Unknown keys are ignored, and so are `v` and `p` when mistyped". A p
  // that is a string is mistyped (an integer out of range is bad_listen_port, tested below).
  const auto h = decode_extension_handshake(bytes_of("d1:md11:ut_metadatai4ee1:p4:6881e"));
  REQUIRE(h.has_value());
  CHECK_FALSE(h->listen_port.has_value());
  CHECK(h->id_of("ut_metadata") == 4);
}

TEST_CASE("extension: handshake refusals name the offending byte", "[extension]") {
  SECTION("bad_bencode") {
    // Empty: truncated at 0. "d1:m" ends inside the dictionary: at 4 (its length).
    // "d1:mdi5e": an integer key inside m, at 5.
    CHECK(handshake_error("") == extension_error{extension_errc::bad_bencode, 0});
    CHECK(handshake_error("d1:m") == extension_error{extension_errc::bad_bencode, 4});
    CHECK(handshake_error("d1:mdi5ei1eee") == extension_error{extension_errc::bad_bencode, 5});
  }
  SECTION("not_a_dictionary") {
    CHECK(handshake_error("li1ee") == extension_error{extension_errc::not_a_dictionary, 0});
    CHECK(handshake_error("i7e") == extension_error{extension_errc::not_a_dictionary, 0});
    CHECK(handshake_error("4:spam") == extension_error{extension_errc::not_a_dictionary, 0});
  }
  SECTION("bad_messages") {
    // m itself at 4 (after "d1:m"); an id at 4 + 1 ("d") + 8 ("6:ut_pex") = 13.
    CHECK(handshake_error("d1:mi1ee") == extension_error{extension_errc::bad_messages, 4});
    CHECK(handshake_error("d1:mlee") == extension_error{extension_errc::bad_messages, 4});
    CHECK(handshake_error("d1:md6:ut_pexi256eee") == extension_error{extension_errc::bad_messages, 13});
    CHECK(handshake_error("d1:md6:ut_pexi-1eee") == extension_error{extension_errc::bad_messages, 13});
    CHECK(handshake_error("d1:md6:ut_pex1:1ee") == extension_error{extension_errc::bad_messages, 13});
    // 255 is the largest id.
    CHECK(decode_extension_handshake(bytes_of("d1:md6:ut_pexi255eee")).has_value());
  }
  SECTION("bad_metadata_size") {
    // The value at 1 + 16 ("13:metadata_size") = 17.
    CHECK(handshake_error("d13:metadata_sizei0ee") == extension_error{extension_errc::bad_metadata_size, 17});
    CHECK(handshake_error("d13:metadata_sizei-5ee") == extension_error{extension_errc::bad_metadata_size, 17});
    // 16 MiB + 1 = 16777217.
    CHECK(handshake_error("d13:metadata_sizei16777217ee") == extension_error{extension_errc::bad_metadata_size, 17});
    CHECK(handshake_error("d13:metadata_size3:123e") == extension_error{extension_errc::bad_metadata_size, 17});
    const auto top = decode_extension_handshake(bytes_of("d13:metadata_sizei16777216ee"));
    REQUIRE(top.has_value());
    CHECK(top->metadata_size == std::optional<std::uint64_t>{16777216});
  }
  SECTION("bad_listen_port") {
    // The value at 1 + 3 ("1:p") = 4; after "d1:mde" at 6 + 3 = 9.
    CHECK(handshake_error("d1:pi0ee") == extension_error{extension_errc::bad_listen_port, 4});
    CHECK(handshake_error("d1:pi65536ee") == extension_error{extension_errc::bad_listen_port, 4});
    CHECK(handshake_error("d1:pi-1ee") == extension_error{extension_errc::bad_listen_port, 4});
    CHECK(handshake_error("d1:mde1:pi70000ee") == extension_error{extension_errc::bad_listen_port, 9});
  }
  SECTION("trailing_bytes") {
    // "d1:mdee" is 7 bytes; what follows is refused at 7.
    CHECK(handshake_error("d1:mdeex") == extension_error{extension_errc::trailing_bytes, 7});
    CHECK(handshake_error("d1:mdeed1:mdee") == extension_error{extension_errc::trailing_bytes, 7});
  }
}

TEST_CASE("extension: ut_metadata request and reject have BEP 9's exact bytes", "[extension]") {
  // BEP 9's examples: {'msg_type': 0, 'piece': 0} and {'msg_type': 2, 'piece': 0}.
  CHECK(text_of(encode_metadata_message({.type = metadata_type::request, .piece = 0})) == "d8:msg_typei0e5:piecei0ee");
  CHECK(text_of(encode_metadata_message({.type = metadata_type::reject, .piece = 3})) == "d8:msg_typei2e5:piecei3ee");

  const auto request = decode_metadata_message(bytes_of("d8:msg_typei0e5:piecei0ee"));
  REQUIRE(request.has_value());
  CHECK(request->type == metadata_type::request);
  CHECK(request->piece == 0);
  CHECK(request->data.empty());
  const auto reject = decode_metadata_message(bytes_of("d8:msg_typei2e5:piecei3ee"));
  REQUIRE(reject.has_value());
  CHECK(reject->type == metadata_type::reject);
  CHECK(reject->piece == 3);
}

TEST_CASE("extension: a ut_metadata data message's exact bytes are the dictionary then the piece", "[extension]") {
  // BEP 9: {'msg_type': 1, 'piece': 0, 'total_size': 5} then the piece's 5 bytes: the
  // dictionary is 41 bytes (Python len()), the data starts at 41.
  const std::string data = "hello";
  const std::string expected = "d8:msg_typei1e5:piecei0e10:total_sizei5ee"s + data;
  REQUIRE(expected.size() == 46);
  const metadata_message m{.type = metadata_type::data, .piece = 0, .total_size = 5, .data = bytes_of(data)};
  CHECK(text_of(encode_metadata_message(m)) == expected);

  const auto payload = bytes_of(expected);
  const auto back = decode_metadata_message(payload);
  REQUIRE(back.has_value());
  CHECK(back->type == metadata_type::data);
  CHECK(back->piece == 0);
  CHECK(back->total_size == 5);
  CHECK(text_of(back->data) == "hello");
  CHECK(back->data.data() == payload.data() + 41);  // into the payload, not a copy
}

TEST_CASE("extension: all three ut_metadata messages round trip", "[extension]") {
  // 40000 bytes of metadata: pieces 0 and 1 of 16384 bytes, piece 2 of 40000 - 32768 = 7232.
  std::vector<std::byte> metadata(40000);
  for (std::size_t i = 0; i < metadata.size(); ++i) metadata[i] = static_cast<std::byte>((i * 7 + 3) % 256);
  const std::span<const std::byte> all(metadata);

  const std::vector<metadata_message> messages{
      {.type = metadata_type::request, .piece = 7},
      {.type = metadata_type::request, .piece = 1023},  // the last piece of 16 MiB
      {.type = metadata_type::reject, .piece = 2},
      {.type = metadata_type::data, .piece = 0, .total_size = 40000, .data = all.subspan(0, 16384)},
      {.type = metadata_type::data, .piece = 1, .total_size = 40000, .data = all.subspan(16384, 16384)},
      {.type = metadata_type::data, .piece = 2, .total_size = 40000, .data = all.subspan(32768)},
  };
  REQUIRE(messages.back().data.size() == 7232);
  for (const auto& m : messages) {
    const auto bytes = encode_metadata_message(m);
    const auto back = decode_metadata_message(bytes);
    REQUIRE(back.has_value());
    CHECK(back->type == m.type);
    CHECK(back->piece == m.piece);
    CHECK(back->total_size == m.total_size);
    CHECK(std::ranges::equal(back->data, m.data));
  }
}

TEST_CASE("extension: a data message must hold exactly its piece's bytes", "[extension]") {
  // total_size 20000: piece 0 has 16384 bytes, piece 1 has 20000 - 16384 = 3616.
  // data_dict(1, 20000) is 45 bytes (Python len()): the data, and its error, start at 45;
  // data_dict(0, 20000) likewise.
  const std::string last = data_dict(1, 20000);
  REQUIRE(last.size() == 45);
  SECTION("the last piece is shorter") {
    const auto payload = last + std::string(3616, 'x');
    const auto m = decode_metadata_message(bytes_of(payload));
    REQUIRE(m.has_value());
    CHECK(m->piece == 1);
    CHECK(m->total_size == 20000);
    CHECK(m->data.size() == 3616);
  }
  SECTION("one byte short or over is refused") {
    CHECK(metadata_error(last + std::string(3615, 'x')) == extension_error{extension_errc::bad_data_length, 45});
    CHECK(metadata_error(last + std::string(3617, 'x')) == extension_error{extension_errc::bad_data_length, 45});
    CHECK(metadata_error(last) == extension_error{extension_errc::bad_data_length, 45});
  }
  SECTION("a piece before the last is a full 16 KiB") {
    CHECK(decode_metadata_message(bytes_of(data_dict(0, 20000) + std::string(16384, 'x'))).has_value());
    CHECK(metadata_error(data_dict(0, 20000) + std::string(3616, 'x')) ==
          extension_error{extension_errc::bad_data_length, 45});
  }
  SECTION("an exact multiple of 16 KiB has no short piece") {
    // 32768 = 2 x 16384.
    CHECK(decode_metadata_message(bytes_of(data_dict(1, 32768) + std::string(16384, 'x'))).has_value());
  }
  SECTION("a piece beyond the metadata is refused") {
    // piece 2 of 20000 bytes does not exist; the piece value at 1 + 10 + 3 + 7 = 21.
    CHECK(metadata_error(data_dict(2, 20000) + std::string(16384, 'x')) ==
          extension_error{extension_errc::bad_piece, 21});
    CHECK(metadata_error(data_dict(2, 20000)) == extension_error{extension_errc::bad_piece, 21});
  }
  SECTION("total_size of 16 MiB is the largest accepted") {
    // 16 MiB = 16777216: piece 1023 is its last, a full 16 KiB. The total_size value at
    // 1 + 10 + 3 + 7 + len("i1023e") 6 + 13 = 40.
    CHECK(decode_metadata_message(bytes_of(data_dict(1023, 16777216) + std::string(16384, 'x'))).has_value());
    CHECK(metadata_error(data_dict(1023, 16777217) + std::string(1, 'x')) ==
          extension_error{extension_errc::bad_total_size, 40});
    CHECK(metadata_error(data_dict(0, 16777217) + std::string(16384, 'x')) ==
          extension_error{extension_errc::bad_total_size, 37});
  }
}

TEST_CASE("extension: ut_metadata refusals name the offending byte", "[extension]") {
  // Offsets by hand: "d" 1, "8:msg_type" 10, its value 3, "5:piece" 7, its value 3,
  // "10:total_size" 13: msg_type's value at 11, piece's at 21, total_size's at 37.
  SECTION("bad_bencode and not_a_dictionary") {
    CHECK(metadata_error("") == extension_error{extension_errc::bad_bencode, 0});
    CHECK(metadata_error("d8:msg_typei0e5:piecei0e") == extension_error{extension_errc::bad_bencode, 24});
    CHECK(metadata_error("x") == extension_error{extension_errc::bad_bencode, 0});
    CHECK(metadata_error("li0ei0ee") == extension_error{extension_errc::not_a_dictionary, 0});
  }
  SECTION("bad_msg_type") {
    CHECK(metadata_error("d5:piecei0ee") == extension_error{extension_errc::bad_msg_type, 0});  // missing
    CHECK(metadata_error("d8:msg_typei3e5:piecei0ee") == extension_error{extension_errc::bad_msg_type, 11});
    CHECK(metadata_error("d8:msg_typei-1e5:piecei0ee") == extension_error{extension_errc::bad_msg_type, 11});
    CHECK(metadata_error("d8:msg_type1:05:piecei0ee") == extension_error{extension_errc::bad_msg_type, 11});
  }
  SECTION("bad_piece") {
    CHECK(metadata_error("d8:msg_typei0ee") == extension_error{extension_errc::bad_piece, 0});  // missing
    CHECK(metadata_error("d8:msg_typei0e5:piecei-1ee") == extension_error{extension_errc::bad_piece, 21});
    CHECK(metadata_error("d8:msg_typei0e5:piece1:0e") == extension_error{extension_errc::bad_piece, 21});
    // 1024 pieces of 16 KiB make the largest metadata: piece 1024 is past any.
    CHECK(metadata_error("d8:msg_typei0e5:piecei1024ee") == extension_error{extension_errc::bad_piece, 21});
    CHECK(metadata_error("d8:msg_typei2e5:piecei1024ee") == extension_error{extension_errc::bad_piece, 21});
  }
  SECTION("bad_total_size") {
    CHECK(metadata_error("d8:msg_typei1e5:piecei0ee" + std::string(5, 'x')) ==
          extension_error{extension_errc::bad_total_size, 0});  // missing
    CHECK(metadata_error(data_dict(0, 0)) == extension_error{extension_errc::bad_total_size, 37});
    CHECK(metadata_error("d8:msg_typei1e5:piecei0e10:total_size1:5e" + std::string(5, 'x')) ==
          extension_error{extension_errc::bad_total_size, 37});
  }
  SECTION("bad_data_length") {
    // data_dict(0, 5) is 41 bytes; 5 bytes must follow.
    CHECK(metadata_error(data_dict(0, 5)) == extension_error{extension_errc::bad_data_length, 41});
    CHECK(metadata_error(data_dict(0, 5) + "1234") == extension_error{extension_errc::bad_data_length, 41});
    CHECK(metadata_error(data_dict(0, 5) + "123456") == extension_error{extension_errc::bad_data_length, 41});
  }
  SECTION("trailing bytes after a request or a reject") {
    // The dictionary is 25 bytes.
    CHECK(metadata_error("d8:msg_typei0e5:piecei0eex") == extension_error{extension_errc::trailing_bytes, 25});
    CHECK(metadata_error("d8:msg_typei2e5:piecei0ee\0"s) == extension_error{extension_errc::trailing_bytes, 25});
    CHECK(metadata_error("d8:msg_typei0e5:piecei0eed8:msg_typei0e5:piecei1ee") ==
          extension_error{extension_errc::trailing_bytes, 25});
  }
}

TEST_CASE("extension: every error code has its own description", "[extension]") {
  const std::vector<extension_errc> codes{
      extension_errc::bad_bencode,    extension_errc::not_a_dictionary, extension_errc::bad_messages,
      extension_errc::bad_metadata_size, extension_errc::bad_listen_port, extension_errc::bad_msg_type,
      extension_errc::bad_piece,      extension_errc::bad_total_size,   extension_errc::bad_data_length,
      extension_errc::trailing_bytes};
  std::vector<std::string_view> seen;
  for (const auto code : codes) {
    const auto text = to_string(code);
    CHECK_FALSE(text.empty());
    CHECK(std::find(seen.begin(), seen.end(), text) == seen.end());
    seen.push_back(text);
  }
}
