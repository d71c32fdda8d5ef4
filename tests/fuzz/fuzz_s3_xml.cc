// fuzz_s3_xml: storage/blob/s3_xml.h — the XML reader S3BlobStore uses on S3
// responses (ListObjectsV2 and ListMultipartUploads pages, CreateMultipartUpload,
// CompleteMultipartUpload, Error documents), bytes a misbehaving or hostile
// endpoint controls; and ParseIsoTimeMs (common/time_util.h), which reads their
// timestamps.
//
// Input: the whole input is one response body (and, as it is, one timestamp).
//
// Checks: every failure is Corruption (and never a crash, hang or huge
// allocation); an accepted tree respects the depth and element limits;
// serializing it back (text escaped) and parsing again gives the same tree;
// the S3 decoders agree with the tree (a listing's objects are exactly its
// <Contents> with a Key and a non-negative Size, its uploads exactly its
// <Upload> with a Key, an UploadId and a time; truncated implies a token or a
// key marker); a timestamp after 1970 prints back to the same instant.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/strings.h"
#include "common/time_util.h"
#include "fuzz_util.h"
#include "storage/blob/s3_xml.h"

namespace modelhub {
namespace {

using fuzz::Quote;

// Children first, then the text: the parser concatenates all text of an
// element, so any placement gives back the same tree.
void Serialize(const XmlElement& e, std::string* out) {
  *out += "<" + e.name + ">";
  for (const auto& c : e.children) Serialize(c, out);
  *out += HtmlEscape(e.text);
  *out += "</" + e.name + ">";
}

bool SameTree(const XmlElement& a, const XmlElement& b) {
  if (a.name != b.name || a.text != b.text || a.children.size() != b.children.size()) return false;
  for (size_t i = 0; i < a.children.size(); ++i) {
    if (!SameTree(a.children[i], b.children[i])) return false;
  }
  return true;
}

size_t CountChildren(const XmlElement& e, std::string_view name) {
  size_t n = 0;
  for (const auto& c : e.children) n += c.name == name;
  return n;
}

void CheckInstant(int64_t ms) {
  if (ms >= 0) FUZZ_CHECK(ParseIsoTimeMs(IsoTimeMs(ms)) == ms, "{} does not print back", ms);
}

void CheckLimits(const XmlElement& e, int depth, size_t* count) {
  FUZZ_CHECK(depth <= kXmlMaxDepth, "depth {}", depth);
  ++*count;
  for (const auto& c : e.children) CheckLimits(c, depth + 1, count);
}

}  // namespace
}  // namespace modelhub

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelhub;
  std::string_view in(reinterpret_cast<const char*>(data), size);

  auto tree = ParseXml(in);
  if (!tree.ok()) {
    FUZZ_CHECK(tree.status().code() == Code::kCorruption, "{} for {}", tree.status().ToString(), Quote(in));
  } else {
    size_t count = 0;
    CheckLimits(*tree, 1, &count);
    FUZZ_CHECK(count <= kXmlMaxElements, "element count");
    std::string again;
    Serialize(*tree, &again);
    auto reparsed = ParseXml(again);
    FUZZ_CHECK(reparsed.ok(), "{} re-parsing {}", reparsed.status().ToString(), Quote(again));
    FUZZ_CHECK(SameTree(*tree, *reparsed), "round trip changed the tree: {}", Quote(in));
  }

  for (bool url : {false, true}) {
    auto page = ParseS3ListObjectsV2(in, url);
    if (!page.ok()) {
      FUZZ_CHECK(page.status().code() == Code::kCorruption, "{}", page.status().ToString());
      continue;
    }
    FUZZ_CHECK(tree.ok() && tree->name == "ListBucketResult", "a listing from a non-listing");
    FUZZ_CHECK(page->objects.size() == CountChildren(*tree, "Contents"), "objects vs <Contents>");
    for (const auto& o : page->objects) FUZZ_CHECK(!o.key.empty() && o.size >= 0, "bad listed object");
    FUZZ_CHECK(!page->truncated || !page->next_token.empty(), "truncated without a token");
  }

  for (bool url : {false, true}) {
    auto page = ParseS3ListMultipartUploads(in, url);
    if (!page.ok()) {
      FUZZ_CHECK(page.status().code() == Code::kCorruption, "{}", page.status().ToString());
      continue;
    }
    FUZZ_CHECK(tree.ok() && tree->name == "ListMultipartUploadsResult", "an upload listing from {}", Quote(in));
    FUZZ_CHECK(page->uploads.size() == CountChildren(*tree, "Upload"), "uploads vs <Upload>");
    for (const auto& u : page->uploads) {
      FUZZ_CHECK(!u.key.empty() && !u.upload_id.empty(), "bad listed upload");
      CheckInstant(u.initiated_ms);
    }
    FUZZ_CHECK(!page->truncated || !page->next_key_marker.empty(), "truncated without a key marker");
  }
  if (auto ms = ParseIsoTimeMs(in)) CheckInstant(*ms);

  auto id = ParseS3InitiateMultipartUpload(in);
  FUZZ_CHECK(!id.ok() || !id->empty(), "empty upload id accepted");
  S3ErrorInfo err = ParseS3Error(in);
  FUZZ_CHECK(err.code.empty() || (tree.ok() && tree->name == "Error"), "error code from a non-error");
  S3ErrorInfo complete_err;
  Status complete = ParseS3CompleteMultipartUpload(in, &complete_err);
  FUZZ_CHECK(!complete.ok() || (tree.ok() && tree->name == "CompleteMultipartUploadResult"),
             "completion accepted from {}", Quote(in));
  return 0;
}
