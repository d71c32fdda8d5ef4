// git smart HTTP. Owned by the git issue; see docs/protocols/git-http.md.
#include "api/hub_internal.h"

namespace modelhub {

Status Hub::HandleGit(Request&, Response&, RepoType, const std::string&, const std::string&,
                      const std::vector<std::string>&) {
  return Status::NotImplemented("git over HTTP is not supported yet; use the HF API or the LFS batch API");
}

}  // namespace modelhub
