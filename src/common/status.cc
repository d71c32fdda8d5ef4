#include "common/status.h"

namespace modelhub {

const char* CodeName(Code c) {
  switch (c) {
    case Code::kOk: return "OK";
    case Code::kNotFound: return "NotFound";
    case Code::kInvalidArgument: return "InvalidArgument";
    case Code::kConflict: return "Conflict";
    case Code::kPreconditionFailed: return "PreconditionFailed";
    case Code::kCorruption: return "Corruption";
    case Code::kIOError: return "IOError";
    case Code::kUnavailable: return "Unavailable";
    case Code::kUnauthorized: return "Unauthorized";
    case Code::kForbidden: return "Forbidden";
    case Code::kTooLarge: return "TooLarge";
    case Code::kRangeNotSatisfiable: return "RangeNotSatisfiable";
    case Code::kNotImplemented: return "NotImplemented";
    case Code::kInternal: return "Internal";
    case Code::kNoSpace: return "NoSpace";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s = CodeName(code_);
  if (!hub_code_.empty()) s += "(" + hub_code_ + ")";
  s += ": " + message_;
  return s;
}

}  // namespace modelhub
