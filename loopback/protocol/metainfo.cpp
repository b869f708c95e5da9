#include "loopback/protocol/metainfo.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <set>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "loopback/protocol/sha1.hpp"

namespace p2pdist::bt {
namespace {

using parse_result = result<metainfo, metainfo_error>;

parse_result fail(metainfo_errc code, std::size_t offset) {
  return unexpected{metainfo_error{.code = code, .offset = offset}};
}

std::span<const std::byte> as_bytes(std::string_view s) noexcept {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

/// Cuts a stream of bytes into pieces of `piece_bytes` and appends each piece's SHA-1 to
/// a `pieces` string, as the metainfo stores them.
class piece_accumulator {
 public:
  explicit piece_accumulator(std::uint32_t piece_bytes) : piece_bytes_(piece_bytes) {}

  void append(std::span<const std::byte> data) {
    while (!data.empty()) {
      const auto room = piece_bytes_ - filled_;
      const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(room, data.size()));
      hasher_.update(data.first(n));
      data = data.subspan(n);
      filled_ += n;
      total_bytes_ += n;
      if (filled_ == piece_bytes_) close_piece();
    }
  }

  /// The `pieces` string (the last, shorter piece closed) and the total length.
  std::pair<std::string, std::uint64_t> finish() && {
    if (filled_ > 0) close_piece();
    return {std::move(pieces_), total_bytes_};
  }

 private:
  void close_piece() {
    const auto digest = hasher_.finish();
    pieces_.append(reinterpret_cast<const char*>(digest.data()), digest.size());
    if (pieces_.size() > bencode_limits{}.max_bytes) {
      throw std::invalid_argument(
          "too many pieces for a .torrent this engine can read: use a larger piece size");
    }
    filled_ = 0;
  }

  std::uint32_t piece_bytes_;
  std::uint32_t filled_ = 0;
  std::uint64_t total_bytes_ = 0;
  sha1_hasher hasher_;
  std::string pieces_;
};

/// The first file (index) whose path breaks a rule of the multi-file layout, and which:
/// an empty path or an unsafe component, the same path twice, or a file whose path is a
/// directory of another file's path.
std::optional<std::pair<std::size_t, metainfo_errc>> check_paths(const std::vector<std::vector<std::string>>& paths) {
  std::set<std::vector<std::string>> seen;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (paths[i].empty()) return std::pair{i, metainfo_errc::bad_file_path};
    for (const auto& c : paths[i])
      if (!is_safe_name(c)) return std::pair{i, metainfo_errc::unsafe_path};
    if (!seen.insert(paths[i]).second) return std::pair{i, metainfo_errc::duplicate_path};
  }
  // A file at a/b and another at a/b/c: a/b cannot be both a file and a directory. Every
  // proper prefix of a path is a directory; none may be a file.
  for (std::size_t i = 0; i < paths.size(); ++i) {
    std::vector<std::string> prefix;
    for (std::size_t k = 0; k + 1 < paths[i].size(); ++k) {
      prefix.push_back(paths[i][k]);
      if (seen.count(prefix) != 0) return std::pair{i, metainfo_errc::path_conflict};
    }
  }
  return std::nullopt;
}

void check_options(const create_options& options) {
  if (!is_valid_piece_bytes(options.piece_bytes)) {
    throw std::invalid_argument("piece size " + std::to_string(options.piece_bytes) +
                                " bytes is not a multiple of 16 KiB between 16 KiB and 64 MiB");
  }
  if (!is_safe_name(options.name)) {
    throw std::invalid_argument("torrent name \"" + options.name +
                                "\" is empty, \".\", \"..\" or holds '/', '\\' or NUL");
  }
  if (options.files.empty()) return;
  std::vector<std::vector<std::string>> paths;
  for (const auto& f : options.files) paths.push_back(f.path);
  if (const auto bad = check_paths(paths)) {
    throw std::invalid_argument("file " + std::to_string(bad->first) + ": " + to_string(bad->second));
  }
}

std::string encode_torrent(const create_options& options, std::string pieces,
                           std::uint64_t total_bytes) {
  if (total_bytes == 0) throw std::invalid_argument("cannot make a torrent of an empty file");
  bvalue::dict info;
  if (options.files.empty()) {
    info.emplace("length", bvalue(static_cast<bvalue::integer>(total_bytes)));
  } else {
    std::uint64_t sum = 0;
    bvalue::list files;
    for (const auto& f : options.files) {
      sum += f.length;
      bvalue::list path;
      for (const auto& c : f.path) path.emplace_back(c);
      bvalue::dict entry;
      entry.emplace("length", bvalue(static_cast<bvalue::integer>(f.length)));
      entry.emplace("path", bvalue(std::move(path)));
      files.emplace_back(std::move(entry));
    }
    if (sum != total_bytes) {
      throw std::invalid_argument("the files' lengths sum to " + std::to_string(sum) + " bytes, the data holds " +
                                  std::to_string(total_bytes));
    }
    info.emplace("files", bvalue(std::move(files)));
  }
  info.emplace("name", bvalue(options.name));
  info.emplace("piece length", bvalue(static_cast<bvalue::integer>(options.piece_bytes)));
  info.emplace("pieces", bvalue(std::move(pieces)));
  bvalue::dict top;
  if (!options.announce.empty()) top.emplace("announce", bvalue(options.announce));
  top.emplace("info", bvalue(std::move(info)));
  auto out = bencode(bvalue(std::move(top)));
  if (out.size() > bencode_limits{}.max_bytes) {
    throw std::invalid_argument(".torrent would exceed 64 MiB: use a larger piece size");
  }
  return out;
}

struct file_closer {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

/// Reads `files` (BEP 3's multi-file list) into m.files, m.total_bytes and m.multi_file;
/// the error, with the offset of the offending value, when it breaks a rule.
std::optional<metainfo_error> parse_files(const bvalue& files, metainfo& m) {
  const auto err = [](metainfo_errc code, std::size_t offset) {
    return std::optional<metainfo_error>(metainfo_error{.code = code, .offset = offset});
  };
  const auto* list = files.as_list();
  if (list == nullptr || list->empty()) return err(metainfo_errc::files_not_list, files.begin);
  constexpr std::uint64_t max_total = std::uint64_t{1} << 62;
  std::vector<std::vector<std::string>> paths;
  paths.reserve(list->size());
  m.files.reserve(list->size());
  for (const bvalue& entry : *list) {
    if (!entry.is_dict()) return err(metainfo_errc::file_not_dictionary, entry.begin);
    const bvalue* length = entry.find("length");
    const auto* length_i = length != nullptr ? length->as_int() : nullptr;
    if (length_i == nullptr || *length_i < 0)
      return err(metainfo_errc::bad_file_length, length != nullptr ? length->begin : entry.begin);
    const auto bytes = static_cast<std::uint64_t>(*length_i);
    if (bytes > max_total - m.total_bytes) return err(metainfo_errc::files_too_large, length->begin);
    const bvalue* path = entry.find("path");
    const auto* parts = path != nullptr ? path->as_list() : nullptr;
    if (parts == nullptr || parts->empty())
      return err(metainfo_errc::bad_file_path, path != nullptr ? path->begin : entry.begin);
    file_entry f{.length = bytes, .offset = m.total_bytes};
    for (const bvalue& part : *parts) {
      const auto* text = part.as_string();
      if (text == nullptr) return err(metainfo_errc::bad_file_path, part.begin);
      if (!is_safe_name(*text)) return err(metainfo_errc::unsafe_path, part.begin);
      f.path.push_back(*text);
    }
    m.total_bytes += bytes;
    paths.push_back(f.path);
    m.files.push_back(std::move(f));
  }
  if (const auto bad = check_paths(paths)) {
    const auto* path = (*list)[bad->first].find("path");
    return err(bad->second, path->begin);
  }
  m.multi_file = true;
  return std::nullopt;
}

}  // namespace

std::string file_entry::joined() const {
  std::string out;
  for (const auto& c : path) {
    if (!out.empty()) out += '/';
    out += c;
  }
  return out;
}

std::vector<std::pair<std::size_t, std::size_t>> case_collisions(const metainfo& torrent) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  std::unordered_map<std::string, std::size_t> first;
  for (std::size_t i = 0; i < torrent.files.size(); ++i) {
    std::string key = torrent.files[i].joined();
    std::transform(key.begin(), key.end(), key.begin(), [](char c) {
      return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    });
    const auto [it, fresh] = first.emplace(std::move(key), i);
    if (!fresh) out.emplace_back(it->second, i);
  }
  return out;
}

bool is_safe_name(std::string_view name) noexcept {
  if (name.empty() || name == "." || name == "..") return false;
  return name.find_first_of(std::string_view("/\\\0", 3)) == std::string_view::npos;
}

std::uint32_t metainfo::piece_size(std::uint32_t index) const noexcept {
  assert(index < piece_count());
  const auto rest = total_bytes - piece_offset(index);
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(rest, piece_bytes));
}

std::string to_string(metainfo_errc code) {
  if (const auto cause = bencode_cause(code)) {
    return "bencode: " + std::string(to_string(*cause));
  }
  switch (code) {
    case metainfo_errc::not_a_dictionary: return "the file is not a bencoded dictionary";
    case metainfo_errc::announce_not_string: return "announce is not a string";
    case metainfo_errc::missing_info: return "no info dictionary";
    case metainfo_errc::info_not_dictionary: return "info is not a dictionary";
    case metainfo_errc::length_and_files: return "info has both length and files";
    case metainfo_errc::missing_name: return "info has no name";
    case metainfo_errc::name_not_string: return "name is not a string";
    case metainfo_errc::empty_name: return "name is empty";
    case metainfo_errc::unsafe_name:
      return "name would escape the download directory (\".\", \"..\", '/', '\\' or NUL)";
    case metainfo_errc::missing_piece_length: return "info has no piece length";
    case metainfo_errc::piece_length_not_integer: return "piece length is not an integer";
    case metainfo_errc::bad_piece_length:
      return "piece length is not a multiple of 16 KiB between 16 KiB and 64 MiB";
    case metainfo_errc::missing_pieces: return "info has no pieces";
    case metainfo_errc::pieces_not_string: return "pieces is not a string";
    case metainfo_errc::pieces_not_multiple_of_20: return "pieces is not a multiple of 20 bytes";
    case metainfo_errc::missing_length: return "info has no length";
    case metainfo_errc::length_not_integer: return "length is not an integer";
    case metainfo_errc::bad_length: return "length is not positive";
    case metainfo_errc::piece_count_mismatch:
      return "the number of piece hashes does not match length and piece length";
    case metainfo_errc::files_not_list: return "files is not a list of at least one file";
    case metainfo_errc::file_not_dictionary: return "a file in files is not a dictionary";
    case metainfo_errc::bad_file_length: return "a file's length is missing, not an integer or negative";
    case metainfo_errc::bad_file_path: return "a file's path is missing, empty or not a list of strings";
    case metainfo_errc::unsafe_path:
      return "a file's path would escape the download directory (a component empty, \".\", \"..\", or "
             "holding '/', '\\' or NUL)";
    case metainfo_errc::duplicate_path: return "two files have the same path";
    case metainfo_errc::path_conflict: return "a file's path is a directory in another file's path";
    case metainfo_errc::files_too_large: return "the files' lengths add up to more than 2^62 bytes";
  }
  return "unknown metainfo error " + std::to_string(static_cast<int>(code));
}

std::string describe(const metainfo_error& error) {
  return to_string(error.code) + " at byte " + std::to_string(error.offset);
}

result<metainfo, metainfo_error> parse_metainfo(std::span<const std::byte> input) {
  auto decoded = bdecode(input);
  if (!decoded) return fail(from_bencode(decoded.error().code), decoded.error().offset);
  const bvalue& root = *decoded;
  if (!root.is_dict()) return fail(metainfo_errc::not_a_dictionary, root.begin);

  metainfo m;
  if (const bvalue* announce = root.find("announce")) {
    const auto* s = announce->as_string();
    if (s == nullptr) return fail(metainfo_errc::announce_not_string, announce->begin);
    m.announce = *s;
  }

  const bvalue* info = root.find("info");
  if (info == nullptr) return fail(metainfo_errc::missing_info, root.begin);
  if (!info->is_dict()) return fail(metainfo_errc::info_not_dictionary, info->begin);

  const bvalue* name = info->find("name");
  if (name == nullptr) return fail(metainfo_errc::missing_name, info->begin);
  const auto* name_s = name->as_string();
  if (name_s == nullptr) return fail(metainfo_errc::name_not_string, name->begin);
  if (name_s->empty()) return fail(metainfo_errc::empty_name, name->begin);
  if (!is_safe_name(*name_s)) return fail(metainfo_errc::unsafe_name, name->begin);
  m.name = *name_s;

  const bvalue* piece_length = info->find("piece length");
  if (piece_length == nullptr) return fail(metainfo_errc::missing_piece_length, info->begin);
  const auto* piece_length_i = piece_length->as_int();
  if (piece_length_i == nullptr) {
    return fail(metainfo_errc::piece_length_not_integer, piece_length->begin);
  }
  if (*piece_length_i <= 0 || !is_valid_piece_bytes(static_cast<std::uint64_t>(*piece_length_i))) {
    return fail(metainfo_errc::bad_piece_length, piece_length->begin);
  }
  m.piece_bytes = static_cast<std::uint32_t>(*piece_length_i);

  const bvalue* pieces = info->find("pieces");
  if (pieces == nullptr) return fail(metainfo_errc::missing_pieces, info->begin);
  const auto* pieces_s = pieces->as_string();
  if (pieces_s == nullptr) return fail(metainfo_errc::pieces_not_string, pieces->begin);
  if (pieces_s->size() % 20 != 0) {
    return fail(metainfo_errc::pieces_not_multiple_of_20, pieces->begin);
  }

  const bvalue* length = info->find("length");
  if (const bvalue* files = info->find("files")) {
    if (length != nullptr) return fail(metainfo_errc::length_and_files, length->begin);
    if (auto bad = parse_files(*files, m)) return unexpected{*bad};
    // All files empty: nothing to share (the same as a single file of length 0).
    if (m.total_bytes == 0) return fail(metainfo_errc::bad_length, files->begin);
  } else {
    if (length == nullptr) return fail(metainfo_errc::missing_length, info->begin);
    const auto* length_i = length->as_int();
    if (length_i == nullptr) return fail(metainfo_errc::length_not_integer, length->begin);
    if (*length_i <= 0) return fail(metainfo_errc::bad_length, length->begin);
    m.total_bytes = static_cast<std::uint64_t>(*length_i);
    m.files.push_back({.path = {m.name}, .length = m.total_bytes, .offset = 0});
  }

  // ceil(length / piece length), written so that it cannot overflow.
  const std::uint64_t expected_pieces =
      m.total_bytes / m.piece_bytes + (m.total_bytes % m.piece_bytes != 0 ? 1 : 0);
  if (expected_pieces != pieces_s->size() / 20) {
    return fail(metainfo_errc::piece_count_mismatch, pieces->begin);
  }
  m.piece_hashes.resize(pieces_s->size() / 20);
  for (std::size_t i = 0; i < m.piece_hashes.size(); ++i) {
    std::copy_n(as_bytes(*pieces_s).subspan(20 * i).begin(), 20, m.piece_hashes[i].begin());
  }

  assert(info->begin < info->end && info->end <= input.size());
  const auto info_span = input.subspan(info->begin, info->end - info->begin);
  m.info_hash = sha1(info_span);
  m.info_bytes.assign(reinterpret_cast<const char*>(info_span.data()), info_span.size());
  return m;
}

result<metainfo, metainfo_error> parse_metainfo(std::string_view input) {
  return parse_metainfo(as_bytes(input));
}

std::string create_torrent(std::span<const std::byte> data, const create_options& options) {
  check_options(options);
  if (data.empty()) throw std::invalid_argument("cannot make a torrent of empty data");
  piece_accumulator acc(options.piece_bytes);
  acc.append(data);
  auto [pieces, total_bytes] = std::move(acc).finish();
  return encode_torrent(options, std::move(pieces), total_bytes);
}

std::string create_torrent_from(std::uint64_t total_bytes,
                                const std::function<void(std::uint64_t, std::span<std::byte>)>& read,
                                const create_options& options) {
  check_options(options);
  if (total_bytes == 0) throw std::invalid_argument("cannot make a torrent of empty data");
  piece_accumulator acc(options.piece_bytes);
  std::vector<std::byte> buffer(options.piece_bytes);
  for (std::uint64_t offset = 0; offset < total_bytes; offset += buffer.size()) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), total_bytes - offset));
    read(offset, std::span<std::byte>(buffer.data(), n));
    acc.append(std::span<const std::byte>(buffer.data(), n));
  }
  auto [pieces, total] = std::move(acc).finish();
  return encode_torrent(options, std::move(pieces), total);
}

std::string create_torrent_from_file(const std::filesystem::path& path,
                                     const create_options& options) {
  create_options opts = options;
  if (opts.name.empty()) opts.name = path.filename().string();
  check_options(opts);

  errno = 0;
  std::unique_ptr<std::FILE, file_closer> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    throw std::system_error(errno != 0 ? errno : EIO, std::generic_category(),
                            "cannot open " + path.string());
  }
  piece_accumulator acc(opts.piece_bytes);
  std::vector<std::byte> buffer(std::min<std::size_t>(opts.piece_bytes, 1u << 20));
  for (;;) {
    errno = 0;
    const auto n = std::fread(buffer.data(), 1, buffer.size(), file.get());
    if (n > 0) acc.append(std::span<const std::byte>(buffer.data(), n));
    if (n < buffer.size()) {
      if (std::ferror(file.get())) {
        throw std::system_error(errno != 0 ? errno : EIO, std::generic_category(),
                                "cannot read " + path.string());
      }
      break;  // end of file
    }
  }
  auto [pieces, total_bytes] = std::move(acc).finish();
  if (total_bytes == 0) {
    throw std::invalid_argument("cannot make a torrent of an empty file");
  }
  return encode_torrent(opts, std::move(pieces), total_bytes);
}

}  // namespace p2pdist::bt
