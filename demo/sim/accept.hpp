#pragma once
// The start-up every simulator shares: bind a listening port, then accept until the
// acceptor is closed, each connection served by a coroutine of its own.

#include <string_view>
#include <utility>

#include "demo/sim/wire.hpp"
#include "proxy/common/asio.hpp"

namespace vmsgate::sim {

// Serves one accepted connection. `State` is what a server's connections share (its
// options, or its registry), passed by value like every coroutine parameter.
template <class State>
using serve_fn = net::awaitable<void> (*)(tcp::socket, State);

// A failed accept (a client that reset before it was taken, a file descriptor limit)
// is skipped: a simulator keeps serving the clients it can.
template <class State>
net::awaitable<void> accept_loop(tcp::acceptor acc, State state, serve_fn<State> serve) {
  for (;;) {
    auto [ec, sock] = co_await acc.async_accept(use_nothrow);
    if (ec == net::error::operation_aborted) co_return;
    if (ec) continue;
    net::co_spawn(acc.get_executor(), serve(std::move(sock), state), net::detached);
  }
}

// A listening acceptor on "IP:PORT" or "[IPv6]:PORT". Throws std::invalid_argument
// for bad text and boost::system::system_error when the port cannot be bound.
inline tcp::acceptor listen_on(net::io_context& ctx, std::string_view address) {
  return make_acceptor(ctx.get_executor(), parse_endpoint(address));
}

// Starts accept_loop on `ctx` (it runs once `ctx` does); returns the bound endpoint.
template <class State>
tcp::endpoint start_accepting(net::io_context& ctx, tcp::acceptor acc, State state, serve_fn<State> serve) {
  const auto where = acc.local_endpoint();
  net::co_spawn(ctx, accept_loop(std::move(acc), std::move(state), serve), net::detached);
  return where;
}

}  // namespace vmsgate::sim
