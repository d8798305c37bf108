// Secrets: session and admin tokens are 256 random bits from OpenSSL's CSPRNG,
// stored only as SHA-256 hashes and compared in constant time.
#pragma once

#include <string>
#include <string_view>

namespace possync::storage {

// 256 random bits as 64 lowercase hex characters.
std::string generate_token();
// Lowercase hex SHA-256 of the token.
std::string hash_token(std::string_view token);
// Constant-time equality of two strings of equal length (false otherwise).
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace possync::storage
