#include "storage/cas/xet_cas.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>
#include <span>
#include <unordered_set>

#include <fmt/format.h>

#include "common/strings.h"
#include "common/time_util.h"
#include "crypto/sha256.h"
#include "storage/cas/format/chunk_compression.h"
#include "storage/cas/format/shard.h"
#include "storage/cas/format/wire.h"
#include "storage/cas/format/xorb.h"
#include "storage/cas/xet/hashes.h"

namespace modelhub {

namespace {

constexpr std::string_view kFooterIdent = "XETBLOB";
// Serialized bytes read (and hash-checked) at a time when serving xorb ranges: the memory of one
// fetch in flight. hf_xet may run dozens of fetches at once.
constexpr uint32_t kServeBlockBytes = 2u << 20;

// Reads exactly n bytes (or fewer only at the end of the body: *got tells how many).
Status ReadFull(const XetCas::ReadFn& read, char* buf, size_t n, size_t* got) {
  *got = 0;
  while (*got < n) {
    MH_ASSIGN_OR_RETURN(size_t k, read(buf + *got, n - *got));
    if (k == 0) break;
    *got += k;
  }
  return Status::Ok();
}

Status BadXorb(const xet::XetHash& hash, const std::string& what) {
  return Status::InvalidArgument(fmt::format("xorb {}: {}", hash.ToHex(), what), "InvalidXorb");
}

Status BadShard(const std::string& what) { return Status::InvalidArgument("shard: " + what, "InvalidShard"); }

uint32_t Before(const std::vector<uint32_t>& ends, uint32_t k) { return k == 0 ? 0 : ends[k - 1]; }

std::string ShaHex(const xet::Sha256Digest& d) {
  return HexEncode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

}  // namespace

XetCas::XetCas(ChunkStore* store, XetShardLimits limits) : store_(store), limits_(limits) {}

bool XetCas::HasXorb(const xet::XetHash& hash) {
  return store_->meta()->GetXorb(hash.ToHex()).ok() && store_->blobs()->Size(ChunkStore::XorbKey(hash)).ok();
}

// ---- xorb upload -----------------------------------------------------------------------------

Result<bool> XetCas::PutXorb(const xet::XetHash& hash, const ReadFn& read, int64_t content_length) {
  if (content_length > int64_t(xet::kMaxXorbSerializedBytes)) {
    return Status::TooLarge(fmt::format("xorb bodies are limited to {} bytes", xet::kMaxXorbSerializedBytes));
  }
  const std::string key = ChunkStore::XorbKey(hash);
  MH_ASSIGN_OR_RETURN(auto writer, store_->blobs()->NewWriter(key));
  xet::XorbLayout layout;
  std::vector<xet::XetHash> hashes;
  std::vector<xet::MerkleNode> nodes;
  std::string payload, raw;
  uint64_t body_bytes = 0;
  char header[xet::kXorbChunkHeaderSize];
  std::string footer;  // a client's footer, if it sent one
  while (true) {
    size_t got = 0;
    MH_RETURN_IF_ERROR(ReadFull(read, header, sizeof header, &got));
    if (got == 0) break;
    body_bytes += got;
    if (got >= kFooterIdent.size() && std::string_view(header, kFooterIdent.size()) == kFooterIdent) {
      // hf_xet <= 1.1.3 appends its footer: keep it to check, we write our own.
      footer.assign(header, got);
      char buf[64 << 10];
      while (true) {
        size_t n = 0;
        MH_RETURN_IF_ERROR(ReadFull(read, buf, sizeof buf, &n));
        if (n == 0) break;
        footer.append(buf, n);
        if (footer.size() > xet::XorbFooterV1InfoLength(xet::kMaxXorbChunks) + 4) {
          return BadXorb(hash, "footer larger than any valid footer");
        }
      }
      body_bytes += footer.size() - got;
      break;
    }
    if (got < sizeof header) return BadXorb(hash, fmt::format("truncated chunk header at byte {}", body_bytes - got));
    const uint64_t offset = body_bytes - got;
    const uint8_t version = uint8_t(header[0]);
    const uint32_t csize = xet::LoadU24(header + 1);
    const uint8_t scheme = uint8_t(header[4]);
    const uint32_t usize = xet::LoadU24(header + 5);
    const size_t index = layout.chunks.size();
    if (version != 0) return BadXorb(hash, fmt::format("chunk {}: unknown record version {}", index, version));
    if (!xet::IsValidCompressionScheme(scheme)) {
      return BadXorb(hash, fmt::format("chunk {}: unknown compression scheme {}", index, scheme));
    }
    if (usize == 0 || usize > xet::kMaxChunkBytes || csize > xet::kMaxCompressedChunkBytes) {
      return BadXorb(hash, fmt::format("chunk {}: sizes out of range ({} compressed, {} raw)", index, csize, usize));
    }
    if (index >= xet::kMaxXorbChunks || layout.unpacked_size + usize > xet::kMaxXorbRawBytes) {
      return BadXorb(hash, "more than 8192 chunks or 64 MiB of raw bytes");
    }
    payload.resize(csize);
    MH_RETURN_IF_ERROR(ReadFull(read, payload.data(), csize, &got));
    body_bytes += got;
    if (got < csize) return BadXorb(hash, fmt::format("chunk {}: truncated payload", index));
    raw.clear();
    Status d = xet::DecompressChunk(static_cast<xet::CompressionScheme>(scheme), payload, usize, &raw);
    if (!d.ok()) return BadXorb(hash, fmt::format("chunk {}: {}", index, d.message()));
    xet::XetHash ch = xet::ChunkHash(raw.data(), raw.size());
    hashes.push_back(ch);
    nodes.push_back(xet::MerkleNode{ch, usize});
    layout.chunks.push_back(xet::XorbChunkRecord{uint32_t(offset), csize, uint32_t(layout.unpacked_size), usize,
                                                 static_cast<xet::CompressionScheme>(scheme)});
    layout.unpacked_size += usize;
    layout.records_size = uint32_t(offset + sizeof header + csize);
    MH_RETURN_IF_ERROR(writer->Write(header, sizeof header));
    MH_RETURN_IF_ERROR(writer->Write(payload.data(), payload.size()));
  }
  if (content_length >= 0 && body_bytes != uint64_t(content_length)) {
    return BadXorb(hash, fmt::format("body has {} bytes, Content-Length said {}", body_bytes, content_length));
  }
  if (layout.chunks.empty()) return BadXorb(hash, "no chunks");
  xet::XetHash computed = xet::XorbHash(nodes);
  if (computed != hash) {
    return BadXorb(hash, fmt::format("content hashes to {}, not to the hash in the URL", computed.ToHex()));
  }
  xet::XorbFooter ours = xet::MakeXorbFooter(layout, hashes, hash);
  if (!footer.empty()) {
    // A V1 footer must describe these records; anything else that is not a footer is refused.
    auto theirs = xet::ParseXorbFooterV1(footer);
    if (theirs.ok()) {
      if (theirs->xorb_hash != hash || theirs->chunk_hashes != ours.chunk_hashes ||
          theirs->chunk_ends != ours.chunk_ends || theirs->unpacked_ends != ours.unpacked_ends) {
        return BadXorb(hash, "footer disagrees with the chunk records");
      }
    } else if (footer.size() < 8 || uint8_t(footer[7]) != 0) {
      // Not V1, and not the legacy V0 layout either (whose content we do not need: the hashes
      // above were computed from the records themselves).
      return BadXorb(hash, "malformed footer: " + theirs.status().message());
    }
  }
  std::string footer_bytes = xet::SerializeXorbFooter(ours);
  MH_RETURN_IF_ERROR(writer->Write(footer_bytes.data(), footer_bytes.size()));
  const int64_t stored = int64_t(layout.records_size + footer_bytes.size());
  const bool existed = store_->meta()->GetXorb(hash.ToHex()).ok() && store_->blobs()->Size(key).ok();
  if (!existed) {
    MH_RETURN_IF_ERROR(writer->Commit());
    store_->counters().xorb_bytes_written += stored;
  } else {
    writer->Abort();
  }
  std::vector<std::string> chunk_hex;
  chunk_hex.reserve(hashes.size());
  for (const auto& h : hashes) chunk_hex.push_back(h.ToHex());
  // Unavailable (retryable) while a GC deletes a xorb with this hash.
  MH_RETURN_IF_ERROR(store_->meta()->PutXorb(
      XorbRecord{hash.ToHex(), stored, int64_t(layout.unpacked_size), int64_t(hashes.size()), NowMs()}, chunk_hex));
  // A GC that finished deleting the same xorb between our write and PutXorb took the object:
  // the client retries (503) and the next attempt writes it again.
  if (!store_->blobs()->Size(key).ok()) {
    return Status::Unavailable("xorb " + hash.ToHex() + " was being garbage-collected; retry the upload");
  }
  counters_.xorbs_received++;
  counters_.xorb_bytes_received += int64_t(body_bytes);
  if (!existed) counters_.xorbs_inserted++;
  return !existed;
}

// ---- shard upload ----------------------------------------------------------------------------

Result<std::vector<XetRegisteredFile>> XetCas::PutShard(std::string_view body, const ShardHooks& hooks) {
  if (int64_t(body.size()) > kMaxShardBytes) return Status::TooLarge("shard too large");
  auto parsed = xet::ParseShard(body);
  if (!parsed.ok()) return BadShard(parsed.status().message());
  xet::Shard shard = std::move(parsed).value();
  Status valid = xet::ValidateShard(shard);
  if (!valid.ok()) return BadShard(valid.message());
  for (const auto& x : shard.xorbs) {
    if (!HasXorb(x.xorb_hash)) {
      return BadShard(fmt::format("xorb {} is listed but was never uploaded; upload xorbs before the shard",
                                  x.xorb_hash.ToHex()));
    }
  }
  auto cancelled = [&hooks] { return hooks.cancelled && hooks.cancelled(); };
  auto stop = [this] {
    counters_.shards_cancelled++;
    return Status(Code::kUnavailable, "shard check stopped: the client closed the connection", "ClientClosedRequest",
                  true);
  };
  auto which = [&shard](size_t fi) { return fmt::format("file {} ({})", fi, shard.files[fi].file_hash.ToHex()); };

  // 1. The shape of every file, from the shard alone.
  for (size_t fi = 0; fi < shard.files.size(); ++fi) {
    const xet::FileInfo& f = shard.files[fi];
    if (f.verification.size() != f.terms.size()) return BadShard(which(fi) + ": every term needs a verification entry");
    if (int64_t(f.terms.size()) > limits_.max_file_terms) {
      return Status(Code::kTooLarge,
                    fmt::format("shard: {} has {} terms; a file may have at most {}", which(fi), f.terms.size(),
                                limits_.max_file_terms),
                    "FileTooLarge");
    }
    if (f.size() > uint64_t(limits_.max_file_bytes)) {
      return Status(Code::kTooLarge,
                    fmt::format("shard: {} would be {} bytes; files are limited to {} bytes", which(fi), f.size(),
                                limits_.max_file_bytes),
                    "FileTooLarge");
    }
  }

  // 2. Every term against its xorb's footer (loaded once per xorb): chunk range and size.
  struct XorbUse {
    std::shared_ptr<const xet::XorbFooter> footer;
    std::vector<std::pair<uint32_t, uint32_t>> ranges;  // chunk ranges the terms name
  };
  std::unordered_map<xet::XetHash, XorbUse> used;
  int64_t chunk_refs_all = 0;
  size_t terms_seen = 0;
  for (size_t fi = 0; fi < shard.files.size(); ++fi) {
    const xet::FileInfo& f = shard.files[fi];
    for (size_t ti = 0; ti < f.terms.size(); ++ti) {
      const xet::FileTerm& t = f.terms[ti];
      if ((++terms_seen & 4095) == 0 && cancelled()) return stop();
      auto it = used.find(t.xorb_hash);
      if (it == used.end()) {
        if (!store_->meta()->GetXorb(t.xorb_hash.ToHex()).ok()) {
          return BadShard(fmt::format("{} term {}: xorb {} is not stored", which(fi), ti, t.xorb_hash.ToHex()));
        }
        MH_ASSIGN_OR_RETURN(auto footer, store_->LoadFooter(t.xorb_hash));
        it = used.emplace(t.xorb_hash, XorbUse{std::move(footer), {}}).first;
      }
      const auto& ue = it->second.footer->unpacked_ends;
      if (t.chunk_start >= t.chunk_end || t.chunk_end > ue.size()) {
        return BadShard(fmt::format("{} term {}: chunks [{}, {}) outside xorb {} of {} chunks", which(fi), ti,
                                    t.chunk_start, t.chunk_end, t.xorb_hash.ToHex(), ue.size()));
      }
      const uint32_t bytes = ue[t.chunk_end - 1] - Before(ue, t.chunk_start);
      if (bytes != t.unpacked_bytes) {
        return BadShard(fmt::format("{} term {}: says {} bytes, the chunks hold {}", which(fi), ti, t.unpacked_bytes, bytes));
      }
      it->second.ranges.emplace_back(t.chunk_start, t.chunk_end);
      chunk_refs_all += int64_t(t.chunk_end - t.chunk_start);
    }
  }

  // 3. Which files must be read back and hashed: not those recorded before (and readable by the
  // uploader), nor a second copy of a file earlier in this shard.
  std::vector<std::optional<std::string>> reuse(shard.files.size());
  std::vector<bool> repeat(shard.files.size(), false);
  {
    std::unordered_set<xet::XetHash> earlier;
    for (size_t fi = 0; fi < shard.files.size(); ++fi) {
      const xet::FileInfo& f = shard.files[fi];
      if (!earlier.insert(f.file_hash).second) {
        repeat[fi] = true;
        continue;
      }
      auto known = store_->meta()->GetFileByXetHash(f.file_hash.ToHex());
      if (!known.ok() || known->size != int64_t(f.size())) continue;
      if (f.sha256 && ShaHex(*f.sha256) != known->sha256) continue;
      bool ok = true;
      if (hooks.may_reuse) {
        MH_ASSIGN_OR_RETURN(ok, hooks.may_reuse(*known));
      }
      if (ok) reuse[fi] = known->sha256;
    }
  }

  // 4. The budget: what checking costs against the distinct stored content it names.
  int64_t work = chunk_refs_all * XetShardLimits::kChunkRefCost;
  for (size_t fi = 0; fi < shard.files.size(); ++fi) {
    if (!reuse[fi] && !repeat[fi]) work += int64_t(shard.files[fi].size());
  }
  int64_t distinct = 0;
  for (auto& [hash, use] : used) {
    auto& r = use.ranges;
    std::sort(r.begin(), r.end());
    const auto& ue = use.footer->unpacked_ends;
    uint32_t a = r[0].first, b = r[0].second;
    auto add = [&](uint32_t from, uint32_t to) {
      distinct += int64_t(ue[to - 1] - Before(ue, from)) + int64_t(to - from) * XetShardLimits::kChunkRefCost;
    };
    for (size_t k = 1; k < r.size(); ++k) {
      if (r[k].first <= b) {
        b = std::max(b, r[k].second);
      } else {
        add(a, b);
        a = r[k].first;
        b = r[k].second;
      }
    }
    add(a, b);
  }
  const int64_t ratio = std::max<int64_t>(1, limits_.verify_ratio);
  const int64_t allowed =
      std::max(limits_.verify_floor_bytes, distinct > INT64_MAX / ratio ? INT64_MAX : distinct * ratio);
  if (work > allowed) {
    counters_.shards_over_budget++;
    return Status(Code::kTooLarge,
                  fmt::format("shard: checking it would read back and hash {} bytes of content, but it names only {} "
                              "distinct bytes of stored chunks; a shard may cost at most {}x what it names (or {} "
                              "bytes). Files made of many repeats of the same chunks must be uploaded in full",
                              work, distinct, ratio, limits_.verify_floor_bytes),
                  "ShardTooExpensive");
  }

  // 5. Per file: verification hashes (once per distinct term), the file hash, the SHA-256.
  int64_t total = 0;
  for (size_t fi = 0; fi < shard.files.size(); ++fi) {
    if (!reuse[fi] && !repeat[fi]) total += int64_t(shard.files[fi].size());
  }
  int64_t done = 0;
  std::map<std::tuple<xet::XetHash, uint32_t, uint32_t>, xet::XetHash> verified;
  std::unordered_map<xet::XetHash, std::string> proven_here;  // file hash -> sha256, recorded by this shard
  std::vector<XetRegisteredFile> out;
  for (size_t fi = 0; fi < shard.files.size(); ++fi) {
    const xet::FileInfo& f = shard.files[fi];
    xet::MerkleBuilder merkle;
    std::vector<FileTerm> terms;
    std::vector<std::string> xorbs;
    std::unordered_set<xet::XetHash> seen;
    for (size_t ti = 0; ti < f.terms.size(); ++ti) {
      const xet::FileTerm& t = f.terms[ti];
      if ((++terms_seen & 1023) == 0 && cancelled()) return stop();
      const xet::XorbFooter& footer = *used.at(t.xorb_hash).footer;
      const auto& ue = footer.unpacked_ends;
      auto key = std::make_tuple(t.xorb_hash, t.chunk_start, t.chunk_end);
      auto v = verified.find(key);
      if (v == verified.end()) {
        std::span<const xet::XetHash> range(footer.chunk_hashes.data() + t.chunk_start, t.chunk_end - t.chunk_start);
        v = verified.emplace(key, xet::VerificationHash(range)).first;
      }
      if (v->second != f.verification[ti]) {
        return BadShard(fmt::format("{} term {}: verification hash does not match the stored chunks", which(fi), ti));
      }
      for (uint32_t k = t.chunk_start; k < t.chunk_end; ++k) {
        merkle.Add(xet::MerkleNode{footer.chunk_hashes[k], ue[k] - Before(ue, k)});
      }
      terms.push_back(FileTerm{t.xorb_hash, t.chunk_start, t.chunk_end, t.unpacked_bytes});
      if (seen.insert(t.xorb_hash).second) xorbs.push_back(t.xorb_hash.ToHex());
    }
    xet::XetHash file_hash = merkle.FileHash();
    if (file_hash != f.file_hash) {
      return BadShard(fmt::format("{}: the chunks hash to file hash {}", which(fi), file_hash.ToHex()));
    }
    const int64_t size = int64_t(f.size());
    std::optional<std::string> claimed;
    if (f.sha256) claimed = ShaHex(*f.sha256);
    // The SHA-256 maps LFS pointers to this content, hub-wide: it is only believed once proven.
    std::string sha;
    auto here = proven_here.find(file_hash);
    if (here != proven_here.end()) {
      sha = here->second;  // the same content, hashed a moment ago
    } else if (reuse[fi]) {
      sha = *reuse[fi];  // this content was hashed when it was first recorded
    } else {
      Sha256 hasher;
      MH_ASSIGN_OR_RETURN(auto reader, store_->OpenTerms(terms));
      std::vector<char> buf(1 << 20);
      while (true) {
        if (cancelled()) return stop();
        MH_ASSIGN_OR_RETURN(size_t n, reader->Read(buf.data(), buf.size()));
        if (n == 0) break;
        hasher.Update(buf.data(), n);
        counters_.shard_verify_bytes += int64_t(n);
        if (hooks.progress) hooks.progress(done + (size - reader->remaining()), total);
      }
      sha = hasher.FinalHex();
      counters_.files_hashed++;
      done += size;
    }
    if (claimed && *claimed != sha) {
      return BadShard(fmt::format("{}: metadata claims sha256 {}, the content hashes to {}", which(fi), *claimed, sha));
    }
    MH_RETURN_IF_ERROR(store_->meta()->PutFileChecked(
        FileRecord{sha, file_hash.ToHex(), size, SerializeTerms(terms), NowMs()}, xorbs));
    proven_here.emplace(file_hash, sha);
    if (hooks.progress) hooks.progress(done, total);
    out.push_back(XetRegisteredFile{sha, size, file_hash});
    counters_.files_registered++;
  }
  counters_.shards_received++;
  counters_.shard_bytes_received += int64_t(body.size());
  return out;
}

// ---- reconstruction --------------------------------------------------------------------------

Result<XetReconstruction> XetCas::Reconstruct(const FileRecord& file,
                                              std::optional<std::pair<uint64_t, uint64_t>> range) {
  XetReconstruction r;
  if (file.size == 0) return r;
  const uint64_t size = uint64_t(file.size);
  uint64_t first = 0, end = size;
  if (range) {
    if (range->first >= size || range->second < range->first) {
      return Status::RangeNotSatisfiable(fmt::format("range starts at or beyond the end of the file ({} bytes)", size));
    }
    first = range->first;
    end = std::min<uint64_t>(range->second + 1, size);
  }
  MH_ASSIGN_OR_RETURN(std::vector<FileTerm> terms, ParseTerms(file.terms));
  std::map<xet::XetHash, std::vector<XetFetchRange>> fetch;
  uint64_t pos = 0;
  for (const auto& t : terms) {
    const uint64_t t_begin = pos, t_end = pos + t.bytes;
    pos = t_end;
    if (t_end <= first) continue;
    if (t_begin >= end) break;
    MH_ASSIGN_OR_RETURN(auto footer, store_->LoadFooter(t.xorb));
    const auto& ue = footer->unpacked_ends;
    const auto& ce = footer->chunk_ends;
    if (t.chunk_start >= t.chunk_end || t.chunk_end > ue.size()) {
      return Status::Corruption("file term beyond the end of xorb " + t.xorb.ToHex());
    }
    const uint64_t base = Before(ue, t.chunk_start);
    const uint64_t a = base + (std::max(first, t_begin) - t_begin);  // xorb-relative raw offsets
    const uint64_t b = base + (std::min(end, t_end) - t_begin);
    // Whole chunks covering [a, b).
    uint32_t k = uint32_t(std::upper_bound(ue.begin() + t.chunk_start, ue.begin() + t.chunk_end, a) - ue.begin());
    uint32_t l = uint32_t(std::lower_bound(ue.begin() + k, ue.begin() + t.chunk_end, b) - ue.begin());
    if (k >= t.chunk_end || l >= t.chunk_end) return Status::Corruption("file term sizes disagree with xorb " + t.xorb.ToHex());
    if (r.terms.empty()) r.offset_into_first_range = a - Before(ue, k);
    r.terms.push_back(XetTerm{t.xorb, k, l + 1, ue[l] - Before(ue, k)});
    fetch[t.xorb].push_back(XetFetchRange{t.xorb, k, l + 1, Before(ce, k), uint64_t(ce[l]) - 1});
  }
  for (auto& [xorb, ranges] : fetch) {
    std::sort(ranges.begin(), ranges.end(),
              [](const XetFetchRange& x, const XetFetchRange& y) { return x.chunk_start < y.chunk_start; });
    std::vector<XetFetchRange> merged;
    for (const auto& fr : ranges) {
      if (!merged.empty() && fr.chunk_start <= merged.back().chunk_end) {
        if (fr.chunk_end > merged.back().chunk_end) {
          merged.back().chunk_end = fr.chunk_end;
          merged.back().byte_last = fr.byte_last;
        }
        continue;
      }
      merged.push_back(fr);
    }
    r.fetch.insert(r.fetch.end(), merged.begin(), merged.end());
  }
  counters_.reconstructions++;
  return r;
}

// ---- global dedup ----------------------------------------------------------------------------

Result<std::optional<FileRecord>> XetCas::ReadableFileWithXorb(const xet::XetHash& xorb,
                                                                const FileFilter& readable) {
  MH_ASSIGN_OR_RETURN(auto shas, store_->meta()->FilesWithXorb(xorb.ToHex(), readable ? kDedupFileCandidates : 1));
  for (const auto& sha : shas) {
    auto rec = store_->meta()->GetFile(sha);
    if (!rec.ok()) {
      if (rec.status().IsNotFound()) continue;  // collected since
      return rec.status();
    }
    bool ok = true;
    if (readable) {
      MH_ASSIGN_OR_RETURN(ok, readable(*rec));
    }
    if (ok) return std::optional<FileRecord>(std::move(rec).value());
  }
  return std::optional<FileRecord>();
}

Result<bool> XetCas::XorbReadable(const xet::XetHash& hash, const FileFilter& readable) {
  if (!HasXorb(hash)) return false;
  if (!readable) return true;
  MH_ASSIGN_OR_RETURN(auto file, ReadableFileWithXorb(hash, readable));
  return file.has_value();
}

Result<std::string> XetCas::DedupShard(const xet::XetHash& chunk, const xet::XetHash& key, uint64_t expiry_s,
                                       const FileFilter& readable) {
  counters_.dedup_queries++;
  MH_ASSIGN_OR_RETURN(auto found, store_->meta()->FindChunks({chunk.ToHex()}));
  if (!found[0]) return Status::NotFound("chunk not known");
  MH_ASSIGN_OR_RETURN(xet::XetHash home, xet::XetHash::FromHex(found[0]->xorb_hash));
  // The xorbs of a file holding the chunk, starting a little before its xorb: a client re-uploading
  // that file (or a variant) finds the rest of it in the same answer. With a filter, only a file the
  // caller may read: the answer then names nothing it could not download itself.
  std::vector<xet::XetHash> order{home};
  MH_ASSIGN_OR_RETURN(auto rec, ReadableFileWithXorb(home, readable));
  if (!rec && readable) return Status::NotFound("chunk not known");
  if (rec) {
    auto terms = ParseTerms(rec->terms);
    if (terms.ok()) {
      std::vector<xet::XetHash> file_xorbs;
      std::unordered_set<xet::XetHash> seen;
      for (const auto& t : *terms) {
        if (seen.insert(t.xorb).second) file_xorbs.push_back(t.xorb);
      }
      auto at = std::find(file_xorbs.begin(), file_xorbs.end(), home);
      if (at != file_xorbs.end()) {
        size_t from = size_t(at - file_xorbs.begin());
        from = from >= 2 ? from - 2 : 0;
        order.assign(file_xorbs.begin() + long(from), file_xorbs.end());
      }
    }
  }
  xet::Shard shard;
  size_t chunks = 0;
  for (const auto& x : order) {
    auto footer = store_->LoadFooter(x);
    if (!footer.ok()) continue;  // being collected, or damaged: not offered for dedup
    const auto& f = **footer;
    if (!shard.xorbs.empty() && chunks + f.chunk_hashes.size() > kDedupChunkBudget) break;
    xet::XorbInfo info;
    info.xorb_hash = x;
    info.num_bytes_in_xorb = f.unpacked_ends.empty() ? 0 : f.unpacked_ends.back();
    info.num_bytes_on_disk = f.chunk_ends.empty() ? 0 : f.chunk_ends.back();
    info.chunks.reserve(f.chunk_hashes.size());
    for (size_t k = 0; k < f.chunk_hashes.size(); ++k) {
      uint32_t start = Before(f.unpacked_ends, uint32_t(k));
      info.chunks.push_back(
          xet::XorbChunkEntry{xet::KeyedHash(f.chunk_hashes[k], key), start, f.unpacked_ends[k] - start, 0});
    }
    chunks += info.chunks.size();
    shard.xorbs.push_back(std::move(info));
  }
  if (shard.xorbs.empty()) return Status::NotFound("chunk not available");
  xet::ShardWriteOptions opts;
  opts.full = true;
  opts.hmac_key = key;
  opts.creation_timestamp = uint64_t(NowMs() / 1000);
  opts.key_expiry = expiry_s;
  MH_ASSIGN_OR_RETURN(std::string bytes, xet::SerializeShard(shard, opts));
  counters_.dedup_hits++;
  return bytes;
}

// ---- serving xorb bytes ----------------------------------------------------------------------

namespace {

// Serialized bytes [first, last] of a xorb's records; each chunk the range touches is read whole,
// decompressed and hash-checked before any of its bytes is handed out.
class VerifiedXorbReader : public BlobReader {
 public:
  VerifiedXorbReader(ChunkStore* store, XetCasCounters* counters, xet::XetHash xorb,
                     std::shared_ptr<const xet::XorbFooter> footer, uint64_t first, uint64_t last)
      : store_(store), counters_(counters), xorb_(xorb), footer_(std::move(footer)), pos_(first), end_(last + 1) {
    const auto& ce = footer_->chunk_ends;
    next_chunk_ = uint32_t(std::upper_bound(ce.begin(), ce.end(), uint32_t(first)) - ce.begin());
  }

  Result<size_t> Read(char* buf, size_t n) override {
    if (pos_ >= end_) return size_t(0);
    if (block_pos_ >= block_.size()) MH_RETURN_IF_ERROR(NextBlock());
    size_t take = std::min<size_t>({n, block_.size() - block_pos_, size_t(end_ - pos_)});
    std::memcpy(buf, block_.data() + block_pos_, take);
    block_pos_ += take;
    pos_ += take;
    counters_->xorb_bytes_served += int64_t(take);
    return take;
  }
  int64_t remaining() const override { return int64_t(end_ - pos_); }

 private:
  Status NextBlock() {
    const auto& ce = footer_->chunk_ends;
    const auto& ue = footer_->unpacked_ends;
    uint32_t k = next_chunk_;
    if (k >= ce.size()) return Status::Internal("read past the records of xorb " + xorb_.ToHex());
    // Up to kServeBlockBytes of whole records per storage read.
    uint32_t from = Before(ce, k);
    uint32_t l = k + 1;
    while (l < ce.size() && ce[l] - from <= kServeBlockBytes && Before(ce, l) <= end_ - 1) ++l;
    uint32_t to = ce[l - 1];
    MH_ASSIGN_OR_RETURN(auto reader, store_->blobs()->Open(ChunkStore::XorbKey(xorb_), from, to - from));
    block_.resize(to - from);
    size_t got = 0;
    while (got < block_.size()) {
      MH_ASSIGN_OR_RETURN(size_t m, reader->Read(block_.data() + got, block_.size() - got));
      if (m == 0) return Status::Corruption("xorb " + xorb_.ToHex() + " is shorter than its footer says");
      got += m;
    }
    store_->counters().bytes_read += int64_t(block_.size());
    for (uint32_t c = k; c < l; ++c) {
      const char* h = block_.data() + (Before(ce, c) - from);
      uint32_t csize = xet::LoadU24(h + 1);
      uint8_t scheme = uint8_t(h[4]);
      uint32_t usize = xet::LoadU24(h + 5);
      if (h[0] != 0 || !xet::IsValidCompressionScheme(scheme) || csize + xet::kXorbChunkHeaderSize != ce[c] - Before(ce, c) ||
          usize != ue[c] - Before(ue, c)) {
        return Status::Corruption(fmt::format("xorb {} chunk {}: record header disagrees with the footer", xorb_.ToHex(), c));
      }
      scratch_.clear();
      Status s = xet::DecompressChunk(static_cast<xet::CompressionScheme>(scheme),
                                      std::string_view(h + xet::kXorbChunkHeaderSize, csize), usize, &scratch_);
      if (!s.ok() || xet::ChunkHash(scratch_.data(), scratch_.size()) != footer_->chunk_hashes[c]) {
        return Status::Corruption(fmt::format("xorb {} chunk {}: content does not match its hash", xorb_.ToHex(), c));
      }
    }
    block_pos_ = size_t(pos_ - from);
    next_chunk_ = l;
    return Status::Ok();
  }

  ChunkStore* store_;
  XetCasCounters* counters_;
  xet::XetHash xorb_;
  std::shared_ptr<const xet::XorbFooter> footer_;
  uint64_t pos_, end_;
  uint32_t next_chunk_ = 0;
  std::string block_;
  size_t block_pos_ = 0;
  std::string scratch_;
};

}  // namespace

Result<std::unique_ptr<BlobReader>> XetCas::OpenXorbBytes(const xet::XetHash& xorb, uint64_t first, uint64_t last) {
  MH_ASSIGN_OR_RETURN(auto footer, store_->LoadFooter(xorb));
  const uint64_t records = footer->chunk_ends.empty() ? 0 : footer->chunk_ends.back();
  if (first > last || last >= records) {
    return Status::RangeNotSatisfiable(fmt::format("xorb {} has {} bytes of records", xorb.ToHex(), records));
  }
  return std::unique_ptr<BlobReader>(std::make_unique<VerifiedXorbReader>(store_, &counters_, xorb, footer, first, last));
}

}  // namespace modelhub
