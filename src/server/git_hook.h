// `modelhub hook <name>`: git hooks run by `git receive-pack` inside a
// repository (installed through core.hooksPath). Owned by the git issue.
#pragma once

#include <string>
#include <vector>

namespace modelhub {

// args: hook name followed by git's hook arguments. Returns the exit code git sees.
int RunGitHook(const std::vector<std::string>& args);

}  // namespace modelhub
