// The HTTP and link clients: the mobile server's MJPEG stream, the management link
// and plain GETs, each checked as it arrives.

#include <charconv>

#include "demo/sim/client.hpp"
#include "demo/sim/client_conn.hpp"
#include "demo/sim/frame.hpp"
#include "demo/sim/mobile.hpp"
#include "demo/sim/wire.hpp"

namespace vmsgate::sim {
namespace {

using std::chrono::steady_clock;
using namespace detail;

int status_of(std::string_view head) {
  int status = 0;
  if (head.size() > 12 && head.starts_with("HTTP/1.")) std::from_chars(head.data() + 9, head.data() + 12, status);
  return status;
}

std::size_t content_length(std::string_view head) {
  const auto at = head.find("Content-Length: ");
  std::size_t n = 0;
  if (at != std::string_view::npos) std::from_chars(head.data() + at + 16, head.data() + head.size(), n);
  return n;
}

std::span<const std::uint8_t> bytes_of(std::string_view s, std::size_t n) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), n};
}

net::awaitable<bool> send_get(conn& c, std::string target) {
  const bool ok = co_await c.write("GET " + target + " HTTP/1.1\r\nHost: vmsgate-sim\r\n\r\n");
  co_return ok;
}

// Reads one multipart part (head, body, CR LF) into the checker; false on error.
net::awaitable<bool> check_part(conn& c, job_ptr j, frame_checker& check) {
  const auto part = co_await c.read_head();
  if (!part || !part->starts_with("--" + std::string(mjpeg_boundary))) {
    j->r.error = "bad multipart boundary after " + std::to_string(check.frames()) + " frames";
    co_return false;
  }
  const std::size_t n = content_length(*part);
  const bool filled = co_await c.fill(n + 2);
  if (!filled) { j->r.error = "stream ended inside a part"; co_return false; }
  const bool good = check.feed(bytes_of(c.pending, n)) && check.complete();
  c.pending.erase(0, n + 2);
  j->r.frames = check.frames();
  j->r.bytes = check.bytes();
  if (!good) j->r.error = check.error().empty() ? "part is not exactly one frame" : check.error();
  co_return good;
}

net::awaitable<void> mjpeg_task(std::shared_ptr<conn> c, job_ptr j, std::uint32_t camera,
                                steady_clock::duration duration) {
  const bool opened = co_await open_into(*c, j);
  if (!opened) co_return;
  const bool sent = co_await send_get(*c, "/video.mjpeg?camera=" + std::to_string(camera));
  if (!sent) { j->r.error = "request not sent"; co_return; }
  const auto head = co_await c->read_head();
  j->r.status = head ? status_of(*head) : 0;
  if (j->r.status != 200) { j->r.error = "HTTP status " + std::to_string(j->r.status); co_return; }
  frame_checker check(camera);
  const auto until = steady_clock::now() + duration;
  while (steady_clock::now() < until) {
    const bool good = co_await check_part(*c, j, check);
    if (!good) co_return;
  }
  j->r.ok = check.frames() > 0;
}

net::awaitable<void> link_task(std::shared_ptr<conn> c, job_ptr j, std::string name, unsigned beats) {
  const bool opened = co_await open_into(*c, j);
  if (!opened) co_return;
  const bool hello = co_await c->write("<hello><server>" + name + "</server></hello>\r\n\r\n");
  if (!hello) { j->r.error = "hello not sent"; co_return; }
  for (unsigned seq = 1; seq <= beats; ++seq) {
    const bool sent = co_await c->write("<heartbeat><seq>" + std::to_string(seq) + "</seq></heartbeat>\r\n\r\n");
    if (!sent) { j->r.error = "heartbeat not sent"; co_return; }
    const auto ack = co_await c->read_head();
    if (!ack || xml_number(*ack, "seq", 0) != seq) { j->r.error = "heartbeat " + std::to_string(seq) + " not acknowledged"; co_return; }
    j->r.frames = seq;
  }
  j->r.ok = true;
}

net::awaitable<void> fetch_task(std::shared_ptr<conn> c, job_ptr j, std::string target) {
  const bool opened = co_await open_into(*c, j);
  if (!opened) co_return;
  const bool sent = co_await send_get(*c, std::move(target));
  if (!sent) { j->r.error = "request not sent"; co_return; }
  const auto head = co_await c->read_head();
  if (!head) { j->r.error = "no response"; co_return; }
  j->r.status = status_of(*head);
  const std::size_t n = content_length(*head);
  const bool filled = co_await c->fill(n);
  if (!filled) { j->r.error = "body cut short"; co_return; }
  j->r.body = c->pending.substr(0, n);
  j->r.bytes = n;
  j->r.ok = j->r.status == 200;
  if (!j->r.ok) j->r.error = "HTTP status " + std::to_string(j->r.status);
}

}  // namespace

check_result check_mjpeg(const client_options& o, std::uint32_t camera, std::chrono::milliseconds duration) {
  net::io_context ctx;
  auto j = std::make_shared<job>();
  auto c = std::make_shared<conn>(ctx, o);
  return run_job(ctx, j, mjpeg_task(c, j, camera, duration), duration + o.timeout);
}

check_result check_link(const client_options& o, const std::string& name, unsigned beats) {
  net::io_context ctx;
  auto j = std::make_shared<job>();
  auto c = std::make_shared<conn>(ctx, o);
  return run_job(ctx, j, link_task(c, j, name, beats), o.timeout * 2);
}

check_result http_fetch(const client_options& o, const std::string& target) {
  net::io_context ctx;
  auto j = std::make_shared<job>();
  auto c = std::make_shared<conn>(ctx, o);
  return run_job(ctx, j, fetch_task(c, j, target), o.timeout);
}

}  // namespace vmsgate::sim
