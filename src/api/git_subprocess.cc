#include "api/git_subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

extern char** environ;

namespace modelhub {

namespace {

Status Errno(const std::string& what) { return ErrnoStatus(errno, what); }

// RAII for the posix_spawn attribute objects.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  return int(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

int ExitCodeOf(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return 255;
}

}  // namespace

Result<UniqueFd> OpenAnonymousTempFile(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return UniqueFd(fd);
  // Filesystems without O_TMPFILE: a named file, unlinked at once.
  std::string tmpl = dir + "/.git-tmp-XXXXXX";
  fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return Errno("temp file in " + dir);
  ::unlink(tmpl.c_str());
  return UniqueFd(fd);
}

Result<UniqueFd> OpenMemoryFile(const char* name) {
  int fd = ::memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) return Errno(std::string("memfd ") + name);
  return UniqueFd(fd);
}

Result<UniqueFd> OpenOutputSpool(const std::string& dir, int64_t min_free_bytes) {
  struct statvfs vfs;
  if (::statvfs(dir.c_str(), &vfs) == 0 &&
      static_cast<unsigned __int128>(vfs.f_bavail) * vfs.f_frsize < static_cast<unsigned __int128>(min_free_bytes)) {
    return OpenMemoryFile("git-output");
  }
  auto file = OpenAnonymousTempFile(dir);
  if (!file.ok() && file.status().IsNoSpace()) return OpenMemoryFile("git-output");
  return file;
}

GitSubprocess::~GitSubprocess() { Kill(); }

Result<std::unique_ptr<GitSubprocess>> GitSubprocess::Start(const std::vector<std::string>& argv,
                                                            const std::vector<std::string>& env,
                                                            const std::string& tmp_dir, int64_t spool_min_free_bytes,
                                                            const std::string& stdout_prefix, bool with_stdin) {
  if (argv.empty()) return Status::Internal("GitSubprocess: empty argv");
  std::unique_ptr<GitSubprocess> p(new GitSubprocess());
  MH_ASSIGN_OR_RETURN(p->stdout_, OpenOutputSpool(tmp_dir, spool_min_free_bytes));
  // A few lines at most (with --stateless-rpc, progress and hook output travel in stdout's side band).
  MH_ASSIGN_OR_RETURN(p->stderr_, OpenMemoryFile("git-stderr"));
  if (!stdout_prefix.empty()) MH_RETURN_IF_ERROR(WriteAll(p->stdout_.get(), stdout_prefix.data(), stdout_prefix.size()));

  UniqueFd child_stdin;
  if (with_stdin) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return Errno("pipe");
    child_stdin = UniqueFd(fds[0]);
    p->stdin_ = UniqueFd(fds[1]);
  } else {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Errno("open /dev/null");
    child_stdin = UniqueFd(fd);
  }

  SpawnSetup s;
  // dup2 clears FD_CLOEXEC on the target; everything else above 2 is closed
  // (descriptors other threads opened without O_CLOEXEC must not leak into git).
  posix_spawn_file_actions_adddup2(&s.actions, child_stdin.get(), 0);
  posix_spawn_file_actions_adddup2(&s.actions, p->stdout_.get(), 1);
  posix_spawn_file_actions_adddup2(&s.actions, p->stderr_.get(), 2);
  posix_spawn_file_actions_addclosefrom_np(&s.actions, 3);
  // The server blocks SIGTERM/SIGINT in every thread and ignores SIGPIPE; git
  // must start with the defaults, in its own process group (so Kill reaches
  // pack-objects and hooks too).
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&s.attr, &empty);
  posix_spawnattr_setsigdefault(&s.attr, &defaults);
  posix_spawnattr_setpgroup(&s.attr, 0);
  posix_spawnattr_setflags(&s.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, cargv[0], &s.actions, &s.attr, cargv.data(), cenv.data());
  if (rc != 0) return Status::IOError("cannot run " + argv[0] + ": " + std::strerror(rc));
  p->pid_ = pid;
  return p;
}

namespace {
// Blocks SIGPIPE in this thread while it writes to a pipe, and swallows the one a
// write to a closed pipe raises: EPIPE is handled as a value, and the process
// survives even where nobody set SIGPIPE to SIG_IGN (tests, fuzzers).
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~SigpipeGuard() {
    if (raised_) {
      struct timespec zero = {0, 0};
      while (sigtimedwait(&set_, nullptr, &zero) > 0) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;
  void raised() { raised_ = true; }

 private:
  sigset_t set_;
  sigset_t old_;
  bool raised_ = false;
};
}  // namespace

Result<bool> GitSubprocess::WriteStdin(const char* data, size_t n) {
  if (!stdin_.valid()) return false;
  SigpipeGuard guard;
  while (n > 0) {
    ssize_t w = ::write(stdin_.get(), data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE) {  // the child stopped reading: it is done (or failed)
        guard.raised();
        stdin_.reset();
        return false;
      }
      return Errno("writing to git");
    }
    data += w;
    n -= size_t(w);
  }
  return true;
}

Result<int> GitSubprocess::Wait(int64_t timeout_s) {
  stdin_.reset();
  if (pid_ < 0 || reaped_) return Status::Internal("GitSubprocess::Wait without a running child");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  UniqueFd pidfd(PidfdOpen(pid_));
  while (true) {
    int wstatus = 0;
    pid_t r = ::waitpid(pid_, &wstatus, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return ExitCodeOf(wstatus);
    }
    if (r < 0 && errno != EINTR) return Errno("waitpid");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      Kill();
      return Status::Unavailable("git did not finish within " + std::to_string(timeout_s) + " s; stopped");
    }
    if (pidfd.valid()) {
      // Readable when the child exits: no polling delay on the fast path.
      struct pollfd pfd = {pidfd.get(), POLLIN, 0};
      ::poll(&pfd, 1, int(std::min<int64_t>(left.count(), 1000)));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(left.count(), 5)));
    }
  }
}

Result<std::pair<UniqueFd, int64_t>> GitSubprocess::TakeStdout() {
  if (!reaped_) return Status::Internal("GitSubprocess::TakeStdout before Wait");
  struct stat st;
  if (::fstat(stdout_.get(), &st) != 0) return Errno("fstat");
  if (::lseek(stdout_.get(), 0, SEEK_SET) != 0) return Errno("lseek");
  return std::make_pair(std::move(stdout_), int64_t(st.st_size));
}

std::string GitSubprocess::StderrText(size_t max_bytes) {
  if (!stderr_.valid()) return "";
  std::string out(max_bytes, '\0');
  ssize_t n = ::pread(stderr_.get(), out.data(), max_bytes, 0);
  out.resize(n > 0 ? size_t(n) : 0);
  return out;
}

void GitSubprocess::Kill() {
  stdin_.reset();
  if (pid_ < 0 || reaped_) return;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  int wstatus = 0;
  while (::waitpid(pid_, &wstatus, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
}

}  // namespace modelhub
