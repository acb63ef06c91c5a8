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

// What a replacement file takes over: permission bits, and an owner and group
// (-1: the creating process's own, as when it is not root).
struct file_attributes {
  mode_t mode = 0600;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
};

// The permission bits of the existing regular file `path`, and its owner and group
// when this process may give files away (it runs as root). Throws pki::error when
// `path` is missing or is not a regular file (a symbolic link is not followed).
file_attributes attributes_of(const std::string& path);

// A file replaced atomically, in two steps so that two files can be replaced
// almost together: the constructor writes `data` to a new temporary file beside
// `path` and syncs it; commit() renames it over `path` and syncs the directory.
// Until commit(), `path` is untouched; a staged file never committed is removed.
// Throws pki::error.
class staged_file {
 public:
  // The temporary file is created with `mode` (the umask can only narrow it).
  staged_file(std::string path, const std::string& data, mode_t mode);
  // The temporary file is created 0600 and given exactly `attrs` before it is
  // synced, so that it never is readable by more than the file it replaces.
  staged_file(std::string path, const std::string& data, const file_attributes& attrs);
  ~staged_file();
  staged_file(const staged_file&) = delete;
  staged_file& operator=(const staged_file&) = delete;
  void commit();

 private:
  std::string path_;
  std::string temp_;
  bool committed_ = false;
};

}  // namespace vmsgate::pki
