#include "demo/sim/recording.hpp"

#include <chrono>
#include <memory>

#include "demo/sim/accept.hpp"
#include "demo/sim/frame.hpp"
#include "demo/sim/wire.hpp"
#include "proxy/common/log.hpp"

namespace vmsgate::sim {
namespace {

using options_ptr = std::shared_ptr<const recording_options>;
using std::chrono::steady_clock;

struct stream_request {
  std::string method;
  std::uint64_t request_id = 0;
  std::uint32_t camera = 0;
  std::uint64_t from_seq = 0;
  std::uint64_t frames = 0;  // 0: live, without end
  unsigned speed = 1;        // playback pace as a multiple of real time; 0: unpaced
};

stream_request parse_request(const std::string& xml) {
  stream_request r;
  r.method = xml_value(xml, "methodname").value_or("");
  r.request_id = xml_number(xml, "requestid", 0);
  r.camera = static_cast<std::uint32_t>(xml_number(xml, "cameraid", 0));
  r.from_seq = xml_number(xml, "fromseq", 0);
  r.frames = r.method == "playback" ? xml_number(xml, "frames", 250) : 0;
  r.speed = static_cast<unsigned>(xml_number(xml, "speed", 1));
  return r;
}

std::string reply(const stream_request& r, const recording_options& o, std::string_view result) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><methodresponse><requestid>" + std::to_string(r.request_id) +
         "</requestid><methodname>" + r.method + "</methodname><result>" + std::string(result) +
         "</result><server>" + o.name + "</server><cameraid>" + std::to_string(r.camera) + "</cameraid><framesize>" +
         std::to_string(frame_size(o.bitrate, o.fps)) + "</framesize><fps>" + std::to_string(o.fps) +
         "</fps><frames>" + std::to_string(r.frames) + "</frames></methodresponse>" + std::string(end_of_message);
}

// Sends frames at absolute deadlines, so the bitrate holds however long a write takes.
net::awaitable<bool> send_frames(tcp::socket& sock, stream_request r, options_ptr o) {
  const frame_spec spec{o->name, r.camera, o->fps, frame_size(o->bitrate, o->fps)};
  std::vector<std::uint8_t> frame;
  const auto interval = std::chrono::microseconds(1'000'000 / std::max(1u, o->fps * std::max(1u, r.speed)));
  net::steady_timer timer(sock.get_executor());
  auto due = steady_clock::now();
  for (std::uint64_t i = 0; r.frames == 0 || i < r.frames; ++i) {
    build_frame(frame, spec, r.from_seq + i);
    auto [ec, n] = co_await net::async_write(sock, net::buffer(frame), use_nothrow);
    if (ec) co_return false;
    if (r.speed == 0) continue;
    due += interval;
    timer.expires_at(due);
    co_await timer.async_wait(use_nothrow);
  }
  co_return true;
}

// GET /live?camera=N over HTTP: the camera's live frames back to back, which is an
// MJPEG stream as ffmpeg and ffplay read it (`-f mjpeg`). A way to watch a camera
// through the gateway with a stock player; recording clients use the XML request.
net::awaitable<void> serve_http_live(tcp::socket& sock, const std::string& head, options_ptr o) {
  const std::string target = http_get_target(head);
  stream_request r;
  r.method = "live";
  const auto camera = query_number(target, "camera", 1);
  const bool found = target.starts_with("/live") && camera && *camera >= 1 && *camera <= o->cameras;
  if (!found) {
    co_await write_text(sock, http_response(404, "text/plain", "try /live?camera=1 .. " + std::to_string(o->cameras) + "\n"));
    co_return;
  }
  const bool ok = co_await write_text(sock, "HTTP/1.1 200 OK\r\nContent-Type: video/x-motion-jpeg\r\n"
                                            "Cache-Control: no-cache\r\nConnection: close\r\n\r\n");
  if (!ok) co_return;
  r.camera = static_cast<std::uint32_t>(*camera);
  r.from_seq = live_seq_now(o->fps);
  co_await send_frames(sock, r, o);
}

net::awaitable<void> serve_client(tcp::socket sock, options_ptr o) {
  std::string buffer;
  for (;;) {
    const auto message = co_await read_message(sock, buffer);
    if (!message) co_return;
    if (message->starts_with("GET ")) {
      co_await serve_http_live(sock, *message, o);
      co_return;
    }
    stream_request r = parse_request(*message);
    const bool known = r.method == "live" || r.method == "playback";
    const bool camera_ok = r.camera >= 1 && r.camera <= o->cameras;
    const char* result = !known ? "unknown method" : !camera_ok ? "unknown camera" : "ok";
    if (r.method == "live") r.from_seq = live_seq_now(o->fps);
    const bool sent = co_await write_text(sock, reply(r, *o, result));
    if (!sent) co_return;
    if (!known || !camera_ok) continue;
    const bool streamed = co_await send_frames(sock, r, o);
    if (!streamed || r.frames == 0) co_return;
  }
}

// One session of the uplink: hello, then a heartbeat a second, each acknowledged.
net::awaitable<void> uplink_session(tcp::socket& sock, options_ptr o) {
  std::string buffer;
  const bool hello = co_await write_text(sock, "<hello><server>" + o->name + "</server></hello>\r\n\r\n");
  if (!hello) co_return;
  for (std::uint64_t seq = 1;; ++seq) {
    const bool sent = co_await write_text(sock, "<heartbeat><seq>" + std::to_string(seq) + "</seq></heartbeat>\r\n\r\n");
    if (!sent) co_return;
    const auto ack = co_await read_message(sock, buffer);
    if (!ack || xml_number(*ack, "seq", 0) != seq) co_return;
    if (seq == 1) log::line(log::level::info, "uplink_acknowledged").field("server", o->name);
    co_await sleep_for(std::chrono::seconds(1));
  }
}

// Keeps the link to the management server open, reconnecting after a loss, as a
// recording server does for as long as it runs.
net::awaitable<void> uplink_loop(options_ptr o) {
  const auto target = parse_endpoint(o->management);
  for (;;) {
    tcp::socket sock(co_await net::this_coro::executor);
    auto [ec] = co_await sock.async_connect(target, use_nothrow);
    if (!ec) {
      log::line(log::level::info, "uplink_connected").field("server", o->name).field("management", o->management);
      co_await uplink_session(sock, o);
      log::line(log::level::warning, "uplink_lost").field("server", o->name);
    }
    co_await sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace

tcp::endpoint start_recording(net::io_context& ctx, const recording_options& opts) {
  auto o = std::make_shared<const recording_options>(opts);
  const auto where = start_accepting(ctx, listen_on(ctx, o->listen), o, &serve_client);
  if (!o->management.empty()) net::co_spawn(ctx, uplink_loop(o), net::detached);
  log::line(log::level::info, "simulator_listening").field("server", o->name).field("kind", "recording")
      .field("address", endpoint_label(where));
  return where;
}

std::string live_request(std::uint32_t request_id, std::uint32_t camera) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><methodcall><requestid>" + std::to_string(request_id) +
         "</requestid><methodname>live</methodname><cameraid>" + std::to_string(camera) +
         "</cameraid></methodcall>\r\n\r\n";
}

std::string playback_request(std::uint32_t request_id, std::uint32_t camera, std::uint64_t from_seq,
                             std::uint64_t frames, unsigned speed) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><methodcall><requestid>" + std::to_string(request_id) +
         "</requestid><methodname>playback</methodname><cameraid>" + std::to_string(camera) + "</cameraid><fromseq>" +
         std::to_string(from_seq) + "</fromseq><frames>" + std::to_string(frames) + "</frames><speed>" +
         std::to_string(speed) + "</speed></methodcall>\r\n\r\n";
}

}  // namespace vmsgate::sim
