#include "storage/cas/xet/chunker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "crypto/sha256.h"
#include "storage/cas/xet/gear_table.h"
#include "storage/cas/xet/xet_test_data.h"

namespace modelhub::xet {
namespace {

using testdata::Json;
using testdata::MakeInput;
using testdata::SplitMix64Bytes;
using testdata::XetVectorsTest;

std::vector<uint64_t> Ends(const std::vector<ChunkBoundary>& chunks) {
  std::vector<uint64_t> ends;
  for (const ChunkBoundary& c : chunks) ends.push_back(c.offset + c.length);
  return ends;
}

// Feeds `data` in pieces of `piece` bytes and returns all cut positions, Finish() included.
std::vector<uint64_t> StreamEnds(const std::string& data, size_t piece) {
  XetChunker chunker;
  std::vector<uint64_t> ends;
  for (size_t i = 0; i < data.size(); i += piece) {
    const size_t n = std::min(piece, data.size() - i);
    for (uint64_t e : chunker.Next(data.data() + i, n)) ends.push_back(e);
  }
  if (auto last = chunker.Finish()) ends.push_back(*last);
  return ends;
}

// The boundary rule exactly as written in the notes and vectors.json, one byte at a time: the
// reference the unrolled chunker is checked against.
std::vector<uint64_t> ReferenceEnds(const std::string& data) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  const size_t n = data.size();
  std::vector<uint64_t> ends;
  size_t start = 0;
  while (start < n) {
    uint64_t h = 0;
    size_t end = n;
    for (size_t i = start + kFirstHashedOffset; i < n; ++i) {
      h = (h << 1) + kGearTable[p[i]];
      const size_t len = i + 1 - start;
      if (len >= kMaxChunkSize || (len >= kMinChunkSize && (h & kBoundaryMask) == 0)) {
        end = i + 1;
        break;
      }
    }
    ends.push_back(end);
    start = end;
  }
  return ends;
}

TEST_F(XetVectorsTest, GearTableMatchesVectorsAndSha256) {
  const Json& g = v().at("gear_table");
  ASSERT_EQ(g.at("entries").size(), 256u);
  for (size_t i = 0; i < 256; ++i) {
    EXPECT_EQ(std::stoull(g.at("entries")[i].get<std::string>(), nullptr, 16), kGearTable[i]) << "entry " << i;
  }
  Sha256 sha;
  for (uint64_t e : kGearTable) {
    uint8_t le[8];
    for (int b = 0; b < 8; ++b) le[b] = static_cast<uint8_t>(e >> (8 * b));
    sha.Update(le, sizeof(le));
  }
  EXPECT_EQ(sha.FinalHex(), g.at("sha256_of_2048_le_bytes").get<std::string>());
  EXPECT_EQ(g.at("sha256_of_2048_le_bytes").get<std::string>(),
            "e1d3936666d7ae7a977c958e9afcc75f90aaca758ce5fbe4ece61dffefe1912c");
}

TEST_F(XetVectorsTest, Constants) {
  const Json& c = v().at("constants");
  EXPECT_EQ(c.at("target_chunk_size").get<uint64_t>(), kTargetChunkSize);
  EXPECT_EQ(c.at("min_chunk_size").get<uint64_t>(), kMinChunkSize);
  EXPECT_EQ(c.at("max_chunk_size").get<uint64_t>(), kMaxChunkSize);
  EXPECT_EQ(std::stoull(c.at("boundary_mask_u64_hex").get<std::string>(), nullptr, 16), kBoundaryMask);
  EXPECT_EQ(c.at("hash_window").get<uint64_t>(), kGearWindow);
  EXPECT_EQ(c.at("first_hashed_offset_in_chunk").get<uint64_t>(), kFirstHashedOffset);
}

TEST_F(XetVectorsTest, GeneratorsMatchDataSamples) {
  const std::string d = SplitMix64Bytes(0, 1000000);
  EXPECT_EQ(uint8_t(d[0]), 175);
  EXPECT_EQ(uint8_t(d[127]), 132);
  EXPECT_EQ(uint8_t(d[111111]), 118);
  EXPECT_EQ(Sha256Hex(d), v().at("splitmix_1mb").at("sha256").get<std::string>());
  for (const Json& f : v().at("small_files").at("cases")) {
    EXPECT_EQ(Sha256Hex(MakeInput(f.at("input"))), f.at("sha256").get<std::string>()) << f.at("name");
  }
}

// xet-core's three boundary tests: 1 MB random, 1 MB constant, and the trigger pattern with all 128
// paddings (the MIN-edge cases; 13 of them differ under the pre-1.1.10 rule).
TEST_F(XetVectorsTest, ChunkBoundaryTests) {
  const Json& tests = v().at("chunk_boundary_tests").at("tests");
  ASSERT_EQ(tests.size(), 3u);
  size_t cases = 0;
  size_t legacy_differs = 0;
  for (const Json& t : tests) {
    for (const Json& c : t.at("cases")) {
      SCOPED_TRACE(t.at("name").get<std::string>() + " " + c.at("input").dump());
      const std::string data = MakeInput(c.at("input"));
      if (c.contains("data_samples")) {
        for (const Json& s : c.at("data_samples")) {
          EXPECT_EQ(uint8_t(data.at(s.at("index").get<size_t>())), s.at("value").get<int>());
        }
      }
      const auto expected = c.at("boundaries").get<std::vector<uint64_t>>();
      EXPECT_EQ(Ends(ChunkBuffer(data)), expected);
      EXPECT_EQ(ReferenceEnds(data), expected);
      if (c.contains("legacy_rule_boundaries")) {
        ++legacy_differs;
        EXPECT_NE(Ends(ChunkBuffer(data)), c.at("legacy_rule_boundaries").get<std::vector<uint64_t>>());
      }
      ++cases;
    }
  }
  EXPECT_EQ(cases, 1u + 1u + 128u);
  EXPECT_EQ(legacy_differs, 13u);
}

TEST_F(XetVectorsTest, StreamingPiecesGiveSameBoundaries) {
  const Json& s = v().at("streaming");
  const std::string data = MakeInput(s.at("input"));
  const auto expected = s.at("boundaries").get<std::vector<uint64_t>>();
  ASSERT_EQ(Ends(ChunkBuffer(data)), expected);
  for (size_t piece : s.at("piece_sizes").get<std::vector<size_t>>()) {
    EXPECT_EQ(StreamEnds(data, piece), expected) << "piece size " << piece;
  }
}

TEST_F(XetVectorsTest, Splitmix1MbChunks) {
  const Json& s = v().at("splitmix_1mb");
  const auto chunks = ChunkBuffer(MakeInput(s.at("input")));
  ASSERT_EQ(chunks.size(), s.at("chunks").size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].offset, s.at("chunks")[i].at("offset").get<uint64_t>()) << i;
    EXPECT_EQ(chunks[i].length, s.at("chunks")[i].at("length").get<uint64_t>()) << i;
  }
  EXPECT_EQ(Ends(chunks), s.at("boundaries").get<std::vector<uint64_t>>());
}

TEST_F(XetVectorsTest, SmallFilesChunks) {
  for (const Json& f : v().at("small_files").at("cases")) {
    SCOPED_TRACE(f.at("name").get<std::string>());
    const std::string data = MakeInput(f.at("input"));
    std::vector<ChunkBoundary> expected;
    for (const Json& c : f.at("chunks")) {
      expected.push_back({c.at("offset").get<uint64_t>(), c.at("length").get<uint64_t>()});
    }
    EXPECT_EQ(ChunkBuffer(data), expected);
    EXPECT_EQ(StreamEnds(data, 4096), Ends(expected));
    if (f.contains("legacy_rule_chunk_lengths")) {
      std::vector<uint64_t> lengths;
      for (const ChunkBoundary& c : expected) lengths.push_back(c.length);
      EXPECT_NE(lengths, f.at("legacy_rule_chunk_lengths").get<std::vector<uint64_t>>());
    }
  }
}

TEST_F(XetVectorsTest, HfjsAffineChunkLengths) {
  for (const Json& f : v().at("hfjs_cross_check").at("affine_files")) {
    SCOPED_TRACE(f.at("name").get<std::string>());
    std::vector<uint64_t> lengths;
    for (const ChunkBoundary& c : ChunkBuffer(MakeInput(f.at("input")))) lengths.push_back(c.length);
    EXPECT_EQ(lengths.size(), f.at("chunk_count").get<size_t>());
    EXPECT_EQ(lengths, f.at("chunk_lengths").get<std::vector<uint64_t>>());
  }
}

TEST(XetChunker, EmptyAndTinyInputs) {
  EXPECT_TRUE(ChunkBuffer(std::string_view()).empty());
  XetChunker c;
  EXPECT_TRUE(c.Next(nullptr, 0).empty());
  EXPECT_FALSE(c.Finish().has_value());
  EXPECT_EQ(ChunkBuffer(std::string_view("x")), (std::vector<ChunkBoundary>{{0, 1}}));
}

// The unrolled scan against the literal rule, on inputs that put cuts at every position of the
// 8-byte unrolled block and at every edge (MIN, MAX, end of data).
TEST(XetChunker, MatchesReferenceRule) {
  size_t cuts = 0;
  std::vector<int> lane(8, 0);
  for (uint64_t seed = 100; seed < 112; ++seed) {
    const std::string data = SplitMix64Bytes(seed, 3'000'000 + seed * 977);
    const auto ends = ReferenceEnds(data);
    ASSERT_EQ(Ends(ChunkBuffer(data)), ends) << "seed " << seed;
    cuts += ends.size();
    uint64_t start = 0;
    for (uint64_t e : ends) {
      if (e - start >= kMinChunkSize) lane[(e - start - kMinChunkSize) % 8]++;
      start = e;
    }
  }
  EXPECT_GT(cuts, 400u);
  for (int l : lane) EXPECT_GT(l, 10);
  // Low-entropy data (few distinct bytes) and data that ends exactly at MIN/MAX edges.
  std::string low = SplitMix64Bytes(7, 2'000'000);
  for (char& ch : low) ch = static_cast<char>(uint8_t(ch) % 3 * 17);
  EXPECT_EQ(Ends(ChunkBuffer(low)), ReferenceEnds(low));
  for (size_t len : {kMinChunkSize - 1, kMinChunkSize, kMinChunkSize + 1, kMaxChunkSize - 1, kMaxChunkSize,
                     kMaxChunkSize + 1, 2 * kMaxChunkSize, size_t{kFirstHashedOffset}, size_t{kFirstHashedOffset + 1}}) {
    const std::string d = SplitMix64Bytes(9, len);
    EXPECT_EQ(Ends(ChunkBuffer(d)), ReferenceEnds(d)) << len;
    const std::string k(len, 'k');
    EXPECT_EQ(Ends(ChunkBuffer(k)), ReferenceEnds(k)) << len;
  }
}

TEST(XetChunker, IrregularPiecesIncludingEmptyOnes) {
  const std::string data = SplitMix64Bytes(3, 1'500'000);
  const auto expected = Ends(ChunkBuffer(data));
  uint64_t rng = 12345;
  for (int round = 0; round < 5; ++round) {
    XetChunker c;
    std::vector<uint64_t> ends;
    size_t i = 0;
    while (i < data.size()) {
      rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
      size_t n = (rng >> 33) % (round == 0 ? 16 : 300000);
      if ((rng >> 20) % 7 == 0) n = 0;
      n = std::min(n, data.size() - i);
      const size_t before = ends.size();
      c.Next(data.data() + i, n, &ends);
      for (size_t k = before; k < ends.size(); ++k) {
        EXPECT_GT(ends[k], i);
        EXPECT_LE(ends[k], i + n);
      }
      i += n;
      EXPECT_EQ(c.position(), i);
    }
    if (auto last = c.Finish()) ends.push_back(*last);
    EXPECT_EQ(ends, expected) << "round " << round;
  }
}

TEST(XetChunker, NextCutAndFinishReset) {
  const std::string data = SplitMix64Bytes(0, 1000000);
  const auto expected = Ends(ChunkBuffer(data));
  XetChunker c;
  std::vector<uint64_t> ends;
  size_t i = 0;
  while (auto k = c.NextCut(data.data() + i, data.size() - i)) {
    i += *k;
    ends.push_back(i);
    EXPECT_EQ(c.chunk_start(), i);
  }
  EXPECT_EQ(c.position(), data.size());
  auto last = c.Finish();
  ASSERT_TRUE(last.has_value());
  ends.push_back(*last);
  EXPECT_EQ(ends, expected);
  // After Finish the chunker starts a new stream at offset 0.
  EXPECT_EQ(c.position(), 0u);
  EXPECT_EQ(c.Next(data.data(), data.size()), std::vector<uint64_t>(expected.begin(), expected.end() - 1));
  EXPECT_EQ(c.Finish(), std::optional<uint64_t>(data.size()));
}

TEST(XetChunker, ChunkSizesWithinLimits) {
  const std::string data = SplitMix64Bytes(42, 8'000'000);
  const auto chunks = ChunkBuffer(data);
  uint64_t next = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].offset, next);
    EXPECT_LE(chunks[i].length, kMaxChunkSize);
    if (i + 1 < chunks.size()) {
      EXPECT_GE(chunks[i].length, kMinChunkSize);
    }
    next += chunks[i].length;
  }
  EXPECT_EQ(next, data.size());
  // On random data the mean chunk is about MIN + TARGET.
  const double mean = double(data.size()) / double(chunks.size());
  EXPECT_GT(mean, 50000.0);
  EXPECT_LT(mean, 95000.0);
}

}  // namespace
}  // namespace modelhub::xet
