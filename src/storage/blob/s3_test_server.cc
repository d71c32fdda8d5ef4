#include "storage/blob/s3_test_server.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "common/fs.h"
#include "common/strings.h"

namespace modelhub {

Status S3TestServer::Run(const std::string& cmd, std::string* out, int* exit_code) const {
  std::string line = "MODELHUB_S3_OWNER_PID=" + std::to_string(::getpid()) + " bash '" MODELHUB_SOURCE_DIR
                     "/scripts/s3-test-server.sh' " + cmd + " '" + dir_ + "' 2>&1";
  FILE* p = ::popen(line.c_str(), "r");
  if (!p) return Status::IOError("popen " + line);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  int st = ::pclose(p);
  *exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  return Status::Ok();
}

Status S3TestServer::StartServer(std::string* skip_reason) {
  std::string out;
  int code = 0;
  MH_RETURN_IF_ERROR(Run("start", &out, &code));
  if (code == 3) {
    std::string reason = "no S3 test server: " + Trim(out);
    const char* require = std::getenv("MODELHUB_S3_TEST_REQUIRE");
    if (require && std::string(require) == "1") return Status::Unavailable(reason);
    if (skip_reason) *skip_reason = reason;
    return Status::NotFound(reason);
  }
  if (code != 0) return Status::IOError("scripts/s3-test-server.sh start failed: " + out);
  for (const std::string& l : Split(out, '\n')) {
    size_t eq = l.find('=');
    if (eq == std::string::npos) continue;
    std::string k = l.substr(0, eq), v = l.substr(eq + 1);
    if (k == "MODELHUB_S3_ENDPOINT") endpoint_ = v;
    if (k == "MODELHUB_S3_VHOST_ENDPOINT") vhost_endpoint_ = v;
    if (k == "AWS_ACCESS_KEY_ID") access_key_ = v;
    if (k == "AWS_SECRET_ACCESS_KEY") secret_key_ = v;
  }
  if (endpoint_.empty() || access_key_.empty()) return Status::IOError("s3-test-server.sh printed: " + out);
  return Status::Ok();
}

Result<std::unique_ptr<S3TestServer>> S3TestServer::Start(std::string* skip_reason) {
  std::string dir = (std::filesystem::temp_directory_path() / ("mh-s3test-" + RandomHex(6))).string();
  MH_RETURN_IF_ERROR(MakeDirs(dir));
  auto s = std::make_unique<S3TestServer>(dir);
  MH_RETURN_IF_ERROR(s->StartServer(skip_reason));
  return s;
}

S3TestServer* S3TestServer::Shared(std::string* why_not) {
  static std::once_flag once;
  static std::unique_ptr<S3TestServer> server;
  static std::string reason;
  std::call_once(once, [] {
    std::string skip;
    auto r = Start(&skip);
    if (r.ok()) {
      server = std::move(r).value();
    } else {
      reason = skip.empty() ? "failed: " + r.status().ToString() : skip;
    }
  });
  if (!server && why_not) *why_not = reason;
  return server.get();
}

S3TestServer::~S3TestServer() {
  std::string out;
  int code = 0;
  (void)Run("stop", &out, &code);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

S3Options S3TestServer::Options(const std::string& bucket, const std::string& prefix, bool vhost) const {
  S3Options o;
  o.bucket = bucket;
  o.prefix = prefix;
  o.endpoint = vhost ? vhost_endpoint_ : endpoint_;
  o.path_style = !vhost;
  o.region = "us-east-1";
  o.credentials = {access_key_, secret_key_, ""};
  o.part_size = 5 << 20;
  o.backoff_base_ms = 50;
  o.backoff_max_ms = 1000;
  o.max_attempts = 12;
  return o;
}

Status S3TestServer::CreateBucket(const std::string& bucket) const { return CreateS3Bucket(Options(bucket, "")); }

Status S3TestServer::Kill() {
  std::string out;
  int code = 0;
  MH_RETURN_IF_ERROR(Run("kill", &out, &code));
  return code == 0 ? Status::Ok() : Status::IOError("kill: " + out);
}

Status S3TestServer::Restart() {
  MH_RETURN_IF_ERROR(Kill());
  return StartAgain();
}

Status S3TestServer::StartAgain() {
  std::string ignored;
  return StartServer(&ignored);
}

}  // namespace modelhub
