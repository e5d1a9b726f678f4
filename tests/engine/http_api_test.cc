// End-to-end tests of the backend HTTP API (engine/http_api.h,
// docs/http-api.md): a real Node with RocksDB in a temporary directory,
// HTTP requests and protocol clients on 127.0.0.1. Oracle: events reach
// exactly the addressed room's members or user's connections; a backend
// change reaches every member as an update, reads back through GET, and
// survives a restart; revoke closes exactly that user's connections with
// 4001; every refusal is a JSON {"status","code","message"} whose status is
// the HTTP status.
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/engine/sync_test_util.h"
#include "tests/testing/http_test_client.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::engine::testing {
namespace {

using ::lattice::testing::HttpCall;
using ::lattice::testing::HttpResult;
using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kKey[] = "backend-key-0123456789";

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override { StartNode(Options()); }

  NodeOptions Options() {
    NodeOptions o = TestNodeOptions(dir_.path());
    o.api.api_key = kKey;
    o.http.max_body_bytes = 64 * 1024;
    return o;
  }
  void StartNode(NodeOptions options) {
    node_.reset();
    auto node = Node::Start(std::move(options));
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = *std::move(node);
  }

  // An authorized call; fails the test when the transport fails.
  HttpResult Call(const std::string& method, const std::string& target,
                  const std::string& body = "", const std::string& key = kKey) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!key.empty()) headers.emplace_back("Authorization", "Bearer " + key);
    auto r = HttpCall(node_->port(), method, target, body, headers);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpResult{};
  }

  // Checks the error shape and returns the code.
  static std::string ErrorCode(const HttpResult& r) {
    EXPECT_EQ(r.content_type, "application/json");
    json j = json::parse(r.body, nullptr, false);
    EXPECT_TRUE(j.is_object()) << r.body;
    if (!j.is_object()) return "";
    EXPECT_EQ(j.value("status", 0), r.status) << r.body;
    EXPECT_TRUE(j.contains("message")) << r.body;
    return j.value("code", "");
  }

  std::unique_ptr<RawClient> Joined(uint64_t replica, const std::string& sub,
                                    const std::vector<std::string>& rooms) {
    auto c = std::make_unique<RawClient>(replica);
    absl::Status s = c->Connect(node_->port(), Token(sub, rooms));
    EXPECT_TRUE(s.ok()) << s;
    for (const auto& r : rooms) EXPECT_TRUE(c->Join(r).ok()) << r;
    return c;
  }

  TempDir dir_;
  std::unique_ptr<Node> node_;
};

std::string Msgpack(const json& j) {
  std::vector<uint8_t> bytes = json::to_msgpack(j);
  return std::string(bytes.begin(), bytes.end());
}

TEST_F(HttpApiTest, RoomEventReachesEveryMemberOfThatRoomOnly) {
  auto a = Joined(101, "ada", {"board"});
  auto b = Joined(102, "bob", {"board"});
  auto c = Joined(103, "cy", {"other"});
  const json payload = {{"text", "deploy at 5"}, {"level", 2}};
  HttpResult r =
      Call("POST", "/v1/rooms/board/events",
           json{{"name", "announcement"}, {"payload", payload}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["delivered"], 2);
  for (RawClient* member : {a.get(), b.get()}) {
    auto e = NextOf<protocol::EventFrame>(*member);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->room, "board");
    EXPECT_EQ(e->from, "server");
    EXPECT_EQ(e->name, "announcement");
    EXPECT_EQ(e->payload, Msgpack(payload));
  }
  // c got nothing: its own room event is the first event frame it sees.
  r = Call("POST", "/v1/rooms/other/events", R"({"name":"barrier"})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["delivered"], 1);
  auto e = NextOf<protocol::EventFrame>(*c);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->name, "barrier");
  EXPECT_EQ(e->payload, Msgpack(nullptr));  // no payload: null
  // A room nobody is in (not in memory) delivers to no one.
  r = Call("POST", "/v1/rooms/empty/events", R"({"name":"x"})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["delivered"], 0);
}

TEST_F(HttpApiTest, UserEventReachesEveryConnectionOfThatUserOnly) {
  auto phone = Joined(101, "ada", {"board"});
  auto laptop = Joined(102, "ada", {});
  auto bob = Joined(103, "bob", {"board"});
  HttpResult r = Call("POST", "/v1/users/ada/events",
                      R"({"name":"task_assigned","payload":{"task":"t1"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["delivered"], 2);
  for (RawClient* conn : {phone.get(), laptop.get()}) {
    auto e = NextOf<protocol::EventFrame>(*conn);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->room, "");
    EXPECT_EQ(e->from, "server");
    EXPECT_EQ(e->name, "task_assigned");
    EXPECT_EQ(e->payload, Msgpack({{"task", "t1"}}));
  }
  r = Call("POST", "/v1/users/bob/events", R"({"name":"barrier"})");
  ASSERT_EQ(r.status, 200);
  auto e = NextOf<protocol::EventFrame>(*bob);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->name, "barrier");  // bob never saw ada's event
  r = Call("POST", "/v1/users/nobody/events", R"({"name":"x"})");
  EXPECT_EQ(json::parse(r.body)["delivered"], 0);
}

TEST_F(HttpApiTest, ChangesReachMembersReadBackAndSurviveARestart) {
  auto a = Joined(101, "ada", {"board"});
  const std::string ops = R"([
    {"op":"set","path":["tasks"],"value":{"t1":{"title":"spec","done":false}}},
    {"op":"set","path":["log"],"value":[1,2]},
    {"op":"insert","path":["log"],"index":0,"value":0},
    {"op":"insert","path":["log"],"values":["end"]},
    {"op":"remove","path":["log"],"index":1},
    {"op":"set","path":["notes"],"value":{"$text":"hello"}},
    {"op":"insert","path":["notes"],"index":5,"text":" world"},
    {"op":"set","path":["votes"],"value":{"$counter":1}},
    {"op":"increment","path":["votes"],"by":2},
    {"op":"set","path":["tasks","t1","done"],"value":true},
    {"op":"delete","path":["tasks","t1","title"]}
  ])";
  HttpResult r = Call("POST", "/v1/rooms/board/docs/main/changes", ops);
  ASSERT_EQ(r.status, 200) << r.body;
  json answer = json::parse(r.body);
  EXPECT_EQ(answer["seq"], 1);
  EXPECT_EQ(answer["applied_ops"], 11);
  const std::string want =
      R"({"log":[0,2,"end"],"notes":"hello world","tasks":{"t1":{"done":true}},"votes":3})";
  ASSERT_TRUE(a->WaitFor([&] { return a->Json("board", "main") == want; }).ok())
      << a->Json("board", "main");
  EXPECT_EQ(a->resume("board").seq, 1u);
  EXPECT_EQ(answer["epoch"], absl::StrCat(a->resume("board").epoch));

  r = Call("GET", "/v1/rooms/board/docs/main");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body), json::parse(want));

  // The {"ops": [...]} form; the server's edits merge with a client's.
  ASSERT_TRUE(a->Edit("board", "main", [](crdt::Doc& d) {
                 return d.MapSet(crdt::kRootId, "by_client",
                                 crdt::Value::Int(7));
               }).ok());
  ASSERT_TRUE(a->WaitAcked().ok());
  r = Call("POST", "/v1/rooms/board/docs/main/changes",
           R"({"ops":[{"op":"increment","path":["votes"]}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["seq"], 3);
  ASSERT_TRUE(a->WaitFor([&] { return a->resume("board").seq == 3; }).ok());
  const std::string after = a->Json("board", "main");
  EXPECT_THAT(after, HasSubstr("\"votes\":4"));
  EXPECT_THAT(after, HasSubstr("\"by_client\":7"));

  a->Disconnect();
  StartNode(Options());
  r = Call("GET", "/v1/rooms/board/docs/main");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body), json::parse(after));
  auto late = Joined(102, "bob", {"board"});
  EXPECT_EQ(late->Json("board", "main"), after);
}

TEST_F(HttpApiTest, AFailingOperationKeepsTheOnesBeforeIt) {
  auto a = Joined(101, "ada", {"board"});
  HttpResult r = Call("POST", "/v1/rooms/board/docs/main/changes", R"([
    {"op":"set","path":["k"],"value":1},
    {"op":"set","path":["missing","k"],"value":2}])");
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(ErrorCode(r), "bad_op");
  json j = json::parse(r.body);
  EXPECT_EQ(j["applied_ops"], 1);
  EXPECT_EQ(j["seq"], 1);
  EXPECT_THAT(j["message"].get<std::string>(), HasSubstr("operation 1 (set)"));
  ASSERT_TRUE(a->WaitFor([&] {
                 return a->Json("board", "main") == R"({"k":1})";
               }).ok());
  // Nothing applied: no seq used.
  r = Call("POST", "/v1/rooms/board/docs/main/changes",
           R"([{"op":"increment","path":["k"]}])");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "bad_op");
  EXPECT_FALSE(json::parse(r.body).contains("seq"));
  // A refused first edit of a new document leaves no document behind.
  r = Call("POST", "/v1/rooms/board/docs/fresh/changes",
           R"([{"op":"delete","path":["a","b"]}])");
  EXPECT_EQ(r.status, 400);
  r = Call("GET", "/v1/rooms/board/docs/fresh");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorCode(r), "not_found");
}

TEST_F(HttpApiTest, RoomNamesArePercentEncodedAndRoomsAreListed) {
  auto a = Joined(101, "ada", {"team/red"});
  auto b = Joined(102, "bob", {"team/red", "board"});
  HttpResult r = Call("POST", "/v1/rooms/team%2Fred/docs/d/changes",
                      R"([{"op":"set","path":["x"],"value":"y"}])");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(a->WaitFor([&] {
                 return a->Json("team/red", "d") == R"({"x":"y"})";
               }).ok());
  r = Call("GET", "/v1/rooms");
  ASSERT_EQ(r.status, 200);
  json rooms = json::parse(r.body)["rooms"];
  EXPECT_EQ(rooms, json::parse(R"([{"name":"board","members":1},
                                   {"name":"team/red","members":2}])"));
}

TEST_F(HttpApiTest, PresenceIsReadAsJson) {
  auto a = Joined(101, "ada", {"board"});
  ASSERT_TRUE(a->SendPresence("board", [](protocol::PresenceFrame& p) {
                 p.status = 2;  // busy
               }).ok());
  json presence;
  for (int i = 0; i < 100; ++i) {
    HttpResult r = Call("GET", "/v1/rooms/board/presence");
    ASSERT_EQ(r.status, 200) << r.body;
    presence = json::parse(r.body);
    if (presence.size() == 1 && presence.begin()->value("status", "") == "busy")
      break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(presence.size(), 1u) << presence.dump();
  EXPECT_EQ((*presence.begin())["user"], "ada");
  EXPECT_EQ((*presence.begin())["status"], "busy");
  EXPECT_EQ(Call("GET", "/v1/rooms/%FF/presence").status, 400);  // not UTF-8
}

TEST_F(HttpApiTest, RevokeClosesThatUsersConnectionsWith4001) {
  auto phone = Joined(101, "ada", {"board"});
  auto laptop = Joined(102, "ada", {});
  auto bob = Joined(103, "bob", {"board"});
  HttpResult r = Call("POST", "/v1/users/ada/revoke");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["closed"], 2);
  EXPECT_EQ(phone->ws().WaitClosed(absl::Seconds(5)),
            std::optional<uint16_t>(4001));
  EXPECT_EQ(laptop->ws().WaitClosed(absl::Seconds(5)),
            std::optional<uint16_t>(4001));
  // bob carries on, and ada is no longer indexed.
  ASSERT_TRUE(bob->Edit("board", "d",
                        [](crdt::Doc& d) {
                          return d.MapSet(crdt::kRootId, "k",
                                          crdt::Value::Int(1));
                        })
                  .ok());
  EXPECT_TRUE(bob->WaitAcked().ok());
  r = Call("POST", "/v1/users/ada/events", R"({"name":"x"})");
  EXPECT_EQ(json::parse(r.body)["delivered"], 0);
}

TEST_F(HttpApiTest, EveryErrorIsJsonWithItsStatus) {
  struct Case {
    std::string method, target, body, key;
    int status;
    std::string code;
  };
  const std::string big_payload =
      json{{"name", "x"}, {"payload", std::string(5000, 'p')}}.dump();
  const std::vector<Case> cases = {
      {"GET", "/v1/rooms", "", "", 401, "unauthenticated"},
      {"GET", "/v1/rooms", "", "wrong-key", 403, "forbidden"},
      {"GET", "/v1/nothing", "", kKey, 404, "not_found"},
      {"GET", "/v1/rooms/board/events", "", kKey, 405, "method_not_allowed"},
      {"DELETE", "/v1/rooms", "", kKey, 405, "method_not_allowed"},
      {"POST", "/v1/rooms/board/events", "{not json", kKey, 400, "bad_request"},
      {"POST", "/v1/rooms/board/events", R"({"payload":1})", kKey, 400,
       "bad_request"},
      {"POST", "/v1/rooms/board/events", big_payload, kKey, 413,
       "payload_too_large"},
      {"POST", "/v1/users/ada/events", std::string(70, '[') + "]", kKey, 400,
       "bad_request"},
      {"POST", "/v1/rooms/board/docs/d/changes", "[", kKey, 400, "bad_json"},
      {"POST", "/v1/rooms/board/docs/d/changes", R"([{"op":"frob","path":[]}])",
       kKey, 400, "bad_op"},
      {"POST", "/v1/rooms/board/docs/d/changes",
       R"([{"op":"set","path":[],"value":1}])", kKey, 400, "bad_op"},
      {"POST", "/v1/rooms/board/docs/d/changes",
       R"([{"op":"set","path":["k"],"value":{"$nope":1}}])", kKey, 400,
       "bad_op"},
      {"POST", "/v1/rooms/board/docs/d/changes",
       R"([{"op":"remove","path":["k"]}])", kKey, 400, "bad_op"},
      {"POST", "/v1/rooms/board/docs/d/changes", R"({"x":1})", kKey, 400,
       "bad_op"},
      {"POST", "/v1/rooms/bad%zz/events", R"({"name":"x"})", kKey, 400,
       "bad_path"},
      {"GET", "/v1/rooms/board/docs/none", "", kKey, 404, "not_found"},
      {"POST", "/v1/rooms/board/docs/d/changes", std::string(70000, ' '), kKey,
       413, "body_too_large"},
  };
  for (const Case& c : cases) {
    HttpResult r = Call(c.method, c.target, c.body, c.key);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.target << " "
                                  << c.body.substr(0, 60) << ": " << r.body;
    EXPECT_EQ(ErrorCode(r), c.code) << c.method << " " << c.target;
  }
}

TEST_F(HttpApiTest, WithoutAKeyTheApiIsOffUnlessAnonymous) {
  NodeOptions o = TestNodeOptions(dir_.path());
  StartNode(o);
  HttpResult r = Call("GET", "/v1/rooms", "", "");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(ErrorCode(r), "api_disabled");
  o.sync.engine.anonymous = true;
  StartNode(o);
  r = Call("GET", "/v1/rooms", "", "");
  EXPECT_EQ(r.status, 200) << r.body;
  // The operational endpoints never needed a key.
  r = Call("GET", "/healthz", "", "");
  EXPECT_EQ(r.status, 200);
}

}  // namespace
}  // namespace lattice::engine::testing
