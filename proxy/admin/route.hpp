#pragma once
// What the admin endpoint answers, as a pure function of the request line, so that
// the table of paths and methods is tested without sockets.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace vmsgate::admin {

struct response {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Set only on 405 answers: the methods the path accepts, for the Allow header.
  std::string allow;
};

// Handlers are called on the admin io_context's thread; an empty one means that
// part of the process is not up yet, and the endpoint answers 503.
struct handlers {
  std::function<response()> metrics;
  std::function<response()> ready;
  // Set on an ACME http-01 listener instead of the two above: GET
  // /.well-known/acme-challenge/TOKEN answers with what this returns for TOKEN
  // (nullopt: 404), and nothing else is served there, not even /healthz.
  std::function<std::optional<std::string>(std::string_view token)> acme_challenge;
};

// GET and HEAD on /healthz, /metrics and /readyz; the query string is ignored.
// An unknown path is 404, another method on a known path is 405 with `allow` set.
// A handler that throws becomes a 500; route() itself never throws but for
// std::bad_alloc.
response route(std::string_view method, std::string_view target, const handlers& h);

}  // namespace vmsgate::admin
