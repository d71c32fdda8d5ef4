#include "storage/cas/xet_cas.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "common/fs.h"
#include "common/strings.h"
#include "common/test_random.h"
#include "crypto/sha256.h"
#include "storage/cas/format/shard.h"
#include "storage/cas/format/xorb.h"
#include "storage/cas/xet/chunker.h"
#include "storage/cas/xet/hashes.h"

#define MH_ASSERT_OK_AND_ASSIGN_CAT2(a, b) a##b
#define MH_ASSERT_OK_AND_ASSIGN_CAT(a, b) MH_ASSERT_OK_AND_ASSIGN_CAT2(a, b)
#define MH_ASSERT_OK_AND_ASSIGN_TMP(tmp, lhs, expr)              \
  auto tmp = (expr);                                             \
  ASSERT_TRUE(tmp.ok()) << #expr << ": " << tmp.status().ToString(); \
  lhs = std::move(tmp).value()
#define MH_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  MH_ASSERT_OK_AND_ASSIGN_TMP(MH_ASSERT_OK_AND_ASSIGN_CAT(xet_cas_tmp_, __LINE__), lhs, expr)

namespace modelhub {
namespace {

std::vector<std::string> ChunkData(const std::string& data) {
  xet::XetChunker chunker;
  std::vector<uint64_t> cuts = chunker.Next(data.data(), data.size());
  if (auto last = chunker.Finish()) cuts.push_back(*last);
  std::vector<std::string> out;
  uint64_t prev = 0;
  for (uint64_t c : cuts) {
    out.push_back(data.substr(prev, c - prev));
    prev = c;
  }
  return out;
}

// What a Xet client builds for one file stored in one new xorb.
struct ClientUpload {
  xet::XetHash xorb_hash;
  std::string xorb_records;      // body without footer
  std::string xorb_with_footer;  // body as hf_xet <= 1.1.3 sent it
  xet::FileInfo file;
};

ClientUpload BuildUpload(const std::string& data) {
  ClientUpload u;
  xet::XorbWriter w;
  std::vector<xet::MerkleNode> nodes;
  for (const auto& c : ChunkData(data)) {
    xet::XetHash h = xet::ChunkHash(c);
    EXPECT_TRUE(w.Append(c, h).ok());
    nodes.push_back({h, c.size()});
  }
  u.xorb_hash = xet::XorbHash(w.ChunkHashesAndSizes());
  u.xorb_records = w.records();
  u.xorb_with_footer = w.SerializeWithFooter(u.xorb_hash);
  u.file.file_hash = xet::FileHash(nodes);
  u.file.terms.push_back(xet::FileTerm{u.xorb_hash, 0, uint32_t(w.raw_bytes()), 0, uint32_t(w.num_chunks())});
  u.file.verification.push_back(xet::VerificationHash(w.chunk_hashes()));
  Sha256 hasher;
  hasher.Update(data);
  std::string sha = hasher.FinalRaw();
  xet::Sha256Digest d;
  std::memcpy(d.data(), sha.data(), 32);
  u.file.sha256 = d;
  return u;
}

std::string UploadShard(const std::vector<xet::FileInfo>& files, const std::vector<xet::XorbInfo>& xorbs = {}) {
  xet::Shard shard{files, xorbs};
  xet::ShardWriteOptions opts;
  opts.full = false;
  auto bytes = xet::SerializeShard(shard, opts);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? *bytes : std::string();
}

XetCas::ReadFn ReaderOf(const std::string& body, size_t piece = 7777) {
  auto pos = std::make_shared<size_t>(0);
  return [&body, pos, piece](char* buf, size_t n) -> Result<size_t> {
    size_t take = std::min({n, piece, body.size() - *pos});
    std::memcpy(buf, body.data() + *pos, take);
    *pos += take;
    return take;
  };
}

std::string ReadAll(BlobReader& r) {
  std::string out;
  char buf[50000];
  while (true) {
    auto n = r.Read(buf, sizeof buf);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    if (!n.ok() || *n == 0) break;
    out.append(buf, *n);
  }
  return out;
}

class XetCasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("xetcas-" + RandomHex(6));
    blobs_ = std::move(OpenLocalBlobStore((dir_ / "blobs").string())).value();
    meta_ = std::move(OpenSqliteMetadataStore((dir_ / "meta.db").string())).value();
    store_ = std::make_unique<ChunkStore>(blobs_.get(), meta_.get());
    cas_ = std::make_unique<XetCas>(store_.get());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Result<bool> PutXorb(const xet::XetHash& h, const std::string& body) {
    return cas_->PutXorb(h, ReaderOf(body), int64_t(body.size()));
  }

  std::filesystem::path dir_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<MetadataStore> meta_;
  std::unique_ptr<ChunkStore> store_;
  std::unique_ptr<XetCas> cas_;
};

TEST_F(XetCasTest, XorbUploadVerifiedStoredIdempotent) {
  ClientUpload u = BuildUpload(RandomData(3 << 20, 1));
  auto first = PutXorb(u.xorb_hash, u.xorb_records);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(*first);
  auto again = PutXorb(u.xorb_hash, u.xorb_with_footer);  // the old clients' form is accepted too
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(*again);
  EXPECT_TRUE(store_->VerifyStoredXorb(u.xorb_hash).ok());
  EXPECT_EQ(cas_->counters().xorbs_received.load(), 2);
  EXPECT_EQ(cas_->counters().xorbs_inserted.load(), 1);
}

TEST_F(XetCasTest, XorbUploadRefusesBadBodies) {
  ClientUpload u = BuildUpload(RandomData(1 << 20, 2));
  ClientUpload other = BuildUpload(RandomData(1 << 20, 3));
  // Wrong hash in the URL.
  auto wrong = PutXorb(other.xorb_hash, u.xorb_records);
  EXPECT_EQ(wrong.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(wrong.status().hub_code(), "InvalidXorb");
  // A flipped payload byte, truncation, trailing garbage, a bad header, Content-Length mismatch.
  std::string flipped = u.xorb_records;
  flipped[flipped.size() / 2] ^= 1;
  EXPECT_EQ(PutXorb(u.xorb_hash, flipped).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(PutXorb(u.xorb_hash, u.xorb_records.substr(0, u.xorb_records.size() - 5)).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(PutXorb(u.xorb_hash, u.xorb_records + "garbage!").status().code(), Code::kInvalidArgument);
  std::string bad_version = u.xorb_records;
  bad_version[0] = 7;
  EXPECT_EQ(PutXorb(u.xorb_hash, bad_version).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(PutXorb(u.xorb_hash, "").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(cas_->PutXorb(u.xorb_hash, ReaderOf(u.xorb_records), int64_t(u.xorb_records.size()) + 1).status().code(),
            Code::kInvalidArgument);
  // A footer that describes other records.
  std::string mixed = u.xorb_records + other.xorb_with_footer.substr(other.xorb_records.size());
  EXPECT_EQ(PutXorb(u.xorb_hash, mixed).status().code(), Code::kInvalidArgument);
  // Nothing was stored or recorded.
  EXPECT_FALSE(cas_->HasXorb(u.xorb_hash));
  EXPECT_TRUE(meta_->GetXorb(u.xorb_hash.ToHex()).status().IsNotFound());
  EXPECT_TRUE(blobs_->Size(ChunkStore::XorbKey(u.xorb_hash)).status().IsNotFound());
}

TEST_F(XetCasTest, ShardRegistersFilesReadableByShaAndReconstruction) {
  std::string data = RandomData(5 << 20, 4);
  ClientUpload u = BuildUpload(data);
  // The shard before its xorb: refused.
  std::string shard = UploadShard({u.file});
  auto early = cas_->PutShard(shard);
  EXPECT_EQ(early.status().code(), Code::kInvalidArgument);
  ASSERT_TRUE(PutXorb(u.xorb_hash, u.xorb_records).ok());
  int64_t last_done = -1, last_total = -1;
  XetCas::ShardHooks hooks;
  hooks.progress = [&](int64_t d, int64_t t) {
    EXPECT_GE(d, last_done);
    last_done = d;
    last_total = t;
  };
  auto files = cas_->PutShard(shard, hooks);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ((*files)[0].sha256, Sha256Hex(data));
  EXPECT_EQ((*files)[0].size, int64_t(data.size()));
  EXPECT_EQ(last_done, int64_t(data.size()));
  EXPECT_EQ(last_total, int64_t(data.size()));
  // Readable through the LFS path by sha256.
  auto reader = store_->Open(Sha256Hex(data));
  ASSERT_TRUE(reader.ok());
  EXPECT_TRUE(ReadAll(**reader) == data);
  // Reconstruction of everything and of a range; fetching the ranges gives the bytes back.
  MH_ASSERT_OK_AND_ASSIGN(FileRecord rec, meta_->GetFileByXetHash(u.file.file_hash.ToHex()));
  for (auto range : std::vector<std::optional<std::pair<uint64_t, uint64_t>>>{
           std::nullopt, std::make_pair(uint64_t(0), uint64_t(0)), std::make_pair(uint64_t(1234567), uint64_t(3333333)),
           std::make_pair(uint64_t(data.size() - 10), uint64_t(data.size() + 1000))}) {
    MH_ASSERT_OK_AND_ASSIGN(XetReconstruction r, cas_->Reconstruct(rec, range));
    std::string rebuilt;
    for (const auto& t : r.terms) {
      const XetFetchRange* fr = nullptr;
      for (const auto& f : r.fetch) {
        if (f.xorb == t.xorb && f.chunk_start <= t.chunk_start && t.chunk_end <= f.chunk_end) fr = &f;
      }
      ASSERT_NE(fr, nullptr);
      MH_ASSERT_OK_AND_ASSIGN(auto xr, cas_->OpenXorbBytes(fr->xorb, fr->byte_first, fr->byte_last));
      std::string records = ReadAll(*xr);
      MH_ASSERT_OK_AND_ASSIGN(auto parsed, xet::XorbReader::Open(records));
      std::string raw;
      ASSERT_TRUE(parsed.ReadChunkRange(t.chunk_start - fr->chunk_start, t.chunk_end - fr->chunk_start, &raw).ok());
      EXPECT_EQ(raw.size(), t.unpacked);
      rebuilt += raw;
    }
    uint64_t first = range ? range->first : 0;
    uint64_t end = range ? std::min<uint64_t>(range->second + 1, data.size()) : data.size();
    ASSERT_GE(rebuilt.size(), r.offset_into_first_range + (end - first));
    EXPECT_TRUE(rebuilt.substr(r.offset_into_first_range, end - first) == data.substr(first, end - first));
  }
  EXPECT_EQ(cas_->Reconstruct(rec, std::make_pair(uint64_t(data.size()), uint64_t(data.size() + 5))).status().code(),
            Code::kRangeNotSatisfiable);
  // Uploading the same shard again: accepted, no re-hash of the content.
  int64_t hashed = cas_->counters().files_hashed.load();
  ASSERT_TRUE(cas_->PutShard(shard).ok());
  EXPECT_EQ(cas_->counters().files_hashed.load(), hashed);
}

TEST_F(XetCasTest, ShardWithFalseClaimsIsRefused) {
  std::string data = RandomData(2 << 20, 5);
  ClientUpload u = BuildUpload(data);
  ASSERT_TRUE(PutXorb(u.xorb_hash, u.xorb_records).ok());
  auto refused = [&](xet::FileInfo f, const char* what) {
    auto r = cas_->PutShard(UploadShard({f}));
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << what;
    EXPECT_EQ(r.status().hub_code(), "InvalidShard") << what;
  };
  xet::FileInfo f = u.file;
  (*f.sha256)[0] ^= 1;  // someone else's sha256 for this content: would poison the sha256 -> content map
  refused(f, "sha256");
  f = u.file;
  f.verification[0] = xet::XetHash();
  refused(f, "verification hash");
  f = u.file;
  f.file_hash = xet::ChunkHash("x");
  refused(f, "file hash");
  f = u.file;
  f.terms[0].chunk_end += 1;
  refused(f, "chunk range");
  f = u.file;
  f.terms[0].unpacked_bytes -= 1;
  refused(f, "term size");
  f = u.file;
  f.terms[0].xorb_hash = xet::ChunkHash("not a xorb");
  refused(f, "unknown xorb");
  EXPECT_TRUE(meta_->GetFile(Sha256Hex(data)).status().IsNotFound());
  EXPECT_EQ(cas_->PutShard("not a shard").status().code(), Code::kInvalidArgument);
}

TEST_F(XetCasTest, LfsIngestedFileIsServedToXetAndDedupAnswersItsXorbs) {
  std::string data = RandomData(40 << 20, 6);  // several 16 MiB ingest xorbs
  MH_ASSERT_OK_AND_ASSIGN(auto in, store_->BeginIngest(Sha256Hex(data), int64_t(data.size())));
  ASSERT_TRUE(in->Write(data.data(), data.size()).ok());
  ASSERT_TRUE(in->Finish().ok());
  MH_ASSERT_OK_AND_ASSIGN(FileRecord rec, meta_->GetFile(Sha256Hex(data)));
  MH_ASSERT_OK_AND_ASSIGN(auto terms, ParseTerms(rec.terms));
  ASSERT_GE(terms.size(), 3u);
  // The first chunk of the file (what every client queries) answers with all the file's xorbs.
  std::vector<std::string> chunks = ChunkData(data);
  xet::XetHash first = xet::ChunkHash(chunks[0]);
  xet::XetHash key = xet::ChunkHash("key");
  MH_ASSERT_OK_AND_ASSIGN(std::string bytes, cas_->DedupShard(first, key, 12345));
  MH_ASSERT_OK_AND_ASSIGN(auto reader, xet::ShardReader::Open(bytes));
  EXPECT_TRUE(reader.chunk_hashes_keyed());
  EXPECT_EQ(reader.footer().key_expiry, 12345u);
  EXPECT_EQ(reader.shard().xorbs.size(), terms.size());
  EXPECT_TRUE(reader.shard().files.empty());
  size_t found = 0;
  for (const auto& c : chunks) found += reader.FindChunk(xet::KeyedHash(xet::ChunkHash(c), key)).empty() ? 0 : 1;
  EXPECT_EQ(found, chunks.size());
  // Plain hashes do not match: without the chunk, nothing is learned.
  EXPECT_TRUE(reader.FindChunk(first).empty());
  EXPECT_EQ(cas_->DedupShard(xet::ChunkHash("unknown"), key, 1).status().code(), Code::kNotFound);
}

TEST_F(XetCasTest, DamagedXorbIsNeverServed) {
  ClientUpload u = BuildUpload(RandomData(1 << 20, 7));
  ASSERT_TRUE(PutXorb(u.xorb_hash, u.xorb_records).ok());
  MH_ASSERT_OK_AND_ASSIGN(auto good, cas_->OpenXorbBytes(u.xorb_hash, 0, u.xorb_records.size() - 1));
  EXPECT_TRUE(ReadAll(*good) == u.xorb_records);
  // Flip a byte in the middle of the stored object.
  std::string path = (dir_ / "blobs" / ChunkStore::XorbKey(u.xorb_hash)).string();
  std::string stored = *ReadFile(path);
  stored[stored.size() / 3] ^= 0x40;
  ASSERT_TRUE(WriteFileAtomic(path, stored).ok());
  MH_ASSERT_OK_AND_ASSIGN(auto bad, cas_->OpenXorbBytes(u.xorb_hash, 0, u.xorb_records.size() - 1));
  char buf[1 << 16];
  Status s;
  while (true) {
    auto n = bad->Read(buf, sizeof buf);
    if (!n.ok()) {
      s = n.status();
      break;
    }
    if (*n == 0) break;
  }
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(cas_->OpenXorbBytes(u.xorb_hash, 0, u.xorb_records.size()).status().code(), Code::kRangeNotSatisfiable);
}


// ---- what a shard may cost (security issue #11, finding 4) ----------------------------------------

// A file made of `repeats` copies of u's content, described by terms that all name u's xorb (with its
// SHA-256 claimed only when small: the claim is optional and costly to compute here).
xet::FileInfo RepeatedFile(const std::string& data, const ClientUpload& u, size_t repeats) {
  xet::FileInfo f;
  std::vector<xet::MerkleNode> nodes;
  std::vector<xet::MerkleNode> one;
  for (const auto& c : ChunkData(data)) one.push_back({xet::ChunkHash(c), c.size()});
  Sha256 hasher;
  for (size_t i = 0; i < repeats; ++i) {
    f.terms.push_back(u.file.terms[0]);
    f.verification.push_back(u.file.verification[0]);
    nodes.insert(nodes.end(), one.begin(), one.end());
    if (repeats <= 64) hasher.Update(data);
  }
  f.file_hash = xet::FileHash(nodes);
  if (repeats > 64) return f;
  std::string sha = hasher.FinalRaw();
  xet::Sha256Digest d;
  std::memcpy(d.data(), sha.data(), 32);
  f.sha256 = d;
  return f;
}

TEST_F(XetCasTest, ShardOfRepeatsIsRefusedBeforeAnyContentIsRead) {
  std::string data = RandomData(1 << 20, 11);
  ClientUpload u = BuildUpload(data);
  ASSERT_TRUE(PutXorb(u.xorb_hash, u.xorb_records).ok());
  // 2 GiB described by 2048 terms naming the same 1 MiB: over the default floor (1 GiB) and 8x.
  auto r = cas_->PutShard(UploadShard({RepeatedFile(data, u, 2048)}));
  EXPECT_EQ(r.status().code(), Code::kTooLarge) << r.status().ToString();
  EXPECT_EQ(r.status().hub_code(), "ShardTooExpensive");
  EXPECT_EQ(cas_->counters().shard_verify_bytes.load(), 0);
  EXPECT_EQ(cas_->counters().shards_over_budget.load(), 1);
  EXPECT_EQ(cas_->counters().files_registered.load(), 0);
}

TEST_F(XetCasTest, ShardBudgetScalesWithDistinctContentNamed) {
  XetShardLimits limits;
  limits.verify_floor_bytes = 4 << 20;
  limits.verify_ratio = 8;
  cas_ = std::make_unique<XetCas>(store_.get(), limits);
  std::string data = RandomData(1 << 20, 12);
  ClientUpload u = BuildUpload(data);
  ASSERT_TRUE(PutXorb(u.xorb_hash, u.xorb_records).ok());
  // 6 repeats of 1 MiB: within 8x of the distinct content; 20 are not (and exceed the 4 MiB floor).
  auto ok = cas_->PutShard(UploadShard({RepeatedFile(data, u, 6)}));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  auto over = cas_->PutShard(UploadShard({RepeatedFile(data, u, 20)}));
  EXPECT_EQ(over.status().hub_code(), "ShardTooExpensive") << over.status().ToString();
  // Distinct content is not limited: 12 different files of 1 MiB in one shard.
  std::vector<xet::FileInfo> files;
  for (int i = 0; i < 12; ++i) {
    ClientUpload v = BuildUpload(RandomData(1 << 20, 100 + i));
    ASSERT_TRUE(PutXorb(v.xorb_hash, v.xorb_records).ok());
    files.push_back(v.file);
  }
  auto many = cas_->PutShard(UploadShard(files));
  ASSERT_TRUE(many.ok()) << many.status().ToString();
  EXPECT_EQ(many->size(), 12u);
  // Term and size caps per file.
  limits.max_file_terms = 4;
  cas_ = std::make_unique<XetCas>(store_.get(), limits);
  EXPECT_EQ(cas_->PutShard(UploadShard({RepeatedFile(data, u, 5)})).status().hub_code(), "FileTooLarge");
  limits.max_file_terms = 1 << 20;
  limits.max_file_bytes = 3 << 20;
  cas_ = std::make_unique<XetCas>(store_.get(), limits);
  EXPECT_EQ(cas_->PutShard(UploadShard({RepeatedFile(data, u, 4)})).status().hub_code(), "FileTooLarge");
}

TEST_F(XetCasTest, ShardCheckStopsWhenTheClientIsGone) {
  std::string data = RandomData(1 << 20, 13);
  ClientUpload u = BuildUpload(data);
  ASSERT_TRUE(PutXorb(u.xorb_hash, u.xorb_records).ok());
  xet::FileInfo f = RepeatedFile(data, u, 64);  // 64 MiB to read back
  int polls = 0;
  XetCas::ShardHooks hooks;
  hooks.cancelled = [&polls] { return ++polls > 3; };  // the client leaves after a few MiB
  auto r = cas_->PutShard(UploadShard({f}), hooks);
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
  EXPECT_EQ(r.status().hub_code(), "ClientClosedRequest");
  EXPECT_EQ(cas_->counters().shards_cancelled.load(), 1);
  EXPECT_LE(cas_->counters().shard_verify_bytes.load(), 4 << 20);
  EXPECT_TRUE(meta_->GetFileByXetHash(f.file_hash.ToHex()).status().IsNotFound());
}

TEST_F(XetCasTest, KnownFileIsRehashedUnlessTheUploaderMayReadIt) {
  std::string data = RandomData(2 << 20, 14);
  ClientUpload u = BuildUpload(data);
  ASSERT_TRUE(PutXorb(u.xorb_hash, u.xorb_records).ok());
  std::string shard = UploadShard({u.file});
  ASSERT_TRUE(cas_->PutShard(shard).ok());
  EXPECT_EQ(cas_->counters().files_hashed.load(), 1);
  XetCas::ShardHooks hidden;
  hidden.may_reuse = [](const FileRecord&) -> Result<bool> { return false; };
  ASSERT_TRUE(cas_->PutShard(shard, hidden).ok());
  EXPECT_EQ(cas_->counters().files_hashed.load(), 2);  // same work as a first upload: nothing learned
  XetCas::ShardHooks visible;
  visible.may_reuse = [](const FileRecord&) -> Result<bool> { return true; };
  ASSERT_TRUE(cas_->PutShard(shard, visible).ok());
  EXPECT_EQ(cas_->counters().files_hashed.load(), 2);
}

}  // namespace
}  // namespace modelhub
