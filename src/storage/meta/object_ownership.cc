#include "storage/meta/object_ownership.h"

namespace modelhub {

Result<OwnershipCheck> CheckObjectOwnership(MetadataStore& meta, int64_t repo_id, const std::string& oid,
                                            int64_t declared_size) {
  OwnershipCheck out;
  MH_ASSIGN_OR_RETURN(bool linked, meta.IsLfsObjectLinked(repo_id, oid));
  if (!linked) return out;
  auto file = meta.GetFile(oid);
  if (!file.ok()) {
    if (!file.status().IsNotFound()) return file.status();
    out.verdict = Ownership::kMissing;
    return out;
  }
  out.file = std::move(file).value();
  out.verdict = declared_size >= 0 && declared_size != out.file.size ? Ownership::kWrongSize : Ownership::kOwned;
  return out;
}

}  // namespace modelhub
