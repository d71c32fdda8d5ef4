#include "storage/blob/s3_xml.h"

#include <optional>

#include "common/strings.h"
#include "common/time_util.h"

namespace modelhub {

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (unsigned char)c >= 0x80;
}
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9') || c == '-' || c == '.'; }

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    *out += char(cp);
  } else if (cp < 0x800) {
    *out += char(0xC0 | (cp >> 6));
    *out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out += char(0xE0 | (cp >> 12));
    *out += char(0x80 | ((cp >> 6) & 0x3F));
    *out += char(0x80 | (cp & 0x3F));
  } else {
    *out += char(0xF0 | (cp >> 18));
    *out += char(0x80 | ((cp >> 12) & 0x3F));
    *out += char(0x80 | ((cp >> 6) & 0x3F));
    *out += char(0x80 | (cp & 0x3F));
  }
}

std::string LocalName(std::string_view qname) {
  size_t colon = qname.rfind(':');
  return std::string(colon == std::string_view::npos ? qname : qname.substr(colon + 1));
}

// One pass over the document with an explicit stack of open elements, so
// nesting depth costs no native stack.
class XmlParser {
 public:
  explicit XmlParser(std::string_view doc) : s_(doc) {}

  Result<XmlElement> Run() {
    std::vector<XmlElement> open;
    std::vector<std::string_view> open_names;  // qualified, for matching end tags
    std::optional<XmlElement> root;
    size_t elements = 0;
    while (pos_ < s_.size()) {
      if (s_[pos_] != '<') {
        size_t next = s_.find('<', pos_);
        if (next == std::string_view::npos) next = s_.size();
        std::string_view raw = s_.substr(pos_, next - pos_);
        if (open.empty()) {
          for (char c : raw) {
            if (!IsSpace(c)) return Err("text outside the root element");
          }
        } else {
          MH_RETURN_IF_ERROR(DecodeText(raw, &open.back().text));
        }
        pos_ = next;
        continue;
      }
      if (StartsWith("<?")) {
        MH_RETURN_IF_ERROR(SkipPast("?>"));
      } else if (StartsWith("<!--")) {
        MH_RETURN_IF_ERROR(SkipPast("-->"));
      } else if (StartsWith("<![CDATA[")) {
        if (open.empty()) return Err("CDATA outside the root element");
        size_t start = pos_ + 9;
        size_t end = s_.find("]]>", start);
        if (end == std::string_view::npos) return Err("unterminated CDATA");
        open.back().text.append(s_.substr(start, end - start));
        pos_ = end + 3;
      } else if (StartsWith("<!")) {
        return Err("DTDs and declarations are not accepted");
      } else if (StartsWith("</")) {
        pos_ += 2;
        MH_ASSIGN_OR_RETURN(std::string_view name, ReadName());
        SkipSpaces();
        if (pos_ >= s_.size() || s_[pos_] != '>') return Err("malformed end tag");
        ++pos_;
        if (open.empty() || open_names.back() != name) return Err("end tag does not match");
        XmlElement done = std::move(open.back());
        open.pop_back();
        open_names.pop_back();
        if (open.empty()) {
          root = std::move(done);
        } else {
          open.back().children.push_back(std::move(done));
        }
      } else {
        ++pos_;
        MH_ASSIGN_OR_RETURN(std::string_view name, ReadName());
        if (root) return Err("a second root element");
        if (open.size() >= size_t(kXmlMaxDepth)) return Err("nesting too deep");
        if (++elements > kXmlMaxElements) return Err("too many elements");
        bool self_closing = false;
        MH_RETURN_IF_ERROR(SkipAttributes(&self_closing));
        XmlElement e;
        e.name = LocalName(name);
        if (e.name.empty() || !IsNameStart(e.name[0]) || e.name[0] == ':') return Err("bad element name");
        if (!self_closing) {
          open.push_back(std::move(e));
          open_names.push_back(name);
        } else if (open.empty()) {
          root = std::move(e);
        } else {
          open.back().children.push_back(std::move(e));
        }
      }
    }
    if (!open.empty()) return Err("unclosed element <" + open.back().name + ">");
    if (!root) return Err("no root element");
    return std::move(*root);
  }

 private:
  Status Err(const std::string& what) const {
    return Status::Corruption("malformed XML: " + what + " (byte " + std::to_string(pos_) + ")");
  }
  bool StartsWith(std::string_view p) const { return s_.substr(pos_, p.size()) == p; }
  void SkipSpaces() {
    while (pos_ < s_.size() && IsSpace(s_[pos_])) ++pos_;
  }
  Status SkipPast(std::string_view end) {
    size_t at = s_.find(end, pos_);
    if (at == std::string_view::npos) return Err("unterminated markup");
    pos_ = at + end.size();
    return Status::Ok();
  }
  Result<std::string_view> ReadName() {
    size_t start = pos_;
    if (pos_ >= s_.size() || !IsNameStart(s_[pos_])) return Err("expected a name");
    while (pos_ < s_.size() && IsNameChar(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  // After a start tag's name: attributes (checked, dropped), then '>' or '/>'.
  Status SkipAttributes(bool* self_closing) {
    while (true) {
      size_t before = pos_;
      SkipSpaces();
      if (pos_ >= s_.size()) return Err("unterminated start tag");
      if (s_[pos_] == '>') {
        ++pos_;
        *self_closing = false;
        return Status::Ok();
      }
      if (StartsWith("/>")) {
        pos_ += 2;
        *self_closing = true;
        return Status::Ok();
      }
      if (pos_ == before) return Err("attributes must be separated by spaces");
      MH_RETURN_IF_ERROR(ReadName().status());
      SkipSpaces();
      if (pos_ >= s_.size() || s_[pos_] != '=') return Err("attribute without '='");
      ++pos_;
      SkipSpaces();
      if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\'')) return Err("unquoted attribute value");
      char quote = s_[pos_++];
      size_t end = s_.find(quote, pos_);
      if (end == std::string_view::npos) return Err("unterminated attribute value");
      std::string_view value = s_.substr(pos_, end - pos_);
      if (value.find('<') != std::string_view::npos) return Err("'<' in an attribute value");
      std::string ignored;
      MH_RETURN_IF_ERROR(DecodeText(value, &ignored));
      pos_ = end + 1;
    }
  }
  Status DecodeText(std::string_view raw, std::string* out) const {
    size_t i = 0;
    while (i < raw.size()) {
      size_t amp = raw.find('&', i);
      if (amp == std::string_view::npos) {
        out->append(raw.substr(i));
        break;
      }
      out->append(raw.substr(i, amp - i));
      size_t semi = raw.find(';', amp);
      if (semi == std::string_view::npos || semi - amp > 12) return Err("malformed entity reference");
      std::string_view ent = raw.substr(amp + 1, semi - amp - 1);
      if (ent == "lt") {
        *out += '<';
      } else if (ent == "gt") {
        *out += '>';
      } else if (ent == "amp") {
        *out += '&';
      } else if (ent == "quot") {
        *out += '"';
      } else if (ent == "apos") {
        *out += '\'';
      } else if (ent.size() >= 2 && ent[0] == '#') {
        bool hex = ent[1] == 'x';
        std::string_view digits = ent.substr(hex ? 2 : 1);
        if (digits.empty()) return Err("empty character reference");
        uint32_t cp = 0;
        for (char c : digits) {
          int d;
          if (c >= '0' && c <= '9') {
            d = c - '0';
          } else if (hex && c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
          } else if (hex && c >= 'A' && c <= 'F') {
            d = c - 'A' + 10;
          } else {
            return Err("bad character reference");
          }
          cp = cp * (hex ? 16 : 10) + uint32_t(d);
          if (cp > 0x10FFFF) return Err("character reference out of range");
        }
        if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) return Err("invalid character reference");
        AppendUtf8(cp, out);
      } else {
        return Err("unknown entity");
      }
      i = semi + 1;
    }
    return Status::Ok();
  }

  std::string_view s_;
  size_t pos_ = 0;
};

Result<XmlElement> ParseRoot(std::string_view xml, std::string_view want) {
  MH_ASSIGN_OR_RETURN(XmlElement root, ParseXml(xml));
  if (root.name != want) {
    return Status::Corruption("S3 answered <" + root.name + "> where <" + std::string(want) + "> was expected");
  }
  return root;
}

// The <Key> of a listing entry, percent-decoded if the listing was asked for encoding-type=url.
Result<std::string> ListedKey(const XmlElement& entry, bool url_encoded, std::string_view what) {
  const XmlElement* key = entry.Child("Key");
  if (!key || key->text.empty()) return Status::Corruption(std::string(what) + ": an entry without a Key");
  if (!url_encoded) return key->text;
  auto decoded = UrlDecode(key->text, /*form=*/true);
  if (!decoded) return Status::Corruption(std::string(what) + ": a badly encoded Key");
  return std::move(*decoded);
}

Result<bool> IsTruncated(const XmlElement& root, std::string_view what) {
  std::string truncated = Trim(root.ChildText("IsTruncated"));
  if (truncated == "true") return true;
  if (!truncated.empty() && truncated != "false") return Status::Corruption(std::string(what) + ": bad IsTruncated");
  return false;
}

}  // namespace

const XmlElement* XmlElement::Child(std::string_view child_name) const {
  for (const auto& c : children) {
    if (c.name == child_name) return &c;
  }
  return nullptr;
}

std::string XmlElement::ChildText(std::string_view child_name) const {
  const XmlElement* c = Child(child_name);
  return c ? c->text : std::string();
}

Result<XmlElement> ParseXml(std::string_view doc) { return XmlParser(doc).Run(); }

Result<S3ListPage> ParseS3ListObjectsV2(std::string_view xml, bool url_encoded) {
  MH_ASSIGN_OR_RETURN(XmlElement root, ParseRoot(xml, "ListBucketResult"));
  S3ListPage page;
  for (const auto& c : root.children) {
    if (c.name != "Contents") continue;
    S3ListedObject o;
    MH_ASSIGN_OR_RETURN(o.key, ListedKey(c, url_encoded, "S3 listing"));
    auto size = ParseInt64(Trim(c.ChildText("Size")));
    if (!size || *size < 0) return Status::Corruption("S3 listing: bad Size for " + o.key);
    o.size = *size;
    page.objects.push_back(std::move(o));
  }
  MH_ASSIGN_OR_RETURN(page.truncated, IsTruncated(root, "S3 listing"));
  page.next_token = root.ChildText("NextContinuationToken");
  if (page.truncated && page.next_token.empty()) {
    return Status::Corruption("S3 listing: truncated without a NextContinuationToken");
  }
  return page;
}

Result<S3UploadsPage> ParseS3ListMultipartUploads(std::string_view xml, bool url_encoded) {
  constexpr const char* kWhat = "S3 upload listing";
  MH_ASSIGN_OR_RETURN(XmlElement root, ParseRoot(xml, "ListMultipartUploadsResult"));
  S3UploadsPage page;
  for (const auto& c : root.children) {
    if (c.name != "Upload") continue;
    S3ListedUpload u;
    MH_ASSIGN_OR_RETURN(u.key, ListedKey(c, url_encoded, kWhat));
    u.upload_id = Trim(c.ChildText("UploadId"));
    if (u.upload_id.empty()) return Status::Corruption(std::string(kWhat) + ": no UploadId for " + u.key);
    auto initiated = ParseIsoTimeMs(Trim(c.ChildText("Initiated")));
    if (!initiated) return Status::Corruption(std::string(kWhat) + ": bad Initiated for " + u.key);
    u.initiated_ms = *initiated;
    page.uploads.push_back(std::move(u));
  }
  MH_ASSIGN_OR_RETURN(page.truncated, IsTruncated(root, kWhat));
  page.next_key_marker = root.ChildText("NextKeyMarker");
  if (url_encoded && !page.next_key_marker.empty()) {
    auto decoded = UrlDecode(page.next_key_marker, /*form=*/true);
    if (!decoded) return Status::Corruption(std::string(kWhat) + ": a badly encoded NextKeyMarker");
    page.next_key_marker = std::move(*decoded);
  }
  page.next_upload_id_marker = Trim(root.ChildText("NextUploadIdMarker"));
  if (page.truncated && page.next_key_marker.empty()) {
    return Status::Corruption(std::string(kWhat) + ": truncated without a NextKeyMarker");
  }
  return page;
}

Result<std::string> ParseS3InitiateMultipartUpload(std::string_view xml) {
  MH_ASSIGN_OR_RETURN(XmlElement root, ParseRoot(xml, "InitiateMultipartUploadResult"));
  std::string id = Trim(root.ChildText("UploadId"));
  if (id.empty()) return Status::Corruption("S3 CreateMultipartUpload: no UploadId");
  return id;
}

S3ErrorInfo ParseS3Error(std::string_view xml) {
  S3ErrorInfo info;
  auto root = ParseXml(xml);
  if (!root.ok() || root->name != "Error") return info;
  info.code = Trim(root->ChildText("Code"));
  info.message = Trim(root->ChildText("Message"));
  return info;
}

Status ParseS3CompleteMultipartUpload(std::string_view xml, S3ErrorInfo* error) {
  MH_ASSIGN_OR_RETURN(XmlElement root, ParseXml(xml));
  if (root.name == "CompleteMultipartUploadResult") return Status::Ok();
  if (root.name == "Error") {
    error->code = Trim(root.ChildText("Code"));
    error->message = Trim(root.ChildText("Message"));
    return Status::IOError("S3 CompleteMultipartUpload failed: " + error->code + " " + error->message);
  }
  return Status::Corruption("S3 CompleteMultipartUpload: unexpected <" + root.name + ">");
}

}  // namespace modelhub
