// Minting of HS256 JSON Web Tokens, for development and tests: the `lattice`
// CLI mints tokens for a local server with the secret it is configured with.
// Production tokens come from an identity provider, not from here.
//
//   absl::StatusOr<std::string> token = MintHs256(
//       secret, {{"sub", "ada"}, {"exp", 1700000000}, {"rooms", {"lobby"}}},
//       "dev");
//
// Thread safety: MintHs256 is a pure function, safe from any thread.
#ifndef LATTICE_ENGINE_AUTH_JWT_MINTER_H_
#define LATTICE_ENGINE_AUTH_JWT_MINTER_H_

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lattice::engine {

// Returns the compact JWS of `claims` signed with HMAC SHA-256 under
// `secret`. The header is {"alg":"HS256","kid":<kid>,"typ":"JWT"}, without
// "kid" when `kid` is nullopt. The claims are serialized as given: the caller
// chooses exp, sub, rooms and the rest (see jwt_verifier.h and grants.h).
// Returns InvalidArgument when `secret` is shorter than kMinHs256SecretBytes
// (a JwtVerifier would refuse it), `claims` is not a JSON object, or a string
// in `claims` or `kid` is not valid UTF-8; Internal if OpenSSL fails.
[[nodiscard]] absl::StatusOr<std::string> MintHs256(
    absl::string_view secret, const nlohmann::json& claims,
    std::optional<std::string> kid = std::nullopt);

}  // namespace lattice::engine

#endif  // LATTICE_ENGINE_AUTH_JWT_MINTER_H_
