// Hub: the HTTP API of modelhub — the Hugging Face Hub API as the official
// clients call it (docs/compat.md lists every route), the git-lfs batch API,
// and the signed upload/download URLs those hand out.
//
// Hub owns no storage: it is handed the metadata store, the content store and
// the data folder by server/. Handlers never touch SQL or files directly.
// Thread-safety: Handle() is called concurrently from connection threads.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "auth/auth.h"
#include "auth/xet_token.h"
#include "common/byte_budget.h"
#include "common/status.h"
#include "net/http.h"
#include "net/metrics.h"
#include "repo/git_repo.h"
#include "repo/path_rules.h"
#include "storage/cas/chunk_store.h"
#include "storage/cas/xet_cas.h"
#include "storage/meta/metadata_store.h"

namespace modelhub {

struct HubConfig {
  std::string public_url = "http://127.0.0.1:8080";  // no trailing '/'; may carry a path prefix
  std::string repos_dir;                             // bare git repositories: <repos_dir>/<id>.git
  std::string data_dir;                              // the data folder ("" = none: no GC fence, tests)
  std::string signing_key;                           // HMAC key for signed URLs
  int64_t max_json_body = 16LL << 20;                // JSON request bodies
  int64_t max_commit_body = 2LL << 30;               // NDJSON commit bodies
  // One base64-decoded "file" entry: the Hub's limit for files stored in git (larger files go
  // through LFS/Xet, as preupload tells clients: regular_file_max).
  int64_t max_inline_file = 10LL << 20;
  // Memory that all NDJSON commit bodies in flight may hold together (the line being parsed, its
  // JSON value and the decoded file: docs/security.md). A commit that cannot get its share within
  // commit_memory_wait_ms answers 503 with Retry-After.
  int64_t commit_memory_budget = 256LL << 20;
  int64_t commit_memory_wait_ms = 30'000;
  int64_t max_lfs_object = 5LL << 40;                // one LFS object
  int64_t multipart_threshold = 64LL << 20;          // LFS uploads above this use multipart (when offered)
  int64_t multipart_part_size = 64LL << 20;
  int64_t signed_url_ttl_s = 24 * 3600;
  int64_t regular_file_max = 10LL << 20;  // preupload: at or above this size => lfs (at most max_inline_file + 1)
  // git smart HTTP (hub_git.cc; docs/protocols/git-http.md).
  int64_t git_max_file_bytes = 10LL << 20;      // push: larger files must be LFS pointers (pre-receive)
  bool protect_default_branch = true;           // push: no force push to / deletion of the default branch
  int64_t git_timeout_s = 3600;                 // one upload-pack / receive-pack run, then it is killed
  int64_t git_max_request_bytes = 256LL << 20;  // inflated upload-pack request (wants and haves)
  std::string git_binary = "git";               // looked up in PATH
  // git output waits in a nameless file on the data disk, or in memory when that disk has less than
  // this free (a full data disk must not stop clones and fetches).
  int64_t git_spool_min_free_bytes = 256LL << 20;
  // Xet (hub_xet.cc; docs/protocols/xet.md).
  bool xet_enabled = true;              // advertise Xet and serve the CAS under /api/cas
  int64_t xet_token_ttl_s = 3600;       // Xet access tokens and signed xorb URLs
  int64_t xet_dedup_ttl_s = 24 * 3600;  // key expiry of dedup answers (clients cache them until then)
  // /metrics: false = only hub administrators (an admin user's token); true = anyone (a scraper
  // on a private network; `serve --metrics-public`).
  bool metrics_public = false;
  // What one shard upload may cost (XetShardLimits; docs/protocols/xet.md "Verification budget").
  int64_t xet_verify_floor_bytes = 1LL << 30;  // content any shard may make the server read back
  int64_t xet_verify_ratio = 8;                // ... or this many times the distinct content it names
};

struct RepoRef;  // a resolved /api/{type}s/{ns}/{name}
class Hub;

// An open repository borrowed from the Hub's pool; given back when destroyed.
// Opening a repository costs a few dozen syscalls, a pooled one none.
class GitHandle {
 public:
  GitHandle(Hub* hub, int64_t id, std::unique_ptr<GitRepo> repo) : hub_(hub), id_(id), repo_(std::move(repo)) {}
  GitHandle(GitHandle&&) noexcept = default;
  GitHandle& operator=(GitHandle&&) noexcept = default;
  ~GitHandle();
  GitRepo* operator->() const { return repo_.get(); }
  GitRepo& operator*() const { return *repo_; }

 private:
  Hub* hub_;
  int64_t id_;
  std::unique_ptr<GitRepo> repo_;
};

class Hub {
 public:
  Hub(HubConfig config, MetadataStore* meta, ChunkStore* content, Metrics* metrics);
  void Handle(Request& req, Response& resp);

  // Creates a repository (DB row + git repository with its initial commit).
  Result<RepoRecord> CreateRepo(RepoType type, const std::string& ns, const std::string& name, bool is_private,
                                const std::string& author);

 private:
  Status Route(Request& req, Response& resp);
  Status RouteApiRepo(Request& req, Response& resp, RepoType type, const std::vector<std::string>& segs);
  Status RouteFileRoutes(Request& req, Response& resp, RepoType type, const std::vector<std::string>& segs);

  // Handlers (hub_*.cc).
  Status HandleWhoami(Request& req, Response& resp);
  Status HandleCreateRepo(Request& req, Response& resp);
  Status HandleDeleteRepo(Request& req, Response& resp);
  Status HandleMoveRepo(Request& req, Response& resp);
  Status HandleListRepos(Request& req, Response& resp, RepoType type);
  Status HandleRepoInfo(Request& req, Response& resp, RepoRef& repo, const std::string& rev);
  Status HandleSettings(Request& req, Response& resp, RepoRef& repo);
  Status HandleTree(Request& req, Response& resp, RepoRef& repo, const std::vector<std::string>& rest);
  Status HandlePathsInfo(Request& req, Response& resp, RepoRef& repo, const std::string& rev);
  Status HandleRefs(Request& req, Response& resp, RepoRef& repo);
  Status HandleCommits(Request& req, Response& resp, RepoRef& repo, const std::vector<std::string>& rest);
  Status HandleBranch(Request& req, Response& resp, RepoRef& repo, const std::string& branch);
  Status HandleTag(Request& req, Response& resp, RepoRef& repo, const std::string& name);
  Status HandlePreupload(Request& req, Response& resp, RepoRef& repo, const std::string& rev);
  Status HandleCommit(Request& req, Response& resp, RepoRef& repo, const std::string& rev);
  Status HandleResolve(Request& req, Response& resp, RepoRef& repo, const std::vector<std::string>& rest, bool raw);
  Status HandleValidateYaml(Request& req, Response& resp);

  // LFS (hub_lfs.cc).
  Status HandleLfsBatch(Request& req, Response& resp, RepoRef& repo);
  Status HandleLfsVerify(Request& req, Response& resp, RepoRef& repo);
  Status HandleLfsLocks(Request& req, Response& resp, RepoRef& repo);
  Status HandleSignedUpload(Request& req, Response& resp, const std::vector<std::string>& segs);
  Status HandleSignedPart(Request& req, Response& resp, const std::vector<std::string>& segs);
  Status HandleSignedComplete(Request& req, Response& resp, const std::vector<std::string>& segs);
  Status HandleSignedDownload(Request& req, Response& resp, const std::vector<std::string>& segs);

  // git smart HTTP (hub_git.cc): info/refs, git-upload-pack, git-receive-pack.
  // rest = path segments after "{ns}/{name}[.git]".
  Status HandleGit(Request& req, Response& resp, RepoType type, const std::string& ns, const std::string& name,
                   const std::vector<std::string>& rest);
  // Runs the git service for an authorized request and fills resp (hub_git.cc).
  Status RunGitService(Request& req, Response& resp, RepoRef& repo, const std::string& service, bool advertise);
  // LFS file locking API (hub_lfs_locks.cc): {repo}.git/info/lfs/locks[/verify|/{id}/unlock].
  Status HandleLfsLockCreate(Request& req, Response& resp, RepoRef& repo);
  Status HandleLfsLockList(Request& req, Response& resp, RepoRef& repo);
  Status HandleLfsLockVerify(Request& req, Response& resp, RepoRef& repo);
  Status HandleLfsUnlock(Request& req, Response& resp, RepoRef& repo, const std::string& id);

  // Xet (hub_xet.cc): tokens, CAS routes under /api/cas, headers and fields pointing clients at Xet.
  Status HandleXetToken(Request& req, Response& resp, RepoRef& repo, bool write);
  Status RouteCas(Request& req, Response& resp, const std::vector<std::string>& segs);
  Status HandleXetFetch(Request& req, Response& resp, const std::string& xorb_seg);
  Result<XetTokenClaims> XetAuth(const Request& req, bool write);
  std::string CasUrl() const;
  std::string XetTokenUrl(const RepoRecord& rec, bool write, const std::string& rev) const;
  // A signed URL for bytes [first, last] of xorb, under the grant of Xet token claims c (read).
  std::string SignedFetchUrl(const XetTokenClaims& c, const xet::XetHash& xorb, uint64_t first, uint64_t last) const;
  // X-Xet-Hash and the Link to the read token on resolve responses of Xet-stored files.
  void AddXetFileHeaders(Response& resp, const RepoRecord& rec, const std::string& commit, const std::string& xet_hash);
  // @huggingface/hub asks resolve for "Accept: application/vnd.xet-fileinfo+json": it then downloads
  // through the CAS with the headers of AddXetFileHeaders (the body is informational).
  static bool WantsXetFileInfo(const Request& req);
  Status ServeXetFileInfo(Response& resp, const std::string& oid, int64_t size, const std::string& xet_hash);
  // The Xet file hash of the object a pointer in repository repo_id names ("" if Xet is disabled
  // or the repository does not own the object: storage/meta/object_ownership.h).
  std::string XetHashOf(int64_t repo_id, const LfsPointer& ptr);
  // The LFS batch "upload" action of transfer "xet" (token refresh URL + X-Xet-* headers).
  nlohmann::json XetUploadAction(const RepoRecord& rec, const Viewer& viewer, const std::string& rev);

  // Helpers (hub.cc).
  // The object as the chunk store has it (NotFound if not stored). The LFS
  // registry in the metadata store only says who uploaded what; existence is
  // the chunk store's file record.
  Result<LfsObject> StoredObject(const std::string& oid);
  Result<Viewer> Auth(const Request& req);
  // Loads repo ns/name of type and checks the viewer may read it.
  Result<RepoRef> LoadRepo(const Request& req, RepoType type, const std::string& ns, const std::string& name);
  Result<GitHandle> OpenGit(const RepoRecord& rec);
  friend class GitHandle;
  void ReturnGit(int64_t id, std::unique_ptr<GitRepo> repo);
  void ForgetGit(int64_t id);  // drops pooled handles of a deleted repo
  std::string RepoDir(int64_t id) const;
  std::string RepoUrl(const RepoRecord& rec) const;  // public URL of the repo page
  // Signed URLs (auth/access_grant.h). The grant of what repo.viewer may do on repo.rec (write: the
  // caller has passed CheckWrite), expiring ttl_s from now.
  AccessGrant GrantOf(const RepoRef& repo, bool write, int64_t ttl_s) const;
  // Absolute URL of path (relative to the public URL) for method, carrying grant g; extra_query
  // ("r=a-b", signed too) goes first.
  std::string SignedUrl(const std::string& method, const std::string& path, const AccessGrant& g,
                        const std::string& extra_query = "") const;
  // Verifies the signature and expiry of a signed request (Forbidden otherwise), then re-checks its grant
  // (Authenticator::CheckGrant: a revoked token is Forbidden here, a deleted or no longer readable repo
  // NotFound). Returns the repository the URL was issued for.
  Result<RepoRecord> VerifySigned(const Request& req, const std::string& method, bool write,
                                  const std::string& extra_query = "");
  // Serves [range of] content: small bytes or an LFS object.
  Status ServeBytes(Request& req, Response& resp, const std::string& bytes, const std::string& etag);
  Status ServeLfsObject(Request& req, Response& resp, const std::string& oid, int64_t size);
  // Resolves "rev[/path...]" segments where rev may itself contain '/'.
  Result<std::pair<std::string, std::string>> SplitRevision(GitRepo& git, const std::vector<std::string>& segs,
                                                            size_t from);
  // Absolute URL of the current request with "cursor" (or page param) replaced, for Link headers.
  std::string NextPageUrl(const Request& req, const std::string& cursor_param, int64_t cursor) const;
  // Path prefix of the public URL ("" or "/prefix"), stripped from incoming paths.
  std::string PublicPrefix() const;

  HubConfig config_;
  MetadataStore* meta_;
  ChunkStore* content_;
  Metrics* metrics_;
  Authenticator auth_;
  std::unique_ptr<XetCas> xet_;  // null when Xet is disabled or there is no content store
  ByteBudget commit_memory_;     // HandleCommit's buffers, across requests (config_.commit_memory_budget)
  std::mutex pool_mu_;
  std::unordered_map<int64_t, std::vector<std::unique_ptr<GitRepo>>> pool_;  // guarded by pool_mu_
  size_t pooled_ = 0;                                                        // guarded by pool_mu_
};

}  // namespace modelhub
