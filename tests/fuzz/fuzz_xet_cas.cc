// fuzz_xet_cas: the Xet CAS storage side (storage/cas/xet_cas.h) and the Xet access tokens
// (auth/xet_token.h) — the bytes of POST /v1/xorbs, POST /v1/shards, the Range of a reconstruction
// and the bearer token of every CAS request.
//
// Setup (once per process): a local blob store + SQLite metadata in a temp folder, and one file
// ingested through the chunk store (deterministic bytes), so shards and ranges can name real xorbs.
//
// Input: byte 0 selects the mode (mod 5), byte 1 the body chunking of the streamed xorb read;
// the rest is `data`:
//   0  PutXorb(hash = first 32 bytes of data, body = the rest), streamed in pieces
//   1  PutXorb(hash = the real hash of the seeded file's first xorb, body = data)
//   2  PutShard(data)
//   3  PutShard(the valid upload shard of the seeded file with data applied as (offset, xor) pairs);
//      with bit 7 of byte 1 set, the client "hangs up" after (byte 1 & 7) polls of the cancel hook
//   4  VerifyXetToken(data), VerifySignedUrl(data as a query string: auth/access_grant.h) and
//      Reconstruct(seeded file, range from data)
//
// The CAS runs with a small verification budget (floor 1 MiB, ratio 2: the seeded file is 600 KB) so
// that shards repeating its terms reach the ShardTooExpensive refusal.
//
// Checks: nothing throws or crashes; errors are InvalidArgument / NotFound / TooLarge /
// RangeNotSatisfiable / Unauthorized (Forbidden for signed URLs; Unavailable "ClientClosedRequest"
// only after a hang-up), never Internal or Corruption; a grant issued from the input's numbers
// verifies back to itself, and only with its own method and resource; an accepted xorb verifies in
// storage; an accepted shard registers files whose content reads back with the registered sha256;
// a reconstruction's terms add up to the requested range.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/access_grant.h"
#include "auth/xet_token.h"
#include "common/fs.h"
#include "common/strings.h"
#include "crypto/sha256.h"
#include "fuzz_util.h"
#include "storage/blob/blob_store.h"
#include "storage/cas/chunk_store.h"
#include "storage/cas/format/shard.h"
#include "storage/cas/xet/hashes.h"
#include "storage/cas/xet_cas.h"
#include "storage/meta/metadata_store.h"

namespace modelhub {
namespace {

struct World {
  std::string dir;
  std::unique_ptr<BlobStore> blobs;
  std::unique_ptr<MetadataStore> meta;
  std::unique_ptr<ChunkStore> store;
  std::unique_ptr<XetCas> cas;
  FileRecord seeded;
  std::string valid_shard;
};

World& GetWorld() {
  static World* w = [] {
    auto* w = new World;
    const char* tmp = std::getenv("TMPDIR");
    w->dir = std::string(tmp ? tmp : "/tmp") + "/fuzz_xet_cas-" + RandomHex(6);
    w->blobs = std::move(OpenLocalBlobStore(w->dir + "/blobs")).value();
    w->meta = std::move(OpenSqliteMetadataStore(w->dir + "/meta.db")).value();
    w->store = std::make_unique<ChunkStore>(w->blobs.get(), w->meta.get());
    XetShardLimits limits;
    limits.verify_floor_bytes = 1 << 20;
    limits.verify_ratio = 2;
    w->cas = std::make_unique<XetCas>(w->store.get(), limits);
    std::mt19937_64 rng(42);
    std::string data(600'000, '\0');
    for (auto& c : data) c = char(rng() % 7 == 0 ? 'x' : rng());
    auto in = std::move(w->store->BeginIngest(Sha256Hex(data), int64_t(data.size()))).value();
    FUZZ_CHECK(in->Write(data.data(), data.size()).ok(), "seed ingest");
    FUZZ_CHECK(in->Finish().ok(), "seed ingest finish");
    w->seeded = std::move(w->meta->GetFile(Sha256Hex(data))).value();
    // The upload shard a Xet client would send for that file.
    auto terms = std::move(ParseTerms(w->seeded.terms)).value();
    xet::FileInfo f;
    f.file_hash = std::move(xet::XetHash::FromHex(w->seeded.xet_hash)).value();
    for (const auto& t : terms) {
      auto footer = std::move(w->store->LoadFooter(t.xorb)).value();
      f.terms.push_back(xet::FileTerm{t.xorb, 0, t.bytes, t.chunk_start, t.chunk_end});
      f.verification.push_back(xet::VerificationHash(std::span<const xet::XetHash>(
          footer->chunk_hashes.data() + t.chunk_start, t.chunk_end - t.chunk_start)));
    }
    Sha256 hasher;
    hasher.Update(data);
    std::string raw = hasher.FinalRaw();
    xet::Sha256Digest d;
    std::memcpy(d.data(), raw.data(), 32);
    f.sha256 = d;
    xet::ShardWriteOptions opts;
    opts.full = false;
    w->valid_shard = std::move(xet::SerializeShard(xet::Shard{{f}, {}}, opts)).value();
    FUZZ_CHECK(w->cas->PutShard(w->valid_shard).ok(), "the seeded shard must be accepted");
    return w;
  }();
  return *w;
}

void CheckError(const Status& s, const char* what, std::string_view input) {
  switch (s.code()) {
    case Code::kInvalidArgument:
    case Code::kNotFound:
    case Code::kTooLarge:
    case Code::kRangeNotSatisfiable:
    case Code::kUnauthorized:
      return;
    default:
      FUZZ_CHECK(false, "{}: unexpected {} for {}", what, s.ToString(), fuzz::Quote(input));
  }
}

XetCas::ReadFn Pieces(std::string_view body, size_t piece) {
  auto pos = std::make_shared<size_t>(0);
  return [body, pos, piece](char* buf, size_t n) -> Result<size_t> {
    size_t take = std::min({n, piece, body.size() - *pos});
    std::memcpy(buf, body.data() + *pos, take);
    *pos += take;
    return take;
  };
}

void FuzzXorb(World& w, const xet::XetHash& hash, std::string_view body, size_t piece) {
  auto r = w.cas->PutXorb(hash, Pieces(body, piece), int64_t(body.size()));
  if (!r.ok()) return CheckError(r.status(), "PutXorb", body);
  FUZZ_CHECK(w.store->VerifyStoredXorb(hash).ok(), "an accepted xorb must verify in storage");
}

void FuzzShard(World& w, std::string_view body, int hang_up_after = -1) {
  XetCas::ShardHooks hooks;
  int polls = 0;
  hooks.cancelled = [&polls, hang_up_after] { return hang_up_after >= 0 && polls++ >= hang_up_after; };
  auto r = w.cas->PutShard(body, hooks);
  if (!r.ok() && hang_up_after >= 0 && r.status().hub_code() == "ClientClosedRequest") {
    FUZZ_CHECK(r.status().code() == Code::kUnavailable, "a hang-up is Unavailable: {}", r.status().ToString());
    return;
  }
  if (!r.ok()) return CheckError(r.status(), "PutShard", body);
  for (const auto& f : *r) {
    auto reader = w.store->Open(f.sha256);
    FUZZ_CHECK(reader.ok(), "a registered file must open");
    Sha256 h;
    char buf[65536];
    while (true) {
      auto n = (*reader)->Read(buf, sizeof buf);
      FUZZ_CHECK(n.ok(), "a registered file must read back: {}", n.status().ToString());
      if (*n == 0) break;
      h.Update(buf, *n);
    }
    FUZZ_CHECK(h.FinalHex() == f.sha256, "registered sha256 must match the content");
  }
}

// data as a signed URL's query ("k=v&k=v", no decoding: the server's parser is fuzz_query's).
void FuzzSignedUrl(std::string_view data) {
  std::vector<std::pair<std::string, std::string>> params;
  for (const auto& kv : Split(data, '&')) {
    auto eq = kv.find('=');
    params.emplace_back(kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1));
  }
  auto lookup = [&params](std::string_view name) -> std::optional<std::string> {
    for (const auto& [k, v] : params)
      if (k == name) return v;
    return std::nullopt;
  };
  auto g = VerifySignedUrl("fuzz key", "GET", "/r", lookup, false, 1000);
  if (!g.ok()) {
    FUZZ_CHECK(g.status().code() == Code::kForbidden, "VerifySignedUrl: unexpected {} for {}", g.status().ToString(),
               fuzz::Quote(data));
  }
  // A grant made of the input's bytes round-trips, and is refused for another method or resource.
  if (data.size() >= 32) {
    int64_t n[4];
    std::memcpy(n, data.data(), sizeof n);
    AccessGrant want{n[0], (n[1] & 1) != 0, n[1], n[2], n[3]};
    std::string q = SignedUrlQuery("fuzz key", "PUT", data.substr(32), want);
    params.clear();
    for (const auto& kv : Split(q, '&')) {
      auto eq = kv.find('=');
      params.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    auto got = VerifySignedUrl("fuzz key", "PUT", data.substr(32), lookup, want.write, INT64_MIN);
    FUZZ_CHECK(got.ok() && *got == want, "a signed query must verify to its grant: {}", fuzz::Quote(q));
    FUZZ_CHECK(!VerifySignedUrl("fuzz key", "GET", data.substr(32), lookup, want.write, INT64_MIN).ok(),
               "another method must not verify");
    FUZZ_CHECK(!VerifySignedUrl("fuzz key", "PUT", std::string(data.substr(32)) + "x", lookup, want.write, INT64_MIN).ok(),
               "another resource must not verify");
    auto x = VerifyXetToken("fuzz key", IssueXetToken("fuzz key", want), INT64_MIN);
    FUZZ_CHECK(x.ok() && *x == want, "a Xet token must verify to its claims");
  }
}

}  // namespace
}  // namespace modelhub

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace modelhub;
  if (size < 2) return 0;
  World& w = GetWorld();
  const int mode = bytes[0] % 5;
  const size_t piece = 1 + bytes[1] * 97;
  std::string_view data(reinterpret_cast<const char*>(bytes) + 2, size - 2);
  switch (mode) {
    case 0: {
      if (data.size() < 32) return 0;
      FuzzXorb(w, xet::XetHash::FromRaw(data.data()), data.substr(32), piece);
      break;
    }
    case 1: {
      auto terms = std::move(ParseTerms(w.seeded.terms)).value();
      FuzzXorb(w, terms[0].xorb, data, piece);
      break;
    }
    case 2:
      FuzzShard(w, data);
      break;
    case 3: {
      std::string shard = w.valid_shard;
      for (size_t i = 0; i + 2 < data.size(); i += 3) {
        size_t at = (uint8_t(data[i]) | size_t(uint8_t(data[i + 1])) << 8) % shard.size();
        shard[at] = char(shard[at] ^ data[i + 2]);
      }
      FuzzShard(w, shard, (bytes[1] & 0x80) ? int(bytes[1] & 7) : -1);
      break;
    }
    case 4: {
      auto t = VerifyXetToken("fuzz key", data, 1000);
      if (!t.ok()) CheckError(t.status(), "VerifyXetToken", data);
      FuzzSignedUrl(data);
      if (data.size() >= 16) {
        uint64_t a = 0, b = 0;
        std::memcpy(&a, data.data(), 8);
        std::memcpy(&b, data.data() + 8, 8);
        a %= uint64_t(w.seeded.size) + 10;
        b %= uint64_t(w.seeded.size) + 10;
        auto r = w.cas->Reconstruct(w.seeded, std::make_pair(a, b));
        if (!r.ok()) {
          CheckError(r.status(), "Reconstruct", data);
        } else {
          uint64_t total = 0;
          for (const auto& term : r->terms) total += term.unpacked;
          uint64_t end = std::min<uint64_t>(b + 1, uint64_t(w.seeded.size));
          FUZZ_CHECK(total >= r->offset_into_first_range + (end - a), "terms cover the range");
        }
      }
      break;
    }
  }
  return 0;
}
