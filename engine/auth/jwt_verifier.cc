#include "engine/auth/jwt_verifier.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "base/status_macros.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace lattice::engine {
namespace {

using json = nlohmann::json;

constexpr size_t kHs256SignatureBytes = 32;
constexpr int kEs256CoordinateBytes = 32;
constexpr size_t kEs256SignatureBytes = 2 * kEs256CoordinateBytes;
constexpr int kMinRsaBits = 2048;
// Bounds the PEM handed to OpenSSL (and the int length BIO_new_mem_buf takes).
constexpr size_t kMaxPemBytes = 64 * 1024;
// 9999-12-31T23:59:59Z: NumericDates beyond are refused as out of range.
constexpr int64_t kMaxNumericDate = 253402300799;
// Untrusted strings quoted in messages are cut to this many bytes.
constexpr size_t kMaxQuotedBytes = 64;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("jwt: ", what));
}

absl::Status Refused(absl::string_view what) {
  return absl::UnauthenticatedError(absl::StrCat("jwt: ", what));
}

// Quotes an untrusted string for a message: escaped and length-bounded, so
// a token cannot inject control characters or megabytes into logs.
std::string Quote(absl::string_view s) {
  std::string out =
      absl::StrCat("\"", absl::CEscape(s.substr(0, kMaxQuotedBytes)), "\"");
  if (s.size() > kMaxQuotedBytes) out += "...";
  return out;
}

std::string FormatInstant(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Decodes unpadded base64url (RFC 7515 section 2) and refuses anything else:
// padding, whitespace, the '+' '/' alphabet, and non-zero unused bits in the
// last character (so each byte string has exactly one accepted encoding).
std::optional<std::string> DecodeBase64Url(absl::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  for (char c : in) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' &&
        c != '_') {
      return std::nullopt;
    }
  }
  std::string out;
  if (!absl::WebSafeBase64Unescape(in, &out)) return std::nullopt;
  if (absl::WebSafeBase64Escape(out) != in) return std::nullopt;
  return out;
}

absl::StatusOr<std::string> DecodeSegment(absl::string_view segment,
                                          absl::string_view what) {
  std::optional<std::string> bytes = DecodeBase64Url(segment);
  if (!bytes.has_value()) {
    return Malformed(absl::StrCat(what, " is not base64url"));
  }
  return *std::move(bytes);
}

absl::StatusOr<json> ParseJsonObject(absl::string_view bytes,
                                     absl::string_view what) {
  json value = json::parse(bytes.data(), bytes.data() + bytes.size(),
                           /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return Malformed(absl::StrCat(what, " is not valid json"));
  }
  if (!value.is_object()) {
    return Malformed(absl::StrCat(what, " is not a json object"));
  }
  return value;
}

absl::StatusOr<JwtAlgorithm> ParseAlgorithm(const json& header) {
  auto it = header.find("alg");
  if (it == header.end()) return Malformed("header has no alg");
  if (!it->is_string()) return Malformed("header alg is not a string");
  const std::string& alg = it->get_ref<const std::string&>();
  // Names are case-sensitive (RFC 7515 section 4.1.1): "hs256" is refused.
  if (alg == "HS256") return JwtAlgorithm::kHs256;
  if (alg == "RS256") return JwtAlgorithm::kRs256;
  if (alg == "ES256") return JwtAlgorithm::kEs256;
  if (absl::EqualsIgnoreCase(alg, "none")) {
    return Refused("algorithm none is not accepted");
  }
  return Refused(absl::StrCat("algorithm ", Quote(alg), " is not accepted"));
}

// Reads a NumericDate claim (RFC 7519 section 2): seconds since the epoch,
// integer or fractional.
absl::StatusOr<absl::Time> ParseNumericDate(const json& value,
                                            const char* claim) {
  const auto out_of_range = [&] {
    return Malformed(absl::StrCat("claim ", claim, " is out of range"));
  };
  if (value.is_number_unsigned()) {
    const uint64_t seconds = value.get<uint64_t>();
    if (seconds > static_cast<uint64_t>(kMaxNumericDate)) {
      return out_of_range();
    }
    return absl::FromUnixSeconds(static_cast<int64_t>(seconds));
  }
  if (value.is_number_integer()) {  // Signed, so negative here.
    return out_of_range();
  }
  if (value.is_number_float()) {
    const double seconds = value.get<double>();
    // Written so that NaN fails too.
    if (!(seconds >= 0 && seconds <= static_cast<double>(kMaxNumericDate))) {
      return out_of_range();
    }
    return absl::FromUnixMicros(static_cast<int64_t>(seconds * 1e6));
  }
  return Malformed(absl::StrCat("claim ", claim, " is not a number"));
}

absl::StatusOr<std::optional<absl::Time>> OptionalNumericDate(
    const json& claims, const char* claim) {
  auto it = claims.find(claim);
  if (it == claims.end()) return std::nullopt;
  LATTICE_ASSIGN_OR_RETURN(absl::Time t, ParseNumericDate(*it, claim));
  return t;
}

// Returns the claim's string value, nullopt when absent, InvalidArgument when
// present with another type.
absl::StatusOr<std::optional<std::string>> OptionalString(const json& claims,
                                                          const char* claim) {
  auto it = claims.find(claim);
  if (it == claims.end()) return std::nullopt;
  if (!it->is_string()) {
    return Malformed(absl::StrCat("claim ", claim, " is not a string"));
  }
  return it->get<std::string>();
}

// Reads `aud`: a string or an array of strings (RFC 7519 section 4.1.3).
absl::StatusOr<std::vector<std::string>> ParseAudience(const json& claims) {
  std::vector<std::string> audience;
  auto it = claims.find("aud");
  if (it == claims.end()) return audience;
  if (it->is_string()) {
    audience.push_back(it->get<std::string>());
    return audience;
  }
  if (!it->is_array()) {
    return Malformed("claim aud is neither a string nor an array");
  }
  audience.reserve(it->size());
  for (const json& entry : *it) {
    if (!entry.is_string()) {
      return Malformed("claim aud has an entry that is not a string");
    }
    audience.push_back(entry.get<std::string>());
  }
  return audience;
}

// Checks exp (required), nbf and iat against `now` and returns the expiry.
absl::StatusOr<absl::Time> CheckTimeClaims(const json& claims, absl::Time now,
                                           absl::Duration leeway) {
  const auto describe_now = [&] {
    return absl::StrCat(" (now ", FormatInstant(now), ", leeway ",
                        absl::FormatDuration(leeway), ")");
  };
  auto exp = claims.find("exp");
  if (exp == claims.end()) return Malformed("claim exp is missing");
  LATTICE_ASSIGN_OR_RETURN(const absl::Time expiry,
                           ParseNumericDate(*exp, "exp"));
  // RFC 7519 section 4.1.4: now must be before exp.
  if (now >= expiry + leeway) {
    return Refused(
        absl::StrCat("expired at ", FormatInstant(expiry), describe_now()));
  }
  LATTICE_ASSIGN_OR_RETURN(const std::optional<absl::Time> not_before,
                           OptionalNumericDate(claims, "nbf"));
  if (not_before.has_value() && now + leeway < *not_before) {
    return Refused(absl::StrCat("not valid before ", FormatInstant(*not_before),
                                describe_now()));
  }
  LATTICE_ASSIGN_OR_RETURN(const std::optional<absl::Time> issued_at,
                           OptionalNumericDate(claims, "iat"));
  if (issued_at.has_value() && *issued_at > now + leeway) {
    return Refused(absl::StrCat("issued in the future at ",
                                FormatInstant(*issued_at), describe_now()));
  }
  return expiry;
}

// Checks the types of iss and aud, and their values when configured.
absl::Status CheckIssuerAndAudience(
    const json& claims, const std::optional<std::string>& want_issuer,
    const std::optional<std::string>& want_audience) {
  LATTICE_ASSIGN_OR_RETURN(const std::optional<std::string> issuer,
                           OptionalString(claims, "iss"));
  if (want_issuer.has_value()) {
    if (!issuer.has_value()) return Refused("issuer is missing");
    if (*issuer != *want_issuer) {
      return Refused(
          absl::StrCat("issuer ", Quote(*issuer), " is not accepted"));
    }
  }
  LATTICE_ASSIGN_OR_RETURN(const std::vector<std::string> audience,
                           ParseAudience(claims));
  if (want_audience.has_value()) {
    if (audience.empty()) return Refused("audience is missing");
    if (std::find(audience.begin(), audience.end(), *want_audience) ==
        audience.end()) {
      return Refused(
          absl::StrCat("audience does not include ", Quote(*want_audience)));
    }
  }
  return absl::OkStatus();
}

// Converts a JWS ECDSA signature (R || S, RFC 7518 section 3.4) to the DER
// ECDSA-Sig-Value that EVP_DigestVerify expects.
// REQUIRES: raw.size() == kEs256SignatureBytes.
std::optional<std::string> EcdsaRawToDer(absl::string_view raw) {
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(Bytes(raw), kEs256CoordinateBytes, nullptr);
  BIGNUM* s = BN_bin2bn(Bytes(raw) + kEs256CoordinateBytes,
                        kEs256CoordinateBytes, nullptr);
  if (sig == nullptr || r == nullptr || s == nullptr ||
      ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);  // Not owned by `sig` unless set0 succeeded.
    BN_free(s);
    return std::nullopt;
  }
  const int length = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (length <= 0) return std::nullopt;
  std::string der(static_cast<size_t>(length), '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != length) return std::nullopt;
  return der;
}

// A configured key, parsed once.
struct LoadedKey {
  std::optional<std::string> kid;
  JwtAlgorithm algorithm = JwtAlgorithm::kHs256;
  // HS256 only.
  std::string secret;
  // RS256 and ES256 only; shared read-only between threads, which OpenSSL 3
  // allows for EVP_PKEY.
  PkeyPtr pkey;
  // The exact signature length this key produces.
  size_t signature_bytes = 0;
};

bool VerifyHs256(const LoadedKey& key, absl::string_view signing_input,
                 absl::string_view signature) {
  if (signature.size() != kHs256SignatureBytes) return false;
  unsigned char mac[kHs256SignatureBytes];
  size_t mac_length = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.secret.data(),
                key.secret.size(), Bytes(signing_input), signing_input.size(),
                mac, sizeof(mac), &mac_length) == nullptr ||
      mac_length != sizeof(mac)) {
    return false;
  }
  return CRYPTO_memcmp(mac, signature.data(), sizeof(mac)) == 0;
}

bool VerifyWithPublicKey(const LoadedKey& key, absl::string_view signing_input,
                         absl::string_view signature) {
  if (signature.size() != key.signature_bytes) return false;
  std::string der;
  if (key.algorithm == JwtAlgorithm::kEs256) {
    std::optional<std::string> converted = EcdsaRawToDer(signature);
    if (!converted.has_value()) return false;
    der = *std::move(converted);
    signature = der;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) return false;
  EVP_PKEY_CTX* pkey_ctx = nullptr;  // Owned by `ctx`.
  if (EVP_DigestVerifyInit_ex(ctx.get(), &pkey_ctx, "SHA256", nullptr, nullptr,
                              key.pkey.get(), nullptr) != 1) {
    return false;
  }
  if (key.algorithm == JwtAlgorithm::kRs256 &&
      EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PADDING) <= 0) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), Bytes(signature), signature.size(),
                          Bytes(signing_input), signing_input.size()) == 1;
}

bool VerifyWith(const LoadedKey& key, absl::string_view signing_input,
                absl::string_view signature) {
  const bool ok = key.algorithm == JwtAlgorithm::kHs256
                      ? VerifyHs256(key, signing_input, signature)
                      : VerifyWithPublicKey(key, signing_input, signature);
  // Failed checks leave entries on this thread's OpenSSL error queue; they
  // carry nothing we report, and must not confuse later unrelated callers.
  ERR_clear_error();
  return ok;
}

absl::StatusOr<PkeyPtr> ReadPublicKeyPem(absl::string_view pem,
                                         absl::string_view where) {
  if (pem.size() > kMaxPemBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": pem is ", pem.size(), " bytes, limit is ", kMaxPemBytes));
  }
  std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat(where, ": cannot allocate a bio"));
  }
  // A callback that never supplies a passphrase: no prompt on a terminal.
  pem_password_cb* no_passphrase = [](char*, int, int, void*) { return 0; };
  PkeyPtr pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr));
  ERR_clear_error();
  if (pkey == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": material is not a pem public key (\"BEGIN PUBLIC KEY\")"));
  }
  return pkey;
}

absl::StatusOr<LoadedKey> LoadKey(size_t index, const JwtKey& config) {
  const std::string where = absl::StrCat(
      "jwt key ", index,
      config.kid.has_value() ? absl::StrCat(" (kid ", Quote(*config.kid), ")")
                             : "");
  LoadedKey key;
  key.kid = config.kid;
  key.algorithm = config.algorithm;
  switch (config.algorithm) {
    case JwtAlgorithm::kHs256:
      if (config.material.size() < kMinHs256SecretBytes) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": hs256 secret is ", config.material.size(),
                         " bytes, need at least ", kMinHs256SecretBytes));
      }
      // A public key is public: as an HMAC secret it lets anyone forge.
      if (absl::StrContains(config.material, "-----BEGIN")) {
        return absl::InvalidArgumentError(absl::StrCat(
            where,
            ": hs256 secret looks like a pem key; configure the key "
            "with its own algorithm"));
      }
      key.secret = config.material;
      key.signature_bytes = kHs256SignatureBytes;
      return key;
    case JwtAlgorithm::kRs256: {
      LATTICE_ASSIGN_OR_RETURN(key.pkey,
                               ReadPublicKeyPem(config.material, where));
      if (!EVP_PKEY_is_a(key.pkey.get(), "RSA")) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": rs256 key is not an rsa key"));
      }
      const int bits = EVP_PKEY_get_bits(key.pkey.get());
      if (bits < kMinRsaBits) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": rs256 key has ", bits,
                         " bits, need at least ", kMinRsaBits));
      }
      const int size = EVP_PKEY_get_size(key.pkey.get());
      if (size <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": rs256 key has no signature size"));
      }
      key.signature_bytes = static_cast<size_t>(size);
      return key;
    }
    case JwtAlgorithm::kEs256: {
      LATTICE_ASSIGN_OR_RETURN(key.pkey,
                               ReadPublicKeyPem(config.material, where));
      char group[64] = {};
      size_t group_length = 0;
      if (!EVP_PKEY_is_a(key.pkey.get(), "EC") ||
          EVP_PKEY_get_group_name(key.pkey.get(), group, sizeof(group),
                                  &group_length) != 1 ||
          OBJ_txt2nid(group) != NID_X9_62_prime256v1) {
        ERR_clear_error();
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": es256 key is not an ec key on p-256"));
      }
      key.signature_bytes = kEs256SignatureBytes;
      return key;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(where, ": unknown algorithm"));
}

}  // namespace

struct JwtVerifier::Impl {
  std::vector<LoadedKey> keys;
  std::optional<std::string> issuer;
  std::optional<std::string> audience;
  absl::Duration leeway;
  size_t max_token_bytes = 0;
  GrantLimits grant_limits;
};

absl::string_view JwtAlgorithmName(JwtAlgorithm algorithm) {
  switch (algorithm) {
    case JwtAlgorithm::kHs256:
      return "HS256";
    case JwtAlgorithm::kRs256:
      return "RS256";
    case JwtAlgorithm::kEs256:
      return "ES256";
  }
  return "invalid";
}

absl::StatusOr<JwtVerifier> JwtVerifier::Create(JwtVerifierOptions options) {
  if (options.leeway < absl::ZeroDuration() ||
      options.leeway == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "jwt options: leeway ", absl::FormatDuration(options.leeway),
        " is not a finite non-negative duration"));
  }
  if (options.max_token_bytes == 0) {
    return absl::InvalidArgumentError("jwt options: max_token_bytes is 0");
  }
  auto impl = std::make_shared<Impl>();
  impl->keys.reserve(options.keys.size());
  for (size_t i = 0; i < options.keys.size(); ++i) {
    const JwtKey& config = options.keys[i];
    if (config.kid.has_value()) {
      for (const LoadedKey& earlier : impl->keys) {
        if (earlier.kid == config.kid) {
          return absl::InvalidArgumentError(absl::StrCat(
              "jwt key ", i, ": duplicate kid ", Quote(*config.kid)));
        }
      }
    }
    LATTICE_ASSIGN_OR_RETURN(LoadedKey key, LoadKey(i, config));
    impl->keys.push_back(std::move(key));
  }
  impl->issuer = std::move(options.issuer);
  impl->audience = std::move(options.audience);
  impl->leeway = options.leeway;
  impl->max_token_bytes = options.max_token_bytes;
  impl->grant_limits = options.grant_limits;
  return JwtVerifier(std::move(impl));
}

absl::StatusOr<VerifiedToken> JwtVerifier::Verify(absl::string_view token,
                                                  absl::Time now) const {
  const Impl& impl = *impl_;

  // Shape, before any decoding.
  if (token.empty()) return Malformed("token is empty");
  if (token.size() > impl.max_token_bytes) {
    return Malformed(absl::StrCat("token is ", token.size(),
                                  " bytes, limit is ", impl.max_token_bytes));
  }
  const size_t first_dot = token.find('.');
  const size_t second_dot = first_dot == absl::string_view::npos
                                ? absl::string_view::npos
                                : token.find('.', first_dot + 1);
  if (second_dot == absl::string_view::npos ||
      token.find('.', second_dot + 1) != absl::string_view::npos) {
    return Malformed(absl::StrCat(
        "token has ", 1 + std::count(token.begin(), token.end(), '.'),
        " segments, want 3"));
  }
  const absl::string_view header_segment = token.substr(0, first_dot);
  const absl::string_view payload_segment =
      token.substr(first_dot + 1, second_dot - first_dot - 1);
  const absl::string_view signature_segment = token.substr(second_dot + 1);
  const absl::string_view signing_input = token.substr(0, second_dot);
  if (header_segment.empty()) return Malformed("header is empty");
  if (payload_segment.empty()) return Malformed("payload is empty");

  // Header.
  LATTICE_ASSIGN_OR_RETURN(const std::string header_bytes,
                           DecodeSegment(header_segment, "header"));
  LATTICE_ASSIGN_OR_RETURN(const json header,
                           ParseJsonObject(header_bytes, "header"));
  LATTICE_ASSIGN_OR_RETURN(const JwtAlgorithm algorithm,
                           ParseAlgorithm(header));
  if (header.contains("crit")) {
    return Refused("header crit is not supported");
  }
  std::optional<std::string> kid;
  if (auto it = header.find("kid"); it != header.end()) {
    if (!it->is_string()) return Malformed("header kid is not a string");
    kid = it->get<std::string>();
  }

  // Remaining segments decode before any cryptography is spent on them.
  LATTICE_ASSIGN_OR_RETURN(const std::string payload_bytes,
                           DecodeSegment(payload_segment, "payload"));
  LATTICE_ASSIGN_OR_RETURN(const std::string signature,
                           DecodeSegment(signature_segment, "signature"));
  const size_t fixed_length =
      algorithm == JwtAlgorithm::kHs256   ? kHs256SignatureBytes
      : algorithm == JwtAlgorithm::kEs256 ? kEs256SignatureBytes
                                          : 0;  // RS256: depends on the key.
  if (signature.empty() ||
      (fixed_length != 0 && signature.size() != fixed_length)) {
    return Malformed(absl::StrCat(
        "signature is ", signature.size(), " bytes, ",
        JwtAlgorithmName(algorithm), " signatures are ",
        fixed_length != 0 ? absl::StrCat(fixed_length) : "non-empty"));
  }

  // Key choice: the algorithm is pinned by the key, never by the token.
  std::vector<const LoadedKey*> candidates;
  if (kid.has_value()) {
    for (const LoadedKey& key : impl.keys) {
      if (key.kid == kid) candidates.push_back(&key);
    }
    if (candidates.empty()) {
      return Refused(absl::StrCat("unknown key id ", Quote(*kid)));
    }
    if (candidates.front()->algorithm != algorithm) {
      return Refused(
          absl::StrCat("key ", Quote(*kid), " accepts ",
                       JwtAlgorithmName(candidates.front()->algorithm),
                       ", token says ", JwtAlgorithmName(algorithm)));
    }
  } else {
    for (const LoadedKey& key : impl.keys) {
      if (key.algorithm == algorithm) candidates.push_back(&key);
    }
    if (candidates.empty()) {
      return Refused(absl::StrCat("no key accepts algorithm ",
                                  JwtAlgorithmName(algorithm)));
    }
  }
  bool verified = false;
  for (const LoadedKey* key : candidates) {
    if (VerifyWith(*key, signing_input, signature)) {
      verified = true;
      break;
    }
  }
  if (!verified) return Refused("signature does not verify");

  // Claims, only now that they are known to come from a trusted signer.
  LATTICE_ASSIGN_OR_RETURN(const json claims,
                           ParseJsonObject(payload_bytes, "payload"));
  LATTICE_ASSIGN_OR_RETURN(const absl::Time expiry,
                           CheckTimeClaims(claims, now, impl.leeway));
  LATTICE_RETURN_IF_ERROR(
      CheckIssuerAndAudience(claims, impl.issuer, impl.audience));

  VerifiedToken result;
  LATTICE_ASSIGN_OR_RETURN(std::optional<std::string> subject,
                           OptionalString(claims, "sub"));
  if (!subject.has_value()) return Malformed("claim sub is missing");
  if (subject->empty()) return Malformed("claim sub is empty");
  result.subject = *std::move(subject);
  result.expiry = expiry;
  LATTICE_ASSIGN_OR_RETURN(result.name, OptionalString(claims, "name"));
  if (auto rooms = claims.find("rooms"); rooms != claims.end()) {
    absl::StatusOr<Grants> grants =
        Grants::FromClaim(*rooms, impl.grant_limits);
    if (!grants.ok()) {
      return Malformed(absl::StrCat("claim ", grants.status().message()));
    }
    result.grants = *std::move(grants);
  }
  return result;
}

}  // namespace lattice::engine
