#pragma once
// The page `p2pdist serve` shows: the files of cli/web/, built into the executable
// (cmake/embed_files.cmake), so that it serves them from any directory.

#include <string_view>
#include <vector>

namespace p2pdist::cli {

struct web_file {
  std::string_view name;   ///< e.g. "index.html"
  std::string_view bytes;
};

/// Every file of cli/web/.
const std::vector<web_file>& web_files();

}  // namespace p2pdist::cli
