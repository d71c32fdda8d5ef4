#include "storage/cas/format/chunk_compression.h"

#include <lz4frame.h>

#include <array>
#include <bit>
#include <algorithm>
#include <cmath>
#include <memory>

#include <fmt/format.h>

namespace modelhub::xet {
namespace {

struct DctxDeleter {
  void operator()(LZ4F_dctx* d) const { LZ4F_freeDecompressionContext(d); }
};

}  // namespace

const char* CompressionSchemeName(CompressionScheme s) {
  switch (s) {
    case CompressionScheme::kNone:
      return "none";
    case CompressionScheme::kLz4:
      return "lz4";
    case CompressionScheme::kBg4Lz4:
      return "bg4-lz4";
  }
  return "?";
}

bool IsValidCompressionScheme(uint8_t wire_value) { return wire_value <= 2; }

namespace {
// Bits set per byte value. A table: without -mpopcnt (the build targets baseline
// x86-64) std::popcount is a library call per byte, which profiling showed to be
// a third of ingest CPU.
constexpr std::array<uint8_t, 256> MakePopcountTable() {
  std::array<uint8_t, 256> t{};
  for (int v = 0; v < 256; ++v) t[size_t(v)] = uint8_t(std::popcount(static_cast<unsigned>(v)));
  return t;
}
constexpr std::array<uint8_t, 256> kPopcount = MakePopcountTable();
}  // namespace

void Bg4Predictor::Add(std::string_view data, size_t offset) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  const size_t n = data.size();
  size_t i = 0;
  // Unrolled by 4 so each plane's counter is addressed without a modulo per byte.
  const size_t phase = offset % 4;
  auto& h0 = hist_[phase % 4];
  auto& h1 = hist_[(phase + 1) % 4];
  auto& h2 = hist_[(phase + 2) % 4];
  auto& h3 = hist_[(phase + 3) % 4];
  for (; i + 4 <= n; i += 4) {
    h0[kPopcount[p[i]]]++;
    h1[kPopcount[p[i + 1]]]++;
    h2[kPopcount[p[i + 2]]]++;
    h3[kPopcount[p[i + 3]]]++;
  }
  for (; i < n; ++i) hist_[(i + offset) % 4][kPopcount[p[i]]]++;
}

bool Bg4Predictor::Bg4Recommended() const {
  // Pooled distribution with one extra count per bin so that no bin has probability 0.
  std::array<double, 9> base{};
  double base_total = 0;
  std::array<double, 4> totals{};
  for (int j = 0; j < 9; ++j) {
    base[j] = 1;
    for (int p = 0; p < 4; ++p) {
      base[j] += hist_[p][j];
      totals[p] += hist_[p][j];
    }
    base_total += base[j];
  }
  double max_kl = 0;
  for (int p = 0; p < 4; ++p) {
    if (totals[p] == 0) continue;
    double kl = 0;
    for (int j = 0; j < 9; ++j) {
      if (hist_[p][j] == 0) continue;  // 0 * log 0 = 0
      double pj = hist_[p][j] / totals[p];
      double qj = base[j] / base_total;
      kl += pj * std::log(pj / qj);
    }
    max_kl = std::max(max_kl, kl);
  }
  // xet-core's empirically chosen threshold.
  return max_kl > 0.02;
}

std::string Bg4Split(std::string_view data) {
  const size_t n = data.size();
  std::string out(n, '\0');
  size_t start[4];
  start[0] = 0;
  for (int p = 1; p < 4; ++p) start[p] = start[p - 1] + Bg4PlaneSize(n, p - 1);
  for (size_t i = 0; i < n; ++i) out[start[i % 4] + i / 4] = data[i];
  return out;
}

std::string Bg4Regroup(std::string_view planes) {
  const size_t n = planes.size();
  std::string out(n, '\0');
  size_t start[4];
  start[0] = 0;
  for (int p = 1; p < 4; ++p) start[p] = start[p - 1] + Bg4PlaneSize(n, p - 1);
  for (size_t i = 0; i < n; ++i) out[i] = planes[start[i % 4] + i / 4];
  return out;
}

std::string Lz4FrameCompress(std::string_view data) {
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
  prefs.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
  std::string out(LZ4F_compressFrameBound(data.size(), &prefs), '\0');
  size_t n = LZ4F_compressFrame(out.data(), out.size(), data.data(), data.size(), &prefs);
  // The bound makes failure impossible short of a liblz4 bug; an empty result then makes the caller
  // store the chunk uncompressed.
  if (LZ4F_isError(n)) return std::string();
  out.resize(n);
  return out;
}

Status Lz4FrameDecompress(std::string_view payload, size_t expected_size, std::string* out) {
  if (payload.empty()) return Status::InvalidArgument("empty LZ4 payload");
  // One context per thread, reused: it keeps its block buffers (up to 4 MiB for frames with 4 MiB
  // blocks, as lz4js writes), so a xorb of 8192 chunks does not allocate them 8192 times.
  thread_local std::unique_ptr<LZ4F_dctx, DctxDeleter> dctx;
  if (!dctx) {
    LZ4F_dctx* raw = nullptr;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) {
      return Status::Internal("LZ4F_createDecompressionContext failed");
    }
    dctx.reset(raw);
  }
  LZ4F_resetDecompressionContext(dctx.get());

  const size_t old_size = out->size();
  // One spare byte: a frame that expands past expected_size fills it, which is how we notice.
  const size_t cap = expected_size + 1;
  out->resize(old_size + cap);
  char* dst = out->data() + old_size;
  size_t src_pos = 0, dst_pos = 0;
  size_t hint = 1;  // nonzero: "a frame is not finished"
  auto fail = [&](std::string msg) {
    out->resize(old_size);
    return Status::InvalidArgument(std::move(msg));
  };
  while (src_pos < payload.size()) {
    size_t dst_size = cap - dst_pos;
    size_t src_size = payload.size() - src_pos;
    hint = LZ4F_decompress(dctx.get(), dst + dst_pos, &dst_size, payload.data() + src_pos, &src_size, nullptr);
    if (LZ4F_isError(hint)) {
      return fail(fmt::format("bad LZ4 frame at payload byte {}: {}", src_pos, LZ4F_getErrorName(hint)));
    }
    src_pos += src_size;
    dst_pos += dst_size;
    if (dst_pos > expected_size) {
      return fail(fmt::format("LZ4 payload expands to more than the declared {} bytes", expected_size));
    }
    if (src_size == 0 && dst_size == 0) return fail("LZ4 decoder made no progress");
  }
  if (hint != 0) return fail("truncated LZ4 frame");
  if (dst_pos != expected_size) {
    return fail(fmt::format("LZ4 payload expands to {} bytes, declared {}", dst_pos, expected_size));
  }
  out->resize(old_size + expected_size);
  return Status::Ok();
}

CompressionScheme PredictScheme(std::string_view raw) {
  Bg4Predictor p;
  p.Add(raw);
  return p.Bg4Recommended() ? CompressionScheme::kBg4Lz4 : CompressionScheme::kLz4;
}

CompressedChunk CompressChunk(std::string_view raw, CompressionPolicy policy) {
  CompressedChunk c;
  switch (policy) {
    case CompressionPolicy::kNone:
      break;
    case CompressionPolicy::kLz4:
      c = {CompressionScheme::kLz4, Lz4FrameCompress(raw)};
      break;
    case CompressionPolicy::kBg4Lz4:
      c = {CompressionScheme::kBg4Lz4, Lz4FrameCompress(Bg4Split(raw))};
      break;
    case CompressionPolicy::kAuto:
      if (PredictScheme(raw) == CompressionScheme::kBg4Lz4) {
        c = {CompressionScheme::kBg4Lz4, Lz4FrameCompress(Bg4Split(raw))};
      } else {
        c = {CompressionScheme::kLz4, Lz4FrameCompress(raw)};
      }
      break;
    case CompressionPolicy::kBest: {
      CompressedChunk lz4{CompressionScheme::kLz4, Lz4FrameCompress(raw)};
      CompressedChunk bg4{CompressionScheme::kBg4Lz4, Lz4FrameCompress(Bg4Split(raw))};
      c = bg4.payload.size() < lz4.payload.size() ? std::move(bg4) : std::move(lz4);
      break;
    }
  }
  // xet-core's rule: compression that does not make the chunk smaller is not used. (An empty payload is
  // a compressor failure, see Lz4FrameCompress.)
  if (c.scheme == CompressionScheme::kNone || c.payload.empty() || c.payload.size() >= raw.size()) {
    c.scheme = CompressionScheme::kNone;
    c.payload.assign(raw.data(), raw.size());
  }
  return c;
}

Status DecompressChunk(CompressionScheme scheme, std::string_view payload, size_t uncompressed_size,
                       std::string* out) {
  switch (scheme) {
    case CompressionScheme::kNone:
      if (payload.size() != uncompressed_size) {
        return Status::InvalidArgument(fmt::format("uncompressed chunk has {} payload bytes, declared {}",
                                                   payload.size(), uncompressed_size));
      }
      out->append(payload.data(), payload.size());
      return Status::Ok();
    case CompressionScheme::kLz4:
      return Lz4FrameDecompress(payload, uncompressed_size, out);
    case CompressionScheme::kBg4Lz4: {
      std::string planes;
      MH_RETURN_IF_ERROR(Lz4FrameDecompress(payload, uncompressed_size, &planes));
      out->append(Bg4Regroup(planes));
      return Status::Ok();
    }
  }
  return Status::InvalidArgument(fmt::format("unknown compression scheme {}", static_cast<int>(scheme)));
}

}  // namespace modelhub::xet
