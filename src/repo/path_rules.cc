#include "repo/path_rules.h"

#include <utf8proc.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <unordered_map>

#include <fmt/format.h>

#include "common/strings.h"

namespace modelhub {

Status ValidateRepoNamePart(std::string_view part, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument(fmt::format("Invalid repo {} '{}': {}", what, part, why));
  };
  if (part.empty() || part.size() > 96) return bad("must be 1 to 96 characters");
  for (char c : part) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.';
    if (!ok) return bad("only letters, digits, '_', '-' and '.' are allowed");
  }
  if (part.find("--") != std::string_view::npos || part.find("..") != std::string_view::npos) {
    return bad("'--' and '..' are forbidden");
  }
  if (part.front() == '-' || part.front() == '.' || part.back() == '-' || part.back() == '.') {
    return bad("cannot start or end with '-' or '.'");
  }
  if (part.size() >= 4 && ToLower(part.substr(part.size() - 4)) == ".git") return bad("cannot end with '.git'");
  return Status::Ok();
}

namespace {
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n;
    if (c < 0x80) {
      n = 0;
    } else if ((c >> 5) == 6) {
      n = 1;
    } else if ((c >> 4) == 14) {
      n = 2;
    } else if ((c >> 3) == 30) {
      n = 3;
    } else {
      return false;
    }
    if (i + n >= s.size() && n > 0) return false;
    for (size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += n + 1;
  }
  return true;
}
}  // namespace

Status ValidateFilePath(std::string_view path) {
  auto bad = [&](std::string_view why) {
    std::string shown(path.substr(0, 200));
    for (char& c : shown)
      if (static_cast<unsigned char>(c) < 0x20) c = '?';
    return Status::InvalidArgument(fmt::format("Invalid path '{}': {}", shown, why));
  };
  if (path.empty()) return bad("empty path");
  if (path.size() > kMaxPathBytes) return bad(fmt::format("longer than {} bytes", kMaxPathBytes));
  if (path.front() == '/') return bad("must be relative (no leading '/')");
  for (char c : path) {
    if (c == '\\') return bad("backslashes are not allowed");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return bad("control characters are not allowed");
  }
  if (!ValidUtf8(path)) return bad("not valid UTF-8");
  for (const auto& seg : Split(path, '/')) {
    if (seg.empty()) return bad("empty path segment");
    if (seg == "." || seg == "..") return bad("'.' and '..' segments are not allowed");
    if (ToLower(seg) == ".git") return bad("'.git' segments are not allowed");
  }
  return Status::Ok();
}

// ---- Unicode twins ----

namespace {

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

struct FreeDeleter {
  void operator()(utf8proc_uint8_t* p) const { std::free(p); }
};

// "caf\u00e9.txt": shows which of two look-alike names is which.
std::string EscapeNonAscii(std::string_view name) {
  std::string out;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(name.data());
  utf8proc_ssize_t left = utf8proc_ssize_t(name.size());
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) return std::string(name);  // not UTF-8: shown as it is
    if (cp < 0x80) {
      out += char(cp);
    } else {
      out += cp > 0xFFFF ? fmt::format("\\U{:08x}", cp) : fmt::format("\\u{:04x}", cp);
    }
    p += n;
    left -= n;
  }
  return out;
}

}  // namespace

std::string NfcName(std::string_view name) {
  if (IsAscii(name)) return std::string(name);
  utf8proc_uint8_t* raw = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(name.data()),
                                    utf8proc_ssize_t(name.size()), &raw, utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  std::unique_ptr<utf8proc_uint8_t, FreeDeleter> out(raw);
  if (n < 0 || !out) return std::string(name);
  return std::string(reinterpret_cast<const char*>(out.get()), size_t(n));
}

Status CheckNfcTwins(std::string_view dir, const std::vector<std::string>& entries,
                     const std::vector<std::string>& added) {
  if (added.empty()) return Status::Ok();
  auto twin = [&](const std::string& a, const std::string& b) {
    std::string shown_a = fmt::format("{}{}", dir, a), shown_b = fmt::format("{}{}", dir, b);
    return Status::InvalidArgument(fmt::format(
        "Invalid path '{}': it is the same file name as '{}' after Unicode NFC normalization ('{}' and '{}'); "
        "a folder cannot hold both",
        shown_a, shown_b, EscapeNonAscii(shown_a), EscapeNonAscii(shown_b)));
  };
  std::unordered_map<std::string, const std::string*> added_by_nfc;
  for (const std::string& a : added) {
    auto [it, inserted] = added_by_nfc.emplace(NfcName(a), &a);
    if (!inserted && *it->second != a) return twin(a, *it->second);
  }
  for (const std::string& e : entries) {
    auto it = added_by_nfc.find(NfcName(e));
    if (it != added_by_nfc.end() && *it->second != e) return twin(*it->second, e);
  }
  return Status::Ok();
}

std::string FormatLfsPointer(const std::string& oid, int64_t size) {
  return fmt::format("version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n", oid, size);
}

std::optional<LfsPointer> ParseLfsPointer(std::string_view content) {
  if (int64_t(content.size()) > kMaxLfsPointerBytes) return std::nullopt;
  if (content.rfind("version https://git-lfs.github.com/spec/", 0) != 0) return std::nullopt;
  LfsPointer p;
  bool have_oid = false, have_size = false;
  for (const auto& line : Split(content, '\n')) {
    if (line.rfind("oid sha256:", 0) == 0) {
      p.oid = line.substr(11);
      have_oid = p.oid.size() == 64 && IsHex(p.oid);
    } else if (line.rfind("size ", 0) == 0) {
      auto n = ParseInt64(line.substr(5));
      if (n && *n >= 0) {
        p.size = *n;
        have_size = true;
      }
    }
  }
  if (!have_oid || !have_size) return std::nullopt;
  p.oid = ToLower(p.oid);
  return p;
}

namespace {

// Glob match of pattern against text where '*' and '?' do not cross '/' when
// pathname is true; "**" crosses '/'. Backtracking over stars is memoized on
// (pattern offset, text offset), so the cost is bounded by |p|·|t| states
// whatever the pattern (a pattern of many stars would otherwise be exponential).
class Globber {
 public:
  // dir_prefix: the pattern must match a leading directory of t (end where t has a '/').
  Globber(std::string_view p, std::string_view t, bool pathname, bool dir_prefix = false)
      : p(p), t(t), pathname(pathname), dir_prefix(dir_prefix) {}
  bool Match(size_t pi0, size_t ti0) {
    // One bit per (pattern offset, text offset): bounded memory, no per-state allocation.
    if (failed_.empty()) failed_.assign((p.size() + 1) * (t.size() + 1), false);
    size_t key = pi0 * (t.size() + 1) + ti0;
    if (failed_[key]) return false;
    bool ok = MatchFrom(pi0, ti0);
    if (!ok) failed_[key] = true;
    return ok;
  }

 private:
  bool MatchFrom(size_t pi, size_t ti);
  std::string_view p, t;
  bool pathname;
  bool dir_prefix;
  std::vector<bool> failed_;
};

bool Globber::MatchFrom(size_t pi, size_t ti) {
  while (pi < p.size()) {
    char c = p[pi];
    if (c == '*') {
      bool dbl = pi + 1 < p.size() && p[pi + 1] == '*';
      if (dbl) {
        size_t next = pi + 2;
        // "**/" matches zero or more directories.
        if (next < p.size() && p[next] == '/') {
          size_t rest = next + 1;
          if (Match(rest, ti)) return true;
          for (size_t k = ti; k < t.size(); ++k)
            if (t[k] == '/' && Match(rest, k + 1)) return true;
          return false;
        }
        size_t rest = next;
        while (rest < p.size() && p[rest] == '*') ++rest;  // "***" is "**"
        for (size_t k = ti; k <= t.size(); ++k)
          if (Match(rest, k)) return true;
        return false;
      }
      size_t rest = pi + 1;
      for (size_t k = ti; k <= t.size(); ++k) {
        if (Match(rest, k)) return true;
        if (k < t.size() && pathname && t[k] == '/') break;
      }
      return false;
    }
    if (ti >= t.size()) return false;
    if (c == '?') {
      if (pathname && t[ti] == '/') return false;
      ++pi;
      ++ti;
      continue;
    }
    if (c == '[') {
      // Find the closing ']' (a POSIX class like [:space:] may sit inside).
      size_t end = std::string_view::npos;
      for (size_t k = pi + 1; k < p.size(); ++k) {
        if (p[k] == '[' && k + 1 < p.size() && p[k + 1] == ':') {
          size_t close = p.find(":]", k + 2);
          if (close != std::string_view::npos) {
            k = close + 1;
            continue;
          }
        }
        if (p[k] == ']' && k > pi + 1) {
          end = k;
          break;
        }
      }
      if (end == std::string_view::npos) {
        if (t[ti] != '[') return false;
        ++pi;
        ++ti;
        continue;
      }
      std::string_view set = p.substr(pi + 1, end - pi - 1);
      bool negate = !set.empty() && (set[0] == '!' || set[0] == '^');
      if (negate) set.remove_prefix(1);
      bool found = false;
      for (size_t k = 0; k < set.size(); ++k) {
        if (set[k] == '[' && k + 1 < set.size() && set[k + 1] == ':') {
          size_t close = set.find(":]", k + 2);
          if (close != std::string_view::npos) {
            std::string_view cls = set.substr(k + 2, close - k - 2);
            unsigned char ch = static_cast<unsigned char>(t[ti]);
            if ((cls == "space" && std::isspace(ch)) || (cls == "alpha" && std::isalpha(ch)) ||
                (cls == "digit" && std::isdigit(ch)) || (cls == "alnum" && std::isalnum(ch)) ||
                (cls == "upper" && std::isupper(ch)) || (cls == "lower" && std::islower(ch))) {
              found = true;
            }
            k = close + 1;
            continue;
          }
        }
        if (k + 2 < set.size() && set[k + 1] == '-') {
          if (t[ti] >= set[k] && t[ti] <= set[k + 2]) found = true;
          k += 2;
        } else if (set[k] == t[ti]) {
          found = true;
        }
      }
      if (found == negate) return false;
      pi = end + 1;
      ++ti;
      continue;
    }
    if (c == '\\' && pi + 1 < p.size()) {
      ++pi;
      c = p[pi];
    }
    if (c != t[ti]) return false;
    ++pi;
    ++ti;
  }
  // In dir_prefix mode the match must end at a '/' of t: the pattern names a directory.
  return dir_prefix ? (ti < t.size() && t[ti] == '/') : ti == t.size();
}

bool GlobMatch(std::string_view p, std::string_view t, bool pathname) {
  Globber g(p, t, pathname);
  return g.Match(0, 0);
}

// Splits a .gitattributes line into pattern and attributes (handles "quoted patterns").
bool SplitAttrLine(std::string_view line, std::string& pattern, std::vector<std::string>& attrs) {
  std::string l = Trim(line);
  if (l.empty() || l[0] == '#') return false;
  size_t pos = 0;
  if (l[0] == '"') {
    size_t end = l.find('"', 1);
    if (end == std::string::npos) return false;
    pattern = l.substr(1, end - 1);
    pos = end + 1;
  } else {
    size_t end = l.find_first_of(" \t");
    pattern = l.substr(0, end);
    pos = end == std::string::npos ? l.size() : end;
  }
  attrs.clear();
  for (const auto& a : Split(std::string_view(l).substr(pos), ' ')) {
    std::string t = Trim(a);
    if (!t.empty()) attrs.push_back(t);
  }
  return !pattern.empty();
}

}  // namespace

bool GitPatternMatch(std::string_view pattern, std::string_view path) {
  // Patterns longer than any pattern a valid path needs never match; this also bounds the
  // matcher's work and memory: at most |pattern|·|path| states, one bit each.
  // (LfsAttributeLine writes up to 11 bytes per path byte: "[[:space:]]".)
  if (pattern.empty() || pattern.size() > 12 * kMaxPathBytes || path.size() > 4 * kMaxPathBytes) return false;
  std::string_view pat = pattern;
  bool anchored = false;
  if (pat.front() == '/') {
    pat.remove_prefix(1);
    anchored = true;
  }
  bool dir_only = false;
  while (!pat.empty() && pat.back() == '/') {
    pat.remove_suffix(1);
    dir_only = true;
  }
  if (pat.empty()) return false;
  if (!anchored && pat.find('/') == std::string_view::npos) {
    // No slash: matches a name at any depth — the basename, or for "dir/" patterns any
    // directory component (not the file's own name).
    size_t start = 0;
    while (true) {
      size_t slash = path.find('/', start);
      bool last = slash == std::string_view::npos;
      std::string_view name = path.substr(start, last ? std::string_view::npos : slash - start);
      if (last != dir_only && GlobMatch(pat, name, true)) return true;
      if (last) return false;
      start = slash + 1;
    }
  }
  if (dir_only) {
    Globber g(pat, path, true, /*dir_prefix=*/true);
    return g.Match(0, 0);
  }
  return GlobMatch(pat, path, true);
}

bool IsLfsTracked(std::string_view gitattributes, std::string_view path) {
  bool tracked = false;
  std::string pattern;
  std::vector<std::string> attrs;
  for (const auto& line : Split(gitattributes, '\n')) {
    if (!SplitAttrLine(line, pattern, attrs)) continue;
    if (!GitPatternMatch(pattern, path)) continue;
    for (const auto& a : attrs) {
      if (a == "filter=lfs") tracked = true;
      if (a == "-filter" || a == "!filter" || (a.rfind("filter=", 0) == 0 && a != "filter=lfs")) tracked = false;
    }
  }
  return tracked;
}

bool IsIgnored(std::string_view gitignore, std::string_view path) {
  bool ignored = false;
  for (const auto& raw : Split(gitignore, '\n')) {
    std::string line = Trim(raw);
    if (line.empty() || line[0] == '#') continue;
    bool negate = line[0] == '!';
    if (negate) line.erase(0, 1);
    if (GitPatternMatch(line, path)) ignored = !negate;
  }
  return ignored;
}

std::string LfsAttributeLine(std::string_view path) {
  std::string escaped;
  for (char c : path) {
    if (c == ' ') {
      escaped += "[[:space:]]";
    } else if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\' || c == '#' || c == '!' || c == '"') {
      escaped += '\\';
      escaped += c;
    } else {
      escaped += c;
    }
  }
  return escaped + " filter=lfs diff=lfs merge=lfs -text\n";
}

std::string DefaultGitAttributes(bool dataset) {
  static const char* kCommon[] = {
      "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib", "*.lfs.*",
      "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet", "*.pb", "*.pickle",
      "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors", "saved_model/**/*", "*.tar.*", "*.tar", "*.tflite",
      "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*"};
  static const char* kDataset[] = {"*.mds", "*.lz4", "*.wav", "*.mp3", "*.flac", "*.ogg", "*.jpg", "*.jpeg",
                                   "*.png", "*.webp", "*.mp4", "*.webm"};
  std::string out;
  for (const char* p : kCommon) out += fmt::format("{} filter=lfs diff=lfs merge=lfs -text\n", p);
  if (dataset) {
    out += "# Audio, image and video files\n";
    for (const char* p : kDataset) out += fmt::format("{} filter=lfs diff=lfs merge=lfs -text\n", p);
  }
  return out;
}

}  // namespace modelhub
