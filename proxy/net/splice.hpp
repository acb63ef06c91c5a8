#pragma once
// A pipe that moves bytes from one socket to another inside the kernel with
// splice(2): the zero-copy path for a direction whose TLS side the kernel encrypts
// (kernel TLS). Memory stays bounded by the pipe's capacity, as the buffer pool
// bounds the user-space path. Both calls are non-blocking and report errno as
// recv/send do: -1 with EAGAIN means wait for the socket, 0 from fill() is EOF.

#include <sys/types.h>

#include <cstddef>
#include <string>

namespace vmsgate::net_io {

class splice_pipe {
 public:
  splice_pipe() = default;
  ~splice_pipe();
  splice_pipe(const splice_pipe&) = delete;
  splice_pipe& operator=(const splice_pipe&) = delete;

  // Creates the pipe on first use; false (with errno set) when it cannot.
  bool open();
  bool is_open() const noexcept { return read_fd_ >= 0; }

  // Moves up to the pipe's free room from socket `from` into the pipe.
  ssize_t fill(int from) noexcept;
  // Moves what the pipe holds into socket `to`.
  ssize_t drain(int to) noexcept;
  std::size_t held() const noexcept { return held_; }

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;
  std::size_t held_ = 0;
};

}  // namespace vmsgate::net_io
