#include "common/sole_writer.h"

#include <atomic>

namespace modelhub {

namespace {
std::atomic<bool> g_sole_writer{false};
}  // namespace

void SetSoleWriter(bool sole_writer) { g_sole_writer.store(sole_writer, std::memory_order_relaxed); }
bool IsSoleWriter() { return g_sole_writer.load(std::memory_order_relaxed); }

}  // namespace modelhub
