#include "demo/sim/picture.hpp"

#include <turbojpeg.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>

namespace vmsgate::sim {
namespace {

// A 5x7 bitmap font, one byte per row, the low five bits left to right: enough for
// upper-case names, digits and the punctuation of a time.
struct glyph {
  char c;
  std::array<std::uint8_t, 7> rows;
};
constexpr glyph font[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}}, {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}}, {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}},
    {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}},
};

// Unknown characters print as a box, so a name in another script still shows as
// something of its length.
constexpr std::array<std::uint8_t, 7> unknown_glyph = {0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F};

const std::array<std::uint8_t, 7>& rows_of(char c) {
  const char up = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static constexpr std::array<std::uint8_t, 7> blank{};
  if (up == ' ') return blank;
  for (const glyph& g : font)
    if (g.c == up) return g.rows;
  return unknown_glyph;
}

struct rgb {
  std::uint8_t r, g, b;
};

class canvas {
 public:
  canvas() : px_(static_cast<std::size_t>(card_width) * card_height * 3) {}

  void fill(int x0, int y0, int w, int h, rgb c) {
    const int x1 = std::min(card_width, x0 + w), y1 = std::min(card_height, y0 + h);
    for (int y = std::max(0, y0); y < y1; ++y)
      for (int x = std::max(0, x0); x < x1; ++x) {
        std::uint8_t* p = &px_[(static_cast<std::size_t>(y) * card_width + x) * 3];
        p[0] = c.r;
        p[1] = c.g;
        p[2] = c.b;
      }
  }

  // Writes `text` at (x, y), each font pixel a `scale` x `scale` square.
  void text(int x, int y, std::string_view text, int scale, rgb c) {
    for (const char ch : text) {
      const auto& rows = rows_of(ch);
      for (int row = 0; row < 7; ++row)
        for (int col = 0; col < 5; ++col)
          if (rows[row] & (0x10 >> col)) fill(x + col * scale, y + row * scale, scale, scale, c);
      x += 6 * scale;
    }
  }

  std::vector<std::uint8_t> take() { return std::move(px_); }

 private:
  std::vector<std::uint8_t> px_;
};

std::string utc_time(std::uint64_t seconds) {
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

// One compressor per thread: a tjhandle is not to be shared between threads.
class encoder {
 public:
  encoder() : handle_(tjInitCompress()) {
    if (!handle_) throw std::runtime_error("cannot start the JPEG encoder");
  }
  ~encoder() { tjDestroy(handle_); }
  encoder(const encoder&) = delete;
  encoder& operator=(const encoder&) = delete;

  std::vector<std::uint8_t> encode(const std::vector<std::uint8_t>& pixels) {
    unsigned char* out = nullptr;
    unsigned long size = 0;
    // 4:2:0 at quality 75 keeps a card near 18 KB: below the 20 KB a 4 Mbit/s camera
    // sends per frame at 25 fps, so the stream's rate is still the configured one.
    const int rc = tjCompress2(handle_, pixels.data(), card_width, 0, card_height, TJPF_RGB, &out, &size, TJSAMP_420,
                               75, TJFLAG_FASTDCT);
    if (rc != 0) {
      const std::string why = tjGetErrorStr2(handle_);
      tjFree(out);
      throw std::runtime_error("JPEG encoding failed: " + why);
    }
    std::vector<std::uint8_t> jpeg(out, out + size);
    tjFree(out);
    return jpeg;
  }

 private:
  tjhandle handle_;
};

// The pictures encoded last, by server, camera, frame and rate. Small: live viewers
// of one camera ask for the same few frames at once, and a playback moves on.
class picture_cache {
 public:
  using key = std::tuple<std::string, std::uint32_t, std::uint64_t, unsigned>;
  using value = std::shared_ptr<const std::vector<std::uint8_t>>;

  value find(const key& k) {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(k);
    return it == entries_.end() ? nullptr : it->second;
  }

  void put(const key& k, value v) {
    std::lock_guard lock(mutex_);
    if (!entries_.emplace(k, std::move(v)).second) return;
    order_.push_back(k);
    if (order_.size() > capacity) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
  }

 private:
  static constexpr std::size_t capacity = 256;
  std::mutex mutex_;
  std::map<key, value> entries_;
  std::deque<key> order_;
};

picture_cache& cache() {
  static picture_cache c;
  return c;
}

}  // namespace

std::vector<std::uint8_t> render_test_card(const card& c) {
  canvas k;
  // 75% colour bars, as on a broadcast test card.
  static constexpr rgb bars[] = {{191, 191, 191}, {191, 191, 0}, {0, 191, 191}, {0, 191, 0},
                                 {191, 0, 191},   {191, 0, 0},   {0, 0, 191}};
  constexpr int bar_width = (card_width + 6) / 7;
  for (int i = 0; i < 7; ++i) k.fill(i * bar_width, 0, bar_width, 224, bars[i]);
  // A marker that crosses the picture every two seconds: a frozen stream shows at once.
  const unsigned period = std::max(2u, 2 * c.fps);
  const int x = static_cast<int>((c.seq % period) * (card_width - 24) / (period - 1));
  k.fill(0, 224, card_width, 24, {40, 40, 40});
  k.fill(x, 224, 24, 24, {255, 255, 255});
  k.fill(0, 248, card_width, card_height - 248, {0, 0, 0});
  k.text(16, 256, "CAMERA " + std::to_string(c.camera) + "  " + c.server, 4, {255, 255, 255});
  k.text(16, 296, utc_time(c.seq / std::max(1u, c.fps)), 3, {255, 220, 0});
  k.text(16, 326, "FRAME " + std::to_string(c.seq), 3, {255, 220, 0});
  return k.take();
}

std::shared_ptr<const std::vector<std::uint8_t>> test_card_jpeg(const card& c) {
  const picture_cache::key k{c.server, c.camera, c.seq, c.fps};
  if (auto hit = cache().find(k)) return hit;
  thread_local encoder enc;
  auto jpeg = std::make_shared<const std::vector<std::uint8_t>>(enc.encode(render_test_card(c)));
  cache().put(k, jpeg);
  return jpeg;
}

}  // namespace vmsgate::sim
