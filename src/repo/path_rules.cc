#include "repo/path_rules.h"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <bitset>
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

// ---- compiled patterns ----------------------------------------------------------
//
// A pattern compiles to a list of tokens; a match is simulated over the positions of the path:
// S is the set of path offsets (bit i = "the tokens so far can end at offset i"), and each token
// maps S to the next set with a few word operations per 64 offsets. No backtracking, so the cost
// is tokens x words whatever the pattern; S empty ends the match early (the usual case).

enum class Tok : uint8_t {
  kChar,           // one byte
  kAny,            // '?': any byte but '/'
  kClass,          // '[...]': a set of bytes ('/' never)
  kStar,           // '*': any run of bytes without '/'
  kGlobStar,       // '**': any run of bytes
  kGlobStarSlash,  // '**/': nothing, or any run of bytes ending with '/'
};

struct Token {
  Tok kind;
  uint8_t ch = 0;    // kChar
  uint32_t cls = 0;  // kClass: index into Pattern::classes
};

using ByteSet = std::bitset<256>;

ByteSet SpaceSet() {
  ByteSet s;
  for (int c = 0; c < 256; ++c)
    if (std::isspace(c)) s.set(size_t(c));
  return s;
}

struct Pattern {
  std::vector<Token> tokens;
  std::vector<ByteSet> classes;
  bool basename = false;  // no '/': matches a name at any depth
  bool dir_only = false;  // trailing '/': matches a directory (a leading part of the path)
  bool wildcard = false;  // any token but kChar and the [[:space:]] class
  std::string literal;    // !wildcard: the bytes it matches (a space for [[:space:]])
};

bool ClassHas(std::string_view cls, unsigned char ch) {
  return (cls == "space" && std::isspace(ch)) || (cls == "alpha" && std::isalpha(ch)) ||
         (cls == "digit" && std::isdigit(ch)) || (cls == "alnum" && std::isalnum(ch)) ||
         (cls == "upper" && std::isupper(ch)) || (cls == "lower" && std::islower(ch));
}

// Parses the bracket expression opening at p[pi]; returns the offset of its ']' or npos.
size_t ParseBracket(std::string_view p, size_t pi, ByteSet& set_out) {
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
  if (end == std::string_view::npos) return end;
  std::string_view set = p.substr(pi + 1, end - pi - 1);
  bool negate = !set.empty() && (set[0] == '!' || set[0] == '^');
  if (negate) set.remove_prefix(1);
  ByteSet s;
  for (size_t k = 0; k < set.size(); ++k) {
    if (set[k] == '[' && k + 1 < set.size() && set[k + 1] == ':') {
      size_t close = set.find(":]", k + 2);
      if (close != std::string_view::npos) {
        std::string_view cls = set.substr(k + 2, close - k - 2);
        for (int c = 0; c < 256; ++c)
          if (ClassHas(cls, static_cast<unsigned char>(c))) s.set(size_t(c));
        k = close + 1;
        continue;
      }
    }
    if (k + 2 < set.size() && set[k + 1] == '-') {
      for (int c = static_cast<unsigned char>(set[k]); c <= static_cast<unsigned char>(set[k + 2]); ++c) {
        s.set(size_t(c));
      }
      k += 2;
    } else {
      s.set(static_cast<unsigned char>(set[k]));
    }
  }
  if (negate) s.flip();
  s.reset('/');  // as git's wildmatch with WM_PATHNAME: a bracket never matches '/'
  set_out = s;
  return end;
}

void Push(Pattern& out, Token t) {
  // Runs of stars collapse so that epsilon steps never chain: "*" and "**" next to "**" are "**",
  // "**/" after "**/" is "**/", "**" and "**/" next to each other are "**".
  if (!out.tokens.empty()) {
    Tok prev = out.tokens.back().kind;
    bool prev_glob = prev == Tok::kGlobStar || prev == Tok::kGlobStarSlash;
    if (t.kind == Tok::kGlobStarSlash && prev_glob) return;
    if (t.kind == Tok::kGlobStar && prev_glob) {
      out.tokens.back().kind = Tok::kGlobStar;
      return;
    }
    if (t.kind == Tok::kStar && prev == Tok::kGlobStar) return;
    if (t.kind == Tok::kGlobStar && prev == Tok::kStar) {
      out.tokens.back().kind = Tok::kGlobStar;
      return;
    }
  }
  out.tokens.push_back(t);
}

// Compiles a .gitignore-syntax pattern (no '!' prefix); nullopt if it can never match.
std::optional<Pattern> Compile(std::string_view pat) {
  Pattern out;
  bool anchored = false;
  if (!pat.empty() && pat.front() == '/') {
    pat.remove_prefix(1);
    anchored = true;
  }
  while (!pat.empty() && pat.back() == '/') {
    pat.remove_suffix(1);
    out.dir_only = true;
  }
  if (pat.empty()) return std::nullopt;
  out.basename = !anchored && pat.find('/') == std::string_view::npos;
  static const ByteSet kSpace = [] {
    ByteSet s = SpaceSet();
    s.reset('/');
    return s;
  }();
  size_t i = 0;
  while (i < pat.size()) {
    char c = pat[i];
    if (c == '*') {
      size_t run = 0;
      while (i + run < pat.size() && pat[i + run] == '*') ++run;
      if (run == 1) {
        Push(out, {Tok::kStar});
        i += 1;
      } else if (run == 2 && i + 2 < pat.size() && pat[i + 2] == '/') {
        // In a basename pattern there is no '/', so "**" is a plain star there.
        Push(out, {Tok::kGlobStarSlash});
        i += 3;
      } else {
        Push(out, {out.basename ? Tok::kStar : Tok::kGlobStar});
        i += run;
      }
      continue;
    }
    if (c == '?') {
      Push(out, {Tok::kAny});
      ++i;
      continue;
    }
    if (c == '[') {
      ByteSet set;
      size_t end = ParseBracket(pat, i, set);
      if (end != std::string_view::npos) {
        if (set.none()) return std::nullopt;  // matches no byte
        out.classes.push_back(set);
        Push(out, {Tok::kClass, 0, uint32_t(out.classes.size() - 1)});
        i = end + 1;
        continue;
      }
    }
    if (c == '\\' && i + 1 < pat.size()) {
      ++i;
      c = pat[i];
    }
    Push(out, {Tok::kChar, static_cast<uint8_t>(c)});
    ++i;
  }
  for (const auto& t : out.tokens) {
    if (t.kind == Tok::kChar) {
      out.literal += char(t.ch);
    } else if (t.kind == Tok::kClass && out.classes[t.cls] == kSpace) {
      out.literal += ' ';
    } else {
      out.wildcard = true;
    }
  }
  if (out.wildcard || out.dir_only) out.literal.clear();
  return out;
}

// The bit sets of one path, shared by every pattern matched against it.
class PathBits {
 public:
  explicit PathBits(std::string_view t) : t_(t), nbits_(t.size() + 1), nw_((nbits_ + 63) / 64) {
    not_slash_.assign(nw_, 0);
    slash_.assign(nw_, 0);
    seg_start_.assign(nw_, 0);
    Set(seg_start_, 0);
    slot_.fill(-1);
    for (size_t i = 0; i < t.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(t[i]);
      if (c == '/') {
        Set(slash_, i);
        Set(seg_start_, i + 1);
      } else {
        Set(not_slash_, i);
      }
      if (slot_[c] < 0) {
        slot_[c] = int32_t(pool_.size());
        pool_.resize(pool_.size() + nw_, 0);
        distinct_.push_back(c);
      }
      pool_[size_t(slot_[c]) + i / 64] |= uint64_t(1) << (i % 64);
    }
    s_.assign(nw_, 0);
    tmp_.assign(nw_, 0);
  }

  // Runs p over the path; adds the word operations spent to *work.
  bool Match(const Pattern& p, int64_t* work) {
    const size_t nw = nw_;
    *work += int64_t(nw);
    if (p.basename) {
      s_ = seg_start_;
    } else {
      std::fill(s_.begin(), s_.end(), 0);
      s_[0] = 1;
    }
    for (const Token& tok : p.tokens) {
      *work += int64_t(nw);
      bool any = false;
      switch (tok.kind) {
        case Tok::kChar: {
          int32_t slot = slot_[tok.ch];
          if (slot < 0) return false;
          any = ShiftAnd(&pool_[size_t(slot)]);
          break;
        }
        case Tok::kAny:
          any = ShiftAnd(not_slash_.data());
          break;
        case Tok::kClass: {
          const ByteSet& cls = p.classes[tok.cls];
          std::fill(tmp_.begin(), tmp_.end(), 0);
          *work += int64_t(distinct_.size() * nw);
          for (unsigned char c : distinct_) {
            if (!cls.test(c)) continue;
            const uint64_t* pos = &pool_[size_t(slot_[c])];
            for (size_t w = 0; w < nw; ++w) tmp_[w] |= pos[w];
          }
          any = ShiftAnd(tmp_.data());
          break;
        }
        case Tok::kStar: {
          // From each offset in S, extend through the run of non-'/' bytes that follows it:
          // adding S to the runs carries each set bit to the run's end; XOR keeps what it crossed.
          uint64_t carry = 0;
          for (size_t w = 0; w < nw; ++w) {
            uint64_t a = not_slash_[w];
            uint64_t x = s_[w] & a;
            uint64_t sum = a + x;
            uint64_t c1 = sum < a ? 1 : 0;
            uint64_t sum2 = sum + carry;
            uint64_t c2 = sum2 < sum ? 1 : 0;
            carry = c1 | c2;
            s_[w] |= sum2 ^ a;
            any = any || s_[w] != 0;
          }
          break;
        }
        case Tok::kGlobStar:
        case Tok::kGlobStarSlash: {
          size_t first = FirstBit();
          if (first == npos) return false;
          // "**": every offset from the first one in S on. "**/": S plus every offset just after
          // a '/' at or beyond it (seg_start_ marks those).
          const uint64_t low_keep = ~uint64_t(0) << (first % 64);  // bits >= first in its word
          for (size_t w = first / 64; w < nw; ++w) {
            uint64_t add = tok.kind == Tok::kGlobStar ? ~uint64_t(0) : seg_start_[w];
            if (w == first / 64) add &= low_keep;
            s_[w] |= add;
          }
          if (nbits_ % 64 != 0) s_[nw - 1] &= (uint64_t(1) << (nbits_ % 64)) - 1;
          any = true;
          break;
        }
      }
      if (!any) return false;
    }
    if (p.dir_only) {
      for (size_t w = 0; w < nw; ++w)
        if (s_[w] & slash_[w]) return true;
      return false;
    }
    return (s_[t_.size() / 64] >> (t_.size() % 64)) & 1;
  }

 private:
  static constexpr size_t npos = size_t(-1);
  static void Set(std::vector<uint64_t>& v, size_t i) { v[i / 64] |= uint64_t(1) << (i % 64); }

  // S = (S & m) << 1.
  bool ShiftAnd(const uint64_t* m) {
    uint64_t carry = 0;
    bool any = false;
    for (size_t w = 0; w < nw_; ++w) {
      uint64_t x = s_[w] & m[w];
      s_[w] = (x << 1) | carry;
      carry = x >> 63;
      any = any || s_[w] != 0;
    }
    return any;
  }
  size_t FirstBit() const {
    for (size_t w = 0; w < nw_; ++w)
      if (s_[w] != 0) return w * 64 + size_t(__builtin_ctzll(s_[w]));
    return npos;
  }

  std::string_view t_;
  size_t nbits_;
  size_t nw_;
  std::vector<uint64_t> not_slash_, slash_, seg_start_;
  std::array<int32_t, 256> slot_;
  std::vector<uint64_t> pool_;
  std::vector<unsigned char> distinct_;
  std::vector<uint64_t> s_, tmp_;
};

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

// Paths longer than this never match (bounds the work per path).
constexpr size_t kMaxMatchPathBytes = 4 * kMaxPathBytes;

bool HasOddSpace(std::string_view path) {
  for (char c : path)
    if (c != ' ' && std::isspace(static_cast<unsigned char>(c))) return true;
  return false;
}

}  // namespace

struct PatternRules::Impl {
  struct Rule {
    Pattern pattern;
    bool value;
  };
  std::string file;  // ".gitattributes" or ".gitignore", for messages
  std::vector<Rule> rules;
  std::unordered_map<std::string, uint32_t> full;  // literal patterns with '/': path -> last rule
  std::unordered_map<std::string, uint32_t> base;  // literal patterns without '/': name -> last rule
  std::vector<uint32_t> wildcard;                  // the other rules, in order
  size_t lines = 0;
  size_t wildcard_bytes = 0;
  int64_t work = 0;

  Status Add(std::string_view pattern_text, bool value, size_t line_no) {
    if (++lines > kMaxPatternRules) {
      return Status::InvalidArgument(
          fmt::format("{} has more than {} patterns (limit)", file, kMaxPatternRules));
    }
    auto p = Compile(pattern_text);
    if (!p) return Status::Ok();  // can never match
    if (p->wildcard || p->dir_only) {
      wildcard_bytes += pattern_text.size();
      if (wildcard_bytes > kMaxWildcardPatternBytes) {
        return Status::InvalidArgument(fmt::format(
            "{}: its patterns that are not plain names (with '*', '?', '[' or a trailing '/') total more than {} "
            "bytes (limit, reached at line {}); use fewer, more general patterns",
            file, kMaxWildcardPatternBytes, line_no));
      }
    }
    uint32_t idx = uint32_t(rules.size());
    rules.push_back({std::move(*p), value});
    const Pattern& cp = rules.back().pattern;
    if (cp.wildcard || cp.dir_only) {
      wildcard.push_back(idx);
    } else {
      (cp.basename ? base : full)[cp.literal] = idx;
    }
    return Status::Ok();
  }

  Status CheckLine(std::string_view line, size_t line_no) const {
    if (line.size() > kMaxPatternLineBytes) {
      return Status::InvalidArgument(
          fmt::format("{}: line {} is longer than {} bytes (limit)", file, line_no, kMaxPatternLineBytes));
    }
    return Status::Ok();
  }

  Status AddAttributesLine(std::string_view line, size_t line_no) {
    MH_RETURN_IF_ERROR(CheckLine(line, line_no));
    std::string pattern;
    std::vector<std::string> attrs;
    if (!SplitAttrLine(line, pattern, attrs)) return Status::Ok();
    if (pattern.rfind("[attr]", 0) == 0) return Status::Ok();  // a macro definition, not a pattern
    std::optional<bool> filter;
    for (const auto& a : attrs) {
      if (a == "filter=lfs") filter = true;
      if (a == "-filter" || a == "!filter" || (a.rfind("filter=", 0) == 0 && a != "filter=lfs")) filter = false;
    }
    if (!filter) {
      // Counts toward the pattern limit; only lines that set or unset filter decide.
      if (++lines > kMaxPatternRules) {
        return Status::InvalidArgument(fmt::format("{} has more than {} patterns (limit)", file, kMaxPatternRules));
      }
      return Status::Ok();
    }
    return Add(pattern, *filter, line_no);
  }
};

PatternRules::PatternRules() : impl_(std::make_unique<Impl>()) {}
PatternRules::~PatternRules() = default;
PatternRules::PatternRules(PatternRules&&) noexcept = default;
PatternRules& PatternRules::operator=(PatternRules&&) noexcept = default;

namespace {
Status CheckFileSize(std::string_view file, std::string_view text) {
  if (text.size() > kMaxPatternFileBytes) {
    return Status::InvalidArgument(
        fmt::format("{} is larger than {} bytes (limit)", file, kMaxPatternFileBytes));
  }
  return Status::Ok();
}
}  // namespace

// Calls fn(line, line_no) for each '\n'-separated line of a pattern file (1-based numbers).
template <typename Fn>
Status ForEachPatternLine(std::string_view text, Fn&& fn) {
  size_t line_no = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    std::string_view line = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    MH_RETURN_IF_ERROR(fn(line, ++line_no));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return Status::Ok();
}

Result<PatternRules> PatternRules::ParseGitAttributes(std::string_view text) {
  PatternRules r;
  r.impl_->file = ".gitattributes";
  MH_RETURN_IF_ERROR(CheckFileSize(r.impl_->file, text));
  MH_RETURN_IF_ERROR(ForEachPatternLine(
      text, [&](std::string_view line, size_t line_no) { return r.impl_->AddAttributesLine(line, line_no); }));
  return r;
}

Result<PatternRules> PatternRules::ParseGitIgnore(std::string_view text) {
  PatternRules r;
  r.impl_->file = ".gitignore";
  MH_RETURN_IF_ERROR(CheckFileSize(r.impl_->file, text));
  MH_RETURN_IF_ERROR(ForEachPatternLine(text, [&](std::string_view raw, size_t line_no) -> Status {
    MH_RETURN_IF_ERROR(r.impl_->CheckLine(raw, line_no));
    std::string line = Trim(raw);
    if (line.empty() || line[0] == '#') return Status::Ok();
    bool negate = line[0] == '!';
    if (negate) line.erase(0, 1);
    return r.impl_->Add(line, !negate, line_no);
  }));
  return r;
}

Status PatternRules::AddLfsPath(std::string_view path) {
  std::string line = LfsAttributeLine(path);
  if (!line.empty() && line.back() == '\n') line.pop_back();
  return impl_->AddAttributesLine(line, impl_->lines + 1);
}

int64_t PatternRules::work() const { return impl_->work; }

Result<bool> PatternRules::Matches(std::string_view path) {
  Impl& m = *impl_;
  if (path.empty() || path.size() > kMaxMatchPathBytes || m.rules.empty()) return false;
  auto over_budget = [&] {
    return Status::InvalidArgument(fmt::format(
        "Matching the {} patterns took more than {} steps for this request (limit); use fewer wildcard "
        "patterns, or fewer files per request",
        m.file, kPatternMatchBudget));
  };
  if (m.work > kPatternMatchBudget) return over_budget();
  PathBits bits(path);
  m.work += int64_t(path.size() / 8 + 1);
  int64_t best = -1;
  if (!HasOddSpace(path)) {
    // The literal rules by hash; then the wildcard rules after the last literal hit, from the end.
    if (auto it = m.full.find(std::string(path)); it != m.full.end()) best = it->second;
    size_t slash = path.rfind('/');
    std::string name(slash == std::string_view::npos ? path : path.substr(slash + 1));
    if (auto it = m.base.find(name); it != m.base.end()) best = std::max<int64_t>(best, it->second);
    for (auto it = m.wildcard.rbegin(); it != m.wildcard.rend() && int64_t(*it) > best; ++it) {
      if (bits.Match(m.rules[*it].pattern, &m.work)) {
        best = *it;
        break;
      }
      if (m.work > kPatternMatchBudget) return over_budget();
    }
  } else {
    // [[:space:]] also matches tabs and other spaces, which the hashed literal forms do not
    // show: match every rule (such paths are invalid anyway).
    for (size_t i = m.rules.size(); i-- > 0;) {
      if (bits.Match(m.rules[i].pattern, &m.work)) {
        best = int64_t(i);
        break;
      }
      if (m.work > kPatternMatchBudget) return over_budget();
    }
  }
  if (m.work > kPatternMatchBudget) return over_budget();
  return best >= 0 && m.rules[size_t(best)].value;
}

bool GitPatternMatch(std::string_view pattern, std::string_view path) {
  if (pattern.empty() || pattern.size() > kMaxPatternLineBytes || path.empty() || path.size() > kMaxMatchPathBytes) {
    return false;  // an empty path names no file (and Matches agrees)
  }
  auto p = Compile(pattern);
  if (!p) return false;
  PathBits bits(path);
  int64_t work = 0;
  return bits.Match(*p, &work);
}

bool IsLfsTracked(std::string_view gitattributes, std::string_view path) {
  auto rules = PatternRules::ParseGitAttributes(gitattributes);
  if (!rules.ok()) return false;
  auto m = rules->Matches(path);
  return m.ok() && *m;
}

bool IsIgnored(std::string_view gitignore, std::string_view path) {
  auto rules = PatternRules::ParseGitIgnore(gitignore);
  if (!rules.ok()) return false;
  auto m = rules->Matches(path);
  return m.ok() && *m;
}

std::string LfsAttributeLine(std::string_view path) {
  static constexpr std::string_view kAttrs = " filter=lfs diff=lfs merge=lfs -text";
  auto special = [](char c) {
    return c == ' ' || c == '*' || c == '?' || c == '[' || c == ']' || c == '\\' || c == '#' || c == '!' ||
           c == '"';
  };
  std::string escaped;
  for (char c : path) {
    if (c == ' ') {
      escaped += "[[:space:]]";
    } else if (special(c)) {
      escaped += '\\';
      escaped += c;
    } else {
      escaped += c;
    }
  }
  if (escaped.size() + kAttrs.size() > kMaxPatternLineBytes) {
    // git ignores longer lines: name the special characters by '?' instead.
    escaped.clear();
    for (char c : path) escaped += special(c) ? '?' : c;
  }
  return escaped + std::string(kAttrs) + "\n";
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
