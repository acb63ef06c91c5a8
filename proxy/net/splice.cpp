#include "proxy/net/splice.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace vmsgate::net_io {
namespace {

// A pipe holds 16 pages (64 KiB) by default: the same bound as one pool buffer.
constexpr std::size_t chunk = 64 * 1024;

}  // namespace

splice_pipe::~splice_pipe() {
  if (read_fd_ >= 0) ::close(read_fd_);
  if (write_fd_ >= 0) ::close(write_fd_);
}

bool splice_pipe::open() {
  if (is_open()) return true;
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  return true;
}

ssize_t splice_pipe::fill(int from) noexcept {
  const ssize_t n = ::splice(from, nullptr, write_fd_, nullptr, chunk, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (n > 0) held_ += static_cast<std::size_t>(n);
  return n;
}

ssize_t splice_pipe::drain(int to) noexcept {
  // No SPLICE_F_MORE: kernel TLS would hold the record open until more came, and a
  // quiet camera's last frame would wait for the next.
  const ssize_t n = ::splice(read_fd_, nullptr, to, nullptr, held_, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (n > 0) held_ -= static_cast<std::size_t>(n);
  return n;
}

}  // namespace vmsgate::net_io
