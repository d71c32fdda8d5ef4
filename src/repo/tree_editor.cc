#include "repo/tree_editor.h"

#include <utility>
#include <vector>

#include "common/strings.h"
#include "repo/gitmodules.h"
#include "repo/path_rules.h"

namespace modelhub::git {

struct TreeEditor::Dir {
  TreePtr original;  // null for a directory this editor created
  std::map<std::string, Node> children;
  bool dirty = false;  // children differ (or may differ) from original
  std::vector<std::string> added;  // names this editor brought in (checked for NFC twins on Write)
};

namespace {

// Splits a repository path into components; rejects what git cannot store or
// what would escape or alias the repository.
Result<std::vector<std::string>> SplitPath(const std::string& path) {
  auto bad = [&](const char* why) { return Status::InvalidArgument("Invalid path '" + path + "': " + why); };
  if (path.empty()) return bad("empty");
  if (path.find('\0') != std::string::npos) return bad("contains a NUL byte");
  std::vector<std::string> parts = Split(path, '/');
  for (const std::string& p : parts) {
    if (p.empty()) return bad("empty path component");
    if (p == "." || p == "..") return bad("relative path component");
    if (ToLower(p) == ".git") return bad("'.git' is reserved");
  }
  return parts;
}

}  // namespace

TreeEditor::TreeEditor(git_repository* repo, TreePtr base) : repo_(repo) {
  if (base) {
    root_ = MakeDir(std::move(base));
  } else {
    root_ = std::make_unique<Dir>();
    root_->dirty = true;
  }
}

TreeEditor::~TreeEditor() = default;

std::unique_ptr<TreeEditor::Dir> TreeEditor::MakeDir(TreePtr tree) {
  auto dir = std::make_unique<Dir>();
  for (size_t i = 0, n = git_tree_entrycount(tree.get()); i < n; ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(tree.get(), i);
    Node child;
    child.is_dir = git_tree_entry_type(e) == GIT_OBJECT_TREE;
    child.oid = *git_tree_entry_id(e);
    child.mode = git_tree_entry_filemode_raw(e);
    dir->children.emplace(git_tree_entry_name(e), std::move(child));
  }
  dir->original = std::move(tree);
  return dir;
}

Status TreeEditor::Load(Node& node, const std::string& path) {
  if (node.dir) return Status::Ok();
  git_tree* raw = nullptr;
  int rc = git_tree_lookup(&raw, repo_, &node.oid);
  if (rc < 0) return FromGit(rc, "read tree " + path);
  node.dir = MakeDir(TreePtr(raw));
  return Status::Ok();
}

Status TreeEditor::Apply(const FileOp& op) {
  switch (op.kind) {
    case FileOp::Kind::kUpsert:
      return Upsert(op.path, op.content, op.blob_oid);
    case FileOp::Kind::kDelete:
      return Delete(op.path, /*folder=*/false);
    case FileOp::Kind::kDeleteFolder:
      return Delete(op.path, /*folder=*/true);
  }
  return Status::InvalidArgument("unknown file operation");
}

Status TreeEditor::Upsert(const std::string& path, const std::string& content, const std::string& blob_oid) {
  MH_ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitPath(path));
  Dir* dir = root_.get();
  std::string walked;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    walked += parts[i];
    auto it = dir->children.find(parts[i]);
    if (it == dir->children.end()) {
      Node node;
      node.is_dir = true;
      node.dir = std::make_unique<Dir>();
      it = dir->children.emplace(parts[i], std::move(node)).first;
      dir->added.push_back(parts[i]);
    } else if (!it->second.is_dir) {
      return Status::InvalidArgument("Cannot create '" + path + "': '" + walked + "' is a file, not a folder");
    } else {
      MH_RETURN_IF_ERROR(Load(it->second, walked));
    }
    dir->dirty = true;
    dir = it->second.dir.get();
    walked += '/';
  }
  dir->dirty = true;
  const std::string& name = parts.back();
  auto it = dir->children.find(name);
  if (it != dir->children.end() && it->second.is_dir) {
    return Status::InvalidArgument("Cannot create file '" + path + "': a folder with this name exists");
  }
  git_oid blob;
  if (!blob_oid.empty()) {
    if (git_oid_fromstr(&blob, blob_oid.c_str()) < 0) return Status::InvalidArgument("invalid blob id " + blob_oid);
  } else {
    int rc = git_blob_create_from_buffer(&blob, repo_, content.data(), content.size());
    if (rc < 0) return FromGit(rc, "write blob " + path);
  }
  // git reads submodule URLs from it: the same rules as git's fsck on push (repo/gitmodules.h).
  if (IsGitmodulesPath(path)) {
    if (!blob_oid.empty()) {
      git_blob* raw = nullptr;
      int rc = git_blob_lookup(&raw, repo_, &blob);
      if (rc < 0) return FromGit(rc, "read blob " + path);
      BlobPtr b(raw);
      MH_RETURN_IF_ERROR(CheckGitmodules(
          std::string_view(static_cast<const char*>(git_blob_rawcontent(b.get())), size_t(git_blob_rawsize(b.get()))),
          path));
    } else {
      MH_RETURN_IF_ERROR(CheckGitmodules(content, path));
    }
  }
  if (it == dir->children.end()) dir->added.push_back(name);
  Node node;
  node.oid = blob;
  // Keep the executable bit of a file pushed with it; everything else is a plain file.
  bool exec = it != dir->children.end() && it->second.mode == GIT_FILEMODE_BLOB_EXECUTABLE;
  node.mode = exec ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
  dir->children.insert_or_assign(name, std::move(node));
  return Status::Ok();
}

Status TreeEditor::Delete(const std::string& path, bool folder) {
  std::string p = path;
  if (folder) {
    while (!p.empty() && p.back() == '/') p.pop_back();
    if (p.empty()) return Status::InvalidArgument("Cannot delete the root folder");
  }
  MH_ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitPath(p));
  auto missing = [&] {
    return Status::NotFound(std::string(folder ? "A folder" : "A file") + " with this name doesn't exist: " + p,
                            "EntryNotFound");
  };
  Dir* dir = root_.get();
  std::vector<Dir*> chain{dir};
  std::string walked;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    walked += parts[i];
    auto it = dir->children.find(parts[i]);
    if (it == dir->children.end() || !it->second.is_dir) return missing();
    MH_RETURN_IF_ERROR(Load(it->second, walked));
    dir = it->second.dir.get();
    chain.push_back(dir);
    walked += '/';
  }
  auto it = dir->children.find(parts.back());
  if (it == dir->children.end() || it->second.is_dir != folder) return missing();
  dir->children.erase(it);
  for (Dir* d : chain) d->dirty = true;
  return Status::Ok();
}

Result<std::optional<git_oid>> TreeEditor::WriteDir(Dir& dir, const std::string& path, bool is_root) {
  if (!dir.dirty && dir.original) return std::optional<git_oid>(*git_tree_id(dir.original.get()));

  if (!dir.added.empty()) {
    // Names added and deleted again by later operations are gone: only the final listing counts.
    std::vector<std::string> entries, added;
    entries.reserve(dir.children.size());
    for (const auto& [name, node] : dir.children) entries.push_back(name);
    for (const std::string& name : dir.added) {
      if (dir.children.count(name) != 0) added.push_back(name);
    }
    MH_RETURN_IF_ERROR(CheckNfcTwins(path, entries, added));
  }

  // Start from the original tree so untouched entries are copied as they are
  // (the builder validates names only on insert, i.e. only for edited entries).
  git_treebuilder* raw = nullptr;
  int rc = git_treebuilder_new(&raw, repo_, dir.original.get());
  if (rc < 0) return FromGit(rc, "tree builder");
  TreeBuilderPtr bld(raw);

  if (dir.original) {
    for (size_t i = 0, n = git_tree_entrycount(dir.original.get()); i < n; ++i) {
      const char* name = git_tree_entry_name(git_tree_entry_byindex(dir.original.get(), i));
      if (dir.children.find(name) == dir.children.end()) {
        rc = git_treebuilder_remove(bld.get(), name);
        if (rc < 0) return FromGit(rc, "tree remove " + path + name);
      }
    }
  }
  for (auto& [name, node] : dir.children) {
    git_oid id = node.oid;
    git_filemode_t mode = node.mode;
    if (node.is_dir && node.dir) {
      MH_ASSIGN_OR_RETURN(std::optional<git_oid> sub, WriteDir(*node.dir, path + name + "/", false));
      if (!sub) {
        if (git_treebuilder_get(bld.get(), name.c_str()) != nullptr) {
          rc = git_treebuilder_remove(bld.get(), name.c_str());
          if (rc < 0) return FromGit(rc, "tree remove " + path + name);
        }
        continue;
      }
      id = *sub;
      mode = GIT_FILEMODE_TREE;
    }
    const git_tree_entry* old = git_treebuilder_get(bld.get(), name.c_str());
    if (old != nullptr && git_oid_equal(git_tree_entry_id(old), &id) && git_tree_entry_filemode_raw(old) == mode) {
      continue;
    }
    rc = git_treebuilder_insert(nullptr, bld.get(), name.c_str(), &id, mode);
    if (rc < 0) {
      const git_error* e = git_error_last();
      if (e != nullptr && e->klass == GIT_ERROR_TREE) {
        return Status::InvalidArgument("Invalid path '" + path + name + "': " + e->message);
      }
      return FromGit(rc, "tree insert " + path + name);
    }
  }
  if (!is_root && git_treebuilder_entrycount(bld.get()) == 0) return std::optional<git_oid>();
  git_oid out;
  rc = git_treebuilder_write(&out, bld.get());
  if (rc < 0) return FromGit(rc, "write tree " + path);
  return std::optional<git_oid>(out);
}

Result<git_oid> TreeEditor::Write() {
  MH_ASSIGN_OR_RETURN(std::optional<git_oid> root, WriteDir(*root_, "", /*is_root=*/true));
  return *root;
}

}  // namespace modelhub::git
