// Certificates made at test time (OpenSSL's API, no files in the tree): a
// self-signed certificate for 127.0.0.1 and localhost that is its own CA, so
// a client given it as ca_file verifies the broker that serves it.
#pragma once

#include <filesystem>
#include <string>

namespace possync::test {

struct TestCert {
  std::string cert_file;  // PEM certificate (also the CA file for clients)
  std::string key_file;   // PEM private key
};

// Writes NAME.crt and NAME.key into `dir`, the certificate naming
// `subject_alt_names` (OpenSSL's syntax). Throws on failure.
TestCert make_test_cert(const std::filesystem::path& dir, const std::string& name,
                        const std::string& subject_alt_names = "IP:127.0.0.1,DNS:localhost");

}  // namespace possync::test
