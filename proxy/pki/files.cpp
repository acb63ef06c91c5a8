#include "proxy/pki/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <utility>

#include "proxy/pki/builder.hpp"

namespace vmsgate::pki {

namespace {

std::string why(const std::string& what, const std::string& path, int err) {
  return "cannot " + what + " " + path + ": " + std::strerror(err);
}

// Owns a descriptor so that every error path closes it.
class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

void write_all(int fd, const std::string& data, const std::string& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw error(why("write", path, errno));
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) throw error(why("sync", path, errno));
}

// Creates, fills and closes a file that did not exist.
void create_exclusive(const std::string& path, const std::string& data, mode_t mode) {
  fd_guard fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (fd.get() < 0) {
    if (errno == EEXIST) throw error(path + " already exists; pass --force to replace it");
    throw error(why("create", path, errno));
  }
  write_all(fd.get(), data, path);
  if (::close(fd.release()) != 0) throw error(why("close", path, errno));
}

std::string temp_name(const std::string& path) {
  std::random_device rd;
  std::ostringstream out;
  out << path << ".tmp-" << std::hex << rd() << rd();
  return out.str();
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
  const std::string temp = temp_name(path);
  try {
    create_exclusive(temp, data, mode);
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    throw error(why("replace", path, err));
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error(why("read", path, errno));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace vmsgate::pki
