#pragma once
// Output helpers shared by the commands: JSON to a file or stdout, terminal detection.

#include <string>

#include <nlohmann/json.hpp>

namespace p2pdist::cli {

/// Writes `doc` (pretty, 2-space indent) to stdout when path is "-", else to `path`
/// through a temporary file renamed into place, so a reader never sees half a file.
/// Throws std::runtime_error naming the file on failure.
void write_json(const std::string& path, const nlohmann::json& doc);

/// True when stderr is a terminal (progress is shown only then).
bool stderr_is_terminal();

}  // namespace p2pdist::cli
