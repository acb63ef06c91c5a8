// What the per-worker buffer pool saves: taking and giving back a 64 KiB buffer
// from proxy/net/buffer_pool against a fresh new/delete of the same size, and
// against an mmap+munmap (what an allocator above its mmap threshold does, and what
// each new page costs in faults on this VM). Each variant touches one byte per 4 KiB
// page, as a pump filling the buffer would.
//
//   build/bench/vmsgate_bench --benchmark_filter='Pool|NewDelete|Mmap'

#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <cstddef>
#include <memory>

#include "proxy/net/buffer_pool.hpp"

namespace {

using vmsgate::net_io::buffer_pool;
constexpr std::size_t size = buffer_pool::buffer_size;
constexpr std::size_t page = 4096;

void touch(std::byte* p) {
  for (std::size_t i = 0; i < size; i += page) p[i] = std::byte{1};
  benchmark::DoNotOptimize(p);
  benchmark::ClobberMemory();
}

void BM_PoolTakeGiveBack(benchmark::State& state) {
  buffer_pool pool;
  for (auto _ : state) {
    auto lease = pool.take();
    touch(lease.data());
  }
  state.SetLabel("outstanding " + std::to_string(pool.outstanding()) + ", idle " + std::to_string(pool.idle()));
}
BENCHMARK(BM_PoolTakeGiveBack);

// A worker with 16 streams in flight: 16 buffers out at once, all returned.
void BM_PoolTakeGiveBack16(benchmark::State& state) {
  buffer_pool pool;
  for (auto _ : state) {
    buffer_pool::lease leases[16];
    for (auto& l : leases) {
      l = pool.take();
      touch(l.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * 16);
}
BENCHMARK(BM_PoolTakeGiveBack16);

void BM_NewDelete64KiB(benchmark::State& state) {
  for (auto _ : state) {
    std::unique_ptr<std::byte[]> b(new std::byte[size]);
    touch(b.get());
  }
}
BENCHMARK(BM_NewDelete64KiB);

void BM_NewDelete64KiB16(benchmark::State& state) {
  for (auto _ : state) {
    std::unique_ptr<std::byte[]> b[16];
    for (auto& x : b) {
      x.reset(new std::byte[size]);
      touch(x.get());
    }
  }
  state.SetItemsProcessed(state.iterations() * 16);
}
BENCHMARK(BM_NewDelete64KiB16);

void BM_MmapMunmap64KiB(benchmark::State& state) {
  for (auto _ : state) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      state.SkipWithError("mmap failed");
      break;
    }
    touch(static_cast<std::byte*>(p));
    munmap(p, size);
  }
}
BENCHMARK(BM_MmapMunmap64KiB)->Unit(benchmark::kMicrosecond);

}  // namespace
