#include "storage/cas/format/wire.h"

namespace modelhub::xet {

std::string HashToXetHex(const Hash32& h) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (int word = 0; word < 4; ++word) {
    for (int i = 7; i >= 0; --i) {
      uint8_t b = h[word * 8 + i];
      out.push_back(kDigits[b >> 4]);
      out.push_back(kDigits[b & 0xf]);
    }
  }
  return out;
}

}  // namespace modelhub::xet
