#include "common/strings.h"

#include <array>
#include <cctype>
#include <charconv>

namespace modelhub {

namespace {
int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string B64Enc(std::string_view in, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  size_t rest = in.size() - i;
  if (rest == 1) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (rest == 2) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

std::optional<std::string> B64Dec(std::string_view in, bool url) {
  std::array<int, 256> table;
  table.fill(-1);
  const char* alphabet = url ? kB64Url : kB64;
  for (int i = 0; i < 64; ++i) table[uint8_t(alphabet[i])] = i;
  // Strip padding; tolerate missing padding.
  size_t n = in.size();
  while (n > 0 && in[n - 1] == '=') --n;
  if (in.size() - n > 2) return std::nullopt;
  if (!url && in.size() % 4 != 0) return std::nullopt;
  if (n % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(n * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    int v = table[uint8_t(in[i])];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  return out;
}
}  // namespace

std::optional<std::string> UrlDecode(std::string_view s, bool form) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = HexVal(s[i + 1]), lo = HexVal(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += char(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && form) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string UrlEncode(std::string_view s, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += char(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.emplace_back(s.substr(start));
      break;
    }
    out.emplace_back(s.substr(start, pos - start));
    start = pos + 1;
  }
  return out;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');  // ASCII only: locale-independent and fast
  return out;
}

bool IsHex(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (HexVal(c) < 0) return false;
  return true;
}

std::optional<int64_t> ParseInt64(std::string_view s) {
  int64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<bool> ParseBool(std::string_view s) {
  std::string l = ToLower(s);
  if (l == "true" || l == "1" || l == "yes") return true;
  if (l == "false" || l == "0" || l == "no") return false;
  return std::nullopt;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string HexEncode(std::string_view bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view s) { return B64Dec(s, false); }
std::string Base64Encode(std::string_view bytes) { return B64Enc(bytes, kB64, true); }
std::string Base64UrlEncode(std::string_view bytes) { return B64Enc(bytes, kB64Url, false); }
std::optional<std::string> Base64UrlDecode(std::string_view s) { return B64Dec(s, true); }

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {
bool StartsPath(char before) {
  return before == ' ' || before == '\t' || before == '\n' || before == '\'' || before == '"' || before == '`' ||
         before == '(' || before == '[' || before == '<' || before == '=' || before == ',';
}
bool EndsPath(std::string_view s, size_t i) {
  char c = s[i];
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\'' || c == '"' || c == '`' || c == ')' ||
      c == ']' || c == '>' || c == ',' || c == ';') {
    return true;
  }
  return c == ':' && (i + 1 == s.size() || s[i + 1] == ' ');
}
std::string SafePathText(std::string_view path) {
  constexpr std::string_view kGit = ".git/";
  if (auto g = path.rfind(kGit); g != std::string_view::npos && g + kGit.size() < path.size()) {
    std::string_view inside = path.substr(g + kGit.size());
    // "repos/7.git/./refs" and "repos/7.git//refs" name the same file: the result is relative (and a
    // second pass leaves it alone).
    while (true) {
      if (inside.substr(0, 1) == "/") {
        inside.remove_prefix(1);
      } else if (inside.substr(0, 2) == "./") {
        inside.remove_prefix(2);
      } else {
        break;
      }
    }
    if (!inside.empty()) return std::string(inside);
  }
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  auto slash = path.rfind('/');
  return ".../" + std::string(path.substr(slash + 1));
}
}  // namespace

namespace {
std::string RedactPathsOnce(std::string_view msg) {
  std::string out;
  out.reserve(msg.size());
  size_t i = 0;
  while (i < msg.size()) {
    bool starts = msg[i] == '/' && (i == 0 || StartsPath(msg[i - 1])) && i + 1 < msg.size() && !EndsPath(msg, i + 1) &&
                  msg[i + 1] != '/';
    if (!starts) {
      out += msg[i++];
      continue;
    }
    size_t end = i + 1;
    while (end < msg.size() && !EndsPath(msg, end)) ++end;
    out += SafePathText(msg.substr(i, end - i));
    i = end;
  }
  return out;
}
}  // namespace

std::string RedactPaths(std::string_view msg) {
  // The part of a path kept below a git directory may itself hold the start of another path
  // ("a.git/x(/srv/y"): passes repeat until nothing changes, so the result holds no path at all.
  // Each pass keeps or lowers the number of slashes that can start a path; a few passes suffice.
  std::string out = RedactPathsOnce(msg);
  for (int pass = 0; pass < 16; ++pass) {
    std::string next = RedactPathsOnce(out);
    if (next == out) break;
    out = std::move(next);
  }
  return out;
}

}  // namespace modelhub
