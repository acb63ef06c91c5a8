#pragma once
// Readability waits that do not re-arm the descriptor, for sockets whose reads say
// whether anything is left behind them.
//
// Asio's async_wait re-arms the descriptor with EPOLL_CTL_MOD every time: one
// syscall per wait, two per keep-alive request. It has to, because it cannot know
// whether the edge that made the socket readable was already reported. The pump can
// know: with TCP_INQ on, every recvmsg(2) reports how many bytes are still queued,
// and reports 1 when only a FIN is left. A read that leaves nothing (or one that
// says EAGAIN) has drained the socket, so whatever comes after it raises a new edge
// on Asio's edge-triggered registration, and a wait needs no re-arm.
//
// async_wait_edge queues a read operation on the socket's own reactor entry with
// Asio's "speculative" flag. The reactor tracks, per descriptor, whether an event
// has come since the last operation that exhausted it:
//   - if one has, the wait completes at once (the caller then reads, and at worst is
//     told EAGAIN: never a missed wakeup);
//   - if none has, the wait is queued with no syscall at all, and the next event
//     completes it.
// Either way the completion marks the descriptor exhausted, so the next wait after a
// drained read sleeps until a new event.
//
// A caller that has just drained the socket itself, in the same handler and with no
// wait in between, knows more than the reactor: any event it recorded announced
// bytes that read has taken, and anything newer is still in epoll's ready list. It
// passes `drained_just_now`, and the wait is queued without completing at once for
// that stale event (which would cost a read that says EAGAIN and a turn of the event
// loop). A fresh socket's entry, and one last woken by async_wait, count as such
// events.
//
// The rule for callers: wait this way only after a read that drained the socket
// (EAGAIN, or TCP_INQ said 0), and have nothing else wait to read on the same
// socket at the same time. Otherwise use async_wait.
//
// One thing a drained read cannot see: a reset (or any socket error) that arrived
// together with the bytes it took. TCP_INQ then says 0, the next read would fail at
// once, and no new edge ever comes, so the wait would sleep until the idle timeout.
// The wait op therefore notes, each time the reactor runs it, whether the event
// carried EPOLLERR or EPOLLHUP, into a flag the caller passes (`hangup`); the next
// wait with that flag set completes at once (and clears it), and the caller's read
// finds the error or the end.
//
// This reaches into Asio's reactor, the epoll one that Linux builds use; everything it
// takes from Asio's internals is in asio_internals.hpp, which says what and why.
// tests/net/edge_wait_test.cpp pins the behaviour, and asio_internals_test.cpp what
// it relies on, so that a Boost upgrade that changed either fails there first.

#include <sys/types.h>

#include <cstddef>
#include <utility>

#include "proxy/common/asio.hpp"
#include "proxy/net/asio_internals.hpp"

namespace vmsgate::net_io {

// Turns TCP_INQ on; false if the kernel lacks it (before Linux 4.18). Accepted
// sockets inherit it from their listener.
bool enable_inq(int fd) noexcept;

// One recvmsg(2): `n` as recv(2) returns it, `err` the errno when n < 0, and
// `drained` when nothing was left behind this read: EAGAIN, or TCP_INQ reported 0.
// A FIN still queued counts as something left (the kernel reports it as 1).
struct received {
  ssize_t n = 0;
  int err = 0;
  bool drained = false;
};
received receive_noting_rest(int fd, void* p, std::size_t n) noexcept;

// Completes with no error when the socket may have become readable since the last
// wait, or with operation_aborted when the socket is cancelled or closed. `reactor`
// is reactor_of the socket's io_context. `drained_just_now`: see above; only with an
// io_context run by one thread (the reactor could otherwise run the queued wait
// before start_op has returned).
//
// `hangup`: see above; null for a socket whose reads need no such note (a listener).
//
// async_wait_edge_on takes Asio's implementation object of any reactive socket
// (socket_implementation, acceptor_implementation: asio_internals.hpp); sockets.cpp
// waits on a listener with it, after an accept that said EAGAIN.
template <typename IoObject, typename Token>
auto async_wait_edge_on(IoObject& io_object, asio_reactor& reactor, Token&& token,
                        bool drained_just_now = false, bool* hangup = nullptr) {
  auto initiate = [](auto handler, IoObject* io, asio_reactor* r, bool skip, bool* hung) {
    asio_internals::start_edge_wait(handler, *io, *r, skip, hung);
  };
  return net::async_initiate<Token, void(error_code)>(initiate, token, &io_object, &reactor, drained_just_now,
                                                      hangup);
}

template <typename Token>
auto async_wait_edge(tcp::socket& socket, asio_reactor& reactor, Token&& token,
                     bool drained_just_now = false, bool* hangup = nullptr) {
  return async_wait_edge_on(socket_implementation(socket), reactor, std::forward<Token>(token), drained_just_now,
                            hangup);
}

}  // namespace vmsgate::net_io
