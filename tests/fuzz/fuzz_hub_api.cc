// fuzz_hub_api: request bodies and URLs of the Hub API (api/hub.h) through
// Hub::Handle — the NDJSON commit parser, LFS batch and verify JSON, preupload
// (including its gitAttributes/gitIgnore globs), paths-info (JSON and form),
// repo create, branch/tag/settings bodies, Range on resolve, and the router.
// There is no pure parser function for these: they are fuzzed through the
// public API, with real storage (SQLite, libgit2, blob store) in a temp folder.
//
// Setup (once per process): a data folder under $TMPDIR (OpenDataDir), user
// "alice" with a write and a read token, repos alice/r (model) and alice/d
// (dataset), one LFS object linked to alice/r, and a first commit adding
// README.md and weights.bin (an LFS pointer).
//
// Input: byte 0 = method (bits 0-2, one of GET POST PUT DELETE HEAD), auth
// (bits 3-4: write Bearer, write Basic, read Bearer, none), chunked (bit 5),
// form content type (bit 6); byte 1 = route (bits 0-3, kRoutes) and body
// chunking (bits 4-7: the BodyReader serves at most that many bytes per Read);
// the rest is the body. Routes marked kRangeFromBody take their Range header from
// the first body line; kTargetFromBody takes the whole request target from it.
//
// Checks: Handle() neither throws nor crashes; the status is in [200, 599];
// every error (>= 400) carries X-Error-Code; JSON responses parse; a streamed
// body delivers exactly its announced length. State carries over between inputs
// (commits, branches, new repos); alice/r and alice/d are re-created if an input
// deleted or moved them. 500s are printed (first few) but not fatal.
// MODELHUB_FUZZ_VERBOSE=1 prints every request and its answer (for reproducing).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/hub.h"
#include "auth/auth.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"
#include "crypto/sha256.h"
#include "fuzz_util.h"
#include "server/data_dir.h"

namespace modelhub {
namespace {

using fuzz::Quote;

enum RouteKind { kFixed, kRangeFromBody, kTargetFromBody };
struct Route {
  const char* target;
  RouteKind kind;
};
constexpr Route kRoutes[16] = {
    {"/api/models/alice/r/commit/main", kFixed},
    {"/alice/r.git/info/lfs/objects/batch", kFixed},
    {"/api/models/alice/r/preupload/main", kFixed},
    {"/api/models/alice/r/paths-info/main", kFixed},
    {"/api/repos/create", kFixed},
    {"/alice/r.git/info/lfs/objects/verify", kFixed},
    {"/api/models/alice/r/branch/fuzz-branch", kFixed},
    {"/api/models/alice/r/tag/main", kFixed},
    {"/api/models/alice/r/settings", kFixed},
    {"/api/datasets/alice/d/commit/main", kFixed},
    {"/alice/r/resolve/main/weights.bin", kRangeFromBody},
    {"/alice/r/resolve/main/README.md", kRangeFromBody},
    {"", kTargetFromBody},
    {"/api/models/alice/r/commit/main?create_pr=0", kFixed},
    {"/api/models/alice/r/preupload/main", kFixed},
    {"/alice/r.git/info/lfs/objects/batch", kFixed},
};
constexpr const char* kMethods[8] = {"GET", "POST", "PUT", "DELETE", "HEAD", "GET", "POST", "PUT"};

// Must match the seeds in corpus/fuzz_hub_api (their lfsFile oid).
constexpr char kLfsContent[] = "modelhub fuzz lfs object\n";

class StringBody : public BodyReader {
 public:
  StringBody(std::string_view bytes, size_t chunk) : bytes_(bytes), chunk_(chunk) {}
  Result<size_t> Read(char* buf, size_t n) override {
    size_t k = std::min({n, chunk_, bytes_.size() - pos_});
    std::copy_n(bytes_.data() + pos_, k, buf);
    pos_ += k;
    return k;
  }
  bool done() const override { return pos_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  size_t chunk_;
  size_t pos_ = 0;
};

struct Env {
  std::string root;
  std::unique_ptr<DataDir> dir;
  Metrics metrics;
  std::unique_ptr<Hub> hub;
  std::string write_token, read_token;
  std::set<std::string> reported_500s;
  bool verbose = std::getenv("MODELHUB_FUZZ_VERBOSE") != nullptr;

  Env() {
    SetLogLevel(LogLevel::kError);
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/modelhub-fuzz-hub-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    FUZZ_CHECK(::mkdtemp(buf.data()) != nullptr, "mkdtemp {}", tmpl);
    root = buf.data();
    auto d = OpenDataDir(root + "/data");
    FUZZ_CHECK(d.ok(), "OpenDataDir: {}", d.status().ToString());
    dir = std::move(d).value();
    MetadataStore* meta = dir->meta.get();
    auto alice = meta->CreateUser("alice", false);
    FUZZ_CHECK(alice.ok(), "CreateUser: {}", alice.status().ToString());
    write_token = Authenticator::NewTokenSecret();
    read_token = Authenticator::NewTokenSecret();
    FUZZ_CHECK(meta->CreateToken(alice->id, "w", TokenRole::kWrite, Authenticator::HashToken(write_token)).ok(), "token");
    FUZZ_CHECK(meta->CreateToken(alice->id, "r", TokenRole::kRead, Authenticator::HashToken(read_token)).ok(), "token");

    HubConfig hc;
    hc.public_url = "http://127.0.0.1:1";
    hc.repos_dir = dir->repos_dir();
    hc.signing_key = dir->signing_key;
    hc.max_json_body = 1 << 20;
    hc.max_commit_body = 4 << 20;
    hc.max_inline_file = 1 << 20;
    hc.regular_file_max = 1 << 16;
    hc.multipart_threshold = 1 << 20;  // small, so batch bodies reach the multipart answer
    hc.multipart_part_size = 1 << 20;
    hub = std::make_unique<Hub>(hc, meta, dir->content.get(), &metrics);
    EnsureRepos();

    std::string oid = Sha256Hex(kLfsContent);
    int64_t size = int64_t(sizeof(kLfsContent) - 1);
    auto ingest = dir->content->BeginIngest(oid, size);
    FUZZ_CHECK(ingest.ok(), "BeginIngest: {}", ingest.status().ToString());
    FUZZ_CHECK((*ingest)->Write(kLfsContent, size_t(size)).ok() && (*ingest)->Finish().ok(), "ingest");
    FUZZ_CHECK(meta->PutLfsObject(LfsObject{oid, size, 0}).ok(), "PutLfsObject");
    auto repo = meta->GetRepo(RepoType::kModel, "alice", "r");
    FUZZ_CHECK(repo.ok() && meta->LinkLfsObject(repo->id, oid).ok(), "LinkLfsObject");
    std::string commit =
        "{\"key\":\"header\",\"value\":{\"summary\":\"seed\"}}\n"
        "{\"key\":\"file\",\"value\":{\"path\":\"README.md\",\"content\":\"" + Base64Encode("# r\nhello\n") +
        "\",\"encoding\":\"base64\"}}\n"
        "{\"key\":\"lfsFile\",\"value\":{\"path\":\"weights.bin\",\"algo\":\"sha256\",\"oid\":\"" + oid +
        "\",\"size\":" + std::to_string(size) + "}}\n";
    int status = Send("POST", "/api/models/alice/r/commit/main", commit);
    FUZZ_CHECK(status == 200, "setup commit answered {}", status);
  }

  ~Env() {
    hub.reset();
    dir.reset();
    (void)RemoveAll(root);
  }

  // (Re)creates the repos the fixed routes use, if an input deleted or moved them.
  void EnsureRepos() {
    for (auto [type, name] : {std::pair{RepoType::kModel, "r"}, std::pair{RepoType::kDataset, "d"}}) {
      if (dir->meta->GetRepo(type, "alice", name).ok()) continue;
      auto rec = hub->CreateRepo(type, "alice", name, false, "alice");
      FUZZ_CHECK(rec.ok(), "CreateRepo alice/{}: {}", name, rec.status().ToString());
    }
  }

  int Send(const std::string& method, const std::string& target, const std::string& body) {
    Request req;
    req.method = method;
    req.target = target;
    auto q = target.find('?');
    req.path = target.substr(0, q);
    req.raw_query = q == std::string::npos ? "" : target.substr(q + 1);
    req.headers = {{"authorization", "Bearer " + write_token}};
    req.content_length = int64_t(body.size());
    StringBody reader(body, body.size());
    req.body = &reader;
    Response resp;
    hub->Handle(req, resp);
    return resp.status;
  }
};

Env& TheEnv() {
  static Env env;
  return env;
}

}  // namespace
}  // namespace modelhub

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  modelhub::TheEnv();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  using namespace modelhub;
  if (len < 2) return 0;
  Env& env = TheEnv();
  uint8_t b0 = data[0], b1 = data[1];
  std::string_view body(reinterpret_cast<const char*>(data) + 2, len - 2);
  const Route& route = kRoutes[b1 & 15];
  size_t hi = b1 >> 4;
  size_t chunk = hi == 0 ? SIZE_MAX : hi * hi * 3;

  Request req;
  req.method = kMethods[b0 & 7];
  std::string target = route.target;
  if (route.kind != kFixed) {
    auto nl = body.find('\n');
    std::string first(body.substr(0, nl));
    body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
    if (route.kind == kRangeFromBody) {
      req.headers.emplace_back("range", first);
    } else {
      target = first.empty() || first[0] != '/' ? "/" + first : first;
    }
  }
  req.target = target;
  auto q = target.find('?');
  req.path = target.substr(0, q);
  req.raw_query = q == std::string::npos ? "" : target.substr(q + 1);
  req.remote_addr = "127.0.0.1";
  switch ((b0 >> 3) & 3) {
    case 0: req.headers.emplace_back("authorization", "Bearer " + env.write_token); break;
    case 1: req.headers.emplace_back("authorization", "Basic " + Base64Encode("alice:" + env.write_token)); break;
    case 2: req.headers.emplace_back("authorization", "Bearer " + env.read_token); break;
    default: break;
  }
  if (b0 & 0x40) req.headers.emplace_back("content-type", "application/x-www-form-urlencoded");
  else req.headers.emplace_back("content-type", "application/json");
  if (b0 & 0x20) {
    req.chunked = true;  // length unknown until the body ends
  } else {
    req.content_length = int64_t(body.size());
  }
  StringBody reader(body, chunk);
  req.body = &reader;

  Response resp;
  try {
    env.hub->Handle(req, resp);
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "exception escaped Hub::Handle for {} {}: {}", req.method, Quote(target), e.what());
  }

  auto what = [&] { return fmt::format("{} {} -> {} {}", req.method, Quote(target), resp.status, Quote(resp.body)); };
  if (env.verbose) std::fprintf(stderr, "fuzz_hub_api: %s\n", what().c_str());
  FUZZ_CHECK(resp.status >= 200 && resp.status <= 599, "bad status: {}", what());
  if (resp.status >= 400) FUZZ_CHECK(resp.Header("X-Error-Code").has_value(), "error without X-Error-Code: {}", what());
  if (resp.status >= 500 && resp.status != 501 && resp.status != 503 && env.reported_500s.size() < 20 &&
      env.reported_500s.insert(resp.body).second) {
    std::fprintf(stderr, "fuzz_hub_api: 500: %s\n", what().c_str());
  }
  auto ctype = resp.Header("Content-Type");
  if (!resp.stream && !resp.body.empty() && ctype && ctype->find("json") != std::string_view::npos) {
    FUZZ_CHECK(!nlohmann::json::parse(resp.body, nullptr, false).is_discarded(), "JSON response does not parse: {}",
               what());
  }
  if (resp.stream && req.method != "HEAD") {
    std::vector<char> buf(1 << 16);
    int64_t total = 0;
    while (true) {
      auto n = resp.stream->Read(buf.data(), buf.size());
      FUZZ_CHECK(n.ok(), "stream read failed: {} ({})", n.status().ToString(), what());
      if (*n == 0) break;
      total += int64_t(*n);
      FUZZ_CHECK(total <= resp.stream_length, "stream longer than announced {}: {}", resp.stream_length, what());
    }
    FUZZ_CHECK(total == resp.stream_length, "stream gave {} of {} bytes: {}", total, resp.stream_length, what());
  }
  env.EnsureRepos();
  return 0;
}
