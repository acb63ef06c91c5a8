// Two hosts in network namespaces (issue 3): a "recording host" with a legacy client
// and an originate route, "management hosts" with a terminate route (client_auth
// required) and a legacy echo server each, on veth pairs in 10.99.3.0/24. The first
// management host goes away, connections move to the failover; it comes back and,
// once its back-off has passed, they move back. Needs root; the namespaces (and
// with them the veth pairs) are deleted by the test even when it fails.

#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/mtls.hpp"

namespace vmsgate::test {
namespace {

struct topology {
  std::string tag = std::to_string(::getpid());
  std::string rec = "vmsg-rec-" + tag;
  std::string mgmt1 = "vmsg-m1-" + tag;
  std::string mgmt2 = "vmsg-m2-" + tag;
  netns_set ns;
  bool build() {
    // rec 10.99.3.1/30 <-> mgmt1 10.99.3.2/30; rec 10.99.3.5/30 <-> mgmt2 10.99.3.6/30.
    return ns.add(rec) && ns.add(mgmt1) && ns.add(mgmt2) &&
           ns.link(rec, "vgr1" + tag, "10.99.3.1/30", mgmt1, "vgm1" + tag, "10.99.3.2/30") &&
           ns.link(rec, "vgr2" + tag, "10.99.3.5/30", mgmt2, "vgm2" + tag, "10.99.3.6/30");
  }
};

// A legacy echo server bound to 127.0.0.1 inside namespace `ns`.
std::unique_ptr<echo_server> echo_in(const std::string& ns) {
  std::unique_ptr<echo_server> e;
  std::string why;
  if (!run_in_netns(ns, [&] { e = std::make_unique<echo_server>(); }, &why)) ADD_FAILURE() << why;
  return e;
}

// The legacy recording client: one plain echo through the originate route, from
// inside the recording host.
plain_result legacy_client(const std::string& ns, std::uint16_t port, std::uint64_t bytes) {
  plain_result r;
  std::string why;
  if (!run_in_netns(ns, [&] { r = plain_echo_transfer("127.0.0.1", port, bytes, 11, 10s); }, &why)) r.error = why;
  return r;
}

std::unique_ptr<gateway> mgmt_gateway(const temp_dir& dir, const std::string& ns, const cert_pair& cert,
                                      const std::string& name, const std::string& listen, std::uint16_t echo_port) {
  mtls_gateway_options o;
  o.listen = listen;
  o.admin_listen = "127.0.0.1:0";
  return std::make_unique<gateway>(
      mtls_terminate_yaml(shared_mtls_pki(), cert, name, "required", {"127.0.0.1:" + std::to_string(echo_port)}, o),
      netns_binary(dir, ns));
}

TEST(Netns, RecordingToManagementFailsOverAndBack) {
  std::string why;
  if (!can_use_netns(&why)) FAIL() << "network namespaces unavailable: " << why;
  const auto& pki = shared_mtls_pki();
  topology t;
  ASSERT_TRUE(t.build()) << t.ns.error();
  temp_dir dir("vmsgate-netns");

  auto echo1 = echo_in(t.mgmt1);
  auto echo2 = echo_in(t.mgmt2);
  ASSERT_TRUE(echo1 && echo2);
  auto m1 = mgmt_gateway(dir, t.mgmt1, pki.mgmt01, "mgmt01.example.local", "10.99.3.2:9443", echo1->port());
  auto m2 = mgmt_gateway(dir, t.mgmt2, pki.mgmt02, "mgmt02.example.local", "10.99.3.6:9443", echo2->port());
  ASSERT_TRUE(m1->wait_ready()) << m1->log();
  ASSERT_TRUE(m2->wait_ready()) << m2->log();

  mtls_gateway_options o;
  o.workers = 1;  // the back-off is per worker: one makes its memory observable
  o.listen = "127.0.0.1:9000";
  o.connect_timeout = "1s";
  gateway rec(mtls_originate_yaml(pki, &pki.rec01,
                                  {{"10.99.3.2:9443", "mgmt01.example.local"},
                                   {"10.99.3.6:9443", "mgmt02.example.local"}},
                                  o),
              netns_binary(dir, t.rec));
  ASSERT_TRUE(rec.wait_ready()) << rec.log();
  const std::uint16_t port = rec.port("uplink");
  ASSERT_EQ(port, 9000) << rec.log();

  const auto backend_of_last = [&](std::size_t from) -> std::string {
    const auto l = rec.wait_for_event("connection_closed", 10s, from);
    return l ? json_field(*l, "backend").value_or("") : "(no connection_closed)";
  };

  // 1. Both up: the primary serves, byte-exact, across the veth.
  for (int i = 0; i < 2; ++i) {
    const auto from = rec.proc().stderr_line_count();
    const auto r = legacy_client(t.rec, port, 8 << 20);
    ASSERT_TRUE(r.ok) << r.error << "\n" << rec.log() << "\n" << m1->log();
    EXPECT_EQ(backend_of_last(from), "10.99.3.2:9443");
  }
  // Bytes, not connections: the readiness probe connects to the echo servers too.
  EXPECT_EQ(echo1->bytes_echoed(), 2u * (8 << 20));
  EXPECT_EQ(echo2->bytes_echoed(), 0u);
  const auto m1_line = wait_closed(*m1, 0);
  ASSERT_TRUE(m1_line);
  EXPECT_NE(json_field(*m1_line, "peer_subject").value_or("").find("CN=rec01.rec.example.local"), std::string::npos)
      << *m1_line;
  EXPECT_EQ(json_field(*m1_line, "client").value_or("").rfind("10.99.3.1:", 0), 0u) << *m1_line;

  // 2. The first management host's gateway dies: connections move to the failover,
  //    and within the back-off the dead one is not even tried.
  m1->proc().kill();
  m1.reset();
  auto from = rec.proc().stderr_line_count();
  auto r = legacy_client(t.rec, port, 1 << 20);
  ASSERT_TRUE(r.ok) << r.error << "\n" << rec.log();
  EXPECT_EQ(backend_of_last(from), "10.99.3.6:9443");
  const auto failed = events_since(rec, "backend_failed", from);
  ASSERT_EQ(failed.size(), 1u) << rec.log();
  EXPECT_EQ(json_field(failed[0], "backend"), "10.99.3.2:9443") << failed[0];
  from = rec.proc().stderr_line_count();
  r = legacy_client(t.rec, port, 1 << 20);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(backend_of_last(from), "10.99.3.6:9443");
  EXPECT_LE(events_since(rec, "backend_failed", from).size(), 1u) << rec.log();
  EXPECT_EQ(echo2->bytes_echoed(), 2u * (1 << 20));

  // 3. It comes back; once the back-off has passed (1 s, 2 s if retried meanwhile)
  //    new connections move back to it.
  m1 = mgmt_gateway(dir, t.mgmt1, pki.mgmt01, "mgmt01.example.local", "10.99.3.2:9443", echo1->port());
  ASSERT_TRUE(m1->wait_ready()) << m1->log();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  std::string backend;
  int tries = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    from = rec.proc().stderr_line_count();
    r = legacy_client(t.rec, port, 64 * 1024);
    ASSERT_TRUE(r.ok) << r.error << "\n" << rec.log();
    ++tries;
    backend = backend_of_last(from);
    if (backend == "10.99.3.2:9443") break;
    std::this_thread::sleep_for(250ms);
  }
  EXPECT_EQ(backend, "10.99.3.2:9443") << "never moved back after " << tries << " tries:\n" << rec.log();
  // And it stays there.
  from = rec.proc().stderr_line_count();
  r = legacy_client(t.rec, port, 8 << 20);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(backend_of_last(from), "10.99.3.2:9443");
  EXPECT_TRUE(events_since(rec, "backend_failed", from).empty()) << rec.log();

  rec.proc().kill();
  m1->proc().kill();
  m2->proc().kill();
}

}  // namespace
}  // namespace vmsgate::test
