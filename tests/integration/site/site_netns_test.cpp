// The whole site in network namespaces: a management host, a recording host, a
// failover recording host and a client host on 10.99.0.0/24, each gateway on its
// own host in front of its simulated legacy server. Streams from the client host
// are byte-checked by the simulator's client; the recording host's link to the
// management host runs over mutual TLS (when originate mode is built); stopping the
// recording server moves clients to the failover; metrics are scraped from each.

#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "proxy/config/features.hpp"
#include "proxy/pki/pki.hpp"
#include "tests/integration/site/site_netns.hpp"
#include "tests/support/gateway.hpp"

namespace vmsgate::test {
namespace {

constexpr const char* mgmt_ip = "10.99.0.1";
constexpr const char* rec_ip = "10.99.0.2";
constexpr const char* rec2_ip = "10.99.0.3";
constexpr const char* client_ip = "10.99.0.10";

std::string q(const std::string& s) { return "\"" + s + "\""; }

void make_site_pki(const std::filesystem::path& dir) {
  pki::init_options ca;
  ca.dir = dir.string();
  ca.bits = 2048;
  pki::init_ca(ca);
  const auto leaf = [&](const char* role, const char* host, const char* addr, bool client) {
    pki::issue_options o;
    o.dir = dir.string();
    o.role = role;
    o.hosts = {host};
    o.ips = {addr};
    o.client = client;
    pki::issue(o);
  };
  leaf("management", "mgmt01.example.local", mgmt_ip, false);
  leaf("recording", "rec01.example.local", rec_ip, true);
  leaf("recording", "rec02.example.local", rec2_ip, false);
}

std::string head_yaml(const std::string& admin, const std::string& pki) {
  return "admin:\n  listen: " + q(admin) + "\nworkers: 1\nlimits:\n  connect_timeout: 1s\n  drain_timeout: 2s\n"
         "roles:\n  management:\n    ca: " + pki + "/ca.pem\n  recording:\n    ca: " + pki + "/ca.pem\nroutes:\n";
}

std::string terminate(const std::string& name, const std::string& role, const std::string& listen,
                      const std::string& host, const std::string& pki, const std::string& backends) {
  return "  - name: " + name + "\n    role: " + role + "\n    mode: terminate\n    listen: " + q(listen) +
         "\n    server_names: [" + host + "]\n    cert: " + pki + "/" + host + ".pem\n    key: " + pki + "/" + host +
         ".key\n    backends: [" + backends + "]\n";
}

class SiteNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!can_make_namespaces()) FAIL() << "needs root and ip netns (CI runs as root)";
    site_ = std::make_unique<netns_site>();
    mgmt_ = site_->add_host("mgmt", 1);
    rec_ = site_->add_host("rec", 2);
    rec2_ = site_->add_host("rec2", 3);
    client_ = site_->add_host("client", 10);
    pki_ = (dir_.path() / "pki").string();
    std::filesystem::create_directories(pki_);
    make_site_pki(pki_);
  }

  // Starts `vmsgate run` in `ns` with `yaml` and waits for it to be ready.
  process& gateway_on(const std::string& ns, const std::string& name, const std::string& yaml) {
    const auto path = dir_.write_file(name + ".yaml", yaml);
    procs_.push_back(site_->start(ns, {VMSGATE_BINARY, "run", "--config", path.string()}));
    const auto ready = procs_.back()->wait_for_line("\"event\":\"ready\"", 20s);
    EXPECT_TRUE(ready) << name << ":\n" << procs_.back()->stderr_text();
    return *procs_.back();
  }

  process& simulator_on(const std::string& ns, std::vector<std::string> args) {
    args.insert(args.begin(), {VMSGATE_BINARY, "simulate"});
    procs_.push_back(site_->start(ns, std::move(args)));
    EXPECT_TRUE(procs_.back()->wait_for_line("simulator_listening", 10s)) << procs_.back()->stderr_text();
    return *procs_.back();
  }

  // A check by the simulator's client on the client host; its JSON verdict line.
  std::string client_check(const std::string& args, std::chrono::milliseconds timeout = 30s) {
    const auto r = site_->run(client_, shell_quote(VMSGATE_BINARY) + " simulate client " + args, timeout);
    return r.out + r.err;
  }

  std::string tls_to(const std::string& ip, int port, const std::string& sni) {
    return "--connect " + ip + ":" + std::to_string(port) + " --tls --ca " + pki_ + "/ca.pem --sni " + sni;
  }

  // GET from the client host; "STATUS BODY".
  std::string scrape(const std::string& ip, const std::string& path) {
    const auto r = site_->run(client_, "curl -s -w '\\n%{http_code}' http://" + ip + ":9473" + path, 10s);
    return r.out;
  }

  void start_site();

  temp_dir dir_{"vmsgate-site"};
  std::unique_ptr<netns_site> site_;  // after dir_: namespaces go before the files
  std::vector<std::unique_ptr<process>> procs_;  // last: stopped first
  std::string mgmt_, rec_, rec2_, client_, pki_;
};

void SiteNetns::start_site() {
  simulator_on(mgmt_, {"management", "--http", "127.0.0.1:8080", "--link", "127.0.0.1:9001"});
  gateway_on(mgmt_, "mgmt", head_yaml(std::string(mgmt_ip) + ":9473", pki_) +
      terminate("management-web", "management", std::string(mgmt_ip) + ":443", "mgmt01.example.local", pki_,
                q("127.0.0.1:8080")) +
      terminate("management-link", "management", std::string(mgmt_ip) + ":9443", "mgmt01.example.local", pki_,
                q("127.0.0.1:9001")) + "    client_auth: required\n    peer_roles: [recording]\n");
  // The failover recording server listens on the site network: the recording
  // gateway reaches it there when its own server is down.
  simulator_on(rec2_, {"recording", "--name", "rec02", "--listen", "0.0.0.0:17563"});
  gateway_on(rec2_, "rec2", head_yaml(std::string(rec2_ip) + ":9473", pki_) +
      terminate("recording-live", "recording", std::string(rec2_ip) + ":7563", "rec02.example.local", pki_,
                q("127.0.0.1:17563")));
  std::string rec_yaml = head_yaml(std::string(rec_ip) + ":9473", pki_) +
      terminate("recording-live", "recording", std::string(rec_ip) + ":7563", "rec01.example.local", pki_,
                q("127.0.0.1:17563") + ", " + q(std::string(rec2_ip) + ":17563"));
  std::vector<std::string> rec_sim = {"recording", "--name", "rec01", "--listen", "127.0.0.1:17563"};
  if (config::originate_supported) {
    rec_yaml += "  - name: management-uplink\n    role: recording\n    mode: originate\n"
                "    listen: \"127.0.0.1:9000\"\n    cert: " + pki_ + "/rec01.example.local.pem\n    key: " + pki_ +
                "/rec01.example.local.key\n    peer_roles: [management]\n    backends:\n"
                "      - address: \"" + std::string(mgmt_ip) + ":9443\"\n        server_name: mgmt01.example.local\n";
    rec_sim.insert(rec_sim.end(), {"--management", "127.0.0.1:9000"});
  }
  gateway_on(rec_, "rec", rec_yaml);
  simulator_on(rec_, rec_sim);
}

bool ok_line(const std::string& out) { return out.find("\"ok\":true") != std::string::npos; }

TEST_F(SiteNetns, StreamsUplinkFailoverAndMetrics) {
  start_site();
  ASSERT_FALSE(HasFailure());
  const std::string rec_tls = tls_to(rec_ip, 7563, "rec01.example.local");

  const auto live = client_check("live " + rec_tls + " --camera 2 --seconds 3");
  EXPECT_TRUE(ok_line(live)) << live;
  EXPECT_NE(live.find("\"server\":\"rec01\""), std::string::npos) << live;
  const auto playback = client_check("playback " + rec_tls + " --camera 5 --from 1000 --frames 400 --speed 0");
  EXPECT_TRUE(ok_line(playback)) << playback;
  const auto direct2 = client_check("live " + tls_to(rec2_ip, 7563, "rec02.example.local") + " --seconds 1");
  EXPECT_TRUE(ok_line(direct2) && direct2.find("rec02") != std::string::npos) << direct2;
  // A client host without a recording certificate cannot hold the management link.
  const auto intruder = client_check("link " + tls_to(mgmt_ip, 9443, "mgmt01.example.local"));
  EXPECT_FALSE(ok_line(intruder)) << intruder;

  if (config::originate_supported) {
    // rec01 reaches the management host only through its gateway's mutual TLS uplink.
    std::string status;
    for (int i = 0; i < 50 && status.find("\"connected\":true") == std::string::npos; ++i) {
      std::this_thread::sleep_for(200ms);
      status = client_check("get " + tls_to(mgmt_ip, 443, "mgmt01.example.local") + " --path /api/status");
    }
    EXPECT_NE(status.find("\"connected\":true"), std::string::npos) << status;
  }

  // A long stream is cut when the recording server stops; the next one is served
  // by the failover through the same gateway.
  auto streaming = site_->start(client_, {VMSGATE_BINARY, "simulate", "client", "live", "--connect",
                                          std::string(rec_ip) + ":7563", "--tls", "--ca", pki_ + "/ca.pem", "--sni",
                                          "rec01.example.local", "--seconds", "30"});
  std::this_thread::sleep_for(1500ms);
  procs_.back()->send_signal(SIGKILL);  // the recording server on the recording host
  const auto cut = streaming->wait_for_exit(20s);
  ASSERT_TRUE(cut);
  EXPECT_EQ(cut->code, 1) << streaming->stdout_text();
  const auto moved = client_check("live " + rec_tls + " --camera 2 --seconds 2");
  EXPECT_TRUE(ok_line(moved)) << moved;
  EXPECT_NE(moved.find("\"server\":\"rec02\""), std::string::npos) << moved;

  for (const char* host : {mgmt_ip, rec_ip, rec2_ip}) {
    const auto metrics = scrape(host, "/metrics");
    if (metrics.ends_with("503")) {  // metrics not built yet: health at least
      EXPECT_TRUE(scrape(host, "/healthz").ends_with("200")) << host;
      continue;
    }
    EXPECT_TRUE(metrics.ends_with("200")) << host << ": " << metrics;
    EXPECT_NE(metrics.find("vmsgate_connections_total{route="), std::string::npos) << host;
  }
  const auto rec_metrics = scrape(rec_ip, "/metrics");
  if (rec_metrics.ends_with("200")) {
    EXPECT_NE(rec_metrics.find("vmsgate_backend_failovers_total{route=\"recording-live\"} "), std::string::npos);
  }
  (void)client_ip;
}

}  // namespace
}  // namespace vmsgate::test
