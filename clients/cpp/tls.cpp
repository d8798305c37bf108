#include "clients/cpp/tls.hpp"

#include <boost/asio/ip/address.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace possync::client::detail {

namespace asio = boost::asio;

std::string configure_tls(asio::ssl::context& tls, const Options& options) {
  SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  if (options.insecure) {
    tls.set_verify_mode(asio::ssl::verify_none, ec);
    return ec ? "tls: " + ec.message() : "";
  }
  tls.set_verify_mode(asio::ssl::verify_peer, ec);
  if (!ec && !options.ca_file.empty()) {
    tls.load_verify_file(options.ca_file, ec);
    if (ec) return "tls: cannot use CA file " + options.ca_file + ": " + ec.message();
  } else if (!ec) {
    tls.set_default_verify_paths(ec);
  }
  return ec ? "tls: " + ec.message() : "";
}

std::string prepare_tls_connection(SSL* connection, const Options& options) {
  boost::system::error_code ec;
  asio::ip::make_address(options.host, ec);
  const bool ip_literal = !ec;
  // SNI carries DNS names only (RFC 6066).
  // SSL_set_tlsext_host_name without its macro's C cast.
  if (!ip_literal && SSL_ctrl(connection, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                              const_cast<char*>(options.host.c_str())) != 1) {
    return "tls: cannot set the server name " + options.host;
  }
  if (options.insecure) return "";
  // OpenSSL checks the name (or the IP address) during the handshake.
  X509_VERIFY_PARAM* param = SSL_get0_param(connection);
  const int ok = ip_literal ? X509_VERIFY_PARAM_set1_ip_asc(param, options.host.c_str())
                            : X509_VERIFY_PARAM_set1_host(param, options.host.c_str(), options.host.size());
  return ok == 1 ? "" : "tls: cannot check the certificate's name against " + options.host;
}

}  // namespace possync::client::detail
