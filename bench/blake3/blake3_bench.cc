// BLAKE3 single-thread throughput of each kernel on one file.
//
//   blake3_bench [--kernel NAME|all] [--runs N] [--in-memory] FILE
//       For each kernel the CPU can run (or only NAME), N timed runs (default 5) of:
//       open, mmap (no MAP_POPULATE: pages fault in on first touch, as in b3sum),
//       Blake3::Update over the whole mapping, Digest, munmap, close. Prints one line per
//       kernel with the best wall time and the best CPU time (user + sys of this process;
//       steadier when other jobs share the cores) of the runs, in GB/s (10^9 bytes/s):
//         kernel=avx512 wall_s=0.3012 gbps=3.565 cpu_s=0.2950 cpu_gbps=3.640 digest=<hex>
//       With --in-memory the file is read into a buffer once (untimed) and the runs time
//       only Update + Digest over that buffer: the kernels' own speed, without page faults.
//   blake3_bench --once [--kernel NAME] FILE
//       One run, prints the hex digest like `b3sum --no-names`; for timing the whole process
//       with hyperfine next to b3sum (bench/blake3/run.sh).
//   blake3_bench --which
//       Prints the kernel the dispatcher picks on this CPU.
//
// The file should be in the page cache (run.sh reads it once first), so this measures hashing,
// not the disk. Exit status 2 on bad usage, 1 if the file cannot be mapped.

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "crypto/blake3.h"

namespace {

using modelhub::Blake3;
using modelhub::Blake3Digest;

std::string Hex(const Blake3Digest& d) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : d) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Maps and hashes the file; false (with a message) if it cannot be read.
bool HashFile(const char* path, Blake3Digest* digest, size_t* size) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "blake3_bench: open %s: %s\n", path, std::strerror(errno));
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    std::fprintf(stderr, "blake3_bench: fstat %s: %s\n", path, std::strerror(errno));
    close(fd);
    return false;
  }
  *size = static_cast<size_t>(st.st_size);
  Blake3 h;
  if (*size > 0) {
    void* map = mmap(nullptr, *size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
      std::fprintf(stderr, "blake3_bench: mmap %s: %s\n", path, std::strerror(errno));
      close(fd);
      return false;
    }
    h.Update(map, *size);
    munmap(map, *size);
  }
  close(fd);
  *digest = h.Digest();
  return true;
}

// Reads the whole file into *buf; false (with a message) on error.
bool ReadFile(const char* path, std::vector<uint8_t>* buf) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    std::fprintf(stderr, "blake3_bench: %s: %s\n", path, std::strerror(errno));
    if (fd >= 0) close(fd);
    return false;
  }
  buf->resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < buf->size()) {
    const ssize_t n = read(fd, buf->data() + done, buf->size() - done);
    if (n <= 0) {
      std::fprintf(stderr, "blake3_bench: read %s: %s\n", path,
                   n == 0 ? "file shrank" : std::strerror(errno));
      close(fd);
      return false;
    }
    done += static_cast<size_t>(n);
  }
  close(fd);
  return true;
}

int Usage() {
  std::fprintf(stderr,
               "usage: blake3_bench [--kernel portable|sse41|avx2|avx512|all] [--runs N]\n"
               "                    [--in-memory] FILE\n"
               "       blake3_bench --once [--kernel NAME] FILE\n"
               "       blake3_bench --which\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string kernel = "all";
  int runs = 5;
  bool once = false;
  bool in_memory = false;
  const char* path = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--kernel" && i + 1 < argc) {
      kernel = argv[++i];
    } else if (arg == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
      if (runs < 1) return Usage();
    } else if (arg == "--once") {
      once = true;
    } else if (arg == "--in-memory") {
      in_memory = true;
    } else if (arg == "--which") {
      std::printf("%s\n", modelhub::Blake3KernelName());
      return 0;
    } else if (!arg.empty() && arg[0] != '-' && path == nullptr) {
      path = argv[i];
    } else {
      return Usage();
    }
  }
  if (path == nullptr) return Usage();

  if (once) {
    if (kernel != "all" && !modelhub::Blake3ForceKernel(kernel.c_str())) {
      std::fprintf(stderr, "blake3_bench: this CPU cannot run kernel %s\n", kernel.c_str());
      return 2;
    }
    Blake3Digest d;
    size_t size;
    if (!HashFile(path, &d, &size)) return 1;
    std::printf("%s\n", Hex(d).c_str());
    return 0;
  }

  std::vector<uint8_t> buf;
  if (in_memory && !ReadFile(path, &buf)) return 1;

  std::vector<std::string> kernels;
  if (kernel == "all") {
    kernels = {"avx512", "avx2", "sse41", "portable"};
  } else {
    kernels = {kernel};
  }
  std::printf("# default kernel: %s\n", modelhub::Blake3KernelName());
  for (const std::string& k : kernels) {
    if (!modelhub::Blake3ForceKernel(k.c_str())) {
      std::printf("kernel=%s unsupported\n", k.c_str());
      continue;
    }
    double best_wall = 1e300;
    double best_cpu = 1e300;
    Blake3Digest d{};
    size_t size = 0;
    for (int r = 0; r < runs; ++r) {
      const double c0 = CpuSeconds();
      const auto t0 = std::chrono::steady_clock::now();
      if (in_memory) {
        Blake3 h;
        h.Update(buf.data(), buf.size());
        d = h.Digest();
        size = buf.size();
      } else if (!HashFile(path, &d, &size)) {
        return 1;
      }
      const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
      best_wall = std::min(best_wall, dt.count());
      best_cpu = std::min(best_cpu, CpuSeconds() - c0);
    }
    const double bytes = static_cast<double>(size);
    std::printf("kernel=%s wall_s=%.4f gbps=%.3f cpu_s=%.4f cpu_gbps=%.3f digest=%s\n", k.c_str(),
                best_wall, bytes / best_wall / 1e9, best_cpu, bytes / best_cpu / 1e9,
                Hex(d).c_str());
    std::fflush(stdout);
  }
  modelhub::Blake3ForceKernel("auto");
  return 0;
}
