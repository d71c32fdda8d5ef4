// fuzz_gitmodules: repo/gitmodules.h — the git config parser and the .gitmodules
// check every commit and push of a .gitmodules goes through (the bytes come
// straight from users).
//
// Input: the .gitmodules text.
//
// Checks: parsing and checking never crash, stay linear (libFuzzer's -timeout),
// and only ever answer Ok or InvalidArgument; parsed section and key names are
// what git's grammar allows (lower-cased, keys start with a letter); the entries
// survive a round trip through a canonical re-serialization (quoted, escaped
// values; [section "subsection"] headers), and the re-serialized text gets the
// same verdict; IsGitmodulesPath never crashes on the first line.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "repo/gitmodules.h"

namespace modelhub {
namespace {

using fuzz::Quote;

bool KeyChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

std::string QuoteValue(const std::string& v) {
  std::string out = "\"";
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      default: out += c;
    }
  }
  return out + "\"";
}

// Canonical text for entries, or nullopt if some entry has a shape only odd headers produce.
std::optional<std::string> Serialize(const std::vector<GitConfigEntry>& entries) {
  std::string out, header;
  bool in_section = false;
  for (const auto& e : entries) {
    if (e.section.empty()) {
      if (in_section || e.has_subsection) return std::nullopt;
    } else {
      for (char c : e.section) {
        if (!KeyChar(c)) return std::nullopt;
      }
      if (e.subsection.find('\n') != std::string::npos) return std::nullopt;
      std::string h = "[" + e.section;
      if (e.has_subsection) {
        h += " \"";
        for (char c : e.subsection) {
          if (c == '\\' || c == '"') h += '\\';
          h += c;
        }
        h += "\"";
      }
      h += "]\n";
      if (!in_section || h != header) out += h;
      header = h;
      in_section = true;
    }
    out += "\t" + e.key;
    if (e.value) out += " = " + QuoteValue(*e.value);
    out += "\n";
  }
  return out;
}

bool SameEntries(const std::vector<GitConfigEntry>& a, const std::vector<GitConfigEntry>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].section != b[i].section || a[i].subsection != b[i].subsection ||
        a[i].has_subsection != b[i].has_subsection || a[i].key != b[i].key || a[i].value != b[i].value) {
      return false;
    }
  }
  return true;
}

}  // namespace
}  // namespace modelhub

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  using namespace modelhub;
  std::string_view in(reinterpret_cast<const char*>(data), len);
  (void)IsGitmodulesPath(in.substr(0, in.find('\n')));

  Status verdict = CheckGitmodules(in);
  FUZZ_CHECK(verdict.ok() || verdict.code() == Code::kInvalidArgument, "CheckGitmodules({}): {}", Quote(in),
             verdict.ToString());
  auto parsed = ParseGitConfig(in);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == Code::kInvalidArgument && !verdict.ok(),
               "unparseable {} got {} / verdict {}", Quote(in), parsed.status().ToString(), verdict.ToString());
    return 0;
  }
  for (const auto& e : *parsed) {
    FUZZ_CHECK(!e.key.empty() && e.key[0] >= 'a' && e.key[0] <= 'z', "key {} from {}", Quote(e.key), Quote(in));
    for (char c : e.key) FUZZ_CHECK(KeyChar(c), "key {} from {}", Quote(e.key), Quote(in));
    for (char c : e.section) FUZZ_CHECK(KeyChar(c) || c == '.', "section {} from {}", Quote(e.section), Quote(in));
  }
  auto text = Serialize(*parsed);
  if (!text) return 0;
  auto again = ParseGitConfig(*text);
  FUZZ_CHECK(again.ok() && SameEntries(*parsed, *again), "entries of {} do not round-trip through {}", Quote(in),
             Quote(*text));
  Status verdict2 = CheckGitmodules(*text);
  FUZZ_CHECK(verdict.ok() == verdict2.ok(), "verdict of {} ({}) differs for its re-serialization {} ({})", Quote(in),
             verdict.ToString(), Quote(*text), verdict2.ToString());
  return 0;
}
