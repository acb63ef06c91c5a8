#include "proxy/pki/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <utility>

#include "proxy/common/unique_fd.hpp"
#include "proxy/pki/builder.hpp"

namespace vmsgate::pki {

namespace {

std::string why(const std::string& what, const std::string& path, int err) {
  return "cannot " + what + " " + path + ": " + std::strerror(err);
}

using fd_guard = vmsgate::unique_fd;

void write_all(int fd, const std::string& data, const std::string& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw error(why("write", path, errno));
    done += static_cast<std::size_t>(n);
  }
}

// The mode first: once the file belongs to another user, only CAP_FOWNER could
// still change it.
void set_attributes(int fd, const file_attributes& attrs, const std::string& path) {
  if (::fchmod(fd, attrs.mode) != 0) throw error(why("set the mode of", path, errno));
  const bool give_away = attrs.uid != static_cast<uid_t>(-1) || attrs.gid != static_cast<gid_t>(-1);
  if (give_away && ::fchown(fd, attrs.uid, attrs.gid) != 0) throw error(why("set the owner of", path, errno));
}

// Creates, fills, syncs and closes a file that did not exist; with `attrs`, gives
// it those before the sync.
void create_exclusive(const std::string& path, const std::string& data, mode_t mode,
                      const file_attributes* attrs = nullptr) {
  fd_guard fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (fd.get() < 0) {
    if (errno == EEXIST) throw error(path + " already exists; pass --force to replace it");
    throw error(why("create", path, errno));
  }
  write_all(fd.get(), data, path);
  if (attrs != nullptr) set_attributes(fd.get(), *attrs, path);
  if (::fsync(fd.get()) != 0) throw error(why("sync", path, errno));
  if (::close(fd.release()) != 0) throw error(why("close", path, errno));
}

std::string temp_name(const std::string& path) {
  std::random_device rd;
  std::ostringstream out;
  out << path << ".tmp-" << std::hex << rd() << rd();
  return out.str();
}

// A rename is durable only once the directory that holds the name is synced.
void sync_directory_of(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  fd_guard fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) throw error(why("sync the directory", dir, errno));
}

}  // namespace

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

void write_new_file(const std::string& path, const std::string& data, mode_t mode, bool force) {
  if (!force || !file_exists(path)) {
    create_exclusive(path, data, mode);
    return;
  }
  staged_file(path, data, mode).commit();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error(why("read", path, errno));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

file_attributes attributes_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) throw error(why("read the attributes of", path, errno));
  if (!S_ISREG(st.st_mode)) throw error(path + " is not a regular file");
  file_attributes out;
  out.mode = st.st_mode & 07777;
  // Only root may give a file to another user; anyone else writes files of its own.
  if (::geteuid() == 0) {
    out.uid = st.st_uid;
    out.gid = st.st_gid;
  }
  return out;
}

staged_file::staged_file(std::string path, const std::string& data, mode_t mode)
    : path_(std::move(path)), temp_(temp_name(path_)) {
  try {
    create_exclusive(temp_, data, mode);
  } catch (...) {
    ::unlink(temp_.c_str());
    throw;
  }
}

staged_file::staged_file(std::string path, const std::string& data, const file_attributes& attrs)
    : path_(std::move(path)), temp_(temp_name(path_)) {
  try {
    create_exclusive(temp_, data, 0600, &attrs);
  } catch (...) {
    ::unlink(temp_.c_str());
    throw;
  }
}

staged_file::~staged_file() {
  if (!committed_) ::unlink(temp_.c_str());
}

void staged_file::commit() {
  if (::rename(temp_.c_str(), path_.c_str()) != 0) throw error(why("replace", path_, errno));
  committed_ = true;
  sync_directory_of(path_);
}

}  // namespace vmsgate::pki
