#include "cli/serve_front.hpp"

#include <array>
#include <string_view>
#include <system_error>

#include <asio.hpp>

namespace p2pdist::cli {

namespace {

using tcp = asio::ip::tcp;

/// One client connection: its head read within the deadline, then relayed to httplib.
class front_session : public std::enable_shared_from_this<front_session> {
 public:
  front_session(tcp::socket client, int backend_port, serve_front::limits l)
      : client_(std::move(client)),
        upstream_(client_.get_executor()),
        deadline_(client_.get_executor()),
        backend_port_(backend_port),
        limits_(l) {}

  void start() {
    deadline_.expires_after(limits_.head_deadline);
    deadline_.async_wait([self = shared_from_this()](const std::error_code& ec) {
      if (!ec && !self->head_done_) self->refuse("408 Request Timeout", "the request's head took too long");
    });
    read_head();
  }

 private:
  void read_head() {
    client_.async_read_some(asio::buffer(in_), [self = shared_from_this()](const std::error_code& ec, std::size_t n) {
      if (ec || self->refused_) return self->close();
      self->head_.append(self->in_.data(), n);
      if (self->head_.size() > self->limits_.max_head_bytes) {
        return self->refuse("431 Request Header Fields Too Large", "the request's head is over 16 KiB");
      }
      if (self->head_.find("\r\n\r\n") != std::string::npos) return self->head_complete();
      self->read_head();
    });
  }

  void head_complete() {
    head_done_ = true;
    deadline_.cancel();
    if (head_.rfind("GET ", 0) != 0 && head_.rfind("HEAD ", 0) != 0) {
      return refuse("405 Method Not Allowed", "this server answers GET and HEAD only");
    }
    const tcp::endpoint backend(asio::ip::address_v4::loopback(), static_cast<unsigned short>(backend_port_));
    upstream_.async_connect(backend, [self = shared_from_this()](const std::error_code& ec) {
      if (ec) return self->refuse("503 Service Unavailable", "the server is stopping");
      asio::async_write(self->upstream_, asio::buffer(self->head_),
                        [self](const std::error_code& wec, std::size_t) {
                          if (wec) return self->close();
                          self->relay(self->client_, self->upstream_, self->in_);
                          self->relay(self->upstream_, self->client_, self->out_);
                        });
    });
  }

  /// Copies what `from` sends to `to`; an error either way closes both. The backend's end
  /// (it has answered) closes both too. The client's end does not: a client may half-close
  /// once its request is out (`printf 'GET ...' | nc` does) and still wait for the answer.
  /// Its end is not passed on, because the backend takes a read end for a client that went
  /// away and would drop the run; a client that is really gone shows as an error when the
  /// answer is written to it.
  void relay(tcp::socket& from, tcp::socket& to, std::array<char, 16384>& buf) {
    from.async_read_some(asio::buffer(buf), [self = shared_from_this(), &from, &to, &buf](const std::error_code& ec,
                                                                                          std::size_t n) {
      if (ec == asio::error::eof && &from == &self->client_) return;
      if (ec) return self->close();
      asio::async_write(to, asio::buffer(buf.data(), n), [self, &from, &to, &buf](const std::error_code& wec, std::size_t) {
        if (wec) return self->close();
        self->relay(from, to, buf);
      });
    });
  }

  void refuse(std::string_view status, std::string_view why) {
    if (refused_) return;
    refused_ = true;
    const std::string body = "{\"error\":\"" + std::string(why) + "\",\"field\":null}";
    answer_ = "HTTP/1.1 " + std::string(status) + "\r\nContent-Type: application/json\r\nContent-Length: " +
              std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    asio::async_write(client_, asio::buffer(answer_),
                      [self = shared_from_this()](const std::error_code&, std::size_t) { self->close(); });
  }

  void close() {
    std::error_code ignored;
    deadline_.cancel();
    client_.shutdown(tcp::socket::shutdown_both, ignored);
    client_.close(ignored);
    upstream_.shutdown(tcp::socket::shutdown_both, ignored);
    upstream_.close(ignored);
  }

  tcp::socket client_;
  tcp::socket upstream_;
  asio::steady_timer deadline_;
  int backend_port_;
  serve_front::limits limits_;
  std::array<char, 16384> in_{};
  std::array<char, 16384> out_{};
  std::string head_;
  std::string answer_;
  bool head_done_ = false;
  bool refused_ = false;
};

}  // namespace

struct serve_front::impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  int backend_port;
  limits l;

  void accept() {
    acceptor.async_accept([this](const std::error_code& ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<front_session>(std::move(s), backend_port, l)->start();
      accept();  // a failed accept (out of descriptors, say) does not end the server
    });
  }
};

serve_front::serve_front(const std::string& ip, int port, int backend_port, limits l)
    : impl_(std::make_unique<impl>()) {
  impl_->backend_port = backend_port;
  impl_->l = l;
  const tcp::endpoint at(asio::ip::make_address(ip), static_cast<unsigned short>(port));
  impl_->acceptor.open(at.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(at);  // throws std::system_error: in use, not an address here
  impl_->acceptor.listen();
  impl_->accept();
}

serve_front::~serve_front() = default;

int serve_front::port() const { return impl_->acceptor.local_endpoint().port(); }

void serve_front::run() { impl_->io.run(); }

void serve_front::stop() {
  asio::post(impl_->io, [this] {
    std::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->io.stop();
  });
}

}  // namespace p2pdist::cli
