#pragma once
// Sockets made non-blocking and close-on-exec by the call that creates them
// (accept4(2), socket(2) with SOCK_NONBLOCK | SOCK_CLOEXEC), and handed to Asio
// with its state set to match.
//
// Asio's accept(2) and socket(2) give blocking descriptors, and setting them
// non-blocking is one ioctl(2) per socket; Asio also marks an accepted socket as a
// possible duplicate (it takes it with assign()), so closing it costs an
// epoll_ctl(EPOLL_CTL_DEL) that a descriptor of our own, closed for good, does not
// need. Three syscalls per terminated connection (client and backend), spared here.

#include <cerrno>

#include "proxy/common/asio.hpp"
#include "proxy/net/asio_internals.hpp"

namespace vmsgate::net_io {

// One accept4(2) on the (non-blocking) listener: 0 with `out` open and `peer` set,
// or the errno (EAGAIN: nothing queued). `out` must not be open yet.
int accept_socket(tcp::acceptor& listener, tcp::socket& out, tcp::endpoint& peer) noexcept;

// Waits for a connection on a listener whose accept_socket has just said EAGAIN,
// without re-arming it (edge_wait.hpp); the listener's io_context is run by one
// thread. Ends with operation_aborted when the listener is closed.
net::awaitable<error_code> wait_for_connection(tcp::acceptor& listener, asio_reactor& reactor);

// Opens `out` (closed) as a non-blocking, close-on-exec socket of `protocol`.
error_code open_socket(tcp::socket& out, const tcp& protocol) noexcept;

// Whether an accept4(2) failure is about one queued connection only (it was reset
// before it was taken, or its protocol failed): the next accept goes on at once.
constexpr bool accept_error_is_transient(int err) noexcept {
  return err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM || err == ENETDOWN ||
         err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH || err == EOPNOTSUPP ||
         err == ENETUNREACH;
}

}  // namespace vmsgate::net_io
