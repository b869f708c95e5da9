#include "cli/output.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "loopback/protocol/metainfo.hpp"

namespace p2pdist::cli {

void write_json(const std::string& path, const nlohmann::json& doc) {
  if (path == "-") {
    std::cout << doc.dump(2) << '\n' << std::flush;
    if (!std::cout) throw std::runtime_error("cannot write JSON to stdout");
    return;
  }
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(path + ": cannot write: " + std::strerror(errno));
    out << doc.dump(2) << '\n';
    out.flush();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw std::runtime_error(path + ": write failed");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw std::runtime_error(path + ": cannot write: " + ec.message());
  }
}

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

std::string printable_text(std::string_view s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\\') {
      out += "\\x";
      out += digits[u >> 4];
      out += digits[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

void warn_case_collisions(const bt::metainfo& torrent) {
  for (const auto& [a, b] : bt::case_collisions(torrent)) {
    std::cerr << "p2pdist: warning: " << printable_text(torrent.files[a].joined()) << " and "
              << printable_text(torrent.files[b].joined())
              << " differ only in letter case: on a case-insensitive file system they are one file\n";
  }
}

}  // namespace p2pdist::cli
