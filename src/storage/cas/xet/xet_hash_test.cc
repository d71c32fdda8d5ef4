#include "storage/cas/xet/xet_hash.h"

#include <gtest/gtest.h>

#include <set>
#include <unordered_set>

#include "storage/cas/xet/xet_test_data.h"

namespace modelhub::xet {
namespace {

using testdata::Json;
using testdata::PlainHexToBytes;
using testdata::XetVectorsTest;

XetHash FromPlainHex(const std::string& hex) {
  const std::string raw = PlainHexToBytes(hex);
  EXPECT_EQ(raw.size(), XetHash::kSize);
  return XetHash::FromRaw(raw.data());
}

TEST_F(XetVectorsTest, HexFormatCases) {
  const Json& cases = v().at("hex_format").at("cases");
  ASSERT_FALSE(cases.empty());
  for (const Json& c : cases) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const XetHash h = FromPlainHex(c.at("raw_bytes_hex").get<std::string>());
    EXPECT_EQ(h.ToHex(), c.at("xet_hex").get<std::string>());
    auto parsed = XetHash::FromHex(c.at("xet_hex").get<std::string>());
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, h);
    EXPECT_EQ(h.Truncated(), std::stoull(c.at("truncated_hash_u64_hex").get<std::string>(), nullptr, 16));
    EXPECT_EQ(h.Mod(4), c.at("hash_mod_4").get<uint64_t>());
    EXPECT_EQ(h.Mod(1024), c.at("hash_mod_1024").get<uint64_t>());
  }
}

TEST_F(XetVectorsTest, HexParseCasesIncludingRejects) {
  size_t rejects = 0;
  for (const Json& c : v().at("hex_format").at("parse_cases")) {
    SCOPED_TRACE(c.at("note").get<std::string>());
    auto parsed = XetHash::FromHex(c.at("input").get<std::string>());
    if (c.at("raw_bytes_hex").is_null()) {
      EXPECT_FALSE(parsed.ok());
      EXPECT_EQ(parsed.status().code(), Code::kInvalidArgument);
      ++rejects;
    } else {
      ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
      EXPECT_EQ(*parsed, FromPlainHex(c.at("raw_bytes_hex").get<std::string>()));
    }
  }
  EXPECT_GE(rejects, 8u);
}

TEST(XetHash, RejectsEveryNonHexByteAtEveryPosition) {
  const std::string good = "d6834b04843aaf16f29903e2428a99be635099f9ea5056cc4e95e7ec8a41509f";
  ASSERT_TRUE(XetHash::FromHex(good).ok());
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    const bool hex = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
    for (size_t pos : {size_t{0}, size_t{1}, size_t{31}, size_t{63}}) {
      std::string s = good;
      s[pos] = ch;
      EXPECT_EQ(XetHash::FromHex(s).ok(), hex) << "byte " << c << " at " << pos;
    }
  }
  EXPECT_FALSE(XetHash::FromHex(std::string_view(good.data(), 63)).ok());
  EXPECT_FALSE(XetHash::FromHex(good + "\n").ok());
  EXPECT_FALSE(XetHash::FromHex(std::string(64, '\0')).ok());
}

TEST(XetHash, ValueSemantics) {
  XetHash::Bytes raw{};
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i);
  const XetHash a(raw);
  EXPECT_EQ(a.ToHex(), "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918");
  EXPECT_EQ(a.Word(0), 0x0706050403020100ULL);
  EXPECT_EQ(a.Word(3), 0x1f1e1d1c1b1a1918ULL);
  EXPECT_TRUE(XetHash().IsZero());
  EXPECT_FALSE(a.IsZero());
  EXPECT_EQ(XetHash::Marker().ToHex(), std::string(64, 'f'));
  EXPECT_EQ(XetHash().ToHex(), std::string(64, '0'));
  EXPECT_EQ(XetHash::FromRaw(raw.data()), a);
  EXPECT_NE(XetHash(), a);
  EXPECT_LT(XetHash(), a);
  std::unordered_set<XetHash> set{a, XetHash(), a};
  EXPECT_EQ(set.size(), 2u);
  EXPECT_EQ(std::hash<XetHash>()(a), static_cast<size_t>(a.Word(0)));
  std::set<XetHash> ordered{a, XetHash::Marker(), XetHash()};
  EXPECT_EQ(*ordered.begin(), XetHash());
  EXPECT_EQ(a.view().size(), 32u);
}

}  // namespace
}  // namespace modelhub::xet
