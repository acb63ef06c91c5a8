#include "proxy/net/asio_internals.hpp"

namespace vmsgate::net_io {
namespace {

// basic_socket_acceptor keeps its implementation object private (7 in the header).
// An explicit instantiation may name any member ([temp.spec.general]): this one
// hands the member's pointer to a friend found through the tag. At most one explicit
// instantiation of it may appear in the program, hence here and not in the header.
template <auto Member, typename Tag>
struct expose {
  friend constexpr auto member_of(Tag) noexcept { return Member; }
};
struct acceptor_impl {
  friend constexpr auto member_of(acceptor_impl) noexcept;
};
template struct expose<&tcp::acceptor::impl_, acceptor_impl>;

namespace ops = net::detail::socket_ops;

}  // namespace

asio_reactor& reactor_of(net::io_context& ctx) { return net::use_service<asio_reactor>(ctx); }

socket_implementation_type& acceptor_implementation(tcp::acceptor& a) noexcept {
  return a.*member_of(acceptor_impl{});
}

void mark_non_blocking_no_dup(tcp::socket& s) noexcept {
  auto& impl = socket_implementation(s).get_implementation();
  impl.state_ = static_cast<ops::state_type>((impl.state_ & ~ops::possible_dup) | ops::user_set_non_blocking |
                                             ops::internal_non_blocking);
  // Registered just now on this thread (one thread runs the worker's io_context): the
  // reactor is not running the entry.
  asio_internals::forget_last_events(impl.reactor_data_);
}

}  // namespace vmsgate::net_io
