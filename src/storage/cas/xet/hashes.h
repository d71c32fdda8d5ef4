// The Xet hash functions, bit-exact with xet-core: chunk hash, merkle aggregation (xorb hash), file
// hash, term verification hash and the keyed "hmac" of dedup shards. All are BLAKE3 in keyed mode
// (crypto/blake3.h) with 32-byte output; the keys, the merkle grouping rule and the exact node text
// are written down in docs/formats/xet-hashing.md.
//
// Thread-safety: pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/cas/xet/xet_hash.h"

namespace modelhub::xet {

// BLAKE3 keys, as raw bytes.
extern const XetHash::Bytes kDataKey;          // chunk hashes
extern const XetHash::Bytes kInternalNodeKey;  // merkle internal nodes
extern const XetHash::Bytes kVerificationKey;  // term verification hashes

// A merkle tree entry: a chunk (its hash and length) or an internal node (hash, sum of lengths).
struct MerkleNode {
  XetHash hash;
  uint64_t size = 0;
  friend bool operator==(const MerkleNode&, const MerkleNode&) = default;
};

// BLAKE3-keyed(kDataKey, chunk bytes): the hash of one chunk (uncompressed bytes).
XetHash ChunkHash(const void* data, size_t n);
inline XetHash ChunkHash(std::string_view data) { return ChunkHash(data.data(), data.size()); }

// Merkle aggregation. Empty input gives the zero hash; a single node is returned unchanged; otherwise
// levels are built with MerkleNextLevel until one node remains.
XetHash MerkleRoot(std::span<const MerkleNode> leaves);
// One level up: the nodes split left to right into groups of 3..9 (a group ends after its 3rd..8th
// node when that node's hash % 4 == 0, else after its 9th; a 1- or 2-node tail is one group), each
// group merged by MerkleMerge. Input must have at least one node.
std::vector<MerkleNode> MerkleNextLevel(std::span<const MerkleNode> nodes);
// One internal node: BLAKE3-keyed(kInternalNodeKey, MerkleNodeText(children)), sum of sizes.
MerkleNode MerkleMerge(std::span<const MerkleNode> children);
// "<xet hex> : <decimal size>\n" per child, concatenated (ASCII).
std::string MerkleNodeText(std::span<const MerkleNode> children);

// The xorb hash: MerkleRoot of the xorb's chunks in order.
inline XetHash XorbHash(std::span<const MerkleNode> chunks) { return MerkleRoot(chunks); }
// The file hash: BLAKE3-keyed(salt, MerkleRoot(all chunks of the file in order)); the zero hash for an
// empty file. The Hub uses the zero salt.
XetHash FileHash(std::span<const MerkleNode> chunks, const XetHash& salt = XetHash());

// The Merkle root (and file hash) of a stream of leaves without keeping them:
// memory is O(levels · max group), the same result as MerkleRoot/FileHash on
// the whole list. Used to hash files of any size while they stream in.
class MerkleBuilder {
 public:
  void Add(const MerkleNode& leaf) { Push(0, leaf); }
  // Root of everything added (the zero hash when nothing was). Ends the stream.
  XetHash Root();
  XetHash FileHash(const XetHash& salt = XetHash()) ;
  uint64_t leaves() const { return counts_.empty() ? 0 : counts_[0]; }

 private:
  void Push(size_t level, const MerkleNode& node);
  void CloseGroup(size_t level);
  std::vector<std::vector<MerkleNode>> pending_;  // per level: nodes of the open group
  std::vector<uint64_t> counts_;                  // per level: nodes pushed so far
};

// Term verification hash of a file term covering a xorb's chunk range [a, b): BLAKE3-keyed(
// kVerificationKey, raw bytes of chunk_hash[a] .. chunk_hash[b-1]). Pass exactly that range.
XetHash VerificationHash(std::span<const XetHash> range_chunk_hashes);

// DataHash::hmac of xet-core (chunk hashes in dedup shards): BLAKE3-keyed(key, raw bytes of hash).
XetHash KeyedHash(const XetHash& hash, const XetHash& key);

}  // namespace modelhub::xet
