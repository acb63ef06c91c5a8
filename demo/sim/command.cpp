#include "demo/sim/command.hpp"

#include <csignal>
#include <cstdio>
#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include "demo/sim/client.hpp"
#include "demo/sim/management.hpp"
#include "demo/sim/mobile.hpp"
#include "demo/sim/recording.hpp"
#include "demo/sim/wire.hpp"
#include "proxy/common/log.hpp"

namespace vmsgate::sim {
namespace {

constexpr const char* usage_text =
    "usage:\n"
    "  vmsgate simulate recording [--name N] [--listen IP:PORT] [--cameras N] [--bitrate BIT/S] [--fps N]\n"
    "                             [--management IP:PORT]\n"
    "  vmsgate simulate management [--name N] [--http IP:PORT] [--link IP:PORT]\n"
    "  vmsgate simulate mobile [--name N] [--listen IP:PORT] [--bitrate BIT/S] [--fps N] [--cameras N]\n"
    "                          [--page-info FILE]\n"
    "  vmsgate simulate client live|playback|mjpeg|link|get --connect IP:PORT\n"
    "                  [--tls --ca FILE [--sni NAME] [--cert FILE --key FILE]] [--camera N] [--seconds N]\n"
    "                  [--from SEQ] [--frames N] [--speed N] [--name N] [--beats N] [--path /x]\n";

// "--key value" pairs and bare "--flag"s.
struct args {
  std::map<std::string, std::string> values;
  std::set<std::string> flags;

  std::string get(const std::string& key, std::string fallback) const {
    const auto it = values.find(key);
    return it == values.end() ? fallback : it->second;
  }
  std::uint64_t number(const std::string& key, std::uint64_t fallback) const {
    const auto it = values.find(key);
    return it == values.end() ? fallback : std::stoull(it->second);
  }
};

args parse_args(int argc, char** argv) {
  static const std::set<std::string> flag_names = {"--tls"};
  args a;
  for (int i = 0; i < argc; ++i) {
    const std::string key = argv[i];
    if (flag_names.contains(key)) a.flags.insert(key);
    else if (key.starts_with("--") && i + 1 < argc) a.values[key] = argv[++i];
    else throw std::invalid_argument("unexpected argument '" + key + "'");
  }
  return a;
}

// Runs the servers started on `ctx` until SIGINT or SIGTERM.
int serve_until_signal(net::io_context& ctx) {
  net::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&ctx](const error_code&, int) { ctx.stop(); });
  ctx.run();
  return 0;
}

int run_server(const std::string& kind, const args& a) {
  net::io_context ctx(1);
  if (kind == "recording") {
    recording_options o;
    o.name = a.get("--name", o.name);
    o.listen = a.get("--listen", o.listen);
    o.cameras = static_cast<unsigned>(a.number("--cameras", o.cameras));
    o.bitrate = a.number("--bitrate", o.bitrate);
    o.fps = static_cast<unsigned>(a.number("--fps", o.fps));
    o.management = a.get("--management", "");
    start_recording(ctx, o);
  } else if (kind == "management") {
    management_options o;
    o.name = a.get("--name", o.name);
    o.http_listen = a.get("--http", o.http_listen);
    o.link_listen = a.get("--link", o.link_listen);
    start_management(ctx, o);
  } else {
    mobile_options o;
    o.name = a.get("--name", o.name);
    o.listen = a.get("--listen", o.listen);
    o.bitrate = a.number("--bitrate", o.bitrate);
    o.fps = static_cast<unsigned>(a.number("--fps", o.fps));
    o.cameras = static_cast<unsigned>(a.number("--cameras", o.cameras));
    o.page_info = a.get("--page-info", "");
    start_mobile(ctx, o);
  }
  return serve_until_signal(ctx);
}

check_result run_client(const std::string& what, const args& a) {
  client_options o;
  o.connect = a.get("--connect", "");
  o.tls = a.flags.contains("--tls");
  o.ca_file = a.get("--ca", "");
  o.sni = a.get("--sni", "");
  o.cert_file = a.get("--cert", "");
  o.key_file = a.get("--key", "");
  const auto camera = static_cast<std::uint32_t>(a.number("--camera", 1));
  const std::chrono::milliseconds duration(a.number("--seconds", 5) * 1000);
  if (what == "live") return check_live(o, camera, duration);
  if (what == "playback")
    return check_playback(o, camera, a.number("--from", 0), a.number("--frames", 250),
                          static_cast<unsigned>(a.number("--speed", 0)));
  if (what == "mjpeg") return check_mjpeg(o, camera, duration);
  if (what == "link") return check_link(o, a.get("--name", "rec-sim"), static_cast<unsigned>(a.number("--beats", 3)));
  if (what == "get") return http_fetch(o, a.get("--path", "/"));
  throw std::invalid_argument("unknown client check '" + what + "'");
}

// The client's verdict as one JSON line on stdout, the form scripts and tests read;
// then the body of a GET, if any.
int report(const std::string& what, const check_result& r) {
  std::string line = "{\"check\":\"" + what + "\",\"ok\":" + (r.ok ? "true" : "false") + ",\"server\":\"";
  log::append_json_escaped(line, r.server);
  line += "\",\"frames\":" + std::to_string(r.frames) + ",\"bytes\":" + std::to_string(r.bytes) +
          ",\"status\":" + std::to_string(r.status) + ",\"tls_version\":\"" + r.tls_version + "\",\"error\":\"";
  log::append_json_escaped(line, r.error);
  line += "\"}\n";
  // The body of a GET follows as written, for a reader or a script to look into.
  line += r.body;
  std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
  return r.ok ? 0 : 1;
}

}  // namespace

int simulate_main(int argc, char** argv) {
  if (argc < 1) {
    std::fputs(usage_text, stderr);
    return 2;
  }
  const std::string kind = argv[0];
  try {
    if (kind == "recording" || kind == "management" || kind == "mobile") return run_server(kind, parse_args(argc - 1, argv + 1));
    if (kind == "client" && argc >= 2) return report(argv[1], run_client(argv[1], parse_args(argc - 2, argv + 2)));
  } catch (const listen_error& e) {
    std::fprintf(stderr, "vmsgate simulate %s: %s\n", kind.c_str(), e.what());
    return 1;
  } catch (const boost::system::system_error& e) {
    std::fprintf(stderr, "vmsgate simulate %s: %s\n", kind.c_str(), e.code().message().c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vmsgate simulate %s: %s\n%s", kind.c_str(), e.what(), usage_text);
    return 2;
  }
  std::fputs(usage_text, stderr);
  return 2;
}

}  // namespace vmsgate::sim
