// modelhub: one binary — `modelhub serve` runs the hub, `modelhub admin ...`
// manages accounts and tokens on a data folder (also while the server runs).
#include <malloc.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <set>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "api/hub.h"
#include "auth/auth.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/sole_writer.h"
#include "common/strings.h"
#include "net/http_server.h"
#include "repo/path_rules.h"
#include "repo/stale_locks.h"
#include "server/data_dir.h"
#include "server/git_hook.h"
#include "storage/gc/fsck.h"
#include "storage/gc/gc.h"
#include "storage/gc/storage_stats.h"

namespace modelhub {
namespace {

struct ServeOptions {
  std::string data = "./data";
  std::string listen = "127.0.0.1:8080";
  std::string public_url;
  std::string config;
  int64_t max_commit_bytes = 0;
  int64_t max_json_bytes = 0;
  int64_t max_inline_file_bytes = 0;
  int64_t commit_memory_bytes = 0;
  int64_t max_header_bytes = 0;
  int max_connections = 0;
  int64_t max_client_connections = -1;  // -1 = default; 0 = no per-client limits
  int64_t max_client_requests = -1;     // -1 = default; 0 = no limit
  int64_t head_timeout_s = 0;
  int64_t idle_timeout_s = 0;
  int64_t min_body_rate = -1;  // -1 = default; 0 = off
  int64_t git_max_file_bytes = 0;
  std::string protect_default_branch;  // "", "true" or "false"
  int64_t git_timeout_s = 0;
  std::string xet;  // "", "true" or "false"
  std::string metadata_url;  // "" = DIR/modelhub.db (SQLite)
  std::string blob_url;      // "" = DIR/blobs
  int64_t xet_token_ttl_s = 0;
  int64_t stale_lock_s = 0;      // 0 = default (repo/stale_locks.h: 600)
  std::string metrics_public;    // "", "true" or "false"
  int64_t xet_verify_floor_bytes = 0;
  int64_t xet_verify_ratio = 0;
  bool quiet = false;
};

// Config file: "key = value" lines, '#' comments. Keys as the long flags.
Status LoadConfigFile(const std::string& path, ServeOptions& o) {
  MH_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  int line_no = 0;
  for (const auto& raw : Split(text, '\n')) {
    ++line_no;
    std::string line = Trim(raw);
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) return Status::InvalidArgument(fmt::format("{}:{}: expected key = value", path, line_no));
    std::string k = Trim(line.substr(0, eq));
    std::string v = Trim(line.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    auto num = [&](int64_t& dst) -> Status {
      auto n = ParseInt64(v);
      if (!n || *n <= 0) return Status::InvalidArgument(fmt::format("{}:{}: {} must be a positive integer", path, line_no, k));
      dst = *n;
      return Status::Ok();
    };
    if (k == "data") o.data = v;
    else if (k == "listen") o.listen = v;
    else if (k == "public-url" || k == "public_url") o.public_url = v;
    else if (k == "max-commit-bytes") MH_RETURN_IF_ERROR(num(o.max_commit_bytes));
    else if (k == "max-json-bytes") MH_RETURN_IF_ERROR(num(o.max_json_bytes));
    else if (k == "max-inline-file-bytes") MH_RETURN_IF_ERROR(num(o.max_inline_file_bytes));
    else if (k == "commit-memory-bytes") MH_RETURN_IF_ERROR(num(o.commit_memory_bytes));
    else if (k == "max-header-bytes") MH_RETURN_IF_ERROR(num(o.max_header_bytes));
    else if (k == "git-max-file-bytes") MH_RETURN_IF_ERROR(num(o.git_max_file_bytes));
    else if (k == "head-timeout-seconds") MH_RETURN_IF_ERROR(num(o.head_timeout_s));
    else if (k == "idle-timeout-seconds") MH_RETURN_IF_ERROR(num(o.idle_timeout_s));
    else if (k == "max-client-connections" || k == "max-client-requests" || k == "min-body-bytes-per-second") {
      auto n = ParseInt64(v);  // 0 turns the limit off
      if (!n || *n < 0) return Status::InvalidArgument(fmt::format("{}:{}: {} must be 0 or more", path, line_no, k));
      (k == "max-client-connections" ? o.max_client_connections
       : k == "max-client-requests"  ? o.max_client_requests
                                     : o.min_body_rate) = *n;
    }
    else if (k == "git-timeout-seconds") MH_RETURN_IF_ERROR(num(o.git_timeout_s));
    else if (k == "xet-token-ttl-seconds") MH_RETURN_IF_ERROR(num(o.xet_token_ttl_s));
    else if (k == "stale-lock-seconds") MH_RETURN_IF_ERROR(num(o.stale_lock_s));
    else if (k == "xet-verify-floor-bytes") MH_RETURN_IF_ERROR(num(o.xet_verify_floor_bytes));
    else if (k == "xet-verify-ratio") MH_RETURN_IF_ERROR(num(o.xet_verify_ratio));
    else if (k == "metadata-url") o.metadata_url = v;
    else if (k == "blob-url") o.blob_url = v;
    else if (k == "xet") {
      if (!ParseBool(v)) return Status::InvalidArgument(fmt::format("{}:{}: {} must be true or false", path, line_no, k));
      o.xet = *ParseBool(v) ? "true" : "false";
    } else if (k == "metrics-public") {
      if (!ParseBool(v)) return Status::InvalidArgument(fmt::format("{}:{}: {} must be true or false", path, line_no, k));
      o.metrics_public = *ParseBool(v) ? "true" : "false";
    } else if (k == "protect-default-branch") {
      if (!ParseBool(v)) return Status::InvalidArgument(fmt::format("{}:{}: {} must be true or false", path, line_no, k));
      o.protect_default_branch = *ParseBool(v) ? "true" : "false";
    } else if (k == "max-connections") {
      int64_t n = 0;
      MH_RETURN_IF_ERROR(num(n));
      o.max_connections = int(n);
    } else return Status::InvalidArgument(fmt::format("{}:{}: unknown setting '{}'", path, line_no, k));
  }
  return Status::Ok();
}

void ApplyEnv(ServeOptions& o) {
  auto env = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
  if (auto v = env("MODELHUB_DATA")) o.data = *v;
  if (auto v = env("MODELHUB_LISTEN")) o.listen = *v;
  if (auto v = env("MODELHUB_PUBLIC_URL")) o.public_url = *v;
  if (auto v = env("MODELHUB_METADATA_URL")) o.metadata_url = *v;
  if (auto v = env("MODELHUB_BLOB_URL")) o.blob_url = *v;
  if (auto v = env("MODELHUB_MAX_COMMIT_BYTES")) o.max_commit_bytes = ParseInt64(*v).value_or(0);
  if (auto v = env("MODELHUB_MAX_JSON_BYTES")) o.max_json_bytes = ParseInt64(*v).value_or(0);
}

int Fail(const Status& s) {
  std::cerr << "modelhub: " << s.message() << "\n";
  return 1;
}

int RunServe(ServeOptions o, const std::set<std::string>& explicit_flags, const ServeOptions& flag_values) {
  // Precedence: flags > environment > config file > defaults.
  if (!o.config.empty()) {
    Status s = LoadConfigFile(o.config, o);
    if (!s.ok()) return Fail(s);
  }
  ApplyEnv(o);
  if (explicit_flags.count("data")) o.data = flag_values.data;
  if (explicit_flags.count("listen")) o.listen = flag_values.listen;
  if (explicit_flags.count("public-url")) o.public_url = flag_values.public_url;
  if (explicit_flags.count("max-commit-bytes")) o.max_commit_bytes = flag_values.max_commit_bytes;
  if (explicit_flags.count("max-json-bytes")) o.max_json_bytes = flag_values.max_json_bytes;
  if (explicit_flags.count("max-inline-file-bytes")) o.max_inline_file_bytes = flag_values.max_inline_file_bytes;
  if (explicit_flags.count("commit-memory-bytes")) o.commit_memory_bytes = flag_values.commit_memory_bytes;
  if (explicit_flags.count("max-header-bytes")) o.max_header_bytes = flag_values.max_header_bytes;
  if (explicit_flags.count("max-connections")) o.max_connections = flag_values.max_connections;
  if (explicit_flags.count("max-client-connections")) o.max_client_connections = flag_values.max_client_connections;
  if (explicit_flags.count("max-client-requests")) o.max_client_requests = flag_values.max_client_requests;
  if (explicit_flags.count("head-timeout-seconds")) o.head_timeout_s = flag_values.head_timeout_s;
  if (explicit_flags.count("idle-timeout-seconds")) o.idle_timeout_s = flag_values.idle_timeout_s;
  if (explicit_flags.count("min-body-bytes-per-second")) o.min_body_rate = flag_values.min_body_rate;
  if (explicit_flags.count("git-max-file-bytes")) o.git_max_file_bytes = flag_values.git_max_file_bytes;
  if (explicit_flags.count("git-timeout-seconds")) o.git_timeout_s = flag_values.git_timeout_s;
  if (explicit_flags.count("protect-default-branch")) o.protect_default_branch = flag_values.protect_default_branch;
  if (explicit_flags.count("xet")) o.xet = flag_values.xet;
  if (explicit_flags.count("metadata-url")) o.metadata_url = flag_values.metadata_url;
  if (explicit_flags.count("blob-url")) o.blob_url = flag_values.blob_url;
  if (explicit_flags.count("xet-token-ttl-seconds")) o.xet_token_ttl_s = flag_values.xet_token_ttl_s;
  if (explicit_flags.count("stale-lock-seconds")) o.stale_lock_s = flag_values.stale_lock_s;
  if (explicit_flags.count("metrics-public")) o.metrics_public = flag_values.metrics_public;
  if (explicit_flags.count("xet-verify-floor-bytes")) o.xet_verify_floor_bytes = flag_values.xet_verify_floor_bytes;
  if (explicit_flags.count("xet-verify-ratio")) o.xet_verify_ratio = flag_values.xet_verify_ratio;

  auto colon = o.listen.rfind(':');
  if (colon == std::string::npos) return Fail(Status::InvalidArgument("--listen must be HOST:PORT"));
  HttpServerOptions hopts;
  hopts.host = o.listen.substr(0, colon);
  if (hopts.host.size() >= 2 && hopts.host.front() == '[') hopts.host = hopts.host.substr(1, hopts.host.size() - 2);
  auto port = ParseInt64(o.listen.substr(colon + 1));
  if (!port || *port < 0 || *port > 65535) return Fail(Status::InvalidArgument("--listen: invalid port"));
  hopts.port = int(*port);
  if (o.max_header_bytes > 0) hopts.max_header_bytes = size_t(o.max_header_bytes);
  if (o.max_connections > 0) hopts.max_connections = o.max_connections;
  if (o.max_client_connections >= 0) hopts.max_client_connections = int(std::min<int64_t>(o.max_client_connections, 1 << 30));
  if (o.max_client_requests >= 0) hopts.max_client_requests = int(std::min<int64_t>(o.max_client_requests, 1 << 30));
  // Behind a proxy (--max-client-connections 0) every client is the proxy: no per-client share either,
  // unless asked for explicitly.
  if (o.max_client_connections == 0 && o.max_client_requests < 0) hopts.max_client_requests = 0;
  if (o.head_timeout_s > 0) hopts.head_timeout_s = int(std::min<int64_t>(o.head_timeout_s, 86400));
  if (o.idle_timeout_s > 0) hopts.idle_timeout_s = int(std::min<int64_t>(o.idle_timeout_s, 86400));
  if (o.min_body_rate >= 0) hopts.min_body_rate = o.min_body_rate;
  hopts.access_log = !o.quiet;

#if defined(__GLIBC__)
  // Blocks of 4 MiB and more (commit lines, decoded inline files, xorb buffers) go back to the
  // kernel when freed. glibc's default threshold rises to the largest block freed (up to 32 MiB),
  // after which such blocks come from per-thread heaps that keep their pages: peak memory would
  // then follow the sum of every worker's largest request, not the commit memory budget.
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
#endif

  StorageConfig requested{o.metadata_url, o.blob_url};
  // The embedded mode takes the folder's serve lock: one server per embedded data folder.
  auto dd = OpenDataDir(o.data, &requested, DataDirUse::kServe);
  if (!dd.ok()) return Fail(dd.status());

  // Block termination signals in every thread; one thread waits for them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Metrics metrics;
  HubConfig hc;
  hc.repos_dir = (*dd)->repos_dir();
  hc.data_dir = (*dd)->root;
  hc.signing_key = (*dd)->signing_key;
  if (o.max_commit_bytes > 0) hc.max_commit_body = o.max_commit_bytes;
  if (o.max_json_bytes > 0) hc.max_json_body = o.max_json_bytes;
  if (o.max_inline_file_bytes > 0) hc.max_inline_file = o.max_inline_file_bytes;
  if (o.commit_memory_bytes > 0) hc.commit_memory_budget = o.commit_memory_bytes;
  if (o.git_max_file_bytes > 0) hc.git_max_file_bytes = o.git_max_file_bytes;
  if (o.git_timeout_s > 0) hc.git_timeout_s = o.git_timeout_s;
  if (!o.protect_default_branch.empty()) hc.protect_default_branch = o.protect_default_branch == "true";
  if (!o.xet.empty()) hc.xet_enabled = o.xet == "true";
  if (o.xet_token_ttl_s > 0) hc.xet_token_ttl_s = o.xet_token_ttl_s;
  hc.metrics_public = o.metrics_public == "true";
  if (o.stale_lock_s > 0) SetStaleLockAgeS(o.stale_lock_s);
  if (o.xet_verify_floor_bytes > 0) hc.xet_verify_floor_bytes = o.xet_verify_floor_bytes;
  if (o.xet_verify_ratio > 0) hc.xet_verify_ratio = o.xet_verify_ratio;
  // public_url is known once the port is (port 0 picks one).
  std::unique_ptr<Hub> hub;
  // The embedded default: one serve process owns the data folder, so its lookup caches may trust their
  // own invalidation (common/sole_writer.h). With the metadata in PostgreSQL several processes may
  // share the folder (docs/deploy.md): every lookup then reads git and the database.
  SetSoleWriter((*dd)->storage.metadata_url.empty());
  if (!(*dd)->storage.metadata_url.empty()) LogInfo("shared data folder: ref and repo lookup caches are off");
  HttpServer server(hopts, [&hub](Request& req, Response& resp) { hub->Handle(req, resp); }, &metrics);
  Status ls = server.Listen();
  if (!ls.ok()) return Fail(ls);
  hc.public_url = o.public_url.empty() ? fmt::format("http://{}:{}", o.listen.substr(0, colon), server.port())
                                       : o.public_url;
  hub = std::make_unique<Hub>(hc, (*dd)->meta.get(), (*dd)->content.get(), &metrics);

  std::thread signal_thread([&server, sigs] {
    int sig = 0;
    sigwait(&sigs, &sig);
    LogInfo("received signal {}: draining in-flight requests (up to 30 s)", sig);
    server.Stop(30);
  });
  signal_thread.detach();
  LogInfo("modelhub listening on {}:{} (public URL {}), data folder {}", hopts.host, server.port(), hc.public_url,
          o.data);
  server.Serve();
  LogInfo("modelhub stopped");
  return 0;
}

}  // namespace
}  // namespace modelhub

int main(int argc, char** argv) {
  using namespace modelhub;
  CLI::App app{"modelhub — a self-hosted hub for AI models and datasets"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("modelhub ") + MODELHUB_VERSION);

  ServeOptions so;
  ServeOptions flags;
  CLI::App* serve = app.add_subcommand("serve", "Run the hub server");
  serve->add_option("--data", flags.data, "Data folder (default ./data; env MODELHUB_DATA)");
  serve->add_option("--listen", flags.listen, "HOST:PORT to listen on (default 127.0.0.1:8080; env MODELHUB_LISTEN)");
  serve->add_option("--public-url", flags.public_url,
                    "URL clients reach the hub at, e.g. behind a proxy (env MODELHUB_PUBLIC_URL)");
  serve->add_option("--config", so.config, "Config file with 'key = value' lines (same keys as the flags)");
  serve->add_option("--max-commit-bytes", flags.max_commit_bytes, "Largest NDJSON commit body accepted");
  serve->add_option("--max-json-bytes", flags.max_json_bytes, "Largest JSON request body accepted");
  serve->add_option("--max-inline-file-bytes", flags.max_inline_file_bytes,
                    "Largest file a commit may carry inline (base64 in the NDJSON body; default 10 MiB, as the Hub: "
                    "larger files go through LFS/Xet)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--commit-memory-bytes", flags.commit_memory_bytes,
                    "Memory all commits in flight may hold together for their NDJSON lines (default 256 MiB; a "
                    "commit that cannot get its share within 30 s answers 503 with Retry-After)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--max-header-bytes", flags.max_header_bytes, "Largest request head accepted");
  serve->add_option("--max-connections", flags.max_connections, "Most client connections served at once");
  serve->add_option("--max-client-connections", flags.max_client_connections,
                    "Most connections one client address (IPv6: /64) holds (default 128; 0 = no limit, e.g. "
                    "behind a proxy, which then limits its clients)");
  serve->add_option("--max-client-requests", flags.max_client_requests,
                    "Most requests one client address has in progress at once; more wait their turn (default 64; "
                    "0 = no limit; off with --max-client-connections 0)");
  serve->add_option("--head-timeout-seconds", flags.head_timeout_s,
                    "A request head must arrive within this many seconds (default 20)");
  serve->add_option("--idle-timeout-seconds", flags.idle_timeout_s,
                    "Close keep-alive connections idle this long between requests (default 75)");
  serve->add_option("--min-body-bytes-per-second", flags.min_body_rate,
                    "Cut a request body slower than this over 20 s of waiting for it (default 1024; 0 = off)");
  serve->add_option("--git-max-file-bytes", flags.git_max_file_bytes,
                    "git push: files above this size must be LFS pointers (default 10 MiB)");
  serve->add_option("--git-timeout-seconds", flags.git_timeout_s, "git: longest upload-pack/receive-pack run");
  serve->add_option("--protect-default-branch", flags.protect_default_branch,
                    "git push: refuse force pushes to and deletion of the default branch (true|false, default true)")
      ->check(CLI::IsMember({"true", "false"}));
  serve->add_option("--xet", flags.xet,
                    "Serve the Xet CAS under /api/cas and point clients at it (true|false, default true)")
      ->check(CLI::IsMember({"true", "false"}));
  serve->add_option("--xet-token-ttl-seconds", flags.xet_token_ttl_s,
                    "Lifetime of Xet access tokens and signed xorb URLs (default 3600)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--xet-verify-floor-bytes", flags.xet_verify_floor_bytes,
                    "Xet shards: content any shard may make the server read back and hash (default 1 GiB)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--xet-verify-ratio", flags.xet_verify_ratio,
                    "Xet shards: beyond that, at most this many times the distinct stored content the shard names "
                    "(repeats of the same chunks; default 8)")
      ->check(CLI::PositiveNumber);
  serve->add_option("--metadata-url", flags.metadata_url,
                    "Metadata store: postgres://user:pass@host:port/db for several processes (default: SQLite in "
                    "the data folder; env MODELHUB_METADATA_URL). Recorded in DIR/storage.conf");
  serve->add_option("--blob-url", flags.blob_url,
                    "Blob store: s3://bucket/prefix?endpoint=…&region=… (credentials from AWS_ACCESS_KEY_ID/"
                    "AWS_SECRET_ACCESS_KEY) or file://DIR (default: DIR/blobs; env MODELHUB_BLOB_URL; "
                    "docs/storage-backends.md). Recorded in DIR/storage.conf");
  serve->add_option("--stale-lock-seconds", flags.stale_lock_s,
                    "A git lock file (refs/heads/X.lock, ...) this old was left by a writer that died and is "
                    "removed when a writer needs it (default 600)")
      ->check(CLI::PositiveNumber);
  serve->add_flag("--metrics-public{true}", flags.metrics_public,
                  "Serve /metrics to anyone, for a scraper on a private network (default: only with a hub "
                  "administrator's token; --metrics-public=false restores that)")
      ->check(CLI::IsMember({"true", "false"}));
  serve->add_flag("--quiet", so.quiet, "No access log");

  std::string data = "./data";
  CLI::App* admin = app.add_subcommand("admin", "Manage users, organisations, tokens and storage");
  admin->add_option("--data", data, "Data folder (default ./data)");
  admin->require_subcommand(1);

  CLI::App* user = admin->add_subcommand("user", "Users")->require_subcommand(1);
  std::string user_name;
  bool user_admin = false;
  CLI::App* user_create = user->add_subcommand("create", "Create a user");
  user_create->add_option("NAME", user_name)->required();
  user_create->add_flag("--admin", user_admin, "Hub administrator");

  CLI::App* token = admin->add_subcommand("token", "Access tokens")->require_subcommand(1);
  std::string token_user, token_role = "read", token_name = "cli";
  CLI::App* token_create = token->add_subcommand("create", "Create a token; prints it on stdout");
  token_create->add_option("NAME", token_user, "User the token acts as")->required();
  token_create->add_option("--role", token_role, "read or write")->check(CLI::IsMember({"read", "write"}));
  token_create->add_option("--name", token_name, "Display name of the token");
  CLI::App* token_revoke = token->add_subcommand("revoke", "Revoke a user's tokens with a display name");
  token_revoke->add_option("NAME", token_user)->required();
  token_revoke->add_option("--name", token_name, "Display name of the token")->required();

  CLI::App* org = admin->add_subcommand("org", "Organisations")->require_subcommand(1);
  std::string org_name, org_owner, member_name, member_role = "read";
  CLI::App* org_create = org->add_subcommand("create", "Create an organisation");
  org_create->add_option("ORG", org_name)->required();
  org_create->add_option("--owner", org_owner, "User who becomes its first admin")->required();
  CLI::App* org_add = org->add_subcommand("add-member", "Add a member or change their role");
  org_add->add_option("ORG", org_name)->required();
  org_add->add_option("NAME", member_name)->required();
  org_add->add_option("--role", member_role, "admin, write or read")->check(CLI::IsMember({"admin", "write", "read"}));

  // Storage maintenance (docs/gc-fsck.md); safe while the server runs.
  int64_t gc_grace_s = 86400;
  int64_t gc_lock_timeout_s = 600;
  int64_t gc_xorb_grace_s = 22LL * 24 * 3600;
  int64_t gc_upload_grace_s = 86400;
  bool gc_dry_run = false;
  CLI::App* gc = admin->add_subcommand("gc", "Remove stored LFS content that no ref of any repository reaches");
  gc->add_option("--grace-seconds", gc_grace_s,
                 "Keep everything stored or uploaded less than this long ago (default 86400: uploads not yet "
                 "committed, multipart sessions)")
      ->check(CLI::NonNegativeNumber);
  gc->add_option("--xorb-grace-seconds", gc_xorb_grace_s,
                 "Keep unused xorbs recorded less than this long ago (default 1900800 = 22 days: Xet clients "
                 "reuse xorbs they uploaded for 21 days; the longer of this and --grace-seconds applies)")
      ->check(CLI::NonNegativeNumber);
  gc->add_option("--upload-grace-seconds", gc_upload_grace_s,
                 "Abort blob store uploads begun this long ago and never finished (default 86400: S3 multipart "
                 "uploads and staged files of a killed process; must exceed the longest single upload)")
      ->check(CLI::NonNegativeNumber);
  gc->add_option("--lock-timeout-seconds", gc_lock_timeout_s,
                 "How long to wait for in-flight commits and pushes before giving up (default 600)");
  gc->add_flag("--dry-run", gc_dry_run, "Report what would be removed; remove nothing");
  StorageConfig migrate_to;
  CLI::App* migrate = admin->add_subcommand(
      "migrate", "Move an embedded data folder's metadata to PostgreSQL (and its blobs to --blob-url); server stopped");
  migrate->add_option("--metadata-url", migrate_to.metadata_url, "postgres://user:pass@host:port/db (an empty database)")
      ->required();
  migrate->add_option("--blob-url", migrate_to.blob_url, "Where to copy the blobs (default: keep DIR/blobs)");
  bool fsck_verbose = false;
  CLI::App* fsck = admin->add_subcommand(
      "fsck", "Verify every stored xorb and every LFS file reachable from a ref; exit 1 on any error");
  fsck->add_flag("-v,--verbose", fsck_verbose, "List every place a damaged file is used");
  int64_t fsck_stale_lock_s = StaleLockAgeS();
  fsck->add_option("--stale-lock-seconds", fsck_stale_lock_s,
                   "Report git lock files at least this old as stale (default 600, as serve)")
      ->check(CLI::PositiveNumber);
  bool stats_json = false;
  CLI::App* stats = admin->add_subcommand("stats", "Logical vs stored bytes, hub-wide and per repository");
  stats->add_flag("--json", stats_json, "Machine-readable output");

  CLI::App* hook = app.add_subcommand("hook", "Internal: git hooks run by git receive-pack");
  hook->group("");  // hidden from --help
  hook->allow_extras();
  hook->prefix_command();

  CLI11_PARSE(app, argc, argv);

  if (hook->parsed()) return RunGitHook(hook->remaining());

  if (serve->parsed()) {
    std::set<std::string> explicit_flags;
    for (const char* f : {"data", "listen", "public-url", "max-commit-bytes", "max-json-bytes", "max-header-bytes",
                          "max-connections", "max-client-connections", "max-client-requests", "head-timeout-seconds",
                          "idle-timeout-seconds", "min-body-bytes-per-second", "git-max-file-bytes", "git-timeout-seconds",
                          "max-inline-file-bytes", "commit-memory-bytes", "protect-default-branch", "xet",
                          "xet-token-ttl-seconds", "xet-verify-floor-bytes", "xet-verify-ratio", "metadata-url", "blob-url",
                          "stale-lock-seconds", "metrics-public"}) {
      if (serve->count(std::string("--") + f) > 0) explicit_flags.insert(f);
    }
    return RunServe(so, explicit_flags, flags);
  }

  if (migrate->parsed()) {
    Status s = MigrateStorage(data, migrate_to, [](const std::string& line) { std::cerr << line << "\n"; });
    if (!s.ok()) return Fail(s);
    return 0;
  }
  auto dd = OpenDataDir(data);
  if (!dd.ok()) return Fail(dd.status());
  MetadataStore* meta = (*dd)->meta.get();
  if (user_create->parsed()) {
    Status v = ValidateRepoNamePart(user_name, "user name");
    if (!v.ok()) return Fail(v);
    auto r = meta->CreateUser(user_name, user_admin);
    if (!r.ok()) return Fail(r.status());
    std::cerr << "created user " << user_name << (user_admin ? " (admin)" : "") << "\n";
    return 0;
  }
  if (token_create->parsed()) {
    auto u = meta->GetAccount(token_user);
    if (!u.ok() || u->kind != AccountKind::kUser) return Fail(Status::NotFound("no user named " + token_user));
    std::string secret = Authenticator::NewTokenSecret();
    auto t = meta->CreateToken(u->id, token_name, token_role == "write" ? TokenRole::kWrite : TokenRole::kRead,
                               Authenticator::HashToken(secret));
    if (!t.ok()) return Fail(t.status());
    std::cout << secret << "\n";
    return 0;
  }
  if (token_revoke->parsed()) {
    auto u = meta->GetAccount(token_user);
    if (!u.ok()) return Fail(Status::NotFound("no user named " + token_user));
    Status s = meta->RevokeToken(u->id, token_name);
    if (!s.ok()) return Fail(s);
    std::cerr << "revoked token '" << token_name << "' of " << token_user << "\n";
    return 0;
  }
  if (org_create->parsed()) {
    Status v = ValidateRepoNamePart(org_name, "organisation name");
    if (!v.ok()) return Fail(v);
    auto r = meta->CreateOrg(org_name, org_owner);
    if (!r.ok()) return Fail(r.status());
    std::cerr << "created organisation " << org_name << " owned by " << org_owner << "\n";
    return 0;
  }
  HubStorage storage{meta, (*dd)->content.get(), (*dd)->repos_dir(), (*dd)->root};
  auto progress = [](const std::string& line) { std::cerr << line << "\n"; };
  if (gc->parsed()) {
    GcOptions go;
    go.grace_ms = gc_grace_s * 1000;
    go.xorb_grace_ms = gc_xorb_grace_s * 1000;
    go.upload_grace_ms = gc_upload_grace_s * 1000;
    go.dry_run = gc_dry_run;
    go.lock_timeout_ms = gc_lock_timeout_s * 1000;
    go.progress = progress;
    auto r = CollectGarbage(storage, go);
    if (!r.ok()) return Fail(r.status());
    std::cout << FormatGcReport(*r);
    return r->delete_errors == 0 && r->stale_uploads_error.empty() ? 0 : 1;
  }
  if (fsck->parsed()) {
    FsckOptions fo;
    fo.progress = progress;
    fo.stale_lock_age_s = fsck_stale_lock_s;
    auto r = RunFsck(storage, fo);
    if (!r.ok()) return Fail(r.status());
    std::cout << FormatFsckReport(*r, fsck_verbose);
    return r->errors() == 0 ? 0 : 1;
  }
  if (stats->parsed()) {
    auto r = ComputeHubStorageStats(storage, stats_json ? std::function<void(const std::string&)>() : progress);
    if (!r.ok()) return Fail(r.status());
    std::cout << (stats_json ? FormatStatsJson(*r) : FormatStatsText(*r));
    return 0;
  }
  if (org_add->parsed()) {
    auto role = ParseOrgRole(member_role);
    if (!role.ok()) return Fail(role.status());
    Status s = meta->AddMember(org_name, member_name, *role);
    if (!s.ok()) return Fail(s);
    std::cerr << member_name << " is now " << member_role << " in " << org_name << "\n";
    return 0;
  }
  return 1;
}
