#pragma once
// The connection and the job runner that the simulator clients share (internal to
// demo/sim: client.cpp and client_http.cpp).

#include <boost/asio/ssl.hpp>

#include <memory>
#include <optional>
#include <string>

#include "demo/sim/client.hpp"
#include "proxy/common/asio.hpp"

namespace vmsgate::sim::detail {

namespace ssl = net::ssl;

// One client connection, plain or TLS, with the bytes received but not consumed.
class conn {
 public:
  conn(net::io_context& ctx, client_options o) : opts_(std::move(o)), tls_ctx_(ssl::context::tls_client),
                                                 stream_(ctx, tls_ctx_) {}

  net::awaitable<std::string> open();
  net::awaitable<bool> write(std::string text);
  // Appends what arrives to buffer_; false at the end of the stream or on error.
  net::awaitable<bool> read_more();
  // The next CR LF CR LF ended head, consumed from buffer_.
  net::awaitable<std::optional<std::string>> read_head();
  // Waits until buffer_ holds at least n bytes.
  net::awaitable<bool> fill(std::size_t n);

  std::string pending;  // received, not yet consumed
  std::string tls_version() { return opts_.tls ? SSL_get_version(stream_.native_handle()) : ""; }

 private:
  std::string setup_tls();

  client_options opts_;
  ssl::context tls_ctx_;
  ssl::stream<tcp::socket> stream_;
};

// A check in progress: the result and whether the coroutine reached its end.
struct job {
  check_result r;
  bool done = false;
};
using job_ptr = std::shared_ptr<job>;

// Opens the connection; false (with the error recorded) when that fails.
net::awaitable<bool> open_into(conn& c, job_ptr j);

// Runs `task` on `ctx` for at most `limit`; a task still running then timed out.
check_result run_job(net::io_context& ctx, job_ptr j, net::awaitable<void> task,
                     std::chrono::steady_clock::duration limit);

}  // namespace vmsgate::sim::detail
