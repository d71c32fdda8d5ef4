#include "storage/cas/content_store.h"

#include <vector>

#include <fmt/format.h>

namespace modelhub {

bool IsSha256Hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

ContentIngest::ContentIngest(std::string oid, int64_t size, std::unique_ptr<BlobWriter> writer)
    : oid_(std::move(oid)), size_(size), writer_(std::move(writer)) {}

Status ContentIngest::Write(const char* data, size_t n) {
  if (received_ + int64_t(n) > size_) {
    writer_->Abort();
    return Status::TooLarge(fmt::format("received more than the declared size of {} bytes", size_));
  }
  hash_.Update(data, n);
  received_ += int64_t(n);
  return writer_->Write(data, n);
}

Status ContentIngest::Finish() {
  if (received_ != size_) {
    writer_->Abort();
    return Status::InvalidArgument(
        fmt::format("size mismatch: declared {} bytes, received {} bytes", size_, received_));
  }
  std::string got = hash_.FinalHex();
  if (got != oid_) {
    writer_->Abort();
    return Status::InvalidArgument(fmt::format("sha256 mismatch: declared {}, content hashes to {}", oid_, got));
  }
  return writer_->Commit();
}

std::string ContentStore::KeyFor(const std::string& oid) {
  return "lfs/" + oid.substr(0, 2) + "/" + oid.substr(2, 2) + "/" + oid;
}

std::string ContentStore::PartKey(const std::string& session_id, int64_t part_number) {
  return fmt::format("uploads/{}/{}", session_id, part_number);
}

Result<std::unique_ptr<ContentIngest>> ContentStore::BeginIngest(const std::string& oid, int64_t size) {
  if (!IsSha256Hex(oid)) return Status::InvalidArgument("oid must be 64 lowercase hex characters");
  if (size < 0) return Status::InvalidArgument("size must be >= 0");
  MH_ASSIGN_OR_RETURN(auto writer, blobs_->NewWriter(KeyFor(oid)));
  return std::make_unique<ContentIngest>(oid, size, std::move(writer));
}

Result<int64_t> ContentStore::Size(const std::string& oid) {
  if (!IsSha256Hex(oid)) return Status::InvalidArgument("oid must be 64 lowercase hex characters");
  return blobs_->Size(KeyFor(oid));
}

Result<std::unique_ptr<BlobReader>> ContentStore::Open(const std::string& oid, int64_t offset, int64_t length) {
  if (!IsSha256Hex(oid)) return Status::InvalidArgument("oid must be 64 lowercase hex characters");
  return blobs_->Open(KeyFor(oid), offset, length);
}

Result<std::unique_ptr<BlobWriter>> ContentStore::NewPartWriter(const std::string& session_id, int64_t part_number) {
  return blobs_->NewWriter(PartKey(session_id, part_number));
}

Result<int64_t> ContentStore::PartSize(const std::string& session_id, int64_t part_number) {
  return blobs_->Size(PartKey(session_id, part_number));
}

Status ContentStore::CompleteMultipart(const std::string& session_id, int64_t part_count, const std::string& oid,
                                       int64_t size) {
  MH_ASSIGN_OR_RETURN(auto ingest, BeginIngest(oid, size));
  std::vector<char> buf(1 << 20);
  for (int64_t p = 1; p <= part_count; ++p) {
    auto reader = blobs_->Open(PartKey(session_id, p));
    if (!reader.ok()) {
      if (reader.status().IsNotFound()) return Status::InvalidArgument(fmt::format("part {} was never uploaded", p));
      return reader.status();
    }
    while (true) {
      MH_ASSIGN_OR_RETURN(size_t n, (*reader)->Read(buf.data(), buf.size()));
      if (n == 0) break;
      MH_RETURN_IF_ERROR(ingest->Write(buf.data(), n));
    }
  }
  MH_RETURN_IF_ERROR(ingest->Finish());
  return DropParts(session_id, part_count);
}

Status ContentStore::DropParts(const std::string& session_id, int64_t part_count) {
  for (int64_t p = 1; p <= part_count; ++p) MH_RETURN_IF_ERROR(blobs_->Delete(PartKey(session_id, p)));
  return Status::Ok();
}

}  // namespace modelhub
