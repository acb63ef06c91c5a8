// What a simulated camera's frame costs (demo/sim): drawing and encoding a new test
// card, against building a frame around a picture another viewer already had
// encoded (the cache's hit: the padding and checksum only). Tells whether live
// cameras can encode each frame or must pre-encode a cycle.
//
//   build/bench/vmsgate_bench --benchmark_filter='TestCard|Frame'

#include <benchmark/benchmark.h>

#include "demo/sim/frame.hpp"
#include "demo/sim/picture.hpp"

namespace {

void BM_TestCardRender(benchmark::State& state) {
  std::uint64_t seq = 0;
  for (auto _ : state) benchmark::DoNotOptimize(vmsgate::sim::render_test_card({"rec01", 1, ++seq, 25}));
}
BENCHMARK(BM_TestCardRender)->Unit(benchmark::kMicrosecond);

// A new frame number each time: every call misses the cache.
void BM_TestCardRenderAndEncode(benchmark::State& state) {
  std::uint64_t seq = 1'000'000'000;
  std::size_t bytes = 0;
  for (auto _ : state) bytes = vmsgate::sim::test_card_jpeg({"rec01", 2, ++seq, 25})->size();
  state.counters["jpeg_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_TestCardRenderAndEncode)->Unit(benchmark::kMicrosecond);

// The same frame each time: the picture comes from the cache, as for the second and
// later viewers of a live camera.
void BM_FrameAroundSharedPicture(benchmark::State& state) {
  const vmsgate::sim::frame_spec spec{"rec01", 3, 25, vmsgate::sim::frame_size(4'000'000, 25)};
  std::vector<std::uint8_t> frame;
  for (auto _ : state) {
    vmsgate::sim::build_frame(frame, spec, 42);
    benchmark::DoNotOptimize(frame.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * frame.size()));
}
BENCHMARK(BM_FrameAroundSharedPicture)->Unit(benchmark::kMicrosecond);

}  // namespace
