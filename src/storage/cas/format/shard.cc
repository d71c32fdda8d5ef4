#include "storage/cas/format/shard.h"

#include <algorithm>
#include <cstring>
#include <tuple>

#include <fmt/format.h>

#include "storage/cas/format/xorb.h"
#include "storage/cas/xet/hashes.h"

namespace modelhub::xet {

const std::array<uint8_t, 32> kShardHeaderTag = {'H', 'F', 'R', 'e', 'p', 'o', 'M', 'e', 't', 'a', 'D',
                                                 'a', 't', 'a', 0,   85,  105, 103, 69,  106, 123, 129,
                                                 87,  131, 165, 189, 217, 92,  205, 209, 74,  169};

namespace {

constexpr size_t kReservedTail = 16;  // zero bytes after the hash of verification/ext entries and bookends

Status Bad(const std::string& msg) { return Status::InvalidArgument("invalid shard: " + msg); }

// Where each file and xorb record starts, in 48-byte units from the start of its section (the lookup
// tables' "entry index"), and where the sections are.
struct SectionIndex {
  std::vector<uint64_t> file_units;
  std::vector<uint64_t> xorb_units;
  size_t xorb_section_offset = 0;
  size_t end = 0;  // just past the xorb section's bookend
};

Status ParseHeader(WireReader* r) {
  if (!r->Has(kShardHeaderSize)) {
    return Bad(fmt::format("{} bytes is too short for the {}-byte header", r->remaining(), kShardHeaderSize));
  }
  if (std::memcmp(r->cur(), kShardHeaderTag.data(), kShardHeaderTag.size()) != 0) {
    return Bad("wrong header tag (not a Xet shard)");
  }
  r->Skip(kShardHeaderTag.size());
  uint64_t version = 0, footer_size = 0;
  r->ReadU64(&version);
  r->ReadU64(&footer_size);  // ignored: stale in some client versions
  if (version != kShardHeaderVersion) {
    return Bad(fmt::format("header version {} (only {} is known)", version, kShardHeaderVersion));
  }
  return Status::Ok();
}

Status ParseFileSection(WireReader* r, Shard* shard, SectionIndex* idx) {
  const size_t section_start = r->pos();
  for (size_t i = 0;; ++i) {
    const size_t pos = r->pos();
    if (!r->Has(kShardRecordSize)) {
      return Bad(fmt::format("file section truncated at byte {} (file {}; no bookend)", pos, i));
    }
    XetHash hash;
    uint32_t flags = 0, n = 0;
    uint64_t reserved = 0;
    r->ReadHash(&hash);
    r->ReadU32(&flags);
    r->ReadU32(&n);
    r->ReadU64(&reserved);
    if (hash == XetHash::Marker()) break;
    if (flags & ~(kFileFlagWithVerification | kFileFlagWithMetadataExt)) {
      return Bad(fmt::format("file {} at byte {}: unknown file flags {:#010x}", i, pos, flags));
    }
    const bool with_verification = flags & kFileFlagWithVerification;
    const bool with_ext = flags & kFileFlagWithMetadataExt;
    const uint64_t records = uint64_t(n) * (with_verification ? 2 : 1) + (with_ext ? 1 : 0);
    if (!r->Has(records * kShardRecordSize)) {
      return Bad(fmt::format("file {} at byte {}: {} terms ({} records) run past the end ({} bytes left)", i, pos,
                             n, records, r->remaining()));
    }
    FileInfo f;
    f.file_hash = hash;
    f.terms.resize(n);
    for (FileTerm& t : f.terms) {
      r->ReadHash(&t.xorb_hash);
      r->ReadU32(&t.xorb_flags);
      r->ReadU32(&t.unpacked_bytes);
      r->ReadU32(&t.chunk_start);
      r->ReadU32(&t.chunk_end);
    }
    if (with_verification) {
      f.verification.resize(n);
      for (XetHash& h : f.verification) {
        r->ReadHash(&h);
        r->Skip(kReservedTail);
      }
    }
    if (with_ext) {
      XetHash stored;
      r->ReadHash(&stored);
      r->Skip(kReservedTail);
      f.sha256 = ReverseEightByteGroups(stored.bytes());
    }
    idx->file_units.push_back((pos - section_start) / kShardRecordSize);
    shard->files.push_back(std::move(f));
  }
  return Status::Ok();
}

Status ParseXorbSection(WireReader* r, Shard* shard, SectionIndex* idx) {
  const size_t section_start = r->pos();
  idx->xorb_section_offset = section_start;
  for (size_t i = 0;; ++i) {
    const size_t pos = r->pos();
    if (!r->Has(kShardRecordSize)) {
      return Bad(fmt::format("xorb section truncated at byte {} (xorb {}; no bookend)", pos, i));
    }
    XorbInfo x;
    uint32_t n = 0;
    r->ReadHash(&x.xorb_hash);
    r->ReadU32(&x.flags);
    r->ReadU32(&n);
    r->ReadU32(&x.num_bytes_in_xorb);
    r->ReadU32(&x.num_bytes_on_disk);
    if (x.xorb_hash == XetHash::Marker()) break;
    if (!r->Has(uint64_t(n) * kShardRecordSize)) {
      return Bad(fmt::format("xorb {} at byte {}: {} chunks run past the end ({} bytes left)", i, pos, n,
                             r->remaining()));
    }
    x.chunks.resize(n);
    for (XorbChunkEntry& c : x.chunks) {
      uint32_t reserved = 0;
      r->ReadHash(&c.chunk_hash);
      r->ReadU32(&c.byte_range_start);
      r->ReadU32(&c.unpacked_bytes);
      r->ReadU32(&c.flags);
      r->ReadU32(&reserved);
    }
    idx->xorb_units.push_back((pos - section_start) / kShardRecordSize);
    shard->xorbs.push_back(std::move(x));
  }
  idx->end = r->pos();
  return Status::Ok();
}

Status ParseSections(std::string_view data, Shard* shard, SectionIndex* idx) {
  WireReader r(data);
  MH_RETURN_IF_ERROR(ParseHeader(&r));
  MH_RETURN_IF_ERROR(ParseFileSection(&r, shard, idx));
  MH_RETURN_IF_ERROR(ParseXorbSection(&r, shard, idx));
  return ValidateShard(*shard);
}

void PutBookend(std::string* out) {
  PutHash(out, XetHash::Marker());
  PutZeros(out, kReservedTail);
}

// Position of the record that starts at unit `unit` (units are ascending), or nullopt.
std::optional<size_t> PositionOfUnit(const std::vector<uint64_t>& units, uint64_t unit) {
  auto it = std::lower_bound(units.begin(), units.end(), unit);
  if (it == units.end() || *it != unit) return std::nullopt;
  return static_cast<size_t>(it - units.begin());
}

}  // namespace

Sha256Digest ReverseEightByteGroups(const Sha256Digest& bytes) {
  Sha256Digest out;
  for (size_t g = 0; g < 4; ++g)
    for (size_t i = 0; i < 8; ++i) out[g * 8 + i] = bytes[g * 8 + 7 - i];
  return out;
}

uint64_t FileInfo::size() const {
  uint64_t n = 0;
  for (const FileTerm& t : terms) n += t.unpacked_bytes;
  return n;
}

Status ValidateShard(const Shard& shard) {
  bool any_with = false, any_without = false;
  for (size_t i = 0; i < shard.files.size(); ++i) {
    const FileInfo& f = shard.files[i];
    auto where = [&] { return fmt::format("file {} ({})", i, f.file_hash.ToHex()); };
    if (f.file_hash == XetHash::Marker()) return Bad(where() + ": the bookend hash cannot name a file");
    if (f.terms.size() > UINT32_MAX) return Bad(where() + ": too many terms");
    if (!f.verification.empty() && f.verification.size() != f.terms.size()) {
      return Bad(fmt::format("{}: {} verification entries for {} terms", where(), f.verification.size(),
                             f.terms.size()));
    }
    if (!f.terms.empty()) (f.verification.empty() ? any_without : any_with) = true;
    for (size_t j = 0; j < f.terms.size(); ++j) {
      const FileTerm& t = f.terms[j];
      if (t.chunk_start >= t.chunk_end || t.chunk_end > kMaxXorbChunks) {
        return Bad(fmt::format("{} term {}: chunk range [{}, {}) is empty or past {} chunks", where(), j,
                               t.chunk_start, t.chunk_end, kMaxXorbChunks));
      }
      if (t.unpacked_bytes == 0) return Bad(fmt::format("{} term {}: 0 unpacked bytes", where(), j));
    }
  }
  if (any_with && any_without) return Bad("only some files carry verification entries");

  for (size_t i = 0; i < shard.xorbs.size(); ++i) {
    const XorbInfo& x = shard.xorbs[i];
    auto where = [&] { return fmt::format("xorb {} ({})", i, x.xorb_hash.ToHex()); };
    if (x.xorb_hash == XetHash::Marker()) return Bad(where() + ": the bookend hash cannot name a xorb");
    if (x.chunks.empty() || x.chunks.size() > kMaxXorbChunks) {
      return Bad(fmt::format("{}: {} chunks (must be 1..{})", where(), x.chunks.size(), kMaxXorbChunks));
    }
    uint64_t offset = 0;
    for (size_t j = 0; j < x.chunks.size(); ++j) {
      const XorbChunkEntry& c = x.chunks[j];
      if (c.unpacked_bytes == 0 || c.unpacked_bytes > kMaxChunkBytes) {
        return Bad(fmt::format("{} chunk {}: size {} is not in 1..{}", where(), j, c.unpacked_bytes, kMaxChunkBytes));
      }
      if (c.byte_range_start != offset) {
        return Bad(fmt::format("{} chunk {}: starts at {}, the sizes before it add up to {}", where(), j,
                               c.byte_range_start, offset));
      }
      offset += c.unpacked_bytes;
    }
    if (offset != x.num_bytes_in_xorb) {
      return Bad(fmt::format("{}: num_bytes_in_xorb is {}, its chunks add up to {}", where(), x.num_bytes_in_xorb,
                             offset));
    }
  }
  return Status::Ok();
}

#ifdef MODELHUB_XET_HASHES
void KeyChunkHashes(Shard* shard, const XetHash& key) {
  for (XorbInfo& x : shard->xorbs)
    for (XorbChunkEntry& c : x.chunks) c.chunk_hash = KeyedHash(c.chunk_hash, key);
}
#endif

Result<Shard> ParseShard(std::string_view data, size_t* sections_end) {
  Shard shard;
  SectionIndex idx;
  MH_RETURN_IF_ERROR(ParseSections(data, &shard, &idx));
  if (sections_end) *sections_end = idx.end;
  return shard;
}

Result<std::string> SerializeShard(const Shard& shard, const ShardWriteOptions& options) {
  MH_RETURN_IF_ERROR(ValidateShard(shard));
  std::string out;
  out.append(reinterpret_cast<const char*>(kShardHeaderTag.data()), kShardHeaderTag.size());
  PutU64(&out, kShardHeaderVersion);
  PutU64(&out, options.full ? kShardFooterSize : 0);

  ShardFooter footer;
  footer.file_info_offset = out.size();
  std::vector<std::pair<uint64_t, uint64_t>> file_lookup, xorb_lookup;  // (key, unit)
  struct ChunkRow {
    uint64_t key;
    uint64_t xorb_unit;
    uint32_t chunk;
  };
  std::vector<ChunkRow> chunk_lookup;

  for (const FileInfo& f : shard.files) {
    file_lookup.emplace_back(f.file_hash.Truncated(), (out.size() - footer.file_info_offset) / kShardRecordSize);
    PutHash(&out, f.file_hash);
    PutU32(&out, f.flags());
    PutU32(&out, static_cast<uint32_t>(f.terms.size()));
    PutU64(&out, 0);
    for (const FileTerm& t : f.terms) {
      PutHash(&out, t.xorb_hash);
      PutU32(&out, t.xorb_flags);
      PutU32(&out, t.unpacked_bytes);
      PutU32(&out, t.chunk_start);
      PutU32(&out, t.chunk_end);
    }
    for (const XetHash& h : f.verification) {
      PutHash(&out, h);
      PutZeros(&out, kReservedTail);
    }
    if (f.sha256) {
      PutHash(&out, XetHash(ReverseEightByteGroups(*f.sha256)));
      PutZeros(&out, kReservedTail);
    }
    footer.materialized_bytes += f.size();
  }
  PutBookend(&out);

  footer.xorb_info_offset = out.size();
  for (const XorbInfo& x : shard.xorbs) {
    const uint64_t unit = (out.size() - footer.xorb_info_offset) / kShardRecordSize;
    xorb_lookup.emplace_back(x.xorb_hash.Truncated(), unit);
    PutHash(&out, x.xorb_hash);
    PutU32(&out, x.flags);
    PutU32(&out, static_cast<uint32_t>(x.chunks.size()));
    PutU32(&out, x.num_bytes_in_xorb);
    PutU32(&out, x.num_bytes_on_disk);
    for (size_t j = 0; j < x.chunks.size(); ++j) {
      const XorbChunkEntry& c = x.chunks[j];
      chunk_lookup.push_back({c.chunk_hash.Truncated(), unit, static_cast<uint32_t>(j)});
      PutHash(&out, c.chunk_hash);
      PutU32(&out, c.byte_range_start);
      PutU32(&out, c.unpacked_bytes);
      PutU32(&out, c.flags);
      PutU32(&out, 0);
    }
    footer.stored_bytes += x.num_bytes_in_xorb;
    footer.stored_bytes_on_disk += x.num_bytes_on_disk;
  }
  PutBookend(&out);
  if (!options.full) return out;

  // Entry indices are u32 on the wire.
  const uint64_t max_units = std::max(footer.xorb_info_offset - footer.file_info_offset,
                                      out.size() - footer.xorb_info_offset) / kShardRecordSize;
  if (max_units > UINT32_MAX) return Status::InvalidArgument("shard too large for 32-bit lookup indices");

  auto by_key = [](const auto& a, const auto& b) { return a.first < b.first; };
  std::stable_sort(file_lookup.begin(), file_lookup.end(), by_key);
  std::stable_sort(xorb_lookup.begin(), xorb_lookup.end(), by_key);
  std::stable_sort(chunk_lookup.begin(), chunk_lookup.end(),
                   [](const ChunkRow& a, const ChunkRow& b) { return a.key < b.key; });

  footer.file_lookup_offset = out.size();
  footer.file_lookup_num_entry = file_lookup.size();
  for (const auto& [key, unit] : file_lookup) {
    PutU64(&out, key);
    PutU32(&out, static_cast<uint32_t>(unit));
  }
  footer.xorb_lookup_offset = out.size();
  footer.xorb_lookup_num_entry = xorb_lookup.size();
  for (const auto& [key, unit] : xorb_lookup) {
    PutU64(&out, key);
    PutU32(&out, static_cast<uint32_t>(unit));
  }
  footer.chunk_lookup_offset = out.size();
  footer.chunk_lookup_num_entry = chunk_lookup.size();
  for (const ChunkRow& row : chunk_lookup) {
    PutU64(&out, row.key);
    PutU32(&out, static_cast<uint32_t>(row.xorb_unit));
    PutU32(&out, row.chunk);
  }
  footer.chunk_hash_hmac_key = options.hmac_key;
  footer.creation_timestamp = options.creation_timestamp;
  footer.key_expiry = options.key_expiry;
  footer.footer_offset = out.size();

  PutU64(&out, footer.version);
  PutU64(&out, footer.file_info_offset);
  PutU64(&out, footer.xorb_info_offset);
  PutU64(&out, footer.file_lookup_offset);
  PutU64(&out, footer.file_lookup_num_entry);
  PutU64(&out, footer.xorb_lookup_offset);
  PutU64(&out, footer.xorb_lookup_num_entry);
  PutU64(&out, footer.chunk_lookup_offset);
  PutU64(&out, footer.chunk_lookup_num_entry);
  PutHash(&out, footer.chunk_hash_hmac_key);
  PutU64(&out, footer.creation_timestamp);
  PutU64(&out, footer.key_expiry);
  PutZeros(&out, 6 * 8);
  PutU64(&out, footer.stored_bytes_on_disk);
  PutU64(&out, footer.materialized_bytes);
  PutU64(&out, footer.stored_bytes);
  PutU64(&out, footer.footer_offset);
  return out;
}

Result<ShardReader> ShardReader::Open(std::string_view data) {
  constexpr size_t kMinFull = kShardHeaderSize + 2 * kShardRecordSize + kShardFooterSize;
  if (data.size() < kMinFull) {
    return Bad(fmt::format("{} bytes is too short for a full shard (at least {})", data.size(), kMinFull));
  }
  ShardReader reader;
  ShardFooter& f = reader.footer_;
  {
    WireReader r(data.substr(data.size() - kShardFooterSize));
    r.ReadU64(&f.version);
    r.ReadU64(&f.file_info_offset);
    r.ReadU64(&f.xorb_info_offset);
    r.ReadU64(&f.file_lookup_offset);
    r.ReadU64(&f.file_lookup_num_entry);
    r.ReadU64(&f.xorb_lookup_offset);
    r.ReadU64(&f.xorb_lookup_num_entry);
    r.ReadU64(&f.chunk_lookup_offset);
    r.ReadU64(&f.chunk_lookup_num_entry);
    r.ReadHash(&f.chunk_hash_hmac_key);
    r.ReadU64(&f.creation_timestamp);
    r.ReadU64(&f.key_expiry);
    r.Skip(6 * 8);
    r.ReadU64(&f.stored_bytes_on_disk);
    r.ReadU64(&f.materialized_bytes);
    r.ReadU64(&f.stored_bytes);
    r.ReadU64(&f.footer_offset);
  }
  if (f.version != kShardFooterVersion) return Bad(fmt::format("footer version {} (only 1 is known)", f.version));
  if (f.footer_offset != data.size() - kShardFooterSize) {
    return Bad(fmt::format("footer_offset is {}, the footer is at {}", f.footer_offset, data.size() - kShardFooterSize));
  }
  if (f.file_info_offset != kShardHeaderSize) {
    return Bad(fmt::format("file_info_offset is {}, must be {}", f.file_info_offset, kShardHeaderSize));
  }
  SectionIndex idx;
  MH_RETURN_IF_ERROR(ParseSections(data.substr(0, f.footer_offset), &reader.shard_, &idx));
  const Shard& s = reader.shard_;
  if (f.xorb_info_offset != idx.xorb_section_offset) {
    return Bad(fmt::format("xorb_info_offset is {}, the xorb section starts at {}", f.xorb_info_offset,
                           idx.xorb_section_offset));
  }
  uint64_t num_chunks = 0;
  for (const XorbInfo& x : s.xorbs) num_chunks += x.chunks.size();
  // The tables must follow each other exactly, with one entry per file, xorb and chunk.
  struct Table {
    const char* name;
    uint64_t offset, count, expected_offset, expected_count, entry_size;
  };
  const Table tables[] = {
      {"file lookup", f.file_lookup_offset, f.file_lookup_num_entry, idx.end, s.files.size(), 12},
      {"xorb lookup", f.xorb_lookup_offset, f.xorb_lookup_num_entry, f.file_lookup_offset + 12 * s.files.size(),
       s.xorbs.size(), 12},
      {"chunk lookup", f.chunk_lookup_offset, f.chunk_lookup_num_entry, f.xorb_lookup_offset + 12 * s.xorbs.size(),
       num_chunks, 16},
  };
  for (const Table& t : tables) {
    if (t.offset != t.expected_offset || t.count != t.expected_count) {
      return Bad(fmt::format("{} table at {} with {} entries, expected at {} with {}", t.name, t.offset, t.count,
                             t.expected_offset, t.expected_count));
    }
  }
  // Counts now equal in-memory sizes, so these offsets cannot overflow.
  if (f.chunk_lookup_offset + 16 * num_chunks != f.footer_offset) {
    return Bad(fmt::format("lookup tables end at {}, the footer is at {}", f.chunk_lookup_offset + 16 * num_chunks,
                           f.footer_offset));
  }

  uint64_t materialized = 0, stored = 0, on_disk = 0;
  for (const FileInfo& fi : s.files) materialized += fi.size();
  for (const XorbInfo& x : s.xorbs) {
    stored += x.num_bytes_in_xorb;
    on_disk += x.num_bytes_on_disk;
  }
  if (materialized != f.materialized_bytes || stored != f.stored_bytes || on_disk != f.stored_bytes_on_disk) {
    return Bad("footer byte totals do not match the sections");
  }

  WireReader r(data.substr(f.file_lookup_offset, f.footer_offset - f.file_lookup_offset));
  auto read_table = [&](const char* name, const std::vector<uint64_t>& units, size_t count, auto hash_of,
                        std::vector<std::pair<uint64_t, size_t>>* table) -> Status {
    std::vector<bool> seen(count, false);
    uint64_t prev = 0;
    for (size_t k = 0; k < count; ++k) {
      uint64_t key = 0;
      uint32_t unit = 0;
      r.ReadU64(&key);
      r.ReadU32(&unit);
      auto pos = PositionOfUnit(units, unit);
      if (!pos) return Bad(fmt::format("{} entry {}: index {} is not the start of an entry", name, k, unit));
      if (key != hash_of(*pos).Truncated()) return Bad(fmt::format("{} entry {}: key does not match", name, k));
      if (k > 0 && key < prev) return Bad(fmt::format("{} entry {}: keys are not sorted", name, k));
      if (seen[*pos]) return Bad(fmt::format("{} entry {}: index {} listed twice", name, k, unit));
      seen[*pos] = true;
      prev = key;
      table->emplace_back(key, *pos);
    }
    return Status::Ok();
  };
  MH_RETURN_IF_ERROR(read_table("file lookup", idx.file_units, s.files.size(),
                                [&](size_t p) { return s.files[p].file_hash; }, &reader.file_lookup_));
  MH_RETURN_IF_ERROR(read_table("xorb lookup", idx.xorb_units, s.xorbs.size(),
                                [&](size_t p) { return s.xorbs[p].xorb_hash; }, &reader.xorb_lookup_));

  std::vector<uint64_t> first_chunk(s.xorbs.size(), 0);  // flat index of each xorb's first chunk
  for (size_t i = 1; i < s.xorbs.size(); ++i) first_chunk[i] = first_chunk[i - 1] + s.xorbs[i - 1].chunks.size();
  std::vector<bool> seen(num_chunks, false);
  uint64_t prev = 0;
  for (uint64_t k = 0; k < num_chunks; ++k) {
    uint64_t key = 0;
    uint32_t unit = 0, chunk = 0;
    r.ReadU64(&key);
    r.ReadU32(&unit);
    r.ReadU32(&chunk);
    auto pos = PositionOfUnit(idx.xorb_units, unit);
    if (!pos || chunk >= s.xorbs[*pos].chunks.size()) {
      return Bad(fmt::format("chunk lookup entry {}: ({}, {}) is not a chunk", k, unit, chunk));
    }
    if (key != s.xorbs[*pos].chunks[chunk].chunk_hash.Truncated()) {
      return Bad(fmt::format("chunk lookup entry {}: key does not match", k));
    }
    if (k > 0 && key < prev) return Bad(fmt::format("chunk lookup entry {}: keys are not sorted", k));
    const uint64_t flat = first_chunk[*pos] + chunk;
    if (seen[flat]) return Bad(fmt::format("chunk lookup entry {}: chunk listed twice", k));
    seen[flat] = true;
    prev = key;
    reader.chunk_lookup_.push_back({key, ChunkLocation{*pos, chunk}});
  }
  return reader;
}

namespace {

template <typename Table, typename Match>
void ForEachKey(const Table& table, uint64_t key, Match match) {
  auto it = std::lower_bound(table.begin(), table.end(), key,
                             [](const auto& row, uint64_t k) { return row.first < k; });
  for (; it != table.end() && it->first == key; ++it) match(it->second);
}

}  // namespace

std::optional<size_t> ShardReader::FindFile(const XetHash& file_hash) const {
  std::optional<size_t> best;
  ForEachKey(file_lookup_, file_hash.Truncated(), [&](size_t p) {
    if (shard_.files[p].file_hash == file_hash && (!best || p < *best)) best = p;
  });
  return best;
}

std::optional<size_t> ShardReader::FindXorb(const XetHash& xorb_hash) const {
  std::optional<size_t> best;
  ForEachKey(xorb_lookup_, xorb_hash.Truncated(), [&](size_t p) {
    if (shard_.xorbs[p].xorb_hash == xorb_hash && (!best || p < *best)) best = p;
  });
  return best;
}

std::vector<ShardReader::ChunkLocation> ShardReader::FindChunk(const XetHash& chunk_hash) const {
  std::vector<ChunkLocation> out;
  ForEachKey(chunk_lookup_, chunk_hash.Truncated(), [&](const ChunkLocation& loc) {
    if (shard_.xorbs[loc.xorb].chunks[loc.chunk].chunk_hash == chunk_hash) out.push_back(loc);
  });
  std::sort(out.begin(), out.end(),
            [](const ChunkLocation& a, const ChunkLocation& b) { return std::tie(a.xorb, a.chunk) < std::tie(b.xorb, b.chunk); });
  return out;
}

}  // namespace modelhub::xet
