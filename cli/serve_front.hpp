#pragma once
// The front door of `p2pdist serve`. httplib (Debian 12's 0.11) times out single reads
// only, so a client sending a byte every few seconds would hold one of its threads for as
// long as it liked. The front accepts on the public address, reads each request's head
// (up to its blank line) within a deadline and a size limit, and only then hands the
// connection to httplib on an internal loopback port, relaying both ways until either side
// closes. Late heads get 408, oversized ones 431, methods other than GET and HEAD 405.

#include <chrono>
#include <memory>
#include <string>

namespace p2pdist::cli {

class serve_front {
 public:
  struct limits {
    std::chrono::milliseconds head_deadline{10000};
    std::size_t max_head_bytes = 16 * 1024;
  };

  /// Binds `ip:port` (port 0: any free one); throws std::system_error when it cannot.
  /// Requests go on to 127.0.0.1:`backend_port`.
  serve_front(const std::string& ip, int port, int backend_port, limits l);
  ~serve_front();
  serve_front(const serve_front&) = delete;
  serve_front& operator=(const serve_front&) = delete;

  int port() const;
  /// Serves until stop() (from any thread).
  void run();
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace p2pdist::cli
