#include "base/logging.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogSink(
        [this](LogLevel, const std::string& line) { lines_.push_back(line); });
  }
  void TearDown() override {
    SetLogSink(nullptr);
    SetMinLogLevel(LogLevel::kInfo);
  }
  std::vector<std::string> lines_;
};

TEST_F(LoggingTest, WritesLevelFileAndMessage) {
  LATTICE_LOG(kWarning) << "room " << 7 << " full";
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_THAT(lines_[0], HasSubstr("WARN logging_test.cc:"));
  EXPECT_THAT(lines_[0], HasSubstr("] room 7 full"));
}

TEST_F(LoggingTest, DropsLinesBelowMinimumWithoutEvaluating) {
  int evaluated = 0;
  auto count = [&] { return ++evaluated; };
  SetMinLogLevel(LogLevel::kError);
  LATTICE_LOG(kInfo) << count();
  LATTICE_LOG(kError) << count();
  EXPECT_EQ(evaluated, 1);
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_THAT(lines_[0], HasSubstr("] 1"));
}

TEST(LoggingDeathTest, CheckFailureAborts) {
  EXPECT_DEATH(LATTICE_CHECK(1 + 1 == 3) << "arithmetic",
               "check failed.*arithmetic");
}

}  // namespace
}  // namespace lattice
