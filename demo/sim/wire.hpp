#pragma once
// Small pieces shared by the simulators: addresses, the CR LF CR LF message framing
// of the ImageServer-like protocol (HTTP heads end the same way), and XML fields.

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "proxy/common/asio.hpp"

namespace vmsgate::sim {

inline constexpr std::string_view end_of_message = "\r\n\r\n";

// "IP:PORT" or "[IPv6]:PORT" to an endpoint; throws std::invalid_argument. The way
// back is endpoint_label (proxy/common/asio.hpp).
tcp::endpoint parse_endpoint(std::string_view text);

// A listening acceptor with SO_REUSEADDR, so a restarted simulator gets its port back.
// A listener that could not be opened; what() names the address and the fix.
struct listen_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Throws listen_error.
tcp::acceptor make_acceptor(net::any_io_executor ex, const tcp::endpoint& ep);

// The text between <tag> and </tag>; nullopt when absent.
std::optional<std::string> xml_value(std::string_view xml, std::string_view tag);
// The number between <tag> and </tag>, or `fallback`.
std::uint64_t xml_number(std::string_view xml, std::string_view tag, std::uint64_t fallback);

// The head of an HTTP response with a body of `body`, Content-Length and keep-alive.
std::string http_response(int status, std::string_view content_type, std::string_view body);

// The target of a request head "GET /x HTTP/1.1..."; empty if it is not a GET.
std::string http_get_target(std::string_view head);

// The number of `name=` in a target's query ("/x?camera=3"): `fallback` when the
// query does not name it, nullopt when its value is not a number.
std::optional<std::uint64_t> query_number(std::string_view target, std::string_view name, std::uint64_t fallback);

// Reads one message (without its CR LF CR LF) from `sock`; `buffer` keeps what
// arrived beyond it. Empty optional on EOF or error, or when a message grows past
// 64 KiB, which no legitimate request does.
net::awaitable<std::optional<std::string>> read_message(tcp::socket& sock, std::string& buffer);

// Writes all of `text`; false on error.
net::awaitable<bool> write_text(tcp::socket& sock, std::string text);

// Sleeps on the coroutine's executor.
net::awaitable<void> sleep_for(std::chrono::steady_clock::duration d);

}  // namespace vmsgate::sim
