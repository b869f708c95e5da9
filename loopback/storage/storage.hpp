#pragma once
// storage: where a torrent's bytes live, in memory (the harness) or in a file (real use).
// File I/O only: no socket, no clock, no thread.
//
// A download to OUT is written to OUT.part and renamed to OUT by finalize() once every
// piece is verified, so that a crash never leaves a half file under the real name;
// reopening an existing OUT.part keeps its bytes, and verify_pieces() finds which pieces
// are already good (resume). A multi-file torrent's download goes to a directory OUT,
// each file F of it to OUT/F.part, each renamed by finalize() once the whole is verified:
// every file appears whole, under its name, or not at all.
//
// Threading: a storage is not thread-safe; the client calls it from its own strand only.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "loopback/protocol/bitfield.hpp"
#include "loopback/protocol/metainfo.hpp"

namespace p2pdist::bt {

/// The bytes of one torrent: a flat array of size_bytes() bytes.
class storage {
 public:
  virtual ~storage() = default;
  storage() = default;
  storage(const storage&) = delete;
  storage& operator=(const storage&) = delete;

  /// Size of the torrent's data, bytes.
  [[nodiscard]] virtual std::uint64_t size_bytes() const noexcept = 0;
  /// Reads out.size() bytes from `offset`. Precondition: offset + out.size() <= size_bytes()
  /// (else std::out_of_range). I/O errors: std::system_error naming the file.
  virtual void read(std::uint64_t offset, std::span<std::byte> out) = 0;
  /// Writes data at `offset`. Same precondition; std::system_error on an I/O error or when
  /// the storage is read-only.
  virtual void write(std::uint64_t offset, std::span<const std::byte> data) = 0;
  /// Pushes written bytes to stable storage (no-op in memory). std::system_error on failure.
  virtual void flush() {}
  /// Called once the whole torrent is verified: a download file is flushed and renamed
  /// from OUT.part to OUT (no-op in memory and for seeds). Idempotent. std::system_error.
  virtual void finalize() {}
  /// The whole data as one writable array when it lives in memory (the client then reads
  /// and writes blocks in place, without copies); empty for files. Valid as long as the
  /// storage lives.
  [[nodiscard]] virtual std::span<std::byte> memory() noexcept { return {}; }
  /// False when write() always fails (a seed's file opened read-only).
  [[nodiscard]] virtual bool writable() const noexcept { return true; }
};

/// A storage in memory.
class memory_storage final : public storage {
 public:
  /// `size_bytes` zero bytes.
  explicit memory_storage(std::uint64_t size_bytes);
  /// Takes the bytes of `data` (e.g. a seed's file).
  explicit memory_storage(std::vector<std::byte> data);

  std::uint64_t size_bytes() const noexcept override { return data_.size(); }
  void read(std::uint64_t offset, std::span<std::byte> out) override;
  void write(std::uint64_t offset, std::span<const std::byte> data) override;
  std::span<std::byte> memory() noexcept override { return data_; }
  /// The bytes, for checks.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return data_; }

 private:
  std::vector<std::byte> data_;
};

/// `size_bytes` zero bytes in memory (a leecher in the harness).
std::shared_ptr<memory_storage> make_memory_storage(std::uint64_t size_bytes);
/// The given bytes in memory (a seed in the harness).
std::shared_ptr<memory_storage> make_memory_storage(std::vector<std::byte> data);

/// A storage in one file (a single-file torrent) or several laid end to end (a multi-file
/// torrent, whose pieces may span files), read with pread and written with pwrite. Files
/// are opened when first needed and at most max_open_files stay open, so that a torrent of
/// many files does not run out of descriptors.
class file_storage final : public storage {
 public:
  /// One file of the storage.
  struct file {
    std::filesystem::path current;     ///< where its bytes are now (FILE.part before finalize())
    std::filesystem::path final_path;  ///< where they go once complete
    std::uint64_t offset = 0;          ///< of its first byte in the torrent's data
    std::uint64_t length = 0;
  };
  /// Descriptors kept open at most.
  static constexpr std::size_t max_open_files = 64;

  ~file_storage() override;

  std::uint64_t size_bytes() const noexcept override { return size_bytes_; }
  void read(std::uint64_t offset, std::span<std::byte> out) override;
  void write(std::uint64_t offset, std::span<const std::byte> data) override;
  void flush() override;
  void finalize() override;
  bool writable() const noexcept override { return writable_; }

  /// The files, in the torrent's order.
  [[nodiscard]] const std::vector<file>& files() const noexcept { return files_; }
  /// The (first) file the bytes are in now: OUT.part before finalize(), OUT after (or the
  /// seed's file).
  [[nodiscard]] const std::filesystem::path& current_path() const noexcept { return files_.front().current; }
  /// The name the (first) file gets once complete: OUT (the seed's file for a seed).
  [[nodiscard]] const std::filesystem::path& final_path() const noexcept { return files_.front().final_path; }
  /// finalize() has renamed every file (always true for a seed).
  [[nodiscard]] bool finalized() const noexcept { return finalized_; }

 private:
  friend std::shared_ptr<file_storage> open_seed_file(const std::filesystem::path&, const metainfo&);
  friend std::shared_ptr<file_storage> open_download_file(const std::filesystem::path&,
                                                          const metainfo&);
  file_storage(std::vector<file> files, bool writable);
  /// The descriptor of file `i`, opened (and another closed) if need be.
  int descriptor(std::size_t i);
  void close_all() noexcept;
  /// Calls op(file index, offset in that file, first byte of the range, bytes) for each
  /// file that [offset, offset + bytes) covers, in order.
  template <class Op>
  void each_piece_of(std::uint64_t offset, std::size_t bytes, Op&& op);

  std::vector<file> files_;
  std::vector<int> fds_;                 // per file, -1 when closed
  std::vector<bool> dirty_;              // per file: written since the last flush
  std::vector<std::size_t> open_order_;  // open files, the oldest first
  std::uint64_t size_bytes_ = 0;
  bool writable_ = false;
  bool finalized_ = false;
};

/// The path of the partial file for a download to `out_path`: OUT.part.
std::filesystem::path part_path_for(const std::filesystem::path& out_path);

/// Where each of the torrent's files lives under `path`: `path` itself for a single-file
/// torrent, path/<components> for a multi-file one.
std::vector<std::filesystem::path> file_paths(const std::filesystem::path& path, const metainfo& torrent);

/// Opens a seed's complete data read-only: the file at `path` (single-file torrent) or the
/// torrent's files below the directory `path` (multi-file). Throws std::system_error naming
/// the file when one cannot be opened, or (errc::invalid_argument) when its size is not the
/// torrent's.
std::shared_ptr<file_storage> open_seed_file(const std::filesystem::path& path,
                                             const metainfo& torrent);

/// Creates, or reopens for resuming, OUT.part at the torrent's full size (a longer file is
/// cut, a shorter one extended with zeros); for a multi-file torrent OUT is a directory
/// (created if need be) and every file F of the torrent gets OUT/F.part, its directories
/// created below OUT. Nothing is ever written under a final name until finalize() renames
/// each .part to it. A directory below OUT that is a symbolic link or not a directory is
/// refused (errc::not_a_directory), and .part files are opened without following a link,
/// so that no byte lands outside OUT. Throws std::system_error naming the path.
std::shared_ptr<file_storage> open_download_file(const std::filesystem::path& out_path,
                                                 const metainfo& torrent);

/// One file of a directory to share: its path below the directory and its size.
struct listed_file {
  std::vector<std::string> path;
  std::uint64_t length = 0;
};

/// The regular files below `dir`, at any depth, sorted by path ("a/b" joined with '/',
/// compared bytewise, as mktorrent sorts them, so that the same tree gives the same info
/// dictionary as mktorrent's), as a multi-file torrent lists them. Links
/// to regular files are followed; links to directories are not entered. Throws
/// std::system_error naming the entry for one that is neither (a socket, a dangling link),
/// for a name that cannot be a torrent's path component, or when nothing is found.
std::vector<listed_file> list_directory(const std::filesystem::path& dir);

/// The last component of the directory `dir`, also when given as "dir/" or "." (then the
/// current directory's name).
std::string directory_name(const std::filesystem::path& dir);

/// A multi-file .torrent of the files below `dir` (list_directory's order), read one piece
/// at a time. An empty options.name means the directory's base name. Throws
/// std::system_error naming the file on an I/O failure, std::invalid_argument as
/// create_torrent does.
std::string create_torrent_from_directory(const std::filesystem::path& dir, const create_options& options);

/// Hashes every piece of `store` against the torrent's piece hashes: the pieces that are
/// good (a seed's check, or resuming a .part). Precondition: store.size_bytes() ==
/// torrent.total_bytes (else std::invalid_argument). Reads one piece at a time.
bitfield verify_pieces(storage& store, const metainfo& torrent);

}  // namespace p2pdist::bt
