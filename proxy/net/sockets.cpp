#include "proxy/net/sockets.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "proxy/net/edge_wait.hpp"

namespace vmsgate::net_io {
namespace {

// Takes `fd` (non-blocking, of our own making) into `out`: Asio registers it with
// the reactor and is told that it is non-blocking already and no duplicate, so
// closing it is one close(2).
error_code adopt(tcp::socket& out, const tcp& protocol, int fd) noexcept {
  error_code ec;
  out.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return ec;
  }
  mark_non_blocking_no_dup(out);
  return ec;
}

}  // namespace

net::awaitable<error_code> wait_for_connection(tcp::acceptor& listener, asio_reactor& reactor) {
  const auto [ec] = co_await async_wait_edge_on(acceptor_implementation(listener), reactor, use_nothrow,
                                                /*drained_just_now=*/true);
  co_return ec;
}

int accept_socket(tcp::acceptor& listener, tcp::socket& out, tcp::endpoint& peer) noexcept {
  sockaddr_storage address{};
  socklen_t size = sizeof address;
  const int fd = ::accept4(listener.native_handle(), reinterpret_cast<sockaddr*>(&address), &size,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return errno;
  const tcp protocol = address.ss_family == AF_INET6 ? tcp::v6() : tcp::v4();
  const error_code ec = adopt(out, protocol, fd);
  if (ec) return ec.value();
  const std::size_t n = std::min<std::size_t>(size, peer.capacity());  // a TCP peer's address always fits
  std::memcpy(peer.data(), &address, n);
  peer.resize(n);
  return 0;
}

error_code open_socket(tcp::socket& out, const tcp& protocol) noexcept {
  const int fd = ::socket(protocol.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) return error_code(errno, boost::system::system_category());
  return adopt(out, protocol, fd);
}

}  // namespace vmsgate::net_io
