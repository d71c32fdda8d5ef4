#include "storage/cas/format/chunk_compression.h"

#include <gtest/gtest.h>

#include "storage/cas/format/format_test_util.h"

namespace modelhub::xet {
namespace {

using testing::DataKind;
using testing::MakeData;

std::string Bytes(std::initializer_list<int> v) {
  std::string s;
  for (int b : v) s.push_back(static_cast<char>(b));
  return s;
}

// The layout examples of huggingface.js (XetBlob.spec.ts, bg4_regoup_bytes), for n % 4 = 0..3.
TEST(Bg4Test, SplitAndRegroupMatchReferenceLayout) {
  struct Case {
    std::string raw, planes;
  };
  const Case cases[] = {
      {Bytes({1, 2, 3, 4, 5, 6, 7, 8}), Bytes({1, 5, 2, 6, 3, 7, 4, 8})},
      {Bytes({1, 2, 3, 4, 5, 6, 7, 8, 9}), Bytes({1, 5, 9, 2, 6, 3, 7, 4, 8})},
      {Bytes({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), Bytes({1, 5, 9, 2, 6, 10, 3, 7, 4, 8})},
      {Bytes({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}), Bytes({1, 5, 9, 2, 6, 10, 3, 7, 11, 4, 8})},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Bg4Split(c.raw), c.planes) << c.raw.size();
    EXPECT_EQ(Bg4Regroup(c.planes), c.raw) << c.raw.size();
  }
}

TEST(Bg4Test, PlaneSizesAndRoundTripForEveryRemainder) {
  for (size_t n = 0; n < 40; ++n) {
    EXPECT_EQ(Bg4PlaneSize(n, 0) + Bg4PlaneSize(n, 1) + Bg4PlaneSize(n, 2) + Bg4PlaneSize(n, 3), n);
    EXPECT_EQ(Bg4PlaneSize(n, 0), n / 4 + (n % 4 >= 1));
    EXPECT_EQ(Bg4PlaneSize(n, 3), n / 4);
    std::string raw = MakeData(DataKind::kRandom, n, n);
    EXPECT_EQ(Bg4Regroup(Bg4Split(raw)), raw);
  }
}

TEST(Bg4PredictorTest, RecommendsGroupingForFloatsNotForTextOrNoise) {
  EXPECT_EQ(PredictScheme(MakeData(DataKind::kFloats, 65536)), CompressionScheme::kBg4Lz4);
  EXPECT_EQ(PredictScheme(MakeData(DataKind::kRandom, 65536)), CompressionScheme::kLz4);
  EXPECT_EQ(PredictScheme(MakeData(DataKind::kText, 65536)), CompressionScheme::kLz4);
  EXPECT_EQ(PredictScheme(""), CompressionScheme::kLz4);
  Bg4Predictor p;
  p.Add(Bytes({0, 1, 3, 7, 255}), 3);  // offset 3: bytes land in planes 3, 0, 1, 2, 3
  EXPECT_EQ(p.histograms()[3][0], 1u);
  EXPECT_EQ(p.histograms()[0][1], 1u);
  EXPECT_EQ(p.histograms()[1][2], 1u);
  EXPECT_EQ(p.histograms()[2][3], 1u);
  EXPECT_EQ(p.histograms()[3][8], 1u);
}

TEST(Lz4FrameTest, RoundTripAndExactSize) {
  for (DataKind kind : {DataKind::kText, DataKind::kZeros, DataKind::kRandom, DataKind::kFloats}) {
    for (size_t n : {1, 7, 4096, 65536, 65537, 131072}) {
      std::string raw = MakeData(kind, n);
      std::string frame = Lz4FrameCompress(raw);
      ASSERT_GE(frame.size(), 7u);
      EXPECT_EQ(frame.substr(0, 4), Bytes({0x04, 0x22, 0x4d, 0x18}));
      std::string out = "prefix";
      ASSERT_TRUE(Lz4FrameDecompress(frame, n, &out).ok());
      EXPECT_EQ(out, "prefix" + raw);
      // Any other declared size is an error, and the output is left as it was.
      std::string wrong = "x";
      EXPECT_FALSE(Lz4FrameDecompress(frame, n - 1, &wrong).ok());
      EXPECT_EQ(wrong, "x");
      EXPECT_FALSE(Lz4FrameDecompress(frame, n + 1, &wrong).ok());
      EXPECT_EQ(wrong, "x");
    }
  }
}

TEST(Lz4FrameTest, RejectsTruncationGarbageAndEmpty) {
  std::string raw = MakeData(DataKind::kText, 3000);
  std::string frame = Lz4FrameCompress(raw);
  std::string out;
  for (size_t cut = 0; cut < frame.size(); ++cut) {
    EXPECT_FALSE(Lz4FrameDecompress(frame.substr(0, cut), raw.size(), &out).ok()) << cut;
    EXPECT_TRUE(out.empty());
  }
  EXPECT_FALSE(Lz4FrameDecompress(frame + "junk", raw.size(), &out).ok());
  EXPECT_FALSE(Lz4FrameDecompress(frame + frame.substr(0, 5), raw.size(), &out).ok());
  EXPECT_FALSE(Lz4FrameDecompress(std::string(20, 'x'), 20, &out).ok());
  EXPECT_TRUE(out.empty());
}

TEST(Lz4FrameTest, AcceptsConcatenatedFrames) {
  std::string a = MakeData(DataKind::kText, 1000, 1), b = MakeData(DataKind::kText, 500, 2);
  std::string out;
  ASSERT_TRUE(Lz4FrameDecompress(Lz4FrameCompress(a) + Lz4FrameCompress(b), 1500, &out).ok());
  EXPECT_EQ(out, a + b);
}

TEST(CompressChunkTest, ChoosesSchemesAndFallsBackToNone) {
  std::string text = MakeData(DataKind::kText, 65536);
  std::string floats = MakeData(DataKind::kFloats, 65536);
  std::string noise = MakeData(DataKind::kRandom, 65536);

  EXPECT_EQ(CompressChunk(text, CompressionPolicy::kLz4).scheme, CompressionScheme::kLz4);
  EXPECT_EQ(CompressChunk(text, CompressionPolicy::kNone).scheme, CompressionScheme::kNone);
  EXPECT_EQ(CompressChunk(floats, CompressionPolicy::kBg4Lz4).scheme, CompressionScheme::kBg4Lz4);
  EXPECT_EQ(CompressChunk(floats, CompressionPolicy::kAuto).scheme, CompressionScheme::kBg4Lz4);
  EXPECT_EQ(CompressChunk(text, CompressionPolicy::kAuto).scheme, CompressionScheme::kLz4);
  // Noise does not compress: every policy stores it raw.
  for (auto p : {CompressionPolicy::kAuto, CompressionPolicy::kBest, CompressionPolicy::kLz4,
                 CompressionPolicy::kBg4Lz4}) {
    CompressedChunk c = CompressChunk(noise, p);
    EXPECT_EQ(c.scheme, CompressionScheme::kNone);
    EXPECT_EQ(c.payload, noise);
  }
  // kBest keeps the smaller of the two.
  CompressedChunk best = CompressChunk(floats, CompressionPolicy::kBest);
  EXPECT_LE(best.payload.size(), CompressChunk(floats, CompressionPolicy::kLz4).payload.size());
  EXPECT_LE(best.payload.size(), CompressChunk(floats, CompressionPolicy::kBg4Lz4).payload.size());
  // A 1-byte chunk never shrinks.
  EXPECT_EQ(CompressChunk("a", CompressionPolicy::kLz4).scheme, CompressionScheme::kNone);
}

TEST(CompressChunkTest, DecompressRoundTripForEverySchemeAndRemainder) {
  for (size_t n = 4096; n < 4100; ++n) {  // n % 4 = 0..3
    for (DataKind kind : {DataKind::kFloats, DataKind::kText}) {
      std::string raw = MakeData(kind, n, n);
      for (auto p : {CompressionPolicy::kNone, CompressionPolicy::kLz4, CompressionPolicy::kBg4Lz4}) {
        CompressedChunk c = CompressChunk(raw, p);
        std::string out;
        ASSERT_TRUE(DecompressChunk(c.scheme, c.payload, n, &out).ok());
        EXPECT_EQ(out, raw);
        EXPECT_FALSE(DecompressChunk(c.scheme, c.payload, n + 1, &out).ok());
      }
    }
  }
  std::string out;
  EXPECT_FALSE(DecompressChunk(CompressionScheme::kNone, "abc", 4, &out).ok());
}

}  // namespace
}  // namespace modelhub::xet
