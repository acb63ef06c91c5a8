#include "proxy/acme/order.hpp"

#include <algorithm>
#include <cctype>

#include "proxy/acme/certs.hpp"
#include "proxy/acme/messages.hpp"

namespace vmsgate::acme {

namespace {

namespace json = boost::json;
using messages::one_line;
using messages::optional_string;
using messages::require_string;

constexpr std::string_view bad_nonce = "urn:ietf:params:acme:error:badNonce";
constexpr std::string_view already_replaced = "urn:ietf:params:acme:error:alreadyReplaced";

// RFC 8555 names 200 and 201 for its successes and 204 for GET newNonce; any 2xx
// is taken, as the body or headers then say what happened.
bool success(unsigned status) { return status >= 200 && status < 300; }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

step make_step(step::kind what) {
  step s;
  s.what = what;
  return s;
}

std::string identifiers_payload(const std::vector<std::string>& names, const std::optional<std::string>& replaces) {
  json::array ids;
  for (const auto& name : names) ids.push_back(json::object{{"type", "dns"}, {"value", name}});
  json::object payload{{"identifiers", std::move(ids)}};
  if (replaces) payload["replaces"] = *replaces;
  return json::serialize(payload);
}

std::vector<std::string> authorization_urls(const json::object& order) {
  const auto* list = order.if_contains("authorizations");
  if (list == nullptr || !list->is_array()) throw error("the response has no \"authorizations\" list");
  std::vector<std::string> out;
  for (const auto& v : list->get_array()) {
    if (!v.is_string()) throw error("an authorization URL is not a string");
    out.emplace_back(v.get_string());
  }
  return out;
}

}  // namespace

std::string_view to_string(challenge_type t) { return t == challenge_type::http_01 ? "http-01" : "tls-alpn-01"; }

order_machine::order_machine(order_settings s, const account_key& account, EVP_PKEY* certificate_key)
    : settings_(std::move(s)), account_(&account), certificate_key_(certificate_key) {}

// Every step function ends here or in a step: whatever throws (a malformed field,
// an OpenSSL failure) becomes a failed step naming the request it concerned.
template <typename F>
step order_machine::guarded(F&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return fail(pending_.what + ": " + e.what());
  }
}

step order_machine::start() {
  if (phase_ != phase::idle) return fail("start: the order has already started");
  if (settings_.directory_url.empty()) return fail("directory: no directory URL");
  if (settings_.names.empty()) return fail("newOrder: no names to order a certificate for");
  if (certificate_key_ == nullptr) return fail("finalize: no certificate key");
  return guarded([&] { return begin(phase::directory, {"directory", "GET", settings_.directory_url, {}, false}); });
}

step order_machine::received(const http_response& r) {
  if (!awaiting_response_) return fail("received: no request is outstanding");
  awaiting_response_ = false;
  // Any response may carry the next nonce, errors included (RFC 8555 section 6.5).
  if (!r.replay_nonce.empty()) nonce_ = r.replay_nonce;
  return guarded([&] { return dispatch(r); });
}

step order_machine::published() {
  if (phase_ != phase::publishing) return fail("published: no publish step is outstanding");
  return guarded([&] {
    return begin(phase::challenge, {"challenge for " + authorization_name_, "POST", challenge_url_, "{}", false});
  });
}

step order_machine::waited() {
  return guarded([&] {
    if (phase_ == phase::waiting_authorization) {
      return post_as_get(phase::authorization, authorization_what(), authorizations_.at(authorization_index_));
    }
    if (phase_ == phase::waiting_order) return post_as_get(phase::order, "order", order_url_);
    return fail("waited: no wait step is outstanding");
  });
}

step order_machine::dispatch(const http_response& r) {
  if (fetching_nonce_) return on_nonce(r);
  if (!success(r.status)) return after_failure(r);
  switch (phase_) {
    case phase::directory: return on_directory(r);
    case phase::account: return on_account(r);
    case phase::new_order: return on_new_order(r);
    case phase::authorization: return on_authorization(r);
    case phase::challenge: return on_challenge(r);
    case phase::order:
    case phase::finalize: return on_order(messages::parse_object(r.body), r);
    case phase::certificate: return on_certificate(r);
    default: return fail("received: a response where none was expected");
  }
}

// Sends pending_, first fetching a nonce when the last response brought none.
step order_machine::transmit() {
  step s = make_step(step::kind::request);
  fetching_nonce_ = pending_.method == "POST" && nonce_.empty();
  if (fetching_nonce_) {
    s.request = {"HEAD", new_nonce_url_, {}};
  } else {
    s.request = {pending_.method, pending_.url, {}};
    if (pending_.method == "POST") {
      const auto payload = pending_.payload ? std::optional<std::string_view>(*pending_.payload) : std::nullopt;
      s.request.body = jws(*account_, pending_.url, nonce_, pending_.with_jwk ? std::string() : account_url_, payload);
      nonce_.clear();  // a nonce is good for one request only
    }
  }
  ++requests_;
  awaiting_response_ = true;
  return s;
}

step order_machine::begin(phase next, pending_request request) {
  phase_ = next;
  pending_ = std::move(request);
  bad_nonces_in_a_row_ = 0;
  return transmit();
}

step order_machine::post_as_get(phase next, std::string what, std::string url) {
  return begin(next, {std::move(what), "POST", std::move(url), std::nullopt, false});
}

step order_machine::fail(std::string message, std::optional<std::chrono::seconds> retry_after) {
  phase_ = phase::finished;
  awaiting_response_ = false;
  fetching_nonce_ = false;
  step s = make_step(step::kind::failed);
  s.error = one_line(message, 1000);
  s.retry_after = retry_after;
  return s;
}

step order_machine::after_failure(const http_response& r) {
  const std::string type = messages::problem_type(r.body);
  if (type == bad_nonce && pending_.method == "POST") return retry_bad_nonce(r);
  // The certificate was already replaced by another order, perhaps an earlier
  // attempt of ours: ordering without the hint beats not ordering.
  if (phase_ == phase::new_order && type == already_replaced && replaces_sent_ && !replaces_dropped_) {
    replaces_dropped_ = true;
    return send_new_order();
  }
  return fail(messages::status_failure(pending_.what, r), r.retry_after);
}

// RFC 8555 section 6.5: a badNonce answer brings a fresh nonce to resend with.
step order_machine::retry_bad_nonce(const http_response& r) {
  if (bad_nonces_in_a_row_ >= settings_.max_bad_nonce_retries) {
    return fail(messages::status_failure(pending_.what, r) + " (given up after " + std::to_string(bad_nonces_in_a_row_) +
                    " retries)",
                r.retry_after);
  }
  ++bad_nonces_in_a_row_;
  ++bad_nonce_retries_;
  return transmit();
}

step order_machine::wait(phase next, const std::string& status, std::optional<std::chrono::seconds> retry_after) {
  if (++polls_ > settings_.max_polls) {
    return fail(pending_.what + ": still " + one_line(status, 40) + " after " + std::to_string(settings_.max_polls) +
                " polls");
  }
  phase_ = next;
  step s = make_step(step::kind::wait);
  s.delay = retry_after ? std::chrono::duration_cast<std::chrono::milliseconds>(*retry_after) : settings_.poll_interval;
  return s;
}

step order_machine::on_nonce(const http_response& r) {
  fetching_nonce_ = false;
  if (!success(r.status)) return fail(messages::status_failure("newNonce", r), r.retry_after);
  if (nonce_.empty()) return fail("newNonce: the response has no Replay-Nonce header");
  return transmit();
}

step order_machine::on_directory(const http_response& r) {
  const json::object dir = messages::parse_object(r.body);
  new_nonce_url_ = require_string(dir, "newNonce");
  new_account_url_ = require_string(dir, "newAccount");
  new_order_url_ = require_string(dir, "newOrder");
  renewal_info_url_ = optional_string(dir, "renewalInfo");
  json::object payload{{"termsOfServiceAgreed", true}};
  if (!settings_.contact.empty()) {
    payload["contact"] = json::array(settings_.contact.begin(), settings_.contact.end());
  }
  return begin(phase::account, {"newAccount", "POST", new_account_url_, json::serialize(payload), true});
}

// 201 makes an account, 200 finds the one this key already has; both say where.
step order_machine::on_account(const http_response& r) {
  if (r.location.empty()) return fail("newAccount: the response has no Location header (the account URL)");
  if (!r.body.empty()) {
    const std::string status = optional_string(messages::parse_object(r.body), "status");
    if (!status.empty() && status != "valid") return fail("newAccount: the account is " + one_line(status, 40));
  }
  account_url_ = r.location;
  return send_new_order();
}

step order_machine::send_new_order() {
  replaces_sent_ = settings_.replaces && directory_has_renewal_info() && !replaces_dropped_;
  const std::string payload = identifiers_payload(settings_.names, replaces_sent_ ? settings_.replaces : std::nullopt);
  return begin(phase::new_order, {"newOrder", "POST", new_order_url_, payload, false});
}

step order_machine::on_new_order(const http_response& r) {
  if (r.location.empty()) return fail("newOrder: the response has no Location header (the order URL)");
  const json::object order = messages::parse_object(r.body);
  finalize_url_ = require_string(order, "finalize");
  authorizations_ = authorization_urls(order);
  order_url_ = r.location;
  return on_order(order, r);
}

// The order's status decides the next step, whichever request brought it.
step order_machine::on_order(const json::object& order, const http_response& r) {
  const std::string status = require_string(order, "status");
  if (status == "valid") return post_as_get(phase::certificate, "certificate", require_string(order, "certificate"));
  if (status == "invalid") {
    const auto* e = order.if_contains("error");
    return fail(pending_.what + ": the order is invalid" +
                (e != nullptr && e->is_object() ? ": " + messages::problem_text(e->get_object()) : std::string()));
  }
  if (status == "ready" && !finalized_) return send_finalize();
  if (status == "pending" && !authorizations_listed_) {
    authorizations_listed_ = true;
    authorization_index_ = 0;
    return next_authorization();
  }
  if (status == "pending" || status == "ready" || status == "processing") {
    return wait(phase::waiting_order, status, r.retry_after);
  }
  return fail(pending_.what + ": the order's status is \"" + one_line(status, 40) + "\"");
}

step order_machine::next_authorization() {
  polls_ = 0;
  responded_ = false;
  authorization_name_.clear();
  challenge_url_.clear();
  // All valid: the order should now be ready, which its status confirms.
  if (authorization_index_ >= authorizations_.size()) return post_as_get(phase::order, "order", order_url_);
  return post_as_get(phase::authorization, authorization_what(), authorizations_[authorization_index_]);
}

std::string order_machine::authorization_what() const {
  if (authorization_name_.empty()) return "authorization " + one_line(authorizations_.at(authorization_index_), 200);
  return "authorization for " + authorization_name_;
}

bool order_machine::ordered(const std::string& name) const {
  const std::string n = lower(name);
  return std::any_of(settings_.names.begin(), settings_.names.end(),
                     [&](const std::string& s) { return lower(s) == n || lower(s) == "*." + n; });
}

step order_machine::on_authorization(const http_response& r) {
  const json::object authz = messages::parse_object(r.body);
  const auto* id = authz.if_contains("identifier");
  if (id == nullptr || !id->is_object()) throw error("the response has no \"identifier\"");
  authorization_name_ = one_line(require_string(id->get_object(), "value"), 253);
  pending_.what = authorization_what();
  // A challenge is published for the names this order asked for and no others.
  if (!ordered(authorization_name_)) return fail(pending_.what + ": not a name this order asked for");
  const std::string status = require_string(authz, "status");
  if (status == "valid") {
    ++authorization_index_;
    return next_authorization();
  }
  const std::string_view type = to_string(settings_.challenge);
  if (status == "invalid") return fail(pending_.what + ": " + messages::invalid_reason(authz, type));
  if (status != "pending") return fail(pending_.what + ": the authorization is " + one_line(status, 40));
  if (responded_) return wait(phase::waiting_authorization, status, r.retry_after);
  const json::object* chall = messages::find_challenge(authz, type);
  if (chall == nullptr) {
    return fail(pending_.what + ": no " + std::string(type) + " challenge offered (offered: " +
                messages::offered_types(authz) + ")");
  }
  return respond_to(*chall, r);
}

step order_machine::respond_to(const json::object& chall, const http_response& r) {
  challenge_url_ = require_string(chall, "url");
  const std::string status = optional_string(chall, "status");
  if (status == "invalid") return fail(pending_.what + ": " + messages::challenge_failure(chall));
  // Under way already (an earlier run of ours responded): nothing to publish.
  if (status == "processing" || status == "valid") {
    responded_ = true;
    return wait(phase::waiting_authorization, "pending", r.retry_after);
  }
  const std::string token = require_string(chall, "token");
  if (!messages::valid_token(token)) return fail(pending_.what + ": the challenge's token is not base64url");
  challenges_.push_back({settings_.challenge, authorization_name_, token, key_authorization(token, *account_)});
  phase_ = phase::publishing;
  step s = make_step(step::kind::publish);
  s.to_publish = challenges_.back();
  return s;
}

step order_machine::on_challenge(const http_response& r) {
  responded_ = true;
  pending_.what = authorization_what();
  // The answer is the challenge object; a server that sends none still validates.
  const json::object chall = r.body.empty() ? json::object() : messages::parse_object(r.body);
  const std::string status = optional_string(chall, "status");
  if (status == "invalid") return fail(pending_.what + ": " + messages::challenge_failure(chall));
  if (status == "valid") {
    return post_as_get(phase::authorization, authorization_what(), authorizations_.at(authorization_index_));
  }
  return wait(phase::waiting_authorization, "pending", r.retry_after);
}

step order_machine::send_finalize() {
  finalized_ = true;
  polls_ = 0;
  pending_.what = "finalize";
  json::object payload{{"csr", base64url(make_csr_der(settings_.names, certificate_key_))}};
  return begin(phase::finalize, {"finalize", "POST", finalize_url_, json::serialize(payload), false});
}

step order_machine::on_certificate(const http_response& r) {
  const auto chain = parse_pem_chain(r.body);
  if (chain.empty()) return fail("certificate: the response holds no PEM certificate");
  // A CA that answers with someone else's certificate must not get it installed.
  if (EVP_PKEY_eq(X509_get0_pubkey(chain.front().get()), certificate_key_) != 1) {
    tls::drain_errors();
    return fail("certificate: the leaf certificate is not for the key of the CSR");
  }
  phase_ = phase::finished;
  step s = make_step(step::kind::done);
  s.certificate_pem = r.body;
  return s;
}

}  // namespace vmsgate::acme
