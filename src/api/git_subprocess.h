// GitSubprocess: runs one git service (upload-pack, receive-pack) for one
// HTTP request. Private to src/api (hub_git.cc).
//
// Shape of a run (the "calling sequence"):
//   auto p = GitSubprocess::Start(argv, env, tmp_dir, min_free, prefix, with_stdin);  // stdout -> spool
//   p->WriteStdin(...) any number of times                      // the request body, already inflated
//   p->Wait(timeout_s)                                           // closes stdin, waits (kills on timeout)
//   p->TakeStdout()                                              // the response body: fd + length
// Dropping the object before Wait() kills the child's whole process group
// (git and everything it spawned: pack-objects, hooks) and reaps it; that is
// how a client that goes away stops the work it started.
//
// Why stdout goes to a temp file rather than a pipe: the server answers with
// Content-Length, so the whole response must exist before its head is sent;
// a nameless file (O_TMPFILE, on the data folder's disk) holds it without
// memory that grows with the pack, needs no draining thread (a file never
// blocks the writer) and disappears by itself when closed or on a crash.
// When that disk is (nearly) full the output is held in memory instead (memfd;
// OpenOutputSpool): a full data disk must not stop clones and fetches, which
// read the repositories and write nothing there. stderr is always in memory.
//
// The child gets no shell, no inherited descriptors beyond 0/1/2, default
// signal dispositions and an empty signal mask, and its own process group.
// Thread-safety: one object per request thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/fs.h"
#include "common/status.h"

namespace modelhub {

// A nameless temp file in dir (O_TMPFILE, or mkstemp + unlink where unsupported).
Result<UniqueFd> OpenAnonymousTempFile(const std::string& dir);
// A nameless file in memory (memfd_create; swappable like tmpfs).
Result<UniqueFd> OpenMemoryFile(const char* name);
// Where a git run's output waits to be sent: a nameless file in dir, unless dir's filesystem
// has less than min_free_bytes available to us or the file cannot be created for lack of
// space (NoSpace): then a memory file.
Result<UniqueFd> OpenOutputSpool(const std::string& dir, int64_t min_free_bytes);

class GitSubprocess {
 public:
  ~GitSubprocess();
  GitSubprocess(const GitSubprocess&) = delete;
  GitSubprocess& operator=(const GitSubprocess&) = delete;

  // argv[0] is looked up in PATH (the server's). env replaces the environment.
  // stdout goes to OpenOutputSpool(tmp_dir, spool_min_free_bytes). stdout_prefix is written to the output file before the child starts (the
  // "# service=" header of info/refs). with_stdin=false gives the child /dev/null.
  static Result<std::unique_ptr<GitSubprocess>> Start(const std::vector<std::string>& argv,
                                                      const std::vector<std::string>& env, const std::string& tmp_dir,
                                                      int64_t spool_min_free_bytes, const std::string& stdout_prefix,
                                                      bool with_stdin);

  // Writes to the child's stdin. Returns false (and stops accepting input) once
  // the child has closed its stdin (it finished or failed early): the caller
  // stops sending and lets Wait() tell what happened. IOError on other errors.
  Result<bool> WriteStdin(const char* data, size_t n);

  // Closes stdin and waits for the child, at most timeout_s seconds (then kills
  // its process group: Unavailable). Returns the exit code (128 + signal for a signal).
  Result<int> Wait(int64_t timeout_s);

  // After Wait(): the output file (rewound) and its length.
  Result<std::pair<UniqueFd, int64_t>> TakeStdout();
  // After Wait(): up to max_bytes of what the child wrote to stderr.
  std::string StderrText(size_t max_bytes = 4096);

  void Kill();  // SIGKILL to the process group and reap; idempotent

 private:
  GitSubprocess() = default;
  pid_t pid_ = -1;
  bool reaped_ = false;
  UniqueFd stdin_;
  UniqueFd stdout_;
  UniqueFd stderr_;
};

}  // namespace modelhub
