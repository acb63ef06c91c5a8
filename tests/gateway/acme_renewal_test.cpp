// The ACME driver's pure parts: when a certificate is due, how long after failures
// the next order waits, the CA's URLs and Retry-After.

#include <gtest/gtest.h>

#include "proxy/gateway/acme_http.hpp"
#include "proxy/gateway/acme_renewal.hpp"
#include "proxy/gateway/route_build.hpp"
#include "proxy/pki/builder.hpp"

#include <unistd.h>

#include <filesystem>
#include <limits>
#include <fstream>

namespace vmsgate::app {
namespace {

using namespace std::chrono_literals;
using std::chrono::system_clock;

const system_clock::time_point t0 = system_clock::from_time_t(1'800'000'000);

TEST(AcmeRenewalDue, ATermBeforeNotAfterOrAFractionOfTheLifetimeOrAThirdByDefault) {
  const auto not_after = t0 + 90 * 24h;
  config::acme_config acme;
  EXPECT_EQ(renewal_due(t0, not_after, acme, 0), not_after - 30 * 24h);
  acme.renew_before = 10 * 24h;
  EXPECT_EQ(renewal_due(t0, not_after, acme, 0), not_after - 10 * 24h);
  acme.renew_before_fraction = 0.5;  // wins over a duration
  EXPECT_EQ(renewal_due(t0, not_after, acme, 0), not_after - 45 * 24h);
}

TEST(AcmeRenewalDue, JitterMovesItEarlierByAtMostAFiftiethOfTheLifetimeCappedAtAnHour) {
  config::acme_config acme;
  acme.renew_before = 24h;
  // 90 days: a fiftieth is 43 h, so the hour cap applies.
  EXPECT_EQ(renewal_due(t0, t0 + 90 * 24h, acme, 1.0), t0 + 89 * 24h - 1h);
  EXPECT_EQ(renewal_due(t0, t0 + 90 * 24h, acme, 0.5), t0 + 89 * 24h - 30min);
  // A 50-minute certificate: a fiftieth is 1 minute.
  acme.renew_before = 10min;
  EXPECT_EQ(renewal_due(t0, t0 + 50min, acme, 1.0), t0 + 39min);
  // Out-of-range jitter is clamped, never later than the term.
  EXPECT_EQ(renewal_due(t0, t0 + 50min, acme, -3), t0 + 40min);
}

TEST(AcmeRenewalDue, ATermLongerThanTheLifetimeIsDueAtOnce) {
  config::acme_config acme;
  acme.renew_before = 36500 * 24h;
  EXPECT_EQ(renewal_due(t0, t0 + 90 * 24h, acme, 0), t0);
  // A term of millennia does not overflow the clock.
  acme.renew_before = std::chrono::milliseconds(std::numeric_limits<std::int64_t>::max() / 2);
  EXPECT_EQ(renewal_due(t0, t0 + 90 * 24h, acme, 0), t0);
  // Nor do dates that make no sense.
  acme.renew_before.reset();
  EXPECT_EQ(renewal_due(t0, t0 - 1h, acme, 0), t0);
}

TEST(AcmeFailureBackoff, DoublesFromTenSecondsToAnHourAndHonoursRetryAfter) {
  EXPECT_EQ(failure_backoff(1, 0.5, std::nullopt), 10s);
  EXPECT_EQ(failure_backoff(2, 0.5, std::nullopt), 20s);
  EXPECT_EQ(failure_backoff(3, 0.5, std::nullopt), 40s);
  EXPECT_EQ(failure_backoff(30, 0.5, std::nullopt), 1h);
  EXPECT_EQ(failure_backoff(1, 0.0, std::nullopt), 8s);
  EXPECT_EQ(failure_backoff(1, 1.0, std::nullopt), 12s);
  EXPECT_EQ(failure_backoff(1, 0.5, 300s), 300s);
  EXPECT_EQ(failure_backoff(30, 0.5, 5s), 1h);      // a shorter Retry-After does not shorten it
  EXPECT_EQ(failure_backoff(1, 0.5, 1000h), 24h);   // nor does a silly one stop renewals for weeks
}

TEST(AcmeHttp, SplitsHttpsUrlsAndRefusesOthers) {
  auto u = parse_https_url("https://acme.example.local/directory");
  EXPECT_EQ(u.host, "acme.example.local");
  EXPECT_EQ(u.port, "443");
  EXPECT_EQ(u.target, "/directory");
  u = parse_https_url("https://127.0.0.1:14000/dir?x=1");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, "14000");
  EXPECT_EQ(u.target, "/dir?x=1");
  u = parse_https_url("https://[::1]:8443");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, "8443");
  EXPECT_EQ(u.target, "/");
  for (const char* bad : {"http://a/dir", "https://", "https://:443/", "https://a:0/", "https://a:99999/",
                          "https://a:x/", "https://user@a/", "https://[::1/", "ftp://a/"})
    EXPECT_THROW(parse_https_url(bad), std::runtime_error) << bad;
}

TEST(AcmeHttp, RetryAfterIsSecondsOrAnHttpDate) {
  const auto now = system_clock::from_time_t(784111777 - 60);  // a minute before RFC 9110's example date
  EXPECT_EQ(parse_retry_after("120", now), 120s);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), 60s);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now + 1h), 0s);
  EXPECT_FALSE(parse_retry_after("", now));
  EXPECT_FALSE(parse_retry_after("soon", now));
  EXPECT_FALSE(parse_retry_after("-5", now));
}

// A route that ACME serves waits, refusing clients, while it has no certificate or
// only an expired one; without acme it never waits.
TEST(AcmePending, NoCertificateOrAnExpiredOneMeansWaitingForACME) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("vmsgate-acme-pending-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  config::route_config rc;
  rc.cert = (dir / "cam.pem").string();
  rc.key = (dir / "cam.key").string();
  rc.acme.emplace();
  const auto now = system_clock::now();
  EXPECT_TRUE(acme_pending(rc, now));
  const auto key = pki::generate_ec();
  pki::cert_spec spec;
  spec.common_name = "cam";
  spec.not_before = now - 48h;
  spec.not_after = now + 24h;
  const auto cert = pki::make_certificate(spec, key.get(), nullptr, key.get());
  std::ofstream(rc.cert) << pki::to_pem(cert.get());
  std::ofstream(rc.key) << pki::to_pem(key.get());
  EXPECT_FALSE(acme_pending(rc, now));
  EXPECT_TRUE(acme_pending(rc, now + 25h));  // expired by then
  rc.acme.reset();
  EXPECT_FALSE(acme_pending(rc, now + 25h));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace vmsgate::app
