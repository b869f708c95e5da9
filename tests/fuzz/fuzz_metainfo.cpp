// Fuzzes parse_metainfo with arbitrary bytes. Beyond "no crash": an error's offset lies
// within the input and describes itself; an accepted torrent has consistent fields (a
// multi-file one: files end to end, safe path components, no path twice, none inside
// another), its info-hash is the SHA-1 of the `info` value's own bytes, and re-encoding its
// fields gives a torrent that parses to the same fields.

#include <cstddef>
#include <cstdint>
#include <set>
#include <span>
#include <string>

#include "loopback/protocol/bencode.hpp"
#include "loopback/protocol/metainfo.hpp"
#include "loopback/protocol/sha1.hpp"

#include "fuzz_check.hpp"

namespace bt = p2pdist::bt;

using p2pdist::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = std::as_bytes(std::span<const std::uint8_t>(data, size));
  const auto r = bt::parse_metainfo(input);
  if (!r) {
    check(r.error().offset <= size);
    check(!bt::describe(r.error()).empty());
    return 0;
  }
  const auto& m = *r;
  check(bt::is_valid_piece_bytes(m.piece_bytes));
  check(bt::is_safe_name(m.name));
  check(m.total_bytes > 0);
  check(m.piece_count() == (m.total_bytes + m.piece_bytes - 1) / m.piece_bytes);
  check(m.piece_size(m.piece_count() - 1) > 0);
  check(m.piece_offset(m.piece_count() - 1) + m.piece_size(m.piece_count() - 1) == m.total_bytes);
  check(!m.files.empty() && (m.multi_file || m.files.size() == 1));
  std::uint64_t at = 0;
  std::set<std::vector<std::string>> paths;
  for (const auto& f : m.files) {
    check(f.offset == at);
    at += f.length;
    check(!f.path.empty());
    for (const auto& c : f.path) check(bt::is_safe_name(c));
    check(paths.insert(f.path).second);
  }
  check(at == m.total_bytes);
  for (const auto& p : paths)  // no file's path is a directory of another's
    for (std::size_t k = 1; k < p.size(); ++k) check(paths.count({p.begin(), p.begin() + static_cast<std::ptrdiff_t>(k)}) == 0);

  // The info-hash is over the info value's exact bytes.
  const auto decoded = bt::bdecode(input);
  check(decoded.has_value());
  const bt::bvalue* info = decoded->find("info");
  check(info != nullptr && info->begin < info->end && info->end <= size);
  check(m.info_hash == bt::sha1(input.subspan(info->begin, info->end - info->begin)));

  // Re-encoding the fields gives a torrent with the same fields.
  std::string pieces;
  for (const auto& h : m.piece_hashes) pieces.append(reinterpret_cast<const char*>(h.data()), h.size());
  bt::bvalue::dict info_dict;
  if (m.multi_file) {
    bt::bvalue::list files;
    for (const auto& f : m.files) {
      bt::bvalue::list path;
      for (const auto& c : f.path) path.emplace_back(c);
      bt::bvalue::dict entry;
      entry.emplace("length", bt::bvalue(static_cast<bt::bvalue::integer>(f.length)));
      entry.emplace("path", bt::bvalue(std::move(path)));
      files.emplace_back(std::move(entry));
    }
    info_dict.emplace("files", bt::bvalue(std::move(files)));
  } else {
    info_dict.emplace("length", bt::bvalue(static_cast<bt::bvalue::integer>(m.total_bytes)));
  }
  info_dict.emplace("name", bt::bvalue(m.name));
  info_dict.emplace("piece length", bt::bvalue(static_cast<bt::bvalue::integer>(m.piece_bytes)));
  info_dict.emplace("pieces", bt::bvalue(pieces));
  bt::bvalue::dict top;
  top.emplace("announce", bt::bvalue(m.announce));
  top.emplace("info", bt::bvalue(std::move(info_dict)));
  const auto again = bt::parse_metainfo(bt::bencode(bt::bvalue(std::move(top))));
  check(again.has_value());
  check(again->announce == m.announce && again->name == m.name &&
        again->piece_bytes == m.piece_bytes && again->total_bytes == m.total_bytes &&
        again->piece_hashes == m.piece_hashes && again->multi_file == m.multi_file && again->files == m.files);
  return 0;
}
