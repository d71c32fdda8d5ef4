// Test helper: a real S3 server (MinIO) on loopback, started through
// scripts/s3-test-server.sh, for the S3BlobStore tests. Not part of mh_blob.
//
// Start() answers nullptr and a reason when the MinIO binary is not installed
// (the caller GTEST_SKIPs with it; MODELHUB_S3_TEST_REQUIRE=1 turns that into
// a failure); any other start failure is a failure. The server dies with the
// test process even if the process crashes (the script watches its pid).
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "storage/blob/s3_blob_store.h"

namespace modelhub {

class S3TestServer {
 public:
  static Result<std::unique_ptr<S3TestServer>> Start(std::string* skip_reason);
  // The server shared by every test of this process (started on first use).
  static S3TestServer* Shared(std::string* why_not);
  explicit S3TestServer(std::string dir) : dir_(std::move(dir)) {}  // use Start()
  ~S3TestServer();

  // Options for bucket/prefix on this server, path-style (vhost: virtual-host
  // addressing through "localhost"), with test-sized retry delays.
  S3Options Options(const std::string& bucket, const std::string& prefix, bool vhost = false) const;
  Status CreateBucket(const std::string& bucket) const;

  Status Kill();     // SIGKILL
  Status Restart();  // SIGKILL, then start again on the same port and data
  Status StartAgain();

 private:
  Status Run(const std::string& cmd, std::string* out, int* exit_code) const;
  Status StartServer(std::string* skip_reason);

  std::string dir_;
  std::string endpoint_, vhost_endpoint_, access_key_, secret_key_;
};

}  // namespace modelhub
