#include "loopback/net/swarm_table.hpp"

#include <algorithm>
#include <utility>

namespace p2pdist::bt::detail {

namespace {

/// The address range a peer's address is in: its IPv4 /24 (a host's neighbours), or its
/// IPv6 /64 (one subnet, which one host can fill with addresses of its own).
ip_address range_of(const ip_address& ip) {
  auto bytes = ip.bytes();
  for (std::size_t i = ip.is_v4() ? 15 : 8; i < 16; ++i) bytes[i] = 0;
  return ip_address::from_v6(bytes);
}

}  // namespace

void swarm_table::torrent::remove_at(std::size_t i) {
  index.erase(peers[i].key);
  if (i + 1 != peers.size()) {
    peers[i] = std::move(peers.back());
    index[peers[i].key] = i;
  }
  peers.pop_back();
}

std::int64_t swarm_table::torrent::seeds() const {
  return static_cast<std::int64_t>(
      std::count_if(peers.begin(), peers.end(), [](const peer_record& p) { return p.left_bytes == 0; }));
}

announce_response swarm_table::announce(const announce_request& request, const ip_address& ip, time_point at,
                                        std::mt19937_64& rng, bool own_family_only) {
  announce_response out;
  out.interval = config_.interval;
  auto it = torrents_.find(request.info_hash);
  if (it == torrents_.end()) {
    if (request.event == announce_event::stopped) {
      out.complete = 0;
      out.incomplete = 0;
      return out;
    }
    if (torrents_.size() >= config_.max_torrents) return failure("tracker full: too many torrents");
    it = torrents_.emplace(request.info_hash, torrent{}).first;
  }
  torrent& t = it->second;
  purge(t, at - expiry_);

  const endpoint key{.ip = ip, .port = request.port};
  const auto found = t.index.find(key);
  if (request.event == announce_event::stopped) {
    if (found != t.index.end()) remove(t, found->second);
  } else {
    std::size_t i = 0;
    if (found != t.index.end()) {
      i = found->second;
      unfile(t, i);
    } else {
      make_room(t, key);
      i = t.peers.size();
      t.peers.push_back(peer_record{.key = key});
      t.index.emplace(key, i);
      ++peers_;
    }
    peer_record& p = t.peers[i];
    p.id = request.id;
    p.left_bytes = request.left_bytes;
    p.last_seen = at;
    p.touched = ++announces_;
    file(t, i, request.info_hash);
    if (request.event == announce_event::completed && !p.counted_download) {
      p.counted_download = true;
      ++t.downloaded;
    }
    const std::size_t wanted = std::min<std::size_t>(
        request.numwant ? static_cast<std::size_t>(std::max(*request.numwant, 0)) : 50,
        config_.max_peers_returned);
    pick_peers(t, i, wanted, own_family_only, rng, out.peers);
  }
  out.complete = t.seeds();
  out.incomplete = static_cast<std::int64_t>(t.peers.size()) - *out.complete;
  if (t.peers.empty()) torrents_.erase(it);
  return out;
}

std::vector<scrape_entry> swarm_table::scrape(const scrape_request& request) const {
  std::vector<scrape_entry> out;
  auto entry = [](const sha1_digest& hash, const torrent* t) {
    scrape_entry e{.info_hash = hash};
    if (t != nullptr) {
      e.complete = t->seeds();
      e.incomplete = static_cast<std::int64_t>(t->peers.size()) - e.complete;
      e.downloaded = t->downloaded;
    }
    return e;
  };
  if (request.info_hashes.empty()) {
    for (const auto& [hash, t] : torrents_) out.push_back(entry(hash, &t));
    return out;
  }
  for (const sha1_digest& hash : request.info_hashes) {
    const bool repeated = std::any_of(out.begin(), out.end(),
                                      [&](const scrape_entry& e) { return e.info_hash == hash; });
    if (repeated) continue;
    const auto it = torrents_.find(hash);
    out.push_back(entry(hash, it == torrents_.end() ? nullptr : &it->second));
  }
  return out;
}

void swarm_table::expire(time_point at) {
  for (auto it = torrents_.begin(); it != torrents_.end();) {
    purge(it->second, at - expiry_);
    it = it->second.peers.empty() ? torrents_.erase(it) : std::next(it);
  }
}

announce_response swarm_table::failure(std::string reason) {
  announce_response out;
  out.failure_reason = std::move(reason);
  return out;
}

void swarm_table::file(torrent& t, std::size_t i, const sha1_digest& info_hash) {
  const peer_record& p = t.peers[i];
  const peer_place place{.info_hash = info_hash, .key = p.key};
  by_address_[p.key.ip].emplace(p.touched, place);
  by_range_[range_of(p.key.ip)].emplace(p.touched, place);
  all_.emplace(p.touched, place);
  t.by_touched.emplace(p.touched, place);
}

void swarm_table::unfile(torrent& t, std::size_t i) {
  const peer_record& p = t.peers[i];
  for (auto* books : {&by_address_, &by_range_}) {
    const auto b = books->find(books == &by_address_ ? p.key.ip : range_of(p.key.ip));
    if (b == books->end()) continue;
    b->second.erase(p.touched);
    if (b->second.empty()) books->erase(b);
  }
  all_.erase(p.touched);
  t.by_touched.erase(p.touched);
}

void swarm_table::remove(torrent& t, std::size_t i) {
  unfile(t, i);
  t.remove_at(i);
  --peers_;
}

void swarm_table::make_room(torrent& t, const endpoint& key) {
  // The torrent's own cap first: what it evicts may also bring the others under theirs.
  if (t.peers.size() >= config_.max_peers_per_torrent) evict_oldest(t.by_touched, &t);
  if (const auto b = by_address_.find(key.ip);
      b != by_address_.end() && b->second.size() >= config_.max_peers_per_address)
    evict_oldest(b->second, &t);
  if (const auto b = by_range_.find(range_of(key.ip)); b != by_range_.end() && b->second.size() >= config_.max_peers_per_range)
    evict_oldest(b->second, &t);
  if (peers_ >= config_.max_peers) evict_oldest(all_, &t);
}

void swarm_table::purge(torrent& t, time_point cutoff) {
  for (std::size_t i = 0; i < t.peers.size();) {
    if (t.peers[i].last_seen < cutoff) {
      remove(t, i);
    } else {
      ++i;
    }
  }
}

void swarm_table::evict_oldest(const book& from, const torrent* keep) {
  if (from.empty()) return;
  const peer_place place = from.begin()->second;
  // Every book entry is a held peer: the lookups cannot fail.
  const auto it = torrents_.find(place.info_hash);
  if (it == torrents_.end()) return;
  const auto at = it->second.index.find(place.key);
  if (at == it->second.index.end()) return;
  remove(it->second, at->second);  // may erase `from` (when it held one peer): not used after
  ++evicted_;
  if (it->second.peers.empty() && &it->second != keep) torrents_.erase(it);
}

void swarm_table::pick_peers(const torrent& t, std::size_t self, std::size_t wanted, bool own_family_only,
                             std::mt19937_64& rng, std::vector<peer_endpoint>& out) {
  if (wanted == 0) return;
  // Candidates sorted by address; each address's run of them is a group.
  std::vector<std::pair<ip_address, std::size_t>> candidates;
  candidates.reserve(t.peers.size());
  for (std::size_t i = 0; i < t.peers.size(); ++i) {
    if (i != self && (!own_family_only || t.peers[i].key.ip.is_v4() == t.peers[self].key.ip.is_v4()))
      candidates.emplace_back(t.peers[i].key.ip, i);
  }
  std::sort(candidates.begin(), candidates.end());
  struct group {
    std::size_t begin = 0, end = 0;  ///< candidates not taken yet: [begin, end)
  };
  std::vector<group> groups;
  for (std::size_t k = 0; k < candidates.size(); ++k) {
    if (k == 0 || candidates[k].first != candidates[k - 1].first) groups.push_back({.begin = k, .end = k});
    ++groups.back().end;
  }
  while (out.size() < wanted && !groups.empty()) {
    std::shuffle(groups.begin(), groups.end(), rng);
    for (std::size_t g = 0; g < groups.size() && out.size() < wanted; ++g) {
      group& range = groups[g];
      std::uniform_int_distribution<std::size_t> pick(range.begin, range.end - 1);
      std::swap(candidates[pick(rng)], candidates[range.end - 1]);
      const peer_record& p = t.peers[candidates[--range.end].second];
      out.push_back(peer_endpoint{.ip = p.key.ip, .port = p.key.port, .id = p.id});
    }
    std::erase_if(groups, [](const group& range) { return range.begin == range.end; });
  }
}

}  // namespace p2pdist::bt::detail
