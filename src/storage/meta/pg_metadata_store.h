// PgMetadataStore: the scale-out MetadataStore backend, one PostgreSQL
// database shared by any number of modelhub processes. Schema, migrations and
// locking: docs/formats/metadata-schema.md ("PostgreSQL").
//
// Thread-safety: every method may be called from any number of threads (and
// processes). The store owns a pool of libpq connections, opened on demand.
// Every write method is one SERIALIZABLE transaction, so concurrent writers, in
// this process or another, behave as if run one after the other (what the
// SQLite backend gets from its single writer); a transaction that loses a
// serialization conflict or a deadlock is run again, up to max_attempts times.
// Reads are single statements, or REPEATABLE READ transactions when they page
// through a table.
//
// Failures: the database down or restarting gives Unavailable (retryable)
// without waiting; the store needs no reopening when it comes back (broken
// connections are dropped and replaced). A call is retried on a fresh
// connection when the old one turns out dead before anything could have been
// committed; a connection lost during COMMIT gives Unavailable (the change may
// or may not have been applied).
//
// Durability: an Ok write has been committed with PostgreSQL's default
// synchronous_commit (on).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "storage/meta/metadata_store.h"
#include "storage/meta/pg_conn.h"

namespace modelhub {

struct PgStoreOptions {
  int pool_size = 8;          // connections at most, per store
  int connect_timeout_s = 5;  // unless the URL sets connect_timeout
  int max_attempts = 30;      // of a transaction that keeps losing serialization conflicts
};

// Takes modelhub's own settings out of a PostgreSQL URL's query ("...?sslmode=require&pool_size=16"):
// pool_size (1..1000) and max_attempts (1..1000) go into *options, everything else stays for libpq.
// InvalidArgument for a value that is not a number in range. URLs without them come back unchanged.
Result<std::string> TakePgStoreOptions(const std::string& url, PgStoreOptions* options);

class PgMetadataStore final : public MetadataStore {
 public:
  // The newest schema version this binary knows; version N has the same logical
  // schema as the SQLite backend's version N.
  static constexpr int kSchemaVersion = 5;
  // modelhub_schema.application of a modelhub metadata database.
  static constexpr const char* kApplication = "modelhub-metadata";
  // Key of the transaction-scoped advisory lock that serializes migrations ("MHub").
  static constexpr int64_t kMigrationLockKey = 0x4D487562;

  // Connects to url (a libpq URI, "postgresql://user:pass@host:port/db?...", or a
  // key=value connection string) and applies pending migrations in one
  // transaction under an advisory lock, so processes opening at once migrate
  // once. The tables live in the connection's current schema (search_path).
  // Fails with Unavailable if the server cannot be reached, InvalidArgument if
  // the schema holds other tables but no modelhub metadata, NotImplemented if
  // its version is newer than kSchemaVersion (or the server older than 12).
  static Result<std::unique_ptr<PgMetadataStore>> Open(const std::string& url, const PgStoreOptions& options = {});

  // Copies every row of the SQLite metadata database at sqlite_path (schema version kSchemaVersion)
  // into this store, which must hold no accounts yet, in one transaction; the id sequences continue
  // after the highest id SQLite ever handed out. For moving an embedded hub to PostgreSQL
  // (`modelhub admin migrate`). Returns the number of rows copied.
  Result<int64_t> ImportFromSqlite(const std::string& sqlite_path);

  PgMetadataStore(std::string url, const PgStoreOptions& options)
      : options_(options), pool_(std::move(url), options.pool_size, options.connect_timeout_s) {}
  PgMetadataStore(const PgMetadataStore&) = delete;
  PgMetadataStore& operator=(const PgMetadataStore&) = delete;

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
  enum class Mode {
    kStatement,  // autocommit: fn runs single statements
    kSnapshot,   // BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY
    kWrite,      // BEGIN ISOLATION LEVEL SERIALIZABLE
  };
  // Runs fn(PgConn&) on a pooled connection in the given mode, committing if it
  // succeeded, and runs it again (on a fresh connection if needed) after a
  // serialization failure, a deadlock, or a connection found dead before COMMIT.
  // *delivered, if given, is set by fn once it has handed rows to a caller's
  // callback: from then on fn is never run again.
  template <typename Fn>
  auto Run(Mode mode, Fn&& fn, const bool* delivered = nullptr) -> decltype(fn(std::declval<PgConn&>()));
  // Hands every row of `select` (see ForEachPage in the .cc) to deliver(result, row),
  // page by page in one snapshot.
  template <typename Deliver>
  Status ListPaged(const std::string& select, const char* key, Deliver&& deliver);
  template <typename Fn>
  auto Write(Fn&& fn) {
    return Run(Mode::kWrite, std::forward<Fn>(fn));
  }
  template <typename Fn>
  auto Read(Fn&& fn) {
    return Run(Mode::kStatement, std::forward<Fn>(fn));
  }

  const PgStoreOptions options_;
  PgPool pool_;
};

}  // namespace modelhub
