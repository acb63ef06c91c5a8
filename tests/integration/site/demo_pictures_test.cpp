// The demo seen by real players: `vmsgate demo` prints its page first, headless
// Chromium opens that page through the mobile gateway (trusting the demo CA in its
// own NSS database, with no certificate error ignored) and decodes every camera's
// picture; ffmpeg reads the recording route's live stream over TLS and decodes the
// very test cards the simulator drew; when rec01 dies, the next connection's pictures
// are rec02's.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "demo/sim/frame.hpp"
#include "demo/sim/picture.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/process.hpp"

namespace vmsgate::test {
namespace {

namespace fs = std::filesystem;

constexpr unsigned demo_cameras = 4;  // the mobile simulator's default

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

bool have(const std::string& tool) { return run_command("command -v " + tool + " >/dev/null").code() == 0; }

// One `vmsgate demo` for the tests of this program, on ports of its own, stopped
// with Ctrl-C (SIGINT) as a reader stops it.
class DemoPictures : public ::testing::Test {
 protected:
  struct site {
    std::unique_ptr<process> demo;
    std::string guide, page, ca, error;
    int rec_tls = 0, mobile_tls = 0;
    pid_t rec01 = 0;
  };
  static inline site* s_ = nullptr;

  static void SetUpTestSuite() {
    s_ = new site;
    const int offset = 2050 + static_cast<int>(::getpid() % 40) * 100;
    s_->demo = std::make_unique<process>(
        std::vector<std::string>{VMSGATE_BINARY, "demo", "--port-offset", std::to_string(offset)});
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (s_->demo->stdout_text().find("Ctrl-C stops") == std::string::npos && s_->demo->running() &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(100ms);
    s_->guide = s_->demo->stdout_text();
    std::smatch m;
    if (std::regex_search(s_->guide, m, std::regex("open first: (https://mobile\\.example\\.local:(\\d+)/)"))) {
      s_->page = m[1];
      s_->mobile_tls = std::stoi(m[2]);
    }
    if (std::regex_search(s_->guide, m, std::regex("CA to trust: (\\S+)"))) s_->ca = m[1];
    if (std::regex_search(s_->guide, m, std::regex("https://127\\.0\\.0\\.1:(\\d+)/live\\?camera=1")))
      s_->rec_tls = std::stoi(m[1]);
    if (std::regex_search(s_->guide, m, std::regex("failover: kill (\\d+)"))) s_->rec01 = std::stoi(m[1]);
    if (s_->page.empty() || s_->ca.empty() || s_->rec_tls == 0 || s_->rec01 == 0)
      s_->error = "the demo's guide lacks the page, CA, recording port or rec01 pid:\n" + s_->guide +
                  s_->demo->stderr_text();
  }

  static void TearDownTestSuite() {
    s_->demo->send_signal(SIGINT);
    s_->demo->wait_for_exit(60s);
    delete s_;
    s_ = nullptr;
  }

  void SetUp() override { ASSERT_TRUE(s_->error.empty()) << s_->error; }
};

// Headless Chromium with its profile and NSS database (HOME) in `dir`, bounded in time;
// whatever it prints on stdout. Only the flags a closed network needs are added: no
// certificate error is ignored.
command_result chromium(const temp_dir& dir, const std::string& mode, const std::string& url) {
  const std::string home = dir.path().string();
  const std::string cmd = "HOME=" + shell_quote(home) +
                          " timeout -k 5 60 chromium --headless --no-sandbox --disable-gpu --disable-quic"
                          " --no-first-run --disable-background-networking --disable-component-update --disable-sync"
                          " --user-data-dir=" + shell_quote(home + "/profile") +
                          " --host-resolver-rules='MAP mobile.example.local 127.0.0.1'"
                          " --virtual-time-budget=4000 --hide-scrollbars --window-size=1280,720 " + mode + " " +
                          shell_quote(url);
  auto r = run_command(cmd, 90s);
  // A browser that outlived its timeout must not outlive the test either.
  run_command("pkill -KILL -f -- " + shell_quote("--user-data-dir=" + home + "/profile"));
  return r;
}

// The status lines the page writes for each picture: "camera-N WxH".
std::vector<std::string> decoded_pictures(const std::string& dom) {
  std::vector<std::string> out;
  const std::regex line("camera-(\\d+) (\\d+)x(\\d+)");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), line); it != std::sregex_iterator(); ++it)
    if (std::stoi((*it)[2]) > 0) out.push_back((*it)[0]);
  return out;
}

// The fraction of an image's pixels that are strongly coloured, as the test cards'
// bars are and a blank page, an error page or an empty frame are not.
double coloured_fraction(const fs::path& image) {
  const auto raw = run_command("ffmpeg -nostdin -hide_banner -loglevel error -i " + shell_quote(image.string()) +
                               " -f rawvideo -pix_fmt rgb24 -", 30s);
  if (raw.code() != 0 || raw.out.size() < 3) return 0;
  std::size_t coloured = 0;
  for (std::size_t i = 0; i + 2 < raw.out.size(); i += 3) {
    const auto r = static_cast<std::uint8_t>(raw.out[i]), g = static_cast<std::uint8_t>(raw.out[i + 1]),
               b = static_cast<std::uint8_t>(raw.out[i + 2]);
    coloured += std::max({r, g, b}) - std::min({r, g, b}) > 120;
  }
  return static_cast<double>(coloured) / static_cast<double>(raw.out.size() / 3);
}

double mean_abs_difference(std::span<const std::uint8_t> a, const std::vector<std::uint8_t>& b) {
  if (a.size() != b.size() || a.empty()) return 255;
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += std::abs(int{a[i]} - int{b[i]});
  return sum / static_cast<double>(a.size());
}

TEST_F(DemoPictures, TheDemoPrintsItsPageFirst) {
  const auto guide_at = s_->guide.find("open first: ");
  ASSERT_NE(guide_at, std::string::npos);
  // Only the self-check's verdict comes before it.
  const std::string before = s_->guide.substr(0, guide_at);
  for (std::size_t at = 0; at < before.size();) {
    const auto end = before.find('\n', at);
    const std::string line = before.substr(at, end - at);
    EXPECT_TRUE(line.empty() || line.starts_with("self-check: ")) << line;
    at = end == std::string::npos ? before.size() : end + 1;
  }
}

TEST_F(DemoPictures, ChromiumShowsEveryCameraThroughTheMobileGateway) {
  for (const char* tool : {"chromium", "certutil", "ffmpeg"})
    ASSERT_TRUE(have(tool)) << tool << " is not installed: scripts/install-deps.sh with VMSGATE_TEST_DEPS=1 installs it";
  temp_dir home("vmsgate-chromium");
  const std::string nssdb = "sql:" + (home.path() / ".pki/nssdb").string();
  fs::create_directories(home.path() / ".pki/nssdb");
  const auto init = run_command("certutil -N -d " + shell_quote(nssdb) + " --empty-password && certutil -A -d " +
                                shell_quote(nssdb) + " -t C,, -n 'vmsgate demo CA' -i " + shell_quote(s_->ca));
  ASSERT_EQ(init.code(), 0) << init.err;

  // The pictures stream in while the browser's time runs: a loaded machine may need
  // another look, but the page must show all of them within three.
  std::string dom;
  std::vector<std::string> pictures;
  for (int attempt = 0; attempt < 3 && pictures.size() < demo_cameras; ++attempt) {
    const auto r = chromium(home, "--dump-dom", s_->page);
    ASSERT_FALSE(r.timed_out);
    dom = r.out;
    pictures = decoded_pictures(dom);
  }
  EXPECT_NE(dom.find("cameras on mobile01"), std::string::npos) << dom;
  EXPECT_NE(dom.find("over TLS from mobile.example.local:" + std::to_string(s_->mobile_tls)), std::string::npos) << dom;
  // The route and TLS version the demo checked, from its page-info file: the page
  // cannot learn them itself.
  EXPECT_NE(dom.find("<dt>route</dt><dd>mobile, vmsgate "), std::string::npos) << dom;
  EXPECT_NE(dom.find("<dt>TLS</dt><dd>TLSv1.3 with the demo CA"), std::string::npos) << dom;
  ASSERT_EQ(pictures.size(), demo_cameras) << dom;
  for (const auto& p : pictures) EXPECT_TRUE(p.ends_with(" 640x360")) << p;

  const fs::path shot = home.path() / "page.png";
  const auto r = chromium(home, "--screenshot=" + shot.string(), s_->page);
  ASSERT_TRUE(fs::exists(shot)) << r.err;
  // Four test cards of 300 x 170 on 1280 x 720, their bars two thirds of each: ~15%.
  EXPECT_GT(coloured_fraction(shot), 0.08) << "the screenshot shows no pictures: " << shot;

  // Without the CA in its database the browser refuses the page: nothing is ignored.
  temp_dir stranger("vmsgate-chromium");
  fs::create_directories(stranger.path() / ".pki/nssdb");
  const auto refused = chromium(stranger, "--dump-dom", s_->page);
  EXPECT_NE((refused.out + refused.err).find("ERR_CERT_AUTHORITY_INVALID"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.out.find("cameras on mobile01"), std::string::npos) << refused.out;
  EXPECT_TRUE(decoded_pictures(refused.out).empty()) << refused.out;
}

// Reads `frames` frames of camera 2 live through the recording route with ffmpeg, as
// the demo's guide says to watch it: each frame as sent (to read its label) and as
// decoded pictures (rgb24). Returns ffmpeg's exit code.
struct ffmpeg_read {
  int code = -1;
  std::string err;
  std::vector<std::string> sent;  // the frames' bytes, one file each
  std::string decoded;            // frames * 640 * 360 * 3 bytes
};

ffmpeg_read read_live(const temp_dir& dir, const std::string& ca, int port, int frames) {
  for (const auto& e : fs::directory_iterator(dir.path())) fs::remove(e.path());
  const std::string input = "-tls_verify 1 -ca_file " + shell_quote(ca) + " -f mjpeg -i https://127.0.0.1:" +
                            std::to_string(port) + "/live?camera=2";
  const std::string n = std::to_string(frames);
  const auto r = run_command("timeout -k 5 30 ffmpeg -nostdin -hide_banner -loglevel error " + input +
                                 " -map 0:v -c:v copy -frames:v " + n + " -f image2 " +
                                 shell_quote((dir.path() / "sent%d.jpg").string()) + " -map 0:v -frames:v " + n +
                                 " -f rawvideo -pix_fmt rgb24 " + shell_quote((dir.path() / "decoded.rgb").string()),
                             45s);
  ffmpeg_read out;
  out.code = r.code();
  out.err = r.err;
  for (int i = 1; i <= frames; ++i) {
    const auto p = dir.path() / ("sent" + std::to_string(i) + ".jpg");
    if (fs::exists(p)) out.sent.push_back(read_file(p));
  }
  out.decoded = read_file(dir.path() / "decoded.rgb");
  return out;
}

// Each decoded picture is the test card its frame's label names, from `server`.
void expect_cards_of(const ffmpeg_read& r, const std::string& server) {
  constexpr std::size_t picture = std::size_t{sim::card_width} * sim::card_height * 3;
  ASSERT_EQ(r.decoded.size(), r.sent.size() * picture);
  for (std::size_t i = 0; i < r.sent.size(); ++i) {
    const auto label = sim::read_frame_label(bytes_of(r.sent[i]));
    ASSERT_TRUE(label) << "frame " << i << " is not one of the simulator's";
    EXPECT_EQ(label->server, server);
    EXPECT_EQ(label->camera, 2u);
    if (i > 0) {
      EXPECT_EQ(label->seq, sim::read_frame_label(bytes_of(r.sent[i - 1]))->seq + 1);
    }
    sim::frame_checker check(2);
    EXPECT_TRUE(check.feed(bytes_of(r.sent[i])) && check.complete()) << check.error();
    const auto drawn = sim::render_test_card({label->server, label->camera, label->seq, 25});
    const auto decoded = bytes_of(r.decoded).subspan(i * picture, picture);
    EXPECT_LT(mean_abs_difference(decoded, drawn), 5.0) << "frame " << i << " decodes to another picture";
  }
}

TEST_F(DemoPictures, FfmpegDecodesTheRecordingRoutesLiveStreamAndSeesTheFailover) {
  ASSERT_TRUE(have("ffmpeg")) << "ffmpeg is not installed: scripts/install-deps.sh with VMSGATE_TEST_DEPS=1 installs it";
  temp_dir dir("vmsgate-ffmpeg");
  const auto live = read_live(dir, s_->ca, s_->rec_tls, 10);
  ASSERT_EQ(live.code, 0) << live.err;
  ASSERT_EQ(live.sent.size(), 10u) << live.err;
  expect_cards_of(live, "rec01");

  // The same stream, with a CA that did not sign the gateway's certificate: refused.
  temp_dir other("vmsgate-ffmpeg");
  const auto untrusted = read_live(other, "/etc/ssl/certs/ca-certificates.crt", s_->rec_tls, 1);
  EXPECT_NE(untrusted.code, 0);
  EXPECT_NE(untrusted.err.find("certificate failed verification"), std::string::npos) << untrusted.err;
  EXPECT_TRUE(untrusted.sent.empty());

  // rec01 goes down: the next connection is rec02's, and so are its pictures.
  ASSERT_EQ(::kill(s_->rec01, SIGKILL), 0);
  std::this_thread::sleep_for(300ms);
  const auto after = read_live(dir, s_->ca, s_->rec_tls, 3);
  ASSERT_EQ(after.code, 0) << after.err;
  ASSERT_EQ(after.sent.size(), 3u) << after.err;
  expect_cards_of(after, "rec02");
}

}  // namespace
}  // namespace vmsgate::test
