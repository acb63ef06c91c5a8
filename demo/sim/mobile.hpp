#pragma once
// A simulated mobile server: HTTP with a long MJPEG stream, the way phones get
// video from it, and a page that shows every camera in a browser.
//
// GET /video.mjpeg?camera=N answers multipart/x-mixed-replace (boundary "vmsframe");
// each part is "image/jpeg" with a Content-Length and holds one frame (frame.hpp), a
// real JPEG test card, paced at the bitrate, until the client goes away.
// GET / answers a page with every camera as a live <img>, and a status line per
// picture (its decoded size) that a person and a headless browser test can read.
// GET /healthz answers "ok".

#include <cstdint>
#include <string>

#include "proxy/common/asio.hpp"

namespace vmsgate::sim {

inline constexpr std::string_view mjpeg_boundary = "vmsframe";

struct mobile_options {
  std::string name = "mobile01";
  std::string listen = "127.0.0.1:18081";
  std::uint64_t bitrate = 3'000'000;  // bit/s: phones get a transcoded, lighter stream
  unsigned fps = 10;
  unsigned cameras = 4;               // camera ids 1..cameras exist; the page shows them all
  // Optional: a file of "key: value" lines the page shows under its title, read at
  // each request (the demo writes there the route and TLS version it checked).
  std::string page_info;
};

// Binds and starts serving on `ctx`; returns the bound endpoint.
tcp::endpoint start_mobile(net::io_context& ctx, const mobile_options& opts);

// The page served at "/" (exposed for tests).
std::string mobile_page(const mobile_options& opts);

}  // namespace vmsgate::sim
