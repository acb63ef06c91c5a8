#pragma once
// Writing the pki's output files: never overwriting by accident, and never leaving
// a moment in which a private key is readable by anyone but its owner.

#include <sys/types.h>

#include <string>

namespace vmsgate::pki {

// Writes `data` to `path`, created with `mode` from the first byte (O_CREAT|O_EXCL,
// so the umask can only narrow it). An existing file is an error unless `force`,
// in which case a new file is written beside it and renamed over it, so the old
// content stays until the new one is complete. Throws pki::error.
void write_new_file(const std::string& path, const std::string& data, mode_t mode, bool force);

bool file_exists(const std::string& path);

// The whole file; throws pki::error when it cannot be read.
std::string read_file(const std::string& path);

}  // namespace vmsgate::pki
