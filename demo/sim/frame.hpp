#pragma once
// The simulated video frame: what the recording and mobile simulators send and what
// their clients check. Each frame is a whole JPEG of a test card (picture.hpp) that
// also carries its camera, a sequence number and a checksum, so a receiver notices a
// lost, repeated, reordered or corrupted frame anywhere on the path (gateway
// included) without keeping a copy of the stream, and a browser or ffmpeg shows it.
//
// Layout: SOI, then an APP11 segment "VMSF" with camera (8), seq (16), the frame's
// whole length (8) and checksum (8) as hex digits, then a COM segment
// "vmsgate-sim server=NAME camera=N frame=SEQ", then APP15 padding up to the
// stream's frame size, then the picture's own segments up to its EOI. The checksum is
// FNV-1a over the header's camera, seq and length digits and every byte after the
// header. Outside the picture's own segments, no byte is 0xFF but a marker's
// (digits, text, padding and segment lengths all avoid it), and the picture's
// entropy-coded data stuffs its own, so a reader that cuts a stream at SOI and EOI
// markers cuts it right.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace vmsgate::sim {

inline constexpr std::size_t frame_header_size = 50;

// Bytes per frame for a bitrate (bit/s) at `fps` frames per second. A frame whose
// picture is larger is sent whole, larger.
std::size_t frame_size(std::uint64_t bitrate, unsigned fps);

// The frame a live camera is at now: frames counted since 1970 at `fps`. A client
// that reconnects sees the sequence carry on rather than restart, as from a real
// camera, and every viewer of a camera gets the same frame (and picture) at once.
std::uint64_t live_seq_now(unsigned fps);

struct frame_spec {
  std::string server = "sim";  // printed on the picture and named in the COM segment
  std::uint32_t camera = 1;
  unsigned fps = 25;           // with seq, the time on the picture
  std::size_t size = 0;        // padded up to this many bytes
};

// Builds the frame of `seq` into `out`, reusing its allocation.
void build_frame(std::vector<std::uint8_t>& out, const frame_spec& spec, std::uint64_t seq);
std::vector<std::uint8_t> make_frame(const frame_spec& spec, std::uint64_t seq);

// What the COM segment of a whole frame says; nullopt when it has none.
struct frame_label {
  std::string server;
  std::uint32_t camera = 0;
  std::uint64_t seq = 0;
};
std::optional<frame_label> read_frame_label(std::span<const std::uint8_t> frame);

// Checks a byte stream of frames fed in arbitrary pieces. The first frame may have
// any seq (a live stream starts where the camera is); each next one must follow it.
class frame_checker {
 public:
  explicit frame_checker(std::uint32_t camera) : camera_(camera) {}

  // Consumes bytes; false once the stream is found bad (error() says where).
  bool feed(std::span<const std::uint8_t> bytes);
  // True when the stream ended on a frame boundary with no error.
  bool complete() const { return error_.empty() && state_ == state::header && have_ == 0; }

  std::uint64_t frames() const { return frames_; }
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t first_seq() const { return first_seq_; }
  std::uint64_t last_seq() const { return next_seq_ - 1; }
  const std::string& error() const { return error_; }

 private:
  enum class state { header, payload };
  bool take_header();
  bool finish_frame();
  bool fail(std::string why);

  std::uint32_t camera_;
  state state_ = state::header;
  std::uint8_t header_[frame_header_size] = {};
  std::size_t have_ = 0;  // header bytes gathered so far
  std::uint64_t seq_ = 0;
  std::uint32_t expected_sum_ = 0;
  std::uint32_t sum_ = 0;
  std::size_t payload_left_ = 0;
  std::uint16_t tail_ = 0;  // the last two bytes of the frame so far: its EOI at the end
  std::uint64_t next_seq_ = 0;
  std::uint64_t first_seq_ = 0;
  std::uint64_t frames_ = 0;
  std::uint64_t bytes_ = 0;
  std::string error_;
};

}  // namespace vmsgate::sim
