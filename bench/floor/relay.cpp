// The least a proxy can cost this kernel: a plain TCP relay with one thread,
// edge-triggered epoll, accept4, a non-blocking connect, TCP_NODELAY on both legs
// and one read and one send per chunk, with no TLS, no timers, no logs and no
// metrics. bench/peers/run.sh runs the peers' loads through it in plain text to
// measure the kernel's share of each unit of work (connections, keep-alive
// requests, bulk), and adds the cryptography that TLS needs on top (`openssl
// speed`): an estimate, from below, of what a TLS proxy that copies bytes through
// user space must spend on this machine.
//
// Not a product: no limits, no timeouts, no error reporting beyond closing the
// pair. A chunk that a leg cannot take at once is kept until that leg is writable
// again, and the other leg is not read meanwhile, so memory stays bounded. An end
// read on one leg shuts down writing on the other (half-close passes through, as a
// proxy must); the pair closes when both ends have passed, or on an error.
//
// Usage: vmsgate_floor_relay LISTEN_PORT BACKEND_PORT   (both on 127.0.0.1)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

constexpr std::size_t chunk_size = 64 * 1024;
char chunk[chunk_size];

struct pair;

struct leg {
  int fd = -1;
  pair* owner = nullptr;
  leg* other = nullptr;
  std::string pending;   // bytes read from `other` that this leg could not take yet
  bool hung_up = false;  // the peer hung up: read this leg to the end, not to a short read
  bool ended = false;    // the end was read, and passed on as a shutdown of the other leg
};

struct pair {
  leg client, backend;
};

int epfd = -1;
leg skip;  // marks the events of a pair closed earlier in the same wakeup

void close_pair(pair* p) {
  close(p->client.fd);
  close(p->backend.fd);
  delete p;
}

bool again() { return errno == EAGAIN || errno == EWOULDBLOCK; }

// Writes what `to` holds; false on an error other than "not now".
bool flush(leg& to) {
  while (!to.pending.empty()) {
    const ssize_t n = send(to.fd, to.pending.data(), to.pending.size(), MSG_NOSIGNAL);
    if (n < 0) return again();
    to.pending.erase(0, static_cast<std::size_t>(n));
  }
  return true;
}

// Reads `from` until a short read (the socket was drained; after a hang-up, until
// the end) and writes each chunk to the other leg; the end becomes a shutdown of
// the other leg's writing, so a half-close passes through. Stops reading while
// the other leg holds bytes it could not take. False when the pair must close:
// an error, or both ends passed on.
bool relay(leg& from) {
  leg& to = *from.other;
  while (!from.ended && to.pending.empty()) {
    const ssize_t n = read(from.fd, chunk, chunk_size);
    if (n == 0) {
      from.ended = true;
      shutdown(to.fd, SHUT_WR);
      break;
    }
    if (n < 0) return again();
    ssize_t done = send(to.fd, chunk, static_cast<std::size_t>(n), MSG_NOSIGNAL);
    if (done < 0) {
      if (!again()) return false;
      done = 0;  // a backend still connecting: kept until it is writable
    }
    if (done < n) to.pending.assign(chunk + done, static_cast<std::size_t>(n - done));
    if (static_cast<std::size_t>(n) < chunk_size && !from.hung_up) break;
  }
  return !(from.ended && to.ended && to.pending.empty() && from.pending.empty());
}

void watch(leg& l) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &l;
  epoll_ctl(epfd, EPOLL_CTL_ADD, l.fd, &ev);
}

void set_nodelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s LISTEN_PORT BACKEND_PORT\n", argv[0]);
    return 2;
  }
  sockaddr_in listen_at{}, backend_at{};
  listen_at.sin_family = backend_at.sin_family = AF_INET;
  listen_at.sin_addr.s_addr = backend_at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  listen_at.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[1])));
  backend_at.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[2])));

  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(listener, reinterpret_cast<sockaddr*>(&listen_at), sizeof listen_at) != 0 || listen(listener, 4096) != 0) {
    std::perror("listen");
    return 1;
  }
  epfd = epoll_create1(EPOLL_CLOEXEC);
  epoll_event lev{};
  lev.events = EPOLLIN;  // level-triggered: one accept per wakeup, never one that finds nothing
  lev.data.ptr = nullptr;
  epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &lev);

  epoll_event events[256];
  for (;;) {
    const int ready = epoll_wait(epfd, events, 256, -1);
    if (ready < 0 && errno != EINTR) {
      std::perror("epoll_wait");
      return 1;
    }
    for (int i = 0; i < ready; ++i) {
      if (events[i].data.ptr == nullptr) {
        const int cfd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0 && (errno == EMFILE || errno == ENFILE)) {
          // The listener stays readable, so carrying on would spin and the bench
          // would measure the spin: stop, and run.sh reports the run as failed.
          std::perror("accept4");
          return 1;
        }
        if (cfd < 0) continue;
        const int bfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (bfd < 0 ||
            (connect(bfd, reinterpret_cast<sockaddr*>(&backend_at), sizeof backend_at) != 0 && errno != EINPROGRESS)) {
          close(cfd);
          if (bfd >= 0) close(bfd);
          continue;
        }
        set_nodelay(cfd);
        set_nodelay(bfd);
        auto* p = new pair;
        p->client.fd = cfd;
        p->backend.fd = bfd;
        p->client.owner = p->backend.owner = p;
        p->client.other = &p->backend;
        p->backend.other = &p->client;
        watch(p->client);
        watch(p->backend);
        continue;
      }
      if (events[i].data.ptr == &skip) continue;
      leg& l = *static_cast<leg*>(events[i].data.ptr);
      pair* p = l.owner;
      if (events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) l.hung_up = true;
      bool open = true;
      if (events[i].events & EPOLLOUT && !l.pending.empty()) {
        // Once the bytes held for this leg are gone, read the other leg again: its
        // edge may have come while it was not read.
        open = flush(l) && (!l.pending.empty() || relay(*l.other));
      }
      if (open && events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) open = relay(l);
      if (open) continue;
      // The other leg of a pair closed now may have an event later in this batch.
      for (int j = i + 1; j < ready; ++j)
        if (events[j].data.ptr == &p->client || events[j].data.ptr == &p->backend) events[j].data.ptr = &skip;
      close_pair(p);
    }
  }
}
