// The fake CA's end of an order: finalize with the CSR, processing, the chain.

#include "proxy/acme/jws.hpp"
#include "proxy/pki/builder.hpp"
#include "tests/acme/csr_names.hpp"
#include "tests/acme/fake_ca.hpp"

namespace vmsgate::test {

namespace {

namespace json = boost::json;
using x509_req_ptr = std::unique_ptr<X509_REQ, tls::openssl_deleter<X509_REQ_free>>;

}  // namespace

acme::http_response fake_ca::order() {
  if (finalized_ && processing_left_ > 0) --processing_left_;
  acme::http_response out = json_response(200, order_object());
  if (processing_left_ > 0) out.retry_after = std::chrono::seconds(3);
  return out;
}

acme::http_response fake_ca::finalize(const std::string& payload) {
  if (const std::string status = order_status(); status != "ready") {
    return problem(403, "urn:ietf:params:acme:error:orderNotReady", "the order is " + status);
  }
  const json::object p = json::parse(payload).as_object();
  const auto* csr = p.if_contains("csr");
  const auto der = csr != nullptr && csr->is_string() ? acme::base64url_decode(csr->get_string()) : std::nullopt;
  const auto* q = der ? reinterpret_cast<const unsigned char*>(der->data()) : nullptr;
  x509_req_ptr req(der ? d2i_X509_REQ(nullptr, &q, static_cast<long>(der->size())) : nullptr);
  if (!req || X509_REQ_verify(req.get(), X509_REQ_get0_pubkey(req.get())) != 1) {
    violations.push_back("CSR does not parse or verify");
    return problem(400, "urn:ietf:params:acme:error:badCSR", "bad CSR");
  }
  csr_names = csr_dns_names(req.get());
  csr_common_name = csr_cn(req.get());
  const std::set<std::string> asked(order_names_.begin(), order_names_.end());
  if (std::set<std::string>(csr_names.begin(), csr_names.end()) != asked) {
    violations.push_back("CSR names differ from the order's");
    return problem(400, "urn:ietf:params:acme:error:badCSR", "names differ");
  }
  issued_pem = issue(req.get());
  finalized_ = true;
  processing_left_ = o_.processing_polls;
  acme::http_response out = json_response(200, order_object());
  if (processing_left_ > 0) out.retry_after = std::chrono::seconds(3);
  return out;
}

acme::http_response fake_ca::certificate() {
  if (order_status() != "valid") return problem(403, "urn:ietf:params:acme:error:unauthorized", "not issued yet");
  acme::http_response out = nonce_response(200);
  out.content_type = "application/pem-certificate-chain";
  out.body = issued_pem;
  return out;
}

std::string fake_ca::issue(X509_REQ* req) {
  pki::cert_spec spec;
  spec.common_name = csr_cn(req);
  spec.dns_names = csr_dns_names(req);
  spec.not_before = std::chrono::system_clock::now() - std::chrono::hours(1);
  spec.not_after = spec.not_before + std::chrono::hours(24 * 90);
  const tls::pkey_ptr other = o_.issue_for_other_key ? pki::generate_ec() : nullptr;
  EVP_PKEY* subject = other ? other.get() : X509_REQ_get0_pubkey(req);
  const tls::x509_ptr leaf = pki::make_certificate(spec, subject, ca_cert_.get(), ca_key_.get());
  return pki::to_pem(leaf.get()) + pki::to_pem(ca_cert_.get());
}

}  // namespace vmsgate::test
