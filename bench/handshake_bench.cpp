// The server's side of one TLS handshake, in memory (a BIO pair, no socket), with
// the RSA-2048 leaf of bench_pki: the thread CPU time of the server's SSL_new,
// SSL_do_handshake calls and SSL_free, per handshake; the client's calls are not
// counted. Bare: an SSL_CTX with only the certificate and key, as a terminator with
// no settings has it. Vmsgate: the context make_server_context builds for a
// terminate route, and the SSL set up as a session sets it up for its own records
// (the traffic secret sink). Full handshakes over TLS 1.3 and 1.2, and TLS 1.3
// resumed from a ticket. The difference between the two is what vmsgate's settings
// add to OpenSSL's own work; the kernel's part is not here (bench/peers has it).
// Both clients offer one suite, as bench/peers does, and both servers send the leaf
// only.
//
//   taskset -c 1 build/bench/vmsgate_bench --benchmark_filter='Handshake'
//     --benchmark_repetitions=15 --benchmark_enable_random_interleaving=true
//     --benchmark_report_aggregates_only=true
//
// Times here swing by 10 % between runs; instruction counts do not. For those, run
// one benchmark under callgrind, counting the server's calls only:
//
//   valgrind --tool=callgrind --collect-atstart=no
//     --toggle-collect='*server_handshake_step*' build/bench/vmsgate_bench
//     --benchmark_filter='BM_ServerHandshakeVmsgate/772/1/' --benchmark_min_time=2
//
// and divide by the handshakes (the `calls=` of SSL_do_handshake under
// server_handshake_step in the output, over 2 calls a TLS 1.3 handshake, 3 a TLS 1.2
// one).

#include <benchmark/benchmark.h>
#include <openssl/ssl.h>
#include <time.h>

#include <memory>
#include <string>

#include "bench/bench_pki.hpp"
#include "proxy/pki/builder.hpp"
#include "proxy/tls/record_layer.hpp"
#include "proxy/tls/server_context.hpp"
#include "proxy/tls/session_lifetime.hpp"
#include "tests/support/memory_pair.hpp"

namespace {

using namespace vmsgate;

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Takes the two secrets as a session's key capture does, and counts them.
class counting_sink final : public tls::traffic_secret_sink {
 public:
  void on_secret(std::string_view, std::span<const unsigned char>) noexcept override { ++secrets; }
  int secrets = 0;
};

tls::ssl_ctx_ptr bare_context() {
  const auto& p = bench::pki();
  tls::ssl_ctx_ptr ctx(SSL_CTX_new(TLS_server_method()));
  // From the files, as a terminator loads them (a certificate made in-process
  // would be encoded again at every handshake).
  SSL_CTX_use_certificate_file(ctx.get(), p.cert_path.c_str(), SSL_FILETYPE_PEM);
  SSL_CTX_use_PrivateKey_file(ctx.get(), p.key_path.c_str(), SSL_FILETYPE_PEM);
  return ctx;
}

std::shared_ptr<const tls::server_context> vmsgate_context() {
  const auto& p = bench::pki();
  tls::server_identity id;
  id.route = "bench";
  id.own = {pki::to_pem(p.leaf.get()), tls::to_secret(pki::to_pem(p.leaf_key.get()))};  // the leaf only, as bare sends
  id.server_names = {"bench.local"};
  auto keys = std::make_shared<tls::ticket_keyring>(tls::ticket_key_list{tls::random_ticket_key()});
  return tls::make_server_context(id, std::move(keys));
}

struct client_side {
  tls::ssl_ctx_ptr ctx;
  explicit client_side(int version) : ctx(SSL_CTX_new(TLS_client_method())) {
    SSL_CTX_set_min_proto_version(ctx.get(), version);
    SSL_CTX_set_max_proto_version(ctx.get(), version);
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT);
    // One suite, as bench/peers asks for, so that both servers do the same crypto.
    SSL_CTX_set_ciphersuites(ctx.get(), "TLS_AES_128_GCM_SHA256");
    SSL_CTX_set_cipher_list(ctx.get(), "ECDHE-RSA-AES128-GCM-SHA256");
  }
};

struct outcome {
  double server_seconds = 0;
  bool done = false, resumed = false;
  int secrets = 0;
  SSL_SESSION* session = nullptr;  // the client's, with its ticket, when asked for
};

// Out of line, so that `valgrind --tool=callgrind --collect-atstart=no
// --toggle-collect='*server_handshake_step*'` counts the server's instructions only.
[[gnu::noinline]] int server_handshake_step(SSL* server) { return SSL_do_handshake(server); }

outcome handshake(SSL_CTX* server_ctx, SSL_CTX* client_ctx, bool with_sink, SSL_SESSION* resume, bool keep_session) {
  outcome o;
  counting_sink sink;
  tls::ssl_ptr client(SSL_new(client_ctx));
  SSL_set_tlsext_host_name(client.get(), "bench.local");
  if (resume != nullptr) SSL_set_session(client.get(), resume);
  double t0 = thread_cpu_seconds();
  tls::ssl_ptr server(SSL_new(server_ctx));
  o.server_seconds += thread_cpu_seconds() - t0;
  if (!test::join_in_memory(server.get(), client.get())) return o;  // not done
  if (with_sink) tls::set_traffic_secret_sink(server.get(), &sink);
  for (int round = 0; round < 10 && !o.done; ++round) {
    const int c = SSL_do_handshake(client.get());
    t0 = thread_cpu_seconds();
    const int s = server_handshake_step(server.get());
    o.server_seconds += thread_cpu_seconds() - t0;
    o.done = c == 1 && s == 1;
  }
  o.resumed = SSL_session_reused(server.get()) == 1;
  o.secrets = sink.secrets;
  if (keep_session) {
    char byte = 0;
    SSL_read(client.get(), &byte, 1);  // takes the TLS 1.3 ticket; nothing else comes
    o.session = SSL_get1_session(client.get());
  }
  if (with_sink) tls::set_traffic_secret_sink(server.get(), nullptr);
  // Freed without a shutdown, OpenSSL would mark the sessions not resumable.
  SSL_set_shutdown(client.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  t0 = thread_cpu_seconds();
  SSL_set_shutdown(server.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  server.reset();
  o.server_seconds += thread_cpu_seconds() - t0;
  return o;
}

// range(0): the TLS version (TLS1_3_VERSION or TLS1_2_VERSION); range(1): 1 to resume.
void run(benchmark::State& state, SSL_CTX* server_ctx, bool with_sink) {
  const int version = static_cast<int>(state.range(0));
  const bool resume = state.range(1) != 0;
  client_side client(version);
  SSL_SESSION* ticket = nullptr;
  if (resume) {
    const outcome first = handshake(server_ctx, client.ctx.get(), with_sink, nullptr, true);
    ticket = first.session;
    if (!first.done || ticket == nullptr) state.SkipWithError("the first handshake gave no session");
  }
  std::int64_t resumed = 0, secrets = 0;
  for (auto _ : state) {
    // An OpenSSL client uses a TLS 1.3 session once: each resumption goes on with
    // the ticket the last one brought.
    const outcome o = handshake(server_ctx, client.ctx.get(), with_sink, ticket, resume);
    if (resume) {
      SSL_SESSION_free(ticket);
      ticket = o.session;
    }
    if (!o.done || (resume && ticket == nullptr)) {
      state.SkipWithError("a handshake did not finish");
      break;
    }
    state.SetIterationTime(o.server_seconds);
    resumed += o.resumed ? 1 : 0;
    secrets += o.secrets;
  }
  SSL_SESSION_free(ticket);
  if (resume && resumed != state.iterations()) state.SkipWithError("a handshake was not resumed");
  state.counters["secrets"] = benchmark::Counter(static_cast<double>(secrets), benchmark::Counter::kAvgIterations);
}

// The contexts live as long as the process, as a worker's do: a key's first
// signatures set up its RSA blinding, which OpenSSL then renews every 32.
void BM_ServerHandshakeBare(benchmark::State& state) {
  static const tls::ssl_ctx_ptr ctx = bare_context();
  run(state, ctx.get(), false);
}

// The bare context with a key log callback that does nothing: what OpenSSL's
// formatting of every secret costs, which vmsgate's sink pays only for the
// secrets after each Finished.
void BM_ServerHandshakeBareKeyLog(benchmark::State& state) {
  static const tls::ssl_ctx_ptr ctx = [] {
    tls::ssl_ctx_ptr c = bare_context();
    SSL_CTX_set_keylog_callback(c.get(), [](const SSL*, const char*) {});
    return c;
  }();
  run(state, ctx.get(), false);
}

void BM_ServerHandshakeVmsgate(benchmark::State& state) {
  static const auto ctx = vmsgate_context();
  run(state, ctx->ctx.get(), true);
}

// The check every resumption now makes (issue 32): is the session within its
// lifetime, and is the peer certificate it carries still valid? On a real session
// from a full handshake, carrying the server's leaf as its peer (an originate
// route's take() checks exactly this; a terminate route checks the client's
// certificate the same way when it reads a ticket).
void BM_ResumptionRecheck(benchmark::State& state) {
  static const auto ctx = vmsgate_context();
  client_side client(TLS1_3_VERSION);
  const outcome first = handshake(ctx->ctx.get(), client.ctx.get(), true, nullptr, true);
  if (!first.done || first.session == nullptr || SSL_SESSION_get0_peer(first.session) == nullptr) {
    state.SkipWithError("no session with a peer certificate");
    return;
  }
  const std::time_t born = std::time(nullptr);
  std::int64_t ok = 0;
  for (auto _ : state) {
    const bool r = tls::resumable_at(first.session, born, std::chrono::hours(12), std::time(nullptr));
    benchmark::DoNotOptimize(r);
    ok += r ? 1 : 0;
  }
  SSL_SESSION_free(first.session);
  if (ok != state.iterations()) state.SkipWithError("the session was not resumable");
}
BENCHMARK(BM_ResumptionRecheck)->Unit(benchmark::kNanosecond);

void handshakes(benchmark::internal::Benchmark* b) {
  b->Args({TLS1_3_VERSION, 0})->Args({TLS1_2_VERSION, 0})->Args({TLS1_3_VERSION, 1});
  b->UseManualTime()->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_ServerHandshakeBare)->Apply(handshakes);
BENCHMARK(BM_ServerHandshakeBareKeyLog)->Apply(handshakes);
BENCHMARK(BM_ServerHandshakeVmsgate)->Apply(handshakes);

}  // namespace
