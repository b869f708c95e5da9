#pragma once
// Output helpers shared by the commands: JSON to a file or stdout, terminal detection, text
// from a torrent made safe to print.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace p2pdist::cli {

/// Writes `doc` (pretty, 2-space indent) to stdout when path is "-", else to `path`
/// through a temporary file renamed into place, so a reader never sees half a file.
/// Throws std::runtime_error naming the file on failure.
void write_json(const std::string& path, const nlohmann::json& doc);

/// True when stderr is a terminal (progress is shown only then).
bool stderr_is_terminal();

/// `s` with control bytes and '\\' shown as \xNN, so that a torrent's names cannot drive
/// the terminal; other bytes (UTF-8 included) are kept.
std::string printable_text(std::string_view s);

}  // namespace p2pdist::cli

namespace p2pdist::bt {
struct metainfo;
}

namespace p2pdist::cli {

/// A warning on stderr ("p2pdist: warning: ...") for each pair of the torrent's file paths
/// that differ only in letter case.
void warn_case_collisions(const bt::metainfo& torrent);

}  // namespace p2pdist::cli
