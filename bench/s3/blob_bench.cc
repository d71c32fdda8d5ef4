// blob_bench: writes then reads one object of N MiB through a BlobStore opened
// by URL (OpenBlobStore: a local folder or s3://...), 1 MiB per Write/Read, and
// prints one line: write and read MB/s (10^6 bytes/s) and the process's peak RSS.
// The data is one random 1 MiB block whose first 8 bytes hold the block index,
// so no two blocks are equal; the read checks those indices.
//
//   blob_bench URL MIB [--create-bucket]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "common/fs.h"
#include "storage/blob/blob_store.h"
#include "storage/blob/s3_blob_store.h"

using namespace modelhub;

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

int Fail(const std::string& what, const Status& s) {
  std::fprintf(stderr, "blob_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: blob_bench URL MIB [--create-bucket]\n");
    return 2;
  }
  std::string url = argv[1];
  const int64_t mib = std::atoll(argv[2]);
  if (argc > 3 && std::string(argv[3]) == "--create-bucket") {
    auto o = ParseS3Url(url);
    if (!o.ok()) return Fail("parse", o.status());
    Status s = CreateS3Bucket(*o);
    if (!s.ok()) return Fail("create bucket", s);
  }
  auto store = OpenBlobStore(url);
  if (!store.ok()) return Fail("open " + url, store.status());

  std::string block(1 << 20, '\0');
  std::mt19937_64 rng(std::random_device{}());
  for (size_t i = 0; i < block.size(); i += 8) {
    uint64_t v = rng();
    std::memcpy(&block[i], &v, 8);
  }
  const std::string key = "bench/obj-" + RandomHex(6);

  auto t0 = std::chrono::steady_clock::now();
  auto w = (*store)->NewWriter(key);
  if (!w.ok()) return Fail("writer", w.status());
  for (int64_t i = 0; i < mib; ++i) {
    std::memcpy(&block[0], &i, sizeof i);
    Status s = (*w)->Write(block.data(), block.size());
    if (!s.ok()) return Fail("write", s);
  }
  Status s = (*w)->Commit();
  if (!s.ok()) return Fail("commit", s);
  double write_s = Seconds(t0);

  t0 = std::chrono::steady_clock::now();
  auto r = (*store)->Open(key);
  if (!r.ok()) return Fail("open", r.status());
  std::string buf(1 << 20, '\0');
  int64_t total = 0;
  while (true) {
    auto n = (*r)->Read(buf.data(), buf.size());
    if (!n.ok()) return Fail("read", n.status());
    if (*n == 0) break;
    if (total % (1 << 20) == 0 && *n >= sizeof(int64_t)) {
      int64_t idx;
      std::memcpy(&idx, buf.data(), sizeof idx);
      if (idx != total >> 20) return Fail("verify", Status::Corruption("block " + std::to_string(idx)));
    }
    total += int64_t(*n);
  }
  double read_s = Seconds(t0);
  if (total != mib << 20) return Fail("read", Status::Corruption("short read"));
  (void)(*store)->Delete(key);

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double bytes = double(mib << 20);
  std::printf("write_MBps=%.1f read_MBps=%.1f write_s=%.2f read_s=%.2f peak_rss_MiB=%.1f\n", bytes / write_s / 1e6,
              bytes / read_s / 1e6, write_s, read_s, double(ru.ru_maxrss) / 1024.0);
  return 0;
}
