// The admin endpoint's table of paths and methods, without sockets.

#include <gtest/gtest.h>

#include <stdexcept>

#include "proxy/admin/route.hpp"

namespace vmsgate::admin {
namespace {

handlers full_handlers() {
  handlers h;
  h.metrics = [] {
    response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = "vmsgate_up 1\n";
    return r;
  };
  h.ready = [] { return response{200, "text/plain; charset=utf-8", "ready\n", {}}; };
  return h;
}

TEST(AdminRoute, HealthzIsAlwaysOk) {
  const handlers none;
  for (const char* method : {"GET", "HEAD"}) {
    const auto r = route(method, "/healthz", none);
    EXPECT_EQ(r.status, 200u) << method;
    EXPECT_EQ(r.body, "ok\n");
    EXPECT_TRUE(r.allow.empty());
  }
}

TEST(AdminRoute, MetricsAndReadyCallTheirHandlers) {
  const auto h = full_handlers();
  const auto m = route("GET", "/metrics", h);
  EXPECT_EQ(m.status, 200u);
  EXPECT_EQ(m.body, "vmsgate_up 1\n");
  EXPECT_EQ(m.content_type, "text/plain; version=0.0.4; charset=utf-8");
  const auto r = route("HEAD", "/readyz", h);
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "ready\n");
}

TEST(AdminRoute, AbsentHandlersAnswer503) {
  const handlers none;
  const auto m = route("GET", "/metrics", none);
  EXPECT_EQ(m.status, 503u);
  EXPECT_EQ(m.body, "metrics not yet available\n");
  const auto r = route("GET", "/readyz", none);
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.body, "not ready\n");
}

TEST(AdminRoute, ReadyHandlerCanSayNotReady) {
  handlers h;
  h.ready = [] { return response{503, "text/plain; charset=utf-8", "route rec: no reachable backend\n", {}}; };
  const auto r = route("GET", "/readyz", h);
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.body, "route rec: no reachable backend\n");
}

TEST(AdminRoute, QueryStringIsIgnored) {
  const auto h = full_handlers();
  EXPECT_EQ(route("GET", "/healthz?verbose=1", h).status, 200u);
  EXPECT_EQ(route("GET", "/metrics?name[]=x", h).body, "vmsgate_up 1\n");
  EXPECT_EQ(route("GET", "/readyz?", h).status, 200u);
}

TEST(AdminRoute, UnknownPathsAre404) {
  const auto h = full_handlers();
  for (const char* target : {"/", "", "/healthz/", "/HEALTHZ", "/metricsx", "/metrics/extra", "*",
                             "http://127.0.0.1/healthz", "/favicon.ico"}) {
    EXPECT_EQ(route("GET", target, h).status, 404u) << target;
  }
  // An unknown path is 404 whatever the method.
  EXPECT_EQ(route("POST", "/nope", h).status, 404u);
}

TEST(AdminRoute, OtherMethodsOnKnownPathsAre405WithAllow) {
  const auto h = full_handlers();
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get", "TRACE"}) {
    for (const char* path : {"/healthz", "/metrics", "/readyz"}) {
      const auto r = route(method, path, h);
      EXPECT_EQ(r.status, 405u) << method << ' ' << path;
      EXPECT_EQ(r.allow, "GET, HEAD");
    }
  }
}

TEST(AdminRoute, ThrowingHandlerIs500) {
  handlers h;
  h.metrics = []() -> response { throw std::runtime_error("collector broke"); };
  const auto r = route("GET", "/metrics", h);
  EXPECT_EQ(r.status, 500u);
  EXPECT_EQ(r.body, "internal error\n");
}

// The ACME http-01 listener: the key authorization of a pending token, and
// nothing else, not even the admin paths.
TEST(AdminRoute, TheAcmeListenerAnswersChallengeTokensOnly) {
  handlers h;
  h.acme_challenge = [](std::string_view token) -> std::optional<std::string> {
    if (token == "tok123") return "tok123.thumb";
    return std::nullopt;
  };
  const auto r = route("GET", "/.well-known/acme-challenge/tok123", h);
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "tok123.thumb");
  EXPECT_EQ(r.content_type, "application/octet-stream");
  EXPECT_EQ(route("HEAD", "/.well-known/acme-challenge/tok123", h).status, 200u);
  EXPECT_EQ(route("GET", "/.well-known/acme-challenge/other", h).status, 404u);
  EXPECT_EQ(route("GET", "/.well-known/acme-challenge/", h).status, 404u);
  const auto post = route("POST", "/.well-known/acme-challenge/tok123", h);
  EXPECT_EQ(post.status, 405u);
  EXPECT_EQ(post.allow, "GET, HEAD");
  for (const char* path : {"/healthz", "/metrics", "/readyz", "/"}) EXPECT_EQ(route("GET", path, h).status, 404u) << path;
}

}  // namespace
}  // namespace vmsgate::admin
