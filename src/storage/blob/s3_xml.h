// A small XML reader for S3 responses, and decoders for exactly the documents
// S3BlobStore reads (ListObjectsV2, ListMultipartUploads, CreateMultipartUpload,
// CompleteMultipartUpload, Error).
//
// These bytes come from the network and are untrusted: the reader never
// asserts, bounds its depth and element count, rejects DTDs (so no entity
// expansion), and answers malformed input with Status::Corruption. It keeps
// element names, text (entities and CDATA decoded) and children; attributes
// are checked for well-formedness and dropped (S3 needs none). Fuzzed by
// tests/fuzz/fuzz_s3_xml.cc.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelhub {

struct XmlElement {
  std::string name;  // local name: a namespace prefix ("s3:Key") is dropped
  std::string text;  // concatenated character data directly inside this element
  std::vector<XmlElement> children;

  // The first child named name, or nullptr.
  const XmlElement* Child(std::string_view child_name) const;
  // The text of the first child named name, or "" if there is none.
  std::string ChildText(std::string_view child_name) const;
};

inline constexpr int kXmlMaxDepth = 32;
inline constexpr size_t kXmlMaxElements = 200000;

// Parses one document (optional <?xml?> declaration, comments, one root element).
Result<XmlElement> ParseXml(std::string_view doc);

struct S3ListedObject {
  std::string key;
  int64_t size = 0;
};

struct S3ListPage {
  std::vector<S3ListedObject> objects;
  bool truncated = false;
  std::string next_token;  // NextContinuationToken; non-empty when truncated
};

// ListObjectsV2 result. url_encoded: the request asked for encoding-type=url,
// so keys are percent-decoded.
Result<S3ListPage> ParseS3ListObjectsV2(std::string_view xml, bool url_encoded);

struct S3ListedUpload {
  std::string key;
  std::string upload_id;
  int64_t initiated_ms = 0;  // Unix time in ms
};

struct S3UploadsPage {
  std::vector<S3ListedUpload> uploads;
  bool truncated = false;
  // Where the next page starts (key-marker, upload-id-marker); the key is non-empty when truncated.
  std::string next_key_marker;
  std::string next_upload_id_marker;
};

// ListMultipartUploads result (in-progress multipart uploads). url_encoded: the
// request asked for encoding-type=url, so keys and the key marker are
// percent-decoded. An <Upload> without a Key or UploadId, or whose Initiated is
// not an ISO 8601 UTC time, makes the whole page Corruption: an upload of
// unknown age must never be taken for a stale one.
Result<S3UploadsPage> ParseS3ListMultipartUploads(std::string_view xml, bool url_encoded);

// CreateMultipartUpload result -> the UploadId.
Result<std::string> ParseS3InitiateMultipartUpload(std::string_view xml);

struct S3ErrorInfo {
  std::string code;     // "NoSuchKey", "SlowDown", ...; empty if the body is no <Error>
  std::string message;
};
// Best effort: a body that is not an S3 <Error> document gives an empty code.
S3ErrorInfo ParseS3Error(std::string_view xml);

// CompleteMultipartUpload answers 200 and may still carry an <Error>; this
// returns OK only for a <CompleteMultipartUploadResult>, and in *error the
// error document's code and message otherwise.
Status ParseS3CompleteMultipartUpload(std::string_view xml, S3ErrorInfo* error);

}  // namespace modelhub
