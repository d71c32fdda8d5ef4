#include "server/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"
#include "storage/meta/pg_metadata_store.h"

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

std::string MetadataLocation(const std::string& root, const StorageConfig& c) {
  return c.metadata_url.empty() ? root + "/modelhub.db" : c.metadata_url;
}

Result<std::unique_ptr<BlobStore>> OpenBlobs(const std::string& root, const StorageConfig& c) {
  // OpenBlobStore: a folder, file://DIR or s3://bucket/prefix?... (docs/storage-backends.md).
  return OpenBlobStore(c.blob_url.empty() ? root + "/blobs" : c.blob_url);
}

std::string Redacted(const std::string& url) {
  // scheme://user:password@host -> scheme://user:***@host
  auto scheme = url.find("://");
  auto at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

}  // namespace

Result<StorageConfig> ReadStorageConfig(const std::string& root) {
  StorageConfig c;
  const std::string path = root + "/storage.conf";
  auto text = ReadFile(path);
  if (!text.ok()) {
    if (text.status().IsNotFound()) return c;
    return text.status();
  }
  int line_no = 0;
  for (const auto& raw : Split(*text, '\n')) {
    ++line_no;
    std::string line = Trim(raw);
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    std::string k = eq == std::string::npos ? line : Trim(line.substr(0, eq));
    std::string v = eq == std::string::npos ? "" : Trim(line.substr(eq + 1));
    if (k == "metadata") c.metadata_url = v;
    else if (k == "blobs") c.blob_url = v;
    else return Status::InvalidArgument(fmt::format("{}:{}: unknown setting '{}' (metadata, blobs)", path, line_no, k));
  }
  return c;
}

Result<std::unique_ptr<MetadataStore>> OpenDataDirMetadata(const std::string& root) {
  MH_ASSIGN_OR_RETURN(StorageConfig c, ReadStorageConfig(root));
  return OpenMetadataStore(MetadataLocation(root, c));
}

Result<UniqueFd> LockDataDirExclusive(const std::string& root) {
  const std::string path = root + "/serve.lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return Status::IOError("open " + path + ": " + std::strerror(errno));
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return Status::IOError("flock " + path + ": " + std::strerror(errno));
    auto holder = ReadFile(path);
    std::string pid = holder.ok() ? Trim(*holder) : "";
    return Status::Conflict(fmt::format(
        "the data folder {} is in use by another modelhub process ({}); an embedded data folder (SQLite "
        "metadata) is served by one process only. Stop that one first, or run several servers in the "
        "scale-out mode (--metadata-url postgres://..., docs/deploy.md)",
        root, pid.empty() ? "pid unknown" : "pid " + pid));
  }
  // Who holds it, for the message above (informational: the flock is the lock).
  std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), me.data(), me.size(), 0) != ssize_t(me.size())) {
    LogWarn("could not record the pid in {}: {}", path, std::strerror(errno));
  }
  return fd;
}

Result<std::unique_ptr<DataDir>> OpenDataDir(const std::string& root, const StorageConfig* requested,
                                             DataDirUse use) {
  auto d = std::make_unique<DataDir>();
  d->root = root;
  MH_RETURN_IF_ERROR(MakeDirs(root));
  if (use == DataDirUse::kServe) {
    // Lock before anything is created or migrated. The mode is the folder's (storage.conf) unless this
    // server asks for stores of its own (checked against the folder below).
    MH_ASSIGN_OR_RETURN(StorageConfig stored, ReadStorageConfig(root));
    bool asks = requested != nullptr && !(requested->metadata_url.empty() && requested->blob_url.empty());
    if ((asks ? requested->metadata_url : stored.metadata_url).empty()) {
      MH_ASSIGN_OR_RETURN(d->serve_lock, LockDataDirExclusive(root));
    }
  }
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
  MH_ASSIGN_OR_RETURN(d->storage, ReadStorageConfig(root));
  if (requested != nullptr && !(requested->metadata_url.empty() && requested->blob_url.empty()) &&
      !(*requested == d->storage)) {
    if (!d->storage.metadata_url.empty() || !d->storage.blob_url.empty() || PathExists(root + "/modelhub.db")) {
      return Status::InvalidArgument(fmt::format(
          "the data folder {} uses metadata '{}' and blobs '{}' (storage.conf); refusing to switch to '{}' and '{}' "
          "(move the data first, or edit {}/storage.conf)",
          root, Redacted(MetadataLocation(root, d->storage)), d->storage.blob_url.empty() ? "local" : d->storage.blob_url,
          Redacted(requested->metadata_url), requested->blob_url, root));
    }
    MH_RETURN_IF_ERROR(WriteFileAtomic(root + "/storage.conf",
                                       fmt::format("# written by modelhub serve; every process using this folder opens these\n"
                                                   "metadata = {}\nblobs = {}\n",
                                                   requested->metadata_url, requested->blob_url),
                                       0600));
    d->storage = *requested;
  }
  MH_ASSIGN_OR_RETURN(d->meta, OpenMetadataStore(MetadataLocation(root, d->storage)));
  MH_ASSIGN_OR_RETURN(d->blobs, OpenBlobs(root, d->storage));
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

Status MigrateStorage(const std::string& root, const StorageConfig& to,
                      const std::function<void(const std::string&)>& progress) {
  MH_ASSIGN_OR_RETURN(StorageConfig from, ReadStorageConfig(root));
  if (!from.metadata_url.empty()) {
    return Status::InvalidArgument("the data folder " + root + " already keeps its metadata in " +
                                   Redacted(from.metadata_url));
  }
  if (to.metadata_url.rfind("postgres://", 0) != 0 && to.metadata_url.rfind("postgresql://", 0) != 0) {
    return Status::InvalidArgument("--metadata-url must be a postgres:// or postgresql:// URL");
  }
  const std::string db = root + "/modelhub.db";
  if (!PathExists(db)) return Status::NotFound("no embedded metadata database at " + db);
  MH_ASSIGN_OR_RETURN(UniqueFd lock, LockDataDirExclusive(root));  // no server on the folder meanwhile
  MH_ASSIGN_OR_RETURN(auto pg, PgMetadataStore::Open(to.metadata_url));
  progress("migrate: copying metadata from " + db + " to " + Redacted(to.metadata_url));
  MH_ASSIGN_OR_RETURN(int64_t rows, pg->ImportFromSqlite(db));
  progress(fmt::format("migrate: {} metadata rows copied", rows));
  if (!to.blob_url.empty()) {
    MH_ASSIGN_OR_RETURN(auto src, OpenBlobs(root, from));
    MH_ASSIGN_OR_RETURN(auto dst, OpenBlobs(root, to));
    std::vector<std::pair<std::string, int64_t>> keys;
    for (const char* prefix : {"xorbs/", "uploads/"}) {
      MH_RETURN_IF_ERROR(src->List(prefix, [&](const std::string& key, int64_t size) { keys.emplace_back(key, size); }));
    }
    progress(fmt::format("migrate: copying {} blobs to {}", keys.size(), to.blob_url));
    std::vector<char> buf(4 << 20);
    int64_t bytes = 0;
    for (size_t i = 0; i < keys.size(); ++i) {
      const auto& [key, size] = keys[i];
      MH_ASSIGN_OR_RETURN(auto r, src->Open(key));
      MH_ASSIGN_OR_RETURN(auto w, dst->NewWriter(key));
      while (true) {
        MH_ASSIGN_OR_RETURN(size_t n, r->Read(buf.data(), buf.size()));
        if (n == 0) break;
        MH_RETURN_IF_ERROR(w->Write(buf.data(), n));
      }
      MH_RETURN_IF_ERROR(w->Commit());
      MH_ASSIGN_OR_RETURN(int64_t got, dst->Size(key));
      if (got != size) return Status::IOError(fmt::format("{}: copied {} bytes of {}", key, got, size));
      bytes += size;
      if ((i + 1) % 100 == 0) progress(fmt::format("migrate: {} / {} blobs", i + 1, keys.size()));
    }
    progress(fmt::format("migrate: {} blobs, {} bytes copied", keys.size(), bytes));
  }
  MH_RETURN_IF_ERROR(WriteFileAtomic(root + "/storage.conf",
                                     fmt::format("# written by modelhub admin migrate\nmetadata = {}\nblobs = {}\n",
                                                 to.metadata_url, to.blob_url),
                                     0600));
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::string f = db + suffix;
    if (PathExists(f) && std::rename(f.c_str(), (root + "/modelhub.db.migrated" + suffix).c_str()) != 0) {
      return Status::IOError("renaming " + f + " failed");
    }
  }
  if (!to.blob_url.empty() && PathExists(root + "/blobs") &&
      std::rename((root + "/blobs").c_str(), (root + "/blobs.migrated").c_str()) != 0) {
    return Status::IOError("renaming " + root + "/blobs failed");
  }
  progress("migrate: done; DIR/storage.conf names the new stores (the old ones were renamed *.migrated)");
  return Status::Ok();
}

}  // namespace modelhub
