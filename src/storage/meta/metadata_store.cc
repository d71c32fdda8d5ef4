#include "storage/meta/metadata_store.h"

#include <string_view>

#include "storage/meta/pg_metadata_store.h"
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

Result<std::unique_ptr<MetadataStore>> OpenMetadataStore(const std::string& url_or_path) {
  auto starts = [&](std::string_view prefix) { return url_or_path.compare(0, prefix.size(), prefix) == 0; };
  if (starts("postgres://") || starts("postgresql://")) {
    PgStoreOptions options;
    MH_ASSIGN_OR_RETURN(std::string url, TakePgStoreOptions(url_or_path, &options));
    MH_ASSIGN_OR_RETURN(std::unique_ptr<PgMetadataStore> store, PgMetadataStore::Open(url, options));
    return std::unique_ptr<MetadataStore>(std::move(store));
  }
  std::string path = url_or_path;
  if (starts("sqlite:")) {
    path = url_or_path.substr(7);
    if (path.compare(0, 2, "//") == 0) path = path.substr(2);  // sqlite:///abs/path
  } else if (const auto scheme = url_or_path.find("://"); scheme != std::string::npos) {
    return Status::InvalidArgument("unknown metadata store URL scheme in '" + url_or_path.substr(0, scheme + 3) +
                                   "...' (expected postgres://, postgresql://, sqlite: or a file path)");
  }
  if (path.empty()) return Status::InvalidArgument("empty metadata store path");
  return OpenSqliteMetadataStore(path);
}

}  // namespace modelhub
