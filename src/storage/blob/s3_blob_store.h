// S3BlobStore: the BlobStore contract on the S3 API (AWS S3, MinIO, Ceph RGW,
// R2, ...), over libcurl with our own SigV4 (sigv4.h).
//
//   NewWriter  buffers up to part_size bytes; an object that fits is one PUT,
//              a larger one a multipart upload, each full part uploaded by a
//              helper thread while the next one fills (two parts in memory at
//              most: memory does not grow with the object). Commit = PUT or
//              CompleteMultipartUpload: S3 makes the object visible atomically
//              and durably when it answers 200. Abort, a failed Commit and the
//              destructor of an uncommitted writer send AbortMultipartUpload;
//              a process killed mid-upload (or a server down when the abort is
//              sent) leaves only invisible parts.
//   CleanStaleUploads  ListMultipartUploads under the prefix (key and upload-id
//              markers), then AbortMultipartUpload for each one initiated
//              before the cutoff (S3's Initiated against our clock). MinIO lists
//              by exact key only: there the listing is unprefixed and filtered.
//   Open       a ranged GET streamed through a bounded buffer; a connection
//              lost mid-body resumes at the current offset (If-Match on the
//              ETag, so a replaced object is never spliced). FileRange() is
//              nullopt: no sendfile from S3.
//   Size/Delete/List   HEAD / DELETE / ListObjectsV2 with continuation tokens.
//
// Every request is retried with exponential backoff and full jitter on
// connection errors, timeouts, 5xx, 429 and S3's SlowDown/RequestTimeout/
// InternalError codes (all requests here are idempotent; re-sending a part
// replaces it). Other errors map to Status codes: 404 -> NotFound, 403 ->
// Forbidden, the rest -> IOError (retryable bit set when it was transient).
//
// Thread-safety: the store may be used from any number of threads; each
// writer and reader by one thread at a time (a writer's part upload runs on its
// own helper thread, joined before Commit, Abort or the destructor return).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "storage/blob/blob_store.h"
#include "storage/blob/sigv4.h"

namespace modelhub {

struct S3Options {
  std::string bucket;
  std::string prefix;    // keys live under "<prefix>/" ("" = bucket root)
  std::string endpoint;  // "http://127.0.0.1:9000"; "" = https://s3.<region>.amazonaws.com
  std::string region = "us-east-1";
  bool path_style = false;  // true: <endpoint>/<bucket>/<key>; false: <bucket>.<endpoint host>/<key>
  SigV4Credentials credentials;

  // Sign each body's SHA-256 (the server verifies it: end-to-end integrity over
  // plain http). false sends UNSIGNED-PAYLOAD: less CPU on both sides, for
  // https endpoints where TLS already protects the bytes.
  bool signed_payload = true;
  int64_t part_size = 8 << 20;  // multipart part size and single-PUT threshold; >= 5 MiB
  int max_attempts = 10;        // per request, first try included
  int backoff_base_ms = 100;    // delay before retry n: random in [0, min(max, base * 2^n)]
  int backoff_max_ms = 5000;
  int connect_timeout_ms = 10000;
  int stall_timeout_s = 60;     // a transfer moving < 1 byte/s for this long fails (and is retried)
  int list_page_size = 1000;    // max-keys of each ListObjectsV2 page
};

// Parses "s3://bucket[/prefix][?endpoint=URL&region=R&path_style=true|false&part_size=BYTES&max_attempts=N
// &list_page_size=N&signed_payload=true|false]".
// Unset values come from the environment: AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION or AWS_DEFAULT_REGION,
// AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL. path_style defaults to true when an
// endpoint is set (MinIO and most self-hosted servers), false for AWS.
// InvalidArgument on a malformed URL or missing credentials.
Result<S3Options> ParseS3Url(const std::string& url);

Result<std::unique_ptr<BlobStore>> OpenS3BlobStore(const S3Options& options);

// Creates options.bucket; OK if it already exists and is ours (setup and tests).
Status CreateS3Bucket(const S3Options& options);

}  // namespace modelhub
