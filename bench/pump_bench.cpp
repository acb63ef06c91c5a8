// The TLS pump's inner piece: SSL_write on one side of a socketpair, SSL_read on the
// other, on the fds themselves (no memory BIO), TLS 1.3 AES-128-GCM with the RSA-2048
// leaf of bench_pki. One iteration moves one chunk (16 or 64 KiB, as the pump's
// buffer) through encrypt, the kernel and decrypt; bytes/s is the rate of the pair,
// so a proxy's encrypt-or-decrypt side costs about half. Variants: with
// SSL_MODE_RELEASE_BUFFERS on both sides (vmsgate's setting, which frees OpenSSL's
// record buffers whenever they drain) and without, and with the server writing
// through record_gather (vmsgate's write BIO without kernel TLS: the records of one
// chunk leave in one send) instead of OpenSSL's socket BIO (one send per record).
//
//   build/bench/vmsgate_bench --benchmark_filter='Tls'

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "bench/bench_pki.hpp"
#include "proxy/net/record_gather.hpp"
#include "proxy/tls/openssl.hpp"

namespace {

using namespace vmsgate;

struct tls_pair {
  int fds[2] = {-1, -1};
  net_io::buffer_pool pool;
  net_io::record_gather gather{pool};  // before the SSLs: they are freed first
  bool gathered;
  tls::ssl_ctx_ptr server_ctx, client_ctx;
  tls::ssl_ptr server, client;
  std::string error;

  tls_pair(bool release_buffers, bool gather_server) : gathered(gather_server) {
    const auto& p = bench::pki();
    server_ctx.reset(SSL_CTX_new(TLS_server_method()));
    client_ctx.reset(SSL_CTX_new(TLS_client_method()));
    for (SSL_CTX* c : {server_ctx.get(), client_ctx.get()}) {
      SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
      SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256");
      SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              (release_buffers ? SSL_MODE_RELEASE_BUFFERS : 0));
    }
    SSL_CTX_use_certificate(server_ctx.get(), p.leaf.get());
    SSL_CTX_use_PrivateKey(server_ctx.get(), p.leaf_key.get());
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
      error = "socketpair failed";
      return;
    }
    for (int fd : fds) {
      int sz = 1 << 20;
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    server.reset(SSL_new(server_ctx.get()));
    client.reset(SSL_new(client_ctx.get()));
    if (gathered) {
      gather.attach(server.get(), fds[0]);
    } else {
      SSL_set_fd(server.get(), fds[0]);
    }
    SSL_set_fd(client.get(), fds[1]);
    SSL_set_accept_state(server.get());
    SSL_set_connect_state(client.get());
    // Both ends non-blocking in one thread: step each until both are done.
    bool s_done = false, c_done = false;
    for (int i = 0; i < 1000 && !(s_done && c_done); ++i) {
      if (!c_done) c_done = step(client.get());
      if (!s_done) s_done = step(server.get());
      if (!error.empty()) return;
    }
    if (!(s_done && c_done)) error = "handshake did not finish";
  }
  bool step(SSL* s) {
    int r = SSL_do_handshake(s);
    if (r == 1) return true;
    int e = SSL_get_error(s, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) error = "handshake: " + tls::drain_errors();
    return false;
  }
  ~tls_pair() {
    server.reset();
    client.reset();
    for (int fd : fds)
      if (fd >= 0) close(fd);
  }
};

// Writes `n` bytes from `from`, reading them at `to` as they arrive (the socket
// buffer may hold less than one chunk's records); returns false on an error. With
// `g`, `from` writes through it: records are held until the chunk is written or the
// gather is full, then sent together.
bool move_chunk(SSL* from, SSL* to, const std::byte* src, std::byte* dst, std::size_t n,
                net_io::record_gather* g) {
  std::size_t written = 0, read = 0;
  if (g != nullptr) g->gather(true);
  while (read < n) {
    if (written < n) {
      const int w = SSL_write(from, src + written, static_cast<int>(n - written));
      bool stuck = false;
      if (w > 0)
        written += static_cast<std::size_t>(w);
      else if (SSL_get_error(from, w) == SSL_ERROR_WANT_WRITE)
        stuck = true;
      else
        return false;
      if (g != nullptr && (stuck || written == n)) {
        if (written == n) g->gather(false);
        if (g->flush() == net_io::record_gather::flush_result::failed) return false;
      }
    } else if (g != nullptr && g->held() > 0) {
      if (g->flush() == net_io::record_gather::flush_result::failed) return false;
    }
    for (;;) {
      int r = SSL_read(to, dst + read, static_cast<int>(n - read));
      if (r > 0) {
        read += static_cast<std::size_t>(r);
        if (read == n) break;
        continue;
      }
      int e = SSL_get_error(to, r);
      if (e == SSL_ERROR_WANT_READ) break;
      return false;
    }
  }
  return true;
}

void run(benchmark::State& state, bool release_buffers, bool server_sends, bool gather = false) {
  const auto chunk = static_cast<std::size_t>(state.range(0));
  tls_pair pair(release_buffers, gather);
  if (!pair.error.empty()) {
    state.SkipWithError(pair.error.c_str());
    return;
  }
  std::vector<std::byte> src(chunk, std::byte{0x5a}), dst(chunk);
  SSL* from = server_sends ? pair.server.get() : pair.client.get();
  SSL* to = server_sends ? pair.client.get() : pair.server.get();
  for (auto _ : state) {
    if (!move_chunk(from, to, src.data(), dst.data(), chunk, gather && server_sends ? &pair.gather : nullptr)) {
      state.SkipWithError(("pump failed: " + tls::drain_errors()).c_str());
      break;
    }
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(chunk));
}

// Server encrypts (backend -> client direction of a terminate route), client decrypts.
void BM_TlsPumpServerToClient(benchmark::State& state) { run(state, true, true); }
BENCHMARK(BM_TlsPumpServerToClient)->Arg(16 << 10)->Arg(64 << 10)->Unit(benchmark::kMicrosecond);

// The same through record_gather, as vmsgate runs without kernel TLS.
void BM_TlsPumpServerToClientGathered(benchmark::State& state) { run(state, true, true, true); }
BENCHMARK(BM_TlsPumpServerToClientGathered)->Arg(16 << 10)->Arg(64 << 10)->Unit(benchmark::kMicrosecond);

void BM_TlsPumpServerToClientNoRelease(benchmark::State& state) { run(state, false, true); }
BENCHMARK(BM_TlsPumpServerToClientNoRelease)->Arg(16 << 10)->Arg(64 << 10)->Unit(benchmark::kMicrosecond);

// Client encrypts, server decrypts (client -> backend direction).
void BM_TlsPumpClientToServer(benchmark::State& state) { run(state, true, false); }
BENCHMARK(BM_TlsPumpClientToServer)->Arg(64 << 10)->Unit(benchmark::kMicrosecond);

}  // namespace
