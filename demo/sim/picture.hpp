#pragma once
// The picture a simulated camera sends: a test card (colour bars, a marker that moves
// with every frame, and the camera, the server's name, the time and the frame
// number written on it), encoded as a JPEG with libjpeg-turbo.
//
// Drawing and encoding a card costs about half a millisecond (bench/picture_bench.cpp),
// so pictures are shared: every stream that shows the same frame of the same camera
// of the same server gets the same bytes from a small process-wide cache, and a live
// camera watched by a hundred clients is encoded once per frame, as a real camera is.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vmsgate::sim {

inline constexpr int card_width = 640;
inline constexpr int card_height = 360;

struct card {
  std::string server;   // printed on the card: tells a failover apart
  std::uint32_t camera = 1;
  std::uint64_t seq = 0;  // the frame number; seq / fps is the time shown (seconds since 1970)
  unsigned fps = 25;
};

// The JPEG (SOI .. EOI) of `c`. Throws std::runtime_error if the encoder fails.
std::shared_ptr<const std::vector<std::uint8_t>> test_card_jpeg(const card& c);

// The card's RGB pixels, card_width * card_height * 3 bytes (what test_card_jpeg
// encodes; tests compare a decoded picture with it).
std::vector<std::uint8_t> render_test_card(const card& c);

}  // namespace vmsgate::sim
