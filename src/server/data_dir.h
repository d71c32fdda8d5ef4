// The data folder: everything an embedded modelhub keeps, in one place.
//
//   DIR/FORMAT         "modelhub-data <version>" — refused if newer than this binary
//   DIR/modelhub.db    SQLite metadata (WAL)
//   DIR/repos/<id>.git bare git repositories
//   DIR/blobs/         the blob store (xorbs, staged upload parts), unless another
//                      one is named (s3://..., docs/storage-backends.md)
//   DIR/secret.key     HMAC key for signed URLs (created once, mode 0600)
//   DIR/serve.lock     flock(2)ed exclusively by the one `serve` of an embedded folder (its pid inside)
//
// See docs/formats/data-folder.md. Thread-safety: open once per process.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/fs.h"
#include "common/status.h"
#include "storage/blob/blob_store.h"
#include "storage/cas/chunk_store.h"
#include "storage/meta/metadata_store.h"

namespace modelhub {

// 1: LFS objects stored whole; 2: LFS objects stored as chunks in xorbs.
inline constexpr int kDataFormatVersion = 2;

// Where the metadata and the blobs live (docs/deploy.md). Empty: the embedded defaults in the data
// folder (DIR/modelhub.db, DIR/blobs). Otherwise a URL: postgres://… for the metadata, s3://… or
// file://… for the blobs. Kept in DIR/storage.conf ("metadata = URL", "blobs = URL", mode 0600) so
// that every process using the folder — servers, admin commands, the git hook — opens the same stores.
struct StorageConfig {
  std::string metadata_url;
  std::string blob_url;
  friend bool operator==(const StorageConfig&, const StorageConfig&) = default;
};
struct DataDir {
  std::string root;
  std::unique_ptr<MetadataStore> meta;
  std::unique_ptr<BlobStore> blobs;
  std::unique_ptr<ChunkStore> content;
  std::string signing_key;
  StorageConfig storage;
  UniqueFd serve_lock;  // held (DataDirUse::kServe, embedded) until the DataDir is destroyed
  std::string repos_dir() const { return root + "/repos"; }
};

// Who opens the folder. An embedded folder (SQLite metadata) has one server: its caches trust that no
// other process writes (common/sole_writer.h), so kServe takes DIR/serve.lock (LockDataDirExclusive)
// before touching anything else, held while the DataDir lives, and a second server on the folder fails
// with Conflict. kShared (admin commands, the git hook, tests) takes nothing: they run beside a live
// server. With the metadata in PostgreSQL (scale-out) kServe takes nothing either: several servers
// share the folder by design.
enum class DataDirUse { kShared, kServe };

Result<StorageConfig> ReadStorageConfig(const std::string& root);  // defaults if DIR/storage.conf is absent

// Opens (creating if needed) the data folder at root. With `requested` (serve flags / environment):
// recorded in DIR/storage.conf the first time; a folder already set up differently is refused, so
// that two processes can never end up on different stores.
Result<std::unique_ptr<DataDir>> OpenDataDir(const std::string& root, const StorageConfig* requested = nullptr,
                                             DataDirUse use = DataDirUse::kShared);

// Takes DIR/serve.lock exclusively without waiting; Conflict (naming root and the holder's pid, as far as
// the file tells it) if another process holds it. The lock lasts as long as the returned descriptor.
Result<UniqueFd> LockDataDirExclusive(const std::string& root);

// Moves an embedded data folder's metadata (SQLite) into PostgreSQL and, if to.blob_url is set, its
// blobs into that store, then records the new stores in DIR/storage.conf. Run with the server stopped
// (it holds DIR/serve.lock meanwhile: Conflict while a server runs, and no server starts during it).
// The copied sources are renamed (modelhub.db -> modelhub.db.migrated, blobs -> blobs.migrated), not
// deleted. progress gets human-readable lines.
Status MigrateStorage(const std::string& root, const StorageConfig& to,
                      const std::function<void(const std::string&)>& progress);

// Only the metadata store of a data folder (the git hook's view).
Result<std::unique_ptr<MetadataStore>> OpenDataDirMetadata(const std::string& root);

}  // namespace modelhub
