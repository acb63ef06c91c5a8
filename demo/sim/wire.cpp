#include "demo/sim/wire.hpp"

#include <charconv>
#include <stdexcept>

namespace vmsgate::sim {

tcp::endpoint parse_endpoint(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) throw std::invalid_argument("expected IP:PORT, got '" + std::string(text) + "'");
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535)
    throw std::invalid_argument("bad port in '" + std::string(text) + "'");
  error_code aec;
  const auto addr = net::ip::make_address(std::string(host), aec);
  if (aec) throw std::invalid_argument("bad IP address in '" + std::string(text) + "'");
  return {addr, static_cast<std::uint16_t>(port)};
}

tcp::acceptor make_acceptor(net::any_io_executor ex, const tcp::endpoint& ep) {
  tcp::acceptor acc(ex);
  error_code ec;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw listen_error("cannot listen on " + endpoint_label(ep) + ": " + listen_failure(ec, ep.port()));
  return acc;
}

std::optional<std::string> xml_value(std::string_view xml, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  const auto b = xml.find(open);
  if (b == std::string_view::npos) return std::nullopt;
  const auto e = xml.find(close, b + open.size());
  if (e == std::string_view::npos) return std::nullopt;
  return std::string(xml.substr(b + open.size(), e - b - open.size()));
}

std::uint64_t xml_number(std::string_view xml, std::string_view tag, std::uint64_t fallback) {
  const auto v = xml_value(xml, tag);
  if (!v) return fallback;
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  return ec == std::errc() && end == v->data() + v->size() ? n : fallback;
}

std::string http_response(int status, std::string_view content_type, std::string_view body) {
  const char* reason = status == 200 ? "OK" : status == 404 ? "Not Found" : "Error";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " + std::string(content_type) +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

std::string http_get_target(std::string_view head) {
  if (!head.starts_with("GET ")) return {};
  const auto end = head.find(' ', 4);
  return std::string(head.substr(4, end == std::string_view::npos ? std::string_view::npos : end - 4));
}

std::optional<std::uint64_t> query_number(std::string_view target, std::string_view name, std::uint64_t fallback) {
  const auto query = target.find('?');
  if (query == std::string_view::npos) return fallback;
  for (std::string_view rest = target.substr(query + 1); !rest.empty();) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.size() <= name.size() || !pair.starts_with(name) || pair[name.size()] != '=') continue;
    const std::string_view v = pair.substr(name.size() + 1);
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || v.empty() || end != v.data() + v.size()) return std::nullopt;
    return n;
  }
  return fallback;
}

net::awaitable<std::optional<std::string>> read_message(tcp::socket& sock, std::string& buffer) {
  auto [ec, n] = co_await net::async_read_until(sock, net::dynamic_buffer(buffer, 64 * 1024),
                                                std::string(end_of_message), use_nothrow);
  if (ec) co_return std::nullopt;
  std::string message = buffer.substr(0, n - end_of_message.size());
  buffer.erase(0, n);
  co_return message;
}

net::awaitable<bool> write_text(tcp::socket& sock, std::string text) {
  auto [ec, n] = co_await net::async_write(sock, net::buffer(text), use_nothrow);
  co_return !ec;
}

net::awaitable<void> sleep_for(std::chrono::steady_clock::duration d) {
  net::steady_timer t(co_await net::this_coro::executor, d);
  co_await t.async_wait(use_nothrow);
}

}  // namespace vmsgate::sim
