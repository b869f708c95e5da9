#include "loopback/storage/storage.hpp"

#include <algorithm>
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

file_storage::file_storage(std::vector<file> files, bool writable)
    : files_(std::move(files)), fds_(files_.size(), -1), dirty_(files_.size(), false), writable_(writable),
      finalized_(!writable) {
  for (const auto& f : files_) size_bytes_ += f.length;
}

file_storage::~file_storage() { close_all(); }

void file_storage::close_all() noexcept {
  for (const auto i : open_order_) {
    ::close(fds_[i]);
    fds_[i] = -1;
  }
  open_order_.clear();
}

int file_storage::descriptor(std::size_t i) {
  if (fds_[i] >= 0) return fds_[i];
  if (open_order_.size() >= max_open_files) {
    const auto oldest = open_order_.front();
    open_order_.erase(open_order_.begin());
    ::close(fds_[oldest]);
    fds_[oldest] = -1;
  }
  // A download's .part files were created by open_download_file: never follow a link that
  // has taken a .part's place since.
  const int flags = writable_ ? (O_RDWR | (finalized_ ? 0 : O_NOFOLLOW)) : O_RDONLY;
  const int fd = ::open(files_[i].current.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throw_errno(errno, "cannot open", files_[i].current);
  fds_[i] = fd;
  open_order_.push_back(i);
  return fd;
}

template <class Op>
void file_storage::each_piece_of(std::uint64_t offset, std::size_t bytes, Op&& op) {
  check_span(offset, bytes, size_bytes_);
  if (bytes == 0) return;
  // The first file that holds byte `offset`: the last one starting at or before it that is
  // not empty.
  auto it = std::upper_bound(files_.begin(), files_.end(), offset,
                             [](std::uint64_t v, const file& f) { return v < f.offset; });
  std::size_t i = static_cast<std::size_t>(it - files_.begin()) - 1;
  std::size_t done = 0;
  while (done < bytes) {
    const auto& f = files_[i];
    const std::uint64_t at = offset + done;
    if (at >= f.offset + f.length) {  // an empty file, or the range continues past this one
      ++i;
      continue;
    }
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(bytes - done, f.offset + f.length - at));
    op(i, at - f.offset, done, n);
    done += n;
    ++i;
  }
}

void file_storage::read(std::uint64_t offset, std::span<std::byte> out) {
  each_piece_of(offset, out.size(), [&](std::size_t i, std::uint64_t at, std::size_t first, std::size_t bytes) {
    const int fd = descriptor(i);
    std::size_t done = 0;
    while (done < bytes) {
      const ssize_t n = ::pread(fd, out.data() + first + done, bytes - done, static_cast<off_t>(at + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_errno(errno, "cannot read", files_[i].current);
      }
      if (n == 0) throw_errno(EIO, "unexpected end of file in", files_[i].current);
      done += static_cast<std::size_t>(n);
    }
  });
}

void file_storage::write(std::uint64_t offset, std::span<const std::byte> data) {
  if (!writable_) throw_errno(EBADF, "read-only file", files_.front().current);
  each_piece_of(offset, data.size(), [&](std::size_t i, std::uint64_t at, std::size_t first, std::size_t bytes) {
    const int fd = descriptor(i);
    std::size_t done = 0;
    while (done < bytes) {
      const ssize_t n = ::pwrite(fd, data.data() + first + done, bytes - done, static_cast<off_t>(at + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_errno(errno, "cannot write", files_[i].current);
      }
      done += static_cast<std::size_t>(n);
    }
    dirty_[i] = true;
  });
}

void file_storage::flush() {
  if (!writable_) return;
  for (std::size_t i = 0; i < files_.size(); ++i) {
    if (!dirty_[i]) continue;
    if (::fsync(descriptor(i)) != 0) throw_errno(errno, "cannot sync", files_[i].current);
    dirty_[i] = false;
  }
}

void file_storage::finalize() {
  if (finalized()) return;
  flush();
  std::vector<std::filesystem::path> dirs;
  for (auto& f : files_) {
    if (f.current == f.final_path) continue;  // renamed by an earlier, interrupted call
    std::error_code ec;
    std::filesystem::rename(f.current, f.final_path, ec);
    if (ec) throw std::system_error(ec, "cannot rename " + f.current.string() + " to " + f.final_path.string());
    f.current = f.final_path;
    dirs.push_back(f.final_path.has_parent_path() ? f.final_path.parent_path() : std::filesystem::path("."));
  }
  finalized_ = true;
  // Make the renames themselves durable: sync each directory that holds a file.
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  for (const auto& dir : dirs) {
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)::fsync(dfd);
      ::close(dfd);
    }
  }
}

std::filesystem::path part_path_for(const std::filesystem::path& out_path) {
  auto p = out_path;
  p += ".part";
  return p;
}

std::vector<std::filesystem::path> file_paths(const std::filesystem::path& path, const metainfo& torrent) {
  std::vector<std::filesystem::path> out;
  if (!torrent.multi_file) {
    out.push_back(path);
    return out;
  }
  out.reserve(torrent.files.size());
  for (const auto& f : torrent.files) {
    auto p = path;
    for (const auto& c : f.path) p /= c;
    out.push_back(std::move(p));
  }
  return out;
}

namespace {

/// fstat of `fd` opened from `path`: a regular file, else the descriptor closed and
/// std::system_error thrown.
struct stat regular_file_stat(int fd, const std::filesystem::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw_errno(err, "cannot stat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw_errno(EINVAL, "not a regular file:", path);
  }
  return st;
}

/// Creates the directories between `root` and the file `path` (which lies below it), each
/// one a real directory: an existing link or file in the way is refused.
void make_directories_below(const std::filesystem::path& root, const std::filesystem::path& path) {
  auto dir = root;
  const auto rel = path.parent_path().lexically_relative(root);
  for (const auto& c : rel) {
    if (c == ".") continue;
    dir /= c;
    struct stat st {};
    if (::lstat(dir.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) continue;
      throw std::system_error(std::make_error_code(std::errc::not_a_directory),
                              dir.string() + " is in the way of the torrent's files (" +
                                  (S_ISLNK(st.st_mode) ? "a symbolic link" : "not a directory") + ")");
    }
    if (errno != ENOENT) throw_errno(errno, "cannot stat", dir);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) throw_errno(errno, "cannot create directory", dir);
  }
}

}  // namespace

std::shared_ptr<file_storage> open_seed_file(const std::filesystem::path& path, const metainfo& torrent) {
  const auto paths = file_paths(path, torrent);
  std::vector<file_storage::file> files;
  files.reserve(paths.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const auto& f = torrent.files[i];
    const int fd = ::open(paths[i].c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw_errno(errno, "cannot open", paths[i]);
    const auto st = regular_file_stat(fd, paths[i]);
    ::close(fd);
    if (static_cast<std::uint64_t>(st.st_size) != f.length) {
      throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                              "size of " + paths[i].string() + " is " + std::to_string(st.st_size) +
                                  " bytes, the torrent says " + std::to_string(f.length));
    }
    files.push_back({.current = paths[i], .final_path = paths[i], .offset = f.offset, .length = f.length});
  }
  return std::shared_ptr<file_storage>(new file_storage(std::move(files), false));
}

std::shared_ptr<file_storage> open_download_file(const std::filesystem::path& out_path,
                                                 const metainfo& torrent) {
  if (torrent.multi_file) {
    std::error_code ec;
    std::filesystem::create_directories(out_path, ec);
    if (ec) throw std::system_error(ec, "cannot create directory " + out_path.string());
  }
  const auto paths = file_paths(out_path, torrent);
  std::vector<file_storage::file> files;
  files.reserve(paths.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const auto& f = torrent.files[i];
    if (torrent.multi_file) make_directories_below(out_path, paths[i]);
    const auto part = part_path_for(paths[i]);
    const int fd = ::open(part.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) throw_errno(errno, "cannot open", part);
    const auto st = regular_file_stat(fd, part);
    if (static_cast<std::uint64_t>(st.st_size) != f.length && ::ftruncate(fd, static_cast<off_t>(f.length)) != 0) {
      const int err = errno;
      ::close(fd);
      throw_errno(err, "cannot resize", part);
    }
    ::close(fd);
    files.push_back({.current = part, .final_path = paths[i], .offset = f.offset, .length = f.length});
  }
  return std::shared_ptr<file_storage>(new file_storage(std::move(files), true));
}

namespace {

/// Appends the regular files below `dir` (relative path `prefix`) to `out`, unsorted.
void walk(const std::filesystem::path& dir, std::vector<std::string>& prefix, std::vector<listed_file>& out) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) throw std::system_error(ec, "cannot list " + dir.string());
  for (const auto& entry : it) {
    const auto name = entry.path().filename().string();
    if (!is_safe_name(name)) {
      throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                              entry.path().string() + ": the name cannot be a torrent's path component");
    }
    const auto link = entry.symlink_status(ec);
    if (ec) throw std::system_error(ec, "cannot stat " + entry.path().string());
    const auto target = entry.status(ec);
    if (std::filesystem::is_directory(link)) {
      prefix.push_back(name);
      walk(entry.path(), prefix, out);
      prefix.pop_back();
    } else if (std::filesystem::is_symlink(link) && std::filesystem::is_directory(target)) {
      continue;  // links to directories are not entered (no loops, no tree outside DIR)
    } else if (std::filesystem::is_regular_file(target)) {
      auto path = prefix;
      path.push_back(name);
      const auto size = entry.file_size(ec);
      if (ec) throw std::system_error(ec, "cannot stat " + entry.path().string());
      out.push_back({.path = std::move(path), .length = size});
    } else {
      throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                              entry.path().string() + " is not a regular file or a directory" +
                                  (std::filesystem::is_symlink(link) ? " (a dangling link)" : ""));
    }
  }
}

}  // namespace

std::vector<listed_file> list_directory(const std::filesystem::path& dir) {
  std::vector<listed_file> out;
  std::vector<std::string> prefix;
  walk(dir, prefix, out);
  if (out.empty()) {
    throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                            "the directory " + dir.string() + " holds no file to share");
  }
  // By the joined path, bytewise, as mktorrent sorts: the same tree gives mktorrent's info.
  const auto joined = [](const listed_file& f) { return file_entry{.path = f.path}.joined(); };
  std::sort(out.begin(), out.end(), [&](const listed_file& a, const listed_file& b) { return joined(a) < joined(b); });
  return out;
}

std::string directory_name(const std::filesystem::path& dir) {
  auto p = std::filesystem::absolute(dir).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();
  return p.filename().string();
}

std::string create_torrent_from_directory(const std::filesystem::path& dir, const create_options& options) {
  create_options opts = options;
  if (opts.name.empty()) opts.name = directory_name(dir);
  metainfo layout;  // the files alone, to read them through a file_storage
  layout.multi_file = true;
  opts.files.clear();
  for (auto& f : list_directory(dir)) {
    layout.files.push_back({.path = f.path, .length = f.length, .offset = layout.total_bytes});
    layout.total_bytes += f.length;
    opts.files.push_back({.path = std::move(f.path), .length = f.length});
  }
  if (layout.total_bytes == 0) {
    throw std::invalid_argument("every file below " + dir.string() + " is empty: nothing to share");
  }
  const auto store = open_seed_file(dir, layout);
  return create_torrent_from(
      layout.total_bytes, [&](std::uint64_t offset, std::span<std::byte> out) { store->read(offset, out); }, opts);
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
