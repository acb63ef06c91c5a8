#include "demo/sim/mobile.hpp"

#include <chrono>
#include <fstream>
#include <memory>

#include "demo/sim/accept.hpp"
#include "demo/sim/frame.hpp"
#include "demo/sim/wire.hpp"
#include "proxy/common/log.hpp"

namespace vmsgate::sim {
namespace {

using options_ptr = std::shared_ptr<const mobile_options>;

std::string html_escaped(std::string_view s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// The page-info file as <dt>/<dd> pairs; nothing when there is none.
std::string page_info_html(const std::string& file) {
  std::string out;
  if (file.empty()) return out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto value = line.find_first_not_of(' ', colon + 1);
    out += "<dt>" + html_escaped(line.substr(0, colon)) + "</dt><dd>" +
           html_escaped(value == std::string::npos ? "" : line.substr(value)) + "</dd>";
  }
  return out;
}

constexpr std::string_view page_style =
    "body{background:#111;color:#eee;font:15px sans-serif;margin:16px}"
    "h1{font-size:20px;margin:0 0 8px}dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;"
    "margin:0 0 12px;color:#bbb}dt{color:#888}dd{margin:0}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:12px}"
    "figure{margin:0}img{width:100%;aspect-ratio:16/9;background:#222;display:block}"
    "figcaption{font-size:13px;color:#999;margin-top:4px}pre{color:#777;font-size:12px}";

// Reports each picture's decoded size in #status (what a headless test reads), and
// opens a stream again when it fails: after a server restart the page recovers.
constexpr std::string_view page_script =
    "const via=document.getElementById('via');"
    "via.textContent=location.protocol==='https:'?'over TLS from '+location.host"
    ":'plain HTTP from '+location.host+' (not through the gateway)';"
    "function report(){document.getElementById('status').textContent=[...document.images]"
    ".map(i=>i.id+' '+i.naturalWidth+'x'+i.naturalHeight).join('\\n');}"
    "setInterval(report,200);report();"
    "for(const img of document.images)img.onerror=()=>setTimeout(()=>{"
    "img.src=img.src.split('&t=')[0]+'&t='+Date.now();},1000);";

net::awaitable<void> stream_mjpeg(tcp::socket& sock, std::uint32_t camera, options_ptr o) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=" +
                           std::string(mjpeg_boundary) + "\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
  const bool ok = co_await write_text(sock, head);
  if (!ok) co_return;
  const frame_spec spec{o->name, camera, o->fps, frame_size(o->bitrate, o->fps)};
  std::vector<std::uint8_t> frame;
  const auto interval = std::chrono::microseconds(1'000'000 / std::max(1u, o->fps));
  net::steady_timer timer(sock.get_executor());
  auto due = std::chrono::steady_clock::now();
  for (std::uint64_t seq = live_seq_now(o->fps);; ++seq) {
    build_frame(frame, spec, seq);
    const std::string part_head = "--" + std::string(mjpeg_boundary) +
                                  "\r\nContent-Type: image/jpeg\r\nContent-Length: " + std::to_string(frame.size()) +
                                  "\r\n\r\n";
    const std::array<net::const_buffer, 3> part{net::buffer(part_head), net::buffer(frame), net::buffer("\r\n", 2)};
    auto [ec, n] = co_await net::async_write(sock, part, use_nothrow);
    if (ec) co_return;
    due += interval;
    timer.expires_at(due);
    co_await timer.async_wait(use_nothrow);
  }
}

net::awaitable<void> serve_client(tcp::socket sock, options_ptr o) {
  std::string buffer;
  for (;;) {
    const auto head = co_await read_message(sock, buffer);
    if (!head) co_return;
    const std::string target = http_get_target(*head);
    if (target.starts_with("/video.mjpeg")) {
      const auto camera = query_number(target, "camera", 1);
      if (camera && *camera >= 1 && *camera <= o->cameras) {
        co_await stream_mjpeg(sock, static_cast<std::uint32_t>(*camera), o);
        co_return;
      }
    }
    std::string response = target == "/healthz" ? http_response(200, "text/plain", "ok\n")
                           : target == "/"      ? http_response(200, "text/html; charset=utf-8", mobile_page(*o))
                                                : http_response(404, "text/plain", "not found\n");
    const bool ok = co_await write_text(sock, std::move(response));
    if (!ok) co_return;
  }
}

}  // namespace

std::string mobile_page(const mobile_options& o) {
  std::string cameras;
  for (unsigned c = 1; c <= o.cameras; ++c) {
    const std::string n = std::to_string(c);
    cameras += "<figure><img id=\"camera-" + n + "\" src=\"/video.mjpeg?camera=" + n + "\" alt=\"camera " + n +
               "\"><figcaption>camera " + n + "</figcaption></figure>";
  }
  const std::string name = html_escaped(o.name);
  return "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width\"><title>" + name + " cameras</title><style>" +
         std::string(page_style) + "</style></head><body><h1>" + std::to_string(o.cameras) + " cameras on " + name +
         "</h1><dl><dt>server</dt><dd>" + name + "</dd><dt>connection</dt><dd id=\"via\"></dd>" +
         page_info_html(o.page_info) + "</dl><div class=\"grid\">" + cameras +
         "</div><pre id=\"status\"></pre><script>" + std::string(page_script) + "</script></body></html>\n";
}

tcp::endpoint start_mobile(net::io_context& ctx, const mobile_options& opts) {
  auto o = std::make_shared<const mobile_options>(opts);
  const auto where = start_accepting(ctx, listen_on(ctx, o->listen), o, &serve_client);
  log::line(log::level::info, "simulator_listening").field("server", o->name).field("kind", "mobile")
      .field("address", endpoint_label(where));
  return where;
}

}  // namespace vmsgate::sim
