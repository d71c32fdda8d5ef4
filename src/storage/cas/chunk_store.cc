#include "storage/cas/chunk_store.h"

#include <algorithm>
#include <cstring>
#include <thread>
#include <deque>
#include <condition_variable>

#include <fmt/format.h>

#include "common/time_util.h"
#include "storage/cas/format/wire.h"

namespace modelhub {

namespace {

constexpr size_t kTermBytes = 44;
constexpr int64_t kReadBlockBytes = 8 << 20;  // serialized bytes fetched per storage read
// Xorbs the server builds are sealed at 16 MiB of raw chunks (Xet allows up to 64 MiB):
// an upload in flight holds at most one open xorb, so this bounds its memory.
constexpr uint64_t kIngestXorbBytes = 16 << 20;

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += char((v >> (8 * i)) & 0xff);
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(uint8_t(p[i])) << (8 * i);
  return v;
}

// Reads [offset, offset+length) of key into dst (length bytes); Corruption if the object is shorter.
Status ReadInto(BlobStore* blobs, const std::string& key, int64_t offset, int64_t length, char* dst) {
  MH_ASSIGN_OR_RETURN(auto reader, blobs->Open(key, offset, length));
  size_t got = 0;
  while (got < size_t(length)) {
    MH_ASSIGN_OR_RETURN(size_t n, reader->Read(dst + got, size_t(length) - got));
    if (n == 0) return Status::Corruption(fmt::format("{} is shorter than expected", key));
    got += n;
  }
  return Status::Ok();
}

Result<std::string> ReadRange(BlobStore* blobs, const std::string& key, int64_t offset, int64_t length) {
  std::string out;
  out.resize(size_t(length));
  MH_RETURN_IF_ERROR(ReadInto(blobs, key, offset, length, out.data()));
  return out;
}

}  // namespace

char* ReadBuffer::Resize(size_t n) {
  if (n > capacity_) {
    data_ = std::make_unique_for_overwrite<char[]>(n);
    capacity_ = n;
  }
  size_ = n;
  return data_.get();
}

bool IsSha256Hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string SerializeTerms(const std::vector<FileTerm>& terms) {
  std::string out;
  out.reserve(terms.size() * kTermBytes);
  for (const auto& t : terms) {
    out.append(t.xorb.view());
    PutU32(out, t.chunk_start);
    PutU32(out, t.chunk_end);
    PutU32(out, t.bytes);
  }
  return out;
}

Result<std::vector<FileTerm>> ParseTerms(std::string_view data) {
  if (data.size() % kTermBytes != 0) return Status::Corruption("file terms have a partial entry");
  std::vector<FileTerm> out;
  out.reserve(data.size() / kTermBytes);
  for (size_t i = 0; i < data.size(); i += kTermBytes) {
    FileTerm t;
    t.xorb = xet::XetHash::FromRaw(data.data() + i);
    t.chunk_start = GetU32(data.data() + i + 32);
    t.chunk_end = GetU32(data.data() + i + 36);
    t.bytes = GetU32(data.data() + i + 40);
    if (t.chunk_end <= t.chunk_start || t.bytes == 0) return Status::Corruption("file term with an empty range");
    out.push_back(t);
  }
  return out;
}

// ---- ChunkIngest -------------------------------------------------------------

ChunkIngest::ChunkIngest(ChunkStore* store, std::string oid, int64_t size)
    : store_(store), oid_(std::move(oid)), size_(size), writer_(std::make_unique<xet::XorbWriter>()) {
  slots_.push_back(std::nullopt);
  open_slot_ = 0;
}

Status ChunkIngest::Write(const char* data, size_t n) {
  if (failed_) return Status::Internal("write after a failed write");
  if (received_ + int64_t(n) > size_) {
    failed_ = true;
    return Status::TooLarge(fmt::format("received more than the declared size of {} bytes", size_));
  }
  sha_.Update(data, n);
  received_ += int64_t(n);
  size_t pos = 0;
  while (pos < n) {
    auto cut = chunker_.NextCut(data + pos, n - pos);
    size_t take = cut ? *cut : n - pos;
    batch_bytes_.append(data + pos, take);
    pos += take;
    if (cut) {
      Status s = AddChunk();
      if (!s.ok()) {
        failed_ = true;
        return s;
      }
    }
  }
  return Status::Ok();
}

size_t ChunkIngest::SlotFor(const xet::XetHash& xorb) {
  auto it = slot_of_.find(xorb);
  if (it != slot_of_.end()) return it->second;
  slots_.push_back(xorb);
  slot_of_[xorb] = slots_.size() - 1;
  return slots_.size() - 1;
}

void ChunkIngest::AppendTerm(size_t slot, uint32_t index, uint32_t bytes) {
  if (!terms_.empty() && terms_.back().slot == slot && terms_.back().end == index) {
    terms_.back().end = index + 1;
    terms_.back().bytes += bytes;
    return;
  }
  terms_.push_back(DraftTerm{slot, index, index + 1, bytes});
}

Status ChunkIngest::AddChunk() {
  const size_t size = batch_bytes_.size() - open_chunk_at_;
  xet::XetHash hash = xet::ChunkHash(batch_bytes_.data() + open_chunk_at_, size);
  file_hash_.Add(xet::MerkleNode{hash, size});
  batch_.push_back(CutChunk{hash, open_chunk_at_, uint32_t(size)});
  open_chunk_at_ = batch_bytes_.size();
  return batch_.size() >= kLookupBatch ? PlaceBatch() : Status::Ok();
}

Status ChunkIngest::PlaceBatch() {
  if (batch_.empty()) return Status::Ok();
  // Where each chunk of the batch already is in this file's xorbs (slot, index). Seeded with the
  // open xorb's chunks; filled as chunks are appended. A slot keeps its number when its xorb is
  // sealed, so these stay valid across a seal in the middle of the batch.
  std::unordered_map<xet::XetHash, std::pair<size_t, uint32_t>> placed;
  std::unordered_map<xet::XetHash, size_t> asked;  // chunk -> its position in the lookup
  std::vector<std::string> lookup;
  for (const CutChunk& c : batch_) {
    if (auto local = open_chunks_.find(c.hash); local != open_chunks_.end()) {
      placed.emplace(c.hash, std::pair(open_slot_, local->second));
    } else if (asked.emplace(c.hash, lookup.size()).second) {
      lookup.push_back(c.hash.ToHex());
    }
  }
  std::vector<std::optional<ChunkLocation>> found;
  if (!lookup.empty()) {
    MH_ASSIGN_OR_RETURN(found, store_->meta_->FindChunks(lookup));
  }
  if (found.size() != lookup.size()) return Status::Internal("chunk index answered a different number of chunks");
  for (const CutChunk& c : batch_) {
    const uint32_t size = c.size;
    if (auto p = placed.find(c.hash); p != placed.end()) {
      AppendTerm(p->second.first, p->second.second, size);
      continue;
    }
    if (auto q = asked.find(c.hash); q != asked.end() && found[q->second]) {
      auto xorb = xet::XetHash::FromHex(found[q->second]->xorb_hash);
      if (xorb.ok()) {
        size_t slot = SlotFor(*xorb);
        uint32_t index = uint32_t(found[q->second]->chunk_index);
        placed.emplace(c.hash, std::pair(slot, index));
        AppendTerm(slot, index, size);
        continue;
      }
    }
    if (!writer_->HasRoomFor(size) || writer_->raw_bytes() + size > kIngestXorbBytes) MH_RETURN_IF_ERROR(Seal());
    uint32_t index = uint32_t(writer_->num_chunks());
    MH_RETURN_IF_ERROR(writer_->Append(std::string_view(batch_bytes_).substr(c.offset, c.size), c.hash));
    store_->counters_.new_chunk_bytes += size;
    open_chunks_[c.hash] = index;
    placed.emplace(c.hash, std::pair(open_slot_, index));
    AppendTerm(open_slot_, index, size);
  }
  batch_.clear();
  batch_bytes_.erase(0, open_chunk_at_);  // called right after a cut: nothing is left to move
  open_chunk_at_ = 0;
  return Status::Ok();
}

Status ChunkIngest::Seal() {
  if (writer_->num_chunks() == 0) return Status::Ok();
  std::vector<xet::MerkleNode> nodes = writer_->ChunkHashesAndSizes();
  xet::XetHash hash = xet::XorbHash(nodes);
  std::string key = ChunkStore::XorbKey(hash);
  // Records and footer are written separately: no second copy of the xorb in memory.
  const std::string& records = writer_->records();
  std::string footer = xet::SerializeXorbFooter(xet::MakeXorbFooter(writer_->layout(), writer_->chunk_hashes(), hash));
  int64_t stored = int64_t(records.size() + footer.size());
  auto write = [&]() -> Status {
    MH_ASSIGN_OR_RETURN(auto w, store_->blobs_->NewWriter(key));
    MH_RETURN_IF_ERROR(w->Write(records.data(), records.size()));
    MH_RETURN_IF_ERROR(w->Write(footer.data(), footer.size()));
    MH_RETURN_IF_ERROR(w->Commit());
    store_->counters_.xorb_bytes_written += stored;
    return Status::Ok();
  };
  if (!store_->blobs_->Size(key).ok()) MH_RETURN_IF_ERROR(write());
  std::vector<std::string> chunk_hex;
  chunk_hex.reserve(writer_->chunk_hashes().size());
  for (const auto& h : writer_->chunk_hashes()) chunk_hex.push_back(h.ToHex());
  XorbRecord rec{hash.ToHex(), stored, int64_t(writer_->raw_bytes()), int64_t(writer_->num_chunks()),
                 NowMs()};
  // Unavailable (retryable) while a GC is deleting a xorb with the same content.
  MH_RETURN_IF_ERROR(store_->meta_->PutXorb(rec, chunk_hex));
  // A GC that finished deleting an identical xorb just before PutXorb may have removed the
  // object we found (or wrote) above; once the row is recorded no GC removes it while it is
  // younger than the grace period, so writing it again now makes the pair consistent.
  if (!store_->blobs_->Size(key).ok()) MH_RETURN_IF_ERROR(write());
  slots_[open_slot_] = hash;
  slot_of_.emplace(hash, open_slot_);
  // The sealed chunks are in the index now; later repeats find them there.
  open_chunks_.clear();
  writer_ = std::make_unique<xet::XorbWriter>();
  slots_.push_back(std::nullopt);
  open_slot_ = slots_.size() - 1;
  return Status::Ok();
}

Status ChunkIngest::Finish() {
  if (failed_) return Status::Internal("finish after a failed write");
  failed_ = true;  // whatever happens next, this object is done
  if (received_ != size_) {
    return Status::InvalidArgument(
        fmt::format("size mismatch: declared {} bytes, received {} bytes", size_, received_));
  }
  std::string got = sha_.FinalHex();
  if (got != oid_) {
    return Status::InvalidArgument(fmt::format("sha256 mismatch: declared {}, content hashes to {}", oid_, got));
  }
  if (chunker_.Finish() && batch_bytes_.size() > open_chunk_at_) MH_RETURN_IF_ERROR(AddChunk());
  MH_RETURN_IF_ERROR(PlaceBatch());
  MH_RETURN_IF_ERROR(Seal());
  std::vector<FileTerm> terms;
  terms.reserve(terms_.size());
  for (const auto& d : terms_) {
    if (!slots_[d.slot]) return Status::Internal("unsealed xorb referenced by a term");
    terms.push_back(FileTerm{*slots_[d.slot], d.start, d.end, d.bytes});
  }
  // The file is recorded only if every xorb it names is still recorded, in the same transaction:
  // a GC may have removed one that only a deleted repo used between our dedup lookup and now
  // (Unavailable, retryable). See docs/gc-fsck.md.
  std::vector<std::string> xorbs;
  for (const auto& slot : slots_) {
    if (slot) xorbs.push_back(slot->ToHex());
  }
  xet::XetHash file_hash = file_hash_.FileHash();
  MH_RETURN_IF_ERROR(store_->meta_->PutFileChecked(
      FileRecord{oid_, file_hash.ToHex(), size_, SerializeTerms(terms), NowMs()}, xorbs));
  store_->counters_.ingested_bytes += size_;
  return Status::Ok();
}

// ---- reader ------------------------------------------------------------------

namespace {

// Decoding (read, decompress, hash-check) runs ahead on a helper thread for
// long reads, so it overlaps with sending: on a download the two halves of the
// work use two cores. Blocks (their buffers) are recycled between the two
// threads, and the bytes are handed out as views of the checked buffers
// (ReadView), so a byte is copied only by the storage read and the socket send.
class ReconstructionReader : public BlobReader {
 public:
  ReconstructionReader(ChunkStore* store, std::vector<FileTerm> terms, int64_t offset, int64_t length)
      : store_(store), terms_(std::move(terms)), offset_(offset), remaining_(length) {
    int64_t pos = 0;
    for (const auto& t : terms_) {
      starts_.push_back(pos);
      pos += t.bytes;
    }
  }
  ~ReconstructionReader() override {
    if (producer_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
      }
      cv_.notify_all();
      producer_.join();
    }
  }

  Result<size_t> Read(char* buf, size_t n) override {
    MH_ASSIGN_OR_RETURN(std::string_view v, ReadView(n));
    if (!v.empty()) std::memcpy(buf, v.data(), v.size());  // an empty view may have no data pointer
    return v.size();
  }
  bool HasViews() const override { return true; }
  Result<std::string_view> ReadView(size_t n) override {
    if (remaining_ <= 0 || n == 0) return std::string_view();
    if (!cur_ || piece_ >= cur_->run.pieces.size()) MH_RETURN_IF_ERROR(NextBlock());
    std::string_view p = cur_->run.piece(piece_).substr(in_piece_);
    size_t take = size_t(std::min<int64_t>({int64_t(n), int64_t(p.size()), remaining_}));
    in_piece_ += take;
    if (in_piece_ == cur_->run.pieces[piece_].size) {
      ++piece_;
      in_piece_ = 0;
    }
    offset_ += int64_t(take);
    remaining_ -= int64_t(take);
    store_->counters().bytes_served += int64_t(take);
    return p.substr(0, take);
  }
  int64_t remaining() const override { return remaining_; }

 private:
  struct Block {
    Status status;
    DecodedRun run;
    int64_t skip = 0;  // bytes before the wanted offset in run
  };

  // Makes cur_ the block holding offset_ and positions piece_/in_piece_ on it.
  Status NextBlock() {
    std::unique_ptr<Block> b;
    if (!producer_.joinable() && remaining_ <= kPrefetchMin) {
      // Short reads: decode inline, no thread. (Once the helper runs, it produces to the end.)
      b = cur_ ? std::move(cur_) : std::make_unique<Block>();
      Decode(offset_, remaining_, b.get());
    } else {
      if (!producer_.joinable()) {
        prod_offset_ = offset_;
        prod_remaining_ = remaining_;
        producer_ = std::thread([this] { Produce(); });
      }
      std::unique_lock<std::mutex> lock(mu_);
      if (cur_) free_.push_back(std::move(cur_));
      cv_.wait(lock, [this] { return !queue_.empty(); });
      b = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      cv_.notify_all();
    }
    cur_ = std::move(b);
    piece_ = 0;
    in_piece_ = 0;
    MH_RETURN_IF_ERROR(cur_->status);
    int64_t skip = cur_->skip;
    while (piece_ < cur_->run.pieces.size() && skip >= int64_t(cur_->run.pieces[piece_].size)) {
      skip -= int64_t(cur_->run.pieces[piece_].size);
      ++piece_;
    }
    if (piece_ >= cur_->run.pieces.size()) return Status::Corruption("decoded fewer bytes than the footer says");
    in_piece_ = size_t(skip);
    return Status::Ok();
  }

  void Produce() {
    while (prod_remaining_ > 0) {
      std::unique_ptr<Block> b;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!free_.empty()) {
          b = std::move(free_.back());
          free_.pop_back();
        }
      }
      if (!b) b = std::make_unique<Block>();
      Decode(prod_offset_, prod_remaining_, b.get());
      bool failed = !b->status.ok();
      int64_t usable = failed ? 0 : std::min<int64_t>(b->run.size - b->skip, prod_remaining_);
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return queue_.size() < kQueueDepth || stop_; });
        if (stop_) return;
        queue_.push_back(std::move(b));
      }
      cv_.notify_all();
      if (failed || usable <= 0) return;
      prod_offset_ += usable;
      prod_remaining_ -= usable;
    }
  }

  // Decodes into *b the chunks holding `offset` (up to kReadBlockBytes of storage, and no
  // further than offset + remaining needs).
  void Decode(int64_t offset, int64_t remaining, Block* b) {
    b->status = Status::Ok();
    b->skip = 0;
    b->run.pieces.clear();
    b->run.size = 0;
    auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
    if (it == starts_.begin()) {
      b->status = Status::Internal("offset before the first term");
      return;
    }
    size_t ti = size_t(it - starts_.begin()) - 1;
    const FileTerm& t = terms_[ti];
    int64_t in_term = offset - starts_[ti];
    auto footer = store_->LoadFooter(t.xorb);
    if (!footer.ok()) {
      b->status = footer.status();
      return;
    }
    const auto& ue = (*footer)->unpacked_ends;
    const auto& ce = (*footer)->chunk_ends;
    if (t.chunk_end > ue.size()) {
      b->status = Status::Corruption("file term beyond the end of xorb " + t.xorb.ToHex());
      return;
    }
    uint32_t base = t.chunk_start == 0 ? 0 : ue[t.chunk_start - 1];
    uint64_t want = uint64_t(base) + uint64_t(in_term);
    // First chunk whose unpacked end is past `want`.
    uint32_t k = uint32_t(std::upper_bound(ue.begin() + t.chunk_start, ue.begin() + t.chunk_end, want) - ue.begin());
    if (k >= t.chunk_end) {
      b->status = Status::Corruption("file term sizes disagree with xorb " + t.xorb.ToHex());
      return;
    }
    // Extend while the storage read stays within the block budget and bytes are still wanted.
    uint32_t end = k + 1;
    uint32_t first_off = k == 0 ? 0 : ce[k - 1];
    int64_t need_end = int64_t(want) + remaining;
    while (end < t.chunk_end && int64_t(ce[end] - first_off) <= kReadBlockBytes && int64_t(ue[end - 1]) < need_end) {
      ++end;
    }
    b->status = store_->DecodeChunks(t.xorb, k, end, &b->run);
    if (!b->status.ok()) return;
    store_->counters().bytes_read += b->run.stored_bytes;
    uint32_t chunk_base = k == 0 ? 0 : ue[k - 1];
    b->skip = int64_t(want - chunk_base);
    if (b->skip >= b->run.size) b->status = Status::Corruption("decoded fewer bytes than the footer says");
  }

  static constexpr int64_t kPrefetchMin = 16 << 20;
  static constexpr size_t kQueueDepth = 2;

  ChunkStore* store_;
  std::vector<FileTerm> terms_;
  std::vector<int64_t> starts_;
  int64_t offset_;
  int64_t remaining_;
  std::unique_ptr<Block> cur_;  // the block being handed out (consumer side)
  size_t piece_ = 0;            // position in cur_
  size_t in_piece_ = 0;

  // Producer state: touched only by the producer thread once it runs.
  int64_t prod_offset_ = 0;
  int64_t prod_remaining_ = 0;
  std::thread producer_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Block>> queue_;  // decoded, waiting to be sent; guarded by mu_
  std::vector<std::unique_ptr<Block>> free_;  // sent, buffers to reuse; guarded by mu_
  bool stop_ = false;                         // guarded by mu_
};

}  // namespace

// ---- ChunkStore --------------------------------------------------------------

ChunkStore::ChunkStore(BlobStore* blobs, MetadataStore* meta) : blobs_(blobs), meta_(meta) {}

std::string ChunkStore::XorbKey(const xet::XetHash& hash) {
  std::string hex = hash.ToHex();
  return "xorbs/" + hex.substr(0, 2) + "/" + hex;
}

std::string ChunkStore::PartKey(const std::string& session_id, int64_t part_number) {
  return fmt::format("uploads/{}/{}", session_id, part_number);
}

Result<std::unique_ptr<ChunkIngest>> ChunkStore::BeginIngest(const std::string& oid, int64_t size) {
  if (!IsSha256Hex(oid)) return Status::InvalidArgument("oid must be 64 lowercase hex characters");
  if (size < 0) return Status::InvalidArgument("size must be >= 0");
  return std::make_unique<ChunkIngest>(this, oid, size);
}

Result<int64_t> ChunkStore::Size(const std::string& oid) {
  if (!IsSha256Hex(oid)) return Status::InvalidArgument("oid must be 64 lowercase hex characters");
  MH_ASSIGN_OR_RETURN(FileRecord f, meta_->GetFile(oid));
  return f.size;
}

Result<std::unique_ptr<BlobReader>> ChunkStore::Open(const std::string& oid, int64_t offset, int64_t length) {
  if (!IsSha256Hex(oid)) return Status::InvalidArgument("oid must be 64 lowercase hex characters");
  MH_ASSIGN_OR_RETURN(FileRecord f, meta_->GetFile(oid));
  if (offset < 0 || offset > f.size) return Status::InvalidArgument("offset beyond the end of the file");
  MH_ASSIGN_OR_RETURN(std::vector<FileTerm> terms, ParseTerms(f.terms));
  int64_t total = 0;
  for (const auto& t : terms) total += t.bytes;
  if (total != f.size) return Status::Corruption(fmt::format("terms of {} add up to {} bytes, not {}", oid, total, f.size));
  return OpenTerms(std::move(terms), offset, length);
}

Result<std::unique_ptr<BlobReader>> ChunkStore::OpenTerms(std::vector<FileTerm> terms, int64_t offset, int64_t length) {
  int64_t total = 0;
  for (const auto& t : terms) total += t.bytes;
  if (offset < 0 || offset > total) return Status::InvalidArgument("offset beyond the end of the file");
  int64_t n = length < 0 ? total - offset : std::min(length, total - offset);
  return std::unique_ptr<BlobReader>(std::make_unique<ReconstructionReader>(this, std::move(terms), offset, n));
}

Result<std::shared_ptr<const xet::XorbFooter>> ChunkStore::LoadFooter(const xet::XetHash& xorb) {
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(xorb);
    if (it != cache_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.pos);
      return it->second.footer;
    }
  }
  std::string key = XorbKey(xorb);
  auto size = blobs_->Size(key);
  if (!size.ok()) {
    if (size.status().IsNotFound()) return Status::Corruption("xorb " + xorb.ToHex() + " is missing from storage");
    return size.status();
  }
  if (*size < 4) return Status::Corruption("xorb " + xorb.ToHex() + " is truncated");
  MH_ASSIGN_OR_RETURN(std::string tail, ReadRange(blobs_, key, *size - 4, 4));
  uint32_t info_length = GetU32(tail.data());
  if (int64_t(info_length) + 4 > *size) return Status::Corruption("xorb " + xorb.ToHex() + " has a bad footer length");
  MH_ASSIGN_OR_RETURN(std::string footer_bytes, ReadRange(blobs_, key, *size - 4 - info_length, info_length + 4));
  auto parsed = xet::ParseXorbFooterV1(footer_bytes);
  if (!parsed.ok()) return Status::Corruption("xorb " + xorb.ToHex() + ": " + parsed.status().message());
  if (parsed->xorb_hash != xorb) return Status::Corruption("xorb " + xorb.ToHex() + " footer names another hash");
  auto footer = std::make_shared<const xet::XorbFooter>(std::move(parsed).value());
  size_t bytes = footer->chunk_hashes.size() * 40 + 128;
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (cache_.find(xorb) == cache_.end()) {
    lru_.push_front(xorb);
    cache_[xorb] = CacheEntry{footer, lru_.begin(), bytes};
    cache_bytes_ += bytes;
    while (cache_bytes_ > kCacheBudget && !lru_.empty()) {
      auto victim = cache_.find(lru_.back());
      cache_bytes_ -= victim->second.bytes;
      cache_.erase(victim);
      lru_.pop_back();
    }
  }
  return footer;
}

Status ChunkStore::DecodeChunks(const xet::XetHash& xorb, uint32_t begin, uint32_t end, DecodedRun* run) {
  run->pieces.clear();
  run->decoded.clear();
  run->stored_bytes = 0;
  run->size = 0;
  MH_ASSIGN_OR_RETURN(auto footer, LoadFooter(xorb));
  if (begin >= end || end > footer->chunk_ends.size()) {
    return Status::Corruption(fmt::format("chunk range [{}, {}) outside xorb {}", begin, end, xorb.ToHex()));
  }
  uint32_t from = begin == 0 ? 0 : footer->chunk_ends[begin - 1];
  uint32_t to = footer->chunk_ends[end - 1];
  if (to < from) return Status::Corruption(fmt::format("xorb {}: chunk ends go backwards", xorb.ToHex()));
  const size_t stored = to - from;
  char* records = run->raw.Resize(stored);
  MH_RETURN_IF_ERROR(ReadInto(blobs_, XorbKey(xorb), from, int64_t(stored), records));
  run->stored_bytes = int64_t(stored);
  auto fail = [&](uint32_t k, std::string_view what) {
    run->pieces.clear();
    run->decoded.clear();
    run->size = 0;
    return Status::Corruption(fmt::format("xorb {} chunk {}: {}", xorb.ToHex(), k, what));
  };
  size_t pos = 0;
  for (uint32_t k = begin; k < end; ++k) {
    uint32_t rec_end = footer->chunk_ends[k] - from;
    if (rec_end > stored || rec_end < pos || rec_end - pos < xet::kXorbChunkHeaderSize) {
      return fail(k, "record out of bounds");
    }
    const char* h = records + pos;
    uint32_t csize = uint32_t(uint8_t(h[1])) | uint32_t(uint8_t(h[2])) << 8 | uint32_t(uint8_t(h[3])) << 16;
    uint8_t scheme = uint8_t(h[4]);
    uint32_t usize = uint32_t(uint8_t(h[5])) | uint32_t(uint8_t(h[6])) << 8 | uint32_t(uint8_t(h[7])) << 16;
    uint32_t expect_usize = footer->unpacked_ends[k] - (k == 0 ? 0 : footer->unpacked_ends[k - 1]);
    if (h[0] != 0 || !xet::IsValidCompressionScheme(scheme) || csize != rec_end - pos - xet::kXorbChunkHeaderSize ||
        usize != expect_usize) {
      return fail(k, "record header disagrees with the footer");
    }
    const size_t payload = pos + xet::kXorbChunkHeaderSize;
    DecodedRun::Piece piece{true, payload, usize};
    if (static_cast<xet::CompressionScheme>(scheme) == xet::CompressionScheme::kNone) {
      // Stored as is: checked and served where it was read, no copy.
      if (csize != usize) return fail(k, "uncompressed record size differs from the chunk size");
    } else {
      const size_t before = run->decoded.size();
      Status s = xet::DecompressChunk(static_cast<xet::CompressionScheme>(scheme), std::string_view(records + payload, csize),
                                      usize, &run->decoded);
      if (!s.ok()) return fail(k, s.message());
      if (run->decoded.size() - before != usize) return fail(k, "decompressed to the wrong size");
      piece = DecodedRun::Piece{false, before, usize};
    }
    run->pieces.push_back(piece);
    // The hash is checked on the bytes that will be served, after they reached their final buffer:
    // a damaged chunk never reaches the caller.
    if (xet::ChunkHash(run->piece(run->pieces.size() - 1)) != footer->chunk_hashes[k]) {
      return fail(k, "content does not match its hash");
    }
    run->size += usize;
    pos = rec_end;
  }
  return Status::Ok();
}

Result<int64_t> ChunkStore::ReadChunks(const xet::XetHash& xorb, uint32_t begin, uint32_t end, std::string* out) {
  DecodedRun run;
  MH_RETURN_IF_ERROR(DecodeChunks(xorb, begin, end, &run));
  out->reserve(out->size() + size_t(run.size));
  for (size_t i = 0; i < run.pieces.size(); ++i) out->append(run.piece(i));
  return run.stored_bytes;
}

Status ChunkStore::VerifyStoredXorb(const xet::XetHash& xorb) {
  std::string key = XorbKey(xorb);
  auto size = blobs_->Size(key);
  if (!size.ok()) return size.status().IsNotFound() ? Status::Corruption("xorb is missing from storage") : size.status();
  MH_ASSIGN_OR_RETURN(std::string body, ReadRange(blobs_, key, 0, *size));
  auto v = xet::VerifyXorb(body, xet::XetXorbHashers(), &xorb);
  if (!v.ok()) return Status::Corruption(v.status().message());
  if (!v->layout.footer) return Status::Corruption("stored xorb has no footer");
  return Status::Ok();
}

Result<std::unique_ptr<BlobWriter>> ChunkStore::NewPartWriter(const std::string& session_id, int64_t part_number) {
  return blobs_->NewWriter(PartKey(session_id, part_number));
}

Result<int64_t> ChunkStore::PartSize(const std::string& session_id, int64_t part_number) {
  return blobs_->Size(PartKey(session_id, part_number));
}

Status ChunkStore::CompleteMultipart(const std::string& session_id, int64_t part_count, const std::string& oid,
                                     int64_t size) {
  MH_ASSIGN_OR_RETURN(auto ingest, BeginIngest(oid, size));
  std::vector<char> buf(1 << 20);
  for (int64_t p = 1; p <= part_count; ++p) {
    auto reader = blobs_->Open(PartKey(session_id, p));
    if (!reader.ok()) {
      if (reader.status().IsNotFound()) return Status::InvalidArgument(fmt::format("part {} was never uploaded", p));
      return reader.status();
    }
    while (true) {
      MH_ASSIGN_OR_RETURN(size_t n, (*reader)->Read(buf.data(), buf.size()));
      if (n == 0) break;
      MH_RETURN_IF_ERROR(ingest->Write(buf.data(), n));
    }
  }
  MH_RETURN_IF_ERROR(ingest->Finish());
  return DropParts(session_id, part_count);
}

Status ChunkStore::DropParts(const std::string& session_id, int64_t part_count) {
  for (int64_t p = 1; p <= part_count; ++p) MH_RETURN_IF_ERROR(blobs_->Delete(PartKey(session_id, p)));
  return Status::Ok();
}

}  // namespace modelhub
