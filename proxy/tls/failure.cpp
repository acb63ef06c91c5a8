#include "proxy/tls/failure.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

namespace vmsgate::tls {
namespace {

failure_reason from_verify_result(long v) {
  switch (v) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return failure_reason::expired;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return failure_reason::name_mismatch;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
      return failure_reason::unknown_ca;
    // Our verify callback (peer_verify.cpp) refuses a chain that verified but whose
    // leaf fails every peer role's rules (peer_names) with this code.
    case X509_V_ERR_APPLICATION_VERIFICATION:
      return failure_reason::peer_not_allowed;
    // The role's CRL lists the peer (peer_verify.cpp).
    case X509_V_ERR_CERT_REVOKED:
      return failure_reason::revoked;
    default:
      return failure_reason::bad_certificate;
  }
}

// A fatal alert from the peer tells what the peer thought of us.
failure_reason from_alert(int alert) {
  switch (alert) {
    case SSL_AD_CERTIFICATE_EXPIRED: return failure_reason::expired;
    case SSL_AD_UNKNOWN_CA: return failure_reason::unknown_ca;
    case SSL_AD_CERTIFICATE_REVOKED: return failure_reason::revoked;
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_UNKNOWN:
      return failure_reason::bad_certificate;
    case SSL_AD_CERTIFICATE_REQUIRED: return failure_reason::no_certificate;
    case SSL_AD_UNRECOGNIZED_NAME: return failure_reason::name_mismatch;
    case SSL_AD_ACCESS_DENIED: return failure_reason::peer_not_allowed;
    default: return failure_reason::protocol;
  }
}

}  // namespace

failure_reason classify(const failure_facts& f) {
  if (f.timed_out) return failure_reason::timeout;
  if (f.peer_check_refused) return failure_reason::peer_not_allowed;
  if (f.verify_result != X509_V_OK) return from_verify_result(f.verify_result);
  int alert = f.alert_received;
  // OpenSSL reports a received alert as an SSL error whose reason is offset by 1000.
  if (alert < 0 && f.lib == ERR_LIB_SSL && f.reason >= SSL_AD_REASON_OFFSET) alert = f.reason - SSL_AD_REASON_OFFSET;
  if (alert >= 0) return from_alert(alert);
  if (f.lib == ERR_LIB_SSL) {
    switch (f.reason) {
      case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE: return failure_reason::no_certificate;
      case SSL_R_CERTIFICATE_VERIFY_FAILED: return failure_reason::bad_certificate;
      case SSL_R_CALLBACK_FAILED: return failure_reason::name_mismatch;  // the SNI check
      default: return failure_reason::protocol;
    }
  }
  if (f.connection_closed) return failure_reason::other;
  return f.lib != 0 ? failure_reason::protocol : failure_reason::other;
}

}  // namespace vmsgate::tls
