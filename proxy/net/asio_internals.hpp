#pragma once
// Every use of Asio's internals (boost::asio::detail) in the tree. Nothing else names
// them: the rest of the code says `asio_reactor` and calls the functions below.
//
// Written against Boost 1.81 (Asio 1.26) on Linux. What it relies on, and why:
//
//  1. The reactor is the epoll reactor (`asio_reactor`; Asio picks it on Linux unless
//     built with BOOST_ASIO_DISABLE_EPOLL or io_uring as the default backend), and
//     the socket services are the reactive ones. Edge waits (edge_wait.hpp) queue
//     their operation on the socket's own epoll registration, which Asio makes
//     edge-triggered once and never re-arms for reads.
//  2. Its per-descriptor state: `per_descriptor_data` is a `descriptor_state*`, a
//     class derived (privately) from scheduler_operation that keeps the epoll events
//     of the descriptor's last wake-up in that base's protected `task_result_`, from
//     one wake-up until the next. hung_up() reads EPOLLERR/EPOLLHUP there (through a
//     derived class for the member and a C-style cast for the private base): a reset
//     that came with the last bytes leaves a drained read nothing to see, and no new
//     edge ever comes (edge_wait.hpp).
//  3. reactor_op's perform/complete protocol: the reactor calls perform() under the
//     descriptor's lock for an event, and start_op(..., allow_speculative=true) calls
//     it at once when an event has come since the last operation that returned
//     done_and_exhausted (try_speculative_); not_done queues the operation, and
//     done_and_exhausted clears that mark. This is how a wait completes at once for
//     an event already reported and otherwise sleeps with no syscall (edge_wait_op).
//  4. cancel_ops_by_key(fd, data, read_op, key) cancels only the operation whose
//     cancellation_key_ is `key`: per-operation cancellation through a cancellation
//     slot, as async_wait has (edge_wait_cancellation).
//  5. post_immediate_completion(op, is_continuation) completes an operation without
//     performing it: the wait after a noted hang-up.
//  6. The socket_ops state flags of a socket's implementation: user_set_non_blocking
//     and internal_non_blocking (what non_blocking() and native_non_blocking()
//     report; without them Asio sets O_NONBLOCK again with an ioctl), and
//     possible_dup (set by assign(); with it, close() deletes the descriptor from
//     epoll before close(2), one epoll_ctl a socket of our own never needs).
//     mark_non_blocking_no_dup() sets the first two and clears the third.
//  7. basic_socket keeps its implementation object (io_object_impl: socket_,
//     reactor_data_, state_) in a protected member `impl_`, reached through a
//     derived class; basic_socket_acceptor keeps it in a private `impl_`, reached
//     through an explicit instantiation (asio_internals.cpp).
//  8. The handler plumbing Asio's own reactive_wait_op uses: handler_work, binder1,
//     fenced_block, BOOST_ASIO_DEFINE_HANDLER_PTR, boost_asio_handler_cont_helpers.
//  9. Boost 1.81's names, members and their access for all of the above; a new Boost
//     may move any of them.
//
// tests/net/asio_internals_test.cpp pins these, so that a Boost upgrade fails there
// first (with a message saying what to re-check), and tests/net/edge_wait_test.cpp
// pins the behaviour the edge wait builds on them (3 and 5 especially).

#include <sys/epoll.h>

#include <boost/version.hpp>
#include <memory>
#include <type_traits>
#include <utility>

#include "proxy/common/asio.hpp"

#if !defined(BOOST_ASIO_HAS_EPOLL) || defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#error "asio_internals.hpp needs Asio's epoll reactor and reactive sockets (1 above)"
#endif

namespace vmsgate::net_io {

// The reactor every io_context of ours has (1 above).
using asio_reactor = net::detail::reactor;

// The reactor of an io_context. Look it up once and keep it: the lookup compares
// type names under the service registry's lock.
asio_reactor& reactor_of(net::io_context& ctx);

// Asio's implementation object of a reactive socket or acceptor (7 above): what
// async_wait_edge_on takes.
using socket_implementation_type = net::detail::io_object_impl<net::detail::reactive_socket_service<tcp>,
                                                               net::any_io_executor>;

namespace asio_internals {

struct socket_internals : tcp::socket {
  using tcp::socket::impl_;
};
inline constexpr auto socket_impl = &socket_internals::impl_;

}  // namespace asio_internals

inline socket_implementation_type& socket_implementation(tcp::socket& s) noexcept {
  return s.*asio_internals::socket_impl;
}
socket_implementation_type& acceptor_implementation(tcp::acceptor& a) noexcept;

// Tells Asio that `s`, just assigned a descriptor of our own making that is
// non-blocking already, is non-blocking and no duplicate (6 above): no ioctl later,
// and closing it is one close(2). Also forgets the events of the last wake-up that
// the reactor's entry may hold from an earlier socket (2 below): Asio reuses a closed
// descriptor's state without clearing them, and a socket accepted after one that
// was reset would otherwise see a hang-up it never had.
void mark_non_blocking_no_dup(tcp::socket& s) noexcept;

namespace asio_internals {

// What tests/net/asio_internals_test.cpp checks against the Boost it is built with.
inline constexpr int written_for_boost = 108100;
inline constexpr bool reactor_is_epoll = std::is_same_v<asio_reactor, net::detail::epoll_reactor>;
inline constexpr bool descriptor_state_is_an_operation =
    std::is_same_v<asio_reactor::per_descriptor_data, asio_reactor::descriptor_state*> &&
    std::is_base_of_v<net::detail::scheduler_operation, asio_reactor::descriptor_state>;

// The events of a descriptor's last wake-up (2 above).
struct operation_internals : net::detail::scheduler_operation {
  using net::detail::scheduler_operation::task_result_;
};
inline constexpr auto task_result = &operation_internals::task_result_;

inline unsigned last_events(asio_reactor::per_descriptor_data d) noexcept {
  if (d == nullptr) return 0;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-cstyle-cast): the base is private, see above
  const auto* state = (const net::detail::scheduler_operation*)d;
  return state->*task_result;
}

inline void forget_last_events(asio_reactor::per_descriptor_data d) noexcept {
  if (d == nullptr) return;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-cstyle-cast): the base is private, see above
  auto* state = (net::detail::scheduler_operation*)d;
  state->*task_result = 0;
}

inline unsigned last_wakeup_events(tcp::socket& s) noexcept {
  return last_events(socket_implementation(s).get_implementation().reactor_data_);
}

inline bool hung_up(asio_reactor::per_descriptor_data d) noexcept {
  return (last_events(d) & (EPOLLERR | EPOLLHUP)) != 0;
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
  asio_reactor::per_descriptor_data descriptor = nullptr;

 private:
  Handler handler_;
  net::detail::handler_work<Handler, IoExecutor> work_;
};

// Per-operation cancellation (a cancellation slot on the handler), as async_wait has.
class edge_wait_cancellation {
 public:
  edge_wait_cancellation(asio_reactor& r, asio_reactor::per_descriptor_data& d, int fd) noexcept
      : reactor_(r), data_(d), fd_(fd) {}
  void operator()(net::cancellation_type_t type) {
    constexpr auto any = net::cancellation_type::terminal | net::cancellation_type::partial |
                         net::cancellation_type::total;
    if (!!(type & any)) reactor_.cancel_ops_by_key(fd_, data_, asio_reactor::read_op, this);
  }

 private:
  asio_reactor& reactor_;
  asio_reactor::per_descriptor_data& data_;
  int fd_;
};

// The initiation of async_wait_edge_on (edge_wait.hpp says what it does): queues an
// edge_wait_op for `handler` on the descriptor of `object`, Asio's implementation
// object of a reactive socket.
template <typename Handler, typename IoObject>
void start_edge_wait(Handler& handler, IoObject& object, asio_reactor& reactor, bool skip, bool* hung) {
  auto& impl = object.get_implementation();
  const auto& io_ex = object.get_executor();
  using op = edge_wait_op<Handler, std::decay_t<decltype(io_ex)>>;

  const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
  auto slot = net::get_associated_cancellation_slot(handler);
  typename op::ptr p = {std::addressof(handler), op::ptr::allocate(handler), nullptr};
  p.p = new (p.v) op(error_code(), handler, io_ex);
  if (slot.is_connected()) {
    p.p->cancellation_key_ =
        &slot.template emplace<edge_wait_cancellation>(reactor, impl.reactor_data_, impl.socket_);
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
    reactor.start_op(asio_reactor::read_op, impl.socket_, impl.reactor_data_, queued, is_continuation,
                     /*allow_speculative=*/true);
  }
  // Queued, or posted to complete with an error: alive either way until this
  // thread runs the event loop again, and from now on an event completes it.
  queued->skip_stale = false;
  p.v = p.p = nullptr;
}

}  // namespace asio_internals
}  // namespace vmsgate::net_io
