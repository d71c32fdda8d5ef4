#include "server/data_dir.h"

#include <fmt/format.h>

#include "common/fs.h"
#include "common/strings.h"

namespace modelhub {

Result<std::unique_ptr<DataDir>> OpenDataDir(const std::string& root) {
  auto d = std::make_unique<DataDir>();
  d->root = root;
  MH_RETURN_IF_ERROR(MakeDirs(root));
  std::string format_path = root + "/FORMAT";
  auto format = ReadFile(format_path);
  if (format.ok()) {
    std::string f = Trim(*format);
    if (f.rfind("modelhub-data ", 0) != 0) {
      return Status::InvalidArgument(fmt::format("{} is not a modelhub data folder (FORMAT file says '{}')", root, f));
    }
    auto v = ParseInt64(f.substr(14));
    if (!v) return Status::InvalidArgument("unreadable FORMAT file in " + root);
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
  MH_ASSIGN_OR_RETURN(d->blobs, OpenLocalBlobStore(root + "/blobs"));
  d->content = std::make_unique<ContentStore>(d->blobs.get());
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
