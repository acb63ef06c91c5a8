#include "proxy/net/transport.hpp"

namespace vmsgate::net_io {
namespace {

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

// No transport: nothing to move, nothing to close.
net::awaitable<void> nothing() { co_return; }

}  // namespace

net::awaitable<void> transport::tls_to_plain() {
  return std::visit(overloaded{[](std::monostate) { return nothing(); }, [](auto& t) { return t.tls_to_plain(); }},
                    path_);
}

net::awaitable<void> transport::plain_to_tls() {
  return std::visit(overloaded{[](std::monostate) { return nothing(); }, [](auto& t) { return t.plain_to_tls(); }},
                    path_);
}

net::awaitable<void> transport::send_close_notify() {
  return std::visit(
      overloaded{[](std::monostate) { return nothing(); }, [](auto& t) { return t.send_close_notify(); }}, path_);
}

}  // namespace vmsgate::net_io
