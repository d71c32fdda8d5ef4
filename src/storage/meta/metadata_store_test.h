// The MetadataStore conformance suite (tests in metadata_store_test.cc) and
// the test helpers it shares with backend-specific tests.
//
// A backend joins the suite by instantiating it with a factory in its own
// test file, e.g.
//   INSTANTIATE_TEST_SUITE_P(Sqlite, test::MetadataStoreConformance,
//                            testing::Values(test::MetadataStoreFactory{"File", OpenFn}),
//                            test::MetadataStoreFactoryName);
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>

#include "common/fs.h"
#include "common/status.h"
#include "storage/meta/metadata_store.h"

namespace modelhub {

inline void PrintTo(Code c, std::ostream* os) { *os << CodeName(c); }

namespace test {

struct MetadataStoreFactory {
  using OpenFn = std::function<Result<std::unique_ptr<MetadataStore>>(const std::string& dir)>;
  MetadataStoreFactory(std::string name, OpenFn open, std::function<std::string()> skip_reason = {})
      : name(std::move(name)), open(std::move(open)), skip_reason(std::move(skip_reason)) {}

  std::string name;  // gtest parameter name: letters, digits, '_'
  // Opens a new, empty store keeping any files under dir (a fresh empty directory).
  OpenFn open;
  // Optional: a non-empty answer skips each test with that reason (e.g. no PostgreSQL
  // server on this machine). Never a way to hide a failure: open() errors still fail.
  std::function<std::string()> skip_reason;
};

inline void PrintTo(const MetadataStoreFactory& f, std::ostream* os) { *os << f.name; }

inline std::string MetadataStoreFactoryName(const testing::TestParamInfo<MetadataStoreFactory>& info) {
  return info.param.name;
}

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/mh_meta_test.XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    if (!path_.empty()) (void)RemoveAll(path_);
  }
  const std::string& path() const { return path_; }  // empty if creation failed

 private:
  std::string path_;
};

inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}

template <typename S>
testing::AssertionResult HasCode(const S& s, Code want) {
  const Status& st = StatusOf(s);
  if (st.code() == want) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "expected " << CodeName(want) << ", got " << st.ToString();
}

// Each test gets a new store from the factory, in its own scratch directory.
class MetadataStoreConformance : public testing::TestWithParam<MetadataStoreFactory> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty()) << "cannot create a scratch directory";
    if (GetParam().skip_reason) {
      const std::string why = GetParam().skip_reason();
      if (!why.empty()) GTEST_SKIP() << why;
    }
    auto opened = GetParam().open(dir_.path());
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }
  MetadataStore& store() { return *store_; }

  ScratchDir dir_;
  std::unique_ptr<MetadataStore> store_;
};

// Case twins stored before schema version 5 (which made names case-insensitive). Each backend's
// migration test writes these rows into a version-4 database, in this order (ids ascending),
// migrates, and hands the store to CheckCaseTwinsAfterMigration (metadata_store_test.cc):
//   accounts: user "bob", user "Bob", org "BOB" (no memberships needed);
//   repos of "bob": model "x", model "X", dataset "x".
void CheckCaseTwinsAfterMigration(MetadataStore& store);

}  // namespace test
}  // namespace modelhub

#define MH_EXPECT_OK(expr) EXPECT_TRUE(::modelhub::test::HasCode((expr), ::modelhub::Code::kOk))
#define MH_ASSERT_OK(expr) ASSERT_TRUE(::modelhub::test::HasCode((expr), ::modelhub::Code::kOk))
#define MH_EXPECT_CODE(expr, code) EXPECT_TRUE(::modelhub::test::HasCode((expr), ::modelhub::Code::code))
#define MH_ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)                                       \
  auto tmp = (expr);                                                                       \
  ASSERT_TRUE(::modelhub::test::HasCode(tmp, ::modelhub::Code::kOk)) << "from: " #expr; \
  lhs = std::move(tmp).value()
#define MH_ASSERT_OK_AND_ASSIGN(lhs, expr) MH_ASSERT_OK_AND_ASSIGN_IMPL(MH_CONCAT(mh_test_tmp_, __LINE__), lhs, expr)
