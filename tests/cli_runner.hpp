#pragma once
// Runs the built p2pdist executable as a user would, capturing exit code, stdout, stderr.

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace p2pdist::test {

struct run_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Quotes one argument for /bin/sh.
inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Runs P2PDIST_EXE with `args` (stdin closed), waits, returns its exit code and output.
inline run_result run_p2pdist(const std::vector<std::string>& args) {
  namespace fs = std::filesystem;
  static int counter = 0;
  const auto dir = fs::temp_directory_path();
  const auto tag = std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const auto out_path = dir / ("p2pdist-cli-out-" + tag);
  const auto err_path = dir / ("p2pdist-cli-err-" + tag);
  std::string cmd = shell_quote(P2PDIST_EXE);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " </dev/null >" + shell_quote(out_path.string()) + " 2>" + shell_quote(err_path.string());
  const int status = std::system(cmd.c_str());
  run_result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  fs::remove(out_path);
  fs::remove(err_path);
  return r;
}

}  // namespace p2pdist::test
