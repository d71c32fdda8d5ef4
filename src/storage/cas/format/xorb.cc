#include "storage/cas/format/xorb.h"

#include <cstring>
#include <utility>

#include <fmt/format.h>

namespace modelhub::xet {
namespace {

constexpr char kIdent[] = "XETBLOB";
constexpr char kIdentHashes[] = "XBLBHSH";
constexpr char kIdentBoundaries[] = "XBLBBND";
constexpr size_t kIdentLen = 7;

bool IdentAt(const char* p, const char* ident) { return std::memcmp(p, ident, kIdentLen) == 0; }

Status Bad(const std::string& msg) { return Status::InvalidArgument("invalid xorb: " + msg); }

// Parses the footer that starts at body[layout.records_size] and checks it against the records.
Status ParseFooter(std::string_view body, XorbLayout* layout) {
  const size_t base = layout->records_size;
  WireReader r(body.substr(base));
  const size_t n = layout->chunks.size();
  XorbFooter f;
  auto truncated = [&](const char* what) {
    return Bad(fmt::format("footer truncated in {} (footer starts at byte {}, {} bytes long)", what, base,
                           body.size() - base));
  };
  auto count_matches = [&](uint32_t declared, const char* where) -> Status {
    if (declared != n) {
      return Bad(fmt::format("footer {} says {} chunks, the body has {} records", where, declared, n));
    }
    return Status::Ok();
  };
  uint32_t u = 0;
  if (!r.Skip(kIdentLen) || !r.ReadU8(&f.version)) return truncated("header");
  if (f.version != 0 && f.version != 1) return Bad(fmt::format("unknown footer version {}", f.version));
  if (!r.ReadHash(&f.xorb_hash)) return truncated("xorb hash");

  f.chunk_ends.resize(n);
  f.chunk_hashes.resize(n);
  if (f.version == 1) {
    uint8_t v = 0;
    if (!r.Has(kIdentLen)) return truncated("hash section");
    if (!IdentAt(r.cur(), kIdentHashes)) return Bad("footer hash section ident is not XBLBHSH");
    r.Skip(kIdentLen);
    if (!r.ReadU8(&v)) return truncated("hash section");
    if (v != 0) return Bad(fmt::format("unknown footer hash section version {}", v));
    if (!r.ReadU32(&u)) return truncated("hash section");
    MH_RETURN_IF_ERROR(count_matches(u, "hash section"));
    for (auto& h : f.chunk_hashes)
      if (!r.ReadHash(&h)) return truncated("chunk hashes");

    if (!r.Has(kIdentLen)) return truncated("boundary section");
    if (!IdentAt(r.cur(), kIdentBoundaries)) return Bad("footer boundary section ident is not XBLBBND");
    r.Skip(kIdentLen);
    if (!r.ReadU8(&v)) return truncated("boundary section");
    if (v != 1) return Bad(fmt::format("unknown footer boundary section version {}", v));
    if (!r.ReadU32(&u)) return truncated("boundary section");
    MH_RETURN_IF_ERROR(count_matches(u, "boundary section"));
    for (auto& e : f.chunk_ends)
      if (!r.ReadU32(&e)) return truncated("chunk boundaries");
    f.unpacked_ends.resize(n);
    for (auto& e : f.unpacked_ends)
      if (!r.ReadU32(&e)) return truncated("unpacked offsets");

    uint32_t hashes_off = 0, bounds_off = 0;
    if (!r.ReadU32(&u) || !r.ReadU32(&hashes_off) || !r.ReadU32(&bounds_off)) return truncated("trailer");
    MH_RETURN_IF_ERROR(count_matches(u, "trailer"));
    if (hashes_off != 52 + 40 * uint64_t(n) || bounds_off != 40 + 8 * uint64_t(n)) {
      return Bad(fmt::format("footer section offsets {}/{} are not {}/{} for {} chunks", hashes_off, bounds_off,
                             52 + 40 * n, 40 + 8 * n, n));
    }
  } else {
    if (!r.ReadU32(&u)) return truncated("chunk count");
    MH_RETURN_IF_ERROR(count_matches(u, "chunk count"));
    for (auto& e : f.chunk_ends)
      if (!r.ReadU32(&e)) return truncated("chunk boundaries");
    for (auto& h : f.chunk_hashes)
      if (!r.ReadHash(&h)) return truncated("chunk hashes");
  }
  if (!r.Has(f.buffer.size())) return truncated("buffer");
  std::memcpy(f.buffer.data(), r.cur(), f.buffer.size());
  r.Skip(f.buffer.size());
  uint32_t info_length = 0;
  if (!r.ReadU32(&info_length)) return truncated("info_length");
  const uint64_t want = f.version == 1 ? XorbFooterV1InfoLength(n) : XorbFooterV0InfoLength(n);
  if (info_length != want) {
    return Bad(fmt::format("footer info_length is {}, expected {} for {} chunks", info_length, want, n));
  }
  if (r.remaining() != 0) {
    return Bad(fmt::format("{} bytes of trailing garbage after the footer", r.remaining()));
  }
  for (size_t i = 0; i < n; ++i) {
    const XorbChunkRecord& c = layout->chunks[i];
    if (f.chunk_ends[i] != c.end()) {
      return Bad(fmt::format("footer boundary of chunk {} is {}, the record ends at {}", i, f.chunk_ends[i], c.end()));
    }
    if (f.version == 1 && f.unpacked_ends[i] != c.unpacked_end()) {
      return Bad(fmt::format("footer unpacked offset of chunk {} is {}, the records give {}", i, f.unpacked_ends[i],
                             c.unpacked_end()));
    }
  }
  layout->footer = std::move(f);
  return Status::Ok();
}

}  // namespace

Result<XorbLayout> ParseXorb(std::string_view body) {
  if (body.empty()) return Bad("empty body");
  if (body.size() > kMaxXorbSerializedBytes) {
    return Bad(fmt::format("{} bytes is more than the limit of {}", body.size(), kMaxXorbSerializedBytes));
  }
  XorbLayout layout;
  WireReader r(body);
  while (r.remaining() > 0) {
    if (r.Has(kIdentLen) && IdentAt(r.cur(), kIdent)) break;  // the footer
    const size_t idx = layout.chunks.size();
    const size_t pos = r.pos();
    if (idx == kMaxXorbChunks) return Bad(fmt::format("more than {} chunks (byte {})", kMaxXorbChunks, pos));
    uint8_t version = 0, scheme = 0;
    XorbChunkRecord c;
    c.offset = static_cast<uint32_t>(pos);
    if (!r.Has(kXorbChunkHeaderSize)) {
      return Bad(fmt::format("truncated header of chunk {} at byte {} ({} bytes left)", idx, pos, r.remaining()));
    }
    r.ReadU8(&version);
    r.ReadU24(&c.compressed_size);
    r.ReadU8(&scheme);
    r.ReadU24(&c.unpacked_size);
    if (version != 0) return Bad(fmt::format("chunk {} at byte {}: header version {}", idx, pos, version));
    if (!IsValidCompressionScheme(scheme)) {
      return Bad(fmt::format("chunk {} at byte {}: unknown compression scheme {}", idx, pos, scheme));
    }
    c.scheme = static_cast<CompressionScheme>(scheme);
    if (c.unpacked_size == 0 || c.unpacked_size > kMaxChunkBytes) {
      return Bad(fmt::format("chunk {} at byte {}: uncompressed size {} is not in 1..{}", idx, pos, c.unpacked_size,
                             kMaxChunkBytes));
    }
    if (c.compressed_size > kMaxCompressedChunkBytes) {
      return Bad(fmt::format("chunk {} at byte {}: compressed size {} is more than {}", idx, pos, c.compressed_size,
                             kMaxCompressedChunkBytes));
    }
    if (c.scheme == CompressionScheme::kNone && c.compressed_size != c.unpacked_size) {
      return Bad(fmt::format("chunk {} at byte {}: uncompressed record with sizes {} != {}", idx, pos,
                             c.compressed_size, c.unpacked_size));
    }
    if (!r.Skip(c.compressed_size)) {
      return Bad(fmt::format("chunk {} at byte {}: payload of {} bytes truncated ({} bytes left)", idx, pos,
                             c.compressed_size, r.remaining()));
    }
    c.unpacked_offset = static_cast<uint32_t>(layout.unpacked_size);
    layout.unpacked_size += c.unpacked_size;
    if (layout.unpacked_size > kMaxXorbRawBytes) {
      return Bad(fmt::format("more than {} raw bytes (chunk {})", kMaxXorbRawBytes, idx));
    }
    if (r.pos() > kMaxXorbRecordBytes) {
      return Bad(fmt::format("records exceed {} bytes (chunk {})", kMaxXorbRecordBytes, idx));
    }
    layout.chunks.push_back(c);
  }
  if (layout.chunks.empty()) return Bad("no chunk records");
  layout.records_size = static_cast<uint32_t>(r.pos());
  if (r.remaining() > 0) MH_RETURN_IF_ERROR(ParseFooter(body, &layout));
  return layout;
}

Result<XorbFooter> ParseXorbFooterV1(std::string_view footer) {
  WireReader r(footer);
  XorbFooter f;
  auto truncated = [&](const char* what) { return Bad(fmt::format("stored footer truncated in {}", what)); };
  if (!r.Has(kIdentLen) || !IdentAt(r.cur(), kIdent)) return Bad("stored footer does not start with XETBLOB");
  r.Skip(kIdentLen);
  if (!r.ReadU8(&f.version)) return truncated("header");
  if (f.version != 1) return Bad(fmt::format("stored footer version {} is not 1", f.version));
  if (!r.ReadHash(&f.xorb_hash)) return truncated("xorb hash");
  uint8_t v = 0;
  uint32_t n = 0, u = 0;
  if (!r.Has(kIdentLen) || !IdentAt(r.cur(), kIdentHashes)) return Bad("footer hash section ident is not XBLBHSH");
  r.Skip(kIdentLen);
  if (!r.ReadU8(&v) || v != 0 || !r.ReadU32(&n)) return Bad("bad footer hash section header");
  if (n == 0 || n > kMaxXorbChunks) return Bad(fmt::format("footer chunk count {} out of range", n));
  if (footer.size() != XorbFooterV1InfoLength(n) + 4) {
    return Bad(fmt::format("stored footer is {} bytes, expected {} for {} chunks", footer.size(),
                           XorbFooterV1InfoLength(n) + 4, n));
  }
  f.chunk_hashes.resize(n);
  for (auto& h : f.chunk_hashes)
    if (!r.ReadHash(&h)) return truncated("chunk hashes");
  if (!r.Has(kIdentLen) || !IdentAt(r.cur(), kIdentBoundaries)) return Bad("footer boundary ident is not XBLBBND");
  r.Skip(kIdentLen);
  if (!r.ReadU8(&v) || v != 1 || !r.ReadU32(&u) || u != n) return Bad("bad footer boundary section header");
  f.chunk_ends.resize(n);
  f.unpacked_ends.resize(n);
  for (auto& e : f.chunk_ends)
    if (!r.ReadU32(&e)) return truncated("chunk boundaries");
  for (auto& e : f.unpacked_ends)
    if (!r.ReadU32(&e)) return truncated("unpacked offsets");
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t prev_end = i == 0 ? 0 : f.chunk_ends[i - 1];
    uint32_t prev_unpacked = i == 0 ? 0 : f.unpacked_ends[i - 1];
    if (f.chunk_ends[i] <= prev_end || f.chunk_ends[i] - prev_end > kMaxCompressedChunkBytes + kXorbChunkHeaderSize ||
        f.unpacked_ends[i] <= prev_unpacked || f.unpacked_ends[i] - prev_unpacked > kMaxChunkBytes) {
      return Bad(fmt::format("footer boundaries of chunk {} are not increasing within limits", i));
    }
  }
  uint32_t hashes_off = 0, bounds_off = 0;
  if (!r.ReadU32(&u) || u != n || !r.ReadU32(&hashes_off) || !r.ReadU32(&bounds_off)) return truncated("trailer");
  if (hashes_off != 52 + 40 * uint64_t(n) || bounds_off != 40 + 8 * uint64_t(n)) return Bad("footer section offsets");
  if (!r.Has(f.buffer.size())) return truncated("buffer");
  std::memcpy(f.buffer.data(), r.cur(), f.buffer.size());
  r.Skip(f.buffer.size());
  uint32_t info_length = 0;
  if (!r.ReadU32(&info_length) || info_length != XorbFooterV1InfoLength(n) || r.remaining() != 0) {
    return Bad("footer info_length");
  }
  return f;
}

std::string SerializeXorbFooter(const XorbFooter& f) {
  const size_t n = f.chunk_hashes.size();
  std::string out;
  out.append(kIdent, kIdentLen);
  PutU8(&out, f.version);
  PutHash(&out, f.xorb_hash);
  if (f.version == 0) {
    PutU32(&out, static_cast<uint32_t>(n));
    for (uint32_t e : f.chunk_ends) PutU32(&out, e);
    for (const XetHash& h : f.chunk_hashes) PutHash(&out, h);
  } else {
    out.append(kIdentHashes, kIdentLen);
    PutU8(&out, 0);
    PutU32(&out, static_cast<uint32_t>(n));
    for (const XetHash& h : f.chunk_hashes) PutHash(&out, h);
    out.append(kIdentBoundaries, kIdentLen);
    PutU8(&out, 1);
    PutU32(&out, static_cast<uint32_t>(n));
    for (uint32_t e : f.chunk_ends) PutU32(&out, e);
    for (uint32_t e : f.unpacked_ends) PutU32(&out, e);
    PutU32(&out, static_cast<uint32_t>(n));
    PutU32(&out, static_cast<uint32_t>(52 + 40 * n));
    PutU32(&out, static_cast<uint32_t>(40 + 8 * n));
  }
  out.append(reinterpret_cast<const char*>(f.buffer.data()), f.buffer.size());
  PutU32(&out, static_cast<uint32_t>(out.size()));
  return out;
}

XorbFooter MakeXorbFooter(const XorbLayout& layout, std::span<const XetHash> chunk_hashes, const XetHash& xorb_hash) {
  XorbFooter f;
  f.version = 1;
  f.xorb_hash = xorb_hash;
  f.chunk_hashes.assign(chunk_hashes.begin(), chunk_hashes.end());
  for (const XorbChunkRecord& c : layout.chunks) {
    f.chunk_ends.push_back(c.end());
    f.unpacked_ends.push_back(c.unpacked_end());
  }
  return f;
}

#ifdef MODELHUB_XET_HASHES
XorbHashers XetXorbHashers() {
  return {[](std::string_view chunk) { return ChunkHash(chunk); },
          [](std::span<const MerkleNode> chunks) { return XorbHash(chunks); }};
}
#endif

Result<XorbReader> XorbReader::Open(std::string_view body) {
  MH_ASSIGN_OR_RETURN(XorbLayout layout, ParseXorb(body));
  return XorbReader(body, std::move(layout));
}

std::string_view XorbReader::RecordBytes(size_t begin, size_t end) const {
  if (begin >= end || end > num_chunks()) return {};
  const uint32_t from = layout_.chunks[begin].offset;
  return body_.substr(from, layout_.chunks[end - 1].end() - from);
}

Status XorbReader::ReadChunk(size_t i, std::string* out) const {
  if (i >= num_chunks()) {
    return Status::InvalidArgument(fmt::format("chunk {} out of range (xorb has {})", i, num_chunks()));
  }
  const XorbChunkRecord& c = layout_.chunks[i];
  Status s = DecompressChunk(c.scheme, body_.substr(c.offset + kXorbChunkHeaderSize, c.compressed_size),
                             c.unpacked_size, out);
  if (!s.ok()) {
    return Bad(fmt::format("chunk {} ({}, record at byte {}): {}", i, CompressionSchemeName(c.scheme), c.offset,
                           s.message()));
  }
  return Status::Ok();
}

Status XorbReader::ReadChunkRange(size_t begin, size_t end, std::string* out) const {
  if (begin > end || end > num_chunks()) {
    return Status::InvalidArgument(
        fmt::format("chunk range [{}, {}) out of range (xorb has {})", begin, end, num_chunks()));
  }
  const size_t old_size = out->size();
  for (size_t i = begin; i < end; ++i) {
    Status s = ReadChunk(i, out);
    if (!s.ok()) {
      out->resize(old_size);
      return s;
    }
  }
  return Status::Ok();
}

Result<VerifiedXorb> VerifyXorb(std::string_view body, const XorbHashers& hashers, const XetHash* expected_xorb_hash) {
  MH_ASSIGN_OR_RETURN(XorbReader reader, XorbReader::Open(body));
  VerifiedXorb v;
  std::vector<MerkleNode> leaves;
  leaves.reserve(reader.num_chunks());
  v.chunk_hashes.reserve(reader.num_chunks());
  const auto& footer = reader.layout().footer;
  std::string raw;
  raw.reserve(kMaxChunkBytes);
  for (size_t i = 0; i < reader.num_chunks(); ++i) {
    raw.clear();
    MH_RETURN_IF_ERROR(reader.ReadChunk(i, &raw));
    XetHash h = hashers.chunk_hash(raw);
    if (footer && footer->chunk_hashes[i] != h) {
      return Bad(fmt::format("chunk {} hashes to {}, the footer says {}", i, h.ToHex(),
                             footer->chunk_hashes[i].ToHex()));
    }
    v.chunk_hashes.push_back(h);
    leaves.push_back({h, raw.size()});
  }
  v.xorb_hash = hashers.xorb_hash(leaves);
  if (footer && footer->xorb_hash != v.xorb_hash) {
    return Bad(fmt::format("xorb hash is {}, the footer says {}", v.xorb_hash.ToHex(),
                           footer->xorb_hash.ToHex()));
  }
  if (expected_xorb_hash && *expected_xorb_hash != v.xorb_hash) {
    return Bad(fmt::format("xorb hash is {}, expected {}", v.xorb_hash.ToHex(),
                           expected_xorb_hash->ToHex()));
  }
  v.layout = reader.layout();
  return v;
}

bool XorbWriter::HasRoomFor(size_t raw_size) const {
  return num_chunks() < kMaxXorbChunks && raw_size <= kMaxXorbRawBytes - raw_bytes();
}

Status XorbWriter::Append(std::string_view raw, const XetHash& chunk_hash) {
  if (raw.empty() || raw.size() > kMaxChunkBytes) {
    return Status::InvalidArgument(fmt::format("chunk of {} bytes is not in 1..{}", raw.size(), kMaxChunkBytes));
  }
  if (!HasRoomFor(raw.size())) {
    return Status::InvalidArgument(fmt::format("xorb is full ({} chunks, {} bytes)", num_chunks(), raw_bytes()));
  }
  CompressedChunk cc = CompressChunk(raw, policy_);
  XorbChunkRecord c;
  c.offset = static_cast<uint32_t>(records_.size());
  c.compressed_size = static_cast<uint32_t>(cc.payload.size());
  c.unpacked_offset = static_cast<uint32_t>(layout_.unpacked_size);
  c.unpacked_size = static_cast<uint32_t>(raw.size());
  c.scheme = cc.scheme;
  PutU8(&records_, 0);
  PutU24(&records_, c.compressed_size);
  PutU8(&records_, static_cast<uint8_t>(c.scheme));
  PutU24(&records_, c.unpacked_size);
  records_.append(cc.payload);
  layout_.chunks.push_back(c);
  layout_.unpacked_size += raw.size();
  layout_.records_size = static_cast<uint32_t>(records_.size());
  hashes_.push_back(chunk_hash);
  return Status::Ok();
}

std::vector<MerkleNode> XorbWriter::ChunkHashesAndSizes() const {
  std::vector<MerkleNode> v;
  v.reserve(num_chunks());
  for (size_t i = 0; i < num_chunks(); ++i) v.push_back({hashes_[i], layout_.chunks[i].unpacked_size});
  return v;
}

std::string XorbWriter::SerializeWithFooter(const XetHash& xorb_hash, std::array<uint8_t, 4> nonce) const {
  XorbFooter f = MakeXorbFooter(layout_, hashes_, xorb_hash);
  std::memcpy(f.buffer.data(), nonce.data(), nonce.size());
  std::string out = records_;
  out.append(SerializeXorbFooter(f));
  return out;
}

}  // namespace modelhub::xet
