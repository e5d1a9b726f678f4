// Verification of the JSON Web Tokens (RFC 7519) that clients present to
// join rooms: compact JWS (RFC 7515) signed with HS256, RS256 or ES256.
//
//   JwtVerifierOptions options;
//   options.keys.push_back({.kid = "k1", .algorithm = JwtAlgorithm::kEs256,
//                           .material = pem_public_key});
//   options.issuer = "https://auth.example.com";
//   options.audience = "lattice";
//   LATTICE_ASSIGN_OR_RETURN(JwtVerifier verifier,
//                            JwtVerifier::Create(std::move(options)));
//   absl::StatusOr<VerifiedToken> token = verifier.Verify(bearer, now);
//   if (!token.ok()) ...  // refuse the connection; the message says why
//   if (token->grants.For(room) == Access::kNone) ...
//
// Security rules this unit enforces:
//   1. The algorithm is pinned per key. The header's `alg` must equal the
//      algorithm of the key that checks it, so an RSA or EC public key is
//      never used as an HMAC secret, and `none` is never accepted.
//   2. Key choice: a header `kid` selects exactly the key with that id (an
//      unknown kid is refused); without `kid`, every key pinned to the
//      header's `alg` is tried.
//   3. Input is bounded (JwtVerifierOptions::max_token_bytes) before any
//      decoding; base64url is decoded strictly (no padding, no whitespace,
//      canonical trailing bits); JSON errors never throw out of this unit.
//   4. The signature is checked before the payload is parsed.
//   5. `exp` is required; `nbf` and `iat` are checked when present; `iss` and
//      `aud` are checked when configured; all with the configured leeway.
//   6. A header `crit` is refused: no JWS extensions are understood.
// The verifier never reads a clock: the caller passes `now`.
//
// Thread safety: JwtVerifier is immutable after Create; Verify may be called
// concurrently from any thread. Copies share the parsed keys.
#ifndef LATTICE_ENGINE_AUTH_JWT_VERIFIER_H_
#define LATTICE_ENGINE_AUTH_JWT_VERIFIER_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/auth/grants.h"

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace lattice::engine {

// The JWS algorithms we accept (RFC 7518 section 3.1 names).
enum class JwtAlgorithm {
  kHs256,  // HMAC SHA-256
  kRs256,  // RSASSA-PKCS1-v1_5 SHA-256
  kEs256,  // ECDSA P-256 SHA-256, signature R || S (64 bytes)
};

// "HS256", "RS256" or "ES256".
absl::string_view JwtAlgorithmName(JwtAlgorithm algorithm);

// An HS256 secret shorter than the hash output weakens HMAC (RFC 7518
// section 3.2); both the verifier and the minter refuse one.
inline constexpr size_t kMinHs256SecretBytes = 32;

// One trusted key, as configured.
struct JwtKey {
  // Matched against the token header's `kid`. Default: none (the key is only
  // used for tokens without `kid`).
  std::optional<std::string> kid;
  // The only algorithm this key verifies. Default: HS256.
  JwtAlgorithm algorithm = JwtAlgorithm::kHs256;
  // HS256: the raw secret bytes (at least kMinHs256SecretBytes).
  // RS256: a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) RSA key, >= 2048 bits.
  // ES256: a PEM "PUBLIC KEY" EC key on P-256 (prime256v1).
  std::string material;
};

struct JwtVerifierOptions {
  // Keys -------------------------------------------------------------------
  // Trusted keys; kids must be unique. Default: none (every token refused).
  std::vector<JwtKey> keys;

  // Claims -----------------------------------------------------------------
  // When set, `iss` must be present and equal. Default: not checked.
  std::optional<std::string> issuer;
  // When set, `aud` (a string or an array of strings) must be present and
  // contain it. Default: not checked.
  std::optional<std::string> audience;
  // Tolerated clock skew for exp, nbf and iat; must be >= 0.
  // Default: 30 seconds.
  absl::Duration leeway = absl::Seconds(30);

  // Limits -----------------------------------------------------------------
  // Longest accepted token, in bytes, checked before decoding. Must be > 0.
  // Default: 8 KiB.
  size_t max_token_bytes = 8 * 1024;
  // Bounds on the `rooms` claim. Default: see GrantLimits.
  GrantLimits grant_limits;
};

// What a successfully verified token says.
struct VerifiedToken {
  // `sub`: the authenticated user id (required, non-empty).
  std::string subject;
  // `exp`: when the token (and so the session's authority) expires.
  absl::Time expiry;
  // `name`: a display name, when the token carries one.
  std::optional<std::string> name;
  // `rooms`: the room grants (none when the claim is absent).
  Grants grants;
};

// Verifies compact JWS tokens against a fixed set of configured keys.
// Cheap to copy (copies share the parsed keys); immutable after Create.
class JwtVerifier {
 public:
  // Parses and checks the configuration once.
  // Returns InvalidArgument when a key is unusable (short HS256 secret, PEM
  // that does not parse, wrong key type or size, duplicate kid) or an option
  // is out of range; the message names the key by index and kid.
  [[nodiscard]] static absl::StatusOr<JwtVerifier> Create(
      JwtVerifierOptions options);

  // Verifies `token` (the compact serialization, without "Bearer ") at time
  // `now`.
  // Returns:
  //   InvalidArgument  the token is malformed: too long, not three segments,
  //                    bad base64url, header or payload not a JSON object,
  //                    `exp` or `sub` missing, a claim of the wrong type or
  //                    out of range, a signature of the wrong length for its
  //                    algorithm, a bad `rooms` claim.
  //   Unauthenticated  the token is well formed but refused: algorithm not
  //                    accepted (including `none`), unknown kid, kid pinned
  //                    to another algorithm, no key for the algorithm, the
  //                    signature does not verify, expired, not yet valid,
  //                    issued in the future, wrong (or, when configured,
  //                    missing) issuer or audience, a `crit` header.
  // Messages are lowercase and start with "jwt: ". They may quote the token's
  // header values and claims, but never key material.
  [[nodiscard]] absl::StatusOr<VerifiedToken> Verify(absl::string_view token,
                                                     absl::Time now) const;

 private:
  struct Impl;
  explicit JwtVerifier(std::shared_ptr<const Impl> impl)
      : impl_(std::move(impl)) {}

  // Immutable after construction; never null.
  std::shared_ptr<const Impl> impl_;
};

}  // namespace lattice::engine

#endif  // LATTICE_ENGINE_AUTH_JWT_VERIFIER_H_
