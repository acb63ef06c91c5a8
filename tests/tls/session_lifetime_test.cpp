// How long a session may be resumed (tls/session_lifetime.hpp), and the originate
// routes' session cache that keeps only those: a session from a real handshake in
// memory, whose server certificate expires at a known time, looked at as of other
// times.

#include "proxy/tls/session_lifetime.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "proxy/tls/client_context.hpp"
#include "proxy/tls/openssl.hpp"
#include "tests/support/memory_pair.hpp"
#include "tests/tls/fixtures.hpp"

namespace vmsgate::test {
namespace {

// A client's session after a TLS 1.2 handshake with a server whose certificate ends
// at `not_after`.
tls::ssl_session_ptr session_with_peer(sys_clock::time_point not_after) {
  const issuer server = make_ca("session lifetime test server", not_after);
  tls::ssl_ctx_ptr server_ctx(SSL_CTX_new(TLS_server_method()));
  tls::ssl_ctx_ptr client_ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_max_proto_version(client_ctx.get(), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_use_certificate(server_ctx.get(), server.cert.get()), 1);
  EXPECT_EQ(SSL_CTX_use_PrivateKey(server_ctx.get(), server.key.get()), 1);
  tls::ssl_ptr s(SSL_new(server_ctx.get())), c(SSL_new(client_ctx.get()));
  EXPECT_TRUE(join_in_memory(s.get(), c.get()));
  for (int i = 0; i < 10 && (SSL_is_init_finished(s.get()) == 0 || SSL_is_init_finished(c.get()) == 0); ++i) {
    SSL_do_handshake(c.get());
    SSL_do_handshake(s.get());
  }
  EXPECT_EQ(SSL_is_init_finished(c.get()), 1);
  return tls::ssl_session_ptr(SSL_get1_session(c.get()));
}

std::time_t at(sys_clock::time_point t) { return sys_clock::to_time_t(t); }

TEST(SessionLifetime, ASessionEndsAtItsLifetimeOrItsPeersNotAfterWhicheverComesFirst) {
  const auto not_after = sys_clock::now() + 10min;
  const tls::ssl_session_ptr s = session_with_peer(not_after);
  ASSERT_TRUE(s);
  const std::time_t born = at(sys_clock::now());
  EXPECT_EQ(tls::resumable_until(s.get(), born, std::chrono::minutes(5)), born + 300);
  EXPECT_EQ(tls::resumable_until(s.get(), born, std::chrono::hours(12)), at(not_after));
  EXPECT_TRUE(tls::resumable_at(s.get(), born, std::chrono::hours(12), born + 60));
  EXPECT_FALSE(tls::resumable_at(s.get(), born, std::chrono::minutes(5), born + 301));
  EXPECT_FALSE(tls::resumable_at(s.get(), born, std::chrono::hours(12), at(not_after) + 1));
  EXPECT_TRUE(tls::peer_valid_at(s.get(), born));
  EXPECT_FALSE(tls::peer_valid_at(s.get(), at(not_after) + 1));
  EXPECT_FALSE(tls::peer_valid_at(s.get(), born - 3 * 24 * 3600));  // before its notBefore
}

TEST(SessionLifetime, TheBirthOfASessionTravelsInItsTicket) {
  const tls::ssl_session_ptr s = session_with_peer(sys_clock::now() + 1h);
  ASSERT_TRUE(s);
  EXPECT_FALSE(tls::ticket_born(s.get()));
  ASSERT_TRUE(tls::set_ticket_born(s.get(), 1'900'000'000));
  EXPECT_EQ(tls::ticket_born(s.get()), std::optional<std::time_t>(1'900'000'000));
  // A copy, as OpenSSL makes for a renewed ticket, keeps it.
  const tls::ssl_session_ptr copy(SSL_SESSION_dup(s.get()));
  EXPECT_EQ(tls::ticket_born(copy.get()), std::optional<std::time_t>(1'900'000'000));
  // Someone else's application data is not taken for it.
  ASSERT_EQ(SSL_SESSION_set1_ticket_appdata(s.get(), "twelve bytes", 12), 1);
  EXPECT_FALSE(tls::ticket_born(s.get()));
}

TEST(SessionLifetime, AnOriginateRoutesCacheGivesOnlySessionsThatMayBeResumed) {
  const auto not_after = sys_clock::now() + 1h;
  const std::time_t now = at(sys_clock::now());
  tls::session_cache cache(1, std::chrono::minutes(10));
  auto put = [&](std::time_t born) { cache.put(0, session_with_peer(not_after), born); };
  put(now - 11 * 60);  // older than its lifetime
  put(now);
  tls::session_cache::entry e = cache.take(0, now);
  ASSERT_TRUE(e.session);
  EXPECT_EQ(e.born, now);
  EXPECT_FALSE(cache.take(0, now).session);  // the old one was dropped, not given
  put(now);
  EXPECT_FALSE(cache.take(0, now + 11 * 60).session);  // past its lifetime
  put(now);
  tls::session_cache long_lived(1, std::chrono::hours(24));
  long_lived.put(0, session_with_peer(not_after), now);
  EXPECT_FALSE(long_lived.take(0, at(not_after) + 1).session);  // the upstream's certificate has expired
}

}  // namespace
}  // namespace vmsgate::test
