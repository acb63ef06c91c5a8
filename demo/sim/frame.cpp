#include "demo/sim/frame.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <string_view>

#include "demo/sim/picture.hpp"

namespace vmsgate::sim {
namespace {

constexpr std::uint32_t fnv_offset = 2166136261u;
constexpr std::uint32_t fnv_prime = 16777619u;
constexpr std::string_view magic = "VMSF";
constexpr std::size_t magic_at = 6, camera_at = 10, seq_at = 18, length_at = 34, sum_at = 42;
constexpr std::uint8_t soi[2] = {0xFF, 0xD8};
constexpr std::uint8_t app11[2] = {0xFF, 0xEB};
constexpr std::uint8_t app15[2] = {0xFF, 0xEF};
constexpr std::uint8_t com[2] = {0xFF, 0xFE};
// A padding segment's length field (which counts itself) holds no 0xFF byte either.
constexpr std::size_t max_padding_body = 0xFEFE - 2;

std::uint32_t fnv(std::uint32_t h, std::span<const std::uint8_t> bytes) {
  for (const std::uint8_t b : bytes) h = (h ^ b) * fnv_prime;
  return h;
}

void put_hex(std::uint8_t* p, std::uint64_t v, int digits) {
  static constexpr char hex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i, v >>= 4) p[i] = static_cast<std::uint8_t>(hex[v & 0xF]);
}

std::optional<std::uint64_t> get_hex(const std::uint8_t* p, int digits) {
  std::uint64_t v = 0;
  const auto* first = reinterpret_cast<const char*>(p);
  const auto [end, ec] = std::from_chars(first, first + digits, v, 16);
  if (ec != std::errc() || end != first + digits) return std::nullopt;
  return v;
}

// The checksum starts over the header fields, so a frame moved to another camera
// or sequence slot fails as surely as one with a flipped payload bit.
std::uint32_t header_sum(const std::uint8_t* header) { return fnv(fnv_offset, {header + camera_at, sum_at - camera_at}); }

// Writes a marker and a segment length for `body` bytes at `p`; returns the end.
std::uint8_t* put_segment_head(std::uint8_t* p, const std::uint8_t (&marker)[2], std::size_t body) {
  p[0] = marker[0];
  p[1] = marker[1];
  p[2] = static_cast<std::uint8_t>((body + 2) >> 8);
  p[3] = static_cast<std::uint8_t>(body + 2);
  return p + 4;
}

std::uint8_t* put_bytes(std::uint8_t* p, const void* bytes, std::size_t n) {
  std::memcpy(p, bytes, n);
  return p + n;
}

std::string printable(std::string_view s) {
  std::string out(s.substr(0, 64));
  for (char& c : out)
    if (c < 0x21 || c > 0x7E) c = '?';
  return out;
}

// Padding that differs per camera and frame, as compressed video does, so a stale
// buffer resent by mistake does not pass; never 0xFF, so it holds no marker. Fills
// up to `n` bytes at `p` (fewer when the rest is too small for a segment); returns
// the end.
std::uint8_t* put_padding(std::uint8_t* p, std::size_t n, std::uint32_t camera, std::uint64_t seq) {
  std::uint64_t x = (seq + 1) * 0x9E3779B97F4A7C15ull ^ camera;
  while (n >= 5) {
    std::size_t body = std::min(n - 4, max_padding_body);
    if (((body + 2) & 0xFF) == 0xFF) --body;
    p = put_segment_head(p, app15, body);
    for (std::size_t i = 0; i < body; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      *p++ = std::min<std::uint8_t>(static_cast<std::uint8_t>(x), 0xFE);
    }
    n -= body + 4;
  }
  return p;
}

}  // namespace

std::size_t frame_size(std::uint64_t bitrate, unsigned fps) {
  // Capped at 64 MiB, far beyond any camera's, so that the length fits its 8 digits.
  return static_cast<std::size_t>(std::min<std::uint64_t>(bitrate / 8 / std::max(1u, fps), 64u << 20));
}

std::uint64_t live_seq_now(unsigned fps) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch()).count();
  return static_cast<std::uint64_t>(ms) * fps / 1000;
}

void build_frame(std::vector<std::uint8_t>& out, const frame_spec& spec, std::uint64_t seq) {
  const auto picture = test_card_jpeg({spec.server, spec.camera, seq, spec.fps});
  const std::string label = "vmsgate-sim server=" + printable(spec.server) + " camera=" + std::to_string(spec.camera) +
                            " frame=" + std::to_string(seq);
  // The picture comes without its own SOI: the frame's opens the whole. The buffer is
  // sized once and written through a pointer; it only shrinks after.
  const std::size_t fixed = frame_header_size + 4 + label.size() + picture->size() - 2;
  const std::size_t padding = spec.size > fixed ? spec.size - fixed : 0;
  out.resize(fixed + padding);
  std::uint8_t* const h = out.data();
  std::uint8_t* p = put_bytes(h, soi, 2);
  p = put_segment_head(p, app11, frame_header_size - 6);
  p = put_bytes(p, magic.data(), magic.size());
  p = h + frame_header_size;
  p = put_segment_head(p, com, label.size());
  p = put_bytes(p, label.data(), label.size());
  p = put_padding(p, padding, spec.camera, seq);
  p = put_bytes(p, picture->data() + 2, picture->size() - 2);
  out.resize(static_cast<std::size_t>(p - h));
  put_hex(h + camera_at, spec.camera, 8);
  put_hex(h + seq_at, seq, 16);
  put_hex(h + length_at, out.size(), 8);
  put_hex(h + sum_at, fnv(header_sum(h), {h + frame_header_size, out.size() - frame_header_size}), 8);
}

std::vector<std::uint8_t> make_frame(const frame_spec& spec, std::uint64_t seq) {
  std::vector<std::uint8_t> frame;
  build_frame(frame, spec, seq);
  return frame;
}

std::optional<frame_label> read_frame_label(std::span<const std::uint8_t> frame) {
  const std::size_t at = frame_header_size;
  if (frame.size() < at + 4 || frame[at] != com[0] || frame[at + 1] != com[1]) return std::nullopt;
  const std::size_t length = (std::size_t{frame[at + 2]} << 8 | frame[at + 3]);
  if (length < 2 || frame.size() < at + 2 + length) return std::nullopt;
  const std::string_view text(reinterpret_cast<const char*>(frame.data() + at + 4), length - 2);
  const auto field = [&](std::string_view name) -> std::string_view {
    const auto from = text.find(name);
    if (from == std::string_view::npos) return {};
    const auto value = text.substr(from + name.size());
    return value.substr(0, value.find(' '));
  };
  frame_label l;
  l.server = std::string(field(" server="));
  const auto camera = field(" camera="), seq = field(" frame=");
  std::from_chars(camera.data(), camera.data() + camera.size(), l.camera);
  std::from_chars(seq.data(), seq.data() + seq.size(), l.seq);
  if (!text.starts_with("vmsgate-sim") || l.server.empty()) return std::nullopt;
  return l;
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
    const auto piece = bytes.first(n);
    sum_ = fnv(sum_, piece);
    tail_ = n >= 2 ? static_cast<std::uint16_t>(piece[n - 2] << 8 | piece[n - 1])
                   : static_cast<std::uint16_t>(tail_ << 8 | piece[0]);
    payload_left_ -= n;
    bytes = bytes.subspan(n);
    if (payload_left_ == 0 && !finish_frame()) break;
  }
  return error_.empty();
}

bool frame_checker::take_header() {
  const std::uint8_t* h = header_;
  if (!std::equal(soi, soi + 2, h) || !std::equal(app11, app11 + 2, h + 2) || h[4] != 0 ||
      h[5] != frame_header_size - 4 || !std::equal(magic.begin(), magic.end(), h + magic_at))
    return fail("bad frame magic at byte " + std::to_string(bytes_));
  const auto camera = get_hex(h + camera_at, 8), seq = get_hex(h + seq_at, 16), length = get_hex(h + length_at, 8),
             sum = get_hex(h + sum_at, 8);
  if (!camera || !seq || !length || !sum || *length < frame_header_size + 2)
    return fail("bad frame header at byte " + std::to_string(bytes_));
  if (*camera != camera_) return fail("frame of camera " + std::to_string(*camera) + " on camera " + std::to_string(camera_));
  seq_ = *seq;
  if (frames_ > 0 && seq_ != next_seq_)
    return fail("frame " + std::to_string(seq_) + " where " + std::to_string(next_seq_) + " was due");
  payload_left_ = static_cast<std::size_t>(*length) - frame_header_size;
  expected_sum_ = static_cast<std::uint32_t>(*sum);
  sum_ = header_sum(h);
  tail_ = 0;
  state_ = state::payload;
  return true;
}

bool frame_checker::finish_frame() {
  if (sum_ != expected_sum_) return fail("checksum mismatch in frame " + std::to_string(seq_));
  if (tail_ != 0xFFD9) return fail("frame " + std::to_string(seq_) + " does not end with a JPEG EOI");
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
