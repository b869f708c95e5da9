#pragma once
// A session driven by hand, for tests: inputs in, outputs collected, time moved by the test.
// No socket, no clock, no thread (the sans-IO core's whole point).

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "loopback/core/session.hpp"
#include "loopback/protocol/metainfo.hpp"

namespace p2pdist::test {

using namespace std::chrono_literals;

/// A torrent of pieces of 32 KiB (two blocks each): `pieces` of them, the last one 16 KiB
/// unless `whole_last`.
inline std::shared_ptr<const bt::metainfo> small_torrent(std::uint32_t pieces = 4, bool whole_last = false) {
  std::vector<std::byte> data(std::size_t{pieces} * 32 * 1024 - (whole_last ? 0 : 16 * 1024), std::byte{7});
  auto parsed = bt::parse_metainfo(
      bt::create_torrent(data, {.announce = "http://127.0.0.1:6969/announce", .name = "t", .piece_bytes = 32 * 1024}));
  return std::make_shared<const bt::metainfo>(std::move(*parsed));
}

/// The block a peer answers request `r` with: zeros (the tests' pieces never pass a check
/// by content; the tests say the verdict). The span stays valid for the whole run.
inline bt::msg::piece zero_block(const bt::msg::request& r) {
  static const std::array<std::byte, bt::block_bytes> zeros{};
  return {.index = r.index, .begin = r.begin, .data = std::span<const std::byte>(zeros).first(r.length)};
}

/// A peer's handshake for `torrent` with id byte `tag` everywhere; `fast`: it offers the
/// fast extension (BEP 6).
inline bt::handshake their_handshake(const bt::metainfo& torrent, std::uint8_t tag, bool fast = false) {
  bt::handshake hs{.info_hash = torrent.info_hash};
  hs.id.fill(std::byte{tag});
  if (fast) hs.reserved[bt::fast_extension_byte] = bt::fast_extension_bit;
  return hs;
}

/// A session with its outputs collected after every input.
struct script {
  bt::session s;
  bt::time_point now{std::chrono::hours(1)};
  std::vector<bt::output> out;

  explicit script(bt::session_config c) : s(std::move(c)) {}

  void drain() {
    while (auto o = s.poll_output()) out.push_back(std::move(*o));
  }
  void advance(bt::duration d) {
    now += d;
    s.handle_timeout(now);
    drain();
  }
  /// Removes and returns the collected outputs of type T.
  template <class T>
  std::vector<T> take() {
    std::vector<T> got;
    std::vector<bt::output> rest;
    for (auto& o : out) {
      if (auto* x = std::get_if<T>(&o))
        got.push_back(std::move(*x));
      else
        rest.push_back(std::move(o));
    }
    out = std::move(rest);
    return got;
  }
  /// Removes and returns the messages of type M sent on `conn`.
  template <class M>
  std::vector<M> sent(bt::peer_key conn) {
    std::vector<M> got;
    std::vector<bt::output> rest;
    for (auto& o : out) {
      const auto* send = std::get_if<bt::out::send>(&o);
      const M* m = send != nullptr && send->conn == conn ? std::get_if<M>(&send->message) : nullptr;
      if (m != nullptr)
        got.push_back(*m);
      else
        rest.push_back(std::move(o));
    }
    out = std::move(rest);
    return got;
  }
  /// Removes and returns the events of that kind.
  std::vector<bt::client_event> events(bt::client_event_kind kind) {
    std::vector<bt::client_event> got;
    for (auto& e : take<bt::out::event>()) {
      if (e.what.kind == kind)
        got.push_back(e.what);
      else
        out.push_back(e);
    }
    return got;
  }
  /// A peer at 127.0.0.`last` connects to us and completes its handshake (offering the
  /// fast extension when `fast`).
  bt::peer_key accept_peer(std::uint8_t last, std::uint8_t tag, bool fast = false) {
    const auto key = s.handle_accept({.ip = {127, 0, 0, last}, .port = 50000}, now);
    drain();
    s.handle_handshake(*key, their_handshake(*s_torrent, tag, fast), now);
    drain();
    return *key;
  }
  void message(bt::peer_key conn, const bt::wire_event& m) {
    s.handle_message(conn, m, now);
    drain();
  }
  std::shared_ptr<const bt::metainfo> s_torrent;
};

/// A script for a session on `torrent`, started with `have` (all or nothing), no tracker.
inline script started(std::shared_ptr<const bt::metainfo> torrent, bool complete, bt::session_config c = {}) {
  c.torrent = torrent;
  script sc(c);
  sc.s_torrent = torrent;
  sc.s.start(bt::bitfield(torrent->piece_count(), complete), 6881, sc.now);
  sc.drain();
  return sc;
}

}  // namespace p2pdist::test
