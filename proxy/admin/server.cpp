#include "proxy/admin/server.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "proxy/common/log.hpp"

namespace vmsgate::admin {

namespace beast = boost::beast;
namespace http = beast::http;

namespace detail {

// Everything the coroutines share. Touched only on the io_context's thread.
struct server_state {
  server_state(net::io_context& ioc, handlers h, server_options o)
      : acceptor(ioc), routes(std::move(h)), opts(o) {}

  tcp::acceptor acceptor;
  handlers routes;
  server_options opts;
  bool started = false;
  bool stopped = false;
  std::uint64_t next_id = 0;

  struct connection {
    beast::tcp_stream* stream;
    net::ip::address source;
    // Waiting for (the rest of) a request: may be closed to make room for another.
    bool idle = true;
  };
  // Open connections by id, which is also their age (oldest first), so that stop()
  // can close them and make_room() find the oldest idle one. Each coroutine removes
  // its own entry; an evicted one is removed when it is closed.
  std::map<std::uint64_t, connection> connections;
};

}  // namespace detail

namespace {

using state_ptr = std::shared_ptr<detail::server_state>;

// Keeps a connection listed in the state for exactly as long as its coroutine lives.
class registration {
 public:
  registration(detail::server_state& st, beast::tcp_stream& stream, const net::ip::address& source)
      : st_(st), id_(st.next_id++) {
    st_.connections.emplace(id_, detail::server_state::connection{&stream, source});
  }
  ~registration() { st_.connections.erase(id_); }
  registration(const registration&) = delete;
  registration& operator=(const registration&) = delete;

  // Marks the connection as waiting for a request (evictable) or being answered.
  void set_idle(bool idle) {
    const auto it = st_.connections.find(id_);
    if (it != st_.connections.end()) it->second.idle = idle;
  }

 private:
  detail::server_state& st_;
  std::uint64_t id_;
};

net::ip::address source_of(const tcp::socket& socket) {
  error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec) return {};
  const auto a = peer.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6());
  return a;
}

// Closes the oldest idle connection for which `eligible` holds; false if none is.
template <typename Eligible>
bool evict_oldest_idle(detail::server_state& st, Eligible eligible, const char* why) {
  for (auto it = st.connections.begin(); it != st.connections.end(); ++it) {
    if (!it->second.idle || !eligible(it->second)) continue;
    log::line(log::level::debug, "admin_connection_evicted")
        .field("source", it->second.source.to_string())
        .field("reason", why);
    it->second.stream->close();  // its coroutine ends with operation_aborted
    st.connections.erase(it);
    return true;
  }
  return false;
}

// Makes room for a connection from `source` within both budgets. False only when
// every connection in the way is busy being answered (each for at most
// write_timeout): the new one is then refused.
bool make_room(detail::server_state& st, const net::ip::address& source) {
  std::size_t mine = 0;
  for (const auto& [id, c] : st.connections) mine += c.source == source ? 1 : 0;
  if (mine >= st.opts.max_connections_per_source &&
      !evict_oldest_idle(st, [&](const auto& c) { return c.source == source; }, "max_connections_per_source"))
    return false;
  if (st.connections.size() >= st.opts.max_connections &&
      !evict_oldest_idle(st, [](const auto&) { return true; }, "max_connections"))
    return false;
  return true;
}

// The end of a connection's life that is routine: the peer left, the deadline
// passed, or stop() closed the socket. Only other errors are worth a log line.
bool routine(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted ||
         ec == net::error::connection_reset || ec == net::error::eof || ec == net::error::bad_descriptor;
}

http::response<http::string_body> make_reply(const response& r, unsigned version, bool head, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "vmsgate");
  res.set(http::field::content_type, r.content_type);
  res.set(http::field::cache_control, "no-store");
  if (!r.allow.empty()) {
    res.set(http::field::allow, r.allow);
  }
  res.keep_alive(keep_alive);
  if (head) {
    // A HEAD answer carries the length the GET body would have, and no body.
    res.content_length(r.body.size());
  } else {
    res.body() = r.body;
    res.prepare_payload();
  }
  return res;
}

// Answers a request that could not be parsed, then the caller closes: after a
// framing error nothing later on the connection can be trusted.
net::awaitable<void> reply_error(beast::tcp_stream& stream, const error_code& ec, std::chrono::milliseconds timeout) {
  response r;
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    r.status = 431;
    r.body = "request header fields too large\n";
  } else if (ec == http::error::body_limit) {
    r.status = 413;
    r.body = "request body not accepted\n";
  } else {
    r.status = 400;
    r.body = "bad request\n";
  }
  auto res = make_reply(r, 11, false, false);
  stream.expires_after(timeout);
  co_await http::async_write(stream, res, use_nothrow);
}

// One request and its answer. Returns false when the connection should close.
net::awaitable<bool> serve_one(detail::server_state& st, beast::tcp_stream& stream, beast::flat_buffer& buffer,
                               registration& listed) {
  http::request_parser<http::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(st.opts.header_limit));
  parser.body_limit(0);
  listed.set_idle(true);
  stream.expires_after(st.opts.idle_timeout);
  auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow);
  listed.set_idle(false);
  if (ec) {
    if (!routine(ec)) {
      log::line(log::level::debug, "admin_request_invalid").field("error", ec.message());
      co_await reply_error(stream, ec, st.opts.write_timeout);
    }
    co_return false;
  }
  const auto& req = parser.get();
  const bool head = req.method() == http::verb::head;
  const response r = route(req.method_string(), req.target(), st.routes);
  const bool keep_alive = req.keep_alive() && !st.stopped;
  auto res = make_reply(r, req.version(), head, keep_alive);
  stream.expires_after(st.opts.write_timeout);
  auto [wec, wn] = co_await http::async_write(stream, res, use_nothrow);
  if (wec) {
    if (!routine(wec)) {
      log::line(log::level::debug, "admin_write_failed").field("error", wec.message());
    }
    co_return false;
  }
  co_return keep_alive;
}

net::awaitable<void> serve_requests(detail::server_state& st, beast::tcp_stream& stream, registration& listed) {
  // Sized for one full header; the parser's header_limit rejects larger ones first.
  beast::flat_buffer buffer(st.opts.header_limit + 1024);
  while (co_await serve_one(st, stream, buffer, listed)) {
  }
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

// One coroutine per connection: it owns the stream, and nothing escapes it. The
// accept loop lists the connection before spawning this, so that the budget counts
// it before the next accept.
net::awaitable<void> serve_connection(state_ptr st, std::unique_ptr<beast::tcp_stream> stream,
                                      std::unique_ptr<registration> listed) {
  if (!st->stopped) {
    try {
      co_await serve_requests(*st, *stream, *listed);
    } catch (const std::exception& e) {
      log::line(log::level::warning, "admin_connection_failed").field("what", e.what());
    }
  }
  stream->close();
  listed.reset();  // while `st`, which it refers to, is certainly alive
}

// Completion of a spawned coroutine: they catch what they can, so an exception
// here is a bug worth a line, never a reason to take the process down.
struct log_failure {
  void operator()(std::exception_ptr e) const {
    if (!e) {
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      log::line(log::level::error, "admin_coroutine_failed").field("what", x.what());
    } catch (...) {
      log::line(log::level::error, "admin_coroutine_failed").field("what", "unknown exception");
    }
  }
};

// A pause after an accept error that is not ours to fix (EMFILE, ENFILE), so
// that the loop does not spin while descriptors are short.
net::awaitable<void> back_off(net::any_io_executor ex) {
  net::steady_timer timer(ex, std::chrono::milliseconds(100));
  co_await timer.async_wait(use_nothrow);
}

net::awaitable<void> accept_loop(state_ptr st) {
  for (;;) {
    auto [ec, socket] = co_await st->acceptor.async_accept(use_nothrow);
    if (st->stopped || !st->acceptor.is_open()) {
      co_return;
    }
    if (ec) {
      log::line(log::level::debug, "admin_accept_failed").field("error", ec.message());
      co_await back_off(st->acceptor.get_executor());
      continue;
    }
    const auto source = source_of(socket);
    if (!make_room(*st, source)) {
      log::line(log::level::debug, "admin_connection_refused").field("source", source.to_string());
      continue;  // the socket closes as it goes out of scope
    }
    auto stream = std::make_unique<beast::tcp_stream>(std::move(socket));
    auto listed = std::make_unique<registration>(*st, *stream, source);
    net::co_spawn(st->acceptor.get_executor(), serve_connection(st, std::move(stream), std::move(listed)),
                  log_failure{});
  }
}

// Runs on the io_context's thread. Closing only queues the aborted completions,
// so the coroutines unlist themselves later, never during this loop.
void close_all(const state_ptr& st) {
  st->stopped = true;
  error_code ignored;
  st->acceptor.close(ignored);
  for (auto& [id, c] : st->connections) {
    c.stream->close();
  }
}

}  // namespace

server::server(net::io_context& ioc, const tcp::endpoint& where, handlers h, server_options opts)
    : state_(std::make_shared<detail::server_state>(ioc, std::move(h), opts)) {
  auto& acceptor = state_->acceptor;
  acceptor.open(where.protocol());
  acceptor.set_option(net::socket_base::reuse_address(true));
  acceptor.bind(where);
  acceptor.listen(net::socket_base::max_listen_connections);
  local_ = acceptor.local_endpoint();
}

server::~server() { stop(); }

tcp::endpoint server::local_endpoint() const { return local_; }

void server::start() {
  net::dispatch(state_->acceptor.get_executor(), [st = state_] {
    if (st->started || st->stopped) {
      return;
    }
    st->started = true;
    // The application logs the admin address at info with its other listeners.
    log::line(log::level::debug, "admin_accepting")
        .field("address", st->acceptor.local_endpoint().address().to_string())
        .field("port", static_cast<unsigned>(st->acceptor.local_endpoint().port()));
    net::co_spawn(st->acceptor.get_executor(), accept_loop(st), log_failure{});
  });
}

void server::stop() {
  net::dispatch(state_->acceptor.get_executor(), [st = state_] { close_all(st); });
}

}  // namespace vmsgate::admin
