// git smart HTTP: GET {repo}[.git]/info/refs?service=..., POST {repo}[.git]/git-upload-pack
// and /git-receive-pack, served by the git CLI (`git upload-pack|receive-pack
// --stateless-rpc`) on the same bare repository the HF API reads and writes.
// See docs/protocols/git-http.md for the protocol, the settings and the limits.
//
// Flow of one request: authorize (anonymous read of public repos; HTTP Basic
// with a token as password for private repos and every push) → spawn git with
// a clean environment → pump the request body (inflating gzip) into its stdin
// → its stdout lands in a nameless temp file → the file is the response body
// (sendfile). Push policy (file size, protected default branch, ref
// namespaces) lives in the pre-receive hook, `modelhub hook pre-receive`
// (server/git_hook.cc), which git runs on the quarantined objects.
#include <unistd.h>
#include <zlib.h>

#include <cctype>
#include <cstdlib>
#include <mutex>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "api/git_subprocess.h"
#include "api/git_pkt.h"
#include "api/hub_internal.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "repo/path_rules.h"
#include "repo/stale_locks.h"
#include "storage/gc/gc_lock.h"

namespace modelhub {

namespace {

constexpr char kUploadPack[] = "git-upload-pack";
constexpr char kReceivePack[] = "git-receive-pack";

// Calls GitRepo::RefsChangedOutside(dir) when destroyed (nothing for an empty dir).
class RefsChangedOnExit {
 public:
  explicit RefsChangedOnExit(std::string dir) : dir_(std::move(dir)) {}
  ~RefsChangedOnExit() {
    if (!dir_.empty()) GitRepo::RefsChangedOutside(dir_);
  }
  RefsChangedOnExit(const RefsChangedOnExit&) = delete;
  RefsChangedOnExit& operator=(const RefsChangedOnExit&) = delete;

 private:
  std::string dir_;
};

// The hook git runs before it moves any ref. It only hands over to the
// modelhub binary that spawned this receive-pack (MODELHUB_HOOK_BIN, set per
// run to /proc/<server pid>/exe, so a binary replaced on disk is no problem).
constexpr char kPreReceiveScript[] =
    "#!/bin/sh\n"
    "# Written by modelhub (api/hub_git.cc): the push checks of `modelhub hook pre-receive`.\n"
    "if [ -z \"$MODELHUB_HOOK_BIN\" ]; then\n"
    "  echo 'modelhub: pushes must go through the modelhub server' >&2\n"
    "  exit 1\n"
    "fi\n"
    "exec \"$MODELHUB_HOOK_BIN\" hook pre-receive \"$@\"\n";

// A response body that is an open file from offset 0 (sendfile-able).
class FileBodySource : public BodySource {
 public:
  explicit FileBodySource(UniqueFd fd) : fd_(std::move(fd)) {}
  Result<size_t> Read(char* buf, size_t n) override {
    while (true) {
      ssize_t r = ::read(fd_.get(), buf, n);
      if (r >= 0) return size_t(r);
      if (errno != EINTR) return Status::IOError("reading git output");
    }
  }
  std::optional<std::pair<int, int64_t>> FileRange() const override { return std::make_pair(fd_.get(), int64_t(0)); }

 private:
  UniqueFd fd_;
};

// A push answers with the report-status and the messages of git and the hook: small; above this it
// is sent as git wrote it.
constexpr int64_t kMaxPushResultBytes = 4LL << 20;

std::string PktLine(const std::string& payload) { return fmt::format("{:04x}{}", payload.size() + 4, payload); }

// Errors in the dialect git shows its user: a text/plain body is printed as
// "remote: <line>" before git's own "fatal: ..." line.
Status GitTextError(Response& resp, int status, const std::string& code, const std::string& message) {
  resp.stream.reset();
  resp.status = status;
  resp.body = message + "\n";
  resp.SetHeader("Content-Type", "text/plain; charset=utf-8");
  resp.SetHeader("X-Error-Code", code);
  resp.SetHeader("X-Error-Message", message);
  resp.SetHeader("Cache-Control", "no-cache");
  return Status::Ok();
}

// 401 with a Basic challenge: git asks its credential helper (or the terminal) and retries.
Status GitAuthChallenge(Response& resp, const std::string& message) {
  (void)GitTextError(resp, 401, "Unauthorized", message);
  resp.SetHeader("WWW-Authenticate", "Basic realm=\"modelhub\"");
  return Status::Ok();
}

// Git-Protocol header → GIT_PROTOCOL, as git-http-backend does; only
// well-formed "key=value:key=value" strings go into the environment.
std::optional<std::string> SanitizedGitProtocol(const Request& req) {
  auto h = req.Header("git-protocol");
  if (!h || h->empty() || h->size() > 256) return std::nullopt;
  for (char c : *h) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '=' || c == ':' || c == '.' || c == '_' || c == '-')) {
      return std::nullopt;
    }
  }
  return std::string(*h);
}

bool WantsProtocolV2(const std::optional<std::string>& proto) {
  if (!proto) return false;
  for (const auto& kv : Split(*proto, ':')) {
    if (kv == "version=2") return true;
  }
  return false;
}

// Writes the hooks folder once per process (and again if someone changed it).
Result<std::string> EnsureHooksDir(const std::string& repos_dir) {
  static std::mutex mu;
  static std::map<std::string, std::string> done;  // as configured -> absolute
  std::string rel = Dirname(repos_dir) + "/git-hooks";
  std::lock_guard<std::mutex> lock(mu);
  auto it = done.find(rel);
  if (it != done.end()) return it->second;
  MH_RETURN_IF_ERROR(MakeDirs(rel));
  // git runs hooks inside the repository: core.hooksPath must be absolute.
  std::unique_ptr<char, decltype(&std::free)> abs(::realpath(rel.c_str(), nullptr), &std::free);
  if (!abs) return ErrnoStatus(errno, "realpath " + rel);
  std::string dir = abs.get();
  std::string path = dir + "/pre-receive";
  auto cur = ReadFile(path);
  if (!cur.ok() || *cur != kPreReceiveScript || ::access(path.c_str(), X_OK) != 0) {
    MH_RETURN_IF_ERROR(WriteFileAtomic(path, kPreReceiveScript, 0755));
  }
  done.emplace(rel, dir);
  return dir;
}

// Inflates a gzip (or zlib) request body as it streams.
class Inflater {
 public:
  Inflater() { ok_ = inflateInit2(&zs_, 15 + 32) == Z_OK; }
  ~Inflater() { inflateEnd(&zs_); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  bool finished() const { return finished_; }

  // Feeds in[0..n) and calls sink(data, len) for every inflated piece; sink
  // returns false to stop early.
  template <typename Sink>
  Status Feed(const char* in, size_t n, std::vector<char>& out, Sink&& sink) {
    if (!ok_) return Status::Internal("zlib init failed");
    if (finished_) return Status::Ok();  // trailing bytes after the gzip member: ignored, as git-http-backend does
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in));
    zs_.avail_in = uInt(n);
    while (zs_.avail_in > 0 || zs_.avail_out == 0) {
      zs_.next_out = reinterpret_cast<Bytef*>(out.data());
      zs_.avail_out = uInt(out.size());
      int rc = inflate(&zs_, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        return Status::InvalidArgument("malformed gzip request body");
      }
      size_t got = out.size() - zs_.avail_out;
      if (got > 0) {
        MH_ASSIGN_OR_RETURN(bool more, sink(out.data(), got));
        if (!more) return Status::Ok();
      }
      if (rc == Z_STREAM_END) {
        finished_ = true;
        return Status::Ok();
      }
      if (rc == Z_BUF_ERROR && got == 0) break;  // needs more input
    }
    return Status::Ok();
  }

 private:
  z_stream zs_{};
  bool ok_ = false;
  bool finished_ = false;
};

}  // namespace

Status Hub::HandleGit(Request& req, Response& resp, RepoType type, const std::string& ns, const std::string& name,
                      const std::vector<std::string>& rest) {
  resp.route = "git";
  const std::string& m = req.method;
  std::string service;
  bool advertise = false;
  if (rest.size() == 2 && rest[0] == "info" && rest[1] == "refs") {
    if (m != "GET" && m != "HEAD") return Status::NotFound("Not found");
    resp.route = "git_info_refs";
    auto svc = req.Query("service");
    if (!svc) {
      return GitTextError(resp, 403, "DumbHttpUnsupported",
                          "modelhub serves git over the smart HTTP protocol only; use git 1.6.6 or newer");
    }
    service = *svc;
    advertise = true;
  } else if (rest.size() == 1 && (rest[0] == kUploadPack || rest[0] == kReceivePack)) {
    if (m != "POST") return Status::NotFound("Not found");
    service = rest[0];
    resp.route = service == kUploadPack ? "git_upload_pack" : "git_receive_pack";
  } else {
    return Status::NotFound("Not found");
  }
  if (service != kUploadPack && service != kReceivePack) {
    return GitTextError(resp, 403, "UnsupportedService", "Unsupported git service: " + service);
  }
  bool push = service == kReceivePack;

  auto viewer = Auth(req);
  if (!viewer.ok()) return GitAuthChallenge(resp, viewer.status().message());
  std::string full = RepoPathPrefix(type) + ns + "/" + name;
  // Outsiders cannot tell a private repo from a missing one. Anonymous callers
  // are asked for credentials in both cases, so git's credential helper gets
  // its chance before the "not found".
  auto not_found = [&]() -> Status {
    if (viewer->anonymous()) return GitAuthChallenge(resp, "Authentication required for " + full);
    return GitTextError(resp, 404, "RepoNotFound",
                        "Repository " + full + " not found, or your token may not read it");
  };
  if (!ValidateRepoNamePart(ns, "namespace").ok() || !ValidateRepoNamePart(name, "name").ok()) return not_found();
  auto rec = meta_->GetRepo(type, ns, name);
  if (!rec.ok()) {
    if (rec.status().IsNotFound()) return not_found();
    return rec.status();
  }
  Status readable = auth_.CheckRead(*viewer, *rec);
  if (!readable.ok()) {
    if (readable.IsNotFound()) return not_found();
    return readable;
  }
  if (push) {
    Status w = auth_.CheckWrite(*viewer, *rec);
    if (w.code() == Code::kUnauthorized) return GitAuthChallenge(resp, "Pushing to " + full + " needs a token");
    if (!w.ok()) {
      return GitTextError(resp, 403, "Forbidden",
                          fmt::format("You may not push to {}: {}{}", full, w.message(),
                                      viewer->can_write() ? "" : " (a token with the write role is needed)"));
    }
  }
  RepoRef repo{std::move(rec).value(), std::move(viewer).value()};
  return RunGitService(req, resp, repo, service, advertise);
}

Status Hub::RunGitService(Request& req, Response& resp, RepoRef& repo, const std::string& service, bool advertise) {
  bool push = service == kReceivePack;
  std::string dir = RepoDir(repo.rec.id);
  if (!PathExists(dir + "/HEAD")) return Status::Internal("repository storage missing for " + repo.rec.FullId());

  std::optional<std::string> proto = SanitizedGitProtocol(req);
  // receive-pack has no protocol v2; like git-http-backend, only upload-pack gets GIT_PROTOCOL.
  if (push) proto.reset();
  bool v2 = WantsProtocolV2(proto);

  bool gzip = false;
  if (!advertise) {
    std::string expect_ct = "application/x-" + service + "-request";
    auto ct = req.Header("content-type");
    if (ct && ToLower(Trim(*ct)) != expect_ct) {
      return GitTextError(resp, 415, "UnsupportedMediaType", "Expected Content-Type " + expect_ct);
    }
    if (auto enc = req.Header("content-encoding")) {
      std::string e = ToLower(Trim(*enc));
      if (e == "gzip" || e == "x-gzip") {
        gzip = true;
      } else if (!e.empty() && e != "identity") {
        return GitTextError(resp, 415, "UnsupportedMediaType", "Unsupported Content-Encoding " + e);
      }
    }
  }

  // Only a push runs hooks: a clone or fetch writes nothing on the data disk (it must work when
  // that disk is full), so the hooks folder is written only for receive-pack.
  std::string hooks;
  if (push) {
    MH_ASSIGN_OR_RETURN(hooks, EnsureHooksDir(config_.repos_dir));
  } else {
    std::unique_ptr<char, decltype(&std::free)> abs(::realpath(Dirname(config_.repos_dir).c_str(), nullptr),
                                                    &std::free);
    if (!abs) return ErrnoStatus(errno, "realpath " + Dirname(config_.repos_dir));
    hooks = std::string(abs.get()) + "/git-hooks";  // not created: only its parent (HOME) is used
  }
  // Environment: nothing of the server's own, no system or global git config.
  const char* path_env = std::getenv("PATH");
  std::vector<std::string> env = {
      std::string("PATH=") + (path_env != nullptr && *path_env != '\0' ? path_env : "/usr/local/bin:/usr/bin:/bin"),
      "HOME=" + Dirname(hooks),  // the data folder; nothing is read from it (no global config)
      "LC_ALL=C",
      "GIT_CONFIG_NOSYSTEM=1",
      "GIT_CONFIG_GLOBAL=/dev/null",
      "GIT_TERMINAL_PROMPT=0",
  };
  if (proto) env.push_back("GIT_PROTOCOL=" + *proto);
  std::string user = repo.viewer.user ? repo.viewer.user->name : "";
  if (!user.empty()) env.push_back("REMOTE_USER=" + user);
  if (!req.remote_addr.empty()) env.push_back("REMOTE_ADDR=" + req.remote_addr);

  std::vector<std::string> argv = {config_.git_binary};
  auto opt = [&argv](const std::string& kv) {
    argv.push_back("-c");
    argv.push_back(kv);
  };
  if (push) {
    env.push_back(fmt::format("MODELHUB_HOOK_BIN=/proc/{}/exe", ::getpid()));
    env.push_back(fmt::format("MODELHUB_GIT_MAX_FILE_BYTES={}", config_.git_max_file_bytes));
    env.push_back(fmt::format("MODELHUB_PROTECT_DEFAULT_BRANCH={}", config_.protect_default_branch ? 1 : 0));
    env.push_back("MODELHUB_REPO=" + RepoPathPrefix(repo.rec.type) + repo.rec.FullId());
    // The hook checks pushed LFS pointers against the LFS registry of this data folder.
    env.push_back("MODELHUB_DATA=" + Dirname(hooks));
    env.push_back(fmt::format("MODELHUB_REPO_ID={}", repo.rec.id));
    opt("core.hooksPath=" + hooks);
    // Objects and refs durable before "ok" goes back (the 2xx-means-durable rule).
    opt("core.fsync=committed,reference");
    opt("core.fsyncMethod=fsync");
    // libgit2 (HF API commits) holds refs/heads/X.lock for microseconds; wait for it instead of failing.
    opt("core.filesRefLockTimeout=2000");
    opt("receive.fsckObjects=true");
    // Force pushes and deletions are policed by the pre-receive hook, per branch.
    opt("receive.denyNonFastForwards=false");
    opt("receive.denyDeletes=false");
    // Housekeeping runs inside the request (and dies with it), never as a stray daemon.
    opt("gc.autoDetach=false");
  } else {
    opt("uploadpack.allowFilter=true");
    opt("uploadpack.allowReachableSHA1InWant=true");
  }
  argv.push_back(service.substr(4));  // "upload-pack" / "receive-pack"
  argv.push_back("--stateless-rpc");
  if (advertise) argv.push_back("--advertise-refs");
  argv.push_back(dir);

  // v0/v1 advertisements start with "# service=..."; v2 capability adverts do not.
  std::string prefix;
  if (advertise && !v2) prefix = PktLine("# service=" + service + "\n") + "0000";

  // The pre-receive hook checks that pushed LFS pointers name stored objects; until git has moved
  // the refs, a GC sweep must not delete those objects (docs/gc-fsck.md).
  GcFence gc_fence;
  if (push && !advertise) {
    MH_ASSIGN_OR_RETURN(gc_fence, GcFence::Shared(config_.data_dir));
  }
  // receive-pack moves refs behind libgit2's back: the resolved-revision cache of the repo
  // layer must drop this repository's entries once git is gone, on every path out of here.
  // (Declared before proc, so it runs after proc's destructor has killed and reaped git.)
  RefsChangedOnExit refs_changed(push && !advertise ? dir : std::string());
  if (push && !advertise) {
    // git receive-pack would refuse to move a ref whose lock file a killed writer left behind,
    // on every push from now on: remove the stale ones first (repo/stale_locks.h).
    auto removed = RecoverStaleLocks(dir);
    if (!removed.ok()) LogWarn("git push to {}: checking for stale lock files: {}", repo.rec.FullId(),
                               removed.status().message());
  }
  MH_ASSIGN_OR_RETURN(auto proc, GitSubprocess::Start(argv, env, config_.repos_dir, config_.git_spool_min_free_bytes, prefix, !advertise));

  int64_t fed = 0;
  if (!advertise) {
    std::vector<char> in(256 << 10);
    std::vector<char> out(256 << 10);
    std::optional<Inflater> inflater;
    if (gzip) inflater.emplace();
    bool open = true;
    bool too_large = false;
    auto sink = [&](const char* data, size_t n) -> Result<bool> {
      fed += int64_t(n);
      if (!push && fed > config_.git_max_request_bytes) {
        too_large = true;
        return false;
      }
      MH_ASSIGN_OR_RETURN(open, proc->WriteStdin(data, n));
      return open;
    };
    while (open && !too_large) {
      auto n = req.body->Read(in.data(), in.size());
      if (!n.ok()) {
        // The client went away (or stalled past the socket timeout): stop git now.
        proc->Kill();
        LogInfo("git {} on {}: request body aborted ({}); git stopped", service, repo.rec.FullId(),
                n.status().message());
        resp.close = true;
        return GitTextError(resp, 400, "BadRequest", "request body ended early: " + n.status().message());
      }
      if (*n == 0) break;
      if (inflater) {
        Status s = inflater->Feed(in.data(), *n, out, sink);
        if (!s.ok()) {
          proc->Kill();
          return GitTextError(resp, 400, "BadRequest", s.message());
        }
      } else {
        MH_ASSIGN_OR_RETURN(bool more, sink(in.data(), *n));
        (void)more;
      }
    }
    if (too_large) {
      proc->Kill();
      return GitTextError(resp, 413, "PayloadTooLarge",
                          fmt::format("git request larger than {} bytes", config_.git_max_request_bytes));
    }
    if (inflater && open && !inflater->finished()) {
      proc->Kill();
      return GitTextError(resp, 400, "BadRequest", "truncated gzip request body");
    }
  }

  auto code = proc->Wait(config_.git_timeout_s);
  if (!code.ok()) {
    LogWarn("git {} on {}: {}", service, repo.rec.FullId(), code.status().message());
    return code.status();
  }
  std::string err = *code != 0 ? proc->StderrText() : "";
  MH_ASSIGN_OR_RETURN(auto output, proc->TakeStdout());
  auto& [fd, length] = output;
  if (*code != 0) {
    LogWarn("git {} on {} exited with {}: {}", service, repo.rec.FullId(), *code, Trim(err));
    // Whatever git wrote (an "ERR" packet, a partial report) still reaches the client; with
    // nothing written, the client gets a plain error and the details stay in the server log.
    if (length <= int64_t(prefix.size())) {
      return GitTextError(resp, 500, "GitFailed",
                          fmt::format("git {} failed on the server (exit code {})", service.substr(4), *code));
    }
  }
  if (push && !advertise && *code == 0 && fed > 4) {
    (void)meta_->TouchRepo(repo.rec.id, NowMs());
    LogInfo("git push to {} by {} ({} bytes)", repo.rec.FullId(), user, fed);
  }
  metrics_->AddCounter(advertise ? "git_advertisements_total" : (push ? "git_pushes_total" : "git_fetches_total"), 1);

  resp.status = 200;
  resp.SetHeader("Content-Type", "application/x-" + service + (advertise ? "-advertisement" : "-result"));
  resp.SetHeader("Cache-Control", "no-cache, max-age=0, must-revalidate");
  if (advertise) {
    resp.SetHeader("Expires", "Fri, 01 Jan 1980 00:00:00 GMT");
    resp.SetHeader("Pragma", "no-cache");
  }
  // A push result is a few packets of messages; git prints absolute paths in some of them (a ref
  // lock another writer holds): they are rewritten before they leave (api/git_pkt.h).
  if (push && !advertise && length <= kMaxPushResultBytes) {
    std::string text(size_t(length), '\0');
    size_t got = 0;
    while (got < text.size()) {
      ssize_t n = ::pread(fd.get(), text.data() + got, text.size() - got, off_t(got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return ErrnoStatus(n < 0 ? errno : EIO, "reading the git push result");
      got += size_t(n);
    }
    auto redacted = RedactPushResult(text);
    if (!redacted) LogWarn("git push to {}: the result is not pkt-lines; sent as git wrote it", repo.rec.FullId());
    resp.body = redacted ? std::move(*redacted) : std::move(text);
    return Status::Ok();
  }
  resp.stream_length = length;
  resp.stream = std::make_unique<FileBodySource>(std::move(fd));
  return Status::Ok();
}

}  // namespace modelhub
