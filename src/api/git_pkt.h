// The messages git receive-pack sends back to a pushing client, made safe to send: no server path.
//
// The stateless-rpc output of receive-pack is a sequence of pkt-lines ("0000".."0002" are special
// packets, any other 4 hex digits give the length including themselves). With side-band(-64k) each
// payload starts with its band: 1 = data (the report-status, itself pkt-lines), 2 = progress and
// remote messages, 3 = a fatal error. git prints absolute paths in some messages (a ref lock held by
// another writer: "Unable to create '/srv/data/repos/7.git/refs/heads/main.lock'"), and the hook's
// output goes there too. RedactPushResult passes the text of bands 2 and 3 through RedactPaths
// (common/strings.h) and frames it again; band 1 is left byte for byte.
// Pure function; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace modelhub {

// nullopt if out is not a sequence of whole pkt-lines (the caller then keeps it as it is: it is git's
// own output, and a client must get it unchanged to make sense of it).
std::optional<std::string> RedactPushResult(std::string_view out);

}  // namespace modelhub
