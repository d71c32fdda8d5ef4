#include "storage/meta/metadata_store.h"

#include "storage/meta/sqlite_metadata_store.h"

namespace modelhub {

const char* TokenRoleName(TokenRole r) {
  switch (r) {
    case TokenRole::kRead: return "read";
    case TokenRole::kWrite: return "write";
  }
  return "unknown";
}

const char* OrgRoleName(OrgRole r) {
  switch (r) {
    case OrgRole::kRead: return "read";
    case OrgRole::kWrite: return "write";
    case OrgRole::kAdmin: return "admin";
  }
  return "unknown";
}

Result<OrgRole> ParseOrgRole(const std::string& s) {
  for (OrgRole r : {OrgRole::kRead, OrgRole::kWrite, OrgRole::kAdmin}) {
    if (s == OrgRoleName(r)) return r;
  }
  return Status::InvalidArgument("unknown organization role '" + s + "' (expected read, write or admin)");
}

const char* RepoTypeName(RepoType t) {
  switch (t) {
    case RepoType::kModel: return "model";
    case RepoType::kDataset: return "dataset";
  }
  return "unknown";
}

Result<std::unique_ptr<MetadataStore>> OpenSqliteMetadataStore(const std::string& path) {
  MH_ASSIGN_OR_RETURN(std::unique_ptr<SqliteMetadataStore> store, SqliteMetadataStore::Open(path));
  return std::unique_ptr<MetadataStore>(std::move(store));
}

}  // namespace modelhub
