#include "net/metrics.h"

#include <fmt/format.h>

namespace modelhub {

const std::vector<double>& Metrics::Buckets() {
  static const std::vector<double> b = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return b;
}

void Metrics::ObserveRequest(const std::string& route, const std::string& method, int status, double seconds,
                             int64_t bytes_in, int64_t bytes_out) {
  const auto& buckets = Buckets();
  size_t idx = buckets.size();
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (seconds <= buckets[i]) {
      idx = i;
      break;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  requests_[{route, method, status}]++;
  Hist& h = latency_[route];
  if (h.counts.empty()) h.counts.assign(buckets.size() + 1, 0);
  h.counts[idx]++;
  h.sum += seconds;
  h.count++;
  bytes_in_ += bytes_in;
  bytes_out_ += bytes_out;
}

void Metrics::AddCounter(const std::string& name, int64_t delta) {
  std::lock_guard<std::mutex> lock(mu_);
  counters_[name] += delta;
}

std::string Metrics::RenderPrometheus() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  out += "# HELP modelhub_http_requests_total HTTP requests by route, method and status.\n";
  out += "# TYPE modelhub_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [route, method, status] = key;
    out += fmt::format("modelhub_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}\n", route, method,
                       status, n);
  }
  out += "# HELP modelhub_http_request_duration_seconds Request latency by route.\n";
  out += "# TYPE modelhub_http_request_duration_seconds histogram\n";
  const auto& buckets = Buckets();
  for (const auto& [route, h] : latency_) {
    int64_t cum = 0;
    for (size_t i = 0; i < buckets.size(); ++i) {
      cum += h.counts[i];
      out += fmt::format("modelhub_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n", route,
                         buckets[i], cum);
    }
    cum += h.counts.back();
    out += fmt::format("modelhub_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n", route, cum);
    out += fmt::format("modelhub_http_request_duration_seconds_sum{{route=\"{}\"}} {}\n", route, h.sum);
    out += fmt::format("modelhub_http_request_duration_seconds_count{{route=\"{}\"}} {}\n", route, h.count);
  }
  out += "# HELP modelhub_http_request_bytes_total Request body bytes received.\n";
  out += "# TYPE modelhub_http_request_bytes_total counter\n";
  out += fmt::format("modelhub_http_request_bytes_total {}\n", bytes_in_);
  out += "# HELP modelhub_http_response_bytes_total Response body bytes sent.\n";
  out += "# TYPE modelhub_http_response_bytes_total counter\n";
  out += fmt::format("modelhub_http_response_bytes_total {}\n", bytes_out_);
  out += "# HELP modelhub_uploads_in_flight LFS uploads currently streaming in.\n";
  out += "# TYPE modelhub_uploads_in_flight gauge\n";
  out += fmt::format("modelhub_uploads_in_flight {}\n", uploads_in_flight.load());
  out += "# HELP modelhub_connections_open Open client connections.\n";
  out += "# TYPE modelhub_connections_open gauge\n";
  out += fmt::format("modelhub_connections_open {}\n", connections_open.load());
  for (const auto& [name, n] : counters_) {
    out += fmt::format("# TYPE modelhub_{} counter\nmodelhub_{} {}\n", name, name, n);
  }
  return out;
}

}  // namespace modelhub
