// The shipped deployment files keep their secrets and admin ports guarded (issue
// 32, finding 8): read as data, since CI has no Docker engine or cluster.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace {

const std::string src = VMSGATE_SOURCE_DIR;

std::string text_of(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(DeployFiles, ComposeKeepsTheCaKeyInThePkiJobAndGatewaysReadOnly) {
  const YAML::Node compose = YAML::LoadFile(src + "/docker/docker-compose.yml");
  const YAML::Node services = compose["services"];
  ASSERT_TRUE(services.IsMap());
  int gateways = 0;
  for (const auto& kv : services) {
    const std::string name = kv.first.as<std::string>();
    const YAML::Node volumes = kv.second["volumes"];
    bool ca = false;
    bool pki = false;
    bool pki_read_only = false;
    if (volumes)
      for (const auto& v : volumes) {
        const std::string mount = v.as<std::string>();
        if (mount.rfind("ca:", 0) == 0) ca = true;
        if (mount.rfind("pki:", 0) == 0) {
          pki = true;
          pki_read_only = mount.size() > 3 && mount.compare(mount.size() - 3, 3, ":ro") == 0;
        }
      }
    if (name == "pki") {
      EXPECT_TRUE(ca) << "the pki job makes the CA in the ca volume";
      continue;
    }
    EXPECT_FALSE(ca) << name << " mounts the volume holding ca.key";
    if (name.rfind("gw-", 0) == 0) {
      ++gateways;
      EXPECT_TRUE(pki && pki_read_only) << name << " must mount pki read-only";
    } else {
      EXPECT_FALSE(pki) << name << " has no use for the keys";
    }
  }
  EXPECT_EQ(gateways, 4);
  for (const char* ui : {"prometheus", "grafana"}) {
    ASSERT_TRUE(services[ui]["ports"]) << ui;
    for (const auto& p : services[ui]["ports"])
      EXPECT_EQ(p.as<std::string>().rfind("127.0.0.1:", 0), 0u) << ui << " published beyond loopback: " << p;
  }
}

TEST(DeployFiles, ImageLeavesConfigAndKeysToRoot) {
  const std::string dockerfile = text_of(src + "/docker/Dockerfile");
  EXPECT_EQ(dockerfile.find("chown -R vmsgate"), std::string::npos) << "the runtime user must not own /etc/vmsgate";
  EXPECT_NE(dockerfile.find("-o root -g root /etc/vmsgate"), std::string::npos);
  EXPECT_NE(dockerfile.find("USER vmsgate"), std::string::npos);
}

TEST(DeployFiles, KubernetesHasNoTokenAndANetworkPolicyOnTheAdminPort) {
  const YAML::Node deployment = YAML::LoadFile(src + "/deploy/k8s/deployment.yaml");
  const YAML::Node pod = deployment["spec"]["template"]["spec"];
  ASSERT_TRUE(pod["automountServiceAccountToken"]);
  EXPECT_FALSE(pod["automountServiceAccountToken"].as<bool>());
  const YAML::Node policy = YAML::LoadFile(src + "/deploy/k8s/networkpolicy.yaml");
  EXPECT_EQ(policy["kind"].as<std::string>(), "NetworkPolicy");
  bool admin_open_to_all = false;
  bool admin_to_prometheus = false;
  for (const auto& rule : policy["spec"]["ingress"])
    for (const auto& port : rule["ports"])
      if (port["port"].as<std::string>() == "admin") {
        if (!rule["from"]) admin_open_to_all = true;
        else admin_to_prometheus = true;
      }
  EXPECT_FALSE(admin_open_to_all);
  EXPECT_TRUE(admin_to_prometheus);
  // The policy selects the Deployment's pods.
  const YAML::Node want = deployment["spec"]["selector"]["matchLabels"];
  const YAML::Node got = policy["spec"]["podSelector"]["matchLabels"];
  for (const auto& kv : want)
    EXPECT_EQ(got[kv.first.as<std::string>()].as<std::string>(), kv.second.as<std::string>());
}

// The systemd unit is Type=notify with a watchdog (issue 27), and systemd itself
// accepts it (with the built binary in place of the installed one).
TEST(DeployFiles, SystemdUnitIsTypeNotifyAndVerifies) {
  const std::string unit = text_of(src + "/deploy/vmsgate.service");
  EXPECT_NE(unit.find("\nType=notify\n"), std::string::npos);
  EXPECT_NE(unit.find("\nWatchdogSec="), std::string::npos);
  EXPECT_NE(unit.find("\nLimitCORE=0\n"), std::string::npos);
  ASSERT_EQ(std::system("command -v systemd-analyze >/dev/null"), 0) << "systemd-analyze (Debian: systemd) is missing";
  const std::string copy = ::testing::TempDir() + "vmsgate-unit-" + std::to_string(::getpid()) + ".service";
  std::string text = unit;
  for (std::size_t at; (at = text.find("/usr/local/bin/vmsgate")) != std::string::npos;)
    text.replace(at, std::string("/usr/local/bin/vmsgate").size(), VMSGATE_BINARY);
  std::ofstream(copy) << text;
  const int rc = std::system(("systemd-analyze verify " + copy + " 2>&1").c_str());
  std::remove(copy.c_str());
  EXPECT_EQ(rc, 0);
}

}  // namespace
