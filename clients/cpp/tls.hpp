// Internal to the client library (connection.cpp, http.cpp): the client side of
// TLS, shared by the WebSocket and the HTTP transport.
#pragma once

#include <string>

#include <boost/asio/ssl/context.hpp>

#include "clients/cpp/client.hpp"

namespace possync::client::detail {

// A TLS client context for `options`: TLS 1.2 or newer; the peer verified
// against options.ca_file (or the system's CAs) unless options.insecure.
// "" on success, else why not (e.g. an unreadable CA file).
std::string configure_tls(boost::asio::ssl::context& tls, const Options& options);

// Per connection, before its handshake: SNI for a DNS name, and the check
// that the certificate names options.host (DNS name or IP address).
// "" on success, else why not.
std::string prepare_tls_connection(SSL* connection, const Options& options);

}  // namespace possync::client::detail
