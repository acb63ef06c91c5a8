#include "tests/acme/fake_ca.hpp"

#include "proxy/acme/jws.hpp"
#include "proxy/pki/builder.hpp"
#include "tests/acme/jose.hpp"

namespace vmsgate::test {

namespace {

namespace json = boost::json;
using acme::http_request;
using acme::http_response;

std::string member(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

// "https://ca.test/authz/3" -> ("authz", 3)
std::pair<std::string, std::size_t> split_route(const std::string& path) {
  const auto slash = path.find('/');
  if (slash == std::string::npos) return {path, 0};
  return {path.substr(0, slash), std::stoul(path.substr(slash + 1))};
}

}  // namespace

fake_ca::fake_ca(fake_ca_options o) : o_(std::move(o)) {
  ca_key_ = pki::generate_ec();
  pki::cert_spec spec;
  spec.common_name = "Fake ACME CA";
  spec.ca = true;
  spec.not_before = std::chrono::system_clock::now() - std::chrono::hours(1);
  spec.not_after = spec.not_before + std::chrono::hours(24 * 30);
  ca_cert_ = pki::make_certificate(spec, ca_key_.get(), nullptr, ca_key_.get());
}

void fake_ca::publish(const acme::challenge& c, X509* alpn_cert) {
  published_challenge p{c, {}};
  if (alpn_cert != nullptr) {
    const std::unique_ptr<ASN1_OBJECT, tls::openssl_deleter<ASN1_OBJECT_free>> oid(
        OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1));
    const int at = X509_get_ext_by_OBJ(alpn_cert, oid.get(), -1);
    if (at >= 0) {
      X509_EXTENSION* ext = X509_get_ext(alpn_cert, at);
      const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(ext);
      p.alpn_extension.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                              static_cast<std::size_t>(ASN1_STRING_length(data)));
      if (X509_EXTENSION_get_critical(ext) != 1) violations.push_back("acmeIdentifier not critical");
    }
  }
  published_.push_back(std::move(p));
}

http_response fake_ca::handle(const http_request& r) {
  if (r.method == "GET" && r.url == directory_url()) return directory();
  if ((r.method == "HEAD" || r.method == "GET") && r.url == base_ + "/nonce") {
    return nonce_response(r.method == "HEAD" ? 200 : 204);
  }
  if (r.method != "POST") {
    violations.push_back(r.method + " " + r.url);
    return problem(405, "urn:ietf:params:acme:error:malformed", "use POST-as-GET");
  }
  return post(r);
}

http_response fake_ca::post(const http_request& r) {
  std::string payload;
  if (!check_jws(r, payload)) return problem(400, "urn:ietf:params:acme:error:malformed", "bad JWS");
  if (o_.bad_nonces > 0) {
    --o_.bad_nonces;
    return problem(400, "urn:ietf:params:acme:error:badNonce", "JWS has an invalid anti-replay nonce");
  }
  if (r.url.rfind(base_ + "/", 0) != 0) return problem(404, "urn:ietf:params:acme:error:malformed", "not found");
  http_response out = route(r.url.substr(base_.size() + 1), payload);
  const std::string what = split_route(r.url.substr(base_.size() + 1)).first;
  if (what == o_.omit_nonce) out.replay_nonce.clear();
  if (out.body.empty() || out.status >= 400) return out;
  if (out.body.front() == '{' && o_.malformed == what) {
    out.body = "{\"status\": \"val";
  }
  return out;
}

http_response fake_ca::route(const std::string& path, const std::string& payload) {
  const auto [what, index] = split_route(path);
  if (what == "new-account") return new_account(payload);
  if (what != "new-order" && account_key_ == nullptr) return problem(403, "urn:ietf:params:acme:error:unauthorized", "no account");
  // Every other resource is read with POST-as-GET, except a challenge's response.
  if (what != "new-order" && what != "finalize" && what != "chall" && !payload.empty()) {
    violations.push_back("POST-as-GET with a payload to " + path);
  }
  if (what == "new-order") return new_order(payload);
  if (what == "authz" && index < authzs_.size()) return authorization(index);
  if (what == "chall" && index / 10 < authzs_.size()) return respond(index / 10, index % 10, payload);
  if (what == "order") return order();
  if (what == "finalize") return finalize(payload);
  if (what == "cert") return certificate();
  return problem(404, "urn:ietf:params:acme:error:malformed", "no such resource " + path);
}

http_response fake_ca::directory() {
  json::object dir{{"newNonce", base_ + "/nonce"},
                   {"newAccount", base_ + "/new-account"},
                   {"newOrder", base_ + "/new-order"},
                   {"revokeCert", base_ + "/revoke"},
                   {"meta", json::object{{"termsOfService", base_ + "/tos"}}}};
  if (o_.renewal_info) dir["renewalInfo"] = base_ + "/renewal-info";
  if (o_.directory_without_new_order) dir.erase("newOrder");
  http_response out = json_response(200, dir);
  out.replay_nonce.clear();
  if (o_.malformed == "directory") out.body = "<html>";
  return out;
}

http_response fake_ca::nonce_response(unsigned status) {
  http_response out;
  out.status = status;
  out.replay_nonce = "nonce-" + std::to_string(++next_nonce_);
  nonces_.insert(out.replay_nonce);
  return out;
}

http_response fake_ca::problem(unsigned status, const std::string& type, const std::string& detail) {
  http_response out = json_response(status, json::object{{"type", type}, {"detail", detail}, {"status", status}});
  out.content_type = "application/problem+json";
  return out;
}

http_response fake_ca::json_response(unsigned status, const json::value& body, const std::string& location) {
  http_response out = nonce_response(status);
  out.location = location;
  out.content_type = "application/json";
  out.body = json::serialize(body);
  return out;
}

bool fake_ca::check_jws(const http_request& r, std::string& payload) {
  const auto jws = jose::decode(r.body);
  if (!jws) return violations.push_back("not a JWS: " + r.body), false;
  const json::object& h = jws->header;
  const std::string nonce = member(h, "nonce");
  if (nonces_.erase(nonce) == 0) violations.push_back("nonce not issued or used twice: " + nonce);
  if (member(h, "url") != r.url) violations.push_back("url " + member(h, "url") + " for " + r.url);
  const bool has_jwk = h.contains("jwk");
  const bool has_kid = h.contains("kid");
  if (has_jwk == has_kid) return violations.push_back("jwk and kid both or neither"), false;
  tls::pkey_ptr from_jwk;
  EVP_PKEY* key = account_key_.get();
  if (has_jwk) {
    from_jwk = jose::key_from_jwk(h.at("jwk").as_object());
    key = from_jwk.get();
    if (r.url != base_ + "/new-account") violations.push_back("jwk outside newAccount");
  } else if (member(h, "kid") != account_url()) {
    violations.push_back("kid " + member(h, "kid"));
  }
  if (key == nullptr || !jose::verify(key, member(h, "alg"), *jws)) return violations.push_back("bad signature"), false;
  if (from_jwk && !account_key_) {
    account_thumbprint_ = jose::thumbprint(h.at("jwk").as_object());
    account_key_ = std::move(from_jwk);
  }
  payload = jws->payload;
  return true;
}

http_response fake_ca::new_account(const std::string& payload) {
  new_account_payload = json::parse(payload).as_object();
  return json_response(201, json::object{{"status", "valid"}}, account_url());
}

http_response fake_ca::new_order(const std::string& payload) {
  const json::object p = json::parse(payload).as_object();
  new_order_payloads.push_back(p);
  if (o_.rate_limit_new_order) {
    http_response out = problem(429, "urn:ietf:params:acme:error:rateLimited", "too many new orders recently");
    out.retry_after = std::chrono::seconds(120);
    return out;
  }
  if (o_.reject_replaces && p.contains("replaces")) {
    return problem(409, "urn:ietf:params:acme:error:alreadyReplaced", "already replaced by another order");
  }
  for (const auto& id : p.at("identifiers").as_array()) {
    authz a;
    a.name = member(id.as_object(), "value");
    a.token = o_.token_prefix + std::to_string(authzs_.size()) + "_Ab9";
    order_names_.push_back(a.name);
    authzs_.push_back(a);
  }
  if (!o_.foreign_name.empty()) authzs_.front().name = o_.foreign_name;
  if (o_.first_authorization_valid) {
    authzs_.front().status = "valid";
    authzs_.front().challenge_type = "http-01";
    authzs_.front().challenge_status = "valid";
  }
  if (o_.first_challenge_processing) {
    authzs_.front().challenge_type = "tls-alpn-01";
    authzs_.front().challenge_status = "processing";
    authzs_.front().polls_left = o_.validation_polls;
  }
  return json_response(201, order_object(), base_ + "/order/1");
}

json::object fake_ca::order_object() {
  json::array list;
  for (std::size_t i = 0; i < authzs_.size(); ++i) list.push_back(json::string(base_ + "/authz/" + std::to_string(i)));
  const std::string status = order_status();
  json::object out{{"status", status}, {"authorizations", list}, {"finalize", base_ + "/finalize/1"}};
  if (status == "valid") out["certificate"] = base_ + "/cert/1";
  return out;
}

std::string fake_ca::order_status() {
  bool all_valid = true;
  for (const auto& a : authzs_) {
    if (a.status == "invalid") return "invalid";
    all_valid = all_valid && a.status == "valid";
  }
  if (!all_valid) return "pending";
  if (!finalized_) return "ready";
  return processing_left_ > 0 ? "processing" : "valid";
}

json::object fake_ca::authorization_object(const authz& a) const {
  json::array challenges;
  const std::size_t i = static_cast<std::size_t>(&a - authzs_.data());
  for (std::size_t t = 0; t < o_.challenge_types.size(); ++t) {
    const bool chosen = o_.challenge_types[t] == a.challenge_type;
    json::object c{{"type", o_.challenge_types[t]},
                   {"url", base_ + "/chall/" + std::to_string(i * 10 + t)},
                   {"token", a.token},
                   {"status", chosen ? a.challenge_status : "pending"}};
    if (a.failed && o_.challenge_types[t] == a.challenge_type) {
      c["error"] = json::object{{"type", "urn:ietf:params:acme:error:tls"}, {"detail", invalid_detail}};
    }
    challenges.push_back(std::move(c));
  }
  return {{"identifier", json::object{{"type", "dns"}, {"value", a.name}}},
          {"status", a.status},
          {"challenges", std::move(challenges)}};
}

http_response fake_ca::authorization(std::size_t i) {
  authz& a = authzs_[i];
  if (a.status == "pending" && a.challenge_status != "pending" && --a.polls_left <= 0) validate(a);
  return json_response(200, authorization_object(a));
}

http_response fake_ca::respond(std::size_t i, std::size_t type_index, const std::string& payload) {
  authz& a = authzs_[i];
  if (payload != "{}") violations.push_back("challenge response payload " + payload);
  if (type_index >= o_.challenge_types.size()) return problem(404, "urn:ietf:params:acme:error:malformed", "no challenge");
  a.challenge_type = o_.challenge_types[type_index];
  validated_types.push_back(a.challenge_type);
  tokens[a.name] = a.token;
  a.challenge_status = "processing";
  a.polls_left = o_.validation_polls;
  json::object c{{"type", a.challenge_type}, {"url", base_ + "/chall/" + std::to_string(i * 10 + type_index)},
                 {"token", a.token}, {"status", a.challenge_status}};
  return json_response(200, c);
}

// What the CA's validation server would find: the published key authorization,
// and for tls-alpn-01 the certificate's acmeIdentifier holding its hash.
void fake_ca::validate(authz& a) {
  const std::string expected = a.token + "." + account_thumbprint_;
  bool found = false;
  for (const auto& p : published_) {
    if (p.c.name != a.name || p.c.token != a.token) continue;
    found = p.c.key_authorization == expected &&
            (a.challenge_type != "tls-alpn-01" || p.alpn_extension == "\x04\x20" + jose::sha256(expected));
  }
  if (a.challenge_status == "processing" && o_.first_challenge_processing && &a == &authzs_.front()) found = true;
  if (!found) violations.push_back("validation of " + a.name + " found no matching challenge");
  a.failed = o_.challenge_invalid || !found;
  a.status = a.failed ? "invalid" : "valid";
  a.challenge_status = a.status;
}

}  // namespace vmsgate::test
