// Grants::FromClaim against hand-written `rooms` claims. The oracle is the
// format in engine/auth/grants.h: which entries parse, what each grants, and
// that For() returns the strongest access among matching entries.
#include "engine/auth/grants.h"

#include <string>

#include <nlohmann/json.hpp>

#include "tests/testing/status_matchers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::engine {
namespace {

using json = nlohmann::json;
using ::lattice::testing::IsOk;
using ::lattice::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Grants Parse(const json& rooms, const GrantLimits& limits = {}) {
  absl::StatusOr<Grants> grants = Grants::FromClaim(rooms, limits);
  EXPECT_THAT(grants, IsOk());
  return grants.ok() ? *std::move(grants) : Grants();
}

TEST(Grants, DefaultGrantsNothing) {
  EXPECT_EQ(Grants().For("lobby"), Access::kNone);
  EXPECT_EQ(Grants().For(""), Access::kNone);
}

TEST(Grants, EmptyArrayGrantsNothing) {
  EXPECT_EQ(Parse(json::array()).For("lobby"), Access::kNone);
}

TEST(Grants, ExactObjectIsReadOnlyByDefault) {
  Grants grants = Parse(json::parse(R"([{"room": "lobby"}])"));
  EXPECT_EQ(grants.For("lobby"), Access::kRead);
  EXPECT_EQ(grants.For("lobby2"), Access::kNone);
  EXPECT_EQ(grants.For("lobb"), Access::kNone);
  EXPECT_EQ(grants.For("Lobby"), Access::kNone);
}

TEST(Grants, ExactObjectWithWrite) {
  Grants grants = Parse(json::parse(
      R"([{"room": "a", "write": true}, {"room": "b", "write": false}])"));
  EXPECT_EQ(grants.For("a"), Access::kWrite);
  EXPECT_EQ(grants.For("b"), Access::kRead);
}

TEST(Grants, PrefixObjectMatchesRoomsStartingWithIt) {
  Grants grants = Parse(json::parse(R"([{"prefix": "team-42/"}])"));
  EXPECT_EQ(grants.For("team-42/"), Access::kRead);
  EXPECT_EQ(grants.For("team-42/board"), Access::kRead);
  EXPECT_EQ(grants.For("team-42"), Access::kNone);
  EXPECT_EQ(grants.For("team-421/board"), Access::kNone);
}

TEST(Grants, StringShorthandIsReadWrite) {
  Grants grants = Parse(json::parse(R"(["lobby", "team-42/*"])"));
  EXPECT_THAT(grants.entries(),
              ElementsAre(RoomGrant{"lobby", false, Access::kWrite},
                          RoomGrant{"team-42/", true, Access::kWrite}));
  EXPECT_EQ(grants.For("lobby"), Access::kWrite);
  EXPECT_EQ(grants.For("team-42/board"), Access::kWrite);
  EXPECT_EQ(grants.For("team-43/board"), Access::kNone);
}

TEST(Grants, StarAloneMatchesEveryRoom) {
  Grants grants = Parse(json::parse(R"(["*"])"));
  EXPECT_EQ(grants.For("anything"), Access::kWrite);
  EXPECT_EQ(grants.For(""), Access::kWrite);
}

TEST(Grants, StarInObjectFormIsLiteral) {
  Grants grants = Parse(json::parse(R"([{"room": "a*"}])"));
  EXPECT_EQ(grants.For("a*"), Access::kRead);
  EXPECT_EQ(grants.For("ab"), Access::kNone);
}

TEST(Grants, StrongestMatchingGrantWins) {
  // Read on the whole team, write on one board, in both orders.
  for (const char* text :
       {R"([{"prefix": "team/"}, {"room": "team/board", "write": true}])",
        R"([{"room": "team/board", "write": true}, {"prefix": "team/"}])"}) {
    SCOPED_TRACE(text);
    Grants grants = Parse(json::parse(text));
    EXPECT_EQ(grants.For("team/board"), Access::kWrite);
    EXPECT_EQ(grants.For("team/notes"), Access::kRead);
    EXPECT_EQ(grants.For("other"), Access::kNone);
  }
  // A read-only exact grant does not weaken a read-write prefix.
  Grants grants = Parse(json::parse(R"(["team/*", {"room": "team/board"}])"));
  EXPECT_EQ(grants.For("team/board"), Access::kWrite);
}

TEST(Grants, AccessNames) {
  EXPECT_EQ(AccessName(Access::kNone), "none");
  EXPECT_EQ(AccessName(Access::kRead), "read");
  EXPECT_EQ(AccessName(Access::kWrite), "write");
}

TEST(Grants, RejectsMalformedClaims) {
  struct Case {
    const char* claim;
    const char* message;
  };
  const Case cases[] = {
      {R"({"room": "lobby"})", "rooms is not an array"},
      {R"("lobby")", "rooms is not an array"},
      {R"(null)", "rooms is not an array"},
      {R"([42])", "rooms[0]: is neither a string nor an object"},
      {R"(["ok", null])", "rooms[1]: is neither a string nor an object"},
      {R"([[]])", "rooms[0]: is neither a string nor an object"},
      {R"([""])", "rooms[0]: room name is empty"},
      {R"(["a*b"])", "rooms[0]: '*' is only allowed as the last character"},
      {R"(["a**"])", "rooms[0]: '*' is only allowed as the last character"},
      {R"([{}])", "rooms[0]: has neither room nor prefix"},
      {R"([{"write": true}])", "rooms[0]: has neither room nor prefix"},
      {R"([{"room": "a", "prefix": "b"}])",
       "rooms[0]: has both room and prefix"},
      {R"([{"room": 7}])", "rooms[0]: room is not a string"},
      {R"([{"prefix": null}])", "rooms[0]: prefix is not a string"},
      {R"([{"room": ""}])", "rooms[0]: room name is empty"},
      {R"([{"room": "a", "write": "yes"}])", "rooms[0]: write is not a bool"},
      {R"([{"room": "a", "write": 1}])", "rooms[0]: write is not a bool"},
      {R"([{"room": "a", "writ": true}])", "rooms[0]: unknown key \"writ\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.claim);
    EXPECT_THAT(
        Grants::FromClaim(json::parse(c.claim)),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)));
  }
}

TEST(Grants, TooManyGrantsRejected) {
  json rooms = json::array();
  for (int i = 0; i < 256; ++i) rooms.push_back("room-" + std::to_string(i));
  EXPECT_THAT(Grants::FromClaim(rooms), IsOk());
  rooms.push_back("one-too-many");
  EXPECT_THAT(Grants::FromClaim(rooms),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("rooms has 257 entries, limit is 256")));
  EXPECT_THAT(
      Grants::FromClaim(json::array({"a", "b", "c"}),
                        GrantLimits{.max_grants = 2}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit is 2")));
}

TEST(Grants, LongRoomNamesRejected) {
  const std::string at_limit(256, 'r');
  const std::string over_limit(257, 'r');
  EXPECT_THAT(Grants::FromClaim(json::array({at_limit})), IsOk());
  EXPECT_THAT(Grants::FromClaim(json::array({over_limit})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("rooms[0]: room name is 257 bytes, limit is "
                                 "256")));
  // The shorthand's '*' does not count towards the prefix length.
  EXPECT_THAT(Grants::FromClaim(json::array({at_limit + "*"})), IsOk());
  EXPECT_THAT(Grants::FromClaim(json::array({json{{"prefix", over_limit}}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("rooms[0]: prefix is 257 bytes")));
  EXPECT_THAT(
      Grants::FromClaim(json::array({json{{"room", at_limit}}}),
                        GrantLimits{.max_room_bytes = 8}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit is 8")));
}

}  // namespace
}  // namespace lattice::engine
