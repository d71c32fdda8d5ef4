// Small string helpers shared by every layer. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modelhub {

// Percent-decodes s. '+' is kept as '+' unless form is true (then it is a space).
// Returns nullopt on malformed escapes.
std::optional<std::string> UrlDecode(std::string_view s, bool form = false);
// Percent-encodes everything except unreserved characters; '/' kept when keep_slash.
std::string UrlEncode(std::string_view s, bool keep_slash = false);

std::vector<std::string> Split(std::string_view s, char sep);
std::string ToLower(std::string_view s);
bool IsHex(std::string_view s);
std::optional<int64_t> ParseInt64(std::string_view s);
// "true"/"1"/"True" -> true, "false"/"0" -> false (case-insensitive); nullopt otherwise.
std::optional<bool> ParseBool(std::string_view s);
std::string Trim(std::string_view s);

std::string HexEncode(std::string_view bytes);
std::optional<std::string> Base64Decode(std::string_view s);
std::string Base64Encode(std::string_view bytes);
std::string Base64UrlEncode(std::string_view bytes);  // no padding
std::optional<std::string> Base64UrlDecode(std::string_view s);

// Escapes for embedding in HTML text and attributes.
std::string HtmlEscape(std::string_view s);

// Rewrites the absolute filesystem paths in a message that goes to a client, so that no server
// path leaves the server: a path inside a git directory becomes its part below it
// ("/srv/data/repos/7.git/refs/heads/main.lock" -> "refs/heads/main.lock"), any other becomes
// ".../" and its last component. A path starts with '/' at the start of the text or after a space,
// tab, quote, '(', '[', '<', '=' or ','; it ends at whitespace, a quote, ')', ']', '>', ',', ';', or a
// ':' followed by a space or the end. URLs ("http://host/x") and relative paths are left alone.
std::string RedactPaths(std::string_view msg);

}  // namespace modelhub
