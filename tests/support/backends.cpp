#include "tests/support/backends.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace vmsgate::test {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A socket bound to 127.0.0.1:0; returns the fd and sets `port`.
int bind_loopback(std::uint16_t& port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error(std::string("bind: ") + std::strerror(errno));
  }
  port = ntohs(addr.sin_port);
  return fd;
}

bool write_all(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

void fill_pattern(std::uint64_t seed, std::uint64_t offset, std::span<std::uint8_t> out) {
  // Byte i of the stream is byte (i % 8) of splitmix64(seed * 2^40 + i / 8).
  const std::uint64_t base = seed << 40;
  std::size_t i = 0;
  while (i < out.size()) {
    const std::uint64_t pos = offset + i;
    const std::uint64_t word = splitmix64(base + pos / 8);
    for (unsigned b = static_cast<unsigned>(pos % 8); b < 8 && i < out.size(); ++b, ++i)
      out[i] = static_cast<std::uint8_t>(word >> (8 * b));
  }
}

std::uint16_t closed_port() {
  std::uint16_t port = 0;
  close(bind_loopback(port));
  return port;
}

syn_black_hole::syn_black_hole() {
  listen_fd_ = bind_loopback(port_);
  if (listen(listen_fd_, 0) != 0) throw std::runtime_error(std::string("listen: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port_);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < 4; ++i) {  // more than the queue holds: it is full after these
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    queued_.push_back(fd);
    (void)connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    sockaddr_in local{};
    socklen_t len = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) filler_ports_.push_back(ntohs(local.sin_port));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the handshakes land
}

namespace {

bool is_filler(const std::vector<std::uint16_t>& fillers, std::uint16_t port) {
  return std::find(fillers.begin(), fillers.end(), port) != fillers.end();
}

}  // namespace

void syn_black_hole::open_up() {
  for (pollfd p{listen_fd_, POLLIN, 0}; poll(&p, 1, 0) == 1; p.revents = 0) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) break;
    if (is_filler(filler_ports_, ntohs(peer.sin_port))) {
      close(fd);
    } else {
      kept_.push_back(fd);
    }
  }
  for (const int fd : queued_) close(fd);
  queued_.clear();
}

int syn_black_hole::accept_one(std::chrono::milliseconds limit) {
  if (!kept_.empty()) {
    const int fd = kept_.front();
    kept_.erase(kept_.begin());
    return fd;
  }
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    pollfd p{listen_fd_, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) return -1;
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) return -1;
    if (!is_filler(filler_ports_, ntohs(peer.sin_port))) return fd;
    close(fd);
  }
}

std::size_t syn_black_hole::unanswered_syns() const {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // the header
  std::size_t n = 0;
  while (std::getline(in, line)) {
    // "  sl  local_address rem_address   st ...": addresses as HEXIP:HEXPORT.
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    if (!(fields >> slot >> local >> remote >> state)) continue;
    const auto port_of = [](const std::string& a) {
      const auto colon = a.find(':');
      return colon == std::string::npos ? 0u : static_cast<unsigned>(std::stoul(a.substr(colon + 1), nullptr, 16));
    };
    if (state != "02" || port_of(remote) != port_) continue;  // 02: TCP_SYN_SENT
    if (!is_filler(filler_ports_, static_cast<std::uint16_t>(port_of(local)))) ++n;
  }
  return n;
}

syn_black_hole::~syn_black_hole() {
  for (const int fd : queued_) close(fd);
  for (const int fd : kept_) close(fd);
  close(listen_fd_);
}

std::string syn_black_hole::address() const { return "127.0.0.1:" + std::to_string(port_); }

tcp_server::tcp_server() {
  listen_fd_ = bind_loopback(port_);
  if (listen(listen_fd_, 512) != 0) throw std::runtime_error(std::string("listen: ") + std::strerror(errno));
}

tcp_server::~tcp_server() {
  // Derived destructors call stop(); this is the last resort for a base that
  // failed half way. serve() must not run here any more.
  if (listen_fd_ >= 0) close(listen_fd_);
}

void tcp_server::start() { acceptor_ = std::thread([this] { accept_loop(); }); }

std::string tcp_server::address() const { return "127.0.0.1:" + std::to_string(port_); }

void tcp_server::accept_loop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++accepted_;
    std::lock_guard lock(mutex_);
    if (stopping_) {
      close(fd);
      break;
    }
    fds_.insert(fd);
    ++open_;
    threads_.emplace_back([this, fd] { run_connection(fd); });
  }
}

void tcp_server::run_connection(int fd) {
  serve(fd);
  std::lock_guard lock(mutex_);
  fds_.erase(fd);
  close(fd);
  --open_;
}

void tcp_server::stop() {
  if (stopping_.exchange(true)) return;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    // Wakes every blocked read or write; each thread then closes its own fd.
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
  close(listen_fd_);
  listen_fd_ = -1;
}

void echo_server::serve(int fd) {
  std::vector<char> buf(64 * 1024);
  bool counted = false;
  for (;;) {
    const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (!counted) {
      counted = true;
      ++data_connections_;
    }
    if (!write_all(fd, buf.data(), static_cast<std::size_t>(n))) return;
    echoed_ += static_cast<std::uint64_t>(n);
  }
  shutdown(fd, SHUT_WR);
}

void source_server::serve(int fd) {
  std::vector<std::uint8_t> buf(64 * 1024);
  std::uint64_t offset = 0;
  while (!stopping() && (!bytes_ || offset < *bytes_)) {
    std::size_t n = buf.size();
    if (bytes_ && *bytes_ - offset < n) n = static_cast<std::size_t>(*bytes_ - offset);
    fill_pattern(seed_, offset, std::span(buf.data(), n));
    if (!write_all(fd, buf.data(), n)) return;
    offset += n;
    sent_ += n;
  }
  shutdown(fd, SHUT_WR);
  // Discards what the client sends until it closes, so that it sees our data
  // before any reset.
  char sink[4096];
  while (recv(fd, sink, sizeof sink, 0) > 0) {
  }
}

void http_responder::serve(int fd) {
  std::string in;
  char buf[4096];
  for (;;) {
    const auto end = in.find("\r\n\r\n");
    if (end != std::string::npos) {
      in.erase(0, end + 4);
      ++requests_;
      const std::string response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                                   std::to_string(body_.size()) + "\r\n\r\n" + body_;
      if (!write_all(fd, response.data(), response.size())) return;
      continue;
    }
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
  }
  shutdown(fd, SHUT_WR);
}

void mute_server::serve(int fd) {
  char buf[16384];
  while (!stopping()) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    if (::recv(fd, buf, sizeof buf, 0) <= 0) return;
  }
}

}  // namespace vmsgate::test
