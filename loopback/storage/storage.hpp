#pragma once
// storage: where a torrent's bytes live, in memory (the harness) or in a file (real use).
// File I/O only: no socket, no clock, no thread.
//
// A download to OUT is written to OUT.part and renamed to OUT by finalize() once every
// piece is verified, so that a crash never leaves a half file under the real name;
// reopening an existing OUT.part keeps its bytes, and verify_pieces() finds which pieces
// are already good (resume).
//
// Threading: a storage is not thread-safe; the client calls it from its own strand only.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
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

/// A storage in one file, read with pread and written with pwrite.
class file_storage final : public storage {
 public:
  ~file_storage() override;

  std::uint64_t size_bytes() const noexcept override { return size_bytes_; }
  void read(std::uint64_t offset, std::span<std::byte> out) override;
  void write(std::uint64_t offset, std::span<const std::byte> data) override;
  void flush() override;
  void finalize() override;
  bool writable() const noexcept override { return writable_; }

  /// The file the bytes are in now: OUT.part before finalize(), OUT after (or the seed's file).
  [[nodiscard]] const std::filesystem::path& current_path() const noexcept { return current_; }
  /// The name the file gets once complete: OUT (the seed's file for a seed).
  [[nodiscard]] const std::filesystem::path& final_path() const noexcept { return final_; }
  /// finalize() has renamed the file (always true for a seed).
  [[nodiscard]] bool finalized() const noexcept { return current_ == final_; }

 private:
  friend std::shared_ptr<file_storage> open_seed_file(const std::filesystem::path&, const metainfo&);
  friend std::shared_ptr<file_storage> open_download_file(const std::filesystem::path&,
                                                          const metainfo&);
  file_storage(int fd, std::uint64_t size_bytes, bool writable, std::filesystem::path current,
               std::filesystem::path final_path);
  void check_range(std::uint64_t offset, std::size_t bytes) const;

  int fd_ = -1;
  std::uint64_t size_bytes_ = 0;
  bool writable_ = false;
  std::filesystem::path current_;
  std::filesystem::path final_;
};

/// The path of the partial file for a download to `out_path`: OUT.part.
std::filesystem::path part_path_for(const std::filesystem::path& out_path);

/// Opens a seed's complete file read-only. Throws std::system_error naming the file when it
/// cannot be opened, or (errc::invalid_argument) when its size is not torrent.total_bytes.
std::shared_ptr<file_storage> open_seed_file(const std::filesystem::path& path,
                                             const metainfo& torrent);

/// Creates, or reopens for resuming, OUT.part at the torrent's full size (a longer file is
/// cut, a shorter one extended with zeros). Nothing is ever written under `out_path` itself
/// until finalize() renames OUT.part to it. Throws std::system_error naming the file.
std::shared_ptr<file_storage> open_download_file(const std::filesystem::path& out_path,
                                                 const metainfo& torrent);

/// Hashes every piece of `store` against the torrent's piece hashes: the pieces that are
/// good (a seed's check, or resuming a .part). Precondition: store.size_bytes() ==
/// torrent.total_bytes (else std::invalid_argument). Reads one piece at a time.
bitfield verify_pieces(storage& store, const metainfo& torrent);

}  // namespace p2pdist::bt
