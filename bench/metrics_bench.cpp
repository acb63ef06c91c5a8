// What counting costs on the data path, next to what forwarding costs: the pump
// adds one local counter per buffer it moves, so the figure to compare is one
// counter add against moving one 64 KiB buffer through the kernel (a write and a
// read on a socketpair, the least a proxy does per buffer per direction). Also the
// scrape's cost to merge 2 workers x 10 routes and render the text.
//
//   build/bench/vmsgate_bench --benchmark_filter='Count|Forward|Scrape'

#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "proxy/observe/metrics_export.hpp"
#include "proxy/observe/route_record.hpp"

namespace {

using namespace vmsgate;

constexpr std::size_t buffer_size = 64 * 1024;

// The per-buffer work of the pump's counting: one add to a worker-local counter.
void BM_CountPerBuffer(benchmark::State& state) {
  net_io::route_counters counters(2);
  for (auto _ : state) {
    counters.bytes_to_backend.add(buffer_size);
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(counters.bytes_to_backend.get());
}
BENCHMARK(BM_CountPerBuffer);

// Everything counted once per connection (accept, handshake, backend connect,
// close), for scale: it is paid once per stream of hours, not per buffer.
void BM_CountPerConnection(benchmark::State& state) {
  net_io::route_counters counters(2);
  for (auto _ : state) {
    counters.connections_total.add();
    counters.connections_active.add();
    counters.handshakes[1][0].add();
    counters.handshake_duration[0].observe(0.0021);
    counters.backend_connect_duration.observe(0.0004);
    counters.connection_duration.observe(3600.0);
    counters.connections_active.sub();
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_CountPerConnection);

// One buffer through the kernel: write 64 KiB into a socketpair and read it out.
void BM_Forward64KiBSocketpair(benchmark::State& state) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  const int size = 1 << 20;
  setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  std::vector<char> out(buffer_size, 'v');
  std::vector<char> in(buffer_size);
  for (auto _ : state) {
    for (std::size_t sent = 0; sent < buffer_size;) {
      const ssize_t n = write(fds[0], out.data() + sent, buffer_size - sent);
      if (n <= 0) return state.SkipWithError("write failed");
      sent += static_cast<std::size_t>(n);
    }
    for (std::size_t got = 0; got < buffer_size;) {
      const ssize_t n = read(fds[1], in.data() + got, buffer_size - got);
      if (n <= 0) return state.SkipWithError("read failed");
      got += static_cast<std::size_t>(n);
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * buffer_size));
  close(fds[0]);
  close(fds[1]);
}
BENCHMARK(BM_Forward64KiBSocketpair);

// A /metrics scrape of 2 workers x 10 routes (2 backends each): merge and render.
void BM_ScrapeMerge2Workers10Routes(benchmark::State& state) {
  std::vector<app::route_record> routes(10);
  for (std::size_t r = 0; r < routes.size(); ++r) {
    routes[r].name = "route-" + std::to_string(r);
    routes[r].role = "recording";
    routes[r].backend_labels = {"10.0.0.1:7563", "10.0.0.2:7563"};
    for (int w = 0; w < 2; ++w) {
      auto c = std::make_shared<net_io::route_counters>(2);
      c->bytes_to_backend.add(123456789);
      c->handshake_duration[0].observe(0.003);
      routes[r].per_worker.push_back(c);
    }
  }
  const app::reload_stats reloads;
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::string text = app::render_metrics(routes, {}, reloads);
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["text_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_ScrapeMerge2Workers10Routes)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
