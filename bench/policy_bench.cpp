// What the policy engine costs: check_files (load the route's certificate and key
// from disk, then every rule, as `check`, `run` and reload do per route) and
// check_peer (the rules run on a peer certificate in every mutual-TLS handshake,
// after OpenSSL verified the chain), on an RSA-2048 leaf made in-process.
//
//   build/bench/vmsgate_bench --benchmark_filter='Policy'

#include <benchmark/benchmark.h>

#include "bench/bench_pki.hpp"
#include "proxy/tls/policy.hpp"

namespace {

using namespace vmsgate;

tls::role_policy role() {
  tls::role_policy r;
  r.name = "bench";
  r.ca_path = bench::pki().ca_path;
  r.peer_names = {"bench.local"};
  return r;
}

void BM_PolicyCheckFiles(benchmark::State& state) {
  const auto& p = bench::pki();
  const auto r = role();
  const auto ca = tls::load_ca(p.ca_path);
  for (auto _ : state) {
    auto findings = tls::check_files(r, ca, "bench", tls::usage::server, {"bench.local"}, p.cert_path,
                                     p.key_path, tls::clock::now());
    if (tls::has_error(findings)) {
      state.SkipWithError(("unexpected finding: " + findings.front().rule).c_str());
      break;
    }
    benchmark::DoNotOptimize(findings);
  }
}
BENCHMARK(BM_PolicyCheckFiles)->Unit(benchmark::kMicrosecond);

void BM_PolicyLoadCa(benchmark::State& state) {
  const auto& p = bench::pki();
  for (auto _ : state) benchmark::DoNotOptimize(tls::load_ca(p.ca_path));
}
BENCHMARK(BM_PolicyLoadCa)->Unit(benchmark::kMicrosecond);

void BM_PolicyCheckPeer(benchmark::State& state) {
  const auto& p = bench::pki();
  const auto r = role();
  for (auto _ : state) {
    auto findings = tls::check_peer(r, p.leaf.get(), tls::usage::server, tls::clock::now());
    if (tls::has_error(findings)) {
      state.SkipWithError(("unexpected finding: " + findings.front().rule).c_str());
      break;
    }
    benchmark::DoNotOptimize(findings);
  }
}
BENCHMARK(BM_PolicyCheckPeer);

}  // namespace
