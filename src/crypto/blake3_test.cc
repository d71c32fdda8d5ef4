#include "crypto/blake3.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/strings.h"

namespace modelhub {
namespace {

namespace fs = std::filesystem;

constexpr const char* kAllKernels[] = {"portable", "sse41", "avx2", "avx512"};

std::string Hex(const uint8_t* p, size_t n) {
  return HexEncode(std::string_view(reinterpret_cast<const char*>(p), n));
}
std::string Hex(const Blake3Digest& d) { return Hex(d.data(), d.size()); }

// The official vectors' input: 0, 1, ..., 250, 0, 1, ...
std::string PatternInput(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i % 251);
  return s;
}

std::string RandomInput(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(rng());
  return s;
}

enum class Mode { kHash, kKeyed, kDerive };
constexpr Mode kAllModes[] = {Mode::kHash, Mode::kKeyed, Mode::kDerive};
const char* ModeName(Mode m) {
  switch (m) {
    case Mode::kHash: return "hash";
    case Mode::kKeyed: return "keyed_hash";
    case Mode::kDerive: return "derive_key";
  }
  return "?";
}

// Key and context of the official vectors, used for every mode test.
constexpr char kVectorKey[] = "whats the Elvish word for friend";
constexpr char kVectorContext[] = "BLAKE3 2019-12-27 16:29:52 test vectors context";
static_assert(sizeof kVectorKey - 1 == kBlake3KeyLen);

Blake3 MakeHasher(Mode m) {
  switch (m) {
    case Mode::kHash: return Blake3();
    case Mode::kKeyed: return Blake3(reinterpret_cast<const uint8_t*>(kVectorKey));
    case Mode::kDerive: return Blake3::DeriveKey(kVectorContext);
  }
  return Blake3();
}

std::string OneShotHex(Mode m, std::string_view data, size_t out_len = kBlake3OutLen) {
  Blake3 h = MakeHasher(m);
  h.Update(data);
  std::vector<uint8_t> out(out_len);
  h.Finalize(out.data(), out.size());
  return Hex(out.data(), out.size());
}

// shared/testdata/blake3/test_vectors.json: beside the repository (compile-time
// MODELHUB_SHARED_DIR), else $MODELHUB_SHARED_DIR. Empty if neither has it.
fs::path VectorsFile(std::string* tried) {
  std::vector<fs::path> dirs;
#ifdef MODELHUB_SHARED_DIR
  dirs.emplace_back(MODELHUB_SHARED_DIR);
#endif
  if (const char* env = std::getenv("MODELHUB_SHARED_DIR"); env != nullptr && *env != '\0') {
    dirs.emplace_back(env);
  }
  for (const fs::path& dir : dirs) {
    const fs::path p = dir / "testdata" / "blake3" / "test_vectors.json";
    *tried += " " + p.string();
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p;
  }
  return {};
}

// Runs `cmd` with sh; returns its stdout, or nullopt if it failed.
std::optional<std::string> RunCommand(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return std::nullopt;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string FindOnPath(const char* tool) {
  const char* path = std::getenv("PATH");
  std::string_view rest = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!rest.empty()) {
    const size_t colon = rest.find(':');
    const std::string dir(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + tool;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// A private temporary directory, removed with its files.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "blake3_test.XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void WriteFile(const fs::path& p, std::string_view data) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  ASSERT_TRUE(f.good()) << "cannot write " << p;
}

// ---- Tests that do not depend on the kernel ----------------------------------

TEST(Blake3, KernelNamesAndForcing) {
  const std::string picked = Blake3KernelName();
  EXPECT_TRUE(picked == "portable" || picked == "sse41" || picked == "avx2" || picked == "avx512")
      << picked;
  EXPECT_FALSE(Blake3ForceKernel("no-such-kernel"));
  EXPECT_EQ(Blake3KernelName(), picked);
  ASSERT_TRUE(Blake3ForceKernel("portable"));
  EXPECT_STREQ(Blake3KernelName(), "portable");
  ASSERT_TRUE(Blake3ForceKernel("auto"));
  EXPECT_EQ(Blake3KernelName(), picked);
}

TEST(Blake3, FreeFunctionsMatchHasher) {
  const std::string data = RandomInput(70000, 1);
  Blake3 h;
  h.Update(data);
  EXPECT_EQ(Blake3Hash(data), h.Digest());
  Blake3 k(reinterpret_cast<const uint8_t*>(kVectorKey));
  k.Update(data);
  EXPECT_EQ(Blake3KeyedHash(reinterpret_cast<const uint8_t*>(kVectorKey), data), k.Digest());
  // The well-known digest of the empty input.
  EXPECT_EQ(Hex(Blake3Hash("")),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
}

TEST(Blake3, MoveAndReset) {
  const std::string data = RandomInput(5000, 2);
  Blake3 a(reinterpret_cast<const uint8_t*>(kVectorKey));
  a.Update(data.substr(0, 100));
  Blake3 b(std::move(a));
  b.Update(data.substr(100));
  EXPECT_EQ(Hex(b.Digest()), OneShotHex(Mode::kKeyed, data));
  b.Reset();  // keeps the mode and key
  b.Update(data);
  EXPECT_EQ(Hex(b.Digest()), OneShotHex(Mode::kKeyed, data));
  Blake3 c;
  c = std::move(b);
  EXPECT_EQ(Hex(c.Digest()), OneShotHex(Mode::kKeyed, data));
  Blake3 d = Blake3::DeriveKey(kVectorContext);
  d.Update("xyz");
  d.Reset();
  d.Update(data);
  EXPECT_EQ(Hex(d.Digest()), OneShotHex(Mode::kDerive, data));
}

// ---- Tests run once per kernel the CPU can run -------------------------------

class Blake3KernelTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (!Blake3ForceKernel(GetParam())) {
      GTEST_SKIP() << "this CPU (or build) cannot run the " << GetParam() << " kernel";
    }
    ASSERT_STREQ(Blake3KernelName(), GetParam());
  }
  void TearDown() override { Blake3ForceKernel("auto"); }
};

TEST_P(Blake3KernelTest, OfficialVectors) {
  std::string tried;
  const fs::path file = VectorsFile(&tried);
  ASSERT_FALSE(file.empty()) << "BLAKE3 test vectors not found; tried:" << tried
                             << ". Put shared/ beside the repository or set MODELHUB_SHARED_DIR.";
  std::ifstream in(file);
  const nlohmann::json vectors = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(vectors.is_discarded()) << file << " is not valid JSON";
  ASSERT_EQ(vectors.at("key").get<std::string>(), kVectorKey);
  ASSERT_EQ(vectors.at("context_string").get<std::string>(), kVectorContext);
  const auto& cases = vectors.at("cases");
  ASSERT_EQ(cases.size(), 35u);

  for (const auto& c : cases) {
    const size_t len = c.at("input_len").get<size_t>();
    const std::string input = PatternInput(len);
    for (Mode m : kAllModes) {
      SCOPED_TRACE(testing::Message() << "input_len " << len << ", " << ModeName(m));
      const std::string want = c.at(ModeName(m)).get<std::string>();
      ASSERT_EQ(want.size() % 2, 0u);
      const size_t out_len = want.size() / 2;
      EXPECT_EQ(OneShotHex(m, input, out_len), want);

      Blake3 h = MakeHasher(m);
      h.Update(input);
      EXPECT_EQ(Hex(h.Digest()), want.substr(0, 2 * kBlake3OutLen));
      // Every suffix position the output crosses: block edges and odd offsets.
      for (size_t seek : {1, 31, 63, 64, 65, 127, 128, 200}) {
        if (seek >= out_len) continue;
        std::vector<uint8_t> part(out_len - seek);
        h.Finalize(part.data(), part.size(), seek);
        EXPECT_EQ(Hex(part.data(), part.size()), want.substr(2 * seek)) << "seek " << seek;
      }
    }
  }
}

TEST_P(Blake3KernelTest, IncrementalOddSplitsEqualOneShot) {
  const std::vector<size_t> patterns[] = {
      {1},
      {3, 7, 63, 64, 65, 1023, 1024, 1025, 4097, 8191, 16385, 65537},
      {1023},
      {1025},
      {17 * 1024 + 3},
      {64 * 1024 + 1, 5},
  };
  const size_t sizes[] = {0,        1,        63,          64,          65,
                          1023,     1024,     1025,        2048,        2049,
                          8192,     16 * 1024 + 1, 32 * 1024, 64 * 1024 - 1, 100000,
                          300001,   (1 << 20) + 7};
  for (size_t size : sizes) {
    const std::string data = RandomInput(size, size);
    for (Mode m : kAllModes) {
      const std::string want = OneShotHex(m, data, 100);
      for (size_t p = 0; p < std::size(patterns); ++p) {
        if (patterns[p].size() == 1 && patterns[p][0] == 1 && size > 100000) continue;  // slow
        SCOPED_TRACE(testing::Message() << "size " << size << ", " << ModeName(m) << ", pattern "
                                        << p);
        Blake3 h = MakeHasher(m);
        size_t pos = 0;
        for (size_t i = 0; pos < data.size(); ++i) {
          const size_t n = std::min(patterns[p][i % patterns[p].size()], data.size() - pos);
          h.Update(data.data() + pos, n);
          pos += n;
        }
        std::vector<uint8_t> out(100);
        h.Finalize(out.data(), out.size());
        EXPECT_EQ(Hex(out.data(), out.size()), want);
      }
    }
  }
}

TEST_P(Blake3KernelTest, FinalizeLeavesStateUsable) {
  const std::string data = RandomInput(50000, 3);
  for (size_t cut : {0, 1, 1024, 2048, 4096, 10000, 32768, 49999}) {
    Blake3 h;
    h.Update(data.substr(0, cut));
    EXPECT_EQ(Hex(h.Digest()), OneShotHex(Mode::kHash, data.substr(0, cut)));
    EXPECT_EQ(h.Digest(), h.Digest());
    h.Update(data.substr(cut));
    EXPECT_EQ(Hex(h.Digest()), OneShotHex(Mode::kHash, data)) << "cut " << cut;
  }
}

TEST_P(Blake3KernelTest, XofSeek) {
  for (size_t size : {0, 1, 1024, 1025, 5000}) {
    const std::string data = RandomInput(size, 4);
    for (Mode m : kAllModes) {
      Blake3 h = MakeHasher(m);
      h.Update(data);
      std::vector<uint8_t> full(2048);
      h.Finalize(full.data(), full.size());
      for (size_t seek : {0, 1, 63, 64, 65, 127, 128, 1000, 1985, 2047}) {
        for (size_t len : {1, 2, 63, 64, 65, 200}) {
          if (seek + len > full.size()) continue;
          std::vector<uint8_t> part(len);
          h.Finalize(part.data(), len, seek);
          EXPECT_EQ(Hex(part.data(), len), Hex(full.data() + seek, len))
              << "size " << size << ' ' << ModeName(m) << " seek " << seek << " len " << len;
        }
      }
      // Far into the stream: consistent with itself across a block edge.
      const uint64_t far = (uint64_t{1} << 40) + 3;
      std::vector<uint8_t> a(130), b(67);
      h.Finalize(a.data(), a.size(), far);
      h.Finalize(b.data(), b.size(), far + 63);
      EXPECT_EQ(Hex(a.data() + 63, b.size()), Hex(b.data(), b.size()));
    }
  }
}

// b3sum (the reference implementation's CLI) on random files whose sizes sit
// on chunk and tree boundaries.
TEST_P(Blake3KernelTest, AgreesWithB3sum) {
  const std::string b3sum = FindOnPath("b3sum");
  if (b3sum.empty()) GTEST_SKIP() << "b3sum not found on PATH (Debian: apt-get install b3sum)";
  TempDir dir;
  ASSERT_FALSE(dir.path().empty()) << "mkdtemp failed";
  const fs::path key_file = dir.path() / "key";
  WriteFile(key_file, std::string_view(kVectorKey, kBlake3KeyLen));

  std::vector<size_t> sizes = {0, 1, 1023, 1024, 1025, 2048, 3072, (1 << 20) + 7};
  for (size_t k : {1, 2, 3, 4, 8, 16, 33, 64, 257}) {
    sizes.push_back(4096 * k - 1);
    sizes.push_back(4096 * k + 1);
  }
  for (size_t size : sizes) {
    const std::string data = RandomInput(size, 1000 + size);
    const fs::path file = dir.path() / ("in" + std::to_string(size));
    WriteFile(file, data);
    const std::string quoted = "'" + file.string() + "'";
    struct {
      Mode mode;
      std::string args;
    } runs[] = {
        {Mode::kHash, ""},
        {Mode::kKeyed, "--keyed"},
        {Mode::kDerive, std::string("--derive-key '") + kVectorContext + "'"},
    };
    for (const auto& run : runs) {
      const size_t out_len = size % 3 == 0 ? 32 : 131;  // some extended outputs too
      const std::string cmd = b3sum + " --no-names --length " + std::to_string(out_len) + " " +
                              run.args + " " + quoted + " <'" + key_file.string() + "'";
      const std::optional<std::string> want = RunCommand(cmd);
      ASSERT_TRUE(want.has_value()) << "failed: " << cmd;
      EXPECT_EQ(OneShotHex(run.mode, data, out_len), *want)
          << "size " << size << ", " << ModeName(run.mode);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, Blake3KernelTest, ::testing::ValuesIn(kAllKernels),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param);
                         });

}  // namespace
}  // namespace modelhub
