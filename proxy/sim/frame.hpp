#pragma once
// The simulated video frame: what the recording and mobile simulators send and what
// their clients check. Each frame carries its camera, a sequence number and a
// checksum, so a receiver notices a lost, repeated, reordered or corrupted frame
// anywhere on the path (gateway included) without keeping a copy of the stream.
//
// Layout, big-endian: "VMSF" | camera u32 | seq u64 | length u32 | checksum u32 |
// `length` payload bytes. The checksum is FNV-1a over camera, seq, length and payload.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace vmsgate::sim {

inline constexpr std::size_t frame_header_size = 24;

// Payload bytes per frame for a bitrate (bit/s) at `fps` frames per second.
std::size_t frame_payload_size(std::uint64_t bitrate, unsigned fps);

// Builds a frame: header then `payload_size` bytes that depend on camera and seq.
std::vector<std::uint8_t> make_frame(std::uint32_t camera, std::uint64_t seq, std::size_t payload_size);

// Fills `frame` (already make_frame-sized) for another seq, reusing the allocation.
void refill_frame(std::vector<std::uint8_t>& frame, std::uint32_t camera, std::uint64_t seq);

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
  std::uint64_t next_seq_ = 0;
  std::uint64_t first_seq_ = 0;
  std::uint64_t frames_ = 0;
  std::uint64_t bytes_ = 0;
  std::string error_;
};

}  // namespace vmsgate::sim
