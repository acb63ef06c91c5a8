#include "proxy/net/edge_wait.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace vmsgate::net_io {

bool enable_inq(int fd) noexcept {
  const int one = 1;
  return ::setsockopt(fd, SOL_TCP, TCP_INQ, &one, sizeof one) == 0;
}

received receive_noting_rest(int fd, void* p, std::size_t n) noexcept {
  iovec v{p, n};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr m{};
  m.msg_iov = &v;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  received out;
  do {
    out.n = ::recvmsg(fd, &m, 0);
  } while (out.n < 0 && errno == EINTR);
  if (out.n < 0) {
    out.err = errno;
    out.drained = out.err == EAGAIN || out.err == EWOULDBLOCK;
    return out;
  }
  // No TCP_INQ message (the option is off, or the kernel lacks it): nothing is known,
  // so the caller reads again until EAGAIN.
  for (cmsghdr* h = CMSG_FIRSTHDR(&m); h != nullptr; h = CMSG_NXTHDR(&m, h)) {
    if (h->cmsg_level == SOL_TCP && h->cmsg_type == TCP_CM_INQ) {
      int left = 1;
      std::memcpy(&left, CMSG_DATA(h), sizeof left);
      out.drained = left == 0;
    }
  }
  return out;
}

}  // namespace vmsgate::net_io
