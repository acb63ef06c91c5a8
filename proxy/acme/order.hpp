#pragma once
// One ACME certificate order (RFC 8555 section 7) as a state machine without I/O:
// it says which HTTP request to make, which challenge to publish or how long to
// wait, and its caller does that and reports back. The caller owns sockets, timers
// and the challenge responder; this owns the protocol, nonces and signatures.
//
//   step s = m.start();
//   loop: request -> s = m.received(response of s.request)
//         publish -> make s.to_publish answerable; s = m.published()
//         wait    -> sleep s.delay; s = m.waited()
//         done    -> install s.certificate_pem; failed -> log s.error, back off
//   finally withdraw every m.challenges()

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/acme/jws.hpp"

namespace vmsgate::acme {

// POST bodies are JWS: send them as Content-Type application/jose+json.
struct http_request {
  std::string method;  // "GET" | "HEAD" | "POST"
  std::string url;
  std::string body;
};

struct http_response {
  unsigned status = 0;
  std::string location;      // Location header
  std::string replay_nonce;  // Replay-Nonce header
  std::optional<std::chrono::seconds> retry_after;
  std::string content_type;
  std::string body;
};

enum class challenge_type { tls_alpn_01, http_01 };

// "tls-alpn-01" | "http-01", as ACME names them.
std::string_view to_string(challenge_type t);

struct challenge {
  challenge_type type = challenge_type::tls_alpn_01;
  std::string name;  // the DNS identifier being validated
  std::string token;  // only [A-Za-z0-9_-]: safe in a URL path and a file name
  std::string key_authorization;
};

struct order_settings {
  std::string directory_url;
  std::vector<std::string> names;    // DNS identifiers, first is the CN
  std::vector<std::string> contact;  // e.g. "mailto:ops@example.local"; may be empty
  challenge_type challenge = challenge_type::tls_alpn_01;
  // ARI certID of the certificate being renewed; sent as "replaces" in newOrder
  // only when the directory has renewalInfo.
  std::optional<std::string> replaces;
  int max_bad_nonce_retries = 10;  // in a row, for one request
  int max_polls = 60;              // per authorization / order
  std::chrono::milliseconds poll_interval{1000};  // when the server gives no Retry-After
};

struct step {
  enum class kind { request, publish, wait, done, failed } what = kind::failed;
  http_request request;                 // request
  challenge to_publish;                 // publish: make it answerable, then published()
  std::chrono::milliseconds delay{0};   // wait: sleep, then waited()
  std::string certificate_pem;          // done: the chain as the CA sent it (leaf first)
  std::string error;                    // failed: one line for the operator, naming the step
  std::optional<std::chrono::seconds> retry_after;  // failed: the server's Retry-After
};

class order_machine {
 public:
  // `account` and `certificate_key` must outlive the machine.
  order_machine(order_settings s, const account_key& account, EVP_PKEY* certificate_key);

  step start();                           // GET directory
  step received(const http_response& r);  // after a request step
  step published();                       // after a publish step
  step waited();                          // after a wait step

  // Everything published so far, for the caller to withdraw at the end.
  const std::vector<challenge>& challenges() const { return challenges_; }
  const std::string& account_url() const { return account_url_; }
  const std::string& order_url() const { return order_url_; }
  int requests() const { return requests_; }
  int bad_nonce_retries() const { return bad_nonce_retries_; }
  bool directory_has_renewal_info() const { return !renewal_info_url_.empty(); }
  const std::string& renewal_info_url() const { return renewal_info_url_; }

 private:
  enum class phase {
    idle, directory, account, new_order, authorization, challenge, publishing, waiting_authorization,
    order, waiting_order, finalize, certificate, finished
  };
  // The outstanding request, kept whole so that a badNonce answer can resend it.
  struct pending_request {
    std::string what;  // the step's name in messages: "newOrder", "authorization for a.example"
    std::string method;
    std::string url;
    std::optional<std::string> payload;  // POST: nullopt is POST-as-GET
    bool with_jwk = false;               // newAccount: no account URL yet
  };

  template <typename F>
  step guarded(F&& body);
  step dispatch(const http_response& r);
  step transmit();
  step begin(phase next, pending_request request);
  step post_as_get(phase next, std::string what, std::string url);
  step fail(std::string message, std::optional<std::chrono::seconds> retry_after = std::nullopt);
  step after_failure(const http_response& r);
  step retry_bad_nonce(const http_response& r);
  step wait(phase next, const std::string& what, std::optional<std::chrono::seconds> retry_after);

  step on_nonce(const http_response& r);
  step on_directory(const http_response& r);
  step on_account(const http_response& r);
  step send_new_order();
  step on_new_order(const http_response& r);
  step on_order(const boost::json::object& order, const http_response& r);
  step next_authorization();
  step on_authorization(const http_response& r);
  step respond_to(const boost::json::object& chall, const http_response& r);
  step on_challenge(const http_response& r);
  step send_finalize();
  step on_certificate(const http_response& r);
  std::string authorization_what() const;
  bool ordered(const std::string& name) const;

  order_settings settings_;
  const account_key* account_;
  EVP_PKEY* certificate_key_;

  phase phase_ = phase::idle;
  pending_request pending_;
  bool awaiting_response_ = false;
  bool fetching_nonce_ = false;  // the outstanding request is a HEAD newNonce for pending_
  std::string nonce_;            // unused; emptied when a POST consumes it
  int bad_nonces_in_a_row_ = 0;

  std::string new_nonce_url_, new_account_url_, new_order_url_, renewal_info_url_;
  std::string account_url_, order_url_, finalize_url_;
  bool replaces_sent_ = false;
  bool replaces_dropped_ = false;  // the CA said alreadyReplaced: order without it

  std::vector<std::string> authorizations_;
  bool authorizations_listed_ = false;
  std::size_t authorization_index_ = 0;
  std::string authorization_name_;  // the identifier of the current authorization, once known
  std::string challenge_url_;
  bool responded_ = false;  // the current authorization's challenge is under way
  bool finalized_ = false;
  int polls_ = 0;

  std::vector<challenge> challenges_;
  int requests_ = 0;
  int bad_nonce_retries_ = 0;
};

}  // namespace vmsgate::acme
