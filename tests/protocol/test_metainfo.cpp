#include "loopback/protocol/metainfo.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <catch2/catch.hpp>

#include "bytes.hpp"

#include "loopback/protocol/bencode.hpp"
#include "loopback/protocol/sha1.hpp"

namespace bt = p2pdist::bt;
using bt::metainfo_errc;

namespace {

namespace fs = std::filesystem;

fs::path test_data_dir() {
#ifdef P2PDIST_TEST_DATA
  return fs::path(P2PDIST_TEST_DATA);
#else
  return fs::path(__FILE__).parent_path() / "data";
#endif
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

using p2pdist::test::bytes_of;

std::string raw(const bt::sha1_digest& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

/// The deterministic content mktorrent hashed for tests/data/metainfo_mktorrent_100k.torrent:
/// byte i = (i*i + 3*i + 7) mod 251, written by the Python one-liner
///   bytes(((i*i + 3*i + 7) % 251) for i in range(100000))
/// into a file named metainfo_sample.bin.
std::string sample_data(std::size_t size_bytes) {
  std::string s(size_bytes, '\0');
  for (std::uint64_t i = 0; i < size_bytes; ++i) {
    s[i] = static_cast<char>((i * i + 3 * i + 7) % 251);
  }
  return s;
}

// tests/data/metainfo_mktorrent_100k.torrent was made with mktorrent 1.1 (Debian 12):
//   mktorrent -d -a http://127.0.0.1:6969/announce -l 15 -o OUT.torrent metainfo_sample.bin
// and its info-hash read with python3-libtorrent 2.0.8:
//   libtorrent.torrent_info('metainfo_mktorrent_100k.torrent').info_hash()
constexpr std::string_view mktorrent_info_hash = "e05ada7a8ce4cdbdb54b226f687cdb4db088bc97";
// The piece hashes, from Python's hashlib.sha1 over 32 KiB slices of the sample (they also
// match libtorrent's torrent_info.hash_for_piece(i)).
constexpr std::string_view mktorrent_piece_hashes[] = {
    "391c12731408c849213c25eb07e1f36c750e3dd2",
    "c242a7ff9187b0f54e5dfe3b46e6468e2497f979",
    "13167ec35902b9ba09efc05d0a638fb9244845a2",
    "d378914d6cf85a1f9bc28f44c9470fceed60ab4f",
};

/// A hand-written single-file torrent whose `info` holds exactly `info_body`.
std::string torrent_with_info(const std::string& info_body) {
  return "d8:announce3:url4:infod" + info_body + "ee";
}

const std::string one_hash(20, 'h');

/// A valid info body (sorted keys) for `length` bytes in 16 KiB pieces with `hashes`.
std::string info_body(const std::string& length, const std::string& hashes) {
  return "6:lengthi" + length + "e4:name5:a.bin12:piece lengthi16384e6:pieces" +
         std::to_string(hashes.size()) + ":" + hashes;
}

void check_error(const std::string& input, metainfo_errc code, std::size_t offset) {
  INFO("input: " << input);
  const auto r = bt::parse_metainfo(input);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == code);
  CHECK(r.error().offset == offset);
  CHECK(r.error().offset <= input.size());
}

}  // namespace

TEST_CASE("a torrent made by mktorrent parses with libtorrent's info-hash", "[metainfo]") {
  const auto file = slurp(test_data_dir() / "metainfo_mktorrent_100k.torrent");
  const auto r = bt::parse_metainfo(file);
  REQUIRE(r.has_value());
  const auto& m = *r;
  CHECK(m.announce == "http://127.0.0.1:6969/announce");
  CHECK(m.name == "metainfo_sample.bin");
  CHECK(m.piece_bytes == 32768);
  CHECK(m.total_bytes == 100000);
  REQUIRE(m.piece_count() == 4);  // ceil(100000 / 32768)
  CHECK(bt::to_hex(m.info_hash) == mktorrent_info_hash);
  for (std::uint32_t i = 0; i < 4; ++i) {
    CHECK(bt::to_hex(m.piece_hashes[i]) == mktorrent_piece_hashes[i]);
  }
  CHECK(m.piece_size(0) == 32768);
  CHECK(m.piece_size(2) == 32768);
  CHECK(m.piece_size(3) == 100000 - 3 * 32768);
  CHECK(m.piece_offset(3) == 3 * 32768);
}

TEST_CASE("creating from mktorrent's data reproduces mktorrent's info bytes", "[metainfo]") {
  const auto data = sample_data(100000);
  const auto made = bt::create_torrent(bytes_of(data), {.announce = "http://127.0.0.1:6969/announce",
                                                        .name = "metainfo_sample.bin",
                                                        .piece_bytes = 32768});
  const auto r = bt::parse_metainfo(made);
  REQUIRE(r.has_value());
  CHECK(bt::to_hex(r->info_hash) == mktorrent_info_hash);

  // The info dictionary is the bytes after "4:info" up to the file's final 'e', in both.
  const auto file = slurp(test_data_dir() / "metainfo_mktorrent_100k.torrent");
  auto info_of = [](const std::string& t) {
    const auto at = t.find("4:infod");
    REQUIRE(at != std::string::npos);
    return t.substr(at + 6, t.size() - (at + 6) - 1);
  };
  CHECK(info_of(made) == info_of(file));
}

TEST_CASE("create_torrent writes the expected bytes for a tiny file", "[metainfo]") {
  // Derived by hand from BEP 3: keys sorted, "http://t/announce" is 17 bytes long,
  // SHA-1("abc") = a9993e36... (FIPS 180-2).
  const auto abc_hash = bt::parse_hex_digest("a9993e364706816aba3e25717850c26c9cd0d89d");
  REQUIRE(abc_hash);
  const std::string expected = "d8:announce17:http://t/announce4:infod6:lengthi3e4:name5:a.txt"
                               "12:piece lengthi16384e6:pieces20:" +
                               raw(*abc_hash) + "ee";
  const auto made = bt::create_torrent(
      bytes_of("abc"), {.announce = "http://t/announce", .name = "a.txt", .piece_bytes = 16384});
  CHECK(made == expected);

  // Without an announce URL there is no announce key.
  const auto bare =
      bt::create_torrent(bytes_of("abc"), {.announce = "", .name = "a.txt", .piece_bytes = 16384});
  CHECK(bare == "d4:infod6:lengthi3e4:name5:a.txt12:piece lengthi16384e6:pieces20:" +
                    raw(*abc_hash) + "ee");
  const auto r = bt::parse_metainfo(bare);
  REQUIRE(r.has_value());
  CHECK(r->announce.empty());
}

TEST_CASE("create then parse: piece count, sizes and hashes", "[metainfo]") {
  const std::size_t size_bytes = GENERATE(1u, 16383u, 16384u, 16385u, 3u * 16384u, 100000u);
  const std::uint32_t piece_bytes = GENERATE(16384u, 32768u, 49152u);
  INFO("size " << size_bytes << " piece " << piece_bytes);
  const auto data = sample_data(size_bytes);
  const auto made = bt::create_torrent(
      bytes_of(data), {.announce = "http://x/announce", .name = "f", .piece_bytes = piece_bytes});
  const auto r = bt::parse_metainfo(made);
  REQUIRE(r.has_value());
  const auto& m = *r;
  CHECK(m.total_bytes == size_bytes);
  CHECK(m.piece_bytes == piece_bytes);
  CHECK(m.piece_count() == (size_bytes + piece_bytes - 1) / piece_bytes);
  std::uint64_t sum = 0;
  for (std::uint32_t i = 0; i < m.piece_count(); ++i) {
    const auto slice = std::string_view(data).substr(m.piece_offset(i), m.piece_size(i));
    CHECK(m.piece_hashes[i] == bt::sha1(slice));
    CHECK(m.piece_size(i) > 0);
    sum += m.piece_size(i);
  }
  CHECK(sum == size_bytes);
}

TEST_CASE("the info-hash is over the info bytes as they stand, not a re-encoding",
          "[metainfo]") {
  // Keys out of order and an unknown key: a canonical re-encoding would differ.
  const std::string info = "d6:pieces20:" + one_hash +
                           "4:name5:a.bin6:lengthi100e12:piece lengthi16384e7:privatei1ee";
  const std::string file = "d4:info" + info + "8:announce3:url7:comment2:hie";
  const auto r = bt::parse_metainfo(file);
  REQUIRE(r.has_value());
  CHECK(r->info_hash == bt::sha1(info));
  CHECK(r->announce == "url");
  CHECK(r->total_bytes == 100);

  const auto decoded = bt::bdecode(info);
  REQUIRE(decoded.has_value());
  const auto canonical = bt::bencode(*decoded);
  REQUIRE(canonical != info);
  CHECK(r->info_hash != bt::sha1(canonical));
}

TEST_CASE("unknown keys are ignored, and announce may be absent", "[metainfo]") {
  const auto r = bt::parse_metainfo("d4:infod" + info_body("5", one_hash) +
                                    "5:extrali1ei2eeee");
  REQUIRE(r.has_value());
  CHECK(r->announce.empty());
  CHECK(r->name == "a.bin");
}

TEST_CASE("bencode errors pass through with their own code and offset", "[metainfo]") {
  const auto good = torrent_with_info(info_body("5", one_hash));
  const std::string inputs[] = {
      "",
      "d8:announce",
      "d8:announcei03ee",
      "d8:announce3:url8:announce3:urle",
      good + "x",
      good.substr(0, good.size() - 1),
      "hello, not a torrent",
  };
  for (const auto& input : inputs) {
    INFO("input: " << input);
    const auto expected = bt::bdecode(input);
    REQUIRE_FALSE(expected.has_value());
    const auto r = bt::parse_metainfo(input);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == bt::from_bencode(expected.error().code));
    CHECK(bt::bencode_cause(r.error().code) == expected.error().code);
    CHECK(r.error().offset == expected.error().offset);
    CHECK(bt::describe(r.error()).rfind("bencode: ", 0) == 0);
  }
}

TEST_CASE("structural errors name the offending value's offset", "[metainfo]") {
  const std::string url = "d8:announce3:url";
  check_error("li1ee", metainfo_errc::not_a_dictionary, 0);
  check_error("4:spam", metainfo_errc::not_a_dictionary, 0);
  check_error("d8:announcei1e4:infod" + info_body("5", one_hash) + "ee",
              metainfo_errc::announce_not_string, 11);
  check_error(url + "e", metainfo_errc::missing_info, 0);
  check_error(url + "4:infoli1eee", metainfo_errc::info_not_dictionary, url.size() + 6);
  check_error(url + "4:info5:abcdee", metainfo_errc::info_not_dictionary, url.size() + 6);
}

TEST_CASE("a multi-file torrent made by mktorrent parses with libtorrent's layout and info-hash", "[metainfo]") {
  // tests/data/metainfo_mktorrent_multifile.torrent: mktorrent 1.1 of a directory "dir" that
  // holds a.txt (11 bytes) and sub/b.txt (31 bytes), 32 KiB pieces. python3-libtorrent
  // 2.0.8 reads it as dir/a.txt (11 bytes at 0) and dir/sub/b.txt (31 bytes at 11), with
  // info-hash 2e215b6f80a6cd7b49ab38dc902a6c59533818f4.
  const auto file = slurp(test_data_dir() / "metainfo_mktorrent_multifile.torrent");
  const auto r = bt::parse_metainfo(file);
  REQUIRE(r.has_value());
  CHECK(r->multi_file);
  CHECK(r->name == "dir");
  CHECK(r->total_bytes == 42);  // 11 + 31
  CHECK(r->piece_count() == 1);
  CHECK(r->piece_size(0) == 42);
  REQUIRE(r->files.size() == 2);
  CHECK(r->files[0] == bt::file_entry{.path = {"a.txt"}, .length = 11, .offset = 0});
  CHECK(r->files[1] == bt::file_entry{.path = {"sub", "b.txt"}, .length = 31, .offset = 11});
  CHECK(r->files[1].joined() == "sub/b.txt");
  CHECK(bt::to_hex(r->info_hash) == "2e215b6f80a6cd7b49ab38dc902a6c59533818f4");
}

TEST_CASE("a single-file torrent lists its one file under the torrent's name", "[metainfo]") {
  const auto r = bt::parse_metainfo(torrent_with_info(info_body("16385", one_hash + one_hash)));
  REQUIRE(r.has_value());
  CHECK_FALSE(r->multi_file);
  REQUIRE(r->files.size() == 1);
  CHECK(r->files[0] == bt::file_entry{.path = {"a.bin"}, .length = 16385, .offset = 0});
}

namespace {

/// A multi-file torrent whose `files` value is `files` (one 16 KiB piece hash for
/// `pieces` pieces).
std::string multi(const std::string& files, int pieces = 1) {
  std::string hashes;
  for (int i = 0; i < pieces; ++i) hashes += one_hash;
  return torrent_with_info("5:files" + files + "4:name3:dir12:piece lengthi16384e6:pieces" +
                           std::to_string(hashes.size()) + ":" + hashes);
}

/// One entry of a files list: d6:lengthi<n>e4:pathl<components>ee.
std::string entry(const std::string& length, const std::vector<std::string>& path) {
  std::string p = "l";
  for (const auto& c : path) p += std::to_string(c.size()) + ":" + c;
  return "d6:lengthi" + length + "e4:path" + p + "ee";
}

}  // namespace

TEST_CASE("multi-file layouts: offsets run on across files, empty files included", "[metainfo]") {
  // 3 files of 10000, 0 and 10000 bytes: 20000 bytes, ceil(20000 / 16384) = 2 pieces; the
  // third file starts at 10000 + 0 = 10000 and piece 1 (bytes 16384..19999) lies in it.
  const auto r = bt::parse_metainfo(
      multi("l" + entry("10000", {"a"}) + entry("0", {"e", "empty"}) + entry("10000", {"z", "b"}) + "e", 2));
  REQUIRE(r.has_value());
  CHECK(r->total_bytes == 20000);
  REQUIRE(r->files.size() == 3);
  CHECK(r->files[1].offset == 10000);
  CHECK(r->files[1].length == 0);
  CHECK(r->files[2].offset == 10000);
  CHECK(r->piece_size(1) == 20000 - 16384);
}

TEST_CASE("multi-file errors name the offending value", "[metainfo]") {
  const std::string files_at_prefix = "d8:announce3:url4:infod5:files";
  const std::size_t files_at = files_at_prefix.size();
  SECTION("files not a list, or empty") {
    check_error(multi("i1e"), metainfo_errc::files_not_list, files_at);
    check_error(multi("le"), metainfo_errc::files_not_list, files_at);
  }
  SECTION("an entry that is not a dictionary") {
    check_error(multi("li1ee"), metainfo_errc::file_not_dictionary, files_at + 1);
  }
  SECTION("length missing, negative or not an integer") {
    check_error(multi("ld4:pathl1:aeee"), metainfo_errc::bad_file_length, files_at + 1);
    const auto neg = multi("l" + entry("-1", {"a"}) + "e");
    check_error(neg, metainfo_errc::bad_file_length, neg.find("6:length") + 8);
    const auto text = multi("ld6:length1:54:pathl1:aeee");
    check_error(text, metainfo_errc::bad_file_length, text.find("6:length") + 8);
  }
  SECTION("path missing, empty, or holding a non-string") {
    check_error(multi("ld6:lengthi1eee"), metainfo_errc::bad_file_path, files_at + 1);
    const auto empty = multi("ld6:lengthi1e4:pathleee");
    check_error(empty, metainfo_errc::bad_file_path, empty.find("4:path") + 6);
    const auto number = multi("ld6:lengthi1e4:pathli7eeee");
    check_error(number, metainfo_errc::bad_file_path, number.find("4:path") + 7);
  }
  SECTION("a component that would escape the directory") {
    for (const std::string bad : {"..", ".", "", "a/b", "a\\b"}) {
      const auto t = multi("l" + entry("1", {"ok", bad}) + "e");
      check_error(t, metainfo_errc::unsafe_path, t.find("2:ok") + 4);
    }
  }
  SECTION("two files at the same path") {
    const auto t = multi("l" + entry("1", {"d", "a"}) + entry("1", {"d", "a"}) + "e");
    check_error(t, metainfo_errc::duplicate_path, t.rfind("4:path") + 6);
  }
  SECTION("a file whose path is another's directory, in either order") {
    const auto t1 = multi("l" + entry("1", {"d"}) + entry("1", {"d", "a"}) + "e");
    check_error(t1, metainfo_errc::path_conflict, t1.rfind("4:path") + 6);
    const auto t2 = multi("l" + entry("1", {"d", "a", "x"}) + entry("1", {"d", "a"}) + "e");
    check_error(t2, metainfo_errc::path_conflict, t2.find("4:path") + 6);
  }
  SECTION("both length and files") {
    const auto t = torrent_with_info("5:files" + ("l" + entry("1", {"a"}) + "e") +
                                     "6:lengthi1e4:name3:dir12:piece lengthi16384e6:pieces20:" + one_hash);
    check_error(t, metainfo_errc::length_and_files, t.find("6:length", t.find("e6:length") ) + 8);
  }
  SECTION("every file empty: nothing to share") {
    check_error(multi("l" + entry("0", {"a"}) + "e", 0), metainfo_errc::bad_length, files_at);
  }
  SECTION("lengths that add up past 2^62") {
    // 2^61 + 2^61 = 2^62 is still accepted by the sum check (and then fails the piece count);
    // one byte more is refused at the file that crosses the limit.
    const auto t = multi("l" + entry("2305843009213693952", {"a"}) + entry("2305843009213693953", {"b"}) + "e");
    check_error(t, metainfo_errc::files_too_large, t.rfind("6:length") + 8);
  }
}

TEST_CASE("case_collisions pairs paths that differ only in letter case", "[metainfo]") {
  const auto r = bt::parse_metainfo(
      multi("l" + entry("1", {"Doc", "A.txt"}) + entry("1", {"doc", "a.txt"}) + entry("1", {"b"}) + "e"));
  REQUIRE(r.has_value());
  const auto pairs = bt::case_collisions(*r);
  REQUIRE(pairs.size() == 1);
  CHECK(pairs[0] == std::pair<std::size_t, std::size_t>{0, 1});
}

TEST_CASE("create_torrent writes a multi-file torrent that parses back to the same layout", "[metainfo]") {
  const std::string text_data(20000, 'x');
  const auto data = bytes_of(text_data);
  const std::vector<bt::file_entry> files = {{.path = {"a"}, .length = 10000},
                                             {.path = {"e", "empty"}, .length = 0},
                                             {.path = {"z", "b"}, .length = 10000}};
  const auto text = bt::create_torrent(data, {.announce = "u", .name = "dir", .piece_bytes = 16384, .files = files});
  CHECK(text.find("5:filesld6:lengthi10000e4:pathl1:aeed6:lengthi0e4:pathl1:e5:emptyee") != std::string::npos);
  CHECK(text.find("6:length", text.find("5:files") + 200) == std::string::npos);  // no top-level length
  const auto r = bt::parse_metainfo(text);
  REQUIRE(r.has_value());
  CHECK(r->multi_file);
  REQUIRE(r->files.size() == 3);
  CHECK(r->files[2] == bt::file_entry{.path = {"z", "b"}, .length = 10000, .offset = 10000});
  // The piece hashes are those of the data, whatever the files: piece 1 is 3616 bytes of 'x'.
  const std::string last_piece(3616, 'x');
  CHECK(r->piece_hashes[1] == bt::sha1(bytes_of(last_piece)));

  SECTION("files that do not add up, or break the path rules, are refused") {
    auto short_files = files;
    short_files[2].length = 9999;
    CHECK_THROWS_AS(bt::create_torrent(data, {.name = "dir", .files = short_files}), std::invalid_argument);
    auto dup = files;
    dup[2].path = {"a"};
    CHECK_THROWS_AS(bt::create_torrent(data, {.name = "dir", .files = dup}), std::invalid_argument);
    auto unsafe = files;
    unsafe[0].path = {".."};
    CHECK_THROWS_AS(bt::create_torrent(data, {.name = "dir", .files = unsafe}), std::invalid_argument);
  }
}

TEST_CASE("missing or mistyped info fields", "[metainfo]") {
  // The info dictionary starts right after "d8:announce3:url4:info".
  const std::size_t info_at = std::string("d8:announce3:url4:info").size();
  const std::string pieces = "6:pieces20:" + one_hash;
  const std::string plen = "12:piece lengthi16384e";

  check_error(torrent_with_info("6:lengthi5e" + plen + pieces), metainfo_errc::missing_name,
              info_at);
  check_error(torrent_with_info("6:lengthi5e4:name5:a.bin" + pieces),
              metainfo_errc::missing_piece_length, info_at);
  check_error(torrent_with_info("6:lengthi5e4:name5:a.bin" + plen), metainfo_errc::missing_pieces,
              info_at);
  check_error(torrent_with_info("4:name5:a.bin" + plen + pieces), metainfo_errc::missing_length,
              info_at);

  auto at = [](const std::string& input, const std::string& marker) {
    const auto p = input.find(marker);
    REQUIRE(p != std::string::npos);
    return p;
  };
  {
    const auto t = torrent_with_info("6:lengthi5e4:nameli1ee" + plen + pieces);
    check_error(t, metainfo_errc::name_not_string, at(t, "li1ee"));
  }
  {
    const auto t = torrent_with_info("6:lengthi5e4:name5:a.bin12:piece length5:16384" + pieces);
    check_error(t, metainfo_errc::piece_length_not_integer, at(t, "5:16384"));
  }
  {
    const auto t = torrent_with_info("6:lengthi5e4:name5:a.bin" + plen + "6:piecesi20e");
    check_error(t, metainfo_errc::pieces_not_string, at(t, "i20e"));
  }
  {
    const auto t = torrent_with_info("6:length1:54:name5:a.bin" + plen + pieces);
    check_error(t, metainfo_errc::length_not_integer, at(t, "1:5"));
  }
}

TEST_CASE("names that are empty or escape the directory are refused", "[metainfo]") {
  const std::size_t name_at = std::string("d8:announce3:url4:infod6:lengthi5e4:name").size();
  check_error(torrent_with_info("6:lengthi5e4:name0:12:piece lengthi16384e6:pieces20:" + one_hash),
              metainfo_errc::empty_name, name_at);
  const std::string bad_names[] = {".", "..", "a/b", "/etc", "../x", "a\\b", std::string("a\0b", 3)};
  for (const auto& name : bad_names) {
    const auto t = torrent_with_info("6:lengthi5e4:name" + std::to_string(name.size()) + ":" +
                                     name + "12:piece lengthi16384e6:pieces20:" + one_hash);
    check_error(t, metainfo_errc::unsafe_name, name_at);
    CHECK_FALSE(bt::is_safe_name(name));
  }
  CHECK(bt::is_safe_name("a"));
  CHECK(bt::is_safe_name("..a"));
  CHECK(bt::is_safe_name("file name with spaces.iso"));
}

TEST_CASE("piece length must be a multiple of 16 KiB from 16 KiB to 64 MiB", "[metainfo]") {
  auto torrent = [](const std::string& plen, std::size_t hashes) {
    return torrent_with_info("6:lengthi1e4:name5:a.bin12:piece lengthi" + plen + "e6:pieces" +
                             std::to_string(20 * hashes) + ":" + std::string(20 * hashes, 'h'));
  };
  const std::size_t plen_at =
      std::string("d8:announce3:url4:infod6:lengthi1e4:name5:a.bin12:piece length").size();
  for (const std::string plen : {"0", "-16384", "1000", "8192", "16385", "16383", "67125248",
                                 "134217728", "1099511627776", "9223372036854775807"}) {
    INFO("piece length " << plen);
    check_error(torrent(plen, 1), metainfo_errc::bad_piece_length, plen_at);
  }
  for (const std::string plen : {"16384", "32768", "49152", "262144", "67108864"}) {
    INFO("piece length " << plen);
    const auto r = bt::parse_metainfo(torrent(plen, 1));
    REQUIRE(r.has_value());
    CHECK(std::to_string(r->piece_bytes) == plen);
  }
  STATIC_REQUIRE(bt::is_valid_piece_bytes(16 * 1024));
  STATIC_REQUIRE(bt::is_valid_piece_bytes(64u << 20));
  STATIC_REQUIRE_FALSE(bt::is_valid_piece_bytes((64u << 20) + 16 * 1024));
  STATIC_REQUIRE_FALSE(bt::is_valid_piece_bytes(0));
}

TEST_CASE("length must be positive and match the number of hashes", "[metainfo]") {
  const std::size_t length_at = std::string("d8:announce3:url4:infod6:length").size();
  check_error(torrent_with_info(info_body("0", "")), metainfo_errc::bad_length, length_at);
  check_error(torrent_with_info(info_body("-5", one_hash)), metainfo_errc::bad_length, length_at);

  struct mismatch {
    std::string length;
    std::string hashes;
  };
  const mismatch cases[] = {
      {"1", ""},                                // needs 1 hash
      {"16384", one_hash + one_hash},           // needs 1 hash
      {"16385", one_hash},                      // needs 2 hashes
      {"9223372036854775807", one_hash},        // absurd length: needs 2^49 hashes
  };
  for (const auto& c : cases) {
    const auto t = torrent_with_info(info_body(c.length, c.hashes));
    const auto pieces_at = t.find("6:pieces") + 8;
    check_error(t, metainfo_errc::piece_count_mismatch, pieces_at);
  }
  for (std::size_t n : {1u, 19u, 21u, 39u}) {
    const auto t = torrent_with_info(info_body("5", std::string(n, 'h')));
    check_error(t, metainfo_errc::pieces_not_multiple_of_20, t.find("6:pieces") + 8);
  }
  const auto ok = bt::parse_metainfo(torrent_with_info(info_body("16385", one_hash + one_hash)));
  REQUIRE(ok.has_value());
  CHECK(ok->piece_size(1) == 1);
}

TEST_CASE("every truncation and many one-byte changes of a real torrent are handled",
          "[metainfo]") {
  const auto file = slurp(test_data_dir() / "metainfo_mktorrent_100k.torrent");
  for (std::size_t n = 0; n < file.size(); ++n) {
    const auto r = bt::parse_metainfo(std::string_view(file).substr(0, n));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().offset <= n);
  }
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < file.size(); ++i) {
    for (char c : {'0', '9', 'e', 'd', ':', '\0', '\xff'}) {
      auto mutated = file;
      mutated[i] = c;
      const auto r = bt::parse_metainfo(mutated);
      if (!r) {
        CHECK(r.error().offset <= mutated.size());
        continue;
      }
      ++accepted;  // e.g. a changed byte inside a hash or the URL: still consistent
      CHECK(r->piece_count() == (r->total_bytes + r->piece_bytes - 1) / r->piece_bytes);
      CHECK(bt::is_safe_name(r->name));
    }
  }
  CHECK(accepted > 0);
}

TEST_CASE("describe gives one line with the offset", "[metainfo]") {
  const bt::metainfo_error e{.code = metainfo_errc::pieces_not_multiple_of_20, .offset = 123};
  CHECK(bt::describe(e) == "pieces is not a multiple of 20 bytes at byte 123");
  const bt::metainfo_error b{.code = bt::from_bencode(bt::bencode_errc::leading_zero),
                             .offset = 17};
  CHECK(bt::describe(b) == "bencode: " + std::string(bt::to_string(bt::bencode_errc::leading_zero)) +
                               " at byte 17");
  CHECK_FALSE(bt::bencode_cause(metainfo_errc::piece_count_mismatch).has_value());
  CHECK(bt::bencode_cause(bt::from_bencode(bt::bencode_errc::trailing_data)) ==
        bt::bencode_errc::trailing_data);
}

TEST_CASE("create_torrent refuses empty data, unsafe names and bad piece sizes", "[metainfo]") {
  const auto data = bytes_of("abc");
  CHECK_THROWS_AS(bt::create_torrent({}, {.announce = "u", .name = "a"}), std::invalid_argument);
  CHECK_THROWS_AS(bt::create_torrent(data, {.announce = "u", .name = ""}), std::invalid_argument);
  CHECK_THROWS_AS(bt::create_torrent(data, {.announce = "u", .name = "../a"}),
                  std::invalid_argument);
  CHECK_THROWS_AS(bt::create_torrent(data, {.announce = "u", .name = "a", .piece_bytes = 1000}),
                  std::invalid_argument);
  CHECK_THROWS_AS(bt::create_torrent(data, {.announce = "u", .name = "a", .piece_bytes = 0}),
                  std::invalid_argument);
  const auto r = bt::parse_metainfo(bt::create_torrent(data, {.announce = "u", .name = "a"}));
  REQUIRE(r.has_value());
  CHECK(r->piece_bytes == 256 * 1024);  // the default
}

namespace {

/// A temporary directory removed at scope exit.
struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::temp_directory_path() /
           ("p2pdist-test-metainfo-" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("create_torrent_from_file equals create_torrent on the same bytes", "[metainfo]") {
  temp_dir dir;
  const auto path = dir.path / "sample file.bin";
  const auto data = sample_data(5'000'000);
  {
    std::ofstream out(path, std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  // 2 MiB pieces are read through a smaller buffer; 16 KiB pieces through one piece each.
  for (std::uint32_t piece_bytes : {16384u, 262144u, 2u << 20}) {
    INFO("piece " << piece_bytes);
    const auto from_file =
        bt::create_torrent_from_file(path, {.announce = "http://a/announce", .piece_bytes = piece_bytes});
    const auto from_buffer = bt::create_torrent(
        bytes_of(data),
        {.announce = "http://a/announce", .name = "sample file.bin", .piece_bytes = piece_bytes});
    CHECK(from_file == from_buffer);
  }
  const auto named = bt::parse_metainfo(
      bt::create_torrent_from_file(path, {.announce = "u", .name = "other.bin"}));
  REQUIRE(named.has_value());
  CHECK(named->name == "other.bin");
}

TEST_CASE("create_torrent_from_file reports I/O failures naming the file", "[metainfo]") {
  temp_dir dir;
  const auto missing = dir.path / "no-such-file";
  try {
    (void)bt::create_torrent_from_file(missing, {.announce = "u"});
    FAIL("no exception");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::no_such_file_or_directory);
    CHECK(std::string(e.what()).find(missing.string()) != std::string::npos);
  }
  // A directory opens but cannot be read.
  CHECK_THROWS_AS(bt::create_torrent_from_file(dir.path, {.announce = "u", .name = "d"}),
                  std::system_error);

  const auto empty = dir.path / "empty";
  std::ofstream(empty).close();
  CHECK_THROWS_AS(bt::create_torrent_from_file(empty, {.announce = "u"}), std::invalid_argument);
}
