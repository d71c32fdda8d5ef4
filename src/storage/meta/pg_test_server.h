// PgTestServer: a throwaway PostgreSQL server for tests, run through
// scripts/pg-test-server.sh (which the black-box tests can call directly) in a
// scratch directory on a loopback port chosen at run time. The server is
// stopped and its directory removed when the object dies, and stopped by the
// script's watcher if this process dies first.
//
// Thread-safety: Start/Stop from one thread; CreateDatabase from any.
#pragma once

#include <atomic>
#include <string>

#include "common/status.h"

namespace modelhub::test {

class PgTestServer {
 public:
  PgTestServer();
  PgTestServer(const PgTestServer&) = delete;
  PgTestServer& operator=(const PgTestServer&) = delete;
  ~PgTestServer();

  // Starts the server (creating the cluster the first time; a restart keeps its
  // port and data). NotFound, with the reason, when no PostgreSQL server
  // binaries are installed; IOError for any other failure.
  Status Start();
  // Fast shutdown: connected clients are disconnected.
  Status Stop();

  // postgresql://postgres@127.0.0.1:PORT/postgres (superuser, trust auth); empty before Start.
  const std::string& url() const { return url_; }
  // Creates a new, empty database and returns its URL.
  Result<std::string> CreateDatabase();

 private:
  // Runs scripts/pg-test-server.sh COMMAND DIR EXTRA; its stdout, trimmed.
  Result<std::string> Script(const std::string& command, const std::string& extra = "");

  std::string dir_;  // scratch directory, empty if it could not be made
  std::string url_;
  std::atomic<int> next_db_{0};
};

// True when MODELHUB_REQUIRE_POSTGRES is set (CI): a missing PostgreSQL is then a
// failure, not a reason to skip.
bool PostgresRequired();

}  // namespace modelhub::test
