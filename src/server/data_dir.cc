#include "server/data_dir.h"

#include <fmt/format.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"

namespace modelhub {

namespace {

// Version 1 kept each LFS object whole under blobs/lfs/aa/bb/<sha256>. Version 2
// stores them in the chunk store: re-ingest each (which re-verifies its SHA-256),
// then remove the old copy. Safe to interrupt: objects already moved are skipped.
Status MigrateDataDir(DataDir& d, int64_t from) {
  if (from != 1) return Status::InvalidArgument(fmt::format("cannot migrate a data folder of version {}", from));
  std::vector<std::pair<std::string, int64_t>> old;
  MH_RETURN_IF_ERROR(d.blobs->List("lfs/", [&](const std::string& key, int64_t size) { old.emplace_back(key, size); }));
  LogInfo("migrating data folder {} from format 1 to {}: {} LFS objects to re-store as chunks", d.root,
          kDataFormatVersion, old.size());
  std::vector<char> buf(1 << 20);
  for (const auto& [key, size] : old) {
    std::string oid = key.substr(key.rfind('/') + 1);
    if (!d.content->Size(oid).ok()) {
      MH_ASSIGN_OR_RETURN(auto ingest, d.content->BeginIngest(oid, size));
      MH_ASSIGN_OR_RETURN(auto reader, d.blobs->Open(key));
      while (true) {
        MH_ASSIGN_OR_RETURN(size_t n, reader->Read(buf.data(), buf.size()));
        if (n == 0) break;
        MH_RETURN_IF_ERROR(ingest->Write(buf.data(), n));
      }
      Status s = ingest->Finish();
      if (!s.ok()) return Status(s.code(), "migrating " + key + ": " + s.message());
    }
    MH_RETURN_IF_ERROR(d.blobs->Delete(key));
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<DataDir>> OpenDataDir(const std::string& root, const std::string& blob_store) {
  auto d = std::make_unique<DataDir>();
  d->root = root;
  MH_RETURN_IF_ERROR(MakeDirs(root));
  std::string format_path = root + "/FORMAT";
  auto format = ReadFile(format_path);
  int64_t version = kDataFormatVersion;
  if (format.ok()) {
    std::string f = Trim(*format);
    if (f.rfind("modelhub-data ", 0) != 0) {
      return Status::InvalidArgument(fmt::format("{} is not a modelhub data folder (FORMAT file says '{}')", root, f));
    }
    auto v = ParseInt64(f.substr(14));
    if (!v) return Status::InvalidArgument("unreadable FORMAT file in " + root);
    version = *v;
    if (*v > kDataFormatVersion) {
      return Status::InvalidArgument(fmt::format(
          "the data folder {} has format version {}, newer than this modelhub understands ({}); upgrade modelhub",
          root, *v, kDataFormatVersion));
    }
  } else if (format.status().IsNotFound()) {
    MH_RETURN_IF_ERROR(WriteFileAtomic(format_path, fmt::format("modelhub-data {}\n", kDataFormatVersion)));
  } else {
    return format.status();
  }
  MH_RETURN_IF_ERROR(MakeDirs(d->repos_dir()));
  MH_ASSIGN_OR_RETURN(d->meta, OpenSqliteMetadataStore(root + "/modelhub.db"));
  MH_ASSIGN_OR_RETURN(d->blobs, OpenBlobStore(blob_store.empty() ? root + "/blobs" : blob_store));
  d->content = std::make_unique<ChunkStore>(d->blobs.get(), d->meta.get());
  if (version < kDataFormatVersion) {
    MH_RETURN_IF_ERROR(MigrateDataDir(*d, version));
    MH_RETURN_IF_ERROR(WriteFileAtomic(format_path, fmt::format("modelhub-data {}\n", kDataFormatVersion)));
  }
  std::string key_path = root + "/secret.key";
  auto key = ReadFile(key_path);
  if (key.ok() && Trim(*key).size() >= 32) {
    d->signing_key = Trim(*key);
  } else {
    d->signing_key = RandomHex(32);
    MH_RETURN_IF_ERROR(WriteFileAtomic(key_path, d->signing_key + "\n", 0600));
  }
  return d;
}

}  // namespace modelhub
