#include "storage/cas/format/xorb.h"

#include <gtest/gtest.h>

#include "storage/cas/format/format_test_util.h"

namespace modelhub::xet {
namespace {

using testing::DataKind;
using testing::FakeChunkHash;
using testing::FakeHashers;
using testing::FakeXorbHash;
using testing::Flip;
using testing::MakeData;

struct Built {
  std::vector<std::string> chunks;
  std::string records;
  std::string with_footer;
  XetHash xorb_hash{};
};

Built Build(const std::vector<std::string>& chunks, CompressionPolicy policy) {
  Built b;
  b.chunks = chunks;
  XorbWriter w(policy);
  for (const std::string& c : chunks) EXPECT_TRUE(w.Append(c, FakeChunkHash(c)).ok());
  b.records = w.records();
  b.xorb_hash = FakeXorbHash(w.ChunkHashesAndSizes());
  b.with_footer = w.SerializeWithFooter(b.xorb_hash, {1, 2, 3, 4});
  return b;
}

// Chunks of every size class mod 4 and several kinds.
std::vector<std::string> MixedChunks() {
  return {MakeData(DataKind::kFloats, 8192, 1), MakeData(DataKind::kText, 8193, 2),
          MakeData(DataKind::kRandom, 8194, 3), MakeData(DataKind::kFloats, 8195, 4),
          MakeData(DataKind::kZeros, 131072, 5), MakeData(DataKind::kText, 1, 6)};
}

void ExpectReadsBack(std::string_view body, const std::vector<std::string>& chunks) {
  auto reader = XorbReader::Open(body);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  ASSERT_EQ(reader->num_chunks(), chunks.size());
  std::string all;
  uint64_t unpacked = 0;
  uint32_t offset = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    std::string out;
    ASSERT_TRUE(reader->ReadChunk(i, &out).ok());
    EXPECT_EQ(out, chunks[i]) << i;
    const XorbChunkRecord& c = reader->chunk(i);
    EXPECT_EQ(c.offset, offset);
    EXPECT_EQ(c.unpacked_offset, unpacked);
    EXPECT_EQ(c.unpacked_size, chunks[i].size());
    offset = c.end();
    unpacked += c.unpacked_size;
    all += chunks[i];
  }
  EXPECT_EQ(reader->layout().records_size, offset);
  EXPECT_EQ(reader->layout().unpacked_size, unpacked);
  std::string range;
  ASSERT_TRUE(reader->ReadChunkRange(0, chunks.size(), &range).ok());
  EXPECT_EQ(range, all);
  range.clear();
  ASSERT_TRUE(reader->ReadChunkRange(1, 3, &range).ok());
  EXPECT_EQ(range, chunks[1] + chunks[2]);
  EXPECT_FALSE(reader->ReadChunkRange(2, chunks.size() + 1, &range).ok());
  EXPECT_FALSE(reader->ReadChunk(chunks.size(), &range).ok());
}

TEST(XorbTest, RoundTripEveryPolicyWithAndWithoutFooter) {
  for (auto policy : {CompressionPolicy::kNone, CompressionPolicy::kLz4, CompressionPolicy::kBg4Lz4,
                      CompressionPolicy::kAuto, CompressionPolicy::kBest}) {
    Built b = Build(MixedChunks(), policy);
    ExpectReadsBack(b.records, b.chunks);
    ExpectReadsBack(b.with_footer, b.chunks);

    auto plain = ParseXorb(b.records);
    ASSERT_TRUE(plain.ok());
    EXPECT_FALSE(plain->footer.has_value());
    auto footed = ParseXorb(b.with_footer);
    ASSERT_TRUE(footed.ok()) << footed.status().ToString();
    ASSERT_TRUE(footed->footer.has_value());
    EXPECT_EQ(footed->footer->version, 1);
    EXPECT_EQ(footed->footer->xorb_hash, b.xorb_hash);
    EXPECT_EQ(footed->footer->buffer[0], 1);
    EXPECT_EQ(footed->footer->buffer[3], 4);
    EXPECT_EQ(footed->chunks, plain->chunks);
    EXPECT_EQ(b.with_footer.size(), b.records.size() + XorbFooterV1InfoLength(b.chunks.size()) + 4);
  }
}

TEST(XorbTest, SchemesPerChunkAndNoneFallback) {
  Built b = Build(MixedChunks(), CompressionPolicy::kAuto);
  auto layout = ParseXorb(b.records);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->chunks[0].scheme, CompressionScheme::kBg4Lz4);  // floats
  EXPECT_EQ(layout->chunks[1].scheme, CompressionScheme::kLz4);     // text
  EXPECT_EQ(layout->chunks[2].scheme, CompressionScheme::kNone);    // noise: not smaller, stored raw
  EXPECT_EQ(layout->chunks[5].scheme, CompressionScheme::kNone);    // 1 byte
  EXPECT_EQ(layout->chunks[2].compressed_size, 8194u);
  EXPECT_LT(layout->chunks[4].compressed_size, 1000u);  // 128 KiB of zeros
}

TEST(XorbTest, HeaderBytesAreAsDocumented) {
  std::string chunk = MakeData(DataKind::kRandom, 0x012345 % 131072, 9);  // 74565 bytes, stored raw
  XorbWriter w(CompressionPolicy::kLz4);
  ASSERT_TRUE(w.Append(chunk, FakeChunkHash(chunk)).ok());
  const std::string& r = w.records();
  ASSERT_EQ(r.size(), 8 + chunk.size());
  // version 0, u24 LE compressed size, scheme 0, u24 LE uncompressed size
  EXPECT_EQ(r.substr(0, 8), std::string("\x00\x45\x23\x01\x00\x45\x23\x01", 8));
}

TEST(XorbTest, StoredFooterParsesOnItsOwn) {
  Built b = Build(MixedChunks(), CompressionPolicy::kAuto);
  auto layout = ParseXorb(b.records);
  ASSERT_TRUE(layout.ok());
  std::vector<XetHash> hashes;
  for (const auto& c : b.chunks) hashes.push_back(FakeChunkHash(c));
  XorbFooter f = MakeXorbFooter(*layout, hashes, b.xorb_hash);
  std::string footer = SerializeXorbFooter(f);
  auto parsed = ParseXorbFooterV1(footer);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, f);
  for (size_t cut = 0; cut < footer.size(); ++cut) {
    EXPECT_FALSE(ParseXorbFooterV1(footer.substr(0, cut)).ok()) << cut;
    EXPECT_FALSE(ParseXorbFooterV1(footer.substr(cut + 1)).ok()) << cut;
  }
}

TEST(XorbTest, V0FooterIsAccepted) {
  Built b = Build(MixedChunks(), CompressionPolicy::kAuto);
  auto layout = ParseXorb(b.records);
  ASSERT_TRUE(layout.ok());
  std::vector<XetHash> hashes;
  for (const auto& c : b.chunks) hashes.push_back(FakeChunkHash(c));
  XorbFooter f = MakeXorbFooter(*layout, hashes, b.xorb_hash);
  f.version = 0;
  f.unpacked_ends.clear();
  std::string footer = SerializeXorbFooter(f);
  EXPECT_EQ(footer.size(), XorbFooterV0InfoLength(b.chunks.size()) + 4);
  std::string body = b.records + footer;
  auto parsed = ParseXorb(body);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_TRUE(parsed->footer);
  EXPECT_EQ(*parsed->footer, f);
  ExpectReadsBack(body, b.chunks);
  auto v = VerifyXorb(body, FakeHashers(), &b.xorb_hash);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->chunk_hashes, hashes);
}

TEST(XorbTest, VerifyChecksHashesAgainstFooterAndExpectation) {
  Built b = Build(MixedChunks(), CompressionPolicy::kAuto);
  for (const std::string* body : {&b.records, &b.with_footer}) {
    auto v = VerifyXorb(*body, FakeHashers(), &b.xorb_hash);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(v->xorb_hash, b.xorb_hash);
    ASSERT_EQ(v->chunk_hashes.size(), b.chunks.size());
    EXPECT_EQ(v->chunk_hashes[3], FakeChunkHash(b.chunks[3]));
    XetHash other = Flip(b.xorb_hash, 0);
    auto bad = VerifyXorb(*body, FakeHashers(), &other);
    EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  }
  // A footer whose hashes disagree with the data.
  auto layout = ParseXorb(b.records);
  std::vector<XetHash> hashes;
  for (const auto& c : b.chunks) hashes.push_back(FakeChunkHash(c));
  hashes[2] = Flip(hashes[2], 5, 0x10);
  std::string body = b.records + SerializeXorbFooter(MakeXorbFooter(*layout, hashes, b.xorb_hash));
  ASSERT_TRUE(ParseXorb(body).ok());
  EXPECT_NE(VerifyXorb(body, FakeHashers()).status().message().find("chunk 2"), std::string::npos);
  hashes[2] = Flip(hashes[2], 5, 0x10);
  XetHash wrong_root = Flip(b.xorb_hash, 31);
  body = b.records + SerializeXorbFooter(MakeXorbFooter(*layout, hashes, wrong_root));
  EXPECT_FALSE(VerifyXorb(body, FakeHashers()).ok());
}

TEST(XorbTest, EveryTruncationIsAnError) {
  Built b = Build({MakeData(DataKind::kText, 300, 1), MakeData(DataKind::kRandom, 50, 2),
                   MakeData(DataKind::kFloats, 403, 3)},
                  CompressionPolicy::kAuto);
  auto layout = ParseXorb(b.records);
  ASSERT_TRUE(layout.ok());
  std::vector<size_t> boundaries;
  for (const auto& c : layout->chunks) boundaries.push_back(c.end());
  for (const std::string* body : {&b.records, &b.with_footer}) {
    for (size_t cut = 0; cut < body->size(); ++cut) {
      std::string_view prefix(body->data(), cut);
      // A cut on a record boundary is a well-formed shorter xorb; its hash gives it away. The one
      // exception: cutting off the whole footer leaves the footerless form of the same xorb.
      const bool on_boundary = std::count(boundaries.begin(), boundaries.end(), cut) > 0;
      EXPECT_EQ(ParseXorb(prefix).ok(), on_boundary) << cut;
      EXPECT_EQ(VerifyXorb(prefix, FakeHashers(), &b.xorb_hash).ok(), cut == b.records.size()) << cut;
    }
  }
}

TEST(XorbTest, EveryByteFlipIsRejectedOrHarmless) {
  Built b = Build({MakeData(DataKind::kText, 300, 1), MakeData(DataKind::kRandom, 50, 2),
                   MakeData(DataKind::kFloats, 403, 3)},
                  CompressionPolicy::kAuto);
  int rejected = 0, harmless = 0;
  for (const std::string* body : {&b.records, &b.with_footer}) {
    for (size_t i = 0; i < body->size(); ++i) {
      for (int bit : {0, 7}) {
        std::string m = *body;
        m[i] = static_cast<char>(m[i] ^ (1 << bit));
        auto v = VerifyXorb(m, FakeHashers(), &b.xorb_hash);
        if (!v.ok()) {
          ++rejected;
          continue;
        }
        // Accepted: then it must describe the very same chunks (the footer's free buffer, or an LZ4
        // sequence rewritten into an equivalent one, e.g. a match offset into identical bytes).
        ++harmless;
        ExpectReadsBack(m, b.chunks);
      }
    }
  }
  EXPECT_GT(rejected, 10 * harmless);
}

std::string Header(uint8_t version, uint32_t csize, uint8_t scheme, uint32_t usize) {
  std::string h;
  PutU8(&h, version);
  PutU24(&h, csize);
  PutU8(&h, scheme);
  PutU24(&h, usize);
  return h;
}

TEST(XorbTest, RejectsMalformedHeaders) {
  std::string four = "abcd";
  EXPECT_TRUE(ParseXorb(Header(0, 4, 0, 4) + four).ok());
  EXPECT_FALSE(ParseXorb("").ok());
  EXPECT_FALSE(ParseXorb(Header(1, 4, 0, 4) + four).ok());       // version
  EXPECT_FALSE(ParseXorb(Header(0, 4, 3, 4) + four).ok());       // scheme 3
  EXPECT_FALSE(ParseXorb(Header(0, 4, 99, 4) + four).ok());      // "Auto" is never serialized
  EXPECT_FALSE(ParseXorb(Header(0, 4, 0, 5) + four).ok());       // raw sizes differ
  EXPECT_FALSE(ParseXorb(Header(0, 0, 0, 0)).ok());              // empty chunk
  EXPECT_FALSE(ParseXorb(Header(0, 4, 1, 131073) + four).ok());  // > 128 KiB raw
  EXPECT_FALSE(ParseXorb(Header(0, 262145, 1, 100) + std::string(262145, 'x')).ok());
  EXPECT_TRUE(ParseXorb(Header(0, 262144, 1, 100) + std::string(262144, 'x')).ok());  // parses; decode fails
  EXPECT_FALSE(ParseXorb(Header(0, 5, 0, 5) + four).ok());       // payload truncated
  EXPECT_FALSE(ParseXorb(Header(0, 4, 0, 4) + four + "XYZ").ok());  // trailing garbage
  EXPECT_FALSE(ParseXorb(Header(0, 4, 0, 4) + four + "XETBLO").ok());
  EXPECT_FALSE(ParseXorb(Header(0, 4, 0, 4) + four + "XETBLOB").ok());
  EXPECT_FALSE(ParseXorb("XETBLOB" + std::string(100, '\0')).ok());  // footer without records

  // An LZ4 payload that expands to more or less than declared.
  std::string frame = Lz4FrameCompress(std::string(1000, 'a'));
  const std::string shorter = Header(0, frame.size(), 1, 999) + frame;  // a reader keeps a view of its body
  auto r = XorbReader::Open(shorter);
  ASSERT_TRUE(r.ok());
  std::string out;
  EXPECT_FALSE(r->ReadChunk(0, &out).ok());
  const std::string longer = Header(0, frame.size(), 2, 1001) + frame;
  r = XorbReader::Open(longer);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ReadChunk(0, &out).ok());
  EXPECT_TRUE(out.empty());
}

TEST(XorbTest, RejectsInconsistentFooters) {
  Built b = Build(MixedChunks(), CompressionPolicy::kLz4);
  auto layout = ParseXorb(b.records);
  std::vector<XetHash> hashes(b.chunks.size());
  XorbFooter good = MakeXorbFooter(*layout, hashes, b.xorb_hash);
  ASSERT_TRUE(ParseXorb(b.records + SerializeXorbFooter(good)).ok());
  EXPECT_FALSE(ParseXorb(b.records + SerializeXorbFooter(good) + "x").ok());  // trailing garbage

  XorbFooter f = good;
  f.chunk_ends[1] += 1;
  EXPECT_FALSE(ParseXorb(b.records + SerializeXorbFooter(f)).ok());
  f = good;
  f.unpacked_ends[4] -= 1;
  EXPECT_FALSE(ParseXorb(b.records + SerializeXorbFooter(f)).ok());
  f = good;
  f.version = 2;
  EXPECT_FALSE(ParseXorb(b.records + SerializeXorbFooter(f)).ok());

  // A footer for fewer chunks than there are records.
  auto fewer = ParseXorb(b.records);
  fewer->chunks.pop_back();
  hashes.pop_back();
  EXPECT_FALSE(ParseXorb(b.records + SerializeXorbFooter(MakeXorbFooter(*fewer, hashes, b.xorb_hash))).ok());

  // Corrupt the fixed fields one at a time: idents, versions, counts, offsets, info_length.
  std::string footer = SerializeXorbFooter(good);
  const size_t n = b.chunks.size();
  const size_t hsec = 40, bsec = 40 + 12 + 32 * n, trailer = bsec + 12 + 8 * n;
  for (size_t at : {size_t(0), size_t(7), hsec, hsec + 7, hsec + 8, bsec, bsec + 7, bsec + 8, trailer, trailer + 4,
                    trailer + 8, footer.size() - 4}) {
    std::string m = footer;
    m[at] = static_cast<char>(m[at] + 1);
    EXPECT_FALSE(ParseXorb(b.records + m).ok()) << at;
  }
}

TEST(XorbTest, Limits) {
  // 8192 one-byte chunks are fine, 8193 are not.
  std::string rec = Header(0, 1, 0, 1) + "z";
  std::string body;
  for (int i = 0; i < 8192; ++i) body += rec;
  EXPECT_TRUE(ParseXorb(body).ok());
  EXPECT_FALSE(ParseXorb(body + rec).ok());

  // 64 MiB of raw bytes is fine, one more chunk is not (128 KiB zero chunks compress to a few hundred bytes).
  std::string frame = Lz4FrameCompress(std::string(131072, '\0'));
  std::string big_rec = Header(0, frame.size(), 1, 131072) + frame;
  body.clear();
  for (int i = 0; i < 512; ++i) body += big_rec;
  auto layout = ParseXorb(body);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->unpacked_size, kMaxXorbRawBytes);
  EXPECT_FALSE(ParseXorb(body + rec).ok());

  XorbWriter w(CompressionPolicy::kLz4);
  std::string zeros(131072, '\0');
  for (int i = 0; i < 512; ++i) ASSERT_TRUE(w.Append(zeros, FakeChunkHash(zeros)).ok());
  EXPECT_FALSE(w.HasRoomFor(1));
  EXPECT_FALSE(w.Append("a", FakeChunkHash("a")).ok());
  EXPECT_EQ(w.num_chunks(), 512u);
  EXPECT_FALSE(XorbWriter().Append("", FakeChunkHash("")).ok());
  EXPECT_FALSE(XorbWriter().Append(std::string(131073, 'a'), XetHash{}).ok());
}

TEST(XorbTest, RecordBytesCoverTermRanges) {
  Built b = Build(MixedChunks(), CompressionPolicy::kAuto);
  auto reader = XorbReader::Open(b.with_footer);
  ASSERT_TRUE(reader.ok());
  std::string_view r = reader->RecordBytes(1, 4);
  EXPECT_EQ(r.data() - b.with_footer.data(), reader->chunk(1).offset);
  EXPECT_EQ(r.size(), reader->chunk(3).end() - reader->chunk(1).offset);
  // Those bytes are themselves a well-formed (footerless) xorb of the three chunks.
  ExpectReadsBack(r, {b.chunks[1], b.chunks[2], b.chunks[3]});
  EXPECT_TRUE(reader->RecordBytes(2, 2).empty());
}

TEST(XorbTest, HashHexIsXetFormat) {
  XetHash::Bytes raw;
  for (int i = 0; i < 32; ++i) raw[i] = static_cast<uint8_t>(i);
  XetHash h(raw);
  EXPECT_EQ(h.ToHex(), "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918");
  EXPECT_EQ(h.Truncated(), 0x0706050403020100ull);
}

}  // namespace
}  // namespace modelhub::xet

#ifdef MODELHUB_XET_HASHES
namespace modelhub::xet {
namespace {

// xet-core's chunker test input: SplitMix64 (seed 0) words, little-endian, 1,000,000 bytes. Its 19 chunk
// boundaries and hashes are in shared/reference/xet-protocol.md §1 and shared/testdata/xet/vectors.json.
std::string SplitMixMegabyte() {
  std::string data;
  uint64_t s = 0;
  while (data.size() < 1000000) {
    uint64_t v = testing::SplitMix64(&s);
    for (int i = 0; i < 8; ++i) data.push_back(static_cast<char>(v >> (8 * i)));
  }
  data.resize(1000000);
  return data;
}

constexpr size_t kSplitMixEnds[] = {84493,  134421, 144853, 243318, 271793, 336457, 467529,
                                    494581, 582000, 596735, 616815, 653164, 678202, 724510,
                                    815591, 827760, 958832, 991092, 1000000};

TEST(XorbRealHashTest, SplitMixMegabyteMatchesReferenceXorbHash) {
  const std::string data = SplitMixMegabyte();
  ASSERT_EQ(static_cast<uint8_t>(data[0]), 175);
  ASSERT_EQ(static_cast<uint8_t>(data[111111]), 118);
  const XorbHashers hashers = XetXorbHashers();
  XorbWriter w(CompressionPolicy::kBest);
  size_t start = 0;
  for (size_t end : kSplitMixEnds) {
    std::string_view chunk(data.data() + start, end - start);
    ASSERT_TRUE(w.Append(chunk, hashers.chunk_hash(chunk)).ok());
    start = end;
  }
  EXPECT_EQ(w.chunk_hashes()[0].ToHex(), "6eca1e7dadaf08cca5d82d318c800f07c2ddcec115a7e8627e5edd9605b94b8d");
  EXPECT_EQ(w.chunk_hashes()[18].ToHex(), "03e5b5f5a088269ec4b329f1e04debfac4cb54b9c0facf038f7e8e0f054be7e2");
  auto want = XetHash::FromHex("6f2ce16ca5e317f0100ff0e7e5bf40a0de9032e9ee1ad04b6b8ff4e36cdfbf6c");
  ASSERT_TRUE(want.ok());
  const XetHash root = hashers.xorb_hash(w.ChunkHashesAndSizes());
  EXPECT_EQ(root, *want);

  for (const std::string& body : {w.records(), w.SerializeWithFooter(root)}) {
    auto v = VerifyXorb(body, hashers, &*want);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(v->chunk_hashes, w.chunk_hashes());
    auto reader = XorbReader::Open(body);
    ASSERT_TRUE(reader.ok());
    std::string all;
    ASSERT_TRUE(reader->ReadChunkRange(0, reader->num_chunks(), &all).ok());
    EXPECT_EQ(all, data);
  }
  // The file hash and the verification hash of the term [0, 19) that a shard would carry.
  std::vector<MerkleNode> leaves = w.ChunkHashesAndSizes();
  EXPECT_EQ(FileHash(leaves).ToHex(), "3d17b2d7d64a0e011b6717a52d9a16bd2c3f05b743fa8adf52a7d75dafab6d89");
  EXPECT_EQ(VerificationHash(w.chunk_hashes()).ToHex(),
            "6daf15a7ed258b91f607e8f5e6723a8564292d12c8104c156f7bad9c255a0180");
}

}  // namespace
}  // namespace modelhub::xet
#endif  // MODELHUB_XET_HASHES
