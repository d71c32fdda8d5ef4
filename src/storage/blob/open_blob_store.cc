#include "storage/blob/blob_store.h"
#include "storage/blob/s3_blob_store.h"

namespace modelhub {

Result<std::unique_ptr<BlobStore>> OpenBlobStore(const std::string& url) {
  if (url.rfind("s3://", 0) == 0) {
    MH_ASSIGN_OR_RETURN(S3Options o, ParseS3Url(url));
    return OpenS3BlobStore(o);
  }
  if (url.rfind("file://", 0) == 0) return OpenLocalBlobStore(url.substr(7));
  if (url.find("://") != std::string::npos) return Status::InvalidArgument("unknown blob store scheme: " + url);
  if (url.empty()) return Status::InvalidArgument("empty blob store location");
  return OpenLocalBlobStore(url);
}

}  // namespace modelhub
