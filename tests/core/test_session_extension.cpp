// The extension protocol (BEP 10) in the sans-IO session, and the metadata it serves over
// ut_metadata (BEP 9): negotiated by the handshakes' reserved bit (byte 5, 0x10); our
// extended handshake names ut_metadata (id 1) and the info dictionary's size; a request is
// answered under the id the peer gave ut_metadata, with the 16 KiB piece of the info
// dictionary as it stands in the .torrent, or with a reject.

#include "loopback/core/session.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "loopback/protocol/extension.hpp"
#include "loopback/protocol/sha1.hpp"
#include "session_script.hpp"

namespace {

using namespace p2pdist;
using test::script;
using test::started;

/// A peer at 127.0.0.`last` connects and sends its handshake, offering BEP 10 when `ext`.
bt::peer_key accept_extended(script& sc, std::uint8_t last, std::uint8_t tag, bool ext) {
  const auto key = sc.s.handle_accept({.ip = {127, 0, 0, last}, .port = 50000}, sc.now);
  sc.drain();
  auto hs = test::their_handshake(*sc.s_torrent, tag);
  if (ext) hs.reserved[bt::extension_protocol_byte] |= bt::extension_protocol_bit;
  sc.s.handle_handshake(*key, hs, sc.now);
  sc.drain();
  return *key;
}

std::vector<std::byte> bytes_of(const std::string& s) {
  std::vector<std::byte> out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

/// The peer's extended handshake: ut_metadata under `id`.
bt::msg::extended their_extended_handshake(std::uint8_t id) {
  return {.id = bt::extended_handshake_id,
          .payload = bt::encode_extension_handshake({.messages = {{"ut_metadata", id}}})};
}

bt::msg::extended metadata_request(std::uint32_t piece) {
  return {.id = bt::our_ut_metadata_id,
          .payload = bt::encode_metadata_message({.type = bt::metadata_type::request, .piece = piece})};
}

bool closed(script& sc, bt::peer_key key) {
  for (const auto& c : sc.take<bt::out::close>())
    if (c.conn == key) return true;
  return false;
}

}  // namespace

TEST_CASE("the extension protocol is used only where both handshakes offer it", "[session][extension]") {
  const auto torrent = test::small_torrent();
  auto seed = started(torrent, true);
  const auto ext = accept_extended(seed, 10, 0xAA, true);
  const auto ours = seed.sent<bt::handshake>(ext);
  REQUIRE(ours.size() == 1);
  CHECK((ours[0].reserved[bt::extension_protocol_byte] & bt::extension_protocol_bit) == bt::extension_protocol_bit);
  // Our extended handshake: ut_metadata as id 1, and the size of the info dictionary.
  const auto sent = seed.sent<bt::msg::extended>(ext);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].id == bt::extended_handshake_id);
  const auto hs = bt::decode_extension_handshake(sent[0].payload);
  REQUIRE(hs.has_value());
  CHECK(hs->id_of("ut_metadata") == 1);
  CHECK(hs->metadata_size == torrent->info_bytes.size());
  CHECK(hs->client == "p2pdist");

  // A peer without it gets no extended message.
  const auto plain = accept_extended(seed, 11, 0xBB, false);
  CHECK(seed.sent<bt::msg::extended>(plain).empty());
  // Switched off: no bit in our handshake, no extended handshake.
  auto off = started(torrent, true, {.extension_protocol = false});
  const auto o = accept_extended(off, 12, 0xCC, true);
  CHECK((off.sent<bt::handshake>(o).at(0).reserved[bt::extension_protocol_byte] & bt::extension_protocol_bit) ==
        std::byte{0});
  CHECK(off.sent<bt::msg::extended>(o).empty());
  // ... and an extended message from the peer there is a protocol violation.
  off.message(o, their_extended_handshake(3));
  CHECK(closed(off, o));
  CHECK(off.s.stats().protocol_drops == 1);
}

TEST_CASE("metadata requests are answered with the info dictionary's pieces, or rejected", "[session][extension]") {
  // 900 pieces of 32 KiB: the info dictionary holds 900 * 20 bytes of hashes and a few keys,
  // between 16 KiB and 32 KiB, so two metadata pieces: 16384 bytes, then the rest.
  const auto torrent = test::small_torrent(900);
  const auto& info = torrent->info_bytes;
  REQUIRE(info.size() > 16384);
  REQUIRE(info.size() < 32768);
  // The same bytes as in the .torrent: their SHA-1 is the info-hash.
  CHECK(bt::sha1(std::as_bytes(std::span<const char>(info.data(), info.size()))) == torrent->info_hash);

  auto seed = started(torrent, true);
  const auto p = accept_extended(seed, 10, 0xAA, true);
  seed.sent<bt::msg::extended>(p);  // our handshake

  SECTION("before the peer's extended handshake: no id to answer under, nothing sent") {
    seed.message(p, metadata_request(0));
    CHECK(seed.sent<bt::msg::extended>(p).empty());
    CHECK_FALSE(closed(seed, p));
  }
  SECTION("each piece under the peer's id, and a reject past the end") {
    seed.message(p, their_extended_handshake(7));
    for (std::uint32_t piece : {0u, 1u, 2u}) seed.message(p, metadata_request(piece));
    const auto answers = seed.sent<bt::msg::extended>(p);
    REQUIRE(answers.size() == 3);
    std::string rebuilt;
    for (std::uint32_t piece = 0; piece < 2; ++piece) {
      INFO("piece " << piece);
      CHECK(answers[piece].id == 7);
      const auto m = bt::decode_metadata_message(answers[piece].payload);
      REQUIRE(m.has_value());
      CHECK(m->type == bt::metadata_type::data);
      CHECK(m->piece == piece);
      CHECK(m->total_size == info.size());
      rebuilt.append(reinterpret_cast<const char*>(m->data.data()), m->data.size());
    }
    CHECK(rebuilt == info);
    const auto past = bt::decode_metadata_message(answers[2].payload);
    REQUIRE(past.has_value());
    CHECK(past->type == bt::metadata_type::reject);
    CHECK(past->piece == 2);
  }
  SECTION("a flood of requests: each piece at most twice, then rejects") {
    seed.message(p, their_extended_handshake(7));
    // 2 pieces: 2 * 2 + 2 = 6 answers with data, then rejects.
    for (int i = 0; i < 10; ++i) seed.message(p, metadata_request(static_cast<std::uint32_t>(i % 2)));
    int data = 0, rejects = 0;
    for (const auto& a : seed.sent<bt::msg::extended>(p)) {
      const auto m = bt::decode_metadata_message(a.payload);
      REQUIRE(m.has_value());
      (m->type == bt::metadata_type::data ? data : rejects) += 1;
    }
    CHECK(data == 6);
    CHECK(rejects == 4);
  }
  SECTION("an extension we did not offer is ignored; a malformed message closes the connection") {
    seed.message(p, bt::msg::extended{.id = 9, .payload = bytes_of("garbage")});
    CHECK_FALSE(closed(seed, p));
    seed.message(p, bt::msg::extended{.id = bt::our_ut_metadata_id, .payload = bytes_of("d8:msg_typei7ee")});
    CHECK(closed(seed, p));
    CHECK(seed.s.stats().protocol_drops == 1);
  }
  SECTION("a malformed extended handshake closes the connection") {
    seed.message(p, bt::msg::extended{.id = bt::extended_handshake_id, .payload = bytes_of("d1:mi5ee")});
    CHECK(closed(seed, p));
    CHECK(seed.s.stats().protocol_drops == 1);
  }
}
