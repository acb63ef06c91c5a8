#pragma once
// One client connection on a terminate route: TLS handshake on the client socket,
// connect to the first backend that answers, then pump bytes both ways until both
// directions have ended or a deadline fires.
//
// OpenSSL reads and writes the TLS socket through record_gather, which sends the
// records of one SSL_write together (no memory BIOs). The sockets are non-blocking.
// After a TLS 1.3 or 1.2 server handshake without kernel TLS, the session does the
// records itself with the handshake's keys and frees the SSL (records.cpp,
// tls/record_layer.hpp): an idle connection then holds two cipher contexts, not
// OpenSSL's whole connection state.
//
// Reading directions wait in one of two ways:
//   - After a read that drained its socket (TCP_INQ reported nothing left, or
//     EAGAIN; for the handshake, our BIO's read or the first peek), with
//     async_wait_edge: no syscall to wait, the next event completes it
//     (edge_wait.hpp). A keep-alive request then costs its four reads and writes
//     and no epoll_ctl.
//   - Otherwise (kernel TLS, where OpenSSL's own BIO reads; writes; a backend
//     connect still going on) with async_wait, which re-arms the descriptor
//     (EPOLL_CTL_MOD) so the kernel re-checks readiness: it completes for bytes or
//     a FIN already there (tests/net/readiness_test).
//
// GCC 12 miscompiles `if (!co_await f())` (the coroutine's parameters are lost), so
// the result of a co_await is always named before it is tested.

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

#include "proxy/common/asio.hpp"
#include "proxy/net/child_task.hpp"
#include "proxy/net/edge_wait.hpp"
#include "proxy/net/key_capture.hpp"
#include "proxy/net/record_gather.hpp"
#include "proxy/net/route.hpp"
#include "proxy/net/splice.hpp"
#include "proxy/net/source_limiter.hpp"
#include "proxy/tls/failure.hpp"
#include "proxy/tls/openssl.hpp"
#include "proxy/tls/record_layer.hpp"

namespace vmsgate::net_io {

class worker;

// Accepts nothing itself: the accept loop hands it a connected client socket.
// `peer` is the client's address as accept(2) returned it.
// `table` holds the routes of the listener it came from (route.hpp).
net::awaitable<void> serve_connection(worker& w, std::shared_ptr<const route_table> table, tcp::socket client,
                                      tcp::endpoint peer);

class session {
 public:
  using clock = std::chrono::steady_clock;

  session(worker& w, std::shared_ptr<const route_table> table, tcp::socket client, const tcp::endpoint& peer);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  // serve_connection makes the session in its own frame and runs it to its end.
  friend net::awaitable<void> serve_connection(worker& w, std::shared_ptr<const route_table> table,
                                               tcp::socket client, tcp::endpoint peer);

  // OpenSSL's ClientHello callback on the contexts of routes that share an address:
  // the SNI chooses the session's route (choose_route).
  static int on_client_hello(SSL* ssl, int* alert, void* arg) noexcept;

  // Ends the session at once, from inside (a deadline, an error) or from outside (the
  // drain deadline): safe at any point.
  void fail(const char* reason) noexcept;

  // Intrusive registry links, owned by the worker.
  session* prev_ = nullptr;
  session* next_ = nullptr;

 private:
  enum class phase { handshake, connect, pump };

  net::awaitable<bool> set_up();
  void start_plain_to_tls();
  void arm_watchdog() noexcept;
  void on_watchdog(const error_code& ec) noexcept;
  net::awaitable<bool> accept_tls();
  net::awaitable<bool> wait_for_first_bytes();
  net::awaitable<bool> shake_hands();
  net::awaitable<bool> connect_backend();
  net::awaitable<bool> try_backend(std::size_t index);
  net::awaitable<bool> connect_tls(std::size_t index);
  net::awaitable<void> tls_to_plain();
  net::awaitable<void> plain_to_tls();
  net::awaitable<void> splice_plain_to_tls();
  // The records done by the worker (records.cpp, tls/record_layer.hpp).
  void capture_keys();
  void take_over_records();
  net::awaitable<void> records_to_plain();
  net::awaitable<bool> forward_records();
  void send_fatal_alert(unsigned char description) noexcept;
  bool answer_now() noexcept;
  void client_ended() noexcept;
  void park_partial_record();
  void take_receive_buffer();
  net::awaitable<bool> send_records(const std::byte* p, std::size_t n, bool then_close_notify = false);
  net::awaitable<void> end_plain_to_tls(bool to_backend, bool close_notify_sent = false);
  bool plain_read_retryable(int err, bool to_backend) noexcept;
  // Readiness waits, awaited in the caller's own frame (no coroutine of their own:
  // an idle connection sits in three of them, so each frame is memory per idle
  // connection). ready() tells whether the wait ended in readiness with the session
  // still running.
  using wait_result = std::tuple<error_code>;
  net::awaitable<wait_result> wait(tcp::socket& s, tcp::socket::wait_type type) {
    return s.async_wait(type, use_nothrow);
  }
  // Only after a read that drained `s`, and with nothing else waiting to read it:
  // each socket has one reading direction, and SSL_write or SSL_shutdown would wait
  // to read only for a renegotiation, which is off (SSL_OP_NO_RENEGOTIATION, and
  // TLS 1.3 has none). `drained_just_now` when that read was in this same step of
  // the coroutine, with no wait since (edge_wait.hpp).
  net::awaitable<wait_result> wait_edge(tcp::socket& s, bool drained_just_now = false);
  net::awaitable<wait_result> wait_for_tls(int ssl_error) {
    return wait(tls_socket(), ssl_error == SSL_ERROR_WANT_WRITE ? tcp::socket::wait_write : tcp::socket::wait_read);
  }
  bool ready(const wait_result& r) const noexcept { return !std::get<0>(r) && !aborted_; }
  net::awaitable<bool> send_plain(const std::byte* p, std::size_t n) { return send_on(plain_socket(), p, n); }
  net::awaitable<bool> send_on(tcp::socket& s, const std::byte* p, std::size_t n);
  net::awaitable<bool> send_tls(const std::byte* p, std::size_t n);
  net::awaitable<void> send_close_notify();
  net::awaitable<bool> flush_tls();

  // Terminate: TLS with the client, plain to the backend. Originate: the reverse.
  bool originate() const noexcept { return route_->settings->originate; }
  route_counters& counters() const noexcept { return *route_->counters; }
  tcp::socket& tls_socket() noexcept { return originate() ? backend_ : client_; }
  tcp::socket& plain_socket() noexcept { return originate() ? client_ : backend_; }
  void count_to_backend(std::size_t n) noexcept;
  void count_to_client(std::size_t n) noexcept;

  bool new_ssl(SSL_CTX* ctx);
  int choose_route(SSL* ssl, int* alert) noexcept;
  void handshake_succeeded();
  void handshake_failed(int ssl_error);
  void finish(const char* reason) noexcept;
  void touch() noexcept { deadline_ = clock::now() + idle_timeout_; }
  void set_deadline(clock::time_point t) noexcept;
  void start_attempt(clock::duration limit) noexcept;
  bool end_attempt() noexcept;  // true if the attempt's deadline ended it
  std::string_view end_reason() const noexcept;
  void log_close() const;

  worker& worker_;
  // The listener's routes, held for the session's life; route_ is the one serving
  // it: on a shared address the first until the ClientHello chooses.
  std::shared_ptr<const route_table> table_;
  const worker_route* route_;
  tcp::socket client_;
  tcp::endpoint peer_;
  tcp::socket backend_;
  tls::session_target session_target_;  // read by the SSL's ticket callback: declared before it
  record_gather gather_;  // the SSL's write BIO without kernel TLS: declared before it
  std::unique_ptr<key_capture> capture_;  // the SSL points at it during the handshake
  tls::ssl_ptr ssl_;  // declared after the sockets: freed before they close
  // After a TLS 1.3 or 1.2 handshake without kernel TLS, the worker does the records and the
  // SSL is freed. `in_` is held only while bytes move; a record that has come only in
  // part waits in `parked_`, a copy of its own size.
  std::unique_ptr<tls::record_layer> records_;
  buffer_pool::lease in_;
  std::size_t in_off_ = 0;
  std::size_t in_end_ = 0;
  std::unique_ptr<std::byte[]> parked_;
  std::size_t parked_size_ = 0;
  // A TLS 1.2 session's id, to take it out of the cache after a fatal alert.
  std::array<unsigned char, SSL_MAX_SSL_SESSION_ID_LENGTH> tls12_session_id_{};
  unsigned char tls12_session_id_size_ = 0;
  bool handshake_drained_ = false;
  bool route_chosen_ = false;  // counted in route_->counters' connections_total  // the handshake's last read left the client's socket empty
  source_limiter::permit handshake_permit_;
  net::steady_timer watchdog_timer_;
  child_task pump_task_;      // the plain-to-TLS direction beside tls_to_plain()
  clock::time_point started_;
  clock::time_point deadline_;
  clock::time_point handshake_started_;
  clock::duration idle_timeout_;
  phase phase_ = phase::handshake;
  bool aborted_ = false;
  bool served_ = false;  // the session has ended: the watchdog stops
  bool watchdog_armed_ = false;  // its handler is pending, and holds `this`
  bool sending_records_ = false;  // a send of records_' sealed records is under way
  // A wake-up of the client's or the backend's socket carried EPOLLERR or EPOLLHUP:
  // the next edge wait on it completes at once (see edge_wait.hpp).
  bool client_hangup_ = false;
  bool backend_hangup_ = false;
  // The backend reset its connection before the connect was seen to complete; the
  // bytes it sent first are still read (connect.cpp).
  bool reset_behind_answer_ = false;
  // An attempt on one backend (its TCP connect, or on originate routes its TLS
  // handshake) has a deadline of its own: when it passes, the watchdog ends the
  // attempt (cancels the backend socket's waits), not the session, and the next
  // backend is tried. No timer or coroutine of its own: the session's watchdog.
  bool attempt_running_ = false;
  bool attempt_expired_ = false;
  const char* end_ = nullptr;  // why it ended; the first cause wins
  // What the handshake agreed, for the close log (the SSL may be gone by then).
  const char* tls_version_ = "";
  const char* cipher_ = "";
  bool resumed_ = false;
  std::string client_label_;
  std::string error_detail_;
  std::string peer_subject_;
  std::optional<tls::failure_reason> failure_;
  const backend_target* backend_used_ = nullptr;
  // Kernel TLS on the TLS socket, as OpenSSL left it after the handshake: with the
  // send side in the kernel, plain bytes are spliced into it through pipe_.
  bool ktls_send_ = false;
  bool ktls_recv_ = false;
  splice_pipe pipe_;
  std::uint64_t to_backend_ = 0;
  std::uint64_t to_client_ = 0;
};

}  // namespace vmsgate::net_io
