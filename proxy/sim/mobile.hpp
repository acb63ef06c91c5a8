#pragma once
// A simulated mobile server: HTTP with a long MJPEG stream, the way phones get
// video from it.
//
// GET /video.mjpeg?camera=N answers multipart/x-mixed-replace (boundary "vmsframe");
// each part is "image/jpeg" with a Content-Length and holds one frame (frame.hpp) in
// place of a JPEG picture, paced at the bitrate, until the client goes away.
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
};

// Binds and starts serving on `ctx`; returns the bound endpoint.
tcp::endpoint start_mobile(net::io_context& ctx, const mobile_options& opts);

}  // namespace vmsgate::sim
