#pragma once
// A small ACME server in memory for the order machine's tests: it answers each
// http_request as a CA would, checks what a CA checks (every JWS signature, the
// nonce issued and unused, the URL in the header, POST-as-GET bodies, the key
// authorization of what was published, the CSR) and writes down every violation
// in `violations`, so that a test of a happy path also proves the client polite.

#include <boost/json.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "proxy/acme/certs.hpp"
#include "proxy/acme/order.hpp"

namespace vmsgate::test {

struct fake_ca_options {
  bool renewal_info = false;          // the directory lists renewalInfo
  int bad_nonces = 0;                 // refuse the next N nonces with badNonce
  bool challenge_invalid = false;     // validation fails with invalid_detail
  bool rate_limit_new_order = false;  // newOrder answers 429 with Retry-After 120
  bool reject_replaces = false;       // newOrder with "replaces" answers 409 alreadyReplaced
  bool first_authorization_valid = false;  // reused: valid before the order starts
  bool first_challenge_processing = false;  // an earlier run responded already
  int processing_polls = 0;           // the order stays "processing" this many fetches after finalize
  int validation_polls = 1;           // fetches of a responded authorization until it is decided
  std::vector<std::string> challenge_types = {"http-01", "dns-01", "tls-alpn-01"};
  std::string malformed;              // answer this route with broken JSON: "directory", "newOrder", "authz", ...
  bool directory_without_new_order = false;
  std::string omit_nonce;             // answer this route without a Replay-Nonce
  std::string token_prefix = "tok-";  // the challenge tokens start with this
  std::string foreign_name;           // the first authorization is for this name instead
  bool issue_for_other_key = false;   // the certificate is not for the CSR's key
};

inline constexpr const char* invalid_detail = "Incorrect validation certificate for tls-alpn-01 challenge";

class fake_ca {
 public:
  explicit fake_ca(fake_ca_options o = {});

  acme::http_response handle(const acme::http_request& r);

  // What the client published, as its caller would serve it; for tls-alpn-01 also
  // the certificate, whose acmeIdentifier the validation checks.
  void publish(const acme::challenge& c, X509* alpn_cert);

  std::string directory_url() const { return base_ + "/directory"; }
  std::string account_url() const { return base_ + "/acct/1"; }

  std::vector<std::string> violations;  // what a real CA would have refused
  std::optional<boost::json::object> new_account_payload;
  std::vector<boost::json::object> new_order_payloads;
  std::vector<std::string> csr_names;    // SAN dNSNames of the finalized CSR
  std::string csr_common_name;
  std::string issued_pem;                // the chain handed out
  std::map<std::string, std::string> tokens;  // name -> token of the chosen type's challenge
  std::vector<std::string> validated_types;   // challenge types the client POSTed to

 private:
  struct authz {
    std::string name;
    std::string status = "pending";
    std::string token;
    std::string challenge_status = "pending";
    std::string challenge_type;  // the one responded to
    int polls_left = 0;
    bool failed = false;
  };
  struct published_challenge {
    acme::challenge c;
    std::string alpn_extension;  // extnValue of the acmeIdentifier, "" when none
  };

  acme::http_response post(const acme::http_request& r);
  acme::http_response route(const std::string& url, const std::string& payload);
  acme::http_response directory();
  acme::http_response nonce_response(unsigned status);
  acme::http_response problem(unsigned status, const std::string& type, const std::string& detail);
  acme::http_response json_response(unsigned status, const boost::json::value& body, const std::string& location = {});
  acme::http_response new_account(const std::string& payload);
  acme::http_response new_order(const std::string& payload);
  acme::http_response authorization(std::size_t i);
  acme::http_response respond(std::size_t i, std::size_t type_index, const std::string& payload);
  acme::http_response order();
  acme::http_response finalize(const std::string& payload);
  acme::http_response certificate();
  boost::json::object order_object();
  boost::json::object authorization_object(const authz& a) const;
  std::string order_status();
  void validate(authz& a);
  std::string issue(X509_REQ* req);
  bool check_jws(const acme::http_request& r, std::string& payload);

  fake_ca_options o_;
  std::string base_ = "https://ca.test";
  std::set<std::string> nonces_;  // issued and unused
  int next_nonce_ = 0;
  tls::pkey_ptr account_key_;
  std::string account_thumbprint_;
  std::vector<authz> authzs_;
  std::vector<std::string> order_names_;
  bool finalized_ = false;
  int processing_left_ = 0;
  std::vector<published_challenge> published_;
  tls::pkey_ptr ca_key_;
  tls::x509_ptr ca_cert_;
};

}  // namespace vmsgate::test
