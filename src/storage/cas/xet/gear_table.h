// The 256-entry gear table of Xet content-defined chunking: the DEFAULT_TABLE of the gearhash crate
// 0.1.3, which xet-core's chunker uses. Written down as data in gear_table.cc; the tests check it
// against shared/testdata/xet/vectors.json and its SHA-256. See docs/formats/xet-hashing.md.
//
// Thread-safety: immutable.
#pragma once

#include <cstdint>

namespace modelhub::xet {

extern const uint64_t kGearTable[256];

}  // namespace modelhub::xet
