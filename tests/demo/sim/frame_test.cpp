// The simulated cameras' frames: each a JPEG a decoder shows as the test card it was
// drawn from, carrying what the checking clients need to catch a corrupted, lost or
// misplaced frame, and cut right by a reader that splits a stream at JPEG markers.

#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <cstdlib>

#include "demo/sim/frame.hpp"
#include "demo/sim/picture.hpp"

namespace vmsgate::test {
namespace {

std::span<const std::uint8_t> span_of(const std::vector<std::uint8_t>& v) { return {v.data(), v.size()}; }

sim::frame_spec spec(std::uint32_t camera, std::size_t size = 20'000, std::string server = "rec01") {
  return {std::move(server), camera, 25, size};
}

struct decoded {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;
};

// Decodes with libjpeg-turbo, as a browser does; an empty result when it cannot.
decoded decode(std::span<const std::uint8_t> jpeg) {
  decoded d;
  tjhandle h = tjInitDecompress();
  int subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(h, jpeg.data(), jpeg.size(), &d.width, &d.height, &subsampling, &colorspace) == 0) {
    d.rgb.resize(static_cast<std::size_t>(d.width) * d.height * 3);
    if (tjDecompress2(h, jpeg.data(), jpeg.size(), d.rgb.data(), d.width, 0, d.height, TJPF_RGB, 0) != 0) d.rgb.clear();
  }
  tjDestroy(h);
  return d;
}

double mean_abs_difference(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  if (a.size() != b.size() || a.empty()) return 255;
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += std::abs(int{a[i]} - int{b[i]});
  return sum / static_cast<double>(a.size());
}

std::size_t count_marker(std::span<const std::uint8_t> bytes, std::uint8_t marker) {
  std::size_t n = 0;
  for (std::size_t i = 0; i + 1 < bytes.size(); ++i) n += bytes[i] == 0xFF && bytes[i + 1] == marker;
  return n;
}

TEST(SimFrame, AFrameIsAJpegOfItsTestCard) {
  const auto frame = sim::make_frame(spec(3), 1234567);
  const auto pic = decode(span_of(frame));
  ASSERT_EQ(pic.width, sim::card_width);
  ASSERT_EQ(pic.height, sim::card_height);
  const auto drawn = sim::render_test_card({"rec01", 3, 1234567, 25});
  // Quality 75: close to what was drawn, far from another frame's card.
  EXPECT_LT(mean_abs_difference(pic.rgb, drawn), 4.0);
  EXPECT_GT(mean_abs_difference(drawn, sim::render_test_card({"rec01", 3, 1234580, 25})), 0.1);
}

TEST(SimFrame, TheCardShowsTheServerSoAFailoverIsVisible) {
  const auto rec01 = sim::render_test_card({"rec01", 1, 100, 25});
  const auto rec02 = sim::render_test_card({"rec02", 1, 100, 25});
  const auto camera2 = sim::render_test_card({"rec01", 2, 100, 25});
  EXPECT_NE(rec01, rec02);
  EXPECT_NE(rec01, camera2);
  EXPECT_EQ(rec01, sim::render_test_card({"rec01", 1, 100, 25}));
}

TEST(SimFrame, FramesArePaddedToTheStreamsSizeAndLabelled) {
  const auto frame = sim::make_frame(spec(7, 20'000), 42);
  // A padding segment needs 5 bytes at least: up to 4 may be left out.
  EXPECT_LE(frame.size(), 20'000u);
  EXPECT_GE(frame.size(), 20'000u - 4);
  EXPECT_EQ(frame[frame.size() - 2], 0xFF);
  EXPECT_EQ(frame.back(), 0xD9);
  const auto label = sim::read_frame_label(span_of(frame));
  ASSERT_TRUE(label);
  EXPECT_EQ(label->server, "rec01");
  EXPECT_EQ(label->camera, 7u);
  EXPECT_EQ(label->seq, 42u);
  // A size below the picture's: the frame is the picture, whole.
  const auto small = sim::make_frame(spec(7, 100), 42);
  EXPECT_GT(small.size(), 100u);
  EXPECT_EQ(decode(span_of(small)).width, sim::card_width);
}

TEST(SimFrame, AStreamOfFramesHasOneStartAndOneEndMarkerPerFrame) {
  std::vector<std::uint8_t> stream;
  for (std::uint64_t seq = 0; seq < 20; ++seq) {
    const auto f = sim::make_frame(spec(1, 30'000), seq);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  EXPECT_EQ(count_marker(span_of(stream), 0xD8), 20u);
  EXPECT_EQ(count_marker(span_of(stream), 0xD9), 20u);
}

TEST(SimFrame, SharedPicturesAreEncodedOnce) {
  const sim::card c{"rec09", 5, 777, 25};
  EXPECT_EQ(sim::test_card_jpeg(c), sim::test_card_jpeg(c));
  EXPECT_NE(sim::test_card_jpeg(c), sim::test_card_jpeg({"rec09", 5, 778, 25}));
}

// Every size a stream may ask for, around the picture's and past one padding
// segment's 65 KB: each 0xFF before the picture opens a marker of ours.
TEST(SimFrame, NoByteOutsideThePictureLooksLikeAMarker) {
  const auto picture = sim::test_card_jpeg({"rec01", 4, 9, 25});
  for (std::size_t size = 19'500; size < 21'000; size += 3) {
    for (const std::size_t target : {size, size + 65'000}) {
      const auto f = sim::make_frame(spec(4, target), 9);
      ASSERT_GE(f.size() + 4, target);
      const std::size_t picture_at = f.size() - (picture->size() - 2);
      for (std::size_t i = 0; i < picture_at; ++i) {
        if (f[i] != 0xFF) continue;
        const std::uint8_t m = f[i + 1];
        ASSERT_TRUE(m == 0xD8 || m == 0xEB || m == 0xFE || m == 0xEF) << "0xFF at " << i << " of " << target;
      }
      ASSERT_EQ(count_marker(span_of(f), 0xD8), 1u) << target;
      ASSERT_EQ(count_marker(span_of(f), 0xD9), 1u) << target;
    }
  }
}

TEST(SimFrame, CheckerAcceptsFramesInAnyPieces) {
  std::vector<std::uint8_t> stream;
  for (std::uint64_t seq = 100; seq < 110; ++seq) {
    const auto f = sim::make_frame(spec(7), seq);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  for (const std::size_t piece : {333u, 1u, 7u, 65536u}) {
    sim::frame_checker c(7);
    for (std::size_t at = 0; at < stream.size(); at += piece)
      ASSERT_TRUE(c.feed(span_of(stream).subspan(at, std::min(piece, stream.size() - at)))) << c.error();
    EXPECT_TRUE(c.complete());
    EXPECT_EQ(c.frames(), 10u);
    EXPECT_EQ(c.first_seq(), 100u);
    EXPECT_EQ(c.last_seq(), 109u);
  }
}

TEST(SimFrame, CheckerCatchesACorruptedByteAnywhere) {
  const auto good = sim::make_frame(spec(1), 5);
  // SOI, the APP11 marker and length, the magic, camera, seq, length and checksum
  // digits, the label, the padding, the picture, its EOI.
  for (const std::size_t at : {std::size_t{1}, std::size_t{3}, std::size_t{5}, std::size_t{8}, std::size_t{12},
                               std::size_t{20}, std::size_t{40}, std::size_t{45}, sim::frame_header_size + 3,
                               std::size_t{1234}, good.size() - 500, good.size() - 1}) {
    auto f = good;
    f[at] ^= 0x01;
    sim::frame_checker check(1);
    // A length digit made larger leaves the checker waiting for the rest: the next
    // frame's bytes then fail it.
    const bool fed = check.feed(span_of(f)) && check.feed(span_of(good));
    EXPECT_FALSE(fed && check.complete()) << "byte " << at;
    EXPECT_FALSE(check.error().empty()) << "byte " << at;
  }
}

TEST(SimFrame, CheckerCatchesALostFrameAWrongCameraAndAStrangerStream) {
  sim::frame_checker gap(1);
  ASSERT_TRUE(gap.feed(span_of(sim::make_frame(spec(1), 1))));
  EXPECT_FALSE(gap.feed(span_of(sim::make_frame(spec(1), 3))));
  EXPECT_NE(gap.error().find("where 2 was due"), std::string::npos) << gap.error();
  sim::frame_checker other(1);
  EXPECT_FALSE(other.feed(span_of(sim::make_frame(spec(2), 1))));
  EXPECT_NE(other.error().find("camera 2"), std::string::npos) << other.error();
  // A JPEG that is not one of ours (no VMSF segment) is refused, not trusted.
  const auto plain = sim::test_card_jpeg({"rec01", 1, 1, 25});
  sim::frame_checker stranger(1);
  EXPECT_FALSE(stranger.feed(span_of(*plain)));
  EXPECT_NE(stranger.error().find("magic"), std::string::npos) << stranger.error();
}

}  // namespace
}  // namespace vmsgate::test
