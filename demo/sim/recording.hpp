#pragma once
// A simulated recording server: the ImageServer-like protocol on a raw TCP port,
// and the long-lived plain link it keeps open to its management server.
//
// A client sends one XML request ended by CR LF CR LF:
//   <methodcall><requestid>1</requestid><methodname>live</methodname>
//     <cameraid>3</cameraid></methodcall>
//   <methodcall>...<methodname>playback</methodname><cameraid>3</cameraid>
//     <fromseq>1000</fromseq><frames>250</frames><speed>4</speed></methodcall>
// and gets an XML <methodresponse> header (result, server name, frame size, fps,
// frame count; 0 for live) ended by CR LF CR LF, then frames (see frame.hpp) paced
// at the camera's bitrate: forever for live, `frames` of them for playback (speed 0:
// unpaced), after which the connection takes another request.

#include <cstdint>
#include <string>

#include "proxy/common/asio.hpp"

namespace vmsgate::sim {

struct recording_options {
  std::string name = "rec01";              // reported in every reply: tells a failover apart
  std::string listen = "127.0.0.1:17563";
  unsigned cameras = 16;                   // camera ids 1..cameras exist
  std::uint64_t bitrate = 4'000'000;       // bit/s per camera
  unsigned fps = 25;
  std::string management;                  // "IP:PORT" of the management link; empty: no uplink
};

// Binds the port and starts serving on `ctx` (the uplink too); returns the bound
// endpoint. Throws boost::system::system_error when the port cannot be bound.
tcp::endpoint start_recording(net::io_context& ctx, const recording_options& opts);

// The request a client sends for a live stream / a playback of `frames` frames.
std::string live_request(std::uint32_t request_id, std::uint32_t camera);
std::string playback_request(std::uint32_t request_id, std::uint32_t camera, std::uint64_t from_seq,
                             std::uint64_t frames, unsigned speed);

}  // namespace vmsgate::sim
