// `p2pdist info` and `p2pdist make-torrent`: read or write a .torrent, of one file or of a
// directory (multi-file).

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "cli/output.hpp"
#include "loopback/protocol/bencode.hpp"
#include "loopback/protocol/magnet.hpp"
#include "loopback/protocol/metainfo.hpp"
#include "loopback/storage/storage.hpp"

namespace p2pdist::cli {
namespace {

struct file_closer {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

/// Reads at most `max_bytes` + 1 bytes of `path` (one more than a valid input may hold,
/// so that an oversized file is still refused by the parser with an offset). Throws
/// std::system_error on an I/O failure.
std::string read_bounded(const std::string& path, std::size_t max_bytes) {
  errno = 0;
  std::unique_ptr<std::FILE, file_closer> file(std::fopen(path.c_str(), "rb"));
  if (!file) throw std::system_error(errno != 0 ? errno : EIO, std::generic_category());
  std::string out;
  std::vector<char> buffer(64 * 1024);
  while (out.size() <= max_bytes) {
    errno = 0;
    const auto want = std::min(buffer.size(), max_bytes + 1 - out.size());
    const auto n = std::fread(buffer.data(), 1, want, file.get());
    out.append(buffer.data(), n);
    if (n < want) {
      if (std::ferror(file.get())) {
        throw std::system_error(errno != 0 ? errno : EIO, std::generic_category());
      }
      break;
    }
  }
  return out;
}

/// `s` as valid UTF-8 (invalid sequences become U+FFFD), as JSON requires.
std::string valid_utf8(const std::string& s) {
  const auto quoted =
      nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return nlohmann::json::parse(quoted).get<std::string>();
}

/// "100000 bytes (97.66 KiB)"; just "N bytes" below 1 KiB.
std::string human_bytes(std::uint64_t bytes) {
  std::string out = std::to_string(bytes) + " bytes";
  static constexpr const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int unit = -1;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  if (unit < 0) return out;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  std::string num = buf;
  while (num.back() == '0') num.pop_back();
  if (num.back() == '.') num.pop_back();
  return out + " (" + num + " " + units[unit] + ")";
}

/// The torrent's magnet link: its info-hash, name and tracker (what `get MAGNET` needs).
std::string magnet_of(const bt::metainfo& m) {
  return bt::make_magnet(m.info_hash, m.name, m.announce.empty() ? std::vector<std::string>{}
                                                                 : std::vector<std::string>{m.announce});
}

nlohmann::json to_json(const bt::metainfo& m) {
  auto files = nlohmann::json::array();
  for (const auto& f : m.files)
    files.push_back({{"path", valid_utf8(f.joined())}, {"length", f.length}, {"offset", f.offset}});
  return {{"name", valid_utf8(m.name)},
          {"total_bytes", m.total_bytes},
          {"piece_bytes", m.piece_bytes},
          {"pieces", m.piece_count()},
          {"info_hash", bt::to_hex(m.info_hash)},
          {"announce", valid_utf8(m.announce)},
          {"multi_file", m.multi_file},
          {"files", std::move(files)},
          {"magnet", magnet_of(m)}};
}

void print_table(const bt::metainfo& m) {
  std::cout << "name:         " << printable_text(m.name) << (m.multi_file ? "/ (a directory)" : "") << '\n'
            << "size:         " << human_bytes(m.total_bytes) << '\n'
            << "piece length: " << human_bytes(m.piece_bytes) << '\n'
            << "pieces:       " << m.piece_count() << '\n'
            << "info-hash:    " << bt::to_hex(m.info_hash) << '\n'
            << "announce:     " << (m.announce.empty() ? "(none)" : printable_text(m.announce)) << '\n'
            << "magnet:       " << magnet_of(m) << '\n';
  if (!m.multi_file) return;
  std::cout << "files:        " << m.files.size() << '\n';
  for (const auto& f : m.files) std::cout << "  " << printable_text(f.joined()) << "  " << human_bytes(f.length) << '\n';
}

/// Writes `bytes` to `path` through a temporary file in the same directory, renamed into
/// place. Throws std::system_error on failure (the temporary file removed).
void write_atomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  auto fail = [&](int err) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw std::system_error(err != 0 ? err : EIO, std::generic_category());
  };
  errno = 0;
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) fail(errno);
  errno = 0;
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() &&
                       std::fflush(f) == 0;
  const int write_errno = errno;
  if (std::fclose(f) != 0 || !written) fail(written ? errno : write_errno);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(errno);
}

/// make-torrent's command line: the options CLI11 fills in directly, and the piece size text.
struct make_torrent_input {
  make_torrent_options opts;
  std::string piece_size = "256KiB";

  /// `opts` with the piece size parsed; a usage_error names --piece-size.
  [[nodiscard]] make_torrent_options parsed() const {
    make_torrent_options o = opts;
    o.piece_bytes = piece_size_bytes(piece_size, 1);
    return o;
  }
};

}  // namespace

int run_info(const info_options& opts) {
  if (opts.torrent_path.empty()) throw usage_error("torrent: an empty path (give the .torrent file)");
  std::string bytes;
  try {
    bytes = read_bounded(opts.torrent_path, bt::bencode_limits{}.max_bytes);
  } catch (const std::system_error& e) {
    std::cerr << "p2pdist: " << opts.torrent_path << ": cannot read: " << e.code().message()
              << '\n';
    return 1;
  }
  const auto parsed = bt::parse_metainfo(bytes);
  if (!parsed) {
    std::cerr << "p2pdist: " << opts.torrent_path << ": " << bt::describe(parsed.error()) << '\n';
    return 1;
  }
  if (opts.json_path != "-") print_table(*parsed);
  warn_case_collisions(*parsed);
  if (!opts.json_path.empty()) write_json(opts.json_path, to_json(*parsed));
  return 0;
}

int run_make_torrent(const make_torrent_options& opts) {
  if (!bt::is_valid_piece_bytes(opts.piece_bytes)) {
    throw usage_error("--piece-size: " + std::to_string(opts.piece_bytes) +
                      " bytes is not a multiple of 16KiB from 16KiB to 64MiB");
  }
  if (opts.announce.empty()) throw usage_error("--announce: a tracker URL is required");
  if (opts.output_path.empty()) throw usage_error("-o: an output file is required");
  namespace fs = std::filesystem;
  std::error_code dir_ec;
  const bool directory = fs::is_directory(opts.file_path, dir_ec);
  // A directory's name is its last component, also when given as "dir/" or ".".
  const std::string name =
      !opts.name.empty() ? opts.name
      : directory        ? bt::directory_name(opts.file_path)
                         : fs::path(opts.file_path).filename().string();
  if (!bt::is_safe_name(name)) {
    throw usage_error((opts.name.empty() ? "FILE: its name '" : "--name: '") + printable_text(name) +
                      "' cannot name a torrent (empty, '.', '..', or holding '/', '\\' or NUL)" +
                      (opts.name.empty() ? "; give --name NAME" : ""));
  }

  std::string torrent;
  const bt::create_options create{.announce = opts.announce, .name = name, .piece_bytes = opts.piece_bytes};
  try {
    torrent = directory ? bt::create_torrent_from_directory(opts.file_path, create)
                        : bt::create_torrent_from_file(opts.file_path, create);
  } catch (const std::system_error& e) {
    // A directory's error names the file below it; a file's is the file itself.
    if (directory) {
      std::cerr << "p2pdist: " << e.what() << '\n';
    } else {
      std::cerr << "p2pdist: " << opts.file_path << ": cannot read: " << e.code().message() << '\n';
    }
    return 1;
  } catch (const std::invalid_argument& e) {
    std::cerr << "p2pdist: " << opts.file_path << ": " << e.what() << '\n';
    return 1;
  }
  const auto parsed = bt::parse_metainfo(torrent);
  if (!parsed) {  // a bug: what we create must parse
    std::cerr << "p2pdist: internal error: created torrent does not parse: "
              << bt::describe(parsed.error()) << '\n';
    return 1;
  }
  try {
    write_atomically(opts.output_path, torrent);
  } catch (const std::system_error& e) {
    std::cerr << "p2pdist: " << opts.output_path << ": cannot write: " << e.code().message()
              << '\n';
    return 1;
  }
  std::cout << "wrote " << printable_text(opts.output_path) << '\n';
  print_table(*parsed);
  warn_case_collisions(*parsed);
  return 0;
}

command add_info_command(CLI::App& parent) {
  auto opts = std::make_shared<info_options>();
  auto* app =
      parent.add_subcommand("info", "name, size, piece length, pieces, info-hash, magnet link and files of a .torrent");
  app->add_option("torrent", opts->torrent_path, "the .torrent file")->required();
  add_json_option(*app, opts->json_path);
  return {app, [opts] { return run_info(*opts); }};
}

command add_make_torrent_command(CLI::App& parent) {
  auto in = std::make_shared<make_torrent_input>();
  auto& o = in->opts;
  auto* app = parent.add_subcommand("make-torrent", "create a .torrent of a file, or of a directory (multi-file)");
  app->add_option("file", o.file_path,
                  "the file to share, or a directory: every regular file below it, sorted by path")
      ->required();
  app->add_option("--announce", o.announce, "tracker URL, e.g. http://127.0.0.1:6969/announce")->required();
  app->add_option("-o,--output", o.output_path, "the .torrent to write")->required();
  app->add_option("--piece-size", in->piece_size, "piece length, e.g. 256KiB")->capture_default_str();
  app->add_option("--name", o.name, "name in the torrent (default: the file's or directory's name)");
  return {app, [in] { return run_make_torrent(in->parsed()); }};
}

}  // namespace p2pdist::cli
