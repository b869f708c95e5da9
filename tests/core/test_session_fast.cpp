// The fast extension (BEP 6) in the sans-IO session: negotiated by the handshakes' reserved
// bit, have all / have none in place of the bitfield, every request answered by its block
// or a reject, a choke that voids nothing. Torrent: 4 pieces, 32 KiB each (two 16 KiB
// blocks) but the last, 16 KiB (one block): 7 blocks in all.

#include "loopback/core/session.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <tuple>

#include "session_script.hpp"

namespace {

using namespace p2pdist;
using namespace std::chrono_literals;
using test::script;
using test::started;

using fields = std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>;

template <class M>
std::set<fields> fields_of(const std::vector<M>& messages) {
  std::set<fields> out;
  for (const auto& m : messages) out.insert({m.index, m.begin, m.length});
  return out;
}

bool closed(script& sc, bt::peer_key key) {
  for (const auto& c : sc.take<bt::out::close>())
    if (c.conn == key) return true;
  return false;
}

}  // namespace

TEST_CASE("the fast extension is used only where both handshakes offer it", "[session][fast]") {
  const auto torrent = test::small_torrent();
  auto seed = started(torrent, true);
  const auto fast = seed.accept_peer(10, 0xAA, true);
  const auto ours = seed.sent<bt::handshake>(fast);
  REQUIRE(ours.size() == 1);
  CHECK(bt::offers_fast_extension(ours[0]));
  // A seed says have all, not a bitfield, to a peer that offers it ...
  CHECK(seed.sent<bt::msg::have_all>(fast).size() == 1);
  CHECK(seed.sent<bt::msg::bitfield>(fast).empty());
  // ... and a bitfield to one that does not.
  const auto plain = seed.accept_peer(11, 0xBB, false);
  CHECK(seed.sent<bt::msg::have_all>(plain).empty());
  CHECK(seed.sent<bt::msg::bitfield>(plain).size() == 1);

  // A peer with nothing says have none where BEP 6 wants a first message, nothing otherwise.
  auto leecher = started(torrent, false);
  const auto a = leecher.accept_peer(12, 0xCC, true);
  CHECK(leecher.sent<bt::msg::have_none>(a).size() == 1);
  const auto b = leecher.accept_peer(13, 0xDD, false);
  CHECK(leecher.sent<bt::msg::have_none>(b).empty());
  CHECK(leecher.sent<bt::msg::bitfield>(b).empty());

  // Part of the file (piece 0): a bitfield either way.
  bt::bitfield one(4);
  one.set(0);
  bt::session_config pc{.torrent = torrent};
  script part(pc);
  part.s_torrent = torrent;
  part.s.start(one, 6881, part.now);
  part.drain();
  const auto c = part.accept_peer(14, 0xEE, true);
  const auto bf = part.sent<bt::msg::bitfield>(c);
  REQUIRE(bf.size() == 1);
  CHECK(bf[0].pieces == one);

  // Switched off, we do not offer it, and a peer that does gets BEP 3.
  auto off = started(torrent, true, {.fast_extension = false});
  const auto d = off.accept_peer(15, 0xFF, true);
  CHECK_FALSE(bt::offers_fast_extension(off.sent<bt::handshake>(d).at(0)));
  CHECK(off.sent<bt::msg::bitfield>(d).size() == 1);
  CHECK(off.sent<bt::msg::have_all>(d).empty());
}

TEST_CASE("have all and have none stand in for the bitfield", "[session][fast]") {
  const auto torrent = test::small_torrent();
  auto sc = started(torrent, false);
  const auto all = sc.accept_peer(10, 0xAA, true);
  sc.message(all, bt::msg::have_all{});
  CHECK(sc.sent<bt::msg::interested>(all).size() == 1);
  sc.message(all, bt::msg::unchoke{});
  CHECK(sc.sent<bt::msg::request>(all).size() == 7);  // every block of every piece

  const auto none = sc.accept_peer(11, 0xBB, true);
  sc.message(none, bt::msg::have_none{});
  CHECK(sc.sent<bt::msg::interested>(none).empty());
  CHECK_FALSE(closed(sc, none));
  sc.message(none, bt::msg::have{.index = 2});
  CHECK(sc.sent<bt::msg::interested>(none).size() == 1);
  // A late have all counts as the haves it adds (as a late bitfield does).
  sc.message(none, bt::msg::have_all{});
  CHECK_FALSE(closed(sc, none));
  CHECK(sc.s.stats().protocol_drops == 0);
}

TEST_CASE("a fast message on a connection without the fast extension closes it", "[session][fast]") {
  const auto torrent = test::small_torrent();
  const bt::wire_event m = GENERATE(bt::wire_event{bt::msg::have_all{}}, bt::wire_event{bt::msg::have_none{}},
                                    bt::wire_event{bt::msg::reject_request{.index = 0, .begin = 0, .length = 16384}},
                                    bt::wire_event{bt::msg::suggest_piece{.index = 1}},
                                    bt::wire_event{bt::msg::allowed_fast{.index = 1}});
  INFO(bt::event_name(m));
  auto sc = started(torrent, false);
  const auto plain = sc.accept_peer(10, 0xAA, false);
  sc.message(plain, m);
  CHECK(closed(sc, plain));
  CHECK(sc.s.stats().protocol_drops == 1);
  // The same message from a peer that negotiated it is fine.
  const auto fast = sc.accept_peer(11, 0xBB, true);
  sc.message(fast, m);
  CHECK_FALSE(closed(sc, fast));
  CHECK(sc.s.stats().protocol_drops == 1);
}

TEST_CASE("a choke from a fast peer keeps our requests until each gets its block or a reject",
          "[session][fast]") {
  const auto torrent = test::small_torrent();
  auto sc = started(torrent, false);
  const auto a = sc.accept_peer(10, 0xAA, true);
  sc.message(a, bt::msg::have_all{});
  sc.message(a, bt::msg::unchoke{});
  const auto requests = sc.sent<bt::msg::request>(a);
  REQUIRE(requests.size() == 7);

  sc.message(a, bt::msg::choke{});
  CHECK(sc.sent<bt::msg::cancel>(a).empty());  // BEP 3 would void them and cancel each
  // A block already on its way when the peer choked is still ours.
  const auto first = test::zero_block(requests[0]);
  CHECK(sc.s.handle_block(a, first, sc.now));
  sc.drain();
  CHECK(sc.sent<bt::msg::request>(a).empty());  // choked: we ask nothing more

  // The peer rejects the other six; then they go to the next peer that can serve them.
  for (std::size_t i = 1; i < requests.size(); ++i)
    sc.message(a, bt::msg::reject_request{.index = requests[i].index, .begin = requests[i].begin,
                                          .length = requests[i].length});
  const auto b = sc.accept_peer(11, 0xBB, true);
  sc.message(b, bt::msg::have_all{});
  sc.message(b, bt::msg::unchoke{});
  const auto again = sc.sent<bt::msg::request>(b);
  std::set<fields> rejected = fields_of(requests);
  rejected.erase({requests[0].index, requests[0].begin, requests[0].length});
  CHECK(fields_of(again) == rejected);
  // A rejected block that comes anyway was not asked of that peer any more: not used.
  const auto late = test::zero_block(requests[1]);
  CHECK_FALSE(sc.s.handle_block(a, late, sc.now));
  // A reject for a request we never made there (the block came from the first peer)
  // changes nothing and closes nothing.
  sc.message(b, bt::msg::reject_request{.index = requests[0].index, .begin = requests[0].begin,
                                        .length = requests[0].length});
  CHECK_FALSE(closed(sc, b));
  CHECK(sc.sent<bt::msg::request>(b).empty());
  // One of its own, rejected while it unchokes us, is asked again (of it: it is the only
  // peer left that serves us).
  const auto& one = again.front();
  sc.message(b, bt::msg::reject_request{.index = one.index, .begin = one.begin, .length = one.length});
  const auto reasked = sc.sent<bt::msg::request>(b);
  REQUIRE(reasked.size() == 1);
  CHECK(reasked[0] == one);
}

TEST_CASE("a fast peer's every request is answered: a reject when choked, cancelled, or choked later",
          "[session][fast]") {
  const auto torrent = test::small_torrent();
  auto sc = started(torrent, true);
  for (std::uint8_t i = 0; i < 4; ++i)  // the four slots
    (void)sc.accept_peer(static_cast<std::uint8_t>(20 + i), static_cast<std::uint8_t>(0xC0 + i), true);
  const auto key = sc.accept_peer(10, 0xAA, true);
  // Choked: rejected at once, nothing queued.
  sc.message(key, bt::msg::request{.index = 0, .begin = 0, .length = 16384});
  const auto early = sc.sent<bt::msg::reject_request>(key);
  REQUIRE(early.size() == 1);
  CHECK(early[0] == bt::msg::reject_request{.index = 0, .begin = 0, .length = 16384});
  CHECK(sc.s.upload_queued_bytes(key) == 0);

  sc.message(key, bt::msg::interested{});
  REQUIRE(sc.sent<bt::msg::unchoke>(key).size() == 1);
  sc.message(key, bt::msg::request{.index = 0, .begin = 0, .length = 16384});
  sc.message(key, bt::msg::request{.index = 1, .begin = 0, .length = 16384});
  sc.message(key, bt::msg::request{.index = 2, .begin = 16384, .length = 16384});
  CHECK(sc.sent<bt::msg::reject_request>(key).empty());
  // Cancelled while queued: the reject answers it.
  sc.message(key, bt::msg::cancel{.index = 1, .begin = 0, .length = 16384});
  const auto cancelled = sc.sent<bt::msg::reject_request>(key);
  REQUIRE(cancelled.size() == 1);
  CHECK(cancelled[0] == bt::msg::reject_request{.index = 1, .begin = 0, .length = 16384});
  // A cancel for what is not queued (already sent, or never asked) gets nothing.
  sc.message(key, bt::msg::cancel{.index = 3, .begin = 0, .length = 16384});
  CHECK(sc.sent<bt::msg::reject_request>(key).empty());

  // One block goes out; the other is still queued when we choke the peer: it is rejected.
  const auto sent = sc.s.take_upload(key, sc.now);
  REQUIRE(sent);
  sc.s.handle_block_sent(key, *sent, sc.now);
  sc.drain();
  sc.message(key, bt::msg::not_interested{});
  sc.advance(11s);  // the rechoke chokes a peer that is not interested
  REQUIRE(sc.sent<bt::msg::choke>(key).size() == 1);
  const auto at_choke = sc.sent<bt::msg::reject_request>(key);
  REQUIRE(at_choke.size() == 1);
  CHECK(at_choke[0] == bt::msg::reject_request{.index = 2, .begin = 16384, .length = 16384});
  CHECK(sc.s.upload_queued_bytes(key) == 0);

  // A peer without the extension gets BEP 3: silence.
  const auto plain = sc.accept_peer(11, 0xBB, false);
  sc.message(plain, bt::msg::request{.index = 0, .begin = 0, .length = 16384});
  CHECK(sc.sent<bt::msg::reject_request>(plain).empty());
}

TEST_CASE("a peer that unchokes us and rejects every request is cut, not asked for ever", "[session][fast]") {
  const auto torrent = test::small_torrent();
  auto sc = started(torrent, false, {.max_idle_messages_per_s = 50});
  const auto key = sc.accept_peer(10, 0xAA, true);
  sc.message(key, bt::msg::have_all{});
  sc.message(key, bt::msg::unchoke{});
  // Each reject while it unchokes us brings the block straight back to it: without a limit
  // this goes on a round trip at a time. 7 blocks, so 50 rejects a second pass in 8 rounds.
  bool cut = false;
  for (int round = 0; round < 40 && !cut; ++round) {
    for (const auto& r : sc.sent<bt::msg::request>(key))
      sc.message(key, bt::msg::reject_request{.index = r.index, .begin = r.begin, .length = r.length});
    cut = closed(sc, key);
    sc.now += 1ms;
  }
  CHECK(cut);
  CHECK(sc.s.stats().peers_banned == 1);
}
