// HttpServer: HTTP/1.1 over plain TCP. Connections wait for their next request
// in an epoll set; a pool of worker threads takes each connection that became
// readable and serves its request(s) with blocking I/O, then parks it again.
//
// Why blocking workers: every request may block on disk, SQLite or libgit2; a
// worker serving one request at a time keeps handlers straight-line code. The
// pool grows whenever every worker is busy (so a slow request never stalls other
// clients) and shrinks when workers sit idle: up to a base set (twice the cores)
// a worker is added whenever none is idle; beyond it only when no request
// finished for kStallCheck while every worker was busy (all in long requests:
// downloads, pushes), at most one worker per connection. An idle keep-alive
// connection costs no thread, and under load a worker goes from one ready
// connection to the next without sleeping (few threads, few context switches). The connection cap
// bounds memory (each connection holds its read buffer, a worker a 1 MiB I/O
// buffer only while streaming). Requests are parsed with Beast's parser; bodies
// are pulled lazily by the handler; responses are written by us (sendfile for
// file ranges, the source's own buffers for sources with views).
//
// Abuse limits (security issue #11). A connection waits for a request head in
// the epoll set, not in a worker: a worker woken for it reads what has arrived
// without blocking and parks it again until the head is complete, so slow heads
// (slowloris) cost no thread. A head must be complete within head_timeout_s of
// the connection opening (or of its first byte, after an earlier request);
// idle keep-alive connections are closed after idle_timeout_s. A request body
// must arrive at min_body_rate bytes/s at least, averaged over each
// body_rate_window_s of time spent waiting for it (time the handler spends
// working between reads does not count), else it is cut. One client address
// (IPv4 address, IPv6 /64) holds at most max_client_connections connections;
// at that limit, or at the global max_connections, a new connection replaces
// the longest-parked idle or head-pending connection of the client holding the
// most connections, and is refused (429 / 503) only when every candidate is in
// the middle of a request. One client address has at most max_client_requests
// requests in handlers at once (each holds a worker thread: a slow body holds
// it until it is cut); its further requests wait, parked without a thread, and
// the worker that ends one of its requests takes the next. Client mistakes in a request (a body shorter than
// its Content-Length, a malformed chunk or trailer, a stalled body) are client
// errors: the handler sees InvalidArgument from BodyReader::Read and the
// response is a 4xx whatever the handler answered. Methods the server does not
// implement get 501 without reaching the handler.
//
// Stop(): stops accepting, lets in-flight requests finish (up to the drain
// timeout), closes idle keep-alive connections. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/status.h"
#include "net/http.h"
#include "net/metrics.h"

namespace modelhub {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0 = pick a free port
  size_t max_header_bytes = 64 * 1024;
  int max_connections = 1024;
  // Connections one client address may hold (IPv6: one /64); 0 = no per-client limit (behind a
  // proxy every connection comes from the proxy's address: the proxy limits its clients instead).
  int max_client_connections = 128;
  // Requests one client address may have in handlers at once (each holds a worker thread); more wait,
  // parked without a thread, until one of that client's requests ends. 0 = no limit.
  int max_client_requests = 64;
  int idle_timeout_s = 75;  // keep-alive idle, between requests
  int head_timeout_s = 20;  // a request head must be complete within this (from accept or its first byte)
  int io_timeout_s = 300;   // a stalled read/write inside a request
  // A request body slower than this many bytes/s over body_rate_window_s of waiting is cut (0 = off).
  int64_t min_body_rate = 1024;
  int body_rate_window_s = 20;
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
  struct Connection;
  enum class HeadState { kReady, kPending, kClosed };
  enum class After { kPark, kClose, kDeferred };  // what ServeRequests leaves the worker to do
  void WorkerLoop();
  void SpawnWorker();  // requires mu_
  // Admits a new connection from `client` (requires mu_): true if there is room, making it by
  // closing a parked connection if needed; false if the connection must be refused.
  bool MakeRoom(const std::string& client, bool* client_full);
  // Serves the requests buffered or arriving on c: kClose when c must be closed, kPark as soon as
  // the next request head is not complete yet, kDeferred when c's client has max_client_requests
  // in progress (c then waits in deferred_ and belongs to no worker: the caller must not touch it).
  After ServeRequests(Connection& c);
  // Takes a request slot of c's client (requires not mu_), or defers c; true if c may be served.
  bool AcquireRequestSlot(Connection& c);
  // Gives back c's slot (requires mu_) and returns a deferred connection of the same client, now
  // active and holding a slot, for the caller to serve; nullptr if none waits.
  Connection* ReleaseRequestSlot(Connection& c);
  // Reads what has arrived on c without blocking; kReady once c.buf holds a complete head
  // (or more than max_header_bytes: the parser then answers 431).
  HeadState ReadHead(Connection& c);
  bool ServeOne(Connection& c);  // one request whose head is in c.buf; returns keep-alive
  void CloseConnection(uint64_t id);  // requires mu_; c must not be active
  void ReapIdle();  // closes parked connections past the idle or head timeout

  HttpServerOptions opts_;
  Handler handler_;
  Metrics* metrics_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> drain_timeout_s_{30};
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> conns_;  // guarded by mu_
  uint64_t next_id_ = 1;   // guarded by mu_
  int connections_ = 0;    // guarded by mu_
  std::unordered_map<std::string, int> per_client_;  // open connections by client key; guarded by mu_
  std::unordered_map<std::string, int> client_requests_;  // requests in handlers by client; guarded by mu_
  std::unordered_map<std::string, std::deque<uint64_t>> deferred_;  // waiting for a slot; guarded by mu_
  int workers_ = 0;        // guarded by mu_
  int idle_workers_ = 0;   // workers waiting for a ready connection; guarded by mu_
  uint64_t served_ = 0;    // connections handed back by workers; guarded by mu_
  const int base_workers_;
  static constexpr std::chrono::milliseconds kStallCheck{10};
};

}  // namespace modelhub
