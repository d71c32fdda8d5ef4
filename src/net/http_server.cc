#include "net/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"

namespace modelhub {

namespace http = boost::beast::http;

namespace {

// The peer closed (FIN), reset or errored the connection. With the request body read, nothing more
// is expected from a client that waits for its answer; a pipelined next request leaves data to
// read, which is not a hang-up.
bool PeerHungUp(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// A socket as a Beast SyncReadStream. Reads never block in recv(): they wait in
// poll(), so that the wait can be bounded and measured.
//  - no-wait mode (request heads): a read with nothing to read fails with
//    would_block at once; the worker then parks the connection.
//  - waiting mode (bodies): a read waits up to the I/O timeout; with a rate
//    guard, every body_rate_window of waiting must have brought min_rate bytes
//    per second of it, else the read fails with timed_out and too_slow().
class FdStream {
 public:
  explicit FdStream(int fd) : fd_(fd) {}

  void SetNoWait(bool no_wait) { no_wait_ = no_wait; }
  void SetIoTimeout(int timeout_ms) { io_timeout_ms_ = std::max(1, timeout_ms); }
  // Starts a rate guard (0 bytes/s = none) with a fresh window.
  void SetRateGuard(int64_t min_bytes_per_s, int window_ms) {
    min_rate_ = min_bytes_per_s;
    window_ms_ = std::max(1, window_ms);
    waited_ms_ = 0;
    window_bytes_ = bytes_read_;
    too_slow_ = false;
  }
  bool too_slow() const { return too_slow_; }

  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::mutable_buffer b = *it;
      if (b.size() == 0) continue;
      return ReadInto(b.data(), b.size(), ec);
    }
    ec = {};
    return 0;
  }

  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers) {
    boost::system::error_code ec;
    size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  int64_t bytes_read() const { return bytes_read_; }

 private:
  size_t ReadInto(void* data, size_t size, boost::system::error_code& ec) {
    int64_t waited_this_read_ms = 0;
    while (true) {
      ssize_t n = ::recv(fd_, data, size, MSG_DONTWAIT);
      if (n > 0) {
        ec = {};
        bytes_read_ += n;
        return size_t(n);
      }
      if (n == 0) {
        ec = boost::asio::error::eof;
        return 0;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        ec = boost::system::error_code(errno, boost::system::system_category());
        return 0;
      }
      if (no_wait_) {
        ec = boost::asio::error::would_block;
        return 0;
      }
      int64_t timeout_ms = io_timeout_ms_ - waited_this_read_ms;
      if (min_rate_ > 0) timeout_ms = std::min<int64_t>(timeout_ms, window_ms_ - waited_ms_);
      timeout_ms = std::max<int64_t>(timeout_ms, 1);
      struct pollfd pfd = {fd_, POLLIN, 0};
      auto t0 = std::chrono::steady_clock::now();
      int pr = ::poll(&pfd, 1, int(timeout_ms));
      if (pr < 0 && errno != EINTR) {
        ec = boost::system::error_code(errno, boost::system::system_category());
        return 0;
      }
      int64_t waited =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
      waited_this_read_ms += waited;
      if (min_rate_ > 0) {
        waited_ms_ += waited;
        if (waited_ms_ >= window_ms_) {
          // A window of waiting is over: it must have brought its share of bytes.
          if ((bytes_read_ - window_bytes_) * 1000 < min_rate_ * window_ms_) {
            too_slow_ = true;
            ec = boost::asio::error::timed_out;
            return 0;
          }
          waited_ms_ = 0;
          window_bytes_ = bytes_read_;
        }
      }
      if (pr == 0 && waited_this_read_ms >= io_timeout_ms_) {
        ec = boost::asio::error::timed_out;
        return 0;
      }
    }
  }

  int fd_;
  bool no_wait_ = true;
  int io_timeout_ms_ = 300 * 1000;
  int64_t min_rate_ = 0;
  int64_t window_ms_ = 1;
  int64_t waited_ms_ = 0;      // time spent waiting in the current window
  int64_t window_bytes_ = 0;   // bytes_read_ when the window began
  bool too_slow_ = false;
  int64_t bytes_read_ = 0;
};

Status SendAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(std::string("send: ") + std::strerror(errno));
    }
    data += w;
    n -= size_t(w);
  }
  return Status::Ok();
}

using HeaderParser = http::request_parser<http::empty_body>;
using BodyParser = http::request_parser<http::buffer_body>;

// Errors while reading a request body are the client's: a body that ends early,
// a malformed chunk or trailer, a stalled upload. They are InvalidArgument (400)
// for the handler, and the server answers 4xx whatever the handler did with them.
class ParserBodyReader : public BodyReader {
 public:
  ParserBodyReader(int fd, FdStream* stream, boost::beast::flat_buffer* buf, BodyParser* parser, bool expect_continue,
                   int64_t min_rate, int window_s)
      : fd_(fd),
        stream_(stream),
        buf_(buf),
        parser_(parser),
        expect_continue_(expect_continue),
        min_rate_(min_rate),
        window_s_(window_s),
        stream_start_(stream->bytes_read()),
        buffered_start_(int64_t(buf->size())) {}

  Result<size_t> Read(char* out, size_t n) override {
    if (failed_) return error_;
    if (parser_->is_done() || n == 0) return size_t(0);
    if (expect_continue_) {
      expect_continue_ = false;
      static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      MH_RETURN_IF_ERROR(SendAll(fd_, kContinue, sizeof(kContinue) - 1));
    }
    if (!guarded_) {
      // The rate window starts when the handler first asks for the body (after any 100 Continue).
      guarded_ = true;
      stream_->SetRateGuard(min_rate_, window_s_ * 1000);
    }
    while (true) {
      auto& body = parser_->get().body();
      body.data = out;
      body.size = n;
      boost::system::error_code ec;
      try {
        http::read(*stream_, *buf_, *parser_, ec);
      } catch (const std::exception& e) {
        // Beast throws for some oversized fields (e.g. a trailer value past 64 KiB).
        return Fail(Status::InvalidArgument(std::string("malformed request body: ") + e.what(), "BadRequest"));
      }
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return Fail(BodyError(ec));
      size_t got = n - body.size;
      body.data = nullptr;
      if (got > 0 || parser_->is_done()) {
        received_ += int64_t(got);
        return got;
      }
    }
  }
  bool done() const override { return parser_->is_done(); }
  bool failed() const { return failed_; }
  const Status& error() const { return error_; }
  int64_t received() const { return received_; }
  // Body bytes that arrived from the client, whether or not the handler took them.
  int64_t arrived() const {
    return std::max<int64_t>(0, stream_->bytes_read() - stream_start_ + buffered_start_ - int64_t(buf_->size()));
  }

 private:
  Status Fail(Status s) {
    failed_ = true;
    error_ = std::move(s);
    return error_;
  }
  Status BodyError(const boost::system::error_code& ec) const {
    if (stream_->too_slow()) {
      return Status::InvalidArgument(fmt::format("request body arrived slower than {} bytes/s over {} s", min_rate_,
                                                 window_s_),
                                     "RequestBodyTooSlow");
    }
    if (ec == boost::asio::error::timed_out) {
      return Status::InvalidArgument("request body stalled past the I/O timeout", "RequestBodyTooSlow");
    }
    if (ec == http::error::partial_message || ec == http::error::end_of_stream || ec == boost::asio::error::eof ||
        ec.category() == boost::system::system_category()) {
      return Status::InvalidArgument("request body ended before its announced length (" + ec.message() + ")",
                                     "IncompleteRequestBody");
    }
    return Status::InvalidArgument("malformed request body: " + ec.message(), "BadRequest");
  }

  int fd_;
  FdStream* stream_;
  boost::beast::flat_buffer* buf_;
  BodyParser* parser_;
  bool expect_continue_;
  int64_t min_rate_;
  int window_s_;
  int64_t stream_start_;
  int64_t buffered_start_;
  bool guarded_ = false;
  bool failed_ = false;
  Status error_;
  int64_t received_ = 0;
};

std::string FormatHead(const Response& resp, int64_t content_length, bool keep_alive) {
  std::string head = fmt::format("HTTP/1.1 {} {}\r\n", resp.status, ReasonPhrase(resp.status));
  bool has_ct = false;
  for (const auto& [k, v] : resp.headers) {
    std::string lk = ToLower(k);
    if (lk == "content-length") continue;
    if (lk == "content-type") has_ct = true;
    head += k;
    head += ": ";
    head += v;
    head += "\r\n";
  }
  if (!has_ct && content_length > 0) head += "Content-Type: application/octet-stream\r\n";
  if (resp.status != 304 && resp.status != 204) head += fmt::format("Content-Length: {}\r\n", content_length);
  head += "Server: modelhub\r\n";
  if (!keep_alive) head += "Connection: close\r\n";
  head += "\r\n";
  return head;
}

// Sends the body of a streamed response. Returns bytes sent.
Result<int64_t> SendStream(int fd, BodySource* src, int64_t length) {
  int64_t sent = 0;
  if (auto fr = src->FileRange()) {
    off_t off = fr->second;
    while (sent < length) {
      ssize_t n = ::sendfile(fd, fr->first, &off, size_t(std::min<int64_t>(length - sent, 1 << 30)));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::IOError(std::string("sendfile: ") + std::strerror(errno));
      }
      if (n == 0) return Status::Corruption("file ended before the announced length");
      sent += n;
    }
    return sent;
  }
  if (src->HasViews()) {
    // The source's own (already checked) buffers go straight to the socket: no copy here.
    while (sent < length) {
      MH_ASSIGN_OR_RETURN(std::string_view v, src->ReadView(size_t(std::min<int64_t>(length - sent, 1 << 30))));
      if (v.empty()) return Status::Corruption("body source ended before the announced length");
      MH_RETURN_IF_ERROR(SendAll(fd, v.data(), v.size()));
      sent += int64_t(v.size());
    }
    return sent;
  }
  std::vector<char> buf(1 << 20);
  while (sent < length) {
    MH_ASSIGN_OR_RETURN(size_t n, src->Read(buf.data(), size_t(std::min<int64_t>(int64_t(buf.size()), length - sent))));
    if (n == 0) return Status::Corruption("body source ended before the announced length");
    MH_RETURN_IF_ERROR(SendAll(fd, buf.data(), n));
    sent += int64_t(n);
  }
  return sent;
}

void SendSimpleError(int fd, int status, const std::string& code, const std::string& message) {
  std::string body = fmt::format("{{\"error\":\"{}\"}}", message);
  std::string head = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nX-Error-Code: {}\r\nX-Error-Message: {}\r\n"
      "Content-Length: {}\r\nConnection: close\r\n\r\n",
      status, ReasonPhrase(status), code, message, body.size());
  (void)SendAll(fd, head.data(), head.size());
  (void)SendAll(fd, body.data(), body.size());
}

// An HF-style error answer built here (the server's own refusals; the api layer has WriteError).
void SetErrorResponse(Response& resp, int status, const std::string& code, const std::string& message) {
  std::string safe;
  for (char ch : message) safe += (static_cast<unsigned char>(ch) < 0x20 || ch == '"' || ch == '\\') ? ' ' : ch;
  resp.stream.reset();
  resp.headers.clear();
  resp.SetJson(status, fmt::format("{{\"error\":\"{}\"}}", safe));
  resp.SetHeader("X-Error-Code", code);
  resp.SetHeader("X-Error-Message", safe);
  resp.close = true;
}

// Request ids: a random per-process prefix and a counter (no syscall per request).
std::string NextRequestId() {
  static const std::string prefix = RandomHex(4);
  static std::atomic<uint64_t> counter{0};
  return fmt::format("{}{:08x}", prefix, counter.fetch_add(1, std::memory_order_relaxed));
}

}  // namespace

// A client connection. Exactly one worker serves it while `active`; otherwise it
// is parked in the epoll set (EPOLLONESHOT: one worker is woken for it).
struct HttpServer::Connection {
  Connection(uint64_t id_in, int fd_in, std::string remote_in, std::string client_in)
      : id(id_in), fd(fd_in), remote(std::move(remote_in)), client(std::move(client_in)), stream(fd_in) {}
  uint64_t id;
  int fd;
  std::string remote;
  std::string client;             // the key of the per-client limit
  FdStream stream;
  boost::beast::flat_buffer buf;  // bytes read past the last request (pipelining) or of a pending head
  size_t head_scanned = 0;        // bytes of buf already searched for the end of the head
  // Fields below: written by the worker while active, read by others only while parked; guarded by mu_.
  bool active = false;
  std::chrono::steady_clock::time_point parked_at = std::chrono::steady_clock::now();
  // A head is pending (a new connection, or bytes of the next request arrived) since head_since;
  // otherwise the connection is idle between requests.
  bool head_pending = true;
  std::chrono::steady_clock::time_point head_since = std::chrono::steady_clock::now();
  bool deferred = false;     // a complete head waits in deferred_ for a request slot of its client
  bool holds_slot = false;   // counted in client_requests_
};

namespace {

// The per-client key: the IPv4 address (also when IPv4-mapped), or the /64 of an IPv6 address
// (one host commonly holds a whole /64).
std::string ClientKey(const sockaddr_storage& ss) {
  char addr[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, addr, sizeof addr);
    return addr;
  }
  if (ss.ss_family == AF_INET6) {
    const auto& a6 = reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
      ::inet_ntop(AF_INET, &a6.s6_addr[12], addr, sizeof addr);
      return addr;
    }
    struct in6_addr prefix = a6;
    std::memset(&prefix.s6_addr[8], 0, 8);
    ::inet_ntop(AF_INET6, &prefix, addr, sizeof addr);
    return std::string(addr) + "/64";
  }
  return addr;
}

// Methods the server implements; anything else is 501 before any handler runs.
bool Implemented(http::verb v) {
  switch (v) {
    case http::verb::get:
    case http::verb::head:
    case http::verb::post:
    case http::verb::put:
    case http::verb::delete_:
    case http::verb::options:
    case http::verb::patch: return true;
    default: return false;
  }
}

}  // namespace

HttpServer::HttpServer(HttpServerOptions opts, Handler handler, Metrics* metrics)
    : opts_(std::move(opts)),
      handler_(std::move(handler)),
      metrics_(metrics),
      base_workers_(std::max(4, 2 * int(std::thread::hardware_concurrency()))) {}

HttpServer::~HttpServer() {
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

Status HttpServer::Listen() {
  struct addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  struct addrinfo* res = nullptr;
  std::string port = std::to_string(opts_.port);
  int rc = ::getaddrinfo(opts_.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) return Status::InvalidArgument("cannot resolve listen address " + opts_.host + ": " + gai_strerror(rc));
  std::unique_ptr<struct addrinfo, decltype(&::freeaddrinfo)> guard(res, &::freeaddrinfo);
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IOError(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
    Status s = Status::IOError(fmt::format("bind {}:{}: {}", opts_.host, opts_.port, std::strerror(errno)));
    ::close(fd);
    return s;
  }
  if (::listen(fd, 1024) != 0) {
    Status s = Status::IOError(std::string("listen: ") + std::strerror(errno));
    ::close(fd);
    return s;
  }
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  port_ = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                   : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  listen_fd_ = fd;
  // Every connection is a descriptor: take the hard limit, and keep room for files, databases and git.
  struct rlimit rl = {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      (void)::setrlimit(RLIMIT_NOFILE, &rl);
      (void)::getrlimit(RLIMIT_NOFILE, &rl);
    }
    constexpr rlim_t kReserve = 256;
    if (rl.rlim_cur != RLIM_INFINITY && rlim_t(opts_.max_connections) + kReserve > rl.rlim_cur) {
      int fit = rl.rlim_cur > kReserve + 16 ? int(rl.rlim_cur - kReserve) : 16;
      LogWarn("open file limit {} leaves room for {} connections, not {}: raise it (ulimit -n, LimitNOFILE)",
              uint64_t(rl.rlim_cur), fit, opts_.max_connections);
      opts_.max_connections = fit;
    }
  }
  return Status::Ok();
}

void HttpServer::SpawnWorker() {
  ++workers_;
  ++idle_workers_;
  std::thread([this] { WorkerLoop(); }).detach();
}

void HttpServer::Serve() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    LogError("epoll_create1: {}", std::strerror(errno));
    return;
  }
  auto last_reap = std::chrono::steady_clock::now();
  uint64_t served_before = 0;
  int wait_ms = 250;
  while (!stopping_.load()) {
    struct pollfd pfd = {listen_fd_, POLLIN, 0};
    int pr = ::poll(&pfd, 1, wait_ms);
    {
      // Every worker busy and none finished a request since the last look: they are all
      // in long requests (downloads, pushes). Add a worker so parked connections keep moving.
      std::lock_guard<std::mutex> lock(mu_);
      bool spawned = false;
      if (idle_workers_ == 0 && workers_ > 0 && served_ == served_before && workers_ <= opts_.max_connections) {
        SpawnWorker();
        spawned = true;
      }
      served_before = served_;
      // Look again soon while no worker is idle, or one was just added (it may be taken at once
      // by a queued connection: the stall may go on).
      wait_ms = idle_workers_ == 0 || spawned ? int(kStallCheck.count()) : 250;
    }
    if (std::chrono::steady_clock::now() - last_reap > std::chrono::milliseconds(250)) {
      ReapIdle();
      last_reap = std::chrono::steady_clock::now();
    }
    if (pr <= 0) continue;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: the connection stays in the backlog; do not spin on it.
        LogWarn("accept: {}", std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      continue;
    }
    char addr[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, addr, sizeof addr);
    } else if (ss.ss_family == AF_INET6) {
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, addr, sizeof addr);
    }
    std::string client = ClientKey(ss);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {opts_.io_timeout_s, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    std::lock_guard<std::mutex> lock(mu_);
    bool client_full = false;
    if (!MakeRoom(client, &client_full)) {
      // Every connection that could give way is in a request: refuse this one.
      if (client_full) {
        metrics_->AddCounter("connections_refused_client_limit", 1);
        SendSimpleError(fd, 429, "TooManyConnections",
                        "this client holds the most connections allowed per client address; retry later");
      } else {
        metrics_->AddCounter("connections_refused_server_limit", 1);
        SendSimpleError(fd, 503, "TooManyConnections", "the server is at its connection limit; retry later");
      }
      ::close(fd);
      continue;
    }
    uint64_t id = next_id_++;
    struct epoll_event ev = {};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = id;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      LogError("epoll_ctl add: {}", std::strerror(errno));
      ::close(fd);
      continue;
    }
    auto conn = std::make_unique<Connection>(id, fd, addr, client);
    conn->stream.SetIoTimeout(opts_.io_timeout_s * 1000);
    conns_.emplace(id, std::move(conn));
    per_client_[client]++;
    connections_++;
    metrics_->connections_open++;
    if (idle_workers_ == 0 && workers_ < base_workers_) SpawnWorker();
  }
  ::close(listen_fd_);
  listen_fd_ = -1;
  // Drain: close parked (idle) connections now, wait for requests in progress (their
  // connections close when they end), then for the workers to exit.
  std::unique_lock<std::mutex> lock(mu_);
  std::vector<uint64_t> idle;
  for (const auto& [id, c] : conns_) {
    if (!c->active) idle.push_back(id);
  }
  for (uint64_t id : idle) CloseConnection(id);
  cv_.wait_for(lock, std::chrono::seconds(drain_timeout_s_.load()),
               [this] { return connections_ == 0 && workers_ == 0; });
  if (connections_ > 0) {
    LogWarn("shutdown: {} connections still open after the drain timeout; closing them", connections_);
    // Their requests' socket I/O fails from now on, so the workers serving them return.
    for (const auto& [id, c] : conns_) ::shutdown(c->fd, SHUT_RDWR);
  }
  // Workers use this object's connections and epoll set: Serve() returns only once they are gone.
  cv_.wait(lock, [this] { return workers_ == 0; });
}

void HttpServer::Stop(int drain_timeout_s) {
  drain_timeout_s_ = drain_timeout_s;
  stopping_ = true;
}

void HttpServer::CloseConnection(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second->fd, nullptr);
  ::close(it->second->fd);
  auto pc = per_client_.find(it->second->client);
  if (pc != per_client_.end() && --pc->second <= 0) per_client_.erase(pc);
  conns_.erase(it);
  connections_--;
  metrics_->connections_open--;
  cv_.notify_all();
}

bool HttpServer::MakeRoom(const std::string& client, bool* client_full) {
  *client_full = false;
  const bool over_client = opts_.max_client_connections > 0 && [&] {
    auto pc = per_client_.find(client);
    return pc != per_client_.end() && pc->second >= opts_.max_client_connections;
  }();
  const bool over_server = connections_ >= opts_.max_connections;
  if (!over_client && !over_server) return true;
  // A parked connection (idle between requests, or waiting for its head) gives way: of this client
  // at its own limit; at the server's limit, of the client holding the most connections (a flood
  // from one address displaces itself, not others). The longest-parked one goes first.
  Connection* victim = nullptr;
  int victim_weight = -1;
  for (const auto& [id, c] : conns_) {
    if (c->active || c->deferred) continue;  // a deferred request arrived in time: it is served
    int weight = 0;
    if (over_client) {
      if (c->client != client) continue;
    } else {
      auto pc = per_client_.find(c->client);
      weight = pc == per_client_.end() ? 0 : pc->second;
    }
    if (victim == nullptr || weight > victim_weight || (weight == victim_weight && c->parked_at < victim->parked_at)) {
      victim = c.get();
      victim_weight = weight;
    }
  }
  if (victim == nullptr) {
    *client_full = over_client;
    return false;
  }
  metrics_->AddCounter(over_client ? "connections_evicted_client_limit" : "connections_evicted_server_limit", 1);
  CloseConnection(victim->id);
  return true;
}

void HttpServer::ReapIdle() {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> expired;
  int head_timeouts = 0;
  for (const auto& [id, c] : conns_) {
    if (c->active || c->deferred) continue;
    if (c->head_pending) {
      if (now - c->head_since > std::chrono::seconds(opts_.head_timeout_s)) {
        expired.push_back(id);
        head_timeouts++;
      }
    } else if (now - c->parked_at > std::chrono::seconds(opts_.idle_timeout_s)) {
      expired.push_back(id);
    }
  }
  for (uint64_t id : expired) CloseConnection(id);
  if (head_timeouts > 0) metrics_->AddCounter("connections_head_timeout", head_timeouts);
}

void HttpServer::WorkerLoop() {
  while (true) {
    struct epoll_event ev = {};
    int n = ::epoll_wait(epoll_fd_, &ev, 1, 250);
    Connection* c = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (n <= 0) {
        // Quiet: workers beyond the base set leave while another one stays idle.
        if (stopping_.load() || (workers_ > base_workers_ && idle_workers_ > 1)) {
          --idle_workers_;
          --workers_;
          cv_.notify_all();
          return;
        }
        continue;
      }
      const uint64_t id = ev.data.u64;  // epoll_event is packed: copy before binding a reference
      auto it = conns_.find(id);
      if (it == conns_.end() || it->second->active) continue;  // closed meanwhile
      c = it->second.get();
      c->active = true;
      --idle_workers_;
      if (idle_workers_ == 0 && workers_ < base_workers_) SpawnWorker();
    }
    while (c != nullptr) {
      After after = ServeRequests(*c);
      std::lock_guard<std::mutex> lock(mu_);
      ++served_;
      if (after == After::kDeferred) {
        c = nullptr;  // waits in deferred_, owned by no worker
        break;
      }
      // The next waiting request of this client takes the slot, and this worker serves it.
      Connection* next = ReleaseRequestSlot(*c);
      if (after == After::kClose || stopping_.load()) {
        CloseConnection(c->id);
      } else {
        // Park: mark inactive before re-arming, so the worker woken next finds it free.
        c->active = false;
        c->parked_at = std::chrono::steady_clock::now();
        struct epoll_event re = {};
        re.events = EPOLLIN | EPOLLONESHOT;
        re.data.u64 = c->id;
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->fd, &re) != 0) CloseConnection(c->id);
      }
      c = next;
    }
    std::lock_guard<std::mutex> lock(mu_);
    ++idle_workers_;
  }
}

bool HttpServer::AcquireRequestSlot(Connection& c) {
  if (opts_.max_client_requests <= 0) return true;
  std::lock_guard<std::mutex> lock(mu_);
  int& n = client_requests_[c.client];
  if (n < opts_.max_client_requests) {
    n++;
    c.holds_slot = true;
    return true;
  }
  // Checked and queued under one lock: a slot given back later finds this connection.
  c.deferred = true;
  c.active = false;
  c.parked_at = std::chrono::steady_clock::now();
  deferred_[c.client].push_back(c.id);
  metrics_->AddCounter("requests_deferred_client_limit", 1);
  return false;
}

HttpServer::Connection* HttpServer::ReleaseRequestSlot(Connection& c) {
  if (!c.holds_slot) return nullptr;
  c.holds_slot = false;
  auto q = deferred_.find(c.client);
  while (q != deferred_.end() && !q->second.empty()) {
    uint64_t id = q->second.front();
    q->second.pop_front();
    auto it = conns_.find(id);
    if (it == conns_.end() || !it->second->deferred) continue;  // closed meanwhile
    Connection* next = it->second.get();
    next->deferred = false;
    next->active = true;
    next->holds_slot = true;  // the slot passes on
    if (q->second.empty()) deferred_.erase(q);
    return next;
  }
  if (q != deferred_.end()) deferred_.erase(q);
  auto n = client_requests_.find(c.client);
  if (n != client_requests_.end() && --n->second <= 0) client_requests_.erase(n);
  return nullptr;
}

HttpServer::After HttpServer::ServeRequests(Connection& c) {
  while (true) {
    switch (ReadHead(c)) {
      case HeadState::kClosed: return After::kClose;
      case HeadState::kPending: return After::kPark;  // wait in the epoll set for the rest of the head
      case HeadState::kReady: break;
    }
    if (!c.holds_slot && !AcquireRequestSlot(c)) return After::kDeferred;
    if (!ServeOne(c)) return After::kClose;
    c.head_scanned = 0;
    // Bytes of the next request already read (pipelining): its head is pending from now.
    c.head_pending = c.buf.size() > 0;
    if (c.head_pending) c.head_since = std::chrono::steady_clock::now();
    if (!c.head_pending) return After::kPark;
  }
}

HttpServer::HeadState HttpServer::ReadHead(Connection& c) {
  auto complete = [&c] {
    auto data = c.buf.data();
    std::string_view seen(static_cast<const char*>(data.data()), data.size());
    size_t from = c.head_scanned >= 3 ? c.head_scanned - 3 : 0;
    if (seen.find("\r\n\r\n", from) != std::string_view::npos) return true;
    c.head_scanned = seen.size();  // searched: a terminator can only end past it
    return false;
  };
  if (c.buf.size() > 0 && complete()) return HeadState::kReady;
  while (true) {
    if (c.buf.size() > opts_.max_header_bytes) return HeadState::kReady;  // the parser answers 431
    size_t want = std::max<size_t>(opts_.max_header_bytes + 1 - c.buf.size(), 4096);
    auto space = c.buf.prepare(std::min<size_t>(want, 64 * 1024));
    ssize_t n = ::recv(c.fd, space.data(), space.size(), MSG_DONTWAIT);
    if (n > 0) {
      c.buf.commit(size_t(n));
      if (!c.head_pending) {
        c.head_pending = true;
        c.head_since = std::chrono::steady_clock::now();
      }
      if (complete()) return HeadState::kReady;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return HeadState::kPending;
    return HeadState::kClosed;  // the client closed (or reset) before a complete head
  }
}

bool HttpServer::ServeOne(Connection& c) {
  const int fd = c.fd;
  bool keep_alive = true;
  auto start = std::chrono::steady_clock::now();
  HeaderParser hp;
  hp.header_limit(uint32_t(opts_.max_header_bytes));
  // Beast 1.74 mishandles boost::none here (len > none is true): use the max.
  hp.body_limit(std::numeric_limits<std::uint64_t>::max());
  boost::system::error_code ec;
  // The head is in c.buf (ReadHead): parsing it must not wait for the socket.
  c.stream.SetNoWait(true);
  try {
    http::read_header(c.stream, c.buf, hp, ec);
  } catch (const std::exception& e) {
    SendSimpleError(fd, 400, "BadRequest", "malformed HTTP request head");
    return false;
  }
  c.stream.SetNoWait(false);
  if (ec) {
    if (ec == http::error::end_of_stream || ec == boost::asio::error::eof || ec == boost::asio::error::timed_out ||
        ec == boost::asio::error::connection_reset) {
      return false;
    }
    if (ec == boost::asio::error::would_block) {
      SendSimpleError(fd, 400, "BadRequest", "malformed HTTP request head");
    } else if (ec == http::error::header_limit) {
      SendSimpleError(fd, 431, "HeadersTooLarge",
                      fmt::format("request headers exceed the limit of {} bytes", opts_.max_header_bytes));
    } else {
      SendSimpleError(fd, 400, "BadRequest", "malformed HTTP request: " + ec.message());
    }
    return false;
  }

  Request req;
  const auto& msg = hp.get();
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  auto q = req.target.find('?');
  req.path = req.target.substr(0, q);
  req.raw_query = q == std::string::npos ? "" : req.target.substr(q + 1);
  req.remote_addr = c.remote;
  for (const auto& f : msg) req.headers.emplace_back(ToLower(f.name_string()), std::string(f.value()));
  if (auto cl = hp.content_length()) req.content_length = int64_t(*cl);
  req.chunked = hp.chunked();
  bool expect_continue = false;
  if (auto e = req.Header("expect")) expect_continue = ToLower(*e) == "100-continue";
  keep_alive = msg.keep_alive();

  const bool implemented = Implemented(msg.method());
  BodyParser bp(std::move(hp));
  bp.body_limit(std::numeric_limits<std::uint64_t>::max());
  ParserBodyReader body(fd, &c.stream, &c.buf, &bp,
                        implemented && expect_continue && (req.content_length > 0 || req.chunked),
                        opts_.min_body_rate, opts_.body_rate_window_s);
  req.body = &body;
  req.client_gone = [fd] { return PeerHungUp(fd); };

  std::string request_id = NextRequestId();
  Response resp;
  if (!implemented) {
    SetErrorResponse(resp, 501, "NotImplemented", "method " + req.method + " is not implemented");
    resp.close = true;  // its body (if any) is not read
  } else {
    try {
      handler_(req, resp);
    } catch (const std::exception& e) {
      LogError("request {} {} {}: unhandled exception: {}", request_id, req.method, req.target, e.what());
      resp = Response();
      resp.SetJson(500, R"({"error":"internal server error"})");
      resp.SetHeader("X-Error-Message", "internal server error");
    }
  }
  // A request whose body failed is the client's mistake, whatever the handler made of it.
  if (body.failed() && (resp.status < 400 || resp.status >= 500)) {
    SetErrorResponse(resp, 400, body.error().hub_code().empty() ? "BadRequest" : body.error().hub_code(),
                     body.error().message());
  }
  resp.SetHeader("X-Request-Id", request_id);

  // A body the handler did not consume: drain a little (so that the client reads the answer rather
  // than a reset), for a bounded time (a refused slow body must not hold the worker), else close.
  if (!body.done() && !body.failed()) {
    if (req.content_length >= 0 && req.content_length - body.received() <= (1 << 20)) {
      constexpr auto kDrainFor = std::chrono::seconds(2);
      const auto drain_until = std::chrono::steady_clock::now() + kDrainFor;
      c.stream.SetIoTimeout(int(std::chrono::milliseconds(kDrainFor).count()));
      char sink[65536];
      while (std::chrono::steady_clock::now() < drain_until) {
        auto n = body.Read(sink, sizeof sink);
        if (!n.ok() || *n == 0) break;
      }
      c.stream.SetIoTimeout(opts_.io_timeout_s * 1000);
    }
    if (!body.done()) keep_alive = false;
  }
  if (body.failed() || resp.close || stopping_.load()) keep_alive = false;

  bool head = req.method == "HEAD";
  int64_t length = resp.stream ? resp.stream_length : int64_t(resp.body.size());
  std::string wire_head = FormatHead(resp, length, keep_alive);
  int64_t sent = 0;
  Status s = SendAll(fd, wire_head.data(), wire_head.size());
  bool body_allowed = !head && resp.status != 304 && resp.status != 204;
  if (s.ok() && body_allowed) {
    if (resp.stream) {
      auto r = SendStream(fd, resp.stream.get(), length);
      if (r.ok()) {
        sent = *r;
      } else {
        s = r.status();
      }
    } else {
      s = SendAll(fd, resp.body.data(), resp.body.size());
      if (s.ok()) sent = int64_t(resp.body.size());
    }
  }
  if (!s.ok()) keep_alive = false;

  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t in = std::max(body.received(), body.arrived());
  metrics_->ObserveRequest(resp.route, req.method, resp.status, secs, in, sent);
  if (opts_.access_log) {
    LogInfo("{} \"{} {}\" {} in={} out={} {:.1f}ms route={} id={}{}{}", c.remote, req.method, req.target, resp.status,
            in, sent, secs * 1000, resp.route, request_id,
            body.failed() ? " client-error=\"" + body.error().message() + "\"" : "",
            s.ok() ? "" : " send-error=" + s.message());
  }
  return keep_alive;
}

}  // namespace modelhub
