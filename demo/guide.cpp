// What `vmsgate demo` prints once the site is up: a line per route to try it by
// hand, with the CA to trust, and where the metrics and logs are.

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "demo/site.hpp"

namespace vmsgate::demo {

namespace {

void line(const std::string& s) { std::printf("%s\n", s.c_str()); }

std::string p(int port) { return std::to_string(port); }

}  // namespace

void print_guide(const std::filesystem::path& dir, const site_ports& ports, bool uplink, pid_t rec01_pid) {
  const std::string ca = (dir / "pki/ca.pem").string();
  const std::string pki = (dir / "pki").string();
  char self[4096] = {};
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  const std::string exe = n > 0 ? std::string(self, static_cast<std::size_t>(n)) : "vmsgate";
  const std::string page = "https://mobile.example.local:" + p(ports.mobile_tls) + "/";
  line("open first: " + page + "   every camera live, through the mobile gateway over TLS");
  line("  (or https://127.0.0.1:" + p(ports.mobile_tls) + "/) once the browser trusts the demo CA, e.g. for Chromium:");
  line("  certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n 'vmsgate demo CA' -i " + ca);
  line("  chromium --host-resolver-rules='MAP mobile.example.local 127.0.0.1' " + page + "\n");
  line("vmsgate demo: a simulated site in " + dir.string() + " (removed on exit)");
  line("CA to trust: " + ca + "\n");
  line("management server API, via TLS (gateway management-web :" + p(ports.mgmt_web_tls) + " -> plain :" +
       p(ports.mgmt_http) + "):");
  line("  curl --cacert " + ca + " --resolve mgmt01.example.local:" + p(ports.mgmt_web_tls) +
       ":127.0.0.1 https://mgmt01.example.local:" + p(ports.mgmt_web_tls) + "/api/status");
  line("management link, mutual TLS (management-link :" + p(ports.mgmt_link_tls) + ", recording certificates only):");
  line("  openssl s_client -connect 127.0.0.1:" + p(ports.mgmt_link_tls) + " -servername mgmt01.example.local -CAfile " +
       ca + " -cert " + pki + "/rec01.example.local.pem -key " + pki + "/rec01.example.local.key </dev/null");
  if (uplink)
    line("  rec01 keeps its link open through the recording gateway's originate route management-uplink :" +
         p(ports.uplink) + " (plain in, mutual TLS out); /api/status above lists it");
  else
    line("  (originate mode is not in this build: rec01 keeps its link to the management server in plain)");
  line("\nrecording server, live video via TLS (recording-live :" + p(ports.rec_tls) + " -> rec01 :" + p(ports.rec01) +
       ", failover rec02 :" + p(ports.rec02) + "):");
  line("  " + exe + " simulate client live --connect 127.0.0.1:" + p(ports.rec_tls) + " --tls --ca " + ca +
       " --sni rec01.example.local --camera 1 --seconds 10");
  line("  printf '<methodcall><requestid>1</requestid><methodname>live</methodname><cameraid>2</cameraid></methodcall>"
       "\\r\\n\\r\\n' | openssl s_client -quiet -connect 127.0.0.1:" + p(ports.rec_tls) +
       " -servername rec01.example.local -verify_hostname rec01.example.local -verify_return_error -CAfile " + ca +
       " | head -c 5000000 | wc -c");
  line("  watch a camera: ffplay -tls_verify 1 -ca_file " + ca + " -f mjpeg 'https://127.0.0.1:" + p(ports.rec_tls) +
       "/live?camera=1'");
  line("  failover: kill " + std::to_string(rec01_pid) +
       " (rec01), connect again: the reply, and the picture, name rec02");
  line("\nmobile server, the page above and its MJPEG streams via TLS (mobile :" + p(ports.mobile_tls) + " -> plain :" +
       p(ports.mobile) + "):");
  line("  curl --cacert " + ca + " --resolve mobile.example.local:" + p(ports.mobile_tls) +
       ":127.0.0.1 --max-time 5 -o /dev/null -w '%{size_download} bytes\\n' 'https://mobile.example.local:" +
       p(ports.mobile_tls) + "/video.mjpeg?camera=1'   (a stream: curl stops it after 5 s)");
  line("\nmetrics (Prometheus text), health and readiness of each gateway:");
  line("  curl http://127.0.0.1:" + p(ports.admin_mgmt) + "/metrics    management gateway");
  line("  curl http://127.0.0.1:" + p(ports.admin_rec) + "/metrics    recording gateway");
  line("  curl http://127.0.0.1:" + p(ports.admin_mobile) + "/metrics    mobile gateway      (also /healthz, /readyz)");
  line("logs (JSON lines): " + (dir / "logs").string() + "/*.log, configs: " + dir.string() + "/*.yaml");
  line("\nCtrl-C stops everything the demo started.");
  std::fflush(stdout);
}

}  // namespace vmsgate::demo
