#include "proxy/sim/mobile.hpp"

#include <chrono>
#include <memory>

#include "proxy/common/log.hpp"
#include "proxy/sim/accept.hpp"
#include "proxy/sim/frame.hpp"
#include "proxy/sim/management.hpp"
#include "proxy/sim/wire.hpp"

namespace vmsgate::sim {
namespace {

using options_ptr = std::shared_ptr<const mobile_options>;

std::uint32_t camera_of(std::string_view target) {
  const auto at = target.find("camera=");
  if (at == std::string_view::npos) return 1;
  return static_cast<std::uint32_t>(xml_number("<c>" + std::string(target.substr(at + 7)) + "</c>", "c", 1));
}

net::awaitable<void> stream_mjpeg(tcp::socket& sock, std::uint32_t camera, options_ptr o) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=" +
                           std::string(mjpeg_boundary) + "\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
  const bool ok = co_await write_text(sock, head);
  if (!ok) co_return;
  auto frame = make_frame(camera, 0, frame_payload_size(o->bitrate, o->fps));
  const std::string part_head = "--" + std::string(mjpeg_boundary) + "\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                                std::to_string(frame.size()) + "\r\n\r\n";
  const auto interval = std::chrono::microseconds(1'000'000 / std::max(1u, o->fps));
  net::steady_timer timer(sock.get_executor());
  auto due = std::chrono::steady_clock::now();
  for (std::uint64_t seq = 0;; ++seq) {
    refill_frame(frame, camera, seq);
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
      co_await stream_mjpeg(sock, camera_of(target), o);
      co_return;
    }
    const bool ok = co_await write_text(sock, target == "/healthz" ? http_response(200, "text/plain", "ok\n")
                                                                   : http_response(404, "text/plain", "not found\n"));
    if (!ok) co_return;
  }
}

}  // namespace

tcp::endpoint start_mobile(net::io_context& ctx, const mobile_options& opts) {
  auto o = std::make_shared<const mobile_options>(opts);
  const auto where = start_accepting(ctx, listen_on(ctx, o->listen), o, &serve_client);
  log::line(log::level::info, "simulator_listening").field("server", o->name).field("kind", "mobile")
      .field("address", endpoint_label(where));
  return where;
}

}  // namespace vmsgate::sim
