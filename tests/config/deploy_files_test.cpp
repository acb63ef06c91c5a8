// The shipped deployment files keep their secrets and admin ports guarded (issue
// 32, finding 8): read as data, since CI has no Docker engine or cluster.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

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

// `systemd-analyze verify` of deploy/NAME... copied side by side into a fresh
// directory (the built binary in place of the installed one): its exit status
// and what it printed. Unknown keys are only warned of, so the words count too.
std::pair<int, std::string> verify_units(const std::vector<std::string>& names) {
  const std::string dir = ::testing::TempDir() + "vmsgate-units-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::string args;
  for (const auto& name : names) {
    std::string text = text_of(src + "/deploy/" + name);
    for (std::size_t at; (at = text.find("/usr/local/bin/vmsgate")) != std::string::npos;)
      text.replace(at, std::string("/usr/local/bin/vmsgate").size(), VMSGATE_BINARY);
    std::ofstream(dir + "/" + name) << text;
    args += " " + dir + "/" + name;
  }
  std::string out;
  FILE* p = ::popen(("systemd-analyze verify" + args + " 2>&1").c_str(), "r");
  char buf[512];
  while (p != nullptr && std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = p != nullptr ? ::pclose(p) : -1;
  std::filesystem::remove_all(dir);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Issue 29: `pki renew` once a day from a timer; a oneshot that may write only
// the pki directory and reloads the gateway, never restarts it.
TEST(DeployFiles, PkiRenewTimerRunsDailyAndItsServiceVerifies) {
  const std::string service = text_of(src + "/deploy/vmsgate-pki-renew.service");
  EXPECT_NE(service.find("\nType=oneshot\n"), std::string::npos);
  EXPECT_NE(service.find("\nExecStart=/usr/local/bin/vmsgate pki renew --dir /etc/vmsgate/pki --within 30d\n"),
            std::string::npos);
  EXPECT_NE(service.find("\nProtectSystem=strict\n"), std::string::npos);
  EXPECT_NE(service.find("\nReadWritePaths=/etc/vmsgate/pki\n"), std::string::npos);
  EXPECT_NE(service.find("\nExecStartPost=-/bin/systemctl reload vmsgate.service\n"), std::string::npos);
  EXPECT_NE(service.find("\nLimitCORE=0\n"), std::string::npos);
  std::istringstream lines(service);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("Exec", 0) == 0) {
      EXPECT_EQ(line.find("restart"), std::string::npos) << line;
    }
  const std::string timer = text_of(src + "/deploy/vmsgate-pki-renew.timer");
  for (const char* want : {"\nOnCalendar=daily\n", "\nRandomizedDelaySec=1h\n", "\nPersistent=true\n",
                           "\nWantedBy=timers.target\n"})
    EXPECT_NE(timer.find(want), std::string::npos) << want;
  ASSERT_EQ(std::system("command -v systemd-analyze >/dev/null"), 0) << "systemd-analyze (Debian: systemd) is missing";
  const auto [rc, out] = verify_units({"vmsgate-pki-renew.service", "vmsgate-pki-renew.timer"});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "");
}

// Issue 27: the Kubernetes manifests, checked with no cluster. Every key of every
// document must be one the kind defines (tests/config/data/k8s-schema.yaml): a
// misspelt key is what a client-side check would have caught.
std::vector<std::string> unknown_fields(const YAML::Node& doc, const YAML::Node& schema, const std::string& path) {
  std::vector<std::string> out;
  if (schema.IsScalar() && schema.as<std::string>() == "*") return out;
  if (schema.IsNull()) {
    if (!doc.IsScalar()) out.push_back(path + " should be a single value");
    return out;
  }
  if (schema.IsSequence()) {
    if (!doc.IsSequence()) {
      out.push_back(path + " should be a list");
      return out;
    }
    for (std::size_t i = 0; i < doc.size(); ++i) {
      auto more = unknown_fields(doc[i], schema[0], path + "[" + std::to_string(i) + "]");
      out.insert(out.end(), more.begin(), more.end());
    }
    return out;
  }
  if (!doc.IsMap()) {
    out.push_back(path + " should be a map");
    return out;
  }
  for (const auto& kv : doc) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node sub = schema[key];
    if (!sub.IsDefined()) {
      out.push_back(path + "." + key + " is not a field of this kind");
      continue;
    }
    auto more = unknown_fields(kv.second, sub, path + "." + key);
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

TEST(DeployFiles, KubernetesManifestsUseOnlyKnownFields) {
  const YAML::Node schema = YAML::LoadFile(src + "/tests/config/data/k8s-schema.yaml");
  int documents = 0;
  std::set<std::string> kinds;
  for (const auto& entry : std::filesystem::directory_iterator(src + "/deploy/k8s")) {
    if (entry.path().extension() != ".yaml") continue;
    for (const YAML::Node& doc : YAML::LoadAllFromFile(entry.path().string())) {
      if (!doc.IsMap()) continue;
      const std::string kind = doc["kind"].as<std::string>("");
      ASSERT_TRUE(schema[kind].IsDefined()) << entry.path() << ": kind " << kind << " has no schema";
      for (const auto& problem : unknown_fields(doc, schema[kind], kind))
        ADD_FAILURE() << entry.path().filename() << ": " << problem;
      if (kind != "Kustomization") {
        EXPECT_TRUE(doc["metadata"]["name"].IsDefined()) << entry.path();
      }
      kinds.insert(kind);
      ++documents;
    }
  }
  for (const char* k : {"Deployment", "Service", "ConfigMap", "NetworkPolicy", "PodDisruptionBudget", "Certificate",
                        "ServiceMonitor", "PrometheusRule"})
    EXPECT_TRUE(kinds.contains(k)) << "no " << k << " in deploy/k8s";
  EXPECT_GE(documents, 12);
  // The checker itself catches a misspelt key.
  const YAML::Node typo = YAML::Load("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selectr: {}}\n");
  EXPECT_EQ(unknown_fields(typo, schema["Service"], "Service").size(), 1u);
}

TEST(DeployFiles, KubernetesIsWiredForCertManagerLiveReloadAndMonitoring) {
  const YAML::Node map = YAML::LoadFile(src + "/deploy/k8s/configmap.yaml");
  const YAML::Node cfg = YAML::Load(map["data"]["vmsgate.yaml"].as<std::string>());
  EXPECT_TRUE(cfg["reload"]["watch"].as<bool>()) << "a renewed Secret must be picked up without a rollout";
  EXPECT_EQ(cfg["routes"][0]["cert"].as<std::string>(), "/etc/vmsgate/pki/tls.crt");
  EXPECT_EQ(cfg["routes"][0]["key"].as<std::string>(), "/etc/vmsgate/pki/tls.key");
  EXPECT_EQ(cfg["roles"]["recording"]["ca"].as<std::string>(), "/etc/vmsgate/pki/ca.crt");
  const auto certs = YAML::LoadAllFromFile(src + "/deploy/k8s/certificate.yaml");
  const YAML::Node deployment = YAML::LoadFile(src + "/deploy/k8s/deployment.yaml");
  std::string secret;
  for (const auto& v : deployment["spec"]["template"]["spec"]["volumes"])
    if (v["name"].as<std::string>() == "pki") secret = v["secret"]["secretName"].as<std::string>();
  bool written = false;
  for (const auto& d : certs) {
    if (d["kind"].as<std::string>() != "Certificate") continue;
    written = d["spec"]["secretName"].as<std::string>() == secret;
    EXPECT_EQ(d["spec"]["privateKey"]["algorithm"].as<std::string>(), "RSA");
  }
  EXPECT_TRUE(written) << "the Certificate does not write the Secret the pods mount (" << secret << ")";
  const YAML::Node container = deployment["spec"]["template"]["spec"]["containers"][0];
  EXPECT_TRUE(container["lifecycle"]["preStop"].IsDefined());
  EXPECT_TRUE(container["resources"]["requests"].IsDefined());
  EXPECT_TRUE(container["resources"]["limits"].IsDefined());

  // The PrometheusRule is the alert file, regenerated: never stale.
  const std::string fresh = ::testing::TempDir() + "prometheusrule-" + std::to_string(::getpid()) + ".yaml";
  ASSERT_EQ(std::system(("bash " + src + "/deploy/k8s/gen-prometheusrule.sh " + fresh).c_str()), 0);
  EXPECT_EQ(text_of(fresh), text_of(src + "/deploy/k8s/prometheusrule.yaml"))
      << "deploy/k8s/prometheusrule.yaml is stale: run bash deploy/k8s/gen-prometheusrule.sh";
  EXPECT_EQ(YAML::LoadFile(fresh)["spec"]["groups"].size(),
            YAML::LoadFile(src + "/deploy/prometheus/vmsgate-alerts.yml")["groups"].size());
  std::remove(fresh.c_str());

  // Offline, kustomize renders every listed manifest (no cluster needed).
  ASSERT_EQ(std::system("command -v kubectl >/dev/null"), 0) << "kubectl missing (Debian: kubernetes-client)";
  EXPECT_EQ(std::system(("kubectl kustomize " + src + "/deploy/k8s >/dev/null").c_str()), 0);
}

}  // namespace
