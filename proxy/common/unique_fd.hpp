#pragma once
// A file descriptor owned by one object: closed when it goes, so that every error
// path closes it.

#include <unistd.h>

#include <utility>

namespace vmsgate {

class unique_fd {
 public:
  explicit unique_fd(int fd = -1) : fd_(fd) {}
  ~unique_fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  int get() const { return fd_; }
  // Gives the descriptor up (to close it with its own error check, say).
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace vmsgate
