#include "engine/json_edit.h"

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/testing/status_matchers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

// Oracle: after ApplyEditOps, crdt::Doc::ToJson equals the JSON the
// operations describe; every malformed list is refused by ParseEditOps
// with a message naming the operation, before any document is touched.
namespace lattice::engine {
namespace {

using ::lattice::testing::IsOk;
using ::lattice::testing::StatusIs;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

// Applies `ops` to a fresh document and returns its JSON.
std::string Apply(const std::string& ops, crdt::Doc& doc) {
  auto parsed = ParseEditOps(json::parse(ops));
  EXPECT_THAT(parsed.status(), IsOk());
  if (!parsed.ok()) return "";
  EXPECT_THAT(ApplyEditOps(*parsed, doc), IsOk());
  doc.Commit();
  auto out = doc.ToJson();
  return out.ok() ? *out : out.status().ToString();
}

TEST(JsonEdit, ValuesCreateNestedContainers) {
  crdt::Doc doc(1);
  EXPECT_EQ(Apply(R"([{"op":"set","path":["a"],"value":{
      "map":{"x":null,"y":true},"list":[1,-2,2.5,"s",[]],
      "text":{"$text":"he"},"n":{"$counter":-3},"b":{"$bytes":"AAE="}}}])",
                  doc),
            R"({"a":{"b":{"$bytes":"AAE="},"list":[1,-2,2.5,"s",[]],)"
            R"("map":{"x":null,"y":true},"n":-3,"text":"he"}})");
}

TEST(JsonEdit, EveryOperation) {
  crdt::Doc doc(1);
  EXPECT_EQ(Apply(R"([
      {"op":"set","path":["l"],"value":["b"]},
      {"op":"insert","path":["l"],"index":0,"value":"a"},
      {"op":"insert","path":["l"],"values":["c","d"]},
      {"op":"remove","path":["l"],"index":2,"count":2},
      {"op":"set","path":["t"],"value":{"$text":"held"}},
      {"op":"insert","path":["t"],"index":2,"text":"llo wor"},
      {"op":"remove","path":["t"],"index":0},
      {"op":"set","path":["c"],"value":{"$counter":0}},
      {"op":"increment","path":["c"]},
      {"op":"increment","path":["c"],"by":-5},
      {"op":"set","path":["l2"],"value":[{"k":1}]},
      {"op":"set","path":["l2",0,"k"],"value":2},
      {"op":"set","path":["gone"],"value":1},
      {"op":"delete","path":["gone"]}])",
                  doc),
            R"({"c":-4,"l":["a","b"],"l2":[{"k":2}],"t":"ello world"})");
}

TEST(JsonEdit, ParseRefusesMalformedOperations) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"op":"set"})", "\"ops\" is not an array"},
      {R"([1])", "operation 0 is not an object"},
      {R"([{"path":[]}])", "\"op\" is missing"},
      {R"([{"op":"move","path":[]}])", "operation 0 (move): unknown op"},
      {R"([{"op":"set","path":"a","value":1}])", "\"path\" is missing"},
      {R"([{"op":"set","path":[-1],"value":1}])", "a path step"},
      {R"([{"op":"set","path":[0],"value":1}])", "end with a map key"},
      {R"([{"op":"set","path":["a"]}])", "\"value\" is missing"},
      {R"([{"op":"delete","path":[]}])", "end with a map key"},
      {R"([{"op":"insert","path":["l"]}])", "exactly one of"},
      {R"([{"op":"insert","path":["l"],"value":1,"text":"x"}])",
       "exactly one of"},
      {R"([{"op":"insert","path":["l"],"index":-1,"value":1}])",
       "\"index\" is not an unsigned integer"},
      {R"([{"op":"insert","path":["t"],"text":1}])", "\"text\" is not"},
      {R"([{"op":"insert","path":["l"],"values":1}])", "\"values\" is not"},
      {R"([{"op":"remove","path":["l"]}])", "\"index\" is missing"},
      {R"([{"op":"remove","path":["l"],"index":0,"count":"2"}])",
       "\"count\" is not"},
      {R"([{"op":"increment","path":["c"],"by":1.5}])",
       "\"by\" is not a 64-bit integer"},
      {R"([{"op":"set","path":["a"],"value":{"$text":1}}])",
       "$text takes a string"},
      {R"([{"op":"set","path":["a"],"value":{"$counter":"1"}}])",
       "$counter takes"},
      {R"([{"op":"set","path":["a"],"value":{"$bytes":"%%"}}])",
       "$bytes takes a base64"},
      {R"([{"op":"set","path":["a"],"value":{"$map":{}}}])",
       "unknown marker $map"},
  };
  for (const auto& [ops, what] : bad) {
    EXPECT_THAT(ParseEditOps(json::parse(ops)).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(what)))
        << ops;
  }
  std::string deep = "1";
  for (int i = 0; i < 40; ++i) deep = "[" + deep + "]";
  EXPECT_THAT(
      ParseEditOps(
          json::parse(R"([{"op":"set","path":["a"],"value":)" + deep + "}]"))
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("deeper than")));
  EditLimits few;
  few.max_ops = 1;
  EXPECT_THAT(ParseEditOps(json::parse(R"([{"op":"delete","path":["a"]},
                                           {"op":"delete","path":["b"]}])"),
                           few)
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("over the limit of 1")));
}

TEST(JsonEdit, ApplyStopsAtTheFirstRefusedOperation) {
  crdt::Doc doc(1);
  auto ops = ParseEditOps(json::parse(R"([
      {"op":"set","path":["a"],"value":1},
      {"op":"increment","path":["a"]},
      {"op":"set","path":["b"],"value":2}])"));
  ASSERT_THAT(ops.status(), IsOk());
  size_t applied = 99;
  absl::Status s = ApplyEditOps(*ops, doc, &applied);
  EXPECT_THAT(s, Not(IsOk()));
  EXPECT_THAT(std::string(s.message()), HasSubstr("operation 1 (increment)"));
  EXPECT_EQ(applied, 1u);
  doc.Commit();
  EXPECT_EQ(*doc.ToJson(), R"({"a":1})");
  // Paths name the step that failed.
  auto missing = ParseEditOps(
      json::parse(R"([{"op":"set","path":["x","y","z"],"value":1}])"));
  ASSERT_THAT(missing.status(), IsOk());
  s = ApplyEditOps(*missing, doc);
  EXPECT_THAT(s, Not(IsOk()));
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("operation 0 (set): path [\"x\"]"));
}

}  // namespace
}  // namespace lattice::engine
