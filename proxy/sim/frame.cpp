#include "proxy/sim/frame.hpp"

#include <algorithm>

namespace vmsgate::sim {
namespace {

constexpr std::uint32_t fnv_offset = 2166136261u;
constexpr std::uint32_t fnv_prime = 16777619u;
constexpr std::uint8_t magic[4] = {'V', 'M', 'S', 'F'};

std::uint32_t fnv(std::uint32_t h, std::span<const std::uint8_t> bytes) {
  for (const std::uint8_t b : bytes) h = (h ^ b) * fnv_prime;
  return h;
}

void put_be(std::uint8_t* p, std::uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}

std::uint64_t get_be(const std::uint8_t* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

// The checksum starts over the header fields, so a frame moved to another camera
// or sequence slot fails as surely as one with a flipped payload bit.
std::uint32_t header_sum(const std::uint8_t* header) { return fnv(fnv_offset, {header + 4, 16}); }

}  // namespace

std::size_t frame_payload_size(std::uint64_t bitrate, unsigned fps) {
  const std::uint64_t per_frame = bitrate / 8 / std::max(1u, fps);
  return per_frame > frame_header_size ? per_frame - frame_header_size : 1;
}

std::vector<std::uint8_t> make_frame(std::uint32_t camera, std::uint64_t seq, std::size_t payload_size) {
  std::vector<std::uint8_t> frame(frame_header_size + payload_size);
  refill_frame(frame, camera, seq);
  return frame;
}

void refill_frame(std::vector<std::uint8_t>& frame, std::uint32_t camera, std::uint64_t seq) {
  std::uint8_t* h = frame.data();
  const std::size_t length = frame.size() - frame_header_size;
  std::copy(std::begin(magic), std::end(magic), h);
  put_be(h + 4, camera, 4);
  put_be(h + 8, seq, 8);
  put_be(h + 16, length, 4);
  // A cheap generator (xorshift) makes the payload differ per camera and frame, as
  // compressed video does, so a stale buffer resent by mistake does not pass.
  std::uint64_t x = (seq + 1) * 0x9E3779B97F4A7C15ull ^ camera;
  std::uint8_t* p = h + frame_header_size;
  for (std::size_t i = 0; i < length; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = static_cast<std::uint8_t>(x);
  }
  put_be(h + 20, fnv(header_sum(h), {p, length}), 4);
}

bool frame_checker::feed(std::span<const std::uint8_t> bytes) {
  bytes_ += bytes.size();
  while (!bytes.empty() && error_.empty()) {
    if (state_ == state::header) {
      const std::size_t n = std::min(bytes.size(), frame_header_size - have_);
      std::copy_n(bytes.data(), n, header_ + have_);
      have_ += n;
      bytes = bytes.subspan(n);
      if (have_ == frame_header_size && !take_header()) break;
      continue;
    }
    const std::size_t n = std::min(bytes.size(), payload_left_);
    sum_ = fnv(sum_, bytes.first(n));
    payload_left_ -= n;
    bytes = bytes.subspan(n);
    if (payload_left_ == 0 && !finish_frame()) break;
  }
  return error_.empty();
}

bool frame_checker::take_header() {
  if (!std::equal(std::begin(magic), std::end(magic), header_))
    return fail("bad frame magic at byte " + std::to_string(bytes_));
  const auto camera = static_cast<std::uint32_t>(get_be(header_ + 4, 4));
  if (camera != camera_) return fail("frame of camera " + std::to_string(camera) + " on camera " + std::to_string(camera_));
  seq_ = get_be(header_ + 8, 8);
  if (frames_ > 0 && seq_ != next_seq_)
    return fail("frame " + std::to_string(seq_) + " where " + std::to_string(next_seq_) + " was due");
  payload_left_ = static_cast<std::size_t>(get_be(header_ + 16, 4));
  expected_sum_ = static_cast<std::uint32_t>(get_be(header_ + 20, 4));
  sum_ = header_sum(header_);
  state_ = state::payload;
  return payload_left_ > 0 || finish_frame();
}

bool frame_checker::finish_frame() {
  if (sum_ != expected_sum_) return fail("checksum mismatch in frame " + std::to_string(seq_));
  if (frames_ == 0) first_seq_ = seq_;
  ++frames_;
  next_seq_ = seq_ + 1;
  have_ = 0;
  state_ = state::header;
  return true;
}

bool frame_checker::fail(std::string why) {
  error_ = std::move(why);
  return false;
}

}  // namespace vmsgate::sim
