#include "engine/auth/jwt_minter.h"

#include <string>
#include <utility>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "engine/auth/jwt_verifier.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace lattice::engine {
namespace {

using json = nlohmann::json;

// Serializes `value` compactly; nlohmann throws on invalid UTF-8, which must
// not leave this module.
absl::StatusOr<std::string> Dump(const json& value, absl::string_view what) {
  try {
    return value.dump();
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("mint jwt: ", what, " cannot be serialized: ", e.what()));
  }
}

}  // namespace

absl::StatusOr<std::string> MintHs256(absl::string_view secret,
                                      const nlohmann::json& claims,
                                      std::optional<std::string> kid) {
  if (secret.size() < kMinHs256SecretBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("mint jwt: hs256 secret is ", secret.size(),
                     " bytes, need at least ", kMinHs256SecretBytes));
  }
  if (!claims.is_object()) {
    return absl::InvalidArgumentError("mint jwt: claims are not a json object");
  }
  json header = {{"alg", "HS256"}, {"typ", "JWT"}};
  if (kid.has_value()) header["kid"] = *std::move(kid);
  absl::StatusOr<std::string> header_json = Dump(header, "kid");
  if (!header_json.ok()) return header_json.status();
  absl::StatusOr<std::string> claims_json = Dump(claims, "claims");
  if (!claims_json.ok()) return claims_json.status();

  std::string token = absl::StrCat(absl::WebSafeBase64Escape(*header_json), ".",
                                   absl::WebSafeBase64Escape(*claims_json));
  unsigned char mac[32];
  size_t mac_length = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(),
                secret.size(),
                reinterpret_cast<const unsigned char*>(token.data()),
                token.size(), mac, sizeof(mac), &mac_length) == nullptr ||
      mac_length != sizeof(mac)) {
    ERR_clear_error();
    return absl::InternalError("mint jwt: hmac sha-256 failed");
  }
  absl::StrAppend(&token, ".",
                  absl::WebSafeBase64Escape(absl::string_view(
                      reinterpret_cast<const char*>(mac), sizeof(mac))));
  return token;
}

}  // namespace lattice::engine
