#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "net/http.h"
#include "net/http_server.h"

namespace modelhub {
namespace {

TEST(ParseRange, Forms) {
  auto r = ParseRange("bytes=0-0", 10);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->first, 0);
  EXPECT_EQ((*r)->last, 0);
  r = ParseRange("bytes=5-", 10);
  EXPECT_EQ((*r)->first, 5);
  EXPECT_EQ((*r)->last, 9);
  r = ParseRange("bytes=-3", 10);
  EXPECT_EQ((*r)->first, 7);
  r = ParseRange("bytes=2-100", 10);
  EXPECT_EQ((*r)->last, 9);
  EXPECT_EQ(ParseRange("bytes=10-", 10).status().code(), Code::kRangeNotSatisfiable);
  EXPECT_FALSE(ParseRange("bytes=5-2", 10)->has_value());  // invalid: ignored, whole body served
  EXPECT_FALSE(ParseRange("items=1-2", 10)->has_value());
  EXPECT_FALSE(ParseRange("bytes=0-1,3-4", 10)->has_value());
}

TEST(Query, ParseAndBrackets) {
  Request req;
  req.raw_query = "expand%5B%5D=a&expand=b&x=1+2&flag";
  EXPECT_EQ(req.QueryAll("expand").size(), 2u);
  EXPECT_EQ(*req.Query("x"), "1 2");
  EXPECT_EQ(*req.Query("flag"), "");
  EXPECT_FALSE(req.Query("nope").has_value());
}

int ConnectTo(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(uint16_t(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  return fd;
}

std::string Roundtrip(int port, const std::string& raw) {
  int fd = ConnectTo(port);
  EXPECT_EQ(::send(fd, raw.data(), raw.size(), 0), ssize_t(raw.size()));
  ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, size_t(n));
  ::close(fd);
  return out;
}

TEST(HttpServer, EchoKeepAliveChunkedAndErrors) {
  Metrics metrics;
  HttpServerOptions opts;
  opts.port = 0;
  opts.max_header_bytes = 4096;
  opts.access_log = false;
  HttpServer server(opts, [](Request& req, Response& resp) {
    auto body = req.ReadBody(1000);
    if (!body.ok()) {
      resp.SetJson(413, R"({"error":"too large"})");
      return;
    }
    resp.body = req.method + " " + req.path + " " + *body;
  }, &metrics);
  ASSERT_TRUE(server.Listen().ok());
  std::thread t([&] { server.Serve(); });

  std::string out = Roundtrip(server.port(),
                              "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                              "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                              "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(out.find("POST /a hello"), std::string::npos) << out;
  EXPECT_NE(out.find("POST /b abc"), std::string::npos) << out;
  EXPECT_NE(out.find("GET /c "), std::string::npos) << out;

  out = Roundtrip(server.port(), "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
  EXPECT_NE(out.find("HTTP/1.1 413"), std::string::npos) << out;

  out = Roundtrip(server.port(), "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n");
  EXPECT_NE(out.find("HTTP/1.1 431"), std::string::npos) << out;

  out = Roundtrip(server.port(), "garbage\r\n\r\n");
  EXPECT_NE(out.find("HTTP/1.1 400"), std::string::npos) << out;

  server.Stop(5);
  t.join();
  EXPECT_NE(metrics.RenderPrometheus().find("modelhub_http_requests_total"), std::string::npos);
}

TEST(HttpServer, LongRequestsAndIdleConnectionsDoNotStallOthers) {
  // Requests that block (as downloads and pushes do) on more connections than the base set of
  // workers, plus many idle keep-alive connections: a new request is still answered promptly.
  Metrics metrics;
  HttpServerOptions opts;
  opts.port = 0;
  opts.access_log = false;
  std::atomic<bool> release{false};
  std::atomic<int> slow_started{0};
  HttpServer server(opts, [&](Request& req, Response& resp) {
    if (req.path == "/slow") {
      slow_started++;
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!release.load() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
    resp.body = "done " + req.path;
  }, &metrics);
  ASSERT_TRUE(server.Listen().ok());
  std::thread t([&] { server.Serve(); });

  std::vector<int> idle;
  for (int i = 0; i < 50; ++i) idle.push_back(ConnectTo(server.port()));
  const int kSlow = 2 * int(std::thread::hardware_concurrency()) + 6;
  std::vector<std::thread> slow;
  std::vector<std::string> slow_out(static_cast<size_t>(kSlow));
  for (int i = 0; i < kSlow; ++i) {
    slow.emplace_back([&, i] {
      slow_out[size_t(i)] = Roundtrip(server.port(), "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    });
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (slow_started.load() < kSlow && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(slow_started.load(), kSlow) << "blocked requests were not all taken by workers";
  auto start = std::chrono::steady_clock::now();
  std::string out = Roundtrip(server.port(), "GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_NE(out.find("done /fast"), std::string::npos) << out;
  EXPECT_LT(took, std::chrono::seconds(2));
  EXPECT_FALSE(release.load());  // answered while every slow request still blocked

  release = true;
  for (auto& th : slow) th.join();
  for (const auto& o : slow_out) EXPECT_NE(o.find("done /slow"), std::string::npos) << o;
  for (int fd : idle) ::close(fd);
  server.Stop(5);
  t.join();
}

int ConnectFrom(int port, const char* src) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in local = {};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, src, &local.sin_addr);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
  sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(uint16_t(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  return fd;
}

// Seconds until the server closes fd (reads and discards any answer), or -1 after `limit_s`.
double SecondsUntilClosed(int fd, int limit_s, std::string* answer = nullptr) {
  struct timeval tv = {limit_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto start = std::chrono::steady_clock::now();
  char buf[4096];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      if (answer) answer->append(buf, size_t(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return -1;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
}

struct TestServer {
  explicit TestServer(HttpServerOptions opts, Handler h = [](Request& req, Response& resp) {
    auto body = req.ReadBody(1 << 20);
    if (!body.ok()) {
      resp.SetJson(500, R"({"error":"handler gave up"})");  // the server must still answer 4xx
      return;
    }
    resp.body = "ok " + req.path;
  }) : server((opts.port = 0, opts.access_log = false, opts), std::move(h), &metrics) {
    EXPECT_TRUE(server.Listen().ok());
    thread = std::thread([this] { server.Serve(); });
  }
  ~TestServer() {
    server.Stop(2);
    thread.join();
  }
  int port() { return server.port(); }
  Metrics metrics;
  HttpServer server;
  std::thread thread;
};

TEST(HttpServer, OneClientAddressDisplacesOnlyItself) {
  HttpServerOptions opts;
  opts.max_client_connections = 4;
  opts.max_connections = 10;
  TestServer ts(opts);
  std::vector<int> flood;
  for (int i = 0; i < 30; ++i) flood.push_back(ConnectFrom(ts.port(), "127.0.0.2"));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_LE(ts.metrics.connections_open.load(), 4);
  // Other addresses fill the server past its global limit: the heaviest client gives way, and a
  // newcomer is still served.
  for (int i = 0; i < 4; ++i) flood.push_back(ConnectFrom(ts.port(), "127.0.0.3"));
  for (int i = 0; i < 4; ++i) flood.push_back(ConnectFrom(ts.port(), "127.0.0.4"));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  int fd = ConnectFrom(ts.port(), "127.0.0.1");
  std::string req = "GET /fresh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), ssize_t(req.size()));
  std::string answer;
  EXPECT_GE(SecondsUntilClosed(fd, 5, &answer), 0);
  EXPECT_NE(answer.find("ok /fresh"), std::string::npos) << answer;
  EXPECT_LE(ts.metrics.connections_open.load(), 10);
  ::close(fd);
  for (int f : flood) ::close(f);
}

TEST(HttpServer, HeadsMustArriveInTimeAndBodiesKeepARate) {
  HttpServerOptions opts;
  opts.head_timeout_s = 1;
  opts.min_body_rate = 1000;
  opts.body_rate_window_s = 1;
  TestServer ts(opts);
  int silent = ConnectTo(ts.port());
  int partial = ConnectTo(ts.port());
  std::string part = "GET / HTTP/1.1\r\nHost: x\r\n";
  ASSERT_EQ(::send(partial, part.data(), part.size(), 0), ssize_t(part.size()));
  double t = SecondsUntilClosed(silent, 5);
  EXPECT_GE(t, 0.5);
  EXPECT_LE(t, 3.0);
  t = SecondsUntilClosed(partial, 5);
  EXPECT_GE(t, 0);
  EXPECT_LE(t, 3.0);
  ::close(silent);
  ::close(partial);

  // 5 bytes/s against a minimum of 1000: cut after one window with a 400.
  int slow = ConnectTo(ts.port());
  std::string head = "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n";
  ASSERT_EQ(::send(slow, head.data(), head.size(), 0), ssize_t(head.size()));
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    while (!stop.load()) {
      if (::send(slow, "x", 1, MSG_NOSIGNAL) != 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  std::string answer;
  t = SecondsUntilClosed(slow, 6, &answer);
  stop = true;
  trickle.join();
  EXPECT_GE(t, 0);
  EXPECT_NE(answer.find("HTTP/1.1 400"), std::string::npos) << answer;
  EXPECT_NE(answer.find("RequestBodyTooSlow"), std::string::npos) << answer;
  ::close(slow);
}

TEST(HttpServer, TimeTheHandlerSpendsDoesNotCountAgainstTheBodyRate) {
  HttpServerOptions opts;
  opts.min_body_rate = 1000;
  opts.body_rate_window_s = 1;
  TestServer ts(opts, [](Request& req, Response& resp) {
    char buf[200];
    int64_t total = 0;
    while (true) {
      auto n = req.body->Read(buf, sizeof buf);
      if (!n.ok()) {
        resp.SetJson(400, R"({"error":"cut"})");
        return;
      }
      if (*n == 0) break;
      total += int64_t(*n);
      // Busy longer than a rate window (e.g. writing to storage): a wall-clock rate would be 180 B/s.
      std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    }
    resp.body = "got " + std::to_string(total);
  });
  // The client sends at ~670 B/s, below the minimum by the wall clock; but the server never waits long for it.
  int fd = ConnectTo(ts.port());
  std::string head = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 600\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(fd, head.data(), head.size(), 0), ssize_t(head.size()));
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_EQ(::send(fd, std::string(200, 'y').data(), 200, 0), 200);
  }
  std::string out;
  EXPECT_GE(SecondsUntilClosed(fd, 10, &out), 0);
  ::close(fd);
  EXPECT_NE(out.find("got 600"), std::string::npos) << out;
}

TEST(HttpServer, ClientMistakesAre4xxAndUnknownMethods501) {
  TestServer ts{HttpServerOptions{}};
  std::string out = Roundtrip(ts.port(), "POST /short HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
  EXPECT_NE(out.find("HTTP/1.1 400"), std::string::npos) << out;
  EXPECT_NE(out.find("IncompleteRequestBody"), std::string::npos) << out;

  out = Roundtrip(ts.port(), "POST /trailer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Big: " +
                                 std::string(100000, 'a') + "\r\n\r\n");
  EXPECT_NE(out.find("HTTP/1.1 4"), std::string::npos) << out;
  EXPECT_EQ(out.find("HTTP/1.1 5"), std::string::npos) << out;

  out = Roundtrip(ts.port(), "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(out.find("HTTP/1.1 501"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Error-Code: NotImplemented"), std::string::npos) << out;
  EXPECT_EQ(out.find("ok /pot"), std::string::npos) << out;
}

TEST(HttpServer, OneClientsRequestsBeyondItsShareWaitWithoutAThread) {
  HttpServerOptions opts;
  opts.max_client_requests = 2;
  std::atomic<bool> release{false};
  std::atomic<int> in_handler{0};
  TestServer ts(opts, [&](Request& req, Response& resp) {
    in_handler++;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (req.path == "/slow" && !release.load() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    resp.body = "done " + req.path;
  });
  std::string slow_req = "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  std::vector<int> slow;
  for (int i = 0; i < 5; ++i) {
    slow.push_back(ConnectFrom(ts.port(), "127.0.0.2"));
    ASSERT_EQ(::send(slow.back(), slow_req.data(), slow_req.size(), 0), ssize_t(slow_req.size()));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(in_handler.load(), 2);  // the client's share; the other three wait
  // Another client is served at once.
  int other = ConnectFrom(ts.port(), "127.0.0.1");
  std::string fast = "GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(other, fast.data(), fast.size(), 0), ssize_t(fast.size()));
  std::string answer;
  double t = SecondsUntilClosed(other, 5, &answer);
  EXPECT_GE(t, 0);
  EXPECT_LT(t, 2);
  EXPECT_NE(answer.find("done /fast"), std::string::npos) << answer;
  ::close(other);
  release = true;
  for (int fd : slow) {
    answer.clear();
    EXPECT_GE(SecondsUntilClosed(fd, 5, &answer), 0);
    EXPECT_NE(answer.find("done /slow"), std::string::npos) << answer;
    ::close(fd);
  }
  EXPECT_EQ(in_handler.load(), 6);
}

}  // namespace
}  // namespace modelhub
