#include "demo/sim/management.hpp"

#include <map>
#include <memory>

#include "demo/sim/accept.hpp"
#include "demo/sim/wire.hpp"
#include "proxy/common/log.hpp"

namespace vmsgate::sim {
namespace {

// What the management server knows of its recording servers. Every coroutine runs
// on the one io_context thread, so the registry needs no lock.
struct recorder {
  bool connected = false;
  std::uint64_t heartbeats = 0;
};
struct registry {
  std::string name;
  std::map<std::string, recorder> recorders;
};
using registry_ptr = std::shared_ptr<registry>;

std::string status_json(const registry& reg) {
  std::string out = "{\"server\":\"" + reg.name + "\",\"recorders\":[";
  bool first = true;
  for (const auto& [name, r] : reg.recorders) {
    out += (first ? "" : ",") + std::string("{\"name\":\"") + name + "\",\"connected\":" +
           (r.connected ? "true" : "false") + ",\"heartbeats\":" + std::to_string(r.heartbeats) + "}";
    first = false;
  }
  return out + "]}\n";
}

net::awaitable<void> serve_http(tcp::socket sock, registry_ptr reg) {
  std::string buffer;
  for (;;) {
    const auto head = co_await read_message(sock, buffer);
    if (!head) co_return;
    const std::string target = http_get_target(*head);
    std::string response;
    if (target == "/api/status") response = http_response(200, "application/json", status_json(*reg));
    else if (target == "/healthz") response = http_response(200, "text/plain", "ok\n");
    else if (target == "/") response = http_response(200, "text/plain", "management server " + reg->name + "\n");
    else response = http_response(404, "text/plain", "not found\n");
    const bool ok = co_await write_text(sock, std::move(response));
    if (!ok) co_return;
  }
}

net::awaitable<void> serve_link(tcp::socket sock, registry_ptr reg) {
  std::string buffer;
  const auto hello = co_await read_message(sock, buffer);
  if (!hello) co_return;
  const std::string name = xml_value(*hello, "server").value_or("unknown");
  recorder& r = reg->recorders[name];
  r.connected = true;
  log::line(log::level::info, "link_hello").field("server", reg->name).field("recorder", name);
  for (std::uint64_t expected = 1;; ++expected) {
    const auto beat = co_await read_message(sock, buffer);
    if (!beat || xml_number(*beat, "seq", 0) != expected) break;
    ++r.heartbeats;
    const bool ok = co_await write_text(sock, "<ack><seq>" + std::to_string(expected) + "</seq></ack>\r\n\r\n");
    if (!ok) break;
  }
  reg->recorders[name].connected = false;
  log::line(log::level::info, "link_closed").field("server", reg->name).field("recorder", name);
}

}  // namespace

management_endpoints start_management(net::io_context& ctx, const management_options& opts) {
  auto reg = std::make_shared<registry>();
  reg->name = opts.name;
  // Both ports are bound before either serves, so a link port that cannot be bound
  // leaves no HTTP server running behind the exception.
  tcp::acceptor http = listen_on(ctx, opts.http_listen);
  tcp::acceptor link = listen_on(ctx, opts.link_listen);
  const management_endpoints where{start_accepting(ctx, std::move(http), reg, &serve_http),
                                   start_accepting(ctx, std::move(link), reg, &serve_link)};
  log::line(log::level::info, "simulator_listening").field("server", opts.name).field("kind", "management")
      .field("http", endpoint_label(where.http)).field("link", endpoint_label(where.link));
  return where;
}

}  // namespace vmsgate::sim
