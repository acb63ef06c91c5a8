#include "proxy/gateway/acme_http.hpp"

#include <ctime>
#include <stdexcept>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "proxy/common/coroutine_frames.hpp"
#include "proxy/tls/openssl.hpp"


namespace vmsgate::app {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

constexpr std::size_t body_limit = 1 << 20;

http::verb verb_of(const std::string& method) {
  if (method == "GET") return http::verb::get;
  if (method == "HEAD") return http::verb::head;
  if (method == "POST") return http::verb::post;
  throw std::runtime_error("unsupported HTTP method " + method);
}

// The server's certificate must name the host dialled: a DNS name or an IP address.
void expect_host(SSL* ssl, const std::string& host) {
  error_code ec;
  net::ip::make_address(host, ec);
  if (ec) {
    SSL_set_tlsext_host_name(ssl, host.c_str());
    SSL_set1_host(ssl, host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
  }
}

}  // namespace

https_url parse_https_url(const std::string& url) {
  constexpr std::string_view scheme = "https://";
  if (!url.starts_with(scheme)) throw std::runtime_error("not an https:// URL: " + url);
  https_url out;
  const std::string rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) out.target = rest.substr(slash);
  std::string port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string::npos) throw std::runtime_error("malformed URL: " + url);
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw std::runtime_error("malformed URL: " + url);
      port = authority.substr(close + 2);
    }
  } else {
    const auto colon = authority.find(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty() || authority.find('@') != std::string::npos)
    throw std::runtime_error("malformed URL: " + url);
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) == 0 ||
        std::stoul(port) > 65535)
      throw std::runtime_error("malformed port in URL: " + url);
    out.port = port;
  }
  return out;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
  if (value.empty()) return std::nullopt;
  if (value.find_first_not_of("0123456789") == std::string_view::npos) {
    if (value.size() > 9) return std::chrono::seconds(999999999);
    return std::chrono::seconds(std::stol(std::string(value)));
  }
  std::tm tm{};
  const std::string text(value);
  const char* end = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const auto when = std::chrono::system_clock::from_time_t(::timegm(&tm));
  return std::max(std::chrono::duration_cast<std::chrono::seconds>(when - now), std::chrono::seconds(0));
}

std::shared_ptr<net::ssl::context> acme_trust(const std::string& ca_file) {
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  error_code ec;
  if (ca_file.empty())
    ctx->set_default_verify_paths(ec);
  else
    ctx->load_verify_file(ca_file, ec);
  if (ec)
    throw std::runtime_error((ca_file.empty() ? std::string("the system's CA store") : "acme.ca " + ca_file) +
                             " cannot be loaded: " + tls::drain_errors());
  ctx->set_verify_mode(net::ssl::verify_peer);
  return ctx;
}

net::awaitable<acme::http_response> acme_exchange(net::ssl::context& trust, acme::http_request request,
                                                   std::chrono::seconds timeout) {
  const https_url url = parse_https_url(request.url);
  const auto executor = co_await net::this_coro::executor;
  beast::ssl_stream<beast::tcp_stream> stream(executor, trust);
  expect_host(stream.native_handle(), url.host);
  auto& tcp_layer = beast::get_lowest_layer(stream);
  tcp_layer.expires_after(timeout);
  tcp::resolver resolver(executor);
  const auto where = co_await resolver.async_resolve(url.host, url.port, net::use_awaitable);
  co_await tcp_layer.async_connect(where, net::use_awaitable);
  co_await stream.async_handshake(net::ssl::stream_base::client, net::use_awaitable);

  http::request<http::string_body> out{verb_of(request.method), url.target, 11};
  const bool v6 = url.host.find(':') != std::string::npos;
  const std::string host = v6 ? "[" + url.host + "]" : url.host;
  out.set(http::field::host, url.port == "443" ? host : host + ":" + url.port);
  out.set(http::field::user_agent, "vmsgate/" VMSGATE_VERSION);
  if (request.method == "POST") {
    out.set(http::field::content_type, "application/jose+json");
    out.body() = request.body;
  }
  out.prepare_payload();
  co_await http::async_write(stream, out, net::use_awaitable);

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  if (request.method == "HEAD") parser.skip(true);
  co_await http::async_read(stream, buffer, parser, net::use_awaitable);
  const auto& in = parser.get();
  acme::http_response response;
  response.status = in.result_int();
  response.location = std::string(in[http::field::location]);
  response.replay_nonce = std::string(in["Replay-Nonce"]);
  response.retry_after = parse_retry_after(in[http::field::retry_after], std::chrono::system_clock::now());
  response.content_type = std::string(in[http::field::content_type]);
  response.body = in.body();
  error_code ignored;
  tcp_layer.socket().close(ignored);
  co_return response;
}

}  // namespace vmsgate::app
