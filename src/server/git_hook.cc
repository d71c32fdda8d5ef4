#include "server/git_hook.h"

#include <iostream>

namespace modelhub {

int RunGitHook(const std::vector<std::string>& args) {
  std::cerr << "modelhub hook: unknown hook " << (args.empty() ? "" : args[0]) << "\n";
  return 1;
}

}  // namespace modelhub
