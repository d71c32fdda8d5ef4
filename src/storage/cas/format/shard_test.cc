#include "storage/cas/format/shard.h"

#include <gtest/gtest.h>

#include "storage/cas/format/format_test_util.h"

namespace modelhub::xet {
namespace {

XetHash H(uint8_t seed) {
  XetHash::Bytes h;
  for (int i = 0; i < 32; ++i) h[i] = static_cast<uint8_t>(seed * 31 + i * 7);
  return XetHash(h);
}

XetHash Filled(uint8_t v) {
  XetHash::Bytes h;
  h.fill(v);
  return XetHash(h);
}

// Chunk i of xorb `seed` has hash H(seed + 100 + i), so xorbs 1 and 2 share two chunk hashes.
XorbInfo MakeXorb(uint8_t seed, std::vector<uint32_t> sizes, bool keyed_flag_on_first = false) {
  XorbInfo x;
  x.xorb_hash = H(seed);
  uint32_t offset = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    XorbChunkEntry c;
    c.chunk_hash = H(static_cast<uint8_t>(seed + 100 + i));
    c.byte_range_start = offset;
    c.unpacked_bytes = sizes[i];
    c.flags = (keyed_flag_on_first && i == 0) ? kChunkFlagGlobalDedup : 0;
    offset += sizes[i];
    x.chunks.push_back(c);
  }
  x.num_bytes_in_xorb = offset;
  return x;
}

// Two xorbs, three files (one with two terms, one that dedups against an older xorb, one empty).
Shard SampleShard() {
  Shard s;
  s.xorbs.push_back(MakeXorb(1, {70000, 65536, 9000}, true));
  s.xorbs.push_back(MakeXorb(2, {131072, 1}));
  FileInfo a;
  a.file_hash = H(50);
  a.terms.push_back({s.xorbs[0].xorb_hash, 0, 135536, 0, 2});
  a.terms.push_back({s.xorbs[1].xorb_hash, 0, 131073, 0, 2});
  a.verification = {H(60), H(61)};
  Sha256Digest sha;
  for (int i = 0; i < 32; ++i) sha[i] = static_cast<uint8_t>(i);
  a.sha256 = sha;
  FileInfo b;
  b.file_hash = H(51);
  b.terms.push_back({H(99), 0, 12345, 17, 20});  // a xorb uploaded earlier
  b.verification = {H(62)};
  b.sha256 = Sha256Digest{};
  FileInfo c;
  c.file_hash = H(52);
  s.files = {a, b, c};
  return s;
}

TEST(ShardTest, UploadFormRoundTrip) {
  Shard s = SampleShard();
  auto bytes = SerializeShard(s, {.full = false});
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  // header + (1+2+2+1) + (1+1+1+1) + (1+0) + bookend + (1+3) + (1+2) + bookend records
  EXPECT_EQ(bytes->size(), 48u + 48u * (6 + 4 + 1 + 1 + 4 + 3 + 1));
  EXPECT_EQ(LoadU64(bytes->data() + 40), 0u);  // footer_size
  size_t end = 0;
  auto parsed = ParseShard(*bytes, &end);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, s);
  EXPECT_EQ(end, bytes->size());
}

TEST(ShardTest, Sha256IsStoredWithEightByteGroupsReversed) {
  Shard s;
  FileInfo f;
  f.file_hash = H(1);
  f.terms.push_back({H(2), 0, 10, 0, 1});
  Sha256Digest sha;
  for (int i = 0; i < 32; ++i) sha[i] = static_cast<uint8_t>(i);
  f.sha256 = sha;
  s.files.push_back(f);
  auto bytes = SerializeShard(s, {.full = false});
  ASSERT_TRUE(bytes.ok());
  const std::string stored = bytes->substr(48 + 48 * 2, 32);
  std::string want;
  for (int g = 0; g < 4; ++g)
    for (int i = 7; i >= 0; --i) want.push_back(static_cast<char>(g * 8 + i));
  EXPECT_EQ(stored, want);
  EXPECT_EQ(ReverseEightByteGroups(ReverseEightByteGroups(sha)), sha);
  // So the Xet hex of the stored bytes reads like the ordinary sha256 hex.
  EXPECT_EQ(LoadHash(stored.data()).ToHex(), "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
}

TEST(ShardTest, FullShardRoundTripAndLookups) {
  Shard s = SampleShard();
  XetHash key = H(77);
  auto bytes = SerializeShard(s, {.full = true, .hmac_key = key, .creation_timestamp = 1700000000, .key_expiry = 1800000000});
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(LoadU64(bytes->data() + 40), 200u);

  // Old clients uploaded full shards: ParseShard reads the sections and ignores the rest.
  auto parsed = ParseShard(*bytes);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, s);

  auto reader = ShardReader::Open(*bytes);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ(reader->shard(), s);
  const ShardFooter& f = reader->footer();
  EXPECT_EQ(f.file_info_offset, 48u);
  EXPECT_EQ(f.file_lookup_num_entry, 3u);
  EXPECT_EQ(f.xorb_lookup_num_entry, 2u);
  EXPECT_EQ(f.chunk_lookup_num_entry, 5u);
  EXPECT_EQ(f.footer_offset, bytes->size() - 200);
  EXPECT_EQ(f.chunk_hash_hmac_key, key);
  EXPECT_TRUE(reader->chunk_hashes_keyed());
  EXPECT_EQ(f.creation_timestamp, 1700000000u);
  EXPECT_EQ(f.key_expiry, 1800000000u);
  EXPECT_EQ(f.materialized_bytes, 135536u + 131073u + 12345u);
  EXPECT_EQ(f.stored_bytes, 144536u + 131073u);

  EXPECT_EQ(reader->FindFile(H(51)), std::optional<size_t>(1));
  EXPECT_EQ(reader->FindFile(H(52)), std::optional<size_t>(2));
  EXPECT_EQ(reader->FindFile(H(53)), std::nullopt);
  EXPECT_EQ(reader->FindXorb(H(2)), std::optional<size_t>(1));
  EXPECT_EQ(reader->FindXorb(H(99)), std::nullopt);
  auto loc = reader->FindChunk(s.xorbs[0].chunks[0].chunk_hash);
  ASSERT_EQ(loc.size(), 1u);
  EXPECT_EQ(loc[0], (ShardReader::ChunkLocation{0, 0}));
  // The same chunk in two xorbs (sample xorbs share chunk hashes): both places are found.
  loc = reader->FindChunk(s.xorbs[1].chunks[1].chunk_hash);
  ASSERT_EQ(loc.size(), 2u);
  EXPECT_EQ(loc[0], (ShardReader::ChunkLocation{0, 2}));
  EXPECT_EQ(loc[1], (ShardReader::ChunkLocation{1, 1}));
  EXPECT_TRUE(reader->FindChunk(H(200)).empty());

  // Same hash with another tail: the lookup compares the whole hash, not just the key.
  XetHash near = testing::Flip(H(51), 31);
  EXPECT_EQ(reader->FindFile(near), std::nullopt);
}

TEST(ShardTest, OldUploadVariantsParseToTheSameContent) {
  Shard s = SampleShard();
  std::string upload = *SerializeShard(s, {.full = false});
  std::string full = *SerializeShard(s, {.full = true});
  // hf_xet 1.1.6-1.2.x: truncated at the lookup tables, footer_size still 200.
  std::string stale = full.substr(0, upload.size());
  EXPECT_EQ(LoadU64(stale.data() + 40), 200u);
  for (const std::string& v : {upload, stale, full, upload + "anything after the second bookend"}) {
    auto p = ParseShard(v);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ(*p, s);
  }
  EXPECT_TRUE(ParseShard(stale).ok());
  EXPECT_FALSE(ShardReader::Open(stale).ok());  // not a full shard
}

// Bytes written by hand from the layout in xet-protocol.md §4, independent of SerializeShard.
TEST(ShardTest, HandBuiltShardParses) {
  std::string d;
  const char tag[] = "HFRepoMetaData";
  d.append(tag, 14);
  for (int b : {0, 85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169})
    d.push_back(static_cast<char>(b));
  PutU64(&d, 2);
  PutU64(&d, 0);
  ASSERT_EQ(d.size(), 48u);
  // File: hash 0x11.., flags verification|ext, 1 entry.
  const XetHash file_hash = Filled(0x11), xorb_hash = Filled(0x22), range_hash = Filled(0x33),
                chunk0 = Filled(0x44), chunk1 = Filled(0x55);
  XetHash::Bytes sha_raw;
  for (int i = 0; i < 32; ++i) sha_raw[i] = static_cast<uint8_t>(0xa0 + i);
  const XetHash sha_stored(sha_raw);
  PutHash(&d, file_hash);
  PutU32(&d, 0xC0000000u);
  PutU32(&d, 1);
  PutU64(&d, 0);
  PutHash(&d, xorb_hash);  // term: chunks [0, 2) of the xorb, 300 bytes
  PutU32(&d, 0);
  PutU32(&d, 300);
  PutU32(&d, 0);
  PutU32(&d, 2);
  PutHash(&d, range_hash);
  PutZeros(&d, 16);
  PutHash(&d, sha_stored);
  PutZeros(&d, 16);
  PutHash(&d, XetHash::Marker());
  PutZeros(&d, 16);
  // Xorb: 2 chunks of 100 and 200 bytes.
  PutHash(&d, xorb_hash);
  PutU32(&d, 0);
  PutU32(&d, 2);
  PutU32(&d, 300);
  PutU32(&d, 0);
  PutHash(&d, chunk0);
  PutU32(&d, 0);
  PutU32(&d, 100);
  PutU32(&d, 0x80000000u);
  PutU32(&d, 0);
  PutHash(&d, chunk1);
  PutU32(&d, 100);
  PutU32(&d, 200);
  PutU32(&d, 0);
  PutU32(&d, 0);
  PutHash(&d, XetHash::Marker());
  PutZeros(&d, 16);

  size_t end = 0;
  auto s = ParseShard(d, &end);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(end, d.size());
  ASSERT_EQ(s->files.size(), 1u);
  const FileInfo& f = s->files[0];
  EXPECT_EQ(f.file_hash, file_hash);
  EXPECT_EQ(f.flags(), 0xC0000000u);
  ASSERT_EQ(f.terms.size(), 1u);
  EXPECT_EQ(f.terms[0], (FileTerm{xorb_hash, 0, 300, 0, 2}));
  EXPECT_EQ(f.verification, std::vector<XetHash>{range_hash});
  ASSERT_TRUE(f.sha256);
  EXPECT_EQ((*f.sha256)[0], 0xa7);  // first group reversed
  EXPECT_EQ((*f.sha256)[7], 0xa0);
  EXPECT_EQ((*f.sha256)[8], 0xaf);
  ASSERT_EQ(s->xorbs.size(), 1u);
  EXPECT_EQ(s->xorbs[0].num_bytes_in_xorb, 300u);
  EXPECT_EQ(s->xorbs[0].chunks[0], (XorbChunkEntry{chunk0, 0, 100, kChunkFlagGlobalDedup}));
  EXPECT_EQ(s->xorbs[0].chunks[1], (XorbChunkEntry{chunk1, 100, 200, 0}));
  // Our writer produces exactly these bytes.
  EXPECT_EQ(*SerializeShard(*s, {.full = false}), d);
}

TEST(ShardTest, EveryTruncationIsAnError) {
  Shard s = SampleShard();
  std::string upload = *SerializeShard(s, {.full = false});
  for (size_t cut = 0; cut < upload.size(); ++cut) {
    EXPECT_FALSE(ParseShard(std::string_view(upload.data(), cut)).ok()) << cut;
  }
  std::string full = *SerializeShard(s, {.full = true});
  for (size_t cut = 0; cut < full.size(); ++cut) {
    EXPECT_FALSE(ShardReader::Open(std::string_view(full.data(), cut)).ok()) << cut;
  }
}

TEST(ShardTest, ByteFlipsNeverCrash) {
  std::string full = *SerializeShard(SampleShard(), {.full = true});
  int rejected = 0;
  for (size_t i = 0; i < full.size(); ++i) {
    for (int bit : {0, 3, 7}) {
      std::string m = full;
      m[i] = static_cast<char>(m[i] ^ (1 << bit));
      rejected += !ShardReader::Open(m).ok();
      (void)ParseShard(m);
    }
  }
  EXPECT_GT(rejected, 0);
}

std::string WithU32At(std::string s, size_t at, uint32_t v) {
  std::string b;
  PutU32(&b, v);
  s.replace(at, 4, b);
  return s;
}

TEST(ShardTest, RejectsMalformedUploads) {
  Shard s = SampleShard();
  const std::string good = *SerializeShard(s, {.full = false});
  const size_t file0 = 48;  // header of file 0: flags at +32, num_entries at +36
  EXPECT_FALSE(ParseShard("").ok());
  {
    std::string m = good;
    m[3] = 'x';
    EXPECT_FALSE(ParseShard(m).ok());  // tag
  }
  {
    std::string m = good;
    m[32] = 3;
    EXPECT_FALSE(ParseShard(m).ok());  // version 3
  }
  EXPECT_FALSE(ParseShard(WithU32At(good, file0 + 32, 0xC0000001u)).ok());  // unknown flag
  EXPECT_FALSE(ParseShard(WithU32At(good, file0 + 36, 0xFFFFFFFFu)).ok());  // absurd count
  EXPECT_FALSE(ParseShard(WithU32At(good, file0 + 36, 3)).ok());            // count too large by one

  auto expect_invalid = [](Shard bad, const char* what) {
    EXPECT_FALSE(ValidateShard(bad).ok()) << what;
    auto bytes = SerializeShard(bad, {.full = false});
    EXPECT_FALSE(bytes.ok()) << what;
  };
  Shard m = s;
  m.files[1].verification.clear();
  expect_invalid(m, "mixed verification");
  m = s;
  m.files[0].verification.pop_back();
  expect_invalid(m, "verification count");
  m = s;
  m.files[0].terms[0].chunk_end = 0;
  expect_invalid(m, "empty range");
  m = s;
  m.files[0].terms[0].chunk_end = 8193;
  expect_invalid(m, "range past 8192");
  m = s;
  m.files[0].terms[1].unpacked_bytes = 0;
  expect_invalid(m, "0 bytes");
  m = s;
  m.xorbs[0].chunks.clear();
  m.xorbs[0].num_bytes_in_xorb = 0;
  expect_invalid(m, "no chunks");
  m = s;
  m.xorbs[0].chunks[1].byte_range_start += 1;
  expect_invalid(m, "not cumulative");
  m = s;
  m.xorbs[1].num_bytes_in_xorb += 1;
  expect_invalid(m, "total");
  m = s;
  m.xorbs[1].chunks[1].unpacked_bytes = 0;
  m.xorbs[1].num_bytes_in_xorb -= 1;
  expect_invalid(m, "empty chunk");
  m = s;
  m.xorbs[0].chunks[2].unpacked_bytes = 131073;
  m.xorbs[0].num_bytes_in_xorb += 131073 - 9000;
  expect_invalid(m, "chunk too large");

  // Files without verification at all are an older variant: accepted.
  m = s;
  for (auto& f : m.files) f.verification.clear();
  auto bytes = SerializeShard(m, {.full = false});
  ASSERT_TRUE(bytes.ok());
  auto p = ParseShard(*bytes);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, m);
  // An empty shard (no files, no xorbs) is well-formed.
  bytes = SerializeShard(Shard{}, {.full = true});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size(), 48u + 96u + 200u);
  EXPECT_TRUE(ShardReader::Open(*bytes).ok());
  EXPECT_TRUE(ParseShard(*bytes).ok());
}

TEST(ShardTest, RejectsInconsistentFullShards) {
  const std::string good = *SerializeShard(SampleShard(), {.full = true});
  ASSERT_TRUE(ShardReader::Open(good).ok());
  const size_t footer = good.size() - 200;
  auto with_u64 = [&](size_t at, uint64_t v) {
    std::string s = good, b;
    PutU64(&b, v);
    s.replace(at, 8, b);
    return s;
  };
  EXPECT_FALSE(ShardReader::Open(with_u64(footer, 2)).ok());                                  // version
  EXPECT_FALSE(ShardReader::Open(with_u64(footer + 8, 96)).ok());                             // file_info_offset
  EXPECT_FALSE(ShardReader::Open(with_u64(footer + 16, LoadU64(good.data() + footer + 16) + 48)).ok());
  EXPECT_FALSE(ShardReader::Open(with_u64(footer + 32, 4)).ok());                             // file count
  EXPECT_FALSE(ShardReader::Open(with_u64(footer + 64, ~0ull)).ok());                         // chunk count
  EXPECT_FALSE(ShardReader::Open(with_u64(footer + 192, 0)).ok());                            // footer_offset
  EXPECT_FALSE(ShardReader::Open(with_u64(footer + 168, 1)).ok());                            // stored_bytes_on_disk
  EXPECT_FALSE(ShardReader::Open(good + std::string(8, '\0')).ok());                          // footer moved

  // Lookup table entries: swap two file entries (unsorted), point one at a term record, break a key.
  const size_t file_lookup = LoadU64(good.data() + footer + 24);
  {
    std::string s = good;
    std::string a = s.substr(file_lookup, 12), b = s.substr(file_lookup + 12, 12);
    if (a != b) {
      s.replace(file_lookup, 12, b);
      s.replace(file_lookup + 12, 12, a);
      EXPECT_FALSE(ShardReader::Open(s).ok());
    }
  }
  EXPECT_FALSE(ShardReader::Open(WithU32At(good, file_lookup + 8, 1)).ok());
  {
    std::string s = good;
    s[file_lookup] = static_cast<char>(s[file_lookup] ^ 1);
    EXPECT_FALSE(ShardReader::Open(s).ok());
  }
  const size_t chunk_lookup = LoadU64(good.data() + footer + 56);
  EXPECT_FALSE(ShardReader::Open(WithU32At(good, chunk_lookup + 12, 7)).ok());  // chunk position
}

#ifdef MODELHUB_XET_HASHES
TEST(ShardTest, DedupShardWithHmacKey) {
  Shard s = SampleShard();
  const XetHash key = H(123);
  const XetHash plain = s.xorbs[0].chunks[0].chunk_hash;  // in one xorb only
  Shard keyed = s;
  KeyChunkHashes(&keyed, key);
  keyed.files.clear();  // dedup answers carry no file section
  auto bytes = SerializeShard(keyed, {.full = true, .hmac_key = key, .key_expiry = 1234});
  ASSERT_TRUE(bytes.ok());
  auto reader = ShardReader::Open(*bytes);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_TRUE(reader->chunk_hashes_keyed());
  EXPECT_TRUE(reader->FindChunk(plain).empty());
  auto loc = reader->FindChunk(KeyedHash(plain, key));
  ASSERT_EQ(loc.size(), 1u);
  EXPECT_EQ(loc[0], (ShardReader::ChunkLocation{0, 0}));
}
#endif

}  // namespace
}  // namespace modelhub::xet
