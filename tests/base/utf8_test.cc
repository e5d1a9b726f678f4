#include "base/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace lattice {
namespace {

TEST(Utf8, AcceptsWellFormedText) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("h\xc3\xa9llo \xf0\x9d\x84\x9e"));  // é, U+1D11E
  const Utf8Step step = DecodeUtf8At("\xf0\x9d\x84\x9e", 0);
  EXPECT_EQ(step.code_point, 0x1D11Eu);
  EXPECT_EQ(step.length, 4u);
}

TEST(Utf8, RefusesEveryMalformedShape) {
  const std::string bad[] = {
      "\x80",              // continuation without a lead
      "\xff",              // invalid lead
      "\xc3",              // truncated
      "\xe2\x28\xa1",      // bad continuation
      "\xc0\xaf",          // overlong '/'
      "\xed\xa0\x80",      // surrogate U+D800
      "\xf4\x90\x80\x80",  // above U+10FFFF
  };
  for (const std::string& s : bad) {
    EXPECT_FALSE(IsValidUtf8(s)) << s;
    EXPECT_NE(DecodeUtf8At(s, 0).error, nullptr) << s;
  }
}

}  // namespace
}  // namespace lattice
