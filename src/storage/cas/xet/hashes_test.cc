#include "storage/cas/xet/hashes.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/cas/xet/chunker.h"
#include "storage/cas/xet/xet_test_data.h"

namespace modelhub::xet {
namespace {

using testdata::H;
using testdata::Json;
using testdata::MakeInput;
using testdata::PlainHexToBytes;
using testdata::XetVectorsTest;

// Chunks `data` and hashes every chunk: the leaves of the file's merkle tree.
std::vector<MerkleNode> HashChunks(const std::string& data) {
  std::vector<MerkleNode> leaves;
  for (const ChunkBoundary& c : ChunkBuffer(data)) {
    leaves.push_back({ChunkHash(data.data() + c.offset, c.length), c.length});
  }
  return leaves;
}

std::vector<MerkleNode> Nodes(const Json& list) {
  std::vector<MerkleNode> nodes;
  for (const Json& n : list) nodes.push_back({H(n.at("hash")), n.at("size").get<uint64_t>()});
  return nodes;
}

TEST_F(XetVectorsTest, KeysMatchConstants) {
  const Json& c = v().at("constants");
  EXPECT_EQ(c.at("data_key_bytes").get<std::vector<int>>(), std::vector<int>(kDataKey.begin(), kDataKey.end()));
  EXPECT_EQ(c.at("internal_node_key_bytes").get<std::vector<int>>(),
            std::vector<int>(kInternalNodeKey.begin(), kInternalNodeKey.end()));
  EXPECT_EQ(c.at("verification_key_bytes").get<std::vector<int>>(),
            std::vector<int>(kVerificationKey.begin(), kVerificationKey.end()));
  EXPECT_EQ(PlainHexToBytes(c.at("file_hash_salt_bytes_hex").get<std::string>()), std::string(32, '\0'));
}

TEST_F(XetVectorsTest, Splitmix1MbHashes) {
  const Json& s = v().at("splitmix_1mb");
  const std::vector<MerkleNode> leaves = HashChunks(MakeInput(s.at("input")));
  ASSERT_EQ(leaves.size(), s.at("chunks").size());
  std::vector<XetHash> chunk_hashes;
  for (size_t i = 0; i < leaves.size(); ++i) {
    EXPECT_EQ(leaves[i].hash.ToHex(), s.at("chunks")[i].at("hash").get<std::string>()) << "chunk " << i;
    EXPECT_EQ(leaves[i].size, s.at("chunks")[i].at("length").get<uint64_t>());
    chunk_hashes.push_back(leaves[i].hash);
  }
  // Every level of the tree above the leaves.
  std::vector<MerkleNode> level = leaves;
  for (const Json& expected : s.at("merkle_levels_above_leaves")) {
    level = MerkleNextLevel(level);
    EXPECT_EQ(level, Nodes(expected));
  }
  EXPECT_EQ(level.size(), 1u);
  EXPECT_EQ(XorbHash(leaves).ToHex(), s.at("xorb_hash").get<std::string>());
  EXPECT_EQ(MerkleRoot(leaves), H(s.at("xorb_hash")));
  EXPECT_EQ(FileHash(leaves).ToHex(), s.at("file_hash").get<std::string>());
  for (const Json& vh : s.at("verification_hashes")) {
    const auto range = vh.at("chunk_range").get<std::vector<size_t>>();
    ASSERT_EQ(range.size(), 2u);
    const std::span<const XetHash> terms(chunk_hashes.data() + range[0], range[1] - range[0]);
    EXPECT_EQ(VerificationHash(terms).ToHex(), vh.at("hash").get<std::string>()) << range[0] << ".." << range[1];
  }
}

TEST_F(XetVectorsTest, MerkleVectors) {
  const Json& cases = v().at("merkle_vectors").at("cases");
  EXPECT_EQ(cases.size(), 18u);
  for (const Json& c : cases) {
    SCOPED_TRACE("merkle case " + std::to_string(c.at("index").get<int>()));
    const std::vector<MerkleNode> leaves = Nodes(c.at("leaves"));
    EXPECT_EQ(XorbHash(leaves).ToHex(), c.at("xorb_hash").get<std::string>());
    for (const Json& f : c.at("file_hashes")) {
      EXPECT_EQ(FileHash(leaves, H(f.at("salt"))).ToHex(), f.at("file_hash").get<std::string>());
      if (f.at("zero_salt").get<bool>()) {
        EXPECT_EQ(FileHash(leaves).ToHex(), f.at("file_hash").get<std::string>());
      }
    }
  }
}

TEST_F(XetVectorsTest, MerkleNodeExamples) {
  for (const Json& c : v().at("merkle_node_examples").at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const std::vector<MerkleNode> children = Nodes(c.at("children"));
    EXPECT_EQ(MerkleNodeText(children), c.at("node_text").get<std::string>());
    const MerkleNode node = MerkleMerge(children);
    EXPECT_EQ(node.hash.ToHex(), c.at("node_hash").get<std::string>());
    uint64_t total = 0;
    for (const MerkleNode& ch : children) total += ch.size;
    EXPECT_EQ(node.size, total);
  }
}

TEST_F(XetVectorsTest, SmallFilesHashes) {
  for (const Json& f : v().at("small_files").at("cases")) {
    SCOPED_TRACE(f.at("name").get<std::string>());
    const std::vector<MerkleNode> leaves = HashChunks(MakeInput(f.at("input")));
    ASSERT_EQ(leaves.size(), f.at("chunks").size());
    for (size_t i = 0; i < leaves.size(); ++i) {
      EXPECT_EQ(leaves[i].hash.ToHex(), f.at("chunks")[i].at("hash").get<std::string>()) << "chunk " << i;
    }
    EXPECT_EQ(MerkleRoot(leaves).ToHex(), f.at("merkle_root").get<std::string>());
    EXPECT_EQ(FileHash(leaves).ToHex(), f.at("file_hash").get<std::string>());
  }
}

TEST_F(XetVectorsTest, HfjsCrossCheck) {
  const Json& x = v().at("hfjs_cross_check");
  const std::vector<MerkleNode> leaves = HashChunks(MakeInput(x.at("splitmix_1mb_chunk_hashes").at("input")));
  const Json& expected = x.at("splitmix_1mb_chunk_hashes").at("chunk_hashes");
  ASSERT_EQ(leaves.size(), expected.size());
  for (size_t i = 0; i < leaves.size(); ++i) EXPECT_EQ(leaves[i].hash.ToHex(), expected[i].get<std::string>());

  for (const Json& f : x.at("affine_files")) {
    SCOPED_TRACE(f.at("name").get<std::string>());
    const std::vector<MerkleNode> file = HashChunks(MakeInput(f.at("input")));
    EXPECT_EQ(XorbHash(file).ToHex(), f.at("xorb_hash").get<std::string>());
    EXPECT_EQ(FileHash(file).ToHex(), f.at("file_hash").get<std::string>());
  }

  const Json& hmac = x.at("hmac");
  EXPECT_EQ(KeyedHash(H(hmac.at("hash")), H(hmac.at("key"))).ToHex(), hmac.at("result").get<std::string>());

  const Json& ver = x.at("verification_hash");
  std::vector<XetHash> hashes;
  for (const Json& h : ver.at("chunk_hashes")) hashes.push_back(H(h));
  EXPECT_EQ(VerificationHash(hashes).ToHex(), ver.at("result").get<std::string>());
}

TEST(XetHashes, EdgeCases) {
  // Empty file: zero file hash and zero merkle root, no keyed hashing.
  EXPECT_TRUE(FileHash({}).IsZero());
  EXPECT_TRUE(MerkleRoot({}).IsZero());
  // One leaf: the xorb hash is that leaf's hash; the file hash is still keyed.
  const MerkleNode leaf{ChunkHash("abc"), 3};
  const std::vector<MerkleNode> one{leaf};
  EXPECT_EQ(XorbHash(one), leaf.hash);
  EXPECT_NE(FileHash(one), leaf.hash);
  // Chunk hashing is keyed BLAKE3 with the data key, so the same bytes give the same hash however
  // they are passed.
  EXPECT_EQ(ChunkHash(std::string_view("abc")), ChunkHash("abc", 3));
  // Sizes are printed in decimal without padding, up to the full u64 range.
  const std::vector<MerkleNode> big{{XetHash(), UINT64_MAX}};
  EXPECT_EQ(MerkleNodeText(big), std::string(64, '0') + " : 18446744073709551615\n");
}

}  // namespace
}  // namespace modelhub::xet

namespace modelhub::xet {
namespace {

TEST(MerkleBuilderTest, StreamingEqualsBatch) {
  std::vector<MerkleNode> leaves;
  for (uint64_t n = 0; n <= 3000; ++n) {
    std::string seed = std::to_string(n);
    if (n >= 300 && n % 97 != 0) {
      leaves.push_back(MerkleNode{ChunkHash(seed.data(), seed.size()), 1000 + n});
      continue;
    }
    MerkleBuilder b;
    for (const auto& l : leaves) b.Add(l);
    ASSERT_EQ(b.Root(), MerkleRoot(leaves)) << n << " leaves";
    MerkleBuilder f;
    for (const auto& l : leaves) f.Add(l);
    XetHash salt = ChunkHash("salt", 4);
    ASSERT_EQ(f.FileHash(salt), FileHash(leaves, salt)) << n << " leaves";
    leaves.push_back(MerkleNode{ChunkHash(seed.data(), seed.size()), 1000 + n});
  }
}

}  // namespace
}  // namespace modelhub::xet
