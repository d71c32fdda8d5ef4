// fuzz_xorb: storage/cas/format/xorb.h and chunk_compression.h — the body of
// POST /v1/xorbs (records, optionally a V0/V1 footer) and the LZ4 / BG4-LZ4
// chunk codecs.
//
// Input: the whole input is parsed as a xorb body; it is also used as raw
// chunk data for the compressors (split into chunks of at most 128 KiB, the
// policy chosen by the input length).
//
// Checks: errors are InvalidArgument; an accepted layout is contiguous (records
// chained from byte 0, cumulative unpacked offsets, sizes within the limits, a
// footer exactly filling the rest of the body); decompression yields exactly
// the declared sizes; VerifyXorb (stand-in hashes) agrees with chunk-by-chunk
// reading; re-packing the decoded chunks with XorbWriter gives a body that
// parses back to the same bytes, with and without footer; every compression
// policy round-trips raw data.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "storage/cas/format/chunk_compression.h"
#include "storage/cas/format/xorb.h"

namespace modelhub::xet {
namespace {

using fuzz::Quote;

XetHash StandInChunkHash(std::string_view data) {
  XetHash::Bytes h{};
  uint64_t s = 0xcbf29ce484222325ull ^ data.size();
  for (unsigned char c : data) s = (s ^ c) * 0x100000001b3ull;
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint8_t>(s >> (8 * (i % 8))) ^ static_cast<uint8_t>(i);
  return XetHash(h);
}

XetHash StandInXorbHash(std::span<const MerkleNode> chunks) {
  std::string text;
  for (const MerkleNode& c : chunks) {
    text.append(c.hash.view());
    text.append(std::to_string(c.size));
  }
  return StandInChunkHash(text);
}

void CheckLayout(std::string_view body, const XorbLayout& l) {
  FUZZ_CHECK(!l.chunks.empty() && l.chunks.size() <= kMaxXorbChunks, "{} chunks", l.chunks.size());
  uint64_t offset = 0, unpacked = 0;
  for (size_t i = 0; i < l.chunks.size(); ++i) {
    const XorbChunkRecord& c = l.chunks[i];
    FUZZ_CHECK(c.offset == offset && c.unpacked_offset == unpacked, "chunk {} not contiguous", i);
    FUZZ_CHECK(c.unpacked_size >= 1 && c.unpacked_size <= kMaxChunkBytes && c.compressed_size <= kMaxCompressedChunkBytes,
               "chunk {} sizes {}/{}", i, c.compressed_size, c.unpacked_size);
    offset = c.end();
    unpacked += c.unpacked_size;
  }
  FUZZ_CHECK(offset == l.records_size && unpacked == l.unpacked_size && unpacked <= kMaxXorbRawBytes,
             "totals {} {} vs {} {}", offset, unpacked, l.records_size, l.unpacked_size);
  if (!l.footer) {
    FUZZ_CHECK(l.records_size == body.size(), "records end at {} of {} without a footer", l.records_size, body.size());
    return;
  }
  const size_t n = l.chunks.size();
  const uint64_t info = l.footer->version == 1 ? XorbFooterV1InfoLength(n) : XorbFooterV0InfoLength(n);
  FUZZ_CHECK(l.records_size + info + 4 == body.size(), "footer v{} does not fill the body", l.footer->version);
  FUZZ_CHECK(l.footer->chunk_hashes.size() == n && l.footer->chunk_ends.size() == n, "footer vectors");
  // The footer re-serializes to the very bytes it was parsed from.
  FUZZ_CHECK(SerializeXorbFooter(*l.footer) == body.substr(l.records_size), "footer does not round-trip");
}

void FuzzBody(std::string_view body) {
  auto layout = ParseXorb(body);
  if (!layout.ok()) {
    FUZZ_CHECK(layout.status().code() == Code::kInvalidArgument, "ParseXorb: {}", layout.status().ToString());
    return;
  }
  CheckLayout(body, *layout);
  auto reader = XorbReader::Open(body);
  FUZZ_CHECK(reader.ok(), "Open failed after ParseXorb succeeded");

  std::vector<std::string> chunks;
  bool all_ok = true;
  for (size_t i = 0; i < reader->num_chunks(); ++i) {
    std::string out = "x";
    Status s = reader->ReadChunk(i, &out);
    if (!s.ok()) {
      FUZZ_CHECK(s.code() == Code::kInvalidArgument && out == "x", "ReadChunk({}): {}", i, s.ToString());
      all_ok = false;
      continue;
    }
    FUZZ_CHECK(out.size() == 1 + reader->chunk(i).unpacked_size, "chunk {} decoded to {} bytes", i, out.size() - 1);
    chunks.push_back(out.substr(1));
  }
  const XorbHashers hashers{StandInChunkHash, StandInXorbHash};
  auto verified = VerifyXorb(body, hashers);
  if (!all_ok) {
    FUZZ_CHECK(!verified.ok(), "VerifyXorb accepted a xorb with an undecodable chunk");
    return;
  }
  // Only a footer whose hashes disagree can make verification fail now.
  FUZZ_CHECK(verified.ok() || layout->footer, "VerifyXorb: {}", verified.status().ToString());

  // Re-pack the decoded chunks; the result must read back identically.
  XorbWriter w(static_cast<CompressionPolicy>(body.size() % 5));
  for (const std::string& c : chunks) {
    Status s = w.Append(c, StandInChunkHash(c));
    FUZZ_CHECK(s.ok(), "re-append: {}", s.ToString());
  }
  const XetHash root = StandInXorbHash(w.ChunkHashesAndSizes());
  for (const std::string& again : {w.records(), w.SerializeWithFooter(root)}) {
    auto v = VerifyXorb(again, hashers, &root);
    FUZZ_CHECK(v.ok(), "re-packed xorb rejected: {}", v.status().ToString());
    auto r2 = XorbReader::Open(again);
    std::string all, orig;
    FUZZ_CHECK(r2.ok() && r2->ReadChunkRange(0, r2->num_chunks(), &all).ok(), "re-packed xorb unreadable");
    for (const std::string& c : chunks) orig += c;
    FUZZ_CHECK(all == orig, "re-packed xorb reads back differently");
  }
}

void FuzzCompression(std::string_view data) {
  const auto policy = static_cast<CompressionPolicy>(data.size() % 5);
  for (size_t start = 0; start < data.size(); start += kMaxChunkBytes) {
    std::string_view raw = data.substr(start, kMaxChunkBytes);
    CompressedChunk c = CompressChunk(raw, policy);
    FUZZ_CHECK(c.payload.size() <= raw.size(), "compressed chunk grew");
    FUZZ_CHECK(c.scheme != CompressionScheme::kNone || c.payload == raw, "None payload differs");
    std::string out;
    Status s = DecompressChunk(c.scheme, c.payload, raw.size(), &out);
    FUZZ_CHECK(s.ok() && out == raw, "{} round trip of {}: {}", CompressionSchemeName(c.scheme), Quote(raw, 40),
               s.ToString());
    FUZZ_CHECK(Bg4Regroup(Bg4Split(raw)) == raw, "BG4 round trip");
  }
  // The input as an LZ4 payload of a guessed size must never misbehave.
  std::string out;
  Status s = Lz4FrameDecompress(data, data.size() * 3 % (kMaxChunkBytes + 1), &out);
  FUZZ_CHECK(s.ok() || out.empty(), "failed decompression left output");
}

}  // namespace
}  // namespace modelhub::xet

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  std::string_view in(reinterpret_cast<const char*>(data), len);
  modelhub::xet::FuzzBody(in);
  modelhub::xet::FuzzCompression(in);
  return 0;
}
