// chunking_bench: single-threaded throughput of Xet content-defined chunking on an in-memory buffer
// of random bytes (default 1 GiB), against the literal one-byte-at-a-time rule as the in-process
// reference; with BLAKE3 in the build, also chunking + chunk hashing, against keyed BLAKE3 of the
// whole buffer. Each measurement is repeated; the best and the median run are printed, measured in
// thread CPU time (what one core delivers, even when other processes share the machine) and in wall
// time (equal on an idle machine).
//
//   chunking_bench [--mib N] [--reps R]
//
// GB/s is 10^9 bytes per second. See bench/chunking/run.sh and docs/benchmarks.md.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "storage/cas/xet/chunker.h"
#include "storage/cas/xet/gear_table.h"
#ifdef MODELHUB_XET_HASHES
#include "crypto/blake3.h"
#include "storage/cas/xet/hashes.h"
#endif

namespace {

using modelhub::xet::ChunkBoundary;
using modelhub::xet::XetChunker;
namespace xet = modelhub::xet;

std::vector<uint8_t> RandomBuffer(size_t n) {
  std::vector<uint8_t> buf(n);
  uint64_t state = 0x5eed;
  for (size_t i = 0; i < n; i += 8) {
    state += 0x9E3779B97F4A7C15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    std::memcpy(buf.data() + i, &z, std::min<size_t>(8, n - i));
  }
  return buf;
}

// The boundary rule exactly as specified, one byte at a time: what the optimised chunker is
// measured against.
size_t LiteralRuleChunkCount(const uint8_t* p, size_t n) {
  size_t count = 0;
  size_t start = 0;
  while (start < n) {
    uint64_t h = 0;
    size_t end = n;
    for (size_t i = start + xet::kFirstHashedOffset; i < n; ++i) {
      h = (h << 1) + xet::kGearTable[p[i]];
      const size_t len = i + 1 - start;
      if (len >= xet::kMaxChunkSize || (len >= xet::kMinChunkSize && (h & xet::kBoundaryMask) == 0)) {
        end = i + 1;
        break;
      }
    }
    ++count;
    start = end;
  }
  return count;
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

struct Stats {
  double best = 0;    // GB/s by thread CPU time
  double median = 0;  // GB/s by thread CPU time
  double wall_median = 0;
};

// Runs fn reps times on `bytes` bytes.
Stats Measure(int reps, size_t bytes, const std::function<void()>& fn) {
  std::vector<double> cpu;
  std::vector<double> wall;
  for (int r = 0; r < reps; ++r) {
    const auto w0 = std::chrono::steady_clock::now();
    const double c0 = ThreadCpuSeconds();
    fn();
    const double c = ThreadCpuSeconds() - c0;
    const double w = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    cpu.push_back(double(bytes) / c / 1e9);
    wall.push_back(double(bytes) / w / 1e9);
  }
  std::sort(cpu.begin(), cpu.end());
  std::sort(wall.begin(), wall.end());
  return {cpu.back(), cpu[cpu.size() / 2], wall[wall.size() / 2]};
}

void Print(const char* name, const Stats& s) {
  std::printf("%-44s cpu: best %5.2f  median %5.2f GB/s | wall median %5.2f GB/s\n", name, s.best, s.median,
              s.wall_median);
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 1024;
  int reps = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--mib") == 0 && i + 1 < argc) {
      mib = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--mib N] [--reps R]\n", argv[0]);
      return 2;
    }
  }
  const size_t n = mib << 20;
  std::printf("buffer: %zu MiB of SplitMix64 bytes, single thread, %d runs each\n", mib, reps);
  const std::vector<uint8_t> buf = RandomBuffer(n);

  std::vector<uint64_t> ends;
  ends.reserve(n / xet::kMinChunkSize + 2);
  size_t chunks = 0;
  const Stats fast = Measure(reps, n, [&] {
    ends.clear();
    XetChunker c;
    c.Next(buf.data(), n, &ends);
    if (auto last = c.Finish()) ends.push_back(*last);
    chunks = ends.size();
  });
  size_t literal_chunks = 0;
  const Stats literal = Measure(std::min(reps, 3), n, [&] { literal_chunks = LiteralRuleChunkCount(buf.data(), n); });
  if (literal_chunks != chunks) {
    std::fprintf(stderr, "MISMATCH: %zu chunks vs %zu from the literal rule\n", chunks, literal_chunks);
    return 1;
  }
  std::printf("chunks: %zu (mean %.0f bytes)\n", chunks, double(n) / double(chunks));
  Print("chunking, literal rule (reference)", literal);
  Print("chunking, XetChunker", fast);
  std::printf("%-44s %.2fx (best), %.2fx (median)\n", "ratio XetChunker / literal rule", fast.best / literal.best,
              fast.median / literal.median);

#ifdef MODELHUB_XET_HASHES
  std::printf("BLAKE3 kernel: %s\n", modelhub::Blake3KernelName());
  uint8_t sink = 0;
  const Stats b3 = Measure(reps, n, [&] {
    modelhub::Blake3 h(xet::kDataKey.data());
    h.Update(buf.data(), n);
    sink ^= h.Digest()[0];
  });
  // Each chunk is hashed as soon as its end is found, while its bytes are still in cache.
  const Stats both = Measure(reps, n, [&] {
    XetChunker c;
    size_t start = 0;
    size_t pos = 0;
    while (auto k = c.NextCut(buf.data() + pos, n - pos)) {
      pos += *k;
      sink ^= xet::ChunkHash(buf.data() + start, pos - start).data()[0];
      start = pos;
    }
    if (c.Finish()) sink ^= xet::ChunkHash(buf.data() + start, n - start).data()[0];
  });
  Print("keyed BLAKE3 of the whole buffer (reference)", b3);
  Print("chunking + chunk hashes", both);
  std::printf("%-44s %.2fx (best), %.2fx (median)\n", "ratio chunk+hash / BLAKE3 alone", both.best / b3.best,
              both.median / b3.median);
  std::printf("(sink %u)\n", unsigned(sink));
#else
  std::printf("chunking + chunk hashes: not built (BLAKE3 is not in mh_crypto yet)\n");
#endif
  return 0;
}
