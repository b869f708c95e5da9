// p2pdist: the one executable. This file wires the subcommands (each registers its own
// options, cli/commands.hpp), parses the command line with CLI11, runs the subcommand parsed
// and maps errors to exit codes: 0 success, 1 runtime failure, 2 usage error.

#include <iostream>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "p2pdist_commit.hpp"  // generated at build time: cmake/git_commit.cmake

namespace {

// "p2pdist 0.1.0 (commit <40 hex digits>[, uncommitted changes])", or "(commit unknown)"
// when built outside a git checkout: the version and the code it was built from, for the
// record a run leaves (bench/textbook_scale.py --summary keeps it).
std::string version_text() {
  std::string text = "p2pdist 0.1.0 (commit ";
  text += P2PDIST_COMMIT;
  text += P2PDIST_DIRTY ? ", uncommitted changes)" : ")";
  return text;
}

using namespace p2pdist::cli;

/// `s` on one line: line breaks as spaces, no trailing space (CLI11's messages can span lines).
std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

/// Refuses an unknown first word (CLI11 would call it an extra argument), listing the commands.
void reject_unknown_command(const CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return;
  const std::string first = argv[1];
  bool known = false;
  std::string names;
  for (const auto* sub : app.get_subcommands({})) {
    known = known || sub->get_name() == first;
    names += (names.empty() ? "" : ", ") + sub->get_name();
  }
  if (!known) throw usage_error("unknown command '" + first + "' (commands: " + names + ")");
}

/// Parses the command line. Returns the exit code when that is all there is to do (help,
/// version, a malformed command line), nullopt when the parsed subcommand is to run.
std::optional<int> parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << (app.get_subcommands().empty() ? app.help() : app.get_subcommands().front()->help());
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::CallForVersion&) {
    std::cout << version_text() << "\n";
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << "p2pdist: " << one_line(e.what()) << " (see p2pdist --help)\n";
    return 2;
  }
  return std::nullopt;
}

int run(int argc, char** argv) {
  CLI::App app{"p2pdist: how long does it take to hand one file to N peers, client-server versus P2P?\n"
               "Sizes: 15Gbit, 2GB, 32MiB, 16KiB (bare numbers are bits). Rates: 30Mbps, 300kbps, 2MB/s,\n"
               "4MiB/s (bare numbers are bits/s). G, M, k are powers of ten; Gi, Mi, Ki powers of two.",
               "p2pdist"};
  app.require_subcommand(1);
  app.set_version_flag("--version", version_text());
  // Room for the longest option and its default (get's --metadata-timeout TEXT=60s) before
  // its description; subcommands inherit the formatter.
  app.get_formatter()->column_width(40);
  // Registered in this order, which the help keeps (a braced list is evaluated in order).
  const std::vector<command> commands{
      add_demo_command(app),
      add_bound_command(app),
      add_sweep_command(app),
      add_info_command(app),
      add_make_torrent_command(app),
      add_swarm_command(app),
      add_simulate_command(app),
      add_tracker_command(app),
      add_scrape_command(app),
      add_seed_command(app),
      add_get_command(app),
      add_serve_command(app),
  };
  reject_unknown_command(app, argc, argv);
  if (const auto exit_code = parse(app, argc, argv)) return *exit_code;
  for (const auto& c : commands)
    if (c.app->parsed()) return c.run();
  return 2;  // unreachable: require_subcommand(1)
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const usage_error& e) {
    std::cerr << "p2pdist: " << one_line(e.what()) << '\n';
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "p2pdist: error: out of memory (try smaller sizes or fewer peers)\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "p2pdist: error: " << one_line(e.what()) << '\n';
    return 1;
  } catch (...) {
    std::cerr << "p2pdist: error: unknown failure\n";
    return 1;
  }
}
