// MetadataStore: hub metadata (accounts, organisations, tokens, repositories,
// LFS object registry, multipart upload sessions).
//
// Backends are chosen by URL scheme (OpenMetadataStore below): "sqlite:PATH" or a
// path (embedded default, SqliteMetadataStore) and "postgres://..." (scale-out,
// PgMetadataStore). Every backend passes the conformance suite in
// metadata_store_test.cc.
//
// Thread-safety: all methods may be called concurrently from many threads.
// Failure: methods return Status/Result; NotFound for missing rows, Conflict for
// unique-key clashes, Unavailable (retryable) when the database is busy/unreachable.
// Nothing is half-applied: each method is one transaction.
// Names (accounts, repos) must be non-empty and contain no '/' (InvalidArgument);
// they compare case-insensitively (ASCII), and lookups answer the stored spelling
// (meta_rules.h FoldName). The conformance suite pins the details.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace modelhub {

enum class AccountKind { kUser, kOrg };

struct Account {
  int64_t id = 0;
  std::string name;  // unique across users and orgs (they share the namespace)
  AccountKind kind = AccountKind::kUser;
  std::string fullname;
  bool is_admin = false;  // users only: hub administrator
  int64_t created_ms = 0;
};

enum class TokenRole { kRead, kWrite };
const char* TokenRoleName(TokenRole r);  // "read" | "write"

struct Token {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string display_name;
  TokenRole role = TokenRole::kRead;
  int64_t created_ms = 0;
  bool revoked = false;
};

enum class OrgRole { kRead, kWrite, kAdmin };
const char* OrgRoleName(OrgRole r);  // "read" | "write" | "admin"
Result<OrgRole> ParseOrgRole(const std::string& s);

struct Membership {
  std::string org;   // org account name
  std::string user;  // user account name
  OrgRole role = OrgRole::kRead;
};

enum class RepoType { kModel, kDataset };
const char* RepoTypeName(RepoType t);  // "model" | "dataset"

struct RepoRecord {
  int64_t id = 0;
  RepoType type = RepoType::kModel;
  std::string ns;    // owner account name
  std::string name;  // repo name within ns
  bool is_private = false;
  int64_t created_ms = 0;
  int64_t last_modified_ms = 0;
  std::string FullId() const { return ns + "/" + name; }
};

enum class RepoSort { kId, kCreatedAt, kLastModified };

struct RepoQuery {
  RepoType type = RepoType::kModel;
  std::string search;  // case-insensitive substring of "ns/name"; empty = all
  std::string author;  // ns (any letter case, resolved as GetAccount does); empty = all
  RepoSort sort = RepoSort::kId;
  bool descending = false;
  // Visibility: private repos are returned only if viewer may read them:
  // viewer is admin, viewer owns ns, or viewer is a member of org ns.
  std::optional<int64_t> viewer_user_id;
  bool viewer_is_admin = false;
  int64_t offset = 0;
  int64_t limit = 100;
};

struct LfsObject {
  std::string oid;  // sha256 hex, lowercase
  int64_t size = 0;
  int64_t created_ms = 0;
};

// A multipart LFS upload in progress (state persisted so any process and any
// restart can finish it).
struct UploadSession {
  std::string id;  // random, url-safe
  int64_t repo_id = 0;
  std::string oid;
  int64_t size = 0;
  int64_t part_size = 0;
  int64_t part_count = 0;
  int64_t created_ms = 0;
};

// ---- Chunk store records (docs/formats/chunk-store.md). Hashes are 64-char
// lowercase hex in the Xet hex form (XetHash::ToHex); sha256s are plain hex.
struct XorbRecord {
  std::string hash;
  int64_t stored_bytes = 0;  // serialized size in the blob store
  int64_t raw_bytes = 0;     // sum of uncompressed chunk sizes
  int64_t num_chunks = 0;
  int64_t created_ms = 0;
};

struct ChunkLocation {
  std::string xorb_hash;
  int64_t chunk_index = 0;
};

struct FileRecord {
  std::string sha256;    // the LFS oid
  std::string xet_hash;  // Xet file hash
  int64_t size = 0;
  std::string terms;     // serialized reconstruction (format in storage/cas/chunk_store.h)
  int64_t created_ms = 0;
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // Accounts. CreateUser/CreateOrg: Conflict if the name is taken by a user or org, in any
  // letter case. Lookups by name (here and wherever a method takes a name) accept any casing.
  virtual Result<Account> CreateUser(const std::string& name, bool is_admin) = 0;
  // The owner becomes an admin member; NotFound if owner_user is not an existing user.
  virtual Result<Account> CreateOrg(const std::string& name, const std::string& owner_user) = 0;
  virtual Result<Account> GetAccount(const std::string& name) = 0;  // NotFound
  virtual Result<Account> GetAccountById(int64_t id) = 0;           // NotFound

  // Memberships. AddMember replaces the role if already a member. NotFound if org/user missing
  // (or of the other kind). RemoveMember: NotFound also if user is not a member.
  virtual Status AddMember(const std::string& org, const std::string& user, OrgRole role) = 0;
  virtual Status RemoveMember(const std::string& org, const std::string& user) = 0;
  virtual Result<std::vector<Membership>> ListMembershipsOfUser(int64_t user_id) = 0;  // empty if none
  virtual Result<std::optional<OrgRole>> GetMemberRole(int64_t org_id, int64_t user_id) = 0;  // nullopt: not a member

  // Tokens. The secret itself is never stored: callers pass its SHA-256 hex (64 lowercase
  // hex digits, else InvalidArgument). CreateToken: NotFound if user_id is unknown,
  // InvalidArgument if it is an org or display_name is empty, Conflict if the secret hash
  // is already registered. Display names need not be unique.
  virtual Result<Token> CreateToken(int64_t user_id, const std::string& display_name, TokenRole role,
                                    const std::string& secret_sha256_hex) = 0;
  virtual Result<Token> FindTokenBySecretHash(const std::string& secret_sha256_hex) = 0;  // NotFound (also if revoked)
  // The token with that id, revoked ones too (Token::revoked says so); NotFound if unknown. One
  // primary-key lookup: signed URLs and Xet tokens re-check the token that minted them at each use.
  virtual Result<Token> GetTokenById(int64_t id) = 0;
  // Revokes every non-revoked token of user_id with that display name; NotFound if none.
  virtual Status RevokeToken(int64_t user_id, const std::string& display_name) = 0;
  virtual Result<std::vector<Token>> ListTokens(int64_t user_id) = 0;  // revoked ones too, by id

  // Repositories. (type, ns, name) is unique case-insensitively; Conflict on clash. GetRepo
  // accepts any casing of ns and name and answers the stored spelling. NotFound if ns is not an
  // account or the id is unknown. Repo ids are never reused. DeleteRepo also drops the
  // repo's LFS links and upload sessions. ListRepos: InvalidArgument for negative
  // offset/limit; ties in the sort key are ordered by id in the same direction.
  virtual Result<RepoRecord> CreateRepo(RepoType type, const std::string& ns, const std::string& name,
                                        bool is_private) = 0;
  virtual Result<RepoRecord> GetRepo(RepoType type, const std::string& ns, const std::string& name) = 0;
  virtual Result<RepoRecord> GetRepoById(int64_t id) = 0;
  virtual Status DeleteRepo(int64_t id) = 0;
  virtual Status MoveRepo(int64_t id, const std::string& new_ns, const std::string& new_name) = 0;  // Conflict
  virtual Status SetRepoPrivate(int64_t id, bool is_private) = 0;
  virtual Status TouchRepo(int64_t id, int64_t last_modified_ms) = 0;
  virtual Result<std::vector<RepoRecord>> ListRepos(const RepoQuery& q) = 0;

  // LFS object registry: which objects exist in the blob store, and which repos
  // have proven possession of them (uploaded them or referenced them in a commit).
  // PutLfsObject: created_ms 0 means now; Conflict if oid is known with another size.
  virtual Status PutLfsObject(const LfsObject& obj) = 0;  // idempotent
  virtual Result<LfsObject> GetLfsObject(const std::string& oid) = 0;  // NotFound
  // NotFound if the repo or the object (PutLfsObject first) is unknown.
  virtual Status LinkLfsObject(int64_t repo_id, const std::string& oid) = 0;  // idempotent
  virtual Result<bool> IsLfsObjectLinked(int64_t repo_id, const std::string& oid) = 0;
  // Is the object linked to some repository the viewer may read (ListRepos' rule: public, or the
  // viewer is admin, owns its namespace or is a member of its org)? For the Xet dedup and xorb
  // answers (docs/protocols/xet.md). nullopt viewer: anonymous (public repositories only).
  virtual Result<bool> IsLfsObjectReadable(const std::string& oid, std::optional<int64_t> viewer_user_id,
                                           bool viewer_is_admin) = 0;

  // Multipart upload sessions. Put: created_ms 0 means now; repeating an identical Put is
  // Ok, the same id with other fields is Conflict; NotFound if the repo is unknown;
  // InvalidArgument if id is not url-safe ([A-Za-z0-9._~-]+) or oid is not sha256 hex.
  virtual Status PutUploadSession(const UploadSession& s) = 0;
  virtual Result<UploadSession> GetUploadSession(const std::string& id) = 0;  // NotFound
  virtual Status DeleteUploadSession(const std::string& id) = 0;              // NotFound
  virtual Result<std::vector<UploadSession>> ListUploadSessions() = 0;        // oldest first

  // Chunk store. PutXorb records a stored xorb and indexes its chunks (chunk i
  // of chunk_hashes is at index i); a chunk already indexed elsewhere keeps its
  // first location. Idempotent. Unavailable if the xorb is being deleted (below).
  virtual Status PutXorb(const XorbRecord& x, const std::vector<std::string>& chunk_hashes) = 0;
  virtual Result<XorbRecord> GetXorb(const std::string& hash) = 0;  // NotFound
  // One entry per requested hash, nullopt for unknown chunks.
  virtual Result<std::vector<std::optional<ChunkLocation>>> FindChunks(const std::vector<std::string>& hashes) = 0;
  // Removes the xorb (or its tombstone) and every chunk index row pointing at it. Ok if absent.
  virtual Status DeleteXorb(const std::string& hash) = 0;
  // fn must not call back into the store.
  virtual Status ListXorbs(const std::function<void(const XorbRecord&)>& fn) = 0;
  // First writer wins for a sha256 (the content is the same). Idempotent.
  virtual Status PutFile(const FileRecord& f) = 0;
  virtual Result<FileRecord> GetFile(const std::string& sha256) = 0;             // NotFound
  virtual Result<FileRecord> GetFileByXetHash(const std::string& xet_hash) = 0;  // NotFound
  virtual Status DeleteFile(const std::string& sha256) = 0;
  // Up to limit files (sha256s, ascending) whose terms name the xorb, as recorded by
  // PutFileChecked (PutFile does not index). For the Xet global dedup answer.
  virtual Result<std::vector<std::string>> FilesWithXorb(const std::string& xorb_hash, int64_t limit) = 0;
  virtual Status ListFiles(const std::function<void(const FileRecord&)>& fn) = 0;
  // Every repository of every type, any visibility (for GC and fsck).
  virtual Result<std::vector<RepoRecord>> ListAllRepos() = 0;

  // ---- Garbage collection support (storage/gc, docs/gc-fsck.md; schema version 3).
  // A xorb "being deleted" has a tombstone row: GetXorb, ListXorbs and FindChunks do not see
  // it, PutXorb of the same hash fails with Unavailable (retryable) until DeleteXorb removes
  // the row, and PutFileChecked refuses files naming it.

  // Records a file only if every xorb in xorb_hashes is recorded and not being deleted, in one
  // transaction; otherwise Unavailable (retryable: the upload may be retried) and nothing
  // changes. If the file is already recorded, its terms are kept (first writer wins, as
  // PutFile) and its created_ms is raised to f.created_ms (0: now), so a re-upload renews the
  // file's grace period.
  virtual Status PutFileChecked(const FileRecord& f, const std::vector<std::string>& xorb_hashes) = 0;
  // In one transaction deletes each file of sha256s whose created_ms is still below
  // created_before_ms, with its LFS registry entries (the lfs_objects row and every repo's
  // lfs_links row for that oid). Files recorded again since are kept. Returns what was deleted.
  virtual Result<std::vector<std::string>> DeleteFilesOlderThan(const std::vector<std::string>& sha256s,
                                                                int64_t created_before_ms) = 0;
  // Starts deleting xorbs, in one transaction: each hash of `hashes` whose row is older than
  // created_before_ms (or that has no row at all: a stored object nobody recorded) and that no
  // file recorded at or after files_since_ms names (xorbs_of lists the xorbs a file's terms
  // name; it must not call back into the store) gets a tombstone and loses its chunk index
  // rows. Returns the hashes now being deleted; the caller removes the objects, then calls
  // DeleteXorb for each.
  virtual Result<std::vector<std::string>> MarkXorbsDeleting(
      const std::vector<std::string>& hashes, int64_t created_before_ms, int64_t files_since_ms,
      const std::function<Result<std::vector<std::string>>(const FileRecord&)>& xorbs_of) = 0;
  // Stored xorb objects nobody recorded ("orphans": a crash between storing and recording) are
  // only deleted once they have been orphans for the grace period. Given the orphans seen now,
  // in one transaction: with update, notes the new ones as first seen at now_ms and forgets
  // notes of hashes no longer listed; returns those first seen before seen_before_ms.
  virtual Result<std::vector<std::string>> NoteOrphanXorbs(const std::vector<std::string>& hashes, int64_t now_ms,
                                                           int64_t seen_before_ms, bool update) = 0;
  // Hashes of xorbs being deleted (a GC that stopped halfway leaves some). fn must not call back.
  virtual Status ListDeletingXorbs(const std::function<void(const std::string& hash)>& fn) = 0;
};

// Opens (creating and migrating if needed) the SQLite store at path.
Result<std::unique_ptr<MetadataStore>> OpenSqliteMetadataStore(const std::string& path);

// Opens the store a configuration names: "postgres://..." or "postgresql://..." (a libpq URI,
// PgMetadataStore), "sqlite:PATH" or a plain file path (SqliteMetadataStore). InvalidArgument
// for an empty string or another URL scheme; otherwise as the backend's Open.
Result<std::unique_ptr<MetadataStore>> OpenMetadataStore(const std::string& url_or_path);

}  // namespace modelhub
