// tls::record_layer, the records a TLS 1.3 terminate session does itself after the
// handshake: sealing one plain read (16 or 64 KiB) into records, and opening them
// again, in memory (no socket), AES-128-GCM. Compare with BM_TlsPump*, where OpenSSL
// does both ends over a socket pair: what is left there is the kernel's part and
// OpenSSL's record buffers and copies.
//
//   build/bench/vmsgate_bench --benchmark_filter='RecordLayer'

#include <benchmark/benchmark.h>

#include <vector>

#include "proxy/tls/record_layer.hpp"

namespace {

using vmsgate::tls::record_layer;

struct layers {
  std::unique_ptr<record_layer> server, client;
  layers() {
    const std::vector<unsigned char> a(32, 0xa5), b(32, 0x5a);
    std::string error;
    server = record_layer::make(0x1301, a, b, 0, error);
    client = record_layer::make(0x1301, b, a, 0, error);
  }
};

void BM_RecordLayerSeal(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  layers l;
  std::vector<std::byte> in(n, std::byte{0x5a}), out(record_layer::seal_room(n));
  for (auto _ : state) {
    benchmark::DoNotOptimize(l.server->seal(in.data(), n, out.data()));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_RecordLayerSeal)->Arg(100)->Arg(16 << 10)->Arg(64 << 10);

// Sealed by the peer and opened, per iteration (the sequence numbers must move on
// together); the open alone is this minus BM_RecordLayerSeal.
void BM_RecordLayerSealOpen(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  layers l;
  std::vector<std::byte> in(n, std::byte{0x5a}), wire(record_layer::seal_room(n)), out(n + 1024);
  for (auto _ : state) {
    const std::size_t sealed = l.client->seal(in.data(), n, wire.data());
    const auto r = l.server->open(wire.data(), sealed, out.data(), out.size());
    if (r.plain != n) {
      state.SkipWithError("open failed");
      break;
    }
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
BENCHMARK(BM_RecordLayerSealOpen)->Arg(100)->Arg(16 << 10)->Arg(64 << 10);

// The per-connection set-up after a handshake: keys and IVs of both directions
// from the traffic secrets (HKDF-Expand-Label) and two cipher contexts.
void BM_RecordLayerMake(benchmark::State& state) {
  const std::vector<unsigned char> a(32, 0xa5), b(32, 0x5a);
  std::string error;
  for (auto _ : state) benchmark::DoNotOptimize(record_layer::make(0x1301, a, b, 0, error));
}
BENCHMARK(BM_RecordLayerMake);

}  // namespace
