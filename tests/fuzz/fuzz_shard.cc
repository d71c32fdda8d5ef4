// fuzz_shard: storage/cas/format/shard.h — the body of POST /v1/shards and
// /v2/shards (ParseShard) and full shards as stored or served for global
// dedup (ShardReader).
//
// Input: the whole input, given to both ParseShard and ShardReader::Open.
//
// Checks: errors are InvalidArgument; an accepted shard satisfies
// ValidateShard, its sections end inside the input, and it re-serializes (upload
// and full form) into bytes that parse back to the same content; a full shard
// opened by ShardReader answers a lookup for every file, xorb and chunk it holds
// and re-serializes with the same footer offsets.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "storage/cas/format/shard.h"

namespace modelhub::xet {
namespace {

void CheckLookups(const ShardReader& r) {
  const Shard& s = r.shard();
  for (size_t i = 0; i < s.files.size(); ++i) {
    auto p = r.FindFile(s.files[i].file_hash);
    FUZZ_CHECK(p && *p <= i && s.files[*p].file_hash == s.files[i].file_hash, "file {} not found", i);
  }
  for (size_t i = 0; i < s.xorbs.size(); ++i) {
    auto p = r.FindXorb(s.xorbs[i].xorb_hash);
    FUZZ_CHECK(p && *p <= i, "xorb {} not found", i);
    for (uint32_t j = 0; j < s.xorbs[i].chunks.size(); ++j) {
      bool found = false;
      for (const auto& loc : r.FindChunk(s.xorbs[i].chunks[j].chunk_hash)) found |= loc.xorb == i && loc.chunk == j;
      FUZZ_CHECK(found, "chunk {} of xorb {} not found", j, i);
    }
  }
}

void CheckRoundTrips(const Shard& s, const ShardWriteOptions& full_options) {
  FUZZ_CHECK(ValidateShard(s).ok(), "accepted shard fails ValidateShard");
  auto upload = SerializeShard(s, {.full = false});
  FUZZ_CHECK(upload.ok(), "SerializeShard(upload): {}", upload.status().ToString());
  size_t end = 0;
  auto again = ParseShard(*upload, &end);
  FUZZ_CHECK(again.ok() && *again == s && end == upload->size(), "upload form does not round-trip");

  auto full = SerializeShard(s, full_options);
  FUZZ_CHECK(full.ok(), "SerializeShard(full): {}", full.status().ToString());
  auto reader = ShardReader::Open(*full);
  FUZZ_CHECK(reader.ok(), "our full shard is rejected: {}", reader.status().ToString());
  FUZZ_CHECK(reader->shard() == s, "full form does not round-trip");
  FUZZ_CHECK(reader->footer().chunk_hash_hmac_key == full_options.hmac_key &&
                 reader->footer().key_expiry == full_options.key_expiry,
             "footer options lost");
  CheckLookups(*reader);
}

void FuzzShard(std::string_view in) {
  size_t end = 0;
  auto parsed = ParseShard(in, &end);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == Code::kInvalidArgument, "ParseShard: {}", parsed.status().ToString());
  } else {
    FUZZ_CHECK(end >= kShardHeaderSize + 2 * kShardRecordSize && end <= in.size(), "sections end at {} of {}", end,
               in.size());
    CheckRoundTrips(*parsed, {});
  }

  auto reader = ShardReader::Open(in);
  if (!reader.ok()) {
    FUZZ_CHECK(reader.status().code() == Code::kInvalidArgument, "ShardReader::Open: {}", reader.status().ToString());
    return;
  }
  FUZZ_CHECK(parsed.ok() && *parsed == reader->shard(), "ShardReader accepted what ParseShard did not, or differs");
  const ShardFooter& f = reader->footer();
  FUZZ_CHECK(f.footer_offset + kShardFooterSize == in.size() && f.file_lookup_offset == end, "footer offsets");
  CheckLookups(*reader);
  ShardWriteOptions options;
  options.hmac_key = f.chunk_hash_hmac_key;
  options.creation_timestamp = f.creation_timestamp;
  options.key_expiry = f.key_expiry;
  auto again = SerializeShard(reader->shard(), options);
  FUZZ_CHECK(again.ok() && again->size() == in.size(), "full shard re-serializes to a different size");
  auto reopened = ShardReader::Open(*again);
  FUZZ_CHECK(reopened.ok(), "re-serialized shard rejected");
  ShardFooter g = reopened->footer();
  FUZZ_CHECK(g == f, "re-serialized footer differs");
}

}  // namespace
}  // namespace modelhub::xet

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  modelhub::xet::FuzzShard(std::string_view(reinterpret_cast<const char*>(data), len));
  return 0;
}
