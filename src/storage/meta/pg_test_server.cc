#include "storage/meta/pg_test_server.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "common/fs.h"
#include "common/strings.h"
#include "storage/meta/pg_conn.h"

#ifndef MODELHUB_SOURCE_DIR
#error "MODELHUB_SOURCE_DIR must name the source tree (for scripts/pg-test-server.sh)"
#endif

namespace modelhub::test {

PgTestServer::PgTestServer() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/mh_pg_test.XXXXXX";
  if (::mkdtemp(tmpl.data()) != nullptr) dir_ = tmpl;
}

PgTestServer::~PgTestServer() {
  if (dir_.empty()) return;
  if (!url_.empty()) (void)Stop();
  (void)RemoveAll(dir_);
}

Result<std::string> PgTestServer::Script(const std::string& command, const std::string& extra) {
  if (dir_.empty()) return Status::IOError("cannot create a scratch directory for PostgreSQL");
  // dir_ comes from mkdtemp (no quotes); the source path is the build's own.
  const std::string cmd = std::string("bash '") + MODELHUB_SOURCE_DIR + "/scripts/pg-test-server.sh' " + command +
                          " '" + dir_ + "' " + extra + " 2>'" + dir_ + "/script.err'";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return Status::IOError("cannot run scripts/pg-test-server.sh");
  std::string out;
  char buf[256];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  const int code = rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  if (code == 0) return Trim(out);
  auto err = ReadFile(dir_ + "/script.err");
  const std::string why = Trim(err.ok() ? *err : "");
  if (code == 77) return Status::NotFound(why);
  return Status::IOError("pg-test-server.sh " + command + " failed (exit " + std::to_string(code) + "): " + why);
}

Status PgTestServer::Start() {
  // With our pid: if this process dies without stopping it, the server goes too.
  MH_ASSIGN_OR_RETURN(std::string url, Script("start", std::to_string(::getpid())));
  url_ = url;
  return Status::Ok();
}

Status PgTestServer::Stop() { return Script("stop").status(); }

Result<std::string> PgTestServer::CreateDatabase() {
  if (url_.empty()) return Status::Internal("PgTestServer::CreateDatabase before Start");
  const std::string name = "mh_test_" + std::to_string(next_db_.fetch_add(1));
  MH_ASSIGN_OR_RETURN(std::unique_ptr<PgConn> admin, PgConn::Connect(url_, 10));
  // A name cannot be a parameter; this one is built from a counter.
  MH_RETURN_IF_ERROR(admin->Run("CREATE DATABASE " + name));
  return url_.substr(0, url_.rfind('/') + 1) + name;
}

bool PostgresRequired() {
  const char* v = std::getenv("MODELHUB_REQUIRE_POSTGRES");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

}  // namespace modelhub::test
