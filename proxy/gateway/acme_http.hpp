#pragma once
// The ACME client's HTTPS: one request per connection to the CA's server, its
// certificate verified against acme.ca (or the system's store) and its name.

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "proxy/acme/order.hpp"
#include "proxy/common/asio.hpp"

namespace vmsgate::app {

// Trust for one ACME server: the PEM file `ca_file`, or the system's store when it
// is empty. Throws std::runtime_error naming the file.
std::shared_ptr<net::ssl::context> acme_trust(const std::string& ca_file);

// Sends `request` and reads the answer (bodies up to 1 MiB) within `timeout`.
// Throws std::runtime_error with one readable line when the server cannot be
// reached, its certificate is refused or the answer is not HTTP.
net::awaitable<acme::http_response> acme_exchange(net::ssl::context& trust, acme::http_request request,
                                                   std::chrono::seconds timeout);

// "https://host[:port]/path" split; throws std::runtime_error on anything else.
struct https_url {
  std::string host;  // without brackets
  std::string port = "443";
  std::string target = "/";
};
https_url parse_https_url(const std::string& url);

// Retry-After as seconds (RFC 9110: a number of seconds or an HTTP date); nullopt
// when absent or unreadable.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

}  // namespace vmsgate::app
