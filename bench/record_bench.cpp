// tls::record_layer, the records a terminate session does itself after the
// handshake: sealing one plain read (16 or 64 KiB) into records, and opening them
// again, in memory (no socket), AES-128-GCM; TLS 1.3, and TLS 1.2 (…Tls12: the
// explicit nonce, and additional data built per record). Compare with BM_TlsPump*, where OpenSSL
// does both ends over a socket pair: what is left there is the kernel's part and
// OpenSSL's record buffers and copies.
//
//   build/bench/vmsgate_bench --benchmark_filter='RecordLayer'

#include <benchmark/benchmark.h>

#include <vector>

#include "proxy/tls/record_layer.hpp"

namespace {

using vmsgate::tls::record_layer;

const std::vector<unsigned char> master(48, 0x3c), client_random(32, 0x11), server_random(32, 0x22);

struct layers {
  std::unique_ptr<record_layer> server, client;
  explicit layers(bool tls12) {
    const std::vector<unsigned char> a(32, 0xa5), b(32, 0x5a);
    std::string error;
    if (tls12) {
      const record_layer::tls12_secrets s{master, client_random, server_random};
      server = record_layer::make_tls12(0xc02f, s, true, 1, 1, error);
      client = record_layer::make_tls12(0xc02f, s, false, 1, 1, error);
    } else {
      server = record_layer::make(0x1301, a, b, 0, error);
      client = record_layer::make(0x1301, b, a, 0, error);
    }
  }
};

void seal(benchmark::State& state, bool tls12) {
  const auto n = static_cast<std::size_t>(state.range(0));
  layers l(tls12);
  std::vector<std::byte> in(n, std::byte{0x5a}), out(record_layer::seal_room(n));
  for (auto _ : state) {
    benchmark::DoNotOptimize(l.server->seal(in.data(), n, out.data()));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}
void BM_RecordLayerSeal(benchmark::State& state) { seal(state, false); }
void BM_RecordLayerSealTls12(benchmark::State& state) { seal(state, true); }
BENCHMARK(BM_RecordLayerSeal)->Arg(100)->Arg(16 << 10)->Arg(64 << 10);
BENCHMARK(BM_RecordLayerSealTls12)->Arg(100)->Arg(64 << 10);

// Sealed by the peer and opened, per iteration (the sequence numbers must move on
// together); the open alone is this minus BM_RecordLayerSeal.
void seal_open(benchmark::State& state, bool tls12) {
  const auto n = static_cast<std::size_t>(state.range(0));
  layers l(tls12);
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
void BM_RecordLayerSealOpen(benchmark::State& state) { seal_open(state, false); }
void BM_RecordLayerSealOpenTls12(benchmark::State& state) { seal_open(state, true); }
BENCHMARK(BM_RecordLayerSealOpen)->Arg(100)->Arg(16 << 10)->Arg(64 << 10);
BENCHMARK(BM_RecordLayerSealOpenTls12)->Arg(100)->Arg(64 << 10);

// The per-connection set-up after a handshake: keys and IVs of both directions
// from the traffic secrets (HKDF-Expand-Label) and two cipher contexts; TLS 1.2:
// from the master secret (TLS1-PRF).
void BM_RecordLayerMake(benchmark::State& state) {
  const std::vector<unsigned char> a(32, 0xa5), b(32, 0x5a);
  std::string error;
  for (auto _ : state) benchmark::DoNotOptimize(record_layer::make(0x1301, a, b, 0, error));
}
BENCHMARK(BM_RecordLayerMake);
void BM_RecordLayerMakeTls12(benchmark::State& state) {
  const record_layer::tls12_secrets s{master, client_random, server_random};
  std::string error;
  for (auto _ : state) benchmark::DoNotOptimize(record_layer::make_tls12(0xc02f, s, true, 1, 1, error));
}
BENCHMARK(BM_RecordLayerMakeTls12);

}  // namespace
