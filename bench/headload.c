/*
 * headload: a minimal closed-loop HTTP/1.1 load generator for HEAD (and GET) requests, used by
 * bench/head_rps.sh because wrk 4.1 (Debian 12) cannot benchmark HEAD: its response parser expects
 * the Content-Length body a HEAD response does not carry, so every request ends as a read error
 * (wg/wrk issue #198). The same goes for h2load --h1, and ab -k waits for a server close unless the
 * response carries a literal "Keep-Alive" header.
 *
 * Like wrk: T threads, C keep-alive connections spread over them, each connection sends one request,
 * waits for the complete response, sends the next, for D seconds. Every completed request's latency
 * (request written -> response complete) is kept, so percentiles are exact.
 *
 *   headload [-m HEAD|GET] [-c 64] [-t 2] [-d 10] http://127.0.0.1:PORT/path
 *
 * Output (one "key: value" a line): requests, seconds, rps, status_2xx, status_other, errors
 * (connect/read/parse errors and server closes), p50_ms, p90_ms, p99_ms, max_ms.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 65536

static char g_request[4096];
static size_t g_request_len;
static int g_is_head = 1;
static struct sockaddr_in g_addr;
static double g_deadline;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
  int fd;
  size_t sent;       /* bytes of the request written */
  size_t have;       /* bytes in buf */
  double t_start;    /* request start */
  char buf[BUF_SIZE];
  /* body skipping for GET */
  long long body_left;
  int in_body;
  int status;
  int close_after;
} conn_t;

typedef struct {
  int nconns;
  conn_t *conns;
  uint32_t *lat_us;  /* completed request latencies, microseconds */
  size_t nlat, caplat;
  long long s2xx, sother, errors;
  pthread_t tid;
} worker_t;

static void add_lat(worker_t *w, double secs) {
  if (w->nlat == w->caplat) {
    w->caplat = w->caplat ? w->caplat * 2 : 65536;
    w->lat_us = realloc(w->lat_us, w->caplat * sizeof(uint32_t));
    if (!w->lat_us) { perror("realloc"); exit(2); }
  }
  double us = secs * 1e6;
  w->lat_us[w->nlat++] = us > 4e9 ? 4000000000u : (uint32_t)us;
}

static int conn_open(int ep, conn_t *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (struct sockaddr *)&g_addr, sizeof g_addr) < 0 && errno != EINPROGRESS) {
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  c->sent = 0;
  c->have = 0;
  c->in_body = 0;
  c->close_after = 0;
  c->t_start = now_s();
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
  return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void conn_reset(int ep, conn_t *c) {
  if (c->fd >= 0) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
  }
  c->fd = -1;
  conn_open(ep, c);
}

static void want(int ep, conn_t *c, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what is left of the request; returns -1 on error. */
static int conn_write(int ep, conn_t *c) {
  while (c->sent < g_request_len) {
    ssize_t n = write(c->fd, g_request + c->sent, g_request_len - c->sent);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return -1;
    }
    c->sent += (size_t)n;
  }
  want(ep, c, EPOLLIN);
  return 0;
}

/* Starts the next request on a connected socket: writes it at once (a few hundred bytes fit in
 * the socket buffer), falls back to EPOLLOUT when it does not. -1 on error. */
static int start_request(int ep, conn_t *c) {
  c->sent = 0;
  c->have = 0;
  c->in_body = 0;
  c->t_start = now_s();
  while (c->sent < g_request_len) {
    ssize_t n = write(c->fd, g_request + c->sent, g_request_len - c->sent);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        want(ep, c, EPOLLIN | EPOLLOUT);
        return 0;
      }
      return -1;
    }
    c->sent += (size_t)n;
  }
  return 0;
}

/* Parses a complete head in c->buf[0..end); sets status, body_left, close_after. -1 if malformed. */
static int parse_head(conn_t *c, size_t end) {
  if (end < 12 || strncmp(c->buf, "HTTP/1.", 7) != 0) return -1;
  c->status = atoi(c->buf + 9);
  c->body_left = 0;
  c->close_after = strncmp(c->buf, "HTTP/1.0", 8) == 0;
  const char *p = c->buf, *lim = c->buf + end;
  while (p < lim) {
    const char *eol = memmem(p, (size_t)(lim - p), "\r\n", 2);
    if (!eol) break;
    size_t len = (size_t)(eol - p);
    if (len > 15 && strncasecmp(p, "content-length:", 15) == 0) {
      c->body_left = atoll(p + 15);
    } else if (len > 17 && strncasecmp(p, "transfer-encoding:", 18) == 0) {
      if (!g_is_head) return -1; /* chunked bodies not supported */
    } else if (len >= 11 && strncasecmp(p, "connection:", 11) == 0) {
      if (memmem(p, len, "close", 5)) c->close_after = 1;
      if (memmem(p, len, "keep-alive", 10) || memmem(p, len, "Keep-Alive", 10)) c->close_after = 0;
    }
    p = eol + 2;
  }
  if (g_is_head || c->status == 204 || c->status == 304) c->body_left = 0;
  return 0;
}

static int complete(int ep, worker_t *w, conn_t *c) {
  double t = now_s();
  if (t <= g_deadline) {
    add_lat(w, t - c->t_start);
    if (c->status >= 200 && c->status < 300) w->s2xx++; else w->sother++;
  }
  if (c->close_after) {
    conn_reset(ep, c);
    return 0;
  }
  return start_request(ep, c);
}

/* Reads and advances the response state machine; -1 on error/close. */
static int conn_read(int ep, worker_t *w, conn_t *c) {
  for (;;) {
    if (c->in_body) {
      char sink[BUF_SIZE];
      while (c->body_left > 0) {
        size_t want_n = c->body_left < (long long)sizeof sink ? (size_t)c->body_left : sizeof sink;
        ssize_t n = read(c->fd, sink, want_n);
        if (n == 0) return -1;
        if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
        c->body_left -= n;
      }
      c->in_body = 0;
      return complete(ep, w, c);
    }
    if (c->have == BUF_SIZE - 1) return -1; /* head too large */
    ssize_t n = read(c->fd, c->buf + c->have, BUF_SIZE - 1 - c->have);
    if (n == 0) return -1;
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    c->have += (size_t)n;
    c->buf[c->have] = 0;
    char *hend = memmem(c->buf, c->have, "\r\n\r\n", 4);
    if (!hend) continue;
    size_t head_len = (size_t)(hend - c->buf) + 4;
    if (parse_head(c, head_len) < 0) return -1;
    size_t extra = c->have - head_len;
    if ((long long)extra > c->body_left) return -1; /* unexpected bytes (no pipelining here) */
    c->body_left -= (long long)extra;
    c->have = 0;
    if (c->body_left > 0) {
      c->in_body = 1;
      continue;
    }
    return complete(ep, w, c);
  }
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) { perror("epoll_create1"); exit(2); }
  for (int i = 0; i < w->nconns; i++) {
    w->conns[i].fd = -1;
    if (conn_open(ep, &w->conns[i]) < 0) w->errors++;
  }
  struct epoll_event evs[256];
  while (now_s() < g_deadline) {
    for (int i = 0; i < w->nconns; i++)
      if (w->conns[i].fd < 0 && conn_open(ep, &w->conns[i]) < 0) w->errors++;
    int n = epoll_wait(ep, evs, 256, 50);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("epoll_wait");
      exit(2);
    }
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      int bad = (evs[i].events & EPOLLERR) != 0;
      if (!bad && (evs[i].events & EPOLLOUT) && c->sent < g_request_len) bad = conn_write(ep, c) < 0;
      if (!bad && (evs[i].events & (EPOLLIN | EPOLLHUP))) bad = conn_read(ep, w, c) < 0;
      if (bad) {
        if (now_s() < g_deadline) w->errors++;
        conn_reset(ep, c);
        if (c->fd < 0) usleep(1000); /* retried at the top of the loop */
      }
    }
  }
  for (int i = 0; i < w->nconns; i++)
    if (w->conns[i].fd >= 0) close(w->conns[i].fd);
  close(ep);
  return NULL;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void usage(void) {
  fprintf(stderr, "usage: headload [-m HEAD|GET] [-c conns] [-t threads] [-d seconds] http://IPv4:PORT/path\n");
  exit(2);
}

int main(int argc, char **argv) {
  int conns = 64, threads = 2, opt;
  double secs = 10;
  const char *method = "HEAD";
  while ((opt = getopt(argc, argv, "m:c:t:d:")) != -1) {
    switch (opt) {
      case 'm': method = optarg; break;
      case 'c': conns = atoi(optarg); break;
      case 't': threads = atoi(optarg); break;
      case 'd': secs = atof(optarg); break;
      default: usage();
    }
  }
  if (optind != argc - 1 || conns < 1 || threads < 1 || secs <= 0) usage();
  if (threads > conns) threads = conns;
  g_is_head = strcmp(method, "HEAD") == 0;
  if (!g_is_head && strcmp(method, "GET") != 0) usage();

  const char *url = argv[optind];
  if (strncmp(url, "http://", 7) != 0) usage();
  const char *hostport = url + 7;
  const char *path = strchr(hostport, '/');
  if (!path) path = "/";
  char host[256];
  size_t hl = (size_t)(path - hostport);
  if (*path != '/' || hl == 0 || hl >= sizeof host) usage();
  memcpy(host, hostport, hl);
  host[hl] = 0;
  char *colon = strrchr(host, ':');
  int port = 80;
  char ip[256];
  snprintf(ip, sizeof ip, "%s", host);
  if (colon) {
    port = atoi(colon + 1);
    ip[colon - host] = 0;
  }
  if (strcmp(ip, "localhost") == 0) snprintf(ip, sizeof ip, "127.0.0.1");
  memset(&g_addr, 0, sizeof g_addr);
  g_addr.sin_family = AF_INET;
  g_addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, ip, &g_addr.sin_addr) != 1) {
    fprintf(stderr, "headload: only IPv4 literal hosts (or localhost): %s\n", ip);
    return 2;
  }
  int rl = snprintf(g_request, sizeof g_request,
                    "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: modelhub-bench-headload\r\nAccept: */*\r\n\r\n",
                    method, path, host);
  if (rl <= 0 || (size_t)rl >= sizeof g_request) usage();
  g_request_len = (size_t)rl;

  worker_t *ws = calloc((size_t)threads, sizeof *ws);
  double t0 = now_s();
  g_deadline = t0 + secs;
  for (int i = 0; i < threads; i++) {
    ws[i].nconns = conns / threads + (i < conns % threads);
    ws[i].conns = calloc((size_t)ws[i].nconns, sizeof(conn_t));
    if (!ws[i].conns) { perror("calloc"); return 2; }
    pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]);
  }
  size_t total = 0;
  long long s2 = 0, so = 0, errs = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(ws[i].tid, NULL);
    total += ws[i].nlat;
    s2 += ws[i].s2xx;
    so += ws[i].sother;
    errs += ws[i].errors;
  }
  double elapsed = secs; /* counted only completions before the deadline */
  uint32_t *all = malloc((total ? total : 1) * sizeof(uint32_t));
  size_t k = 0;
  for (int i = 0; i < threads; i++) {
    memcpy(all + k, ws[i].lat_us, ws[i].nlat * sizeof(uint32_t));
    k += ws[i].nlat;
  }
  qsort(all, total, sizeof(uint32_t), cmp_u32);
#define PCT(p) (total ? all[(size_t)((double)(total - 1) * (p))] / 1000.0 : 0.0)
  printf("method: %s\nconnections: %d\nthreads: %d\n", method, conns, threads);
  printf("requests: %zu\nseconds: %.2f\nrps: %.1f\n", total, elapsed, (double)total / elapsed);
  printf("status_2xx: %lld\nstatus_other: %lld\nerrors: %lld\n", s2, so, errs);
  printf("p50_ms: %.3f\np90_ms: %.3f\np99_ms: %.3f\nmax_ms: %.3f\n", PCT(0.50), PCT(0.90), PCT(0.99),
         total ? all[total - 1] / 1000.0 : 0.0);
  return 0;
}
