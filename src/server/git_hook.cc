// `modelhub hook pre-receive`: the push policy, run by `git receive-pack`
// (spawned by api/hub_git.cc) after the pushed objects arrived in the
// quarantine and before any ref moves. A non-zero exit refuses the whole push;
// what we print on stderr reaches the user as "remote: ..." lines.
//
// Checks, for each "<old> <new> <ref>" line on stdin:
//  - only refs/heads/* and refs/tags/* may be pushed (refs/pr/*, refs/convert/*
//    and the rest belong to the hub);
//  - branch names follow the same rules as the HTTP API;
//  - the default branch (HEAD's target) is never deleted, and with
//    MODELHUB_PROTECT_DEFAULT_BRANCH=1 never rewound (no force push);
//  - branch tips and tags point (after peeling) at commits;
//  - in every commit the push adds (walked from the new tips, hiding everything
//    the repository's refs already reach): files larger than
//    MODELHUB_GIT_MAX_FILE_BYTES must be git-lfs pointers, paths must pass
//    the HTTP API's path rules, a name added to a folder may not have a Unicode
//    NFC twin there, a .gitmodules must pass the HTTP API's check, and a root
//    .gitattributes / .gitignore must stay within the pattern file limits
//    (repo/path_rules.h, repo/gitmodules.h);
//  - every git-lfs pointer those commits add names an object this repository
//    uploaded (through the LFS batch API, as git-lfs does before the push) with
//    the pointer's size: the same rule as the HTTP API's commit endpoint, so no
//    one can claim another repository's object by its hash. The registry is
//    read from the metadata store of the data folder MODELHUB_DATA
//    (OpenDataDirMetadata: the folder's storage.conf, server/data_dir.h), repository MODELHUB_REPO_ID.
// The repository is opened with GIT_REPOSITORY_OPEN_FROM_ENV so libgit2 sees the
// quarantined objects (GIT_OBJECT_DIRECTORY + GIT_ALTERNATE_OBJECT_DIRECTORIES).
#include "server/git_hook.h"

#include "repo/libgit2_util.h"
#include "server/data_dir.h"

#include <git2.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>

#include <fmt/format.h>

#include "common/strings.h"
#include "repo/git_repo.h"
#include "repo/gitmodules.h"
#include "repo/path_rules.h"
#include "storage/meta/metadata_store.h"
#include "storage/meta/object_ownership.h"

namespace modelhub {

namespace {

// The libgit2 RAII wrappers are the repo layer's (repo/libgit2_util.h).
using RepoPtr = git::RepositoryPtr;
using git::CommitPtr;
using git::DiffPtr;
using git::ObjectPtr;
using git::OdbObjectPtr;
using git::OdbPtr;
using git::ReferencePtr;
using git::RevwalkPtr;
using git::TreePtr;

constexpr char kHeads[] = "refs/heads/";
constexpr char kTags[] = "refs/tags/";
constexpr size_t kMaxReportedErrors = 20;

// What libgit2 says went wrong, without server paths (the pusher reads it).
std::string GitError(const std::string& what) { return git::LastErrorMessage(what); }

std::string Hex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &oid);
  return buf;
}

std::string HumanSize(int64_t n) {
  if (n >= (1LL << 30)) return fmt::format("{:.1f} GiB", double(n) / double(1LL << 30));
  if (n >= (1LL << 20)) return fmt::format("{:.1f} MiB", double(n) / double(1LL << 20));
  if (n >= (1LL << 10)) return fmt::format("{:.1f} KiB", double(n) / double(1LL << 10));
  return fmt::format("{} bytes", n);
}

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

std::string Extension(const std::string& path) {
  auto slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  auto dot = base.rfind('.');
  if (dot == std::string::npos || dot == 0) return "";
  return base.substr(dot);
}

struct Update {
  git_oid old_id;
  git_oid new_id;
  std::string ref;
};

struct PointerUse {
  std::string path;
  std::string commit;  // short id
  LfsPointer pointer;
};

struct HookConfig {
  int64_t max_file_bytes = 10LL << 20;
  bool protect_default = true;
  std::string data_dir;  // "" = no LFS registry: pointers cannot be checked, the push is refused
  int64_t repo_id = 0;
};

class PreReceive {
 public:
  explicit PreReceive(HookConfig cfg) : cfg_(std::move(cfg)), max_file_(cfg_.max_file_bytes) {}

  int Run(std::istream& in) {
    std::vector<Update> updates;
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      auto parts = Split(line, ' ');
      Update u;
      if (parts.size() != 3 || git_oid_fromstr(&u.old_id, parts[0].c_str()) != 0 ||
          git_oid_fromstr(&u.new_id, parts[1].c_str()) != 0) {
        return Internal("unexpected hook input: " + line);
      }
      u.ref = parts[2];
      updates.push_back(std::move(u));
    }
    git_repository* raw = nullptr;
    if (git_repository_open_ext(&raw, nullptr, GIT_REPOSITORY_OPEN_FROM_ENV, nullptr) != 0) {
      return Internal(GitError("open repository"));
    }
    repo_.reset(raw);
    git_odb* odb = nullptr;
    if (git_repository_odb(&odb, repo_.get()) != 0) return Internal(GitError("open object database"));
    odb_.reset(odb);
    default_ref_ = DefaultRef();

    std::vector<git_oid> tips;
    for (const auto& u : updates) CheckRef(u, &tips);
    if (errors_.empty() && !tips.empty()) CheckNewCommits(tips);
    if (errors_.empty() && internal_.empty() && !pointers_.empty()) CheckLfsObjects();
    if (!internal_.empty()) return Internal(internal_);
    if (errors_.empty()) return 0;
    std::cerr << "\n";
    for (size_t i = 0; i < errors_.size() && i < kMaxReportedErrors; ++i) std::cerr << "error: " << errors_[i] << "\n";
    if (errors_.size() > kMaxReportedErrors) {
      std::cerr << fmt::format("error: ... and {} more\n", errors_.size() - kMaxReportedErrors);
    }
    if (!large_.empty()) {
      std::cerr << fmt::format(
          "\nmodelhub: files larger than {} must be stored with git-lfs. Track them and rewrite the commits\n"
          "that added them, then push again:\n"
          "    git lfs install\n",
          HumanSize(max_file_));
      for (const auto& ext : large_exts_) std::cerr << fmt::format("    git lfs track \"*{}\"\n", ext);
      for (const auto& p : large_no_ext_) std::cerr << fmt::format("    git lfs track \"{}\"\n", p);
      std::cerr << "    git add .gitattributes\n"
                   "    git lfs migrate import --include=\"<the patterns above>\" --everything\n";
    }
    for (const auto& h : hints_) std::cerr << "\nmodelhub: " << h << "\n";
    std::cerr << "\nmodelhub: push refused.\n\n";
    return 1;
  }

 private:
  int Internal(const std::string& msg) {
    std::cerr << "modelhub: internal error in the pre-receive check: " << msg << "\n";
    return 1;
  }

  std::string DefaultRef() {
    git_reference* head = nullptr;
    if (git_reference_lookup(&head, repo_.get(), "HEAD") != 0) return "refs/heads/main";
    ReferencePtr guard(head);
    if (git_reference_type(head) != GIT_REFERENCE_SYMBOLIC) return "refs/heads/main";
    return git_reference_symbolic_target(head);
  }

  void CheckRef(const Update& u, std::vector<git_oid>* tips) {
    bool is_delete = git_oid_is_zero(&u.new_id);
    bool is_create = git_oid_is_zero(&u.old_id);
    bool branch = StartsWith(u.ref, kHeads);
    bool tag = StartsWith(u.ref, kTags);
    if (!branch && !tag) {
      errors_.push_back(fmt::format("{}: only branches (refs/heads/*) and tags (refs/tags/*) can be pushed; "
                                    "the other refs are managed by the hub",
                                    u.ref));
      return;
    }
    std::string short_name = u.ref.substr(branch ? sizeof(kHeads) - 1 : sizeof(kTags) - 1);
    if (is_delete) {
      if (u.ref == default_ref_) {
        errors_.push_back(fmt::format("{}: {} is the default branch and cannot be deleted", u.ref, short_name));
      }
      return;
    }
    if (!IsValidRefName(short_name)) {
      errors_.push_back(fmt::format("{}: invalid {} name", u.ref, branch ? "branch" : "tag"));
      return;
    }
    git_object* raw = nullptr;
    if (git_object_lookup(&raw, repo_.get(), &u.new_id, GIT_OBJECT_ANY) != 0) {
      internal_ = GitError("look up " + Hex(u.new_id));
      return;
    }
    ObjectPtr obj(raw);
    git_object* peeled_raw = nullptr;
    if (git_object_peel(&peeled_raw, obj.get(), GIT_OBJECT_COMMIT) != 0) {
      errors_.push_back(fmt::format("{}: must point at a commit", u.ref));
      return;
    }
    ObjectPtr peeled(peeled_raw);
    if (branch && git_object_type(obj.get()) != GIT_OBJECT_COMMIT) {
      errors_.push_back(fmt::format("{}: a branch must point at a commit", u.ref));
      return;
    }
    if (branch && !is_create && cfg_.protect_default && u.ref == default_ref_ && !git_oid_equal(&u.old_id, &u.new_id)) {
      int desc = git_graph_descendant_of(repo_.get(), &u.new_id, &u.old_id);
      if (desc < 0) {
        internal_ = GitError("ancestry of " + u.ref);
        return;
      }
      if (desc == 0) {
        errors_.push_back(fmt::format(
            "{}: {} is the protected default branch: force pushes (non-fast-forward updates) are not allowed. "
            "Pull and merge (or rebase on) the current {} first, or push to another branch",
            u.ref, short_name, short_name));
        return;
      }
    }
    tips->push_back(*git_object_id(peeled.get()));
  }

  // Walks the commits reachable from the new tips but from no existing ref.
  void CheckNewCommits(const std::vector<git_oid>& tips) {
    git_revwalk* raw = nullptr;
    if (git_revwalk_new(&raw, repo_.get()) != 0) {
      internal_ = GitError("revwalk");
      return;
    }
    RevwalkPtr walk(raw);
    for (const auto& t : tips) {
      if (git_revwalk_push(walk.get(), &t) != 0) {
        internal_ = GitError("revwalk push");
        return;
      }
    }
    // The existing refs are untouched until this hook succeeds; their history was checked when it arrived.
    if (git_revwalk_hide_glob(walk.get(), "refs/*") != 0) {
      internal_ = GitError("revwalk hide");
      return;
    }
    git_oid id;
    while (git_revwalk_next(&id, walk.get()) == 0) {
      CheckCommit(id);
      if (!internal_.empty() || errors_.size() > kMaxReportedErrors) return;
    }
  }

  void CheckCommit(const git_oid& id) {
    git_commit* c = nullptr;
    if (git_commit_lookup(&c, repo_.get(), &id) != 0) {
      internal_ = GitError("commit " + Hex(id));
      return;
    }
    CommitPtr commit(c);
    git_tree* t = nullptr;
    if (git_commit_tree(&t, commit.get()) != 0) {
      internal_ = GitError("tree of " + Hex(id));
      return;
    }
    TreePtr tree(t);
    TreePtr parent_tree;
    if (git_commit_parentcount(commit.get()) > 0) {
      git_commit* p = nullptr;
      if (git_commit_parent(&p, commit.get(), 0) != 0) {
        internal_ = GitError("parent of " + Hex(id));
        return;
      }
      CommitPtr parent(p);
      git_tree* pt = nullptr;
      if (git_commit_tree(&pt, parent.get()) != 0) {
        internal_ = GitError("tree of parent of " + Hex(id));
        return;
      }
      parent_tree.reset(pt);
    }
    git_diff_options opts;
    git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
    opts.flags = GIT_DIFF_SKIP_BINARY_CHECK | GIT_DIFF_IGNORE_SUBMODULES;
    git_diff* d = nullptr;
    if (git_diff_tree_to_tree(&d, repo_.get(), parent_tree.get(), tree.get(), &opts) != 0) {
      internal_ = GitError("diff of " + Hex(id));
      return;
    }
    DiffPtr diff(d);
    std::string short_id = Hex(id).substr(0, 12);
    std::set<std::string> dirs_with_additions;  // "" (root), "a/", "a/b/"
    for (size_t i = 0, n = git_diff_num_deltas(diff.get()); i < n; ++i) {
      const git_diff_delta* delta = git_diff_get_delta(diff.get(), i);
      if (delta->status != GIT_DELTA_ADDED && delta->status != GIT_DELTA_MODIFIED &&
          delta->status != GIT_DELTA_TYPECHANGE) {
        continue;
      }
      const git_diff_file& f = delta->new_file;
      std::string path = f.path != nullptr ? f.path : "";
      if (delta->status == GIT_DELTA_ADDED) {
        for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
          dirs_with_additions.insert(path.substr(0, slash + 1));
        }
        dirs_with_additions.insert("");
      }
      if (f.mode == GIT_FILEMODE_COMMIT) continue;  // submodule link: no blob here
      if (checked_paths_.insert(path).second) {
        Status ps = ValidateFilePath(path);
        if (!ps.ok()) errors_.push_back(fmt::format("{} (commit {}): {}", path, short_id, ps.message()));
      }
      // git's fsck (receive.fsckObjects) checks .gitmodules too; the shared check keeps the API and
      // the push on one rule whatever git version runs (repo/gitmodules.h).
      if (IsGitmodulesPath(path) && f.mode != GIT_FILEMODE_LINK &&
          checked_gitmodules_.insert(Hex(f.id)).second) {
        git_odb_object* raw_blob = nullptr;
        if (git_odb_read(&raw_blob, odb_.get(), &f.id) != 0) {
          internal_ = GitError("blob " + Hex(f.id));
          return;
        }
        OdbObjectPtr blob(raw_blob);
        Status gs = CheckGitmodules(
            std::string_view(static_cast<const char*>(git_odb_object_data(blob.get())), git_odb_object_size(blob.get())),
            path);
        if (!gs.ok()) errors_.push_back(fmt::format("{} (commit {}): {}", path, short_id, gs.message()));
      }
      if ((path == ".gitattributes" || path == ".gitignore") && checked_patterns_.insert(path + Hex(f.id)).second) {
        CheckPatternFile(path, f.id, short_id);
        if (!internal_.empty()) return;
      }
      if (!checked_blobs_.insert(Hex(f.id)).second) continue;
      size_t len = 0;
      git_object_t type = GIT_OBJECT_INVALID;
      if (git_odb_read_header(&len, &type, odb_.get(), &f.id) != 0) {
        internal_ = GitError("blob " + Hex(f.id));
        return;
      }
      if (int64_t(len) <= kMaxLfsPointerBytes) {
        if (auto ptr = ReadLfsPointer(f.id)) {
          pointers_.push_back({path, short_id, *ptr});
          continue;
        }
      }
      if (int64_t(len) <= max_file_) continue;
      errors_.push_back(fmt::format("{} is {} (commit {}), above the {} limit for files stored in git", path,
                                    HumanSize(int64_t(len)), short_id, HumanSize(max_file_)));
      large_.insert(path);
      std::string ext = Extension(path);
      if (!ext.empty()) {
        large_exts_.insert(ext);
      } else {
        large_no_ext_.insert(path);
      }
    }
    for (const std::string& dir : dirs_with_additions) {
      CheckNfcTwinsIn(tree.get(), parent_tree.get(), dir, short_id);
      if (!internal_.empty()) return;
    }
  }

  // The subtree at dir ("" or "a/b/") of root; null if there is none (or it is not a folder).
  TreePtr Subtree(const git_tree* root, const std::string& dir) {
    if (root == nullptr) return nullptr;
    git_tree* out = nullptr;
    if (dir.empty()) {
      if (git_tree_dup(&out, const_cast<git_tree*>(root)) != 0) return nullptr;
      return TreePtr(out);
    }
    git_tree_entry* raw = nullptr;
    if (git_tree_entry_bypath(&raw, root, dir.substr(0, dir.size() - 1).c_str()) != 0) return nullptr;
    std::unique_ptr<git_tree_entry, void (*)(git_tree_entry*)> entry(raw, git_tree_entry_free);
    if (git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE) return nullptr;
    if (git_tree_lookup(&out, repo_.get(), git_tree_entry_id(entry.get())) != 0) return nullptr;
    return TreePtr(out);
  }

  // The names this commit added to folder dir (absent from the first parent's) may not have an
  // NFC twin there: the HTTP API's rule (repo/path_rules.h CheckNfcTwins).
  void CheckNfcTwinsIn(const git_tree* tree, const git_tree* parent_tree, const std::string& dir,
                       const std::string& short_id) {
    TreePtr now = Subtree(tree, dir);
    if (!now) return;
    TreePtr before = Subtree(parent_tree, dir);
    std::string key = Hex(*git_tree_id(now.get())) + (before ? Hex(*git_tree_id(before.get())) : "");
    if (!checked_dirs_.insert(key).second) return;
    std::unordered_set<std::string> old_names;
    if (before) {
      for (size_t i = 0, n = git_tree_entrycount(before.get()); i < n; ++i) {
        old_names.insert(git_tree_entry_name(git_tree_entry_byindex(before.get(), i)));
      }
    }
    std::vector<std::string> entries, added;
    for (size_t i = 0, n = git_tree_entrycount(now.get()); i < n; ++i) {
      std::string name = git_tree_entry_name(git_tree_entry_byindex(now.get(), i));
      if (old_names.count(name) == 0) added.push_back(name);
      entries.push_back(std::move(name));
    }
    Status s = CheckNfcTwins(dir, entries, added);
    if (!s.ok()) errors_.push_back(fmt::format("commit {}: {}", short_id, s.message()));
  }

  // The pattern file limits of repo/path_rules.h, as for a commit through the HTTP API: a push
  // must not store a .gitattributes the API's commits and preuploads would then refuse to read.
  void CheckPatternFile(const std::string& path, const git_oid& id, const std::string& short_id) {
    size_t len = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    if (git_odb_read_header(&len, &type, odb_.get(), &id) != 0) {
      internal_ = GitError("blob " + Hex(id));
      return;
    }
    if (len > kMaxPatternFileBytes) {
      errors_.push_back(fmt::format("{} is {} (commit {}), above the {} limit for pattern files", path,
                                    HumanSize(int64_t(len)), short_id, HumanSize(int64_t(kMaxPatternFileBytes))));
      return;
    }
    git_odb_object* raw = nullptr;
    if (git_odb_read(&raw, odb_.get(), &id) != 0) {
      internal_ = GitError("blob " + Hex(id));
      return;
    }
    OdbObjectPtr obj(raw);
    std::string_view content(static_cast<const char*>(git_odb_object_data(obj.get())), git_odb_object_size(obj.get()));
    Status st = path == ".gitattributes" ? PatternRules::ParseGitAttributes(content).status()
                                         : PatternRules::ParseGitIgnore(content).status();
    if (!st.ok()) errors_.push_back(fmt::format("{} (commit {}): {}", path, short_id, st.message()));
  }

  std::optional<LfsPointer> ReadLfsPointer(const git_oid& id) {
    git_odb_object* raw = nullptr;
    if (git_odb_read(&raw, odb_.get(), &id) != 0) return std::nullopt;
    OdbObjectPtr obj(raw);
    std::string_view content(static_cast<const char*>(git_odb_object_data(obj.get())), git_odb_object_size(obj.get()));
    return ParseLfsPointer(content);
  }

  // Every pointer must name an object this repository uploaded, with the pointer's size.
  void CheckLfsObjects() {
    if (cfg_.data_dir.empty() || cfg_.repo_id <= 0) {
      internal_ = "MODELHUB_DATA / MODELHUB_REPO_ID not set: cannot check the pushed LFS pointers";
      return;
    }
    auto meta = OpenDataDirMetadata(cfg_.data_dir);
    if (!meta.ok()) {
      internal_ = "metadata store: " + meta.status().message();
      return;
    }
    std::unordered_set<std::string> ok;
    bool missing = false;
    for (const auto& use : pointers_) {
      const std::string& oid = use.pointer.oid;
      std::string key = oid + " " + std::to_string(use.pointer.size);  // one check per (object, size)
      if (ok.count(key)) continue;
      auto own = CheckObjectOwnership(**meta, cfg_.repo_id, oid, use.pointer.size);
      if (!own.ok()) {
        internal_ = "LFS registry: " + own.status().message();
        return;
      }
      if (own->verdict == Ownership::kNotOwned || own->verdict == Ownership::kMissing) {
        errors_.push_back(fmt::format("{} (commit {}): LFS object {} was never uploaded to this repository", use.path,
                                      use.commit, oid));
        missing = true;
        continue;
      }
      if (own->verdict == Ownership::kWrongSize) {
        errors_.push_back(fmt::format("{} (commit {}): LFS pointer says {} bytes, the stored object {} has {}",
                                      use.path, use.commit, use.pointer.size, oid, own->file.size));
        continue;
      }
      ok.insert(key);
    }
    if (missing) {
      hints_.push_back(
          "git-lfs uploads objects before git pushes commits; if it was skipped or failed, run\n"
          "    git lfs push --all origin\n"
          "and push again (with git-lfs installed: git lfs install).");
    }
  }

  HookConfig cfg_;
  int64_t max_file_;
  std::vector<PointerUse> pointers_;
  std::vector<std::string> hints_;
  RepoPtr repo_;
  OdbPtr odb_;
  std::string default_ref_;
  std::vector<std::string> errors_;
  std::string internal_;
  std::unordered_set<std::string> checked_blobs_;
  std::unordered_set<std::string> checked_paths_;
  std::unordered_set<std::string> checked_gitmodules_;  // blob ids
  std::unordered_set<std::string> checked_dirs_;        // (tree, parent's tree) ids
  std::unordered_set<std::string> checked_patterns_;
  std::set<std::string> large_;
  std::set<std::string> large_exts_;
  std::set<std::string> large_no_ext_;
};

int64_t EnvInt(const char* name, int64_t dflt) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return dflt;
  auto n = ParseInt64(v);
  return n && *n >= 0 ? *n : dflt;
}

}  // namespace

int RunGitHook(const std::vector<std::string>& args) {
  std::string name = args.empty() ? "" : args[0];
  if (name != "pre-receive") {
    std::cerr << "modelhub hook: unknown hook '" << name << "'\n";
    return 1;
  }
  git_libgit2_init();
  int rc = 1;
  {
    HookConfig cfg;
    cfg.max_file_bytes = EnvInt("MODELHUB_GIT_MAX_FILE_BYTES", 10LL << 20);
    cfg.protect_default = EnvInt("MODELHUB_PROTECT_DEFAULT_BRANCH", 1) != 0;
    const char* data = std::getenv("MODELHUB_DATA");
    cfg.data_dir = data != nullptr ? data : "";
    cfg.repo_id = EnvInt("MODELHUB_REPO_ID", 0);
    PreReceive hook(std::move(cfg));
    rc = hook.Run(std::cin);
  }
  git_libgit2_shutdown();
  return rc;
}

}  // namespace modelhub
