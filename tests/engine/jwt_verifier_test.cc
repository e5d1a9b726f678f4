// JwtVerifier against tokens built and signed here with OpenSSL directly
// (EVP_DigestSign, EVP_Q_mac), with RSA-2048 and P-256 keys generated once per
// run. The oracle is RFC 7515/7518/7519 plus the rules in
// engine/auth/jwt_verifier.h: a token is accepted only if its algorithm is
// the one pinned by the key that verifies it, its signature verifies, and its
// time and audience claims hold at the injected `now`; every other input,
// however broken, yields an error Status (never a crash).
#include "engine/auth/jwt_verifier.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "engine/auth/grants.h"
#include "engine/auth/jwt_minter.h"
#include "tests/testing/status_matchers.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::engine {
namespace {

using json = nlohmann::json;
using ::lattice::testing::IsOk;
using ::lattice::testing::StatusIs;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Optional;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;
constexpr absl::StatusCode kRefused = absl::StatusCode::kUnauthenticated;

// 2023-11-14T22:13:20Z.
const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);
const std::string kSecret = "0123456789abcdef0123456789abcdef-hs";
const std::string kOtherSecret = "fedcba9876543210fedcba9876543210-hs";

int64_t UnixSeconds(absl::Time t) { return absl::ToUnixSeconds(t); }

// --- OpenSSL test helpers --------------------------------------------------

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

PkeyPtr GenerateRsa(size_t bits) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
  EXPECT_NE(key, nullptr);
  return key;
}

PkeyPtr GenerateEc(const char* curve) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
  EXPECT_NE(key, nullptr);
  return key;
}

std::string PublicPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()),
                                                &BIO_free);
  EXPECT_EQ(PEM_write_bio_PUBKEY(bio.get(), key), 1);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::string B64(absl::string_view bytes) {
  return absl::WebSafeBase64Escape(bytes);
}

std::string SigningInput(const json& header, const json& claims) {
  return absl::StrCat(B64(header.dump()), ".", B64(claims.dump()));
}

std::string HmacSha256(absl::string_view secret, absl::string_view input) {
  unsigned char mac[32];
  size_t length = 0;
  EXPECT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr,
                      secret.data(), secret.size(), Bytes(input), input.size(),
                      mac, sizeof(mac), &length),
            nullptr);
  return std::string(reinterpret_cast<const char*>(mac), length);
}

// RSA: the PKCS#1 v1.5 signature. EC: the DER ECDSA-Sig-Value.
std::string DigestSign(EVP_PKEY* key, absl::string_view input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                              &EVP_MD_CTX_free);
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key),
            1);
  size_t length = 0;
  EXPECT_EQ(
      EVP_DigestSign(ctx.get(), nullptr, &length, Bytes(input), input.size()),
      1);
  std::string signature(length, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(),
                           reinterpret_cast<unsigned char*>(signature.data()),
                           &length, Bytes(input), input.size()),
            1);
  signature.resize(length);
  return signature;
}

// DER ECDSA-Sig-Value -> JWS R || S (32 bytes each, big-endian, zero-padded).
std::string DerToRaw(absl::string_view der) {
  const unsigned char* p = Bytes(der);
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())),
      &ECDSA_SIG_free);
  EXPECT_NE(sig, nullptr);
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(64, '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(raw.data());
  EXPECT_EQ(BN_bn2binpad(r, out, 32), 32);
  EXPECT_EQ(BN_bn2binpad(s, out + 32, 32), 32);
  return raw;
}

std::string SignHs256(absl::string_view secret, const json& header,
                      const json& claims) {
  const std::string input = SigningInput(header, claims);
  return absl::StrCat(input, ".", B64(HmacSha256(secret, input)));
}

std::string SignRs256(EVP_PKEY* key, const json& header, const json& claims) {
  const std::string input = SigningInput(header, claims);
  return absl::StrCat(input, ".", B64(DigestSign(key, input)));
}

std::string SignEs256(EVP_PKEY* key, const json& header, const json& claims) {
  const std::string input = SigningInput(header, claims);
  return absl::StrCat(input, ".", B64(DerToRaw(DigestSign(key, input))));
}

json Header(const char* alg, std::optional<std::string> kid = std::nullopt) {
  json header = {{"alg", alg}, {"typ", "JWT"}};
  if (kid.has_value()) header["kid"] = *kid;
  return header;
}

// Claims valid at kNow for the default options below.
json GoodClaims() {
  return {{"sub", "ada"},
          {"name", "Ada Lovelace"},
          {"iss", "https://auth.example"},
          {"aud", "lattice"},
          {"iat", UnixSeconds(kNow - absl::Minutes(1))},
          {"exp", UnixSeconds(kNow + absl::Hours(1))},
          {"rooms", json::array({"lobby", {{"prefix", "team-42/"}}})}};
}

// --- Fixture ---------------------------------------------------------------

class JwtVerifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = GenerateRsa(2048).release();
    ec_ = GenerateEc("P-256").release();
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(rsa_);
    EVP_PKEY_free(ec_);
    rsa_ = nullptr;
    ec_ = nullptr;
  }

  // One key per algorithm, each with a kid; iss and aud configured.
  static JwtVerifierOptions DefaultOptions() {
    JwtVerifierOptions options;
    options.keys.push_back({"hs", JwtAlgorithm::kHs256, kSecret});
    options.keys.push_back({"rs", JwtAlgorithm::kRs256, PublicPem(rsa_)});
    options.keys.push_back({"es", JwtAlgorithm::kEs256, PublicPem(ec_)});
    options.issuer = "https://auth.example";
    options.audience = "lattice";
    return options;
  }

  static JwtVerifier MakeVerifier(JwtVerifierOptions options) {
    absl::StatusOr<JwtVerifier> verifier =
        JwtVerifier::Create(std::move(options));
    EXPECT_THAT(verifier, IsOk());
    return *std::move(verifier);
  }

  absl::StatusOr<VerifiedToken> Verify(absl::string_view token) const {
    return verifier_.Verify(token, kNow);
  }

  // An HS256 token (kid "hs") with GoodClaims() changed by `edit`.
  template <typename Edit>
  static std::string HsWithClaims(Edit edit) {
    json claims = GoodClaims();
    edit(claims);
    return SignHs256(kSecret, Header("HS256", "hs"), claims);
  }

  static EVP_PKEY* rsa_;
  static EVP_PKEY* ec_;
  JwtVerifier verifier_ = MakeVerifier(DefaultOptions());
};

EVP_PKEY* JwtVerifierTest::rsa_ = nullptr;
EVP_PKEY* JwtVerifierTest::ec_ = nullptr;

// --- Accepted tokens -------------------------------------------------------

TEST_F(JwtVerifierTest, AcceptsHs256) {
  absl::StatusOr<VerifiedToken> token =
      Verify(SignHs256(kSecret, Header("HS256", "hs"), GoodClaims()));
  ASSERT_THAT(token, IsOk());
  EXPECT_EQ(token->subject, "ada");
  EXPECT_EQ(token->expiry, kNow + absl::Hours(1));
  EXPECT_THAT(token->name, Optional(std::string("Ada Lovelace")));
  EXPECT_EQ(token->grants.For("lobby"), Access::kWrite);
  EXPECT_EQ(token->grants.For("team-42/board"), Access::kRead);
  EXPECT_EQ(token->grants.For("elsewhere"), Access::kNone);
}

TEST_F(JwtVerifierTest, AcceptsRs256) {
  absl::StatusOr<VerifiedToken> token =
      Verify(SignRs256(rsa_, Header("RS256", "rs"), GoodClaims()));
  ASSERT_THAT(token, IsOk());
  EXPECT_EQ(token->subject, "ada");
}

TEST_F(JwtVerifierTest, AcceptsEs256) {
  absl::StatusOr<VerifiedToken> token =
      Verify(SignEs256(ec_, Header("ES256", "es"), GoodClaims()));
  ASSERT_THAT(token, IsOk());
  EXPECT_EQ(token->subject, "ada");
}

TEST_F(JwtVerifierTest, WithoutKidTriesEveryKeyOfTheAlgorithm) {
  JwtVerifierOptions options = DefaultOptions();
  options.keys.push_back({std::nullopt, JwtAlgorithm::kHs256, kOtherSecret});
  JwtVerifier verifier = MakeVerifier(std::move(options));
  for (const std::string& secret : {kSecret, kOtherSecret}) {
    EXPECT_THAT(
        verifier.Verify(SignHs256(secret, Header("HS256"), GoodClaims()), kNow),
        IsOk());
  }
  EXPECT_THAT(
      verifier.Verify(SignRs256(rsa_, Header("RS256"), GoodClaims()), kNow),
      IsOk());
  EXPECT_THAT(
      verifier.Verify(SignEs256(ec_, Header("ES256"), GoodClaims()), kNow),
      IsOk());
}

TEST_F(JwtVerifierTest, MinimalClaimsAreEnough) {
  JwtVerifierOptions options = DefaultOptions();
  options.issuer.reset();
  options.audience.reset();
  JwtVerifier verifier = MakeVerifier(std::move(options));
  json claims = {{"sub", "bob"}, {"exp", UnixSeconds(kNow) + 1}};
  absl::StatusOr<VerifiedToken> token =
      verifier.Verify(SignHs256(kSecret, Header("HS256"), claims), kNow);
  ASSERT_THAT(token, IsOk());
  EXPECT_EQ(token->name, std::nullopt);
  EXPECT_EQ(token->grants.For("lobby"), Access::kNone);
  EXPECT_TRUE(token->grants.entries().empty());
}

TEST_F(JwtVerifierTest, FractionalExpIsAccepted) {
  const std::string token = HsWithClaims([](json& c) {
    c["exp"] = static_cast<double>(UnixSeconds(kNow)) + 100.5;
  });
  absl::StatusOr<VerifiedToken> verified = Verify(token);
  ASSERT_THAT(verified, IsOk());
  EXPECT_EQ(verified->expiry, kNow + absl::Milliseconds(100500));
}

TEST_F(JwtVerifierTest, MintedTokensVerify) {
  absl::StatusOr<std::string> with_kid = MintHs256(kSecret, GoodClaims(), "hs");
  ASSERT_THAT(with_kid, IsOk());
  EXPECT_THAT(Verify(*with_kid), IsOk());
  // Byte-identical to the test's independent signer (same header, same
  // serialization), so the minter is checked against raw OpenSSL.
  EXPECT_EQ(*with_kid, SignHs256(kSecret, Header("HS256", "hs"), GoodClaims()));
  absl::StatusOr<std::string> without_kid = MintHs256(kSecret, GoodClaims());
  ASSERT_THAT(without_kid, IsOk());
  EXPECT_THAT(Verify(*without_kid), IsOk());
}

TEST(JwtMinter, RejectsBadInput) {
  EXPECT_THAT(MintHs256("short", GoodClaims()),
              StatusIs(kInvalid, HasSubstr("need at least 32")));
  EXPECT_THAT(MintHs256(kSecret, json::array({1, 2})),
              StatusIs(kInvalid, HasSubstr("claims are not a json object")));
  EXPECT_THAT(MintHs256(kSecret, json{{"sub", "\xff"}}),
              StatusIs(kInvalid, HasSubstr("claims cannot be serialized")));
  EXPECT_THAT(MintHs256(kSecret, GoodClaims(), "\xc3"),
              StatusIs(kInvalid, HasSubstr("kid cannot be serialized")));
}

// --- Signatures and algorithms ---------------------------------------------

TEST_F(JwtVerifierTest, RejectsWrongSecret) {
  EXPECT_THAT(
      Verify(SignHs256(kOtherSecret, Header("HS256", "hs"), GoodClaims())),
      StatusIs(kRefused, "jwt: signature does not verify"));
  EXPECT_THAT(Verify(SignHs256(kOtherSecret, Header("HS256"), GoodClaims())),
              StatusIs(kRefused, "jwt: signature does not verify"));
}

TEST_F(JwtVerifierTest, RejectsSignatureFromAnotherKeyPair) {
  PkeyPtr other_rsa = GenerateRsa(2048);
  PkeyPtr other_ec = GenerateEc("P-256");
  EXPECT_THAT(
      Verify(SignRs256(other_rsa.get(), Header("RS256", "rs"), GoodClaims())),
      StatusIs(kRefused, "jwt: signature does not verify"));
  EXPECT_THAT(
      Verify(SignEs256(other_ec.get(), Header("ES256", "es"), GoodClaims())),
      StatusIs(kRefused, "jwt: signature does not verify"));
}

TEST_F(JwtVerifierTest, RejectsTamperedPayload) {
  json promoted = GoodClaims();
  promoted["sub"] = "root";
  promoted["rooms"] = json::array({"*"});
  const std::string forged_payload = B64(promoted.dump());
  // Keep each token's header and signature, swap in the forged payload.
  for (const std::string& token :
       {SignHs256(kSecret, Header("HS256", "hs"), GoodClaims()),
        SignRs256(rsa_, Header("RS256", "rs"), GoodClaims()),
        SignEs256(ec_, Header("ES256", "es"), GoodClaims())}) {
    const size_t first = token.find('.');
    const size_t second = token.find('.', first + 1);
    const std::string tampered = absl::StrCat(
        token.substr(0, first + 1), forged_payload, token.substr(second));
    EXPECT_THAT(Verify(tampered),
                StatusIs(kRefused, "jwt: signature does not verify"));
  }
}

TEST_F(JwtVerifierTest, RejectsAlgNone) {
  const std::string hs_signature = [] {
    const std::string t = SignHs256(kSecret, Header("HS256"), GoodClaims());
    return t.substr(t.rfind('.') + 1);
  }();
  for (const char* alg : {"none", "None", "NONE", "nOnE"}) {
    SCOPED_TRACE(alg);
    const std::string input = SigningInput(Header(alg), GoodClaims());
    // Unsigned, as RFC 7519 section 6.1 writes it: empty third segment.
    EXPECT_THAT(Verify(absl::StrCat(input, ".")),
                StatusIs(kRefused, "jwt: algorithm none is not accepted"));
    // With a (valid-looking) signature.
    EXPECT_THAT(Verify(absl::StrCat(input, ".", hs_signature)),
                StatusIs(kRefused, "jwt: algorithm none is not accepted"));
    // With a kid naming a real key.
    EXPECT_THAT(
        Verify(absl::StrCat(SigningInput(Header(alg, "hs"), GoodClaims()), ".",
                            hs_signature)),
        StatusIs(kRefused, "jwt: algorithm none is not accepted"));
  }
  // And without the third segment at all.
  EXPECT_THAT(Verify(SigningInput(Header("none"), GoodClaims())),
              StatusIs(kInvalid, HasSubstr("segments")));
}

TEST_F(JwtVerifierTest, RejectsOtherAlgorithms) {
  for (const char* alg : {"HS384", "HS512", "RS512", "PS256", "ES384", "EdDSA",
                          "hs256", "HS256 ", ""}) {
    SCOPED_TRACE(alg);
    EXPECT_THAT(Verify(SignHs256(kSecret, Header(alg), GoodClaims())),
                StatusIs(kRefused, HasSubstr("is not accepted")));
  }
}

// The classic confusion attack: the RSA public key is public, so a token
// "signed" with HS256 using the PEM text as the HMAC secret must not verify.
TEST_F(JwtVerifierTest, RejectsHs256SignedWithRsaPublicKeyPem) {
  const std::string pem = PublicPem(rsa_);
  // The kid names the RS256 key: the key's pinned algorithm wins.
  EXPECT_THAT(Verify(SignHs256(pem, Header("HS256", "rs"), GoodClaims())),
              StatusIs(kRefused,
                       "jwt: key \"rs\" accepts RS256, token says "
                       "HS256"));
  // No kid: only HS256 keys are tried, and none has the PEM as its secret.
  EXPECT_THAT(Verify(SignHs256(pem, Header("HS256"), GoodClaims())),
              StatusIs(kRefused, "jwt: signature does not verify"));
  // With only the RSA key configured there is nothing to try at all.
  JwtVerifierOptions rs_only;
  rs_only.keys.push_back({std::nullopt, JwtAlgorithm::kRs256, pem});
  JwtVerifier verifier = MakeVerifier(std::move(rs_only));
  EXPECT_THAT(
      verifier.Verify(SignHs256(pem, Header("HS256"), GoodClaims()), kNow),
      StatusIs(kRefused, "jwt: no key accepts algorithm HS256"));
  // Same for the EC key's PEM.
  EXPECT_THAT(
      Verify(SignHs256(PublicPem(ec_), Header("HS256", "es"), GoodClaims())),
      StatusIs(kRefused, HasSubstr("accepts ES256, token says HS256")));
}

TEST_F(JwtVerifierTest, RejectsKidPinnedToAnotherAlgorithm) {
  EXPECT_THAT(Verify(SignRs256(rsa_, Header("RS256", "es"), GoodClaims())),
              StatusIs(kRefused,
                       "jwt: key \"es\" accepts ES256, token says "
                       "RS256"));
  EXPECT_THAT(Verify(SignEs256(ec_, Header("ES256", "rs"), GoodClaims())),
              StatusIs(kRefused, HasSubstr("accepts RS256, token says ES256")));
}

TEST_F(JwtVerifierTest, RejectsUnknownKid) {
  EXPECT_THAT(Verify(SignHs256(kSecret, Header("HS256", "hs2"), GoodClaims())),
              StatusIs(kRefused, "jwt: unknown key id \"hs2\""));
  // Control characters and length in the kid are escaped and cut.
  const std::string long_kid = std::string(100, 'k') + "\n";
  absl::StatusOr<VerifiedToken> result =
      Verify(SignHs256(kSecret, Header("HS256", long_kid), GoodClaims()));
  EXPECT_THAT(result, StatusIs(kRefused, HasSubstr("unknown key id")));
  EXPECT_THAT(std::string(result.status().message()),
              ::testing::Not(HasSubstr("\n")));
  EXPECT_LT(result.status().message().size(), 120u);
}

TEST_F(JwtVerifierTest, RejectsEs256SignatureInDerForm) {
  const std::string input = SigningInput(Header("ES256", "es"), GoodClaims());
  EXPECT_THAT(Verify(absl::StrCat(input, ".", B64(DigestSign(ec_, input)))),
              StatusIs(kInvalid, HasSubstr("ES256 signatures are 64")));
}

TEST_F(JwtVerifierTest, RejectsWrongSignatureLengths) {
  const std::string input = SigningInput(Header("HS256", "hs"), GoodClaims());
  const std::string mac = HmacSha256(kSecret, input);
  EXPECT_THAT(Verify(absl::StrCat(input, ".", B64(mac.substr(0, 31)))),
              StatusIs(kInvalid, HasSubstr("signature is 31 bytes")));
  EXPECT_THAT(Verify(absl::StrCat(input, ".", B64(mac + "x"))),
              StatusIs(kInvalid, HasSubstr("signature is 33 bytes")));
  EXPECT_THAT(Verify(absl::StrCat(input, ".")),
              StatusIs(kInvalid, HasSubstr("signature is 0 bytes")));
  // RS256: a truncated signature simply does not verify.
  const std::string rs_input =
      SigningInput(Header("RS256", "rs"), GoodClaims());
  const std::string rs_signature = DigestSign(rsa_, rs_input);
  EXPECT_THAT(Verify(absl::StrCat(rs_input, ".", B64(rs_signature.substr(1)))),
              StatusIs(kRefused, "jwt: signature does not verify"));
}

TEST_F(JwtVerifierTest, RejectsCritHeader) {
  json header = Header("HS256", "hs");
  header["crit"] = json::array({"exp"});
  EXPECT_THAT(Verify(SignHs256(kSecret, header, GoodClaims())),
              StatusIs(kRefused, "jwt: header crit is not supported"));
}

// Strict base64url: the same bytes must have exactly one accepted encoding.
TEST_F(JwtVerifierTest, RejectsNonCanonicalBase64) {
  const std::string token =
      SignHs256(kSecret, Header("HS256", "hs"), GoodClaims());
  // 32 signature bytes -> 43 characters; the last carries 2 unused bits.
  std::string non_canonical = token;
  char& last = non_canonical.back();
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  last = alphabet[alphabet.find(last) ^ 1];
  ASSERT_EQ(absl::WebSafeBase64Escape([&] {
              std::string bytes;
              absl::WebSafeBase64Unescape(
                  non_canonical.substr(non_canonical.rfind('.') + 1), &bytes);
              return bytes;
            }()),
            token.substr(token.rfind('.') + 1))
      << "test premise: both encodings decode to the same bytes";
  EXPECT_THAT(Verify(non_canonical),
              StatusIs(kInvalid, "jwt: signature is not base64url"));
  EXPECT_THAT(Verify(token + "="),
              StatusIs(kInvalid, "jwt: signature is not base64url"));
  EXPECT_THAT(Verify(token + "=="),
              StatusIs(kInvalid, "jwt: signature is not base64url"));
}

// Every single-character change to a valid token must be refused: no
// malleability through base64, separators, or the signature.
TEST_F(JwtVerifierTest, EverySingleCharacterChangeIsRejected) {
  const std::vector<std::string> tokens = {
      SignHs256(kSecret, Header("HS256", "hs"), GoodClaims()),
      SignRs256(rsa_, Header("RS256", "rs"), GoodClaims()),
      SignEs256(ec_, Header("ES256", "es"), GoodClaims())};
  for (const std::string& token : tokens) {
    ASSERT_THAT(Verify(token), IsOk());
    for (size_t i = 0; i < token.size(); ++i) {
      for (char c :
           {'A', 'B', 'f', 'g', '0', '9', '-', '_', '.', '=', '+', ' ', '\0'}) {
        if (token[i] == c) continue;
        std::string mutated = token;
        mutated[i] = c;
        ASSERT_THAT(Verify(mutated).status().code(), AnyOf(kInvalid, kRefused))
            << "position " << i << " -> '" << c << "'";
      }
    }
  }
}

// --- Time claims -----------------------------------------------------------

TEST_F(JwtVerifierTest, ExpiredBeyondLeewayIsRejected) {
  const std::string token = HsWithClaims(
      [](json& c) { c["exp"] = UnixSeconds(kNow - absl::Seconds(31)); });
  EXPECT_THAT(Verify(token),
              StatusIs(kRefused,
                       "jwt: expired at 2023-11-14T22:12:49Z (now "
                       "2023-11-14T22:13:20Z, leeway 30s)"));
}

TEST_F(JwtVerifierTest, ExpiredWithinLeewayIsAccepted) {
  const std::string token = HsWithClaims(
      [](json& c) { c["exp"] = UnixSeconds(kNow - absl::Seconds(29)); });
  EXPECT_THAT(Verify(token), IsOk());
}

TEST_F(JwtVerifierTest, ExpiryBoundaryWithoutLeeway) {
  JwtVerifierOptions options = DefaultOptions();
  options.leeway = absl::ZeroDuration();
  JwtVerifier verifier = MakeVerifier(std::move(options));
  // RFC 7519 4.1.4: the current time must be before exp.
  const std::string at_now =
      HsWithClaims([](json& c) { c["exp"] = UnixSeconds(kNow); });
  EXPECT_THAT(verifier.Verify(at_now, kNow),
              StatusIs(kRefused, HasSubstr("jwt: expired at")));
  EXPECT_THAT(verifier.Verify(at_now, kNow - absl::Seconds(1)), IsOk());
}

TEST_F(JwtVerifierTest, NotBeforeInTheFutureIsRejected) {
  const std::string later = HsWithClaims(
      [](json& c) { c["nbf"] = UnixSeconds(kNow + absl::Minutes(1)); });
  EXPECT_THAT(Verify(later),
              StatusIs(kRefused, HasSubstr("jwt: not valid before "
                                           "2023-11-14T22:14:20Z")));
  const std::string within_leeway = HsWithClaims(
      [](json& c) { c["nbf"] = UnixSeconds(kNow + absl::Seconds(20)); });
  EXPECT_THAT(Verify(within_leeway), IsOk());
  // The same token becomes valid once its time comes.
  EXPECT_THAT(verifier_.Verify(later, kNow + absl::Seconds(30)), IsOk());
}

TEST_F(JwtVerifierTest, IssuedInTheFutureIsRejected) {
  const std::string token = HsWithClaims(
      [](json& c) { c["iat"] = UnixSeconds(kNow + absl::Minutes(5)); });
  EXPECT_THAT(Verify(token),
              StatusIs(kRefused, HasSubstr("jwt: issued in the future")));
}

TEST_F(JwtVerifierTest, RejectsMissingOrMistypedTimeClaims) {
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c.erase("exp"); })),
              StatusIs(kInvalid, "jwt: claim exp is missing"));
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c["exp"] = "1700003600"; })),
              StatusIs(kInvalid, "jwt: claim exp is not a number"));
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c["exp"] = nullptr; })),
              StatusIs(kInvalid, "jwt: claim exp is not a number"));
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c["exp"] = true; })),
              StatusIs(kInvalid, "jwt: claim exp is not a number"));
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c["exp"] = -5; })),
              StatusIs(kInvalid, "jwt: claim exp is out of range"));
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c["exp"] = 1e300; })),
              StatusIs(kInvalid, "jwt: claim exp is out of range"));
  EXPECT_THAT(Verify(HsWithClaims(
                  [](json& c) { c["exp"] = UINT64_C(18446744073709551615); })),
              StatusIs(kInvalid, "jwt: claim exp is out of range"));
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c["nbf"] = "soon"; })),
              StatusIs(kInvalid, "jwt: claim nbf is not a number"));
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c["iat"] = json::array(); })),
              StatusIs(kInvalid, "jwt: claim iat is not a number"));
}

// --- Issuer, audience, subject ---------------------------------------------

TEST_F(JwtVerifierTest, RejectsWrongOrMissingIssuer) {
  EXPECT_THAT(
      Verify(HsWithClaims([](json& c) { c["iss"] = "https://evil.example"; })),
      StatusIs(kRefused,
               "jwt: issuer \"https://evil.example\" is not accepted"));
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c.erase("iss"); })),
              StatusIs(kRefused, "jwt: issuer is missing"));
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c["iss"] = 7; })),
              StatusIs(kInvalid, "jwt: claim iss is not a string"));
}

TEST_F(JwtVerifierTest, IssuerAndAudienceUncheckedWhenNotConfigured) {
  JwtVerifierOptions options = DefaultOptions();
  options.issuer.reset();
  options.audience.reset();
  JwtVerifier verifier = MakeVerifier(std::move(options));
  EXPECT_THAT(verifier.Verify(HsWithClaims([](json& c) {
                                c["iss"] = "anyone";
                                c["aud"] = json::array({"others"});
                              }),
                              kNow),
              IsOk());
}

TEST_F(JwtVerifierTest, RejectsWrongAudience) {
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c["aud"] = "other-app"; })),
              StatusIs(kRefused, "jwt: audience does not include \"lattice\""));
  EXPECT_THAT(Verify(HsWithClaims([](json& c) {
                c["aud"] = {"a", "b", "Lattice"};
              })),
              StatusIs(kRefused, "jwt: audience does not include \"lattice\""));
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c.erase("aud"); })),
              StatusIs(kRefused, "jwt: audience is missing"));
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c["aud"] = json::array(); })),
              StatusIs(kRefused, "jwt: audience is missing"));
}

TEST_F(JwtVerifierTest, AcceptsAudienceArrayContainingOurs) {
  EXPECT_THAT(Verify(HsWithClaims([](json& c) {
                c["aud"] = {"other-app", "lattice", "third"};
              })),
              IsOk());
}

TEST_F(JwtVerifierTest, RejectsMistypedAudience) {
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c["aud"] = 1; })),
              StatusIs(kInvalid, HasSubstr("claim aud is neither")));
  EXPECT_THAT(
      Verify(HsWithClaims([](json& c) {
        c["aud"] = json{"lattice", 1};
      })),
      StatusIs(kInvalid, HasSubstr("claim aud has an entry that is not")));
}

TEST_F(JwtVerifierTest, RejectsMissingOrMistypedSubjectAndName) {
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c.erase("sub"); })),
              StatusIs(kInvalid, "jwt: claim sub is missing"));
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c["sub"] = ""; })),
              StatusIs(kInvalid, "jwt: claim sub is empty"));
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c["sub"] = 42; })),
              StatusIs(kInvalid, "jwt: claim sub is not a string"));
  EXPECT_THAT(
      Verify(HsWithClaims([](json& c) { c["name"] = json::array({"x"}); })),
      StatusIs(kInvalid, "jwt: claim name is not a string"));
}

TEST_F(JwtVerifierTest, RejectsMalformedRoomsClaim) {
  EXPECT_THAT(Verify(HsWithClaims([](json& c) { c["rooms"] = "lobby"; })),
              StatusIs(kInvalid, "jwt: claim rooms is not an array"));
  EXPECT_THAT(Verify(HsWithClaims([](json& c) {
                c["rooms"] = json::array({"ok", {{"x", 1}}});
              })),
              StatusIs(kInvalid, "jwt: claim rooms[1]: unknown key \"x\""));
  JwtVerifierOptions options = DefaultOptions();
  options.grant_limits.max_grants = 1;
  JwtVerifier verifier = MakeVerifier(std::move(options));
  EXPECT_THAT(
      verifier.Verify(SignHs256(kSecret, Header("HS256"), GoodClaims()), kNow),
      StatusIs(kInvalid, HasSubstr("limit is 1")));
}

// --- Garbage ---------------------------------------------------------------

TEST_F(JwtVerifierTest, GarbageIsAnErrorNeverACrash) {
  const std::string sig = B64(std::string(32, 'x'));
  const std::string claims = B64(GoodClaims().dump());
  struct Case {
    std::string token;
    absl::StatusCode code;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"", kInvalid, "jwt: token is empty"},
      {"abc", kInvalid, "jwt: token has 1 segments, want 3"},
      {"a.b", kInvalid, "jwt: token has 2 segments, want 3"},
      {"a.b.c.d", kInvalid, "jwt: token has 4 segments, want 3"},
      {"....", kInvalid, "jwt: token has 5 segments, want 3"},
      {"..", kInvalid, "jwt: header is empty"},
      {absl::StrCat(B64(Header("HS256").dump()), "..", sig), kInvalid,
       "jwt: payload is empty"},
      {"!!!!.abcd.abcd", kInvalid, "jwt: header is not base64url"},
      {"e30=.e30.e30", kInvalid, "jwt: header is not base64url"},
      {"e 30.e30.e30", kInvalid, "jwt: header is not base64url"},
      {"e+30.e30.e30", kInvalid, "jwt: header is not base64url"},
      {"e.e30.e30", kInvalid, "jwt: header is not base64url"},
      {absl::StrCat(B64("not json"), ".", claims, ".", sig), kInvalid,
       "jwt: header is not valid json"},
      {absl::StrCat(B64("{\"alg\":\"HS256\""), ".", claims, ".", sig), kInvalid,
       "jwt: header is not valid json"},
      {absl::StrCat(B64("{\"alg\":\"\xff\"}"), ".", claims, ".", sig), kInvalid,
       "jwt: header is not valid json"},
      {absl::StrCat(B64("[\"HS256\"]"), ".", claims, ".", sig), kInvalid,
       "jwt: header is not a json object"},
      {absl::StrCat(B64("\"HS256\""), ".", claims, ".", sig), kInvalid,
       "jwt: header is not a json object"},
      {absl::StrCat(B64("{}"), ".", claims, ".", sig), kInvalid,
       "jwt: header has no alg"},
      {absl::StrCat(B64("{\"alg\":256}"), ".", claims, ".", sig), kInvalid,
       "jwt: header alg is not a string"},
      {absl::StrCat(B64("{\"alg\":\"HS256\",\"kid\":1}"), ".", claims, ".",
                    sig),
       kInvalid, "jwt: header kid is not a string"},
      {absl::StrCat(B64(Header("HS256").dump()), ".%%%%.", sig), kInvalid,
       "jwt: payload is not base64url"},
      {absl::StrCat(B64(Header("HS256").dump()), ".", claims, ".%%"), kInvalid,
       "jwt: signature is not base64url"},
      {absl::StrCat("Bearer ",
                    SignHs256(kSecret, Header("HS256"), GoodClaims())),
       kInvalid, "jwt: header is not base64url"},
      {std::string(8 * 1024 + 1, 'a'), kInvalid,
       "jwt: token is 8193 bytes, limit is 8192"},
      {std::string("\0.\0.\0", 5), kInvalid, "jwt: header is not base64url"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.token.substr(0, 80));
    EXPECT_THAT(Verify(c.token), StatusIs(c.code, c.message));
  }
}

TEST_F(JwtVerifierTest, PayloadMustBeAJsonObjectEvenWhenSigned) {
  for (absl::string_view payload :
       {"[1,2,3]", "\"sub\"", "null", "{\"a\":", "{\"sub\":\"a\"} trailing"}) {
    SCOPED_TRACE(payload);
    const std::string input =
        absl::StrCat(B64(Header("HS256", "hs").dump()), ".", B64(payload));
    EXPECT_THAT(
        Verify(absl::StrCat(input, ".", B64(HmacSha256(kSecret, input)))),
        StatusIs(kInvalid, HasSubstr("jwt: payload is not")));
  }
}

TEST_F(JwtVerifierTest, TokenLengthLimitIsConfigurable) {
  const std::string token =
      SignHs256(kSecret, Header("HS256", "hs"), GoodClaims());
  JwtVerifierOptions options = DefaultOptions();
  options.max_token_bytes = token.size();
  EXPECT_THAT(MakeVerifier(options).Verify(token, kNow), IsOk());
  options.max_token_bytes = token.size() - 1;
  EXPECT_THAT(MakeVerifier(options).Verify(token, kNow),
              StatusIs(kInvalid, HasSubstr("limit is")));
}

// --- Configuration ---------------------------------------------------------

TEST(JwtVerifierCreate, RejectsUnusableKeys) {
  PkeyPtr rsa = GenerateRsa(2048);
  PkeyPtr small_rsa = GenerateRsa(1024);
  PkeyPtr p256 = GenerateEc("P-256");
  PkeyPtr p384 = GenerateEc("P-384");
  PkeyPtr ed25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  ASSERT_NE(ed25519, nullptr);
  struct Case {
    JwtKey key;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{"a", JwtAlgorithm::kHs256, "too short"},
       "jwt key 0 (kid \"a\"): hs256 secret is 9 bytes, need at least 32"},
      {{std::nullopt, JwtAlgorithm::kHs256, PublicPem(rsa.get())},
       "jwt key 0: hs256 secret looks like a pem key"},
      {{std::nullopt, JwtAlgorithm::kRs256, "not a pem"},
       "material is not a pem public key"},
      {{std::nullopt, JwtAlgorithm::kRs256, PublicPem(p256.get())},
       "rs256 key is not an rsa key"},
      {{std::nullopt, JwtAlgorithm::kRs256, PublicPem(small_rsa.get())},
       "rs256 key has 1024 bits, need at least 2048"},
      {{std::nullopt, JwtAlgorithm::kEs256, PublicPem(rsa.get())},
       "es256 key is not an ec key on p-256"},
      {{std::nullopt, JwtAlgorithm::kEs256, PublicPem(p384.get())},
       "es256 key is not an ec key on p-256"},
      {{std::nullopt, JwtAlgorithm::kEs256, PublicPem(ed25519.get())},
       "es256 key is not an ec key on p-256"},
      {{std::nullopt, JwtAlgorithm::kRs256, PublicPem(ed25519.get())},
       "rs256 key is not an rsa key"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    JwtVerifierOptions options;
    options.keys.push_back(c.key);
    EXPECT_THAT(JwtVerifier::Create(std::move(options)),
                StatusIs(kInvalid, HasSubstr(c.message)));
  }
}

TEST(JwtVerifierCreate, RejectsDuplicateKidAndBadOptions) {
  JwtVerifierOptions duplicate;
  duplicate.keys.push_back({"k", JwtAlgorithm::kHs256, kSecret});
  duplicate.keys.push_back({"k", JwtAlgorithm::kHs256, kOtherSecret});
  EXPECT_THAT(JwtVerifier::Create(duplicate),
              StatusIs(kInvalid, "jwt key 1: duplicate kid \"k\""));

  JwtVerifierOptions negative_leeway;
  negative_leeway.leeway = absl::Seconds(-1);
  EXPECT_THAT(JwtVerifier::Create(negative_leeway),
              StatusIs(kInvalid, HasSubstr("leeway")));

  JwtVerifierOptions zero_limit;
  zero_limit.max_token_bytes = 0;
  EXPECT_THAT(JwtVerifier::Create(zero_limit),
              StatusIs(kInvalid, HasSubstr("max_token_bytes")));
}

TEST(JwtVerifierCreate, NoKeysRefusesEveryToken) {
  absl::StatusOr<JwtVerifier> verifier = JwtVerifier::Create({});
  ASSERT_THAT(verifier, IsOk());
  EXPECT_THAT(
      verifier->Verify(SignHs256(kSecret, Header("HS256"), GoodClaims()), kNow),
      StatusIs(kRefused, "jwt: no key accepts algorithm HS256"));
}

TEST(JwtAlgorithmName, NamesEveryAlgorithm) {
  EXPECT_EQ(JwtAlgorithmName(JwtAlgorithm::kHs256), "HS256");
  EXPECT_EQ(JwtAlgorithmName(JwtAlgorithm::kRs256), "RS256");
  EXPECT_EQ(JwtAlgorithmName(JwtAlgorithm::kEs256), "ES256");
}

}  // namespace
}  // namespace lattice::engine
