// `p2pdist info` and `p2pdist make-torrent`, run as a user runs them.

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "cli_runner.hpp"

namespace {

namespace fs = std::filesystem;
using p2pdist::test::run_p2pdist;
using p2pdist::test::scratch_dir;

const fs::path data_dir = P2PDIST_TEST_DATA;
const std::string mktorrent_100k = (data_dir / "metainfo_mktorrent_100k.torrent").string();
// Read from the file with python3-libtorrent 2.0.8 (see tests/test_metainfo.cpp).
const std::string mktorrent_100k_hash = "e05ada7a8ce4cdbdb54b226f687cdb4db088bc97";

std::string slurp_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::size_t count_lines(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += (c == '\n');
  return n;
}

/// A malformed input gives exit 1 and exactly one line: "p2pdist: PATH: ... at byte N".
void check_malformed(const std::string& path, std::size_t offset) {
  const auto r = run_p2pdist({"info", path});
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.out.empty());
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.rfind("p2pdist: " + path + ": ", 0) == 0);
  const std::string tail = " at byte " + std::to_string(offset) + "\n";
  CHECK(r.err.size() >= tail.size());
  CHECK(r.err.substr(r.err.size() - std::min(tail.size(), r.err.size())) == tail);
}

/// The sample file mktorrent hashed: byte i = (i*i + 3*i + 7) mod 251 (see test_metainfo).
std::string sample_data(std::size_t size_bytes) {
  std::string s(size_bytes, '\0');
  for (std::uint64_t i = 0; i < size_bytes; ++i) {
    s[i] = static_cast<char>((i * i + 3 * i + 7) % 251);
  }
  return s;
}

}  // namespace

TEST_CASE("info prints name, size, piece length, pieces and info-hash", "[cli][info]") {
  const auto r = run_p2pdist({"info", mktorrent_100k});
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty());
  CHECK(r.out.find("metainfo_sample.bin") != std::string::npos);
  CHECK(r.out.find("100000 bytes") != std::string::npos);
  CHECK(r.out.find("32768 bytes") != std::string::npos);
  CHECK(r.out.find("pieces:       4\n") != std::string::npos);  // ceil(100000 / 32768)
  CHECK(r.out.find(mktorrent_100k_hash) != std::string::npos);
  CHECK(r.out.find("http://127.0.0.1:6969/announce") != std::string::npos);
}

TEST_CASE("info --json - writes only JSON to stdout", "[cli][info]") {
  const auto r = run_p2pdist({"info", "--json", "-", mktorrent_100k});
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);  // throws (test fails) on anything but JSON
  CHECK(j.at("name") == "metainfo_sample.bin");
  CHECK(j.at("total_bytes") == 100000);
  CHECK(j.at("piece_bytes") == 32768);
  CHECK(j.at("pieces") == 4);
  CHECK(j.at("info_hash") == mktorrent_100k_hash);
  CHECK(j.at("announce") == "http://127.0.0.1:6969/announce");
}

TEST_CASE("info --json FILE writes the file and still prints the table", "[cli][info]") {
  scratch_dir dir("json");
  const auto json_path = (dir.path() / "info.json").string();
  const auto r = run_p2pdist({"info", mktorrent_100k, "--json", json_path});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find(mktorrent_100k_hash) != std::string::npos);
  const auto j = nlohmann::json::parse(slurp_file(json_path));
  CHECK(j.at("info_hash") == mktorrent_100k_hash);
  CHECK(j.at("pieces") == 4);
}

TEST_CASE("info on malformed files exits 1 with one line naming the offset", "[cli][info]") {
  scratch_dir dir("bad");
  const auto good = slurp_file(mktorrent_100k);
  REQUIRE(good.size() > 100);

  SECTION("truncated before the final 'e': the input ends, offset = its size") {
    const auto path = (dir.path() / "truncated.torrent").string();
    write_file(path, good.substr(0, good.size() - 1));
    check_malformed(path, good.size() - 1);
  }
  SECTION("garbage text: the first byte cannot start a value") {
    const auto path = (dir.path() / "garbage.torrent").string();
    write_file(path, "hello, this is not a torrent\n");
    check_malformed(path, 0);
  }
  SECTION("empty file: the input ends at byte 0") {
    const auto path = (dir.path() / "empty.torrent").string();
    write_file(path, "");
    check_malformed(path, 0);
  }
  SECTION("a multi-file torrent whose path climbs out: the offset of the component") {
    const std::string t = "d4:infod5:filesld6:lengthi5e4:pathl2:..1:aeee4:name1:d12:piece lengthi16384e"
                          "6:pieces20:" + std::string(20, 'h') + "ee";
    const auto path = (dir.path() / "climb.torrent").string();
    write_file(path, t);
    check_malformed(path, t.find("2:.."));
  }
  SECTION("pieces of 39 bytes: the offset of the pieces string") {
    const std::string t = "d8:announce3:url4:infod6:lengthi5e4:name1:a12:piece lengthi16384e"
                          "6:pieces39:" + std::string(39, 'h') + "ee";
    const auto path = (dir.path() / "pieces39.torrent").string();
    write_file(path, t);
    check_malformed(path, t.find("6:pieces") + 8);
  }
  SECTION("a name escaping the directory") {
    const std::string t = "d4:infod6:lengthi5e4:name5:../ab12:piece lengthi16384e6:pieces20:" +
                          std::string(20, 'h') + "ee";
    const auto path = (dir.path() / "escape.torrent").string();
    write_file(path, t);
    check_malformed(path, t.find("5:../ab"));
  }
  SECTION("binary junk (not a dictionary)") {
    std::string junk;
    for (int i = 0; i < 4096; ++i) junk += static_cast<char>((i * 37 + 11) % 256);
    const auto path = (dir.path() / "junk.torrent").string();
    write_file(path, junk);
    const auto r = run_p2pdist({"info", path});
    CHECK(r.exit_code == 1);
    CHECK(count_lines(r.err) == 1);
    CHECK(r.err.find(" at byte ") != std::string::npos);
  }
}

TEST_CASE("info on a missing or unreadable file exits 1 naming it", "[cli][info]") {
  scratch_dir dir("missing");
  const auto missing = (dir.path() / "no-such.torrent").string();
  auto r = run_p2pdist({"info", missing});
  CHECK(r.exit_code == 1);
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.find(missing) != std::string::npos);
  CHECK(r.err.find("No such file or directory") != std::string::npos);

  r = run_p2pdist({"info", dir.path().string()});
  CHECK(r.exit_code == 1);
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.find(dir.path().string()) != std::string::npos);
}

TEST_CASE("info without a file is a usage error", "[cli][info]") {
  const auto r = run_p2pdist({"info"});
  CHECK(r.exit_code == 2);
  CHECK(count_lines(r.err) == 1);
}

TEST_CASE("make-torrent reproduces mktorrent's info-hash for the same file", "[cli][make-torrent]") {
  scratch_dir dir("make");
  const auto data_path = dir.path() / "metainfo_sample.bin";
  write_file(data_path, sample_data(100000));
  const auto out = (dir.path() / "made.torrent").string();
  const auto r = run_p2pdist({"make-torrent", data_path.string(), "--announce",
                              "http://127.0.0.1:6969/announce", "-o", out, "--piece-size", "32KiB"});
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find(mktorrent_100k_hash) != std::string::npos);
  REQUIRE(fs::exists(out));

  const auto info = run_p2pdist({"info", "--json", "-", out});
  REQUIRE(info.exit_code == 0);
  const auto j = nlohmann::json::parse(info.out);
  CHECK(j.at("info_hash") == mktorrent_100k_hash);
  CHECK(j.at("name") == "metainfo_sample.bin");
  CHECK(j.at("pieces") == 4);

  // Only the torrent and the data are left: the temporary file was renamed away.
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 2);
}

TEST_CASE("make-torrent --name and the default piece size", "[cli][make-torrent]") {
  scratch_dir dir("name");
  const auto data_path = dir.path() / "data.bin";
  write_file(data_path, sample_data(300000));
  const auto out = (dir.path() / "named.torrent").string();
  const auto r = run_p2pdist({"make-torrent", data_path.string(), "--announce", "http://t/announce",
                              "-o", out, "--name", "renamed.bin"});
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  const auto info = run_p2pdist({"info", "--json", "-", out});
  REQUIRE(info.exit_code == 0);
  const auto j = nlohmann::json::parse(info.out);
  CHECK(j.at("name") == "renamed.bin");
  CHECK(j.at("piece_bytes") == 262144);
  CHECK(j.at("pieces") == 2);  // ceil(300000 / 262144)
  CHECK(j.at("total_bytes") == 300000);
}

TEST_CASE("make-torrent failures: missing input, bad piece size, unwritable output",
          "[cli][make-torrent]") {
  scratch_dir dir("makefail");
  const auto data_path = (dir.path() / "d.bin").string();
  write_file(data_path, sample_data(1000));
  const auto out = (dir.path() / "x.torrent").string();

  auto r = run_p2pdist({"make-torrent", (dir.path() / "nope").string(), "--announce", "http://t/announce",
                        "-o", out});
  CHECK(r.exit_code == 1);
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.find((dir.path() / "nope").string()) != std::string::npos);
  CHECK_FALSE(fs::exists(out));

  r = run_p2pdist({"make-torrent", data_path, "--announce", "http://t/announce", "-o", out,
                   "--piece-size", "20KiB"});  // not a multiple of 16 KiB
  CHECK(r.exit_code == 2);
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.find("--piece-size") != std::string::npos);
  CHECK_FALSE(fs::exists(out));

  r = run_p2pdist({"make-torrent", data_path, "--announce", "http://t/announce", "-o", out,
                   "--name", "../evil"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--name") != std::string::npos);

  const auto unwritable = (dir.path() / "no-such-dir" / "x.torrent").string();
  r = run_p2pdist({"make-torrent", data_path, "--announce", "http://t/announce", "-o", unwritable});
  CHECK(r.exit_code == 1);
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.find(unwritable) != std::string::npos);

  const auto empty = (dir.path() / "empty.bin").string();
  write_file(empty, "");
  r = run_p2pdist({"make-torrent", empty, "--announce", "http://t/announce", "-o", out});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("empty") != std::string::npos);
  CHECK_FALSE(fs::exists(out));
}
