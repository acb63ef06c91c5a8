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
// This reaches into Asio's reactor (boost::asio::detail), the epoll one that Linux
// builds use; tests/net/edge_wait_test.cpp pins the behaviour so that a Boost
// upgrade that changed it fails there first.

#include <sys/epoll.h>
#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

#include "proxy/common/asio.hpp"

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

namespace detail {

// Asio keeps a socket's reactor entry in its protected implementation object; a
// pointer to that member, taken through a derived class, reaches it on any socket.
struct socket_internals : tcp::socket {
  using tcp::socket::impl_;
};
inline constexpr auto socket_impl = &socket_internals::impl_;

// The events of a descriptor's last wake-up: the reactor keeps them in the descriptor
// state's task_result_ (its base, scheduler_operation, a private base; a C-style cast
// reaches it) while it runs the descriptor's operations, and until the next wake-up.
struct operation_internals : net::detail::scheduler_operation {
  using net::detail::scheduler_operation::task_result_;
};
inline constexpr auto task_result = &operation_internals::task_result_;

inline bool hung_up(net::detail::reactor::per_descriptor_data d) noexcept {
  if (d == nullptr) return false;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-cstyle-cast): see above
  const auto* state = (const net::detail::scheduler_operation*)d;
  return ((state->*task_result) & (EPOLLERR | EPOLLHUP)) != 0;
}

template <typename Handler, typename IoExecutor>
class edge_wait_op : public net::detail::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(edge_wait_op);

  edge_wait_op(const error_code& success, Handler& h, const IoExecutor& io_ex)
      : reactor_op(success, &edge_wait_op::do_perform, &edge_wait_op::do_complete),
        handler_(std::move(h)),
        work_(handler_, io_ex) {}

  // Called by the reactor under the descriptor's lock, either speculatively (an
  // event has come since the last exhausting operation) or for an event. Both mean
  // "read now"; "exhausted" makes the reactor wait for a new event next time.
  // `skip_stale` is set only while start_op may call this speculatively.
  static status do_perform(reactor_op* base) {
    auto* o = static_cast<edge_wait_op*>(base);
    if (o->hangup != nullptr && hung_up(o->descriptor)) *o->hangup = true;
    return o->skip_stale ? not_done : done_and_exhausted;
  }

  static void do_complete(void* owner, net::detail::operation* base, const error_code&, std::size_t) {
    auto* o = static_cast<edge_wait_op*>(base);
    ptr p = {std::addressof(o->handler_), o, o};
    net::detail::handler_work<Handler, IoExecutor> w(std::move(o->work_));
    // The handler is moved out before the operation's memory is freed: it may own it.
    net::detail::binder1<Handler, error_code> bound(o->handler_, o->ec_);
    p.h = std::addressof(bound.handler_);
    p.reset();
    if (owner != nullptr) {
      net::detail::fenced_block fence(net::detail::fenced_block::half);
      w.complete(bound, bound.handler_);
    }
  }

 public:
  bool skip_stale = false;
  bool* hangup = nullptr;  // set when a wake-up carried EPOLLERR or EPOLLHUP
  net::detail::reactor::per_descriptor_data descriptor = nullptr;

 private:
  Handler handler_;
  net::detail::handler_work<Handler, IoExecutor> work_;
};

// Per-operation cancellation (a cancellation slot on the handler), as async_wait has.
class edge_wait_cancellation {
 public:
  edge_wait_cancellation(net::detail::reactor& r, net::detail::reactor::per_descriptor_data& d, int fd) noexcept
      : reactor_(r), data_(d), fd_(fd) {}
  void operator()(net::cancellation_type_t type) {
    constexpr auto any = net::cancellation_type::terminal | net::cancellation_type::partial |
                         net::cancellation_type::total;
    if (!!(type & any)) reactor_.cancel_ops_by_key(fd_, data_, net::detail::reactor::read_op, this);
  }

 private:
  net::detail::reactor& reactor_;
  net::detail::reactor::per_descriptor_data& data_;
  int fd_;
};

}  // namespace detail

// The reactor of an io_context. Look it up once and keep it: the lookup compares
// type names under the service registry's lock.
net::detail::reactor& reactor_of(net::io_context& ctx);

// Completes with no error when the socket may have become readable since the last
// wait, or with operation_aborted when the socket is cancelled or closed. `reactor`
// is reactor_of the socket's io_context. `drained_just_now`: see above; only with an
// io_context run by one thread (the reactor could otherwise run the queued wait
// before start_op has returned).
//
// `hangup`: see above; null for a socket whose reads need no such note (a listener).
//
// async_wait_edge_on takes Asio's implementation object of any reactive socket
// (sockets.cpp waits on a listener with it, after an accept that said EAGAIN).
template <typename IoObject, typename Token>
auto async_wait_edge_on(IoObject& io_object, net::detail::reactor& reactor, Token&& token,
                        bool drained_just_now = false, bool* hangup = nullptr) {
  auto initiate = [](auto handler, IoObject* io, net::detail::reactor* r, bool skip, bool* hung) {
    using handler_type = std::decay_t<decltype(handler)>;
    auto& object = *io;
    auto& impl = object.get_implementation();
    net::detail::reactor& reactor = *r;
    const auto& io_ex = object.get_executor();
    using op = detail::edge_wait_op<handler_type, std::decay_t<decltype(io_ex)>>;

    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
    auto slot = net::get_associated_cancellation_slot(handler);
    typename op::ptr p = {std::addressof(handler), op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) op(error_code(), handler, io_ex);
    if (slot.is_connected()) {
      p.p->cancellation_key_ =
          &slot.template emplace<detail::edge_wait_cancellation>(reactor, impl.reactor_data_, impl.socket_);
    }
    p.p->skip_stale = skip;
    p.p->hangup = hung;
    p.p->descriptor = impl.reactor_data_;
    op* queued = p.p;
    if (hung != nullptr && *hung) {
      // The last wake-up carried an error or a hang-up: the caller reads again now.
      *hung = false;
      reactor.post_immediate_completion(queued, is_continuation);
    } else {
      reactor.start_op(net::detail::reactor::read_op, impl.socket_, impl.reactor_data_, queued, is_continuation,
                       /*allow_speculative=*/true);
    }
    // Queued, or posted to complete with an error: alive either way until this
    // thread runs the event loop again, and from now on an event completes it.
    queued->skip_stale = false;
    p.v = p.p = nullptr;
  };
  return net::async_initiate<Token, void(error_code)>(initiate, token, &io_object, &reactor, drained_just_now,
                                                      hangup);
}

template <typename Token>
auto async_wait_edge(tcp::socket& socket, net::detail::reactor& reactor, Token&& token,
                     bool drained_just_now = false, bool* hangup = nullptr) {
  return async_wait_edge_on(socket.*detail::socket_impl, reactor, std::forward<Token>(token), drained_just_now,
                            hangup);
}

}  // namespace vmsgate::net_io
