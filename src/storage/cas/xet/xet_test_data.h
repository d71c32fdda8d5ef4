// Test support for the Xet tests: loads shared/testdata/xet/vectors.json and builds the inputs its
// "generators" section describes (SplitMix64, constant, trigger pattern, affine).
//
// The shared folder is found through the MODELHUB_SHARED_DIR environment variable, else the
// MODELHUB_SHARED_DIR compile definition (<repo>/../shared).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "storage/cas/xet/xet_hash.h"

namespace modelhub::xet::testdata {

using Json = nlohmann::json;

// The parsed vectors.json, loaded once; nullptr if it cannot be read (*error says why and where).
const Json* Vectors(std::string* error);

// SplitMix64 output words written little-endian, truncated to `length` bytes.
std::string SplitMix64Bytes(uint64_t seed, size_t length);
// The bytes an {"generator": ..., "length": ..., params} object describes.
std::string MakeInput(const Json& input);

// Plain (byte-order) hex, as in the *_bytes_hex fields.
std::string PlainHexToBytes(const std::string& hex);
// A hash in the Xet hex format; fails the test (and returns the zero hash) when malformed.
XetHash H(const Json& xet_hex);

// Fixture for tests that read vectors.json: fails with a clear message if it is missing.
class XetVectorsTest : public ::testing::Test {
 protected:
  void SetUp() override;
  const Json& v() const { return *vectors_; }

 private:
  const Json* vectors_ = nullptr;
};

}  // namespace modelhub::xet::testdata
