#include "repo/gitmodules.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

#include "common/strings.h"

namespace modelhub {

namespace {

// git's own character classes (git-compat-util.h "sane_ctype"), not the C library's.
bool GitSpace(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool GitAlpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool GitKeyChar(int c) { return GitAlpha(c) || (c >= '0' && c <= '9') || c == '-'; }
char Lower(int c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : char(c); }

// Mirrors git 2.39's config.c parser (git_parse_source and helpers) over a memory buffer:
// the same characters end the same tokens, so both read the same entries.
class ConfigParser {
 public:
  explicit ConfigParser(std::string_view text) : text_(text) {}

  Result<std::vector<GitConfigEntry>> Parse() {
    std::vector<GitConfigEntry> out;
    std::string var;  // "section[.subsection]." then the key
    size_t baselen = 0;
    bool comment = false;
    static constexpr unsigned char kBom[] = {0xEF, 0xBB, 0xBF};
    size_t bom = 0;
    bool at_start = true;
    for (;;) {
      int c = Next();
      if (at_start) {
        // A UTF-8 byte order mark at the very beginning is skipped; a partial one is an error.
        if (bom < sizeof kBom && c == kBom[bom]) {
          ++bom;
          continue;
        }
        if (bom != 0 && bom != sizeof kBom) return Error();
        at_start = false;
      }
      if (c == '\n') {
        if (eof_) return out;
        comment = false;
        continue;
      }
      if (comment || GitSpace(c)) continue;
      if (c == '#' || c == ';') {
        comment = true;
        continue;
      }
      if (c == '[') {
        var.clear();
        if (!BaseVar(var) || var.empty()) return Error();
        var += '.';
        baselen = var.size();
        continue;
      }
      if (!GitAlpha(c)) return Error();
      var.resize(baselen);
      var += Lower(c);
      const int key_line = line_;
      std::optional<std::string> value;
      if (!Value(var, &value)) return Error();
      out.push_back(MakeEntry(var, std::move(value), key_line));
    }
  }

 private:
  // git's get_next_char: CRLF reads as '\n'; the end of the text reads as a final '\n'.
  int Next() {
    if (pos_ >= text_.size()) {
      eof_ = true;
      return '\n';
    }
    int c = static_cast<unsigned char>(text_[pos_++]);
    if (c == '\r' && pos_ < text_.size() && text_[pos_] == '\n') c = text_[pos_++];
    if (c == '\n') ++line_;
    return c;
  }

  Status Error() const {
    return Status::InvalidArgument(fmt::format("line {}: not valid git config syntax", line_));
  }

  // After '[': "name]" or "name "subsection"]" (get_base_var / get_extended_base_var).
  bool BaseVar(std::string& name) {
    for (;;) {
      int c = Next();
      if (eof_) return false;
      if (c == ']') return true;
      if (GitSpace(c)) return ExtendedBaseVar(name, c);
      if (!GitKeyChar(c) && c != '.') return false;
      name += Lower(c);
    }
  }

  bool ExtendedBaseVar(std::string& name, int c) {
    do {
      if (c == '\n') return false;
      c = Next();
    } while (GitSpace(c));
    if (c != '"') return false;
    name += '.';
    for (;;) {
      c = Next();
      if (c == '\n') return false;
      if (c == '"') break;
      if (c == '\\') {
        c = Next();
        if (c == '\n') return false;
      }
      name += char(c);
    }
    return Next() == ']';
  }

  // The rest of the key, then "= value" or the end of the line (get_value).
  bool Value(std::string& var, std::optional<std::string>* value) {
    int c;
    for (;;) {
      c = Next();
      if (eof_ || !GitKeyChar(c)) break;
      var += Lower(c);
    }
    while (c == ' ' || c == '\t') c = Next();
    if (c == '\n') return true;  // a bare key: boolean true
    if (c != '=') return false;
    std::string v;
    if (!ParseValue(&v)) return false;
    *value = std::move(v);
    return true;
  }

  // parse_value: quotes group, backslash escapes, comments outside quotes, runs of
  // unquoted whitespace inside the value become single spaces per character, trailing dropped.
  bool ParseValue(std::string* out) {
    bool quote = false, comment = false;
    size_t space = 0;
    for (;;) {
      int c = Next();
      if (c == '\n') return !quote;
      if (comment) continue;
      if (GitSpace(c) && !quote) {
        if (!out->empty()) ++space;
        continue;
      }
      if (!quote && (c == ';' || c == '#')) {
        comment = true;
        continue;
      }
      out->append(space, ' ');
      space = 0;
      if (c == '\\') {
        c = Next();
        switch (c) {
          case '\n':
            if (eof_) return !quote;  // git: a backslash at the very end continues into nothing
            continue;
          case 't': c = '\t'; break;
          case 'b': c = '\b'; break;
          case 'n': c = '\n'; break;
          case '\\':
          case '"': break;
          default: return false;  // unknown escape
        }
        *out += char(c);
        continue;
      }
      if (c == '"') {
        quote = !quote;
        continue;
      }
      *out += char(c);
    }
  }

  // Splits "section.subsection.key" as git's parse_config_key does: the section up to the
  // first dot, the key after the last one, the subsection between them.
  static GitConfigEntry MakeEntry(const std::string& var, std::optional<std::string> value, int line) {
    GitConfigEntry e;
    e.value = std::move(value);
    e.line = line;
    size_t first = var.find('.');
    size_t last = var.rfind('.');
    if (first == std::string::npos) {
      e.key = var;
      return e;
    }
    e.section = var.substr(0, first);
    e.key = var.substr(last + 1);
    if (last > first) {
      e.has_subsection = true;
      e.subsection = var.substr(first + 1, last - first - 1);
    }
    return e;
  }

  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1;
  bool eof_ = false;
};

bool DirSep(char c) { return c == '/' || c == '\\'; }

// check_submodule_name: not empty, no ".." component.
bool SubmoduleNameOk(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i != 0 && !DirSep(name[i - 1])) continue;  // i starts a component
    if (name.substr(i, 2) == ".." && (i + 2 == name.size() || DirSep(name[i + 2]))) return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// git's url_decode: %XX sequences (invalid ones stay as they are).
std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += char(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// check_submodule_url.
bool SubmoduleUrlOk(std::string_view url) {
  if (StartsWith(url, "-")) return false;  // would be read as an option by git clone
  if (StartsWith(url, "./") || StartsWith(url, "../") || StartsWith(url, "git://")) {
    return PercentDecode(url).find('\n') == std::string::npos;
  }
  // url_to_curl_url: the URLs git hands to curl, whose parts feed the credential helpers.
  std::string_view curl;
  bool is_curl = false;
  for (std::string_view scheme : {"http", "https", "ftp", "ftps"}) {
    std::string transport = std::string(scheme) + "::";
    std::string direct = std::string(scheme) + "://";
    if (StartsWith(url, transport)) {
      curl = url.substr(transport.size());
      is_curl = true;
      break;
    }
    if (StartsWith(url, direct)) {
      curl = url;
      is_curl = true;
      break;
    }
  }
  if (!is_curl) return true;
  // credential_from_url_gently: "proto://[user[:pass]@]host[/path]", no newline in any
  // decoded part, a host.
  size_t proto_end = curl.find("://");
  if (proto_end == std::string_view::npos || proto_end == 0) return false;
  std::string_view rest = curl.substr(proto_end + 3);
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  size_t at = authority.rfind('@');
  std::string_view host = at == std::string_view::npos ? authority : authority.substr(at + 1);
  if (PercentDecode(curl).find('\n') != std::string::npos) return false;
  return !host.empty();
}

bool IgnorableHfsCodePoint(uint32_t cp) {
  // git's utf8.c next_hfs_char: the code points HFS+ ignores in names.
  return (cp >= 0x200c && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x206a && cp <= 0x206f) ||
         cp == 0xfeff;
}

// The name with the code points HFS+ ignores removed (U+200C.., as 3-byte UTF-8 sequences).
std::string WithoutHfsIgnorables(std::string_view name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    auto b = static_cast<unsigned char>(name[i]);
    if ((b & 0xF0) == 0xE0 && i + 2 < name.size()) {
      uint32_t cp = ((b & 0x0Fu) << 12) | ((static_cast<unsigned char>(name[i + 1]) & 0x3Fu) << 6) |
                    (static_cast<unsigned char>(name[i + 2]) & 0x3Fu);
      if (IgnorableHfsCodePoint(cp)) {
        i += 2;
        continue;
      }
    }
    out += name[i];
  }
  return out;
}

}  // namespace

bool IsGitmodulesPath(std::string_view path) {
  size_t slash = path.rfind('/');
  std::string name = ToLower(WithoutHfsIgnorables(slash == std::string_view::npos ? path : path.substr(slash + 1)));
  // NTFS drops trailing dots and spaces.
  while (!name.empty() && (name.back() == '.' || name.back() == ' ')) name.pop_back();
  if (name == ".gitmodules") return true;
  // The 8.3 short name NTFS gives it ("gitmod~1"; git refuses any "gitmod~<digits>").
  if (StartsWith(name, "gitmod~") && name.size() > 7) {
    return std::all_of(name.begin() + 7, name.end(), [](char c) { return c >= '0' && c <= '9'; });
  }
  return false;
}

Result<std::vector<GitConfigEntry>> ParseGitConfig(std::string_view text) { return ConfigParser(text).Parse(); }

Status CheckGitmodules(std::string_view content, std::string_view shown_path) {
  auto entries = ParseGitConfig(content);
  if (!entries.ok()) {
    return Status::InvalidArgument(fmt::format("{} is not a valid git config file ({}); git could not read it",
                                               shown_path, entries.status().message()));
  }
  for (const GitConfigEntry& e : *entries) {
    if (e.section != "submodule" || !e.has_subsection) continue;
    auto refuse = [&](std::string_view what) {
      std::string shown = what == "name" ? e.subsection : e.value.value_or("");
      if (shown.size() > 200) shown = shown.substr(0, 200) + "...";
      for (char& c : shown) {
        if (static_cast<unsigned char>(c) < 0x20) c = '?';
      }
      return Status::InvalidArgument(
          fmt::format("{} line {}: disallowed submodule {} '{}' (git's fsck refuses it: it could inject an option "
                      "or a command into git)",
                      shown_path, e.line, what, shown));
    };
    if (!SubmoduleNameOk(e.subsection)) return refuse("name");
    if (!e.value) continue;
    if (e.key == "url" && !SubmoduleUrlOk(*e.value)) return refuse("url");
    if (e.key == "path" && StartsWith(*e.value, "-")) return refuse("path");
    if (e.key == "update" && StartsWith(*e.value, "!")) return refuse("update");
  }
  return Status::Ok();
}

}  // namespace modelhub
