// HttpServer: HTTP/1.1 over plain TCP, one thread per connection (bounded).
//
// Why threads: every request may block on disk, SQLite or libgit2; with one
// thread per connection that blocking never stalls other clients, and the code
// stays straight-line. The connection cap bounds memory (each connection holds
// a 64 KiB read buffer plus a 1 MiB I/O buffer only while streaming).
// Requests are parsed with Beast's parser; bodies are pulled lazily by the
// handler; responses are written by us (sendfile for file ranges).
//
// Stop(): stops accepting, lets in-flight requests finish (up to the drain
// timeout), closes idle keep-alive connections. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

#include "common/status.h"
#include "net/http.h"
#include "net/metrics.h"

namespace modelhub {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0 = pick a free port
  size_t max_header_bytes = 64 * 1024;
  int max_connections = 1024;
  int idle_timeout_s = 75;  // keep-alive idle
  int io_timeout_s = 300;   // a stalled read/write inside a request
  bool access_log = true;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions opts, Handler handler, Metrics* metrics);
  ~HttpServer();
  Status Listen();        // binds and listens; port() is known afterwards
  int port() const { return port_; }
  void Serve();           // accept loop; returns after Stop() once drained
  void Stop(int drain_timeout_s);

 private:
  void HandleConnection(int fd, std::string remote);
  HttpServerOptions opts_;
  Handler handler_;
  Metrics* metrics_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> drain_timeout_s_{30};
  std::mutex mu_;
  std::condition_variable cv_;
  int connections_ = 0;  // guarded by mu_
  int busy_ = 0;         // connections inside a request; guarded by mu_
};

}  // namespace modelhub
