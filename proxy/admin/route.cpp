#include "proxy/admin/route.hpp"

#include <exception>
#include <new>

#include "proxy/common/log.hpp"

namespace vmsgate::admin {
namespace {

response plain(unsigned status, std::string body) {
  response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// Runs one handler, turning an absent handler into 503 and a throwing one into
// 500, so that a bug in a metrics collector never takes the admin server down.
response call(const std::function<response()>& handler, std::string_view path, std::string unavailable) {
  if (!handler) {
    return plain(503, std::move(unavailable));
  }
  try {
    return handler();
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    log::line(log::level::error, "admin_handler_failed").field("path", path).field("what", e.what());
  } catch (...) {
    log::line(log::level::error, "admin_handler_failed").field("path", path).field("what", "unknown exception");
  }
  return plain(500, "internal error\n");
}

// RFC 8555 section 8.3: the key authorization for the token, as it is.
response acme_challenge(std::string_view method, std::string_view path, const handlers& h) {
  constexpr std::string_view prefix = "/.well-known/acme-challenge/";
  if (!path.starts_with(prefix) || path.size() == prefix.size()) return plain(404, "not found\n");
  if (method != "GET" && method != "HEAD") {
    response r = plain(405, "method not allowed\n");
    r.allow = "GET, HEAD";
    return r;
  }
  auto answer = h.acme_challenge(path.substr(prefix.size()));
  if (!answer) return plain(404, "not found\n");
  response r = plain(200, std::move(*answer));
  r.content_type = "application/octet-stream";
  return r;
}

}  // namespace

response route(std::string_view method, std::string_view target, const handlers& h) {
  const std::string_view path = target.substr(0, target.find('?'));
  if (h.acme_challenge) return acme_challenge(method, path, h);
  const bool known = path == "/healthz" || path == "/metrics" || path == "/readyz";
  if (!known) {
    return plain(404, "not found\n");
  }
  if (method != "GET" && method != "HEAD") {
    response r = plain(405, "method not allowed\n");
    r.allow = "GET, HEAD";
    return r;
  }
  if (path == "/healthz") {
    return plain(200, "ok\n");
  }
  if (path == "/metrics") {
    return call(h.metrics, path, "metrics not yet available\n");
  }
  return call(h.ready, path, "not ready\n");
}

}  // namespace vmsgate::admin
