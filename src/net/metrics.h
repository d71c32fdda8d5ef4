// Process-wide counters for /metrics (Prometheus text exposition format).
// Thread-safety: all methods are thread-safe (one mutex; the critical sections
// are a few map updates per request).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace modelhub {

class Metrics {
 public:
  void ObserveRequest(const std::string& route, const std::string& method, int status, double seconds,
                      int64_t bytes_in, int64_t bytes_out);
  void AddCounter(const std::string& name, int64_t delta);  // free-form counters, e.g. "lfs_objects_stored"
  std::atomic<int64_t> uploads_in_flight{0};
  std::atomic<int64_t> connections_open{0};
  std::string RenderPrometheus() const;

 private:
  static const std::vector<double>& Buckets();
  struct Hist {
    std::vector<int64_t> counts;  // per bucket (non-cumulative), +Inf last
    double sum = 0;
    int64_t count = 0;
  };
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, int64_t> requests_;  // route, method, status
  std::map<std::string, Hist> latency_;                                    // by route
  int64_t bytes_in_ = 0;
  int64_t bytes_out_ = 0;
  std::map<std::string, int64_t> counters_;
};

}  // namespace modelhub
