#include "proxy/net/sockets.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "proxy/net/edge_wait.hpp"

namespace vmsgate::net_io {
namespace {

namespace ops = net::detail::socket_ops;

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
  auto& impl = (out.*detail::socket_impl).get_implementation();
  impl.state_ = static_cast<ops::state_type>((impl.state_ & ~ops::possible_dup) | ops::user_set_non_blocking |
                                             ops::internal_non_blocking);
  return ec;
}

// Asio keeps an acceptor's implementation object private (a socket's is
// protected). An explicit instantiation may name any member ([temp.spec.general]):
// this one hands the member's pointer to a friend found through the tag.
template <auto Member, typename Tag>
struct expose {
  friend constexpr auto member_of(Tag) noexcept { return Member; }
};
struct acceptor_impl {
  friend constexpr auto member_of(acceptor_impl) noexcept;
};
template struct expose<&tcp::acceptor::impl_, acceptor_impl>;

}  // namespace

net::awaitable<error_code> wait_for_connection(tcp::acceptor& listener, net::detail::reactor& reactor) {
  const auto [ec] = co_await async_wait_edge_on(listener.*member_of(acceptor_impl{}), reactor, use_nothrow,
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
