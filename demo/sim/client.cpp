#include "demo/sim/client.hpp"

#include <array>

#include "demo/sim/client_conn.hpp"
#include "demo/sim/frame.hpp"
#include "demo/sim/mobile.hpp"
#include "demo/sim/recording.hpp"
#include "demo/sim/wire.hpp"

namespace vmsgate::sim {

namespace detail {

std::string conn::setup_tls() {
  error_code ec;
  tls_ctx_.set_verify_mode(ssl::verify_peer, ec);
  if (opts_.ca_file.empty()) return "a CA file is required with TLS";
  if (tls_ctx_.load_verify_file(opts_.ca_file, ec); ec) return "cannot load CA " + opts_.ca_file;
  if (!opts_.cert_file.empty()) {
    if (tls_ctx_.use_certificate_chain_file(opts_.cert_file, ec); ec) return "cannot load " + opts_.cert_file;
    if (tls_ctx_.use_private_key_file(opts_.key_file, ssl::context::pem, ec); ec) return "cannot load " + opts_.key_file;
  }
  const std::string host = opts_.sni.empty() ? parse_endpoint(opts_.connect).address().to_string() : opts_.sni;
  if (!opts_.sni.empty()) SSL_set_tlsext_host_name(stream_.native_handle(), opts_.sni.c_str());
  stream_.set_verify_callback(ssl::host_name_verification(host));
  return {};
}

net::awaitable<std::string> conn::open() {
  tcp::endpoint target;
  try {
    target = parse_endpoint(opts_.connect);
  } catch (const std::exception& e) {
    co_return e.what();
  }
  auto [ec] = co_await stream_.next_layer().async_connect(target, use_nothrow);
  if (ec) co_return "connect " + opts_.connect + ": " + ec.message();
  if (!opts_.tls) co_return std::string();
  const std::string bad = setup_tls();
  if (!bad.empty()) co_return bad;
  auto [hec] = co_await stream_.async_handshake(ssl::stream_base::client, use_nothrow);
  if (hec) co_return "TLS handshake: " + hec.message();
  co_return std::string();
}

net::awaitable<bool> conn::write(std::string text) {
  error_code ec;
  if (opts_.tls) std::tie(ec, std::ignore) = co_await net::async_write(stream_, net::buffer(text), use_nothrow);
  else std::tie(ec, std::ignore) = co_await net::async_write(stream_.next_layer(), net::buffer(text), use_nothrow);
  co_return !ec;
}

net::awaitable<bool> conn::read_more() {
  std::array<char, 16384> chunk;
  error_code ec;
  std::size_t n = 0;
  if (opts_.tls) std::tie(ec, n) = co_await stream_.async_read_some(net::buffer(chunk), use_nothrow);
  else std::tie(ec, n) = co_await stream_.next_layer().async_read_some(net::buffer(chunk), use_nothrow);
  pending.append(chunk.data(), n);
  co_return !ec || n > 0;
}

net::awaitable<std::optional<std::string>> conn::read_head() {
  for (;;) {
    const auto end = pending.find(end_of_message);
    if (end != std::string::npos) {
      std::string head = pending.substr(0, end);
      pending.erase(0, end + end_of_message.size());
      co_return head;
    }
    const bool more = co_await read_more();
    if (!more || pending.size() > 65536) co_return std::nullopt;
  }
}

net::awaitable<bool> conn::fill(std::size_t n) {
  while (pending.size() < n) {
    const bool more = co_await read_more();
    if (!more) co_return false;
  }
  co_return true;
}


net::awaitable<bool> open_into(conn& c, job_ptr j) {
  j->r.error = co_await c.open();
  j->r.tls_version = c.tls_version();
  co_return j->r.error.empty();
}

check_result run_job(net::io_context& ctx, job_ptr j, net::awaitable<void> task,
                     std::chrono::steady_clock::duration limit) {
  net::co_spawn(ctx, std::move(task), [j](std::exception_ptr e) {
    j->done = true;
    if (e && j->r.error.empty()) j->r.error = "client failed";
  });
  ctx.run_for(limit);
  if (!j->done && j->r.error.empty()) j->r.error = "timed out (stalled stream or no answer)";
  if (!j->done) j->r.ok = false;
  return j->r;
}

}  // namespace detail

namespace {

using std::chrono::steady_clock;
using namespace detail;

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Feeds the checker from the connection until `until` passes or `frames` frames
// (if non-zero) have been checked.
net::awaitable<void> drain_frames(conn& c, job_ptr j, std::uint32_t camera, steady_clock::time_point until,
                                  std::uint64_t frames) {
  frame_checker check(camera);
  for (;;) {
    const bool good = check.feed(bytes_of(c.pending));
    j->r.bytes = check.bytes();
    j->r.frames = check.frames();
    c.pending.clear();
    if (!good) { j->r.error = check.error(); co_return; }
    if (frames != 0 && check.frames() >= frames) break;
    if (frames == 0 && steady_clock::now() >= until) break;
    const bool more = co_await c.read_more();
    if (!more) { j->r.error = "stream ended after " + std::to_string(check.frames()) + " frames"; co_return; }
  }
  j->r.ok = frames == 0 ? check.frames() > 0 : (check.complete() && check.frames() == frames);
  if (!j->r.ok) j->r.error = "expected " + std::to_string(frames) + " frames, got " + std::to_string(check.frames());
}

net::awaitable<void> recording_task(std::shared_ptr<conn> c, job_ptr j, std::string request, std::uint32_t camera,
                                    steady_clock::duration duration, std::uint64_t frames) {
  const bool opened = co_await open_into(*c, j);
  if (!opened) co_return;
  const bool sent = co_await c->write(std::move(request));
  if (!sent) { j->r.error = "request not sent"; co_return; }
  const auto head = co_await c->read_head();
  if (!head) { j->r.error = "no reply header"; co_return; }
  j->r.server = xml_value(*head, "server").value_or("");
  const std::string result = xml_value(*head, "result").value_or("");
  if (result != "ok") { j->r.error = "server refused: " + result; co_return; }
  co_await drain_frames(*c, j, camera, steady_clock::now() + duration, frames);
}

}  // namespace

check_result check_live(const client_options& o, std::uint32_t camera, std::chrono::milliseconds duration) {
  net::io_context ctx;
  auto j = std::make_shared<job>();
  auto c = std::make_shared<conn>(ctx, o);
  return detail::run_job(ctx, j, recording_task(c, j, live_request(1, camera), camera, duration, 0),
                         duration + o.timeout);
}

check_result check_playback(const client_options& o, std::uint32_t camera, std::uint64_t from_seq,
                            std::uint64_t frames, unsigned speed) {
  net::io_context ctx;
  auto j = std::make_shared<job>();
  auto c = std::make_shared<conn>(ctx, o);
  auto task = recording_task(c, j, playback_request(1, camera, from_seq, frames, speed), camera, {}, frames);
  const auto limit = speed == 0 ? o.timeout * 4 : o.timeout + std::chrono::seconds(frames / speed / 5 + 1);
  return detail::run_job(ctx, j, std::move(task), limit);
}

}  // namespace vmsgate::sim
