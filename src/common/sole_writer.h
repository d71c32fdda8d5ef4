// Whether this process is the only writer of its data folder's git refs and
// repository rows (the single-process `modelhub serve`). The in-memory lookup
// caches (repo/ref_cache.h: branch -> commit; SqliteMetadataStore::GetRepo:
// repository records) invalidate themselves on this process's writes only, so
// they are used only while this is true. Off by default: the server turns it on
// at start-up; admin commands, the git hook and any deployment where several
// processes write the same data folder leave it off.
//
// Thread-safety: an atomic flag; set it before serving.
#pragma once

namespace modelhub {

void SetSoleWriter(bool sole_writer);
bool IsSoleWriter();

}  // namespace modelhub
