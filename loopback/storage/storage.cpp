#include "loopback/storage/storage.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loopback/protocol/sha1.hpp"

namespace p2pdist::bt {

namespace {

[[noreturn]] void throw_errno(int err, const std::string& what, const std::filesystem::path& path) {
  throw std::system_error(err, std::generic_category(), what + " " + path.string());
}

void check_span(std::uint64_t offset, std::size_t bytes, std::uint64_t size) {
  if (offset > size || bytes > size - offset) throw std::out_of_range("storage: range past the end");
}

}  // namespace

// ---------------------------------------------------------------------------------------
// memory_storage

memory_storage::memory_storage(std::uint64_t size_bytes) : data_(static_cast<std::size_t>(size_bytes)) {}

memory_storage::memory_storage(std::vector<std::byte> data) : data_(std::move(data)) {}

void memory_storage::read(std::uint64_t offset, std::span<std::byte> out) {
  check_span(offset, out.size(), data_.size());
  if (!out.empty()) std::memcpy(out.data(), data_.data() + offset, out.size());
}

void memory_storage::write(std::uint64_t offset, std::span<const std::byte> data) {
  check_span(offset, data.size(), data_.size());
  if (!data.empty()) std::memcpy(data_.data() + offset, data.data(), data.size());
}

std::shared_ptr<memory_storage> make_memory_storage(std::uint64_t size_bytes) {
  return std::make_shared<memory_storage>(size_bytes);
}

std::shared_ptr<memory_storage> make_memory_storage(std::vector<std::byte> data) {
  return std::make_shared<memory_storage>(std::move(data));
}

// ---------------------------------------------------------------------------------------
// file_storage

file_storage::file_storage(int fd, std::uint64_t size_bytes, bool writable, std::filesystem::path current,
                           std::filesystem::path final_path)
    : fd_(fd), size_bytes_(size_bytes), writable_(writable), current_(std::move(current)),
      final_(std::move(final_path)) {}

file_storage::~file_storage() {
  if (fd_ >= 0) ::close(fd_);
}

void file_storage::check_range(std::uint64_t offset, std::size_t bytes) const {
  check_span(offset, bytes, size_bytes_);
}

void file_storage::read(std::uint64_t offset, std::span<std::byte> out) {
  check_range(offset, out.size());
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, "cannot read", current_);
    }
    if (n == 0) throw_errno(EIO, "unexpected end of file in", current_);
    done += static_cast<std::size_t>(n);
  }
}

void file_storage::write(std::uint64_t offset, std::span<const std::byte> data) {
  if (!writable_) throw_errno(EBADF, "read-only file", current_);
  check_range(offset, data.size());
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, "cannot write", current_);
    }
    done += static_cast<std::size_t>(n);
  }
}

void file_storage::flush() {
  if (writable_ && ::fsync(fd_) != 0) throw_errno(errno, "cannot sync", current_);
}

void file_storage::finalize() {
  if (finalized()) return;
  flush();
  std::error_code ec;
  std::filesystem::rename(current_, final_, ec);
  if (ec) throw std::system_error(ec, "cannot rename " + current_.string() + " to " + final_.string());
  current_ = final_;
  // Make the rename itself durable: sync the directory that holds the file.
  const auto dir = final_.has_parent_path() ? final_.parent_path() : std::filesystem::path(".");
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

std::filesystem::path part_path_for(const std::filesystem::path& out_path) {
  auto p = out_path;
  p += ".part";
  return p;
}

std::shared_ptr<file_storage> open_seed_file(const std::filesystem::path& path, const metainfo& torrent) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_errno(errno, "cannot open", path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw_errno(err, "cannot stat", path);
  }
  if (!S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != torrent.total_bytes) {
    ::close(fd);
    throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                            "size of " + path.string() + " is " + std::to_string(st.st_size) +
                                " bytes, the torrent says " + std::to_string(torrent.total_bytes));
  }
  return std::shared_ptr<file_storage>(new file_storage(fd, torrent.total_bytes, false, path, path));
}

std::shared_ptr<file_storage> open_download_file(const std::filesystem::path& out_path,
                                                 const metainfo& torrent) {
  const auto part = part_path_for(out_path);
  const int fd = ::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno(errno, "cannot open", part);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw_errno(err, "cannot stat", part);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw_errno(EINVAL, "not a regular file:", part);
  }
  if (static_cast<std::uint64_t>(st.st_size) != torrent.total_bytes &&
      ::ftruncate(fd, static_cast<off_t>(torrent.total_bytes)) != 0) {
    const int err = errno;
    ::close(fd);
    throw_errno(err, "cannot resize", part);
  }
  return std::shared_ptr<file_storage>(new file_storage(fd, torrent.total_bytes, true, part, out_path));
}

bitfield verify_pieces(storage& store, const metainfo& torrent) {
  if (store.size_bytes() != torrent.total_bytes)
    throw std::invalid_argument("verify_pieces: storage size differs from the torrent's");
  bitfield good(torrent.piece_count());
  sha1_hasher hasher;
  const auto mem = store.memory();
  std::vector<std::byte> buf;
  for (std::uint32_t i = 0; i < torrent.piece_count(); ++i) {
    const std::uint32_t len = torrent.piece_size(i);
    const std::uint64_t off = torrent.piece_offset(i);
    std::span<const std::byte> bytes;
    if (!mem.empty()) {
      bytes = mem.subspan(static_cast<std::size_t>(off), len);
    } else {
      buf.resize(len);
      store.read(off, buf);
      bytes = buf;
    }
    if (hasher.digest(bytes) == torrent.piece_hashes[i]) good.set(i);
  }
  return good;
}

}  // namespace p2pdist::bt
