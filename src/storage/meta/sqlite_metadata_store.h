// SqliteMetadataStore: the embedded MetadataStore backend, one SQLite database
// file in WAL mode. Schema and migrations: docs/formats/metadata-schema.md.
//
// Thread-safety: every method may be called from any number of threads. The
// store owns a small pool of connections; reads run in parallel on them (WAL
// readers never block), writes are serialized in-process by a mutex and each
// runs in one BEGIN IMMEDIATE transaction, so in-process writers never poll the
// busy handler against each other. Other processes on the same file are
// arbitrated by SQLite's locks with a busy timeout; a lock still held when it
// expires gives Unavailable (retryable).
//
// Durability: synchronous=FULL, so an Ok from a write method means the change
// is on disk.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <string>
#include <utility>
#include <vector>

#include "storage/meta/metadata_store.h"
#include "storage/meta/sqlite_db.h"

namespace modelhub {

struct SqliteStoreOptions {
  int pool_size = 4;             // connections; forced to 1 for ":memory:"
  int busy_timeout_ms = 5000;    // how long to wait for another process's lock
};

class SqliteMetadataStore final : public MetadataStore {
 public:
  // The newest schema version this binary knows (PRAGMA user_version).
  static constexpr int kSchemaVersion = 5;
  // PRAGMA application_id of a modelhub metadata database ("MHub").
  static constexpr int32_t kApplicationId = 0x4D487562;

  // Opens the database at path (":memory:" for a private in-memory database),
  // creating its directory and file if needed and applying pending migrations
  // in one transaction. Fails with InvalidArgument for a SQLite file that is
  // not a modelhub database, NotImplemented if its schema is newer than
  // kSchemaVersion, Corruption if the file is not a SQLite database, IOError
  // if it cannot be opened or switched to WAL, Unavailable if it stays locked.
  static Result<std::unique_ptr<SqliteMetadataStore>> Open(const std::string& path,
                                                           const SqliteStoreOptions& options = {});

  explicit SqliteMetadataStore(std::vector<std::unique_ptr<SqliteConn>> conns) : pool_(std::move(conns)) {}
  SqliteMetadataStore(const SqliteMetadataStore&) = delete;
  SqliteMetadataStore& operator=(const SqliteMetadataStore&) = delete;

  Result<Account> CreateUser(const std::string& name, bool is_admin) override;
  Result<Account> CreateOrg(const std::string& name, const std::string& owner_user) override;
  Result<Account> GetAccount(const std::string& name) override;
  Result<Account> GetAccountById(int64_t id) override;

  Status AddMember(const std::string& org, const std::string& user, OrgRole role) override;
  Status RemoveMember(const std::string& org, const std::string& user) override;
  Result<std::vector<Membership>> ListMembershipsOfUser(int64_t user_id) override;
  Result<std::optional<OrgRole>> GetMemberRole(int64_t org_id, int64_t user_id) override;

  Result<Token> CreateToken(int64_t user_id, const std::string& display_name, TokenRole role,
                            const std::string& secret_sha256_hex) override;
  Result<Token> FindTokenBySecretHash(const std::string& secret_sha256_hex) override;
  Result<Token> GetTokenById(int64_t id) override;
  Status RevokeToken(int64_t user_id, const std::string& display_name) override;
  Result<std::vector<Token>> ListTokens(int64_t user_id) override;

  Result<RepoRecord> CreateRepo(RepoType type, const std::string& ns, const std::string& name,
                                bool is_private) override;
  Result<RepoRecord> GetRepo(RepoType type, const std::string& ns, const std::string& name) override;
  Result<RepoRecord> GetRepoById(int64_t id) override;
  Status DeleteRepo(int64_t id) override;
  Status MoveRepo(int64_t id, const std::string& new_ns, const std::string& new_name) override;
  Status SetRepoPrivate(int64_t id, bool is_private) override;
  Status TouchRepo(int64_t id, int64_t last_modified_ms) override;
  Result<std::vector<RepoRecord>> ListRepos(const RepoQuery& q) override;

  Status PutLfsObject(const LfsObject& obj) override;
  Result<LfsObject> GetLfsObject(const std::string& oid) override;
  Status LinkLfsObject(int64_t repo_id, const std::string& oid) override;
  Result<bool> IsLfsObjectLinked(int64_t repo_id, const std::string& oid) override;
  Result<bool> IsLfsObjectReadable(const std::string& oid, std::optional<int64_t> viewer_user_id,
                                   bool viewer_is_admin) override;

  Status PutUploadSession(const UploadSession& s) override;
  Result<UploadSession> GetUploadSession(const std::string& id) override;
  Status DeleteUploadSession(const std::string& id) override;
  Result<std::vector<UploadSession>> ListUploadSessions() override;

  Status PutXorb(const XorbRecord& x, const std::vector<std::string>& chunk_hashes) override;
  Result<XorbRecord> GetXorb(const std::string& hash) override;
  Result<std::vector<std::optional<ChunkLocation>>> FindChunks(const std::vector<std::string>& hashes) override;
  Status DeleteXorb(const std::string& hash) override;
  Status ListXorbs(const std::function<void(const XorbRecord&)>& fn) override;
  Status PutFile(const FileRecord& f) override;
  Result<FileRecord> GetFile(const std::string& sha256) override;
  Result<FileRecord> GetFileByXetHash(const std::string& xet_hash) override;
  Result<std::vector<std::string>> FilesWithXorb(const std::string& xorb_hash, int64_t limit) override;
  Status DeleteFile(const std::string& sha256) override;
  Status ListFiles(const std::function<void(const FileRecord&)>& fn) override;
  Result<std::vector<RepoRecord>> ListAllRepos() override;

  Status PutFileChecked(const FileRecord& f, const std::vector<std::string>& xorb_hashes) override;
  Result<std::vector<std::string>> DeleteFilesOlderThan(const std::vector<std::string>& sha256s,
                                                        int64_t created_before_ms) override;
  Result<std::vector<std::string>> MarkXorbsDeleting(
      const std::vector<std::string>& hashes, int64_t created_before_ms, int64_t files_since_ms,
      const std::function<Result<std::vector<std::string>>(const FileRecord&)>& xorbs_of) override;
  Result<std::vector<std::string>> NoteOrphanXorbs(const std::vector<std::string>& hashes, int64_t now_ms,
                                                   int64_t seen_before_ms, bool update) override;
  Status ListDeletingXorbs(const std::function<void(const std::string& hash)>& fn) override;

 private:
  Result<RepoRecord> QueryRepo(RepoType type, const std::string& ns, const std::string& name);  // uncached
  // Runs fn(SqliteConn&) in a write transaction; commits if fn succeeded.
  template <typename Fn>
  auto Write(Fn&& fn) -> decltype(fn(std::declval<SqliteConn&>()));
  // Runs fn(SqliteConn&) on a pooled connection (single statements: autocommit).
  template <typename Fn>
  auto Read(Fn&& fn) -> decltype(fn(std::declval<SqliteConn&>()));

  // Acquired before a pool connection, never after: one in-process writer at a time.
  std::mutex write_mu_;
  SqlitePool pool_;

  // GetRepo answers by (type, ns, name): every GET/HEAD /resolve loads its repository, and a
  // SQLite read costs file locks and a WAL check. Cleared after every write transaction of this
  // store (repos rows only change through one), so it is never stale for writes made through it.
  // A lookup racing a write stores nothing (generation). Writers in another process are not seen,
  // so it is used only while IsSoleWriter() (common/sole_writer.h). Bounded (cleared when full).
  static constexpr size_t kRepoCacheMax = 4096;
  std::mutex repo_cache_mu_;
  std::unordered_map<std::string, RepoRecord> repo_cache_;  // guarded by repo_cache_mu_
  uint64_t repo_cache_generation_ = 0;                      // guarded by repo_cache_mu_
  // IsLfsObjectLinked answers, the same way and under the same rules (every /resolve of an LFS file
  // checks that its repository owns the object: storage/meta/object_ownership.h). Key: repo id, oid.
  std::unordered_map<std::string, bool> link_cache_;  // guarded by repo_cache_mu_
};

}  // namespace modelhub
