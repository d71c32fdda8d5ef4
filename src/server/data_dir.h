// The data folder: everything an embedded modelhub keeps, in one place.
//
//   DIR/FORMAT         "modelhub-data <version>" — refused if newer than this binary
//   DIR/modelhub.db    SQLite metadata (WAL)
//   DIR/repos/<id>.git bare git repositories
//   DIR/blobs/         the blob store (xorbs, staged upload parts), unless another
//                      one is named (s3://..., docs/storage-backends.md)
//   DIR/secret.key     HMAC key for signed URLs (created once, mode 0600)
//
// See docs/formats/data-folder.md. Thread-safety: open once per process.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "storage/blob/blob_store.h"
#include "storage/cas/chunk_store.h"
#include "storage/meta/metadata_store.h"

namespace modelhub {

// 1: LFS objects stored whole; 2: LFS objects stored as chunks in xorbs.
inline constexpr int kDataFormatVersion = 2;

struct DataDir {
  std::string root;
  std::unique_ptr<MetadataStore> meta;
  std::unique_ptr<BlobStore> blobs;
  std::unique_ptr<ChunkStore> content;
  std::string signing_key;
  std::string repos_dir() const { return root + "/repos"; }
};

// Opens (creating if needed) the data folder at root. blob_store: a URL for
// OpenBlobStore ("s3://bucket/prefix?...", a folder); "" = root/blobs. A hub must
// keep the blob store it started with: the metadata names what is stored there.
Result<std::unique_ptr<DataDir>> OpenDataDir(const std::string& root, const std::string& blob_store = "");

}  // namespace modelhub
