#include "storage/cas/xet/xet_test_data.h"

#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace modelhub::xet::testdata {
namespace {

std::string SharedDir() {
  if (const char* env = std::getenv("MODELHUB_SHARED_DIR"); env != nullptr && *env != '\0') return env;
  return MODELHUB_SHARED_DIR;
}

}  // namespace

const Json* Vectors(std::string* error) {
  static std::once_flag once;
  static std::unique_ptr<Json> vectors;
  static std::string load_error;
  std::call_once(once, [] {
    const std::string path = SharedDir() + "/testdata/xet/vectors.json";
    std::ifstream in(path);
    if (!in) {
      load_error = "cannot open " + path +
                   " (the shared folder must sit beside the repository, or set MODELHUB_SHARED_DIR to it)";
      return;
    }
    std::stringstream buf;
    buf << in.rdbuf();
    Json parsed = Json::parse(buf.str(), nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) {
      load_error = path + " is not valid JSON";
      return;
    }
    vectors = std::make_unique<Json>(std::move(parsed));
  });
  if (!vectors && error != nullptr) *error = load_error;
  return vectors.get();
}

std::string SplitMix64Bytes(uint64_t seed, size_t length) {
  std::string out;
  out.reserve(length + 8);
  uint64_t state = seed;
  while (out.size() < length) {
    state += 0x9E3779B97F4A7C15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    for (int b = 0; b < 8; ++b) out.push_back(static_cast<char>(z >> (8 * b)));
  }
  out.resize(length);
  return out;
}

std::string MakeInput(const Json& input) {
  const std::string gen = input.at("generator").get<std::string>();
  const size_t length = input.at("length").get<size_t>();
  if (gen == "splitmix64") return SplitMix64Bytes(input.at("seed").get<uint64_t>(), length);
  if (gen == "constant") return std::string(length, static_cast<char>(input.at("byte").get<int>()));
  if (gen == "affine") {
    const uint64_t mul = input.at("mul").get<uint64_t>();
    const uint64_t add = input.at("add").get<uint64_t>();
    std::string out(length, '\0');
    for (size_t i = 0; i < length; ++i) out[i] = static_cast<char>((i * mul + add) & 0xff);
    return out;
  }
  if (gen == "trigger_pattern") {
    std::string error;
    const Json* v = Vectors(&error);
    if (v == nullptr) throw std::runtime_error(error);
    std::string unit;
    for (const Json& b : v->at("generators").at("trigger_pattern").at("pattern_bytes")) {
      unit.push_back(static_cast<char>(b.get<int>()));
    }
    unit.append(input.at("padding").get<size_t>(), '\0');
    std::string out;
    while (out.size() < length) out += unit;
    out.resize(length);
    return out;
  }
  throw std::runtime_error("unknown generator " + gen);
}

std::string PlainHexToBytes(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

XetHash H(const Json& xet_hex) {
  auto r = XetHash::FromHex(xet_hex.get<std::string>());
  EXPECT_TRUE(r.ok()) << "malformed hash in vectors.json: " << xet_hex;
  return r.ok() ? *r : XetHash();
}

void XetVectorsTest::SetUp() {
  std::string error;
  vectors_ = Vectors(&error);
  ASSERT_NE(vectors_, nullptr) << error;
}

}  // namespace modelhub::xet::testdata
