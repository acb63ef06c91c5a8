// The admin endpoint's request handling on arbitrary bytes: Beast's request parser
// set up exactly as proxy/admin/server.cpp sets it (header limit, no body), fed in
// the pieces a socket could deliver, then route() on whatever request came out.
// The handlers answer like the real ones, and throw on some inputs so that the
// 500 path runs too.

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "proxy/admin/route.hpp"
#include "proxy/admin/server.hpp"
#include "proxy/common/log.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using namespace vmsgate::admin;

int init = [] {
  // route() logs a throwing handler at error; the fuzzer would drown in it.
  vmsgate::log::set_min_level(vmsgate::log::level::error);
  return 0;
}();

handlers make_handlers(bool throwing) {
  handlers h;
  h.metrics = [throwing]() -> response {
    if (throwing) throw std::runtime_error("collector failed");
    response r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = "vmsgate_build_info 1\n";
    return r;
  };
  h.ready = [] { return response{503, "text/plain; charset=utf-8", "no backend\n", ""}; };
  return h;
}

// Feeds `bytes` to the parser in chunks of `step`, as reads from a socket would.
bool parse(http::request_parser<http::empty_body>& parser, std::string_view bytes, std::size_t step) {
  beast::error_code ec;
  std::string pending;
  for (std::size_t at = 0; at < bytes.size() && !parser.is_done();) {
    const std::size_t n = std::min(step, bytes.size() - at);
    pending.append(bytes.substr(at, n));
    at += n;
    const std::size_t used = parser.put(boost::asio::buffer(pending), ec);
    if (ec == http::error::need_more) {
      ec = {};
      continue;
    }
    if (ec) return false;
    pending.erase(0, used);
  }
  return parser.is_done();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const server_options defaults;
  const std::size_t step = 1 + data[0] % 64;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  http::request_parser<http::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(defaults.header_limit));
  parser.body_limit(0);
  if (!parse(parser, bytes, step)) return 0;
  const auto& req = parser.get();
  const response r = route(req.method_string(), req.target(), make_handlers(data[0] & 0x80));
  if (r.status < 200 || r.status > 599) __builtin_trap();
  if (r.status == 405 && r.allow.empty()) __builtin_trap();
  return 0;
}
