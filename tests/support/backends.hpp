#pragma once
// Plain TCP backends for integration tests. Each listens on 127.0.0.1 with an
// ephemeral port, serves every connection on its own thread, counts accepted
// connections, and stops cleanly (closing every connection) on destruction.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace vmsgate::test {

// The deterministic pseudo-random byte stream every helper uses: byte `offset` of
// stream `seed` is always the same, so a receiver can check data without a copy.
void fill_pattern(std::uint64_t seed, std::uint64_t offset, std::span<std::uint8_t> out);

// A port on 127.0.0.1 where nothing listens (bound, read, closed): connections to
// it are refused. Another process could take it in between; on loopback with
// ephemeral ports that is unlikely enough for tests.
std::uint16_t closed_port();

// A loopback port that never answers a SYN: a listener whose accept queue is full of
// connections nobody accepts, so the kernel drops further SYNs and connect(2) to it
// hangs, like a host that is down on the far side of a router.
class syn_black_hole {
 public:
  syn_black_hole();
  ~syn_black_hole();
  syn_black_hole(const syn_black_hole&) = delete;
  syn_black_hole& operator=(const syn_black_hole&) = delete;
  std::string address() const;  // "127.0.0.1:port"
  // Empties the accept queue of what filled it (closing those): from now on SYNs
  // are answered, so a connect whose SYN was dropped completes when it is sent
  // again. Any other connection found queued is kept for accept_one.
  void open_up();
  // The next connection the queue takes that is not one of those that filled it
  // (their SYNs may be answered late too), or -1 if none comes within `limit`.
  // The caller closes it.
  int accept_one(std::chrono::milliseconds limit);
  // Connects to this port still waiting for an answer to their SYN (state
  // SYN-SENT in /proc/net/tcp), the fillers' own left out.
  std::size_t unanswered_syns() const;

 private:
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> queued_;
  std::vector<int> kept_;  // other connections open_up found queued
  std::vector<std::uint16_t> filler_ports_;
};

class tcp_server {
 public:
  tcp_server(const tcp_server&) = delete;
  tcp_server& operator=(const tcp_server&) = delete;
  virtual ~tcp_server();

  std::uint16_t port() const { return port_; }
  std::string address() const;  // "127.0.0.1:PORT"
  std::size_t connections() const { return accepted_.load(); }
  std::size_t open_connections() const { return open_.load(); }
  // Stops accepting, shuts every open connection down and joins all threads.
  void stop();

 protected:
  tcp_server();
  // Derived constructors call start() last, once they are fully built.
  void start();
  // Serves one connection; the fd is closed by the caller after it returns.
  virtual void serve(int fd) = 0;
  bool stopping() const { return stopping_.load(); }

 private:
  void accept_loop();
  void run_connection(int fd);

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> accepted_{0};
  std::atomic<std::size_t> open_{0};
  std::mutex mutex_;
  std::set<int> fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// Echoes every byte. On EOF from the client it has already sent everything back
// (writes are synchronous), then shuts down its writing side: half-close travels.
class echo_server : public tcp_server {
 public:
  echo_server() { start(); }
  ~echo_server() override { stop(); }
  std::uint64_t bytes_echoed() const { return echoed_.load(); }
  // Connections that carried at least one byte. A gateway's health probes connect
  // and close without data; connections() counts them, this does not.
  std::size_t data_connections() const { return data_connections_.load(); }

 private:
  void serve(int fd) override;
  std::atomic<std::uint64_t> echoed_{0};
  std::atomic<std::size_t> data_connections_{0};
};

// Sends fill_pattern(seed) to every connection: `bytes` of it then shutdown(SHUT_WR),
// or without end when `bytes` is nullopt (until the peer goes away). Reads and
// discards whatever the client sends.
class source_server : public tcp_server {
 public:
  explicit source_server(std::optional<std::uint64_t> bytes, std::uint64_t seed = 1) : bytes_(bytes), seed_(seed) {
    start();
  }
  ~source_server() override { stop(); }
  std::uint64_t bytes_sent() const { return sent_.load(); }

 private:
  void serve(int fd) override;
  std::optional<std::uint64_t> bytes_;
  std::uint64_t seed_;
  std::atomic<std::uint64_t> sent_{0};
};

// Answers each HTTP/1.1 request on a connection (keep-alive) with
// "HTTP/1.1 200 OK" and the body `body`. Request bodies are not expected.
class http_responder : public tcp_server {
 public:
  explicit http_responder(std::string body = "vmsgate test backend\n") : body_(std::move(body)) { start(); }
  ~http_responder() override { stop(); }
  std::size_t requests() const { return requests_.load(); }

 private:
  void serve(int fd) override;
  std::string body_;
  std::atomic<std::size_t> requests_{0};
};

// Reads and discards everything, never answers: a hung server, or a TLS upstream
// that accepts TCP and never replies to the ClientHello.
class mute_server : public tcp_server {
 public:
  mute_server() { start(); }
  ~mute_server() override { stop(); }

 private:
  void serve(int fd) override;
};

}  // namespace vmsgate::test
