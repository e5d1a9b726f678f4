// Read marks (crdt/read_marks.h): a user's mark is the highest any of the
// user's replicas set, whatever order replicas merge in, and never goes
// down.
#include "crdt/read_marks.h"

#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::crdt {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

// Two devices of "ada" and one of "bob", all in one document.
class ReadMarksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = a1_.MapSetContainer(kRootId, "receipts", ContainerType::kMap);
    ASSERT_TRUE(r.ok()) << r.status();
    receipts_ = *r;
    Sync(a1_, a2_);
    Sync(a1_, bob_);
  }
  // Brings `to` up to date with `from`.
  static void Sync(Doc& from, Doc& to) {
    from.Commit();
    to.Commit();
    auto applied = to.ApplyUpdate(from.ChangesSince(to.version()));
    ASSERT_TRUE(applied.ok()) << applied.status();
  }

  Doc a1_{11}, a2_{12}, bob_{21};
  ContainerId receipts_;
};

TEST_F(ReadMarksTest, ConcurrentDevicesMergeToTheHighestMark) {
  ASSERT_TRUE(SetReadMark(a1_, receipts_, "ada", 40).ok());
  ASSERT_TRUE(SetReadMark(a2_, receipts_, "ada", 35).ok());
  ASSERT_TRUE(SetReadMark(bob_, receipts_, "bob", 7).ok());
  // Merge in two different orders: the same marks.
  Sync(a2_, a1_);
  Sync(bob_, a1_);
  Sync(bob_, a2_);
  Sync(a1_, a2_);
  for (Doc* d : {&a1_, &a2_}) {
    auto marks = ReadMarks(*d, receipts_);
    ASSERT_TRUE(marks.ok()) << marks.status();
    EXPECT_THAT(*marks, ElementsAre(Pair("ada", 40), Pair("bob", 7)));
  }
  EXPECT_EQ(*ReadMark(a2_, receipts_, "ada"), 40);
}

TEST_F(ReadMarksTest, ALowerMarkChangesNothing) {
  ASSERT_TRUE(SetReadMark(a1_, receipts_, "ada", 40).ok());
  a1_.Commit();
  ASSERT_TRUE(SetReadMark(a1_, receipts_, "ada", 12).ok());
  EXPECT_TRUE(a1_.Commit().empty());  // no op was made
  EXPECT_EQ(*ReadMark(a1_, receipts_, "ada"), 40);
}

TEST_F(ReadMarksTest, ErrorsAreClear) {
  EXPECT_TRUE(absl::IsNotFound(ReadMark(a1_, receipts_, "cy").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(SetReadMark(a1_, receipts_, "", 1)));
  EXPECT_TRUE(absl::IsInvalidArgument(SetReadMark(a1_, receipts_,
                                                  "a\x1f"
                                                  "b",
                                                  1)));
  auto text = a1_.MapSetContainer(kRootId, "notes", ContainerType::kText);
  ASSERT_TRUE(text.ok());
  EXPECT_FALSE(SetReadMark(a1_, *text, "ada", 1).ok());
  EXPECT_FALSE(ReadMarks(a1_, *text).ok());
}

}  // namespace
}  // namespace lattice::crdt
