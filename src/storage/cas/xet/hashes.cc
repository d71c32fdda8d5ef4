#include "storage/cas/xet/hashes.h"

#include <algorithm>
#include <charconv>

#include "crypto/blake3.h"

namespace modelhub::xet {

// The keys of xet-core's merklehash crate (DATA_KEY, INTERNAL_NODE_HASH, VERIFICATION_KEY), as bytes.
const XetHash::Bytes kDataKey = {102, 151, 245, 119, 91,  149, 80,  222, 49,  53,  203, 172, 165, 151, 24,  28,
                                 157, 228, 33,  16,  155, 235, 43,  88,  180, 208, 176, 75,  147, 173, 242, 41};
const XetHash::Bytes kInternalNodeKey = {1,  126, 197, 199, 165, 71,  41,  150, 253, 148, 102, 102, 180, 138, 2,   230,
                                         93, 221, 83,  111, 55,  199, 109, 210, 248, 99,  82,  230, 74,  83,  113, 63};
const XetHash::Bytes kVerificationKey = {127, 24,  87,  214, 206, 86,  237, 102, 18, 127, 249, 19,  231, 165, 195, 243,
                                         164, 205, 38,  213, 181, 219, 73,  230, 65, 36,  152, 127, 40,  251, 148, 195};

namespace {

constexpr uint64_t kMeanBranchingFactor = 4;
constexpr size_t kMaxGroup = 2 * kMeanBranchingFactor + 1;  // 9

XetHash Keyed(const XetHash::Bytes& key, const void* data, size_t n) {
  Blake3 h(key.data());
  h.Update(data, n);
  return XetHash(h.Digest());
}

// How many nodes, starting at the front of `rest`, form the next group.
size_t GroupSize(std::span<const MerkleNode> rest) {
  if (rest.size() <= 2) return rest.size();
  const size_t end = std::min(kMaxGroup, rest.size());
  for (size_t j = 2; j < end; ++j) {
    if (rest[j].hash.Mod(kMeanBranchingFactor) == 0) return j + 1;
  }
  return end;
}

}  // namespace

XetHash ChunkHash(const void* data, size_t n) { return Keyed(kDataKey, data, n); }

std::string MerkleNodeText(std::span<const MerkleNode> children) {
  std::string text;
  text.reserve(children.size() * 88);  // 64 + 3 + at most 20 digits + 1
  for (const MerkleNode& c : children) {
    text += c.hash.ToHex();
    text += " : ";
    char digits[24];
    const auto r = std::to_chars(digits, digits + sizeof(digits), c.size);
    text.append(digits, r.ptr);
    text += '\n';
  }
  return text;
}

MerkleNode MerkleMerge(std::span<const MerkleNode> children) {
  const std::string text = MerkleNodeText(children);
  uint64_t size = 0;
  for (const MerkleNode& c : children) size += c.size;
  return {Keyed(kInternalNodeKey, text.data(), text.size()), size};
}

std::vector<MerkleNode> MerkleNextLevel(std::span<const MerkleNode> nodes) {
  std::vector<MerkleNode> out;
  out.reserve(nodes.size() / 2 + 1);
  while (!nodes.empty()) {
    const size_t k = GroupSize(nodes);
    out.push_back(MerkleMerge(nodes.first(k)));
    nodes = nodes.subspan(k);
  }
  return out;
}

XetHash MerkleRoot(std::span<const MerkleNode> leaves) {
  if (leaves.empty()) return XetHash();
  if (leaves.size() == 1) return leaves[0].hash;
  std::vector<MerkleNode> level = MerkleNextLevel(leaves);
  while (level.size() > 1) level = MerkleNextLevel(level);
  return level[0].hash;
}

XetHash FileHash(std::span<const MerkleNode> chunks, const XetHash& salt) {
  if (chunks.empty()) return XetHash();
  const XetHash root = MerkleRoot(chunks);
  return Keyed(salt.bytes(), root.data(), XetHash::kSize);
}

XetHash VerificationHash(std::span<const XetHash> range_chunk_hashes) {
  Blake3 h(kVerificationKey.data());
  for (const XetHash& c : range_chunk_hashes) h.Update(c.data(), XetHash::kSize);
  return XetHash(h.Digest());
}

XetHash KeyedHash(const XetHash& hash, const XetHash& key) {
  return Keyed(key.bytes(), hash.data(), XetHash::kSize);
}

void MerkleBuilder::Push(size_t level, const MerkleNode& node) {
  if (pending_.size() <= level) {
    pending_.resize(level + 1);
    counts_.resize(level + 1, 0);
  }
  pending_[level].push_back(node);
  counts_[level]++;
  // The same decisions GroupSize makes: a group ends after a node at index >= 2 whose
  // hash is 0 mod the mean branching factor, or at kMaxGroup nodes. (Its "<= 2 left"
  // and "fewer than kMaxGroup left" cases only concern the tail, handled in Root.)
  const auto& g = pending_[level];
  if ((g.size() >= 3 && g.back().hash.Mod(kMeanBranchingFactor) == 0) || g.size() == kMaxGroup) CloseGroup(level);
}

void MerkleBuilder::CloseGroup(size_t level) {
  MerkleNode merged = MerkleMerge(pending_[level]);
  pending_[level].clear();
  Push(level + 1, merged);
}

XetHash MerkleBuilder::Root() {
  if (counts_.empty() || counts_[0] == 0) return XetHash();
  if (counts_[0] == 1) return pending_[0][0].hash;
  for (size_t level = 0;; ++level) {
    if (!pending_[level].empty()) CloseGroup(level);
    // MerkleRoot stops at the first level holding a single node.
    if (counts_[level + 1] == 1) return pending_[level + 1].empty() ? XetHash() : pending_[level + 1][0].hash;
  }
}

XetHash MerkleBuilder::FileHash(const XetHash& salt) {
  if (leaves() == 0) return XetHash();
  const XetHash root = Root();
  return Keyed(salt.bytes(), root.data(), XetHash::kSize);
}

}  // namespace modelhub::xet
