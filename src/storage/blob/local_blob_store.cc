#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <chrono>
#include <filesystem>

#include "common/fs.h"
#include "storage/blob/blob_store.h"

namespace modelhub {

namespace {

Status Errno(const std::string& what) { return ErrnoStatus(errno, what); }

class LocalBlobWriter : public BlobWriter {
 public:
  LocalBlobWriter(std::string tmp_path, std::string final_path, UniqueFd fd)
      : tmp_path_(std::move(tmp_path)), final_path_(std::move(final_path)), fd_(std::move(fd)) {}
  ~LocalBlobWriter() override { Abort(); }

  Status Write(const char* data, size_t n) override {
    if (!fd_.valid()) return Status::Internal("write after commit/abort");
    MH_RETURN_IF_ERROR(WriteAll(fd_.get(), data, n));
    written_ += int64_t(n);
    return Status::Ok();
  }

  Status Commit() override {
    if (!fd_.valid()) return Status::Internal("commit after commit/abort");
    MH_RETURN_IF_ERROR(FsyncFd(fd_.get(), tmp_path_));
    fd_.reset();
    std::string dir = Dirname(final_path_);
    MH_RETURN_IF_ERROR(MakeDirs(dir));
    if (::rename(tmp_path_.c_str(), final_path_.c_str()) != 0) {
      Status s = Errno("rename " + tmp_path_);
      ::unlink(tmp_path_.c_str());
      return s;
    }
    committed_ = true;
    return FsyncDir(dir);
  }

  void Abort() override {
    if (committed_) return;
    if (fd_.valid()) fd_.reset();
    if (!tmp_path_.empty()) ::unlink(tmp_path_.c_str());
    tmp_path_.clear();
  }

  int64_t bytes_written() const override { return written_; }

 private:
  std::string tmp_path_;
  std::string final_path_;
  UniqueFd fd_;
  int64_t written_ = 0;
  bool committed_ = false;
};

class LocalBlobReader : public BlobReader {
 public:
  LocalBlobReader(UniqueFd fd, int64_t offset, int64_t remaining)
      : fd_(std::move(fd)), offset_(offset), remaining_(remaining) {}

  Result<size_t> Read(char* buf, size_t n) override {
    if (remaining_ <= 0) return size_t(0);
    size_t want = size_t(std::min<int64_t>(int64_t(n), remaining_));
    while (true) {
      ssize_t r = ::pread(fd_.get(), buf, want, offset_);
      if (r < 0) {
        if (errno == EINTR) continue;
        return Errno("pread");
      }
      if (r == 0) return Status::Corruption("blob shorter than expected");
      offset_ += r;
      remaining_ -= r;
      return size_t(r);
    }
  }
  std::optional<std::pair<int, int64_t>> FileRange() const override { return std::make_pair(fd_.get(), offset_); }
  int64_t remaining() const override { return remaining_; }

 private:
  UniqueFd fd_;
  int64_t offset_;
  int64_t remaining_;
};

class LocalBlobStore : public BlobStore {
 public:
  explicit LocalBlobStore(std::string dir) : dir_(std::move(dir)) {}

  Result<std::unique_ptr<BlobWriter>> NewWriter(const std::string& key) override {
    if (!IsValidBlobKey(key)) return Status::InvalidArgument("invalid blob key: " + key);
    std::string tmp = dir_ + "/.tmp/" + RandomHex(12);
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid()) return Errno("create " + tmp);
    return std::unique_ptr<BlobWriter>(std::make_unique<LocalBlobWriter>(tmp, dir_ + "/" + key, std::move(fd)));
  }

  Result<std::unique_ptr<BlobReader>> Open(const std::string& key, int64_t offset, int64_t length) override {
    if (!IsValidBlobKey(key)) return Status::InvalidArgument("invalid blob key: " + key);
    std::string path = dir_ + "/" + key;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT) return Status::NotFound("blob not found: " + key);
      return Errno("open " + path);
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return Errno("fstat " + path);
    if (offset < 0 || offset > st.st_size) return Status::InvalidArgument("offset beyond end of blob");
    int64_t avail = st.st_size - offset;
    int64_t n = length < 0 ? avail : std::min(length, avail);
    return std::unique_ptr<BlobReader>(std::make_unique<LocalBlobReader>(std::move(fd), offset, n));
  }

  Result<int64_t> Size(const std::string& key) override {
    if (!IsValidBlobKey(key)) return Status::InvalidArgument("invalid blob key: " + key);
    struct stat st;
    if (::stat((dir_ + "/" + key).c_str(), &st) != 0) {
      if (errno == ENOENT) return Status::NotFound("blob not found: " + key);
      return Errno("stat " + key);
    }
    return int64_t(st.st_size);
  }

  Status Delete(const std::string& key) override {
    if (!IsValidBlobKey(key)) return Status::InvalidArgument("invalid blob key: " + key);
    if (::unlink((dir_ + "/" + key).c_str()) != 0 && errno != ENOENT) return Errno("unlink " + key);
    return Status::Ok();
  }

  Status List(const std::string& prefix,
              const std::function<void(const std::string& key, int64_t size)>& fn) override {
    // Writers and deleters run concurrently (a GC lists while uploads stage and rename): every
    // call here is the non-throwing form, and an entry that vanished meanwhile is skipped.
    std::error_code ec;
    const std::string root = dir_ + "/";
    for (auto it = std::filesystem::recursive_directory_iterator(dir_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      const std::string path = it->path().string();
      if (path.rfind(root, 0) != 0) continue;
      std::string rel = path.substr(root.size());
      std::error_code fec;
      if (rel == ".tmp" && it->is_directory(fec)) {
        it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file(fec)) continue;
      if (rel.rfind(".tmp/", 0) == 0) continue;
      if (rel.rfind(prefix, 0) != 0) continue;
      auto size = it->file_size(fec);
      if (fec) continue;
      fn(rel, int64_t(size));
    }
    if (ec) return Status::IOError("list " + dir_ + ": " + ec.message());
    return Status::Ok();
  }

  // Staged files are named at random and written by one writer each: one untouched
  // for older_than was left by a process that died (a live writer keeps its mtime fresh).
  Result<StaleUploadStats> CleanStaleUploads(std::chrono::seconds older_than, bool dry_run) override {
    StaleUploadStats stats;
    const std::string tmp = dir_ + "/.tmp";
    std::error_code ec;
    auto cutoff = std::filesystem::file_time_type::clock::now() - older_than;
    for (auto it = std::filesystem::directory_iterator(tmp, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
      std::error_code fec;
      auto mtime = it->last_write_time(fec);
      if (fec || mtime >= cutoff) continue;  // gone meanwhile, or young
      ++stats.found;
      if (dry_run) continue;
      std::filesystem::remove(it->path(), fec);  // already gone is fine too
      ++(fec ? stats.failed : stats.removed);
    }
    if (ec) return Status::IOError("list " + tmp + ": " + ec.message());
    return stats;
  }

 private:
  std::string dir_;
};

}  // namespace

Result<std::string_view> BlobReader::ReadView(size_t) {
  return Status::Internal("this blob reader has no views");
}

bool IsValidBlobKey(const std::string& key) {
  if (key.empty() || key.size() > 512 || key[0] == '/' || key.back() == '/') return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-' || c == '/';
    if (!ok) return false;
  }
  if (key.find("..") != std::string::npos || key.find("//") != std::string::npos) return false;
  if (key.rfind(".tmp", 0) == 0) return false;
  return true;
}

Result<std::unique_ptr<BlobStore>> OpenLocalBlobStore(const std::string& dir) {
  MH_RETURN_IF_ERROR(MakeDirs(dir + "/.tmp"));
  auto store = std::make_unique<LocalBlobStore>(dir);
  // Staged writes left by a crashed process are garbage. Other live processes
  // (the server, an admin command) may be staging right now, so only files
  // untouched for a day are removed. Best effort: `admin gc` does it again and reports.
  (void)store->CleanStaleUploads(std::chrono::hours(24), /*dry_run=*/false);
  return std::unique_ptr<BlobStore>(std::move(store));
}

}  // namespace modelhub
