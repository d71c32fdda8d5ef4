// fuzz_http_server: the HTTP/1.1 front end (net/http_server.h) — request
// line, headers, Content-Length / chunked bodies and trailers, Expect,
// keep-alive, pipelining, heads that arrive in pieces, methods the server does
// not implement — through a real socket.
//
// One HttpServer is started per process on 127.0.0.1, port 0, with a handler
// that reads the body (req.ReadBody(1 << 16)) and echoes what it saw. Each
// input is one TCP connection: send the bytes, shutdown(SHUT_WR), read the
// reply until EOF. ASan/UBSan catch memory errors in the server threads; the
// harness aborts if the server does not close the half-closed connection
// within kReplyTimeoutS (a hang), or if a reply does not start with a status line.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "common/log.h"
#include "fuzz_util.h"
#include "net/http_server.h"
#include "net/metrics.h"

namespace modelhub {
namespace {

constexpr int kReplyTimeoutS = 8;  // below libFuzzer's -timeout=10

void Echo(Request& req, Response& resp) {
  auto body = req.ReadBody(1 << 16);
  std::string text = fmt::format("{} {} query={} headers={} content-length={} chunked={} ", req.method, req.path,
                                 req.raw_query.size(), req.headers.size(), req.content_length, req.chunked);
  if (body.ok()) {
    text += fmt::format("body={}\n", body->size());
    resp.status = 200;
  } else {
    text += body.status().ToString() + "\n";
    resp.status = body.status().code() == Code::kTooLarge ? 413 : 400;
  }
  if (req.Query("close")) resp.close = true;
  resp.SetHeader("Content-Type", "text/plain");
  resp.body = std::move(text);
}

struct Server {
  Metrics metrics;
  std::unique_ptr<HttpServer> http;
  int port = 0;

  Server() {
    signal(SIGPIPE, SIG_IGN);
    SetLogLevel(LogLevel::kError);
    HttpServerOptions opts;
    opts.host = "127.0.0.1";
    opts.port = 0;
    opts.max_header_bytes = 8 * 1024;  // small, so the fuzzer reaches the limit
    opts.max_connections = 64;
    opts.idle_timeout_s = 2;
    opts.head_timeout_s = 2;
    opts.io_timeout_s = 2;
    opts.max_client_connections = 8;  // every input comes from 127.0.0.1: the limit's eviction path runs
    opts.body_rate_window_s = 1;
    opts.access_log = false;
    http = std::make_unique<HttpServer>(opts, Echo, &metrics);
    Status s = http->Listen();
    FUZZ_CHECK(s.ok(), "cannot listen: {}", s.ToString());
    port = http->port();
    serve_thread = std::thread([this] { http->Serve(); });
  }
  // At exit: stop accepting and wait for Serve() to drain and return.
  ~Server() {
    http->Stop(1);
    serve_thread.join();
  }
  std::thread serve_thread;
};

Server& TheServer() {
  static Server server;
  return server;
}

}  // namespace
}  // namespace modelhub

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  modelhub::TheServer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  using namespace modelhub;
  int port = TheServer().port;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(fd >= 0, "socket: {}", std::strerror(errno));
  struct timeval tv = {kReplyTimeoutS, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && errno == EINTR) {
    // libFuzzer's SIGALRM (its -timeout watchdog) interrupted connect(); the
    // connection still completes in the background.
    struct pollfd pfd = {fd, POLLOUT, 0};
    while ((rc = ::poll(&pfd, 1, kReplyTimeoutS * 1000)) < 0 && errno == EINTR) {
    }
    int err = 0;
    socklen_t err_len = sizeof err;
    if (rc == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) == 0 && err == 0) rc = 0;
    else errno = rc == 0 ? ETIMEDOUT : err;
  }
  FUZZ_CHECK(rc == 0, "connect to the server on port {}: {}", port, std::strerror(errno));

  // The server may answer and close before reading everything (a bad header):
  // a failed send is fine, a reply is still read.
  size_t off = 0;
  while (off < len) {
    ssize_t n = ::send(fd, data + off, len - off, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    off += size_t(n);
  }
  ::shutdown(fd, SHUT_WR);

  std::string reply;
  char buf[65536];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      reply.append(buf, size_t(n));
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) break;  // closed with unread request bytes: a reset, not a hang
    FUZZ_CHECK(errno != EAGAIN && errno != EWOULDBLOCK,
               "the server kept a half-closed connection open for {} s; request {}", kReplyTimeoutS,
               fuzz::Quote(std::string_view(reinterpret_cast<const char*>(data), len)));
    FUZZ_CHECK(false, "recv: {}", std::strerror(errno));
  }
  ::close(fd);
  FUZZ_CHECK(reply.empty() || reply.rfind("HTTP/1.1 ", 0) == 0, "reply does not start with a status line: {}",
             fuzz::Quote(reply));
  return 0;
}
